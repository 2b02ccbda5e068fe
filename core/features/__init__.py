"""Point-in-time team features (form, table, rest, Elo, head-to-head) for filters."""

from core.features.compute import (
    ELO_HOME_ADVANTAGE,
    ELO_K,
    ELO_START,
    FeatureRow,
    FixtureInput,
    compute_features,
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
    "RecomputeSummary",
    "compute_features",
    "recompute",
    "recompute_all",
    "tainted_fixtures",
]
