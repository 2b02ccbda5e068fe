"""The facade the dashboard and the CLI call. Each method opens its own unit of work
and returns plain frozen dataclasses, never ORM objects."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.config import Settings
from core.db import Database
from core.migrate import SchemaStatus, ensure_schema
from core.models import (
    BOOK_CODES,
    Fixture,
    FixtureBookPrices,
    FixtureOdds,
    League,
    User,
    odds_column_name,
)
from core.upcoming import upcoming_summary

# Sources whose 1X2 coverage the Data screen reports, pre-match then closing.
COVERAGE_SOURCES = (
    "b365",
    "pinnacle",
    "avg",
    "max",
    "b365_close",
    "pinnacle_close",
    "avg_close",
    "max_close",
)


@dataclass(frozen=True)
class LeagueSeasonSummary:
    league_code: str
    league_name: str
    country: str
    season: str
    fixtures: int
    first_date: dt.date
    last_date: dt.date
    coverage: dict[str, float]
    """Fraction of fixtures with a full-time 1X2 home price, per odds source."""
    books: dict[str, float] = field(default_factory=dict)
    """Every other book (BOOK_CODES) with pre-match prices here: the fraction of fixtures
    it prices, most covered first (ties in BOOK_CODES order)."""
    books_close: dict[str, float] = field(default_factory=dict)
    """The same for their closing prices."""


def format_coverage(fraction: float) -> str:
    """A share as a whole percentage, rounded down so that 100% means every match."""
    if fraction <= 0:
        return "-"
    if fraction < 0.01:
        return "<1%"
    return f"{min(100, math.floor(fraction * 100 + 1e-9))}%"


@dataclass(frozen=True)
class DataTotals:
    leagues: int
    seasons: int
    fixtures: int
    upcoming: int = 0
    """Of fixtures: those without a result yet (from fixtures files)."""
    upcoming_last: dt.date | None = None
    """The latest kick-off date among them."""


class FilterBetsService:
    """Opened once per process; shares one engine across every call."""

    def __init__(self, settings: Settings, database: Database, user_id: int) -> None:
        self.settings = settings
        self.db = database
        self.user_id = user_id
        self.schema_status: SchemaStatus | None = None

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool = True) -> FilterBetsService:
        from core.access import acting_user

        status = await ensure_schema(settings) if migrate else None
        database = Database(settings)
        try:
            name = await acting_user(database, settings)
            user_id = await ensure_user(database, name)
        except BaseException:
            await database.dispose()
            raise
        service = cls(replace(settings, user_name=name), database, user_id)
        service.schema_status = status
        return service

    async def close(self) -> None:
        await self.db.dispose()

    async def repair_features(self) -> str | None:
        """Recompute team features an interrupted import left undone; one line saying so,
        or None when every fixture had its features (see core.features.service)."""
        from core.features.service import repair

        done = await repair(self.db)
        if done is None:
            return None
        return (
            f"team features recomputed for {done.fixtures:,} fixtures that had none"
            f" (an import was interrupted), {done.summary.written:,} rows written"
        )

    async def league_seasons(self) -> list[LeagueSeasonSummary]:
        coverage_columns = [
            func.count(getattr(FixtureOdds, odds_column_name(source, "home"))).label(source)
            for source in COVERAGE_SOURCES
        ]
        query = (
            select(
                League.code,
                League.name,
                League.country,
                Fixture.season,
                func.count(Fixture.id).label("fixtures"),
                func.min(Fixture.kickoff_date).label("first_date"),
                func.max(Fixture.kickoff_date).label("last_date"),
                *coverage_columns,
            )
            .join(League, League.id == Fixture.league_id)
            .outerjoin(FixtureOdds, FixtureOdds.fixture_id == Fixture.id)
            .group_by(League.code, League.name, League.country, Fixture.season)
            .order_by(League.code, Fixture.season)
        )
        b = FixtureBookPrices
        per_book = (
            select(League.code, Fixture.season, b.book, b.closing, func.count())
            .select_from(b)
            .join(Fixture, Fixture.id == b.fixture_id)
            .join(League, League.id == Fixture.league_id)
            .group_by(League.code, Fixture.season, b.book, b.closing)
        )
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
            book_rows = (await session.execute(per_book)).all()
        books: dict[tuple[str, str, bool], dict[str, int]] = {}
        for code, season, book, closing, count in book_rows:
            books.setdefault((code, season, bool(closing)), {})[book] = int(count)
        order = {book: n for n, book in enumerate(BOOK_CODES)}

        def shares(key: tuple[str, str, bool], total: int) -> dict[str, float]:
            counts = sorted(
                books.get(key, {}).items(), key=lambda item: (-item[1], order.get(item[0], 0))
            )
            return {book: count / total for book, count in counts} if total else {}

        summaries = []
        for row in rows:
            total = int(row.fixtures)
            summaries.append(
                LeagueSeasonSummary(
                    league_code=row.code,
                    league_name=row.name,
                    country=row.country,
                    season=row.season,
                    fixtures=total,
                    first_date=row.first_date,
                    last_date=row.last_date,
                    coverage={
                        source: (int(getattr(row, source)) / total if total else 0.0)
                        for source in COVERAGE_SOURCES
                    },
                    books=shares((row.code, row.season, False), total),
                    books_close=shares((row.code, row.season, True), total),
                )
            )
        return summaries

    async def data_totals(self) -> DataTotals:
        async with self.db.session() as session:
            fixtures = (await session.execute(select(func.count(Fixture.id)))).scalar_one()
            leagues = (
                await session.execute(select(func.count(func.distinct(Fixture.league_id))))
            ).scalar_one()
            seasons = (
                await session.execute(
                    select(func.count()).select_from(
                        select(Fixture.league_id, Fixture.season).distinct().subquery()
                    )
                )
            ).scalar_one()
        upcoming = await upcoming_summary(self.db)
        return DataTotals(
            leagues=int(leagues),
            seasons=int(seasons),
            fixtures=int(fixtures),
            upcoming=upcoming.fixtures,
            upcoming_last=upcoming.last_date,
        )


async def ensure_user(database: Database, name: str) -> int:
    """The current user's row id, created on first use (safe when two processes race)."""
    async with database.session() as session:
        found = (await session.execute(select(User.id).where(User.name == name))).scalar()
        if found is not None:
            return int(found)
    try:
        async with database.session() as session:
            user = User(name=name)
            session.add(user)
            await session.flush()
            return int(user.id)
    except IntegrityError:
        async with database.session() as session:
            return int(
                (await session.execute(select(User.id).where(User.name == name))).scalar_one()
            )
