"""References substituted: answers, in-cluster addresses of services, and the secret values that
may only ever reach a Secret."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from runway.config import template
from runway.config.fields import image_host
from runway.config.model import Answer, Config, Registry, Service
from runway.deploy import names
from runway.deploy.render_target import RenderError, SecretRef, Target


def format_answer(value: Answer) -> str:
    """An answer as a string in a manifest; booleans as YAML and JSON write them (`true`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Values:
    """The answers of one target, for the strings of one app's configuration."""

    def __init__(self, config: Config, target: Target) -> None:
        self.config = config
        self.target = target

    def text(self, text: str, where: str) -> str:
        """A string with its references substituted; it may not reference a secret input."""
        return "".join(self._parts(text, where, secrets_allowed=False))

    def secret_text(self, text: str, where: str) -> str:
        """A string with its references substituted, secret inputs included: only for a Secret."""
        return "".join(self._parts(text, where, secrets_allowed=True))

    def host(self, service: str) -> str:
        """`services.NAME.host`: the in-cluster DNS name of a service's Service."""
        return f"{names.object_name(self.config.app, service)}.{self.target.namespace}.svc"

    def url(self, service: str, where: str) -> str:
        """`services.NAME.url`: `http://` the host and the service's first port."""
        other = self.config.services.get(service)
        if other is None or not other.ports:
            raise RenderError(f"{where}: services.{service}.url needs a service with a port")
        return f"http://{self.host(service)}:{other.ports[0]}"

    def env(self, service: Service) -> tuple[list[dict[str, Any]], dict[str, str], str]:
        """The container's env list, the values to place whole in the service's env Secret
        (those that interpolate a secret input without being exactly one), and that Secret's
        name."""
        entries: list[dict[str, Any]] = []
        composed: dict[str, str] = {}
        stand_ins: dict[str, str] = {}
        for variable, text in service.env.items():
            where = f"services.{service.name}.env.{variable}"
            parts = self._parse(text, where)
            only = parts[0] if len(parts) == 1 else None
            if isinstance(only, template.InputRef) and self._is_secret(only):
                ref = self.secret_ref(only.name, where)
                entries.append(_from_secret(variable, ref.name, ref.key))
            elif any(self._is_secret(part) for part in parts):
                composed[variable] = self.secret_text(text, where)
                stand_ins[variable] = self.stand_in_text(text, where)
                entries.append({"name": variable})  # its Secret's name comes below
            else:
                entries.append({"name": variable, "value": self.text(text, where)})
        secret_name = names.env_secret_name(self.config.app, service.name, fingerprint(stand_ins))
        for entry in entries:
            if len(entry) == 1:
                entry.update(_from_secret(entry["name"], secret_name, entry["name"]))
        return entries, composed, secret_name

    def stand_in_text(self, text: str, where: str) -> str:
        """A string as `secret_text` composes it, with each secret value replaced by where it
        lives (its versioned Secret): it changes exactly when the composed value does, and
        tells nothing of it. Named after its digest, a composed Secret stays the same across
        deployments that change nothing, so their pods are not restarted."""
        return "".join(self._parts(text, where, secrets_allowed=True, stand_ins=True))

    def secret_ref(self, name: str, where: str) -> SecretRef:
        """Where the value of the secret input `name` lives."""
        ref = self.target.secrets.get(name)
        if ref is None:
            raise RenderError(
                f"{where}: no Secret holds the value of secret input '{name}'; "
                "answer it before rendering this step"
            )
        return ref

    def registry(self, image: str) -> Registry | None:
        """The registry of the configuration an image is pulled from, if it declares one."""
        return self.config.registries.get(image_host(image))

    def _is_secret(self, part: template.Part) -> bool:
        if not isinstance(part, template.InputRef):
            return False
        spec = self.config.inputs.get(part.name)
        return spec is not None and spec.secret

    def _parts(
        self, text: str, where: str, *, secrets_allowed: bool, stand_ins: bool = False
    ) -> Iterator[str]:
        if template.OPEN not in text:
            yield text
            return
        for part in self._parse(text, where):
            if isinstance(part, str):
                yield part
            elif isinstance(part, template.ServiceRef):
                yield (
                    self.host(part.service)
                    if part.attribute == "host"
                    else self.url(part.service, where)
                )
            else:
                yield self._input(
                    part.name, where, secrets_allowed=secrets_allowed, stand_ins=stand_ins
                )

    @staticmethod
    def _parse(text: str, where: str) -> tuple[template.Part, ...]:
        try:
            return template.parse(text)
        except template.TemplateError as error:
            raise RenderError(f"{where}: {error}") from None

    def _input(
        self, name: str, where: str, *, secrets_allowed: bool, stand_ins: bool = False
    ) -> str:
        spec = self.config.inputs.get(name)
        if spec is None:
            raise RenderError(f"{where}: unknown input '{name}'")
        if spec.secret:
            if not secrets_allowed:
                raise RenderError(f"{where}: secret input '{name}' may only be used in env")
            if stand_ins:
                ref = self.secret_ref(name, where)
                return f"\x00{ref.name}/{ref.key}\x00"  # NUL: no env value can hold one
            value = self.target.secret_values.get(name)
            if value is None:
                raise RenderError(
                    f"{where}: the value of secret input '{name}' is needed to compose a Secret"
                )
            return value
        answer = self.target.answers.get(name)
        if answer is None:
            raise RenderError(f"{where}: input '{name}' has no answer yet")
        return format_answer(answer)


def fingerprint(values: Mapping[str, str]) -> str:
    """A short digest of `values` (ten hex digits) for names that change with their content."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def _from_secret(variable: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
