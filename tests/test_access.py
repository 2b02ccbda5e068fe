"""Who may act: a role made by `filterbets db grant` runs and reads its own work and no one
else's, and PostgreSQL enforces it (row-level security), whatever the client asks for."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

import core.cli
from core.access import AccessError
from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.backtest.sweeps import SweepEngine, SweepRequest
from core.config import Settings, load_settings
from core.filters import FilterStore
from core.jobs.queue import SUCCEEDED, JobError, JobQueue
from core.jobs.runner import JobRunner
from core.services import FilterBetsService
from tests.conftest import _admin, skip_or_fail_without_postgres
from tests.jobs_support import AWAY_2_TO_3, eventually, seed_small, small_request


class Cluster:
    """A fresh database on the test server, its admin (superuser) URL, and roles to drop."""

    def __init__(self, server: str, name: str) -> None:
        self.server = server
        self.url = make_url(server).set(drivername="postgresql+asyncpg", database=name)
        self.name = name
        self.roles = [f"fb_{who}_{uuid.uuid4().hex[:6]}" for who in ("alice", "bob")]

    def as_role(self, role: str) -> Settings:
        url = self.url.set(username=role, password=None)
        return load_settings(url.render_as_string(hide_password=False))

    @property
    def admin(self) -> Settings:
        return load_settings(self.url.render_as_string(hide_password=False), "admin")


@pytest.fixture
async def cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    server = request.getfixturevalue("postgres_server_url")
    if server is None:
        skip_or_fail_without_postgres("row-level security needs PostgreSQL")
    name = f"filterbets_access_{uuid.uuid4().hex[:10]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    made = Cluster(server, name)
    try:
        yield made
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for role in made.roles:  # roles belong to the cluster, not the database
            await _admin(server, f'DROP ROLE IF EXISTS "{role}"')


async def _cli(settings: Settings, *args: str) -> int:
    url = settings.database_url.render_as_string(hide_password=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core.cli, "_say", lambda m, stream=None: print(m, file=sys.stderr))
        return await asyncio.to_thread(core.cli.main, ["--database-url", url, *args])


async def _scalar(service: FilterBetsService, sql: str) -> Any:
    async with service.db.session() as session:
        return (await session.execute(text(sql))).scalar()


async def test_a_granted_role_runs_its_own_work_and_cannot_read_or_cancel_anothers(
    cluster: Cluster, capfd: pytest.CaptureFixture[str]
) -> None:
    alice, bob = cluster.roles
    admin = await FilterBetsService.open(cluster.admin)
    try:
        await seed_small(admin)
    finally:
        await admin.close()
    for role in (alice, bob):
        assert await _cli(cluster.admin, "db", "grant", role, "--no-password") == 0
    out = capfd.readouterr().out
    assert f"created role '{alice}'" in out and f"only the work of user '{alice}'" in out

    # Alice saves a filter, runs it on both paths (columnar flat, row-path Kelly) and queues
    # a job; the login name of whoever runs the test does not matter: she acts as herself.
    as_alice = await FilterBetsService.open(cluster.as_role(alice))
    as_bob = await FilterBetsService.open(cluster.as_role(bob))
    try:
        assert as_alice.settings.user_name == alice
        await FilterStore(as_alice.db, as_alice.user_id).create("away band", AWAY_2_TO_3)
        engine = BacktestEngine(as_alice.db, as_alice.user_id)
        flat = await engine.run(small_request(filter_ref="away band", rules=None))
        kelly = await engine.run(small_request(staking="kelly", odds_source="b365"))
        assert flat.metrics["bets"] == 3 and kelly.result_id > flat.result_id
        # A sweep stores its variants, and a saved filter's backtest counts a trial: both
        # tables of hers (they were read-only to a granted role).
        template = {"field": "odds.pinnacle.away", "op": "between", "value": [{"param": "lo"}, 3]}
        sweep = SweepRequest(BacktestRequest(market="away", rules=template), {"lo": [2.0, 2.5]})
        await SweepEngine(as_alice.db, as_alice.user_id).run(sweep)
        job = await JobQueue(as_alice.db).submit(as_alice.user_id, small_request())

        # Bob sees none of it, through the app or in plain SQL, even asking as no one.
        bob_queue = JobQueue(as_bob.db)
        assert await bob_queue.list(user_id=None) == []
        for attempt in (bob_queue.get, bob_queue.cancel):
            with pytest.raises(JobError, match="no job"):
                await attempt(str(job.job_id), user_id=None)
        assert await bob_queue.claim("bob's worker") is None
        for table in (
            "filters",
            "backtest_results",
            "backtest_bets",
            "backtest_jobs",
            "sweep_variants",
            "filter_trials",
        ):
            assert await _scalar(as_bob, f"SELECT count(*) FROM {table}") == 0, table
        assert await _scalar(as_alice, "SELECT count(*) FROM sweep_variants") == 2
        assert await _scalar(as_alice, "SELECT count(*) FROM filter_trials") == 1
        assert await _scalar(as_bob, "SELECT count(*) FROM users") == 1  # his own row
        async with as_bob.db.session() as session:
            touched = await session.execute(
                text("UPDATE backtest_jobs SET cancel_requested = true")
            )
            assert touched.rowcount == 0
        assert await _scalar(as_bob, "SELECT count(*) FROM fixtures") == 4  # shared data

        # Alice's own worker runs her job; her ledgers are hers to read.
        runner = JobRunner(as_alice.db, concurrency=1, poll_interval=0.05)
        await runner.start()
        try:
            done = await eventually(
                lambda: JobQueue(as_alice.db).get(job.job_id),
                lambda info: info.is_finished,
                within=60,
                what="alice's job",
            )
        finally:
            await runner.stop()
        assert (done.status, done.cancel_requested) == (SUCCEEDED, False), done.error
        assert await _scalar(as_alice, "SELECT count(*) FROM backtest_results") == 4
        assert await _scalar(as_alice, "SELECT count(*) FROM backtest_bets") > 0
    finally:
        await as_alice.close()
        await as_bob.close()


async def test_a_granted_role_cannot_act_as_another_user(cluster: Cluster) -> None:
    """`--user alice` was accepted from anyone; a granted role acts only as itself."""
    alice, bob = cluster.roles
    for role in (alice, bob):
        assert await _cli(cluster.admin, "db", "grant", role, "--no-password") == 0
    url = cluster.as_role(bob).database_url
    posing = load_settings(url.render_as_string(hide_password=False), alice)
    with pytest.raises(AccessError, match=f"connected as database role '{bob}'"):
        await FilterBetsService.open(posing)
    assert await _cli(posing, "--user", alice, "jobs", "list") == 2


async def test_grant_refuses_roles_row_security_would_not_hold(
    cluster: Cluster, capfd: pytest.CaptureFixture[str]
) -> None:
    assert await _cli(cluster.admin, "db", "grant", "postgres", "--no-password") == 2
    assert "is a superuser, bypasses row security or owns the tables" in capfd.readouterr().err
    assert await _cli(cluster.admin, "db", "grant", cluster.roles[0]) == 2  # no password given
    assert "--password-stdin or --no-password" in capfd.readouterr().err


def test_grant_on_sqlite_says_why_not(tmp_path: Any, capfd: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'mine.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core.cli, "_say", lambda m, stream=None: print(m, file=sys.stderr))
        assert core.cli.main(["--database-url", url, "db", "grant", "alice"]) == 2
    assert "only PostgreSQL has roles; a SQLite file is its owner's alone" in capfd.readouterr().err
