from __future__ import annotations

from core.services import FilterBetsService


async def test_a_fresh_database_has_the_current_user_and_no_fixtures(
    service: FilterBetsService,
) -> None:
    assert service.user_id > 0
    totals = await service.data_totals()
    assert (totals.leagues, totals.seasons, totals.fixtures) == (0, 0, 0)
    assert await service.league_seasons() == []
