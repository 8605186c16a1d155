"""A value shown this once (a new API token, an invite link): the person copies it now, with
the button (the terminal, the browser tab or the SSH client puts it on the clipboard) or by
selecting it; nothing shows it again, and it is never logged or put in a notification."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ShowOnce(ModalScreen[None]):
    """`value` under `title`, with `note` saying what it is for and that it is not shown again."""

    CSS_PATH = ["dialogs.tcss", "edit.tcss"]  # noqa: RUF012 - Textual's declared class attribute
    BINDINGS = [  # noqa: RUF012
        Binding("escape", "close", "Close"),
        Binding("c", "copy", "Copy"),
    ]

    def __init__(self, title: str, value: str, note: str) -> None:
        super().__init__()
        self.title_text, self.value, self.note = title, value, note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="question")
            yield Static(self.value, markup=False, id="value")
            yield Static(self.note, id="note", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Copy", variant="primary", id="copy")
                yield Button("Done", id="done")

    def on_mount(self) -> None:
        self.query_one("#copy", Button).focus()

    @on(Button.Pressed, "#copy")
    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.value)
        self.notify("copied to the clipboard")

    @on(Button.Pressed, "#done")
    def action_close(self) -> None:
        self.dismiss(None)
