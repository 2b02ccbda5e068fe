"""All ORM models; importing this package registers every table on Base.metadata."""

from core.models.base import Base
from core.models.features import FEATURE_COLUMNS, H2H_FEATURES, SIDE_FEATURES, FixtureFeatures
from core.models.filters import Filter
from core.models.fixtures import (
    ALL_ODDS_COLUMNS,
    ALL_ODDS_PRICE_COLUMNS,
    MATCH_STAT_COLUMNS,
    ODDS_SELECTIONS,
    ODDS_SOURCES,
    ODDS_TIMINGS,
    Fixture,
    FixtureOdds,
    ImportRecord,
    is_settled,
    odds_column_name,
)
from core.models.jobs import JOB_STATUSES, BacktestJob
from core.models.reference import League, Team, TeamAlias, TeamLeague, User
from core.models.results import BacktestBet, BacktestResult

__all__ = [
    "ALL_ODDS_COLUMNS",
    "ALL_ODDS_PRICE_COLUMNS",
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
    "Filter",
    "Fixture",
    "FixtureFeatures",
    "FixtureOdds",
    "ImportRecord",
    "League",
    "Team",
    "TeamAlias",
    "TeamLeague",
    "User",
    "is_settled",
    "odds_column_name",
]
