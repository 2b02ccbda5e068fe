"""Schema migrations, run through Alembic from inside the installed package.

Alembic's commands are synchronous and load scripts from disk, so the async
entry points run them in a worker thread (each thread gets its own event loop
in env.py).
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from core.config import Settings


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
    config = Config(stdout=stdout) if stdout is not None else Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    # Passed as an attribute, never through the ini parser: passwords may hold '%'.
    config.attributes["database_url"] = settings.database_url.render_as_string(hide_password=False)
    return config


def head_revision() -> str | None:
    script = ScriptDirectory(str(migrations_dir()))
    return script.get_current_head()


def _ensure_sqlite_dir(settings: Settings) -> None:
    """SQLite creates the file on first use, but not the folder it lives in."""
    if settings.sqlite_path is not None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)


async def current_revision(settings: Settings) -> str | None:
    _ensure_sqlite_dir(settings)
    engine = create_async_engine(settings.database_url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
            )
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
    before = await current_revision(settings)
    await asyncio.to_thread(command.upgrade, alembic_config(settings), revision)
    after = await current_revision(settings)
    return SchemaStatus(before, after)


async def downgrade(settings: Settings, revision: str) -> SchemaStatus:
    before = await current_revision(settings)
    await asyncio.to_thread(command.downgrade, alembic_config(settings), revision)
    after = await current_revision(settings)
    return SchemaStatus(before, after, direction="downgrade")


def history_lines() -> list[str]:
    script = ScriptDirectory(str(migrations_dir()))
    lines = []
    for rev in script.walk_revisions():
        lines.append(f"{rev.revision}  {rev.doc or ''}".rstrip())
    return lines


async def ensure_schema(settings: Settings) -> SchemaStatus:
    """Upgrade a new or old database to head on start; cheap when already current."""
    before = await current_revision(settings)
    head = await asyncio.to_thread(head_revision)
    if before == head:
        return SchemaStatus(before, before)
    return await upgrade(settings, "head")
