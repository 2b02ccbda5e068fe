"""A candle strategy sweep: its luck report (the walk-forward's verdict and PBO), every
variant with its strategy metrics and q-value, and the walk-forward month by month. Enter on
a variant queues it as a full strategy run (a job), as `filterbets promote` runs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from core.jobs.queue import JobQueue
from core.results import ResultDetail, ResultStore, SweepVariantRow
from tui.widgets.styles import signed_style
from tui.widgets.vim_table import VimDataTable

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

LOAD_GROUP = "strategy-sweep-load"
ACTION_GROUP = "strategy-sweep-action"
_TABS_GROUP = Binding.Group("Tabs", compact=True)


def _metric(row: SweepVariantRow, key: str) -> float | None:
    value = (row.metrics or {}).get(key)
    return float(value) if isinstance(value, int | float) else None


# Sort keys: label, value (None last whichever way), highest first by default.
SORTS: dict[str, tuple[str, Callable[[SweepVariantRow], float | None]]] = {
    "yield": ("Yield", lambda r: r.yield_),
    "return": ("Return", lambda r: _metric(r, "total_return")),
    "sharpe": ("Sharpe", lambda r: _metric(r, "sharpe")),
    "trades": ("Trades", lambda r: float(r.bets)),
    "q": ("q", lambda r: None if r.q_value is None else -r.q_value),
    "grid": ("Grid order", lambda r: -float(r.index)),
}


class SweepLoaded(Message):
    def __init__(self, detail: ResultDetail, variants: list[SweepVariantRow]) -> None:
        super().__init__()
        self.detail = detail
        self.variants = variants


def _pct(value: Any, digits: int = 2) -> Text:
    if value is None:
        return Text("-", style="dim", justify="right")
    number = float(value)
    return Text(f"{number * 100:+.{digits}f}%", style=signed_style(number), justify="right")


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in params.items())


def sweep_title(detail: ResultDetail, variants: int) -> Text:
    summary, metrics = detail.summary, detail.metrics
    return Text.assemble(
        (f"#{summary.id} sweep of {summary.strategy_type}", "bold"),
        f" on {summary.symbol} {summary.timeframe} · {variants:,} variants",
        f" · walk-forward by {metrics.get('period_kind', 'month')}",
    )


def luck_lines(metrics: dict[str, Any]) -> Text:
    lines = [Text(str(metrics.get("headline", ""))), Text(f"PBO: {metrics.get('pbo_reading')}")]
    lines += [Text(f"⚠ {warning}", style="bold") for warning in metrics.get("warnings") or ()]
    return Text("\n").join(lines)


class StrategySweepScreen(Screen[None]):
    """A strategy sweep's variants (v) and walk-forward (w); r or enter queues a variant's run."""

    TITLE = "FilterBets · Strategy sweep"
    HELP_SCOPE: ClassVar[str] = "Strategy sweep"
    DEFAULT_CSS = """
    StrategySweepScreen #sweep-title { background: $boost; }
    StrategySweepScreen #sweep-luck { height: auto; max-height: 4; padding: 0 1; }
    StrategySweepScreen #sweep-tabs { height: 1fr; }
    StrategySweepScreen #sweep-tabs TabPane { padding: 0 1; }
    StrategySweepScreen VimDataTable { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="strategy_sweep.back"),
        Binding(
            "v",
            "show_tab('variants')",
            "Variants",
            id="strategy_sweep.tab_variants",
            group=_TABS_GROUP,
        ),
        Binding(
            "w", "show_tab('walk')", "Walk-forward", id="strategy_sweep.tab_walk", group=_TABS_GROUP
        ),
        Binding("s", "next_sort", "Sort", id="strategy_sweep.sort"),
        Binding("r", "promote", "Run variant", id="strategy_sweep.promote"),
    ]

    def __init__(self, result_id: int) -> None:
        super().__init__()
        self.result_id = result_id
        self.detail: ResultDetail | None = None
        self.variants: list[SweepVariantRow] = []
        self.sort_key = "yield"

    @property
    def filterbets(self) -> FilterBetsApp:
        return cast("FilterBetsApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Loading…", id="sweep-title", classes="bar")
        yield Static("", id="sweep-luck", classes="hint")
        with TabbedContent(initial="variants", id="sweep-tabs"):
            with TabPane("Variants", id="variants"):
                yield VimDataTable(id="sweep-variants", cursor_type="row", zebra_stripes=True)
            with TabPane("Walk-forward", id="walk"):
                yield VimDataTable(id="sweep-walk", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        service = self.filterbets.service
        if service is not None:
            self._load(ResultStore(service.db, service.user_id))

    @work(exclusive=True, group=LOAD_GROUP, exit_on_error=False)
    async def _load(self, store: ResultStore) -> None:
        detail = await store.get(self.result_id)
        variants = await store.variants(self.result_id)
        self.post_message(SweepLoaded(detail, variants))

    @on(SweepLoaded)
    def _loaded(self, message: SweepLoaded) -> None:
        self.show(message.detail, message.variants)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if event.state is not WorkerState.ERROR or error is None:
            return
        doing = {LOAD_GROUP: "loading the sweep", ACTION_GROUP: "queueing the variant"}
        if event.worker.group in doing:
            self.filterbets.report_error(error, doing=doing[event.worker.group])

    def show(self, detail: ResultDetail, variants: list[SweepVariantRow]) -> None:
        self.detail, self.variants = detail, variants
        self.query_one("#sweep-title", Static).update(sweep_title(detail, len(variants)))
        self.query_one("#sweep-luck", Static).update(luck_lines(detail.metrics))
        self._fill_variants()
        self._fill_walk(detail.metrics.get("walk_forward"), detail.metrics.get("period_kind"))
        self.query_one("#sweep-variants").focus()

    def _sorted(self) -> list[SweepVariantRow]:
        value = SORTS[self.sort_key][1]
        present = [row for row in self.variants if value(row) is not None]
        missing = [row for row in self.variants if value(row) is None]
        present.sort(key=lambda row: (-(value(row) or 0.0), row.index))
        return present + missing

    def _fill_variants(self) -> None:
        table = self.query_one("#sweep-variants", VimDataTable)
        table.clear(columns=True)
        wide = self.size.width >= 100
        columns = [("index", "#", 5, True), ("params", "Parameters", 0, False)]
        columns += [("trades", "Trades", 6, True), ("yield", "Yield", 7, True)]
        columns += [("return", "Return", 9, True), ("sharpe", "Sharpe", 6, True)]
        if wide:
            columns += [("drawdown", "Max DD", 7, True), ("p", "p", 5, True)]
        columns.append(("q", "q", 5, True))
        fixed = sum(width + 2 for _key, _label, width, _n in columns if width)
        flexible = max(12, self.size.width - fixed - 6)
        for key, label, width, numeric in columns:
            text = Text(label, justify="right" if numeric else "left")
            if key == self.sort_key:
                text.stylize("bold underline")
            table.add_column(text, key=key, width=width or flexible)
        for row in self._sorted():
            drawdown = _metric(row, "max_drawdown")
            sharpe = _metric(row, "sharpe")
            skipped = (row.metrics or {}).get("skipped")
            cells = {
                "index": Text(str(row.index), style="dim", justify="right"),
                "params": Text(_params(row.params) + (" (skipped)" if skipped else "")),
                "trades": Text(f"{row.bets:,}", justify="right"),
                "yield": _pct(row.yield_),
                "return": _pct(_metric(row, "total_return"), 1),
                "sharpe": Text("-" if sharpe is None else f"{sharpe:.2f}", justify="right"),
                "drawdown": Text(
                    "-" if drawdown is None else f"{drawdown * 100:.1f}%", justify="right"
                ),
                "p": Text("-" if row.p_value is None else f"{row.p_value:.3f}", justify="right"),
                "q": Text("-" if row.q_value is None else f"{row.q_value:.3f}", justify="right"),
            }
            cells["params"].truncate(flexible, overflow="ellipsis")
            table.add_row(*(cells[key] for key, *_rest in columns), key=str(row.index))

    def _fill_walk(self, walk: dict[str, Any] | None, period: Any) -> None:
        table = self.query_one("#sweep-walk", VimDataTable)
        table.clear(columns=True)
        table.add_column(Text(str(period or "period").capitalize()), key="period", width=8)
        table.add_column(Text("Trades", justify="right"), key="trades", width=6)
        table.add_column(Text("Profit", justify="right"), key="profit", width=11)
        table.add_column(Text("Yield", justify="right"), key="yield", width=8)
        table.add_column(
            Text("Chosen in sample"), key="chosen", width=max(14, self.size.width - 50)
        )
        if walk is None:
            table.add_row(Text("no walk-forward", style="dim"), "", "", "", "")
            return
        for row in walk.get("seasons") or ():
            chosen = row.get("chosen")
            profit = float(row.get("profit") or 0.0)
            table.add_row(
                Text(str(row.get("season"))),
                Text(f"{int(row.get('bets') or 0):,}", justify="right"),
                Text(f"{profit:+,.2f}", style=signed_style(profit), justify="right"),
                _pct(row.get("yield")),
                Text("-" if chosen is None else _params(chosen), style="" if chosen else "dim"),
            )
        p_value = walk.get("p_value")
        table.add_row(
            Text("all", style="bold"),
            Text(f"{int(walk.get('bets') or 0):,}", justify="right", style="bold"),
            Text(f"{float(walk.get('profit') or 0.0):+,.2f}", justify="right", style="bold"),
            _pct(walk.get("yield")),
            Text("p = -" if p_value is None else f"p = {float(p_value):.3f}"),
        )

    # Actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next_sort", "promote"):
            on_variants = self.query_one(TabbedContent).active == "variants"
            return on_variants if self.variants else False
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self.query_one("#sweep-variants" if tab == "variants" else "#sweep-walk").focus()

    def action_next_sort(self) -> None:
        keys = list(SORTS)
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self._fill_variants()

    @on(DataTable.RowSelected, "#sweep-variants")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_promote()

    def action_promote(self) -> None:
        table = self.query_one("#sweep-variants", VimDataTable)
        service = self.filterbets.service
        if service is None or not table.is_valid_row_index(table.cursor_row):
            return
        index = int(str(table.ordered_rows[table.cursor_row].key.value))
        self._promote(service, index)

    @work(group=ACTION_GROUP, exit_on_error=False)
    async def _promote(self, service: Any, index: int) -> None:
        request = await ResultStore(service.db, service.user_id).variant_request(
            self.result_id, index
        )
        info = await JobQueue(service.db).submit_strategy(service.user_id, request)
        runner = self.filterbets.job_runner
        if runner is not None:
            runner.wake()
        self.notify(
            f"Variant {index} ({request.title}) queued as job {info.short_id}"
            + ("." if runner is not None else "; a worker will run it."),
            title="Strategy run",
        )

    def action_close(self) -> None:
        self.app.pop_screen()
