"""A scan of every active saved filter, as the dashboard's Scanner screen shows it.

`Scanner.scan` refuses a whole scan for one filter it cannot run (a percent or Kelly filter
without a bank, saved settings that no longer validate). Here each such filter is left out
with a plain line saying why, and the others are scanned; each missing-odds warning names
the filters it concerns; and the picks already recorded are known, so the screen can mark
them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from core.db import Database
from core.errors import ScanError
from core.filters import FilterStore
from core.scanner import PickRecord, Scanner, ScanPick, ScanResult, ScanTarget, target_of
from core.upcoming import (
    UpcomingSummary,
    missing_source_warning,
    upcoming_odds_sources,
    upcoming_summary,
)

PickKey = tuple[str, int, str, str]
"""What makes a recorded pick the same pick: filter, fixture, market, odds source."""

KELLY_PRICES = "pinnacle"
"""Whose margin-free prices Kelly sizes stakes from (see core.scanner)."""


def pick_key(pick: ScanPick | PickRecord) -> PickKey | None:
    if pick.fixture_id is None:
        return None
    return (pick.filter, pick.fixture_id, pick.market, pick.odds_source)


@dataclass(frozen=True)
class ScanBoard:
    result: ScanResult
    date_from: dt.date
    date_to: dt.date | None
    bank: Decimal | None
    filters: list[str]
    """The active filters scanned, in the order the Filters screen lists them."""
    left_out: list[str] = field(default_factory=list)
    """A line per active filter not scanned, and why."""
    warnings: list[str] = field(default_factory=list)
    """The scan's warnings, each naming the filters it concerns."""
    recorded: frozenset[PickKey] = frozenset()
    """The picks (of this scan or not) recorded before."""
    loaded: UpcomingSummary = field(default_factory=lambda: UpcomingSummary(0, None, None))
    """Every upcoming fixture in the database, whatever the date range."""
    inactive: int = 0

    def is_recorded(self, pick: ScanPick) -> bool:
        return pick_key(pick) in self.recorded


async def scan_active_filters(
    db: Database,
    user_id: int,
    *,
    date_from: dt.date,
    date_to: dt.date | None = None,
    bank: Decimal | None = None,
) -> ScanBoard:
    """Scan every active saved filter that can be scanned as asked."""
    if date_to is not None and date_to < date_from:
        raise ScanError(f"To {date_to} is before From {date_from}")
    saved = await FilterStore(db, user_id).list()
    active = [info for info in saved if info.is_active]
    targets: list[ScanTarget] = []
    left_out: list[str] = []
    for info in active:
        try:
            target = target_of(info)
        except ScanError as exc:
            left_out.append(f"{exc}; fix it on Filters")
            continue
        staking = target.request.staking
        if staking != "flat" and bank is None:
            left_out.append(f"{info.name} stakes {staking} of a bank: give a bank to scan it")
            continue
        targets.append(target)
    scanner = Scanner(db, user_id)
    result = await scanner.scan(targets, date_from=date_from, date_to=date_to, bank=bank)
    counts = await upcoming_odds_sources(db, date_from=date_from)
    # Without a match in the dates, no source is missing: the dates are the news.
    warnings = _named_warnings(result.warnings, targets, counts) if result.upcoming else []
    recorded = frozenset(
        key for key in (pick_key(pick) for pick in await scanner.picks()) if key is not None
    )
    return ScanBoard(
        result=result,
        date_from=date_from,
        date_to=date_to,
        bank=bank,
        filters=[target.name for target in targets],
        left_out=left_out,
        warnings=warnings,
        recorded=recorded,
        loaded=await upcoming_summary(db),
        inactive=len(saved) - len(active),
    )


def _named_warnings(
    warnings: list[str], targets: list[ScanTarget], counts: dict[str, int]
) -> list[str]:
    """The scan's warnings, each led by the filters it is about; and one for Kelly filters,
    which size stakes from Pinnacle's prices and so pick nothing without them."""
    by_source: dict[str, list[str]] = {}
    for target in targets:
        by_source.setdefault(target.request.odds_source, []).append(target.name)
    named = []
    for warning in warnings:
        sources = [s for s in by_source if missing_source_warning(s, counts) == warning]
        names = [name for source in sources for name in by_source[source]]
        named.append(f"{', '.join(names)}: {warning}" if names else warning)
    if counts.get(KELLY_PRICES, 0) == 0:
        kelly = [t.name for t in targets if t.request.staking == "kelly"]
        if kelly:
            named.append(
                f"{', '.join(kelly)}: Kelly stakes need {KELLY_PRICES} prices, which the"
                " upcoming fixtures lack, so Kelly picks nothing; stake flat or percent instead"
            )
    return named
