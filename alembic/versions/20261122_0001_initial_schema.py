"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leagues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("country", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leagues")),
        sa.UniqueConstraint("code", name=op.f("uq_leagues_code")),
    )
    with op.batch_alter_table("leagues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leagues_country"), ["country"], unique=False)

    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "filters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "rules", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("stake", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_filters_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filters")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_filters_user_id_name")),
    )
    with op.batch_alter_table("filters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_filters_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_filters_user_id"), ["user_id"], unique=False)

    op.create_table(
        "fixtures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("league_id", sa.Integer(), nullable=False),
        sa.Column("season", sa.String(length=9), nullable=False),
        sa.Column("kickoff_date", sa.Date(), nullable=False),
        sa.Column("kickoff_time", sa.Time(), nullable=True),
        sa.Column("home_team_id", sa.Integer(), nullable=False),
        sa.Column("away_team_id", sa.Integer(), nullable=False),
        sa.Column("home_goals", sa.SmallInteger(), nullable=False),
        sa.Column("away_goals", sa.SmallInteger(), nullable=False),
        sa.Column("result", sa.String(length=1), nullable=False),
        sa.Column("half_time_home_goals", sa.SmallInteger(), nullable=True),
        sa.Column("half_time_away_goals", sa.SmallInteger(), nullable=True),
        sa.Column("half_time_result", sa.String(length=1), nullable=True),
        sa.Column("home_shots", sa.SmallInteger(), nullable=True),
        sa.Column("away_shots", sa.SmallInteger(), nullable=True),
        sa.Column("home_shots_on_target", sa.SmallInteger(), nullable=True),
        sa.Column("away_shots_on_target", sa.SmallInteger(), nullable=True),
        sa.Column("home_corners", sa.SmallInteger(), nullable=True),
        sa.Column("away_corners", sa.SmallInteger(), nullable=True),
        sa.Column("home_fouls", sa.SmallInteger(), nullable=True),
        sa.Column("away_fouls", sa.SmallInteger(), nullable=True),
        sa.Column("home_yellow_cards", sa.SmallInteger(), nullable=True),
        sa.Column("away_yellow_cards", sa.SmallInteger(), nullable=True),
        sa.Column("home_red_cards", sa.SmallInteger(), nullable=True),
        sa.Column("away_red_cards", sa.SmallInteger(), nullable=True),
        sa.Column("referee", sa.String(length=120), nullable=True),
        sa.Column("source_file", sa.String(length=255), nullable=True),
        sa.Column("source_line", sa.Integer(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("result IN ('H', 'D', 'A')", name=op.f("ck_fixtures_result_code")),
        sa.ForeignKeyConstraint(
            ["away_team_id"],
            ["teams.id"],
            name=op.f("fk_fixtures_away_team_id_teams"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["home_team_id"],
            ["teams.id"],
            name=op.f("fk_fixtures_home_team_id_teams"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["league_id"],
            ["leagues.id"],
            name=op.f("fk_fixtures_league_id_leagues"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fixtures")),
        sa.UniqueConstraint(
            "league_id",
            "kickoff_date",
            "home_team_id",
            "away_team_id",
            name=op.f("uq_fixtures_league_id_kickoff_date_home_team_id_away_team_id"),
        ),
    )
    with op.batch_alter_table("fixtures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fixtures_away_team_id"), ["away_team_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_fixtures_home_team_id"), ["home_team_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_fixtures_kickoff_date"), ["kickoff_date"], unique=False
        )
        batch_op.create_index(
            "ix_fixtures_kickoff_order", ["kickoff_date", "kickoff_time", "league_id"], unique=False
        )
        batch_op.create_index("ix_fixtures_league_season", ["league_id", "season"], unique=False)
        batch_op.create_index(batch_op.f("ix_fixtures_season"), ["season"], unique=False)
        batch_op.create_index(batch_op.f("ix_fixtures_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "team_leagues",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("league_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["league_id"],
            ["leagues.id"],
            name=op.f("fk_team_leagues_league_id_leagues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_leagues_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "league_id", name=op.f("pk_team_leagues")),
    )
    with op.batch_alter_table("team_leagues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_leagues_league_id"), ["league_id"], unique=False)

    op.create_table(
        "backtest_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("filter_id", sa.Integer(), nullable=True),
        sa.Column("filter_name", sa.String(length=120), nullable=True),
        sa.Column(
            "request", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "rules_snapshot",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "data_fingerprint",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "metrics", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("odds_source", sa.String(length=20), nullable=False),
        sa.Column("bets", sa.Integer(), nullable=False),
        sa.Column("profit", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("yield", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["filter_id"],
            ["filters.id"],
            name=op.f("fk_backtest_results_filter_id_filters"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_backtest_results_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_results")),
    )
    with op.batch_alter_table("backtest_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backtest_results_bets"), ["bets"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_backtest_results_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_backtest_results_filter_id"), ["filter_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_backtest_results_profit"), ["profit"], unique=False)
        batch_op.create_index(batch_op.f("ix_backtest_results_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_backtest_results_yield"), ["yield"], unique=False)

    op.create_table(
        "fixture_odds",
        sa.Column("fixture_id", sa.Integer(), nullable=False),
        sa.Column("ah_line", sa.Float(), nullable=True),
        sa.Column("ah_line_close", sa.Float(), nullable=True),
        sa.Column("b365_home", sa.Float(), nullable=True),
        sa.Column("b365_draw", sa.Float(), nullable=True),
        sa.Column("b365_away", sa.Float(), nullable=True),
        sa.Column("b365_over25", sa.Float(), nullable=True),
        sa.Column("b365_under25", sa.Float(), nullable=True),
        sa.Column("b365_ah_home", sa.Float(), nullable=True),
        sa.Column("b365_ah_away", sa.Float(), nullable=True),
        sa.Column("b365_close_home", sa.Float(), nullable=True),
        sa.Column("b365_close_draw", sa.Float(), nullable=True),
        sa.Column("b365_close_away", sa.Float(), nullable=True),
        sa.Column("b365_close_over25", sa.Float(), nullable=True),
        sa.Column("b365_close_under25", sa.Float(), nullable=True),
        sa.Column("b365_close_ah_home", sa.Float(), nullable=True),
        sa.Column("b365_close_ah_away", sa.Float(), nullable=True),
        sa.Column("pinnacle_home", sa.Float(), nullable=True),
        sa.Column("pinnacle_draw", sa.Float(), nullable=True),
        sa.Column("pinnacle_away", sa.Float(), nullable=True),
        sa.Column("pinnacle_over25", sa.Float(), nullable=True),
        sa.Column("pinnacle_under25", sa.Float(), nullable=True),
        sa.Column("pinnacle_ah_home", sa.Float(), nullable=True),
        sa.Column("pinnacle_ah_away", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_home", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_draw", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_away", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_over25", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_under25", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_ah_home", sa.Float(), nullable=True),
        sa.Column("pinnacle_close_ah_away", sa.Float(), nullable=True),
        sa.Column("avg_home", sa.Float(), nullable=True),
        sa.Column("avg_draw", sa.Float(), nullable=True),
        sa.Column("avg_away", sa.Float(), nullable=True),
        sa.Column("avg_over25", sa.Float(), nullable=True),
        sa.Column("avg_under25", sa.Float(), nullable=True),
        sa.Column("avg_ah_home", sa.Float(), nullable=True),
        sa.Column("avg_ah_away", sa.Float(), nullable=True),
        sa.Column("avg_close_home", sa.Float(), nullable=True),
        sa.Column("avg_close_draw", sa.Float(), nullable=True),
        sa.Column("avg_close_away", sa.Float(), nullable=True),
        sa.Column("avg_close_over25", sa.Float(), nullable=True),
        sa.Column("avg_close_under25", sa.Float(), nullable=True),
        sa.Column("avg_close_ah_home", sa.Float(), nullable=True),
        sa.Column("avg_close_ah_away", sa.Float(), nullable=True),
        sa.Column("max_home", sa.Float(), nullable=True),
        sa.Column("max_draw", sa.Float(), nullable=True),
        sa.Column("max_away", sa.Float(), nullable=True),
        sa.Column("max_over25", sa.Float(), nullable=True),
        sa.Column("max_under25", sa.Float(), nullable=True),
        sa.Column("max_ah_home", sa.Float(), nullable=True),
        sa.Column("max_ah_away", sa.Float(), nullable=True),
        sa.Column("max_close_home", sa.Float(), nullable=True),
        sa.Column("max_close_draw", sa.Float(), nullable=True),
        sa.Column("max_close_away", sa.Float(), nullable=True),
        sa.Column("max_close_over25", sa.Float(), nullable=True),
        sa.Column("max_close_under25", sa.Float(), nullable=True),
        sa.Column("max_close_ah_home", sa.Float(), nullable=True),
        sa.Column("max_close_ah_away", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["fixture_id"],
            ["fixtures.id"],
            name=op.f("fk_fixture_odds_fixture_id_fixtures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fixture_id", name=op.f("pk_fixture_odds")),
    )
    op.create_table(
        "backtest_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("filter_id", sa.Integer(), nullable=True),
        sa.Column(
            "request", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_details", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["filter_id"],
            ["filters.id"],
            name=op.f("fk_backtest_jobs_filter_id_filters"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["backtest_results.id"],
            name=op.f("fk_backtest_jobs_result_id_backtest_results"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_backtest_jobs_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_jobs")),
        sa.UniqueConstraint("job_id", name=op.f("uq_backtest_jobs_job_id")),
    )
    with op.batch_alter_table("backtest_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backtest_jobs_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_backtest_jobs_filter_id"), ["filter_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_backtest_jobs_result_id"), ["result_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_backtest_jobs_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_backtest_jobs_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("backtest_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_jobs_user_id"))
        batch_op.drop_index(batch_op.f("ix_backtest_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_backtest_jobs_result_id"))
        batch_op.drop_index(batch_op.f("ix_backtest_jobs_filter_id"))
        batch_op.drop_index(batch_op.f("ix_backtest_jobs_created_at"))

    op.drop_table("backtest_jobs")
    op.drop_table("fixture_odds")
    with op.batch_alter_table("backtest_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_results_yield"))
        batch_op.drop_index(batch_op.f("ix_backtest_results_user_id"))
        batch_op.drop_index(batch_op.f("ix_backtest_results_profit"))
        batch_op.drop_index(batch_op.f("ix_backtest_results_filter_id"))
        batch_op.drop_index(batch_op.f("ix_backtest_results_created_at"))
        batch_op.drop_index(batch_op.f("ix_backtest_results_bets"))

    op.drop_table("backtest_results")
    with op.batch_alter_table("team_leagues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_leagues_league_id"))

    op.drop_table("team_leagues")
    with op.batch_alter_table("fixtures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fixtures_updated_at"))
        batch_op.drop_index(batch_op.f("ix_fixtures_season"))
        batch_op.drop_index("ix_fixtures_league_season")
        batch_op.drop_index("ix_fixtures_kickoff_order")
        batch_op.drop_index(batch_op.f("ix_fixtures_kickoff_date"))
        batch_op.drop_index(batch_op.f("ix_fixtures_home_team_id"))
        batch_op.drop_index(batch_op.f("ix_fixtures_away_team_id"))

    op.drop_table("fixtures")
    with op.batch_alter_table("filters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_filters_user_id"))
        batch_op.drop_index(batch_op.f("ix_filters_updated_at"))

    op.drop_table("filters")
    op.drop_table("users")
    op.drop_table("teams")
    with op.batch_alter_table("leagues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leagues_country"))

    op.drop_table("leagues")
