"""Rendering: one step of a plan as the Kubernetes objects to apply, in order. Pure: no I/O, no
Kubernetes client; plain dicts ready for server-side apply.

The same step and target always render to the same objects (byte for byte as sorted JSON). A new
deployment of an unchanged service changes only the `runway.dev/deployment` label of its
objects' metadata, so applying it restarts no pod. The Secrets a step composes (env values
that interpolate a secret input, registry credentials) are immutable and named after a digest
of what they hold, with each secret value stood in for by its versioned Secret: a new value is
a new Secret (DESIGN.md), and an unchanged one keeps its name, so its pods keep running.
"""

from __future__ import annotations

from typing import Any

from runway.config.model import Service
from runway.deploy import names
from runway.deploy.render_secrets import env_secret, pull_secret
from runway.deploy.render_target import (
    CertManagerTls,
    ExistingTls,
    RenderError,
    RenderSettings,
    SecretRef,
    Target,
)
from runway.deploy.render_values import Values, fingerprint, format_answer
from runway.deploy.render_workloads import (
    MANAGED_BY,
    Workload,
    claims,
    cluster_service,
    container,
    deployment,
    ingress,
    job,
)
from runway.planner import Plan, StepKind

__all__ = [
    "CertManagerTls",
    "ExistingTls",
    "RenderError",
    "RenderSettings",
    "SecretRef",
    "Target",
    "format_answer",
    "labels",
    "render_step",
]

Manifest = dict[str, Any]


def labels(app: str, service: str, target: Target) -> dict[str, str]:
    """The labels on the metadata of every object of a step."""
    return {
        "app.kubernetes.io/name": service,
        "app.kubernetes.io/instance": app,
        **MANAGED_BY,
        "runway.dev/environment": target.environment,
        "runway.dev/app": app,
        "runway.dev/deployment": str(target.deployment),
    }


def render_step(plan: Plan, step: str, target: Target) -> list[Manifest]:
    """The objects of one step in the order to apply them: its Secrets and PVCs, its Deployment
    or Job, then its Service and Ingress. Raises RenderError naming what is missing."""
    try:
        planned = plan.step(step)
    except KeyError:
        raise RenderError(f"the plan has no step '{step}'") from None
    if planned.kind not in (StepKind.SERVICE, StepKind.JOB):
        raise RenderError(f"step '{step}' is a {planned.kind.value} step, not a service or job")
    config = plan.config
    for name in planned.needs:
        spec = config.inputs[name]
        if not spec.secret and name not in target.answers:
            raise RenderError(f"step '{step}' needs input '{name}', which has no answer yet")
    service = config.services[step]
    workload = Workload(config.app, target.namespace, service, labels(config.app, step, target))
    return _Step(Values(config, target), workload, target).render()


class _Step:
    """The rendering of one step: collects its Secrets on the way to its workload."""

    def __init__(self, values: Values, workload: Workload, target: Target) -> None:
        self.values = values
        self.workload = workload
        self.target = target
        self.secrets: list[Manifest] = []

    def render(self) -> list[Manifest]:
        workload, service = self.workload, self.workload.service
        where = f"services.{service.name}"
        body = container(
            service,
            self.values.text(service.image, f"{where}.image"),
            self._strings(service.command, f"{where}.command"),
            self._strings(service.args, f"{where}.args"),
            self._env(service),
        )
        pod: dict[str, Any] = {}
        if (pull := self._pull_secret(body["image"])) is not None:
            pod["imagePullSecrets"] = [{"name": pull}]
        if service.is_job:
            name = names.job_name(workload.app, service.name, self.target.deployment)
            if len(name) > names.NAME_MAX:
                raise RenderError(
                    f"the Job name '{name}' is longer than {names.NAME_MAX} characters"
                )
            return [*self.secrets, job(workload, name, body, pod)]
        manifests = [
            *self.secrets,
            *claims(workload, self.target.settings.storage_class),
            deployment(workload, body, pod),
        ]
        if service.ports:
            manifests.append(cluster_service(workload))
        if service.expose is not None:
            host = self.values.text(service.expose.host, f"{where}.expose.host")
            manifests.append(ingress(workload, host, service.expose.port, self.target.settings))
        return manifests

    def _strings(self, strings: tuple[str, ...] | None, where: str) -> list[str] | None:
        if strings is None:
            return None
        return [self.values.text(item, f"{where}[{index}]") for index, item in enumerate(strings)]

    def _env(self, service: Service) -> list[dict[str, Any]]:
        workload = self.workload
        env, composed, secret_name = self.values.env(service)
        if composed:
            self.secrets.append(
                env_secret(secret_name, workload.namespace, workload.labels, composed)
            )
        return env

    def _pull_secret(self, image: str) -> str | None:
        """The pull Secret of the image's registry, when the configuration declares it."""
        registry = self.values.registry(image)
        if registry is None:
            return None
        workload = self.workload
        where = f"registries.{registry.host}"
        stand_ins = {
            "host": registry.host,
            "username": self.values.stand_in_text(registry.username, f"{where}.username"),
            "password": self.values.stand_in_text(registry.password, f"{where}.password"),
        }
        name = names.registry_secret_name(
            workload.app, workload.service.name, fingerprint(stand_ins)
        )
        self.secrets.append(
            pull_secret(
                name,
                workload.namespace,
                workload.labels,
                registry,
                self.values.secret_text(registry.username, f"{where}.username"),
                self.values.secret_text(registry.password, f"{where}.password"),
            )
        )
        return name
