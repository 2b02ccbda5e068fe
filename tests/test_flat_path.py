"""The flat-stake path over the frame against an independent reference, on both backends:
the same metrics and the same stored ledger, market by market, on random fixtures.

The reference reads the fixtures back with plain SQL (the oracle's rows), picks them with
the oracle's rule evaluation, builds `Candidate` tuples from the catalogue's Python field
definitions, and runs `staking.run_backtest` and `metrics.compute_metrics` one bet at a
time; its ledger is written row by row. Nothing of the frame, the masks or the array
settlement is shared with it."""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core.backtest import engine as engine_module
from core.backtest.engine import BacktestEngine, _finish_metrics, staking_plan
from core.backtest.ledger import write_ledger
from core.backtest.metrics import compute_metrics
from core.backtest.request import BacktestRequest
from core.backtest.settle import AH_MARKETS, MARKETS, Candidate
from core.backtest.staking import run_backtest
from core.models import BacktestBet, BacktestResult
from core.rules import FIELDS
from core.rules.oracle import load_fixture_rows, matching_ids
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


def _count_flat_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record each run that settled on the flat path."""
    runs: list[int] = []
    settle = engine_module.settle_flat

    def counted(candidates: Any, *args: Any) -> Any:
        runs.append(len(candidates))
        return settle(candidates, *args)

    monkeypatch.setattr(engine_module, "settle_flat", counted)
    return runs


def _in_scope(row: dict[str, Any], request: BacktestRequest) -> bool:
    if request.leagues and row["league"] not in request.leagues:
        return False
    if request.seasons and row["season"] not in request.seasons:
        return False
    if request.date_from and row["kickoff_date"] < request.date_from:
        return False
    return not (request.date_to and row["kickoff_date"] > request.date_to)


def _reference_candidates(rows: list[dict[str, Any]], request: BacktestRequest) -> list[Candidate]:
    market, source = request.market, request.odds_source
    timing = "_close" if source.endswith("_close") else ""
    candidates = []
    for row in rows:
        line = None
        if market in AH_MARKETS:
            line = row["ah_line_close" if timing else "ah_line"]
        fair_close = FIELDS[f"fair.pinnacle_close.{market}"].py(row)
        if market in AH_MARKETS and row["ah_line_close"] != line:
            fair_close = None
        closing = 1.0 / fair_close if fair_close is not None and fair_close > 0 else None
        candidates.append(
            Candidate(
                row["id"],
                row["kickoff_date"],
                row["kickoff_time"],
                row["league"],
                row["home_team"],
                row["away_team"],
                row["home_goals"],
                row["away_goals"],
                FIELDS[f"odds.{source}.{market}"].py(row),
                line,
                FIELDS[f"fair.pinnacle{timing}.{market}"].py(row),
                closing,
                row["season"],
                row["kickoff_date"].month,
            )
        )
    return candidates


async def reference_run(
    service: FilterBetsService, request: BacktestRequest
) -> tuple[dict[str, Any], int]:
    """(metrics, id of a result holding the reference's ledger), computed without the frame."""
    request = request.validated()
    rows = await load_fixture_rows(service.db)
    picked = set(matching_ids(request.rules, rows))
    chosen = [row for row in rows if row["id"] in picked and _in_scope(row, request)]
    plan = staking_plan(request, Decimal("1.00"))
    outcome = run_backtest(_reference_candidates(chosen, request), request.market, plan)
    metrics = compute_metrics(outcome, odds_source=request.odds_source, curve_max_points=2000)
    metrics = _finish_metrics(metrics, request, request.rules, plan)
    async with service.db.session() as session:
        result = BacktestEngine(service.db, service.user_id)._new_result(
            request, await BacktestEngine(service.db, service.user_id).resolve_filter(request)
        )
        session.add(result)
        await session.flush()
        await write_ledger(session, int(result.id), outcome, lambda done, total: None)
        return metrics, int(result.id)


@pytest.mark.parametrize("market", MARKETS)
async def test_the_flat_path_equals_the_reference(
    service: FilterBetsService, market: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_fixtures(service, _random_fixtures(seed=7, count=400), features=False)
    flat_runs = _count_flat_runs(monkeypatch)
    engine = BacktestEngine(service.db, service.user_id)
    rules = {"field": "odds.pinnacle.home", "op": "not_null"}
    for stake in ("1.00", "2.35"):
        request = BacktestRequest(rules=rules, market=market, stake=stake)
        fast = await engine.run(request)
        metrics, reference_id = await reference_run(service, request)
        assert fast.metrics["bets"] > 50
        _assert_same(fast.metrics, metrics)
        assert await _ledger(service, fast.result_id) == await _ledger(service, reference_id)
        stored = await _stored(service, fast.result_id)
        _assert_same(stored[3], metrics)  # the stored metrics
        assert stored[0] == fast.metrics["bets"]
        assert stored[1] == Decimal(str(fast.metrics["profit"]))
    assert flat_runs == [fast.metrics["candidates"]] * 2


@pytest.mark.parametrize("staking", ["percent", "kelly"])
async def test_the_bank_based_path_equals_the_reference(
    service: FilterBetsService, staking: str
) -> None:
    await add_fixtures(service, _random_fixtures(seed=8, count=300), features=False)
    engine = BacktestEngine(service.db, service.user_id)
    for market in ("home", "ah_away", "under25"):
        request = BacktestRequest(
            rules={"field": "odds.b365.draw", "op": ">", "value": 2.0},
            market=market,
            odds_source="b365",
            staking=staking,
        )
        run = await engine.run(request)
        metrics, reference_id = await reference_run(service, request)
        _assert_same(run.metrics, metrics)
        assert await _ledger(service, run.result_id) == await _ledger(service, reference_id)


async def test_a_bet_ledger_and_metrics_match_on_a_closing_price_source(
    service: FilterBetsService,
) -> None:
    await add_fixtures(service, _random_fixtures(seed=11, count=200), features=False)
    request = BacktestRequest(
        rules={"field": "league", "op": "in", "value": ["E0", "I1"]},
        market="away",
        odds_source="pinnacle_close",
        seasons=["2019-20"],
    )
    fast = await BacktestEngine(service.db, service.user_id).run(request)
    metrics, reference_id = await reference_run(service, request)
    _assert_same(fast.metrics, metrics)
    assert await _ledger(service, fast.result_id) == await _ledger(service, reference_id)


async def test_a_line_off_the_quarter_grid_is_refused_on_both_paths(
    service: FilterBetsService,
) -> None:
    specs = _random_fixtures(seed=3, count=40)
    for spec in specs:
        spec["odds"]["ah_line"] = 0.3
        spec["odds"]["pinnacle_ah_home"] = 1.9
    await add_fixtures(service, specs, features=False)
    messages = []
    for staking in ("flat", "percent"):
        request = BacktestRequest(
            rules={"field": "league", "op": "!=", "value": "XX"}, market="ah_home", staking=staking
        )
        with pytest.raises(ValueError, match=r"multiple of 0\.25") as error:
            await BacktestEngine(service.db, service.user_id).run(request)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


async def test_an_empty_selection_runs_on_the_flat_path(service: FilterBetsService) -> None:
    await add_fixtures(service, _random_fixtures(seed=1, count=20), features=False)
    request = BacktestRequest(rules={"field": "league", "op": "=", "value": "E0"}, market="draw")
    empty = BacktestRequest(
        rules={"field": "odds.pinnacle.draw", "op": ">", "value": 1000}, market="draw"
    )
    for one in (request, empty):
        fast = await BacktestEngine(service.db, service.user_id).run(one)
        metrics, _ = await reference_run(service, one)
        _assert_same(fast.metrics, metrics)
    assert fast.metrics["bets"] == 0 and math.isclose(fast.metrics["roc"], 0.0)


async def test_season_labels_inside_one_another_keep_their_own_splits(
    service: FilterBetsService,
) -> None:
    labels = ["2019-20", "2019", "19-20", "9", "Ärger 19", "20\x1f19-20"]
    specs = _random_fixtures(seed=13, count=100)
    for i, spec in enumerate(specs):
        spec["season"] = labels[i % len(labels)]
    await add_fixtures(service, specs, features=False)
    request = BacktestRequest(rules={"field": "league", "op": "!=", "value": "XX"}, market="draw")
    fast = await BacktestEngine(service.db, service.user_id).run(request)
    metrics, _ = await reference_run(service, request)
    assert {row["key"] for row in fast.metrics["splits"]["season"]} == set(labels)
    _assert_same(fast.metrics, metrics)


async def test_old_dates_and_huge_prices_store_the_same_ledger(
    service: FilterBetsService,
) -> None:
    specs = _random_fixtures(seed=17, count=60)
    for i, spec in enumerate(specs):
        spec["date"] = f"19{55 + i % 20}-0{1 + i % 9}-1{i % 10}"  # before and after 1970
        spec["odds"]["pinnacle_home"] = 1.5 + i / 7
    specs[0]["odds"]["pinnacle_home"] = 5000.0  # past what SQLite's packed ledger carries
    await add_fixtures(service, specs, features=False)
    request = BacktestRequest(rules={"field": "league", "op": "!=", "value": "XX"}, market="home")
    fast = await BacktestEngine(service.db, service.user_id).run(request)
    metrics, reference_id = await reference_run(service, request)
    _assert_same(fast.metrics, metrics)
    assert await _ledger(service, fast.result_id) == await _ledger(service, reference_id)


async def test_a_ledger_too_big_to_pack_is_written_another_way(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL then sends each ledger column as its own array; SQLite writes rows."""
    from core.backtest import ledger

    await add_fixtures(service, _random_fixtures(seed=19, count=80), features=False)
    monkeypatch.setattr(ledger, "_INT64_MAX", 10)
    request = BacktestRequest(rules={"field": "league", "op": "!=", "value": "XX"}, market="over25")
    fast = await BacktestEngine(service.db, service.user_id).run(request)
    metrics, reference_id = await reference_run(service, request)
    _assert_same(fast.metrics, metrics)
    assert await _ledger(service, fast.result_id) == await _ledger(service, reference_id)


@pytest.mark.parametrize("max_points", [4, 5, 10, 101, 2000])
def test_the_curve_keeps_the_same_points_as_the_reference(max_points: int) -> None:
    """The array downsampling of the equity curve picks exactly the reference's points:
    first, last, and each bucket's first lowest and first highest (ties included)."""
    import numpy as np

    from core.backtest.flat import _curve_indices
    from core.backtest.metrics import _curve_indices as reference

    rng = random.Random(max_points)
    for n in (max_points + 1, 3 * max_points + 7, 5_000):
        values = [float(rng.choice([-1, 0, 1, 2])) for _ in range(n)]  # many ties
        cum = np.cumsum(values)
        assert _curve_indices(cum, max_points).tolist() == reference(cum.tolist(), max_points)
