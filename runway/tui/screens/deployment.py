"""One deployment, live: its steps (state, dependencies, time, critical path), its progress,
why it failed, its event log, and every question in one form; start, cancel and roll it back
(after its dry run, by typing the environment's name).

The screen reads the deployment once, then follows its event stream from the last event it
saw; when the server goes away it says so, and resumes the stream (`Last-Event-ID`) when the
server is back. A periodic read keeps the running steps' times and the banner current.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import (
    Footer,
    Header,
    ProgressBar,
    RichLog,
    Static,
    TabbedContent,
    TabPane,
)

from runway.client import ClientError, Event
from runway.client.dry_run import describe as describe_dry_run
from runway.tui import text
from runway.tui.live import REFETCH, apply_event, describe
from runway.tui.widgets.banner import ConnectionBanner
from runway.tui.widgets.dialogs import Confirm, TypeToConfirm
from runway.tui.widgets.questions import QuestionsForm
from runway.tui.widgets.steps import CRITICAL, StepsTable

if TYPE_CHECKING:
    from runway.tui.app import Dashboard

REREAD = 3.0
"""Seconds between two reads of a deployment that is not final."""
BACKOFF = (0.5, 1.0, 2.0, 4.0)
"""Waits before following the events again after the server could not be reached."""


class DeploymentScreen(Screen[None]):
    """A deployment by id (the monitor URL's deep link opens this screen first)."""

    CSS_PATH = "deployment.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("s", "start", "Start"),
        Binding("c", "cancel", "Cancel"),
        Binding("ctrl+s", "send", "Send answers"),
        Binding("l", "logs", "Logs"),
        Binding("b", "rollback", "Roll back"),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    deployment: reactive[dict[str, Any] | None] = reactive(None)
    """The deployment as last read, with the events since applied."""

    clock: reactive[datetime | None] = reactive(None)
    """What running steps are timed against (None: not timed; tests freeze it)."""

    def __init__(self, deployment_id: int) -> None:
        super().__init__()
        self.deployment_id = deployment_id
        self.last_event = 0
        self._tab_chosen = False
        self._pending: dict[str, Any] | None = None
        """The deployment with the events received since it was last shown (None: none)."""
        self._refetch = False
        """Whether one of those events asks for the deployment to be read again."""
        self._showing = False
        """Whether showing them is scheduled."""
        self._actions: tuple[object, ...] | None = None
        """What the footer's actions were last checked against (`check_action`)."""
        self._questions: list[dict[str, Any]] = []
        self._form_shown = False
        """Whether the questions' form was given them: once its tab is first shown. Its many
        fields are not built for the deployments (finished, mostly) whose form nobody opens."""

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        with Horizontal(id="summary"):
            yield Static(f"Deployment {self.deployment_id}", id="title")
            yield ProgressBar(total=None, show_eta=False, id="progress")
        with TabbedContent(id="tabs"):
            with TabPane("Steps", id="steps-tab"):
                yield StepsTable(id="steps")
                yield Static(f"{CRITICAL} on the critical path", classes="hint")
                yield Static("", id="reasons")
            with TabPane("Questions", id="questions-tab"):
                yield QuestionsForm(id="questions")
            with TabPane("Events", id="events-tab"):
                yield RichLog(id="events", markup=False, wrap=True)
        yield Footer()

    def on_mount(self) -> None:
        self._follow()
        self.set_interval(REREAD, self._tick)

    def _tick(self) -> None:
        if self.deployment is not None and self.deployment.get("status") in text.FINAL_DEPLOYMENT:
            return
        self.clock = datetime.now(UTC)
        self._reread()

    def action_back(self) -> None:
        """Out of the form first (answers typed there stay), then back to where it came from."""
        form = self.query_one("#questions", QuestionsForm)
        if self.focused is not None and form in self.focused.ancestors:
            self.set_focus(None)
        else:
            self.dashboard.back()

    def action_refresh(self) -> None:
        """Read the deployment again and follow its events (again, after a new login)."""
        self._follow()

    @work(exclusive=True, group="reread")
    async def _reread(self) -> None:
        # On failure the banner says it; the events' worker goes on trying.
        with contextlib.suppress(ClientError):
            self._read(await self.dashboard.api(lambda c: c.deployment(self.deployment_id)))

    @work(exclusive=True, group="events")
    async def _follow(self) -> None:
        """Read the deployment, then apply its events as they come until it is final."""
        failures = 0
        while True:
            wait = REREAD  # the stream ended with the deployment not final (a proxy's doing)
            try:
                self._read(await self.dashboard.api(lambda c: c.deployment(self.deployment_id)))
                async for event in self.dashboard.client.events(
                    self.deployment_id, self.last_event
                ):
                    failures = 0
                    self.dashboard.problem = ""
                    self._event(event)
                final = await self.dashboard.api(lambda c: c.deployment(self.deployment_id))
                self._read(final)
                if final.get("status") in text.FINAL_DEPLOYMENT:
                    return
            except ClientError as error:
                if error.status != 0:
                    self.query_one("#title", Static).update(error.message or error.code)
                    return
                self.dashboard.problem = f"{error.message}; trying again…"
                wait = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
            await asyncio.sleep(wait)

    def _read(self, deployment: dict[str, Any]) -> None:
        """Show the deployment as read (it has every event received before it)."""
        self._pending = None
        self.deployment = deployment

    def _event(self, event: Event) -> None:
        """Log the event and apply it; the screen is redrawn once for the events that came
        together (a finished deployment's whole history comes at once), not once for each."""
        self.last_event = event.id
        at = text.parse_time(event.data.get("at"))
        stamp = at.strftime("%H:%M:%S") if at else "--:--:--"
        self.query_one("#events", RichLog).write(f"{stamp} {describe(event)}")
        if not self._showing:
            self._showing = True
            self.call_later(self._show_events)
        self._refetch = self._refetch or event.type in REFETCH
        shown = self._pending if self._pending is not None else self.deployment
        if shown is not None:
            self._pending = apply_event(shown, event)

    def _show_events(self) -> None:
        pending, self._pending, self._showing = self._pending, None, False
        if pending is not None:
            self.deployment = pending
        if self._refetch:
            self._refetch = False
            self._reread()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Start, cancel and answers only where the deployment's state allows them: the
        footer shows what can be done now."""
        status = (self.deployment or {}).get("status")
        if action == "start":
            return status == "created"
        if action == "cancel":
            return status in ("created", "running", "waiting_for_input")
        if action == "rollback":  # the server says why when it cannot (no earlier success)
            return status in ("failed", "succeeded")
        if action == "send":
            return status not in text.FINAL_DEPLOYMENT and bool(
                (self.deployment or {}).get("questions")
            )
        return True

    def watch_clock(self) -> None:
        self.watch_deployment(self.deployment)

    def watch_deployment(self, deployment: dict[str, Any] | None) -> None:
        if deployment is None:
            return
        actions = (deployment.get("status"), bool(deployment.get("questions")))
        if actions != self._actions:  # what check_action decides on: the footer follows it
            self._actions = actions
            self.refresh_bindings()
        steps = deployment.get("steps") or []
        done, total = text.progress(steps)
        self.query_one("#title", Static).update(
            f"[b]#{deployment.get('number')}[/] of [b]{deployment.get('app')}[/] in "
            f"[b]{deployment.get('env')}[/]: {text.state(deployment.get('status'))} "
            f"({done}/{total} steps)"
        )
        self.query_one("#progress", ProgressBar).update(total=max(total, 1), progress=done)
        running = deployment.get("status") not in text.FINAL_DEPLOYMENT
        self.query_one("#steps", StepsTable).show(
            steps, deployment.get("critical_path") or (), self.clock if running else None
        )
        self.query_one("#reasons", Static).update(self._reasons(deployment))
        questions = deployment.get("questions") or []
        waiting = sum(1 for q in questions if not q.get("answered"))
        tabs = self.query_one("#tabs", TabbedContent)
        tabs.get_tab("questions-tab").label = (
            f"Questions ({waiting} to answer)" if waiting else "Questions"
        )
        if not self._tab_chosen:
            self._tab_chosen = True
            if waiting and deployment.get("status") in ("created", "waiting_for_input"):
                tabs.active = "questions-tab"
        self._questions = questions
        if self._form_shown or tabs.active == "questions-tab":
            self._fill_form()

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "questions-tab" and not self._form_shown:
            self._fill_form()

    def _fill_form(self) -> None:
        self._form_shown = True
        self.query_one("#questions", QuestionsForm).questions = self._questions

    @staticmethod
    def _reasons(deployment: dict[str, Any]) -> str:
        """Why it failed: each failed step's reason, and the deployment's when it says more."""
        lines = [
            f"[red]✗ {s.get('name')}[/]: {s.get('reason') or 'failed'}"
            for s in deployment.get("steps") or ()
            if s.get("status") == "failed"
        ]
        reason = deployment.get("reason")
        said = [str(s.get("reason")) for s in deployment.get("steps") or () if s.get("reason")]
        if reason and not any(step_reason in str(reason) for step_reason in said):
            lines.append(f"{text.state(deployment.get('status'))}: {reason}")
        if any(s.get("status") == "failed" for s in deployment.get("steps") or ()):
            lines.append("[dim]l or Enter: the highlighted step's logs[/]")
        return "\n".join(lines)

    def _named(self) -> str:
        found = self.deployment or {}
        return f"deployment #{found.get('number')} of {found.get('app')} in {found.get('env')}"

    def action_start(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self._change("start")

        self.app.push_screen(Confirm(f"Start {self._named()}?", "Start"), confirmed)

    def action_cancel(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self._change("cancel")

        question = f"Cancel {self._named()}? Applied objects stay as they are."
        self.app.push_screen(Confirm(question, "Cancel it"), confirmed)

    @work(group="change", description="change the deployment")
    async def _change(self, what: str) -> None:
        async def call(client: Any) -> dict[str, Any]:
            method = client.start_deployment if what == "start" else client.cancel_deployment
            found: dict[str, Any] = await method(self.deployment_id)
            return found

        try:
            self._read(await self.dashboard.api(call))
        except ClientError as error:
            self.notify(error.message or error.code, severity="error")
            return
        self.query_one("#tabs", TabbedContent).active = "steps-tab"
        self._follow()

    @work(group="change", description="the rollback's dry run")
    async def action_rollback(self) -> None:
        """The dry run (what changes, what data is lost since when), then the rollback once
        the environment's name is typed; refusals say why."""
        try:
            dry = await self.dashboard.api(lambda c: c.rollback(self.deployment_id))
        except ClientError as error:
            self.notify(error.message or error.code, severity="error")
            return
        env = str(dry["environment"])
        said = "\n".join(escape(line) for line in describe_dry_run(dry)[:-2])

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._roll_back(env)

        self.app.push_screen(TypeToConfirm(said, env, "Roll back"), confirmed)

    @work(group="change", description="roll back")
    async def _roll_back(self, env: str) -> None:
        try:
            made = await self.dashboard.api(lambda c: c.rollback(self.deployment_id, env))
        except ClientError as error:
            self.notify(error.message or error.code, severity="error")
            return
        self.notify(f"rollback: deployment #{made.get('number')}")
        self.app.push_screen(DeploymentScreen(int(made["id"])))

    def action_send(self) -> None:
        self.query_one("#questions", QuestionsForm).send()

    @on(QuestionsForm.Answers)
    def _answers(self, message: QuestionsForm.Answers) -> None:
        self._answer(message.answers)

    # An explicit description: Textual would make one of the answers (secret ones too) and log
    # it with the worker.
    @work(group="change", description="answer questions")
    async def _answer(self, answers: dict[str, Any]) -> None:
        form = self.query_one("#questions", QuestionsForm)
        try:
            found = await self.dashboard.api(lambda c: c.answer(self.deployment_id, answers))
        except ClientError as error:
            problems = {str(d.get("path")): str(d.get("message")) for d in error.details}
            form.problems = problems
            if not problems:
                self.notify(error.message or error.code, severity="error")
            return
        form.sent()
        self._read(found)
        self.notify(f"{text.plural(len(answers), 'answer')} sent")

    @on(StepsTable.RowSelected, "#steps")
    def action_logs(self) -> None:
        from runway.tui.screens.logs import LogsScreen

        step = self.query_one("#steps", StepsTable).highlighted()
        if step:
            self.app.push_screen(LogsScreen.of_step(self.deployment_id, step))

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Start deployment", "Start this deployment", self.action_start)
        yield SystemCommand("Cancel deployment", "Cancel this deployment", self.action_cancel)
        yield SystemCommand("Step logs", "Logs of the highlighted step", self.action_logs)
        yield SystemCommand(
            "Roll back", "What rolling this deployment back does; then do it", self.action_rollback
        )
