"""From loaded data to a Config: every rule of the format, every problem reported at once."""

from __future__ import annotations

from typing import Any

from runway.config import fields, template
from runway.config.checker import Checker, TooManyProblems, describe
from runway.config.errors import Path
from runway.config.model import (
    SUPPORTED_VERSIONS,
    Answer,
    Config,
    Input,
    InputType,
    Registry,
    ServiceKind,
)
from runway.config.patterns import PatternError, compile_pattern, matches
from runway.config.references import REGISTRY, Allowed
from runway.config.services import read_services
from runway.config.source import Document

_INPUT_RULE = "an identifier of lowercase letters, digits and '_' that does not start with a digit"


def build_config(document: Document) -> Config:
    """Validate loaded data against the format; raise ConfigError listing every problem,
    those the loader found on the way included."""
    check = Checker(document)
    try:
        config = _read(check, document.data)
    except TooManyProblems:
        config = None
    check.raise_if_any()
    assert config is not None  # no problem means every part was read
    return config


def _read(check: Checker, data: object) -> Config | None:
    root = check.mapping((), data, "a mapping of runway, app, inputs and services")
    if root is None:
        return None
    check.keys((), root, fields.TOP_KEYS, fields.TOP_REQUIRED)
    if "runway" in root and not _version(check, root["runway"]):
        # Another format version means other rules: reporting them all would only mislead.
        return None
    app = _app(check, root["app"]) if "app" in root else None
    inputs = _inputs(check, root.get("inputs", {}))
    registries = _registries(check, root.get("registries", {}))
    services = read_services(check, root.get("services", {}))
    _check_references(check, _declared(root.get("inputs")), _declared(root.get("services")))
    return Config(app=app or "", services=services, inputs=inputs, registries=registries)


def _version(check: Checker, value: object) -> bool:
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value in SUPPORTED_VERSIONS
    ):
        return True
    supported = ", ".join(map(str, SUPPORTED_VERSIONS))
    written = (
        f"'{value}'" if isinstance(value, str) else check.document.texts.get(("runway",), value)
    )
    check.problem(
        ("runway",),
        f"unsupported format version {written}; this runway reads version {supported} "
        f"(write 'runway: {SUPPORTED_VERSIONS[-1]}')",
    )
    return False


def _declared(section: object) -> dict[str, dict[str, Any]]:
    """The entries of a section as written, even invalid ones: references are checked against
    what the person declared, so one mistake is not reported again at every use."""
    if not isinstance(section, dict):
        return {}
    return {name: spec if isinstance(spec, dict) else {} for name, spec in section.items()}


def _app(check: Checker, value: object) -> str | None:
    name = check.text(("app",), value)
    if name is not None and check.label(("app",), name, fields.APP_MAX):
        return name
    return None


def _inputs(check: Checker, value: object) -> dict[str, Input]:
    inputs: dict[str, Input] = {}
    section = check.mapping(("inputs",), value, "a mapping of input names to their definitions")
    for name, spec in (section or {}).items():
        path: Path = ("inputs", name)
        named = check.name(path, name, fields.INPUT_NAME, fields.INPUT_MAX, _INPUT_RULE)
        read = _input(check, path, name, spec)
        if named and read is not None:
            inputs[name] = read
    return inputs


def _input(check: Checker, path: Path, name: str, value: object) -> Input | None:
    spec = check.mapping(path, value, "a mapping with at least a prompt")
    if spec is None:
        return None
    check.keys(path, spec, fields.INPUT_KEYS, fields.INPUT_REQUIRED)
    errors = len(check.problems)
    prompt = check.bounded(
        (*path, "prompt"), check.text((*path, "prompt"), spec.get("prompt", "")), fields.PROMPT_MAX
    )
    if prompt == "":
        check.problem((*path, "prompt"), "must not be empty: it is the question the person sees")
    description = None
    if "description" in spec:
        description = check.bounded(
            (*path, "description"),
            check.text((*path, "description"), spec["description"]),
            fields.DESCRIPTION_MAX,
        )
    kind = check.member((*path, "type"), spec.get("type", "string"), InputType, "input type")
    choices = _choices(check, path, spec, kind)
    pattern = _pattern(check, path, spec, kind)
    generate = _generate(check, path, spec, kind)
    default = _default(check, path, spec, kind, choices, pattern)
    if len(check.problems) > errors or kind is None or prompt is None:
        return None
    return Input(name, prompt, kind, description, default, choices, pattern, generate)


def _choices(
    check: Checker, path: Path, spec: dict[str, Any], kind: InputType | None
) -> tuple[str, ...]:
    if "choices" not in spec:
        if kind is InputType.CHOICE:
            check.problem(path, "an input of type choice needs 'choices': the list to choose from")
        return ()
    if kind is not None and kind is not InputType.CHOICE:
        check.problem(
            (*path, "choices"), f"choices apply only to inputs of type choice, not {kind}"
        )
        return ()
    items = check.sequence((*path, "choices"), spec["choices"], "a list of texts")
    if items is None:
        return ()
    if not items:
        check.problem((*path, "choices"), "must list at least one choice")
    return tuple(check.unique((*path, "choices"), items, check.text))


def _pattern(
    check: Checker, path: Path, spec: dict[str, Any], kind: InputType | None
) -> str | None:
    if "pattern" not in spec:
        return None
    where = (*path, "pattern")
    if kind is not None and kind not in (InputType.STRING, InputType.SECRET):
        check.problem(where, f"a pattern applies only to string and secret inputs, not {kind}")
        return None
    pattern = check.bounded(where, check.text(where, spec["pattern"]), fields.PATTERN_MAX)
    if pattern is None:
        return None
    try:
        compile_pattern(pattern)
    except PatternError as error:
        check.problem(where, str(error))
        return None
    return pattern


def _generate(
    check: Checker, path: Path, spec: dict[str, Any], kind: InputType | None
) -> int | None:
    if "generate" not in spec:
        return None
    where = (*path, "generate")
    if kind is not None and kind is not InputType.SECRET:
        check.problem(where, f"only secret inputs can be generated; this input is of type {kind}")
        return None
    low, high = fields.GENERATE_RANGE
    return check.integer(where, spec["generate"], low, high)


def _default(
    check: Checker,
    path: Path,
    spec: dict[str, Any],
    kind: InputType | None,
    choices: tuple[str, ...],
    pattern: str | None,
) -> Answer | None:
    if "default" not in spec or kind is None:
        return None
    where = (*path, "default")
    value = spec["default"]
    if kind is InputType.SECRET:
        check.problem(
            where,
            "a secret input cannot have a default (it would be written in the configuration); "
            "use generate",
        )
        return None
    if kind is InputType.INTEGER:
        return check.integer(where, value)
    if kind is InputType.BOOLEAN:
        if not isinstance(value, bool):
            check.problem(where, f"expected true or false, got {describe(value)}")
            return None
        return value
    text = check.text(where, value)
    if text is None:
        return None
    if kind is InputType.CHOICE and choices and text not in choices:
        hint = check.hint(text, choices)
        check.problem(where, f"'{text}' is not one of the choices ({', '.join(choices)}){hint}")
        return None
    # `pattern` is None when it did not compile: that was reported already.
    if pattern is not None:
        try:
            matched = matches(pattern, text)
        except PatternError as error:
            check.problem((*path, "pattern"), str(error))
            return None
        if not matched:
            check.problem(where, f"'{text}' does not match the input's pattern {pattern!r}")
            return None
    return text


def _registries(check: Checker, value: object) -> dict[str, Registry]:
    registries: dict[str, Registry] = {}
    section = check.mapping(("registries",), value, "a mapping of registry hosts to credentials")
    for host, spec in (section or {}).items():
        path: Path = ("registries", host)
        if not fields.REGISTRY.fullmatch(host) or len(host) > fields.HOST_MAX:
            check.problem(
                path,
                f"'{host}' is not a registry host such as ghcr.io or registry.example.com:5000",
            )
        credentials = check.mapping(path, spec, "a mapping with username and password")
        if credentials is None:
            continue
        check.keys(path, credentials, fields.REGISTRY_KEYS, fields.REGISTRY_KEYS)
        username = check.text(
            (*path, "username"), credentials.get("username", ""), references=REGISTRY
        )
        password = check.text(
            (*path, "password"), credentials.get("password", ""), references=REGISTRY
        )
        if username is not None and password is not None:
            registries[host] = Registry(host, username, password)
    return registries


def _check_references(
    check: Checker, inputs: dict[str, dict[str, Any]], services: dict[str, dict[str, Any]]
) -> None:
    """Every reference names something declared, and may be used where it stands."""
    for path, text, allowed in check.uses:
        for reference in template.references(text):
            if isinstance(reference, template.InputRef):
                _check_input_use(check, path, reference.name, inputs, allowed)
            elif Allowed.SERVICES not in allowed:
                field = "expose.host" if path[-2:] == ("expose", "host") else path[-1]
                check.problem(path, f"services cannot be referenced in {field}")
            else:
                _check_service_use(check, path, reference, services)


def _check_input_use(
    check: Checker, path: Path, name: str, inputs: dict[str, dict[str, Any]], allowed: Allowed
) -> None:
    if name not in inputs:
        check.problem(path, f"unknown input '{name}'{check.hint(name, inputs)}")
    elif inputs[name].get("type") == InputType.SECRET and Allowed.SECRETS not in allowed:
        check.problem(
            path,
            f"secret input '{name}' can be used only in env and registries, "
            "where it reaches the container through a Kubernetes Secret",
        )


def _check_service_use(
    check: Checker, path: Path, reference: template.ServiceRef, services: dict[str, dict[str, Any]]
) -> None:
    name = reference.service
    spec = services.get(name)
    if spec is None:
        check.problem(path, f"unknown service '{name}'{check.hint(name, services)}")
    elif spec.get("kind") == ServiceKind.JOB:
        check.problem(path, f"'{name}' is a job: it has no Service, so no {reference.attribute}")
    elif reference.attribute == "url" and not spec.get("ports"):
        check.problem(
            path, f"'{name}' has no ports, so no url; give it ports or use services.{name}.host"
        )
