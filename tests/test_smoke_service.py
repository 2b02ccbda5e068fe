from __future__ import annotations

from core.services import FilterBetsService


async def test_a_fresh_database_has_the_current_user_and_no_fixtures(
    service: FilterBetsService,
) -> None:
    assert service.user_id > 0
    totals = await service.data_totals()
    assert (totals.leagues, totals.seasons, totals.fixtures) == (0, 0, 0)
    assert await service.league_seasons() == []


async def test_connections_are_set_up_for_this_workload(service: FilterBetsService) -> None:
    """SQLite: WAL, foreign keys, a busy timeout. PostgreSQL: named, and JIT off (it spent
    40-50 ms compiling each 1M-fixture filter and gave nothing back)."""
    from sqlalchemy import text

    async with service.db.session() as session:
        if service.db.settings.is_sqlite:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
            assert (await session.execute(text("PRAGMA busy_timeout"))).scalar_one() == 15000
        else:
            assert (await session.execute(text("SHOW jit"))).scalar_one() == "off"
            name = (await session.execute(text("SHOW application_name"))).scalar_one()
            assert name == "filterbets"
