"""Users, leagues, teams and which leagues a team has played in."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, utcnow
from core.models.base import Base


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class League(Base):
    __tablename__ = "leagues"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    country: Mapped[str] = mapped_column(String(80), index=True)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)


class TeamLeague(Base):
    """Many-to-many: the leagues a team has fixtures in."""

    __tablename__ = "team_leagues"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    league_id: Mapped[int] = mapped_column(
        ForeignKey("leagues.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TeamAlias(Base):
    """Another spelling of a team's name: football-data's fixtures files spell some teams
    differently from its season files ("Atl. Madrid" for "Ath Madrid"). The importer reads
    every file's names through this table, so both spellings are one team.

    Keyed by the other spelling; `team_name` is the name the team is stored under, which
    need not exist yet (an alias may arrive before the team's first file).
    """

    __tablename__ = "team_aliases"

    alias: Mapped[str] = mapped_column(String(120), primary_key=True)
    team_name: Mapped[str] = mapped_column(String(120), index=True)
