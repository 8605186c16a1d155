"""Imports every controller module, so that each appends its controllers to `CONTROLLERS`."""

from runway.simcluster.controllers import deployments as deployments
from runway.simcluster.controllers import events as events
from runway.simcluster.controllers import jobs as jobs
from runway.simcluster.controllers import pods as pods
from runway.simcluster.controllers import quota as quota
from runway.simcluster.controllers import replicasets as replicasets
from runway.simcluster.controllers import statefulsets as statefulsets
from runway.simcluster.controllers import volumes as volumes
from runway.simcluster.controllers import workloads as workloads
