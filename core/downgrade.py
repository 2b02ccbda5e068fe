"""What a schema downgrade would delete, measured before it runs, and a SQLite backup first.

Every revision's downgrade() is listed in LOSSES with a probe that counts, on the database as
it is, what that step throws away. A test holds the table to the migration scripts, so a new
revision has to say what its downgrade loses (an empty list when nothing).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, column, exists, func, inspect, select, table

from core.config import Settings
from core.db import JSONType

Probe = Callable[[Connection], list[str]]


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _count(connection: Connection, name: str) -> int:
    if not inspect(connection).has_table(name):
        return 0
    return int(connection.execute(select(func.count()).select_from(table(name))).scalar_one())


def _orphan_bets(connection: Connection) -> list[str]:
    bets = table("backtest_bets", column("result_id"))
    results = table("backtest_results", column("id"))
    orphans = connection.execute(
        select(func.count())
        .select_from(bets)
        .where(~exists().where(results.c.id == bets.c.result_id))
    ).scalar_one()
    return [f"{_plural(int(orphans), 'ledger row')} whose result is gone"] if orphans else []


def _filter_settings(connection: Connection) -> list[str]:
    filters = table("filters", column("backtest_settings", JSONType))
    saved = sum(
        value is not None
        for value in connection.execute(select(filters.c.backtest_settings)).scalars()
    )
    return [f"the saved backtest settings of {_plural(saved, 'filter')}"] if saved else []


def _features(connection: Connection) -> list[str]:
    rows = _count(connection, "fixture_features")
    if not rows:
        return []
    return [f"{_plural(rows, 'row')} of team features (fixture_features; recomputable)"]


def _job_attempts(connection: Connection) -> list[str]:
    jobs = _count(connection, "backtest_jobs")
    return [f"the attempt counts and cancel requests of {_plural(jobs, 'job')}"] if jobs else []


def _ledger(connection: Connection) -> list[str]:
    bets = _count(connection, "backtest_bets")
    return [f"{_plural(bets, 'bet')} in the results' ledgers (backtest_bets)"] if bets else []


# Tables the first revision made, in the words a user knows them by.
_EVERYTHING = (
    ("fixtures", "fixture"),
    ("fixture_odds", "fixture's prices", "fixtures' prices"),
    ("leagues", "league"),
    ("teams", "team"),
    ("team_leagues", "team-league link"),
    ("filters", "filter"),
    ("backtest_results", "backtest result"),
    ("backtest_jobs", "job"),
    ("users", "user"),
)


def _everything(connection: Connection) -> list[str]:
    lost = []
    for name, *words in _EVERYTHING:
        rows = _count(connection, name)
        if rows:
            lost.append(f"{_plural(rows, *words)} ({name})")
    return lost


def _nothing(_connection: Connection) -> list[str]:
    return []


def _tables(*tables: tuple[str, str, str]) -> Probe:
    """A probe counting the rows of tables a downgrade drops: (table, one, many)."""

    def probe(connection: Connection) -> list[str]:
        lost = []
        for name, one, many in tables:
            rows = _count(connection, name)
            if rows:
                lost.append(f"{_plural(rows, one, many)} ({name})")
        return lost

    return probe


def _sweeps(connection: Connection) -> list[str]:
    results = table("backtest_results", column("kind"))
    sweeps = connection.execute(
        select(func.count()).select_from(results).where(results.c.kind == "sweep")
    ).scalar_one()
    lost = [f"{_plural(int(sweeps), 'stored sweep')} (backtest_results)"] if sweeps else []
    return lost + _tables(
        ("sweep_variants", "sweep variant", "sweep variants"),
        ("filter_trials", "filter trial count", "filter trial counts"),
        ("sweep_parts", "sweep part", "sweep parts"),
    )(connection)


# Revision 0009 seeds these aliases itself: dropping them loses nothing a user made.
_SEEDED_ALIASES = (
    "Atl. Madrid",
    "Rayo Vallecano",
    "Sheffield Wed",
    "Bradford City",
    "Dep. A Coruna",
)


def _upcoming(connection: Connection) -> list[str]:
    fixtures = table("fixtures", column("result"))
    upcoming = connection.execute(
        select(func.count()).select_from(fixtures).where(fixtures.c.result.is_(None))
    ).scalar_one()
    lost = []
    if upcoming:
        lost.append(f"{_plural(int(upcoming), 'upcoming fixture')} (fixtures without a result)")
    if inspect(connection).has_table("team_aliases"):
        aliases = table("team_aliases", column("alias"))
        made = connection.execute(
            select(func.count()).select_from(aliases).where(aliases.c.alias.not_in(_SEEDED_ALIASES))
        ).scalar_one()
        if made:
            lost.append(f"{_plural(int(made), 'team alias', 'team aliases')} (team_aliases)")
    return lost


def _strategy_runs(connection: Connection) -> list[str]:
    results = table("backtest_results", column("kind"))
    runs = connection.execute(
        select(func.count()).select_from(results).where(results.c.kind == "strategy")
    ).scalar_one()
    lost = [f"{_plural(int(runs), 'strategy run')} (backtest_results)"] if runs else []
    return lost + _tables(
        ("strategy_trades", "strategy trade", "strategy trades"),
        ("candles", "candle", "candles"),
        ("candle_series", "candle series", "candle series"),
    )(connection)


def _strategy_sweeps(connection: Connection) -> list[str]:
    results = table("backtest_results", column("kind"), column("strategy_type"))
    sweeps = connection.execute(
        select(func.count())
        .select_from(results)
        .where(results.c.kind == "sweep", results.c.strategy_type.is_not(None))
    ).scalar_one()
    return [f"{_plural(int(sweeps), 'strategy sweep')} and their variants"] if sweeps else []


def _long_odds_sources(connection: Connection) -> list[str]:
    """Results and picks at an odds source longer than the 20 characters before 0017."""
    lost = []
    for name, one, many in (
        ("backtest_results", "backtest result", "backtest results"),
        ("picks", "recorded pick", "recorded picks"),
    ):
        rows = table(name, column("odds_source"))
        count = connection.execute(
            select(func.count()).select_from(rows).where(func.length(rows.c.odds_source) > 20)
        ).scalar_one()
        if count:
            lost.append(f"{_plural(int(count), one, many)} at an odds source of over 20 characters")
    return lost


LOSSES: dict[str, Probe] = {
    "0001": _everything,
    "0002": _ledger,
    "0003": _job_attempts,
    "0004": _features,
    "0005": _filter_settings,
    "0006": _nothing,  # renumbers the ledger; every bet is kept
    "0007": _orphan_bets,
    "0008": _sweeps,
    "0009": _upcoming,
    "0010": _strategy_runs,
    "0011": _nothing,  # row-level security policies; no data
    "0013": _tables(("picks", "recorded pick", "recorded picks")),
    "0014": _tables(("fixture_book_prices", "bookmaker price row", "bookmaker price rows")),
    "0015": _strategy_sweeps,
    "0016": _tables(("imports", "import record (undo)", "import records (undo)")),  # fixtures stay
    "0017": _long_odds_sources,
}
"""revision -> what its downgrade() deletes, counted on the database before it runs."""


@dataclass(frozen=True)
class DowngradePlan:
    current: str | None
    target: str
    steps: tuple[str, ...]
    """The revisions whose downgrade() runs, newest first."""
    losses: tuple[str, ...]
    """What they delete, one phrase each ("1,204 bets in the results' ledgers ...")."""


def _steps(current: str | None, target: str) -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    from core.migrate import migrations_dir

    if current is None:
        return ()
    scripts = ScriptDirectory(str(migrations_dir()))
    lower = None if target == "base" else target
    return tuple(
        script.revision for script in scripts.iterate_revisions(current, lower, inclusive=False)
    )


async def plan_downgrade(settings: Settings, target: str) -> DowngradePlan:
    """The steps from the database's revision down to `target`, and what they delete."""
    from core.db import engine_for
    from core.migrate import current_revision

    current = await current_revision(settings)
    steps = await asyncio.to_thread(_steps, current, target)
    if current is not None and target != "base" and current != target and not steps:
        raise ValueError(f"{target} is not below the current revision {current}")
    engine = engine_for(settings.database_url)
    try:
        async with engine.connect() as connection:

            def measure(sync: Connection) -> list[str]:
                return [
                    phrase for step in steps for phrase in LOSSES.get(step, _unknown(step))(sync)
                ]

            losses = await connection.run_sync(measure)
    finally:
        await engine.dispose()
    return DowngradePlan(current, target, steps, tuple(losses))


def _unknown(revision: str) -> Probe:
    def probe(_connection: Connection) -> list[str]:
        return [f"whatever revision {revision} added (its losses are not listed)"]

    return probe


def backup_sqlite(settings: Settings, plan: DowngradePlan) -> Path:
    """A consistent copy of the SQLite database beside it (SQLite's online backup, so a
    write-ahead log is included), readable by its owner only; returns its path."""
    source = settings.sqlite_path
    assert source is not None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = source.with_name(
        f"{source.stem}.before-downgrade-{plan.current}-to-{plan.target}-{stamp}{source.suffix}"
    )
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    original = sqlite3.connect(source)
    copy = sqlite3.connect(target)
    try:
        original.backup(copy)
    finally:
        copy.close()
        original.close()
    return target
