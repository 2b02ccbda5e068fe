"""fixture_book_prices: every other bookmaker's and the Betfair exchange's prices

football-data files carry prices from many books beyond Bet365, Pinnacle and the market
average and maximum (which fixture_odds keeps in columns of its own): William Hill, Bwin,
Interwetten, VC Bet, Ladbrokes, the Betfair exchange and more, pre-match and closing. One
row per fixture, book and timing; an index by book lets a filter read one book's column.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fixture_book_prices",
        sa.Column("fixture_id", sa.Integer(), nullable=False),
        sa.Column("book", sa.String(length=8), nullable=False),
        sa.Column("closing", sa.Boolean(), nullable=False),
        sa.Column("home", sa.Float(), nullable=True),
        sa.Column("draw", sa.Float(), nullable=True),
        sa.Column("away", sa.Float(), nullable=True),
        sa.Column("over25", sa.Float(), nullable=True),
        sa.Column("under25", sa.Float(), nullable=True),
        sa.Column("ah_home", sa.Float(), nullable=True),
        sa.Column("ah_away", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["fixture_id"],
            ["fixtures.id"],
            name=op.f("fk_fixture_book_prices_fixture_id_fixtures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "fixture_id", "book", "closing", name=op.f("pk_fixture_book_prices")
        ),
    )
    op.create_index(
        "ix_fixture_book_prices_book",
        "fixture_book_prices",
        ["book", "closing", "fixture_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_fixture_book_prices_book", table_name="fixture_book_prices")
    op.drop_table("fixture_book_prices")
