"""`filterbets jobs ...` end to end, with a real `filterbets worker` process, on both backends."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable

import pytest

from core.cli import main
from core.config import Settings
from core.filters import FilterStore
from core.jobs.queue import JobQueue
from core.services import FilterBetsService
from tests import jobs_support
from tests.conftest import wipe_all_tables
from tests.jobs_support import AWAY_2_TO_3, WorkerProcess, seed_small, sync_url

workers = jobs_support.workers


class Cli:
    def __init__(self, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = sync_url(settings)
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            code = main(["--database-url", self.url, "--user", "tester", *args])
        except SystemExit as exited:
            code = int(exited.code or 0)
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    # core.cli._say binds sys.stderr at import; send it to the stderr capsys sees.
    import core.cli

    monkeypatch.setattr(
        core.cli, "_say", lambda message, stream=None: print(message, file=sys.stderr)
    )

    async def seed() -> None:
        service = await FilterBetsService.open(settings, migrate=False)
        if settings.backend == "postgresql":  # the shared test database: start from nothing
            await wipe_all_tables(service)
            await service.close()
            service = await FilterBetsService.open(settings, migrate=False)
        try:
            await seed_small(service)
            await FilterStore(service.db, service.user_id).create("away band", AWAY_2_TO_3)
        finally:
            await service.close()

    asyncio.run(seed())
    return Cli(settings, capsys)


def test_jobs_end_to_end(
    cli: Cli, settings: Settings, workers: Callable[..., WorkerProcess]
) -> None:
    code, out, err = cli("jobs", "submit", "away band", "--market", "away")
    assert code == 0, err
    job_id = uuid.UUID(out.strip())
    assert "queued job" in err and "'away band' on away" in err

    code, out, _ = cli("jobs", "list", "--json")
    listed = json.loads(out)
    assert [(j["job_id"], j["status"]) for j in listed] == [(str(job_id), "queued")]

    code, out, _ = cli("jobs", "wait", str(job_id), "--timeout", "0.3")
    assert code == 3 and "still queued" in out

    # Cancel a queued job, then retry it.
    code, out, _ = cli("jobs", "submit", "--rules", json.dumps(AWAY_2_TO_3), "--market", "away")
    second = out.strip()
    code, out, _ = cli("jobs", "cancel", second[:8])
    assert code == 0 and "cancelled job" in out
    code, out, _ = cli("jobs", "wait", second)
    assert code == 1 and "cancelled" in out
    code, out, _ = cli("jobs", "retry", second)
    assert code == 0 and "queued job" in out

    workers(settings, "--concurrency", "2")
    code, out, err = cli("jobs", "wait", str(job_id), "--timeout", "60")
    assert code == 0, out + err
    assert "succeeded" in out and "3 bets" in out
    code, out, _ = cli("jobs", "wait", second, "--timeout", "60")
    assert code == 0, out

    code, out, _ = cli("jobs", "show", str(job_id), "--json")
    shown = json.loads(out)
    assert shown["status"] == "succeeded" and shown["bets"] == 3 and shown["progress"] == 1.0
    assert shown["filter_name"] == "away band" and shown["attempt"] == 1
    assert shown["result_id"] is not None and shown["queue_seconds"] is not None

    code, out, _ = cli("jobs", "show", str(job_id)[:6])
    assert code == 0 and "status     succeeded" in out and "3 bets" in out

    code, out, err = cli("jobs", "cancel", str(job_id))
    assert code == 1 and "already succeeded" in err and "Traceback" not in err

    code, out, _ = cli("jobs", "list", "--status", "succeeded")
    assert code == 0 and len(out.strip().splitlines()) == 2


def test_failed_jobs_exit_1_with_their_error(
    cli: Cli, settings: Settings, workers: Callable[..., WorkerProcess]
) -> None:
    async def submit_bad() -> uuid.UUID:
        service = await FilterBetsService.open(settings, migrate=False)
        try:
            queue = JobQueue(service.db)
            info = await queue.submit_raw(service.user_id, {"market": "away", "filter": "gone"})
            return info.job_id
        finally:
            await service.close()

    bad = asyncio.run(submit_bad())
    workers(settings, "--concurrency", "1")
    code, out, _ = cli("jobs", "wait", str(bad), "--timeout", "60")
    assert code == 1 and "failed: no filter named 'gone'" in out
    code, out, _ = cli("jobs", "show", str(bad))
    assert "error      no filter named 'gone'" in out


def test_jobs_commands_report_mistakes_in_one_line(cli: Cli) -> None:
    code, _, err = cli("jobs", "submit", "nope", "--market", "away")
    assert code == 2 and "no filter named 'nope'" in err and "Traceback" not in err
    code, _, err = cli("jobs", "submit", "--rules", '{"field": "x"}', "--market", "away")
    assert code == 2 and "Traceback" not in err
    code, _, err = cli("jobs", "show", "0000")
    assert code == 1 and "no job '0000'" in err
    code, _, err = cli("jobs", "show", "zz")
    assert code == 1 and "not a job id" in err
    code, _, err = cli("jobs", "list", "--status", "done")
    assert code == 2 and "invalid choice" in err
    code, _, err = cli("jobs", "wait", "0000", "--timeout", "-1")
    assert code == 2
    code, _, err = cli("worker", "--concurrency", "0")
    assert code == 2 and "at least 1" in err
    code, out, _ = cli("jobs", "list")
    assert code == 0 and out.strip() == "no jobs"
