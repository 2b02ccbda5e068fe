"""A backtest's headline metrics, with its warnings first and unmissable.

`metric_lines(metrics)` gives (label, text) pairs in display order; the panel lays them out
in two columns when there is room, and the compare view lines two results' pairs up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from core.results import TrialCount
from tui.widgets.styles import BAD, GOOD

WARNING_STYLE = "bold reverse"
"""Reverse video: stands out in any theme and with NO_COLOR."""
TWO_COLUMNS_FROM = 64


def fmt_units(value: Any, digits: int = 2, *, sign: bool = True) -> str:
    if value is None:
        return "-"
    return f"{float(value):+,.{digits}f}" if sign else f"{float(value):,.{digits}f}"


def fmt_pct(value: Any, digits: int = 2, *, sign: bool = True) -> str:
    if value is None:
        return "-"
    pct = float(value) * 100
    return f"{pct:+.{digits}f}%" if sign else f"{pct:.{digits}f}%"


def fmt_int(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def fmt_p(value: Any) -> str:
    if value is None:
        return "-"
    return "<0.0001" if float(value) < 0.0001 else f"{float(value):.4f}"


def fmt_num(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{float(value):,.{digits}f}"


def staking_label(staking: dict[str, Any]) -> str:
    kind = staking.get("kind", "flat")
    if kind == "flat":
        return f"flat {staking.get('stake', '1.00')}"
    if kind == "percent":
        return f"{staking.get('percent')}% of bank"
    return f"kelly x{staking.get('fraction')} (cap {staking.get('cap')})"


@dataclass(frozen=True)
class MetricLine:
    key: str
    label: str
    text: str
    value: float | None = None
    """A number to compare by (the compare view marks the better side); None: not compared."""
    higher_is_better: bool = True


def _line(
    metrics: dict[str, Any],
    key: str,
    label: str,
    fmt: Callable[[Any], str],
    *,
    better: bool | None = True,
) -> MetricLine:
    raw = metrics.get(key)
    number = float(raw) if isinstance(raw, int | float) and better is not None else None
    return MetricLine(key, label, fmt(raw), number, bool(better))


def metric_lines(metrics: dict[str, Any], trials: TrialCount | None = None) -> list[MetricLine]:
    """The headline numbers in reading order; with `trials`, the p-value says how many
    variants of its filter were tried and a Bonferroni-adjusted p follows it."""
    m = metrics
    drawdown = fmt_units(m.get("max_drawdown"), sign=False)
    if m.get("max_drawdown_pct") is not None:
        drawdown += f" ({fmt_pct(m['max_drawdown_pct'], 1, sign=False)})"
    record = (
        f"{fmt_int(m.get('wins'))}W {fmt_int(m.get('losses'))}L"
        + (f" {fmt_int(m.get('pushes'))}P" if m.get("pushes") else "")
        + (
            f" ½W{m.get('half_wins', 0)} ½L{m.get('half_losses', 0)}"
            if m.get("half_wins") or m.get("half_losses")
            else ""
        )
    )
    skipped = m.get("skipped_no_odds", 0) or 0
    no_edge = m.get("skipped_no_edge", 0) or 0
    lines = [
        _line(m, "bets", "Bets", fmt_int, better=None),
        MetricLine("record", "Won/lost", record),
        _line(m, "strike_rate", "Strike rate", lambda v: fmt_pct(v, 1, sign=False)),
        _line(m, "avg_odds", "Avg odds", lambda v: fmt_num(v, 3), better=None),
        _line(m, "staked", "Staked", lambda v: fmt_units(v, sign=False), better=None),
        _line(m, "profit", "Profit", fmt_units),
        _line(m, "yield", "Yield", fmt_pct),
        _line(m, "roc", "ROC", fmt_pct),
        MetricLine(
            "max_drawdown",
            "Max drawdown",
            drawdown,
            None if m.get("max_drawdown") is None else float(m["max_drawdown"]),
            higher_is_better=False,
        ),
        _line(
            m, "drawdown_duration_bets", "Under water", lambda v: f"{fmt_int(v)} bets", better=False
        ),
        MetricLine(
            "runs",
            "Longest runs",
            f"won {m.get('longest_winning_run', '-')}, lost {m.get('longest_losing_run', '-')}",
        ),
        _line(m, "t_stat", "t-stat", lambda v: fmt_num(v, 3)),
        _line(m, "p_value", "p-value", fmt_p, better=False),
        _line(m, "p_value_odds_weighted", "p (odds-wtd)", fmt_p, better=False),
        MetricLine(
            "clv",
            "CLV",
            f"{fmt_pct(m.get('clv'))} on {fmt_pct(m.get('clv_coverage'), 0, sign=False)}",
            None if m.get("clv") is None else float(m["clv"]),
        ),
        MetricLine("skipped", "Not bet", f"{skipped:,} no odds, {no_edge:,} no edge"),
    ]
    if trials is not None:
        at = next(i for i, line in enumerate(lines) if line.key == "p_value")
        p_line = lines[at]
        count = f"{trials.trials:,} trial{'s' if trials.trials != 1 else ''}"
        adjusted = trials.bonferroni(_float(m.get("p_value")))
        lines[at : at + 1] = [
            MetricLine("p_value", "p-value", f"{p_line.text} of {count}", p_line.value, False),
            MetricLine("p_bonferroni", "Bonferroni p", fmt_p(adjusted), adjusted, False),
        ]
    if m.get("final_bank") is not None and (m.get("staking") or {}).get("kind") != "flat":
        lines.insert(
            6,
            _line(m, "final_bank", "Final bank", lambda v: fmt_units(v, sign=False)),
        )
    return lines


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def warning_texts(metrics: dict[str, Any]) -> list[Text]:
    return [
        Text.assemble(("⚠ WARNING ", WARNING_STYLE), " ", (str(w), "bold"))
        for w in metrics.get("warnings") or ()
    ]


def _value_style(line: MetricLine) -> str:
    if line.key in ("profit", "yield", "roc") and line.value is not None:
        return GOOD if line.value > 0 else BAD if line.value < 0 else ""
    return ""


class MetricsPanel(Widget):
    """Warnings, then the headline metrics in one or two label/value columns."""

    DEFAULT_CSS = """
    MetricsPanel {
        height: auto;
    }
    """

    metrics: reactive[dict[str, Any] | None] = reactive(None, layout=True)
    trials: reactive[TrialCount | None] = reactive(None, layout=True)
    """The trials on the result's filter, shown beside the p-value."""

    def __init__(
        self,
        metrics: dict[str, Any] | None = None,
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(MetricsPanel.metrics, metrics)

    def render(self) -> RenderableType:
        metrics = self.metrics
        if metrics is None:
            return Text("")
        lines = metric_lines(metrics, self.trials)
        pairs = 2 if self.size.width >= TWO_COLUMNS_FROM else 1
        table = Table.grid(padding=(0, 1), expand=False)
        for _ in range(pairs):
            table.add_column(style="dim", no_wrap=True)
            table.add_column(no_wrap=True, min_width=14)
        per_column = -(-len(lines) // pairs)
        columns = [lines[i * per_column : (i + 1) * per_column] for i in range(pairs)]
        for row in range(per_column):
            cells: list[Text | str] = []
            for column in columns:
                if row < len(column):
                    line = column[row]
                    cells += [line.label, Text(line.text, style=_value_style(line))]
                else:
                    cells += ["", ""]
            table.add_row(*cells)
        staking = metrics.get("staking") or {}
        heading = Text.assemble(
            ("Market ", "dim"),
            str(metrics.get("market", "-")),
            ("  Odds ", "dim"),
            str(metrics.get("odds_source", "-")),
            ("  Staking ", "dim"),
            staking_label(staking),
        )
        return Group(*warning_texts(metrics), heading, table)
