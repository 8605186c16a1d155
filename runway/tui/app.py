"""The dashboard app: which screen shows first, the one client of the server, and what every
screen shares (the connection's state, logging in again, the command palette).

`make_dashboard` builds it (posting's `make_posting` is the model): tests and `runway tui` each
build their own, with their own client factory, and nothing happens at import time.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import PurePath
from typing import Any, ClassVar, TypeVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen

from runway.client import Client, ClientError, Credentials
from runway.client.devices import log_in
from runway.tui.screens.account import AccountScreen
from runway.tui.screens.admin import AdminScreen
from runway.tui.screens.deployment import DeploymentScreen
from runway.tui.screens.environments import EnvironmentsScreen
from runway.tui.screens.login import LoginScreen

T = TypeVar("T")

ClientFactory = Callable[[str, str | None], Client]
"""Makes the client of a server URL with a token (None before login)."""

Remember = Callable[[Credentials], object]
"""Keeps the credentials of a login made in the dashboard (runway tui: as `runway login` does).
A dashboard that remembers them is on its person's own machine: it keeps their device token
too (runway.client.devices). One served to a browser or over SSH keeps neither."""

REMOTE_VARIABLE = "RUNWAY_REMOTE_TERMINAL"
"""Set (runway/ssh/terminal.py) when the app runs on runway's server for someone at the other
end of SSH: a file it saved (Textual's Screenshot command) would land on the server's disk, not
with them, so it offers none. (In a browser tab a screenshot is downloaded by the browser.)"""


def default_client(url: str, token: str | None) -> Client:
    return Client(url, token)


class Dashboard(App[None]):
    """runway's dashboard: environments, their deployments, their questions, live."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["app.tcss", "widgets/questions.tcss"]
    TITLE = "runway"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "account", "Account"),
        Binding("A", "admin", "Admin"),
    ]

    problem: reactive[str] = reactive("")
    """Why the server cannot be reached right now (empty while it can): every screen shows it."""

    role: reactive[str] = reactive("")
    """The person's role, read once logged in: `admin` offers the admin screen (whose calls the
    server refuses to anyone else anyway)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        username: str = "",
        client_factory: ClientFactory = default_client,
        open_deployment: int | None = None,
        remember: Remember | None = None,
    ) -> None:
        super().__init__()
        self.url = url.rstrip("/")
        self.username = username
        self.open_deployment = open_deployment
        self._factory = client_factory
        self._remember = remember
        self._token = token
        self.client = client_factory(self.url, token)
        self._retired: list[Client] = []
        self.sub_title = self.url

    def on_mount(self) -> None:
        if self._token:
            self._show_home()
        else:
            self.push_screen(LoginScreen(self.url))

    async def on_unmount(self) -> None:
        for client in (*self._retired, self.client):
            await client.close()

    async def api(self, work: Callable[[Client], Awaitable[T]]) -> T:
        """Run one call of the API; records whether the server answered (the banner every
        screen shows), and asks for a login again when the token is not (or no longer) good."""
        try:
            found = await work(self.client)
        except ClientError as error:
            if error.status == 0:
                self.problem = f"{error.message}; trying again…"
            else:
                self.problem = ""
                asking = any(isinstance(s, LoginScreen) for s in self.screen_stack)
                if error.status == 401 and not asking:
                    self.push_screen(LoginScreen(self.url, "your session ended: log in again"))
            raise
        self.problem = ""
        return found

    async def log_in(self, client: Client, username: str, password: str) -> dict[str, Any]:
        """The login screen's call: with this machine's device token when the dashboard runs
        on its person's own machine (it remembers their credentials), plainly otherwise."""
        if self._remember is None:
            return await client.login(username, password)
        return await log_in(client, username, password)

    async def logged_in(self, token: str, username: str) -> None:
        """Use a new session token (from the login screen) and go on where the person was."""
        # The old client may still be in a worker's hands: it is closed with the app.
        self._retired.append(self.client)
        self.client, self._token, self.username = self._factory(self.url, token), token, username
        if self._remember is not None:
            self._remember(Credentials(self.url, token, username))
        self._read_role()
        if len(self.screen_stack) > 2:  # the login was over another screen: back to it
            self.pop_screen()
            refresh = getattr(self.screen, "action_refresh", None)
            if callable(refresh):
                refresh()
        else:
            self.pop_screen()
            self._show_home()

    def _show_home(self) -> None:
        self._read_role()
        if self.open_deployment is not None:
            # The monitor URL: its deployment alone, drawn first; the environments are built
            # (and read) only when the person goes back to them (`back`).
            self.push_screen(DeploymentScreen(self.open_deployment))
            self.open_deployment = None
        else:
            self.push_screen(EnvironmentsScreen())

    def back(self) -> None:
        """Back from the screen on top to the one under it; from the first one (a deployment
        opened by its monitor URL, with nothing under it) to the environments."""
        if len(self.screen_stack) > 2:
            self.pop_screen()
        else:
            self.switch_screen(EnvironmentsScreen())

    @work(exclusive=True, group="role")
    async def _read_role(self) -> None:
        try:
            me = await self.api(lambda c: c.me())
        except ClientError:
            return  # the banner or the login screen says why
        self.role = str(me.get("role") or "")

    def watch_role(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The account and admin keys on the main screens (not over a login or a dialog), the
        admin one for admins only."""
        shown = not isinstance(self.screen, LoginScreen | ModalScreen)
        if action == "account":
            return shown and not isinstance(self.screen, AccountScreen)
        if action == "admin":
            return shown and self.role == "admin" and not isinstance(self.screen, AdminScreen)
        return True

    def action_account(self) -> None:
        self.push_screen(AccountScreen())

    def action_admin(self) -> None:
        self.push_screen(AdminScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        remote = bool(os.environ.get(REMOTE_VARIABLE))
        for command in super().get_system_commands(screen):
            if not (remote and command.title == "Screenshot"):
                yield command
        commands = getattr(screen, "commands", None)
        if callable(commands):
            yield from commands()
        if not isinstance(screen, LoginScreen):
            yield SystemCommand("Account", "Password, API tokens, SSH keys", self.action_account)
            if self.role == "admin":
                yield SystemCommand("Admin", "Users, invites, settings", self.action_admin)
            yield SystemCommand("Log out", "Forget this session's token here", self._log_out)

    def _log_out(self) -> None:
        self._token = None
        self.role = ""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(LoginScreen(self.url))


def make_dashboard(
    url: str,
    token: str | None = None,
    *,
    username: str = "",
    client_factory: ClientFactory = default_client,
    open_deployment: int | None = None,
    remember: Remember | None = None,
) -> Dashboard:
    """The dashboard of the server at `url`, logged in with `token` (else it asks for a login,
    or the first admin when the server has none), opening deployment `open_deployment` first."""
    return Dashboard(
        url,
        token,
        username=username,
        client_factory=client_factory,
        open_deployment=open_deployment,
        remember=remember,
    )
