"""Applying objects: idempotent server-side apply, refusals that are permanent (named at once,
not retried), and a cluster that fails for a moment (5xx, dropped connection) survived."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from runway.deploy import Target, informers, render_step
from runway.deploy.apply import Retry, apply, object_path
from runway.deploy.environment_objects import EnvironmentSpec
from runway.deploy.environments import prepare_environment
from runway.deploy.errors import PermanentError, TemporaryError
from runway.planner import plan_source
from tests.deploy.conftest import World

pytestmark = pytest.mark.anyio

QUICK = Retry(tries=5, first=0.01, longest=0.05)
SLOW = Retry(tries=5, first=5.0, longest=5.0)  # a test that would retry would take 5 s


def _config_map(namespace: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": namespace, "labels": {"app": "blog"}},
        "data": data or {"greeting": "hello"},
    }


def _deployment(namespace: str, **extra_spec: Any) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "blog"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "blog-web", "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "containers": [{"name": "web", "image": "nginx:1.27", "ports": []}],
                },
            },
            **extra_spec,
        },
    }


async def _environment(world: World, name: str) -> None:
    await prepare_environment(world.cluster, EnvironmentSpec(name, "alice", "staging"))


async def _requests_to(world: World, path: str, since: int) -> list[tuple[str, int]]:
    """(method, status) of each request the simulator received for `path` from `since` on."""
    requests, _ = await world.requests_since(since)
    return [(r["method"], r["status"]) for r in requests if r["path"] == path]


async def test_applying_twice_changes_nothing(world: World, namespace_name: str) -> None:
    await _environment(world, namespace_name)
    first = await apply(world.cluster, _config_map(namespace_name))
    again = await apply(world.cluster, _config_map(namespace_name))
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == first["metadata"]["managedFields"]
    [entry] = again["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == ("runway", "Apply")


async def test_applying_a_deployment_twice_restarts_nothing(
    world: World, namespace_name: str
) -> None:
    await _environment(world, namespace_name)
    first = await apply(world.cluster, _deployment(namespace_name))
    # Its controller writes the status in between (that moves the resourceVersion); the
    # spec, and so the generation and the pods, stay as they were.
    again = await apply(world.cluster, _deployment(namespace_name))
    assert again["metadata"]["generation"] == first["metadata"]["generation"] == 1
    assert again["spec"]["template"] == first["spec"]["template"]


async def test_an_unknown_field_is_refused_at_once_naming_it(
    world: World, namespace_name: str
) -> None:
    await _environment(world, namespace_name)
    started = time.monotonic()
    with pytest.raises(PermanentError, match=r"unknown field \.spec\.foo") as refused:
        await apply(world.cluster, _deployment(namespace_name, foo="bar"), SLOW)
    assert time.monotonic() - started < 4, "a permanent refusal was retried"
    assert "Deployment" in str(refused.value)
    path = f"/apis/apps/v1/namespaces/{namespace_name}/deployments/blog-web"
    assert await world.cluster.get(path) is None


@pytest.mark.parametrize(
    ("fault", "statuses"),
    [
        pytest.param(
            {"kind": "status", "status": 500, "count": 1, "method": "PATCH"},
            [500, 201],
            id="a server error once",
        ),
        pytest.param({"kind": "drop", "count": 1}, [0, 201], id="a dropped connection"),
        pytest.param({"kind": "conflict", "count": 2}, [409, 409, 201], id="two write conflicts"),
    ],
)
async def test_a_cluster_failing_for_a_moment_is_retried_and_survived(
    world: World, namespace_name: str, fault: dict[str, Any], statuses: list[int]
) -> None:
    world.require_sim()
    await _environment(world, namespace_name)
    path = f"/api/v1/namespaces/{namespace_name}/configmaps/settings"
    _, since = await world.requests_since(0)
    await world.inject(path=path, **fault)

    applied = await apply(world.cluster, _config_map(namespace_name), QUICK)

    assert (applied["metadata"]["name"], applied["data"]) == ("settings", {"greeting": "hello"})
    assert [status for _, status in await _requests_to(world, path, since)] == statuses


async def test_a_cluster_failing_every_time_fails_with_the_cause_after_the_retries(
    world: World, namespace_name: str
) -> None:
    world.require_sim()
    await _environment(world, namespace_name)
    path = f"/api/v1/namespaces/{namespace_name}/configmaps/settings"
    _, since = await world.requests_since(0)
    await world.inject(kind="status", status=503, path=path)

    with pytest.raises(TemporaryError, match=r"503: .*still failing after 5 tries"):
        await apply(world.cluster, _config_map(namespace_name), QUICK)

    assert len(await _requests_to(world, path, since)) == 5


async def test_a_forbidden_request_is_permanent(world: World, namespace_name: str) -> None:
    world.require_sim()
    await _environment(world, namespace_name)
    path = f"/api/v1/namespaces/{namespace_name}/configmaps/settings"
    await world.inject(kind="status", status=403, path=path)

    with pytest.raises(PermanentError, match="forbidden: "):
        await apply(world.cluster, _config_map(namespace_name), SLOW)


async def test_an_immutable_field_changed_is_refused_naming_it(
    world: World, namespace_name: str
) -> None:
    await _environment(world, namespace_name)
    await apply(world.cluster, _deployment(namespace_name))
    changed = _deployment(namespace_name)
    changed["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": "other"}}
    changed["spec"]["template"]["metadata"]["labels"] = {"app.kubernetes.io/name": "other"}

    with pytest.raises(PermanentError, match=r"spec\.selector: .*field is immutable"):
        await apply(world.cluster, changed, SLOW)


def test_objects_are_found_by_api_version_and_kind() -> None:
    assert object_path(_deployment("ns")) == "/apis/apps/v1/namespaces/ns/deployments/blog-web"
    assert object_path(_config_map("ns")) == "/api/v1/namespaces/ns/configmaps/settings"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}
    assert object_path(namespace) == "/api/v1/namespaces/ns"


def test_an_unknown_kind_or_a_missing_namespace_is_refused() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(PermanentError, match="does not apply objects of kind Widget"):
        object_path(widget)
    unplaced = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    with pytest.raises(PermanentError, match=r"ConfigMap c has no metadata\.namespace"):
        object_path(unplaced)


# -- the ownership guard: app `blog` service `web-api` and app `blog-web` service `api` are both
# named `blog-web-api` -----------------------------------------------------------------------


def _rendered(app: str, service: str, namespace: str, image: str = "web:1") -> list[dict[str, Any]]:
    config = (
        f"runway: 1\napp: {app}\nservices:\n  {service}:\n    image: {image}\n    ports: [80]\n"
    )
    plan = plan_source(config.encode())
    return render_step(plan, service, Target(namespace, "staging", 1))


async def test_another_apps_object_of_the_same_name_is_refused_and_left_as_it_is(
    world: World, namespace_name: str
) -> None:
    await _environment(world, namespace_name)
    for manifest in _rendered("blog", "web-api", namespace_name):
        await apply(world.cluster, manifest)
    path = f"/apis/apps/v1/namespaces/{namespace_name}/deployments/blog-web-api"
    before = await world.cluster.get(path)
    assert before is not None

    deployment, _service = _rendered("blog-web", "api", namespace_name, image="api:1")
    assert deployment["metadata"]["name"] == "blog-web-api"
    started = time.monotonic()
    with pytest.raises(PermanentError) as refused:
        await apply(world.cluster, deployment, SLOW)

    assert time.monotonic() - started < 4, "a refusal was retried"
    assert str(refused.value).startswith(
        "the Deployment blog-web-api already belongs to app 'blog' in this environment: "
        "app 'blog-web' would overwrite it"
    )
    after = await world.cluster.get(path)
    assert after is not None
    # Untouched (its controller may have written its status meanwhile: that is all).
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert after["metadata"]["labels"]["runway.dev/app"] == "blog"
    assert after["spec"] == before["spec"]
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"


async def test_an_object_runway_did_not_make_is_not_overwritten(
    world: World, namespace_name: str
) -> None:
    await _environment(world, namespace_name)
    theirs = _config_map(namespace_name)
    theirs["metadata"]["name"] = "blog-web"
    await apply(world.cluster, theirs)  # no runway.dev/app label: no guard, as before
    ours = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "blog-web",
            "namespace": namespace_name,
            "labels": {"app.kubernetes.io/managed-by": "runway", "runway.dev/app": "blog"},
        },
        "data": {"greeting": "overwritten"},
    }

    with pytest.raises(
        PermanentError,
        match="the ConfigMap blog-web already exists and was not made by runway for app 'blog'",
    ):
        await apply(world.cluster, ours, SLOW)

    found = await world.cluster.get(f"/api/v1/namespaces/{namespace_name}/configmaps/blog-web")
    assert found is not None
    assert found["data"] == {"greeting": "hello"}
    assert found["metadata"]["labels"] == {"app": "blog"}


async def test_the_guard_costs_one_get_and_lets_the_apps_own_objects_through(
    world: World, namespace_name: str
) -> None:
    world.require_sim()
    await _environment(world, namespace_name)
    _, service = _rendered("blog", "web", namespace_name)
    path = f"/api/v1/namespaces/{namespace_name}/services/blog-web"
    _, since = await world.requests_since(0)

    first = await apply(world.cluster, service)
    again = await apply(world.cluster, service)

    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    seen = await _requests_to(world, path, since)
    assert seen == [("GET", 404), ("PATCH", 201), ("GET", 200), ("PATCH", 200)]


async def test_the_guards_read_is_retried_like_the_apply(world: World, namespace_name: str) -> None:
    world.require_sim()
    await _environment(world, namespace_name)
    deployment, _ = _rendered("blog", "web", namespace_name)
    path = f"/apis/apps/v1/namespaces/{namespace_name}/deployments/blog-web"
    await world.inject(kind="status", status=503, count=1, path=path, method="GET")

    applied = await apply(world.cluster, deployment, QUICK)

    assert applied["metadata"]["labels"]["runway.dev/app"] == "blog"


async def _watched(world: World, path: str, name: str, present: bool) -> None:
    """Wait until the shared watch of `path` shows `name` (or shows it gone)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        watched, found = world.cluster.informers.cached(path, name)
        if watched and (found is not None) == present:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the watch of {path} never showed {name} {'made' if present else 'gone'}")


async def test_while_its_collection_is_watched_the_guard_reads_the_watch_not_the_cluster(
    world: World, namespace_name: str
) -> None:
    world.require_sim()
    await _environment(world, namespace_name)
    deployment, _ = _rendered("blog", "web", namespace_name)
    collection = f"/apis/apps/v1/namespaces/{namespace_name}/deployments"
    path = f"{collection}/blog-web"
    async with world.cluster.informers.read(collection, asyncio.Event()):
        await _watched(world, collection, "blog-web", present=False)
        _, since = await world.requests_since(0)
        first = await apply(world.cluster, deployment)
        await _watched(world, collection, "blog-web", present=True)
        again = await apply(world.cluster, deployment)

    # The same object (its controller may have written its status in between), unchanged.
    assert again["metadata"]["uid"] == first["metadata"]["uid"]
    assert again["metadata"]["generation"] == first["metadata"]["generation"] == 1
    assert await _requests_to(world, path, since) == [("PATCH", 201), ("PATCH", 200)]


async def test_another_apps_object_in_the_watch_is_read_again_and_refused(
    world: World, namespace_name: str
) -> None:
    world.require_sim()
    await _environment(world, namespace_name)
    for manifest in _rendered("blog", "web-api", namespace_name):
        await apply(world.cluster, manifest)
    deployment, _ = _rendered("blog-web", "api", namespace_name, image="api:1")
    collection = f"/apis/apps/v1/namespaces/{namespace_name}/deployments"
    path = f"{collection}/blog-web-api"
    async with world.cluster.informers.read(collection, asyncio.Event()):
        await _watched(world, collection, "blog-web-api", present=True)
        _, since = await world.requests_since(0)
        with pytest.raises(PermanentError, match="already belongs to app 'blog'"):
            await apply(world.cluster, deployment, SLOW)

    assert await _requests_to(world, path, since) == [("GET", 200)]


async def test_another_apps_object_gone_since_the_watch_showed_it_is_not_refused(
    world: World, namespace_name: str
) -> None:
    """The watch a moment behind still shows another app's object the cluster no longer has:
    the confirming read finds none, and the apply goes on."""
    world.require_sim()
    await _environment(world, namespace_name)
    deployment, _ = _rendered("blog-web", "api", namespace_name, image="api:1")
    collection = f"/apis/apps/v1/namespaces/{namespace_name}/deployments"
    theirs = _rendered("blog", "web-api", namespace_name)[0]
    async with world.cluster.informers.read(collection, asyncio.Event()):
        await apply(world.cluster, theirs)
        await _watched(world, collection, "blog-web-api", present=True)
        informer = world.cluster.informers._informers[collection]
        assert informer.objects is not None
        shown = dict(informer.objects)
        await world.cluster.request("DELETE", f"{collection}/blog-web-api")
        await _watched(world, collection, "blog-web-api", present=False)
        informer.objects = shown  # as if the deletion had not reached the watch yet

        applied = await apply(world.cluster, deployment, QUICK)

    assert applied["metadata"]["labels"]["runway.dev/app"] == "blog-web"


async def test_a_watch_held_back_is_not_trusted_until_it_lists_again(
    world: World, namespace_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its readers no longer allowed to act (an instance paused past its leases), a watch is
    not opened again: what it holds grows old. Another's object made meanwhile is refused once
    they may act again (the watch resumes, but the guard reads the cluster until it has
    listed again)."""
    world.require_sim()
    monkeypatch.setattr(informers, "WATCH_SECONDS", 1)  # the watch ends (and is held) soon
    await _environment(world, namespace_name)
    deployment, _ = _rendered("blog", "web", namespace_name)
    theirs = {**deployment, "metadata": {**deployment["metadata"], "labels": {"team": "other"}}}
    collection = f"/apis/apps/v1/namespaces/{namespace_name}/deployments"
    path = f"{collection}/blog-web"
    allowed = True
    async with world.cluster.informers.read(collection, asyncio.Event(), valid=lambda: allowed):
        await _watched(world, collection, "blog-web", present=False)
        allowed = False
        informer = world.cluster.informers._informers[collection]
        deadline = time.monotonic() + 10
        while informer.fresh:
            assert time.monotonic() < deadline, "the watch was not held back"
            await asyncio.sleep(0.05)
        assert world.cluster.informers.cached(collection, "blog-web") == (False, None)
        await apply(world.cluster, theirs)  # no runway.dev/app label: not guarded
        allowed = True
        await asyncio.sleep(3 * informers.HELD_BACK)  # the watch resumes
        assert world.cluster.informers.cached(collection, "blog-web") == (False, None)
        _, since = await world.requests_since(0)
        with pytest.raises(PermanentError, match="was not made by runway for app 'blog'"):
            await apply(world.cluster, deployment, SLOW)

    assert await _requests_to(world, path, since) == [("GET", 200)]
