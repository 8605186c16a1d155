"""Modal questions: yes or no, a name typed to confirm, a new environment's name. Each
dismisses with its answer; the screen that asked decides what to do with it."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class Confirm(ModalScreen[bool]):
    """A yes-or-no question; `y` and `n` answer it too."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [  # noqa: RUF012 - Textual's declared class attribute
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question, self.yes = question, yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button(self.yes, variant="warning", id="yes")
                yield Button("No", id="no")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class TypeToConfirm(ModalScreen[bool]):
    """A destructive action, done only once the person types `name` exactly."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    def __init__(self, question: str, name: str, action: str) -> None:
        super().__init__()
        self.question, self.expected, self.action = question, name, action

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="question")
            yield Label(f"Type [b]{self.expected}[/] to confirm:")
            yield Input(placeholder=self.expected, id="typed")
            yield Static("", id="problem", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(self.action, variant="error", id="yes")
                yield Button("Cancel", id="no")

    @on(Input.Submitted)
    @on(Button.Pressed, "#yes")
    def _confirm(self) -> None:
        if self.query_one("#typed", Input).value == self.expected:
            self.dismiss(True)
        else:
            self.query_one("#problem", Static).update(f"that is not '{self.expected}'")

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(False)


class AskName(ModalScreen[str | None]):
    """A name for something new (an environment); None when cancelled."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    def __init__(self, question: str, placeholder: str = "") -> None:
        super().__init__()
        self.question, self.placeholder = question, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="question")
            yield Input(placeholder=self.placeholder, id="name")
            with Horizontal(classes="buttons"):
                yield Button("Create", variant="primary", id="yes")
                yield Button("Cancel", id="no")

    @on(Input.Submitted)
    @on(Button.Pressed, "#yes")
    def _done(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        if name:
            self.dismiss(name)

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(None)
