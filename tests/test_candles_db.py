"""The candle store and strategy runs on both databases: import, merge, refusals that leave
nothing behind, a separate candle database, results with their trade ledger, and jobs."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from core.candles.importing import import_candle_files
from core.candles.request import StrategyRequest
from core.candles.service import StrategyRunner
from core.candles.store import CandleStore
from core.config import load_settings
from core.jobs.queue import SUCCEEDED, JobQueue
from core.jobs.runner import JobRunner
from core.models import BacktestResult, Candle, CandleSeries, StrategyTrade
from core.results import ResultStore
from core.services import FilterBetsService
from tests.conftest import SHARED_DATA, shared_data
from tests.jobs_support import eventually


@pytest.fixture(autouse=True)
def _needs_shared_data() -> None:
    """Every test here reads the shared data folder: skipped without it (a failure under
    FILTERBETS_REQUIRE_CORPUS=1, as in CI; see tests/conftest.py)."""
    shared_data("klines")


KLINES = SHARED_DATA / "klines"
BYBIT_15M = KLINES / "bybit/BTCUSDT-15m-2023-11..2026-01.csv"
BYBIT_1H = KLINES / "bybit/BTCUSDT-1h-2023-11..2026-02.csv"
# Bybit 1h saved mid-bar: its last row (2025-05-03 15:00) is an unclosed candle.
SAVED_MIDBAR_1H = KLINES / "bybit-format-samples/BTCUSDT-1h-2020-03..2025-05.csv"


@pytest.fixture
async def store(service: FilterBetsService) -> AsyncIterator[CandleStore]:
    opened = await CandleStore.open(service.settings, service.db)
    try:
        yield opened
    finally:
        await opened.close()


async def _counts(store: CandleStore) -> tuple[int, int]:
    async with store.db.session() as session:
        bars = (await session.execute(select(func.count()).select_from(Candle))).scalar_one()
        series = (
            await session.execute(select(func.count()).select_from(CandleSeries))
        ).scalar_one()
    return int(bars), int(series)


async def test_importing_a_file_twice_changes_nothing(store: CandleStore) -> None:
    first = await import_candle_files(store, [BYBIT_15M])
    [outcome] = first.outcomes
    assert outcome.error is None and outcome.added == 73_777
    assert outcome.series == "bybit BTCUSDT 15m" and outcome.layout == "bybit-v5"
    [series] = await store.list_series()
    bars = await store.load_bars(series)
    again = await import_candle_files(store, [BYBIT_15M])
    assert (again.outcomes[0].added, again.outcomes[0].unchanged) == (0, 73_777)
    [after] = await store.list_series()
    assert dataclasses.replace(after, updated_at=series.updated_at) == series
    reread = await store.load_bars(after)
    for name in ("open_ms", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(bars, name), getattr(reread, name))
    assert (series.bars, series.gaps) == (73_777, 0)
    assert (
        series.first_open is not None
        and series.first_open.isoformat() == "2023-11-29T00:00:00+00:00"
    )


async def _overlap(store: CandleStore) -> dict[str, list[float]]:
    series = await store.find_series("BTCUSDT", "1h")
    bars = await store.load_bars(series, 1_745_000_000_000, 1_747_000_000_000)
    return {name: getattr(bars, name).tolist() for name in ("open_ms", "close", "volume")}


@pytest.mark.parametrize("saved_first", [True, False])
async def test_overlapping_files_merge_and_an_unclosed_candle_gives_way_in_either_order(
    store: CandleStore, saved_first: bool
) -> None:
    order = [SAVED_MIDBAR_1H, BYBIT_1H] if saved_first else [BYBIT_1H, SAVED_MIDBAR_1H]
    summary = await import_candle_files(store, order)
    assert not summary.refused
    later = summary.outcomes[1]
    if saved_first:
        assert later.replaced == 1
        assert any("replaced the stored 2025-05-03 15:00 UTC candle" in n for n in later.notes)
    else:
        assert any("dropped the last candle (2025-05-03 15:00 UTC)" in n for n in later.notes)
    [series] = await store.list_series()
    assert series.bars == 51_507  # 44,765 closed bars from 2020 + 19,261 to 2026, 12,519 shared
    overlap = await _overlap(store)
    at = overlap["open_ms"].index(1_746_284_400_000)  # 2025-05-03 15:00
    assert overlap["volume"][at] == 1423.912  # the closed bar's, as Bybit published it


async def test_a_conflicting_file_is_refused_whole_and_the_store_is_as_before(
    store: CandleStore,
) -> None:
    await import_candle_files(store, [BYBIT_15M])
    before = await _counts(store)
    turnover = (
        SHARED_DATA
        / "klines-defects/BTCUSDT-15m-2025-10..2026-08.bybit-volume-is-turnover-gaps.csv"
    )
    summary = await import_candle_files(store, [turnover])
    [refused] = summary.refused
    assert refused.error is not None
    assert refused.error.startswith(f"{turnover.name}:line 2: 2025-10-27 23:15 UTC is stored")
    assert "this file's volume looks like turnover" in refused.error
    assert "nothing imported" in refused.error
    assert await _counts(store) == before


async def test_every_damaged_file_gets_one_line_and_leaves_nothing_half_written(
    store: CandleStore,
) -> None:
    await import_candle_files(store, [BYBIT_1H, BYBIT_15M])
    before = await _counts(store)
    defects = sorted((SHARED_DATA / "klines-defects").iterdir())
    summary = await import_candle_files(store, defects)
    by_file = {outcome.file: outcome for outcome in summary.outcomes}
    assert set(by_file) == {path.name for path in defects}
    for outcome in summary.refused:
        assert outcome.error is not None and outcome.error.startswith(outcome.file)
        assert "\n" not in outcome.error
    refused = {outcome.file for outcome in summary.refused}
    assert refused == {
        "ADAUSDT-15m-2025-05..2025-06.descending-utc-minus4.csv",
        "BTCUSDT-15m-2025-10..2026-08.bybit-volume-is-turnover-gaps.csv",
        "BTCUSDT-1h-2019-01..2022-02.descending-zero-volume.csv",
        "BTCUSDT-1h-2023-01..2023-12.binance-duplicated-concat.csv",
        "BTCUSDT-1h-2025-09..2026-08.bybit-volume-is-turnover-gap.csv",
        "BTCUSDT-1h.empty-0-bytes.feather",
        "BTCUSDT-approx5m-2025-06.bybit-jittered-timestamps.csv",
    }
    # The truncated feather holds good bars of its own series: they are imported.
    truncated = by_file["ETHUSDT-1h-2026-01..2026-02.truncated.feather"]
    assert truncated.error is None and truncated.added == 993
    assert await _counts(store) == (before[0] + 993, before[1] + 1)


async def test_candles_can_live_in_a_database_of_their_own(
    service: FilterBetsService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FILTERBETS_CANDLES_URL", f"sqlite:///{tmp_path / 'klines.db'}")
    main_url = service.settings.database_url.render_as_string(hide_password=False)
    settings = load_settings(main_url, "tester")
    assert settings.candles_url is not None and settings.candles_url.database is not None
    own = await CandleStore.open(settings, service.db)
    try:
        assert own.db is not service.db
        await import_candle_files(own, [KLINES / "binance/BTCUSDT-1h-2023-01.spot-header.csv"])
        assert (await _counts(own)) == (744, 1)
        runner = StrategyRunner(service.db, own, service.user_id)
        run = await runner.run(StrategyRequest("BTCUSDT", "1h", "buy_and_hold"))
        assert run.result_id is not None
    finally:
        await own.close()
    main = await CandleStore.open(service.settings, service.db)
    assert await _counts(main) == (0, 0)


async def test_a_strategy_run_is_stored_with_the_seed_fields_and_its_trade_ledger(
    service: FilterBetsService, store: CandleStore
) -> None:
    await import_candle_files(store, [BYBIT_1H])
    runner = StrategyRunner(service.db, store, service.user_id)
    request = StrategyRequest(
        "btcusdt", "1h", "sma_cross", {"fast": 20}, stop_loss_pct=3, date_from=None
    )
    run = await runner.run(request)
    assert run.result_id is not None
    async with service.db.session() as session:
        row = (
            await session.execute(select(BacktestResult).where(BacktestResult.id == run.result_id))
        ).scalar_one()
    assert row.kind == "strategy"
    assert (row.symbol, row.timeframe, row.strategy_type) == ("BTCUSDT", "1h", "sma_cross")
    assert row.strategy_params == {"fast": 20, "slow": 30}
    assert row.metrics == run.metrics and row.created_at is not None
    assert row.market is None and row.bets == run.metrics["trades"]
    trades = await runner.trades(run.result_id)
    assert len(trades) == run.metrics["trades"] > 0
    assert [t.seq for t in trades] == list(range(1, len(trades) + 1))
    assert {t.exit_reason for t in trades} <= {"signal", "stop", "end"}
    assert "stop" in {t.exit_reason for t in trades}
    total = math.fsum(float(t.profit) for t in trades)
    assert total == pytest.approx(run.metrics["final_equity"] - 10_000, abs=1e-4)
    fees = math.fsum(float(t.entry_fee) + float(t.exit_fee) for t in trades)
    assert fees == pytest.approx(run.metrics["fees_paid"], abs=1e-4)
    assert all(t.entry_time <= t.exit_time for t in trades)

    # Football lists are unchanged; asked for, strategy runs are there too.
    results = ResultStore(service.db, service.user_id)
    assert await results.list_results() == []
    [listed] = await results.list_results(include_strategy_runs=True)
    assert listed.id == run.result_id
    await results.delete(run.result_id)
    async with service.db.session() as session:
        left = (await session.execute(select(func.count()).select_from(StrategyTrade))).scalar_one()
    assert left == 0


async def test_a_date_range_limits_the_bars_and_a_thin_range_is_a_clear_error(
    service: FilterBetsService, store: CandleStore
) -> None:
    import datetime as dt

    from core.candles.store import CandleDataError

    await import_candle_files(store, [BYBIT_1H])
    runner = StrategyRunner(service.db, store, service.user_id)
    june = StrategyRequest(
        "BTCUSDT", "1h", "rsi", date_from=dt.date(2024, 6, 1), date_to=dt.date(2024, 6, 30)
    )
    run = await runner.run(june, store=False)
    assert len(run.bars) == 30 * 24 and run.result_id is None
    assert run.to_json()["start"] == "2024-06-01T00:00:00+00:00"
    with pytest.raises(CandleDataError, match="no candles for ETHUSDT 1h"):
        await runner.run(StrategyRequest("ETHUSDT", "1h", "rsi"))
    with pytest.raises(CandleDataError, match="0 bars from 2030-01-01"):
        await runner.run(dataclasses.replace(june, date_from=dt.date(2030, 1, 1), date_to=None))


async def test_a_strategy_job_runs_on_a_worker_and_stores_its_result(
    service: FilterBetsService, store: CandleStore
) -> None:
    await import_candle_files(store, [KLINES / "binance/BTCUSDT-1h-2023-02.spot-header.csv"])
    queue = JobQueue(service.db)
    info = await queue.submit_strategy(
        service.user_id,
        StrategyRequest("BTCUSDT", "1h", "macd", exchange="binance-spot", long_short=True),
    )
    assert info.kind == "strategy" and info.title == "macd(12,26,9) on BTCUSDT 1h"
    runner = JobRunner(service.db, poll_interval=0.05)
    await runner.start()
    try:
        done = await eventually(
            lambda: queue.get(info.job_id), lambda job: job.is_finished, within=60, what="job"
        )
    finally:
        await runner.stop()
    assert done.status == SUCCEEDED, done.error
    assert done.result_id is not None and done.bets is not None and done.bets > 0
    async with service.db.session() as session:
        row = (
            await session.execute(select(BacktestResult).where(BacktestResult.id == done.result_id))
        ).scalar_one()
    assert row.kind == "strategy" and row.strategy_type == "macd"
    assert row.request["long_short"] is True
