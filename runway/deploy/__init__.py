"""The Kubernetes layer: rendering steps into objects (pure), and, in its other modules,
applying and watching them. Only this package imports kubernetes_asyncio; the names exported
here do not."""

from runway.deploy.render import (
    CertManagerTls,
    ExistingTls,
    RenderError,
    RenderSettings,
    SecretRef,
    Target,
    render_step,
)

__all__ = [
    "CertManagerTls",
    "ExistingTls",
    "RenderError",
    "RenderSettings",
    "SecretRef",
    "Target",
    "render_step",
]
