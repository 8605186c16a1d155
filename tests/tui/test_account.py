"""A person's own account in the dashboard, against a real server: changing their password
(then logging in with the new one), an API token shown once and revoked, an SSH key pasted and
deleted; every refusal shown where it belongs."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest
from textual.widgets import DataTable, Input, Static, TabbedContent

from runway.tui import make_dashboard
from runway.tui.screens.account import AccountScreen
from runway.tui.screens.environments import EnvironmentsScreen
from runway.tui.screens.login import LoginScreen
from runway.tui.widgets.dialogs import Confirm
from runway.tui.widgets.secret import ShowOnce
from tests.test_serve import NEW_PASSWORD, PASSWORD
from tests.tui.conftest import press_button, screen_text, until
from tests.tui.test_stories import SIZE, cells, text_of
from tests.tui.world import World

pytestmark = pytest.mark.anyio


def a_member(world: World, name: str) -> str:
    """A new member `name` (password PASSWORD) logged in through the API: their token."""
    world.call("POST", "/api/v1/users", json={"username": name, "password": PASSWORD})
    return log_in(world, name, PASSWORD).json()["token"]


def log_in(world: World, name: str, password: str) -> httpx.Response:
    return httpx.post(f"{world.url}/api/v1/sessions", json={"username": name, "password": password})


def public_key(seed: int) -> tuple[str, str]:
    """(a well-formed ssh-ed25519 public key with a comment, its SHA256 fingerprint)."""
    kind, data = b"ssh-ed25519", seed.to_bytes(32, "big")
    blob = len(kind).to_bytes(4, "big") + kind + len(data).to_bytes(4, "big") + data
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} me@laptop", f"SHA256:{digest}"


async def open_account(app: Any, pilot: Any, tab: str) -> AccountScreen:
    await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "the environments")
    await pilot.press("a")
    screen = await until(
        app, lambda: app.screen if isinstance(app.screen, AccountScreen) else None, "account"
    )
    await until(app, lambda: screen.me is not None, "the account read")
    screen.query_one("#tabs", TabbedContent).active = tab
    await pilot.pause()
    return screen  # type: ignore[no-any-return]


async def press(pilot: Any, selector: str) -> None:
    """Press a button once it can be pressed again: Textual ignores a second press within
    0.2 s of the first (a person's double click)."""
    button = pilot.app.screen.query_one(selector)
    await until(pilot.app, lambda: not button.has_class("-active"), "the button released")
    await press_button(pilot, selector)


def problem(screen: Any, ident: str) -> str:
    return text_of(screen.query_one(f"#problem-{ident}", Static))


async def test_change_the_password_then_log_in_with_the_new_one(world: World):
    token = a_member(world, "pat")
    app = make_dashboard(world.url, token, username="pat")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_account(app, pilot, "password-tab")
        assert "pat" in text_of(screen.query_one("#title", Static))

        def fill(current: str, new: str, again: str) -> None:
            for ident, value in (
                ("current_password", current),
                ("password", new),
                ("again", again),
            ):
                screen.query_one(f"#pw-{ident}", Input).value = value

        fill(PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")
        await press(pilot, "#change")
        await until(app, lambda: "not the same" in problem(screen, "pw-again"), "a mismatch")

        fill("not my password at all", NEW_PASSWORD, NEW_PASSWORD)
        await press(pilot, "#change")
        await until(
            app,
            lambda: "current password is wrong" in problem(screen, "pw-current_password"),
            "403",
        )
        assert problem(screen, "pw-again") == ""

        fill(PASSWORD, "short", "short")  # the server's own rule: a 422 next to the field
        await press(pilot, "#change")
        await until(app, lambda: problem(screen, "pw-password"), "422 at the new password")
        assert problem(screen, "pw-current_password") == ""

        fill(PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
        await press(pilot, "#change")
        await until(app, lambda: not screen.query_one("#pw-password", Input).value, "saved")
        assert not any(problem(screen, f"pw-{i}") for i in ("current_password", "password"))

    assert log_in(world, "pat", PASSWORD).status_code == 401
    app = make_dashboard(world.url)
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, LoginScreen), "the login screen")
        app.screen.query_one("#username", Input).value = "pat"
        app.screen.query_one("#password", Input).value = NEW_PASSWORD
        await press(pilot, "#log-in")
        await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "logged in again")
        await until(
            app,
            lambda: "No environment yet" in text_of(app.screen.query_one("#empty", Static)),
            "pat's environments",
        )


async def test_a_token_is_shown_once_then_revoked(world: World):
    token = a_member(world, "tom")
    app = make_dashboard(world.url, token, username="tom")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_account(app, pilot, "tokens-tab")
        table = screen.query_one("#tokens", DataTable)
        await until(app, lambda: [r[:2] for r in cells(table)] == [["login", "session"]], "list")

        await press(pilot, "#create-token")  # no name: the server's 422, in place
        await until(app, lambda: "must not be empty" in problem(screen, "token-name"), "a 422")

        screen.query_one("#token-name", Input).value = "ci"
        await press(pilot, "#create-token")
        shown = await until(
            app, lambda: app.screen if isinstance(app.screen, ShowOnce) else None, "the token"
        )
        value = str(shown.query_one("#value", Static).render())
        assert "Copy it now" in text_of(shown.query_one("#note", Static))
        me = httpx.get(f"{world.url}/api/v1/users/me", headers={"Authorization": f"Bearer {value}"})
        assert me.json()["name"] == "tom", "the value shown is the token itself"
        await press(pilot, "#copy")
        assert app.clipboard == value
        await pilot.press("escape")

        await until(app, lambda: app.screen is screen, "back to the account")
        await until(app, lambda: any(r[0] == "ci" for r in cells(table)), "the token listed")
        assert value not in screen_text(app), "shown once only"
        assert all(value not in str(n.message) for n in app._notifications)
        assert problem(screen, "token-name") == ""

        table.move_cursor(row=next(i for i, r in enumerate(cells(table)) if r[0] == "ci"))
        table.focus()
        await pilot.press("delete")
        await until(app, lambda: isinstance(app.screen, Confirm), "the question")
        await pilot.press("y")
        await until(app, lambda: all(r[0] != "ci" for r in cells(table)), "the token revoked")
    gone = httpx.get(f"{world.url}/api/v1/users/me", headers={"Authorization": f"Bearer {value}"})
    assert gone.status_code == 401
    assert value not in world.server.output()


async def test_add_an_ssh_key_by_pasting_it_then_delete_it(world: World):
    token = a_member(world, "kim")
    key, fingerprint = public_key(7)
    app = make_dashboard(world.url, token, username="kim")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_account(app, pilot, "keys-tab")
        pasted = screen.query_one("#key-public_key", Input)
        pasted.value = "ssh-ed25519 not-base64!"
        await press(pilot, "#add-key")
        await until(app, lambda: "base64" in problem(screen, "key-public_key"), "the 422")

        pasted.value = ""
        pasted.focus()
        await pilot.pause()
        pasted.post_message(pasted_event(key))
        await until(app, lambda: pasted.value == key, "the key pasted")
        await pilot.press("enter")
        table = screen.query_one("#keys", DataTable)
        await until(app, lambda: table.row_count == 1, "the key listed")
        assert cells(table)[0][:2] == ["me@laptop", fingerprint]
        assert problem(screen, "key-public_key") == ""
        listed = world.call("GET", "/api/v1/users/me/keys")  # ann's: kim's key is not hers
        assert listed["items"] == []

        await press(pilot, "#delete-key")
        await until(app, lambda: isinstance(app.screen, Confirm), "the question")
        await pilot.press("y")
        await until(app, lambda: table.row_count == 0, "the key deleted")
    kims = httpx.get(
        f"{world.url}/api/v1/users/me/keys", headers={"Authorization": f"Bearer {token}"}
    )
    assert kims.json()["items"] == []


def pasted_event(text: str) -> Any:
    from textual import events

    return events.Paste(text)


async def test_a_server_that_cannot_be_reached_is_said_plainly():
    app = make_dashboard("http://127.0.0.1:9", "rw_no_server_here", username="pat")
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: isinstance(app.screen, EnvironmentsScreen), "the environments")
        await pilot.press("a")
        title = await until(app, lambda: app.screen.query_one("#title", Static), "the account")
        await until(app, lambda: "cannot reach" in text_of(title), "why, in place")
        assert "Traceback" not in screen_text(app)
