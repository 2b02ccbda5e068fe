"""Database failures told apart: a connection that fails is retried and reads "cannot connect",
a statement the database refuses is not retried and says so, on both backends."""

from __future__ import annotations

import socket
import sys
from typing import Any

import pytest
from sqlalchemy import text

import core.cli
from core.cli import main
from core.config import Settings, load_settings
from core.dberrors import describe_database_error, failure_kind, is_transient
from core.filters import FilterStore
from core.services import FilterBetsService
from tests.jobs_support import sync_url


async def _refused_statement(service: FilterBetsService) -> BaseException:
    try:
        async with service.db.session() as session:
            await session.execute(text("SELECT * FROM no_such_table"))
    except Exception as exc:
        return exc
    raise AssertionError("the statement ran")


async def test_a_refused_statement_is_not_a_connection_failure(
    service: FilterBetsService,
) -> None:
    exc = await _refused_statement(service)
    backend = service.settings.describe_backend()
    assert failure_kind(exc) == "statement"
    assert not is_transient(exc)
    described = describe_database_error(exc, backend)
    assert described is not None
    assert described.startswith(f"the database refused a statement on {backend}: ")
    assert "no_such_table" in described and "\n" not in described


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_refused_connection_is_transient_and_plainly_worded() -> None:
    from core.db import Database

    settings = load_settings(f"postgresql://someone:secret@127.0.0.1:{_closed_port()}/x", "t")
    database = Database(settings)
    try:
        async with database.session() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        error: BaseException = exc
    finally:
        await database.dispose()
    assert is_transient(error)
    backend = settings.describe_backend()
    assert describe_database_error(error, backend) == (
        f"cannot connect to {backend}: connection refused (is the server running?)"
    )


def test_an_error_that_is_not_the_databases_is_not_described_as_one() -> None:
    assert failure_kind(ZeroDivisionError("x")) is None
    assert describe_database_error(ValueError("boom"), "SQLite x.db") is None


def test_the_cli_says_a_statement_was_refused_not_that_the_database_is_unusable(
    settings: Settings,
    service: FilterBetsService,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refused_list(store: FilterStore) -> Any:
        async with store.db.session() as session:
            await session.execute(text("SELECT * FROM no_such_table"))

    monkeypatch.setattr(FilterStore, "list", refused_list)
    monkeypatch.setattr(core.cli, "_say", lambda m, stream=None: print(m, file=sys.stderr))
    capfd.readouterr()
    assert main(["--database-url", sync_url(settings), "filters", "list"]) == 1
    err = capfd.readouterr().err.strip()
    backend = settings.describe_backend()
    assert err.startswith(f"filterbets: error: the database refused a statement on {backend}: ")
    assert "cannot" not in err and "Traceback" not in err


def test_a_file_that_is_not_a_database_is_unusable_not_a_refused_statement(
    tmp_path: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    junk = tmp_path / "notes.db"
    junk.write_text("this is not SQLite\n" * 100)
    monkeypatch.setattr(core.cli, "_say", lambda m, stream=None: print(m, file=sys.stderr))
    capfd.readouterr()
    assert main(["--database-url", f"sqlite:///{junk}", "filters", "list"]) == 1
    assert capfd.readouterr().err == (
        f"filterbets: error: cannot use SQLite {junk}: file is not a database\n"
    )
