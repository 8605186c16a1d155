"""runway: deploys applications onto a shared Kubernetes cluster."""

__version__ = "0.1.0"
