"""The job queue's state machine on SQLite and PostgreSQL: submit, claim, fence, cancel,
retry, reap."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from core.backtest.request import BacktestRequest, RequestError
from core.errors import RuleError
from core.filters import FilterError, FilterStore
from core.jobs.cli import STATUS_CHOICES
from core.jobs.queue import (
    CANCELLED,
    INTERRUPTED,
    QUEUED,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    JobError,
    JobLost,
    JobQueue,
)
from core.models import BacktestJob
from core.services import FilterBetsService
from tests.jobs_support import AWAY_2_TO_3, small_request


async def _age_heartbeat(service: FilterBetsService, job_id: uuid.UUID, seconds: float) -> None:
    async with service.db.session() as session:
        await session.execute(
            update(BacktestJob)
            .where(BacktestJob.job_id == job_id)
            .values(heartbeat_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds))
        )


def test_cli_status_choices_are_the_queue_statuses() -> None:
    assert STATUS_CHOICES == STATUSES


async def test_submit_snapshots_the_saved_filter(service: FilterBetsService) -> None:
    store = FilterStore(service.db, service.user_id)
    saved = await store.create("away band", AWAY_2_TO_3, stake="2.50")
    queue = JobQueue(service.db)
    info = await queue.submit(
        service.user_id, BacktestRequest(market="away", filter_ref="away band")
    )
    await store.update(saved.id, rules={"field": "odds.pinnacle.away", "op": ">", "value": 9})

    shown = await queue.get(info.job_id)
    assert shown.status == QUEUED and shown.progress == 0.0 and shown.attempt == 0
    assert shown.filter_id == saved.id and shown.filter_name == "away band"
    assert shown.request["rules"] == AWAY_2_TO_3
    assert shown.request["filter"] is None
    assert shown.request["filter_snapshot"] == {
        "id": saved.id,
        "name": "away band",
        "stake": "2.50",
    }
    assert shown.created_at.tzinfo is not None


async def test_submit_refuses_requests_that_could_never_run(service: FilterBetsService) -> None:
    queue = JobQueue(service.db)
    with pytest.raises(FilterError, match="no filter named 'nope'"):
        await queue.submit(service.user_id, BacktestRequest(market="away", filter_ref="nope"))
    with pytest.raises(RuleError):
        await queue.submit(
            service.user_id,
            BacktestRequest(market="away", rules={"field": "no.such.field", "op": ">", "value": 1}),
        )
    with pytest.raises(RequestError, match="market"):
        await queue.submit(service.user_id, small_request(market="moon"))
    assert await queue.list() == []


async def test_claims_are_fifo_and_each_job_is_claimed_once(service: FilterBetsService) -> None:
    queue = JobQueue(service.db)
    submitted = [await queue.submit(service.user_id, small_request()) for _ in range(6)]
    # Twelve claimers race for six jobs.
    claims = await asyncio.gather(*(queue.claim(f"w{i}") for i in range(12)))
    taken = [claim for claim in claims if claim is not None]
    assert sorted(c.job_id for c in taken) == sorted(s.job_id for s in submitted)
    assert all(c.attempt == 1 for c in taken)
    assert await queue.claim("late") is None
    jobs = await queue.list(status=RUNNING)
    assert len(jobs) == 6 and all(j.started_at and j.heartbeat_at for j in jobs)

    first = await queue.submit(service.user_id, small_request())
    second = await queue.submit(service.user_id, small_request())
    claim = await queue.claim("w")
    assert claim is not None and claim.job_id == first.job_id
    assert second.job_id != first.job_id


async def test_claim_can_be_limited_to_one_user(service: FilterBetsService) -> None:
    queue = JobQueue(service.db)
    await queue.submit(service.user_id, small_request())
    assert await queue.claim("w", user_id=service.user_id + 1000) is None
    assert await queue.claim("w", user_id=service.user_id) is not None


async def test_heartbeat_reports_cancel_and_lost_claims(service: FilterBetsService) -> None:
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    claim = await queue.claim("w")
    assert claim is not None
    assert await queue.heartbeat(claim, 0.4, "settling") is False
    shown = await queue.get(info.job_id)
    assert (shown.progress, shown.message) == (0.4, "settling")

    cancelled = await queue.cancel(info.job_id)
    assert cancelled.status == RUNNING and cancelled.cancel_requested
    assert await queue.heartbeat(claim, 0.5, "x") is True
    assert await queue.finish(claim, CANCELLED, message="cancelled")
    assert (await queue.get(info.job_id)).status == CANCELLED
    assert await queue.heartbeat(claim, 0.6, "x") is None  # the claim is over


async def test_success_is_fenced_on_the_claim(service: FilterBetsService) -> None:
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    stale = await queue.claim("w1")
    assert stale is not None
    await _age_heartbeat(service, info.job_id, 60)
    reaped = await queue.reap_stale(30)
    assert [job.job_id for job in reaped] == [info.job_id]
    assert reaped[0].status == INTERRUPTED and "no heartbeat for 30 s" in (reaped[0].error or "")

    await queue.retry(info.job_id)
    fresh = await queue.claim("w2")
    assert fresh is not None and fresh.attempt == 2

    # The presumed-dead runner wakes up: none of its writes land.
    assert await queue.heartbeat(stale, 0.9, "late") is None
    assert not await queue.finish(stale, "failed", message="failed", error="late")
    assert not await queue.release(stale, "late")
    with pytest.raises(JobLost):
        async with service.db.session() as session:
            await queue.mark_succeeded_in(session, stale, result_id=1)

    async with service.db.session() as session:
        await queue.mark_succeeded_in(session, fresh, result_id=None)
    done = await queue.get(info.job_id)
    assert done.status == SUCCEEDED and done.worker == "w2" and done.progress == 1.0


async def test_a_pending_cancel_blocks_success(service: FilterBetsService) -> None:
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    claim = await queue.claim("w")
    assert claim is not None
    await queue.cancel(info.job_id)
    with pytest.raises(JobLost):
        async with service.db.session() as session:
            await queue.mark_succeeded_in(session, claim, result_id=1)
    assert (await queue.get(info.job_id)).status == RUNNING


async def test_cancel_a_queued_job_and_refuse_finished_ones(service: FilterBetsService) -> None:
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    cancelled = await queue.cancel(info.short_id)
    assert cancelled.status == CANCELLED and cancelled.finished_at is not None
    assert await queue.claim("w") is None

    other = await queue.submit(service.user_id, small_request())
    claim = await queue.claim("w")
    assert claim is not None
    async with service.db.session() as session:
        await queue.mark_succeeded_in(session, claim, result_id=None)
    with pytest.raises(JobError, match="already succeeded"):
        await queue.cancel(other.job_id)
    with pytest.raises(JobError, match="only failed, cancelled or interrupted"):
        await queue.retry(other.job_id)


async def test_retry_requeues_the_same_job(service: FilterBetsService) -> None:
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    claim = await queue.claim("w")
    assert claim is not None
    await queue.finish(claim, "failed", message="failed", error="boom", error_details="trace")
    failed = await queue.get(info.job_id)
    assert (failed.status, failed.error, failed.error_details) == ("failed", "boom", "trace")

    again = await queue.retry(str(info.job_id))
    assert again.status == QUEUED and again.error is None and again.started_at is None
    assert again.attempt == 1  # attempts count claims
    claim = await queue.claim("w")
    assert claim is not None and claim.attempt == 2 and claim.job_id == info.job_id


async def test_release_requeues_or_honours_a_cancel(service: FilterBetsService) -> None:
    queue = JobQueue(service.db)
    first = await queue.submit(service.user_id, small_request())
    second = await queue.submit(service.user_id, small_request())
    claim_one = await queue.claim("w")
    claim_two = await queue.claim("w")
    assert claim_one is not None and claim_two is not None
    await queue.cancel(second.job_id)
    assert await queue.release(claim_one, "worker stopping")
    assert await queue.release(claim_two, "worker stopping")
    one, two = await queue.get(first.job_id), await queue.get(second.job_id)
    assert (one.status, one.message, one.worker) == (QUEUED, "worker stopping", None)
    assert two.status == CANCELLED


async def test_reap_leaves_fresh_jobs_and_cancels_abandoned_cancels(
    service: FilterBetsService,
) -> None:
    queue = JobQueue(service.db)
    fresh = await queue.submit(service.user_id, small_request())
    dead = await queue.submit(service.user_id, small_request())
    await queue.claim("w")
    await queue.claim("w")
    await queue.cancel(dead.job_id)
    await _age_heartbeat(service, dead.job_id, 45)
    reaped = await queue.reap_stale(30)
    assert [(job.job_id, job.status) for job in reaped] == [(dead.job_id, CANCELLED)]
    assert (await queue.get(fresh.job_id)).status == RUNNING
    assert await queue.reap_stale(30) == []


async def test_job_ids_resolve_by_prefix_and_per_user(service: FilterBetsService) -> None:
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    assert (await queue.get(info.job_id.hex[:4])).job_id == info.job_id
    assert (await queue.get(str(info.job_id)[:13])).job_id == info.job_id
    assert (await queue.get(str(info.job_id).upper())).job_id == info.job_id
    with pytest.raises(JobError, match="no job"):
        await queue.get(info.job_id, user_id=service.user_id + 1)
    with pytest.raises(JobError, match="not a job id"):
        await queue.get("xyz")
    with pytest.raises(JobError, match="no job"):
        await queue.get(str(uuid.uuid4()))


async def test_list_filters_by_status_newest_first(service: FilterBetsService) -> None:
    queue = JobQueue(service.db)
    first = await queue.submit(service.user_id, small_request())
    second = await queue.submit(service.user_id, small_request(stake=Decimal("2")))
    await queue.cancel(first.job_id)
    assert [j.job_id for j in await queue.list()] == [second.job_id, first.job_id]
    assert [j.job_id for j in await queue.list(status="cancelled")] == [first.job_id]
    assert (await queue.counts())["queued"] == 1
    with pytest.raises(JobError, match="unknown status"):
        await queue.list(status="done")


async def test_job_rows_keep_timestamps_in_utc(service: FilterBetsService) -> None:
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    await queue.claim("w")
    async with service.db.session() as session:
        row = (
            await session.execute(select(BacktestJob).where(BacktestJob.job_id == info.job_id))
        ).scalar_one()
    now = dt.datetime.now(dt.UTC)
    assert row.started_at is not None and row.started_at.tzinfo is not None
    assert abs((row.started_at - now).total_seconds()) < 60
