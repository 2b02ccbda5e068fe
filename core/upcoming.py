"""Upcoming fixtures: imported from fixtures files, kick-off known, result not yet.

What the scanner and the Data screen ask of them: how many there are and when, and
which odds sources price them (football-data stopped publishing Pinnacle in 2025, so a
filter run at Pinnacle's prices may find none among the upcoming fixtures).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Table, func, select

from core.backtest.sources import SourceError, parse_source
from core.db import Database
from core.models import (
    BOOK_CODES,
    BOOK_SELECTIONS,
    ODDS_SELECTIONS,
    ODDS_SOURCES,
    Fixture,
    FixtureBookPrices,
    FixtureOdds,
    League,
)
from core.models import odds_column_name as column_name

_FIXTURES: Table = Fixture.__table__  # type: ignore[assignment]
_ODDS: Table = FixtureOdds.__table__  # type: ignore[assignment]
_BOOKS: Table = FixtureBookPrices.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class UpcomingSummary:
    fixtures: int
    """Fixtures without a result (whatever their date)."""
    first_date: dt.date | None
    last_date: dt.date | None


async def upcoming_summary(db: Database) -> UpcomingSummary:
    """How many fixtures have no result yet, and the dates they span."""
    f = _FIXTURES.c
    query = select(func.count(), func.min(f.kickoff_date), func.max(f.kickoff_date)).where(
        f.result.is_(None)
    )
    async with db.session() as session:
        count, first, last = (await session.execute(query)).one()
    return UpcomingSummary(int(count), _date(first), _date(last))


def _date(value: object) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))  # SQLite's min()/max() of a date is text


async def upcoming_odds_sources(
    db: Database, *, date_from: dt.date | None = None, leagues: Sequence[str] = ()
) -> dict[str, int]:
    """Per odds source (`ODDS_SOURCES`, then every book of `BOOK_CODES`), how many upcoming
    fixtures (kick-off on or after `date_from`, in `leagues` when given) have at least one
    pre-match price from it."""
    f = _FIXTURES.c
    b = _BOOKS.c
    counts = [
        func.count(
            func.coalesce(*(_ODDS.c[column_name(source, s)] for s in ODDS_SELECTIONS))
        ).label(source)
        for source in ODDS_SOURCES
    ]
    query = (
        select(*counts)
        .select_from(_FIXTURES.outerjoin(_ODDS, _ODDS.c.fixture_id == f.id))
        .where(f.result.is_(None))
    )
    # A row per fixture and book (pre-match), so a count of rows counts fixtures.
    books = (
        select(b.book, func.count())
        .select_from(_FIXTURES.join(_BOOKS, b.fixture_id == f.id))
        .where(
            f.result.is_(None),
            b.closing.is_(False),
            func.coalesce(*(b[s] for s in BOOK_SELECTIONS)).is_not(None),
        )
        .group_by(b.book)
    )
    if date_from is not None:
        query = query.where(f.kickoff_date >= date_from)
        books = books.where(f.kickoff_date >= date_from)
    if leagues:
        league_ids = select(League.id).where(League.code.in_(list(leagues)))
        query = query.where(f.league_id.in_(league_ids))
        books = books.where(f.league_id.in_(league_ids))
    async with db.session() as session:
        row = (await session.execute(query)).one()
        by_book = {str(book): int(count) for book, count in await session.execute(books)}
    found = {source: int(count) for source, count in zip(ODDS_SOURCES, row, strict=True)}
    return found | {book: by_book.get(book, 0) for book in BOOK_CODES}


def missing_source_warning(source: str, counts: Mapping[str, int]) -> str | None:
    """One line when the upcoming fixtures have no price from `source` (from none of its
    books, for a best-of), naming the sources they do have; None when they have it.
    `counts` is `upcoming_odds_sources`'s answer (pre-match prices: an upcoming fixture
    has no closing price yet)."""
    try:
        parsed = parse_source(source)
    except SourceError:
        parsed = None
    if parsed is not None and not parsed.closing:
        if any(counts.get(book, 0) > 0 for book in parsed.books):
            return None
    elif counts.get(source, 0) > 0:
        return None
    have = [f"{name} ({count:,})" for name, count in counts.items() if count > 0]
    if not have:
        return f"the filter's odds source {source} is missing from the upcoming fixtures"
    # The four sources first (then the books): a fixtures file can carry twenty.
    shown = ", ".join(have[:_SOURCES_NAMED])
    more = len(have) - _SOURCES_NAMED
    rest = f" and {more} more (filterbets data coverage)" if more > 0 else ""
    return (
        f"the filter's odds source {source} is missing from the upcoming fixtures;"
        f" they have {shown}{rest}"
    )


_SOURCES_NAMED = 4
