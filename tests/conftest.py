"""Shared fixtures and the tests' real data.

Databases: every data-layer test runs on SQLite and on PostgreSQL (the `backend`, `settings`
and `service` fixtures). PostgreSQL comes from FILTERBETS_TEST_POSTGRES_URL when set (a
throwaway database is created on that server for the session). Otherwise a throwaway cluster
is started from local initdb/pg_ctl binaries. Otherwise PostgreSQL tests are skipped with a
reason, and FILTERBETS_REQUIRE_POSTGRES=1 turns that skip into a failure.

Real data: two places hold real files, and this module alone decides where they are.

* `tests/data/`: small real files shipped with the repository, in the shared folder's layout
  (`football/E0_2012-13.csv`, `football-corrupt/...`); `tests/data/PROVENANCE.md` names the
  origin of each. Always present, so a fresh clone anywhere passes.
* the shared data folder: FILTERBETS_SHARED_DATA, else `<repo>/../shared/data` (its
  `SOURCES.md` describes every file). Large: the whole 37,899-match corpus (`football/`),
  recent seasons, upcoming fixtures, candles. Present on the developers' machines and in CI,
  absent from a clone elsewhere.

Tests ask for real data in one of two ways, inside a test or fixture (never at import time):

* `real_file("football/E0_2012-13.csv")`: the shipped copy, else the shared one. A small
  file a test needs wherever it runs belongs in tests/data (add its row to PROVENANCE.md).
* `shared_data("football")` (or the `corpus_dir` fixture, the same folder): a path in the
  shared folder, for corpus-wide tests.

When the shared folder is absent, either call skips the test and says what it needed; with
FILTERBETS_REQUIRE_CORPUS=1 (CI sets it) that skip is a failure instead. When the shared
folder is there but the file is not, the test fails: a misspelt name is a bug, not a skip.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from core.config import Settings, load_settings
from core.migrate import upgrade
from core.models import Base
from core.services import FilterBetsService

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = REPO_ROOT / "tests" / "data"
"""Small real files shipped with the repository (tests/data/PROVENANCE.md)."""
SHARED_DATA = Path(
    os.environ.get("FILTERBETS_SHARED_DATA", "").strip() or REPO_ROOT.parent / "shared" / "data"
)
"""The shared data folder; it may be absent (ask through `real_file` or `shared_data`)."""
# Kept for tests written before real_file/shared_data (branches in flight); new tests use
# those. CORPUS_DIR is the shared corpus, which may be absent; CORRUPT_DIR is shipped.
CORPUS_DIR = SHARED_DATA / "football"
CORRUPT_DIR = TEST_DATA / "football-corrupt"

BACKENDS = ("sqlite", "postgresql")
# Why PostgreSQL is unavailable this session, for the skip message.
_PG_UNAVAILABLE: dict[str, str] = {}


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false")


def _require_postgres() -> bool:
    return _flag("FILTERBETS_REQUIRE_POSTGRES")


# --- real data ------------------------------------------------------------------------


def skip_or_fail_without_shared_data(what: str) -> NoReturn:
    reason = (
        f"needs {what} from the shared data folder, absent here ({SHARED_DATA}; "
        "set FILTERBETS_SHARED_DATA or clone beside ../shared)"
    )
    if _flag("FILTERBETS_REQUIRE_CORPUS"):
        pytest.fail(f"the shared data is required (FILTERBETS_REQUIRE_CORPUS=1): {reason}")
    pytest.skip(f"shared data absent: {reason}")


def shared_data(relative: str = "") -> Path:
    """`<shared data folder>/<relative>`, such as the whole corpus `football`.

    Skips the calling test when the shared folder is absent (fails instead under
    FILTERBETS_REQUIRE_CORPUS=1); fails it when the folder is there but `relative` is not.
    """
    path = SHARED_DATA / relative
    if not SHARED_DATA.is_dir():
        skip_or_fail_without_shared_data(relative or "the shared data")
    if not path.exists():
        pytest.fail(f"no {relative} in the shared data folder {SHARED_DATA}")
    return path


def real_file(relative: str) -> Path:
    """A real data file or folder: `tests/data/<relative>` when shipped, else the shared
    folder's (see `shared_data` for when that is absent)."""
    shipped = TEST_DATA / relative
    if shipped.exists():
        return shipped
    return shared_data(relative)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The whole shared corpus: 103 season files, 37,899 matches (skips when absent)."""
    return shared_data("football")


# --- PostgreSQL -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _ThrowawayCluster:
    """A private PostgreSQL cluster in a temp dir, started from local binaries."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="filterbets-pg-"))
        self.port = _free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            # initdb refuses to run as root; borrow the postgres account when it exists.
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError("running as root and no 'postgres' account for initdb") from exc
            shutil.chown(self.dir, "postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]

    def start(self) -> str:
        data = self.dir / "data"
        subprocess.run(
            [*self.run_as, "initdb", "-D", str(data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *self.run_as,
                "pg_ctl",
                "-D",
                str(data),
                "-o",
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                "-w",
                "-l",
                str(self.dir / "log"),
                "start",
            ],
            check=True,
            capture_output=True,
        )
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, "pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg

    url = make_url(server_url)
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or None,
        password=url.password or None,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str | None]:
    """A PostgreSQL server URL, or None (with the reason recorded) when there is none."""
    given = os.environ.get("FILTERBETS_TEST_POSTGRES_URL", "").strip()
    if given:
        yield given
        return
    if shutil.which("initdb") and shutil.which("pg_ctl"):
        cluster = _ThrowawayCluster()
        try:
            url = cluster.start()
        except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
            _PG_UNAVAILABLE["reason"] = f"could not start a throwaway PostgreSQL: {exc}"
            yield None
            return
        try:
            yield url
        finally:
            cluster.stop()
        return
    _PG_UNAVAILABLE["reason"] = "no FILTERBETS_TEST_POSTGRES_URL and no initdb/pg_ctl on PATH"
    yield None


@pytest.fixture(scope="session")
def postgres_database_url(postgres_server_url: str | None) -> Iterator[str | None]:
    """A fresh database on the server for this test session, dropped afterwards."""
    if postgres_server_url is None:
        yield None
        return
    name = f"filterbets_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(postgres_server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server_url).set(drivername="postgresql+asyncpg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def skip_or_fail_without_postgres(reason: str) -> None:
    if _require_postgres():
        pytest.fail(f"PostgreSQL is required (FILTERBETS_REQUIRE_POSTGRES=1): {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_database_url: str | None) -> str | None:
    if postgres_database_url is None:
        return None
    asyncio.run(upgrade(load_settings(postgres_database_url, "tester")))
    return postgres_database_url


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    asyncio.run(upgrade(load_settings(f"sqlite+aiosqlite:///{path}", "tester")))
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    migrated_sqlite_template: Path,
) -> Settings:
    """Settings for an empty, migrated database of the parametrized backend."""
    if backend == "sqlite":
        path = tmp_path / "filterbets.db"
        shutil.copyfile(migrated_sqlite_template, path)
        return load_settings(f"sqlite+aiosqlite:///{path}", "tester")
    url = request.getfixturevalue("migrated_postgres_url")
    if url is None:
        skip_or_fail_without_postgres(_PG_UNAVAILABLE.get("reason", "no PostgreSQL server"))
    return load_settings(url, "tester")


async def wipe_all_tables(service: FilterBetsService) -> None:
    """Empty every table (child tables first) so each test starts from nothing."""
    async with service.db.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(delete(table))


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[FilterBetsService]:
    """A service on an empty, migrated database; PostgreSQL's shared test DB is wiped first."""
    svc = await FilterBetsService.open(settings, migrate=False)
    if settings.backend == "postgresql":
        await wipe_all_tables(svc)
        await svc.close()
        svc = await FilterBetsService.open(settings, migrate=False)
    try:
        yield svc
    finally:
        await svc.close()
