"""The Kubernetes objects of one service or job, as plain dicts ready for server-side apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runway.config.model import Resources, Service
from runway.deploy import names
from runway.deploy.render_target import CertManagerTls, ExistingTls, RenderSettings

MANAGED_BY = {"app.kubernetes.io/managed-by": "runway"}
MIN_READY_SECONDS = 10
"""Without a `ready` probe, how long a new pod must stay up before it counts as available: an
image that crashes at once fails the rollout instead of passing it."""


def selector(app: str, service: str) -> dict[str, str]:
    """The selector of a service's pods, which never changes."""
    return {"app.kubernetes.io/name": service, "app.kubernetes.io/instance": app}


@dataclass(frozen=True, slots=True)
class Workload:
    """One service or job of an app, ready to be turned into objects."""

    app: str
    namespace: str
    service: Service
    labels: dict[str, str]
    """The metadata labels of every object of the step (the deployment number among them)."""

    def metadata(self, name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
        labels = dict(self.labels)
        meta: dict[str, Any] = {"name": name, "namespace": self.namespace, "labels": labels}
        if annotations:
            meta["annotations"] = annotations
        return meta

    @property
    def name(self) -> str:
        return names.object_name(self.app, self.service.name)

    def pod_template(self, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
        """The pod template: the selector's labels only, so a new deployment number does not
        restart any pod."""
        labels = {**selector(self.app, self.service.name), **MANAGED_BY}
        pod: dict[str, Any] = {"automountServiceAccountToken": False, "containers": [container]}
        pod.update(spec)
        return {"metadata": {"labels": labels}, "spec": pod}


def container(
    service: Service,
    image: str,
    command: list[str] | None,
    args: list[str] | None,
    env: list[dict[str, Any]],
) -> dict[str, Any]:
    """The one container of a service's pods."""
    body: dict[str, Any] = {"name": service.name, "image": image}
    if command is not None:
        body["command"] = command
    if args is not None:
        body["args"] = args
    if env:
        body["env"] = env
    if service.ports:
        body["ports"] = [
            {"name": names.port_name(port), "containerPort": port, "protocol": "TCP"}
            for port in service.ports
        ]
    if service.ready is not None:
        ready = service.ready
        probe = {"path": ready.path, "port": ready.port} if ready.http else {"port": ready.port}
        body["readinessProbe"] = {"httpGet" if ready.http else "tcpSocket": probe}
    if service.resources is not None and (resources := _resources(service.resources)):
        body["resources"] = resources
    if service.volumes:
        body["volumeMounts"] = [{"name": v.name, "mountPath": v.mount} for v in service.volumes]
    return body


def deployment(workload: Workload, body: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    """A service's Deployment; with volumes, one replica replaced all at once (`Recreate`), as
    a ReadWriteOnce volume cannot be mounted by an old and a new pod on different nodes."""
    service = workload.service
    spec: dict[str, Any] = {
        "replicas": 1 if service.volumes else service.replicas,
        "selector": {"matchLabels": selector(workload.app, service.name)},
    }
    if service.volumes:
        spec["strategy"] = {"type": "Recreate"}
        pod["volumes"] = [
            {
                "name": v.name,
                "persistentVolumeClaim": {
                    "claimName": names.volume_claim_name(workload.app, service.name, v.name)
                },
            }
            for v in service.volumes
        ]
    if service.ready is None:
        spec["minReadySeconds"] = MIN_READY_SECONDS
    spec["template"] = workload.pod_template(body, **pod)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": workload.metadata(workload.name),
        "spec": spec,
    }


def job(workload: Workload, name: str, body: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    """A job's Job for one deployment, kept after it finishes (pruning removes it)."""
    template = workload.pod_template(body, restartPolicy="Never", **pod)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": workload.metadata(name),
        "spec": {"backoffLimit": workload.service.retries, "template": template},
    }


def claims(workload: Workload, storage_class: str | None) -> list[dict[str, Any]]:
    """The standalone PVCs of a service's volumes (never deleted with the Deployment)."""
    result = []
    for volume in workload.service.volumes:
        spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": volume.size}},
        }
        if storage_class is not None:
            spec["storageClassName"] = storage_class
        name = names.volume_claim_name(workload.app, workload.service.name, volume.name)
        result.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": workload.metadata(name),
                "spec": spec,
            }
        )
    return result


def cluster_service(workload: Workload) -> dict[str, Any]:
    """The ClusterIP Service in front of a service's ports."""
    ports = [
        {"name": names.port_name(port), "port": port, "targetPort": port, "protocol": "TCP"}
        for port in workload.service.ports
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": workload.metadata(workload.name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(workload.app, workload.service.name),
            "ports": ports,
        },
    }


def ingress(workload: Workload, host: str, port: int, settings: RenderSettings) -> dict[str, Any]:
    """The Ingress of an exposed service: `/` and below on `host` to the Service's port."""
    path = {
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": workload.name, "port": {"number": port}}},
    }
    spec: dict[str, Any] = {"rules": [{"host": host, "http": {"paths": [path]}}]}
    if settings.ingress_class is not None:
        spec["ingressClassName"] = settings.ingress_class
    annotations: dict[str, str] = {}
    tls = settings.tls
    if isinstance(tls, CertManagerTls):
        annotations["cert-manager.io/cluster-issuer"] = tls.cluster_issuer
        secret = names.tls_secret_name(workload.app, workload.service.name)
        spec["tls"] = [{"hosts": [host], "secretName": secret}]
    elif isinstance(tls, ExistingTls):
        spec["tls"] = [{"hosts": [host], "secretName": tls.secret_name}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": workload.metadata(workload.name, annotations),
        "spec": spec,
    }


def _resources(resources: Resources) -> dict[str, dict[str, str]]:
    result = {}
    for part, values in (("requests", resources.requests), ("limits", resources.limits)):
        given = {k: v for k, v in (("cpu", values.cpu), ("memory", values.memory)) if v is not None}
        if given:
            result[part] = given
    return result
