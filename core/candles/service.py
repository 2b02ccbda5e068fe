"""Strategy runs against the stores: load the candles, run, and keep the result with its
trade ledger in backtest_results (kind 'strategy'), as football backtests are kept.

The CLI, jobs and workers all come through `StrategyRunner.run`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.candles.execution import REASONS, Execution, PriceSeries
from core.candles.metrics import json_safe
from core.candles.request import STRATEGY_KIND, StrategyRequest
from core.candles.run import run_strategy
from core.candles.store import Bars, CandleDataError, CandleStore, SeriesInfo, from_ms, to_ms
from core.candles.strategies import get_strategy
from core.candles.sweep import StrategySweepRequest, sweep_strategy, variant_columns
from core.config import Settings
from core.db import Database, utcnow
from core.errors import FilterBetsError
from core.models import BacktestResult, StrategyTrade

if TYPE_CHECKING:
    from core.backtest.sweeps import SweepRun

Progress = Callable[[float, str], None]
BeforeCommit = Callable[[AsyncSession, int], Awaitable[None]]
_MONEY = Decimal("0.00000001")


class StrategyCancelled(FilterBetsError):
    """The run was cancelled before it stored anything."""


@dataclass(frozen=True)
class StrategyRun:
    result_id: int | None
    request: StrategyRequest
    series: SeriesInfo
    bars: Bars
    execution: Execution
    metrics: dict[str, Any]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "result_id": self.result_id,
            "exchange": self.series.exchange,
            "symbol": self.series.symbol,
            "timeframe": self.series.timeframe,
            "strategy": self.request.strategy,
            "params": self.request.params,
            "bars": len(self.bars),
            "start": _iso(int(self.bars.open_ms[0])),
            "end": _iso(int(self.bars.open_ms[-1])),
            **self.metrics,
        }


@dataclass(frozen=True)
class StrategyReplay:
    run: StrategyRun
    """The run again, unstored: its bars, execution (fills, equity per bar) and metrics."""
    changed: bool
    """The candles differ from those the stored run read."""


def _iso(ms: int) -> str:
    moment = from_ms(ms)
    assert moment is not None
    return moment.isoformat()


def _money(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(_MONEY)


def _range_ms(request: StrategyRequest) -> tuple[int | None, int | None]:
    start = end = None
    if request.date_from is not None:
        start = to_ms(dt.datetime.combine(request.date_from, dt.time(), dt.UTC))
    if request.date_to is not None:
        next_day = request.date_to + dt.timedelta(days=1)
        end = to_ms(dt.datetime.combine(next_day, dt.time(), dt.UTC)) - 1
    return start, end


class StrategyRunner:
    """Runs strategy requests for one user: candles from `store`, results into `db`."""

    def __init__(self, db: Database, store: CandleStore, user_id: int) -> None:
        self.db = db
        self.store = store
        self.user_id = user_id

    async def load(self, request: StrategyRequest) -> Bars:
        series = await self.store.find_series(request.symbol, request.timeframe, request.exchange)
        start, end = _range_ms(request)
        bars = await self.store.load_bars(series, start, end)
        if len(bars) < 2:
            scope = f" from {request.date_from or '…'} to {request.date_to or '…'}"
            raise CandleDataError(
                f"{series.label}: {len(bars)} bar{'s' if len(bars) != 1 else ''}"
                f"{scope if start or end else ''}; a run needs at least 2"
            )
        return bars

    async def run(
        self,
        request: StrategyRequest,
        *,
        progress: Progress | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        store: bool = True,
        before_commit: BeforeCommit | None = None,
    ) -> StrategyRun:
        """Run and store a strategy. `before_commit(session, result_id)` is awaited inside the
        result's transaction (jobs mark themselves succeeded there); if it raises, nothing is
        stored."""
        started = time.perf_counter()

        def report(fraction: float, message: str) -> None:
            if is_cancelled is not None and is_cancelled():
                raise StrategyCancelled("cancelled")
            if progress is not None:
                progress(fraction, message)

        request = request.validated()
        report(0.05, "loading candles")
        bars = await self.load(request)
        report(0.4, f"running {request.strategy} over {len(bars):,} bars")
        strategy = get_strategy(request.strategy)
        prices = PriceSeries(bars.open, bars.high, bars.low, bars.close)
        outcome = await asyncio.to_thread(
            run_strategy, prices, strategy, request.params, request.options(), bars.minutes
        )
        metrics = json_safe(outcome.metrics)
        result_id = None
        if store:
            report(0.8, f"storing {metrics['trades']:,} trades")
            result_id = await self._store(request, bars, outcome.execution, metrics, before_commit)
        report(1.0, "done")
        return StrategyRun(
            result_id=result_id,
            request=request,
            series=bars.series,
            bars=bars,
            execution=outcome.execution,
            metrics=metrics,
            seconds=time.perf_counter() - started,
        )

    async def run_sweep(
        self,
        request: StrategySweepRequest,
        *,
        progress: Progress | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        store: bool = True,
        before_commit: BeforeCommit | None = None,
    ) -> SweepRun:
        """Sweep a strategy over its grid on the request's candles, with the luck report,
        and keep it as one sweep result (see core.backtest.sweeps.store_sweep)."""
        from core.backtest.luck_report import luck_summary
        from core.backtest.sweeps import SweepRun, store_sweep

        started = time.perf_counter()

        def report(fraction: float, message: str) -> None:
            if is_cancelled is not None and is_cancelled():
                raise StrategyCancelled("cancelled")
            if progress is not None:
                progress(fraction, message)

        request = request.validated()
        total = request.grid_of().size
        report(0.0, f"loading candles for {total:,} variants")
        bars = await self.load(request.base)
        every = max(1, total // 200)

        def measured(done: int, total: int) -> None:
            if done % every == 0 or done == total:
                report(0.05 + 0.8 * done / total, f"measuring: {done:,} of {total:,} variants")

        prices = PriceSeries(bars.open, bars.high, bars.low, bars.close)
        sweep = await asyncio.to_thread(
            sweep_strategy, prices, bars.open_ms, bars.minutes, request, measured
        )
        report(0.85, "luck report")

        def luck() -> dict[str, Any]:
            summary = luck_summary(
                sweep.luck_inputs(request.pbo_blocks),
                min_bets=request.min_bets,
                walk_forward=request.walk_forward,
                pbo_blocks=request.pbo_blocks,
            )
            return _sweep_header(request, bars, total) | summary

        summary = await asyncio.to_thread(luck)
        result_id = 0
        if store:
            report(0.95, f"storing {total:,} variants")
            base = request.base
            result = BacktestResult(
                user_id=self.user_id,
                request=request.to_dict(),
                rules_snapshot={"strategy": base.strategy, "params": base.params},
                data_fingerprint=bars_fingerprint(bars),
                symbol=bars.series.symbol,
                timeframe=bars.series.timeframe,
                strategy_type=base.strategy,
                strategy_params=base.params,
            )
            rows = [variant_columns(row) for row in summary["variants"]]
            result_id = await store_sweep(
                self.db, result, summary, rows, before_commit=before_commit
            )
        report(1.0, "done")
        return SweepRun(result_id, summary, time.perf_counter() - started)

    async def _store(
        self,
        request: StrategyRequest,
        bars: Bars,
        execution: Execution,
        metrics: dict[str, Any],
        before_commit: BeforeCommit | None,
    ) -> int:
        series = bars.series
        async with self.db.session() as session:
            result = BacktestResult(
                user_id=self.user_id,
                kind=STRATEGY_KIND,
                request=request.to_dict(),
                rules_snapshot={"strategy": request.strategy, "params": request.params},
                data_fingerprint=bars_fingerprint(bars),
                metrics=metrics,
                bets=int(metrics["trades"]),
                profit=_money(execution.final_equity - request.cash).quantize(Decimal("0.0001")),
                yield_=metrics["total_return"],
                symbol=series.symbol,
                timeframe=series.timeframe,
                strategy_type=request.strategy,
                strategy_params=request.params,
                created_at=utcnow(),
            )
            session.add(result)
            await session.flush()
            result_id = int(result.id)
            rows = trade_rows(result_id, bars, execution)
            if rows:
                await session.execute(insert(StrategyTrade), rows)
            if before_commit is not None:
                await before_commit(session, result_id)
        return result_id

    async def replay(self, result_id: int) -> StrategyReplay:
        """A stored strategy run again over its candles, for its charts: each bar's price,
        position and equity (the stored result keeps only its metrics and trades).
        `changed` says the candles are not the ones it ran on (imported over since)."""
        async with self.db.session() as session:
            found = await session.execute(
                select(BacktestResult.request, BacktestResult.data_fingerprint).where(
                    BacktestResult.id == result_id,
                    BacktestResult.user_id == self.user_id,
                    BacktestResult.kind == STRATEGY_KIND,
                )
            )
            row = found.one_or_none()
        if row is None:
            raise CandleDataError(f"no strategy result #{result_id}")
        request = StrategyRequest.from_dict(dict(row.request))
        run = await self.run(request, store=False)
        changed = bars_fingerprint(run.bars) != dict(row.data_fingerprint or {})
        return StrategyReplay(run, changed)

    async def trades(self, result_id: int) -> list[StrategyTrade]:
        """A stored run's ledger in trade order (plain rows, detached)."""
        async with self.db.session() as session:
            owner = await session.execute(
                select(BacktestResult.id).where(
                    BacktestResult.id == result_id,
                    BacktestResult.user_id == self.user_id,
                    BacktestResult.kind == STRATEGY_KIND,
                )
            )
            if owner.scalar() is None:
                raise CandleDataError(f"no strategy result #{result_id}")
            found = await session.execute(
                select(StrategyTrade)
                .where(StrategyTrade.result_id == result_id)
                .order_by(StrategyTrade.seq)
            )
            return list(found.scalars().all())


def bars_fingerprint(bars: Bars) -> dict[str, Any]:
    """Which candles a run read: the series, its range and when it last changed."""
    series = bars.series
    return {
        "exchange": series.exchange,
        "symbol": series.symbol,
        "timeframe": series.timeframe,
        "bars": len(bars),
        "first": _iso(int(bars.open_ms[0])),
        "last": _iso(int(bars.open_ms[-1])),
        "series_updated_at": series.updated_at.isoformat(),
    }


def _sweep_header(request: StrategySweepRequest, bars: Bars, trials: int) -> dict[str, Any]:
    """What a strategy sweep's report says first: what was swept, on which candles."""
    base = request.base
    return {
        "trials": trials,
        "strategy": base.strategy,
        "exchange": bars.series.exchange,
        "symbol": bars.series.symbol,
        "timeframe": bars.series.timeframe,
        "params": base.params,
        "bars": len(bars),
        "start": _iso(int(bars.open_ms[0])),
        "end": _iso(int(bars.open_ms[-1])),
        "cash": base.cash,
        "fee": base.fee,
        "period_kind": request.periods,
    }


def trade_rows(result_id: int, bars: Bars, execution: Execution) -> list[dict[str, Any]]:
    fills = execution.fills
    entry_times = bars.open_ms[fills.entry_bar]
    # A signal or stop exit happens within its bar; the forced close at the last bar's close.
    exit_times = bars.open_ms[fills.exit_bar].copy()
    step_ms = bars.minutes * 60_000
    exit_times[fills.reason == REASONS.index("end")] += step_ms
    return [
        {
            "result_id": result_id,
            "seq": seq,
            "side": "long" if side > 0 else "short",
            "entry_time": from_ms(entry_ms),
            "exit_time": from_ms(exit_ms),
            "entry_price": entry_price,
            "exit_price": exit_price,
            "units": units,
            "entry_fee": _money(entry_fee),
            "exit_fee": _money(exit_fee),
            "profit": _money(profit),
            "exit_reason": REASONS[reason],
        }
        for seq, (
            side,
            entry_ms,
            exit_ms,
            entry_price,
            exit_price,
            units,
            entry_fee,
            exit_fee,
            profit,
            reason,
        ) in enumerate(
            zip(
                fills.side.tolist(),
                entry_times.tolist(),
                exit_times.tolist(),
                fills.entry_price.tolist(),
                fills.exit_price.tolist(),
                execution.units.tolist(),
                execution.entry_fee.tolist(),
                execution.exit_fee.tolist(),
                execution.profit.tolist(),
                fills.reason.tolist(),
                strict=True,
            ),
            start=1,
        )
    ]


async def open_runner(settings: Settings) -> tuple[Any, CandleStore, StrategyRunner]:
    """The app service (schema, user), the candle store and a runner over both."""
    from core.services import FilterBetsService

    service = await FilterBetsService.open(settings)
    store = await CandleStore.open(settings, service.db)
    return service, store, StrategyRunner(service.db, store, service.user_id)


async def check_strategy_sweep(db: Database, request: StrategySweepRequest) -> None:
    """Refuse a strategy sweep that could never run (bad fields or grid, no such candles)
    before it is queued."""
    request = request.validated()
    candles = await CandleStore.open(db.settings, db)
    try:
        base = request.base
        await candles.find_series(base.symbol, base.timeframe, base.exchange)
    finally:
        await candles.close()


async def run_strategy_sweep(
    db: Database,
    user_id: int,
    request: StrategySweepRequest,
    *,
    progress: Progress | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    store: bool = True,
    before_commit: BeforeCommit | None = None,
) -> SweepRun:
    """A strategy sweep (SweepEngine.run's, so a job's too): the candles from this database
    or FILTERBETS_CANDLES_URL's."""
    candles = await CandleStore.open(db.settings, db)
    try:
        return await StrategyRunner(db, candles, user_id).run_sweep(
            request,
            progress=progress,
            is_cancelled=is_cancelled,
            store=store,
            before_commit=before_commit,
        )
    finally:
        await candles.close()


async def run_strategy_job(
    db: Database,
    user_id: int,
    request: StrategyRequest,
    *,
    progress: Progress | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    before_commit: BeforeCommit | None = None,
) -> StrategyRun:
    """A job's strategy run: the candles from this database or FILTERBETS_CANDLES_URL's."""
    store = await CandleStore.open(db.settings, db)
    try:
        return await StrategyRunner(db, store, user_id).run(
            request, progress=progress, is_cancelled=is_cancelled, before_commit=before_commit
        )
    finally:
        await store.close()
