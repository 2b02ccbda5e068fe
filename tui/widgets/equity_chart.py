"""An equity curve drawn with braille dots, with axes and the drawdown shaded.

The curve is plotted in braille (2x4 dots per cell), so an 80-column terminal still shows
~150 distinct steps. Every cell that lies between the curve and its running peak is shaded
with a block character, so a drawdown reads as a shaded valley even without colour.

`render_chart(points, width, height)` is the pure part (tested on its own); `EquityChart`
is the widget that calls it at its current size.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.widgets.styles import BAD

BRAILLE_BASE = 0x2800
# Dot bit for (column 0-1, row 0-3) inside one braille cell.
_DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
SHADE = "░"
BASELINE = "┈"

CURVE_STYLE = "bold"
DRAWDOWN_STYLE = BAD
AXIS_STYLE = "dim"


@dataclass(frozen=True)
class ChartPoint:
    bet: int
    """Bets placed so far (0 is the start, before any bet)."""
    date: dt.date | None
    value: float


@dataclass(frozen=True)
class ChartData:
    points: tuple[ChartPoint, ...]
    unit: str
    """What y measures: "units" (cumulative profit) or "bank"."""
    start: float
    """The baseline: 0 units, or the starting bank."""


def chart_data(curve: Sequence[dict[str, Any]], starting_bank: float | None = None) -> ChartData:
    """Points from a metrics curve ([{bet, date, profit, bank}]), bank when every point has one."""
    use_bank = bool(curve) and all(point.get("bank") is not None for point in curve)
    key = "bank" if use_bank else "profit"
    start = float(starting_bank or 0.0) if use_bank else 0.0
    if use_bank and not starting_bank:
        first = curve[0]
        start = float(first["bank"]) - float(first.get("profit") or 0.0)
    points = [ChartPoint(0, _date(curve[0].get("date")) if curve else None, start)]
    for raw in curve:
        value = raw.get(key)
        if value is None:
            continue
        points.append(
            ChartPoint(int(raw.get("bet", len(points))), _date(raw.get("date")), float(value))
        )
    return ChartData(tuple(points), "bank" if use_bank else "units", start)


def _date(raw: Any) -> dt.date | None:
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def format_value(value: float, span: float) -> str:
    """A y-axis label with as few digits as the scale needs."""
    if span >= 100 or abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif span >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return "0" if float(text.replace(",", "")) == 0 else text


def _nice_range(low: float, high: float) -> tuple[float, float]:
    if math.isclose(low, high):
        pad = max(1.0, abs(high) * 0.1)
        return low - pad, high + pad
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _column_values(points: Sequence[ChartPoint], columns: int) -> list[tuple[float, float, float]]:
    """Per dot column: (first, lowest, highest) value; columns without a point interpolate."""
    last_bet = max(points[-1].bet, 1)
    buckets: list[list[float]] = [[] for _ in range(columns)]
    for point in points:
        column = min(columns - 1, round(point.bet / last_bet * (columns - 1)))
        buckets[column].append(point.value)
    filled: list[tuple[float, float, float] | None] = [
        (b[0], min(b), max(b)) if b else None for b in buckets
    ]
    known = {i: item for i, item in enumerate(filled) if item is not None}
    result: list[tuple[float, float, float]] = []
    for i, item in enumerate(filled):
        if item is not None:
            result.append(item)
            continue
        before = max((k for k in known if k < i), default=None)
        after = min((k for k in known if k > i), default=None)
        if before is not None and after is not None:
            left, right = known[before][0], known[after][0]
            value = left + (right - left) * (i - before) / (after - before)
        else:
            nearest = before if before is not None else after
            assert nearest is not None  # a column with a point always exists
            value = known[nearest][0]
        result.append((value, value, value))
    return result


def render_chart(data: ChartData, width: int, height: int) -> list[Text]:
    """The chart as `height` lines of at most `width` cells (fewer lines when too small)."""
    if len(data.points) < 2 or width < 20 or height < 4:
        return [Text("No bets to chart." if len(data.points) < 2 else "(too small to chart)")]
    values = [p.value for p in data.points]
    low, high = _nice_range(min(*values, data.start), max(*values, data.start))
    span = high - low
    label_width = max(len(format_value(v, span)) for v in (high, low, data.start))
    plot_w = width - label_width - 1
    plot_h = height - 2
    dots_w, dots_h = plot_w * 2, plot_h * 4

    def dot_row(value: float) -> int:
        return min(dots_h - 1, max(0, round((high - value) / span * (dots_h - 1))))

    columns = _column_values(data.points, dots_w)
    # Curve dots: each column joins its own range to where the previous column ended.
    lit = [[False] * dots_w for _ in range(dots_h)]
    previous: float | None = None
    curve_row: list[int] = []
    peak_row: list[int] = []
    peak = -math.inf
    for x, (first, lowest, highest) in enumerate(columns):
        top, bottom = highest, lowest
        if previous is not None:
            top, bottom = max(top, previous), min(bottom, previous)
        for y in range(dot_row(top), dot_row(bottom) + 1):
            lit[y][x] = True
        last = first if lowest == highest else (lowest if first >= highest else highest)
        previous = last
        peak = max(peak, highest)
        curve_row.append(dot_row(last))
        peak_row.append(dot_row(peak))

    baseline = dot_row(data.start) // 4
    rows: list[Text] = []
    for cy in range(plot_h):
        line = Text()
        if cy == 0:
            label = format_value(high, span)
        elif cy == plot_h - 1:
            label = format_value(low, span)
        elif cy == baseline:
            label = format_value(data.start, span)
        else:
            label = ""
        line.append(label.rjust(label_width), AXIS_STYLE)
        line.append("┤" if label else "│", AXIS_STYLE)
        for cx in range(plot_w):
            bits = 0
            for dx in range(2):
                for dy in range(4):
                    if lit[cy * 4 + dy][cx * 2 + dx]:
                        bits |= _DOT_BITS[dx][dy]
            if bits:
                line.append(chr(BRAILLE_BASE + bits), CURVE_STYLE)
                continue
            xs = (cx * 2, cx * 2 + 1)
            top = min(peak_row[x] for x in xs)
            bottom = max(curve_row[x] for x in xs)
            if top < cy * 4 and (cy + 1) * 4 - 1 < bottom + 1 and bottom > top:
                line.append(SHADE, DRAWDOWN_STYLE)
            elif cy == baseline:
                line.append(BASELINE, AXIS_STYLE)
            else:
                line.append(" ")
        rows.append(line)
    rows.extend(_x_axis(data, label_width, plot_w))
    return rows


def _x_axis(data: ChartData, label_width: int, plot_w: int) -> list[Text]:
    """The axis line with ticks, and dates under them (first, last, and between if room)."""
    dated = [p for p in data.points if p.date is not None]
    axis = [" "] * plot_w
    dates = [" "] * plot_w
    if dated:
        last_bet = max(data.points[-1].bet, 1)
        long = plot_w >= 40
        label_len = 10 if long else 7
        ticks = max(2, min(5, plot_w // (label_len + 4)))
        placed: list[tuple[int, str]] = []
        for i in range(ticks):
            target_x = round(i * (plot_w - 1) / (ticks - 1))
            bet = target_x / max(plot_w - 1, 1) * last_bet
            point = min(dated, key=lambda p: abs(p.bet - bet))
            assert point.date is not None
            text = point.date.isoformat() if long else point.date.strftime("%Y-%m")
            x = min(plot_w - 1, round(point.bet / last_bet * (plot_w - 1)))
            placed.append((x, text))
        for x, text in placed:
            start = min(max(0, x - len(text) // 2), plot_w - len(text))
            if any(c != " " for c in dates[max(0, start - 1) : start + len(text) + 1]):
                continue
            dates[start : start + len(text)] = list(text)
            axis[x] = "┬"
    axis_line = Text(" " * label_width + "└", AXIS_STYLE)
    axis_line.append("".join("─" if c == " " else c for c in axis), AXIS_STYLE)
    date_line = Text(" " * (label_width + 1) + "".join(dates), AXIS_STYLE)
    return [axis_line, date_line]


class EquityChart(Widget):
    """Cumulative profit (or bank) over the bets, drawdowns shaded; the x axis shows dates."""

    DEFAULT_CSS = """
    EquityChart {
        height: 1fr;
        min-height: 6;
    }
    """

    data: reactive[ChartData | None] = reactive(None, layout=False)

    def __init__(
        self, data: ChartData | None = None, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(EquityChart.data, data)

    def render(self) -> Text:
        if self.data is None:
            return Text("")
        lines = render_chart(self.data, self.size.width, self.size.height)
        return Text("\n").join(lines)
