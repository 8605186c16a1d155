"""Every rule of the configuration format, with the exact path, line and message a person sees."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runway.config import ConfigError, InputType, ServiceKind, parse_config
from runway.config.model import Ready, Volume

EXAMPLES = Path(__file__).parents[2] / "examples"


def problems(text: str) -> list[str]:
    """What a person reads for an invalid document: `line N: path: message` each."""
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text))
    return [str(p) for p in caught.value.problems]


def valid(text: str):
    return parse_config(textwrap.dedent(text))


def test_the_blog_example_reads_into_the_model():
    config = parse_config((EXAMPLES / "blog.yaml").read_bytes())
    assert config.app == "blog"
    assert list(config.services) == ["db", "migrate", "web", "worker"]
    db, migrate, web = config.services["db"], config.services["migrate"], config.services["web"]
    assert db.volumes == (Volume("data", "/var/lib/postgresql/data", "2Gi"),)
    assert db.ready == Ready(5432)
    assert migrate.kind is ServiceKind.JOB
    assert migrate.command == ("blog", "migrate")
    assert web.replicas == 2
    assert web.ready == Ready(8080, "/healthz")
    assert web.expose is not None
    assert web.expose.host == "${{ inputs.domain }}"
    assert web.timeout == 600
    assert config.inputs["db_password"].type is InputType.SECRET
    assert config.inputs["db_password"].generate == 24
    assert config.inputs["theme"].default == "light"


def test_the_typo_example_reports_every_problem_with_lines():
    with pytest.raises(ConfigError) as caught:
        parse_config((EXAMPLES / "invalid" / "typo.yaml").read_bytes())
    assert [str(p) for p in caught.value.problems] == [
        "line 6: services.web.replicas: expected an integer >= 0, got the text 'two'",
        "line 6: services.web.depends_on[0]: unknown service 'dbb'; did you mean 'db'?",
        "line 7: services.job.imag: unknown field 'imag'; did you mean 'image'?",
        "line 7: services.job: missing required field 'image'",
    ]


def test_env_takes_plain_scalars_as_written():
    config = valid("""
        runway: 1
        app: a
        services:
          s:
            image: x:1
            env: {PORT: 8080, VERSION: 1.10, DEBUG: yes, ON: true, EMPTY: , QUOTED: "007", MODE: 0755}
            args: [--port, 8080, 1.50]
    """)
    service = config.services["s"]
    assert dict(service.env) == {
        "PORT": "8080",
        "VERSION": "1.10",
        "DEBUG": "yes",
        "ON": "true",
        "EMPTY": "",
        "QUOTED": "007",
        "MODE": "0755",
    }
    assert service.args == ("--port", "8080", "1.50")


def test_json_documents_are_read_too():
    config = parse_config(
        '{"runway": 1, "app": "a", "services": {"s": {"image": "x:1", "env": {"N": 3}}}}'
    )
    assert config.services["s"].env == {"N": "3"}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            "runway: 2\napp: a\nservices: {s: {image: x}}\n",
            [
                "line 1: runway: unsupported format version 2; this runway reads version 1 (write 'runway: 1')"
            ],
        ),
        (
            "runway: '1'\napp: a\nservices: {s: {image: x}}\n",
            [
                "line 1: runway: unsupported format version '1'; this runway reads version 1 (write 'runway: 1')"
            ],
        ),
        ("app: a\nservices: {s: {image: x}}\n", ["line 1: missing required field 'runway'"]),
        ("runway: 1\napp: a\nservices: {}\n", ["line 3: services: declare at least one service"]),
        (
            "runway: 1\napp: a\nservices: {s: {image: x}}\nservice: {}\n",
            ["line 4: service: unknown field 'service'; did you mean 'services'?"],
        ),
        (
            "- a\n- b\n",
            ["line 1: expected a mapping of runway, app, inputs and services, got a list"],
        ),
    ],
)
def test_the_document_level(document, expected):
    assert problems(document) == expected


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("Blog", "'Blog' is not a lowercase DNS label starting with a letter (a-z, 0-9 and '-')"),
        ("1blog", "'1blog' is not a lowercase DNS label starting with a letter (a-z, 0-9 and '-')"),
        ("blog-", "'blog-' is not a lowercase DNS label starting with a letter (a-z, 0-9 and '-')"),
        ("a" * 21, "'" + "a" * 21 + "' is 21 characters long; the limit is 20"),
        ("12", "expected text, got the number 12; quote it if you mean text"),
    ],
)
def test_app_names(app, message):
    assert problems(f"runway: 1\napp: {app}\nservices: {{s: {{image: x}}}}\n") == [
        f"line 2: app: {message}"
    ]


def test_service_and_volume_name_limits():
    long_service, long_volume = "s" * 31, "v" * 21
    assert problems(f"""
        runway: 1
        app: a
        services:
          {long_service}: {{image: x}}
          ok:
            image: x
            volumes: {{{long_volume}: {{mount: /data, size: 1Gi}}}}
    """) == [
        f"line 5: services.{long_service}: '{long_service}' is 31 characters long; the limit is 30",
        f"line 8: services.ok.volumes.{long_volume}: '{long_volume}' is 21 characters long; the limit is 20",
    ]


def test_a_service_with_volumes_runs_one_replica():
    assert problems("""
        runway: 1
        app: a
        services:
          db:
            image: postgres:16
            replicas: 2
            volumes: {data: {mount: /var/lib/data, size: 1Gi}}
    """) == [
        "line 7: services.db.replicas: a service with volumes runs exactly 1 replica, not 2: "
        "each volume is mounted by one pod at a time (ReadWriteOnce)"
    ]


def test_service_fields_are_checked_one_by_one():
    assert problems("""
        runway: 1
        app: a
        services:
          s:
            kind: daemon
            image: "not an image"
            ports: [0, 8080, 8080, http]
            env: {1BAD: x, NESTED: {a: 1}}
            timeout: 90
            volumes: {data: {mount: relative/path, size: lots}}
            ready: {http: healthz, port: 8080}
            expose: {port: 9090, host: Not_A_Host}
            resources: {requests: {cpu: 2, memory: 1Gi}, limits: {cpu: 1, gpu: 1}}
    """) == [
        "line 6: services.s.kind: unknown kind 'daemon'; expected one of service, job",
        "line 7: services.s.image: 'not an image' is not an image reference such as postgres:16.4 "
        "or ghcr.io/org/app:1.2",
        "line 8: services.s.ports[0]: expected an integer from 1 to 65535, got 0",
        "line 8: services.s.ports[2]: port 8080 is listed twice",
        "line 8: services.s.ports[3]: expected an integer from 1 to 65535, got the text 'http'",
        "line 9: services.s.env.1BAD: '1BAD' is not a variable name (letters, digits and '_', "
        "not starting with a digit)",
        "line 9: services.s.env.NESTED: expected a text value, got a mapping; quote it to pass it as text",
        "line 10: services.s.timeout: '90' is not a duration such as 90s, 10m or 1h; write 90s for seconds",
        "line 11: services.s.volumes.data.mount: 'relative/path' is not a normalised absolute path "
        "such as /var/lib/data",
        "line 11: services.s.volumes.data.size: 'lots' is not a size such as 1Gi or 500Mi",
        "line 12: services.s.ready.http: 'healthz' is not a path; it starts with '/', such as /healthz",
        "line 13: services.s.expose.port: port 9090 is not one of the service's ports (8080)",
        "line 13: services.s.expose.host: 'Not_A_Host' is not a host name such as blog.example.com",
        "line 14: services.s.resources.limits.gpu: unknown resource 'gpu'; did you mean 'cpu'?",
        "line 14: services.s.resources.requests.cpu: requests 2 is more than limits 1",
    ]


def test_jobs_and_services_keep_to_their_own_fields():
    assert problems("""
        runway: 1
        app: a
        services:
          migrate:
            kind: job
            image: x
            replicas: 2
            ready: {tcp: 80}
          web:
            image: x
            retries: 3
    """) == [
        "line 8: services.migrate.replicas: 'replicas' does not apply to jobs: a job runs once per deployment",
        "line 9: services.migrate.ready: 'ready' does not apply to jobs: a job is done when it completes",
        "line 12: services.web.retries: 'retries' applies only to jobs (kind: job)",
    ]


def test_depends_on_names_known_other_services_once():
    assert problems("""
        runway: 1
        app: a
        services:
          db: {image: x}
          web: {image: x, depends_on: [web, db, db, dbb, 3]}
    """) == [
        "line 6: services.web.depends_on[0]: 'web' cannot depend on itself",
        "line 6: services.web.depends_on[2]: 'db' is listed twice",
        "line 6: services.web.depends_on[3]: unknown service 'dbb'; did you mean 'db'?",
        "line 6: services.web.depends_on[4]: expected text, got the number 3; quote it if you mean text",
    ]


def test_two_services_cannot_expose_the_same_host():
    assert problems("""
        runway: 1
        app: a
        services:
          web: {image: x, ports: [80], expose: {port: 80, host: a.example.com}}
          api: {image: x, ports: [80], expose: {port: 80, host: a.example.com}}
    """) == ["line 6: services.api.expose.host: 'a.example.com' is already exposed by web"]


INPUTS = """
runway: 1
app: a
inputs:
{inputs}
services:
  s: {{image: x, env: {{A: "${{{{ inputs.{use} }}}}"}}}}
"""


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (
            "  name: {prompt: Name, generate: 12}",
            "line 5: inputs.name.generate: only secret inputs can be generated; this input is of type string",
        ),
        (
            "  name: {prompt: Name, pattern: '^[a-z]+$', default: Bob}",
            "line 5: inputs.name.default: 'Bob' does not match the input's pattern '^[a-z]+$'",
        ),
        (
            "  name: {prompt: Name, type: choice, choices: [light, dark], default: blue}",
            "line 5: inputs.name.default: 'blue' is not one of the choices (light, dark)",
        ),
        (
            "  name: {prompt: Name, type: choice, choices: [light, dark], default: darc}",
            "line 5: inputs.name.default: 'darc' is not one of the choices (light, dark); did you mean 'dark'?",
        ),
        (
            "  name: {prompt: Name, type: choice}",
            "line 5: inputs.name: an input of type choice needs 'choices': the list to choose from",
        ),
        (
            "  name: {prompt: Name, choices: [a]}",
            "line 5: inputs.name.choices: choices apply only to inputs of type choice, not string",
        ),
        (
            "  name: {prompt: Name, type: secret, default: hunter2}",
            "line 5: inputs.name.default: a secret input cannot have a default (it would be written in the "
            "configuration); use generate",
        ),
        (
            "  name: {prompt: Name, type: integer, default: ten}",
            "line 5: inputs.name.default: expected an integer, got the text 'ten'",
        ),
        (
            "  name: {prompt: Name, type: boolean, default: yes}",
            "line 5: inputs.name.default: expected true or false, got the text 'yes'",
        ),
        (
            "  name: {prompt: Name, type: secret, generate: 4}",
            "line 5: inputs.name.generate: expected an integer from 8 to 256, got 4",
        ),
        (
            "  name: {prompt: Name, pattern: '[a-'}",
            "line 5: inputs.name.pattern: not a valid regular expression: unterminated character set at position 3",
        ),
        (
            "  name: {prompt: Name, type: text}",
            "line 5: inputs.name.type: unknown input type 'text'; expected one of string, secret, integer, boolean, choice",
        ),
        (
            "  name: {prompt: '', promt: x}",
            "line 5: inputs.name.promt: unknown field 'promt'; did you mean 'prompt'?",
        ),
        (
            "  Name: {prompt: Name}",
            "line 5: inputs.Name: 'Name' is not an identifier of lowercase letters, digits and '_' that does not "
            "start with a digit",
        ),
    ],
)
def test_input_definitions(inputs, expected):
    found = problems(INPUTS.format(inputs=inputs, use="name"))
    assert found[0] == expected


def test_unknown_inputs_and_services_in_references():
    assert problems("""
        runway: 1
        app: a
        inputs:
          domain: {prompt: Domain}
        services:
          db: {image: x, ports: [5432]}
          worker: {image: x}
          migrate: {image: x, kind: job}
          web:
            image: x
            ports: [80]
            env:
              A: ${{ inputs.domian }}
              B: ${{ services.dbb.host }}
              C: ${{ services.migrate.host }}
              D: ${{ services.worker.url }}
              E: ${{ services.db.port }}
              F: ${{ inputs.domain
            expose: {port: 80, host: "${{ inputs.domain }}"}
    """) == [
        "line 14: services.web.env.A: unknown input 'domian'; did you mean 'domain'?",
        "line 15: services.web.env.B: unknown service 'dbb'; did you mean 'db'?",
        "line 16: services.web.env.C: 'migrate' is a job: it has no Service, so no host",
        "line 17: services.web.env.D: 'worker' has no ports, so no url; give it ports or use "
        "services.worker.host",
        "line 18: services.web.env.E: unknown reference 'services.db.port'; a service offers "
        "services.db.host and services.db.url",
        "line 19: services.web.env.F: unclosed reference at '${{ inputs.domain'; close it with '}}'",
    ]


def test_secret_inputs_only_in_env_and_registries():
    assert problems("""
        runway: 1
        app: a
        inputs:
          token: {prompt: Token, type: secret}
        registries:
          ghcr.io: {username: me, password: "${{ inputs.token }}"}
        services:
          web:
            image: "ghcr.io/me/${{ inputs.token }}:1"
            command: [serve, "--token=${{ inputs.token }}"]
            env: {TOKEN: "${{ inputs.token }}"}
    """) == [
        "line 10: services.web.image: secret input 'token' can be used only in env and registries, "
        "where it reaches the container through a Kubernetes Secret",
        "line 11: services.web.command[1]: secret input 'token' can be used only in env and "
        "registries, where it reaches the container through a Kubernetes Secret",
    ]


def test_references_only_where_the_format_allows_them():
    assert problems("""
        runway: 1
        app: a
        inputs:
          mount: {prompt: Where}
        services:
          db: {image: x, ports: [5432]}
          web:
            image: "x:${{ services.db.host }}"
            ports: [80]
            volumes: {data: {mount: "${{ inputs.mount }}", size: 1Gi}}
            expose: {port: 80, host: "${{ services.db.host }}"}
    """) == [
        "line 9: services.web.image: services cannot be referenced in image",
        "line 11: services.web.volumes.data.mount: references (${{ ... }}) are not allowed here",
        "line 12: services.web.expose.host: services cannot be referenced in expose.host",
    ]


def test_a_reference_to_a_broken_service_is_not_reported_twice():
    assert problems("""
        runway: 1
        app: a
        services:
          db: {image: x, ports: [http]}
          web: {image: x, env: {DB: "${{ services.db.host }}"}}
    """) == [
        "line 5: services.db.ports[0]: expected an integer from 1 to 65535, got the text 'http'"
    ]


def test_names_match_whole_not_up_to_a_trailing_newline():
    assert problems("""
        runway: 1
        app: "a\\n"
        services:
          "s\\n": {image: x}
    """) == [
        "line 3: app: 'a\\n' is not a lowercase DNS label starting with a letter (a-z, 0-9 and '-')",
        "line 5: services.s\\n: 's\\n' is not a lowercase DNS label starting with a letter (a-z, 0-9 and '-')",
    ]


@pytest.mark.parametrize(
    ("pattern", "default", "message"),
    [
        (
            "(a|aa)+$",
            "a" * 60 + "b",
            "line 5: inputs.x.pattern: matching this pattern took over 0.1 s; simplify it (nested repetition such as (a+)+ is the usual cause)",
        ),
        (
            "a{99999999999}",
            "a",
            "line 5: inputs.x.pattern: not a valid regular expression: repeat count too big at position 2",
        ),
    ],
)
def test_hostile_patterns_get_a_message_not_a_hang(pattern, default, message):
    found = problems(f"""
        runway: 1
        app: a
        inputs:
          x: {{prompt: p, pattern: '{pattern}', default: '{default}'}}
        services:
          s: {{image: x, env: {{X: "${{{{ inputs.x }}}}"}}}}
    """)
    assert found == [message]


def test_a_thousand_problems_are_enough():
    document = (
        "runway: 1\napp: a\nservices:\n  s:\n    image: x\n    ports: ["
        + ", ".join(["0"] * 5000)
        + "]\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(document)
    found = caught.value.problems
    assert len(found) == 1001
    assert str(found[-1]) == "too many problems; stopped after 1000"


def test_a_template_that_never_closes_is_refused_at_once():
    assert problems("""
        runway: 1
        app: a
        services:
          s: {image: x, env: {A: "${{ ${{ inputs.x }}"}}
    """) == [
        "line 5: services.s.env.A: unclosed reference at '${{ ${{ inputs.x }}'; close it with '}}'"
    ]


def test_loader_problems_come_with_the_validators():
    assert problems("""
        runway: 1
        app: Bad
        services:
          s: {image: x, image: y, replicas: -1}
    """) == [
        "line 3: app: 'Bad' is not a lowercase DNS label starting with a letter (a-z, 0-9 and '-')",
        "line 5: services.s.image: duplicate key 'image' (first at line 5)",
        "line 5: services.s.replicas: expected an integer >= 0, got -1",
    ]


def test_ready_needs_http_or_tcp():
    assert problems("""
        runway: 1
        app: a
        services:
          s: {image: x, ready: {port: 80}}
    """) == ["line 5: services.s.ready: expected {http: /path, port: P} or {tcp: P}"]


def test_json_numbers_that_are_whole_count_as_integers_and_null_as_empty_text():
    config = parse_config(
        '{"runway": 1.0, "app": "a", "services": {"s": {"image": "x", "ports": [80.0], "env": {"E": null}}}}'
    )
    assert config.services["s"].ports == (80,)
    assert config.services["s"].env == {"E": ""}


def test_the_validator_and_the_reference_table_agree_on_where_references_stand():
    from runway.config.checker import Checker
    from runway.config.references import declared_strings
    from runway.config.source import load
    from runway.config.validate import _read

    text = textwrap.dedent("""
        runway: 1
        app: a
        inputs: {i: {prompt: p}}
        services:
          db: {image: x, ports: [1]}
          s:
            image: "x/${{ inputs.i }}"
            command: ["${{ inputs.i }}"]
            args: ["${{ services.db.host }}"]
            env: {A: "${{ inputs.i }}"}
            ports: [80]
            expose: {port: 80, host: "${{ inputs.i }}.example.com"}
    """)
    document = load(text)
    check = Checker(document)
    _read(check, document.data)
    assert check.problems == []
    spec = document.data["services"]["s"]
    assert [(p, a) for p, _, a in check.uses] == [(p, a) for p, _, a in declared_strings("s", spec)]


@pytest.mark.parametrize("amount", ["1e999999999", "1" * 5000])
def test_quantities_too_large_to_compute_are_refused(amount):
    # Found by the fuzz run: an exact 10**999999999 took the server's thread for minutes.
    assert problems(f"""
        runway: 1
        app: a
        services:
          s: {{image: x, resources: {{limits: {{cpu: "{amount}"}}}}}}
    """) == [
        f"line 5: services.s.resources.limits.cpu: '{amount}' is not a CPU amount such as 500m or 2"
    ]


def test_two_volumes_that_would_share_a_claim_are_refused():
    assert problems("""
        runway: 1
        app: a
        services:
          web: {image: x, volumes: {data-x: {mount: /d, size: 1Gi}}}
          web-data: {image: x, volumes: {x: {mount: /d, size: 1Gi}}}
    """) == [
        "line 6: services.web-data.volumes.x: volume 'x' of 'web-data' and volume 'data-x' of 'web' "
        "would be the same claim, <app>-web-data-x; rename one"
    ]
