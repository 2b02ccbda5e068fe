"""The columnar flat-stake path against the row path (the reference), on both backends:
the same metrics and the same stored ledger, market by market, on random fixtures."""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from core.backtest import engine as engine_module
from core.backtest.columnar_sql import SeasonIndex
from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.backtest.settle import MARKETS
from core.models import BacktestBet, BacktestResult
from core.services import FilterBetsService
from tests.factories import add_fixtures

TEAMS = ["Zeta", "alpha", "Alpha", "Ärger", "Boca", "boca juniors", "Celtic", "Dundee"]
LEAGUES = [("SP1", "2018-19"), ("E0", "2019-20"), ("I1", "2019-20"), ("E0", "2020-21")]
PRICE_FIELDS = ["pinnacle", "b365"]
SELECTIONS = ["home", "draw", "away", "over25", "under25", "ah_home", "ah_away"]
CLOSE_FIELDS = ["pinnacle_close_home", "pinnacle_close_draw", "pinnacle_close_away"]


def _price(rng: random.Random) -> float | None:
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.15:
        return rng.choice([1.0, 0.5])  # no usable price
    if roll < 0.25:
        return 1.0 + rng.random() * 6  # every digit a double has: must survive exactly
    return round(1.01 + rng.random() * 6, 2)


def _random_fixtures(seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    specs = []
    taken = set()
    while len(specs) < count:
        league, season = rng.choice(LEAGUES)
        home, away = rng.sample(TEAMS, 2)
        date = f"2019-{rng.randint(1, 12):02d}-{rng.randint(1, 3):02d}"
        if (league, date, home, away) in taken:
            continue
        taken.add((league, date, home, away))
        odds: dict[str, float | None] = {}
        for source in PRICE_FIELDS:
            for selection in SELECTIONS:
                odds[f"{source}_{selection}"] = _price(rng)
        for name in CLOSE_FIELDS:
            odds[name] = _price(rng)
        odds["ah_line"] = rng.choice([None, -1.75, -1.5, -1.25, -1.0, -0.75, -0.5, -0.25, 0.0])
        odds["ah_line"] = odds["ah_line"] if rng.random() < 0.9 else 0.25
        specs.append(
            {
                "league": league,
                "season": season,
                # Few dates and times, so many bets share a day and the order's tie-breaks
                # (league code, home and away team names) decide.
                "date": date,
                "time": rng.choice([None, "12:30", "15:00", "20:45"]),
                "home": home,
                "away": away,
                "goals": (rng.randint(0, 4), rng.randint(0, 4)),
                "odds": {key: value for key, value in odds.items() if value is not None},
            }
        )
    return specs


async def _stored(service: FilterBetsService, result_id: int) -> tuple[Any, ...]:
    """The result row's own columns (its id and time aside)."""
    async with service.db.session() as session:
        result = await session.get(BacktestResult, result_id)
        assert result is not None
        return (
            result.bets,
            Decimal(result.profit),
            result.yield_,
            result.metrics,
            result.data_fingerprint,
            result.rules_snapshot,
            result.request,
            result.market,
            result.odds_source,
        )


async def _ledger(service: FilterBetsService, result_id: int) -> list[tuple[Any, ...]]:
    async with service.db.session() as session:
        rows = await session.execute(
            select(
                BacktestBet.seq,
                BacktestBet.fixture_id,
                BacktestBet.kickoff_date,
                BacktestBet.odds,
                BacktestBet.stake,
                BacktestBet.outcome,
                BacktestBet.profit,
                BacktestBet.bank_after,
            )
            .where(BacktestBet.result_id == result_id)
            .order_by(BacktestBet.seq)
        )
        return [tuple(row) for row in rows]


def _assert_same(columnar: Any, reference: Any, path: str = "") -> None:
    if isinstance(reference, dict):
        assert set(columnar) == set(reference), path
        for key in reference:
            _assert_same(columnar[key], reference[key], f"{path}.{key}")
    elif isinstance(reference, list):
        assert len(columnar) == len(reference), path
        for i, (a, b) in enumerate(zip(columnar, reference, strict=True)):
            _assert_same(a, b, f"{path}[{i}]")
    else:
        assert columnar == reference, path


def _count_columnar_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record each run that settled on the columnar path (not fallen back to rows)."""
    runs: list[int] = []
    settle = engine_module.settle_flat

    def counted(columns: Any, *args: Any) -> Any:
        runs.append(len(columns))
        return settle(columns, *args)

    monkeypatch.setattr(engine_module, "settle_flat", counted)
    return runs


@pytest.mark.parametrize("market", MARKETS)
async def test_the_columnar_path_equals_the_row_path(
    service: FilterBetsService, market: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_fixtures(service, _random_fixtures(seed=7, count=400), features=False)
    columnar_runs = _count_columnar_runs(monkeypatch)
    columnar = BacktestEngine(service.db, service.user_id)
    reference = BacktestEngine(service.db, service.user_id, columnar=False)
    rules = {"field": "odds.pinnacle.home", "op": "not_null"}
    for stake in ("1.00", "2.35"):
        request = BacktestRequest(rules=rules, market=market, stake=stake)
        fast = await columnar.run(request)
        slow = await reference.run(request)
        assert fast.metrics["bets"] > 50
        _assert_same(fast.metrics, slow.metrics)
        assert await _ledger(service, fast.result_id) == await _ledger(service, slow.result_id)
        fast_row, slow_row = (
            await _stored(service, fast.result_id),
            await _stored(service, slow.result_id),
        )
        _assert_same(fast_row[3], slow_row[3])  # the stored metrics
        assert fast_row[:3] + fast_row[4:] == slow_row[:3] + slow_row[4:]
        assert fast_row[0] == fast.metrics["bets"]
    assert columnar_runs == [fast.metrics["candidates"]] * 2


@pytest.mark.parametrize("parts", [2, 3])
async def test_columns_read_in_parallel_parts_give_the_same_run(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    await add_fixtures(service, _random_fixtures(seed=9, count=300), features=False)
    request = BacktestRequest(rules={"field": "league", "op": "!=", "value": "XX"}, market="away")
    engine = BacktestEngine(service.db, service.user_id)
    whole = await engine.run(request)
    monkeypatch.setattr(engine_module, "SQLITE_PARALLEL_MIN_FIXTURES", 1)
    monkeypatch.setattr(engine_module, "SQLITE_PARALLEL_PARTS", parts)
    assert len(await engine._id_ranges(postgres_too=True)) == parts
    split = await engine.run(request)
    _assert_same(split.metrics, whole.metrics)
    assert await _ledger(service, split.result_id) == await _ledger(service, whole.result_id)


async def test_a_bet_ledger_and_metrics_match_on_a_closing_price_source(
    service: FilterBetsService,
) -> None:
    await add_fixtures(service, _random_fixtures(seed=11, count=200), features=False)
    request = BacktestRequest(
        rules={"field": "league", "op": "in", "value": ["E0", "I1"]},
        market="away",
        odds_source="b365",
        seasons=["2019-20"],
    )
    fast = await BacktestEngine(service.db, service.user_id).run(request)
    slow = await BacktestEngine(service.db, service.user_id, columnar=False).run(request)
    _assert_same(fast.metrics, slow.metrics)
    assert await _ledger(service, fast.result_id) == await _ledger(service, slow.result_id)


async def test_a_line_off_the_quarter_grid_is_refused_on_both_paths(
    service: FilterBetsService,
) -> None:
    specs = _random_fixtures(seed=3, count=40)
    for spec in specs:
        spec["odds"]["ah_line"] = 0.3
        spec["odds"]["pinnacle_ah_home"] = 1.9
    await add_fixtures(service, specs, features=False)
    request = BacktestRequest(
        rules={"field": "league", "op": "!=", "value": "XX"}, market="ah_home"
    )
    messages = []
    for columnar in (True, False):
        with pytest.raises(ValueError, match=r"multiple of 0\.25") as error:
            await BacktestEngine(service.db, service.user_id, columnar=columnar).run(request)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


async def test_a_season_label_the_columns_cannot_carry_takes_the_row_path(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = _random_fixtures(seed=5, count=60)
    for spec in specs[::2]:
        spec["season"] = "20\x1f19-20"
    await add_fixtures(service, specs, features=False)
    request = BacktestRequest(rules={"field": "league", "op": "!=", "value": "XX"}, market="home")
    columnar_runs = _count_columnar_runs(monkeypatch)
    fast = await BacktestEngine(service.db, service.user_id).run(request)
    slow = await BacktestEngine(service.db, service.user_id, columnar=False).run(request)
    # SQLite joins seasons with that separator and falls back; PostgreSQL's array carries it.
    assert columnar_runs == ([] if service.db.dialect_name == "sqlite" else [60])
    seasons = {row["key"] for row in fast.metrics["splits"]["season"]}
    assert "20\x1f19-20" in seasons
    _assert_same(fast.metrics, slow.metrics)


async def test_an_empty_selection_runs_on_the_columnar_path(service: FilterBetsService) -> None:
    await add_fixtures(service, _random_fixtures(seed=1, count=20), features=False)
    request = BacktestRequest(rules={"field": "league", "op": "=", "value": "E0"}, market="draw")
    empty = BacktestRequest(
        rules={"field": "odds.pinnacle.draw", "op": ">", "value": 1000}, market="draw"
    )
    for one in (request, empty):
        fast = await BacktestEngine(service.db, service.user_id).run(one)
        slow = await BacktestEngine(service.db, service.user_id, columnar=False).run(one)
        _assert_same(fast.metrics, slow.metrics)
    assert fast.metrics["bets"] == 0 and math.isclose(fast.metrics["roc"], 0.0)


async def test_season_labels_inside_one_another_keep_their_own_splits(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = ["2019-20", "2019", "19-20", "9", "Ärger 19"]
    specs = _random_fixtures(seed=13, count=100)
    for i, spec in enumerate(specs):
        spec["season"] = labels[i % len(labels)]
    await add_fixtures(service, specs, features=False)
    request = BacktestRequest(rules={"field": "league", "op": "!=", "value": "XX"}, market="draw")
    columnar_runs = _count_columnar_runs(monkeypatch)
    fast = await BacktestEngine(service.db, service.user_id).run(request)
    slow = await BacktestEngine(service.db, service.user_id, columnar=False).run(request)
    assert columnar_runs == [100]
    assert {row["key"] for row in fast.metrics["splits"]["season"]} == set(labels)
    _assert_same(fast.metrics, slow.metrics)


def test_a_season_index_numbers_each_label_at_its_own_place() -> None:
    index = SeasonIndex.of(["2019-20", "2019", "19-20", "9", "2019"])
    assert index is not None
    found = {label: index.text.find(label) + 1 for label in index.labels}
    assert sorted(index.label_at[found[label]] for label in index.labels) == [0, 1, 2, 3]
    codes = index.codes(np.array([found["9"], found["2019-20"]]))
    assert [index.labels[c] for c in codes] == ["9", "2019-20"]
    assert index.codes(np.array([0])) is None  # a season the index does not know
    assert SeasonIndex.of(["", "2019"]) is None
    assert SeasonIndex.of(["a\x1fb"]) is None


async def test_old_dates_and_huge_prices_store_the_same_ledger(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = _random_fixtures(seed=17, count=60)
    for i, spec in enumerate(specs):
        spec["date"] = f"19{55 + i % 20}-0{1 + i % 9}-1{i % 10}"  # before and after 1970
        spec["odds"]["pinnacle_home"] = 1.5 + i / 7
    await add_fixtures(service, specs, features=False)
    request = BacktestRequest(rules={"field": "league", "op": "!=", "value": "XX"}, market="home")
    columnar_runs = _count_columnar_runs(monkeypatch)
    fast = await BacktestEngine(service.db, service.user_id).run(request)
    slow = await BacktestEngine(service.db, service.user_id, columnar=False).run(request)
    _assert_same(fast.metrics, slow.metrics)
    assert await _ledger(service, fast.result_id) == await _ledger(service, slow.result_id)
    # A price of 2048 or more does not fit SQLite's encoding: that run takes the row path.
    specs[0]["odds"]["pinnacle_home"] = 5000.0
    specs[0]["date"] = "2001-01-01"
    await add_fixtures(service, specs[:1], features=False)
    fast = await BacktestEngine(service.db, service.user_id).run(request)
    slow = await BacktestEngine(service.db, service.user_id, columnar=False).run(request)
    _assert_same(fast.metrics, slow.metrics)
    assert await _ledger(service, fast.result_id) == await _ledger(service, slow.result_id)
    assert len(columnar_runs) == (1 if service.db.dialect_name == "sqlite" else 2)


async def test_a_ledger_too_big_to_pack_is_written_another_way(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL then sends each ledger column as its own array; SQLite takes the row path."""
    from core.backtest import columnar_sql

    await add_fixtures(service, _random_fixtures(seed=19, count=80), features=False)
    monkeypatch.setattr(columnar_sql, "_INT64_MAX", 10)
    request = BacktestRequest(rules={"field": "league", "op": "!=", "value": "XX"}, market="over25")
    fast = await BacktestEngine(service.db, service.user_id).run(request)
    slow = await BacktestEngine(service.db, service.user_id, columnar=False).run(request)
    _assert_same(fast.metrics, slow.metrics)
    assert await _ledger(service, fast.result_id) == await _ledger(service, slow.result_id)
