"""Time the team-feature computation (core.features).

Prints one JSON line per database:
  {"backend", "fixtures", "full_seconds", "cpu_seconds", "incremental_seconds",
   "incremental_written", "incremental_season"}
full_seconds: recompute_all (load, compute, rewrite every row); incremental_seconds:
`recompute` for the latest league-season as an import of that season would call it.

Without --database-url the shared corpus is imported into a fresh SQLite database
first (not timed); with it, the given database is upgraded and used as is (give it a
copy: recompute_all rewrites fixture_features), after importing the corpus into it
with --import-corpus.

Usage: uv run python bench/features.py [--corpus DIR] [--database-url URL [--import-corpus]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import Settings, load_settings
from core.db import Database
from core.features import AffectedFixtures, recompute, recompute_all
from core.importing.service import expand_paths, import_paths
from core.migrate import upgrade
from core.models import Fixture

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


async def measure(settings: Settings, backend: str, corpus: Path | None) -> dict[str, Any]:
    await upgrade(settings)
    db = Database(settings)
    try:
        if corpus is not None:
            await import_paths(db, expand_paths([corpus]))
        async with db.session() as session:
            fixtures = int(await session.scalar(select(func.count(Fixture.id))) or 0)
        started, cpu_started = time.perf_counter(), time.process_time()
        await recompute_all(db)
        full = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        affected, label = await _latest_season(db)
        started = time.perf_counter()
        done = await recompute(db, affected)
        incremental = time.perf_counter() - started
    finally:
        await db.dispose()
    return {
        "backend": backend,
        "fixtures": fixtures,
        "full_seconds": round(full, 3),
        "cpu_seconds": round(cpu, 3),
        "incremental_seconds": round(incremental, 3),
        "incremental_written": done.written,
        "incremental_season": label,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--database-url", help="an existing database (a copy: it is rewritten)")
    parser.add_argument(
        "--import-corpus", action="store_true", help="import the corpus into --database-url first"
    )
    args = parser.parse_args()
    if args.database_url:
        settings = load_settings(args.database_url, "bench")
        corpus = args.corpus if args.import_corpus else None
        result = await measure(settings, settings.backend, corpus)
    else:
        with tempfile.TemporaryDirectory(prefix="filterbets-features-") as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            result = await measure(load_settings(url, "bench"), "sqlite", args.corpus)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
