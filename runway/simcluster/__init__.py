"""The simulated Kubernetes cluster: an API server in memory, for tests and demos.

It speaks the Kubernetes REST API (discovery, CRUD, watches, server-side apply) well enough that
kubernetes-asyncio and kubectl cannot tell, and refuses what a real API server refuses. Nothing
runs in it: it is always called simulated (`runway-sim`) wherever it shows up.
"""

from runway.simcluster.app import create_app
from runway.simcluster.cluster import SimCluster

__all__ = ["SimCluster", "create_app"]
