"""Logging in, or creating the first admin with the setup token when the server has no user.

The password never leaves this screen except in the request that checks it; the token that
comes back goes to the app (`Dashboard.logged_in`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from runway.client import Client, ClientError
from runway.tui.widgets.banner import ConnectionBanner

if TYPE_CHECKING:
    from runway.tui.app import Dashboard


class LoginScreen(Screen[None]):
    """User name and password; with a setup token too while the server has no user yet."""

    CSS_PATH = "login.tcss"

    first_run: reactive[bool] = reactive(False)
    """The server has no user yet: the form creates the first admin."""

    def __init__(self, url: str, message: str = "") -> None:
        super().__init__()
        self.url, self.message = url, message

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        with Vertical(id="form"):
            yield Label(f"Log in to [b]{self.url}[/]", id="title")
            yield Static(
                "This server has no user yet: create the first admin with the setup token "
                "it printed when it started.",
                id="first-run",
                classes="hint",
            )
            yield Input(placeholder="setup token", password=True, compact=True, id="setup-token")
            yield Input(placeholder="user name", compact=True, id="username")
            yield Input(placeholder="password", password=True, compact=True, id="password")
            yield Static(self.message, id="problem", classes="error")
            yield Button("Log in", variant="primary", compact=True, id="log-in")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#username", Input).focus()
        self._check_first_run()

    def watch_first_run(self, first_run: bool) -> None:
        self.set_class(first_run, "-first-run")
        self.query_one("#log-in", Button).label = "Create admin" if first_run else "Log in"
        if first_run:
            self.query_one("#setup-token", Input).focus()

    @work(exclusive=True, group="first-run")
    async def _check_first_run(self) -> None:
        try:
            self.first_run = await self.dashboard.api(lambda c: c.needs_setup())
        except ClientError as error:
            self._say(error.message)

    @on(Input.Submitted)
    @on(Button.Pressed, "#log-in")
    def _submit(self) -> None:
        username = self.query_one("#username", Input).value.strip()
        password = self.query_one("#password", Input).value
        token = self.query_one("#setup-token", Input).value.strip()
        if not username or not password or (self.first_run and not token):
            self._say("fill in every field")
            return
        self._log_in(username, password, token if self.first_run else None)

    # An explicit description: Textual would make one of the arguments (the password, the
    # setup token) and log it with the worker.
    @work(exclusive=True, group="login", description="log in")
    async def _log_in(self, username: str, password: str, setup_token: str | None) -> None:
        async def call(client: Client) -> dict[str, Any]:
            if setup_token is not None:
                return await client.setup(setup_token, username, password)
            return await self.dashboard.log_in(client, username, password)

        self._say("")
        try:
            answer = await self.dashboard.api(call)
        except ClientError as error:
            if error.code == "already_set_up":
                self.first_run = False
            details = "; ".join(str(d.get("message")) for d in error.details if d.get("message"))
            self._say(details or error.message or error.code)
            return
        token = answer.get("token")
        if not isinstance(token, str):
            self._say("the server's answer has no token: is it runway?")
            return
        await self.dashboard.logged_in(token, username)

    def _say(self, text: str) -> None:
        self.query_one("#problem", Static).update(text)
