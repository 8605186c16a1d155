"""Plans as a person reads them: order, dependencies, depth, questions, critical path, storage."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runway.config import ConfigError, parse_config
from runway.planner import (
    PlanDocumentError,
    StepKind,
    make_plan,
    plan_from_document,
    plan_source,
    plan_to_document,
)

EXAMPLES = Path(__file__).parents[2] / "examples"


def plan_of(text: str):
    return plan_source(textwrap.dedent(text))


def test_the_blog_plan():
    plan = plan_source((EXAMPLES / "blog.yaml").read_bytes())
    rows = [(s.name, s.kind, s.depends_on, s.depth, s.needs, s.asks) for s in plan.steps]
    assert rows == [
        ("db", StepKind.SERVICE, (), 0, ("db_password",), ("db_password",)),
        ("migrate", StepKind.JOB, ("db",), 1, ("db_password",), ()),
        # db is implied by the reference to services.db.host in DATABASE_URL.
        (
            "web",
            StepKind.SERVICE,
            ("migrate", "db"),
            2,
            ("domain", "admin_email", "db_password", "theme"),
            ("domain", "admin_email", "theme"),
        ),
        ("worker", StepKind.SERVICE, ("migrate", "db"), 2, ("db_password",), ()),
    ]
    assert plan.critical_path == ("db", "migrate", "web")


def test_declaration_order_breaks_ties():
    plan = plan_of("""
        runway: 1
        app: a
        services:
          x: {image: i}
          y: {image: i, depends_on: [x]}
          z: {image: i}
    """)
    assert [s.name for s in plan.steps] == ["x", "y", "z"]


def test_inputs_reach_a_step_through_its_image_registry():
    plan = plan_source((EXAMPLES / "notes.yaml").read_bytes())
    assert plan.step("app").needs == ("host", "registry_token")
    other = plan_of("""
        runway: 1
        app: a
        inputs:
          user: {prompt: User}
          token: {prompt: Token, type: secret}
          hub: {prompt: Hub token, type: secret}
          where: {prompt: Registry}
        registries:
          ghcr.io: {username: "${{ inputs.user }}", password: "${{ inputs.token }}"}
          docker.io: {username: me, password: "${{ inputs.hub }}"}
        services:
          private: {image: ghcr.io/me/app:1}
          public: {image: postgres:16}
          local: {image: localhost:5000/app:1}
          anywhere: {image: "${{ inputs.where }}/app:1"}
    """)
    assert [(s.name, s.needs, s.asks) for s in other.steps] == [
        ("private", ("user", "token"), ("user", "token")),
        ("public", ("hub",), ("hub",)),
        ("local", (), ()),
        # The registry is an answer: any registry's credentials may be the ones needed.
        ("anywhere", ("user", "token", "hub", "where"), ("where",)),
    ]


def test_the_critical_path_prefers_steps_that_come_first():
    plan = plan_of("""
        runway: 1
        app: a
        services:
          a: {image: i}
          b: {image: i}
          c: {image: i, depends_on: [b]}
          d: {image: i, depends_on: [a]}
          e: {image: i, depends_on: [d, c]}
    """)
    assert [s.name for s in plan.steps] == ["a", "b", "c", "d", "e"]
    assert plan.critical_path == ("a", "d", "e")


def test_every_independent_cycle_is_named_where_it_starts():
    with pytest.raises(ConfigError) as caught:
        plan_source((EXAMPLES / "invalid" / "two-cycles.yaml").read_bytes())
    assert [str(p) for p in caught.value.problems] == [
        "line 5: services.a.depends_on[0]: cycle: a -> b -> a",
        "line 7: services.c.depends_on[0]: cycle: c -> d -> e -> c",
    ]
    with pytest.raises(ConfigError) as caught:
        plan_source((EXAMPLES / "invalid" / "cycle.yaml").read_bytes())
    assert [str(p) for p in caught.value.problems] == [
        "line 5: services.api.depends_on[0]: cycle: api -> cache -> queue -> api"
    ]


def test_a_cycle_through_references_points_at_the_reference():
    with pytest.raises(ConfigError) as caught:
        plan_of("""
            runway: 1
            app: a
            services:
              web:
                image: i
                ports: [80]
                env: {API: "${{ services.api.url }}", SELF: "${{ services.web.host }}"}
              api: {image: i, ports: [8080], args: ["--web=${{ services.web.host }}"]}
        """)
    assert [str(p) for p in caught.value.problems] == [
        "line 8: services.web.env.API: cycle: web -> api -> web"
    ]


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_plan_documents_read_back_equal(example):
    plan = plan_source((EXAMPLES / example).read_bytes())
    stored = json.loads(json.dumps(plan_to_document(plan)))
    assert plan_from_document(stored) == plan
    assert stored["kind"] == "runway.plan"
    assert stored["version"] == 1


def test_a_stored_plan_is_read_as_decided_not_planned_again():
    plan = plan_source((EXAMPLES / "blog.yaml").read_bytes())
    stored = plan_to_document(plan)
    stored["steps"][2]["asks"] = ["domain"]
    assert plan_from_document(stored).step("web").asks == ("domain",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d.update(version=2),
            "plan document version 2 is not one this runway reads (1); "
            "it was written by a newer runway",
        ),
        (lambda d: d.update(kind="other"), "not a plan document (expected kind 'runway.plan')"),
        (lambda d: d["steps"][0].update(kind="daemon"), "steps[0] has unknown kind 'daemon'"),
        (
            lambda d: d["steps"][1].update(depends_on=["nope"]),
            "step 'migrate' comes before its dependencies ['nope']",
        ),
        (
            lambda d: d["steps"][0].update(depends_on=["web"]),
            "step 'db' comes before its dependencies ['web']",
        ),
        (
            lambda d: d["steps"].pop(),
            "the steps do not match the configuration's services one to one",
        ),
        (lambda d: d["steps"].append(dict(d["steps"][0])), "a step appears twice"),
        (
            lambda d: d["steps"].append(
                {
                    "name": "ghost",
                    "kind": "service",
                    "depth": 0,
                    "depends_on": [],
                    "needs": [],
                    "asks": [],
                }
            ),
            "the steps do not match the configuration's services one to one",
        ),
        (lambda d: d["config"].update(app="Bad"), "the plan's configuration is invalid"),
        (lambda d: d.update(steps="x"), "'steps' is not a list"),
    ],
)
def test_malformed_plan_documents_are_refused(change, message):
    stored = plan_to_document(plan_source((EXAMPLES / "blog.yaml").read_bytes()))
    change(stored)
    with pytest.raises(PlanDocumentError) as caught:
        plan_from_document(stored)
    assert str(caught.value).startswith(message)


def test_the_scheduler_starts_each_step_when_its_own_dependencies_are_done():
    plan = plan_source((EXAMPLES / "pipeline.yaml").read_bytes())
    scheduler = plan.scheduler()
    assert scheduler.get_ready() == ("fetch", "fetch-rates")
    scheduler.done("fetch")
    assert scheduler.get_ready() == ()
    scheduler.done("fetch-rates")
    assert scheduler.get_ready() == ("report",)
    resumed = plan.scheduler(done=["fetch", "fetch-rates"])
    assert resumed.get_ready() == ("report",)


@st.composite
def layered_configs(draw):
    """Random valid configurations: services that depend on earlier ones, some by reference."""
    count = draw(st.integers(1, 25))
    services = {}
    for index in range(count):
        earlier = [f"s{i}" for i in range(index)]
        deps = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
        spec = {"image": "example/s:1", "ports": [80]}
        explicit = [d for d in deps if draw(st.booleans())]
        if explicit:
            spec["depends_on"] = explicit
        referenced = [d for d in deps if d not in explicit]
        if referenced:
            spec["env"] = {f"URL_{d[1:]}": f"${{{{ services.{d}.url }}}}" for d in referenced}
        services[f"s{index}"] = spec
    names = list(services)
    shuffled = draw(st.permutations(names))
    return {"runway": 1, "app": "random", "services": {n: services[n] for n in shuffled}}


@given(layered_configs())
@settings(max_examples=60, deadline=None)
def test_random_plans_respect_every_edge_and_survive_storage(document):
    config = parse_config(json.dumps(document))
    plan = make_plan(config)
    position = {s.name: i for i, s in enumerate(plan.steps)}
    for step in plan.steps:
        for dependency in step.depends_on:
            assert position[dependency] < position[step.name]
            assert plan.step(dependency).depth < step.depth
    assert make_plan(parse_config(json.dumps(document))) == plan
    assert plan_from_document(json.loads(json.dumps(plan_to_document(plan)))) == plan


def test_a_service_may_name_its_own_host_without_depending_on_itself():
    plan = plan_of("""
        runway: 1
        app: a
        services:
          web: {image: i, ports: [80], env: {SELF: "${{ services.web.url }}"}}
    """)
    assert plan.step("web").depends_on == ()


def test_an_image_that_is_an_answer_may_need_any_registry():
    plan = plan_of("""
        runway: 1
        app: a
        inputs:
          img: {prompt: Image}
          p: {prompt: Password, type: secret}
        registries:
          ghcr.io: {username: u, password: "${{ inputs.p }}"}
        services:
          a: {image: "${{ inputs.img }}"}
    """)
    assert plan.step("a").needs == ("img", "p")


def test_cycles_are_reported_with_the_other_mistakes():
    with pytest.raises(ConfigError) as caught:
        plan_of("""
            runway: 1
            app: a
            services:
              a: {image: x, depends_on: [b]}
              b: {image: x, env: {A: "${{ services.a.host }}"}, ports: [80]}
              c: {image: x, replicas: -1}
        """)
    assert [str(p) for p in caught.value.problems] == [
        "line 5: services.a.depends_on[0]: cycle: a -> b -> a",
        "line 7: services.c.replicas: expected an integer >= 0, got -1",
    ]
