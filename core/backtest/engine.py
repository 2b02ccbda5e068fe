"""The one backtest path: resolve the filter, compile it, fetch only the needed columns in
one query, settle and size off the event loop, compute metrics, store result and ledger.

The CLI, the dashboard preview, jobs and workers all come through here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Select, Table, and_, case, func, insert, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause
from sqlalchemy.sql.util import find_tables

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
from core.db import Database, utcnow
from core.errors import FilterBetsError
from core.models import BacktestBet, BacktestResult, League, Team
from core.rules import validate_rules
from core.rules.catalogue import FIELDS, FixtureTables, fixture_query_base
from core.rules.compile import compile_rules
from core.rules.validate import CLOSING_PRICE_WARNING, uses_closing_prices

Progress = Callable[[float, str], None]
BeforeCommit = Callable[[AsyncSession, int], Awaitable[None]]
LEDGER_CHUNK = 5_000

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
        conditions.append(tables.leagues.c.code.in_(request.leagues))
    if request.seasons:
        conditions.append(f.season.in_(request.seasons))
    if request.date_from:
        conditions.append(f.kickoff_date >= request.date_from)
    if request.date_to:
        conditions.append(f.kickoff_date <= request.date_to)
    return conditions


def _from_clause(tables: FixtureTables, *clauses: ColumnElement[Any]) -> FromClause:
    """fixtures plus only the tables the clauses name.

    Every fixture has exactly one league and two teams, so leaving an unused join out
    changes no row, and over a million fixtures each join costs seconds on SQLite.
    """
    used: set[Any] = set()
    for clause in clauses:
        used.update(find_tables(clause, check_columns=True, include_aliases=True))
    f = tables.fixtures.c
    source: FromClause = tables.fixtures
    if tables.odds in used:
        source = source.outerjoin(tables.odds, tables.odds.c.fixture_id == f.id)
    if tables.leagues in used:
        source = source.outerjoin(tables.leagues, tables.leagues.c.id == f.league_id)
    if tables.home_team in used:
        source = source.outerjoin(tables.home_team, tables.home_team.c.id == f.home_team_id)
    if tables.away_team in used:
        source = source.outerjoin(tables.away_team, tables.away_team.c.id == f.away_team_id)
    if tables.features in used:
        source = source.outerjoin(tables.features, tables.features.c.fixture_id == f.id)
    return source


def candidate_query(request: BacktestRequest, rules: Any) -> Select[Any]:
    """SELECT the columns of `Candidate`, in its order, for every fixture the filter picks.

    League and team come back as ids; `_candidates` swaps in code and names from small
    lookup tables, which is far cheaper than joining them for every row.
    """
    tables = fixture_query_base()
    f = tables.fixtures.c
    market = request.market
    source = request.odds_source
    timing = request.price_timing
    price = FIELDS[f"odds.{source}.{market}"].sql(tables)
    if market in _AH_MARKETS:
        line = FIELDS["ah_line_close" if timing else "ah_line"].sql(tables)
    else:
        line = literal(None)
    fair_now = FIELDS[f"fair.pinnacle{timing}.{market}"].sql(tables)
    fair_close = FIELDS[f"fair.pinnacle_close.{market}"].sql(tables)
    if market in _AH_MARKETS:
        # Closing prices on a moved line price a different bet: no CLV for those.
        same_line = FIELDS["ah_line_close"].sql(tables) == line
        fair_close = case((same_line, fair_close), else_=None)
    closing_fair_odds = case((fair_close > 0, 1.0 / fair_close), else_=None)
    columns: list[ColumnElement[Any]] = [
        f.id,
        f.kickoff_date,
        f.kickoff_time,
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
    where = and_(compile_rules(rules, tables), *_scope_conditions(request, tables))
    return select(*columns).select_from(_from_clause(tables, where, *columns)).where(where)


def count_query(request: BacktestRequest, rules: Any) -> Select[Any]:
    """How many fixtures the filter picks in scope (the editor's live count)."""
    tables = fixture_query_base()
    where = and_(compile_rules(rules, tables), *_scope_conditions(request, tables))
    return select(func.count()).select_from(_from_clause(tables, where)).where(where)


def _candidates(
    rows: Sequence[Any], league_codes: dict[int, str], team_names: dict[int, str]
) -> list[tuple[Any, ...]]:
    """Query rows in `Candidate` order, with codes and names in place of ids."""
    return [
        (
            row[0],
            row[1],
            row[2],
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
            row[1].month,
        )
        for row in rows
    ]


def _staking_plan(request: BacktestRequest, filter_stake: Decimal) -> StakingPlan:
    if request.staking == "flat":
        return FlatStaking(stake=request.stake or filter_stake, bank=request.bank)
    if request.staking == "percent":
        return PercentStaking(percent=request.stake or Decimal("1"), bank=request.bank)
    return KellyStaking(fraction=request.kelly_fraction, cap=request.kelly_cap, bank=request.bank)


class BacktestEngine:
    def __init__(self, db: Database, user_id: int) -> None:
        self.db = db
        self.user_id = user_id

    async def resolve_filter(self, request: BacktestRequest) -> ResolvedFilter:
        if request.rules is not None:
            return ResolvedFilter(validate_rules(request.rules), None, None, Decimal("1.00"))
        from core.filters import FilterStore

        assert request.filter_ref is not None
        saved = await FilterStore(self.db, self.user_id).get(request.filter_ref)
        return ResolvedFilter(validate_rules(saved.rules), saved.id, saved.name, saved.stake)

    async def _check_scope(self, request: BacktestRequest) -> None:
        """Unknown league codes are a mistake worth stopping for, with a suggestion."""
        if not request.leagues:
            return
        async with self.db.session() as session:
            known = list((await session.execute(select(League.code))).scalars())
        for code in request.leagues:
            if code not in known:
                import difflib

                close = difflib.get_close_matches(code, known, n=1, cutoff=0.5)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise RequestError(f"leagues: no league {code!r} in the database{hint}")

    async def count(self, request: BacktestRequest) -> int:
        request = request.validated()
        resolved = await self.resolve_filter(request)
        async with self.db.session() as session:
            return int((await session.execute(count_query(request, resolved.rules))).scalar_one())

    async def _fingerprint(self, request: BacktestRequest) -> dict[str, Any]:
        """Fixture count and latest import time in scope: tells a stale result at a glance."""
        tables = fixture_query_base()
        where = and_(true(), *_scope_conditions(request, tables))
        query = (
            select(func.count(), func.max(tables.fixtures.c.updated_at))
            .select_from(_from_clause(tables, where))
            .where(where)
        )
        async with self.db.session() as session:
            count, latest = (await session.execute(query)).one()
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

        request = request.validated()
        report(0.0, "resolving filter")
        resolved = await self.resolve_filter(request)
        await self._check_scope(request)
        plan = _staking_plan(request, resolved.stake)

        report(0.05, "selecting fixtures")
        query = candidate_query(request, resolved.rules)
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
            league_codes = dict((await session.execute(select(League.id, League.code))).all())
            team_names = dict((await session.execute(select(Team.id, Team.name))).all())
        fingerprint = await self._fingerprint(request)

        report(0.5, f"settling {len(rows):,} fixtures")

        def settle() -> BacktestOutcome:
            with gc_paused():
                candidates = _candidates(rows, league_codes, team_names)
            # Plain tuples in Candidate's field order: run_backtest's documented fast path.
            return run_backtest(cast(list[Candidate], candidates), request.market, plan)

        outcome = await asyncio.to_thread(settle)
        report(0.7, "computing metrics")
        metrics = await asyncio.to_thread(_metrics, outcome, request, resolved.rules)
        report(0.8, f"storing {outcome.bets:,} bets")
        result_id = 0
        if store:
            result_id = await self._store(
                request, resolved, fingerprint, metrics, outcome, report, before_commit
            )
        report(1.0, "done")
        return BacktestRun(
            result_id=result_id,
            metrics=metrics,
            request=request.to_dict(),
            filter_name=resolved.filter_name,
            seconds=time.perf_counter() - started,
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
        snapshot = {
            "rules": resolved.rules,
            "filter_id": resolved.filter_id,
            "filter_name": resolved.filter_name,
            "filter_stake": str(resolved.stake),
        }
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
            rows = await asyncio.to_thread(
                _ledger_rows, result.id, outcome, sqlite=connection.dialect.name == "sqlite"
            )
            # One prepared INSERT run as executemany on the driver: a big run writes ~200k
            # ledger rows, and per-row bind processing would cost more than the backtest.
            statement = str(
                insert(cast(Table, BacktestBet.__table__)).compile(
                    dialect=connection.dialect, column_keys=list(LEDGER_COLUMNS)
                )
            )
            for start in range(0, len(rows), LEDGER_CHUNK):
                await connection.exec_driver_sql(statement, rows[start : start + LEDGER_CHUNK])
                report(
                    0.8 + 0.2 * min(1.0, (start + LEDGER_CHUNK) / max(len(rows), 1)),
                    f"stored {min(start + LEDGER_CHUNK, len(rows)):,} of {len(rows):,} bets",
                )
            if before_commit is not None:
                await before_commit(session, int(result.id))
            return int(result.id)


LEDGER_COLUMNS = (
    "result_id",
    "seq",
    "fixture_id",
    "kickoff_date",
    "odds",
    "stake",
    "outcome",
    "profit",
    "bank_after",
)


def _ledger_rows(
    result_id: int, outcome: BacktestOutcome, *, sqlite: bool
) -> list[tuple[Any, ...]]:
    """Ledger rows as driver parameters in LEDGER_COLUMNS order.

    SQLite's driver takes neither Decimal nor (from Python 3.12) date, so money goes as
    float, as SQLAlchemy's own Numeric does there, and dates as ISO text.
    """
    money: Callable[[Decimal], Any] = float if sqlite else _same
    day: Callable[[dt.date], Any] = dt.date.isoformat if sqlite else _same
    bank_based = outcome.bank_based
    with gc_paused():
        return [
            (
                result_id,
                seq,
                bet.fixture_id,
                day(candidate[1]),
                bet.odds,
                money(bet.stake),
                bet.outcome,
                money(bet.profit),
                money(bet.bank_after) if bank_based else None,
            )
            for seq, (bet, candidate) in enumerate(
                zip(outcome.ledger, outcome.placed, strict=True), start=1
            )
        ]


def _same(value: Any) -> Any:
    return value


def _metrics(outcome: BacktestOutcome, request: BacktestRequest, rules: Any) -> dict[str, Any]:
    from core.backtest.metrics import compute_metrics

    metrics = compute_metrics(outcome, odds_source=request.odds_source, curve_max_points=2000)
    metrics["market"] = request.market
    metrics["odds_source"] = request.odds_source
    warnings: list[str] = list(metrics.get("warnings", []))
    if (uses_closing_prices(rules) or request.price_timing) and (
        CLOSING_PRICE_WARNING not in warnings
    ):
        warnings.insert(0, CLOSING_PRICE_WARNING)
    metrics["warnings"] = warnings
    metrics["staking"] = outcome.staking.to_dict()
    return metrics
