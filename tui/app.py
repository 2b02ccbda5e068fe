"""The FilterBets dashboard: a Textual app with one mode per screen.

`run_app(settings)` is the entry point the CLI calls; it returns the process exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy.exc import SQLAlchemyError
from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from core.config import Settings
from core.dberrors import describe_database_error
from core.errors import FilterBetsError
from core.jobs.child import ChildRunner
from core.jobs.queue import CANCELLED, FAILED, SUCCEEDED, JobQueue
from core.jobs.runner import JobEvent, JobRunner
from core.services import FilterBetsService
from tui import compat
from tui.commands import FilterBetsCommands
from tui.keymap import apply_user_keymap
from tui.screens import DEFAULT_MODE, SCREEN_MODES
from tui.screens.jobs import JobsScreen
from tui.screens.results import ResultsScreen
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.help import HelpScreen, help_entries

compat.apply()

SERVICE_WORKER_GROUP = "service"
JOBS_WORKER_GROUP = "job-runner"
ANNOUNCE_WORKER_GROUP = "job-announce"
ENV_JOB_CONCURRENCY = "FILTERBETS_JOB_CONCURRENCY"
DEFAULT_JOB_CONCURRENCY = 2
QUIT_GRACE = 0.5
"""Seconds running jobs get to finish on quit before they go back to the queue."""
UI_SWITCH_INTERVAL = 0.001
"""sys.setswitchinterval while the app runs jobs in its own process (jobs_in_child=False). A
backtest computes in threads; with Python's default 5 ms, the UI thread waits up to that for
the GIL at every turn of the event loop, and a key press took 100-300 ms. The default runs
jobs in a child process (core.jobs.child) instead, where they cannot hold the UI's GIL."""


def job_concurrency() -> int:
    """How many jobs the dashboard runs at once: FILTERBETS_JOB_CONCURRENCY, default 2;
    0 runs none here (leave them to `filterbets worker` processes)."""
    raw = os.environ.get(ENV_JOB_CONCURRENCY, "").strip()
    if not raw:
        return DEFAULT_JOB_CONCURRENCY
    try:
        value = int(raw)
    except ValueError as exc:
        raise FilterBetsError(
            f"{ENV_JOB_CONCURRENCY}={raw!r}: give a whole number of jobs (0 runs none here)"
        ) from exc
    if value < 0:
        raise FilterBetsError(f"{ENV_JOB_CONCURRENCY}={raw!r}: cannot be negative")
    return value


SCREENS_GROUP = Binding.Group("Screens", compact=True)
"""The footer shows the mode keys as one item, "12345 Screens", to leave room at 80 columns."""
FOOTER_PALETTE_FROM = 100
"""Terminal columns from which the footer also shows ^p Commands."""


class JobEventMessage(Message):
    """A JobEvent from the app's runner, delivered on the app's message queue."""

    def __init__(self, event: JobEvent) -> None:
        super().__init__()
        self.event = event


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def _shorten_home(text: str) -> str:
    """Show the home directory as ~, so a default SQLite path fits an 80-column header."""
    home = str(Path.home())
    return text.replace(home + os.sep, "~" + os.sep) if home != os.sep else text


def describe_error(error: BaseException, settings: Settings) -> str:
    """One line, without a traceback, for a failure the user can cause or fix."""
    backend = settings.describe_backend()
    if isinstance(error, FilterBetsError):
        return _first_line(str(error))
    database_failure = describe_database_error(error, backend)  # the CLI's wording too
    if database_failure is not None:
        return database_failure
    if isinstance(error, SQLAlchemyError):
        return f"database error on {backend}: {_first_line(str(error))}"
    from alembic.util.exc import CommandError  # imported here: alembic is slow to import

    if isinstance(error, CommandError):
        return f"cannot bring the schema of {backend} up to date: {_first_line(str(error))}"
    detail = _first_line(str(error))
    return f"unexpected error: {type(error).__name__}" + (f": {detail}" if detail else "")


class FilterBetsApp(App[None]):
    """The dashboard. Screens are modes (see `tui.screens.SCREEN_MODES`)."""

    TITLE = "FilterBets"
    CSS_PATH = "app.tcss"
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (FOOTER_PALETTE_FROM, "-wide"),
    ]
    CSS = """
    /* Below 100 columns the footer keeps its room for the screen's keys, ? and q;
       ctrl+p still opens the command palette, and ? lists it. */
    Screen.-narrow FooterKey.-command-palette {
        display: none;
    }
    /* A space after a key group's label ("12345 Screens"), as after any other key. */
    Footer.-compact FooterLabel {
        margin: 0 1 0 0;
    }
    """
    HELP_SCOPE: ClassVar[str] = "Global"

    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        mode.name: mode.screen for mode in SCREEN_MODES
    }
    DEFAULT_MODE: ClassVar[str] = DEFAULT_MODE

    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(
                mode.key,
                f"switch_mode('{mode.name}')",
                mode.title,
                id=f"mode.{mode.name}",
                group=SCREENS_GROUP,
            )
            for mode in SCREEN_MODES
        ),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding(
            "ctrl+p",
            "command_palette",
            "Commands",
            show=False,
            priority=True,
            id="app.command_palette",
        ),
    ]

    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {
        *App.COMMANDS,
        FilterBetsCommands,
    }

    service: var[FilterBetsService | None] = var(None)
    """The open service, or None until the startup worker has opened it."""
    running_jobs: var[int] = var(0)
    """Backtest jobs running now; shown in the header when there are any."""
    jobs_done: var[int] = var(0)
    """Jobs of the app's runner that have succeeded so far: screens showing last results
    re-read on it (a quick job can start and end between two looks at running_jobs)."""

    def __init__(
        self,
        settings: Settings,
        *,
        service: FilterBetsService | None = None,
        run_jobs: bool | None = None,
        jobs_in_child: bool = True,
    ) -> None:
        """`service`: an already-open service to use (and leave open), e.g. in tests.

        `run_jobs`: run queued backtest jobs in this process (a JobRunner on the service's
        database). By default it does when the app opens the service itself.

        `jobs_in_child`: run them in a child process the app owns (core.jobs.child, the
        default: a backtest's CPU work never delays a key), or on this event loop (False).
        """
        super().__init__()
        self.settings = settings
        self.run_jobs = service is None if run_jobs is None else run_jobs
        self.jobs_in_child = jobs_in_child
        self.job_runner: JobRunner | ChildRunner | None = None
        """The app's runner, once started (the Filters screen's r queues through it)."""
        self._unsubscribe: Callable[[], None] | None = None
        self._switch_interval: float | None = None
        self.fatal_error: str | None = None
        """Why the app gave up (exit code 1), as one line for the terminal."""
        self._owns_service = service is None
        if service is not None:
            self.set_reactive(FilterBetsApp.service, service)
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            self.animation_level = "none"
        self.sub_title = self._header_text()

    # Header ----------------------------------------------------------------------------

    def _header_text(self) -> str:
        parts = [_shorten_home(self.settings.describe_backend()), f"user {self.settings.user_name}"]
        if self.running_jobs:
            parts.append(f"{self.running_jobs} job{'s' if self.running_jobs != 1 else ''} running")
        return " · ".join(parts)

    def watch_running_jobs(self) -> None:
        self.sub_title = self._header_text()

    # Service lifecycle -----------------------------------------------------------------

    def on_mount(self) -> None:
        apply_user_keymap(self)  # FILTERBETS_KEYMAP or keys.toml: binding ids to keys
        if self.service is None:
            self._open_service()
        elif self.run_jobs:
            self._start_jobs(self.service)

    @work(exit_on_error=False, group=SERVICE_WORKER_GROUP, name="open the database")
    async def _open_service(self) -> None:
        service = await FilterBetsService.open(self.settings)
        self.service = service
        # Only news is worth a toast: a schema created or upgraded just now.
        if service.schema_status is not None and service.schema_status.changed:
            self.notify(service.schema_status.describe(), title="Database")
        # Before any job runs: a backtest must not read features an import left undone.
        repaired = await service.repair_features()
        if repaired is not None:
            self.notify(repaired, title="Database", timeout=15)
        if self.run_jobs:
            self._start_jobs(service)

    @on(Worker.StateChanged)
    def _service_worker_changed(self, event: Worker.StateChanged) -> None:
        worker, error = event.worker, event.worker.error
        if worker.group == SERVICE_WORKER_GROUP and event.state is WorkerState.ERROR and error:
            self.report_error(error, fatal=True)
        if worker.group == JOBS_WORKER_GROUP and event.state is WorkerState.ERROR and error:
            self.report_error(error, doing="starting the job runner")

    async def on_unmount(self) -> None:
        await self.stop_jobs()
        if self._owns_service and self.service is not None:
            await self.service.close()

    # Jobs ------------------------------------------------------------------------------

    @work(exit_on_error=False, group=JOBS_WORKER_GROUP, name="start the job runner")
    async def _start_jobs(self, service: FilterBetsService) -> None:
        concurrency = job_concurrency()
        if concurrency == 0:
            return
        runner: JobRunner | ChildRunner
        if self.jobs_in_child:
            runner = ChildRunner(
                self.settings,
                service.db,
                user_id=service.user_id,
                concurrency=concurrency,
                on_exit=self._runner_exited,
            )
        else:
            runner = JobRunner(service.db, concurrency=concurrency, user_id=service.user_id)

        def forward(event: JobEvent) -> None:
            self.post_message(JobEventMessage(event))

        self._unsubscribe = runner.subscribe(forward)
        if isinstance(runner, ChildRunner):
            self.job_runner = runner  # r queues at once; the child claims once it is up
        try:
            reaped = await runner.start()
        except BaseException:
            self._unsubscribe()
            self._unsubscribe = None
            if self.job_runner is runner:
                self.job_runner = None
            raise
        self.job_runner = runner
        if isinstance(runner, JobRunner) and self._switch_interval is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, UI_SWITCH_INTERVAL))
        if isinstance(self.screen, JobsScreen):
            self.screen.poll_now()
        interrupted = [info for info in reaped if info.user_id == service.user_id]
        if interrupted:
            n = len(interrupted)
            self.notify(
                f"{n} job{'s were' if n != 1 else ' was'} interrupted; retry them from Jobs (2).",
                title="Jobs",
                severity="warning",
                timeout=10,
            )

    async def stop_jobs(self, grace: float = QUIT_GRACE) -> None:
        """Stop the runner: running jobs get `grace` seconds, then go back to the queue."""
        runner, self.job_runner = self.job_runner, None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if runner is not None:
            await runner.stop(grace)
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        self.running_jobs = 0

    def _runner_exited(self, reason: str) -> None:
        """The child running the jobs ended by itself: say so; the queue keeps its jobs."""
        self.job_runner = None
        self.running_jobs = 0
        self.report_error(
            FilterBetsError(f"{reason}; queued jobs wait for `filterbets worker` or a restart"),
            doing="running jobs",
        )
        for screen in self._jobs_screens():
            screen.poll_now()

    @on(JobEventMessage)
    def _job_event(self, message: JobEventMessage) -> None:
        event = message.event
        runner = self.job_runner
        self.running_jobs = len(runner.running) if runner is not None else 0
        for screen in self._jobs_screens():
            screen.runner_event(event)
        if event.status == SUCCEEDED:
            self.jobs_done += 1
        if self._jobs_screens() and event.status in (SUCCEEDED, CANCELLED):
            return  # the table shows it
        if event.status == SUCCEEDED:
            self._announce_done(event)
        elif event.status == FAILED:
            self.notify(
                f"Job {event.short_id} failed: {event.error or event.message}",
                title="Job failed",
                severity="error",
                timeout=10,
            )
        elif event.status == CANCELLED:
            self.notify(f"Job {event.short_id} cancelled.", title="Jobs")

    @work(group=ANNOUNCE_WORKER_GROUP, exit_on_error=False)
    async def _announce_done(self, event: JobEvent) -> None:
        """Say a job is done, with its result's warnings (why it placed no bets, say)."""
        done = f"Job {event.short_id} done: result #{event.result_id} (Jobs: 2, Results: 3)."
        warnings: tuple[str, ...] = ()
        title = "Backtest done"
        service = self.service
        if service is not None:
            try:
                info = await JobQueue(service.db).get(event.job_id)
            except (FilterBetsError, SQLAlchemyError, OSError) as error:
                self.log.error(f"reading the warnings of job {event.short_id}: {error!r}")
            else:
                warnings = info.warnings
                title = "Sweep done" if info.kind == "sweep" else title
        if warnings:
            lines = "\n".join(f"⚠ {warning}" for warning in warnings)
            self.notify(f"{done}\n{lines}", title=title, severity="warning", timeout=15)
        else:
            self.notify(done, title=title)

    def _jobs_screens(self) -> list[JobsScreen]:
        """The Jobs screen if it is showing, perhaps under a modal (a hidden one re-reads when
        shown again)."""
        return [screen for screen in self.screen_stack if isinstance(screen, JobsScreen)]

    async def on_event(self, event: events.Event) -> None:
        if self._exit and isinstance(event, events.InputEvent):
            # Quitting: a key typed after q (say i) must not open a screen now, which would
            # never be composed and fail on its first query of its own widgets.
            return
        await super().on_event(event)

    # Errors ----------------------------------------------------------------------------

    def report_error(self, error: BaseException, *, doing: str = "", fatal: bool = False) -> str:
        """The one place errors reach the user: a notification, or exit code 1 if `fatal`.

        Returns the line shown. The full error goes to the Textual log (`textual console`).
        """
        message = describe_error(error, self.settings)
        self.log.error(f"{doing or 'error'}: {error!r}")
        if fatal:
            self.fatal_error = message
            self.exit(return_code=1)
        else:
            title = f"Error {doing}" if doing else "Error"
            self.notify(message, title=title, severity="error", timeout=10)
        return message

    # Actions ---------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Quit; with jobs running here, ask first (they go back to the queue)."""
        running = len(self.job_runner.running) if self.job_runner is not None else 0
        if not running:
            self.exit()
            return
        if isinstance(self.screen, ConfirmScreen):
            return
        jobs = f"{running} backtest job{'s are' if running != 1 else ' is'} running here."
        them = "them" if running != 1 else "it"

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(
            ConfirmScreen(
                f"{jobs} Quit and put {them} back in the queue?"
                f" (A worker or the next dashboard picks {them} up.)",
                title="Quit",
                yes="Quit",
            ),
            answered,
        )

    async def open_result(self, result_id: int) -> None:
        """Show a stored result's detail on the Results screen, whatever that screen showed
        (a detail or comparison opened there before is closed first)."""
        await self.switch_mode("results")
        while len(self.screen_stack) > 1 and not isinstance(self.screen, ResultsScreen):
            await self.pop_screen()
        if isinstance(self.screen, ResultsScreen):
            self.screen.open_result(result_id)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's, less its Keys panel: the palette's Keys opens the same help as ?."""
        for command in super().get_system_commands(screen):
            if command.title != "Keys":
                yield command

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(help_entries(self.screen)))


def run_app(settings: Settings) -> int:
    """Run the dashboard in this terminal; returns the exit code (1 when it cannot start)."""
    app = FilterBetsApp(settings)
    app.run()
    if app.fatal_error:
        print(f"filterbets: {app.fatal_error}", file=sys.stderr)
    return app.return_code or 0
