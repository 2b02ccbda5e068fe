"""Pick candles, a strategy and its parameters, and run it as a job.

Each parameter takes one value, a list (``5,10,20``) or a range (``5..50/5``: from 5 to 50
in steps of 5, both ends in). A list or a range in any parameter makes the job a sweep of the
strategy over those values (walk-forward by month, PBO), as `filterbets sweep --strategy`.
Everything is checked as the CLI checks it before the job is queued; a problem shows as one
line in the prompt.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Select, Static

from core.candles.execution import DEFAULT_FEE
from core.candles.request import StrategyRequest
from core.candles.store import SeriesInfo
from core.candles.strategies import STRATEGIES
from core.candles.sweep import StrategySweepRequest
from core.errors import FilterBetsError

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

_RANGE = re.compile(r"^\s*(-?[\d.]+)\s*\.\.\s*(-?[\d.]+)\s*(?:/\s*([\d.]+))?\s*$")

StrategyJob = StrategyRequest | StrategySweepRequest


def _number(text: str, name: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a number") from None


def parse_values(text: str, name: str) -> Any:
    """None (the default), one number, a list of numbers, or a range {"from", "to", "step"}."""
    text = text.strip()
    if not text:
        return None
    found = _RANGE.match(text)
    if found is not None:
        start, stop, step = found.groups()
        return {
            "from": _number(start, name),
            "to": _number(stop, name),
            "step": _number(step or "1", name),
        }
    if "," in text:
        return [_number(item.strip(), name) for item in text.split(",") if item.strip()]
    return _number(text, name)


def _date(text: str, name: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None


def _optional(text: str, name: str) -> float | None:
    return None if not text.strip() else float(_number(text.strip(), name))


@dataclass(frozen=True)
class PromptValues:
    """What the prompt's fields hold, as typed."""

    series: SeriesInfo
    strategy: str
    params: dict[str, str]
    date_from: str = ""
    date_to: str = ""
    fee: str = ""
    stop_loss: str = ""
    take_profit: str = ""
    long_short: bool = False


def build_job(values: PromptValues) -> StrategyJob:
    """The validated run or sweep the fields describe; ValueError or FilterBetsError (one
    line naming the field) when they cannot run."""
    fixed: dict[str, Any] = {}
    grid: dict[str, Any] = {}
    for name, text in values.params.items():
        parsed = parse_values(text, name)
        if isinstance(parsed, list | dict):
            grid[name] = parsed
        elif parsed is not None:
            fixed[name] = parsed
    base = StrategyRequest(
        symbol=values.series.symbol,
        timeframe=values.series.timeframe,
        strategy=values.strategy,
        params=fixed,
        exchange=values.series.exchange,
        date_from=_date(values.date_from, "from"),
        date_to=_date(values.date_to, "to"),
        fee=DEFAULT_FEE if not values.fee.strip() else float(_number(values.fee.strip(), "fee")),
        stop_loss_pct=_optional(values.stop_loss, "stop-loss"),
        take_profit_pct=_optional(values.take_profit, "take-profit"),
        long_short=values.long_short,
    )
    if grid:
        return StrategySweepRequest(base, grid).validated()
    return base.validated()


def job_label(job: StrategyJob) -> str:
    if isinstance(job, StrategySweepRequest):
        base = job.base
        return f"sweep of {base.strategy} on {base.symbol} {base.timeframe}"
    return job.title


class StrategyPrompt(ModalScreen[StrategyJob | None]):
    """ctrl+r (or enter in a field) queues the job, escape cancels."""

    HELP_SCOPE: ClassVar[str] = "Strategy run"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="strategy_prompt.cancel"),
        Binding("ctrl+r", "submit", "Run as a job", id="strategy_prompt.submit"),
    ]

    DEFAULT_CSS = """
    StrategyPrompt {
        align: center middle;
    }
    StrategyPrompt > Vertical {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $accent;
        border-title-align: center;
        background: $surface;
        padding: 0 1;
    }
    StrategyPrompt .row {
        height: 1;
        margin-bottom: 1;
    }
    StrategyPrompt .row Label {
        width: 11;
    }
    StrategyPrompt .row Input, StrategyPrompt .row Select {
        width: 1fr;
    }
    StrategyPrompt .row .short {
        width: 14;
    }
    StrategyPrompt .row .gap {
        width: 2;
    }
    StrategyPrompt #strategy-params {
        height: auto;
    }
    StrategyPrompt #strategy-error {
        color: $error;
        height: auto;
    }
    StrategyPrompt .hint {
        color: $text-muted;
    }
    """

    def __init__(
        self,
        series: Sequence[SeriesInfo],
        *,
        chosen: SeriesInfo | None = None,
        request: StrategyRequest | None = None,
    ) -> None:
        """`chosen` (the candles to start with) and `request` (fields to start with) are
        optional; the candles must hold at least one series."""
        super().__init__()
        self.series = list(series)
        self.request = request
        start = chosen
        if request is not None:
            start = next(
                (
                    s
                    for s in self.series
                    if (s.symbol, s.timeframe) == (request.symbol, request.timeframe)
                    and s.exchange == (request.exchange or s.exchange)
                ),
                chosen,
            )
        self.chosen = start or self.series[0]
        self.strategy = request.strategy if request is not None else "sma_cross"

    def compose(self) -> ComposeResult:
        request = self.request
        with Vertical() as box:
            box.border_title = "Run a strategy as a job"
            with Horizontal(classes="row"):
                yield Label("Candles")
                yield Select(
                    [
                        (f"{s.label} · {s.bars:,} bars", index)
                        for index, s in enumerate(self.series)
                    ],
                    value=self.series.index(self.chosen),
                    allow_blank=False,
                    compact=True,
                    id="strategy-series",
                )
            with Horizontal(classes="row"):
                yield Label("Strategy")
                yield Select(
                    [(f"{name} · {s.description}", name) for name, s in STRATEGIES.items()],
                    value=self.strategy,
                    allow_blank=False,
                    compact=True,
                    id="strategy-name",
                )
            yield Vertical(id="strategy-params")
            with Horizontal(classes="row"):
                yield Label("From")
                yield Input(
                    _iso(request.date_from if request else None),
                    placeholder="YYYY-MM-DD",
                    compact=True,
                    classes="short",
                    id="strategy-from",
                )
                yield Static("", classes="gap")
                yield Label("To")
                yield Input(
                    _iso(request.date_to if request else None),
                    placeholder="YYYY-MM-DD",
                    compact=True,
                    classes="short",
                    id="strategy-to",
                )
            with Horizontal(classes="row"):
                yield Label("Fee")
                yield Input(
                    "" if request is None else f"{request.fee:g}",
                    placeholder=f"{DEFAULT_FEE:g}",
                    compact=True,
                    classes="short",
                    id="strategy-fee",
                )
                yield Static("", classes="gap")
                yield Label("Stop %")
                yield Input(
                    _text(request.stop_loss_pct if request else None),
                    compact=True,
                    classes="short",
                    id="strategy-stop",
                )
            with Horizontal(classes="row"):
                yield Label("Target %")
                yield Input(
                    _text(request.take_profit_pct if request else None),
                    compact=True,
                    classes="short",
                    id="strategy-target",
                )
                yield Static("", classes="gap")
                yield Checkbox(
                    "Long/short",
                    request.long_short if request else False,
                    compact=True,
                    id="strategy-long-short",
                )
            yield Static("", id="strategy-error")
            yield Static(
                "a value, a list 5,10,20 or a range 5..50/5 (a list or range: a sweep)\n"
                "ctrl+r run as a job · esc cancel · tab next field",
                classes="hint",
            )

    async def on_mount(self) -> None:
        await self._show_params(self.strategy, self.request.params if self.request else {})
        self.query_one("#strategy-series", Select).focus()

    async def _show_params(self, name: str, values: dict[str, Any]) -> None:
        box = self.query_one("#strategy-params", Vertical)
        await box.remove_children()
        rows = []
        for param in STRATEGIES[name].params:
            given = values.get(param.name)
            rows.append(
                Horizontal(
                    Label(param.name),
                    Input(
                        "" if given is None else f"{given:g}",
                        placeholder=f"{param.default:g} ({param.help})",
                        compact=True,
                        id=f"param-{param.name}",
                    ),
                    classes="row",
                )
            )
        if not rows:
            rows.append(Horizontal(Label(""), Static("(no parameters)"), classes="row"))
        await box.mount_all(rows)

    @on(Select.Changed, "#strategy-name")
    async def _strategy_changed(self, event: Select.Changed) -> None:
        name = str(event.value)
        if name != self.strategy:
            self.strategy = name
            await self._show_params(name, {})

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    def values(self) -> PromptValues:
        def typed(selector: str) -> str:
            return self.query_one(selector, Input).value

        index = self.query_one("#strategy-series", Select).value
        return PromptValues(
            series=self.series[cast(int, index)],
            strategy=self.strategy,
            params={
                param.name: typed(f"#param-{param.name}")
                for param in STRATEGIES[self.strategy].params
            },
            date_from=typed("#strategy-from"),
            date_to=typed("#strategy-to"),
            fee=typed("#strategy-fee"),
            stop_loss=typed("#strategy-stop"),
            take_profit=typed("#strategy-target"),
            long_short=self.query_one("#strategy-long-short", Checkbox).value,
        )

    def action_submit(self) -> None:
        try:
            job = build_job(self.values())
        except (ValueError, FilterBetsError) as error:
            self.query_one("#strategy-error", Static).update(Text(str(error)))
            return
        self.dismiss(job)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _iso(value: dt.date | None) -> str:
    return "" if value is None else value.isoformat()


def _text(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


async def queue_strategy_job(app: App[Any], job: StrategyJob) -> None:
    """Queue the run or sweep, wake the dashboard's runner, and say so in a toast."""
    from core.jobs.queue import JobQueue
    from core.jobs.sweep_jobs import submit_sweep

    fb = cast("FilterBetsApp", app)
    service = fb.service
    if service is None:
        return
    queue = JobQueue(service.db)
    try:
        if isinstance(job, StrategySweepRequest):
            info = await submit_sweep(queue, service.user_id, job)
        else:
            info = await queue.submit_strategy(service.user_id, job)
    except Exception as error:
        fb.report_error(error, doing=f"queueing {job_label(job)}")
        return
    runner = fb.job_runner
    if runner is not None:
        runner.wake()
    later = "" if runner is not None else "; a worker (filterbets worker) will run it"
    app.notify(f"{job_label(job)} queued as job {info.short_id}{later}.", title="Jobs")
