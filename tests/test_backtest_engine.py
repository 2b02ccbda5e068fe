"""The whole backtest path on hand-built fixtures, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from core.backtest.engine import BacktestCancelled, BacktestEngine
from core.backtest.request import BacktestRequest, RequestError
from core.errors import RuleError
from core.filters import FilterStore
from core.models import BacktestBet, BacktestResult
from core.services import FilterBetsService
from tests.factories import add_fixtures

AWAY_2_TO_3 = {"field": "odds.pinnacle.away", "op": "between", "value": [2.0, 3.0]}


def _match(
    date: str, home: str, away: str, goals: tuple[int, int], **odds: float | None
) -> dict[str, Any]:
    return {
        "league": "E0",
        "season": "2019-20",
        "date": date,
        "home": home,
        "away": away,
        "goals": goals,
        "odds": odds,
    }


async def _seed(service: FilterBetsService) -> list[int]:
    return await add_fixtures(
        service,
        [
            # Away wins at 2.50: +1.50.
            _match("2019-08-10", "Arsenal", "Burnley", (0, 1), pinnacle_away=2.5),
            # Away loses at 2.00: -1.00.
            _match("2019-08-11", "Chelsea", "Everton", (2, 0), pinnacle_away=2.0),
            # Selected by the filter on Bet365 but has no Pinnacle price: not bet.
            _match("2019-08-12", "Fulham", "Leeds", (1, 1), b365_away=2.2),
            # Away at 3.00 wins: +2.00.
            _match("2019-08-13", "Wolves", "Spurs", (1, 3), pinnacle_away=3.0),
            # Outside the band: never selected.
            _match("2019-08-14", "Leicester", "Newcastle", (0, 2), pinnacle_away=4.0),
        ],
    )


def _request(**kwargs: Any) -> BacktestRequest:
    base: dict[str, Any] = {"market": "away", "rules": AWAY_2_TO_3}
    base.update(kwargs)
    return BacktestRequest(**base)


async def test_flat_backtest_settles_exactly_and_stores_result_and_ledger(
    service: FilterBetsService,
) -> None:
    await _seed(service)
    engine = BacktestEngine(service.db, service.user_id)
    run = await engine.run(_request())
    m = run.metrics
    assert (m["bets"], m["wins"], m["losses"]) == (3, 2, 1)
    assert m["profit"] == pytest.approx(2.5)
    assert m["staked"] == pytest.approx(3.0)
    assert m["yield"] == pytest.approx(2.5 / 3)
    assert m["odds_source"] == "pinnacle" and m["market"] == "away"
    # Peak 1.5 after bet 1, down to 0.5 after bet 2: a drawdown of 1.0 from the peak.
    assert m["max_drawdown"] == pytest.approx(1.0)

    async with service.db.session() as session:
        stored = (await session.execute(select(BacktestResult))).scalar_one()
        ledger = (
            (await session.execute(select(BacktestBet).order_by(BacktestBet.seq))).scalars().all()
        )
    assert stored.id == run.result_id
    assert stored.bets == 3
    assert Decimal(stored.profit) == Decimal("2.5")
    assert stored.rules_snapshot["rules"] == AWAY_2_TO_3
    assert stored.data_fingerprint["fixtures_in_scope"] == 5
    assert [bet.outcome for bet in ledger] == ["win", "loss", "win"]
    assert [Decimal(bet.profit) for bet in ledger] == [Decimal("1.5"), Decimal("-1"), Decimal("2")]
    assert [bet.odds for bet in ledger] == [2.5, 2.0, 3.0]


async def test_a_match_without_a_price_is_skipped_never_assumed(
    service: FilterBetsService,
) -> None:
    await _seed(service)
    engine = BacktestEngine(service.db, service.user_id)
    rules = {"field": "odds.b365.away", "op": "not_null"}
    run = await engine.run(_request(rules=rules))
    # Only Fulham v Leeds has a Bet365 price, and it has no Pinnacle price to bet at.
    assert run.metrics["bets"] == 0
    assert run.metrics["skipped_no_odds"] == 1
    bet365 = await engine.run(_request(rules=rules, odds_source="b365"))
    assert bet365.metrics["bets"] == 1
    assert bet365.metrics["odds_source"] == "b365"
    assert bet365.metrics["profit"] == pytest.approx(-1.0)


async def test_under25_is_priced_with_the_under_odds(service: FilterBetsService) -> None:
    await add_fixtures(
        service,
        [
            _match(
                "2019-08-10",
                "Arsenal",
                "Burnley",
                (1, 0),
                pinnacle_over25=1.6,
                pinnacle_under25=2.4,
            )
        ],
    )
    engine = BacktestEngine(service.db, service.user_id)
    run = await engine.run(_request(market="under25", rules=[]))
    assert run.metrics["bets"] == 1
    assert run.metrics["profit"] == pytest.approx(1.4)
    assert run.metrics["avg_odds"] == pytest.approx(2.4)


async def test_editing_a_filter_never_changes_an_old_result(service: FilterBetsService) -> None:
    await _seed(service)
    store = FilterStore(service.db, service.user_id)
    saved = await store.create("away value", AWAY_2_TO_3, stake="2.00")
    engine = BacktestEngine(service.db, service.user_id)
    first = await engine.run(BacktestRequest(market="away", filter_ref="away value"))
    assert first.metrics["staked"] == pytest.approx(6.0)  # the filter's stake of 2.00
    await store.update(saved.id, rules={"field": "odds.pinnacle.away", "op": ">=", "value": 3.5})
    second = await engine.run(BacktestRequest(market="away", filter_ref="away value"))
    assert second.metrics["bets"] == 1
    async with service.db.session() as session:
        old = await session.get(BacktestResult, first.result_id)
        assert old is not None
        assert old.rules_snapshot["rules"] == AWAY_2_TO_3
        assert old.bets == 3
        old_ledger = (
            await session.execute(
                select(func.count()).where(BacktestBet.result_id == first.result_id)
            )
        ).scalar_one()
    assert old_ledger == 3
    listed = await store.list()
    assert listed[0].last_result_id == second.result_id
    assert listed[0].last_bets == 1


async def test_closing_price_rules_carry_the_warning(service: FilterBetsService) -> None:
    await _seed(service)
    engine = BacktestEngine(service.db, service.user_id)
    run = await engine.run(_request(rules={"field": "odds.pinnacle_close.away", "op": "is_null"}))
    assert "uses closing prices, known only at kick-off" in run.metrics["warnings"]
    plain = await engine.run(_request())
    assert "uses closing prices, known only at kick-off" not in plain.metrics["warnings"]


async def test_scope_limits_the_fixtures_and_unknown_leagues_are_refused(
    service: FilterBetsService,
) -> None:
    await _seed(service)
    engine = BacktestEngine(service.db, service.user_id)
    run = await engine.run(_request(date_from=_date("2019-08-11"), date_to=_date("2019-08-12")))
    assert run.metrics["bets"] == 1
    with pytest.raises(RequestError, match="did you mean 'E0'"):
        await engine.run(_request(leagues=("E9",)))
    assert await engine.count(_request(leagues=("E0",))) == 3


async def test_bad_rules_and_requests_fail_before_anything_is_stored(
    service: FilterBetsService,
) -> None:
    await _seed(service)
    engine = BacktestEngine(service.db, service.user_id)
    with pytest.raises(RuleError, match="did you mean"):
        await engine.run(_request(rules={"field": "odds.pinacle.away", "op": ">", "value": 2}))
    with pytest.raises(RuleError, match="known only after the match"):
        await engine.run(_request(rules={"field": "home_goals", "op": ">", "value": 1}))
    with pytest.raises(RequestError, match="market"):
        await engine.run(_request(market="awya"))
    async with service.db.session() as session:
        assert (await session.execute(select(func.count(BacktestResult.id)))).scalar_one() == 0


async def test_a_cancelled_run_leaves_no_result_and_no_ledger(service: FilterBetsService) -> None:
    await _seed(service)
    engine = BacktestEngine(service.db, service.user_id)
    seen: list[str] = []

    def cancel_once_storing() -> bool:
        return any(message.startswith("storing") for message in seen)

    with pytest.raises(BacktestCancelled):
        await engine.run(
            _request(),
            progress=lambda _fraction, message: seen.append(message),
            is_cancelled=cancel_once_storing,
        )
    async with service.db.session() as session:
        assert (await session.execute(select(func.count(BacktestResult.id)))).scalar_one() == 0
        assert (
            await session.execute(select(func.count()).select_from(BacktestBet))
        ).scalar_one() == 0


def _date(text: str) -> Any:
    import datetime as dt

    return dt.date.fromisoformat(text)


async def test_the_frame_follows_the_data_version(service: FilterBetsService) -> None:
    """Counts and runs read the in-memory frame; a write that bumps the data version (as
    imports and feature recomputes do) is seen by the next use, in the same process."""
    from core.frame import frame_for

    await _seed(service)
    engine = BacktestEngine(service.db, service.user_id)
    assert await engine.count(_request(rules=AWAY_2_TO_3)) == 3
    before = (await frame_for(service.db)).version
    await add_fixtures(
        service,
        [
            {
                "league": "E0",
                "season": "2019-20",
                "date": "2019-09-01",
                "home": "Newcastle",
                "away": "Burnley",
                "goals": (0, 1),
                "odds": {"pinnacle_away": 2.5},
            }
        ],
    )
    assert (await frame_for(service.db)).version > before
    assert await engine.count(_request(rules=AWAY_2_TO_3)) == 4


async def test_league_and_team_leaves_match_the_same_fixtures_as_their_names(
    service: FilterBetsService,
) -> None:
    """They compile to a foreign-key subquery; `not` and `!=` keep their meaning."""
    await _seed(service)
    engine = BacktestEngine(service.db, service.user_id)

    async def count(rules: Any) -> int:
        return await engine.count(_request(rules=rules))

    assert await count({"field": "league", "op": "=", "value": "E0"}) == 5
    assert await count({"field": "league", "op": "!=", "value": "E0"}) == 0
    assert await count({"not": {"field": "league", "op": "in", "value": ["SP1"]}}) == 5
    assert await count({"field": "home_team", "op": "in", "value": ["Arsenal", "Fulham"]}) == 2
    assert await count({"field": "away_team", "op": "=", "value": "Arsenal"}) == 0
    assert await count({"not": {"field": "away_team", "op": "=", "value": "Spurs"}}) == 4
    assert await count({"field": "home_team", "op": ">=", "value": "Leicester"}) == 2
    assert await count({"field": "country", "op": "is_null"}) == 0
