"""The Alembic chain: reversible on both backends, in step with the models, shipped in the wheel."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url

from core import migrate
from core.config import Settings, load_settings
from core.models import Base, Fixture, League, TeamAlias
from core.services import FilterBetsService
from tests.conftest import REPO_ROOT, _admin, skip_or_fail_without_postgres

APPLICATION_DIRS = ("core", "tui")
# SQL statements in any case, and SQLAlchemy's own ways to drop. Rich's `Text.truncate(...)`
# is not SQL, so TRUNCATE must be followed by a name to count.
DROP_OR_TRUNCATE = re.compile(
    r"\bDROP\s+TABLE\b|\bTRUNCATE\s+(TABLE\s+)?[\"'\w]|\.drop_all\(|\bdrop_table\(",
    re.IGNORECASE,
)


@pytest.fixture
async def empty_settings(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Settings]:
    """Settings for a brand-new database with no schema at all."""
    if backend == "sqlite":
        yield load_settings(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}", "tester")
        return
    server = request.getfixturevalue("postgres_server_url")
    if server is None:
        skip_or_fail_without_postgres("no PostgreSQL server for migration tests")
    name = f"filterbets_mig_{uuid.uuid4().hex[:10]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    url = make_url(server).set(drivername="postgresql+asyncpg", database=name)
    try:
        yield load_settings(url.render_as_string(hide_password=False), "tester")
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _table_names(settings: Settings) -> set[str]:
    from core.db import Database

    database = Database(settings)
    try:
        async with database.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await database.dispose()
    return names - {"alembic_version"}


def test_the_start_up_head_is_alembics_head() -> None:
    """ensure_schema compares with SCHEMA_HEAD (no Alembic import on start); a new revision
    must move it, or a database one revision behind would not be upgraded."""
    assert migrate.head_revision() == migrate.SCHEMA_HEAD


async def test_ensure_schema_upgrades_a_database_one_revision_behind(
    empty_settings: Settings,
) -> None:
    await migrate.upgrade(empty_settings, "0005")
    status = await migrate.ensure_schema(empty_settings)
    assert (status.before, status.after) == ("0005", migrate.SCHEMA_HEAD)
    again = await migrate.ensure_schema(empty_settings)
    assert not again.changed


async def test_upgrade_downgrade_upgrade_round_trips(empty_settings: Settings) -> None:
    expected = set(Base.metadata.tables)

    first = await migrate.upgrade(empty_settings)
    assert first.before is None and first.after == migrate.head_revision()
    assert await _table_names(empty_settings) == expected

    down = await migrate.downgrade(empty_settings, "base")
    assert down.after is None
    assert await _table_names(empty_settings) == set()

    again = await migrate.upgrade(empty_settings)
    assert again.after == migrate.head_revision()
    assert await _table_names(empty_settings) == expected


async def test_0009_seeds_team_aliases_and_its_downgrade_keeps_only_played_fixtures(
    empty_settings: Settings, tmp_path: Path
) -> None:
    from core.db import Database
    from core.importing.service import import_paths

    await migrate.upgrade(empty_settings)
    database = Database(empty_settings)
    try:
        async with database.session() as session:
            aliases = dict(
                (await session.execute(select(TeamAlias.alias, TeamAlias.team_name))).all()
            )
        assert aliases["Atl. Madrid"] == "Ath Madrid"
        assert aliases["Rayo Vallecano"] == "Vallecano"
        played = tmp_path / "E0_2025-26.csv"
        played.write_text("Div,Date,HomeTeam,AwayTeam,FTHG,FTAG\nE0,20/04/2026,A,B,1,0\n")
        upcoming = tmp_path / "fixtures.csv"
        upcoming.write_text("Div,Date,HomeTeam,AwayTeam,B365H\nE0,25/04/2026,C,D,2.5\n")
        summary = await import_paths(database, [played, upcoming])
        assert (summary.fixtures_added, summary.upcoming_added) == (2, 1)
    finally:
        await database.dispose()
    await migrate.downgrade(empty_settings, "0007")
    database = Database(empty_settings)
    try:
        async with database.session() as session:
            left = (await session.execute(select(Fixture.kickoff_date))).scalars().all()
        assert [day.isoformat() for day in left] == ["2026-04-20"]
    finally:
        await database.dispose()
    assert (await migrate.upgrade(empty_settings)).after == migrate.head_revision()


async def test_autogenerate_finds_no_difference_from_the_models(empty_settings: Settings) -> None:
    await migrate.upgrade(empty_settings)
    from core.db import Database

    database = Database(empty_settings)
    try:
        async with database.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await database.dispose()
    assert diff == []


async def test_opening_the_app_upgrades_a_new_database_and_keeps_data_on_reopen(
    empty_settings: Settings,
) -> None:
    service = await FilterBetsService.open(empty_settings)
    try:
        assert service.schema_status is not None
        assert service.schema_status.changed
        assert "created database schema" in service.schema_status.describe()
        async with service.db.session() as session:
            session.add(League(code="E0", name="Premier League", country="England"))
    finally:
        await service.close()

    reopened = await FilterBetsService.open(empty_settings)
    try:
        assert reopened.schema_status is not None and not reopened.schema_status.changed
        async with reopened.db.session() as session:
            codes = (await session.execute(select(League.code))).scalars().all()
        assert codes == ["E0"]
    finally:
        await reopened.close()


def test_the_drop_scan_catches_sql_but_not_text_truncation() -> None:
    scan = DROP_OR_TRUNCATE
    assert scan.search('conn.execute(text("truncate table fixtures"))')
    assert scan.search("DROP  TABLE leagues")
    assert scan.search("Base.metadata.drop_all(engine)")
    assert not scan.search('cell.truncate(width, overflow="ellipsis")')


def _application_sources() -> list[Path]:
    files: list[Path] = []
    for folder in APPLICATION_DIRS:
        files.extend(p for p in (REPO_ROOT / folder).rglob("*.py") if "_migrations" not in p.parts)
    return files


def test_application_code_never_drops_or_truncates_tables() -> None:
    pattern = DROP_OR_TRUNCATE
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{number}"
        for path in _application_sources()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert _application_sources(), "the scan found no source files"
    assert offenders == []


def test_application_code_never_formats_values_into_sql_text() -> None:
    # text()/execute() fed by an f-string, %-formatting or .format() is how values leak into SQL.
    pattern = re.compile(
        r"(text|execute|exec_driver_sql)\(\s*(f[\"']|[\"'][^\"']*[\"']\s*(%|\.format\())"
    )
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in _application_sources()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert offenders == []


@pytest.mark.slow
def test_installed_wheel_runs_its_own_migrations(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is needed to build and install the wheel")
    dist = tmp_path / "dist"
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(dist), str(REPO_ROOT)],
        check=True,
        capture_output=True,
    )
    wheels = list(dist.glob("filterbets-*.whl"))
    assert len(wheels) == 1
    venv = tmp_path / "venv"
    subprocess.run(
        [uv, "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--python", str(python), str(wheels[0])],
        check=True,
        capture_output=True,
    )
    exe = venv / "bin" / "filterbets"
    db_url = f"sqlite:///{tmp_path / 'wheel.db'}"
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(exe), "--database-url", db_url, "db", *args],
            cwd=outside,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    head = migrate.head_revision()
    assert head is not None
    assert head in run("history")
    assert f"created database schema at revision {head}" in run("upgrade")
    assert f"revision {head} (head)" in run("current")
    assert f"downgraded database schema from {head} to base" in run("downgrade", "base")
    assert "revision (none)" in run("current")
    assert f"revision {head}" in run("upgrade")
    # The wheel must carry its migrations, not borrow the checkout's.
    located = subprocess.run(
        [str(python), "-c", "import core.migrate as m; print(m.migrations_dir())"],
        cwd=outside,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "site-packages" in located and "_migrations" in located


def test_migrations_dir_is_found_from_the_checkout() -> None:
    located = migrate.migrations_dir()
    assert located == REPO_ROOT / "alembic"
    assert any(located.glob("versions/*.py"))


async def test_the_ledger_key_change_keeps_every_bet_both_ways(empty_settings: Settings) -> None:
    """0006 re-keys backtest_bets by (result_id, seq); down and up again loses no bet,
    and after a downgrade new bets still get ids of their own."""
    from sqlalchemy import text

    from core.db import Database
    from tests.factories import add_fixtures

    await migrate.upgrade(empty_settings)
    service = await FilterBetsService.open(empty_settings, migrate=False)
    try:
        await add_fixtures(
            service,
            [
                {
                    "league": "E0",
                    "season": "2019-20",
                    "date": f"2019-08-{day:02d}",
                    "home": f"Home {day}",
                    "away": f"Away {day}",
                    "goals": (day % 3, 1),
                    "odds": {"pinnacle_home": 2.0 + day / 10, "pinnacle_away": 3.5},
                }
                for day in range(1, 9)
            ],
            features=False,
        )
        from core.backtest.engine import BacktestEngine
        from core.backtest.request import BacktestRequest

        engine = BacktestEngine(service.db, service.user_id)
        rules = {"field": "odds.pinnacle.home", "op": ">", "value": 1.0}
        for market in ("home", "away"):
            await engine.run(BacktestRequest(market=market, rules=rules))
    finally:
        await service.close()

    async def ledger(columns: str) -> list[tuple[object, ...]]:
        database = Database(empty_settings)
        try:
            async with database.engine.connect() as conn:
                query = f"SELECT {columns} FROM backtest_bets ORDER BY result_id, seq"
                return [tuple(row) for row in await conn.execute(text(query))]
        finally:
            await database.dispose()

    before = await ledger("result_id, seq, fixture_id, odds, outcome, profit")
    assert len(before) == 16

    await migrate.downgrade(empty_settings, "0005")
    assert await ledger("id, result_id, seq, fixture_id, odds, outcome, profit") == [
        (n, *row) for n, row in enumerate(before, start=1)
    ]
    database = Database(empty_settings)
    try:
        async with database.engine.begin() as conn:
            new_id = (
                await conn.execute(
                    text(
                        "INSERT INTO backtest_bets (result_id, seq, fixture_id, kickoff_date,"
                        " odds, stake, outcome, profit) SELECT result_id, 99, fixture_id,"
                        " kickoff_date, odds, stake, outcome, profit FROM backtest_bets"
                        " WHERE id = 1 RETURNING id"
                    )
                )
            ).scalar_one()
            assert new_id == 17
            await conn.execute(text("DELETE FROM backtest_bets WHERE id = 17"))
    finally:
        await database.dispose()

    await migrate.upgrade(empty_settings)
    assert await ledger("result_id, seq, fixture_id, odds, outcome, profit") == before


async def test_0010_keeps_football_runs_both_ways_and_the_ledger_trigger_on_sqlite(
    empty_settings: Settings,
) -> None:
    """0010 rebuilds backtest_results on SQLite (its batch mode): football results, their
    ledger and the trigger that deletes a ledger with its result survive; a downgrade drops
    the strategy runs only."""
    from sqlalchemy import text

    from core.backtest.engine import BacktestEngine
    from core.backtest.request import BacktestRequest
    from core.candles.importing import import_candle_files
    from core.candles.request import StrategyRequest
    from core.candles.service import StrategyRunner
    from core.candles.store import CandleStore
    from core.db import Database
    from tests.conftest import shared_data
    from tests.factories import add_fixtures

    await migrate.upgrade(empty_settings)
    service = await FilterBetsService.open(empty_settings, migrate=False)
    try:
        await add_fixtures(
            service,
            [
                {
                    "league": "E0",
                    "season": "2019-20",
                    "date": f"2019-08-{day:02d}",
                    "home": f"Home {day}",
                    "away": f"Away {day}",
                    "goals": (day % 3, 1),
                    "odds": {"pinnacle_home": 2.0 + day / 10},
                }
                for day in range(1, 5)
            ],
            features=False,
        )
        rules = {"field": "odds.pinnacle.home", "op": ">", "value": 1.0}
        await BacktestEngine(service.db, service.user_id).run(
            BacktestRequest(market="home", rules=rules)
        )
        store = await CandleStore.open(empty_settings, service.db)
        await import_candle_files(
            store, [shared_data("klines/binance/BTCUSDT-1h-2023-01.spot-header.csv")]
        )
        await StrategyRunner(service.db, store, service.user_id).run(
            StrategyRequest("BTCUSDT", "1h", "sma_cross")
        )
    finally:
        await service.close()

    async def rows(query: str) -> list[tuple[object, ...]]:
        database = Database(empty_settings)
        try:
            async with database.engine.begin() as conn:
                result = await conn.execute(text(query))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await database.dispose()

    assert await rows("SELECT kind, market FROM backtest_results ORDER BY id") == [
        ("backtest", "home"),
        ("strategy", None),
    ]
    await migrate.downgrade(empty_settings, "0007")
    assert await rows("SELECT market FROM backtest_results") == [("home",)]
    assert await rows("SELECT count(*) FROM backtest_bets") == [(4,)]
    await migrate.upgrade(empty_settings)
    assert await rows("SELECT kind FROM backtest_results") == [("backtest",)]
    await rows("DELETE FROM backtest_results")
    assert await rows("SELECT count(*) FROM backtest_bets") == [(0,)]


def test_every_revision_says_what_its_downgrade_deletes() -> None:
    from core.downgrade import LOSSES

    assert set(LOSSES) == migrate.known_revisions()


async def _cli(settings: Settings, *args: str) -> int:
    import sys

    import core.cli

    url = settings.database_url.render_as_string(hide_password=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core.cli, "_say", lambda m, stream=None: print(m, file=sys.stderr))
        return await asyncio.to_thread(core.cli.main, ["--database-url", url, *args])


async def _with_saved_settings(settings: Settings) -> None:
    from core.filters import FilterStore

    service = await FilterBetsService.open(settings)
    try:
        store = FilterStore(service.db, service.user_id)
        await store.create("away band", [], backtest_settings={"market": "away"})
    finally:
        await service.close()


async def test_a_downgrade_that_deletes_data_says_what_and_wants_yes(
    empty_settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    """0005 -> 0004 dropped the filters' saved settings with one line and exit 0."""
    await _with_saved_settings(empty_settings)
    backend = empty_settings.describe_backend()
    capfd.readouterr()

    assert await _cli(empty_settings, "db", "downgrade", "0004") == 2
    err = capfd.readouterr().err
    assert err.startswith(
        f"downgrading {backend} from {migrate.SCHEMA_HEAD} to 0004 deletes:\n"
        "  - the saved backtest settings of 1 filter\n"
    )
    assert err.endswith(
        "filterbets: error: db downgrade: it deletes the data above; add --yes to go ahead\n"
    )
    assert await migrate.current_revision(empty_settings) == migrate.SCHEMA_HEAD

    assert await _cli(empty_settings, "db", "downgrade", "0004", "--yes") == 0
    err = capfd.readouterr().err
    assert await migrate.current_revision(empty_settings) == "0004"
    if empty_settings.sqlite_path is None:
        assert "no copy is made on PostgreSQL" in err
        return
    backed_up = [line for line in err.splitlines() if line.startswith("backed up ")]
    assert len(backed_up) == 1
    copy = Path(backed_up[0].split(" to ", 1)[1])
    assert copy.parent == empty_settings.sqlite_path.parent
    mode, saved = await asyncio.to_thread(_saved_settings_in, copy)
    assert mode == 0o600
    assert saved["market"] == "away"


def _saved_settings_in(copy: Path) -> tuple[int, dict[str, Any]]:
    import json
    import sqlite3

    with sqlite3.connect(copy) as kept:
        (saved,) = kept.execute("SELECT backtest_settings FROM filters").fetchone()
    return copy.stat().st_mode & 0o777, json.loads(saved)


async def test_a_downgrade_asks_at_a_terminal_and_no_changes_nothing(
    empty_settings: Settings, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    import core.cli

    await _with_saved_settings(empty_settings)
    monkeypatch.setattr(core.cli, "_stdin_is_terminal", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    assert await _cli(empty_settings, "db", "downgrade", "base") == 1
    err = capfd.readouterr().err
    assert "  - 1 filter (filters)\n" in err and "  - 1 user (users)\n" in err
    assert "Delete it and downgrade? [y/N] downgrade cancelled; nothing changed" in err
    assert await migrate.current_revision(empty_settings) == migrate.SCHEMA_HEAD
    if empty_settings.sqlite_path is not None:  # no backup either: nothing was done
        folder = empty_settings.sqlite_path.parent
        assert await asyncio.to_thread(lambda: list(folder.glob("*before-downgrade*"))) == []


async def test_a_downgrade_that_deletes_nothing_needs_no_yes(
    empty_settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    await migrate.upgrade(empty_settings)
    assert await _cli(empty_settings, "db", "downgrade", "0004") == 0
    assert "deletes" not in capfd.readouterr().err
    assert await migrate.current_revision(empty_settings) == "0004"


async def test_0015_downgrade_drops_strategy_sweeps_and_keeps_football_sweeps(
    empty_settings: Settings,
) -> None:
    """0015 adds the variants' strategy metrics; going back, the strategy sweeps (which the
    older schema cannot show) go with their variants, and football sweeps stay whole."""
    from sqlalchemy import text

    from core.backtest.request import BacktestRequest
    from core.backtest.sweeps import SweepEngine, SweepRequest
    from core.candles.importing import import_candle_files
    from core.candles.request import StrategyRequest
    from core.candles.store import CandleStore
    from core.candles.sweep import StrategySweepRequest
    from core.db import Database
    from tests.conftest import shared_data
    from tests.factories import add_fixtures

    await migrate.upgrade(empty_settings)
    service = await FilterBetsService.open(empty_settings, migrate=False)
    try:
        await add_fixtures(
            service,
            [
                {
                    "league": "E0",
                    "season": "2019-20",
                    "date": f"2019-08-{day:02d}",
                    "home": f"Home {day}",
                    "away": f"Away {day}",
                    "goals": (day % 3, 1),
                    "odds": {"pinnacle_home": 2.0 + day / 10},
                }
                for day in range(1, 5)
            ],
            features=False,
        )
        sweeps = SweepEngine(service.db, service.user_id)
        rules = {"field": "odds.pinnacle.home", "op": ">", "value": {"param": "lo"}}
        await sweeps.run(
            SweepRequest(BacktestRequest(market="home", rules=rules), {"lo": [1.0, 2.2]})
        )
        store = await CandleStore.open(empty_settings, service.db)
        await import_candle_files(
            store, [shared_data("klines/binance/BTCUSDT-1h-2023-01.spot-header.csv")]
        )
        await store.close()
        base = StrategyRequest("BTCUSDT", "1h", "sma_cross")
        await sweeps.run(StrategySweepRequest(base, {"fast": [5, 10, 15]}))
    finally:
        await service.close()

    async def rows(query: str) -> list[tuple[object, ...]]:
        database = Database(empty_settings)
        try:
            async with database.engine.begin() as conn:
                result = await conn.execute(text(query))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await database.dispose()

    variants = "SELECT r.strategy_type, count(*) FROM sweep_variants v JOIN backtest_results r"
    variants += " ON r.id = v.result_id GROUP BY r.strategy_type ORDER BY r.strategy_type"
    assert sorted(await rows(variants), key=str) == sorted([(None, 2), ("sma_cross", 3)], key=str)
    await migrate.downgrade(empty_settings, "0014")
    assert await rows("SELECT kind, market FROM backtest_results") == [("sweep", "home")]
    assert await rows("SELECT count(*) FROM sweep_variants") == [(2,)]
    await migrate.upgrade(empty_settings)
    assert await rows("SELECT count(*) FROM sweep_variants WHERE metrics IS NULL") == [(2,)]


async def test_0017_keeps_long_best_of_sources_and_its_downgrade_counts_them(
    empty_settings: Settings,
) -> None:
    """A best-of list longer than the old 20 characters is stored (PostgreSQL refused it);
    going back, the runs at such a source are counted, then deleted with their ledgers,
    and the others (and the SQLite ledger trigger) stay."""
    from sqlalchemy import text

    from core.backtest.engine import BacktestEngine
    from core.backtest.request import BacktestRequest
    from core.db import Database
    from core.downgrade import plan_downgrade
    from tests.factories import add_fixtures

    await migrate.upgrade(empty_settings)
    service = await FilterBetsService.open(empty_settings, migrate=False)
    try:
        await add_fixtures(
            service,
            [
                {
                    "league": "E0",
                    "season": "2019-20",
                    "date": f"2019-08-{day:02d}",
                    "home": f"Home {day}",
                    "away": f"Away {day}",
                    "goals": (day % 3, 1),
                    "odds": {"pinnacle_home": 2.0 + day / 10, "wh_home": 2.1},
                }
                for day in range(1, 5)
            ],
            features=False,
        )
        rules = {"field": "league", "op": "=", "value": "E0"}
        engine = BacktestEngine(service.db, service.user_id)
        for source in ("pinnacle", "best:b365,pinnacle,wh"):
            await engine.run(BacktestRequest(market="home", rules=rules, odds_source=source))
    finally:
        await service.close()

    async def rows(query: str) -> list[tuple[object, ...]]:
        database = Database(empty_settings)
        try:
            async with database.engine.begin() as conn:
                result = await conn.execute(text(query))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await database.dispose()

    assert await rows("SELECT odds_source FROM backtest_results ORDER BY id") == [
        ("pinnacle",),
        ("best:b365,pinnacle,wh",),
    ]
    plan = await plan_downgrade(empty_settings, "0016")
    assert plan.losses == ("1 backtest result at an odds source of over 20 characters",)
    await migrate.downgrade(empty_settings, "0016")
    assert await rows("SELECT odds_source FROM backtest_results") == [("pinnacle",)]
    assert await rows("SELECT count(*) FROM backtest_bets") == [(4,)]
    await migrate.upgrade(empty_settings)
    await rows("DELETE FROM backtest_results")
    assert await rows("SELECT count(*) FROM backtest_bets") == [(0,)]
