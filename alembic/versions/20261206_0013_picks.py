"""picks: the scanner's picks a user recorded as taken, for the live track record

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "picks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("filter_id", sa.Integer(), nullable=True),
        sa.Column("filter_name", sa.String(length=120), nullable=False),
        sa.Column("fixture_id", sa.Integer(), nullable=True),
        sa.Column("kickoff_date", sa.Date(), nullable=False),
        sa.Column("league", sa.String(length=8), nullable=False),
        sa.Column("home_team", sa.String(length=120), nullable=False),
        sa.Column("away_team", sa.String(length=120), nullable=False),
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("odds_source", sa.String(length=20), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("ah_line", sa.Float(), nullable=True),
        sa.Column("stake", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("staking", _JSON, nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["filter_id"],
            ["filters.id"],
            name=op.f("fk_picks_filter_id_filters"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["fixture_id"],
            ["fixtures.id"],
            name=op.f("fk_picks_fixture_id_fixtures"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_picks_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_picks")),
        sa.UniqueConstraint(
            "user_id",
            "filter_name",
            "fixture_id",
            "market",
            "odds_source",
            name=op.f("uq_picks_user_id_filter_name_fixture_id_market_odds_source"),
        ),
    )
    for column in ("user_id", "filter_id", "fixture_id", "kickoff_date", "taken_at"):
        op.create_index(op.f(f"ix_picks_{column}"), "picks", [column], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # As revision 0011 does for every other table of a person's work.
        mine = "user_id = (SELECT u.id FROM users u WHERE u.name = current_user)"
        op.execute("ALTER TABLE picks ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY filterbets_own_rows ON picks USING ({mine}) WITH CHECK ({mine})")


def downgrade() -> None:
    op.drop_table("picks")
