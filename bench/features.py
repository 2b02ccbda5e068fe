"""Time the team-feature computation (core.features).

Prints one JSON line per database:
  {"backend", "fixtures", "runs", "full_seconds", "full_runs", "cpu_seconds",
   "incremental_seconds", "incremental_runs", "incremental_written",
   "incremental_resumed", "incremental_identical", "incremental_season"}
full_seconds: median of --runs recompute_all (load, compute, rewrite every row);
incremental_seconds: median of --runs `recompute` for the latest league-season as an
import of that season calls it: that season's feature rows are deleted first (a new
season has none), and afterwards every row from the season's first date on is
compared with what recompute_all wrote (incremental_identical).

Without --database-url the shared corpus is imported into a fresh SQLite database
first (not timed); with it, the given database is upgraded and used as is (give it a
copy: recompute_all rewrites fixture_features), after importing the corpus into it
with --import-corpus.

With --backtests (and --database-url), backtests filtering on team features are timed
afterwards, one JSON line each (median of 3, end to end, plus the live count).

With --no-full (and --database-url), the stored rows are kept (they must be complete)
and only the incremental recompute is timed.

Usage: uv run python bench/features.py [--corpus DIR] [--runs N]
           [--database-url URL [--import-corpus] [--no-full] [--backtests]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.config import Settings, load_settings
from core.db import Database
from core.features import AffectedFixtures, recompute, recompute_all
from core.importing.service import expand_paths, import_paths
from core.migrate import upgrade
from core.models import FEATURE_COLUMNS, Fixture, FixtureFeatures
from core.services import FilterBetsService

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "data" / "football"


async def _latest_season(db: Database) -> tuple[AffectedFixtures, str]:
    """The league-season holding the latest match, as its import would report it."""
    async with db.session() as session:
        last = (
            await session.execute(
                select(Fixture.league_id, Fixture.season)
                .order_by(Fixture.kickoff_date.desc(), Fixture.id.desc())
                .limit(1)
            )
        ).one()
        rows = await session.execute(
            select(
                Fixture.league_id,
                Fixture.season,
                Fixture.home_team_id,
                Fixture.away_team_id,
                Fixture.kickoff_date,
            ).where(Fixture.league_id == last[0], Fixture.season == last[1])
        )
        affected = AffectedFixtures()
        for row in rows:
            affected.add(*row)
    return affected, f"league {last[0]} {last[1]}"


async def _rows_since(db: Database, since: Any) -> dict[int, tuple[Any, ...]]:
    columns = [getattr(FixtureFeatures, name) for name in ("fixture_id", *FEATURE_COLUMNS)]
    async with db.session() as session:
        rows = await session.execute(
            select(*columns)
            .join(Fixture, Fixture.id == FixtureFeatures.fixture_id)
            .where(Fixture.kickoff_date >= since)
        )
        return {int(row[0]): tuple(row) for row in rows}


async def _forget_season(db: Database, affected: AffectedFixtures) -> None:
    """Delete the season's feature rows, as they are before its import's recompute."""
    [(league, season)] = affected.seasons
    ids = select(Fixture.id).where(Fixture.league_id == league, Fixture.season == season)
    async with db.session() as session:
        await session.execute(delete(FixtureFeatures).where(FixtureFeatures.fixture_id.in_(ids)))


async def measure(
    settings: Settings, backend: str, corpus: Path | None, runs: int, full_runs: bool = True
) -> dict[str, Any]:
    await upgrade(settings)
    db = Database(settings)
    full: list[float] = []
    cpu: list[float] = []
    incremental: list[float] = []
    identical = resumed = True
    written = 0
    try:
        if corpus is not None:
            await import_paths(db, expand_paths([corpus]))
        async with db.session() as session:
            fixtures = int(await session.scalar(select(func.count(Fixture.id))) or 0)
        for _ in range(runs if full_runs else 0):
            started, cpu_started = time.perf_counter(), time.process_time()
            await recompute_all(db)
            full.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        affected, label = await _latest_season(db)
        expected = await _rows_since(db, affected.since)
        for _ in range(runs):
            await _forget_season(db, affected)
            started = time.perf_counter()
            done = await recompute(db, affected)
            incremental.append(time.perf_counter() - started)
            written = done.written
            resumed = resumed and done.resumed
            identical = identical and await _rows_since(db, affected.since) == expected
    finally:
        await db.dispose()
    return {
        "backend": backend,
        "fixtures": fixtures,
        "runs": runs,
        "full_seconds": round(statistics.median(full), 3) if full else None,
        "full_runs": [round(x, 3) for x in full],
        "cpu_seconds": round(statistics.median(cpu), 3) if cpu else None,
        "incremental_seconds": round(statistics.median(incremental), 3),
        "incremental_runs": [round(x, 3) for x in incremental],
        "incremental_written": written,
        "incremental_resumed": resumed,
        "incremental_identical": identical,
        "incremental_season": label,
    }


# Backtests filtering on team features, next to the same odds band without them.
BACKTESTS: dict[str, dict[str, Any]] = {
    "odds_band": {
        "market": "away",
        "rules": {"field": "odds.pinnacle.away", "op": "between", "value": [2.0, 3.0]},
    },
    "odds_band_and_form": {
        "market": "away",
        "rules": [
            {"field": "odds.pinnacle.away", "op": "between", "value": [2.0, 3.0]},
            {"field": "diff.elo", "op": "<", "value": 0},
            {"field": "away.points_last5", "op": ">=", "value": 7},
        ],
    },
    "position_gap": {
        "market": "home",
        "rules": {"field": "diff.position", "op": "<=", "value": -8},
    },
}


async def bench_backtests(settings: Settings) -> None:
    """Median of 3 end-to-end backtests and live counts per filter, in milliseconds."""
    service = await FilterBetsService.open(settings, migrate=False)
    engine = BacktestEngine(service.db, service.user_id)
    try:
        for name, spec in BACKTESTS.items():
            request = BacktestRequest(market=spec["market"], rules=spec["rules"])
            await engine.run(request)
            runs, counts, bets = [], [], 0
            for _ in range(3):
                started = time.perf_counter()
                bets = (await engine.run(request)).metrics["bets"]
                runs.append(time.perf_counter() - started)
                started = time.perf_counter()
                await engine.count(request)
                counts.append(time.perf_counter() - started)
            print(
                json.dumps(
                    {
                        "backend": settings.backend,
                        "filter": name,
                        "bets": bets,
                        "backtest_ms": round(statistics.median(runs) * 1000, 1),
                        "count_ms": round(statistics.median(counts) * 1000, 1),
                    }
                ),
                flush=True,
            )
    finally:
        await service.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--database-url", help="an existing database (a copy: it is rewritten)")
    parser.add_argument(
        "--import-corpus", action="store_true", help="import the corpus into --database-url first"
    )
    parser.add_argument(
        "--backtests", action="store_true", help="then time backtests on team features"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per measure (median)")
    parser.add_argument(
        "--no-full", action="store_true", help="keep the stored rows; time the incremental only"
    )
    args = parser.parse_args()
    if args.database_url:
        settings = load_settings(args.database_url, "bench")
        corpus = args.corpus if args.import_corpus else None
        result = await measure(settings, settings.backend, corpus, args.runs, not args.no_full)
        print(json.dumps(result), flush=True)
        if args.backtests:
            await bench_backtests(settings)
        return
    else:
        with tempfile.TemporaryDirectory(prefix="filterbets-features-") as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            result = await measure(load_settings(url, "bench"), "sqlite", args.corpus, args.runs)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
