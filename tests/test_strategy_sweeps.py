"""Candle strategy sweeps on both backends: stored as one sweep result with the candle
fields and a row per variant, promoted to a full strategy run with its ledger, run as a job
with the same report as in process, refused before any work when they cannot run, and
listed beside football results only when asked."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.backtest.grid import GridError
from core.backtest.sweeps import SweepEngine
from core.candles.importing import import_candle_files
from core.candles.metrics import METRIC_KEYS
from core.candles.request import StrategyRequest, StrategyRequestError
from core.candles.service import StrategyRunner
from core.candles.store import CandleDataError, CandleStore
from core.candles.sweep import StrategySweepRequest
from core.jobs.queue import CANCELLED, SUCCEEDED, JobQueue
from core.jobs.runner import JobRunner
from core.jobs.sweep_jobs import submit_sweep
from core.models import BacktestJob, BacktestResult, StrategyTrade, SweepVariant
from core.results import ResultError, ResultStore
from core.services import FilterBetsService
from tests.conftest import SHARED_DATA, shared_data
from tests.jobs_support import eventually

BYBIT_1H = SHARED_DATA / "klines/bybit/BTCUSDT-1h-2023-11..2026-02.csv"


@pytest.fixture(autouse=True)
def _needs_shared_data() -> None:
    """Every test here reads the shared data folder: skipped without it (a failure under
    FILTERBETS_REQUIRE_CORPUS=1, as in CI; see tests/conftest.py)."""
    shared_data("klines")


GRID = {"fast": [5, 12, 30], "slow": [20, 50]}


@pytest.fixture
async def candles(service: FilterBetsService) -> AsyncIterator[CandleStore]:
    store = await CandleStore.open(service.settings, service.db)
    try:
        await import_candle_files(store, [BYBIT_1H])
        yield store
    finally:
        await store.close()


def _request(**options: object) -> StrategySweepRequest:
    base = StrategyRequest(
        "BTCUSDT",
        "1h",
        "sma_cross",
        date_from=dt.date(2024, 1, 1),
        date_to=dt.date(2024, 12, 31),
        stop_loss_pct=5,
    )
    return StrategySweepRequest(base, GRID, min_bets=10, **options)  # type: ignore[arg-type]


async def test_a_strategy_sweep_is_stored_as_one_sweep_result_with_its_variants(
    service: FilterBetsService, candles: CandleStore
) -> None:
    run = await SweepEngine(service.db, service.user_id).run(_request())
    report = run.report
    assert report["trials"] == 6 and report["period_kind"] == "month"
    assert report["seasons"] == [f"2024-{month:02d}" for month in range(1, 13)]
    assert [row["season"] for row in report["walk_forward"]["seasons"]] == report["seasons"][2:]
    assert report["pbo"] is not None and report["pbo_detail"]["blocks"] == 10
    assert "trades" in report["headline"]
    assert json.dumps(report)  # the CLI's --json object is plain JSON

    results = ResultStore(service.db, service.user_id)
    detail = await results.get(run.result_id)
    summary = detail.summary
    assert summary.kind == "sweep" and summary.is_strategy and summary.market is None
    assert (summary.symbol, summary.timeframe, summary.strategy_type) == (
        "BTCUSDT",
        "1h",
        "sma_cross",
    )
    assert "variants" not in detail.metrics and detail.metrics["trials"] == 6
    walk = report["walk_forward"]
    assert (summary.bets, summary.yield_) == (walk["bets"], walk["yield"])
    assert summary.profit == Decimal(str(walk["profit"]))

    variants = await results.variants(run.result_id)
    assert [v.params for v in variants] == [v["params"] for v in report["variants"]]
    for stored, row in zip(variants, report["variants"], strict=True):
        assert stored.bets == row["trades"] == row["bets"]
        assert stored.wins == row["wins"]
        assert stored.profit == Decimal(str(row["profit"]))
        assert stored.staked == Decimal(str(row["staked"]))
        assert (stored.yield_, stored.q_value, stored.p_value) == (
            row["yield"],
            row["q_value"],
            row["p_value"],
        )
        assert stored.metrics is not None and stored.metrics["skipped"] == row["skipped"]
        assert {key: stored.metrics[key] for key in METRIC_KEYS} == {
            key: row[key] for key in METRIC_KEYS
        }
    skipped = variants[4]  # fast 30, slow 20
    assert skipped.bets == 0 and skipped.yield_ is None and skipped.metrics is not None
    assert skipped.metrics["skipped"] == "fast (30) must be less than slow (20)"


async def test_a_variant_is_promoted_to_a_full_strategy_run_with_its_ledger(
    service: FilterBetsService, candles: CandleStore
) -> None:
    run = await SweepEngine(service.db, service.user_id).run(_request())
    results = ResultStore(service.db, service.user_id)
    promoted = await results.variant_request(run.result_id, 3)
    assert isinstance(promoted, StrategyRequest)
    assert promoted.params == {"fast": 12, "slow": 50} and promoted.stop_loss_pct == 5
    single = await StrategyRunner(service.db, candles, service.user_id).run(promoted)
    row = run.report["variants"][3]
    for key in METRIC_KEYS:
        assert single.metrics[key] == row[key], key
    assert single.result_id is not None
    async with service.db.session() as session:
        trades = await session.scalar(
            select(func.count())
            .select_from(StrategyTrade)
            .where(StrategyTrade.result_id == single.result_id)
        )
    assert trades == row["trades"] > 0
    with pytest.raises(StrategyRequestError, match="fast \\(30\\) must be less than slow"):
        await results.variant_request(run.result_id, 4)
    with pytest.raises(ResultError, match="is a strategy, not a sweep"):
        await results.variant_request(single.result_id, 0)


async def test_results_list_strategy_sweeps_only_when_asked(
    service: FilterBetsService, candles: CandleStore
) -> None:
    run = await SweepEngine(service.db, service.user_id).run(_request())
    results = ResultStore(service.db, service.user_id)
    assert await results.list_results() == []
    [listed] = await results.list_results(include_strategy_runs=True)
    assert listed.id == run.result_id and listed.title == "sma_cross BTCUSDT 1h"
    await results.delete(run.result_id)
    async with service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(SweepVariant)) == 0


async def test_a_strategy_sweep_job_stores_the_same_report_as_in_process(
    service: FilterBetsService, candles: CandleStore
) -> None:
    request = _request(periods="quarter", pbo_blocks=4)
    expected = await SweepEngine(service.db, service.user_id).run(request, store=False)
    queue = JobQueue(service.db)
    info = await submit_sweep(queue, service.user_id, request)
    assert info.kind == "sweep" and info.title == "sweep of sma_cross on BTCUSDT 1h"
    runner = JobRunner(service.db, poll_interval=0.05, concurrency=1)
    await runner.start()
    try:
        done = await eventually(
            lambda: queue.get(info.job_id), lambda job: job.is_finished, within=60, what="job"
        )
    finally:
        await runner.stop()
    assert done.status == SUCCEEDED, done.error
    detail = await ResultStore(service.db, service.user_id).get(done.result_id or 0)
    assert detail.summary.kind == "sweep" and detail.summary.strategy_type == "sma_cross"
    for key in ("trials", "walk_forward", "pbo", "pbo_detail", "seasons", "headline"):
        assert detail.metrics[key] == expected.report[key], key
    assert detail.metrics["seasons"] == ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]


async def test_a_sweep_that_cannot_run_is_refused_before_it_is_queued(
    service: FilterBetsService, candles: CandleStore
) -> None:
    queue = JobQueue(service.db)
    bad_grid = StrategySweepRequest(_request().base, {"fast": [5], "window": [3]})
    with pytest.raises(GridError, match="parameter 'window': sma_cross has no such parameter"):
        await submit_sweep(queue, service.user_id, bad_grid)
    elsewhere = StrategySweepRequest(StrategyRequest("ETHUSDT", "1h", "sma_cross"), GRID)
    with pytest.raises(CandleDataError, match="no candles for ETHUSDT 1h"):
        await submit_sweep(queue, service.user_id, elsewhere)
    with pytest.raises(CandleDataError, match="no candles for ETHUSDT 1h"):
        await SweepEngine(service.db, service.user_id).run(elsewhere)
    async with service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(BacktestJob)) == 0
        assert await session.scalar(select(func.count()).select_from(BacktestResult)) == 0


async def test_cancelling_a_strategy_sweep_job_stops_it_leaving_no_result(
    service: FilterBetsService, candles: CandleStore
) -> None:
    # About 19,000 variants over two years of hourly bars: far longer than the cancel takes.
    base = StrategyRequest("BTCUSDT", "1h", "sma_cross")
    grid = {"fast": {"from": 2, "to": 101, "step": 1}, "slow": {"from": 20, "to": 400, "step": 2}}
    queue = JobQueue(service.db)
    info = await submit_sweep(queue, service.user_id, StrategySweepRequest(base, grid))
    runner = JobRunner(service.db, poll_interval=0.05, concurrency=1)
    await runner.start()
    try:
        await eventually(
            lambda: queue.get(info.job_id),
            lambda job: job.status == "running" and "measuring" in job.message,
            within=60,
            what="the sweep to be measuring",
        )
        await queue.cancel(info.job_id)
        done = await eventually(
            lambda: queue.get(info.job_id), lambda job: job.is_finished, within=60, what="job"
        )
    finally:
        await runner.stop()
    assert done.status == CANCELLED and done.result_id is None
    async with service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(BacktestResult)) == 0
