"""The one backtest path: resolve the filter, evaluate it over the analysis frame, settle and
size off the event loop, compute metrics, store the result and its ledger.

The CLI, the dashboard's preview, jobs and workers all come through here. Flat stakes settle
over arrays (`core.backtest.flat`); percent and Kelly stakes, each of which depends on the
bank, go through `staking.run_backtest` one bet at a time. Both read the same frame rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.backtest.candidates import candidate_rows, scope_mask
from core.backtest.flat import FlatSettlement, flat_metrics
from core.backtest.flat import settle_flat as settle_frame_rows
from core.backtest.ledger import write_flat_ledger, write_ledger
from core.backtest.market import (
    FlatPairs,
    MarketPrices,
    flat_pairs,
    market_columns,
    market_prices,
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
from core.backtest.trials import record_trials, variant_key
from core.db import Database, Memoized, utcnow
from core.errors import FilterBetsError
from core.frame import AnalysisFrame, frame_for
from core.models import BacktestResult, League
from core.rules.catalogue import fair_probabilities
from core.rules.known import check_rules_against_data, unknown_value_message
from core.rules.mask import rule_columns
from core.rules.validate import CLOSING_PRICE_WARNING, parse_rules, uses_closing_prices

Progress = Callable[[float, str], None]
BeforeCommit = Callable[[AsyncSession, int], Awaitable[None]]


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


def staking_plan(request: BacktestRequest, filter_stake: Decimal) -> StakingPlan:
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
        return await self._resolve(request, params=False)

    async def resolve_template(self, request: BacktestRequest) -> ResolvedFilter:
        """As `resolve_filter`, but the rules may hold sweep parameters."""
        return await self._resolve(request, params=True)

    async def _resolve(self, request: BacktestRequest, *, params: bool) -> ResolvedFilter:
        if request.rules is not None:
            parse_rules(request.rules, params=params)
            return ResolvedFilter(request.rules, None, None, Decimal("1.00"))
        from core.filters import FilterStore

        assert request.filter_ref is not None
        saved = await FilterStore(self.db, self.user_id).get(request.filter_ref)
        parse_rules(saved.rules, params=params)
        return ResolvedFilter(saved.rules, saved.id, saved.name, saved.stake)

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

    async def count(self, request: BacktestRequest) -> int:
        """How many fixtures the filter picks in scope (the editor's live count)."""
        request = request.validated()
        resolved = await self.resolve_filter(request)
        node = parse_rules(resolved.rules)
        frame = await frame_for(self.db, rule_columns(node))
        rows = await asyncio.to_thread(candidate_rows, frame, node, request)
        return len(rows)

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

        # The collector stays off for the whole run: a bank-based run builds a tuple per
        # candidate and per bet, and collections triggered along the way cost a tenth of
        # the run (measured); the run's objects are freed by reference counting.
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
        plan = staking_plan(request, resolved.stake)
        node = parse_rules(resolved.rules)

        report(0.05, "selecting fixtures")
        columns = rule_columns(node) | market_columns(
            request.market, request.odds_source, kelly=isinstance(plan, KellyStaking)
        )
        frame = await frame_for(self.db, columns)

        if isinstance(plan, FlatStaking):
            flat = plan

            def select_and_settle() -> tuple[dict[str, Any], FlatSettlement]:
                # One thread hop, not four: a warm run over the corpus takes a few ms.
                rows, prices = _select(frame, node, request)
                pairs = flat_pairs(prices, flat.stake, frame, request.win_share)
                settled = settle_flat(rows, frame, prices, pairs, flat)
                return data_fingerprint(frame, request), settled

            report(0.5, "selecting and settling fixtures")
            fingerprint, settled = await asyncio.to_thread(select_and_settle)
            report(0.7, f"computing metrics over {settled.bets:,} bets")
            metrics = await asyncio.to_thread(_flat_metrics, settled, request, resolved.rules)
            bets, profit = settled.bets, settled.profit
        else:
            fingerprint = await asyncio.to_thread(data_fingerprint, frame, request)
            rows, prices = await asyncio.to_thread(_select, frame, node, request)
            report(0.5, f"settling {len(rows):,} fixtures")
            candidates = await asyncio.to_thread(_candidates, frame, prices, rows, plan)
            outcome = await asyncio.to_thread(
                partial(run_backtest, win_share=request.win_share), candidates, request.market, plan
            )
            report(0.7, "computing metrics")
            metrics = await asyncio.to_thread(_metrics, outcome, request, resolved.rules)
            bets, profit = outcome.bets, outcome.profit

        result_id = 0
        if store:
            async with self.db.session() as session:
                result = self._new_result(request, resolved)
                result.data_fingerprint = fingerprint
                result.metrics = metrics
                result.bets = bets
                result.profit = profit
                result.yield_ = metrics.get("yield")
                session.add(result)
                await session.flush()
                result_id = int(result.id)
                if resolved.filter_id is not None:  # this version of the filter: a trial
                    key = variant_key(resolved.rules, request.market, request.odds_source)
                    await record_trials(session, resolved.filter_id, {key})
                report(0.8, f"storing {bets:,} bets")

                def stored(done: int, total: int) -> None:
                    report(0.8 + 0.19 * done / max(total, 1), f"stored {done:,} of {total:,} bets")

                if isinstance(plan, FlatStaking):
                    await write_flat_ledger(session, result_id, settled, stored)
                else:
                    await write_ledger(session, result_id, outcome, stored)
                if before_commit is not None:
                    await before_commit(session, result_id)
            self.db.checkpoint_soon()
        report(1.0, "done")
        return BacktestRun(
            result_id=result_id,
            metrics=metrics,
            request=request.to_dict(),
            filter_name=resolved.filter_name,
            seconds=time.perf_counter() - started,
        )

    def _new_result(self, request: BacktestRequest, resolved: ResolvedFilter) -> BacktestResult:
        return BacktestResult(
            user_id=self.user_id,
            filter_id=resolved.filter_id,
            filter_name=resolved.filter_name,
            kind="backtest",
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


def data_fingerprint(frame: AnalysisFrame, request: BacktestRequest) -> dict[str, Any]:
    """What a run saw: fixtures in scope, the data version and when the data last changed
    (read with the version), to tell a stale result at a glance."""
    return {
        "fixtures_in_scope": int(scope_mask(frame, request).sum()),
        "data_version": frame.version,
        "data_changed_at": frame.changed_at.isoformat() if frame.changed_at else None,
    }


def _select(frame: AnalysisFrame, node: Any, request: BacktestRequest) -> tuple[Any, MarketPrices]:
    return candidate_rows(frame, node, request), market_prices(
        frame, request.market, request.odds_source
    )


_EPOCH = dt.date(1970, 1, 1)


def _candidates(
    frame: AnalysisFrame, prices: MarketPrices, rows: Any, plan: StakingPlan
) -> list[Candidate]:
    """The rows as `Candidate` tuples for the bank-based path (missing values as None)."""
    timing = "_close" if prices.odds_source.endswith("_close") else ""
    fair_now = (
        fair_probabilities(frame, f"pinnacle{timing}", prices.market)[rows]
        if isinstance(plan, KellyStaking)
        else np.full(len(rows), np.nan)
    )
    days = Memoized(lambda d: _EPOCH + dt.timedelta(days=d))
    times = Memoized(lambda s: None if s < 0 else dt.time(s // 3600, s // 60 % 60, s % 60))
    leagues, teams, seasons = frame.league_codes, frame.team_names, frame.season_labels

    def present(values: Any) -> list[float | None]:
        return [None if v != v else v for v in values.tolist()]  # NaN is not equal to itself

    line = prices.line[rows] if prices.line is not None else np.full(len(rows), np.nan)
    return [
        Candidate(
            fixture_id,
            (date := days[day]),
            times[seconds],
            leagues[league],
            teams[home],
            teams[away],
            home_goals,
            away_goals,
            price,
            ah_line,
            fair,
            closing,
            seasons[season],
            date.month,
        )
        for (
            fixture_id,
            day,
            seconds,
            league,
            home,
            away,
            home_goals,
            away_goals,
            price,
            ah_line,
            fair,
            closing,
            season,
        ) in zip(
            frame.fixture_id[rows].tolist(),
            frame.day[rows].tolist(),
            frame.seconds[rows].tolist(),
            frame.league[rows].tolist(),
            frame.home_team[rows].tolist(),
            frame.away_team[rows].tolist(),
            frame.home_goals[rows].tolist(),
            frame.away_goals[rows].tolist(),
            present(prices.price[rows]),
            present(line),
            present(fair_now),
            present(prices.closing_fair_odds[rows]),
            frame.season[rows].tolist(),
            strict=True,
        )
    ]


def _rules_snapshot(resolved: ResolvedFilter) -> dict[str, Any]:
    return {
        "rules": resolved.rules,
        "filter_id": resolved.filter_id,
        "filter_name": resolved.filter_name,
        "filter_stake": str(resolved.stake),
    }


def settle_flat(
    candidates: Any,
    frame: AnalysisFrame,
    prices: MarketPrices,
    pairs: FlatPairs,
    plan: FlatStaking,
) -> FlatSettlement:
    """The flat path's settling step (a name of its own here, so tests can pace it)."""
    return settle_frame_rows(frame, prices, pairs, candidates, plan)


def _flat_metrics(settled: FlatSettlement, request: BacktestRequest, rules: Any) -> dict[str, Any]:
    metrics = flat_metrics(settled, odds_source=request.odds_source, curve_max_points=2000)
    return _finish_metrics(metrics, request, rules, settled.plan)


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
