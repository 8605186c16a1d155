"""The JSON Schema agrees with the validator on structure: it cannot drift from the model."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from runway.config import ConfigError, Input, Service, Volume, load, parse_config
from runway.config.schema import config_schema
from runway.planner import plan_source

EXAMPLES = Path(__file__).parents[2] / "examples"
VALIDATOR = Draft202012Validator(config_schema())


def data_of(path: Path) -> object:
    return load(path.read_bytes()).data


def schema_errors(document: object) -> list[str]:
    return sorted(e.json_path for e in VALIDATOR.iter_errors(document))


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(config_schema())


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_valid_example_validates(example):
    document = data_of(EXAMPLES / example)
    assert schema_errors(document) == []
    # The canonical form runway stores validates too.
    assert schema_errors(parse_config(json.dumps(document)).to_document()) == []


def test_structural_mistakes_fail_the_schema():
    errors = schema_errors(data_of(EXAMPLES / "invalid" / "typo.yaml"))
    assert "$.services.job" in errors  # imag instead of image
    assert "$.services.web.replicas" in errors


@pytest.mark.parametrize("example", ["cycle.yaml", "secrets.yaml", "two-cycles.yaml"])
def test_semantic_mistakes_are_left_to_runway_plan(example):
    document = data_of(EXAMPLES / "invalid" / example)
    assert schema_errors(document) == []
    with pytest.raises(ConfigError):
        plan_source((EXAMPLES / "invalid" / example).read_bytes())


BLOG = data_of(EXAMPLES / "blog.yaml")

MUTATIONS = {
    "unknown top-level key": lambda d: d.update(extra=1),
    "missing app": lambda d: d.pop("app"),
    "version 2": lambda d: d.update(runway=2),
    "app too long": lambda d: d.update(app="a" * 21),
    "unknown service field": lambda d: d["services"]["db"].update(imag="x"),
    "service without image": lambda d: d["services"]["db"].pop("image"),
    "ports as text": lambda d: d["services"]["db"].update(ports="5432"),
    "port out of range": lambda d: d["services"]["db"].update(ports=[70000]),
    "replicas negative": lambda d: d["services"]["web"].update(replicas=-1),
    "replicas 2 with volumes": lambda d: d["services"]["db"].update(replicas=2),
    "job with replicas": lambda d: d["services"]["migrate"].update(replicas=1),
    "service with retries": lambda d: d["services"]["web"].update(retries=1),
    "unknown kind": lambda d: d["services"]["web"].update(kind="daemon"),
    "env as list": lambda d: d["services"]["web"].update(env=["A=1"]),
    "env value a mapping": lambda d: d["services"]["web"]["env"].update(X={"a": 1}),
    "ready with both": lambda d: d["services"]["web"].update(
        ready={"tcp": 1, "http": "/", "port": 1}
    ),
    "volume without size": lambda d: d["services"]["db"]["volumes"]["data"].pop("size"),
    "timeout without unit": lambda d: d["services"]["web"].update(timeout="90"),
    "input without prompt": lambda d: d["inputs"]["domain"].pop("prompt"),
    "unknown input type": lambda d: d["inputs"]["domain"].update(type="text"),
    "generate on a string": lambda d: d["inputs"]["domain"].update(generate=12),
    "choice without choices": lambda d: d["inputs"]["theme"].pop("choices"),
    "secret with a default": lambda d: d["inputs"]["db_password"].update(default="x"),
    "integer default on a string": lambda d: d["inputs"]["domain"].update(default=3),
    "bad service name": lambda d: d["services"].update(Bad={"image": "x"}),
    "bad input name": lambda d: d["inputs"].update({"Bad": {"prompt": "x"}}),
    "image in capitals": lambda d: d["services"]["db"].update(image="UPPER"),
    "image with a space": lambda d: d["services"]["db"].update(image="a b"),
    "host that is no host": lambda d: d["services"]["web"]["expose"].update(host="Not A Host"),
    "mount through ..": lambda d: d["services"]["db"]["volumes"]["data"].update(mount="/a/../b"),
    "empty timeout": lambda d: d["services"]["web"].update(timeout=""),
    "negative size": lambda d: d["services"]["db"]["volumes"]["data"].update(size="-1Gi"),
    "negative size number": lambda d: d["services"]["db"]["volumes"]["data"].update(size=-1),
    "negative cpu": lambda d: d["services"]["web"].update(resources={"limits": {"cpu": -1}}),
}

BOTH_ACCEPT = {
    "whole floats": lambda d: d["services"]["db"].update(ports=[5432.0]),
    "env null": lambda d: d["services"]["web"]["env"].update(EMPTY=None),
    "no volumes, two replicas": lambda d: d["services"]["web"].update(volumes={}, replicas=2),
    "an image from an answer": lambda d: d["services"]["web"].update(
        image="${{ inputs.domain }}/x:1"
    ),
}


@pytest.mark.parametrize("name", sorted(BOTH_ACCEPT))
def test_schema_and_validator_both_accept(name):
    document = copy.deepcopy(BLOG)
    BOTH_ACCEPT[name](document)
    assert schema_errors(document) == []
    parse_config(json.dumps(document))


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_schema_and_validator_both_refuse_structural_mistakes(name):
    document = copy.deepcopy(BLOG)
    MUTATIONS[name](document)
    assert schema_errors(document), f"the schema accepts: {name}"
    with pytest.raises(ConfigError):
        parse_config(json.dumps(document))


@pytest.mark.parametrize(
    ("model", "definition"),
    [(Service, "service"), (Input, "input")],
)
def test_every_model_field_is_in_the_schema(model, definition):
    properties = set(config_schema()["$defs"][definition]["properties"])
    fields = {f.name for f in dataclasses.fields(model)} - {"name"}
    assert fields == properties


def test_volume_fields_are_in_the_schema():
    volume = config_schema()["$defs"]["service"]["properties"]["volumes"]["additionalProperties"]
    assert set(volume["properties"]) == {f.name for f in dataclasses.fields(Volume)} - {"name"}


def test_runway_schema_prints_it():
    result = subprocess.run(
        [sys.executable, "-m", "runway", "schema"], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == json.loads(json.dumps(config_schema()))
