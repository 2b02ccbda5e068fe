"""Who may act on a shared PostgreSQL database: one database role per person, held to its own
rows by row-level security (migration 0011).

A role made by `grant_role` reads the shared data (leagues, teams, fixtures, prices,
features) and reads and writes only its own user row, filters, results, ledgers and jobs:
PostgreSQL enforces it, whatever a client sends. Such a role acts as the user of its own
name. The tables' owner and superusers are not bound by row security: a setup where everyone
shares one login has the access model of that login (anyone with the URL can do anything),
and `--user` there only says whose work a filter or job is.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from core.config import Settings
from core.db import Database
from core.errors import ConfigError, UsageMistake
from core.models import Base
from core.text import quoted, text_problem

PRIVATE_TABLES = (
    "users",
    "filters",
    "backtest_results",
    "backtest_bets",
    "backtest_jobs",
    "sweep_variants",
    "sweep_parts",
    "filter_trials",
    "strategy_trades",
    "picks",
)
"""Tables whose rows belong to one user, each under a row-security policy (migration 0011;
picks 0013): a granted role writes its own rows there and reads everything else only."""
MAX_ROLE_NAME = 63  # PostgreSQL's NAMEDATALEN - 1


class AccessError(UsageMistake):
    """A role that cannot be granted, or a user this connection may not act as."""


def shared_tables() -> list[str]:
    """Every other table (read-only to a granted role), and the schema version."""
    return [
        *(name for name in Base.metadata.tables if name not in PRIVATE_TABLES),
        "alembic_version",
    ]


async def acting_user(database: Database, settings: Settings) -> str:
    """The user this session acts as. A role bound by row security acts only as the user of
    its own name: taken as such when the user name is merely the OS login, an AccessError
    when --user or FILTERBETS_USER asks for another."""
    if database.dialect_name != "postgresql":
        return settings.user_name
    async with database.session() as session:
        role, bound = (
            await session.execute(text("SELECT current_user, row_security_active('filters')"))
        ).one()
    if not bound or settings.user_name == role:
        return settings.user_name
    if settings.user_name_source == "login":
        return str(role)
    raise AccessError(
        f"connected as database role {quoted(role)}, which acts only as user {quoted(role)}"
        f" (row-level security); the user {quoted(settings.user_name)} is not yours"
    )


def check_role_name(role: str) -> str:
    if not role or len(role) > MAX_ROLE_NAME:
        raise ConfigError(f"role: 1 to {MAX_ROLE_NAME} characters, got {len(role)}")
    problem = text_problem(role)
    if problem is not None:
        raise ConfigError(f"role: {quoted(role)} {problem}")
    if role.startswith("pg_"):
        raise ConfigError(f"role: {quoted(role)}: names starting pg_ are PostgreSQL's")
    return role


@dataclass(frozen=True)
class Grant:
    role: str
    created: bool
    """False when the role existed (its grants and password were renewed)."""


# Values travel as settings of this transaction (set_config with parameters); format() with
# %I/%L quotes them into the statements PostgreSQL's utility commands need.
_GRANT = """
DO $grant$
DECLARE
    role_name text := current_setting('filterbets.grant_role');
    secret text := current_setting('filterbets.grant_password');
    shared text := (SELECT string_agg(quote_ident(t), ', ') FROM unnest(
        string_to_array(current_setting('filterbets.grant_shared'), ',')) AS t);
    private text := (SELECT string_agg(quote_ident(t), ', ') FROM unnest(
        string_to_array(current_setting('filterbets.grant_private'), ',')) AS t);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
        EXECUTE format('CREATE ROLE %I LOGIN', role_name);
    END IF;
    IF secret <> '' THEN
        EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', role_name, secret);
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), role_name);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), role_name);
    EXECUTE format('GRANT SELECT ON %s TO %I', shared, role_name);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I', private, role_name);
    EXECUTE format(
        'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', current_schema(), role_name);
END
$grant$
"""
_SETTINGS = """
SELECT set_config('filterbets.grant_role', :role, true),
       set_config('filterbets.grant_password', :password, true),
       set_config('filterbets.grant_shared', :shared, true),
       set_config('filterbets.grant_private', :private, true)
"""
# Roles row security would not bind: granting them would promise what it cannot keep.
_UNBOUND = """
SELECT r.rolname FROM pg_roles r
WHERE r.rolname = :role
  AND (r.rolsuper OR r.rolbypassrls
       OR r.oid = (SELECT c.relowner FROM pg_class c WHERE c.oid = 'filters'::regclass))
"""


async def grant_role(database: Database, role: str, password: str | None) -> Grant:
    """Create (or renew) the login role `role` for the user of that name: read the shared
    data, run and read its own work and no one else's. `password` None leaves the role
    without one (for trust, peer or certificate login) or keeps the one it has."""
    if database.dialect_name != "postgresql":
        raise AccessError(
            "db grant: only PostgreSQL has roles; a SQLite file is its owner's alone (0600)"
        )
    role = check_role_name(role)
    async with database.session() as session:
        if (await session.execute(text(_UNBOUND), {"role": role})).first() is not None:
            raise AccessError(
                f"db grant: role {quoted(role)} is a superuser, bypasses row security or owns"
                " the tables, so row-level security would not hold it; choose another name"
            )
        existed = (
            await session.execute(
                text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
            )
        ).first() is not None
        await session.execute(
            text(_SETTINGS),
            {
                "role": role,
                "password": password or "",
                "shared": ",".join(shared_tables()),
                "private": ",".join(PRIVATE_TABLES),
            },
        )
        await session.execute(text(_GRANT))
    from core.services import ensure_user

    await ensure_user(database, role)
    return Grant(role=role, created=not existed)
