"""Point-in-time team features, one row per fixture (see `core.features`).

Every value uses only matches that kicked off on an earlier date than the fixture;
NULL means too few earlier matches (the minimum per field is in the catalogue's
descriptions). Rows are derived data: `core.features.service` rewrites them after
each import.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base

# Per-side feature columns: name -> "integer" | "number". Stored as home_<name>, away_<name>.
SIDE_FEATURES: dict[str, str] = {
    "played": "integer",
    "points": "integer",
    "ppg": "number",
    "position": "integer",
    "points_last5": "integer",
    "points_last10": "integer",
    "gf_avg_last5": "number",
    "ga_avg_last5": "number",
    "venue_points_last5": "integer",
    "sot_avg_last5": "number",
    "streak": "integer",
    "rest_days": "integer",
    "elo": "number",
}
H2H_FEATURES: dict[str, str] = {"h2h_home_wins_last5": "integer", "h2h_meetings": "integer"}

FEATURE_COLUMNS: tuple[str, ...] = (
    *(f"home_{name}" for name in SIDE_FEATURES),
    *(f"away_{name}" for name in SIDE_FEATURES),
    *H2H_FEATURES,
)
"""Every value column of fixture_features, in the order `core.features.compute` emits."""


class FixtureFeatures(Base):
    __tablename__ = "fixture_features"

    fixture_id: Mapped[int] = mapped_column(
        ForeignKey("fixtures.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    home_played: Mapped[int | None] = mapped_column(Integer)
    home_points: Mapped[int | None] = mapped_column(Integer)
    home_ppg: Mapped[float | None] = mapped_column(Float)
    home_position: Mapped[int | None] = mapped_column(Integer)
    home_points_last5: Mapped[int | None] = mapped_column(Integer)
    home_points_last10: Mapped[int | None] = mapped_column(Integer)
    home_gf_avg_last5: Mapped[float | None] = mapped_column(Float)
    home_ga_avg_last5: Mapped[float | None] = mapped_column(Float)
    home_venue_points_last5: Mapped[int | None] = mapped_column(Integer)
    home_sot_avg_last5: Mapped[float | None] = mapped_column(Float)
    home_streak: Mapped[int | None] = mapped_column(Integer)
    home_rest_days: Mapped[int | None] = mapped_column(Integer)
    home_elo: Mapped[float | None] = mapped_column(Float)
    away_played: Mapped[int | None] = mapped_column(Integer)
    away_points: Mapped[int | None] = mapped_column(Integer)
    away_ppg: Mapped[float | None] = mapped_column(Float)
    away_position: Mapped[int | None] = mapped_column(Integer)
    away_points_last5: Mapped[int | None] = mapped_column(Integer)
    away_points_last10: Mapped[int | None] = mapped_column(Integer)
    away_gf_avg_last5: Mapped[float | None] = mapped_column(Float)
    away_ga_avg_last5: Mapped[float | None] = mapped_column(Float)
    away_venue_points_last5: Mapped[int | None] = mapped_column(Integer)
    away_sot_avg_last5: Mapped[float | None] = mapped_column(Float)
    away_streak: Mapped[int | None] = mapped_column(Integer)
    away_rest_days: Mapped[int | None] = mapped_column(Integer)
    away_elo: Mapped[float | None] = mapped_column(Float)
    h2h_home_wins_last5: Mapped[int | None] = mapped_column(Integer)
    h2h_meetings: Mapped[int | None] = mapped_column(Integer)
