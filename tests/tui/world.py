"""The world the dashboard's tests share: `runway serve --kube sim` in a subprocess on a port
of its own (so it can be stopped and started again on the same port and data), its first
admin `ann`, and helpers that prepare what a person would then see on screen."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from runway.tui import Dashboard, make_dashboard
from tests.local_http import answers_ready
from tests.test_serve import PASSWORD, RUNWAY, _free_port, no_traceback

EXAMPLES = Path(__file__).parents[2] / "examples"
BLOG = (EXAMPLES / "blog.yaml").read_text()
BROKEN = (
    "runway: 1\napp: broken\nservices:\n  web:\n    image: ghcr.io/example/hello:pullfail\n"
    "    ports: [8080]\n"
)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """The condition's first true value, checked every 50 ms (for tests outside the app)."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@dataclass
class Server:
    """`runway serve --kube sim` on a fixed port and data dir; stop and start it again."""

    base: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.base / "serve.log"

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(self.base / "home")}
        env.pop("KUBECONFIG", None)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [RUNWAY, "serve", "--port", str(self.port), "--data-dir", str(self.base / "data"),
                 "--kube", "sim"],
                stdout=out, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        wait_for(self._ready, "the server to be ready", 30)

    def _ready(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.output()
        return answers_ready(self.url)

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (SIGKILL with `kill`: the server vanishes as in a crash or a lost machine)."""
        if self.process is not None and self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def setup_token(self) -> str:
        from tests.test_serve import TOKEN_LINE

        found = TOKEN_LINE.findall(self.output())
        assert found, self.output()
        return str(found[-1])


@dataclass
class World:
    """A server and `ann`'s token, with what a test prepares through the API."""

    server: Server
    token: str

    @property
    def url(self) -> str:
        return self.server.url

    def call(self, method: str, path: str, **options: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if "content" in options:
            headers["Content-Type"] = "application/yaml"
        answer = httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **options)
        assert answer.status_code < 400, answer.text
        return answer.json() if answer.content else None

    def environment(self, name: str) -> str:
        self.call("POST", "/api/v1/environments", json={"name": name})
        return name

    def deploy(self, env: str, configuration: str = BLOG) -> int:
        made = self.call("POST", f"/api/v1/environments/{env}/deployments", content=configuration)
        return int(made["id"])

    def deployed(self, env: str, domain: str) -> int:
        """The blog deployed in `env` (answered, started, succeeded): its deployment id."""
        ident = self.deploy(env)
        answers = {"domain": domain, "admin_email": "ann@example.com",
                   "db_password": {"generate": True}}  # fmt: skip
        self.call("POST", f"/api/v1/deployments/{ident}/inputs", json=answers)
        self.call("POST", f"/api/v1/deployments/{ident}/start")
        status = wait_for(
            lambda: self.deployment(ident)["status"] not in ("created", "running"), "the end", 120
        )
        assert self.deployment(ident)["status"] == "succeeded", status
        return ident

    def deployment(self, ident: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/v1/deployments/{ident}"))

    def dashboard(self, open_deployment: int | None = None) -> Dashboard:
        return make_dashboard(self.url, self.token, username="ann", open_deployment=open_deployment)


@contextmanager
def a_world(base: Path) -> Iterator[World]:
    """A server with the simulated cluster and its admin `ann` (password PASSWORD)."""
    server = Server(base)
    server.start()
    try:
        made = httpx.post(
            f"{server.url}/api/v1/setup",
            json={"setup_token": server.setup_token(), "username": "ann", "password": PASSWORD},
        )
        assert made.status_code == 201, made.text
        yield World(server, made.json()["token"])
        no_traceback(server.output())
    finally:
        server.stop()
