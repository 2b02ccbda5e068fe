"""Shared helpers for the job tests: data sets, requests, polling with deadlines, workers.

`big_settings` is a database of synthetic fixtures (built once per session and backend). A
backtest over all of them must run long enough to watch its progress, cancel it, or kill the
process running it, on a machine of any speed; so while a test uses it, the engine is paced
(tests/pacing: 30 µs more per candidate while settling, ~1.8 s), in this process and in every
worker or job child the test starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url

from core.backtest.request import BacktestRequest
from core.config import Settings, load_settings
from core.db import Database
from core.models import BacktestBet, BacktestJob, BacktestResult, Filter
from core.services import FilterBetsService
from tests.conftest import _PG_UNAVAILABLE, REPO_ROOT, _admin, skip_or_fail_without_postgres
from tests.factories import add_fixtures
from tests.pacing.pace import DEFAULT_PACE_US, HOLD_ENV, PACE_ENV, PACING_DIR, paced_steps

BIG_FIXTURES = {"sqlite": 60_000, "postgresql": 60_000}
# Every fixture with a Pinnacle home price: the whole big data set is settled and stored.
ALL_HOMES = {"field": "odds.pinnacle.home", "op": "between", "value": [1.0, 1000.0]}
AWAY_2_TO_3 = {"field": "odds.pinnacle.away", "op": "between", "value": [2.0, 3.0]}

T = TypeVar("T")


def big_request(**kwargs: Any) -> BacktestRequest:
    return BacktestRequest(**({"market": "home", "rules": ALL_HOMES} | kwargs))


def small_request(**kwargs: Any) -> BacktestRequest:
    return BacktestRequest(**({"market": "away", "rules": AWAY_2_TO_3} | kwargs))


def _match(date: str, home: str, away: str, goals: tuple[int, int], away_odds: float) -> Any:
    return {
        "league": "E0",
        "season": "2019-20",
        "date": date,
        "home": home,
        "away": away,
        "goals": goals,
        "odds": {"pinnacle_away": away_odds, "pinnacle_home": 1.9},
    }


async def seed_small(service: FilterBetsService) -> None:
    """Three bets for AWAY_2_TO_3 (two wins, one loss), one fixture outside the band."""
    await add_fixtures(
        service,
        [
            _match("2019-08-10", "Arsenal", "Burnley", (0, 1), 2.5),
            _match("2019-08-11", "Chelsea", "Everton", (2, 0), 2.0),
            _match("2019-08-13", "Wolves", "Spurs", (1, 3), 3.0),
            _match("2019-08-14", "Leicester", "Newcastle", (0, 2), 4.0),
        ],
    )


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    within: float = 30.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll `probe` until `accept` holds; fail with the last value after `timeout` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}; last: {value}")
        await asyncio.sleep(interval)


async def table_counts(db: Database) -> dict[str, int]:
    async with db.session() as session:
        results = (await session.execute(select(func.count(BacktestResult.id)))).scalar_one()
        bets = (await session.execute(select(func.count()).select_from(BacktestBet))).scalar_one()
        jobs = (await session.execute(select(func.count(BacktestJob.id)))).scalar_one()
    return {"results": int(results), "bets": int(bets), "jobs": int(jobs)}


async def assert_results_match_jobs(db: Database) -> None:
    """Every result belongs to exactly one succeeded job, and its ledger is complete."""
    async with db.session() as session:
        results = {
            row.id: row.bets
            for row in (await session.execute(select(BacktestResult.id, BacktestResult.bets))).all()
        }
        linked = [
            row.result_id
            for row in (
                await session.execute(
                    select(BacktestJob.result_id).where(BacktestJob.result_id.is_not(None))
                )
            ).all()
        ]
        ledger = dict(
            (
                await session.execute(
                    select(BacktestBet.result_id, func.count()).group_by(BacktestBet.result_id)
                )
            ).all()
        )
    assert sorted(linked) == sorted(results), "results without a job, or jobs sharing one"
    for result_id, bets in results.items():
        assert ledger.get(result_id, 0) == bets, f"result {result_id}: partial ledger"
    assert set(ledger) <= set(results), "ledger rows without a result"


# -- the big data set ---------------------------------------------------------------------


# Each test module that names these fixtures (big_settings = jobs_support.big_settings) gets
# fixture definitions of its own, and pytest would build a session fixture once per module:
# the data set is kept here instead, built once per backend per session (per xdist worker).
_BIG_BUILT: dict[str, Any] = {}


@pytest.fixture(scope="session")
def big_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "sqlite" not in _BIG_BUILT:
        from bench.synthetic import build

        path = tmp_path_factory.mktemp("jobs-big") / "big.db"
        settings = load_settings(f"sqlite+aiosqlite:///{path}", "tester")
        asyncio.run(build(settings, BIG_FIXTURES["sqlite"]))
        _BIG_BUILT["sqlite"] = path
    built: Path = _BIG_BUILT["sqlite"]
    return built


@pytest.fixture(scope="session")
def big_postgres_url(postgres_server_url: str | None) -> Iterator[str | None]:
    if postgres_server_url is None or "postgresql" in _BIG_BUILT:
        yield _BIG_BUILT.get("postgresql")
        return
    from bench.synthetic import build

    name = f"filterbets_jobs_big_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(postgres_server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server_url).set(drivername="postgresql+asyncpg", database=name)
    text = url.render_as_string(hide_password=False)
    try:
        asyncio.run(build(load_settings(text, "tester"), BIG_FIXTURES["postgresql"]))
        _BIG_BUILT["postgresql"] = text
        yield text
    finally:  # at the end of the session, after every module's tests
        _BIG_BUILT.pop("postgresql", None)
        asyncio.run(_admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def wipe_job_tables(settings: Settings) -> None:
    """Empty the job, result, ledger and filter tables (the fixtures stay)."""
    database = Database(settings)
    try:
        async with database.session() as session:
            for model in (BacktestJob, BacktestBet, BacktestResult, Filter):
                await session.execute(delete(model))
    finally:
        await database.dispose()


def pace_jobs(monkeypatch: pytest.MonkeyPatch, microseconds: float = DEFAULT_PACE_US) -> None:
    """Pace the engine here and in the processes this test starts (they inherit the env)."""
    import core.backtest.engine as engine

    for name, step in paced_steps(microseconds).items():
        monkeypatch.setattr(engine, name, step)
    monkeypatch.setenv(PACE_ENV, str(microseconds))
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(PACING_DIR), path) if p))


class JobHold:
    """Holds paced jobs (see pace_jobs) in their settling step while `held()` lasts, here and
    in the processes the test starts, so a job seen running is still running when the test
    acts on it, however slow the machine. Make it before starting those processes (they
    read where the switch is from their environment); the switch is a file."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
        self.path = folder / "jobs-held"
        monkeypatch.setenv(HOLD_ENV, str(self.path))

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.path.touch()
        try:
            yield
        finally:
            self.path.unlink(missing_ok=True)


@pytest.fixture
def big_settings(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The big data set with no jobs, results or filters (a copy, on SQLite); jobs paced."""
    pace_jobs(monkeypatch)
    if backend == "sqlite":
        template: Path = request.getfixturevalue("big_sqlite_template")
        path = tmp_path / "big.db"
        shutil.copyfile(template, path)
        return load_settings(f"sqlite+aiosqlite:///{path}", "tester")
    url = request.getfixturevalue("big_postgres_url")
    if url is None:
        skip_or_fail_without_postgres(_PG_UNAVAILABLE.get("reason", "no PostgreSQL server"))
    settings = load_settings(url, "tester")
    asyncio.run(wipe_job_tables(settings))
    return settings


@pytest.fixture
async def big_service(big_settings: Settings) -> AsyncIterator[FilterBetsService]:
    service = await FilterBetsService.open(big_settings, migrate=False)
    try:
        yield service
    finally:
        await service.close()


# -- worker processes ---------------------------------------------------------------------


def sync_url(settings: Settings) -> str:
    """The URL as text, password included, for a child process's --database-url."""
    return settings.database_url.render_as_string(hide_password=False)


class WorkerProcess:
    """`filterbets worker` in a child process, its log in a file."""

    def __init__(self, settings: Settings, log_dir: Path, *args: str) -> None:
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        self._log = self.log_path.open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FILTERBETS_")}
        env["FILTERBETS_USER"] = "worker"
        for name in (PACE_ENV, HOLD_ENV):
            if name in os.environ:
                env[name] = os.environ[name]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "core.cli",
                "--database-url",
                sync_url(settings),
                "worker",
                *args,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes; every one still running is stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(settings: Settings, *args: str) -> WorkerProcess:
        worker = WorkerProcess(settings, tmp_path, *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
