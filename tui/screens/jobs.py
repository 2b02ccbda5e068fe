"""The Jobs screen: this user's backtest jobs, live, wherever they run.

The list is read from the database by a self-rescheduling poll (the next one is scheduled
only when the previous one has finished, so polls never overlap): every 0.5 s while a job
is queued or running, every 2 s when idle, and at once when the app's job runner reports a
job starting or ending. Between polls, the progress events of the app's runner (a child
process by default, see core.jobs.child) update their rows in place. Jobs run by `filterbets
worker` processes show up through the poll, with the progress their heartbeats write.

Keys stay quick while jobs run: cells and lines are only redrawn when their text changes,
and the footer (which Textual rebuilds whole) only when the selected job's keys change.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Horizontal, Middle
from textual.events import Resize
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from core.jobs.queue import (
    CANCELLED,
    FAILED,
    INTERRUPTED,
    QUEUED,
    RETRYABLE,
    RUNNING,
    SUCCEEDED,
    JobError,
    JobInfo,
    JobQueue,
)
from core.jobs.runner import JobEvent
from tui.keymap import keys_of
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.metrics_panel import fmt_pct, warning_texts
from tui.widgets.result_kinds import job_market_cell, job_name_cell
from tui.widgets.vim_table import VimDataTable

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

POLL_GROUP = "jobs-poll"
ACTION_GROUP = "jobs-action"
BUSY_POLL = 0.5
"""Seconds between polls while a job is queued or running."""
IDLE_POLL = 2.0
"""Seconds between polls when nothing is."""
LIST_LIMIT = 200
SCROLLBAR_WIDTH = 1
CELL_PADDING = 2
WIDE_FROM = 100
BAR_CELLS = 5
ROW_ACTIONS = ("open", "cancel_job", "retry")
"""The actions whose footer keys depend on the selected job."""
FOOTER_DELAY = 0.2
"""Seconds the cursor rests on a job before the footer shows that job's keys."""

STATUS_STYLES = {
    QUEUED: "",
    RUNNING: "bold cyan",
    SUCCEEDED: "green",
    FAILED: "bold red",
    CANCELLED: "dim",
    INTERRUPTED: "yellow",
}

EMPTY_MESSAGE = """\
[b]No backtest jobs yet.[/b]

On the Filters screen (key [b]1[/b]), pick a filter and
press [b]r[/b]: the backtest is queued and shows up here
with its progress, and its result when it is done."""


def _filterbets(screen: Screen[Any]) -> FilterBetsApp:
    return cast("FilterBetsApp", screen.app)


def progress_bar(fraction: float, cells: int = BAR_CELLS) -> str:
    """`███░░  62%`: whole cells, then the percentage (3 digits wide)."""
    fraction = min(max(fraction, 0.0), 1.0)
    filled = int(fraction * cells + 1e-9)
    return "█" * filled + "░" * (cells - filled) + f" {int(fraction * 100):>3d}%"


def duration(seconds: float | None) -> str:
    """`8s`, `3m05`, `1h02`; blank for None."""
    if seconds is None:
        return ""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}"


def eta_seconds(progress: float, elapsed: float | None) -> float | None:
    """Time left at the rate so far; None until there is a rate to go on."""
    if elapsed is None or progress < 0.01 or elapsed <= 0:
        return None
    return max(0.0, elapsed * (1.0 - progress) / progress)


def _looks(cell: Text) -> tuple[object, ...]:
    """What decides how a cell is drawn (Text's == compares only the text and its spans)."""
    return (cell.plain, str(cell.style), tuple(cell.spans), cell.justify)


@dataclass
class JobRow:
    """A job as the table shows it: the stored job plus the latest event from this process."""

    info: JobInfo
    live: JobEvent | None = None
    live_at: float = 0.0
    """time.monotonic() when `live` arrived."""

    @property
    def key(self) -> str:
        return self.info.job_id.hex

    @property
    def status(self) -> str:
        return self.info.status

    @property
    def shown_status(self) -> str:
        if self.status == RUNNING and self.info.cancel_requested:
            return "cancelling"
        return self.status

    @property
    def progress(self) -> float:
        if self.live is not None and self.status == RUNNING:
            return self.live.progress
        if self.status == SUCCEEDED:
            return 1.0
        return self.info.progress

    def elapsed(self, now: dt.datetime) -> float | None:
        info = self.info
        if self.status == RUNNING:
            if self.live is not None:
                return self.live.elapsed + (time.monotonic() - self.live_at)
            if info.started_at is None:
                return None
            return max(0.0, (now - info.started_at).total_seconds())
        return info.run_seconds

    def eta(self, now: dt.datetime) -> float | None:
        if self.status != RUNNING:
            return None
        if self.live is not None:
            return eta_seconds(self.live.progress, self.live.elapsed)
        info = self.info
        if info.started_at is None or info.heartbeat_at is None:
            return None
        # Both stamps come from the same clock (the database's), so hosts may disagree.
        ran = (info.heartbeat_at - info.started_at).total_seconds()
        left = eta_seconds(info.progress, ran)
        if left is None:
            return None
        return max(0.0, left - max(0.0, (now - info.heartbeat_at).total_seconds()))

    @property
    def detail(self) -> str:
        """The line under the table for the selected job (the table clips the filter name)."""
        info = self.info
        parts = [f"job {info.short_id}", info.title]
        if info.attempt > 1:
            parts.append(f"attempt {info.attempt}")
        if self.status == SUCCEEDED and info.result_id is not None:
            parts.append(f"result #{info.result_id}: enter opens it")
        elif self.status in RETRYABLE:
            # What went wrong first: the line is clipped at the screen's edge.
            parts[1:1] = [f"{self.status}: {info.error or info.message}", "t retries it"]
        elif self.status == RUNNING:
            message = self.live.message if self.live is not None else info.message
            parts.append(f"{message} on {info.worker}" if info.worker else message)
        elif info.message:
            parts.append(info.message)
        return " · ".join(p for p in parts if p)


@dataclass(frozen=True)
class JobColumn:
    key: str
    label: str
    width: int
    """0: takes the room left (at least `min_width`)."""
    cell: Callable[[JobRow, dt.datetime], Text]
    numeric: bool = False
    wide_only: bool = False
    live: bool = False
    """Changes while the job runs (updated in place between polls)."""


def _status_cell(row: JobRow, _now: dt.datetime) -> Text:
    return Text(row.shown_status, style=STATUS_STYLES.get(row.status, ""))


def _progress_cell(row: JobRow, _now: dt.datetime) -> Text:
    if row.status != RUNNING and row.progress <= 0:
        return Text("")  # queued, or ended before any progress
    style = "green" if row.status == SUCCEEDED else "cyan" if row.status == RUNNING else "dim"
    return Text(progress_bar(row.progress), style=style)


def _yield_cell(row: JobRow, _now: dt.datetime) -> Text:
    value = row.info.yield_
    style = "dim" if value is None else "green" if value > 0 else "red" if value < 0 else ""
    return Text(fmt_pct(value) if value is not None else "", style=style, justify="right")


def _bets_cell(row: JobRow, _now: dt.datetime) -> Text:
    bets = row.info.bets
    return Text("" if bets is None else f"{bets:,}", justify="right")


JOB_COLUMNS: tuple[JobColumn, ...] = (
    JobColumn("id", "Job", 8, lambda r, _n: Text(r.info.short_id, style="dim"), wide_only=True),
    JobColumn("status", "Status", 11, _status_cell, live=True),
    JobColumn("filter", "Filter", 0, lambda r, _n: job_name_cell(r.info)),
    JobColumn("market", "Market", 6, lambda r, _n: job_market_cell(r.info)),
    JobColumn("progress", "Progress", 10, _progress_cell, live=True),
    JobColumn(
        "elapsed",
        "Time",
        5,
        lambda r, n: Text(duration(r.elapsed(n)), justify="right"),
        numeric=True,
        live=True,
    ),
    JobColumn(
        "eta",
        "ETA",
        5,
        lambda r, n: Text(duration(r.eta(n)), justify="right"),
        numeric=True,
        live=True,
    ),
    JobColumn("bets", "Bets", 7, _bets_cell, numeric=True),
    JobColumn("yield", "Yield", 8, _yield_cell, numeric=True),
    JobColumn(
        "submitted",
        "At",
        5,
        lambda r, _n: Text(r.info.created_at.astimezone().strftime("%H:%M"), style="dim"),
        wide_only=True,
    ),
)


class JobsScreen(Screen[None]):
    """Backtest jobs, live. c cancels, t retries, enter opens the result."""

    TITLE = "FilterBets · Jobs"
    HELP_SCOPE: ClassVar[str] = "Jobs screen"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open result", id="jobs.open"),
        Binding("c", "cancel_job", "Cancel job", id="jobs.cancel"),
        Binding("t", "retry", "Retry", id="jobs.retry"),
        Binding("R", "retry", "Retry", show=False, id="jobs.retry_shift"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[JobRow] | None = None
        self._by_key: dict[str, JobRow] = {}
        self._layout: tuple[str, ...] = ()
        self._keys: tuple[str, ...] = ()
        self._timer: Timer | None = None
        self._polling = False
        self._poll_again = False
        self._failing = False
        self._footer_state: tuple[bool | None, ...] | None = None
        self._footer_timer: Timer | None = None
        self._cells_shown: dict[tuple[str, str], tuple[object, ...]] = {}
        self._texts_shown: dict[str, str] = {}
        self.polls = 0
        """Polls finished so far (tests watch it)."""
        self.table = VimDataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        """Kept, not queried: the footer and its timer ask which job is selected, and may
        ask while the app closes and the screen's widgets are gone."""

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="jobs-bar", classes="bar"):
            yield Static("", id="jobs-summary", classes="bar-summary")
            yield Static("", id="jobs-runner", classes="bar-status")
        yield self.table
        with Middle(id="jobs-empty"), Center():
            yield Static(EMPTY_MESSAGE, id="jobs-empty-message", classes="empty-message")
        yield Static("", id="jobs-detail", classes="bar hint")
        yield Static("", id="jobs-warnings")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for hidden in ("#jobs-table", "#jobs-empty", "#jobs-warnings"):
            self.query_one(hidden).display = False
        self._set_summary("Connecting…")
        self.watch(self.app, "service", self._service_changed, init=True)

    def _service_changed(self, service: object) -> None:
        if service is not None:
            self.poll_now()

    def on_screen_resume(self) -> None:
        self.poll_now()

    @property
    def showing(self) -> bool:
        """On screen, perhaps under a modal (a question, help): worth keeping up to date."""
        return self.is_mounted and self in self.app.screen_stack

    # Polling ---------------------------------------------------------------------------

    def _queue(self) -> JobQueue | None:
        service = _filterbets(self).service
        return None if service is None else JobQueue(service.db)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def poll_now(self) -> None:
        """Read the jobs now, or right after the poll in flight finishes."""
        if not self.showing:
            self._stop_timer()
            return  # resumed later with a poll of its own
        if self._polling:
            self._poll_again = True
            return
        queue = self._queue()
        service = _filterbets(self).service
        if queue is None or service is None:
            return
        self._stop_timer()
        self._polling = True
        self._poll(queue, service.user_id)

    def _schedule_next(self) -> None:
        self._stop_timer()
        if not self.showing:
            return  # resumed later with a poll of its own
        busy = any(row.status in (QUEUED, RUNNING) for row in self.rows or ())
        delay = IDLE_POLL if self._failing else BUSY_POLL if busy else IDLE_POLL
        self._timer = self.set_timer(delay, self.poll_now, name="jobs-poll")

    @work(group=POLL_GROUP, exit_on_error=False, name="reading the jobs")
    async def _poll(self, queue: JobQueue, user_id: int) -> None:
        jobs = await queue.list(user_id=user_id, limit=LIST_LIMIT)
        self._polled(jobs)

    def _polled(self, jobs: list[JobInfo]) -> None:
        self._polling = False
        self._failing = False
        self.polls += 1
        self.show_jobs(jobs)
        self._after_poll()

    def _after_poll(self) -> None:
        if self._poll_again:
            self._poll_again = False
            self.poll_now()
        else:
            self._schedule_next()

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker, error = event.worker, event.worker.error
        if event.state is not WorkerState.ERROR or error is None:
            if worker.group == POLL_GROUP and event.state is WorkerState.CANCELLED:
                self._polling = False
            return
        if worker.group == POLL_GROUP:
            self._polling = False
            if not self._failing:  # once per outage, not on every retry
                _filterbets(self).report_error(error, doing="reading the jobs")
            self._failing = True
            if self.rows is None:
                self._set_summary("Cannot read the jobs; retrying…")
            self._after_poll()
        elif worker.group == ACTION_GROUP:
            _filterbets(self).report_error(error, doing=f"with the job ({worker.name})")
            self.poll_now()

    def runner_event(self, event: JobEvent) -> None:
        """A job of the app's runner moved: update its row, or re-read on a change."""
        row = self._by_key.get(event.job_id.hex)
        if row is None or event.status != RUNNING or row.status != RUNNING:
            self.poll_now()
            return
        row.live, row.live_at = event, time.monotonic()
        self._update_live_cells(row)
        if row.key == self._selected_key():
            self._show_detail()

    # Showing ---------------------------------------------------------------------------

    def _set_summary(self, text: str) -> None:
        self._set_text("#jobs-summary", text)

    def _set_text(self, selector: str, text: str) -> None:
        """Update a line unless it already says this (an update lays the screen out again)."""
        if self._texts_shown.get(selector) != text:
            self._texts_shown[selector] = text
            self.query_one(selector, Static).update(Text(text))

    def show_jobs(self, jobs: list[JobInfo]) -> None:
        old = self._by_key
        rows = []
        for info in jobs:
            previous = old.get(info.job_id.hex)
            row = JobRow(info)
            live = previous.live if previous is not None else None
            if live is not None and info.status == RUNNING and live.progress >= info.progress:
                row.live, row.live_at = live, previous.live_at if previous else 0.0
            rows.append(row)
        self.rows = rows
        self._by_key = {row.key: row for row in rows}
        table = self.table
        empty = not rows
        table.display = not empty
        self.query_one("#jobs-empty").display = empty
        self.query_one("#jobs-detail").display = not empty
        self._show_summary()
        self._build_table()
        if not empty and self.focused is None:
            table.focus()
        self._show_detail()
        self._refresh_footer()

    def _refresh_footer(self) -> None:
        """Show the keys that apply to the selected job, once the cursor has rested for
        FOOTER_DELAY, and only when they change. (Textual rebuilds the whole footer on a
        refresh, 20-40 ms of work: on every poll and cursor move, keys waited behind it.)"""
        if self._footer_timer is not None:
            self._footer_timer.stop()
        self._footer_timer = self.set_timer(FOOTER_DELAY, self._refresh_footer_now)

    def _refresh_footer_now(self) -> None:
        self._footer_timer = None
        state = tuple(self.check_action(action, ()) for action in ROW_ACTIONS)
        if state != self._footer_state:
            self._footer_state = state
            self.refresh_bindings()

    def _show_summary(self) -> None:
        rows = self.rows or []
        if not rows:
            self._set_summary("No jobs yet")
        else:
            counts: dict[str, int] = {}
            for row in rows:
                counts[row.status] = counts.get(row.status, 0) + 1
            parts = [f"{len(rows):,} job{'s' if len(rows) != 1 else ''}"]
            parts += [f"{counts[s]} {s}" for s in (RUNNING, QUEUED, FAILED) if counts.get(s)]
            self._set_summary(" · ".join(parts))
        runner = getattr(self.app, "job_runner", None)
        where = (
            f"runs here, {runner.concurrency} at a time"
            if runner is not None
            else "no runner here: start `filterbets worker`"
        )
        self._set_text("#jobs-runner", where)

    def _columns(self) -> list[tuple[JobColumn, int]]:
        available = max(0, self.size.width - SCROLLBAR_WIDTH)
        wide = available >= WIDE_FROM
        chosen = [c for c in JOB_COLUMNS if wide or not c.wide_only]
        fixed = sum(c.width + CELL_PADDING for c in chosen if c.width) + CELL_PADDING
        flexible = max(10, available - fixed)
        return [(c, c.width or flexible) for c in chosen]

    def _cells(self, row: JobRow, columns: list[tuple[JobColumn, int]]) -> list[Text]:
        now = dt.datetime.now(dt.UTC)
        cells = []
        for column, width in columns:
            cell = column.cell(row, now)
            if not column.numeric:
                cell.truncate(width, overflow="ellipsis")
            cells.append(cell)
        return cells

    def _build_table(self, *, force: bool = False) -> None:
        if self.rows is None:
            return
        columns = self._columns()
        layout = tuple(f"{c.key}:{w}" for c, w in columns)
        keys = tuple(row.key for row in self.rows)
        table = self.table
        if not force and layout == self._layout and keys == self._keys:
            # Same rows in the same order: rewrite the changed cells in place (no flicker,
            # cursor kept).
            for row in self.rows:
                for (column, _width), cell in zip(columns, self._cells(row, columns), strict=True):
                    self._set_cell(table, row.key, column.key, cell)
            return
        self._layout, self._keys = layout, keys
        selected = self._selected_key()
        self._cells_shown.clear()
        table.clear(columns=True)
        for column, width in columns:
            label = Text(column.label, justify="right" if column.numeric else "left")
            table.add_column(label, key=column.key, width=width)
        for row in self.rows:
            cells = self._cells(row, columns)
            table.add_row(*cells, key=row.key)
            for (column, _width), cell in zip(columns, cells, strict=True):
                self._cells_shown[row.key, column.key] = _looks(cell)
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected), animate=False)

    def _update_live_cells(self, row: JobRow) -> None:
        table = self.table
        if row.key not in table.rows:
            return
        columns = self._columns()
        for (column, _width), cell in zip(columns, self._cells(row, columns), strict=True):
            if column.live:
                self._set_cell(table, row.key, column.key, cell)

    def _set_cell(self, table: VimDataTable, row_key: str, column_key: str, cell: Text) -> None:
        """Update a cell unless it already shows this (each update re-renders the table)."""
        looks = _looks(cell)
        if self._cells_shown.get((row_key, column_key)) != looks:
            self._cells_shown[row_key, column_key] = looks
            table.update_cell(row_key, column_key, cell)

    def on_resize(self, _event: Resize) -> None:
        self._build_table(force=True)

    @on(DataTable.RowHighlighted, "#jobs-table")
    def _row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_detail()
        self._refresh_footer()

    def _show_detail(self) -> None:
        row = self.selected()
        self._set_text("#jobs-detail", row.detail if row else "")
        # A finished run's warnings (why it placed no bets, say), as its result shows them.
        warnings = row.info.warnings if row and row.status == SUCCEEDED else ()
        shown = "\n".join(warnings)
        if self._texts_shown.get("#jobs-warnings") != shown:
            self._texts_shown["#jobs-warnings"] = shown
            box = self.query_one("#jobs-warnings", Static)
            box.update(Text("\n").join(warning_texts({"warnings": list(warnings)})))
            box.display = bool(warnings)

    def _selected_key(self) -> str | None:
        table = self.table
        if not self.rows or not table.is_valid_row_index(table.cursor_row):
            return None
        return str(table.ordered_rows[table.cursor_row].key.value)

    def selected(self) -> JobRow | None:
        key = self._selected_key()
        return None if key is None else self._by_key.get(key)

    def select_job(self, job_id: uuid.UUID) -> bool:
        """Put the cursor on a job; False when it is not listed (yet)."""
        table = self.table
        if job_id.hex not in table.rows:
            return False
        table.move_cursor(row=table.get_row_index(job_id.hex), animate=False)
        return True

    # Actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer offers only what applies to the selected job; a key pressed anyway
        says why not (`on_key`)."""
        row = self.selected()
        if action == "open":
            return bool(row and row.status == SUCCEEDED and row.info.result_id)
        if action == "cancel_job":
            return bool(row and row.status in (QUEUED, RUNNING))
        if action == "retry":
            return bool(row and row.status in RETRYABLE)
        return True

    def on_key(self, event: events.Key) -> None:
        """A key of a job action that does not apply to the selected job: say why, in the
        CLI's words (the queue's own refusal), instead of doing nothing."""
        row = self.selected()
        if row is None:
            return
        for binding in (b for bs in self._bindings.key_to_bindings.values() for b in bs):
            action = binding.action
            if action not in ROW_ACTIONS or event.key not in keys_of(self, binding):
                continue
            if self.check_action(action, ()):
                return  # it applies: the binding runs it
            event.stop()
            event.prevent_default()
            if action == "open":
                self.notify(
                    f"Job {row.info.short_id} is {row.shown_status}: it has no result to open"
                    " (a job has one once it has succeeded).",
                    title="Jobs",
                    severity="warning",
                )
            elif action == "cancel_job":
                self._cancel(row.info.job_id)
            else:
                self._retry(row.info.job_id)
            return

    async def action_open(self) -> None:
        row = self.selected()
        if row is None or row.info.result_id is None:
            return
        await _filterbets(self).open_result(row.info.result_id)

    @on(DataTable.RowSelected, "#jobs-table")
    async def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.check_action("open", ()):
            await self.action_open()

    def action_cancel_job(self) -> None:
        row = self.selected()
        if row is None or row.status not in (QUEUED, RUNNING):
            return
        what = "running" if row.status == RUNNING else "queued"
        message = f"Cancel the {what} job {row.info.short_id} ({row.info.title})?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel(row.info.job_id)

        self.app.push_screen(ConfirmScreen(message, title="Cancel job", yes="Cancel job"), answered)

    @work(group=ACTION_GROUP, exit_on_error=False, name="cancel")
    async def _cancel(self, job_id: uuid.UUID) -> None:
        fb = _filterbets(self)
        service = fb.service
        if service is None:
            return
        try:
            if fb.job_runner is not None:
                info = await fb.job_runner.cancel(job_id, user_id=service.user_id)
            else:
                info = await JobQueue(service.db).cancel(job_id, user_id=service.user_id)
        except JobError as refused:  # it has finished (perhaps since the question)
            self.notify(str(refused), title="Jobs", severity="warning")
            self.poll_now()
            return
        state = "cancelled" if info.status == CANCELLED else "cancelling"
        self.notify(f"Job {info.short_id} {state}.", title="Jobs")
        self.poll_now()

    def action_retry(self) -> None:
        row = self.selected()
        if row is not None:
            self._retry(row.info.job_id)

    @work(group=ACTION_GROUP, exit_on_error=False, name="retry")
    async def _retry(self, job_id: uuid.UUID) -> None:
        fb = _filterbets(self)
        service = fb.service
        if service is None:
            return
        try:
            info = await JobQueue(service.db).retry(job_id, user_id=service.user_id)
        except JobError as refused:
            self.notify(str(refused), title="Jobs", severity="warning")
            self.poll_now()
            return
        if fb.job_runner is not None:
            fb.job_runner.wake()
        self.notify(f"Job {info.short_id} queued again.", title="Jobs")
        self.poll_now()
