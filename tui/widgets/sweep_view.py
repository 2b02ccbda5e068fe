"""What the sweep result shows, as plain Python (tested without a screen): the variants
sorted by any metric, and the heatmap's slice of the grid.

A sweep's variants are in grid order, the last parameter varying fastest, so a variant's
position in the list is its coordinates in the grid read as a mixed-radix number. The heatmap
shows two parameters (rows and columns) and holds every other parameter at one value; the
held values step through the other parameters' combinations in grid order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from core.backtest.grid import Grid
from core.results import SweepVariantRow
from tui.widgets.rule_text import value_text

VariantSort = Literal["index", "bets", "profit", "yield", "max_drawdown", "p", "q"]
VARIANT_SORTS: tuple[VariantSort, ...] = get_args(VariantSort)
SORT_LABELS: dict[VariantSort, str] = {
    "index": "#",
    "bets": "Bets",
    "profit": "Profit",
    "yield": "Yield",
    "max_drawdown": "Max DD",
    "p": "p",
    "q": "q",
}
BEST_FIRST_DESC: dict[VariantSort, bool] = {
    "index": False,
    "bets": True,
    "profit": True,
    "yield": True,
    "max_drawdown": False,
    "p": False,
    "q": False,
}
"""Which way a first press of the sort key turns each metric: best first."""

_KEYS: dict[VariantSort, Callable[[SweepVariantRow], float | None]] = {
    "index": lambda v: float(v.index),
    "bets": lambda v: float(v.bets),
    "profit": lambda v: float(v.profit),
    "yield": lambda v: v.yield_,
    "max_drawdown": lambda v: v.max_drawdown if v.bets else None,
    "p": lambda v: v.p_value,
    "q": lambda v: v.q_value,
}


def sort_variants(
    variants: list[SweepVariantRow], sort_by: VariantSort, desc: bool
) -> list[SweepVariantRow]:
    """Sorted by one metric; a variant without it (no bets, no p) comes last either way,
    ties in grid order."""
    key = _KEYS[sort_by]
    present = [v for v in variants if key(v) is not None]
    missing = [v for v in variants if key(v) is None]

    def order(v: SweepVariantRow) -> tuple[float, int]:
        value = key(v)
        assert value is not None
        return (-value if desc else value, v.index)

    return sorted(present, key=order) + missing


def params_text(params: dict[str, Any]) -> str:
    """`lo=1.5 hi=3` as the CLI writes a variant."""
    return " ".join(f"{name}={value_text(value)}" for name, value in params.items())


def best_variant(variants: list[SweepVariantRow], min_bets: int) -> SweepVariantRow | None:
    """The highest yield among variants with at least `min_bets` bets (at least 1), the
    earliest on a tie: the variant the luck report calls the best in sample."""
    best: SweepVariantRow | None = None
    for variant in variants:
        if variant.bets < max(min_bets, 1) or variant.yield_ is None:
            continue
        if best is None or best.yield_ is None or variant.yield_ > best.yield_:
            best = variant
    return best


# The heatmap ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HeatmapAxes:
    """Which parameters the heatmap spreads out (positions in the grid's order)."""

    rows: int
    cols: int | None
    """None: a grid of one parameter, shown as one column."""


def default_axes(grid: Grid) -> HeatmapAxes:
    """The first two parameters; the one with more values down the side (rows scroll more
    readably than columns at 80 columns)."""
    if len(grid.names) == 1:
        return HeatmapAxes(0, None)
    first, second = len(grid.values[0]), len(grid.values[1])
    return HeatmapAxes(1, 0) if second > first else HeatmapAxes(0, 1)


def axis_pairs(grid: Grid) -> list[tuple[int, int]]:
    """Every unordered pair of parameters, in grid order: what `a` steps through."""
    count = len(grid.names)
    return [(i, j) for i in range(count) for j in range(i + 1, count)]


def next_axes(grid: Grid, axes: HeatmapAxes) -> HeatmapAxes:
    """The next pair of parameters (each pair with its longer one down the side)."""
    pairs = axis_pairs(grid)
    if axes.cols is None or not pairs:
        return axes
    current = tuple(sorted((axes.rows, axes.cols)))
    i, j = pairs[(pairs.index(current) + 1) % len(pairs)]  # type: ignore[arg-type]
    return HeatmapAxes(j, i) if len(grid.values[j]) > len(grid.values[i]) else HeatmapAxes(i, j)


def held_params(grid: Grid, axes: HeatmapAxes) -> list[int]:
    """The parameters the heatmap holds at one value (all but its axes), in grid order."""
    return [k for k in range(len(grid.names)) if k not in (axes.rows, axes.cols)]


def held_count(grid: Grid, axes: HeatmapAxes) -> int:
    """How many combinations of the held parameters there are to step through."""
    return math.prod(len(grid.values[k]) for k in held_params(grid, axes))


@dataclass(frozen=True)
class HeatmapSlice:
    row_name: str
    row_values: tuple[Any, ...]
    col_name: str | None
    col_values: tuple[Any, ...]
    held: dict[str, Any]
    """Every other parameter, at the value this slice holds it."""
    cells: tuple[tuple[int, ...], ...]
    """cells[r][c]: the index of the variant at row value r and column value c."""


def _strides(grid: Grid) -> list[int]:
    strides = [1] * len(grid.values)
    for k in range(len(grid.values) - 2, -1, -1):
        strides[k] = strides[k + 1] * len(grid.values[k + 1])
    return strides


def heatmap_slice(grid: Grid, axes: HeatmapAxes, held_index: int) -> HeatmapSlice:
    """The variants of the heatmap's rows and columns, other parameters held at their
    `held_index`-th combination (grid order, the last held parameter fastest)."""
    strides = _strides(grid)
    held = held_params(grid, axes)
    base = 0
    remaining = held_index % max(held_count(grid, axes), 1)
    held_values: dict[str, Any] = {}
    for k in reversed(held):
        remaining, at = divmod(remaining, len(grid.values[k]))
        base += at * strides[k]
        held_values[grid.names[k]] = grid.values[k][at]
    held_values = {grid.names[k]: held_values[grid.names[k]] for k in held}
    rows = grid.values[axes.rows]
    if axes.cols is None:
        column = tuple((base + r * strides[axes.rows],) for r in range(len(rows)))
        return HeatmapSlice(grid.names[axes.rows], rows, None, (), held_values, column)
    cols = grid.values[axes.cols]
    cells = tuple(
        tuple(base + r * strides[axes.rows] + c * strides[axes.cols] for c in range(len(cols)))
        for r in range(len(rows))
    )
    return HeatmapSlice(
        grid.names[axes.rows], rows, grid.names[axes.cols], cols, held_values, cells
    )


def yield_cell_text(variant: SweepVariantRow) -> str:
    """A heatmap cell: the yield in percent with one decimal and its sign, or · without
    bets. Numbers, so the map reads without colour."""
    if variant.yield_ is None:
        return "·"
    return f"{variant.yield_ * 100:+.1f}"


def yield_shade(value: float | None, scale: float) -> str | None:
    """A background for a yield: green tints above zero, red below, stronger with the size
    of the yield against `scale` (the largest size in the slice); None without bets."""
    if value is None:
        return None
    # The square root spreads the small yields apart, where most variants are.
    strength = 0.0 if scale <= 0 else min(abs(value) / scale, 1.0) ** 0.5
    # From a dark grey towards a mid green or red: light text stays readable on all of them.
    low = (48, 48, 48)
    high = (40, 130, 40) if value > 0 else (150, 45, 45) if value < 0 else low
    r, g, b = (round(a + (h - a) * strength) for a, h in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"
