"""The persistent job queue: one table shared by the dashboard and any number of workers.

State machine (every arrow is one conditional UPDATE, so two processes can never both win)::

    queued ──claim──▶ running ──▶ succeeded   (in the same commit as the result + ledger)
      │  ▲               ├──────▶ failed      (bad request, bug, or the database kept failing)
      │  │               ├──────▶ cancelled   (cancel_requested seen by the runner)
      │  └──release──────┤                    (worker shut down, or the database dropped out)
      │                  └─reap─▶ interrupted (no heartbeat for `stale_after` seconds)
      └──cancel──▶ cancelled
    failed | cancelled | interrupted ──retry──▶ queued

Every write a runner makes to a running job is fenced on (id, attempt, status='running'):
`attempt` goes up by one on each claim, so a runner that was presumed dead and reaped can
never overwrite what happened to the job afterwards. Success is written by
`mark_succeeded_in` inside the engine's result transaction: a result exists exactly when
its job says succeeded, whatever moment a process is killed at.

PostgreSQL claims with ``SELECT ... FOR UPDATE SKIP LOCKED`` inside the UPDATE; SQLite runs
the same single UPDATE, which takes the database's one write lock, so claims serialize. On
PostgreSQL every job timestamp comes from the server's clock, so workers on hosts whose clocks
disagree still judge heartbeats alike; SQLite's workers share a host and use its clock.
"""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Interval,
    String,
    Update,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.backtest.request import BacktestRequest
from core.db import Database, utcnow
from core.errors import FilterBetsError
from core.models import BacktestJob, BacktestResult
from core.text import quoted

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED)
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED, INTERRUPTED})
RETRYABLE = frozenset({FAILED, CANCELLED, INTERRUPTED})

DEFAULT_STALE_AFTER = 30.0
"""Seconds without a heartbeat after which a running job counts as interrupted."""
MAX_ATTEMPTS = 3
"""Claims a job may use up on database outages before it is failed instead of queued again."""

SNAPSHOT_KEY = "filter_snapshot"


class JobError(FilterBetsError):
    """A job that does not exist, or an action its state does not allow."""


class JobLost(FilterBetsError):
    """A runner's claim on a job is gone: the job was cancelled, reaped or claimed again."""


@dataclass(frozen=True)
class JobInfo:
    """One job as stored, plus a summary of its result when it has one."""

    id: int
    job_id: uuid.UUID
    user_id: int
    filter_id: int | None
    filter_name: str | None
    request: dict[str, Any]
    status: str
    progress: float
    message: str
    error: str | None
    error_details: str | None
    worker: str | None
    attempt: int
    cancel_requested: bool
    result_id: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    bets: int | None = None
    profit: Decimal | None = None
    yield_: float | None = None
    warnings: tuple[str, ...] = ()
    """Its result's metrics warnings (why it placed no bets, say), when it has a result."""

    @property
    def short_id(self) -> str:
        return self.job_id.hex[:8]

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def queue_seconds(self) -> float | None:
        """Submit to start (the latest start, for a retried job)."""
        if self.started_at is None:
            return None
        return max(0.0, (self.started_at - self.created_at).total_seconds())

    @property
    def run_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    @property
    def kind(self) -> str:
        """ "backtest" (football), "sweep", "sweep_part" (a range of a sweep's variants) or
        "strategy" (a candle strategy run)."""
        return str(self.request.get("kind") or "backtest")

    @property
    def title(self) -> str:
        """What the job runs, for lists: the filter's name, else 'inline rules'; a strategy
        run's strategy, parameters and candles."""
        if self.kind == "strategy":
            params = ",".join(str(value) for value in (self.request.get("params") or {}).values())
            return (
                f"{self.request.get('strategy')}({params}) on"
                f" {self.request.get('symbol')} {self.request.get('timeframe')}"
            )
        name = quoted(self.filter_name) if self.filter_name else "inline rules"
        if self.kind == "sweep_part":
            sweep = self.request.get("sweep_short_id") or f"#{self.request.get('sweep_job')}"
            return f"part {int(self.request.get('part', 0)) + 1} of sweep {sweep}"
        if self.kind == "sweep" and "strategy" in self.request:
            strategy = self.request.get("strategy") or {}
            return (
                f"sweep of {strategy.get('strategy')} on"
                f" {strategy.get('symbol')} {strategy.get('timeframe')}"
            )
        if self.kind == "sweep":
            backtest = self.request.get("backtest") or {}
            return f"sweep of {name} on {backtest.get('market', '?')}"
        return f"{name} on {self.request.get('market', '?')}"

    def to_dict(self) -> dict[str, Any]:
        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "job_id": str(self.job_id),
            "status": self.status,
            "progress": round(self.progress, 4),
            "message": self.message,
            "error": self.error,
            "error_details": self.error_details,
            "filter_id": self.filter_id,
            "filter_name": self.filter_name,
            "request": self.request,
            "worker": self.worker,
            "attempt": self.attempt,
            "cancel_requested": self.cancel_requested,
            "result_id": self.result_id,
            "bets": self.bets,
            "profit": None if self.profit is None else str(self.profit),
            "yield": self.yield_,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "heartbeat_at": iso(self.heartbeat_at),
            "queue_seconds": self.queue_seconds,
            "run_seconds": self.run_seconds,
        }


@dataclass(frozen=True)
class FilterSnapshot:
    """The saved filter as it was at submit time; a job runs this, not the filter's later edits."""

    filter_id: int | None
    name: str | None
    stake: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.filter_id, "name": self.name, "stake": str(self.stake)}

    @classmethod
    def from_request(cls, data: Mapping[str, Any]) -> FilterSnapshot | None:
        raw = data.get(SNAPSHOT_KEY)
        if not isinstance(raw, Mapping):
            return None
        filter_id = raw.get("id")
        return cls(
            filter_id=int(filter_id) if filter_id is not None else None,
            name=None if raw.get("name") is None else str(raw["name"]),
            stake=Decimal(str(raw.get("stake", "1.00"))),
        )


@dataclass(frozen=True)
class Claim:
    """A runner's hold on one running job; `attempt` fences every write it makes."""

    id: int
    job_id: uuid.UUID
    user_id: int
    attempt: int
    request: dict[str, Any] = field(repr=False)
    worker: str

    @property
    def short_id(self) -> str:
        return self.job_id.hex[:8]


@dataclass(frozen=True)
class JobFlags:
    status: str
    attempt: int
    cancel_requested: bool


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


_COLUMNS = (
    BacktestJob.id,
    BacktestJob.job_id,
    BacktestJob.user_id,
    BacktestJob.filter_id,
    BacktestJob.request,
    BacktestJob.status,
    BacktestJob.progress,
    BacktestJob.message,
    BacktestJob.error,
    BacktestJob.error_details,
    BacktestJob.worker,
    BacktestJob.attempt,
    BacktestJob.cancel_requested,
    BacktestJob.result_id,
    BacktestJob.created_at,
    BacktestJob.started_at,
    BacktestJob.finished_at,
    BacktestJob.heartbeat_at,
    BacktestResult.bets,
    BacktestResult.profit,
    BacktestResult.yield_,
    # Only the warnings out of the result's metrics document (its curve can be megabytes).
    BacktestResult.metrics["warnings"].label("warnings"),
)


def _info(row: Any) -> JobInfo:
    request = dict(row.request or {})
    snapshot = FilterSnapshot.from_request(request)
    return JobInfo(
        id=row.id,
        job_id=row.job_id,
        user_id=row.user_id,
        filter_id=row.filter_id,
        filter_name=snapshot.name if snapshot else None,
        request=request,
        status=row.status,
        progress=float(row.progress or 0.0),
        message=row.message or "",
        error=row.error,
        error_details=row.error_details,
        worker=row.worker,
        attempt=int(row.attempt or 0),
        cancel_requested=bool(row.cancel_requested),
        result_id=row.result_id,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
        bets=row.bets,
        profit=None if row.profit is None else Decimal(row.profit),
        yield_=row.yield_,
        warnings=tuple(str(w) for w in row.warnings) if isinstance(row.warnings, list) else (),
    )


def _select_jobs() -> Any:
    return select(*_COLUMNS).outerjoin(BacktestResult, BacktestResult.id == BacktestJob.result_id)


class JobQueue:
    """Submit, claim, heartbeat, finish, cancel, retry, reap, list and show backtest jobs."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._postgres = db.dialect_name == "postgresql"

    # -- the dialect differences, all in one place ---------------------------------------

    def _now(self) -> Any:
        """The time to stamp: PostgreSQL's clock (shared by every host), else this host's."""
        if self._postgres:
            return func.statement_timestamp()
        return utcnow()

    def _cutoff(self, seconds: float) -> Any:
        if self._postgres:
            return func.statement_timestamp() - bindparam(
                "stale_after", dt.timedelta(seconds=seconds), type_=Interval()
            )
        return utcnow() - dt.timedelta(seconds=seconds)

    def _claim_statement(
        self, worker: str, user_id: int | None, job_ids: Sequence[int] | None = None
    ) -> Update:
        pick = select(BacktestJob.id).where(BacktestJob.status == QUEUED)
        if user_id is not None:
            pick = pick.where(BacktestJob.user_id == user_id)
        if job_ids is not None:
            pick = pick.where(BacktestJob.id.in_(job_ids))
        pick = pick.order_by(BacktestJob.id).limit(1)
        if self._postgres:
            # Concurrent claimers skip each other's candidate row instead of queueing on it.
            pick = pick.with_for_update(skip_locked=True)
        # On SQLite the UPDATE holds the write lock from start to end: claims serialize.
        now = self._now()
        return (
            update(BacktestJob)
            .where(BacktestJob.id == pick.scalar_subquery(), BacktestJob.status == QUEUED)
            .values(
                status=RUNNING,
                attempt=BacktestJob.attempt + 1,
                worker=worker[:200],
                started_at=now,
                heartbeat_at=now,
                finished_at=None,
                progress=0.0,
                message="starting",
                error=None,
                error_details=None,
                result_id=None,
            )
            .returning(
                BacktestJob.id,
                BacktestJob.job_id,
                BacktestJob.user_id,
                BacktestJob.attempt,
                BacktestJob.request,
            )
            .execution_options(synchronize_session=False)
        )

    # -- submitting and reading ----------------------------------------------------------

    async def submit(self, user_id: int, request: BacktestRequest) -> JobInfo:
        """Queue a backtest. A saved filter is snapshotted now: later edits don't change it.

        Raises RequestError, FilterError or RuleError for a request that could never run.
        """
        from core.filters import FilterStore
        from core.rules import validate_rules

        request = request.validated()
        snapshot: FilterSnapshot | None = None
        if request.filter_ref is not None:
            saved = await FilterStore(self.db, user_id).get(request.filter_ref)
            snapshot = FilterSnapshot(saved.id, saved.name, saved.stake)
            request = replace(request, filter_ref=None, rules=validate_rules(saved.rules))
        else:
            validate_rules(request.rules)
        data = request.to_dict()
        data[SNAPSHOT_KEY] = snapshot.to_dict() if snapshot else None
        return await self.submit_raw(
            user_id, data, filter_id=snapshot.filter_id if snapshot else None
        )

    async def submit_strategy(self, user_id: int, request: Any) -> JobInfo:
        """Queue a strategy run (a core.candles.request.StrategyRequest), checked first."""
        return await self.submit_raw(user_id, request.validated().to_dict())

    async def submit_raw(
        self, user_id: int, data: Mapping[str, Any], *, filter_id: int | None = None
    ) -> JobInfo:
        """Queue a request dict as is, unchecked: the runner reports what is wrong with it."""
        async with self.db.session() as session:
            new_id = await self.insert_job(session, user_id, data, filter_id=filter_id)
        return await self._get_by_id(new_id)

    async def insert_job(
        self,
        session: AsyncSession,
        user_id: int,
        data: Mapping[str, Any],
        *,
        filter_id: int | None = None,
    ) -> int:
        """Queue a request dict inside the caller's transaction; returns the job's row id."""
        return int(
            (
                await session.execute(
                    insert(BacktestJob)
                    .values(
                        job_id=uuid.uuid4(),
                        user_id=user_id,
                        filter_id=filter_id,
                        request=dict(data),
                        status=QUEUED,
                        progress=0.0,
                        message="queued",
                        attempt=0,
                        cancel_requested=False,
                        created_at=self._now(),
                    )
                    .returning(BacktestJob.id)
                )
            ).scalar_one()
        )

    async def submit_many(self, user_id: int, requests: Sequence[BacktestRequest]) -> int:
        """Queue many requests in one transaction (benchmarks, batch tools); returns the count."""
        from core.rules import validate_rules

        prepared: list[dict[str, Any]] = []
        for request in requests:
            checked = request.validated()
            if checked.filter_ref is not None:
                raise JobError("submit_many takes inline rules only")
            validate_rules(checked.rules)
            prepared.append(checked.to_dict() | {SNAPSHOT_KEY: None})
        async with self.db.session() as session:
            for data in prepared:
                await session.execute(
                    insert(BacktestJob).values(
                        job_id=uuid.uuid4(),
                        user_id=user_id,
                        filter_id=None,
                        request=data,
                        status=QUEUED,
                        progress=0.0,
                        message="queued",
                        attempt=0,
                        cancel_requested=False,
                        created_at=self._now(),
                    )
                )
        return len(prepared)

    async def _get_by_id(self, row_id: int) -> JobInfo:
        async with self.db.session() as session:
            row = (await session.execute(_select_jobs().where(BacktestJob.id == row_id))).one()
        return _info(row)

    async def _resolve(
        self, session: AsyncSession, ref: str | uuid.UUID, user_id: int | None
    ) -> int:
        """The row id of a job given by its full id or a unique prefix of at least 4 characters."""
        query = select(BacktestJob.id, BacktestJob.job_id)
        if user_id is not None:
            query = query.where(BacktestJob.user_id == user_id)
        if isinstance(ref, uuid.UUID):
            wanted: uuid.UUID | None = ref
            prefix = ref.hex
        else:
            text = str(ref).strip().lower()
            prefix = text.replace("-", "")
            try:
                wanted = uuid.UUID(text)
            except ValueError:
                wanted = None
            if wanted is None and (
                len(prefix) < 4 or any(ch not in "0123456789abcdef" for ch in prefix)
            ):
                raise JobError(f"{str(ref)!r} is not a job id (give at least 4 of its characters)")
        if wanted is not None:
            rows = (await session.execute(query.where(BacktestJob.job_id == wanted))).all()
        else:
            # The first 8 characters read the same in PostgreSQL's text form and SQLite's hex.
            head = prefix[:8]
            rows = [
                row
                for row in (
                    await session.execute(
                        query.where(cast(BacktestJob.job_id, String).like(f"{head}%"))
                    )
                ).all()
                if row.job_id.hex.startswith(prefix)
            ]
        if not rows:
            raise JobError(f"no job {str(ref)!r}")
        if len(rows) > 1:
            raise JobError(f"job id {str(ref)!r} matches {len(rows)} jobs; give more of it")
        return int(rows[0].id)

    async def get(self, ref: str | uuid.UUID, *, user_id: int | None = None) -> JobInfo:
        async with self.db.session() as session:
            row_id = await self._resolve(session, ref, user_id)
        return await self._get_by_id(row_id)

    async def list(
        self,
        *,
        user_id: int | None = None,
        status: str | Iterable[str] | None = None,
        limit: int | None = None,
    ) -> builtins.list[JobInfo]:
        """Jobs, newest first."""
        query = _select_jobs()
        if user_id is not None:
            query = query.where(BacktestJob.user_id == user_id)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            unknown = [s for s in wanted if s not in STATUSES]
            if unknown:
                raise JobError(
                    f"status: unknown status {unknown[0]!r}; choose one of {', '.join(STATUSES)}"
                )
            query = query.where(BacktestJob.status.in_(wanted))
        query = query.order_by(BacktestJob.id.desc())
        if limit is not None:
            query = query.limit(limit)
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        return [_info(row) for row in rows]

    async def counts(self, *, user_id: int | None = None) -> dict[str, int]:
        query = select(BacktestJob.status, func.count()).group_by(BacktestJob.status)
        if user_id is not None:
            query = query.where(BacktestJob.user_id == user_id)
        async with self.db.session() as session:
            found = {status: int(n) for status, n in (await session.execute(query)).all()}
        return {status: found.get(status, 0) for status in STATUSES}

    # -- user actions --------------------------------------------------------------------

    async def cancel(self, ref: str | uuid.UUID, *, user_id: int | None = None) -> JobInfo:
        """A queued job is cancelled at once; a running one is asked to stop (its runner
        marks it cancelled within a second). A finished job is left as it is."""
        async with self.db.session() as session:
            row_id = await self._resolve(session, ref, user_id)
            now = self._now()
            await session.execute(
                update(BacktestJob)
                .where(BacktestJob.id == row_id, BacktestJob.status.in_((QUEUED, RUNNING)))
                .values(
                    cancel_requested=True,
                    status=case((BacktestJob.status == QUEUED, CANCELLED), else_=RUNNING),
                    finished_at=case(
                        (BacktestJob.status == QUEUED, now), else_=BacktestJob.finished_at
                    ),
                    message=case(
                        (BacktestJob.status == QUEUED, "cancelled before it started"),
                        else_="cancelling",
                    ),
                )
                .execution_options(synchronize_session=False)
            )
        info = await self._get_by_id(row_id)
        if info.status in FINISHED and not (info.status == CANCELLED and info.cancel_requested):
            raise JobError(f"job {info.short_id} already {info.status}; nothing to cancel")
        return info

    async def retry(self, ref: str | uuid.UUID, *, user_id: int | None = None) -> JobInfo:
        """Queue a failed, cancelled or interrupted job again (same id, next attempt)."""
        async with self.db.session() as session:
            row_id = await self._resolve(session, ref, user_id)
            done = (
                await session.execute(
                    update(BacktestJob)
                    .where(BacktestJob.id == row_id, BacktestJob.status.in_(sorted(RETRYABLE)))
                    .values(
                        status=QUEUED,
                        cancel_requested=False,
                        progress=0.0,
                        message="queued again",
                        error=None,
                        error_details=None,
                        worker=None,
                        result_id=None,
                        started_at=None,
                        finished_at=None,
                        heartbeat_at=None,
                    )
                    .returning(BacktestJob.id)
                    .execution_options(synchronize_session=False)
                )
            ).first()
        info = await self._get_by_id(row_id)
        if done is None:
            raise JobError(
                f"job {info.short_id} is {info.status}; only failed, cancelled or"
                " interrupted jobs can be retried"
            )
        return info

    # -- what runners do -----------------------------------------------------------------

    async def claim(
        self, worker: str, *, user_id: int | None = None, job_ids: Sequence[int] | None = None
    ) -> Claim | None:
        """Atomically take the oldest queued job (optionally only `user_id`'s, or one of
        `job_ids`), or None."""
        async with self.db.session() as session:
            statement = self._claim_statement(worker, user_id, job_ids)
            row = (await session.execute(statement)).first()
        if row is None:
            return None
        return Claim(
            id=row.id,
            job_id=row.job_id,
            user_id=row.user_id,
            attempt=int(row.attempt),
            request=dict(row.request or {}),
            worker=worker,
        )

    def _fenced(self, claim: Claim) -> builtins.list[ColumnElement[bool]]:
        return [
            BacktestJob.id == claim.id,
            BacktestJob.attempt == claim.attempt,
            BacktestJob.status == RUNNING,
        ]

    async def heartbeat(self, claim: Claim, progress: float, message: str) -> bool | None:
        """Stamp the heartbeat and progress. None: the claim is lost; else cancel_requested."""
        async with self.db.session() as session:
            row = (
                await session.execute(
                    update(BacktestJob)
                    .where(*self._fenced(claim))
                    .values(
                        heartbeat_at=self._now(),
                        progress=min(max(progress, 0.0), 1.0),
                        message=_one_line(message, 200),
                    )
                    .returning(BacktestJob.cancel_requested)
                    .execution_options(synchronize_session=False)
                )
            ).first()
        return None if row is None else bool(row.cancel_requested)

    async def flags(self, ids: Iterable[int]) -> dict[int, JobFlags]:
        """Status, attempt and cancel flag of some jobs: one cheap read (never blocks on SQLite)."""
        wanted = list(ids)
        if not wanted:
            return {}
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(
                        BacktestJob.id,
                        BacktestJob.status,
                        BacktestJob.attempt,
                        BacktestJob.cancel_requested,
                    ).where(BacktestJob.id.in_(wanted))
                )
            ).all()
        return {
            row.id: JobFlags(row.status, int(row.attempt), bool(row.cancel_requested))
            for row in rows
        }

    async def mark_succeeded_in(
        self, session: AsyncSession, claim: Claim, result_id: int | None, message: str = "done"
    ) -> None:
        """Inside the result's transaction: mark the job succeeded, or raise JobLost so the
        result and ledger roll back (the job was cancelled, reaped or claimed again)."""
        row = (
            await session.execute(
                update(BacktestJob)
                .where(*self._fenced(claim), BacktestJob.cancel_requested.is_(False))
                .values(
                    status=SUCCEEDED,
                    result_id=result_id,
                    progress=1.0,
                    message=_one_line(message, 200),
                    finished_at=self._now(),
                    heartbeat_at=self._now(),
                )
                .returning(BacktestJob.id)
                .execution_options(synchronize_session=False)
            )
        ).first()
        if row is None:
            raise JobLost(f"job {claim.short_id} was cancelled or taken over; result discarded")

    async def finish(
        self,
        claim: Claim,
        status: str,
        *,
        message: str,
        error: str | None = None,
        error_details: str | None = None,
    ) -> bool:
        """Mark a claimed job failed or cancelled. False when the claim was already lost."""
        if status not in (FAILED, CANCELLED):
            raise ValueError(f"finish() takes failed or cancelled, not {status!r}")
        async with self.db.session() as session:
            row = (
                await session.execute(
                    update(BacktestJob)
                    .where(*self._fenced(claim))
                    .values(
                        status=status,
                        message=_one_line(message, 200),
                        error=None if error is None else _one_line(error),
                        error_details=error_details,
                        finished_at=self._now(),
                        heartbeat_at=self._now(),
                    )
                    .returning(BacktestJob.id)
                    .execution_options(synchronize_session=False)
                )
            ).first()
        return row is not None

    async def release(self, claim: Claim, message: str) -> bool:
        """Give a claimed job back to the queue (or mark it cancelled if that was asked)."""
        now = self._now()
        asked = BacktestJob.cancel_requested.is_(True)
        async with self.db.session() as session:
            row = (
                await session.execute(
                    update(BacktestJob)
                    .where(*self._fenced(claim))
                    .values(
                        status=case((asked, CANCELLED), else_=QUEUED),
                        finished_at=case((asked, now), else_=None),
                        message=case((asked, "cancelled"), else_=_one_line(message, 200)),
                        worker=None,
                        started_at=None,
                        heartbeat_at=None,
                        progress=0.0,
                    )
                    .returning(BacktestJob.id)
                    .execution_options(synchronize_session=False)
                )
            ).first()
        return row is not None

    async def reap_stale(self, stale_after: float = DEFAULT_STALE_AFTER) -> builtins.list[JobInfo]:
        """Mark running jobs with no heartbeat for `stale_after` seconds interrupted (or
        cancelled, when a cancel was pending). Any worker, or the app on start, calls this."""
        cutoff = self._cutoff(stale_after)
        asked = BacktestJob.cancel_requested.is_(True)
        reason = f"the process running it stopped (no heartbeat for {stale_after:g} s)"
        async with self.db.session() as session:
            ids = (
                (
                    await session.execute(
                        update(BacktestJob)
                        .where(
                            BacktestJob.status == RUNNING,
                            func.coalesce(BacktestJob.heartbeat_at, BacktestJob.started_at)
                            < cutoff,
                        )
                        .values(
                            status=case((asked, CANCELLED), else_=INTERRUPTED),
                            finished_at=self._now(),
                            message=case(
                                (asked, "cancelled"), else_=literal("interrupted; retry it")
                            ),
                            error=case((asked, None), else_=literal(reason)),
                        )
                        .returning(BacktestJob.id)
                        .execution_options(synchronize_session=False)
                    )
                )
                .scalars()
                .all()
            )
        return [await self._get_by_id(row_id) for row_id in ids]
