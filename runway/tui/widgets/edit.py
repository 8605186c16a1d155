"""Forms whose fields show the server's refusals next to them: a field (label, input, the
line for its problem), and a modal form that saves through the API before it closes, so a
refused value is corrected in place rather than typed again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from runway.client import ClientError
from runway.tui.forms import placed


@dataclass(frozen=True)
class Field:
    """One field of a form: `choices` makes it a list to pick from, `password` hides it."""

    name: str
    label: str
    value: str = ""
    password: bool = False
    choices: tuple[str, ...] = ()
    placeholder: str = ""


def field_widgets(field: Field, prefix: str = "") -> Iterator[Widget]:
    """The label, the input (`#{prefix}{name}`) and the problem line (`#problem-{prefix}{name}`)."""
    ident = f"{prefix}{field.name}"
    yield Label(field.label, classes="field-label")
    if field.choices:
        yield Select(
            [(c, c) for c in field.choices],
            value=field.value or field.choices[0],
            allow_blank=False,
            compact=True,
            id=ident,
        )
    else:
        yield Input(
            field.value,
            placeholder=field.placeholder,
            password=field.password,
            compact=True,
            id=ident,
        )
    yield Static("", id=f"problem-{ident}", classes="error field-problem")


def field_value(root: DOMNode, ident: str) -> str:
    widget = root.query_one(f"#{ident}")
    if isinstance(widget, Select):
        return str(widget.value)
    assert isinstance(widget, Input)
    return widget.value


def show_problems(
    root: DOMNode, names: list[str], problems: Mapping[str, str], prefix: str = ""
) -> None:
    """Each field's problem under it (the others cleared), the rest in `#{prefix}problem`."""
    for ident, key in [(f"problem-{prefix}{name}", name) for name in names] + [
        (f"{prefix}problem", "")
    ]:
        line = root.query_one(f"#{ident}", Static)
        line.update(problems.get(key, ""))
        line.set_class(bool(problems.get(key)), "-shown")


Save = Callable[[dict[str, str]], Awaitable[object]]
"""What a form does with its values; a ClientError it raises is shown in the form."""


class FormDialog(ModalScreen[bool]):
    """A few fields and a button that saves them; True once saved, False when cancelled."""

    CSS_PATH = ["dialogs.tcss", "edit.tcss"]  # noqa: RUF012 - Textual's declared class attribute
    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    def __init__(self, title: str, fields: list[Field], action: str, save: Save) -> None:
        super().__init__()
        self.title_text, self.fields, self.action, self.save = title, fields, action, save

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="question")
            for field in self.fields:
                yield from field_widgets(field, "form-")
            yield Static("", id="form-problem", classes="error field-problem")
            with Horizontal(classes="buttons"):
                yield Button(self.action, variant="primary", id="yes")
                yield Button("Cancel", id="no")

    @on(Input.Submitted)
    @on(Button.Pressed, "#yes")
    def _submit(self) -> None:
        self._save()

    @work(exclusive=True, group="save")
    async def _save(self) -> None:
        # The values are read here, not passed: a worker's arguments are in its description,
        # which Textual logs, and a form may hold a password.
        values = {f.name: field_value(self, f"form-{f.name}") for f in self.fields}
        names = [f.name for f in self.fields]
        show_problems(self, names, {}, "form-")
        try:
            await self.save(values)
        except ClientError as error:
            show_problems(self, names, placed(error, names), "form-")
            return
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(False)
