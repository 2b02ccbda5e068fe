"""The Data screen's candle sets: each stored series with its range, bars and gaps.

It hides while there are none. It reads the candle store (FILTERBETS_CANDLES_URL's
database, or the main one) in a worker of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from core.candles.store import CandleStore, SeriesInfo
from tui.widgets.vim_table import VimDataTable

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

LOAD_GROUP = "candle-sets-load"
WIDE_FROM = 100


class CandleSetsListed(Message):
    def __init__(self, series: list[SeriesInfo]) -> None:
        super().__init__()
        self.series = series


def gaps_text(info: SeriesInfo) -> str:
    """ "0", or "2 (14 bars)": gaps and the bars missing in them."""
    if not info.gaps:
        return "0"
    return f"{info.gaps:,} ({info.missing_bars:,} bar{'s' if info.missing_bars != 1 else ''})"


class CandleSetsPanel(Vertical):
    """Candle series: exchange, symbol, timeframe, first and last bar, bars, gaps."""

    DEFAULT_CSS = """
    CandleSetsPanel {
        height: auto;
        max-height: 9;
        padding: 0 1;
    }
    CandleSetsPanel #candle-sets-title {
        height: 1;
    }
    CandleSetsPanel VimDataTable {
        height: auto;
        max-height: 8;
        scrollbar-size-vertical: 1;
    }
    """
    HELP_SCOPE: ClassVar[str] = "Candle sets"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[SeriesInfo] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="candle-sets-title")
        yield VimDataTable(id="candle-sets-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.display = False

    @property
    def filterbets(self) -> FilterBetsApp:
        return cast("FilterBetsApp", self.app)

    def reload(self) -> None:
        service = self.filterbets.service
        if service is not None:
            self._load(service)

    @work(exclusive=True, group=LOAD_GROUP, exit_on_error=False)
    async def _load(self, service: Any) -> None:
        store = await CandleStore.open(service.settings, service.db)
        try:
            series = await store.list_series()
        finally:
            await store.close()
        self.post_message(CandleSetsListed(series))

    @on(CandleSetsListed)
    def _listed(self, message: CandleSetsListed) -> None:
        message.stop()
        self.show(message.series)

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if event.state is WorkerState.ERROR and error and event.worker.group == LOAD_GROUP:
            self.filterbets.report_error(error, doing="loading the candle sets")

    def show(self, series: list[SeriesInfo]) -> None:
        self.series = series
        self.display = bool(series)
        self._build()
        self.screen.refresh_bindings()  # the screen's n runs a strategy once there are sets

    def _build(self) -> None:
        series = self.series or []
        bars = sum(info.bars for info in series)
        self.query_one("#candle-sets-title", Static).update(
            Text.assemble(
                ("Candle sets", "bold"),
                f" · {len(series):,} series · {bars:,} bars · n runs a strategy",
            )
        )
        table = self.query_one("#candle-sets-table", VimDataTable)
        selected = self.selected()
        table.clear(columns=True)
        wide = self.size.width >= WIDE_FROM
        moment = "%Y-%m-%d %H:%M" if wide else "%Y-%m-%d"
        width = 16 if wide else 10
        for key, label, size, numeric in (
            ("exchange", "Exchange", 12 if wide else 8, False),
            ("symbol", "Symbol", 10, False),
            ("timeframe", "TF", 4, False),
            ("first", "First", width, False),
            ("last", "Last", width, False),
            ("bars", "Bars", 8, True),
            ("gaps", "Gaps", 13, False),
        ):
            table.add_column(
                Text(label, justify="right" if numeric else "left"), key=key, width=size
            )
        for info in series:
            table.add_row(
                Text(info.exchange, overflow="ellipsis", no_wrap=True),
                Text(info.symbol),
                Text(info.timeframe),
                Text(info.first_open.strftime(moment) if info.first_open else "-"),
                Text(info.last_open.strftime(moment) if info.last_open else "-"),
                Text(f"{info.bars:,}", justify="right"),
                Text(gaps_text(info), style="" if info.gaps else "dim"),
                key=str(info.id),
            )
        if selected is not None and str(selected.id) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected.id)), animate=False)

    def on_resize(self, _event: Resize) -> None:
        if self.series:
            self._build()

    def selected(self) -> SeriesInfo | None:
        """The series under the table's cursor (the first one when it has none)."""
        if not self.series:
            return None
        table = self.query_one("#candle-sets-table", VimDataTable)
        if not table.is_valid_row_index(table.cursor_row):
            return self.series[0]
        key = str(table.ordered_rows[table.cursor_row].key.value)
        return next((info for info in self.series if str(info.id) == key), self.series[0])
