"""All ORM models; importing this package registers every table on Base.metadata."""

from core.models.base import Base
from core.models.candles import Candle, CandleSeries, StrategyTrade
from core.models.features import FEATURE_COLUMNS, H2H_FEATURES, SIDE_FEATURES, FixtureFeatures
from core.models.filters import Filter, FilterTrial
from core.models.fixtures import (
    ALL_ODDS_COLUMNS,
    ALL_ODDS_PRICE_COLUMNS,
    BOOK_CODES,
    BOOK_SELECTIONS,
    BOOKS,
    MATCH_STAT_COLUMNS,
    ODDS_SELECTIONS,
    ODDS_SOURCES,
    ODDS_TIMINGS,
    Book,
    Fixture,
    FixtureBookPrices,
    FixtureOdds,
    ImportRecord,
    is_settled,
    odds_column_name,
)
from core.models.jobs import JOB_STATUSES, BacktestJob, SweepPart
from core.models.picks import Pick
from core.models.reference import League, Team, TeamAlias, TeamLeague, User
from core.models.results import BacktestBet, BacktestResult, SweepVariant
from core.models.state import DATA_STATE_ID, DataState

__all__ = [
    "ALL_ODDS_COLUMNS",
    "ALL_ODDS_PRICE_COLUMNS",
    "BOOKS",
    "BOOK_CODES",
    "BOOK_SELECTIONS",
    "DATA_STATE_ID",
    "FEATURE_COLUMNS",
    "H2H_FEATURES",
    "JOB_STATUSES",
    "MATCH_STAT_COLUMNS",
    "ODDS_SELECTIONS",
    "ODDS_SOURCES",
    "ODDS_TIMINGS",
    "SIDE_FEATURES",
    "BacktestBet",
    "BacktestJob",
    "BacktestResult",
    "Base",
    "Book",
    "Candle",
    "CandleSeries",
    "DataState",
    "Filter",
    "FilterTrial",
    "Fixture",
    "FixtureBookPrices",
    "FixtureFeatures",
    "FixtureOdds",
    "ImportRecord",
    "League",
    "Pick",
    "StrategyTrade",
    "SweepPart",
    "SweepVariant",
    "Team",
    "TeamAlias",
    "TeamLeague",
    "User",
    "is_settled",
    "odds_column_name",
]
