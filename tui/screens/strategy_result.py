"""A candle strategy run: its price with entries and exits, its equity against buy-and-hold,
its metrics and its trades, one tab each.

The stored result keeps the metrics and the trade ledger; the charts need every bar, so the
run is replayed over its candles (core.candles.service.StrategyRunner.replay). When the
candles changed since (an import over them), the title says so; when they are gone, the
metrics and trades still show.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from core.candles.report import render_strategy_metrics
from core.candles.request import StrategyRequest
from core.candles.service import StrategyReplay, StrategyRunner
from core.candles.store import CandleDataError, CandleStore, SeriesInfo
from core.models import StrategyTrade
from core.results import ResultDetail, ResultStore
from tui.widgets.price_chart import (
    EquityHoldChart,
    PriceChart,
    RunData,
    clamp_window,
    equity_legend,
    price_legend,
    run_data,
)
from tui.widgets.strategy_prompt import StrategyJob, StrategyPrompt, queue_strategy_job
from tui.widgets.styles import signed_style
from tui.widgets.vim_table import VimDataTable

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

LOAD_GROUP = "strategy-load"
WIDE_FROM = 100
_TABS_GROUP = Binding.Group("Tabs", compact=True)
_VIEW_GROUP = Binding.Group("View", compact=True)
_ZOOM_GROUP = Binding.Group("Zoom", compact=True)


class StrategyLoaded(Message):
    def __init__(
        self,
        detail: ResultDetail,
        replay: StrategyReplay | None,
        problem: str | None,
        trades: list[StrategyTrade],
    ) -> None:
        super().__init__()
        self.detail = detail
        self.replay = replay
        self.problem = problem
        self.trades = trades


def _percent(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:+.2f}%"


def strategy_title(detail: ResultDetail) -> Text:
    summary, metrics = detail.summary, detail.metrics
    total = metrics.get("total_return")
    return Text.assemble(
        (f"#{summary.id} {summary.title}", "bold"),
        f" · {summary.bets:,} trades · ",
        (_percent(total), signed_style(None if total is None else float(total))),
        f" · buy and hold {_percent(metrics.get('buy_and_hold_return'))}",
    )


def metrics_text(detail: ResultDetail, replay: StrategyReplay | None) -> Text:
    """The stored metrics as the CLI prints them (the run's own numbers, not the replay's)."""
    if replay is None:
        lines = [f"{key:<24} {value}" for key, value in detail.metrics.items()]
        return Text("\n".join(lines))
    stored = dataclasses.replace(replay.run, metrics=detail.metrics)
    return Text(render_strategy_metrics(stored))


class StrategyResultScreen(Screen[None]):
    """One candle strategy run: p price, e equity, m metrics, t trades."""

    TITLE = "FilterBets · Strategy run"
    HELP_SCOPE: ClassVar[str] = "Strategy run"
    DEFAULT_CSS = """
    StrategyResultScreen #strategy-title { background: $boost; }
    StrategyResultScreen #strategy-tabs { height: 1fr; }
    StrategyResultScreen #strategy-tabs TabPane { padding: 0 1; }
    StrategyResultScreen .chart-legend { height: 1; color: $text-muted; }
    StrategyResultScreen #strategy-trades-table { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="strategy.back"),
        Binding("p", "show_tab('price')", "Price", id="strategy.tab_price", group=_TABS_GROUP),
        Binding("e", "show_tab('equity')", "Equity", id="strategy.tab_equity", group=_TABS_GROUP),
        Binding(
            "m", "show_tab('metrics')", "Metrics", id="strategy.tab_metrics", group=_TABS_GROUP
        ),
        Binding("t", "show_tab('trades')", "Trades", id="strategy.tab_trades", group=_TABS_GROUP),
        Binding(
            "plus",
            "zoom(0.5)",
            "Zoom in",
            key_display="+",
            id="strategy.zoom_in",
            group=_ZOOM_GROUP,
        ),
        Binding(
            "minus",
            "zoom(2)",
            "Zoom out",
            key_display="-",
            id="strategy.zoom_out",
            group=_ZOOM_GROUP,
        ),
        Binding(
            "left_square_bracket",
            "pan(-1)",
            "Earlier",
            key_display="[",
            id="strategy.earlier",
            group=_VIEW_GROUP,
        ),
        Binding(
            "right_square_bracket",
            "pan(1)",
            "Later",
            key_display="]",
            id="strategy.later",
            group=_VIEW_GROUP,
        ),
        Binding("0", "whole", "Whole run", show=False, id="strategy.whole"),
        Binding("r", "run_again", "Run again", id="strategy.run_again"),
    ]

    def __init__(self, result_id: int) -> None:
        super().__init__()
        self.result_id = result_id
        self.detail: ResultDetail | None = None
        self.data: RunData | None = None
        self.window = (0, 0)
        self.trades: list[StrategyTrade] = []
        self.series: list[SeriesInfo] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Loading…", id="strategy-title", classes="bar")
        with TabbedContent(initial="price", id="strategy-tabs"):
            with TabPane("Price", id="price"):
                yield Static("", id="price-legend", classes="chart-legend")
                yield PriceChart(id="price-chart")
            with TabPane("Equity", id="equity"):
                yield Static("", id="equity-legend", classes="chart-legend")
                yield EquityHoldChart(id="equity-chart")
            with TabPane("Metrics", id="metrics"), VerticalScroll():
                yield Static("", id="strategy-metrics")
            with TabPane("Trades", id="trades"):
                yield Static("", id="strategy-trades-status", classes="chart-legend")
                yield VimDataTable(
                    id="strategy-trades-table", cursor_type="row", zebra_stripes=True
                )
        yield Footer(compact=True)

    @property
    def filterbets(self) -> FilterBetsApp:
        return cast("FilterBetsApp", self.app)

    def on_mount(self) -> None:
        service = self.filterbets.service
        if service is not None:
            self._load(service)

    @work(exclusive=True, group=LOAD_GROUP, exit_on_error=False)
    async def _load(self, service: Any) -> None:
        detail = await ResultStore(service.db, service.user_id).get(self.result_id)
        candles = await CandleStore.open(service.settings, service.db)
        try:
            runner = StrategyRunner(service.db, candles, service.user_id)
            trades = await runner.trades(self.result_id)
            self.series = await candles.list_series()
            replay: StrategyReplay | None = None
            problem = None
            try:
                replay = await runner.replay(self.result_id)
            except CandleDataError as error:
                problem = str(error)
        finally:
            await candles.close()
        self.post_message(StrategyLoaded(detail, replay, problem, trades))

    @on(StrategyLoaded)
    def _loaded(self, message: StrategyLoaded) -> None:
        self.show(message.detail, message.replay, message.problem, message.trades)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if event.state is WorkerState.ERROR and error and event.worker.group == LOAD_GROUP:
            self.filterbets.report_error(error, doing="loading the strategy run")

    # Showing ---------------------------------------------------------------------------

    def show(
        self,
        detail: ResultDetail,
        replay: StrategyReplay | None,
        problem: str | None,
        trades: list[StrategyTrade],
    ) -> None:
        self.detail = detail
        self.trades = trades
        title = strategy_title(detail)
        if replay is not None and replay.changed:
            title.append(" · ⚠ candles changed since: charts show them now", "bold")
        self.query_one("#strategy-title", Static).update(title)
        self.query_one("#strategy-metrics", Static).update(metrics_text(detail, replay))
        if replay is None:
            gone = Text(f"⚠ No chart: {problem or 'the candles are not stored'}", "bold")
            self.query_one("#price-legend", Static).update(gone)
            self.query_one("#equity-legend", Static).update(gone)
        else:
            self.data = run_data(replay.run)
            self.window = (0, len(self.data))
            self.query_one("#equity-chart", EquityHoldChart).data = self.data
            self.query_one("#equity-legend", Static).update(equity_legend(detail.metrics))
            self._show_window()
        self._fill_trades()
        self.refresh_bindings()

    def _show_window(self) -> None:
        if self.data is None:
            return
        chart = self.query_one("#price-chart", PriceChart)
        chart.data = self.data
        chart.window = self.window
        self.query_one("#price-legend", Static).update(price_legend(self.data, self.window))

    def _fill_trades(self) -> None:
        table = self.query_one("#strategy-trades-table", VimDataTable)
        table.clear(columns=True)
        wide = self.size.width >= WIDE_FROM
        columns = [("seq", "#", 5), ("side", "Side", 5), ("entry", "Entry", 16)]
        if wide:
            columns.append(("entry_price", "Price", 11))
        columns.append(("exit", "Exit", 16))
        if wide:
            columns += [("exit_price", "Price", 11), ("fees", "Fees", 8)]
        columns += [("profit", "Profit", 11), ("reason", "Exit by", 7)]
        for key, label, width in columns:
            numeric = key in ("seq", "entry_price", "exit_price", "fees", "profit")
            table.add_column(
                Text(label, justify="right" if numeric else "left"), key=key, width=width
            )
        for trade in self.trades:
            profit = float(trade.profit)
            cells = {
                "seq": Text(f"{trade.seq:,}", style="dim", justify="right"),
                "side": Text(trade.side),
                "entry": Text(trade.entry_time.strftime("%Y-%m-%d %H:%M")),
                "entry_price": Text(f"{trade.entry_price:,.2f}", justify="right"),
                "exit": Text(trade.exit_time.strftime("%Y-%m-%d %H:%M")),
                "exit_price": Text(f"{trade.exit_price:,.2f}", justify="right"),
                "fees": Text(f"{float(trade.entry_fee + trade.exit_fee):,.2f}", justify="right"),
                "profit": Text(f"{profit:+,.2f}", style=signed_style(profit), justify="right"),
                "reason": Text(trade.exit_reason.replace("_", " ")),
            }
            table.add_row(*(cells[key] for key, _label, _width in columns), key=str(trade.seq))
        wins = sum(1 for trade in self.trades if trade.profit > 0)
        self.query_one("#strategy-trades-status", Static).update(
            Text(f"{len(self.trades):,} trades, {wins:,} won (entry and exit times UTC)")
        )

    def on_resize(self, _event: Resize) -> None:
        if self.detail is not None:
            self._fill_trades()

    # Actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("zoom", "pan", "whole"):
            on_price = self.query_one(TabbedContent).active == "price"
            return on_price if self.data is not None else False
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        if tab == "trades":
            self.query_one("#strategy-trades-table").focus()
        else:
            self.query_one(TabbedContent).query_one("Tabs").focus()

    def action_zoom(self, factor: float) -> None:
        if self.data is None:
            return
        start, stop = self.window
        middle = (start + stop) // 2
        size = max(2, round((stop - start) * factor))
        self.window = clamp_window((middle - size // 2, middle - size // 2 + size), len(self.data))
        self._show_window()

    def action_pan(self, step: int) -> None:
        if self.data is None:
            return
        start, stop = self.window
        shift = step * max(1, (stop - start) // 2)
        self.window = clamp_window((start + shift, stop + shift), len(self.data))
        self._show_window()

    def action_whole(self) -> None:
        if self.data is not None:
            self.window = (0, len(self.data))
            self._show_window()

    def action_run_again(self) -> None:
        """The prompt with this run's candles, strategy and options, to change and queue."""
        if self.detail is None or not self.series:
            self.notify("No candles to run on.", title="Strategy run", severity="warning")
            return
        request = StrategyRequest.from_dict(self.detail.request)

        def chosen(job: StrategyJob | None) -> None:
            if job is not None:
                self.run_worker(queue_strategy_job(self.app, job), exit_on_error=False)

        self.app.push_screen(StrategyPrompt(self.series, request=request), chosen)

    def action_close(self) -> None:
        self.app.pop_screen()
