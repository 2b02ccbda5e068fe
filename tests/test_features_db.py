"""Materialised team features on SQLite and PostgreSQL: import hook, incremental
recompute equal to a recompute from scratch, and filters over the fields (SQL = oracle)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
from sqlalchemy import func, select

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.cli import main
from core.config import Settings
from core.db import Database
from core.features import AffectedFixtures, RecomputeSummary, compute_features, recompute_all
from core.features import service as features_service
from core.features.service import _load
from core.frame import frame_for
from core.importing import service as importing_service
from core.importing.service import import_paths
from core.models import FEATURE_COLUMNS, Fixture, FixtureFeatures
from core.rules import FIELDS
from core.rules.catalogue import GROUPS, fields_by_group
from core.rules.mask import rule_columns, rule_mask
from core.rules.oracle import load_fixture_rows, matching_ids
from core.rules.validate import parse_rules
from core.services import FilterBetsService
from tests.conftest import real_file, wipe_all_tables
from tests.factories import add_fixtures

TEAM_FORM = [field for field in FIELDS.values() if field.group == "Team form"]


async def _stored(db: Database) -> dict[int, tuple[Any, ...]]:
    columns = [FixtureFeatures.fixture_id, *(getattr(FixtureFeatures, c) for c in FEATURE_COLUMNS)]
    async with db.session() as session:
        rows = (await session.execute(select(*columns))).all()
    return {int(row[0]): tuple(row) for row in rows}


async def _from_scratch(db: Database) -> dict[int, tuple[Any, ...]]:
    async with db.session() as session:
        fixtures, names = await _load(await session.connection())
    return {int(row[0]): tuple(row) for row in compute_features(fixtures, names)}


async def _assert_in_step(db: Database) -> int:
    stored = await _stored(db)
    expected = await _from_scratch(db)
    assert stored.keys() == expected.keys()
    differing = [i for i in expected if stored[i] != expected[i]]
    assert differing == [], (differing[:3], [(stored[i], expected[i]) for i in differing[:1]])
    return len(stored)


async def test_imports_keep_features_equal_to_a_recompute_from_scratch(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Never fall back to rewriting the whole table: exercise the incremental path.
    monkeypatch.setattr(features_service, "FULL_REWRITE_SHARE", 1.1)
    written: list[int] = []
    original = features_service.recompute

    async def counting(db: Database, affected: AffectedFixtures) -> RecomputeSummary:
        summary = await original(db, affected)
        written.append(summary.written)
        return summary

    monkeypatch.setattr(importing_service, "recompute_features", counting)
    db = service.db
    await import_paths(
        db, [real_file("football/E0_2012-13.csv"), real_file("football/E0_2013-14.csv")]
    )
    assert await _assert_in_step(db) == 760
    # A second league whose teams meet E0 teams in other seasons.
    await import_paths(db, [real_file("football/E1_2013-14.csv")])
    await _assert_in_step(db)
    await import_paths(db, [real_file("football/E1_2014-15.csv")])
    await _assert_in_step(db)
    assert written[-1] < 1000  # the new season and little else, of 2,244 fixtures
    # An earlier season filled in afterwards: everything later of its teams changes.
    await import_paths(db, [real_file("football/E0_2011-12.csv")])
    total = await _assert_in_step(db)
    async with db.session() as session:
        assert total == await session.scalar(select(func.count(Fixture.id)))
    # Re-importing the same files changes nothing and rewrites nothing.
    calls = len(written)
    await import_paths(db, [real_file("football/E0_2011-12.csv")])
    await _assert_in_step(db)
    assert len(written) == calls


def _rules_for(field: Any, values: list[Any]) -> list[Any]:
    middle = values[len(values) // 2]
    return [
        {"field": field.name, "op": ">", "value": middle},
        {"field": field.name, "op": "<=", "value": middle},
        {"field": field.name, "op": "=", "value": middle},
        {"field": field.name, "op": "between", "value": [values[0], middle]},
        {"field": field.name, "op": "is_null"},
        {"not": {"field": field.name, "op": "!=", "value": middle}},
    ]


async def _matching(service: FilterBetsService, rules: Any) -> list[int]:
    node = parse_rules(rules)
    frame = await frame_for(service.db, rule_columns(node))
    return sorted(frame.fixture_id[rule_mask(node, frame)].tolist())


async def test_filters_on_team_form_fields_match_the_oracle(service: FilterBetsService) -> None:
    db = service.db
    await import_paths(
        db, [real_file("football/E0_2013-14.csv"), real_file("football/E1_2013-14.csv")]
    )
    rows = await load_fixture_rows(db)
    engine = BacktestEngine(db, service.user_id)
    for field in TEAM_FORM:
        values = sorted({v for v in (field.py(row) for row in rows) if v is not None})
        assert values, f"{field.name} is never set on two seasons of data"
        for rules in _rules_for(field, values):
            got = await _matching(service, rules)
            expected = sorted(matching_ids(rules, rows))
            assert got == expected, (field.name, rules)
            count = await engine.count(BacktestRequest(market="home", rules=rules))
            assert count == len(expected), (field.name, rules)


async def test_null_features_do_not_match_except_is_null(service: FilterBetsService) -> None:
    [first] = await add_fixtures(
        service,
        [{"league": "E0", "season": "2019-20", "date": "2019-08-10", "home": "A", "away": "B",
          "goals": (1, 0)}],
    )  # fmt: skip

    async def ids(rules: Any) -> list[int]:
        return await _matching(service, rules)

    assert await ids({"field": "home.points_last5", "op": "is_null"}) == [first]
    assert await ids({"field": "home.points_last5", "op": "!=", "value": 0}) == []
    assert await ids({"field": "diff.ppg", "op": "<", "value": 100}) == []
    assert await ids({"field": "home.played", "op": "=", "value": 0}) == [first]
    assert await ids({"field": "h2h.meetings", "op": "=", "value": 0}) == [first]
    assert await ids({"field": "home.elo", "op": "=", "value": 1500}) == [first]


def test_team_form_group_lists_every_feature_with_a_description() -> None:
    assert "Team form" in GROUPS
    grouped = fields_by_group(pre_match_only=True)
    names = {field.name for field in grouped["Team form"]}
    for side in ("home", "away", "diff"):
        for name in ("played", "points", "ppg", "position", "points_last5", "points_last10"):
            assert f"{side}.{name}" in names
        for name in ("gf_avg_last5", "ga_avg_last5", "venue_points_last5", "sot_avg_last5"):
            assert f"{side}.{name}" in names
        for name in ("streak", "rest_days", "elo"):
            assert f"{side}.{name}" in names
    assert {"h2h.home_wins_last5", "h2h.meetings"} <= names
    assert all(field.description and field.pre_match for field in TEAM_FORM)
    assert "K = 20" in FIELDS["home.elo"].description
    assert "home advantage 60" in FIELDS["home.elo"].description


async def test_stored_position_and_last5_equal_a_recomputation_on_real_dates(
    service: FilterBetsService,
) -> None:
    from tests.test_features_compute import _last5_from_scratch, _position_from_scratch

    db = service.db
    await import_paths(
        db, [real_file("football/E0_2012-13.csv"), real_file("football/E0_2013-14.csv")]
    )
    async with db.session() as session:
        fixtures, names = await _load(await session.connection())
    stored = await _stored(db)
    col = {name: i + 1 for i, name in enumerate(FEATURE_COLUMNS)}
    dates = sorted({f.kickoff_date for f in fixtures})
    sample = set(dates[:: max(1, len(dates) // 25)])
    checked = 0
    for f in fixtures:
        if f.kickoff_date not in sample:
            continue
        for side, team in (("home", f.home_team_id), ("away", f.away_team_id)):
            row = stored[f.id]
            assert row[col[f"{side}_position"]] == _position_from_scratch(fixtures, names, f, team)
            assert row[col[f"{side}_points_last5"]] == _last5_from_scratch(fixtures, f, team)
            checked += 1
    assert checked > 100


async def test_an_import_fills_in_features_missing_from_older_fixtures(
    service: FilterBetsService,
) -> None:
    # As in a database upgraded to fixture_features: fixtures, but no feature rows.
    await add_fixtures(
        service,
        [
            {"league": "E0", "season": "2011-12", "date": f"2011-08-{day:02d}", "home": home,
             "away": away, "goals": (1, 0)}
            for day, home, away in ((13, "Arsenal", "Chelsea"), (20, "Chelsea", "Arsenal"))
        ],
        features=False,
    )  # fmt: skip
    await import_paths(service.db, [real_file("football/E0_2012-13.csv")])
    await _assert_in_step(service.db)


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[RecomputeSummary]:
    """Every summary of the recomputes imports run from now on."""
    summaries: list[RecomputeSummary] = []
    original = features_service.recompute

    async def recording(db: Database, affected: AffectedFixtures) -> RecomputeSummary:
        summary = await original(db, affected)
        summaries.append(summary)
        return summary

    monkeypatch.setattr(importing_service, "recompute_features", recording)
    return summaries


async def _assert_equal_to_recompute_all(db: Database) -> int:
    """The stored rows equal what recompute_all writes (which then replaces them)."""
    incremental = await _stored(db)
    await recompute_all(db)
    full = await _stored(db)
    assert incremental.keys() == full.keys()
    differing = [i for i in full if incremental[i] != full[i]]
    assert differing == [], [(incremental[i], full[i]) for i in differing[:1]]
    return len(full)


@pytest.mark.parametrize("window_days", [None, 1], ids=["windows", "whole-history"])
async def test_imports_in_the_middle_of_history_resume_and_equal_recompute_all(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch, window_days: int | None
) -> None:
    # Rewriting the whole table instead would hide the resumed path.
    monkeypatch.setattr(features_service, "FULL_REWRITE_SHARE", 1.1)
    if window_days is not None:  # every team and pair looked up again over all history
        monkeypatch.setattr(features_service, "RECENT_WINDOW_DAYS", window_days)
        monkeypatch.setattr(features_service, "MEETINGS_WINDOW_DAYS", window_days)
    summaries = _recording(monkeypatch)
    db = service.db
    await import_paths(
        db,
        [
            real_file("football/E0_2012-13.csv"),
            real_file("football/E1_2014-15.csv"),
        ],
    )
    assert summaries[-1].resumed
    await _assert_in_step(db)
    # A season between two stored ones: its league-season, and everything later of
    # its teams and of the teams they meet afterwards (E1 through relegation).
    await import_paths(db, [real_file("football/E0_2013-14.csv")])
    middle = summaries[-1]
    assert middle.resumed
    assert 380 < middle.written < 1900
    await _assert_in_step(db)
    # The second division of that season: teams that are in E0 the year after.
    await import_paths(db, [real_file("football/E1_2013-14.csv")])
    assert summaries[-1].resumed
    total = await _assert_equal_to_recompute_all(db)
    async with db.session() as session:
        assert total == await session.scalar(select(func.count(Fixture.id)))


async def test_a_changed_result_mid_history_resumes_and_equals_recompute_all(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Results corrected after the fact (a re-import of an edited file): rows from that
    date on move; everything earlier stays; all equal to a recompute from scratch."""
    monkeypatch.setattr(features_service, "FULL_REWRITE_SHARE", 1.1)
    db = service.db
    await import_paths(db, [real_file("football/E0_2013-14.csv")])
    before = await _stored(db)
    async with db.session() as session:
        rows = (
            await session.execute(
                select(Fixture.id, Fixture.league_id, Fixture.season, Fixture.kickoff_date,
                       Fixture.home_team_id, Fixture.away_team_id)
                .order_by(Fixture.kickoff_date, Fixture.id)
            )
        ).all()  # fmt: skip
        picked = [rows[len(rows) // 3], rows[len(rows) // 3 + 7], rows[2 * len(rows) // 3]]
        for row in picked:
            fixture = await session.get(Fixture, row.id)
            assert fixture is not None
            fixture.home_goals, fixture.away_goals = fixture.away_goals + 3, fixture.home_goals
            fixture.home_shots_on_target = None
    affected = AffectedFixtures()
    for row in picked:
        affected.add(row.league_id, row.season, row.home_team_id, row.away_team_id,
                     row.kickoff_date)  # fmt: skip
    summary = await features_service.recompute(db, affected)
    assert summary.resumed
    assert 0 < summary.written < len(rows)
    after = await _stored(db)
    cut = picked[0].kickoff_date
    unchanged = [row.id for row in rows if row.kickoff_date <= cut and row.id != picked[0].id]
    assert all(after[i] == before[i] for i in unchanged)
    assert sum(after[row.id] != before[row.id] for row in rows) > 100
    await _assert_equal_to_recompute_all(db)


async def test_an_import_over_rowless_fixtures_falls_back_to_a_full_replay(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    summaries = _recording(monkeypatch)
    await add_fixtures(
        service,
        [{"league": "E1", "season": "2011-12", "date": "2011-08-13", "home": "Leeds",
          "away": "Burnley", "goals": (1, 0)}],
        features=False,
    )  # fmt: skip
    await import_paths(service.db, [real_file("football/E0_2012-13.csv")])
    assert not summaries[-1].resumed  # a row missing outside what the import rewrites
    await _assert_in_step(service.db)
    await import_paths(service.db, [real_file("football/E0_2013-14.csv")])
    assert summaries[-1].resumed
    await _assert_in_step(service.db)


def test_the_features_recompute_command(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.cli

    monkeypatch.setattr(
        core.cli, "_say", lambda message, stream=None: print(message, file=sys.stderr)
    )

    async def seed() -> None:
        service = await FilterBetsService.open(settings, migrate=False)
        try:
            if settings.backend == "postgresql":
                await wipe_all_tables(service)
            await add_fixtures(
                service,
                [{"league": "E0", "season": "2019-20", "date": f"2019-08-{day:02d}",
                  "home": home, "away": away, "goals": (day % 3, 1)}
                 for day, home, away in ((10, "A", "B"), (17, "B", "C"), (24, "C", "A"))],
                features=False,
            )  # fmt: skip
        finally:
            await service.close()

    async def check() -> None:
        service = await FilterBetsService.open(settings, migrate=False)
        try:
            await _assert_in_step(service.db)
        finally:
            await service.close()

    asyncio.run(seed())
    url = settings.database_url.render_as_string(hide_password=False)
    capsys.readouterr()
    assert main(["--database-url", url, "features", "recompute"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("features: 3 fixtures, 3 rows written in ")
    assert out.count("\n") == 1 and err == ""
    asyncio.run(check())
    # Mistakes: one line, exit code 2, no traceback.
    for argv in (["features"], ["features", "rebuild"]):
        with pytest.raises(SystemExit) as exited:
            main(["--database-url", url, *argv])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("filterbets features: error:")
