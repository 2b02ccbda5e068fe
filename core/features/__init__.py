"""Point-in-time team features (form, table, rest, Elo, head-to-head) for filters."""

from core.features.compute import (
    ELO_HOME_ADVANTAGE,
    ELO_K,
    ELO_START,
    FeatureRow,
    FixtureInput,
    History,
    IncompleteHistory,
    StoredSides,
    compute_features,
    resume_features,
    tainted_fixtures,
)
from core.features.service import AffectedFixtures, RecomputeSummary, recompute, recompute_all

__all__ = [
    "ELO_HOME_ADVANTAGE",
    "ELO_K",
    "ELO_START",
    "AffectedFixtures",
    "FeatureRow",
    "FixtureInput",
    "History",
    "IncompleteHistory",
    "RecomputeSummary",
    "StoredSides",
    "compute_features",
    "recompute",
    "recompute_all",
    "resume_features",
    "tainted_fixtures",
]
