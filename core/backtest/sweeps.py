"""Running a sweep and keeping it: the request, the luck report, and the stored result.

A sweep is stored as one result (`backtest_results.kind = "sweep"`): the request with its
grid, the rules template, the data fingerprint and the luck report in `metrics`, and one
`sweep_variants` row per variant (its summary, no ledger). Its headline numbers (the
result's bets, profit and yield) are the walk-forward's out-of-sample ones: what choosing
the best variant season by season would have made on seasons it had not seen.

Every variant also counts as a trial of its filter (`filter_trials`), so the filter's later
p-values are shown against every variant ever tried on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal, localcontext
from typing import Any, Final

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.backtest.engine import (
    BacktestCancelled,
    BacktestEngine,
    BeforeCommit,
    Progress,
    ResolvedFilter,
)
from core.backtest.grid import Grid, parse_grid
from core.backtest.luck import (
    PeriodTotals,
    benjamini_hochberg,
    best_in_sample_yield,
    probability_of_backtest_overfitting,
    walk_forward_choices,
)
from core.backtest.market import market_columns
from core.backtest.metrics import RATIO_CONTEXT, money
from core.backtest.request import BacktestRequest, RequestError
from core.backtest.stats import grouped_one_sided_t_test
from core.backtest.sweep import (
    SweepPlan,
    VariantTotals,
    bind_rules,
    check_template,
    measure_variants,
    plan_sweep,
    season_labels,
)
from core.db import Database, dialect_insert, utcnow
from core.frame import frame_for
from core.models import BacktestResult, FilterTrial, SweepVariant
from core.rules.mask import rule_columns
from core.rules.validate import CLOSING_PRICE_WARNING, parse_rules, uses_closing_prices

__all__ = ["SweepEngine", "SweepRequest", "SweepRun", "variant_key"]

DEFAULT_MIN_BETS: Final = 50
DEFAULT_PBO_BLOCKS: Final = 10
# Progress: planning (the OR of every mask) takes the first share, measuring the rest.
_PLAN_SHARE: Final = 0.25
_MEASURE_END: Final = 0.9


@dataclass(frozen=True)
class SweepRequest:
    """A backtest request whose rules are a template, and the grid of its parameters."""

    backtest: BacktestRequest
    grid: dict[str, Any]
    min_bets: int = DEFAULT_MIN_BETS
    walk_forward: bool = True
    pbo_blocks: int = DEFAULT_PBO_BLOCKS
    parts: int | None = None
    """Run as a job, split into this many parts that any worker may claim (None: as many
    as its size calls for, see `parts_for`). A sweep run in-process ignores it."""
    extra: dict[str, Any] = field(default_factory=dict)

    def validated(self) -> SweepRequest:
        backtest = self.backtest.validated()
        if backtest.staking != "flat":
            raise RequestError(
                "staking: sweeps bet flat stakes (percent and Kelly: run a backtest)"
            )
        if (
            isinstance(self.min_bets, bool)
            or not isinstance(self.min_bets, int)
            or self.min_bets < 0
        ):
            raise RequestError(
                f"min-bets: must be a whole number of 0 or more, got {self.min_bets!r}"
            )
        blocks = self.pbo_blocks
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 2 or blocks % 2:
            raise RequestError(f"pbo-blocks: must be an even number of at least 2, got {blocks!r}")
        if self.parts is not None and (
            isinstance(self.parts, bool) or not isinstance(self.parts, int) or self.parts < 1
        ):
            raise RequestError(f"parts: must be a whole number of 1 or more, got {self.parts!r}")
        parse_grid(self.grid)
        return replace(self, backtest=backtest)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "sweep",
            "backtest": self.backtest.to_dict(),
            "grid": parse_grid(self.grid).spec,
            "min_bets": self.min_bets,
            "walk_forward": self.walk_forward,
            "pbo_blocks": self.pbo_blocks,
            "parts": self.parts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepRequest:
        try:
            return cls(
                backtest=BacktestRequest.from_dict(dict(data["backtest"])),
                grid=data["grid"],
                min_bets=int(data.get("min_bets", DEFAULT_MIN_BETS)),
                walk_forward=bool(data.get("walk_forward", True)),
                pbo_blocks=int(data.get("pbo_blocks", DEFAULT_PBO_BLOCKS)),
                parts=None if data.get("parts") is None else int(data["parts"]),
            ).validated()
        except KeyError as exc:
            raise RequestError(f"sweep request: missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise RequestError(f"sweep request: {exc}") from exc


@dataclass(frozen=True)
class SweepRun:
    result_id: int
    report: dict[str, Any]
    """The `sweep --json` object: trials, variants, walk_forward, pbo (and more)."""
    seconds: float


def variant_key(rules: Any, market: str, odds_source: str) -> str:
    """What makes two trials of a filter the same: the rules as run, market and source."""
    canonical = json.dumps([rules, market, odds_source], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


Distribute = Callable[[SweepPlan, "SweepRequest", int, Progress], Awaitable[VariantTotals]]
"""Measure a planned sweep's variants in `parts` parts elsewhere (jobs) and gather them."""
# Variants x fixtures one part of a job's sweep takes on: 10,000 variants over 1M fixtures
# make two parts.
PART_WORK: Final = 5 * 10**9
MAX_PARTS: Final = 64


def parts_for(request: SweepRequest, plan: SweepPlan) -> int:
    if request.parts is not None:
        return min(request.parts, plan.grid.size)
    work = plan.grid.size * max(len(plan.frame), 1)
    return max(1, min(-(-work // PART_WORK), MAX_PARTS, plan.grid.size))


class SweepEngine:
    def __init__(
        self,
        db: Database,
        user_id: int,
        *,
        backtests: BacktestEngine | None = None,
        distribute: Distribute | None = None,
    ) -> None:
        self.db = db
        self.user_id = user_id
        # A job's engine resolves the filter from its snapshot (see core.jobs.runner).
        self.backtests = backtests or BacktestEngine(db, user_id)
        self.distribute = distribute

    async def prepare(self, request: SweepRequest) -> tuple[SweepRequest, ResolvedFilter, Grid]:
        """Check everything before any work: the request, the filter, the grid against the
        template (GridError names the parameter at fault)."""
        request = request.validated()
        resolved = await self.backtests.resolve_template(request.backtest)
        grid = parse_grid(request.grid)
        check_template(resolved.rules, grid)
        await self.backtests._check_scope(request.backtest, resolved.rules)
        return request, resolved, grid

    async def run(
        self,
        request: SweepRequest,
        *,
        progress: Progress | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        store: bool = True,
        before_commit: BeforeCommit | None = None,
    ) -> SweepRun:
        started = time.perf_counter()

        def report(fraction: float, message: str) -> None:
            if is_cancelled is not None and is_cancelled():
                raise BacktestCancelled("cancelled")
            if progress is not None:
                progress(fraction, message)

        request, resolved, grid = await self.prepare(request)
        backtest = request.backtest
        template = check_template(resolved.rules, grid)
        total = grid.size
        report(0.0, f"loading data for {total:,} variants")
        columns = rule_columns(template) | market_columns(backtest.market, backtest.odds_source)
        frame = await frame_for(self.db, columns)
        fingerprint = await self.backtests._fingerprint(backtest, frame)
        stake = backtest.stake or resolved.stake
        # Report often enough for a cancel to land within a second, rarely enough to cost
        # nothing: every variant's check is a function call.
        every = max(1, total // 200)

        def planned(done: int) -> None:
            if done % every == 0 or done == total:
                report(_PLAN_SHARE * done / total, f"planning: {done:,} of {total:,} variants")

        def measured(done: int) -> None:
            if done % every == 0 or done == total:
                share = _PLAN_SHARE + (_MEASURE_END - _PLAN_SHARE) * done / total
                report(share, f"measuring: {done:,} of {total:,} variants")

        plan = await asyncio.to_thread(
            plan_sweep, frame, backtest, template, grid, stake, request.pbo_blocks, planned
        )
        parts = parts_for(request, plan) if self.distribute is not None else 1
        if parts > 1:
            assert self.distribute is not None
            totals = await self.distribute(plan, request, parts, report)
        else:
            totals = await asyncio.to_thread(measure_variants, plan, 0, total, measured)
        report(_MEASURE_END, "luck report")
        summary = await asyncio.to_thread(luck_report, plan, totals, request, resolved.rules)
        result_id = 0
        if store:
            report(0.95, f"storing {total:,} variants")
            result_id = await self._store(
                request, resolved, fingerprint, summary, totals, before_commit
            )
        report(1.0, "done")
        return SweepRun(result_id, summary, time.perf_counter() - started)

    async def _store(
        self,
        request: SweepRequest,
        resolved: ResolvedFilter,
        fingerprint: dict[str, Any],
        summary: dict[str, Any],
        totals: VariantTotals,
        before_commit: BeforeCommit | None,
    ) -> int:
        backtest = request.backtest
        headline = summary.get("walk_forward") or {}
        stored_metrics = {key: value for key, value in summary.items() if key != "variants"}
        async with self.db.session() as session:
            result = BacktestResult(
                user_id=self.user_id,
                filter_id=resolved.filter_id,
                filter_name=resolved.filter_name,
                kind="sweep",
                request=request.to_dict(),
                rules_snapshot={
                    "rules": resolved.rules,
                    "filter_id": resolved.filter_id,
                    "filter_name": resolved.filter_name,
                    "filter_stake": str(resolved.stake),
                },
                data_fingerprint=fingerprint,
                metrics=stored_metrics,
                market=backtest.market,
                odds_source=backtest.odds_source,
                bets=int(headline.get("bets") or 0),
                profit=Decimal(str(headline.get("profit") or 0)),
                yield_=headline.get("yield"),
                created_at=utcnow(),
            )
            session.add(result)
            await session.flush()
            result_id = int(result.id)
            await _insert_variants(session, result_id, summary["variants"])
            if resolved.filter_id is not None:
                await self._count_trials(session, resolved, backtest, totals)
            if before_commit is not None:
                await before_commit(session, result_id)
        return result_id

    async def _count_trials(
        self,
        session: AsyncSession,
        resolved: ResolvedFilter,
        backtest: BacktestRequest,
        totals: VariantTotals,
    ) -> None:
        assert resolved.filter_id is not None
        keys = {
            variant_key(
                bind_rules(resolved.rules, row["params"]), backtest.market, backtest.odds_source
            )
            for row in totals.rows
        }
        await record_trials(session, resolved.filter_id, keys)


async def record_trials(session: AsyncSession, filter_id: int, keys: set[str]) -> None:
    """Count each variant once per filter, however often it is run again."""
    if not keys:
        return
    dialect = (await session.connection()).dialect.name
    now = utcnow()
    rows = [{"filter_id": filter_id, "variant_key": key, "first_run_at": now} for key in keys]
    for start in range(0, len(rows), 5_000):
        statement = dialect_insert(dialect, FilterTrial.__table__).on_conflict_do_nothing()
        await session.execute(statement, rows[start : start + 5_000])


async def filter_trials(db: Database, filter_id: int) -> int:
    """How many distinct variants have ever been run on a filter."""
    async with db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(FilterTrial).where(FilterTrial.filter_id == filter_id)
        )
    return int(count or 0)


async def _insert_variants(
    session: AsyncSession, result_id: int, variants: list[dict[str, Any]]
) -> None:
    rows = [
        {
            "result_id": result_id,
            "idx": index,
            "params": row["params"],
            "bets": row["bets"],
            "wins": row["wins"],
            "profit": Decimal(repr(row["profit"])),
            "staked": Decimal(repr(row["staked"])),
            "yield_": row["yield"],
            "max_drawdown": row["max_drawdown"],
            "longest_losing_run": row["longest_losing_run"],
            "t_stat": row["t_stat"],
            "p_value": row["p_value"],
            "q_value": row["q_value"],
        }
        for index, row in enumerate(variants)
    ]
    for start in range(0, len(rows), 5_000):
        await session.execute(insert(SweepVariant), rows[start : start + 5_000])


# --------------------------------------------------------------------------------------
# The luck report
# --------------------------------------------------------------------------------------


def luck_report(
    plan: SweepPlan, totals: VariantTotals, request: SweepRequest, rules: Any
) -> dict[str, Any]:
    """The `sweep --json` object: every variant with its q-value, the walk-forward over
    seasons, and the PBO over date blocks."""
    variants = [dict(row) for row in totals.rows]
    for row, q in zip(
        variants, benjamini_hochberg([row["p_value"] for row in variants]), strict=True
    ):
        row["q_value"] = q
    stake_units = plan.stake_units
    whole = PeriodTotals(
        bets=totals.season_bets.sum(axis=1, keepdims=True),
        profit_units=totals.season_units.sum(axis=1, keepdims=True),
        staked_units=totals.season_bets.sum(axis=1, keepdims=True) * stake_units,
    )
    best = best_in_sample_yield(
        whole.bets[:, 0], whole.profit_units[:, 0], whole.staked_units[:, 0], request.min_bets
    )
    seasons = season_labels(plan)
    walk = None
    if request.walk_forward and len(seasons) >= 3:
        walk = _walk_forward(plan, totals, seasons, request.min_bets, best)
    pbo = None
    pbo_detail: dict[str, Any] = {"blocks": plan.blocks, "bet_days": plan.bet_days}
    if plan.blocks:
        result = probability_of_backtest_overfitting(
            PeriodTotals(totals.block_bets, totals.block_units, totals.block_bets * stake_units)
        )
        pbo = result.pbo
        pbo_detail |= {
            "evaluated_splits": result.evaluated_splits,
            "overfit_splits": result.overfit_splits,
        }
    backtest = request.backtest
    warnings = []
    if uses_closing_prices(parse_rules(rules, params=True)) or backtest.price_timing:
        warnings.append(CLOSING_PRICE_WARNING)
    if request.walk_forward and len(seasons) < 3:
        warnings.append(
            f"walk-forward needs bets in at least 3 seasons; these variants bet in {len(seasons)}"
        )
    if plan.blocks == 0:
        warnings.append(
            f"PBO needs at least {request.pbo_blocks} bet days; these variants bet on"
            f" {plan.bet_days}"
        )
    return {
        "trials": plan.grid.size,
        "market": backtest.market,
        "odds_source": backtest.odds_source,
        "stake": str(plan.pairs.stake),
        "min_bets": request.min_bets,
        "seasons": seasons,
        "variants": variants,
        "best_in_sample_yield": best,
        "walk_forward": walk,
        "pbo": pbo,
        "pbo_detail": pbo_detail,
        "pbo_reading": pbo_reading(pbo),
        "headline": headline(walk, best),
        "warnings": warnings,
    }


def _walk_forward(
    plan: SweepPlan,
    totals: VariantTotals,
    seasons: list[str],
    min_bets: int,
    best: float | None,
) -> dict[str, Any]:
    stake_units = plan.stake_units
    periods = PeriodTotals(
        totals.season_bets, totals.season_units, totals.season_bets * stake_units
    )
    choices = walk_forward_choices(periods, min_bets)
    rows = []
    bets = units = 0
    counts = np.zeros(len(plan.pairs.returns), dtype=np.int64)
    for period, chosen in enumerate(choices, start=2):
        entry: dict[str, Any] = {"season": seasons[period], "chosen": None, "bets": 0}
        season_units = 0
        if chosen is not None:
            entry["chosen"] = totals.rows[chosen]["params"]
            entry["bets"] = int(totals.season_bets[chosen, period])
            season_units = int(totals.season_units[chosen, period])
            rows_bet = plan.variant_rows(totals.start + chosen)
            in_season = rows_bet[plan.season_rank[rows_bet] == period]
            counts += np.bincount(plan.pairs.pair[in_season], minlength=len(counts))
        entry |= _money_and_yield(season_units, entry["bets"], plan)
        bets += entry["bets"]
        units += season_units
        rows.append(entry)
    test = grouped_one_sided_t_test(plan.pairs.returns, counts.tolist())
    return {
        "seasons": rows,
        "bets": bets,
        **_money_and_yield(units, bets, plan),
        "p_value": test.p_value if test else None,
        "best_in_sample_yield": best,
    }


def _money_and_yield(units: int, bets: int, plan: SweepPlan) -> dict[str, Any]:
    profit = Decimal(units).scaleb(-4)
    staked = plan.pairs.stake * bets
    with localcontext(RATIO_CONTEXT):
        return {"profit": money(profit), "yield": float(profit / staked) if staked else None}


def pbo_reading(pbo: float | None) -> str:
    if pbo is None:
        return "PBO could not be estimated (too few variants with bets, or too few bet days)"
    return (
        f"the best variant in sample is at or below the median out of sample {pbo:.0%} of the time"
    )


def headline(walk: dict[str, Any] | None, best: float | None) -> str:
    """The sweep's one-line verdict: out-of-sample yield against the best in-sample one."""

    def percent(value: float | None) -> str:
        return "-" if value is None or not math.isfinite(value) else f"{value:+.2%}"

    if walk is None:
        return f"best in-sample yield {percent(best)}; no walk-forward (fewer than 3 seasons)"
    return (
        f"walk-forward out-of-sample yield {percent(walk['yield'])} over {walk['bets']:,} bets,"
        f" against the best in-sample yield {percent(best)}"
    )
