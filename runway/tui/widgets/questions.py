"""Every question of a deployment in one form, each with the field its type takes: text and
integers in an Input checked as typed, booleans in a Switch, choices in a Select, secrets in a
masked Input with a "generate" action.

Attributes down, messages up: the screen sets `questions` (and `problems` the server found);
the form posts `Answers` with only what the person changed, after checking each answer the
way the server will. A secret typed here is sent once and cleared; it is never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static, Switch

from runway.tui.questions import check, current_text, note

Question = dict[str, Any]


class QuestionsForm(VerticalScroll):
    """The deployment's questions; `Send answers` posts `QuestionsForm.Answers`."""

    questions: reactive[list[Question]] = reactive(list, recompose=True)
    """The deployment's `questions` as the API gives them."""

    problems: reactive[dict[str, str]] = reactive(dict)
    """What the server refused, by input name (its 422 details)."""

    class Answers(Message):
        """The answers to send, `{name: value}` (`{"generate": True}` for a secret to make)."""

        def __init__(self, answers: dict[str, Any]) -> None:
            super().__init__()
            self.answers = answers

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._generate: set[str] = set()

    def compose(self) -> ComposeResult:
        if not self.questions:
            yield Static("This deployment asks nothing.", classes="hint")
            return
        for question in self.questions:
            name = str(question["name"])
            with Vertical(classes="question", id=f"field-{name}"):
                yield Label(f"[b]{question.get('prompt') or name}[/] ({name})")
                described = question.get("description")
                yield Static(
                    note(question) + (f"\n{described}" if described else ""),
                    classes="note",
                    id=f"note-{name}",
                )
                yield from self._field(question)
                yield Static("", classes="error -empty", id=f"error-{name}")
        yield Button("Send answers", variant="primary", id="send", compact=True)

    def _field(self, question: Question) -> ComposeResult:
        name, kind = str(question["name"]), question.get("type")
        if kind == "boolean":
            yield Switch(value=bool(question.get("value")), id=f"q-{name}")
        elif kind == "choice":
            current = question.get("value") or question.get("default")
            yield Select(
                [(str(c), str(c)) for c in question.get("choices") or ()],
                value=str(current) if current is not None else Select.NULL,
                allow_blank=current is None,
                compact=True,
                id=f"q-{name}",
            )
        elif kind == "secret":
            hidden = "answered (hidden): type to replace" if question.get("answered") else ""
            with Horizontal(classes="secret"):
                yield Input(
                    password=True, placeholder=hidden or "secret", compact=True, id=f"q-{name}"
                )
                if question.get("generate"):
                    yield Button(
                        "Generate", id=f"generate-{name}", classes="generate", compact=True
                    )
        else:
            yield Input(
                value=current_text(question),
                type="integer" if kind == "integer" else "text",
                placeholder=str(question.get("pattern") or ""),
                compact=True,
                id=f"q-{name}",
            )

    def watch_problems(self, problems: dict[str, str]) -> None:
        for question in self.questions:
            self._say(str(question["name"]), problems.get(str(question["name"]), ""))

    def _say(self, name: str, problem: str) -> None:
        """Show what is wrong with an answer under its field (nothing: no line at all)."""
        for found in self.query(f"#error-{name}").results(Static):
            found.update(problem)
            found.display = bool(problem)

    def _question(self, name: str) -> Question | None:
        return next((q for q in self.questions if q["name"] == name), None)

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        """Say what is wrong with a text answer while it is typed, not only when sent."""
        name = (event.input.id or "").removeprefix("q-")
        question = self._question(name)
        if question is None:
            return
        problem = check(question, event.value)[1] if event.value else None
        self._say(name, problem or "")

    @on(Button.Pressed, ".generate")
    def _generate_pressed(self, event: Button.Pressed) -> None:
        name = (event.button.id or "").removeprefix("generate-")
        field = self.query_one(f"#q-{name}", Input)
        question = self._question(name) or {}
        if name in self._generate:
            self._generate.discard(name)
            field.disabled, field.placeholder = False, "secret"
            event.button.label = "Generate"
        else:
            self._generate.add(name)
            field.value, field.disabled = "", True
            field.placeholder = f"runway will generate {question.get('generate')} characters"
            event.button.label = "Type it"

    @on(Button.Pressed, "#send")
    def send(self) -> None:
        """Check every changed answer; post them when all are good, else say what is wrong
        beside each (nothing is sent)."""
        answers: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for question in self.questions:
            name = str(question["name"])
            if name in self._generate:
                answers[name] = {"generate": True}
                continue
            value = self._changed(question)
            if value is None:
                continue
            checked, problem = check(question, value)
            if problem is not None:
                problems[name] = problem
            else:
                answers[name] = checked
        self.problems = problems
        if problems or not answers:
            if not problems:
                self.notify("nothing new to send")
            return
        self.post_message(self.Answers(answers))

    def _changed(self, question: Mapping[str, Any]) -> object | None:
        """The field's value when the person changed it from the current answer, else None."""
        name = str(question["name"])
        widget: Widget = self.query_one(f"#q-{name}")
        if isinstance(widget, Switch):
            before = bool(question.get("value"))
            return widget.value if widget.value != before or not question["answered"] else None
        if isinstance(widget, Select):
            value = widget.value
            if not isinstance(value, str):
                return None
            return value if value != question.get("value") or not question["answered"] else None
        if isinstance(widget, Input):
            typed = widget.value
            if not typed or (question.get("answered") and typed == current_text(question)):
                return None
            return int(typed) if question.get("type") == "integer" and _integer(typed) else typed
        return None

    def sent(self) -> None:
        """The answers were taken: forget typed secrets and what was to be generated."""
        self._generate.clear()
        for field in self.query(Input):
            if field.password:
                field.value = ""


def _integer(text: str) -> bool:
    digits = text[1:] if text[:1] in "+-" else text
    return digits.isdigit()
