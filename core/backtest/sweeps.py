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
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Union

import numpy as np
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.backtest.engine import (
    BacktestCancelled,
    BacktestEngine,
    BeforeCommit,
    Progress,
    ResolvedFilter,
    data_fingerprint,
)
from core.backtest.grid import Grid, parse_grid
from core.backtest.luck import PeriodTotals
from core.backtest.luck_report import (
    DEFAULT_MIN_BETS,
    DEFAULT_PBO_BLOCKS,
    LuckInputs,
    check_luck_options,
    luck_summary,
)
from core.backtest.market import market_columns
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
from core.backtest.trials import record_trials, variant_key
from core.db import Database, utcnow
from core.frame import frame_for
from core.models import BacktestResult, SweepVariant
from core.rules.mask import rule_columns
from core.rules.validate import CLOSING_PRICE_WARNING, parse_rules, uses_closing_prices

if TYPE_CHECKING:
    from core.candles.sweep import StrategySweepRequest

__all__ = [
    "AnySweepRequest",
    "SweepEngine",
    "SweepRequest",
    "SweepRun",
    "store_sweep",
    "sweep_request_from_dict",
]

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
        check_luck_options(self.min_bets, self.pbo_blocks)
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


AnySweepRequest = Union[SweepRequest, "StrategySweepRequest"]
"""A football sweep (a rule template over the frame) or a candle strategy's."""


def sweep_request_from_dict(data: dict[str, Any]) -> AnySweepRequest:
    """A stored or queued sweep request of either kind (a strategy sweep holds "strategy")."""
    if "strategy" in data:
        from core.candles.sweep import StrategySweepRequest

        return StrategySweepRequest.from_dict(data)
    return SweepRequest.from_dict(data)


@dataclass(frozen=True)
class SweepRun:
    result_id: int
    report: dict[str, Any]
    """The `sweep --json` object: trials, variants, walk_forward, pbo (and more)."""
    seconds: float


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
        request: AnySweepRequest,
        *,
        progress: Progress | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        store: bool = True,
        before_commit: BeforeCommit | None = None,
    ) -> SweepRun:
        if not isinstance(request, SweepRequest):
            from core.candles.service import run_strategy_sweep

            return await run_strategy_sweep(
                self.db,
                self.user_id,
                request,
                progress=progress,
                is_cancelled=is_cancelled,
                store=store,
                before_commit=before_commit,
            )
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
        fingerprint = await asyncio.to_thread(data_fingerprint, frame, backtest)
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
        result = BacktestResult(
            user_id=self.user_id,
            filter_id=resolved.filter_id,
            filter_name=resolved.filter_name,
            request=request.to_dict(),
            rules_snapshot={
                "rules": resolved.rules,
                "filter_id": resolved.filter_id,
                "filter_name": resolved.filter_name,
                "filter_stake": str(resolved.stake),
            },
            data_fingerprint=fingerprint,
            market=backtest.market,
            odds_source=backtest.odds_source,
        )
        rows = [_variant_columns(row) for row in summary["variants"]]

        async def count_trials(session: AsyncSession) -> None:
            if resolved.filter_id is not None:
                await self._count_trials(session, resolved, backtest, totals)

        return await store_sweep(
            self.db, result, summary, rows, also=count_trials, before_commit=before_commit
        )

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


async def store_sweep(
    db: Database,
    result: BacktestResult,
    summary: dict[str, Any],
    variant_rows: list[dict[str, Any]],
    *,
    also: Callable[[AsyncSession], Awaitable[None]] | None = None,
    before_commit: BeforeCommit | None = None,
) -> int:
    """Keep a sweep of either kind as one result (kind "sweep"): `result` with what its kind
    fills in (request, fingerprint, filter or candle fields), the luck report but its
    variants as `metrics`, the walk-forward's out-of-sample bets, profit and yield as its
    headline numbers, and one `sweep_variants` row per variant (`variant_rows`: their
    columns, in grid order). `also(session)` runs in the same transaction."""
    walk = summary.get("walk_forward") or {}
    result.kind = "sweep"
    result.metrics = {key: value for key, value in summary.items() if key != "variants"}
    result.bets = int(walk.get("bets") or 0)
    result.profit = Decimal(str(walk.get("profit") or 0))
    result.yield_ = walk.get("yield")
    result.created_at = utcnow()
    async with db.session() as session:
        session.add(result)
        await session.flush()
        result_id = int(result.id)
        rows = [
            {"result_id": result_id, "idx": index, **row} for index, row in enumerate(variant_rows)
        ]
        for start in range(0, len(rows), 5_000):
            await session.execute(insert(SweepVariant), rows[start : start + 5_000])
        if also is not None:
            await also(session)
        if before_commit is not None:
            await before_commit(session, result_id)
    return result_id


def _variant_columns(row: dict[str, Any]) -> dict[str, Any]:
    """A football variant's `sweep_variants` columns (its flat-stake summary)."""
    return {
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


# --------------------------------------------------------------------------------------
# The luck report
# --------------------------------------------------------------------------------------


def luck_report(
    plan: SweepPlan, totals: VariantTotals, request: SweepRequest, rules: Any
) -> dict[str, Any]:
    """A football sweep's `sweep --json` object: every variant with its q-value, the
    walk-forward over seasons, and the PBO over date blocks."""
    stake_units = plan.stake_units

    def out_of_sample_p(chosen: list[tuple[int, int]]) -> float | None:
        counts = np.zeros(len(plan.pairs.returns), dtype=np.int64)
        for period, variant in chosen:
            rows_bet = plan.variant_rows(totals.start + variant)
            in_season = rows_bet[plan.season_rank[rows_bet] == period]
            counts += np.bincount(plan.pairs.pair[in_season], minlength=len(counts))
        test = grouped_one_sided_t_test(plan.pairs.returns, counts.tolist())
        return test.p_value if test else None

    inputs = LuckInputs(
        variants=totals.rows,
        periods=PeriodTotals(
            totals.season_bets, totals.season_units, totals.season_bets * stake_units
        ),
        period_labels=season_labels(plan),
        blocks=PeriodTotals(totals.block_bets, totals.block_units, totals.block_bets * stake_units)
        if plan.blocks
        else None,
        bet_days=plan.bet_days,
        out_of_sample_p=out_of_sample_p,
    )
    summary = luck_summary(
        inputs,
        min_bets=request.min_bets,
        walk_forward=request.walk_forward,
        pbo_blocks=request.pbo_blocks,
    )
    backtest = request.backtest
    if uses_closing_prices(parse_rules(rules, params=True)) or backtest.price_timing:
        summary["warnings"].insert(0, CLOSING_PRICE_WARNING)
    return {
        "trials": plan.grid.size,
        "market": backtest.market,
        "odds_source": backtest.odds_source,
        "stake": str(plan.pairs.stake),
        **summary,
    }
