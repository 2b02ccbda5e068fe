"""Import the whole shared football corpus into fresh SQLite and PostgreSQL databases.

Prints one JSON line per backend:
  {"backend", "fixtures", "seconds", "rows_per_s", "cpu_seconds", "reimport_seconds",
   "fixtures_after_reimport", "reimport_added", "reimport_updated", "reimport_unchanged"}
where cpu_seconds is this process's CPU time during the first import.

PostgreSQL: a throwaway database is created on the server named by
FILTERBETS_BENCH_POSTGRES_URL (default postgresql://root@127.0.0.1:5432/test) and
dropped afterwards; if the server cannot be reached, a note goes to stderr and
only SQLite is measured.

Usage: uv run python bench/import_corpus.py [--corpus DIR] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from core.config import Settings, load_settings, mask_url_text
from core.db import Database
from core.importing.service import expand_paths, import_paths
from core.migrate import upgrade
from core.models import Fixture

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "data" / "football"
DEFAULT_POSTGRES = "postgresql://root@127.0.0.1:5432/test"


async def _fixture_count(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count(Fixture.id)))).scalar_one())


async def measure(settings: Settings, backend: str, files: list[Path]) -> dict[str, Any]:
    await upgrade(settings)
    db = Database(settings)
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        first = await import_paths(db, files)
        seconds = time.perf_counter() - started
        # This process only (not the PostgreSQL server): tells a busy machine apart.
        cpu_seconds = time.process_time() - cpu_started
        fixtures = await _fixture_count(db)
        started = time.perf_counter()
        again = await import_paths(db, files)
        reimport_seconds = time.perf_counter() - started
        after = await _fixture_count(db)
    finally:
        await db.dispose()
    if first.file_errors:
        print(f"{backend}: {len(first.file_errors)} files refused", file=sys.stderr)
    return {
        "backend": backend,
        "fixtures": fixtures,
        "seconds": round(seconds, 3),
        "rows_per_s": round(fixtures / seconds),
        "cpu_seconds": round(cpu_seconds, 3),
        "reimport_seconds": round(reimport_seconds, 3),
        "fixtures_after_reimport": after,
        "reimport_added": again.fixtures_added,
        "reimport_updated": again.fixtures_updated,
        "reimport_unchanged": again.fixtures_unchanged,
    }


async def bench_sqlite(files: list[Path]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="filterbets-bench-") as folder:
        settings = load_settings(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", "bench")
        return await measure(settings, "sqlite", files)


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg

    url = make_url(server_url)
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or None,
        password=url.password or None,
        database=url.database or "postgres",
        timeout=10,
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def bench_postgres(files: list[Path], server_url: str) -> dict[str, Any] | None:
    name = f"filterbets_bench_{uuid.uuid4().hex[:10]}"
    try:
        # The name is generated here (hex digits only); identifiers cannot be bound.
        await _admin(server_url, f'CREATE DATABASE "{name}"')
    except (TimeoutError, OSError, ImportError) as exc:
        print(
            f"PostgreSQL skipped: cannot reach {mask_url_text(server_url)}: {exc}", file=sys.stderr
        )
        return None
    except Exception as exc:  # asyncpg's own errors (auth, permissions)
        print(f"PostgreSQL skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    try:
        url = make_url(server_url).set(drivername="postgresql+asyncpg", database=name)
        settings = load_settings(url.render_as_string(hide_password=False), "bench")
        return await measure(settings, "postgresql", files)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), action="append")
    args = parser.parse_args()
    backends = args.backend or ["sqlite", "postgresql"]
    files = expand_paths([args.corpus])
    if "sqlite" in backends:
        print(json.dumps(await bench_sqlite(files)), flush=True)
    if "postgresql" in backends:
        server = os.environ.get("FILTERBETS_BENCH_POSTGRES_URL", "").strip() or DEFAULT_POSTGRES
        result = await bench_postgres(files, server)
        if result is not None:
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
