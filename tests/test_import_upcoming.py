"""Upcoming fixtures from football-data's fixtures.csv: parsing, one row per match,
settling by a later season file, postponed matches, team aliases, damaged files.

Most tests use the real files in ../shared/data (upcoming/, history-2026-04-24/,
football-recent/, football-corrupt-more/); the database tests run on both backends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import aliased

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.errors import ImportFileError, TeamError
from core.importing.football_data import (
    FIXTURE_VALUE_COLUMNS,
    ODDS_VALUE_COLUMNS,
    parse_file,
)
from core.importing.leagues import UNKNOWN_COUNTRY, known_league
from core.importing.service import ImportSummary, import_paths
from core.importing.teams import link_alias, list_aliases
from core.models import (
    FEATURE_COLUMNS,
    BacktestBet,
    BacktestResult,
    Fixture,
    FixtureFeatures,
    FixtureOdds,
    League,
    Team,
    TeamAlias,
)
from core.services import FilterBetsService
from core.upcoming import missing_source_warning, upcoming_odds_sources, upcoming_summary
from tests.conftest import SHARED_DATA, shared_data, wipe_all_tables
from tui.widgets.import_report import report_rows


@pytest.fixture(autouse=True)
def _needs_shared_data() -> None:
    """Every test here reads the shared data folder: skipped without it (a failure under
    FILTERBETS_REQUIRE_CORPUS=1, as in CI; see tests/conftest.py)."""
    shared_data("upcoming")


UPCOMING = SHARED_DATA / "upcoming"
NEW_LAYOUT = UPCOMING / "fixtures_2026-04-24..2026-04-27.nobom.csv"
OLD_LAYOUT = UPCOMING / "fixtures_2023-12-01..2023-12-04.oldlayout.csv"
NO_PINNACLE = UPCOMING / "fixtures_2026-08-14..2026-08-17.csv"
OTHER_SPELLINGS = UPCOMING / "fixtures_2026-08-19..2026-08-20.csv"
HISTORY = UPCOMING / "history-2026-04-24"
RECENT = SHARED_DATA / "football-recent"
CORRUPT_MORE = SHARED_DATA / "football-corrupt-more"
YEAR_TYPO = CORRUPT_MORE / "fixtures_2026-04-24.year-2016-typo.csv"

GOAL_SLOTS = [FIXTURE_VALUE_COLUMNS.index(c) for c in ("home_goals", "away_goals", "result")]


async def run_import(service: FilterBetsService, *paths: Path, **kw: Any) -> ImportSummary:
    summary = await import_paths(service.db, list(paths), **kw)
    assert summary.file_errors == [], summary.file_errors
    return summary


async def fixtures_by_match(
    service: FilterBetsService, *codes: str
) -> dict[tuple[str, dt.date, str, str], dict[str, Any]]:
    """Every fixture of the leagues (league, date, home, away) -> its columns, odds
    and features."""
    home, away = aliased(Team), aliased(Team)
    query = (
        select(
            League.code,
            Fixture.kickoff_date,
            home.name,
            away.name,
            Fixture.id,
            Fixture.home_goals,
            Fixture.result,
            FixtureOdds.b365_home,
            FixtureOdds.avg_home,
            FixtureOdds.avg_close_home,
            *(getattr(FixtureFeatures, c) for c in FEATURE_COLUMNS),
        )
        .join(League, League.id == Fixture.league_id)
        .join(home, home.id == Fixture.home_team_id)
        .join(away, away.id == Fixture.away_team_id)
        .outerjoin(FixtureOdds, FixtureOdds.fixture_id == Fixture.id)
        .outerjoin(FixtureFeatures, FixtureFeatures.fixture_id == Fixture.id)
        .where(League.code.in_(codes))
    )
    async with service.db.session() as session:
        rows = (await session.execute(query)).all()
    out = {}
    for row in rows:
        code, day, home_name, away_name, fixture_id, goals, result, b365, avg, avg_close = row[:10]
        out[(code, day, home_name, away_name)] = {
            "id": fixture_id,
            "home_goals": goals,
            "result": result,
            "b365_home": b365,
            "avg_home": avg,
            "avg_close_home": avg_close,
            "features": tuple(row[10:]),
        }
    return out


# --- parsing (no database) -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "rows", "season", "referee"),
    [(NEW_LAYOUT, 186, "2025-26", True), (OLD_LAYOUT, 174, "2023-24", False)],
)
def test_both_fixtures_layouts_read_as_upcoming_matches_of_many_divisions(
    path: Path, rows: int, season: str, referee: bool
) -> None:
    """Since 2024-25 the header has no result columns; before, they are there but empty."""
    parsed = parse_file(path)
    assert (parsed.upcoming, len(parsed.rows), parsed.bad_rows) == (True, rows, [])
    assert len(parsed.divisions) >= 21
    for code in parsed.divisions:
        league = known_league(code)
        assert league is not None, code
        assert league.country != UNKNOWN_COUNTRY
    for row in parsed.rows:
        assert [row.values[i] for i in GOAL_SLOTS] == [None, None, None]
        assert row.values[FIXTURE_VALUE_COLUMNS.index("season")] == season
    first = parsed.rows[0]
    assert first.odds[ODDS_VALUE_COLUMNS.index("b365_home")] is not None
    assert first.odds[ODDS_VALUE_COLUMNS.index("avg_close_home")] is None
    referees = [r.values[FIXTURE_VALUE_COLUMNS.index("referee")] for r in parsed.rows]
    assert any(referees) is referee


def test_a_row_dated_far_from_the_rest_of_a_fixtures_file_is_a_bad_row() -> None:
    """The real republished file with five rows dated 25/04/2016 among 2026 fixtures."""
    parsed = parse_file(YEAR_TYPO)
    assert [bad.line for bad in parsed.bad_rows] == [112, 122, 128, 137, 138]
    assert all(
        bad.reason.startswith("Date: 25/04/2016: 3,652 days from the file's other dates")
        for bad in parsed.bad_rows
    )
    assert len(parsed.rows) == 181
    assert {row.kickoff_date.year for row in parsed.rows} == {2026}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "E0_2026-27.contains-EC-rows.csv",
            "named for E0 (Premier League, England) but its rows are EC (National League,"
            " England); nothing imported",
        ),
        (
            "SP1_2026-27.contains-P1-rows.csv",
            "named for SP1 (La Liga, Spain) but its rows are P1 (Primeira Liga, Portugal)",
        ),
        (
            "E0_2026-27.html-error-page.csv",
            'a web page ("300 Multiple Choices"), not a football-data CSV',
        ),
    ],
)
def test_each_damaged_file_is_refused_with_one_line(name: str, expected: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_file(CORRUPT_MORE / name)
    message = str(caught.value)
    assert message.startswith(f"{name}: ")
    assert expected in message
    assert "\n" not in message


def _write(folder: Path, name: str, lines: list[str]) -> Path:
    path = folder / name
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


SEASON_HEADER = "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,FTR,B365H,B365D,B365A,AvgH,AvgCH"
FIXTURES_HEADER = "Div,Date,Time,HomeTeam,AwayTeam,B365H,B365D,B365A,AvgH,AvgCH"


def test_a_file_named_for_a_division_or_season_must_hold_its_rows(tmp_path: Path) -> None:
    rows = ["D1,10/08/2019,A,B,1,0,H,,,,,", "D1,11/08/2019,C,D,0,0,D,,,,,"]
    with pytest.raises(ImportFileError, match=r"E0_x\.csv: named for E0 .* rows are D1 "):
        parse_file(_write(tmp_path, "E0_x.csv", [SEASON_HEADER, *rows]))
    with pytest.raises(ImportFileError, match="named for season 2018-19 but its rows are 2019-20"):
        parse_file(_write(tmp_path, "D1_2018-19.csv", [SEASON_HEADER, *rows]))
    assert len(parse_file(_write(tmp_path, "D1_2019-20.csv", [SEASON_HEADER, *rows])).rows) == 2
    assert len(parse_file(_write(tmp_path, "bundesliga.csv", [SEASON_HEADER, *rows])).rows) == 2
    upcoming = ["E0,10/08/2019,15:00,A,B,2,3,4,,", "E1,10/08/2019,15:00,C,D,2,3,4,,"]
    with pytest.raises(ImportFileError, match=r"E0\.csv: named for E0 .* rows are E0 .*, E1 "):
        parse_file(_write(tmp_path, "E0.csv", [FIXTURES_HEADER, *upcoming]))
    assert parse_file(_write(tmp_path, "fixtures.csv", [FIXTURES_HEADER, *upcoming])).upcoming


# --- importing -----------------------------------------------------------------


async def test_upcoming_fixtures_get_features_as_of_kickoff_and_are_never_backtested(
    service: FilterBetsService,
) -> None:
    await run_import(service, HISTORY / "E0_2025-26.csv")
    summary = await run_import(service, NEW_LAYOUT)
    assert summary.upcoming_added == summary.fixtures_added == 186
    assert "(186 upcoming)" in summary.summary_line()
    again = await run_import(service, NEW_LAYOUT)
    assert (again.fixtures_added, again.fixtures_updated, again.fixtures_unchanged) == (0, 0, 186)

    fixtures = await fixtures_by_match(service, "E0")
    upcoming = {k: v for k, v in fixtures.items() if v["result"] is None}
    assert len(upcoming) == 7
    assert all(v["home_goals"] is None and v["b365_home"] for v in upcoming.values())
    # Every fixture has its features, upcoming ones too, computed from the history.
    assert all(v["features"][0] is not None for v in fixtures.values())
    sunderland = upcoming[("E0", dt.date(2026, 4, 24), "Sunderland", "Nott'm Forest")]
    home_played = sunderland["features"][FEATURE_COLUMNS.index("home_played")]
    assert home_played == sum(
        1 for k, v in fixtures.items() if "Sunderland" in k[2:] and v["result"] is not None
    )
    assert (await upcoming_summary(service.db)).fixtures == 186

    # A backtest never bets a fixture without a result, flat or bank-based, and does not
    # count it in scope.
    played = [v["id"] for v in fixtures.values() if v["result"] and v["b365_home"]]
    request = BacktestRequest(
        market="home",
        odds_source="b365",
        rules={"field": "odds.b365.home", "op": ">", "value": 1.0},
    )
    engine = BacktestEngine(service.db, service.user_id)
    for staking in ("flat", "percent"):
        assert await engine.count(request) == len(played)
        run = await engine.run(replace(request, staking=staking))
        assert run.metrics["bets"] == len(played)
        async with service.db.session() as session:
            bet_on = set(
                (
                    await session.execute(
                        select(BacktestBet.fixture_id).where(BacktestBet.result_id == run.result_id)
                    )
                ).scalars()
            )
            in_scope = (
                await session.execute(
                    select(BacktestResult.data_fingerprint).where(
                        BacktestResult.id == run.result_id
                    )
                )
            ).scalar_one()["fixtures_in_scope"]
            settled = (
                await session.execute(
                    select(func.count()).select_from(Fixture).where(Fixture.result.is_not(None))
                )
            ).scalar_one()
        assert bet_on == set(played)
        assert in_scope == settled == len(fixtures) - len(upcoming)


async def test_a_season_file_settles_upcoming_fixtures_in_place_with_equal_features(
    service: FilterBetsService,
) -> None:
    """One fixture, one row: the season file fills in the upcoming fixtures' results and
    closing prices. Their features, and every other fixture's, equal those of a database
    that imported the same matches with their results straight away; and an upcoming
    fixture's features were already right before the match (as of its kick-off date)."""
    history = [HISTORY / "E0_2025-26.csv", HISTORY / "E1_2025-26.csv"]
    seasons = [RECENT / "E0_2025-26.csv", RECENT / "E1_2025-26.csv"]
    await run_import(service, *history)
    await run_import(service, NEW_LAYOUT)
    before = await fixtures_by_match(service, "E0", "E1")
    upcoming = {k: v for k, v in before.items() if v["result"] is None}
    assert len(upcoming) == 18

    summary = await run_import(service, *seasons)
    assert summary.settled + summary.moved == len(upcoming) == summary.settled
    after = await fixtures_by_match(service, "E0", "E1")
    assert sum(1 for k in after if k[0] == "E0") == 380
    assert sum(1 for k in after if k[0] == "E1") == 552
    for key, was in upcoming.items():
        now = after[key]
        assert now["id"] == was["id"]  # the same row, settled
        assert now["result"] is not None and now["avg_close_home"] is not None
        assert now["b365_home"] == was["b365_home"]
    # Features as of kick-off: nothing was played between the history's last date and
    # the first date of the fixtures file, so those fixtures' rows did not change.
    first = min(k[1] for k in upcoming)
    for key in (k for k in upcoming if k[1] == first):
        assert after[key]["features"] == upcoming[key]["features"]

    await wipe_all_tables(service)
    await run_import(service, *history)
    await run_import(service, *seasons)
    direct = await fixtures_by_match(service, "E0", "E1")
    assert direct.keys() == after.keys()
    for key, row in after.items():
        assert row["features"] == direct[key]["features"], key


def _season(folder: Path, name: str, rows: list[str]) -> Path:
    return _write(folder, name, [SEASON_HEADER, *rows])


def _fixtures(folder: Path, name: str, rows: list[str]) -> Path:
    return _write(folder, name, [FIXTURES_HEADER, *rows])


async def test_a_postponed_match_moves_to_its_new_date_and_keeps_its_first_prices(
    service: FilterBetsService, tmp_path: Path
) -> None:
    await run_import(
        service,
        _season(tmp_path, "E0_2025-26.csv", ["E0,09/04/2026,Arsenal,Burnley,2,0,H,1.5,4,7,1.5,"]),
    )
    # Upcoming on 25/04 with a Bet365 price and no average price.
    await run_import(
        service,
        _fixtures(tmp_path, "week1.csv", ["E0,25/04/2026,15:00,Chelsea,Everton,2.1,3.4,3.5,,"]),
    )
    # Postponed: it reappears on 06/05 with other prices, and now an average price.
    moved = await run_import(
        service,
        _fixtures(tmp_path, "week2.csv", ["E0,06/05/2026,19:45,Chelsea,Everton,1.9,3.5,4,2.0,"]),
    )
    assert (moved.fixtures_added, moved.moved) == (0, 1)
    # The season file settles it on its new date, with its own (different) prices.
    settled = await run_import(
        service,
        _season(
            tmp_path,
            "E0_2025-26.csv",
            [
                "E0,09/04/2026,Arsenal,Burnley,2,0,H,1.5,4,7,1.5,",
                "E0,06/05/2026,Chelsea,Everton,1,1,D,1.8,3.6,4.2,1.85,1.83",
            ],
        ),
    )
    assert (settled.fixtures_added, settled.settled, settled.moved) == (0, 1, 0)
    rows = await fixtures_by_match(service, "E0")
    chelsea = [v for k, v in rows.items() if k[2] == "Chelsea"]
    assert len(chelsea) == 1
    [(key, row)] = [(k, v) for k, v in rows.items() if k[2] == "Chelsea"]
    assert key[1] == dt.date(2026, 5, 6)
    assert row["result"] == "D"
    # Pre-match prices as first seen (2.1 from week 1), unless missing then (avg 2.0 from
    # week 2); closing prices from the season file.
    assert (row["b365_home"], row["avg_home"], row["avg_close_home"]) == (2.1, 2.0, 1.83)


async def test_a_fixtures_file_never_touches_a_played_match(
    service: FilterBetsService, tmp_path: Path
) -> None:
    await run_import(
        service,
        _season(tmp_path, "E0_2025-26.csv", ["E0,25/04/2026,Chelsea,Everton,1,1,D,1.8,3.6,4.2,,"]),
    )
    late = await run_import(
        service,
        _fixtures(tmp_path, "fixtures.csv", ["E0,25/04/2026,15:00,Chelsea,Everton,2.5,3,3,2.4,"]),
    )
    assert (late.fixtures_added, late.fixtures_updated, late.fixtures_unchanged) == (0, 0, 1)
    [row] = (await fixtures_by_match(service, "E0")).values()
    assert (row["result"], row["b365_home"], row["avg_home"]) == ("D", 1.8, None)


async def test_a_refused_fixtures_file_writes_nothing_and_skipping_imports_the_rest(
    service: FilterBetsService,
) -> None:
    refused = await import_paths(service.db, [YEAR_TYPO])
    assert refused.files_rejected == 1
    assert "refused, 5 bad rows" in refused.file_errors[0]
    assert (await upcoming_summary(service.db)).fixtures == 0
    skipped = await run_import(service, YEAR_TYPO, skip_bad_rows=True)
    assert (skipped.fixtures_added, len(skipped.rejected_rows)) == (181, 5)


async def test_damaged_files_each_get_one_line_and_nothing_is_written(
    service: FilterBetsService,
) -> None:
    summary = await import_paths(service.db, [CORRUPT_MORE])
    assert summary.files_rejected == len(summary.file_errors) == 4
    assert summary.fixtures_added == 0
    async with service.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(Fixture))).scalar() == 0


# --- team names ----------------------------------------------------------------


async def test_aliases_read_other_spellings_as_the_stored_team(service: FilterBetsService) -> None:
    await run_import(service, RECENT / "SP1_2025-26.csv")
    # Seeded by the migration; linked again here since PostgreSQL tests start wiped.
    await link_alias(service.db, "Atl. Madrid", "Ath Madrid")
    await link_alias(service.db, "Rayo Vallecano", "Vallecano")
    summary = await run_import(service, OTHER_SPELLINGS)
    assert summary.warnings == []
    keys = set(await fixtures_by_match(service, "SP1"))
    assert ("SP1", dt.date(2026, 8, 19), "Ath Madrid", "Malaga") in keys
    assert ("SP1", dt.date(2026, 8, 20), "Vallecano", "Alaves") in keys
    async with service.db.session() as session:
        names = set((await session.execute(select(Team.name))).scalars())
    assert not {"Atl. Madrid", "Rayo Vallecano"} & names
    assert ("Atl. Madrid", "Ath Madrid") in await list_aliases(service.db)


async def test_an_unknown_name_gets_a_did_you_mean_and_the_alias_merges_it(
    service: FilterBetsService, tmp_path: Path
) -> None:
    await run_import(service, RECENT / "SP1_2025-26.csv")
    async with service.db.session() as session:
        await session.execute(delete(TeamAlias))
    summary = await run_import(service, OTHER_SPELLINGS)
    hints = [w.detail for w in summary.warnings if "did you mean" in w]
    # In the dashboard's import report, as a team to alias, not a value stored as missing.
    assert {row.kind for row in report_rows(summary) if "did you mean" in row.reason} == {"team"}
    assert hints == [
        "HomeTeam: Atl. Madrid: not a team known in SP1; did you mean 'Ath Madrid'? If so:"
        " filterbets teams alias 'Atl. Madrid' 'Ath Madrid'",
        "HomeTeam: Rayo Vallecano: not a team known in SP1; did you mean 'Vallecano'? If so:"
        " filterbets teams alias 'Rayo Vallecano' Vallecano",
    ]
    key = ("SP1", dt.date(2026, 8, 19), "Atl. Madrid", "Malaga")
    unlinked = (await fixtures_by_match(service, "SP1"))[key]
    form = FEATURE_COLUMNS.index("home_points_last5")
    assert unlinked["features"][form] is None  # a team with no history yet
    # The same match also arrives under the stored name, with its result.
    await run_import(
        service,
        _season(
            tmp_path, "SP1_2026-27.csv", ["SP1,19/08/2026,Ath Madrid,Malaga,3,0,H,,,,1.3,1.28"]
        ),
    )
    link = await link_alias(service.db, "Atl. Madrid", "Ath Madrid")
    assert (link.fixtures_moved, link.fixtures_merged) == (1, 1)
    rows = await fixtures_by_match(service, "SP1")
    assert key not in rows
    merged = rows[("SP1", dt.date(2026, 8, 19), "Ath Madrid", "Malaga")]
    # One fixture: the result from the season file, the Bet365 price it lacked from the
    # fixtures file; features follow the alias (the stored team's form).
    assert (merged["result"], merged["b365_home"]) == ("H", unlinked["b365_home"])
    assert merged["features"][form] is not None
    async with service.db.session() as session:
        names = set((await session.execute(select(Team.name))).scalars())
    assert "Atl. Madrid" not in names
    with pytest.raises(TeamError, match="no team 'Ath Madird' in the database"):
        await link_alias(service.db, "X", "Ath Madird")


# --- odds sources ---------------------------------------------------------------


async def test_which_odds_sources_the_upcoming_fixtures_have(service: FilterBetsService) -> None:
    await run_import(service, NO_PINNACLE, OLD_LAYOUT)
    recent = await upcoming_odds_sources(service.db, date_from=dt.date(2026, 8, 1))
    # The file's other books (BW, BFD, BV, PP, SKB, the exchange BFE): the rows with a
    # pre-match price from each.
    parsed = parse_file(NO_PINNACLE)
    books = {
        book: sum(
            any(
                row.books[i] is not None for i, (n, _s) in enumerate(parsed.books.columns) if n == g
            )
            for row in parsed.rows
        )
        for g, (book, closing) in enumerate(parsed.books.groups)
        if not closing
    }
    assert list(books) == ["bw", "bfd", "bv", "pp", "skb", "bfe"]
    assert min(books.values()) > 100
    have = {source: count for source, count in recent.items() if count}
    assert have == {"b365": 127, "avg": 127, "max": 127, **books}
    assert recent["pinnacle"] == recent["wh"] == 0
    named = [f"{name} ({count})" for name, count in have.items()]
    assert len(named) > 4  # the fixtures file carries many books: four are named
    assert missing_source_warning("pinnacle", recent) == (
        "the filter's odds source pinnacle is missing from the upcoming fixtures;"
        f" they have {', '.join(named[:4])} and {len(named) - 4} more"
        " (filterbets data coverage)"
    )
    for present in ("b365", "pp", "best:wh,pp", "bfe"):
        assert missing_source_warning(present, recent) is None, present
    for absent in ("wh", "best:wh,pinnacle", "pp_close"):
        assert missing_source_warning(absent, recent) is not None, absent
    everything = await upcoming_odds_sources(service.db)
    assert everything["pinnacle"] == 174  # the 2023 file still had Pinnacle's prices
    assert (await upcoming_odds_sources(service.db, leagues=["SP1"]))["b365"] == 5 + 10
