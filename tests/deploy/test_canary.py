"""The canary: a secret answer reaches Kubernetes Secrets and nothing else.

The blog is deployed with its password answered `canary-<random hex>`. Then every object of
every kind the cluster serves (found through discovery, so a kind nobody thought of is searched
too: Events included), and every container's log, is searched for the canary as written and
base64-encoded at any alignment (and inside every string that decodes as base64): it is found,
and only in Secrets. The simulator's request log is not searched: requests legitimately carry
the Secret. Then a runway database holding that deployment, its answers (the secret one as a
reference) and its step events is dumped whole, and the canary is not in it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runway.deploy.errors import DeployError, PermanentError
from runway.planner import plan_to_document
from runway.store import Answer, Role, Store, sqlite_url
from tests.deploy.conftest import World
from tests.deploy.test_steps import ANSWERS, BLOG, BLOG_TEXT, blog_target, deploy

_BASE64ISH = re.compile(r"^[A-Za-z0-9+/]{12,}={0,2}$")


def canary_forms(canary: str) -> list[str]:
    """The canary as written, and the parts of its base64 encoding that every encoding of a
    text containing it holds, whatever its offset (0, 1 or 2 bytes into a 3-byte group)."""
    forms = [canary]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + canary.encode()).decode()
        # Drop the characters that mix in the neighbouring bytes at either end.
        start = (offset * 4 + 2) // 3 if offset else 0
        forms.append(encoded[start : len(encoded) - 4])
    return forms


def holds(text: str, forms: list[str]) -> bool:
    """Whether `text`, or any base64 string in it decoded, holds one of the forms."""
    if any(form in text for form in forms):
        return True
    for word in re.findall(r"[A-Za-z0-9+/=]{12,}", text):
        if not _BASE64ISH.match(word):
            continue
        try:
            decoded = base64.b64decode(word, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            continue
        if any(form in decoded for form in forms):
            return True
    return False


def strings(value: Any) -> Iterator[str]:
    """Every key and string value inside a JSON document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


async def listable(world: World) -> list[tuple[str, str, bool]]:
    """(API path prefix, resource, namespaced) of every listable kind, every served version."""
    found: list[tuple[str, str, bool]] = []
    prefixes = [f"/api/{v}" for v in (await world.cluster.request("GET", "/api"))["versions"]]
    for group in (await world.cluster.request("GET", "/apis"))["groups"]:
        prefixes += [f"/apis/{v['groupVersion']}" for v in group["versions"]]
    for prefix in prefixes:
        for resource in (await world.cluster.request("GET", prefix))["resources"]:
            if "/" not in resource["name"] and "list" in resource.get("verbs", []):
                found.append((prefix, resource["name"], bool(resource["namespaced"])))
    return found


async def everything(world: World, namespace: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, name, object) of every object in the namespace, and every cluster-wide one."""
    objects = []
    for prefix, resource, namespaced in await listable(world):
        path = (
            f"{prefix}/namespaces/{namespace}/{resource}" if namespaced else f"{prefix}/{resource}"
        )
        try:
            listed = await world.cluster.request("GET", path)
        except PermanentError:
            if namespaced:
                raise
            continue  # a real cluster may refuse a cluster-wide list: the namespace is the point
        kind = str(listed.get("kind", resource)).removesuffix("List")
        for item in listed.get("items") or []:
            objects.append((kind, str(item["metadata"]["name"]), item))
    return objects


async def logs(world: World, namespace: str) -> dict[str, str]:
    """Every container's log (current and previous run) of every pod in the namespace."""
    found: dict[str, str] = {}
    pods = await world.cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods")
    for pod in pods["items"]:
        name = pod["metadata"]["name"]
        spec = pod["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            for previous in ("false", "true"):
                query = [("container", container["name"]), ("previous", previous)]
                path = f"/api/v1/namespaces/{namespace}/pods/{name}/log"
                try:
                    async with world.cluster.stream(path, query=query, accept="*/*") as lines:
                        text = b"".join([line async for line in lines]).decode("utf-8", "replace")
                except DeployError:
                    continue  # no previous run to show
                found[f"{name}/{container['name']}/previous={previous}"] = text
    return found


@pytest.mark.anyio
async def test_a_secret_answer_is_found_only_in_secrets(
    world: World, namespace_name: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO)  # as `runway serve` logs
    caplog.set_level(logging.DEBUG, logger="runway")
    canary = f"canary-{secrets.token_hex(16)}"
    forms = canary_forms(canary)
    target = await blog_target(world, namespace_name, canary)
    results = await deploy(world, BLOG, target)
    assert [r.step for r in results] == ["db", "migrate", "web", "worker"]

    objects = await everything(world, namespace_name)
    kinds = {kind for kind, _, _ in objects}
    assert {"Deployment", "ReplicaSet", "Pod", "Job", "Event", "Secret", "Namespace"} <= kinds
    holding = sorted(
        (kind, name) for kind, name, item in objects if any(holds(s, forms) for s in strings(item))
    )
    assert holding, "the search did not find the canary even in its own Secret"
    assert {kind for kind, _ in holding} == {"Secret"}, holding
    held = {name for _, name in holding}
    assert "blog-db-password-1" in held
    env_secrets = {n for k, n, _ in objects if k == "Secret" and "-env-" in n}
    assert len(env_secrets) == 3 and env_secrets <= held  # the DATABASE_URL of migrate, web, worker

    found_logs = await logs(world, namespace_name)
    assert len(found_logs) >= 5  # db, migrate, two web pods, worker
    assert [where for where, text in found_logs.items() if holds(text, forms)] == []
    assert not holds(caplog.text, forms)

    dump = await stored_deployment(tmp_path / "store", target.secrets["db_password"].name, results)
    assert target.secrets["db_password"].name in dump  # the reference is there...
    assert not holds(dump, forms)  # ...the value is not


async def stored_deployment(directory: Path, secret_name: str, results: list[Any]) -> str:
    """A runway database in `directory` holding the blog's deployment, its answers and step
    events; every table dumped as SQL, with the raw bytes of the database files, as text."""
    now = datetime.now(UTC)
    store = await Store.open(sqlite_url(directory))
    try:
        alice = await store.users.create("alice", "argon2-hash-not-checked-here", Role.MEMBER)
        staging = await store.environments.create(alice, "staging", now)
        deployment, _ = await store.deployments.create(
            staging,
            alice,
            app="blog",
            config_text=BLOG_TEXT,
            config_format="yaml",
            plan=plan_to_document(BLOG),
            steps=[(step.name, step.kind.value) for step in BLOG.steps],
            now=now,
        )
        given = [Answer(name, "answer", value) for name, value in ANSWERS.items()]
        given.append(Answer("db_password", "answer", secret_name=secret_name, secret_key="value"))
        await store.deployments.put_answers(deployment.id, given)
        for result in results:
            applied = [[a.kind, a.name, a.resource_version] for a in result.applied]
            data = {"step": result.step, "ready": result.ready, "applied": applied}
            await store.deployments.add_event(deployment.id, "step", data, now)
    finally:
        await store.close()
    files = sorted(directory.iterdir())
    with sqlite3.connect(directory / "runway.db") as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master")]
        assert {"users", "environments", "deployments", "answers", "events"} <= set(tables)
        dumped = "\n".join(connection.iterdump())
    raw = "\n".join(f.read_bytes().decode("latin-1") for f in files if f.is_file())
    return f"{dumped}\n{raw}"
