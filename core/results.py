"""Stored backtest results, read back for the dashboard: lists, detail, the bet ledger,
exports and a short summary for the clipboard.

Every method opens its own unit of work and returns frozen dataclasses, never ORM objects.
Results belong to a user; another user's result ids are reported as not found.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from core.db import Database
from core.errors import FilterBetsError
from core.models import (
    BacktestBet,
    BacktestResult,
    Filter,
    FilterTrial,
    Fixture,
    League,
    SweepVariant,
    Team,
)

ResultSort = Literal["yield", "profit", "bets", "date"]
RESULT_SORTS: tuple[ResultSort, ...] = get_args(ResultSort)
LedgerSort = Literal["seq", "date", "fixture", "odds", "stake", "outcome", "profit"]
LEDGER_SORTS: tuple[LedgerSort, ...] = get_args(LedgerSort)
ExportFormat = Literal["csv", "json"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)

ENV_EXPORT_DIR = "FILTERBETS_EXPORT_DIR"
EXPORT_DOCUMENT_FORMAT = "filterbets.result/1"
MAX_LEDGER_PAGE = 1_000

LEDGER_CSV_HEADER = (
    "seq",
    "date",
    "league",
    "home",
    "away",
    "odds",
    "stake",
    "outcome",
    "profit",
    "bank_after",
    "fixture_id",
)
SPLITS_CSV_HEADER = ("split", "key", "bets", "staked", "profit", "yield")
# Scalar metrics in the order an export lists them (anything else follows, sorted).
METRIC_ORDER = (
    "market",
    "odds_source",
    "bets",
    "wins",
    "losses",
    "pushes",
    "half_wins",
    "half_losses",
    "skipped_no_odds",
    "skipped_no_edge",
    "strike_rate",
    "staked",
    "profit",
    "yield",
    "roc",
    "avg_odds",
    "starting_bank",
    "final_bank",
    "max_drawdown",
    "max_drawdown_pct",
    "drawdown_duration_bets",
    "longest_winning_run",
    "longest_losing_run",
    "t_stat",
    "p_value",
    "p_value_odds_weighted",
    "clv",
    "clv_coverage",
)


class ResultError(FilterBetsError):
    """A result that does not exist, a bad sort or page, or an export that cannot be written."""


@dataclass(frozen=True)
class ResultSummary:
    """One stored run, as the results list shows it (no metrics JSON: that can be large)."""

    id: int
    filter_id: int | None
    filter_name: str | None
    market: str
    odds_source: str
    staking: str
    """The staking plan's kind: flat, percent or kelly."""
    bets: int
    profit: Decimal
    yield_: float | None
    created_at: dt.datetime
    request: dict[str, Any] = field(default_factory=dict, compare=False)
    """The request as run (market, odds source, staking, stake, bank, scope)."""
    kind: str = "backtest"
    """"backtest", "sweep" (its bets, profit and yield are the walk-forward's) or
    "strategy" (a candle strategy run: its trades, profit and total return)."""
    symbol: str | None = None
    """A candle strategy's run or sweep: the candles' symbol and timeframe, the strategy
    and its parameters (a sweep's fixed ones)."""
    timeframe: str | None = None
    strategy_type: str | None = None
    strategy_params: dict[str, Any] | None = None

    @property
    def is_strategy(self) -> bool:
        """A candle strategy's run or sweep (not a football filter's)."""
        return self.strategy_type is not None

    warnings: tuple[str, ...] = ()
    """The run's metrics warnings (no bets, a price no one gets, ...), in their order."""
    plan: dict[str, Any] = field(default_factory=dict, compare=False)
    """The staking plan as run, with its defaults filled in (the metrics' `staking`: kind,
    stake, percent or fraction and cap, bank); empty for a result stored without one."""

    @property
    def title(self) -> str:
        """The filter's name at run time, or "inline rules" for an unsaved rule set; a
        strategy's name and parameters with its candles."""
        if self.strategy_type is not None:
            params = ",".join(str(value) for value in (self.strategy_params or {}).values())
            shown = f"{self.strategy_type}({params})" if params else self.strategy_type
            return f"{shown} {self.symbol} {self.timeframe}"
        return self.filter_name or "inline rules"


@dataclass(frozen=True)
class TrialCount:
    """How many distinct variants have been run on the filter a backtest belongs to: the
    number its p-value has to be judged against (issue 11, "Trials over time")."""

    filter_id: int
    filter_name: str
    trials: int
    """The filter's recorded trials, and this run's variant if it is not among them."""

    def bonferroni(self, p_value: float | None) -> float | None:
        """The p-value adjusted for every trial: min(1, p x trials)."""
        return None if p_value is None else min(1.0, p_value * max(self.trials, 1))


@dataclass(frozen=True)
class ResultDetail:
    summary: ResultSummary
    request: dict[str, Any]
    metrics: dict[str, Any]
    rules: Any
    """The rules as they were run (a snapshot: the filter may have changed since)."""
    data_fingerprint: dict[str, Any]
    trials: TrialCount | None = None
    """For a backtest: the trials ever run on its filter (the filter it was run from, else
    the one whose sweep ran these very rules, as a promoted variant is); None when neither."""


@dataclass(frozen=True)
class SweepVariantRow:
    """One variant of a stored sweep."""

    index: int
    params: dict[str, Any]
    bets: int
    wins: int
    profit: Decimal
    staked: Decimal
    yield_: float | None
    max_drawdown: float
    longest_losing_run: int
    t_stat: float | None
    p_value: float | None
    q_value: float | None
    metrics: dict[str, Any] | None = None
    """A strategy sweep's variant: the strategy's metrics (total_return, sharpe, ...)."""


@dataclass(frozen=True)
class LedgerRow:
    seq: int
    fixture_id: int
    kickoff_date: dt.date
    league: str
    home: str
    away: str
    odds: float
    stake: Decimal
    outcome: str
    profit: Decimal
    bank_after: Decimal | None

    @property
    def fixture(self) -> str:
        return f"{self.home} v {self.away}"

    @property
    def label(self) -> str:
        """Date, league and teams: "2019-08-10 E0 Arsenal v Burnley"."""
        return f"{self.kickoff_date.isoformat()} {self.league} {self.fixture}"


@dataclass(frozen=True)
class LedgerPage:
    rows: tuple[LedgerRow, ...]
    offset: int
    limit: int
    total: int
    """Bets in the whole ledger."""
    sort_by: LedgerSort
    desc: bool

    @property
    def page(self) -> int:
        """1-based number of this page."""
        return self.offset // self.limit + 1 if self.limit else 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit)) if self.limit else 1


@dataclass(frozen=True)
class ExportedFiles:
    paths: tuple[Path, ...]
    """Every file written, the main one (the ledger, or the JSON document) first."""
    bets: int


def _money(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _json_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # a JSON column read back as text on some drivers
        value = json.loads(value)
    return dict(value) if isinstance(value, dict) else {}


def _summary_columns() -> tuple[Any, ...]:
    return (
        BacktestResult.id,
        BacktestResult.filter_id,
        BacktestResult.filter_name,
        BacktestResult.market,
        BacktestResult.odds_source,
        BacktestResult.request,
        BacktestResult.bets,
        BacktestResult.profit,
        BacktestResult.yield_,
        BacktestResult.created_at,
        BacktestResult.kind,
        BacktestResult.symbol,
        BacktestResult.timeframe,
        BacktestResult.strategy_type,
        BacktestResult.strategy_params,
        # Only these two out of the metrics document (its curve can be megabytes).
        BacktestResult.metrics["warnings"].label("warnings"),
        BacktestResult.metrics["staking"].label("plan"),
    )


def _warnings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _summary(row: Any) -> ResultSummary:
    request = _json_dict(row.request)
    if row.kind == "sweep":
        inner = request.get("backtest") or request.get("strategy")
        request = _json_dict(inner) | {"sweep": request}
    return ResultSummary(
        id=int(row.id),
        filter_id=row.filter_id,
        filter_name=row.filter_name,
        market=row.market,
        odds_source=row.odds_source,
        staking=str(request.get("staking") or "flat"),
        bets=int(row.bets),
        profit=_money(row.profit),
        yield_=None if row.yield_ is None else float(row.yield_),
        created_at=row.created_at,
        request=request,
        kind=str(row.kind),
        symbol=row.symbol,
        timeframe=row.timeframe,
        strategy_type=row.strategy_type,
        strategy_params=None if row.strategy_params is None else _json_dict(row.strategy_params),
        warnings=_warnings(row.warnings),
        plan=_json_dict(row.plan),
    )


def _result_order(sort_by: ResultSort, desc: bool) -> list[ColumnElement[Any]]:
    column: Any = {
        "yield": BacktestResult.yield_,
        "profit": BacktestResult.profit,
        "bets": BacktestResult.bets,
        "date": BacktestResult.created_at,
    }[sort_by]
    # A run without bets has no yield: it sorts last whichever way the list is turned.
    order: list[ColumnElement[Any]] = [case((column.is_(None), 1), else_=0)]
    order.append(column.desc() if desc else column.asc())
    order.append(BacktestResult.id.desc() if desc else BacktestResult.id.asc())
    return order


class ResultStore:
    """Read, export and summarise one user's stored backtest results."""

    def __init__(self, db: Database, user_id: int) -> None:
        self.db = db
        self.user_id = user_id

    # Lists and detail ------------------------------------------------------------------

    async def list_results(
        self,
        sort_by: ResultSort = "date",
        *,
        desc: bool = True,
        filter_id: int | None = None,
        limit: int | None = None,
        include_strategy_runs: bool = False,
    ) -> list[ResultSummary]:
        """The user's results, sorted (ties newest first when `desc`, oldest first otherwise).

        Candle strategy runs and sweeps (no market) are left out unless asked for.
        """
        if sort_by not in RESULT_SORTS:
            raise ResultError(f"sort: {sort_by!r} is not one of {', '.join(RESULT_SORTS)}")
        query = (
            select(*_summary_columns())
            .where(BacktestResult.user_id == self.user_id)
            .order_by(*_result_order(sort_by, desc))
        )
        if filter_id is not None:
            query = query.where(BacktestResult.filter_id == filter_id)
        if not include_strategy_runs:
            query = query.where(BacktestResult.strategy_type.is_(None))
        if limit is not None:
            query = query.limit(limit)
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        return [_summary(row) for row in rows]

    async def get(self, result_id: int) -> ResultDetail:
        query = select(
            *_summary_columns(),
            BacktestResult.metrics,
            BacktestResult.rules_snapshot,
            BacktestResult.data_fingerprint,
        ).where(BacktestResult.id == result_id, BacktestResult.user_id == self.user_id)
        async with self.db.session() as session:
            row = (await session.execute(query)).one_or_none()
        if row is None:
            raise ResultError(f"no result #{result_id}")
        snapshot = _json_dict(row.rules_snapshot)
        summary = _summary(row)
        rules = snapshot.get("rules")
        trials = None
        if summary.kind == "backtest" and rules is not None:
            trials = await self._trials(summary, rules)
        return ResultDetail(
            summary=summary,
            request=_json_dict(row.request),
            metrics=_json_dict(row.metrics),
            rules=rules,
            data_fingerprint=_json_dict(row.data_fingerprint),
            trials=trials,
        )

    async def _trials(self, summary: ResultSummary, rules: Any) -> TrialCount | None:
        from core.backtest.trials import filter_trials, variant_key

        key = variant_key(rules, summary.market, summary.odds_source)
        async with self.db.session() as session:
            filter_id = summary.filter_id
            if filter_id is None:
                # Inline rules, as a promoted variant runs: the user's filter whose sweep
                # ran these rules, if any (the one with the most trials when several did).
                owners = (
                    select(FilterTrial.filter_id)
                    .join(Filter, Filter.id == FilterTrial.filter_id)
                    .where(FilterTrial.variant_key == key, Filter.user_id == self.user_id)
                )
                filter_id = await session.scalar(
                    select(FilterTrial.filter_id)
                    .where(FilterTrial.filter_id.in_(owners))
                    .group_by(FilterTrial.filter_id)
                    .order_by(func.count().desc(), FilterTrial.filter_id)
                    .limit(1)
                )
                if filter_id is None:
                    return None
            name = await session.scalar(
                select(Filter.name).where(Filter.id == filter_id, Filter.user_id == self.user_id)
            )
            if name is None:
                return None  # the filter is gone, and its trials with it
            known = await session.scalar(
                select(func.count())
                .select_from(FilterTrial)
                .where(FilterTrial.filter_id == filter_id, FilterTrial.variant_key == key)
            )
        counted = await filter_trials(self.db, filter_id)
        return TrialCount(int(filter_id), str(name), counted + (0 if known else 1))

    async def variants(self, result_id: int) -> list[SweepVariantRow]:
        """A sweep's variants in grid order, each one's parameters in grid order too (JSONB
        keeps an object's keys in an order of its own)."""
        from core.backtest.grid import parse_grid

        detail = await self.get(result_id)
        names = parse_grid(detail.summary.request["sweep"]["grid"]).names
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(SweepVariant)
                    .where(SweepVariant.result_id == result_id)
                    .order_by(SweepVariant.idx)
                )
            ).scalars()
            return [
                SweepVariantRow(
                    index=row.idx,
                    params={name: row.params[name] for name in names},
                    bets=row.bets,
                    wins=row.wins,
                    profit=_money(row.profit),
                    staked=_money(row.staked),
                    yield_=row.yield_,
                    max_drawdown=row.max_drawdown,
                    longest_losing_run=row.longest_losing_run,
                    t_stat=row.t_stat,
                    p_value=row.p_value,
                    q_value=row.q_value,
                    metrics=None if row.metrics is None else _json_dict(row.metrics),
                )
                for row in rows
            ]

    async def last_sweep_grid(self, filter_id: int) -> dict[str, Any] | None:
        """The grid of the filter's latest sweep, as [name, values] pairs in its order (the
        editor offers it again for the filter's parameters); None if it was never swept."""
        async with self.db.session() as session:
            request = await session.scalar(
                select(BacktestResult.request)
                .where(
                    BacktestResult.user_id == self.user_id,
                    BacktestResult.filter_id == filter_id,
                    BacktestResult.kind == "sweep",
                )
                .order_by(BacktestResult.created_at.desc(), BacktestResult.id.desc())
                .limit(1)
            )
        if request is None:
            return None
        grid = _json_dict(request).get("grid")
        if not isinstance(grid, list):
            return None
        return {str(pair[0]): pair[1] for pair in grid if isinstance(pair, list) and len(pair) == 2}

    async def variant_request(self, result_id: int, index: int) -> Any:
        """The run of one variant of a sweep: a football sweep's variant as a backtest (its
        parameters written into the rules, the sweep's market, odds, scope and stake), a
        strategy sweep's as a strategy run (the sweep's candles and options, its fixed
        parameters and the variant's)."""
        from core.backtest.request import BacktestRequest
        from core.backtest.sweep import bind_rules

        detail = await self.get(result_id)
        if detail.summary.kind != "sweep":
            raise ResultError(f"result #{result_id} is a {detail.summary.kind}, not a sweep")
        async with self.db.session() as session:
            params = await session.scalar(
                select(SweepVariant.params).where(
                    SweepVariant.result_id == result_id, SweepVariant.idx == index
                )
            )
        if params is None:
            raise ResultError(f"sweep #{result_id} has no variant {index}")
        if detail.summary.is_strategy:
            from core.candles.sweep import StrategySweepRequest

            sweep = StrategySweepRequest.from_dict(detail.request)
            return replace(sweep.base, params=sweep.base.params | dict(params)).validated()
        data = dict(detail.summary.request)
        data.pop("sweep", None)
        stake = data.get("stake") or detail.metrics.get("stake")
        return BacktestRequest.from_dict(
            data | {"filter": None, "rules": bind_rules(detail.rules, dict(params)), "stake": stake}
        )

    async def delete(self, result_id: int) -> None:
        """Remove a result and its ledger."""
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(BacktestResult).where(
                        BacktestResult.id == result_id, BacktestResult.user_id == self.user_id
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                raise ResultError(f"no result #{result_id}")
            await session.delete(row)

    # The ledger ------------------------------------------------------------------------

    def _ledger_query(self, result_id: int) -> Select[Any]:
        home, away = aliased(Team), aliased(Team)
        columns: list[Any] = [
            BacktestBet.seq,
            BacktestBet.fixture_id,
            BacktestBet.kickoff_date,
            League.code.label("league"),
            home.name.label("home"),
            away.name.label("away"),
            BacktestBet.odds,
            BacktestBet.stake,
            BacktestBet.outcome,
            BacktestBet.profit,
            BacktestBet.bank_after,
        ]
        # Outer joins: a ledger outlives its fixtures (no foreign key), so a bet whose
        # fixture is gone still shows, with its league and teams blank.
        return (
            select(*columns)
            .select_from(BacktestBet)
            .outerjoin(Fixture, Fixture.id == BacktestBet.fixture_id)
            .outerjoin(League, League.id == Fixture.league_id)
            .outerjoin(home, home.id == Fixture.home_team_id)
            .outerjoin(away, away.id == Fixture.away_team_id)
            .where(BacktestBet.result_id == result_id)
        )

    @staticmethod
    def _ledger_order(query: Select[Any], sort_by: LedgerSort, desc: bool) -> Select[Any]:
        home_name = query.selected_columns.home
        away_name = query.selected_columns.away
        keys: dict[LedgerSort, list[Any]] = {
            "seq": [],
            "date": [BacktestBet.kickoff_date],
            "fixture": [home_name, away_name],
            "odds": [BacktestBet.odds],
            "stake": [BacktestBet.stake],
            "outcome": [BacktestBet.outcome],
            "profit": [BacktestBet.profit],
        }
        columns = [*keys[sort_by], BacktestBet.seq]
        return query.order_by(*(c.desc() if desc else c.asc() for c in columns))

    async def _check_owned(self, session: Any, result_id: int) -> int:
        """The result's bet count; ResultError when the user has no such result."""
        bets = (
            await session.execute(
                select(BacktestResult.bets).where(
                    BacktestResult.id == result_id, BacktestResult.user_id == self.user_id
                )
            )
        ).scalar_one_or_none()
        if bets is None:
            raise ResultError(f"no result #{result_id}")
        return int(bets)

    async def ledger_page(
        self,
        result_id: int,
        offset: int = 0,
        limit: int = 50,
        sort_by: LedgerSort = "seq",
        desc: bool = False,
    ) -> LedgerPage:
        """One page of the bet ledger, each bet with its fixture (date, league, teams)."""
        if sort_by not in LEDGER_SORTS:
            raise ResultError(f"sort: {sort_by!r} is not one of {', '.join(LEDGER_SORTS)}")
        if offset < 0 or not 0 < limit <= MAX_LEDGER_PAGE:
            raise ResultError(f"page: offset {offset} / limit {limit} out of range")
        query = self._ledger_order(self._ledger_query(result_id), sort_by, desc)
        async with self.db.session() as session:
            await self._check_owned(session, result_id)
            total = (
                await session.execute(
                    select(func.count())
                    .select_from(BacktestBet)
                    .where(BacktestBet.result_id == result_id)
                )
            ).scalar_one()
            rows = (await session.execute(query.offset(offset).limit(limit))).all()
        return LedgerPage(
            rows=tuple(_ledger_row(row) for row in rows),
            offset=offset,
            limit=limit,
            total=int(total),
            sort_by=sort_by,
            desc=desc,
        )

    async def ledger(self, result_id: int) -> list[LedgerRow]:
        """The whole ledger in bet order."""
        query = self._ledger_order(self._ledger_query(result_id), "seq", False)
        async with self.db.session() as session:
            await self._check_owned(session, result_id)
            rows = (await session.execute(query)).all()
        return [_ledger_row(row) for row in rows]

    # Export and summary ----------------------------------------------------------------

    async def export(
        self,
        result_id: int,
        path: Path | str,
        fmt: ExportFormat = "csv",
        *,
        overwrite: bool = False,
    ) -> ExportedFiles:
        """Write the metrics and the ledger; never replaces a file unless `overwrite`.

        JSON: one document at `path`. CSV: the ledger at `path`, the metrics next to it in
        `<stem>.metrics.csv` and the splits in `<stem>.splits.csv`.
        """
        if fmt not in EXPORT_FORMATS:
            raise ResultError(f"format: {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
        targets = await asyncio.to_thread(_check_targets, Path(path), fmt, overwrite)
        detail = await self.get(result_id)
        ledger = await self.ledger(result_id)
        await asyncio.to_thread(_write_export, detail, ledger, targets, fmt, overwrite)
        return ExportedFiles(paths=targets, bets=len(ledger))

    async def summary_text(self, result_id: int) -> str:
        """A few plain lines that describe the run, for pasting elsewhere."""
        return summary_text(await self.get(result_id))


def _ledger_row(row: Any) -> LedgerRow:
    return LedgerRow(
        seq=int(row.seq),
        fixture_id=int(row.fixture_id),
        kickoff_date=_as_date(row.kickoff_date),
        # Blank, not "None", for a bet whose fixture has since been deleted.
        league=row.league or "",
        home=row.home or "",
        away=row.away or "",
        odds=float(row.odds),
        stake=_money(row.stake),
        outcome=str(row.outcome),
        profit=_money(row.profit),
        bank_after=None if row.bank_after is None else _money(row.bank_after),
    )


# Files ---------------------------------------------------------------------------------


def export_dir() -> Path:
    """Where exports go by default: $FILTERBETS_EXPORT_DIR, else the current directory."""
    override = os.environ.get(ENV_EXPORT_DIR, "").strip()
    return Path(override).expanduser() if override else Path.cwd()


def export_paths(path: Path, fmt: ExportFormat) -> tuple[Path, ...]:
    """The files an export to `path` writes, the main one first."""
    if fmt == "json":
        return (path,)
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return (
        path,
        path.with_name(f"{stem}.metrics.csv"),
        path.with_name(f"{stem}.splits.csv"),
    )


def default_export_path(result_id: int, fmt: ExportFormat, directory: Path | None = None) -> Path:
    """`result-<id>.<fmt>` in the export folder, numbered so that no file would be replaced."""
    folder = directory if directory is not None else export_dir()
    n = 1
    while True:
        name = f"result-{result_id}" + (f"-{n}" if n > 1 else "") + f".{fmt}"
        candidate = folder / name
        if not any(p.exists() for p in export_paths(candidate, fmt)):
            return candidate
        n += 1


def _check_targets(path: Path, fmt: ExportFormat, overwrite: bool) -> tuple[Path, ...]:
    target = path.expanduser()
    targets = export_paths(target, fmt)
    if not overwrite:
        existing = [str(p) for p in targets if p.exists()]
        if existing:
            raise ResultError(f"not overwriting {', '.join(existing)}")
    if not target.parent.is_dir():
        raise ResultError(f"no such folder: {target.parent}")
    return targets


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _scalar_metrics(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    scalars = {
        key: value
        for key, value in metrics.items()
        if not isinstance(value, dict | list) and key != "result_id"
    }
    ordered = [key for key in METRIC_ORDER if key in scalars]
    ordered += sorted(key for key in scalars if key not in METRIC_ORDER)
    return [(key, scalars[key]) for key in ordered]


def _ledger_dict(row: LedgerRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "date": row.kickoff_date.isoformat(),
        "league": row.league,
        "home": row.home,
        "away": row.away,
        "odds": row.odds,
        "stake": str(row.stake),
        "outcome": row.outcome,
        "profit": str(row.profit),
        "bank_after": None if row.bank_after is None else str(row.bank_after),
        "fixture_id": row.fixture_id,
    }


def export_document(detail: ResultDetail, ledger: Sequence[LedgerRow]) -> dict[str, Any]:
    summary = detail.summary
    return {
        "format": EXPORT_DOCUMENT_FORMAT,
        "result": {
            "id": summary.id,
            "filter": summary.filter_name,
            "created_at": summary.created_at.isoformat(),
            "market": summary.market,
            "odds_source": summary.odds_source,
            "staking": summary.staking,
            "bets": summary.bets,
            "profit": str(summary.profit),
            "yield": summary.yield_,
        },
        "request": detail.request,
        "rules": detail.rules,
        "metrics": detail.metrics,
        "ledger": [_ledger_dict(row) for row in ledger],
    }


def _open(path: Path, overwrite: bool) -> Any:
    try:
        return path.open("w" if overwrite else "x", encoding="utf-8", newline="")
    except FileExistsError as exc:
        raise ResultError(f"not overwriting {path}") from exc
    except OSError as exc:
        raise ResultError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _write_rows(path: Path, header: Iterable[str], rows: Iterable[Iterable[Any]], ow: bool) -> None:
    with _open(path, ow) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _write_export(
    detail: ResultDetail,
    ledger: Sequence[LedgerRow],
    targets: tuple[Path, ...],
    fmt: ExportFormat,
    overwrite: bool,
) -> None:
    if fmt == "json":
        with _open(targets[0], overwrite) as handle:
            json.dump(export_document(detail, ledger), handle, indent=2, default=_plain)
            handle.write("\n")
        return
    ledger_path, metrics_path, splits_path = targets
    _write_rows(
        ledger_path,
        LEDGER_CSV_HEADER,
        (
            (
                row.seq,
                row.kickoff_date.isoformat(),
                row.league,
                row.home,
                row.away,
                row.odds,
                row.stake,
                row.outcome,
                row.profit,
                "" if row.bank_after is None else row.bank_after,
                row.fixture_id,
            )
            for row in ledger
        ),
        overwrite,
    )
    summary = detail.summary
    metric_rows: list[tuple[str, Any]] = [
        ("result_id", summary.id),
        ("filter", summary.filter_name or ""),
        ("created_at", summary.created_at.isoformat()),
        ("staking", summary.staking),
        *_scalar_metrics(detail.metrics),
        *(("warning", text) for text in detail.metrics.get("warnings") or ()),
    ]
    _write_rows(
        metrics_path,
        ("metric", "value"),
        ((key, "" if value is None else value) for key, value in metric_rows),
        overwrite,
    )
    splits = detail.metrics.get("splits") or {}
    _write_rows(
        splits_path,
        SPLITS_CSV_HEADER,
        (
            (
                name,
                row.get("key"),
                row.get("bets"),
                row.get("staked"),
                row.get("profit"),
                "" if row.get("yield") is None else row.get("yield"),
            )
            for name, rows in splits.items()
            for row in rows or ()
        ),
        overwrite,
    )


# Summary -------------------------------------------------------------------------------


def _signed(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{float(value):+,.{digits}f}"


def _percent(value: Any, digits: int = 2, *, sign: bool = True) -> str:
    if value is None:
        return "-"
    return f"{float(value) * 100:+.{digits}f}%" if sign else f"{float(value) * 100:.{digits}f}%"


def staking_text(staking: dict[str, Any]) -> str:
    """The staking plan in a few words: "flat 1.00", "2% of bank 100", "kelly x0.25 cap 0.05"."""
    kind = staking.get("kind", "flat")
    if kind == "flat":
        return f"flat {staking.get('stake', '1.00')}"
    if kind == "percent":
        return f"{staking.get('percent')}% of bank {staking.get('bank')}"
    return f"kelly x{staking.get('fraction')} cap {staking.get('cap')} bank {staking.get('bank')}"


def summary_text(detail: ResultDetail) -> str:
    summary, metrics = detail.summary, detail.metrics
    staking = metrics.get("staking") or {"kind": summary.staking}
    lines = [
        f"FilterBets result #{summary.id}: {summary.title}"
        f" ({summary.created_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC)",
        f"market {summary.market} at {summary.odds_source} odds, {staking_text(staking)}",
        f"bets {summary.bets:,} (W {metrics.get('wins', 0):,} / L {metrics.get('losses', 0):,})"
        f", strike rate {_percent(metrics.get('strike_rate'), 1, sign=False)}"
        f", avg odds {_num(metrics.get('avg_odds'), 2)}",
        f"profit {_signed(summary.profit)} units, yield {_percent(summary.yield_)}"
        f", ROC {_percent(metrics.get('roc'))}",
        f"max drawdown {_num(metrics.get('max_drawdown'), 2)} units"
        f", longest losing run {metrics.get('longest_losing_run', '-')}",
        f"p-value {_num(metrics.get('p_value'), 4)}{_trials_text(detail, metrics)}"
        f", CLV {_percent(metrics.get('clv'))}",
    ]
    if detail.rules is not None:
        rules = json.dumps(_readable_order(detail.rules), ensure_ascii=False, default=str)
        lines.append("rules " + rules)
    lines.extend(f"warning: {text}" for text in metrics.get("warnings") or ())
    return "\n".join(lines)


def _trials_text(detail: ResultDetail, metrics: dict[str, Any]) -> str:
    trials = detail.trials
    if trials is None:
        return ""
    adjusted = trials.bonferroni(metrics.get("p_value"))
    return (
        f" ({trials.trials:,} trial{'s' if trials.trials != 1 else ''} on filter"
        f" {trials.filter_name}; Bonferroni {_num(adjusted, 4)})"
    )


_KEY_ORDER = {"field": 0, "op": 1, "value": 2}


def _readable_order(rules: Any) -> Any:
    """Rules with each rule's keys as people write them (field, op, value): JSONB sorts them."""
    if isinstance(rules, list):
        return [_readable_order(item) for item in rules]
    if isinstance(rules, dict):
        keys = sorted(rules, key=lambda key: (_KEY_ORDER.get(str(key), 3), str(key)))
        return {key: _readable_order(rules[key]) for key in keys}
    return rules


def _num(value: Any, digits: int) -> str:
    return "-" if value is None else f"{float(value):,.{digits}f}"
