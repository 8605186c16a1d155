"""What a person sees when runway reads the text of a configuration."""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path
from typing import Literal

import pytest
import yaml

from runway.config.errors import ConfigError, Problem
from runway.config.source import MAX_BYTES, MAX_DEPTH, Document, load

# The shared examples and the repository's, the invalid ones too: their faults are semantic.
EXAMPLES = [p for d in (Path(__file__).parents[2] / "examples",) for p in sorted(d.rglob("*.yaml"))]


# Syntax errors are worded by the parser; runway's wheels carry libyaml, whose words these are.
libyaml = pytest.mark.skipif(not yaml.__with_libyaml__, reason="libyaml's wording")


def problems(source: bytes | str, format: Literal["yaml", "json"] | None = None) -> list[Problem]:
    """What the loader finds: problems that stop it (raised), or those it reads past (kept on
    the document for the validator to report with its own)."""
    try:
        document = load(source, format=format)
    except ConfigError as error:
        return list(error.problems)
    assert document.problems, "the loader found nothing wrong"
    return list(document.problems)


# --- bytes ---------------------------------------------------------------------------------------


def test_a_configuration_over_one_mib_is_refused_before_parsing() -> None:
    at_limit = b"a: 1\n#" + b"-" * (MAX_BYTES - 6)
    assert load(at_limit).data == {"a": 1}
    assert problems(at_limit + b"-") == [
        Problem("", "the configuration is 1,048,577 bytes; the limit is 1 MiB")
    ]
    assert problems(b"a: [" * (MAX_BYTES * 6 // 20)) == [  # nothing parsed: not a syntax error
        Problem("", "the configuration is 1.2 MiB; the limit is 1 MiB")
    ]


def test_bytes_that_are_not_utf8_are_refused_with_their_offset() -> None:
    assert problems(b"\xff") == [Problem("", "not UTF-8 text (invalid byte 0xff at offset 0)", 1)]
    assert problems(b"app: blog\nimage: caf\xe9\n") == [
        Problem("", "not UTF-8 text (invalid byte 0xe9 at offset 20)", 2)
    ]
    assert problems("a: \ud800") == [
        Problem("", "not UTF-8 text (invalid byte 0xed at offset 3)", 1)
    ]


def test_a_utf16_file_is_refused_and_a_utf8_bom_is_fine() -> None:
    utf16 = "app: blog\n".encode("utf-16")
    assert utf16.startswith(b"\xff\xfe")
    expected = [Problem("", "not UTF-8 text (it starts with a UTF-16 byte order mark)", 1)]
    assert problems(utf16) == expected
    assert problems(b"\xfe\xff" + "app: blog\n".encode("utf-16-be")) == expected
    assert load(b"\xef\xbb\xbfapp: blog\n").data == {"app": "blog"}
    assert load("\ufeffapp: blog\n").data == {"app": "blog"}


# --- choosing the format -------------------------------------------------------------------------


def test_json_is_detected_and_a_yaml_flow_mapping_is_not_mistaken_for_it() -> None:
    as_json = load(b' \n{"app": "blog", "replicas": 2}')
    assert (as_json.format, as_json.data) == ("json", {"app": "blog", "replicas": 2})
    assert (as_json.lines, as_json.texts) == ({}, {})
    flow = load(b"{app: blog, replicas: 2}")
    assert (flow.format, flow.data) == ("yaml", {"app": "blog", "replicas": 2})
    assert load(b'["a"]').format == "yaml"  # only a JSON object is taken as JSON


def test_forced_json_reports_the_decoder_error_with_its_line() -> None:
    source = b'{\n  "app": "blog",\n  "runway": 1\n  "services": {}\n}'
    assert problems(source, format="json") == [
        Problem("", "not valid JSON: Expecting ',' delimiter", 4)
    ]
    assert problems(b"app: blog", format="json") == [
        Problem("", "not valid JSON: Expecting value", 1)
    ]
    assert problems(b" \n", format="json") == [Problem("", "the configuration is empty")]


def test_json_duplicate_keys_nan_and_depth_are_refused_at_their_path() -> None:
    source = b'{"services": {"web": {"image": "a", "image": "b"}}, "x": [NaN, -Infinity]}'
    assert problems(source) == [
        Problem("services.web.image", "duplicate key 'image'"),
        Problem("x[0]", "NaN is not valid JSON"),
        Problem("x[1]", "-Infinity is not valid JSON"),
    ]
    nested = '{"a": ' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    assert load(nested, format="json").format == "json"
    too_deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert problems(too_deep, format="json") == [
        Problem("[0]" * MAX_DEPTH, "nested more than 64 levels deep")
    ]
    assert problems("[" * 10_000 + "]" * 10_000, format="json") == [
        Problem("", "nested more than 64 levels deep")
    ]


# --- YAML: what is refused -----------------------------------------------------------------------


def test_billion_laughs_is_refused_at_once_without_expanding_anything() -> None:
    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    rows += [
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    started = time.perf_counter()
    found = problems("\n".join(rows))
    assert time.perf_counter() - started < 0.5
    message = "anchors and aliases are not allowed ({}); write the value out"
    assert found[:3] == [
        Problem("a", message.format("&a"), 1),
        Problem("b", message.format("&b"), 2),
        Problem("b[0]", message.format("*a"), 2),
    ]
    assert found[-1] == Problem("i[8]", message.format("*h"), 9)
    assert len(found) == 9 + 8 * 9  # every anchor and every alias, each once


def test_an_alias_used_as_a_key_or_a_merge_is_refused() -> None:
    source = "base: &b {cpu: 1}\nweb:\n  <<: *b\n  *b : 2\n  image: x\n"
    message = "anchors and aliases are not allowed ({}); write the value out"
    assert problems(source) == [
        Problem("base", message.format("&b"), 1),
        Problem("web.<<", message.format("*b"), 3),
        Problem("web", message.format("*b"), 4),
    ]


def test_tags_are_refused_whatever_they_are() -> None:
    source = (
        'run: !!python/object/apply:os.system ["true"]\n'
        "data: !!binary aGVsbG8=\n"
        "set: !!set {a, b}\n"
        "text: !!str 8080\n"
        "own: !foo bar\n"
        "bare: ! baz\n"
    )
    assert problems(source) == [
        Problem("run", "tags are not allowed (!!python/object/apply:os.system)", 1),
        Problem("data", "tags are not allowed (!!binary)", 2),
        Problem("set", "tags are not allowed (!!set)", 3),
        Problem("text", "tags are not allowed (!!str)", 4),
        Problem("own", "tags are not allowed (!foo)", 5),
        Problem("bare", "tags are not allowed (!)", 6),
    ]


def nested(depth: int) -> str:
    """`depth` collections: mappings down to the last, which is a list."""
    return "".join(f"{'  ' * i}k{i}:\n" for i in range(depth - 1)) + f"{'  ' * (depth - 1)}- x\n"


def test_nesting_deeper_than_64_is_refused_once_and_64_is_fine() -> None:
    path = tuple(f"k{i}" for i in range(MAX_DEPTH - 1))
    assert load(nested(MAX_DEPTH)).line((*path, 0)) == MAX_DEPTH
    found = problems(nested(MAX_DEPTH + 1) + "other: {a: [[[[1]]]]}\n")
    assert found == [
        Problem(".".join(f"k{i}" for i in range(MAX_DEPTH)), "nested more than 64 levels deep", 64)
    ]
    flow = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert problems(flow) == [Problem("[0]" * MAX_DEPTH, "nested more than 64 levels deep", 1)]


def test_duplicate_keys_are_each_reported_at_the_second_line() -> None:
    source = "services:\n  web:\n    image: a\n    port: 1\n    image: b\n  web:\n    image: c\n"
    assert problems(source) == [
        Problem("services.web.image", "duplicate key 'image' (first at line 3)", 5),
        Problem("services.web", "duplicate key 'web' (first at line 2)", 6),
    ]
    assert problems("a: 1\na: 2\na: 3\n") == [
        Problem("a", "duplicate key 'a' (first at line 1)", 2),
        Problem("a", "duplicate key 'a' (first at line 1)", 3),
    ]


def test_keys_are_their_text_and_must_be_text() -> None:
    document = load("1: a\ntrue: b\nnull: c\n0x10: d\n'q': e\n")
    assert document.data == {"1": "a", "true": "b", "null": "c", "0x10": "d", "q": "e"}
    assert document.texts == {}
    found = problems("services:\n  ? [a, b]\n  : 1\n  ? {c: d}\n  : 2\n  web: {}\n")
    assert found == [
        Problem("services", "keys must be text", 2),
        Problem("services", "keys must be text", 4),
    ]


def test_only_one_document_is_allowed() -> None:
    assert problems("app: blog\n---\napp: other\n") == [
        Problem("", "only one document is allowed; remove the '---' at line 2", 2)
    ]
    assert load("---\napp: blog\n").data == {"app": "blog"}


@pytest.mark.parametrize("source", ["", "\n\n", "# only a comment\n", "~\n", "---\n", "null"])
def test_an_empty_configuration_is_refused(source: str) -> None:
    assert problems(source) == [Problem("", "the configuration is empty")]


@libyaml
def test_a_syntax_error_says_where() -> None:
    # At the end of the text, the line where the unclosed list began.
    assert problems("app: blog\nports: [8080\n") == [
        Problem(
            "", "not valid YAML: did not find expected ',' or ']' while parsing a flow sequence", 2
        )
    ]
    found = problems("app: blog\n  image: x\n")
    assert [(p.path, p.line) for p in found] == [("", 2)]
    assert found[0].message.startswith("not valid YAML: mapping values are not allowed")
    assert problems("app: blog\nimage: \x07\n") == [
        Problem("", "not valid YAML: control characters are not allowed (#x0007)", 2)
    ]


@libyaml
def test_problems_found_before_a_syntax_error_are_kept() -> None:
    assert problems("a: *x\nb: [\nc: d\n") == [
        Problem("a", "anchors and aliases are not allowed (*x); write the value out", 1),
        Problem(
            "", "not valid YAML: did not find expected ',' or ']' while parsing a flow sequence", 2
        ),
    ]


def test_collecting_stops_after_1000_problems() -> None:
    found = problems("- *x\n" * 1500)
    assert len(found) == 1001
    assert found[999] == Problem(
        "[999]", "anchors and aliases are not allowed (*x); write the value out", 1000
    )
    assert found[-1] == Problem("", "too many problems; stopped after 1000")


# --- YAML: what is read --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("0755", 755),
        ("1.10", 1.1),
        ("~", None),
        ("", None),
        ("null", None),
        ("NULL", None),
        ("true", True),
        ("False", False),
        ("tRUE", "tRUE"),
        ("-12", -12),
        ("+3", 3),
        ("0o17", 15),
        ("0x1F", 31),
        ("0b11", "0b11"),
        ("1_000", "1_000"),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("-.inf", -math.inf),
        ("2024-01-02", "2024-01-02"),
        ("12:30", "12:30"),
        ("postgres:16.4", "postgres:16.4"),
        ("'8080'", "8080"),
        ('"true"', "true"),
    ],
)
def test_scalars_follow_the_yaml_1_2_core_schema(written: str, value: object) -> None:
    document = load(f"v: {written}\n")
    assert document.data == {"v": value}
    assert type(document.data["v"]) is type(value)
    plain_non_str = not written.startswith(("'", '"')) and type(value) is not str
    assert document.texts == ({("v",): written} if plain_non_str else {})


def test_nan_is_read_as_nan() -> None:
    assert math.isnan(load("v: .NaN").data["v"])  # type: ignore[index]


def test_every_node_has_a_line_and_a_mapping_entry_has_its_keys() -> None:
    source = "app: blog\nservices:\n  web:\n    depends_on:\n      - db\n      - cache\n"
    document = load(source)
    assert document.lines == {
        (): 1,
        ("app",): 1,
        ("services",): 2,
        ("services", "web"): 3,
        ("services", "web", "depends_on"): 4,
        ("services", "web", "depends_on", 0): 5,
        ("services", "web", "depends_on", 1): 6,
    }
    assert document.line(("services", "web", "depends_on", 1, "nope")) == 6
    assert document.line(("nope",)) == 1
    assert Document({}, {}, {}, "json").line(("a",)) is None


def test_texts_keep_what_was_written_for_numbers_and_nulls() -> None:
    document = load("env:\n  PORT: 8080\n  VERSION: 1.10\n  FOO:\n  NAME: web\n  Q: '1'\n")
    assert document.data == {
        "env": {"PORT": 8080, "VERSION": 1.1, "FOO": None, "NAME": "web", "Q": "1"}
    }
    assert document.texts == {
        ("env", "PORT"): "8080",
        ("env", "VERSION"): "1.10",
        ("env", "FOO"): "",
    }


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_the_examples_load(example: Path) -> None:
    document = load(example.read_bytes())
    assert document.format == "yaml"
    assert isinstance(document.data, dict)
    assert document.data["runway"] == 1


@libyaml
def test_a_plain_document_reads_as_pyyaml_builds_it() -> None:
    # Speed is bench/plan.py's business; here, that building from events loses nothing.
    rows = ["runway: 1", "app: wide", "services:"]
    for layer, i in itertools.product(range(20), range(100)):
        rows += [f"  s{layer}-{i}:", "    image: example/s:1"]
        if layer:
            rows.append(f"    depends_on: [s{layer - 1}-{i}, s{layer - 1}-{(i + 7) % 100}]")
    text = "\n".join(rows) + "\n"
    assert load(text).data == yaml.load(text, Loader=yaml.CSafeLoader)
