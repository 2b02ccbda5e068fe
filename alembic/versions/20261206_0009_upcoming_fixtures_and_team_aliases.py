"""upcoming fixtures (no result yet), team name aliases, and imports that can be undone

A fixture imported from football-data's fixtures.csv has no goals and no result until a
season file settles it, so those columns become nullable, all three NULL together (a
check). A partial index finds the few upcoming ones. team_aliases maps other spellings
of a team's name to the name it is stored under, seeded with the spellings football-data's
fixtures files are known to use. `imports` records each file's import that added
fixtures, and fixtures.import_id the import that added each, so a partial import can be
deleted (fixtures imported before this revision have none).

Downgrade deletes the upcoming fixtures (with their odds and features): the older schema
cannot hold a fixture without a result.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Fixtures-file spelling -> season-file spelling, found by comparing the real files
# (kept here as data: a migration never imports core/, whose list may grow later).
SEEDED_ALIASES = (
    ("Atl. Madrid", "Ath Madrid"),
    ("Rayo Vallecano", "Vallecano"),
    ("Sheffield Wed", "Sheffield Weds"),
    ("Bradford City", "Bradford"),
    ("Dep. A Coruna", "La Coruna"),
)
_COMPLETE = "(home_goals IS NULL) = (result IS NULL) AND (away_goals IS NULL) = (result IS NULL)"


def upgrade() -> None:
    with op.batch_alter_table("fixtures") as batch_op:
        batch_op.alter_column("home_goals", existing_type=sa.SmallInteger(), nullable=True)
        batch_op.alter_column("away_goals", existing_type=sa.SmallInteger(), nullable=True)
        batch_op.alter_column("result", existing_type=sa.String(length=1), nullable=True)
        batch_op.create_check_constraint("result_complete", sa.text(_COMPLETE))
    op.create_index(
        "ix_fixtures_upcoming",
        "fixtures",
        ["kickoff_date"],
        sqlite_where=sa.text("result IS NULL"),
        postgresql_where=sa.text("result IS NULL"),
    )
    aliases = op.create_table(
        "team_aliases",
        sa.Column("alias", sa.String(length=120), nullable=False),
        sa.Column("team_name", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_team_aliases")),
    )
    op.create_index(op.f("ix_team_aliases_team_name"), "team_aliases", ["team_name"])
    op.bulk_insert(aliases, [{"alias": a, "team_name": t} for a, t in SEEDED_ALIASES])
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fixtures_added", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_index(op.f("ix_imports_imported_at"), "imports", ["imported_at"])
    with op.batch_alter_table("fixtures") as batch_op:
        batch_op.add_column(sa.Column("import_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_fixtures_import_id"), ["import_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_fixtures_import_id_imports"),
            "imports",
            ["import_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("fixtures") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_fixtures_import_id_imports"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_fixtures_import_id"))
        batch_op.drop_column("import_id")
    op.drop_index(op.f("ix_imports_imported_at"), table_name="imports")
    op.drop_table("imports")
    op.drop_index(op.f("ix_team_aliases_team_name"), table_name="team_aliases")
    op.drop_table("team_aliases")
    # The migration connection may not enforce SQLite's cascades: children first.
    upcoming = "SELECT id FROM fixtures WHERE result IS NULL"
    op.execute(f"DELETE FROM fixture_features WHERE fixture_id IN ({upcoming})")  # noqa: S608
    op.execute(f"DELETE FROM fixture_odds WHERE fixture_id IN ({upcoming})")  # noqa: S608
    op.execute("DELETE FROM fixtures WHERE result IS NULL")
    op.drop_index("ix_fixtures_upcoming", table_name="fixtures")
    with op.batch_alter_table("fixtures") as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_fixtures_result_complete"), type_="check")
        batch_op.alter_column("result", existing_type=sa.String(length=1), nullable=False)
        batch_op.alter_column("away_goals", existing_type=sa.SmallInteger(), nullable=False)
        batch_op.alter_column("home_goals", existing_type=sa.SmallInteger(), nullable=False)
