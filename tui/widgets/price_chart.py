"""Terminal charts of a candle strategy run: the price with its entries and exits, and its
equity against buy-and-hold.

Both plot with braille dots (2x4 per cell, as the football equity chart does), so 80 columns
still show ~150 steps. Nothing depends on colour alone (NO_COLOR keeps every mark apart):

* price: the close as a braille line; under it a trades strip, one cell per column of the
  plot: ``▲`` a long entry, ``▼`` a short entry, a cross (U+00D7) an exit, ``◆`` several of
  them, ``─`` long held, ``╌`` short held. With few trades in view the entry and exit marks
  also sit on the line at their fill prices. Colour adds green for entries and winning
  exits, red for losing ones;
* equity: the strategy's equity as a braille line, buy-and-hold (the starting cash in the
  first close, no fees) as a row of ``·``, the starting cash as a dotted baseline.

`render_price` and `render_equity` are the pure parts (tested on their own); `PriceChart`
and `EquityHoldChart` draw them at their current size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.widgets.styles import BAD, GOOD

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

BRAILLE_BASE = 0x2800
# Dot bit of (row 0-3, column 0-1) inside one braille cell.
_DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int64)
LONG_ENTRY, SHORT_ENTRY, SEVERAL = "▲", "▼", "◆"
EXIT = "\N{MULTIPLICATION SIGN}"
LONG_HELD, SHORT_HELD = "─", "╌"
HOLD_DOT = "·"
BASELINE = "┈"
AXIS_STYLE = "dim"
LINE_STYLE = "bold"
MIN_WIDTH, MIN_HEIGHT = 24, 6
STRIP_LABEL = "trades"


@dataclass(frozen=True)
class RunData:
    """What the charts draw of one run, bar by bar."""

    open_ms: Ints
    close: Floats
    equity: Floats
    cash: float
    side: Ints
    """Each trade's side: +1 long, -1 short (trades in order)."""
    entry_bar: Ints
    exit_bar: Ints
    entry_price: Floats
    exit_price: Floats
    profit: Floats

    def __len__(self) -> int:
        return len(self.close)

    @property
    def hold(self) -> Floats:
        """Buy-and-hold equity: the starting cash in the first close, no fees."""
        hold: Floats = self.cash * self.close / self.close[0]
        return hold

    def position(self) -> Ints:
        """Each bar's position at its close: +1 long, -1 short, 0 flat."""
        held = np.zeros(len(self.close) + 1, dtype=np.int64)
        np.add.at(held, self.entry_bar, self.side)
        np.add.at(held, self.exit_bar, -self.side)
        return np.cumsum(held)[:-1]


def run_data(run: object) -> RunData:
    """The charts' data from a core.candles StrategyRun."""
    bars = run.bars  # type: ignore[attr-defined]
    execution = run.execution  # type: ignore[attr-defined]
    fills = execution.fills
    return RunData(
        open_ms=bars.open_ms,
        close=bars.close,
        equity=execution.equity,
        cash=float(run.request.cash),  # type: ignore[attr-defined]
        side=fills.side,
        entry_bar=fills.entry_bar,
        exit_bar=fills.exit_bar,
        entry_price=fills.entry_price,
        exit_price=fills.exit_price,
        profit=execution.profit,
    )


# Plotting -------------------------------------------------------------------------------


def format_price(value: float, span: float) -> str:
    """An axis label with as many digits as the scale needs."""
    if span >= 100 or abs(value) >= 10_000:
        return f"{value:,.0f}"
    if span >= 10:
        return f"{value:,.1f}"
    if span >= 0.1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def _range(*series: Floats) -> tuple[float, float]:
    low = min(float(np.min(s)) for s in series)
    high = max(float(np.max(s)) for s in series)
    if high <= low:
        pad = max(abs(high) * 0.01, 1e-9)
        return low - pad, high + pad
    pad = (high - low) * 0.04
    return low - pad, high + pad


def _buckets(values: Floats, columns: int) -> tuple[Floats, Floats, Floats]:
    """Per plot column: (last, lowest, highest) of the values falling in it; with fewer
    values than columns, each column takes the value under it."""
    n = len(values)
    if n >= columns:
        starts = -(-np.arange(columns) * n // columns)
        low = np.minimum.reduceat(values, starts)
        high = np.maximum.reduceat(values, starts)
        last = values[np.append(starts[1:], n) - 1]
        return last, low, high
    under = values[np.arange(columns) * n // columns]
    return under, under, under


def _braille(
    values: Floats, low: float, high: float, cells_w: int, cells_h: int
) -> list[list[str]]:
    """The line of `values` as `cells_h` rows of `cells_w` braille cells ("" where no dot is
    lit): each dot column joins its own range to where the previous one ended."""
    dots_w, dots_h = cells_w * 2, cells_h * 4
    last, lowest, highest = _buckets(values, dots_w)
    scale = (dots_h - 1) / (high - low)

    def row(value: Floats) -> Ints:
        return np.clip(np.rint((high - value) * scale), 0, dots_h - 1).astype(np.int64)

    previous = np.concatenate((last[:1], last[:-1]))
    top = row(np.maximum(highest, previous))
    bottom = row(np.minimum(lowest, previous))
    dot_rows = np.arange(dots_h)[:, None]
    lit = (dot_rows >= top[None, :]) & (dot_rows <= bottom[None, :])
    cells = lit.reshape(cells_h, 4, cells_w, 2).astype(np.int64)
    bits = np.einsum("ydxk,dk->yx", cells, _DOT_BITS)
    return [["" if b == 0 else chr(BRAILLE_BASE + b) for b in line] for line in bits.tolist()]


def _label_lines(
    high: float, low: float, marks: dict[int, float], height: int, span: float
) -> tuple[list[str], int]:
    labels = [""] * height
    labels[0] = format_price(high, span)
    labels[-1] = format_price(low, span)
    for at, value in marks.items():  # a mark (the starting cash) wins over an end label
        labels[at] = format_price(value, span)
    return labels, max(len(label) for label in labels)


def _time_axis(open_ms: Ints, label_width: int, plot_w: int) -> list[Text]:
    """An axis line with ticks and the times under them (dates, or hours for short spans)."""
    n = len(open_ms)
    span_days = (int(open_ms[-1]) - int(open_ms[0])) / 86_400_000
    long = plot_w >= 44

    def label(ms: int) -> str:
        moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
        if span_days >= 3:
            return moment.strftime("%Y-%m-%d" if long else "%y-%m-%d")
        return moment.strftime("%m-%d %H:%M")

    sample = label(int(open_ms[0]))
    ticks = max(2, min(6, plot_w // (len(sample) + 4)))
    axis = ["─"] * plot_w
    under = [" "] * plot_w
    for i in range(ticks):
        x = round(i * (plot_w - 1) / (ticks - 1))
        text = label(int(open_ms[min(n - 1, x * n // plot_w)]))
        start = min(max(0, x - len(text) // 2), plot_w - len(text))
        if start < 0 or any(c != " " for c in under[max(0, start - 1) : start + len(text) + 1]):
            continue
        under[start : start + len(text)] = list(text)
        axis[x] = "┬"
    return [
        Text(" " * label_width + "└" + "".join(axis), AXIS_STYLE),
        Text(" " * (label_width + 1) + "".join(under), AXIS_STYLE),
    ]


# The price chart ------------------------------------------------------------------------


def clamp_window(window: tuple[int, int], bars: int, least: int = 20) -> tuple[int, int]:
    """A window of at least `least` bars (or all of them) inside [0, bars)."""
    start, stop = window
    size = min(bars, max(least, stop - start))
    start = min(max(0, start), bars - size)
    return start, start + size


def render_price(data: RunData, window: tuple[int, int], width: int, height: int) -> list[Text]:
    """Bars [start, stop) of the run: the close, the trades strip, the time axis."""
    start, stop = clamp_window(window, len(data))
    if stop - start < 2:
        return [Text("No bars to chart.")]
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        return [Text("(too small to chart)")]
    close = data.close[start:stop]
    low, high = _range(close)
    plot_h = height - 3  # the trades strip and the two axis lines
    labels, label_width = _label_lines(high, low, {}, plot_h, high - low)
    label_width = max(label_width, len(STRIP_LABEL))
    plot_w = width - label_width - 1
    cells = _braille(close, low, high, plot_w, plot_h)
    styles: dict[tuple[int, int], str] = {}
    n = stop - start

    def column(bar: int) -> int:
        return min(plot_w - 1, (bar - start) * plot_w // n)

    def cell_row(price: float) -> int:
        share = (high - price) / (high - low)
        return int(min(plot_h - 1, max(0, round(share * (plot_h * 4 - 1)) // 4)))

    # The trades strip: events first, then positions held.
    strip: list[str] = [" "] * plot_w
    strip_styles: list[str] = [""] * plot_w
    position = data.position()[start:stop]
    held_at = np.zeros(plot_w, dtype=np.int64)
    columns_of_bars = np.minimum(plot_w - 1, np.arange(n) * plot_w // n)
    np.maximum.at(held_at, columns_of_bars, (position > 0).astype(np.int64))
    shorts = np.zeros(plot_w, dtype=np.int64)
    np.maximum.at(shorts, columns_of_bars, (position < 0).astype(np.int64))
    for x in range(plot_w):
        if held_at[x]:
            strip[x] = LONG_HELD
        elif shorts[x]:
            strip[x] = SHORT_HELD
    events: dict[int, list[tuple[str, str]]] = {}
    in_view = (data.entry_bar < stop) & (data.exit_bar >= start)
    shown = np.flatnonzero(in_view)
    on_line = len(shown) <= max(1, plot_w // 4)

    def mark(at: tuple[int, int], glyph: str, style: str) -> None:
        """A mark on the line; two in one cell make one ◆."""
        if at in styles and cells[at[0]][at[1]] != glyph:
            glyph, style = SEVERAL, ""
        cells[at[0]][at[1]] = glyph
        styles[at] = f"bold {style}".strip()

    for trade in shown.tolist():
        entry, leave = int(data.entry_bar[trade]), int(data.exit_bar[trade])
        won = float(data.profit[trade]) > 0
        if start <= entry < stop:
            glyph = LONG_ENTRY if data.side[trade] > 0 else SHORT_ENTRY
            events.setdefault(column(entry), []).append((glyph, GOOD))
            if on_line:
                mark((cell_row(float(data.entry_price[trade])), column(entry)), glyph, GOOD)
        if start <= leave < stop:
            style = GOOD if won else BAD
            events.setdefault(column(leave), []).append((EXIT, style))
            if on_line:
                mark((cell_row(float(data.exit_price[trade])), column(leave)), EXIT, style)
    for x, found in events.items():
        if len(found) == 1:
            strip[x], strip_styles[x] = found[0]
        else:
            strip[x], strip_styles[x] = SEVERAL, "bold"

    lines: list[Text] = []
    for y in range(plot_h):
        line = Text(labels[y].rjust(label_width), AXIS_STYLE)
        line.append("┤" if labels[y] else "│", AXIS_STYLE)
        for x, cell in enumerate(cells[y]):
            if (y, x) in styles:
                line.append(cell, styles[(y, x)])
            else:
                line.append(cell or " ", LINE_STYLE if cell else "")
        lines.append(line)
    trades_line = Text(STRIP_LABEL.rjust(label_width), AXIS_STYLE)
    trades_line.append("│", AXIS_STYLE)
    for glyph, style in zip(strip, strip_styles, strict=True):
        trades_line.append(glyph, style or (AXIS_STYLE if glyph in (LONG_HELD, SHORT_HELD) else ""))
    lines.append(trades_line)
    lines.extend(_time_axis(data.open_ms[start:stop], label_width, plot_w))
    return lines


def price_legend(data: RunData, window: tuple[int, int]) -> Text:
    start, stop = clamp_window(window, len(data))
    in_view = int(np.count_nonzero((data.entry_bar < stop) & (data.exit_bar >= start)))
    every = "all " if (start, stop) == (0, len(data)) else ""
    return Text.assemble(
        (f"{every}{stop - start:,} bars · {in_view:,} trades  ", ""),
        (LONG_ENTRY, f"bold {GOOD}"),
        " buy ",
        (SHORT_ENTRY, f"bold {GOOD}"),
        " short ",
        (EXIT, "bold"),
        " exit ",
        (SEVERAL, "bold"),
        " several ",
        (LONG_HELD, AXIS_STYLE),
        " long ",
        (SHORT_HELD, AXIS_STYLE),
        " short",
    )


# The equity chart -----------------------------------------------------------------------


def render_equity(data: RunData, width: int, height: int) -> list[Text]:
    """The strategy's equity (braille) against buy-and-hold (``·``) over the whole run."""
    if len(data) < 2:
        return [Text("No bars to chart.")]
    if width < MIN_WIDTH or height < MIN_HEIGHT - 1:
        return [Text("(too small to chart)")]
    hold = data.hold
    low, high = _range(data.equity, hold, np.array([data.cash]))
    plot_h = height - 2
    baseline = int(
        min(plot_h - 1, round((high - data.cash) / (high - low) * (plot_h * 4 - 1)) // 4)
    )
    labels, label_width = _label_lines(high, low, {baseline: data.cash}, plot_h, high - low)
    plot_w = width - label_width - 1
    cells = _braille(data.equity, low, high, plot_w, plot_h)
    hold_last, _lo, _hi = _buckets(hold, plot_w)
    hold_rows = np.clip(
        np.rint((high - hold_last) / (high - low) * (plot_h * 4 - 1)) // 4, 0, plot_h - 1
    ).astype(np.int64)
    lines: list[Text] = []
    for y in range(plot_h):
        line = Text(labels[y].rjust(label_width), AXIS_STYLE)
        line.append("┤" if labels[y] else "│", AXIS_STYLE)
        for x, cell in enumerate(cells[y]):
            if cell:
                line.append(cell, LINE_STYLE)
            elif hold_rows[x] == y:
                line.append(HOLD_DOT, "")
            elif y == baseline:
                line.append(BASELINE, AXIS_STYLE)
            else:
                line.append(" ")
        lines.append(line)
    lines.extend(_time_axis(data.open_ms, label_width, plot_w))
    return lines


def equity_legend(metrics: dict[str, object]) -> Text:
    def percent(key: str) -> str:
        value = metrics.get(key)
        return "-" if not isinstance(value, int | float) else f"{value * 100:+.2f}%"

    return Text.assemble(
        ("⣿", LINE_STYLE),
        f" strategy {percent('total_return')}   ",
        (HOLD_DOT, "bold"),
        f" buy and hold {percent('buy_and_hold_return')} (no fees)   ",
        (BASELINE, AXIS_STYLE),
        " starting cash",
    )


# The widgets ----------------------------------------------------------------------------


class PriceChart(Widget):
    """The close over a window of bars, with the trades under it."""

    DEFAULT_CSS = """
    PriceChart {
        height: 1fr;
        min-height: 6;
    }
    """

    data: reactive[RunData | None] = reactive(None, layout=False)
    window: reactive[tuple[int, int]] = reactive((0, 0), layout=False)

    def render(self) -> Text:
        if self.data is None:
            return Text("")
        lines = render_price(self.data, self.window, self.size.width, self.size.height)
        return Text("\n").join(lines)


class EquityHoldChart(Widget):
    """The run's equity against buy-and-hold."""

    DEFAULT_CSS = """
    EquityHoldChart {
        height: 1fr;
        min-height: 6;
    }
    """

    data: reactive[RunData | None] = reactive(None, layout=False)

    def render(self) -> Text:
        if self.data is None:
            return Text("")
        return Text("\n").join(render_equity(self.data, self.size.width, self.size.height))
