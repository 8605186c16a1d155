"""Which answer each input of a deployment has, and where it came from (CONTRACT.md's precedence):
an answer given to this deployment, then one reused from the app's last successful deployment
(still valid for the input's new definition), then the input's default. Pure.

A deployment keeps the answers it reused (`reused_to_keep`, stored with source `reused`) so that
the next one finds them with it: an answer given at #1 and only reused by #2 is still there for #3.

A secret input's answer is only ever where its value lives (a Kubernetes Secret and key); the
value itself is read from the cluster at the last moment, only by a step that composes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from runway.config.answers import AnswerError, check_answer
from runway.config.model import Answer, Config, Input
from runway.deploy import SecretRef
from runway.store import Answer as StoredAnswer


class Source(StrEnum):
    ANSWER = "answer"
    REUSED = "reused"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Resolved:
    """The deployment's answers as far as they are known."""

    values: Mapping[str, Answer] = field(default_factory=dict)
    """Non-secret inputs' values."""
    secrets: Mapping[str, SecretRef] = field(default_factory=dict)
    """Secret inputs' Secrets."""
    sources: Mapping[str, Source] = field(default_factory=dict)

    def missing(self, needs: Iterable[str]) -> tuple[str, ...]:
        """The inputs of `needs` without an answer, in their order."""
        return tuple(n for n in needs if n not in self.values and n not in self.secrets)


def resolve(
    config: Config, given: Iterable[StoredAnswer], reused: Iterable[StoredAnswer] = ()
) -> Resolved:
    """Every input's answer by precedence: `given` (this deployment's), `reused` (the app's last
    successful deployment's, dropped when the input's definition no longer takes it), then
    the default."""
    own = {answer.input: answer for answer in given}
    earlier = {answer.input: answer for answer in reused}
    values: dict[str, Answer] = {}
    secrets: dict[str, SecretRef] = {}
    sources: dict[str, Source] = {}
    for name, spec in config.inputs.items():
        for source, answer in ((Source.ANSWER, own.get(name)), (Source.REUSED, earlier.get(name))):
            if answer is None:
                continue
            if _take(spec, answer, values, secrets):
                # One kept from an earlier deployment still says it was reused.
                sources[name] = Source.REUSED if answer.source == Source.REUSED else source
                break
        else:
            if spec.default is not None and not spec.secret:
                values[name] = spec.default
                sources[name] = Source.DEFAULT
    return Resolved(values, secrets, sources)


def reused_to_keep(resolved: Resolved, given: Iterable[StoredAnswer]) -> list[StoredAnswer]:
    """The reused answers of `resolved` the deployment has not stored yet, to store with it
    (source `reused`): a secret one as its Secret's name and key only, never its value."""
    own = {answer.input for answer in given}
    kept: list[StoredAnswer] = []
    for name, source in resolved.sources.items():
        if source is not Source.REUSED or name in own:
            continue
        ref = resolved.secrets.get(name)
        if ref is not None:
            kept.append(
                StoredAnswer(
                    input=name, source=Source.REUSED.value, secret_name=ref.name, secret_key=ref.key
                )
            )
        else:
            kept.append(
                StoredAnswer(input=name, source=Source.REUSED.value, value=resolved.values[name])
            )
    return kept


def _take(
    spec: Input, answer: StoredAnswer, values: dict[str, Answer], secrets: dict[str, SecretRef]
) -> bool:
    """Record `answer` for `spec` when it is one the input takes; whether it was."""
    if spec.secret:
        if not answer.secret_name or not answer.secret_key:
            return False
        secrets[spec.name] = SecretRef(answer.secret_name, answer.secret_key)
        return True
    if answer.secret_name is not None:
        return False  # the input was secret before: its value is not for a plain field
    try:
        values[spec.name] = check_answer(spec, answer.value)
    except AnswerError:
        return False
    return True
