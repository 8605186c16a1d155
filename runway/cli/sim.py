"""`runway sim-cluster`: the simulated Kubernetes cluster as its own process."""

from __future__ import annotations

from runway.cli.common import Commands, Namespace


def add_commands(commands: Commands) -> None:
    sim = commands.add_parser(
        "sim-cluster",
        help="run the simulated Kubernetes cluster (for tests and demos)",
        description="Serve the simulated Kubernetes API (in memory) until interrupted, and write a "
        "kubeconfig that points at it. Not a real cluster: nothing runs.",
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    sim.add_argument("--kubeconfig", metavar="FILE", help="where to write the kubeconfig")
    sim.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a generated certificate and a token"
    )
    sim.add_argument(
        "--admin",
        action="store_true",
        help="serve the test-only admin API under /_sim (delays, faults, volume files, requests)",
    )
    sim.set_defaults(run=run_sim_cluster)


def run_sim_cluster(args: Namespace) -> int:
    # Imported here: only this command needs the simulator.
    from runway.simcluster.standalone import run

    return run(
        host=args.host, port=args.port, kubeconfig=args.kubeconfig, tls=args.tls, admin=args.admin
    )
