"""Many variants of one filter at once: a rule template with named parameters, a grid of
values, and each variant's flat-stake numbers over the analysis frame.

Every variant is a backtest with its parameters written in, and reports the same numbers
with the same definitions (`flat.flat_metrics`): `bets`, `wins`, `profit`, `staked`, `yield`,
`max_drawdown`, `longest_losing_run`, `t_stat` and `p_value`. What makes a thousand of them
cost little more than one:

* the market is priced once (`market.market_prices`, `market.flat_pairs`): each fixture's
  outcome and exact flat profit are arrays before any variant runs;
* a subtree of the template without parameters is a mask computed once; a leaf with a
  parameter is computed once per distinct value (a `between` once per distinct bound), so a
  variant costs a few boolean ANDs and a gather;
* no variant writes a ledger.

A sweep runs in two passes over the variants: the first only ORs their masks, because the
luck report's periods are cut from "the fixtures that at least one variant bets on"; the
second measures each variant, with its totals per season and per date block for the walk-
forward and PBO (`core.backtest.luck`). A part of a sweep (scale-out) runs the second pass
over a range of variants.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from core.backtest.candidates import scope_mask
from core.backtest.grid import Grid, GridError
from core.backtest.market import (
    HALF_WIN_CODE,
    PUSH_CODE,
    WIN_CODE,
    FlatPairs,
    MarketPrices,
    flat_pairs,
    market_prices,
)
from core.backtest.metrics import RATIO_CONTEXT, money
from core.backtest.request import BacktestRequest
from core.backtest.stats import one_sided_t_test_of_array
from core.errors import FilterBetsError
from core.frame import AnalysisFrame
from core.rules.catalogue import Labels
from core.rules.mask import field_values, leaf_mask, numbers_mask
from core.rules.validate import (
    Leaf,
    Node,
    Not,
    Param,
    leaf_params,
    params_used,
    parse_rules,
    typed_value,
)

__all__ = [
    "DataChanged",
    "SweepPlan",
    "VariantTotals",
    "bind_rules",
    "check_template",
    "measure_variants",
    "plan_sweep",
]

Bools = NDArray[np.bool_]
Ints = NDArray[np.int64]
Floats = NDArray[np.float64]


class DataChanged(FilterBetsError):
    """The data changed under a sweep split into parts: its parts would not add up."""


# Leaf masks kept per sweep; each is one byte per fixture (1M fixtures: 1 MB).
_MASK_CACHE_BYTES: Final = 256 * 2**20
_EXACT_FLOAT_SUM: Final = 2**53


# --------------------------------------------------------------------------------------
# The template and its grid
# --------------------------------------------------------------------------------------


def check_template(rules: Any, grid: Grid) -> Node:
    """The parsed template; raises GridError (naming the parameter) unless every parameter
    has values in the grid, every grid key is used, and every value suits its fields."""
    node = parse_rules(rules, params=True)
    used = params_used(node)
    for name in used:
        if name not in grid.names:
            raise GridError(f"grid: parameter {name!r} is in the rules but not in the grid")
    for name in grid.names:
        if name not in used:
            raise GridError(f"grid: parameter {name!r} is not used by the rules")
    for name, values in zip(grid.names, grid.values, strict=True):
        for leaf in used[name]:
            whole = isinstance(leaf.value, Param)
            for value in values:
                _check_value(name, leaf, value, whole=whole and leaf.op in ("in", "not_in"))
    return node


def _check_value(name: str, leaf: Leaf, value: Any, *, whole: bool) -> None:
    items = value if whole else [value]
    if whole and (not isinstance(value, list) or not value):
        raise GridError(
            f"grid: parameter {name!r}: {leaf.op} takes a non-empty list of values"
            f" for field '{leaf.field.name}', got {value!r}"
        )
    for item in items:
        try:
            typed_value(leaf.field, item)
        except ValueError as exc:
            raise GridError(f"grid: parameter {name!r}: {exc}") from None


def bind_rules(rules: Any, params: dict[str, Any]) -> Any:
    """The template's JSON with each `{"param": name}` replaced by its value: the rules a
    variant's backtest runs."""
    if isinstance(rules, dict):
        if set(rules) == {"param"} and rules["param"] in params:
            return params[rules["param"]]
        return {key: bind_rules(value, params) for key, value in rules.items()}
    if isinstance(rules, list):
        return [bind_rules(item, params) for item in rules]
    return rules


# --------------------------------------------------------------------------------------
# Masks of variants
# --------------------------------------------------------------------------------------


class _LeafCache:
    """Masks of leaves under one binding each, least recently used first out."""

    def __init__(self, fixtures: int) -> None:
        self.masks: OrderedDict[Any, Bools] = OrderedDict()
        self.capacity = max(8, _MASK_CACHE_BYTES // max(fixtures, 1))

    def get(self, key: Any, compute: Callable[[], Bools]) -> Bools:
        found = self.masks.get(key)
        if found is not None:
            self.masks.move_to_end(key)
            return found
        mask = self.masks[key] = compute()
        if len(self.masks) > self.capacity:
            self.masks.popitem(last=False)
        return mask


class VariantMasks:
    """Masks of a template's variants over one frame."""

    def __init__(self, template: Node, frame: AnalysisFrame) -> None:
        self.template = template
        self.frame = frame
        self.dynamic = _nodes_with_params(template)
        self.static: dict[int, Bools] = {}
        self.leaves = _LeafCache(len(frame))
        self.typed: dict[tuple[str, str, Any], Any] = {}

    def mask(self, binding: dict[str, Any]) -> Bools:
        return self._mask(self.template, binding)

    def _mask(self, node: Node, binding: dict[str, Any]) -> Bools:
        if id(node) not in self.dynamic:
            found = self.static.get(id(node))
            if found is None:
                found = self.static[id(node)] = self._evaluate(node, binding)
            return found
        return self._evaluate(node, binding)

    def _evaluate(self, node: Node, binding: dict[str, Any]) -> Bools:
        if isinstance(node, Leaf):
            return self._leaf(node, binding)
        if isinstance(node, Not):
            return ~self._mask(node.child, binding)
        if not node.children:
            return np.ones(len(self.frame), dtype=np.bool_)
        masks = [self._mask(child, binding) for child in node.children]
        combine = np.logical_and if node.kind == "all" else np.logical_or
        out = masks[0].copy()
        for mask in masks[1:]:
            combine(out, mask, out=out)
        return out

    def _leaf(self, leaf: Leaf, binding: dict[str, Any]) -> Bools:
        if not leaf_params(leaf):
            return leaf_mask(leaf, self.frame)
        value = self._bound(leaf, binding)
        numeric = not isinstance(field_values(leaf.field, self.frame), Labels)
        if leaf.op == "between" and numeric:
            low, high = value
            values = field_values(leaf.field, self.frame).values  # type: ignore[union-attr]
            above = self.leaves.get(
                (leaf.field.name, ">=", low),
                lambda: numbers_mask(leaf.field, ">=", low, values),
            )
            below = self.leaves.get(
                (leaf.field.name, "<=", high),
                lambda: numbers_mask(leaf.field, "<=", high, values),
            )
            return above & below
        bound = replace(leaf, value=value)
        return self.leaves.get(
            (leaf.field.name, leaf.op, value), lambda: leaf_mask(bound, self.frame)
        )

    def _bound(self, leaf: Leaf, binding: dict[str, Any]) -> Any:
        raw = leaf.value
        if isinstance(raw, Param):
            value = binding[raw.name]
            if leaf.op in ("in", "not_in"):
                return tuple(self._typed(leaf, item) for item in value)
            return self._typed(leaf, value)
        assert isinstance(raw, tuple)
        return tuple(
            self._typed(leaf, binding[item.name]) if isinstance(item, Param) else item
            for item in raw
        )

    def _typed(self, leaf: Leaf, value: Any) -> Any:
        key = (leaf.field.name, type(value).__name__, value)
        found = self.typed.get(key)
        if found is None:
            found = self.typed[key] = typed_value(leaf.field, value)
        return found


def _nodes_with_params(node: Node) -> set[int]:
    """ids of the nodes whose subtree holds a parameter."""
    found: set[int] = set()

    def visit(current: Node) -> bool:
        if isinstance(current, Leaf):
            has = bool(leaf_params(current))
        elif isinstance(current, Not):
            has = visit(current.child)
        else:
            has = any([visit(child) for child in current.children])  # visit every child
        if has:
            found.add(id(current))
        return has

    visit(node)
    return found


# --------------------------------------------------------------------------------------
# The plan: what every variant shares
# --------------------------------------------------------------------------------------


@dataclass
class SweepPlan:
    """A sweep's shared arrays over one frame, and the periods of its luck report."""

    request: BacktestRequest
    grid: Grid
    frame: AnalysisFrame
    masks: VariantMasks
    prices: MarketPrices
    pairs: FlatPairs
    betable: Bools
    """In scope with a usable price: a variant bets exactly its mask and this."""
    units: Ints
    """Each fixture's exact flat profit in units of 0.0001."""
    returns: Floats
    """Each fixture's profit per unit staked, as the t-test reads it (0 where not usable)."""
    stake_units: int
    season_order: list[int] = None  # type: ignore[assignment]
    """Season codes of the fixtures any variant bets on, chronologically."""
    season_rank: Ints = None  # type: ignore[assignment]
    """Each fixture's position in season_order (-1 outside it)."""
    block_of_row: Ints = None  # type: ignore[assignment]
    """Each fixture's PBO date block (-1 outside the bet days)."""
    blocks: int = 0
    """Date blocks in use (0: too few dates for PBO)."""
    bet_days: int = 0
    union_days: Ints = None  # type: ignore[assignment]
    """The distinct days any variant bets on, ascending."""

    def variant_rows(self, index: int) -> Ints:
        """Frame rows a variant bets on, in settlement order."""
        return np.flatnonzero(self.masks.mask(self.grid.params(index)) & self.betable)


def prepare_plan(
    frame: AnalysisFrame,
    request: BacktestRequest,
    template: Node,
    grid: Grid,
    stake: Decimal,
) -> SweepPlan:
    """Price the market once for every variant."""
    prices = market_prices(frame, request.market, request.odds_source)
    pairs = flat_pairs(prices, stake, frame, request.win_share)
    return SweepPlan(
        request=request,
        grid=grid,
        frame=frame,
        masks=VariantMasks(template, frame),
        prices=prices,
        pairs=pairs,
        betable=scope_mask(frame, request) & prices.usable,
        units=pairs.fixture_units(),
        returns=np.where(pairs.pair >= 0, np.array([*pairs.returns, 0.0])[pairs.pair], 0.0),
        stake_units=int(stake.scaleb(4)),
    )


def plan_sweep(
    frame: AnalysisFrame,
    request: BacktestRequest,
    template: Node,
    grid: Grid,
    stake: Decimal,
    pbo_blocks: int,
    progress: Callable[[int], None] | None = None,
) -> SweepPlan:
    """The plan, with the luck report's periods cut from the fixtures any variant bets on
    (found by ORing every variant's mask)."""
    plan = prepare_plan(frame, request, template, grid, stake)
    union = np.zeros(len(frame), dtype=np.bool_)
    for index in range(grid.size):
        union |= plan.masks.mask(grid.params(index))
        if progress is not None:
            progress(index + 1)
    union &= plan.betable
    off_grid = union & plan.prices.off_grid
    if off_grid.any():
        bad = float(plan.prices.line[np.flatnonzero(off_grid)[0]])  # type: ignore[index]
        raise ValueError(f"Asian handicap line must be a multiple of 0.25, got {bad!r}")
    rows = np.flatnonzero(union)
    set_periods(plan, np.unique(frame.day[rows]), _season_order(frame, rows), pbo_blocks)
    return plan


def _season_order(frame: AnalysisFrame, rows: Ints) -> list[str]:
    """The seasons of these rows in chronological order: by their first day, then label."""
    first_day: dict[int, int] = {}
    for season, day in zip(frame.season[rows].tolist(), frame.day[rows].tolist(), strict=True):
        if season not in first_day or day < first_day[season]:
            first_day[season] = day
    order = sorted(first_day, key=lambda s: (first_day[s], frame.season_labels[s]))
    return [frame.season_labels[code] for code in order]


def set_periods(plan: SweepPlan, bet_days: Ints, seasons: list[str], pbo_blocks: int) -> None:
    """Place every fixture in the luck report's periods: its season's position among
    `seasons` and its day's PBO date block among the distinct `bet_days`
    (`luck.date_blocks`); -1 outside them."""
    from core.backtest.luck import date_blocks

    frame = plan.frame
    code_of = {label: code for code, label in enumerate(frame.season_labels)}
    if any(label not in code_of for label in seasons):
        raise DataChanged("a season of the sweep is no longer in the data")
    rank = np.full(len(frame.season_labels), -1, dtype=np.int64)
    rank[[code_of[label] for label in seasons]] = np.arange(len(seasons))
    plan.season_order = [code_of[label] for label in seasons]
    plan.season_rank = rank[frame.season] if len(frame) else frame.season.copy()
    plan.bet_days = len(bet_days)
    plan.union_days = bet_days
    plan.blocks = 0
    block_of_row = np.full(len(frame), -1, dtype=np.int64)
    if len(bet_days) >= pbo_blocks >= 2:
        block_of_day = date_blocks(bet_days, pbo_blocks)
        where = np.minimum(np.searchsorted(bet_days, frame.day), len(bet_days) - 1)
        on_a_bet_day = bet_days[where] == frame.day
        block_of_row[on_a_bet_day] = block_of_day[where[on_a_bet_day]]
        plan.blocks = pbo_blocks
    plan.block_of_row = block_of_row


# --------------------------------------------------------------------------------------
# Measuring variants
# --------------------------------------------------------------------------------------


@dataclass
class VariantTotals:
    """The second pass's output for variants [start, stop)."""

    start: int
    rows: list[dict[str, Any]]
    """Each variant's summary: params and the flat-stake keys (q_value comes later)."""
    season_bets: Ints
    season_units: Ints
    block_bets: Ints
    block_units: Ints

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "rows": self.rows,
            "season_bets": self.season_bets.tolist(),
            "season_units": self.season_units.tolist(),
            "block_bets": self.block_bets.tolist(),
            "block_units": self.block_units.tolist(),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> VariantTotals:
        def array(key: str, width: int) -> Ints:
            return np.array(data[key], dtype=np.int64).reshape(len(data["rows"]), width)

        seasons = len(data["season_bets"][0]) if data["season_bets"] else 0
        blocks = len(data["block_bets"][0]) if data["block_bets"] else 0
        return VariantTotals(
            start=int(data["start"]),
            rows=list(data["rows"]),
            season_bets=array("season_bets", seasons),
            season_units=array("season_units", seasons),
            block_bets=array("block_bets", blocks),
            block_units=array("block_units", blocks),
        )

    @staticmethod
    def concatenate(parts: list[VariantTotals]) -> VariantTotals:
        parts = sorted(parts, key=lambda part: part.start)
        return VariantTotals(
            start=parts[0].start,
            rows=[row for part in parts for row in part.rows],
            season_bets=np.concatenate([part.season_bets for part in parts]),
            season_units=np.concatenate([part.season_units for part in parts]),
            block_bets=np.concatenate([part.block_bets for part in parts]),
            block_units=np.concatenate([part.block_units for part in parts]),
        )


def measure_variants(
    plan: SweepPlan,
    start: int,
    stop: int,
    progress: Callable[[int], None] | None = None,
) -> VariantTotals:
    """Each variant's numbers, as its own backtest would report them."""
    seasons, blocks = len(plan.season_order), plan.blocks
    count = stop - start
    season_bets = np.zeros((count, seasons), dtype=np.int64)
    season_units = np.zeros((count, seasons), dtype=np.int64)
    block_bets = np.zeros((count, blocks), dtype=np.int64)
    block_units = np.zeros((count, blocks), dtype=np.int64)
    rows: list[dict[str, Any]] = []
    outcome = plan.prices.outcome
    with localcontext(RATIO_CONTEXT):
        for i, index in enumerate(range(start, stop)):
            params = plan.grid.params(index)
            bet = np.flatnonzero(plan.masks.mask(params) & plan.betable)
            units = plan.units[bet]
            codes = outcome[bet]
            rows.append(_summary(params, bet, units, codes, plan))
            if len(bet):
                _add_totals(season_bets[i], season_units[i], plan.season_rank[bet], units)
                if blocks:
                    _add_totals(block_bets[i], block_units[i], plan.block_of_row[bet], units)
            if progress is not None:
                progress(index + 1)
    return VariantTotals(start, rows, season_bets, season_units, block_bets, block_units)


def _add_totals(bets: Ints, total: Ints, period: Ints, units: Ints) -> None:
    width = len(bets)
    bets += np.bincount(period, minlength=width)
    sums = np.bincount(period, weights=units, minlength=width)
    if np.abs(sums).max(initial=0.0) >= _EXACT_FLOAT_SUM:
        raise OverflowError("a variant's profit is too large to total exactly")
    total += sums.astype(np.int64)


def _summary(
    params: dict[str, Any],
    bet: Ints,
    units: Ints,
    codes: Ints,
    plan: SweepPlan,
) -> dict[str, Any]:
    """The flat-stake keys of `backtest --json` for one variant (same definitions as
    `flat.flat_metrics`, bit for bit)."""
    n = len(bet)
    stake = plan.pairs.stake
    profit = Decimal(int(units.sum(dtype=np.int64))).scaleb(-4)
    staked = stake * n
    cum = np.cumsum(units, dtype=np.int64) / 1e4
    if n:
        peak = np.maximum.accumulate(np.maximum(cum, 0.0))
        max_drawdown = max(round(float((peak - cum).max()), 4), 0.0)
    else:
        max_drawdown = 0.0
    decided = codes[codes != PUSH_CODE]
    won = (decided == WIN_CODE) | (decided == HALF_WIN_CODE)
    test = one_sided_t_test_of_array(plan.returns[bet])
    return {
        "params": params,
        "bets": n,
        "wins": int(np.count_nonzero(codes == WIN_CODE)),
        "profit": money(profit),
        "staked": money(staked),
        "yield": float(profit / staked) if staked else None,
        "max_drawdown": max_drawdown,
        "longest_losing_run": _longest_run(~won),
        "t_stat": test.t_stat if test else None,
        "p_value": test.p_value if test else None,
    }


def _longest_run(mask: Bools) -> int:
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def season_labels(plan: SweepPlan) -> list[str]:
    return [plan.frame.season_labels[code] for code in plan.season_order]


def kickoff_day(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day)
