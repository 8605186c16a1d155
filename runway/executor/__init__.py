"""The executor: runs started deployments step by step against the cluster, every transition
stored before it is acted on (DESIGN.md, Executing)."""
