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

Databases built once: `database_templates.copy(backend, key, build, tmp_path)` builds a
database once per session and backend and gives each test a copy of its own; the corpus
fixtures (`corpus_settings`, `corpus_service`, `corpus_import`) are built on it.

Workers: the whole suite runs on a pytest-xdist worker per core (`pytest_xdist_auto_num_workers`
below); tests of a data set costly to build (`_WORKER_GROUPS`) share one worker, so it is
built once. Each worker has its own databases (the names carry a random suffix).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from core.config import Settings, load_settings
from core.importing.service import ImportSummary, expand_paths, import_paths
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


def _finer_idle_waits() -> None:
    """Textual's Pilot waits for the app to go idle (twice per key pressed, once per
    pause) by sleeping in 20 ms slices until one passes with under 5% of it on the CPU:
    most of a dashboard test's time was spent asleep there. Slices of 5 ms with the same
    5% rule see the same idle moments sooner."""
    import textual._wait

    textual._wait.SLEEP_GRANULARITY = 1 / 200
    textual._wait.SLEEP_IDLE = textual._wait.SLEEP_GRANULARITY / 20


_finer_idle_waits()

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


# --- processes: workers and children -----------------------------------------------------

_BYTECODE_ENV: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Where bytecode caching is off (PYTHONDONTWRITEBYTECODE), every Python process of a
    session (the xdist workers, CLI runs, job workers, the app's job child, the wheel's venv)
    would compile SQLAlchemy, Textual and the app from source again: seconds of CPU each.
    They share one cache instead, private to the user, outside the checkout, kept between
    sessions. Set before xdist starts its workers, so they inherit it."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    prefix = Path(tempfile.gettempdir()) / f"filterbets-test-pycache-{os.geteuid()}"
    try:
        prefix.mkdir(mode=0o700, exist_ok=True)
        if prefix.stat().st_uid != os.geteuid():
            return  # someone else's folder: compile as before
    except OSError:
        return
    _BYTECODE_ENV["PYTHONDONTWRITEBYTECODE"] = os.environ.pop("PYTHONDONTWRITEBYTECODE")
    os.environ["PYTHONPYCACHEPREFIX"] = str(prefix)
    # This process too, for what it imports from now on (the test modules, Textual).
    sys.pycache_prefix, sys.dont_write_bytecode = str(prefix), False


def pytest_unconfigure(config: pytest.Config) -> None:
    if _BYTECODE_ENV:
        os.environ.pop("PYTHONPYCACHEPREFIX", None)
        os.environ.update(_BYTECODE_ENV)
        _BYTECODE_ENV.clear()
        sys.pycache_prefix, sys.dont_write_bytecode = None, True


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (in the default options): a worker per core for the whole suite; none
    (everything in this process, as plain pytest) when tests are named on the command line,
    where starting workers would cost more than it saves. `-n N` still asks for N."""
    given = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if given:
        return int(given)
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        return 0
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Session fixtures too costly to build once per xdist worker: the tests using them run on one
# worker (xdist_group under --dist loadgroup; no effect on a plain run).
_WORKER_GROUPS = {"big_settings": "big-data", "corpus_settings": "corpus"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, group in _WORKER_GROUPS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
                break


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


# --- databases built once per session -----------------------------------------------------

BuildStep = Callable[[FilterBetsService], Awaitable[Any]]


class DatabaseTemplates:
    """Databases built once per session and backend, each test getting its own copy.

    `copy(backend, key, build, tmp_path)` runs `build(service)` once per backend on a fresh,
    migrated database (the first time `key` is asked for), keeps what it returns in
    `built[(backend, key)]`, and hands every caller a database of its own with that content:
    on SQLite a copy of the file, on PostgreSQL a database created from the built one as a
    TEMPLATE (a file-level copy, dropped after the test). A fixture wraps it per data set; see
    `corpus_settings`.
    """

    def __init__(self, folder: Path, server_url: str | None) -> None:
        self._folder = folder
        self._server = server_url
        self._templates: dict[tuple[str, str], str] = {}  # SQLite path or PostgreSQL name
        self._created: list[str] = []  # PostgreSQL databases to drop at the end
        self.built: dict[tuple[str, str], Any] = {}

    def _build(self, settings: Settings, build: BuildStep) -> Any:
        async def run() -> Any:
            await upgrade(settings)
            service = await FilterBetsService.open(settings, migrate=False)
            try:
                return await build(service)
            finally:
                await service.close()  # no connection may stay open on a TEMPLATE

        return asyncio.run(run())

    def _template(self, backend: str, key: str, build: BuildStep) -> str:
        if (backend, key) in self._templates:
            return self._templates[(backend, key)]
        if backend == "sqlite":
            made = str(self._folder / f"{key}.db")
            self.built[(backend, key)] = self._build(self._sqlite(made), build)
        else:
            assert self._server is not None
            made = f"filterbets_template_{key}_{uuid.uuid4().hex[:8]}"
            asyncio.run(_admin(self._server, f'CREATE DATABASE "{made}"'))
            self._created.append(made)
            self.built[(backend, key)] = self._build(self._postgres(made), build)
        self._templates[(backend, key)] = made
        return made

    @staticmethod
    def _sqlite(path: str | Path) -> Settings:
        return load_settings(f"sqlite+aiosqlite:///{path}", "tester")

    def _postgres(self, name: str) -> Settings:
        assert self._server is not None
        url = make_url(self._server).set(drivername="postgresql+asyncpg", database=name)
        return load_settings(url.render_as_string(hide_password=False), "tester")

    @contextlib.contextmanager
    def copy(self, backend: str, key: str, build: BuildStep, tmp_path: Path) -> Iterator[Settings]:
        if not key.replace("_", "").isalnum() or not key.islower():
            raise ValueError(f"template key {key!r}: lower-case letters, digits and _ only")
        if backend == "sqlite":
            path = tmp_path / f"{key}.db"
            shutil.copyfile(self._template(backend, key, build), path)
            yield self._sqlite(path)
            return
        if self._server is None:
            skip_or_fail_without_postgres(_PG_UNAVAILABLE.get("reason", "no PostgreSQL server"))
        template = self._template(backend, key, build)
        name = f"filterbets_test_{key}_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(self._server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        try:
            yield self._postgres(name)
        finally:
            asyncio.run(_admin(self._server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def drop(self) -> None:
        for name in self._created:
            assert self._server is not None
            asyncio.run(_admin(self._server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_templates(
    tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str | None
) -> Iterator[DatabaseTemplates]:
    templates = DatabaseTemplates(tmp_path_factory.mktemp("templates"), postgres_server_url)
    try:
        yield templates
    finally:
        templates.drop()


# --- the whole corpus, imported once per session and backend ---------------------------------


async def _import_corpus(service: FilterBetsService) -> ImportSummary:
    return await import_paths(service.db, expand_paths([shared_data("football")]))


@pytest.fixture
def corpus_settings(
    backend: str, corpus_dir: Path, database_templates: DatabaseTemplates, tmp_path: Path
) -> Iterator[Settings]:
    """A database of this test's own holding the whole corpus (103 files, 37,899 matches),
    imported once per session and backend (skips where the shared folder is absent)."""
    with database_templates.copy(backend, "corpus", _import_corpus, tmp_path) as settings:
        yield settings


@pytest.fixture
async def corpus_service(corpus_settings: Settings) -> AsyncIterator[FilterBetsService]:
    svc = await FilterBetsService.open(corpus_settings, migrate=False)
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
def corpus_import(
    backend: str, corpus_settings: Settings, database_templates: DatabaseTemplates
) -> ImportSummary:
    """What importing the whole corpus into an empty database reported (once per session)."""
    summary: ImportSummary = database_templates.built[(backend, "corpus")]
    return summary
