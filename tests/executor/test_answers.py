"""Which answer each input has: this deployment's, then the last successful deployment's (when
the input still takes it), then the default."""

from __future__ import annotations

from pathlib import Path

from runway.deploy import SecretRef
from runway.executor.answers import Source, resolve, reused_to_keep
from runway.planner import plan_source
from runway.store import Answer

BLOG = plan_source((Path(__file__).parents[2] / "examples" / "blog.yaml").read_text())
CONFIG = BLOG.config


def _given(name: str, value: object) -> Answer:
    return Answer(input=name, source="answer", value=value)


def _secret(name: str, secret: str) -> Answer:
    return Answer(input=name, source="answer", secret_name=secret, secret_key="value")


def test_nothing_answered_leaves_the_defaults_only() -> None:
    resolved = resolve(CONFIG, [])
    assert resolved.values == {"theme": "light"}
    assert resolved.sources == {"theme": Source.DEFAULT}
    assert resolved.missing(BLOG.step("db").needs) == ("db_password",)


def test_an_answer_beats_a_reused_one_which_beats_the_default() -> None:
    resolved = resolve(
        CONFIG,
        [_given("domain", "new.example.org")],
        [
            _given("domain", "old.example.org"),
            _given("theme", "dark"),
            _given("admin_email", "a@b.c"),
        ],
    )
    assert resolved.values == {
        "domain": "new.example.org",
        "theme": "dark",
        "admin_email": "a@b.c",
    }
    assert resolved.sources == {
        "domain": Source.ANSWER,
        "theme": Source.REUSED,
        "admin_email": Source.REUSED,
    }


def test_a_reused_answer_the_input_no_longer_takes_is_asked_again() -> None:
    resolved = resolve(
        CONFIG,
        [],
        [
            _given("theme", "purple"),  # no longer one of the choices
            _given("domain", "Not A Host!"),  # does not match the pattern
            _given("gone", "x"),  # the input no longer exists
            _given("db_password", "was plain"),  # the input became secret
        ],
    )
    assert resolved.values == {"theme": "light"}
    assert resolved.sources == {"theme": Source.DEFAULT}
    assert resolved.missing(["domain", "db_password"]) == ("domain", "db_password")


def test_secret_answers_are_where_their_value_lives() -> None:
    resolved = resolve(CONFIG, [], [_secret("db_password", "blog-db-password-3")])
    assert resolved.secrets == {"db_password": SecretRef("blog-db-password-3", "value")}
    assert resolved.sources["db_password"] is Source.REUSED
    assert resolved.missing(BLOG.step("db").needs) == ()
    # A Secret stored for an input that is now plain is not taken as its value.
    assert "domain" not in resolve(CONFIG, [_secret("domain", "blog-domain-1")]).values


def test_the_reused_answers_are_kept_with_their_source_and_never_a_secret_value() -> None:
    earlier = [_given("domain", "old.example.org"), _secret("db_password", "blog-db-password-1")]
    given = [_given("admin_email", "a@b.c")]
    resolved = resolve(CONFIG, given, earlier)
    kept = reused_to_keep(resolved, given)
    assert sorted(kept, key=lambda a: a.input) == [
        Answer(
            input="db_password",
            source="reused",
            secret_name="blog-db-password-1",
            secret_key="value",
        ),
        Answer(input="domain", source="reused", value="old.example.org"),
    ]  # not the given answer, not the default
    # Stored, they still count as reused for this deployment, and nothing is kept twice.
    again = resolve(CONFIG, [*given, *kept], earlier)
    assert again.sources["domain"] is Source.REUSED
    assert again.sources["admin_email"] is Source.ANSWER
    assert reused_to_keep(again, [*given, *kept]) == []
