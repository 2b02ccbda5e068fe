"""fixture features

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fixture_features",
        sa.Column("fixture_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("home_played", sa.Integer(), nullable=True),
        sa.Column("home_points", sa.Integer(), nullable=True),
        sa.Column("home_ppg", sa.Float(), nullable=True),
        sa.Column("home_position", sa.Integer(), nullable=True),
        sa.Column("home_points_last5", sa.Integer(), nullable=True),
        sa.Column("home_points_last10", sa.Integer(), nullable=True),
        sa.Column("home_gf_avg_last5", sa.Float(), nullable=True),
        sa.Column("home_ga_avg_last5", sa.Float(), nullable=True),
        sa.Column("home_venue_points_last5", sa.Integer(), nullable=True),
        sa.Column("home_sot_avg_last5", sa.Float(), nullable=True),
        sa.Column("home_streak", sa.Integer(), nullable=True),
        sa.Column("home_rest_days", sa.Integer(), nullable=True),
        sa.Column("home_elo", sa.Float(), nullable=True),
        sa.Column("away_played", sa.Integer(), nullable=True),
        sa.Column("away_points", sa.Integer(), nullable=True),
        sa.Column("away_ppg", sa.Float(), nullable=True),
        sa.Column("away_position", sa.Integer(), nullable=True),
        sa.Column("away_points_last5", sa.Integer(), nullable=True),
        sa.Column("away_points_last10", sa.Integer(), nullable=True),
        sa.Column("away_gf_avg_last5", sa.Float(), nullable=True),
        sa.Column("away_ga_avg_last5", sa.Float(), nullable=True),
        sa.Column("away_venue_points_last5", sa.Integer(), nullable=True),
        sa.Column("away_sot_avg_last5", sa.Float(), nullable=True),
        sa.Column("away_streak", sa.Integer(), nullable=True),
        sa.Column("away_rest_days", sa.Integer(), nullable=True),
        sa.Column("away_elo", sa.Float(), nullable=True),
        sa.Column("h2h_home_wins_last5", sa.Integer(), nullable=True),
        sa.Column("h2h_meetings", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["fixture_id"],
            ["fixtures.id"],
            name=op.f("fk_fixture_features_fixture_id_fixtures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fixture_id", name=op.f("pk_fixture_features")),
    )


def downgrade() -> None:
    op.drop_table("fixture_features")
