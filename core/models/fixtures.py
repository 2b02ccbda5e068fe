"""Fixtures (one row per match) and their odds (one wide row per fixture).

Odds are one wide row per fixture rather than one row per price: a backtest reads
a handful of price columns for up to a million fixtures, and a wide row lets that
be a single indexed join instead of a pivot.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from core.db import UTCDateTime, utcnow
from core.models.base import Base

ODDS_SOURCES = ("b365", "pinnacle", "avg", "max")
"""The sources kept in fixture_odds' own columns (with the Asian handicap lines)."""


@dataclass(frozen=True)
class Book:
    """A bookmaker (or exchange) whose prices football-data publishes beyond ODDS_SOURCES,
    kept in fixture_book_prices."""

    code: str
    """The odds source name in rules and requests, e.g. "wh"."""
    label: str
    prefix: str
    """football-data's header prefix: WHH/WHD/WHA pre-match, WHCH/WHCD/WHCA closing."""
    exchange: bool = False
    """Prices are an exchange's: a win pays less the exchange's commission."""


BOOKS: tuple[Book, ...] = (
    Book("bw", "Bwin", "BW"),
    Book("iw", "Interwetten", "IW"),
    Book("wh", "William Hill", "WH"),
    Book("vc", "VC Bet", "VC"),
    Book("lb", "Ladbrokes", "LB"),
    Book("gb", "Gamebookers", "GB"),
    Book("sb", "Sportingbet", "SB"),
    Book("sj", "Stan James", "SJ"),
    Book("so", "Sporting Odds", "SO"),
    Book("sy", "Stanleybet", "SY"),
    Book("bs", "Blue Square", "BS"),
    Book("bfd", "Betfred", "BFD"),
    Book("bmgm", "BetMGM", "BMGM"),
    Book("bv", "BetVictor", "BV"),
    Book("cl", "Coral", "CL"),
    Book("bf", "Betfair Sportsbook", "BF"),
    Book("1xb", "1xBet", "1XB"),
    Book("pp", "Paddy Power", "PP"),
    Book("skb", "Sky Bet", "SKB"),
    Book("bfe", "Betfair Exchange", "BFE", exchange=True),
)
BOOK_CODES: tuple[str, ...] = tuple(book.code for book in BOOKS)
BOOK_SELECTIONS: tuple[str, ...] = (
    "home",
    "draw",
    "away",
    "over25",
    "under25",
    "ah_home",
    "ah_away",
)
"""What fixture_book_prices keeps per book (most books publish 1X2 only)."""
ODDS_TIMINGS = ("", "_close")
ODDS_SELECTIONS = ("home", "draw", "away", "over25", "under25", "ah_home", "ah_away")


def odds_column_name(source: str, selection: str) -> str:
    """Column holding a price, e.g. ("pinnacle_close", "home") -> "pinnacle_close_home"."""
    return f"{source}_{selection}"


ALL_ODDS_PRICE_COLUMNS = tuple(
    odds_column_name(source + timing, selection)
    for source in ODDS_SOURCES
    for timing in ODDS_TIMINGS
    for selection in ODDS_SELECTIONS
)
ALL_ODDS_COLUMNS = (*ALL_ODDS_PRICE_COLUMNS, "ah_line", "ah_line_close")

MATCH_STAT_COLUMNS = (
    "home_shots",
    "away_shots",
    "home_shots_on_target",
    "away_shots_on_target",
    "home_corners",
    "away_corners",
    "home_fouls",
    "away_fouls",
    "home_yellow_cards",
    "away_yellow_cards",
    "home_red_cards",
    "away_red_cards",
)


class ImportRecord(Base):
    """One file's import that added fixtures: what `filterbets data delete --import` and
    the Data screen can take back. Its fixtures are those it added, and the upcoming ones
    it gave their result (taken over from the fixtures file's import); fixtures it only
    corrected existed before it and stay."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    fixtures_added: Mapped[int] = mapped_column(Integer)
    """Fixtures added, or settled, by it."""


class Fixture(Base):
    __tablename__ = "fixtures"
    __table_args__ = (
        UniqueConstraint("league_id", "kickoff_date", "home_team_id", "away_team_id"),
        Index("ix_fixtures_kickoff_order", "kickoff_date", "kickoff_time", "league_id"),
        Index("ix_fixtures_league_season", "league_id", "season"),
        CheckConstraint("result IN ('H', 'D', 'A')", name="result_code"),
        # An upcoming fixture has neither goals nor result; a played one has all three.
        CheckConstraint(
            "(home_goals IS NULL) = (result IS NULL) AND (away_goals IS NULL) = (result IS NULL)",
            name="result_complete",
        ),
        # The few fixtures without a result (the scanner's, the Data screen's count).
        Index(
            "ix_fixtures_upcoming",
            "kickoff_date",
            sqlite_where=text("result IS NULL"),
            postgresql_where=text("result IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    league_id: Mapped[int] = mapped_column(ForeignKey("leagues.id", ondelete="RESTRICT"))
    season: Mapped[str] = mapped_column(String(9), index=True)
    kickoff_date: Mapped[dt.date] = mapped_column(Date, index=True)
    kickoff_time: Mapped[dt.time | None] = mapped_column(Time)
    home_team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), index=True
    )
    away_team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), index=True
    )
    # NULL together while the match is upcoming (imported from a fixtures file).
    home_goals: Mapped[int | None] = mapped_column(SmallInteger)
    away_goals: Mapped[int | None] = mapped_column(SmallInteger)
    result: Mapped[str | None] = mapped_column(String(1))
    half_time_home_goals: Mapped[int | None] = mapped_column(SmallInteger)
    half_time_away_goals: Mapped[int | None] = mapped_column(SmallInteger)
    half_time_result: Mapped[str | None] = mapped_column(String(1))
    home_shots: Mapped[int | None] = mapped_column(SmallInteger)
    away_shots: Mapped[int | None] = mapped_column(SmallInteger)
    home_shots_on_target: Mapped[int | None] = mapped_column(SmallInteger)
    away_shots_on_target: Mapped[int | None] = mapped_column(SmallInteger)
    home_corners: Mapped[int | None] = mapped_column(SmallInteger)
    away_corners: Mapped[int | None] = mapped_column(SmallInteger)
    home_fouls: Mapped[int | None] = mapped_column(SmallInteger)
    away_fouls: Mapped[int | None] = mapped_column(SmallInteger)
    home_yellow_cards: Mapped[int | None] = mapped_column(SmallInteger)
    away_yellow_cards: Mapped[int | None] = mapped_column(SmallInteger)
    home_red_cards: Mapped[int | None] = mapped_column(SmallInteger)
    away_red_cards: Mapped[int | None] = mapped_column(SmallInteger)
    referee: Mapped[str | None] = mapped_column(String(120))
    source_file: Mapped[str | None] = mapped_column(String(255))
    source_line: Mapped[int | None] = mapped_column()
    import_id: Mapped[int | None] = mapped_column(
        ForeignKey("imports.id", ondelete="SET NULL"), index=True
    )
    """The import that added the fixture, or settled it (NULL before revision 0009)."""
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


def is_settled(fixtures: FromClause) -> ColumnElement[bool]:
    """The fixture has its result: only these may be backtested (an upcoming one is not)."""
    return fixtures.c.result.is_not(None)


class FixtureOdds(Base):
    """Every price for one fixture: 4 sources x (pre-match, closing) x 7 selections.

    Odds are decimal prices stored as double precision: they are ratios read from
    files with at most 3 decimals, compared in filters, never summed as money.
    """

    __tablename__ = "fixture_odds"

    fixture_id: Mapped[int] = mapped_column(
        ForeignKey("fixtures.id", ondelete="CASCADE"), primary_key=True
    )
    ah_line: Mapped[float | None] = mapped_column(Float)
    ah_line_close: Mapped[float | None] = mapped_column(Float)
    b365_home: Mapped[float | None] = mapped_column(Float)
    b365_draw: Mapped[float | None] = mapped_column(Float)
    b365_away: Mapped[float | None] = mapped_column(Float)
    b365_over25: Mapped[float | None] = mapped_column(Float)
    b365_under25: Mapped[float | None] = mapped_column(Float)
    b365_ah_home: Mapped[float | None] = mapped_column(Float)
    b365_ah_away: Mapped[float | None] = mapped_column(Float)
    b365_close_home: Mapped[float | None] = mapped_column(Float)
    b365_close_draw: Mapped[float | None] = mapped_column(Float)
    b365_close_away: Mapped[float | None] = mapped_column(Float)
    b365_close_over25: Mapped[float | None] = mapped_column(Float)
    b365_close_under25: Mapped[float | None] = mapped_column(Float)
    b365_close_ah_home: Mapped[float | None] = mapped_column(Float)
    b365_close_ah_away: Mapped[float | None] = mapped_column(Float)
    pinnacle_home: Mapped[float | None] = mapped_column(Float)
    pinnacle_draw: Mapped[float | None] = mapped_column(Float)
    pinnacle_away: Mapped[float | None] = mapped_column(Float)
    pinnacle_over25: Mapped[float | None] = mapped_column(Float)
    pinnacle_under25: Mapped[float | None] = mapped_column(Float)
    pinnacle_ah_home: Mapped[float | None] = mapped_column(Float)
    pinnacle_ah_away: Mapped[float | None] = mapped_column(Float)
    pinnacle_close_home: Mapped[float | None] = mapped_column(Float)
    pinnacle_close_draw: Mapped[float | None] = mapped_column(Float)
    pinnacle_close_away: Mapped[float | None] = mapped_column(Float)
    pinnacle_close_over25: Mapped[float | None] = mapped_column(Float)
    pinnacle_close_under25: Mapped[float | None] = mapped_column(Float)
    pinnacle_close_ah_home: Mapped[float | None] = mapped_column(Float)
    pinnacle_close_ah_away: Mapped[float | None] = mapped_column(Float)
    avg_home: Mapped[float | None] = mapped_column(Float)
    avg_draw: Mapped[float | None] = mapped_column(Float)
    avg_away: Mapped[float | None] = mapped_column(Float)
    avg_over25: Mapped[float | None] = mapped_column(Float)
    avg_under25: Mapped[float | None] = mapped_column(Float)
    avg_ah_home: Mapped[float | None] = mapped_column(Float)
    avg_ah_away: Mapped[float | None] = mapped_column(Float)
    avg_close_home: Mapped[float | None] = mapped_column(Float)
    avg_close_draw: Mapped[float | None] = mapped_column(Float)
    avg_close_away: Mapped[float | None] = mapped_column(Float)
    avg_close_over25: Mapped[float | None] = mapped_column(Float)
    avg_close_under25: Mapped[float | None] = mapped_column(Float)
    avg_close_ah_home: Mapped[float | None] = mapped_column(Float)
    avg_close_ah_away: Mapped[float | None] = mapped_column(Float)
    max_home: Mapped[float | None] = mapped_column(Float)
    max_draw: Mapped[float | None] = mapped_column(Float)
    max_away: Mapped[float | None] = mapped_column(Float)
    max_over25: Mapped[float | None] = mapped_column(Float)
    max_under25: Mapped[float | None] = mapped_column(Float)
    max_ah_home: Mapped[float | None] = mapped_column(Float)
    max_ah_away: Mapped[float | None] = mapped_column(Float)
    max_close_home: Mapped[float | None] = mapped_column(Float)
    max_close_draw: Mapped[float | None] = mapped_column(Float)
    max_close_away: Mapped[float | None] = mapped_column(Float)
    max_close_over25: Mapped[float | None] = mapped_column(Float)
    max_close_under25: Mapped[float | None] = mapped_column(Float)
    max_close_ah_home: Mapped[float | None] = mapped_column(Float)
    max_close_ah_away: Mapped[float | None] = mapped_column(Float)


class FixtureBookPrices(Base):
    """One bookmaker's prices for one fixture, pre-match or closing: the books of BOOKS,
    beyond the four sources fixture_odds keeps in columns of its own.

    A row per (fixture, book, timing) rather than columns per book: football-data's set of
    books changes from season to season, and a filter reads one book's column at a time
    (by the book index) into the analysis frame.
    """

    __tablename__ = "fixture_book_prices"
    __table_args__ = (Index("ix_fixture_book_prices_book", "book", "closing", "fixture_id"),)

    fixture_id: Mapped[int] = mapped_column(
        ForeignKey("fixtures.id", ondelete="CASCADE"), primary_key=True
    )
    book: Mapped[str] = mapped_column(String(8), primary_key=True)
    closing: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    home: Mapped[float | None] = mapped_column(Float)
    draw: Mapped[float | None] = mapped_column(Float)
    away: Mapped[float | None] = mapped_column(Float)
    over25: Mapped[float | None] = mapped_column(Float)
    under25: Mapped[float | None] = mapped_column(Float)
    ah_home: Mapped[float | None] = mapped_column(Float)
    """At the fixture's common handicap line (fixture_odds.ah_line or ah_line_close)."""
    ah_away: Mapped[float | None] = mapped_column(Float)
