"""Schema migrations, run through Alembic from inside the installed package.

Alembic's commands are synchronous and load scripts from disk, so the async
entry points run them in a worker thread (each thread gets its own event loop
in env.py).

Alembic is imported only when a migration runs: the check made on every start (is the
schema at SCHEMA_HEAD?) reads the version table with SQLAlchemy, which keeps about a third
of a second of imports off the dashboard's cold start.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, String, Table, inspect, pool, select
from sqlalchemy.engine import Connection

from core.config import Settings, prepare_sqlite_file
from core.db import engine_for
from core.errors import FilterBetsError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# The newest revision in alembic/versions; a test checks it against Alembic's own view, so a
# new migration that forgets to move it fails CI instead of skipping the upgrade on start.
SCHEMA_HEAD = "0017"

_version_table = Table("alembic_version", MetaData(), Column("version_num", String(32)))


def migrations_dir() -> Path:
    """The Alembic scripts: packaged inside a wheel as core/_migrations, else the checkout's."""
    packaged = Path(__file__).resolve().parent / "_migrations"
    if (packaged / "env.py").is_file():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / "alembic"
    if (checkout / "env.py").is_file():
        return checkout
    raise FileNotFoundError("the FilterBets migration scripts are missing from this install")


def alembic_config(settings: Settings, stdout: io.StringIO | None = None) -> Config:
    from alembic.config import Config

    config = Config(stdout=stdout) if stdout is not None else Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    # Passed as an attribute, never through the ini parser: passwords may hold '%'.
    config.attributes["database_url"] = settings.database_url.render_as_string(hide_password=False)
    return config


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(migrations_dir()))


def head_revision() -> str | None:
    """The head as Alembic finds it in the scripts (slower than SCHEMA_HEAD: loads them all)."""
    return _scripts().get_current_head()


def _read_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table(_version_table.name):
        return None
    versions = connection.execute(select(_version_table.c.version_num)).scalars().all()
    if len(versions) > 1:  # branches are never merged into main unresolved
        raise FilterBetsError(f"the database has several schema heads: {', '.join(versions)}")
    return versions[0] if versions else None


async def current_revision(settings: Settings) -> str | None:
    prepare_sqlite_file(settings)
    engine = engine_for(settings.database_url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_read_revision)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class SchemaStatus:
    before: str | None
    after: str | None
    direction: str = "upgrade"

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def describe(self) -> str:
        if not self.changed:
            return f"database schema is already at revision {self.after or 'base'}"
        if self.direction == "downgrade":
            return f"downgraded database schema from {self.before} to {self.after or 'base'}"
        if self.before is None:
            return f"created database schema at revision {self.after}"
        return f"upgraded database schema from {self.before} to {self.after}"


async def upgrade(settings: Settings, revision: str = "head") -> SchemaStatus:
    """Bring the schema to `revision`. Migrations only add or alter; none drops user data."""
    from alembic import command

    before = await current_revision(settings)
    await asyncio.to_thread(command.upgrade, alembic_config(settings), revision)
    after = await current_revision(settings)
    return SchemaStatus(before, after)


async def downgrade(settings: Settings, revision: str) -> SchemaStatus:
    from alembic import command

    before = await current_revision(settings)
    await asyncio.to_thread(command.downgrade, alembic_config(settings), revision)
    after = await current_revision(settings)
    return SchemaStatus(before, after, direction="downgrade")


def known_revisions() -> set[str]:
    return {rev.revision for rev in _scripts().walk_revisions()}


def history_lines() -> list[str]:
    lines = []
    for rev in _scripts().walk_revisions():
        lines.append(f"{rev.revision}  {rev.doc or ''}".rstrip())
    return lines


async def ensure_schema(settings: Settings) -> SchemaStatus:
    """Upgrade a new or old database to head on start; cheap when already current."""
    before = await current_revision(settings)
    if before == SCHEMA_HEAD:
        return SchemaStatus(before, before)
    if before is not None and before not in await asyncio.to_thread(known_revisions):
        raise FilterBetsError(
            f"{settings.describe_backend()} has schema revision {before}, which this FilterBets"
            f" does not know (its newest is {SCHEMA_HEAD}): was it made by a newer version?"
        )
    return await upgrade(settings, "head")
