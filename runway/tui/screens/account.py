"""The person's own account: their password, their API tokens (a new one shown once), and the
SSH public keys that let them open the dashboard over SSH.

Passwords and token values stay in the widgets that show them and the request that sends
them: never in a notification or a log line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.reactive import reactive
from textual.widgets import Button, DataTable, Input, Static, TabPane

from runway.client import Client, ClientError
from runway.tui import text
from runway.tui.forms import placed
from runway.tui.screens.tabbed import TabbedScreen
from runway.tui.widgets.dialogs import Confirm
from runway.tui.widgets.edit import Field, field_widgets, show_problems
from runway.tui.widgets.secret import ShowOnce

PASSWORD_FIELDS = [
    Field("current_password", "Current password", password=True),
    Field("password", "New password", password=True),
    Field("again", "New password again", password=True),
]
TOKEN_FIELDS = [Field("name", "Name of a new token", placeholder="ci, laptop…")]
KEY_FIELDS = [
    Field("name", "Name (empty: the key's comment)", placeholder="laptop"),
    Field("public_key", "Public key", placeholder="paste it: ssh-ed25519 AAAA… you@host"),
]
NEW_TOKEN_NOTE = (
    "Copy it now: runway keeps only a hash of it and shows it this once. Send it as "
    "'Authorization: Bearer <token>'; revoke it here when it is no longer needed."
)


def key_name(public_key: str) -> str:
    """A name for a pasted key without one: its comment (`you@host`), else `key`."""
    parts = public_key.split(maxsplit=2)
    return parts[2].strip() if len(parts) == 3 and parts[2].strip() else "key"


class AccountScreen(TabbedScreen):
    """Password, API tokens and SSH keys of the person logged in."""

    HEADING = "Account"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("delete", "remove", "Revoke/delete"),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    me: reactive[dict[str, Any] | None] = reactive(None)
    tokens: reactive[list[dict[str, Any]]] = reactive(list)
    keys: reactive[list[dict[str, Any]]] = reactive(list)

    def compose_tabs(self) -> ComposeResult:
        with TabPane("Password", id="password-tab"), Vertical(classes="form"):
            for field in PASSWORD_FIELDS:
                yield from field_widgets(field, "pw-")
            yield Static("", id="pw-problem", classes="error field-problem")
            yield Button("Change password", variant="primary", compact=True, id="change")
        with TabPane("API tokens", id="tokens-tab"):
            tokens: DataTable[str] = DataTable(cursor_type="row", id="tokens")
            tokens.add_columns("NAME", "KIND", "CREATED", "EXPIRES")
            yield tokens
            for field in TOKEN_FIELDS:
                yield from field_widgets(field, "token-")
            yield Static("", id="token-problem", classes="error field-problem")
            with Horizontal(classes="buttons"):
                yield Button("Create", variant="primary", compact=True, id="create-token")
                yield Button("Revoke", compact=True, id="revoke-token")
        with TabPane("SSH keys", id="keys-tab"):
            keys: DataTable[str] = DataTable(cursor_type="row", id="keys")
            keys.add_columns("NAME", "FINGERPRINT", "ADDED")
            yield keys
            for field in KEY_FIELDS:
                yield from field_widgets(field, "key-")
            yield Static("", id="key-problem", classes="error field-problem")
            with Horizontal(classes="buttons"):
                yield Button("Add", variant="primary", compact=True, id="add-key")
                yield Button("Delete", compact=True, id="delete-key")

    @work(exclusive=True, group="load")
    async def _load(self) -> None:
        async def read(
            client: Client,
        ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
            return await client.me(), await client.tokens(), await client.keys()

        try:
            self.me, self.tokens, self.keys = await self.dashboard.api(read)
        except ClientError as error:
            self.query_one("#title", Static).update(f"Account: {error.message or error.code}")

    def watch_me(self, me: dict[str, Any] | None) -> None:
        if me is not None:
            role = "admin (A opens the admin screen)" if me.get("role") == "admin" else "member"
            self.query_one("#title", Static).update(f"Account [b]{me.get('name')}[/] · {role}")

    def watch_tokens(self, tokens: list[dict[str, Any]]) -> None:
        self._fill(
            "#tokens",
            (
                (
                    str(t.get("name")),
                    str(t.get("kind")),
                    text.when(t.get("created_at")),
                    text.when(t.get("expires_at")),
                    str(t["id"]),
                )
                for t in tokens
            ),
        )

    def watch_keys(self, keys: list[dict[str, Any]]) -> None:
        self._fill(
            "#keys",
            (
                (
                    str(k.get("name")),
                    str(k.get("fingerprint")),
                    text.when(k.get("created_at")),
                    str(k["id"]),
                )
                for k in keys
            ),
        )

    def _highlighted(self, selector: str) -> tuple[int, str] | None:
        """(id, name) of the highlighted row of a table; None when it is empty."""
        table = self.query_one(selector, DataTable)
        if not table.row_count:
            return None
        row = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key
        return int(str(row.value)), str(table.get_row_at(table.cursor_row)[0])

    # The password

    @on(Input.Submitted, "#pw-current_password, #pw-password, #pw-again")
    @on(Button.Pressed, "#change")
    def _change(self) -> None:
        names = [f.name for f in PASSWORD_FIELDS]
        values = {name: self.query_one(f"#pw-{name}", Input).value for name in names}
        missing = {name: "is required" for name, value in values.items() if not value}
        if missing:
            show_problems(self, names, missing, "pw-")
        elif values["password"] != values["again"]:
            show_problems(self, names, {"again": "is not the same new password"}, "pw-")
        else:
            self._change_password()

    @work(exclusive=True, group="password")
    async def _change_password(self) -> None:
        # The passwords are read here, not passed: a worker's arguments are in its description,
        # which Textual logs.
        names = [f.name for f in PASSWORD_FIELDS]
        current = self.query_one("#pw-current_password", Input).value
        new = self.query_one("#pw-password", Input).value
        show_problems(self, names, {}, "pw-")
        try:
            await self.dashboard.api(lambda c: c.change_password(current, new))
        except ClientError as error:
            if error.code == "wrong_password":
                problems = {"current_password": error.message}
            else:
                problems = placed(error, names)
            show_problems(self, names, problems, "pw-")
            return
        for name in names:
            self.query_one(f"#pw-{name}", Input).value = ""
        self.notify("password changed; your other sessions and tokens ended")
        self.action_refresh()

    # API tokens

    @on(Input.Submitted, "#token-name")
    @on(Button.Pressed, "#create-token")
    def _create_token(self) -> None:
        self._new_token(self.query_one("#token-name", Input).value.strip())

    @work(exclusive=True, group="token", description="create a token")
    async def _new_token(self, name: str) -> None:
        show_problems(self, ["name"], {}, "token-")
        try:
            made = await self.dashboard.api(lambda c: c.create_token(name))
        except ClientError as error:
            show_problems(self, ["name"], placed(error, ["name"]), "token-")
            return
        self.query_one("#token-name", Input).value = ""
        self.app.push_screen(
            ShowOnce(f"New API token [b]{made.get('name')}[/]", str(made["token"]), NEW_TOKEN_NOTE)
        )
        self.action_refresh()

    @on(Button.Pressed, "#revoke-token")
    def _revoke_token(self) -> None:
        found = self._highlighted("#tokens")
        if found is None:
            return
        ident, name = found
        question = f"Revoke token {name}? Whatever uses it stops working."
        self._call_once_confirmed(
            Confirm(question, "Revoke"), lambda c: c.revoke_token(ident), f"token {name} revoked"
        )

    # SSH keys

    @on(Input.Submitted, "#key-name, #key-public_key")
    @on(Button.Pressed, "#add-key")
    def _add_key(self) -> None:
        public_key = self.query_one("#key-public_key", Input).value.strip()
        if not public_key:
            show_problems(self, ["name", "public_key"], {"public_key": "paste a key"}, "key-")
            return
        name = self.query_one("#key-name", Input).value.strip() or key_name(public_key)
        self._new_key(name, public_key)

    @work(exclusive=True, group="key", description="add an SSH key")
    async def _new_key(self, name: str, public_key: str) -> None:
        names = [f.name for f in KEY_FIELDS]
        show_problems(self, names, {}, "key-")
        try:
            added = await self.dashboard.api(lambda c: c.add_key(name, public_key))
        except ClientError as error:
            show_problems(self, names, placed(error, names), "key-")
            return
        for field in names:
            self.query_one(f"#key-{field}", Input).value = ""
        self.notify(f"key {added.get('name')} added: {added.get('fingerprint')}")
        self.action_refresh()

    @on(Button.Pressed, "#delete-key")
    def _delete_key(self) -> None:
        found = self._highlighted("#keys")
        if found is None:
            return
        ident, name = found
        question = f"Delete SSH key {name}? It no longer opens the dashboard."
        self._call_once_confirmed(
            Confirm(question, "Delete"), lambda c: c.delete_key(ident), f"key {name} deleted"
        )

    def action_remove(self) -> None:
        """Delete key on a table: revoke its token or delete its key."""
        focused = self.focused
        if isinstance(focused, DataTable) and focused.id == "tokens":
            self._revoke_token()
        elif isinstance(focused, DataTable) and focused.id == "keys":
            self._delete_key()

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Refresh", "Read the account again", self.action_refresh)
