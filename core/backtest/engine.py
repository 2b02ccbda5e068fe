"""The one backtest path: resolve the filter, compile it, fetch only the needed columns in
one query, settle and size off the event loop, compute metrics, store result and ledger.

The CLI, the dashboard preview, jobs and workers all come through here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain, count, repeat
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Select, Table, and_, func, insert, select, text, true, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause
from sqlalchemy.sql.util import find_tables

from core.backtest.columnar import (
    FlatColumns,
    FlatSettlement,
    flat_metrics,
    settle_flat_columns,
)
from core.backtest.columnar_sql import (
    LEDGER_COLUMNS,
    SeasonIndex,
    flat_columns_query,
    flat_ledger_insert,
    market_columns,
    parse_flat_columns,
)
from core.backtest.request import BacktestRequest, RequestError
from core.backtest.settle import Candidate
from core.backtest.staking import (
    BacktestOutcome,
    FlatStaking,
    KellyStaking,
    PercentStaking,
    StakingPlan,
    gc_paused,
    run_backtest,
)
from core.db import Database, Memoized, RawValue, as_date, as_time, utcnow
from core.errors import FilterBetsError
from core.models import BacktestBet, BacktestResult, Fixture, League, Team
from core.rules import validate_rules
from core.rules.catalogue import FixtureTables, fixture_query_base
from core.rules.compile import compile_rules, lookup_condition, required_tables
from core.rules.known import check_rules_against_data, unknown_value_message
from core.rules.validate import (
    CLOSING_PRICE_WARNING,
    Group,
    Leaf,
    Node,
    parse_rules,
    uses_closing_prices,
)

Progress = Callable[[float, str], None]
BeforeCommit = Callable[[AsyncSession, int], Awaitable[None]]
LEDGER_COPY_CHUNK = 50_000
# Read a SQLite database of at least this many fixtures in parallel parts (one per core).
SQLITE_PARALLEL_MIN_FIXTURES = 100_000
SQLITE_PARALLEL_PARTS = min(os.cpu_count() or 1, 4)

# Which price pair/triple a market's margin-free probability is normalised over.
_AH_MARKETS = ("ah_home", "ah_away")


class BacktestCancelled(FilterBetsError):
    """The run was cancelled before it stored anything."""


@dataclass(frozen=True)
class ResolvedFilter:
    rules: Any
    filter_id: int | None
    filter_name: str | None
    stake: Decimal


@dataclass(frozen=True)
class BacktestRun:
    """What a stored run returns to its caller."""

    result_id: int
    metrics: dict[str, Any]
    request: dict[str, Any]
    filter_name: str | None
    seconds: float


def _scope_conditions(request: BacktestRequest, tables: FixtureTables) -> list[ColumnElement[bool]]:
    f = tables.fixtures.c
    conditions: list[ColumnElement[bool]] = []
    if request.leagues:
        conditions.append(lookup_condition("league", list(request.leagues), tables))
    if request.seasons:
        conditions.append(f.season.in_(request.seasons))
    if request.date_from:
        conditions.append(f.kickoff_date >= request.date_from)
    if request.date_to:
        conditions.append(f.kickoff_date <= request.date_to)
    return conditions


def _from_clause(
    tables: FixtureTables,
    *clauses: ColumnElement[Any],
    inner: set[FromClause] | frozenset[FromClause] = frozenset(),
) -> FromClause:
    """fixtures plus only the tables the clauses name; those in `inner` joined inner.

    Every fixture has exactly one league and two teams, so leaving an unused join out
    changes no row, and over a million fixtures each join costs seconds on SQLite. The odds
    and features tables may be joined inner when the filter cannot match a fixture without
    a row there (`required_tables`): the same rows, and PostgreSQL filters the odds table
    before joining it instead of after. When the clauses read nothing but such tables,
    fixtures is left out too: each of their rows belongs to exactly one fixture (the key
    is a foreign key), and joining it cost a third of PostgreSQL's count of an odds + form
    filter over 1M fixtures.
    """
    used: set[Any] = set()
    for clause in clauses:
        used.update(find_tables(clause, check_columns=True, include_aliases=True))
    if used and used <= inner:
        first, *others = [table for table in (tables.odds, tables.features) if table in used]
        alone: FromClause = first
        for table in others:
            alone = alone.join(table, table.c.fixture_id == first.c.fixture_id)
        return alone
    f = tables.fixtures.c
    source: FromClause = tables.fixtures

    def join(table: FromClause, on: ColumnElement[bool]) -> FromClause:
        return source.join(table, on) if table in inner else source.outerjoin(table, on)

    if tables.odds in used:
        source = join(tables.odds, tables.odds.c.fixture_id == f.id)
    if tables.leagues in used:
        source = source.outerjoin(tables.leagues, tables.leagues.c.id == f.league_id)
    if tables.home_team in used:
        source = source.outerjoin(tables.home_team, tables.home_team.c.id == f.home_team_id)
    if tables.away_team in used:
        source = source.outerjoin(tables.away_team, tables.away_team.c.id == f.away_team_id)
    if tables.features in used:
        source = join(tables.features, tables.features.c.fixture_id == f.id)
    return source


IdRange = tuple[int, int]
"""Fixture ids in (low, high]: one part of a query split for parallel reading."""


def _id_range_conditions(
    tables: FixtureTables, ids: IdRange | None, column: Any = None
) -> list[ColumnElement[bool]]:
    if ids is None:
        return []
    fixture_id = tables.fixtures.c.id if column is None else column
    return [fixture_id > ids[0], fixture_id <= ids[1]]


def candidate_query(
    request: BacktestRequest, rules: Any, ids: IdRange | None = None, *, inner: bool = False
) -> Select[Any]:
    """SELECT the columns of `Candidate`, in its order, for every fixture the filter picks.

    League and team come back as ids; `_candidates` swaps in code and names from small
    lookup tables, which is far cheaper than joining them for every row.
    """
    tables = fixture_query_base()
    f = tables.fixtures.c
    price, line, fair_now, closing_fair_odds = market_columns(request, tables)
    columns: list[ColumnElement[Any]] = [
        f.id,
        type_coerce(f.kickoff_date, RawValue()),
        type_coerce(f.kickoff_time, RawValue()),
        f.league_id,
        f.home_team_id,
        f.away_team_id,
        f.home_goals,
        f.away_goals,
        price,
        line,
        fair_now,
        closing_fair_odds,
        f.season,
    ]
    node = parse_rules(rules)
    where = and_(
        compile_rules(node, tables),
        *_scope_conditions(request, tables),
        *_id_range_conditions(tables, ids),
    )
    joined_inner = required_tables(node, tables) if inner else set()
    return (
        select(*columns)
        .select_from(_from_clause(tables, where, *columns, inner=joined_inner))
        .where(where)
    )


def count_query(
    request: BacktestRequest, rules: Any, ids: IdRange | None = None, *, inner: bool = False
) -> Select[Any]:
    """How many fixtures the filter picks in scope (the editor's live count)."""
    tables = fixture_query_base()
    node = parse_rules(rules)
    where = and_(
        compile_rules(node, tables),
        *_scope_conditions(request, tables),
        *_id_range_conditions(tables, ids),
    )
    joined_inner = required_tables(node, tables) if inner else set()
    source = _from_clause(tables, where, inner=joined_inner)
    return select(func.count()).select_from(source).where(where)


# Rule fields and scope options that every match must satisfy through an indexed column of
# fixtures (league and teams by their foreign keys, season, date).
_INDEXED_FIELDS = frozenset({"league", "country", "home_team", "away_team", "season", "date"})


def _narrowed_by_an_index(request: BacktestRequest, rules: Any) -> bool:
    """Whether SQLite can read the matches through an index: then one query beats a count
    split over fixture-id ranges, whose range terms make it scan (1M fixtures, two
    leagues: 53 ms in one part, 139 ms in two)."""
    if request.leagues or request.seasons or request.date_from or request.date_to:
        return True
    return _conjunct_on_index(parse_rules(rules))


def _conjunct_on_index(node: Node) -> bool:
    if isinstance(node, Leaf):
        return node.field.name in _INDEXED_FIELDS and node.op not in ("!=", "not_in", "is_null")
    if isinstance(node, Group) and node.kind == "all":
        return any(_conjunct_on_index(child) for child in node.children)
    return False  # an `any` or `not` may match outside the index


def _candidates(
    rows: Sequence[Any], league_codes: dict[int, str], team_names: dict[int, str]
) -> list[tuple[Any, ...]]:
    """Query rows in `Candidate` order, with codes and names in place of ids.

    Dates and times arrive raw (text on SQLite) and are parsed once per distinct value.
    """
    days = Memoized(as_date)
    times = Memoized(as_time)
    return [
        (
            row[0],
            (day := days[row[1]]),
            times[row[2]],
            league_codes[row[3]],
            team_names[row[4]],
            team_names[row[5]],
            row[6],
            row[7],
            row[8],
            row[9],
            row[10],
            row[11],
            row[12],
            day.month,
        )
        for row in rows
    ]


def _staking_plan(request: BacktestRequest, filter_stake: Decimal) -> StakingPlan:
    if request.staking == "flat":
        return FlatStaking(stake=request.stake or filter_stake, bank=request.bank)
    if request.staking == "percent":
        return PercentStaking(percent=request.stake or Decimal("1"), bank=request.bank)
    return KellyStaking(fraction=request.kelly_fraction, cap=request.kelly_cap, bank=request.bank)


class _RowPathNeeded(Exception):
    """The data holds something the columnar path cannot carry exactly: use the row path."""


class BacktestEngine:
    def __init__(self, db: Database, user_id: int, *, columnar: bool = True) -> None:
        self.db = db
        self.user_id = user_id
        # Flat stakes run over columns (core/backtest/columnar.py); False keeps every run on
        # the row path, which tests use as the reference.
        self.columnar = columnar
        # Inner joins where the filter allows (see required_tables) help PostgreSQL's
        # planner; SQLite's picks a slower plan with them (1M any_of_3 count 155 -> 175 ms).
        self._inner_joins = not db.settings.is_sqlite

    async def resolve_filter(self, request: BacktestRequest) -> ResolvedFilter:
        if request.rules is not None:
            return ResolvedFilter(validate_rules(request.rules), None, None, Decimal("1.00"))
        from core.filters import FilterStore

        assert request.filter_ref is not None
        saved = await FilterStore(self.db, self.user_id).get(request.filter_ref)
        return ResolvedFilter(validate_rules(saved.rules), saved.id, saved.name, saved.stake)

    async def _check_scope(self, request: BacktestRequest, rules: Any) -> None:
        """An unknown league code (in --leagues, or a league, country or team in the rules)
        is a mistake worth stopping for, with a suggestion; the same words both ways."""
        if request.leagues:
            async with self.db.session() as session:
                known = list((await session.execute(select(League.code))).scalars())
            for code in request.leagues:
                if code not in known:
                    raise RequestError(f"leagues: {unknown_value_message('league', code, known)}")
        await check_rules_against_data(self.db, rules)

    async def _id_ranges(self, *, postgres_too: bool = False) -> list[IdRange | None]:
        """How to split a count over fixtures: one part, or on a big SQLite database one
        part per core over ranges of fixture ids (on PostgreSQL too with `postgres_too`:
        the columnar read's aggregates get no parallel workers there).

        PostgreSQL scans a big table with parallel workers by itself; SQLite does not,
        but its driver releases the GIL while a statement runs, so a count split into
        parts on their own connections (threads) runs on separate cores. Under WAL each
        part reads its own snapshot: an import committing mid-read can show in one part
        and not another, which a fresh count or run settles.
        """
        if (self.db.dialect_name != "sqlite" and not postgres_too) or SQLITE_PARALLEL_PARTS < 2:
            return [None]
        async with self.db.session() as session:
            top = (await session.execute(select(func.max(Fixture.id)))).scalar()
        if top is None or top < SQLITE_PARALLEL_MIN_FIXTURES:
            return [None]
        step = -(-top // SQLITE_PARALLEL_PARTS)  # ceiling division
        return [(low, min(low + step, top)) for low in range(0, top, step)]

    async def count(self, request: BacktestRequest) -> int:
        request = request.validated()
        resolved = await self.resolve_filter(request)

        async def count_part(ids: IdRange | None) -> int:
            async with self.db.session() as session:
                query = count_query(request, resolved.rules, ids, inner=self._inner_joins)
                return int((await session.execute(query)).scalar_one())

        if _narrowed_by_an_index(request, resolved.rules):
            return await count_part(None)
        return sum(await asyncio.gather(*(count_part(ids) for ids in await self._id_ranges())))

    async def _fingerprint(self, request: BacktestRequest) -> dict[str, Any]:
        """Fixture count and latest import time in scope: tells a stale result at a glance."""
        tables = fixture_query_base()
        where = and_(true(), *_scope_conditions(request, tables))
        source = _from_clause(tables, where)
        # Two statements, not one: each alone is an index lookup or a count over the
        # smallest index, together SQLite scans (8x slower at 1M fixtures).
        async with self.db.session() as session:
            count = (
                await session.execute(select(func.count()).select_from(source).where(where))
            ).scalar_one()
            latest = (
                await session.execute(
                    select(func.max(tables.fixtures.c.updated_at)).select_from(source).where(where)
                )
            ).scalar_one()
        if isinstance(latest, str):  # SQLite returns max() of a timestamp as text
            latest = dt.datetime.fromisoformat(latest).replace(tzinfo=dt.UTC)
        return {
            "fixtures_in_scope": int(count),
            "latest_import": latest.isoformat() if latest else None,
        }

    async def run(
        self,
        request: BacktestRequest,
        *,
        progress: Progress | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        store: bool = True,
        before_commit: BeforeCommit | None = None,
    ) -> BacktestRun:
        """Run and store a backtest.

        `before_commit(session, result_id)` is awaited inside the result's transaction once
        the result and ledger are written; if it raises, all of it rolls back (jobs use it to
        mark themselves succeeded in the same commit).
        """
        started = time.perf_counter()

        def report(fraction: float, message: str) -> None:
            if is_cancelled is not None and is_cancelled():
                raise BacktestCancelled("cancelled")
            if progress is not None:
                progress(fraction, message)

        # The collector stays off for the whole run: reading, settling and storing a
        # 200k-bet run allocates millions of objects, and collections triggered along
        # the way cost a tenth of the run (measured); the run's objects are freed by
        # reference counting when it returns.
        with gc_paused():
            return await self._run(request, report, store, before_commit, started)

    async def _run(
        self,
        request: BacktestRequest,
        report: Progress,
        store: bool,
        before_commit: BeforeCommit | None,
        started: float,
    ) -> BacktestRun:
        request = request.validated()
        report(0.0, "resolving filter")
        resolved = await self.resolve_filter(request)
        await self._check_scope(request, resolved.rules)
        plan = _staking_plan(request, resolved.stake)
        if isinstance(plan, FlatStaking) and self.columnar:
            try:
                return await self._run_flat(
                    request, resolved, plan, report, store, before_commit, started
                )
            except _RowPathNeeded:
                pass  # rolled back before anything was stored

        report(0.05, "selecting fixtures")
        # One query, not parts: fetching rows steps the driver once per row, and two
        # threads doing that fight over the GIL (measured 30% slower at 1M fixtures).
        async with self.db.session() as session:
            query = candidate_query(request, resolved.rules, inner=self._inner_joins)
            rows = (await session.execute(query)).all()
            league_codes = dict((await session.execute(select(League.id, League.code))).all())
            team_names = dict((await session.execute(select(Team.id, Team.name))).all())
        fingerprint = await self._fingerprint(request)

        report(0.5, f"settling {len(rows):,} fixtures")

        def settle() -> BacktestOutcome:
            # One pause for both steps: each re-enable would trigger a collection that
            # walks every tuple just built.
            with gc_paused():
                candidates = _candidates(rows, league_codes, team_names)
                # Plain tuples in Candidate's field order: run_backtest's fast path.
                return run_backtest(cast(list[Candidate], candidates), request.market, plan)

        outcome = await asyncio.to_thread(settle)
        report(0.7, "computing metrics")
        # Not overlapped with writing the ledger: the driver releases the GIL once per
        # row, and a busy Python thread makes it wait a switch interval to get it back.
        metrics = await asyncio.to_thread(_metrics, outcome, request, resolved.rules)
        result_id = 0
        if store:
            result_id = await self._store(
                request, resolved, fingerprint, metrics, outcome, report, before_commit
            )
            self.db.checkpoint_soon()
        report(1.0, "done")
        return BacktestRun(
            result_id=result_id,
            metrics=metrics,
            request=request.to_dict(),
            filter_name=resolved.filter_name,
            seconds=time.perf_counter() - started,
        )

    async def _run_flat(
        self,
        request: BacktestRequest,
        resolved: ResolvedFilter,
        plan: FlatStaking,
        report: Progress,
        store: bool,
        before_commit: BeforeCommit | None,
        started: float,
    ) -> BacktestRun:
        """A flat-stake run over columns: the row path's bets, metrics and ledger."""
        report(0.05, "selecting fixtures")
        async with self.db.session() as session:
            columns = await self._flat_columns(request, resolved.rules, session)
            league_codes = dict((await session.execute(select(League.id, League.code))).all())
            team_names = dict((await session.execute(select(Team.id, Team.name))).all())
        fingerprint = await self._fingerprint(request)

        report(0.5, f"settling {len(columns):,} fixtures")
        settled = await asyncio.to_thread(
            settle_flat, columns, request.market, plan, league_codes, team_names
        )
        report(0.7, "computing metrics")
        # Started now, so it also runs while the ledger's statement is being built.
        metrics_done = asyncio.ensure_future(
            asyncio.to_thread(_flat_metrics, settled, request, resolved.rules)
        )
        if not store:
            metrics = await metrics_done
            result_id = 0
        else:
            try:
                result_id, metrics = await self._store_flat(
                    request, resolved, fingerprint, settled, metrics_done, report, before_commit
                )
            finally:  # on an error, the metrics thread's end (and any error) is still collected
                await asyncio.gather(metrics_done, return_exceptions=True)
            self.db.checkpoint_soon()
        report(1.0, "done")
        return BacktestRun(
            result_id=result_id,
            metrics=metrics,
            request=request.to_dict(),
            filter_name=resolved.filter_name,
            seconds=time.perf_counter() - started,
        )

    async def _store_flat(
        self,
        request: BacktestRequest,
        resolved: ResolvedFilter,
        fingerprint: dict[str, Any],
        settled: FlatSettlement,
        metrics_done: asyncio.Future[dict[str, Any]],
        report: Progress,
        before_commit: BeforeCommit | None,
    ) -> tuple[int, dict[str, Any]]:
        """Result row and ledger in one transaction, the ledger written while the metrics
        are computed: the INSERT runs in the driver (SQLite's without the GIL, PostgreSQL's
        on the server), the metrics in a thread here."""
        async with self.db.session() as session:
            result = self._new_result(request, resolved)
            result.data_fingerprint = fingerprint
            session.add(result)
            await session.flush()
            ledger = await asyncio.to_thread(
                flat_ledger_insert, self.db.dialect_name, int(result.id), settled
            )
            if ledger is None:
                raise _RowPathNeeded
            report(0.8, f"storing {settled.bets:,} bets")
            metrics_or_error, written = await asyncio.gather(
                metrics_done, session.execute(ledger), return_exceptions=True
            )
            for outcome in (metrics_or_error, written):
                if isinstance(outcome, BaseException):
                    raise outcome
            metrics = cast(dict[str, Any], metrics_or_error)
            report(0.99, f"stored {settled.bets:,} of {settled.bets:,} bets")
            result.metrics = metrics
            result.bets = settled.bets
            result.profit = settled.profit
            result.yield_ = metrics.get("yield")
            await session.flush()
            if before_commit is not None:
                await before_commit(session, int(result.id))
            return int(result.id), metrics

    async def _flat_columns(
        self, request: BacktestRequest, rules: Any, session: AsyncSession
    ) -> FlatColumns:
        """The candidates as columns: on a big SQLite database in parts over fixture ids,
        read at once on their own connections (each aggregate runs inside SQLite without
        the GIL, so the parts use both cores), unless an index narrows the read (see
        `_narrowed_by_an_index`); on PostgreSQL the same, each part a server process.

        Like the count's parts, each part reads its own snapshot: an import committing
        mid-read can show in one part and not another. The ledger takes nothing from the
        database, so it always records exactly what was bet.
        """
        node = parse_rules(rules)
        ah = request.market in _AH_MARKETS
        dialect = self.db.dialect_name
        seasons: SeasonIndex | None = None
        if dialect == "sqlite":
            labels = (await session.execute(select(Fixture.season).distinct())).scalars().all()
            seasons = SeasonIndex.of(labels)

        def query(ids: IdRange | None) -> Select[Any]:
            tables = fixture_query_base()
            price, line, _, closing = market_columns(request, tables)
            inner = required_tables(node, tables) if self._inner_joins else set()
            # The range again on each table joined inner: PostgreSQL carries an equality
            # across a join but not a range, and scanned the whole odds and features
            # tables in every part.
            also_in_range = [
                condition
                for table in inner
                for condition in _id_range_conditions(tables, ids, table.c.fixture_id)
            ]
            where = and_(
                compile_rules(node, tables),
                *_scope_conditions(request, tables),
                *_id_range_conditions(tables, ids),
                *also_in_range,
            )
            fixture_columns = tables.fixtures.c.id  # the aggregate reads fixtures too
            source = _from_clause(tables, where, fixture_columns, price, line, closing, inner=inner)
            return flat_columns_query(request, tables, source, where, dialect, seasons)

        async def part(ids: IdRange | None, in_session: AsyncSession | None) -> FlatColumns:
            if in_session is None:
                async with self.db.session() as own:
                    if dialect == "postgresql" and ids is not None:
                        # The parts are the parallelism: workers of their own would only
                        # crowd the same cores.
                        await own.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
                    row = (await own.execute(query(ids))).one()
            else:
                row = (await in_session.execute(query(ids))).one()
            columns = await asyncio.to_thread(parse_flat_columns, tuple(row), dialect, ah, seasons)
            if columns is None:
                raise _RowPathNeeded
            return columns

        if _narrowed_by_an_index(request, rules):
            return await part(None, session)
        # PostgreSQL does not run these aggregates in parallel workers by itself; parts on
        # their own connections (server processes) do.
        ranges = await self._id_ranges(postgres_too=True)
        parts = await asyncio.gather(*(part(ids, None) for ids in ranges))
        return FlatColumns.concatenate(parts)

    def _new_result(self, request: BacktestRequest, resolved: ResolvedFilter) -> BacktestResult:
        return BacktestResult(
            user_id=self.user_id,
            filter_id=resolved.filter_id,
            filter_name=resolved.filter_name,
            request=request.to_dict(),
            rules_snapshot=_rules_snapshot(resolved),
            data_fingerprint={},
            metrics={},
            market=request.market,
            odds_source=request.odds_source,
            bets=0,
            profit=Decimal(0),
            yield_=None,
            created_at=utcnow(),
        )

    async def _store(
        self,
        request: BacktestRequest,
        resolved: ResolvedFilter,
        fingerprint: dict[str, Any],
        metrics: dict[str, Any],
        outcome: BacktestOutcome,
        report: Progress,
        before_commit: BeforeCommit | None = None,
    ) -> int:
        """Result row and ledger in one transaction: a cancel or crash leaves neither."""
        snapshot = _rules_snapshot(resolved)
        async with self.db.session() as session:
            result = BacktestResult(
                user_id=self.user_id,
                filter_id=resolved.filter_id,
                filter_name=resolved.filter_name,
                request=request.to_dict(),
                rules_snapshot=snapshot,
                data_fingerprint=fingerprint,
                metrics=metrics,
                market=request.market,
                odds_source=request.odds_source,
                bets=outcome.bets,
                profit=outcome.profit,
                yield_=metrics.get("yield"),
                created_at=utcnow(),
            )
            session.add(result)
            await session.flush()
            connection = await session.connection()
            sqlite = connection.dialect.name == "sqlite"
            report(0.8, f"storing {outcome.bets:,} bets")
            rows = await asyncio.to_thread(_ledger_rows, result.id, outcome, sqlite=sqlite)
            total = len(rows)

            def stored(done: int) -> None:
                report(0.8 + 0.2 * done / max(total, 1), f"stored {done:,} of {total:,} bets")

            if sqlite:
                # Multi-row INSERTs of as many rows as SQLite takes parameters: a fifth
                # less CPU than executemany, which steps the statement once per row.
                per_statement = _SQLITE_MAX_PARAMETERS // len(LEDGER_COLUMNS)
                table = cast(Table, BacktestBet.__table__)
                statements: dict[int, str] = {}
                for start in range(0, total, per_statement):
                    chunk = rows[start : start + per_statement]
                    statement = statements.get(len(chunk))
                    if statement is None:
                        statement = statements[len(chunk)] = _multirow_insert(
                            table, connection.dialect, len(chunk)
                        )
                    await connection.exec_driver_sql(statement, tuple(chain.from_iterable(chunk)))
                    stored(start + len(chunk))
            elif (
                await connection.execute(text("SELECT row_security_active('backtest_bets')"))
            ).scalar():
                # A role from `filterbets db grant`: COPY refuses a table under row-level
                # security, so INSERTs of many rows, each checked against its policy.
                table = cast(Table, BacktestBet.__table__)
                for start in range(0, total, LEDGER_COPY_CHUNK):
                    chunk = rows[start : start + LEDGER_COPY_CHUNK]
                    await connection.execute(
                        insert(table),
                        [dict(zip(LEDGER_COLUMNS, row, strict=True)) for row in chunk],
                    )
                    stored(start + len(chunk))
            else:
                # COPY is several times faster than INSERT on PostgreSQL, and runs inside
                # this session's transaction on the same connection.
                driver: Any = (await connection.get_raw_connection()).driver_connection
                for start in range(0, total, LEDGER_COPY_CHUNK):
                    await driver.copy_records_to_table(
                        BacktestBet.__tablename__,
                        records=rows[start : start + LEDGER_COPY_CHUNK],
                        columns=LEDGER_COLUMNS,
                    )
                    stored(min(start + LEDGER_COPY_CHUNK, total))
            if before_commit is not None:
                await before_commit(session, int(result.id))
            return int(result.id)


def _rules_snapshot(resolved: ResolvedFilter) -> dict[str, Any]:
    return {
        "rules": resolved.rules,
        "filter_id": resolved.filter_id,
        "filter_name": resolved.filter_name,
        "filter_stake": str(resolved.stake),
    }


def settle_flat(
    columns: FlatColumns,
    market: str,
    plan: FlatStaking,
    league_codes: dict[int, str],
    team_names: dict[int, str],
) -> FlatSettlement:
    """The columnar path's settling step (a name of its own here, so tests can pace it)."""
    with gc_paused():
        return settle_flat_columns(columns, market, plan, league_codes, team_names)


def _flat_metrics(settled: FlatSettlement, request: BacktestRequest, rules: Any) -> dict[str, Any]:
    metrics = flat_metrics(settled, odds_source=request.odds_source, curve_max_points=2000)
    return _finish_metrics(metrics, request, rules, settled.plan)


# SQLite's limit on parameters in one statement (999 before 3.32).
_SQLITE_MAX_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def _multirow_insert(table: Table, dialect: Any, rows: int) -> str:
    """INSERT INTO table (LEDGER_COLUMNS) VALUES (?, ...), ... for `rows` rows: only
    placeholders, the values are bound."""
    prefix = str(insert(table).compile(dialect=dialect, column_keys=list(LEDGER_COLUMNS)))
    head, _, one_row = prefix.partition(" VALUES ")
    return f"{head} VALUES {', '.join([one_row] * rows)}"


def _ledger_rows(
    result_id: int, outcome: BacktestOutcome, *, sqlite: bool
) -> list[tuple[Any, ...]]:
    """Ledger rows as driver parameters in LEDGER_COLUMNS order.

    SQLite's driver takes neither Decimal nor (from Python 3.12) date, so money goes as
    float, as SQLAlchemy's own Numeric does there, and dates as ISO text.
    """
    ledger, placed = outcome.ledger, outcome.placed
    if len(ledger) != len(placed):
        raise ValueError("ledger and placed bets differ in length")
    money: Callable[[Decimal], Any] = Memoized(float).__getitem__ if sqlite else _same
    day: Callable[[dt.date], Any] = Memoized(dt.date.isoformat).__getitem__ if sqlite else _same
    banks: Any = (
        map(float if sqlite else _same, map(_BANK_AFTER, ledger))
        if outcome.bank_based
        else repeat(None)
    )
    with gc_paused():
        # C-level map/zip: about 1 µs a row where a comprehension takes 2.
        return list(
            zip(
                repeat(result_id),
                count(1),
                map(_FIXTURE_ID, ledger),
                map(day, map(_KICKOFF_DATE, placed)),
                map(_ODDS, ledger),
                map(money, map(_STAKE, ledger)),
                map(_OUTCOME, ledger),
                map(money, map(_PROFIT, ledger)),
                banks,
            )
        )


_FIXTURE_ID = itemgetter(0)
_KICKOFF_DATE = itemgetter(1)
_ODDS = itemgetter(1)
_STAKE = itemgetter(2)
_OUTCOME = itemgetter(3)
_PROFIT = itemgetter(4)
_BANK_AFTER = itemgetter(5)


def _same(value: Any) -> Any:
    return value


def _metrics(outcome: BacktestOutcome, request: BacktestRequest, rules: Any) -> dict[str, Any]:
    from core.backtest.metrics import compute_metrics

    metrics = compute_metrics(outcome, odds_source=request.odds_source, curve_max_points=2000)
    return _finish_metrics(metrics, request, rules, outcome.staking)


def _finish_metrics(
    metrics: dict[str, Any], request: BacktestRequest, rules: Any, plan: StakingPlan
) -> dict[str, Any]:
    metrics["market"] = request.market
    metrics["odds_source"] = request.odds_source
    warnings: list[str] = list(metrics.get("warnings", []))
    if (uses_closing_prices(rules) or request.price_timing) and (
        CLOSING_PRICE_WARNING not in warnings
    ):
        warnings.insert(0, CLOSING_PRICE_WARNING)
    metrics["warnings"] = warnings
    metrics["staking"] = plan.to_dict()
    return metrics
