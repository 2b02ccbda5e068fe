"""The importer against a real database, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import gc
import shutil
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from core.errors import ImportFileError
from core.importing import service as import_service
from core.importing.service import (
    ImportProgress,
    ImportSummary,
    RejectedRow,
    expand_paths,
    import_paths,
)
from core.models import Fixture, FixtureOdds, League, Team, TeamLeague
from core.services import FilterBetsService
from tests.conftest import real_file

CORPUS_FIXTURES = 37_899

HEADER = (
    "Div,Date,Time,HomeTeam,AwayTeam,FTHG,FTAG,FTR,HTHG,HTAG,HTR,Referee,HS,AS,"
    "B365H,B365D,B365A,AHh,B365AHH,B365AHA,PSCH,PSCD,PSCA"
)


def season_file(folder: Path, name: str, rows: list[str], header: str = HEADER) -> Path:
    path = folder / name
    path.write_text("\r\n".join([header, *rows]) + "\r\n", encoding="utf-8")
    return path


def small_season(folder: Path) -> Path:
    return season_file(
        folder,
        "E0_2019-20.csv",
        [
            "E0,09/08/2019,20:00,Liverpool,Norwich,4,1,H,4,0,H,M Oliver,15,12,"
            "1.14,10,19,-2.25,1.96,1.94,1.15,9.8,22.5",
            "E0,10/08/2019,12:30,West Ham,Man City,0,5,A,0,1,A,M Dean,5,14,12,6.5,1.22,1.5,,,,,",
            "E0,10/08/2019,,Bournemouth,Sheffield United,1,1,D,0,0,D,K Friend,13,8,"
            "1.95,3.6,4,0,1.9,2,2.02,3.5,4.2",
        ],
    )


async def table_snapshot(service: FilterBetsService) -> dict[str, Any]:
    """Everything the importer may write, to prove a refused file changed nothing."""
    async with service.db.session() as session:
        fixtures = (
            await session.execute(
                select(Fixture.id, Fixture.updated_at, Fixture.home_goals).order_by(Fixture.id)
            )
        ).all()
        odds = (
            await session.execute(
                select(FixtureOdds.fixture_id, FixtureOdds.b365_home).order_by(
                    FixtureOdds.fixture_id
                )
            )
        ).all()
        leagues = (await session.execute(select(League.code).order_by(League.code))).all()
        teams = (await session.execute(select(Team.name).order_by(Team.name))).all()
        links = (
            await session.execute(
                select(TeamLeague.team_id, TeamLeague.league_id).order_by(
                    TeamLeague.team_id, TeamLeague.league_id
                )
            )
        ).all()
    return {
        "fixtures": [tuple(r) for r in fixtures],
        "odds": [tuple(r) for r in odds],
        "leagues": [tuple(r) for r in leagues],
        "teams": [tuple(r) for r in teams],
        "team_leagues": [tuple(r) for r in links],
    }


async def count(service: FilterBetsService, model: Any) -> int:
    async with service.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def fixture_by_teams(service: FilterBetsService, home: str, away: str) -> Any:
    home_team = Team.__table__.alias("home_team")
    away_team = Team.__table__.alias("away_team")
    query = (
        select(Fixture, FixtureOdds)
        .join(home_team, home_team.c.id == Fixture.home_team_id)
        .join(away_team, away_team.c.id == Fixture.away_team_id)
        .outerjoin(FixtureOdds, FixtureOdds.fixture_id == Fixture.id)
        .where(home_team.c.name == home, away_team.c.name == away)
    )
    async with service.db.session() as session:
        return (await session.execute(query)).one()


# --- the shared corpus ---------------------------------------------------------


@pytest.mark.slow
async def test_whole_corpus_imports_then_reimports_without_changing_anything(
    corpus_import: ImportSummary, corpus_service: FilterBetsService, corpus_dir: Path
) -> None:
    service = corpus_service
    files = expand_paths([corpus_dir])
    first = corpus_import  # the whole corpus into an empty database, once per session
    assert first.file_errors == []
    assert first.rejected_rows == []
    assert (first.files, first.files_imported, first.files_rejected) == (103, 103, 0)
    assert (first.fixtures_added, first.fixtures_updated, first.fixtures_unchanged) == (
        CORPUS_FIXTURES,
        0,
        0,
    )
    assert "E2_2014-15.csv:461: B365H: 0: decimal odds must be greater than 1.0" in first.warnings
    assert await count(service, Fixture) == CORPUS_FIXTURES
    assert await count(service, FixtureOdds) == CORPUS_FIXTURES
    before = await table_snapshot(service)

    again = await import_paths(service.db, files)
    assert (again.fixtures_added, again.fixtures_updated, again.fixtures_unchanged) == (
        0,
        0,
        CORPUS_FIXTURES,
    )
    assert again.file_errors == []
    assert await table_snapshot(service) == before

    totals = await service.data_totals()
    assert (totals.leagues, totals.seasons, totals.fixtures) == (10, 103, CORPUS_FIXTURES)
    seasons = {(s.league_code, s.season): s for s in await service.league_seasons()}
    e0 = seasons[("E0", "2019-20")]
    assert (e0.league_name, e0.country, e0.fixtures) == ("Premier League", "England", 380)
    assert e0.last_date == dt.date(2020, 7, 26)
    assert seasons[("E0", "1999-00")].coverage["b365"] == 0.0


# --- refusing bad files --------------------------------------------------------


async def test_a_file_with_bad_rows_is_refused_whole_and_the_database_is_untouched(
    service: FilterBetsService, tmp_path: Path
) -> None:
    await import_paths(service.db, [small_season(tmp_path)])
    before = await table_snapshot(service)
    corrupt = real_file("football-corrupt/D1_2000-01.csv")

    summary = await import_paths(service.db, [corrupt])

    assert (summary.files, summary.files_imported, summary.files_rejected) == (1, 0, 1)
    assert summary.fixtures_added == 0
    [error] = summary.file_errors
    assert error.startswith(
        "D1_2000-01.csv: refused, 144 bad rows (first: line 164: Date: 2026-1-1"
    )
    assert [row.line for row in summary.rejected_rows] == list(range(164, 308))
    assert summary.rejected_rows[0] == RejectedRow(
        "D1_2000-01.csv", 164, "Date: 2026-1-1: not a dd/mm/yy or dd/mm/yyyy date"
    )
    assert await table_snapshot(service) == before


async def test_skip_bad_rows_imports_the_good_rows_and_lists_the_bad(
    service: FilterBetsService,
) -> None:
    summary = await import_paths(
        service.db, [real_file("football-corrupt/D1_2000-01.csv")], skip_bad_rows=True
    )
    assert (summary.files_imported, summary.files_rejected, summary.file_errors) == (1, 0, [])
    assert summary.fixtures_added == 162
    assert len(summary.rejected_rows) == 144
    assert await count(service, Fixture) == 162
    async with service.db.session() as session:
        lines = (await session.execute(select(Fixture.source_line))).scalars().all()
    assert sorted(lines) == list(range(2, 164))


async def test_a_file_whose_every_row_is_bad_imports_nothing_even_when_skipping(
    service: FilterBetsService,
) -> None:
    corrupt = real_file("football-corrupt/D1_2001-02.csv")
    for skip in (False, True):
        summary = await import_paths(service.db, [corrupt], skip_bad_rows=skip)
        assert summary.files_rejected == 1
        [error] = summary.file_errors
        assert error == (
            "D1_2001-02.csv: refused, all 306 rows are bad "
            "(first: line 2: Date: 2028-7-1: not a dd/mm/yy or dd/mm/yyyy date)"
        )
        assert len(summary.rejected_rows) == 306
    assert await count(service, Fixture) == 0
    assert await count(service, League) == 0
    assert await count(service, Team) == 0


async def test_files_that_are_not_football_data_get_one_line_each_and_others_go_on(
    service: FilterBetsService, tmp_path: Path
) -> None:
    png = tmp_path / "picture.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    klines = tmp_path / "BTCUSDT-1h-2023-03.csv"
    klines.write_text("open_time,open,high,low,close\n1677628800000,23141.57,23200,23100,23101\n")
    no_csvs = tmp_path / "nothing-here"
    no_csvs.mkdir()
    good_folder = tmp_path / "good"
    good_folder.mkdir()
    good = small_season(good_folder)

    summary = await import_paths(service.db, [png, empty, klines, no_csvs, good])

    assert (summary.files, summary.files_imported, summary.files_rejected) == (5, 1, 4)
    assert summary.fixtures_added == 3
    assert len(summary.file_errors) == 4
    for error, name in zip(
        summary.file_errors,
        ["picture.csv", "empty.csv", "BTCUSDT-1h-2023-03.csv", "nothing-here"],
        strict=True,
    ):
        assert name in error
        assert "\n" not in error
    assert "binary data" in summary.file_errors[0]
    assert "empty file" in summary.file_errors[1]
    assert "not a football-data CSV" in summary.file_errors[2]
    assert "holds no .csv files" in summary.file_errors[3]


async def test_a_header_only_file_imports_nothing_with_a_warning(
    service: FilterBetsService, tmp_path: Path
) -> None:
    path = season_file(tmp_path, "E0_2025-26.csv", [])
    summary = await import_paths(service.db, [path])
    assert (summary.files_imported, summary.files_rejected, summary.file_errors) == (1, 0, [])
    assert summary.warnings == ["E0_2025-26.csv:1: rows: 0: no match rows after the header"]
    assert await count(service, League) == 0


async def test_a_failure_while_writing_rolls_back_the_whole_file(
    service: FilterBetsService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fixtures written through the driver must vanish with the rest when the file fails."""
    original = import_service._Bulk.insert

    async def fail_on_odds(self: Any, table: Any, *args: Any, **kwargs: Any) -> None:
        if table.name == "fixture_odds":
            raise import_service.IntegrityError("INSERT", {}, Exception("simulated conflict"))
        await original(self, table, *args, **kwargs)

    monkeypatch.setattr(import_service._Bulk, "insert", fail_on_odds)
    summary = await import_paths(service.db, [small_season(tmp_path)])

    assert summary.files_rejected == 1
    assert "simulated conflict" in summary.file_errors[0]
    assert await count(service, Fixture) == 0
    assert await count(service, Team) == 0


# --- what gets stored ----------------------------------------------------------


async def test_values_land_in_their_columns_with_bad_cells_stored_as_null(
    service: FilterBetsService, tmp_path: Path
) -> None:
    path = season_file(
        tmp_path,
        "E2_2014-15.csv",
        [
            "E2,28/03/2015,15:00,Sheffield United,Crewe,1,2,A,0,1,A, J Adcock ,14,5,"
            "0,5.25,10,-0.25,1.9,2,1.5,4,6",
        ],
    )
    summary = await import_paths(service.db, [path])
    assert summary.warnings == ["E2_2014-15.csv:2: B365H: 0: decimal odds must be greater than 1.0"]

    fixture, odds = await fixture_by_teams(service, "Sheffield United", "Crewe")
    assert (fixture.season, fixture.kickoff_date, fixture.kickoff_time) == (
        "2014-15",
        dt.date(2015, 3, 28),
        dt.time(15, 0),
    )
    assert (fixture.home_goals, fixture.away_goals, fixture.result) == (1, 2, "A")
    assert (fixture.half_time_home_goals, fixture.half_time_result) == (0, "A")
    assert (fixture.home_shots, fixture.away_shots, fixture.home_corners) == (14, 5, None)
    assert fixture.referee == "J Adcock"
    assert (fixture.source_file, fixture.source_line) == ("E2_2014-15.csv", 2)
    assert (odds.b365_home, odds.b365_draw, odds.b365_away) == (None, 5.25, 10.0)
    assert (odds.ah_line, odds.b365_ah_home, odds.b365_ah_away) == (-0.25, 1.9, 2.0)
    assert (odds.pinnacle_close_home, odds.pinnacle_close_away) == (1.5, 6.0)
    assert odds.avg_home is None

    async with service.db.session() as session:
        league = (await session.execute(select(League))).scalar_one()
        links = (await session.execute(select(func.count()).select_from(TeamLeague))).scalar()
    assert (league.code, league.name, league.country) == ("E2", "League One", "England")
    assert links == 2


async def test_reimport_updates_only_changed_fixtures_and_their_timestamp(
    service: FilterBetsService, tmp_path: Path
) -> None:
    path = small_season(tmp_path)
    first = await import_paths(service.db, [path])
    assert (first.fixtures_added, first.fixtures_updated, first.fixtures_unchanged) == (3, 0, 0)
    old = {r[0]: r for r in (await table_snapshot(service))["fixtures"]}

    # A corrected score and a new closing price, and one untouched row.
    text = path.read_text(encoding="utf-8")
    text = text.replace("West Ham,Man City,0,5,A,0,1,A", "West Ham,Man City,0,4,A,0,1,A")
    text = text.replace(",2.02,3.5,4.2", ",2.02,3.5,4.25")
    path.write_text(text, encoding="utf-8")
    second = await import_paths(service.db, [path])
    assert (second.fixtures_added, second.fixtures_updated, second.fixtures_unchanged) == (0, 2, 1)

    new = {r[0]: r for r in (await table_snapshot(service))["fixtures"]}
    assert new.keys() == old.keys()
    changed = {fid for fid in new if new[fid][1] != old[fid][1]}
    assert len(changed) == 2
    fixture, odds = await fixture_by_teams(service, "West Ham", "Man City")
    assert fixture.away_goals == 4
    assert fixture.id in changed
    _fixture, odds = await fixture_by_teams(service, "Bournemouth", "Sheffield United")
    assert odds.pinnacle_close_away == 4.25

    third = await import_paths(service.db, [path])
    assert (third.fixtures_added, third.fixtures_updated, third.fixtures_unchanged) == (0, 0, 3)
    assert {r[0]: r for r in (await table_snapshot(service))["fixtures"]} == new


async def test_a_fixture_without_an_odds_row_gets_one_on_reimport(
    service: FilterBetsService, tmp_path: Path
) -> None:
    path = small_season(tmp_path)
    await import_paths(service.db, [path])
    async with service.db.session() as session:
        fixture_id = (
            await session.execute(select(Fixture.id).where(Fixture.source_line == 2))
        ).scalar_one()
        await session.execute(
            FixtureOdds.__table__.delete().where(FixtureOdds.fixture_id == fixture_id)
        )
        await session.execute(
            update(Fixture).where(Fixture.id == fixture_id).values(referee="someone else")
        )
    summary = await import_paths(service.db, [path])
    assert (summary.fixtures_updated, summary.fixtures_unchanged) == (1, 2)
    fixture, odds = await fixture_by_teams(service, "Liverpool", "Norwich")
    assert fixture.referee == "M Oliver"
    assert odds is not None and odds.b365_home == 1.14


async def test_teams_are_created_where_the_database_cannot_return_inserted_ids(
    service: FilterBetsService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older SQLite has no RETURNING; new teams are then read back by name."""
    monkeypatch.setattr(service.db.engine.dialect, "insert_executemany_returning", False)
    summary = await import_paths(service.db, [small_season(tmp_path)])
    assert summary.fixtures_added == 3
    _fixture, odds = await fixture_by_teams(service, "Liverpool", "Norwich")
    assert odds.b365_home == 1.14
    assert await count(service, Team) == 6


async def test_an_unknown_division_is_imported_under_its_code_with_a_warning(
    service: FilterBetsService, tmp_path: Path
) -> None:
    path = season_file(
        tmp_path, "X9_2020-21.csv", ["X9,12/09/2020,15:00,Alpha,Beta,1,0,H,,,,,,,,,,,,,,,"]
    )
    summary = await import_paths(service.db, [path])
    assert summary.fixtures_added == 1
    assert summary.warnings == [
        "X9_2020-21.csv:2: Div: X9: unknown division code, imported as league 'X9' "
        "in country Unknown"
    ]
    async with service.db.session() as session:
        league = (await session.execute(select(League))).scalar_one()
    assert (league.code, league.name, league.country) == ("X9", "X9", "Unknown")


async def test_teams_shared_between_leagues_are_linked_to_each(
    service: FilterBetsService, tmp_path: Path
) -> None:
    premier = season_file(tmp_path, "E0.csv", ["E0,09/08/2019,,Norwich,Liverpool,1,4,A" + "," * 15])
    championship = season_file(
        tmp_path, "E1.csv", ["E1,03/08/2019,,Norwich,Leeds,0,1,A" + "," * 15]
    )
    await import_paths(service.db, [premier, championship])
    async with service.db.session() as session:
        rows = (
            await session.execute(
                select(Team.name, League.code)
                .join(TeamLeague, TeamLeague.team_id == Team.id)
                .join(League, League.id == TeamLeague.league_id)
                .order_by(Team.name, League.code)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("Leeds", "E1"),
        ("Liverpool", "E0"),
        ("Norwich", "E0"),
        ("Norwich", "E1"),
    ]
    assert await count(service, Team) == 3


# --- progress and summary ----------------------------------------------------------


async def test_progress_reaches_every_file_and_row(
    service: FilterBetsService, tmp_path: Path
) -> None:
    folder = tmp_path / "seasons"
    folder.mkdir()
    for name in ("E0_2004-05.csv", "E0_1999-00.csv", "F1_2019-20.csv"):
        shutil.copy(real_file(f"football/{name}"), folder / name)
    shutil.copy(real_file("football-corrupt/D1_2000-01.csv"), folder / "D1_2000-01.csv")
    events: list[ImportProgress] = []

    summary = await import_paths(service.db, expand_paths([folder]), on_progress=events.append)

    assert summary.fixtures_added == 380 + 380 + 279
    assert summary.files_rejected == 1
    first = events[0]
    assert (first.files_done, first.files_total, first.rows_done) == (0, 4, 0)
    assert first.rows_total > 1000  # estimated from line counts before parsing
    assert [e.files_done for e in events if e.rows_done == e.rows_total][-1] == 4
    last = events[-1]
    assert (last.files_done, last.files_total) == (4, 4)
    assert last.rows_done == last.rows_total == 380 + 380 + 279 + 306
    assert all(a.rows_done <= b.rows_done for a, b in pairwise(events))
    assert all(a.files_done <= b.files_done for a, b in pairwise(events))
    assert {e.current_file for e in events} == {
        "D1_2000-01.csv",
        "E0_1999-00.csv",
        "E0_2004-05.csv",
        "F1_2019-20.csv",
    }


async def test_the_gc_threshold_is_raised_during_an_import_and_restored_after(
    service: FilterBetsService, tmp_path: Path
) -> None:
    before = gc.get_threshold()
    seen: list[int] = []
    await import_paths(
        service.db,
        [small_season(tmp_path)],
        on_progress=lambda _progress: seen.append(gc.get_threshold()[0]),
    )
    assert seen and min(seen) >= import_service.IMPORT_GC_THRESHOLD
    assert gc.get_threshold() == before


def test_summary_line_reports_counts_time_and_rate() -> None:
    summary = ImportSummary(
        files=3,
        files_imported=2,
        files_rejected=1,
        fixtures_added=1500,
        fixtures_updated=2,
        fixtures_unchanged=498,
        warnings=["a", "b"],
        rejected_rows=[RejectedRow("x.csv", 4, "Date: missing")],
        file_errors=["x.csv: refused"],
        seconds=0.5,
    )
    assert summary.rows_per_s == 4000.0
    assert summary.summary_line() == (
        "2 of 3 files imported, 1 refused: 1,500 fixtures added, 2 updated, 498 unchanged; "
        "2 warnings, 1 row rejected; 0.50 s (4,000 rows/s)"
    )
    assert ImportSummary().rows_per_s == 0.0


def test_expand_paths_lists_folder_csvs_sorted_and_names_missing_paths(tmp_path: Path) -> None:
    for name in ("b.csv", "a.CSV", "notes.txt"):
        (tmp_path / name).write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    single = tmp_path / "b.csv"
    assert expand_paths([tmp_path, single, empty]) == [tmp_path / "a.CSV", single, empty]
    with pytest.raises(ImportFileError, match="missing-folder"):
        expand_paths([tmp_path / "missing-folder"])


async def test_a_missing_path_given_to_import_paths_is_a_file_error(
    service: FilterBetsService, tmp_path: Path
) -> None:
    summary = await import_paths(service.db, [tmp_path / "gone.csv"])
    assert summary.files_rejected == 1
    assert summary.file_errors == [f"{tmp_path / 'gone.csv'}: no such file"]
