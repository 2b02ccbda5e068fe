"""The pre-match scanner: which upcoming fixtures each filter picks, at which price and stake,
and the live record of the picks a user took.

* **Scanning** reads the analysis frame like a backtest does: the same rules over the same
  columns, with features as of each fixture's kick-off date, so a filter means the same thing
  before and after the match. An upcoming fixture is one without a result, kicking off on or
  after `date_from` (today by default). A match without the chosen price is never picked; it
  counts in `skipped_no_odds`.
* **Stakes** follow the filter's staking plan: flat (the filter's stake), percent of `bank`,
  or Kelly of `bank` (fraction and cap as backtests size them, from Pinnacle's margin-free
  probability at the same timing; a pick Kelly sees no edge in is not a pick).
* **Recording** stores each pick with the price and source taken and when (`models.Pick`);
  the same pick twice is one row. **Settling** happens as it is read: once a later import
  brings the result, each pick settles by the backtests' rules (`backtest.settle`) and its
  CLV is measured against Pinnacle's closing margin-free odds when those arrive.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.backtest.engine import BacktestEngine, staking_plan
from core.backtest.market import source_prices
from core.backtest.metrics import FEW_BETS
from core.backtest.request import BacktestRequest, RequestError
from core.backtest.settle import AH_MARKETS, bet_profit, settle
from core.backtest.sources import source_columns
from core.backtest.staking import CENT, FlatStaking, KellyStaking, PercentStaking, StakingPlan
from core.db import Database, dialect_insert, utcnow
from core.errors import FilterBetsError, ScanError
from core.filters import FilterInfo, FilterStore
from core.frame import AnalysisFrame, frame_for
from core.models import Fixture, FixtureOdds, Pick, odds_column_name
from core.rules.catalogue import FIELDS, Labels, fair_price_columns, fair_probabilities
from core.rules.mask import field_values, rule_columns, rule_mask
from core.rules.validate import Node, fields_used, parse_rules
from core.upcoming import missing_source_warning, upcoming_odds_sources

__all__ = [
    "FilterRecord",
    "PickRecord",
    "ScanError",
    "ScanPick",
    "ScanResult",
    "ScanTarget",
    "Scanner",
    "target_of",
]

INLINE = "inline rules"
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class ScanTarget:
    """One filter to scan with: its rules, market, odds source and staking plan."""

    name: str
    rules: Any
    request: BacktestRequest
    """Market, odds source and staking (the filter's saved settings, or the options given)."""
    filter_id: int | None = None
    stake: Decimal = Decimal("1.00")


@dataclass(frozen=True)
class ScanPick:
    filter: str
    filter_id: int | None
    fixture_id: int
    date: dt.date
    kickoff: dt.time | None
    league: str
    home_team: str
    away_team: str
    market: str
    odds_source: str
    price: float
    ah_line: float | None
    stake: Decimal
    staking: dict[str, Any]
    features: dict[str, Any] = field(default_factory=dict)
    """The value of every field the filter's rules read, for this fixture."""

    def to_json(self) -> dict[str, Any]:
        return {
            "filter": self.filter,
            "fixture_id": self.fixture_id,
            "date": self.date.isoformat(),
            "kickoff": None if self.kickoff is None else self.kickoff.strftime("%H:%M"),
            "league": self.league,
            "home_team": self.home_team,
            "away_team": self.away_team,
            "market": self.market,
            "odds_source": self.odds_source,
            "price": self.price,
            "ah_line": self.ah_line,
            "stake": float(self.stake),
            "features": self.features,
        }


@dataclass(frozen=True)
class ScanResult:
    picks: list[ScanPick]
    skipped_no_odds: int
    warnings: list[str]
    upcoming: int
    """Upcoming fixtures in the date range (whatever the filters picked)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "picks": [pick.to_json() for pick in self.picks],
            "skipped_no_odds": self.skipped_no_odds,
            "warnings": self.warnings,
            "upcoming": self.upcoming,
        }


@dataclass(frozen=True)
class PickRecord:
    """A recorded pick with its outcome once the result is known."""

    id: int
    filter: str
    filter_id: int | None
    fixture_id: int | None
    date: dt.date
    league: str
    home_team: str
    away_team: str
    market: str
    odds_source: str
    price: float
    stake: Decimal
    taken_at: dt.datetime
    outcome: str | None
    profit: Decimal | None
    clv: float | None
    """price / the closing margin-free odds - 1, once closing prices are known."""
    clv_source: str | None
    """Whose closing prices measured it: Pinnacle's, else the book the price was taken at."""

    def to_json(self) -> dict[str, Any]:
        return {
            "filter": self.filter,
            "fixture_id": self.fixture_id,
            "date": self.date.isoformat(),
            "league": self.league,
            "home_team": self.home_team,
            "away_team": self.away_team,
            "market": self.market,
            "odds_source": self.odds_source,
            "price": self.price,
            "stake": float(self.stake),
            "taken_at": self.taken_at.isoformat(),
            "outcome": self.outcome,
            "profit": None if self.profit is None else float(self.profit),
            "clv": self.clv,
            "clv_source": self.clv_source,
        }


@dataclass(frozen=True)
class FilterRecord:
    """One filter's live record beside its backtest."""

    filter: str
    picks: int
    settled: int
    profit: Decimal
    staked: Decimal
    clv: float | None
    backtest_yield: float | None
    """The flat backtest's yield over everything before the filter's first pick."""
    note: str

    @property
    def yield_(self) -> float | None:
        return float(self.profit / self.staked) if self.staked else None

    def to_json(self) -> dict[str, Any]:
        return {
            "filter": self.filter,
            "picks": self.picks,
            "settled": self.settled,
            "profit": float(self.profit),
            "yield": self.yield_,
            "clv": self.clv,
            "backtest_yield": self.backtest_yield,
            "note": self.note,
        }


class Scanner:
    def __init__(self, db: Database, user_id: int) -> None:
        self.db = db
        self.user_id = user_id

    # -- targets --------------------------------------------------------------------------

    async def saved_targets(self, names: Sequence[str], *, every: bool = False) -> list[ScanTarget]:
        """The targets of saved filters: the named ones, or every active one."""
        store = FilterStore(self.db, self.user_id)
        if every:
            saved = [f for f in await store.list() if f.is_active]
        else:
            saved = [await store.get(name) for name in names]
        return [target_of(info) for info in saved]

    # -- scanning -------------------------------------------------------------------------

    async def scan(
        self,
        targets: Sequence[ScanTarget],
        *,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        bank: Decimal | None = None,
    ) -> ScanResult:
        date_from = date_from or dt.date.today()
        if date_to is not None and date_to < date_from:
            raise ScanError(f"--to {date_to} is before --from {date_from}")
        nodes = [parse_rules(target.rules) for target in targets]
        columns: set[str] = set()
        for target, node in zip(targets, nodes, strict=True):
            columns |= rule_columns(node) | _price_columns(target.request)
        frame = await frame_for(self.db, columns)
        counts = await upcoming_odds_sources(self.db, date_from=date_from)
        warnings: list[str] = []
        warned: set[str] = set()
        for target in targets:
            source = target.request.odds_source
            warning = missing_source_warning(source, counts)
            if warning is not None and source not in warned:
                warned.add(source)
                warnings.append(warning)
        return await asyncio.to_thread(
            _scan, frame, targets, nodes, date_from, date_to, bank, warnings
        )

    # -- recording ------------------------------------------------------------------------

    async def record(self, picks: Iterable[ScanPick]) -> int:
        """Store the picks as taken now; returns how many were new (a pick recorded before
        is left as it was)."""
        rows = [
            {
                "user_id": self.user_id,
                "filter_id": pick.filter_id,
                "filter_name": pick.filter,
                "fixture_id": pick.fixture_id,
                "kickoff_date": pick.date,
                "league": pick.league,
                "home_team": pick.home_team,
                "away_team": pick.away_team,
                "market": pick.market,
                "odds_source": pick.odds_source,
                "price": pick.price,
                "ah_line": pick.ah_line,
                "stake": pick.stake,
                "staking": pick.staking,
                "taken_at": utcnow(),
            }
            for pick in picks
        ]
        if not rows:
            return 0
        async with self.db.session() as session:
            dialect = (await session.connection()).dialect.name
            statement = (
                dialect_insert(dialect, Pick.__table__)
                .on_conflict_do_nothing()
                .returning(Pick.__table__.c.id)
            )
            try:
                inserted = (await session.execute(statement, rows)).all()
            except IntegrityError as exc:  # a fixture deleted since the scan
                raise ScanError(
                    "a picked fixture is no longer in the database; scan again"
                ) from exc
        return len(inserted)

    # -- the live record ------------------------------------------------------------------

    async def picks(self, filter_name: str | None = None) -> list[PickRecord]:
        """Recorded picks, oldest kick-off first, settled where the result is known."""
        p = Pick.__table__.c
        f = Fixture.__table__.c
        o = FixtureOdds.__table__.c
        close = [
            o[odds_column_name(source, s)]
            for source in _CLOSING_SOURCES
            for s in _CLOSING_SELECTIONS
        ]
        query = (
            select(
                Pick.__table__,
                f.home_goals,
                f.away_goals,
                o.ah_line_close,
                *close,
            )
            .select_from(
                Pick.__table__.outerjoin(Fixture.__table__, f.id == p.fixture_id).outerjoin(
                    FixtureOdds.__table__, o.fixture_id == p.fixture_id
                )
            )
            .where(p.user_id == self.user_id)
            .order_by(p.kickoff_date, p.league, p.home_team, p.filter_name, p.id)
        )
        if filter_name is not None:
            query = query.where(p.filter_name == filter_name)
        async with self.db.session() as session:
            rows = (await session.execute(query)).mappings().all()
        return [_record(row) for row in rows]

    async def records(
        self, filter_name: str | None = None
    ) -> tuple[list[PickRecord], list[FilterRecord]]:
        """The picks and, per filter, the live record beside the backtest's yield over the
        seasons before its first pick."""
        picks = await self.picks(filter_name)
        by_filter: dict[str, list[PickRecord]] = {}
        for pick in picks:
            by_filter.setdefault(pick.filter, []).append(pick)
        summaries = []
        for name, own in by_filter.items():
            summaries.append(await self._summary(name, own))
        return picks, summaries

    async def _summary(self, name: str, picks: list[PickRecord]) -> FilterRecord:
        settled = [p for p in picks if p.profit is not None]
        profit = sum((p.profit for p in settled if p.profit is not None), Decimal(0))
        staked = sum((p.stake for p in settled), Decimal(0))
        clvs = [p.clv for p in settled if p.clv is not None]
        clv = math.fsum(clvs) / len(clvs) if clvs else None
        backtest_yield = await self._backtest_before(name, picks)
        return FilterRecord(
            filter=name,
            picks=len(picks),
            settled=len(settled),
            profit=profit,
            staked=staked,
            clv=clv,
            backtest_yield=backtest_yield,
            note=_judgement(
                len(settled), float(profit / staked) if staked else None, backtest_yield
            ),
        )

    async def _backtest_before(self, name: str, picks: list[PickRecord]) -> float | None:
        """The filter's flat backtest over every fixture before its first pick's date."""
        first = min(p.date for p in picks)
        filter_id = picks[0].filter_id
        if filter_id is None:
            return None
        store = FilterStore(self.db, self.user_id)
        try:
            info = await store.get(filter_id)
        except FilterBetsError:
            return None  # the filter was deleted since
        target = target_of(info)
        request = BacktestRequest(
            market=target.request.market,
            filter_ref=str(info.id),
            odds_source=target.request.odds_source,
            date_to=first - dt.timedelta(days=1),
        )
        try:
            run = await BacktestEngine(self.db, self.user_id).run(request, store=False)
        except FilterBetsError:
            return None
        value = run.metrics.get("yield")
        return None if value is None else float(value)


_CLOSING_SELECTIONS = ("home", "draw", "away", "over25", "under25", "ah_home", "ah_away")
# Pinnacle's closing prices first, as backtests measure CLV; football-data stopped publishing
# them in 2025, so newer picks fall back to the closing prices of the book they were taken at.
_CLOSING_SOURCES = ("pinnacle_close", "b365_close", "avg_close", "max_close")


def target_of(info: FilterInfo) -> ScanTarget:
    settings = info.backtest_settings or {}
    try:
        request = BacktestRequest(
            market=str(settings.get("market") or "home"),
            rules=info.rules,
            odds_source=str(settings.get("odds_source") or "pinnacle"),
            staking=str(settings.get("staking") or "flat"),
            stake=settings.get("stake"),
            kelly_fraction=float(settings.get("kelly_fraction") or 0.25),
            kelly_cap=float(settings.get("kelly_cap") or 0.05),
        ).validated()
    except RequestError as exc:
        raise ScanError(f"filter {info.name!r}: {exc}") from exc
    return ScanTarget(info.name, info.rules, request, info.id, info.stake)


def _price_columns(request: BacktestRequest) -> set[str]:
    columns = set(source_columns(request.odds_source, request.market))
    if request.market in AH_MARKETS:
        columns.add("ah_line_close" if request.price_timing else "ah_line")
    if request.staking == "kelly":
        columns |= set(fair_price_columns(f"pinnacle{request.price_timing}", request.market))
    return columns


def _scan(
    frame: AnalysisFrame,
    targets: Sequence[ScanTarget],
    nodes: Sequence[Node],
    date_from: dt.date,
    date_to: dt.date | None,
    bank: Decimal | None,
    warnings: list[str],
) -> ScanResult:
    upcoming = ~frame.settled & (frame.day >= (date_from - _EPOCH).days)
    if date_to is not None:
        upcoming &= frame.day <= (date_to - _EPOCH).days
    found: list[tuple[int, str, ScanPick]] = []
    skipped = 0
    for target, node in zip(targets, nodes, strict=True):
        request = target.request
        plan = staking_plan(request, target.stake)
        if not isinstance(plan, FlatStaking) and bank is None:
            raise ScanError(f"filter {target.name!r} stakes {plan.kind}: give --bank")
        if bank is not None and not isinstance(plan, FlatStaking):
            plan = _with_bank(plan, bank)
        rows = np.flatnonzero(rule_mask(node, frame) & upcoming)
        price = source_prices(frame, request.odds_source, request.market)[rows]
        usable = (price > 1.0) & (price < np.inf)
        line = None
        if request.market in AH_MARKETS:
            line = frame.column("ah_line_close" if request.price_timing else "ah_line")[rows]
            usable &= ~np.isnan(line)
        skipped += int(np.count_nonzero(~usable))
        fair = None
        if isinstance(plan, KellyStaking):
            timing = request.price_timing
            fair = fair_probabilities(frame, f"pinnacle{timing}", request.market)[rows]
        described = _describer(frame, node)
        for i in np.flatnonzero(usable).tolist():
            stake = _stake(
                plan,
                float(price[i]),
                None if fair is None else float(fair[i]),
                float(request.win_share),
            )
            if stake is None:
                continue
            row = int(rows[i])
            found.append(
                (
                    row,
                    target.name,
                    ScanPick(
                        filter=target.name,
                        filter_id=target.filter_id,
                        fixture_id=int(frame.fixture_id[row]),
                        date=_EPOCH + dt.timedelta(days=int(frame.day[row])),
                        kickoff=_time(int(frame.seconds[row])),
                        league=frame.league_codes[int(frame.league[row])],
                        home_team=frame.team_names[int(frame.home_team[row])],
                        away_team=frame.team_names[int(frame.away_team[row])],
                        market=request.market,
                        odds_source=request.odds_source,
                        price=float(price[i]),
                        ah_line=None if line is None else float(line[i]),
                        stake=stake,
                        staking=plan.to_dict(),
                        features=described(row),
                    ),
                )
            )
    # Frame rows are in settlement order: kick-off, league, home team.
    found.sort(key=lambda item: (item[0], item[1]))
    return ScanResult(
        picks=[pick for _, _, pick in found],
        skipped_no_odds=skipped,
        warnings=warnings,
        upcoming=int(np.count_nonzero(upcoming)),
    )


def _with_bank(plan: StakingPlan, bank: Decimal) -> StakingPlan:
    if isinstance(plan, PercentStaking):
        return PercentStaking(percent=plan.percent, bank=bank)
    if isinstance(plan, KellyStaking):
        return KellyStaking(fraction=plan.fraction, cap=plan.cap, bank=bank)
    return plan


def _stake(
    plan: StakingPlan, price: float, fair: float | None, win_share: float = 1.0
) -> Decimal | None:
    """The stake the plan sizes for one pick from its bank; None when Kelly sees no edge."""
    if isinstance(plan, FlatStaking):
        return plan.stake
    if isinstance(plan, PercentStaking):
        return (plan.bank * plan.percent / 100).quantize(CENT, ROUND_HALF_EVEN)
    if fair is None or not 0.0 < fair < 1.0:
        return None
    net = 1.0 + (price - 1.0) * win_share  # what a win pays, net of an exchange's commission
    edge = (fair * net - 1.0) / (net - 1.0)
    if edge <= 0.0:
        return None
    share = plan.fraction * edge
    stake = (plan.bank * Decimal(repr(min(share, plan.cap)))).quantize(CENT, ROUND_HALF_EVEN)
    return stake if stake > 0 else None


def _time(seconds: int) -> dt.time | None:
    if seconds < 0:
        return None
    return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60)


def _describer(frame: AnalysisFrame, node: Node) -> Any:
    """row -> {field: value} for every field the rules read."""
    names = fields_used(node)
    values = {name: field_values(FIELDS[name], frame) for name in names}

    def describe(row: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, found in values.items():
            if isinstance(found, Labels):
                code = int(found.codes[row])
                out[name] = None if code < 0 else found.labels[code]
            else:
                value = float(found.values[row])
                if math.isnan(value):
                    out[name] = None
                elif FIELDS[name].type == "date":
                    out[name] = (_EPOCH + dt.timedelta(days=int(value))).isoformat()
                elif FIELDS[name].type == "integer":
                    out[name] = int(value)
                else:
                    out[name] = value
        return out

    return describe


def _record(row: Any) -> PickRecord:
    outcome: str | None = None
    profit: Decimal | None = None
    clv: float | None = None
    clv_source: str | None = None
    home, away = row["home_goals"], row["away_goals"]
    market = row["market"]
    if home is not None and away is not None:
        outcome = settle(market, int(home), int(away), row["ah_line"])
        profit = bet_profit(outcome, Decimal(row["stake"]), row["price"])
        clv, clv_source = _clv(row)
    return PickRecord(
        id=int(row["id"]),
        filter=row["filter_name"],
        filter_id=row["filter_id"],
        fixture_id=row["fixture_id"],
        date=_as_date(row["kickoff_date"]),
        league=row["league"],
        home_team=row["home_team"],
        away_team=row["away_team"],
        market=market,
        odds_source=row["odds_source"],
        price=float(row["price"]),
        stake=Decimal(row["stake"]).quantize(CENT),
        taken_at=row["taken_at"],
        outcome=outcome,
        profit=profit,
        clv=clv,
        clv_source=clv_source,
    )


_MARKET_SELECTIONS = {
    "home": ("home", "draw", "away"),
    "draw": ("home", "draw", "away"),
    "away": ("home", "draw", "away"),
    "over25": ("over25", "under25"),
    "under25": ("over25", "under25"),
    "ah_home": ("ah_home", "ah_away"),
    "ah_away": ("ah_home", "ah_away"),
}


def _clv(row: Any) -> tuple[float | None, str | None]:
    """The taken price against the closing margin-free odds of the same selection (the
    backtests' CLV, at Pinnacle's closing prices, else at the taken book's), and the closing
    source used; none on a moved handicap line, which prices another bet."""
    market = row["market"]
    if market in AH_MARKETS and row["ah_line_close"] != row["ah_line"]:
        return None, None
    taken_close = f"{row['odds_source'].removesuffix('_close')}_close"
    for source in ("pinnacle_close", taken_close):
        if source not in _CLOSING_SOURCES:
            continue
        prices = [row[odds_column_name(source, s)] for s in _MARKET_SELECTIONS[market]]
        if any(p is None or not p > 0 for p in prices):
            continue
        implied = [1.0 / p for p in prices]
        total = implied[0]
        for part in implied[1:]:
            total = total + part
        fair = 1.0 / row[odds_column_name(source, market)] / total
        if fair > 0:
            return float(row["price"]) / (1.0 / float(fair)) - 1.0, source
    return None, None


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _judgement(settled: int, live: float | None, backtest: float | None) -> str:
    """A plain sentence on what the live record can say yet."""
    if settled == 0:
        return "no settled picks yet: nothing to judge"
    if settled < FEW_BETS:
        spread = 100 / math.sqrt(settled)
        return (
            f"only {settled} settled picks: far too few to tell skill from luck (at even"
            f" odds, one standard deviation of yield is about {spread:.0f} points)"
        )
    if live is not None and backtest is not None:
        spread = 100 / math.sqrt(settled)
        gap = (live - backtest) * 100
        if abs(gap) <= 2 * spread:
            return (
                f"{settled} settled picks: the live yield is within two standard deviations"
                " of the backtest's"
            )
        return (
            f"{settled} settled picks: the live yield is {abs(gap):.1f} points"
            f" {'below' if gap < 0 else 'above'} the backtest's, more than chance alone"
            " would usually give"
        )
    return f"{settled} settled picks"
