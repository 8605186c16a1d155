"""References substituted: answers, in-cluster addresses of services, and the secret values that
may only ever reach a Secret."""

from __future__ import annotations

from collections.abc import Iterator
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

    def env(
        self, service: Service, secret_name: str
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """The container's env list, and the values to place whole in the service's env Secret
        `secret_name` (those that interpolate a secret input without being exactly one)."""
        entries: list[dict[str, Any]] = []
        composed: dict[str, str] = {}
        for variable, text in service.env.items():
            where = f"services.{service.name}.env.{variable}"
            parts = self._parse(text, where)
            only = parts[0] if len(parts) == 1 else None
            if isinstance(only, template.InputRef) and self._is_secret(only):
                ref = self.secret_ref(only.name, where)
                entries.append(_from_secret(variable, ref.name, ref.key))
            elif any(self._is_secret(part) for part in parts):
                composed[variable] = self.secret_text(text, where)
                entries.append(_from_secret(variable, secret_name, variable))
            else:
                entries.append({"name": variable, "value": self.text(text, where)})
        return entries, composed

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

    def _parts(self, text: str, where: str, *, secrets_allowed: bool) -> Iterator[str]:
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
                yield self._input(part.name, where, secrets_allowed=secrets_allowed)

    @staticmethod
    def _parse(text: str, where: str) -> tuple[template.Part, ...]:
        try:
            return template.parse(text)
        except template.TemplateError as error:
            raise RenderError(f"{where}: {error}") from None

    def _input(self, name: str, where: str, *, secrets_allowed: bool) -> str:
        spec = self.config.inputs.get(name)
        if spec is None:
            raise RenderError(f"{where}: unknown input '{name}'")
        if spec.secret:
            if not secrets_allowed:
                raise RenderError(f"{where}: secret input '{name}' may only be used in env")
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


def _from_secret(variable: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
