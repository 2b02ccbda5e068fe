"""Run a sweep from the rule editor: a prompt that says what will run (variants, market,
prices, stake) and takes the luck report's settings, and `launch_sweep`, which queues it as
a job (or, without a job runner in the app, runs it here as `r` runs a backtest)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from core.backtest.luck_report import DEFAULT_MIN_BETS, DEFAULT_PBO_BLOCKS
from core.backtest.sweeps import SweepRequest
from core.services import FilterBetsService
from tui.widgets.metrics_panel import fmt_pct
from tui.widgets.styles import PROBLEM

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

SWEEP_GROUP = "sweep-run"


@dataclass(frozen=True)
class SweepOptions:
    min_bets: int
    pbo_blocks: int


class SweepPrompt(ModalScreen[SweepOptions | None]):
    HELP_SCOPE: ClassVar[str] = "Run a sweep"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="sweep_prompt.cancel"),
    ]

    DEFAULT_CSS = """
    SweepPrompt {
        align: center middle;
    }
    SweepPrompt > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        border: round $accent;
        border-title-align: center;
        background: $surface;
        padding: 0 1;
    }
    SweepPrompt #sweep-about {
        height: auto;
        margin-bottom: 1;
    }
    SweepPrompt Horizontal {
        height: 1;
    }
    SweepPrompt .label {
        width: 12;
        color: $text-muted;
    }
    SweepPrompt Input {
        width: 8;
        margin-right: 2;
    }
    SweepPrompt .explain {
        width: 1fr;
        color: $text-muted;
    }
    SweepPrompt #sweep-problem {
        height: auto;
    }
    SweepPrompt .hint {
        color: $text-muted;
        height: auto;
    }
    """

    def __init__(self, about: list[str], variants: int, *, as_job: bool = True) -> None:
        super().__init__()
        self.about = about
        self.variants = variants
        self.as_job = as_job
        """Whether the app queues it (else, without a job runner, it runs here)."""

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Sweep {self.variants:,} variants"
            yield Static(Text("\n".join(self.about)), id="sweep-about")
            with Horizontal():
                yield Static("Min bets", classes="label")
                yield Input(str(DEFAULT_MIN_BETS), id="sweep-min-bets", compact=True)
                yield Static("to be chosen in sample or ranked best", classes="explain")
            with Horizontal():
                yield Static("PBO blocks", classes="label")
                yield Input(str(DEFAULT_PBO_BLOCKS), id="sweep-blocks", compact=True)
                yield Static("date blocks for PBO (even)", classes="explain")
            yield Static("", id="sweep-problem")
            run = "queues it as a job" if self.as_job else "runs it here (no job runner)"
            yield Static(f"enter {run} · esc cancels", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#sweep-min-bets", Input).focus()

    def _options(self) -> SweepOptions | None:
        problem = self.query_one("#sweep-problem", Static)
        values: list[int] = []
        for box, what, smallest in (
            ("#sweep-min-bets", "min bets", 0),
            ("#sweep-blocks", "PBO blocks", 2),
        ):
            text = self.query_one(box, Input).value.strip()
            try:
                value = int(text)
            except ValueError:
                value = -1
            if value < smallest:
                problem.update(
                    Text(f"⚠ {what}: a whole number of {smallest} or more", style=PROBLEM)
                )
                return None
            values.append(value)
        if values[1] % 2:
            problem.update(Text("⚠ PBO blocks: an even number", style=PROBLEM))
            return None
        problem.update("")
        return SweepOptions(values[0], values[1])

    @on(Input.Changed)
    def _changed(self) -> None:
        self._options()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        options = self._options()
        if options is not None:
            self.dismiss(options)

    def action_cancel(self) -> None:
        self.dismiss(None)


def launch_sweep(
    app: App[Any], service: FilterBetsService, request: SweepRequest, label: str
) -> None:
    """Queue the sweep as a job for the app's runner (or any worker); without a runner in
    the app, run it here in an app worker. Either way a toast says so."""
    app.run_worker(
        _launch(cast("FilterBetsApp", app), service, request, label),
        group=SWEEP_GROUP,
        exit_on_error=False,
        name=f"sweep {label}",
    )


async def _launch(
    app: FilterBetsApp, service: FilterBetsService, request: SweepRequest, label: str
) -> None:
    from core.backtest.sweeps import SweepEngine
    from core.jobs.queue import JobQueue
    from core.jobs.sweep_jobs import submit_sweep

    runner = app.job_runner
    if runner is not None:
        try:
            info = await submit_sweep(JobQueue(service.db), service.user_id, request)
        except Exception as error:
            app.report_error(error, doing=f"queueing the sweep of {label}")
            return
        runner.wake()
        app.notify(f"Sweep of {label} queued as job {info.short_id} (Jobs: 2).", title="Sweep")
        return
    app.notify(f"Sweep of {label} started.", title="Sweep")
    app.running_jobs += 1
    try:
        run = await SweepEngine(service.db, service.user_id).run(request)
    except Exception as error:
        app.report_error(error, doing=f"running the sweep of {label}")
        return
    finally:
        app.running_jobs -= 1
    walk = run.report.get("walk_forward") or {}
    app.notify(
        f"{label}: {run.report['trials']:,} variants, walk-forward yield"
        f" {fmt_pct(walk.get('yield'))}. Result #{run.result_id} is on the Results screen (3).",
        title="Sweep done",
        timeout=10,
    )
