"""The admin screen against a real server: users created (a refusal first), disabled, given a
quota and a role, deleted after typing their name; an invite link shown and copied, then used;
installation settings edited with the server's 422 next to the field. A member is not offered
the screen, and is refused plainly when they reach it anyway. One SVG snapshot against a canned
server, and the pure reading of settings' text."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Select, Static, TabbedContent

from runway.client import Client, ClientError
from runway.tui import make_dashboard
from runway.tui.forms import Unreadable, as_text, changes, from_text, placed
from runway.tui.screens.admin import AdminScreen
from runway.tui.screens.environments import EnvironmentsScreen
from runway.tui.widgets.dialogs import TypeToConfirm
from runway.tui.widgets.edit import FormDialog
from runway.tui.widgets.secret import ShowOnce
from tests.test_serve import PASSWORD
from tests.tui.conftest import screen_text, until
from tests.tui.test_account import a_member, log_in, press, problem
from tests.tui.test_stories import SIZE, cells, text_of
from tests.tui.world import World

pytestmark = pytest.mark.anyio


async def open_admin(app: Any, pilot: Pilot[Any], tab: str) -> AdminScreen:
    await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "the environments")
    await until(app, lambda: app.role == "admin", "the role read")
    await pilot.press("A")
    screen = await until(
        app, lambda: app.screen if isinstance(app.screen, AdminScreen) else None, "admin"
    )
    screen.query_one("#tabs", TabbedContent).active = tab
    await pilot.pause()
    return screen  # type: ignore[no-any-return]


async def a_dialog(app: Any, kind: type[Any]) -> Any:
    return await until(app, lambda: app.screen if isinstance(app.screen, kind) else None, "dialog")


def user(world: World, name: str) -> dict[str, Any] | None:
    listed = world.call("GET", "/api/v1/users?limit=200")["items"]
    return next((u for u in listed if u["name"] == name), None)


async def test_an_admin_manages_users(world: World):
    app = world.dashboard()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(app, pilot, "users-tab")
        table = screen.query_one("#users", DataTable)
        await until(app, lambda: any(r[0] == "ann" for r in cells(table)), "ann listed")

        await press(pilot, "#new-user")
        dialog = await a_dialog(app, FormDialog)
        dialog.query_one("#form-username", Input).value = "carol"
        dialog.query_one("#form-password", Input).value = "short"
        await press(pilot, "#yes")
        await until(app, lambda: problem(dialog, "form-password"), "the 422 at the password")
        assert problem(dialog, "form-username") == ""
        dialog.query_one("#form-password", Input).value = PASSWORD
        await press(pilot, "#yes")
        await until(app, lambda: app.screen is screen, "the dialog closed")
        row = await until(
            app, lambda: next((r for r in cells(table) if r[0] == "carol"), None), "carol"
        )
        assert row[1:3] == ["member", "active"]

        table.move_cursor(row=next(i for i, r in enumerate(cells(table)) if r[0] == "carol"))
        await press(pilot, "#toggle-user")
        await until(app, lambda: (user(world, "carol") or {}).get("disabled"), "disabled")
        await until(
            app, lambda: ["carol", "member", "disabled"] in [r[:3] for r in cells(table)], ""
        )
        assert log_in(world, "carol", PASSWORD).json()["error"]["code"] == "disabled"
        assert str(screen.query_one("#toggle-user", Button).label) == "Enable"

        await press(pilot, "#quota-user")
        dialog = await a_dialog(app, FormDialog)
        dialog.query_one("#form-quota", Input).value = "requests.cpu=4, pods=many"
        await press(pilot, "#yes")
        await until(app, lambda: "pods" in problem(dialog, "form-quota"), "the 422 at the quota")
        dialog.query_one("#form-quota", Input).value = "requests.cpu=4, pods=10"
        await press(pilot, "#yes")
        await until(app, lambda: app.screen is screen, "the dialog closed")
        assert (user(world, "carol") or {})["quota"] == {"requests.cpu": "4", "pods": "10"}

        await press(pilot, "#role-user")
        dialog = await a_dialog(app, FormDialog)
        dialog.query_one("#form-role", Select).value = "admin"
        await press(pilot, "#yes")
        await until(app, lambda: app.screen is screen, "the dialog closed")
        assert (user(world, "carol") or {})["role"] == "admin"

        await press(pilot, "#delete-user")
        confirm = await a_dialog(app, TypeToConfirm)
        confirm.query_one("#typed", Input).value = "carol"
        await pilot.press("enter")
        await until(app, lambda: all(r[0] != "carol" for r in cells(table)), "carol gone")
        assert user(world, "carol") is None


async def test_an_admin_creates_an_invite_link_and_copies_it(world: World):
    app = world.dashboard()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(app, pilot, "invites-tab")
        screen.query_one("#invite-expires_in_days", Input).value = "90"
        await press(pilot, "#invite")
        await until(app, lambda: "1 to 30" in problem(screen, "invite-expires_in_days"), "422")

        screen.query_one("#invite-expires_in_days", Input).value = "2"
        await press(pilot, "#invite")
        shown = await a_dialog(app, ShowOnce)
        link = str(shown.query_one("#value", Static).render())
        assert "/ui/invite/" in link and "member" in screen_text(app)
        await press(pilot, "#copy")
        assert app.clipboard == link
    token = link.rsplit("/", 1)[1]
    made = httpx.post(
        f"{world.url}/api/v1/invites/{token}", json={"username": "dora", "password": PASSWORD}
    )
    assert made.status_code == 201, made.text
    assert (user(world, "dora") or {})["role"] == "member"


async def test_an_admin_edits_the_installation_settings(world: World):
    app = world.dashboard()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(app, pilot, "settings-tab")
        domains = await until(app, lambda: screen.query_one("#set-allowed_domains", Input), "")
        domains.value = "example.org, not_a_domain!"
        await press(pilot, "#save-settings")
        await until(app, lambda: "[1]" in problem(screen, "set-allowed_domains"), "422 at it")

        domains.value = "example.org, example.net"
        await press(pilot, "#save-settings")
        await until(
            app,
            lambda: (
                sorted(world.call("GET", "/api/v1/settings")["allowed_domains"])
                == ["example.net", "example.org"]
            ),
            "saved",
        )
        assert problem(screen, "set-allowed_domains") == ""
        await press(pilot, "#save-settings")
        await until(app, lambda: "nothing changed" in text_of(screen.query_one("#set-problem")), "")
    world.call("PATCH", "/api/v1/settings", json={"allowed_domains": []})


async def test_a_member_is_not_offered_the_admin_screen_and_is_refused_there(world: World):
    token = a_member(world, "max")
    app = make_dashboard(world.url, token, username="max")
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "the environments")
        await until(app, lambda: app.role == "member", "the role read")
        assert "Account" in screen_text(app) and "Admin" not in screen_text(app)
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, EnvironmentsScreen)

        app.push_screen(AdminScreen())  # as if reached anyway: the server refuses
        title = await until(app, lambda: app.screen.query_one("#title", Static), "the screen")
        await until(app, lambda: "only admins" in text_of(title), "the refusal said plainly")
        assert "Traceback" not in screen_text(app)


# The settings' text, both ways (pure).


def test_settings_are_edited_as_text_and_only_changes_are_sent():
    originals = {
        "allowed_domains": ["a.org", "b.org"],
        "public_url": "https://runway.example.org",
        "apps_domain": None,
        "default_quota": {"requests.cpu": "4", "pods": "20"},
        "tls": {"issuer": "letsencrypt", "enabled": True},
        "trusted_proxies": [],
    }
    texts = {name: as_text(value) for name, value in originals.items()}
    assert texts["allowed_domains"] == "a.org, b.org"
    assert texts["default_quota"] == "requests.cpu=4, pods=20"
    assert texts["tls"] == "issuer=letsencrypt, enabled=true"
    assert texts["apps_domain"] == ""
    assert changes(originals, texts) == ({}, {}), "read back, nothing changed"

    texts |= {"trusted_proxies": "10.0.0.0/8 192.168.0.0/16", "tls": "issuer=zerossl, enabled=no"}
    texts |= {"apps_domain": "apps.example.org", "public_url": ""}  # cleared: null
    changed, problems = changes(originals, texts)
    assert problems == {}
    assert changed == {
        "trusted_proxies": ["10.0.0.0/8", "192.168.0.0/16"],
        "tls": {"issuer": "zerossl", "enabled": False},
        "apps_domain": "apps.example.org",
        "public_url": None,
    }
    assert from_text("issuer=letsencrypt", None) == {"issuer": "letsencrypt"}, "tls unset"
    assert from_text("", ["a.org"]) == [], "allowed_domains emptied: any host"
    assert changes(originals, {"default_quota": "pods"})[1] == {
        "default_quota": "'pods' is not name=value (such as requests.cpu=4)"
    }
    assert from_text('{"a": [1]}', None) == {"a": [1]}
    with pytest.raises(Unreadable):
        from_text("{nope", "")


def test_refusals_are_placed_at_their_fields():
    error = ClientError(
        422,
        "invalid",
        "invalid request",
        [
            {"path": "allowed_domains[1]", "message": "is not a domain"},
            {"path": "public_url", "message": "must be a URL"},
            {"path": "unknown", "message": "unknown field"},
        ],
    )
    assert placed(error, ["allowed_domains", "public_url"]) == {
        "allowed_domains": "[1]: is not a domain",
        "public_url": "must be a URL",
        "": "unknown: unknown field",
    }
    assert placed(ClientError(0, "unreachable", "cannot reach it"), ["x"]) == {
        "": "cannot reach it"
    }


# One snapshot, against a canned server: nothing in it changes between runs.

CANNED_USERS = [
    {"name": "ann", "role": "admin", "disabled": False, "quota": {},
     "created_at": "2026-11-28T10:34:34Z"},
    {"name": "bob", "role": "member", "disabled": True,
     "quota": {"requests.cpu": "4", "pods": "20"}, "created_at": "2026-11-28T11:00:00Z"},
]  # fmt: skip


def canned(request: httpx.Request) -> httpx.Response:
    found: dict[str, Any] = {
        "/api/v1/users/me": CANNED_USERS[0],
        "/api/v1/users": {"items": CANNED_USERS, "next_cursor": None},
        "/api/v1/environments": {"items": [], "next_cursor": None},
        "/api/v1/settings": {"allowed_domains": ["example.org"]},
    }
    if request.url.path in found:
        return httpx.Response(200, json=found[request.url.path])
    return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})


def test_the_users_of_an_admin(snap_compare):
    def client(url: str, token: str | None) -> Client:
        return Client(url, token, transport=httpx.MockTransport(canned))

    async def shown(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await open_admin(app, pilot, "users-tab")
        table = app.screen.query_one("#users", DataTable)
        await until(app, lambda: table.row_count == 2, "the users")
        await pilot.pause()

    app = make_dashboard("http://runway.test", "rw_canned", client_factory=client)
    assert snap_compare(app, terminal_size=SIZE, run_before=shown)
