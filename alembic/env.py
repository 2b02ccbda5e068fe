"""Alembic environment: async engines on SQLite and PostgreSQL.

The caller (core.migrate) hands the database URL in through
`config.attributes["database_url"]`, so no URL or credential lives in a file.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import inspect, pool, update
from sqlalchemy.engine import Connection

from core.config import load_settings, normalize_database_url
from core.db import UTCDateTime, engine_for, utcnow
from core.models import DATA_STATE_ID, Base, DataState

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url is None:
        # Developer use (`alembic revision --autogenerate`): the usual settings apply.
        return load_settings().database_url.render_as_string(hide_password=False)
    return normalize_database_url(str(url)).render_as_string(hide_password=False)


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render our custom types as plain SQLAlchemy ones, so revisions never import core/."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        before = context.get_context().get_current_revision()
        context.run_migrations()
        if context.get_context().get_current_revision() != before:
            _mark_data_changed(connection)


def _mark_data_changed(connection: Connection) -> None:
    """A migration may add or delete rows the analysis frame reads (a downgrade deletes the
    upcoming fixtures, say): bump the data version, so no frame, in memory or in the files
    beside a SQLite database, from before it is used again."""
    if not inspect(connection).has_table("data_state"):
        return
    connection.execute(
        update(DataState)
        .where(DataState.id == DATA_STATE_ID)
        .values(version=DataState.version + 1, changed_at=utcnow())
    )


async def _run_async(url: str) -> None:
    engine = engine_for(normalize_database_url(url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
        return
    asyncio.run(_run_async(_database_url()))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
