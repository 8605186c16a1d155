"""For admins: the users (create, disable or enable, role, quota, delete), invites (a link to
copy and send), and the installation's settings.

The app offers this screen to admins only, and the server refuses everyone else anyway: a
person who is not an admin sees that refusal here, plainly. The settings form is built from the
fields the server returns, so a setting added to the API appears without a change here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Button, DataTable, Input, Static, TabPane

from runway.client import Client, ClientError
from runway.tui import text
from runway.tui.forms import Unreadable, as_text, changes, from_text, placed
from runway.tui.screens.tabbed import TabbedScreen
from runway.tui.widgets.dialogs import TypeToConfirm
from runway.tui.widgets.edit import Field, FormDialog, field_value, field_widgets, show_problems
from runway.tui.widgets.secret import ShowOnce

ROLES = ("member", "admin")
INVITE_FIELDS = [
    Field("role", "Role of the person invited", choices=ROLES),
    Field("expires_in_days", "Days the link works (empty: the server's default)"),
]
INVITE_NOTE = (
    "Send this link to the person: it lets them choose a user name and password, once. "
    "runway shows it only now."
)


def refusal(error: ClientError) -> str:
    """What a person reads when a read of this screen is refused: the admin routes answer
    404 to anyone else (they must not learn what exists)."""
    if error.status in (403, 404):
        return "only admins can see this: the server refused"
    return error.message or error.code


def quota_text(quota: dict[str, Any]) -> str:
    return as_text(quota) or "-"


class AdminScreen(TabbedScreen):
    """Users, invites and installation settings."""

    HEADING = "Admin"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    users: reactive[list[dict[str, Any]]] = reactive(list)
    settings: reactive[dict[str, Any] | None] = reactive(None)
    """The settings as the server last gave them: what the form's text is compared with."""

    def compose_tabs(self) -> ComposeResult:
        with TabPane("Users", id="users-tab"):
            users: DataTable[str] = DataTable(cursor_type="row", id="users")
            users.add_columns("NAME", "ROLE", "STATE", "QUOTA", "CREATED")
            yield users
            with Horizontal(classes="buttons"):
                for ident, label in (
                    ("new-user", "New"),
                    ("toggle-user", "Disable"),
                    ("role-user", "Role"),
                    ("quota-user", "Quota"),
                    ("delete-user", "Delete"),
                ):
                    yield Button(label, compact=True, id=ident)
        with TabPane("Invites", id="invites-tab"), Vertical(classes="form"):
            for field in INVITE_FIELDS:
                yield from field_widgets(field, "invite-")
            yield Static("", id="invite-problem", classes="error field-problem")
            with Horizontal(classes="buttons"):
                yield Button("Create link", variant="primary", compact=True, id="invite")
        with TabPane("Settings", id="settings-tab"):
            yield VerticalScroll(id="settings-form", classes="form")
            yield Static("", id="set-problem", classes="error field-problem")
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", compact=True, id="save-settings")

    @work(exclusive=True, group="load")
    async def _load(self) -> None:
        async def read(client: Client) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            return await client.users(), await client.installation_settings()

        try:
            self.users, settings = await self.dashboard.api(read)
        except ClientError as error:
            self.query_one("#title", Static).update(f"Admin: {refusal(error)}")
            return
        if settings != self.settings:
            self.settings = settings

    def watch_users(self, users: list[dict[str, Any]]) -> None:
        self._fill(
            "#users",
            (
                (
                    str(user.get("name")),
                    str(user.get("role")),
                    "[red]disabled[/]" if user.get("disabled") else "active",
                    quota_text(user.get("quota") or {}),
                    text.when(user.get("created_at")),
                    str(user.get("name")),
                )
                for user in users
            ),
        )
        self._toggle_label()

    @on(DataTable.RowHighlighted, "#users")
    def _toggle_label(self) -> None:
        """The button says what it would do to the highlighted user."""
        user = self._selected()
        label = "Enable" if user is not None and user.get("disabled") else "Disable"
        self.query_one("#toggle-user", Button).label = label

    async def watch_settings(self, settings: dict[str, Any] | None) -> None:
        """The form again: one field per setting the server gives, as it is now."""
        if settings is None:
            return
        form = self.query_one("#settings-form", VerticalScroll)
        await form.remove_children()
        await form.mount_all(
            widget
            for name, value in settings.items()
            for widget in field_widgets(Field(name, name, as_text(value)), "set-")
        )

    # Users

    def _selected(self) -> dict[str, Any] | None:
        table = self.query_one("#users", DataTable)
        if not table.row_count:
            return None
        name = str(table.get_row_at(table.cursor_row)[0])
        return next((u for u in self.users if u.get("name") == name), None)

    @on(Button.Pressed, "#new-user")
    def action_new_user(self) -> None:
        fields = [
            Field("username", "User name"),
            Field("password", "Password (they change it in their account)", password=True),
            Field("role", "Role", choices=ROLES),
        ]

        async def save(values: dict[str, str]) -> None:
            await self.dashboard.api(
                lambda c: c.create_user(
                    values["username"].strip(), values["password"], values["role"]
                )
            )

        self._ask(FormDialog("A new user", fields, "Create", save), "user created")

    @on(Button.Pressed, "#toggle-user")
    def _toggle(self) -> None:
        user = self._selected()
        if user is None:
            return
        name, disabled = str(user["name"]), not user.get("disabled")
        done = f"{name} {'disabled: their sessions end' if disabled else 'enabled'}"
        self._call(lambda c: c.update_user(name, disabled=disabled), done)

    @on(Button.Pressed, "#role-user")
    def _role(self) -> None:
        user = self._selected()
        if user is None:
            return
        name = str(user["name"])
        fields = [Field("role", f"Role of {name}", str(user.get("role")), choices=ROLES)]

        async def save(values: dict[str, str]) -> None:
            await self.dashboard.api(lambda c: c.update_user(name, role=values["role"]))

        self._ask(FormDialog(f"Role of {name}", fields, "Save", save), f"role of {name} saved")

    @on(Button.Pressed, "#quota-user")
    def _quota(self) -> None:
        user = self._selected()
        if user is None:
            return
        name, quota = str(user["name"]), dict(user.get("quota") or {})
        fields = [
            Field(
                "quota",
                "resource=amount, comma-separated (empty: no quota of their own)",
                as_text(quota),
                placeholder="requests.cpu=4, requests.memory=8Gi, pods=20",
            )
        ]

        async def save(values: dict[str, str]) -> None:
            try:
                found = from_text(values["quota"], {}) or {}
            except Unreadable as error:
                raise ClientError(422, "invalid", str(error), [quota_problem(str(error))]) from None
            await self.dashboard.api(lambda c: c.update_user(name, quota=found))

        self._ask(FormDialog(f"Quota of {name}", fields, "Save", save), f"quota of {name} saved")

    @on(Button.Pressed, "#delete-user")
    def _delete(self) -> None:
        user = self._selected()
        if user is None:
            return
        name = str(user["name"])
        question = f"Delete user {name}? Their sessions, tokens and keys go with them."
        self._call_once_confirmed(
            TypeToConfirm(question, name, "Delete"),
            lambda c: c.delete_user(name),
            f"user {name} deleted",
        )

    def _ask(self, dialog: FormDialog, done: str) -> None:
        def saved(answer: bool | None) -> None:
            if answer:
                self.notify(done)
                self.action_refresh()

        self.app.push_screen(dialog, saved)

    # Invites

    @on(Input.Submitted, "#invite-expires_in_days")
    @on(Button.Pressed, "#invite")
    def _invite(self) -> None:
        role = field_value(self, "invite-role")
        days = field_value(self, "invite-expires_in_days").strip()
        names = [f.name for f in INVITE_FIELDS]
        if days and not days.isdecimal():
            show_problems(self, names, {"expires_in_days": "must be a number of days"}, "invite-")
            return
        self._create_invite(role, int(days) if days else None)

    @work(exclusive=True, group="invite", description="create an invite")
    async def _create_invite(self, role: str, days: int | None) -> None:
        names = [f.name for f in INVITE_FIELDS]
        show_problems(self, names, {}, "invite-")
        try:
            made = await self.dashboard.api(lambda c: c.create_invite(role, days))
        except ClientError as error:
            show_problems(self, names, placed(error, names), "invite-")
            return
        title = f"Invite for a new {role}, until {text.when(made.get('expires_at'))} UTC"
        self.app.push_screen(ShowOnce(title, str(made.get("url")), INVITE_NOTE))

    # Settings

    @on(Input.Submitted, "#settings-form Input")
    @on(Button.Pressed, "#save-settings")
    def _save_settings(self) -> None:
        if self.settings is None:
            return
        names = list(self.settings)
        texts = {name: field_value(self, f"set-{name}") for name in names}
        changed, problems = changes(self.settings, texts)
        show_problems(self, names, problems, "set-")
        if problems:
            return
        if not changed:
            show_problems(self, names, {"": "nothing changed"}, "set-")
            return
        self._patch_settings(changed)

    @work(exclusive=True, group="settings", description="save the settings")
    async def _patch_settings(self, changed: dict[str, Any]) -> None:
        names = list(self.settings or {})
        try:
            saved = await self.dashboard.api(lambda c: c.update_installation_settings(changed))
        except ClientError as error:
            show_problems(self, names, placed(error, names), "set-")
            return
        self.settings = saved
        self.notify(f"settings saved: {', '.join(changed)}")

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("New user", "Create an account", self.action_new_user)
        yield SystemCommand("Refresh", "Read users and settings again", self.action_refresh)


def quota_problem(message: str) -> dict[str, Any]:
    return {"path": "quota", "message": message}
