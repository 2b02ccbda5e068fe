"""Settings: where the database lives and who the current user is.

Sources are layered: built-in defaults, then environment variables, then
command-line flags (the CLI passes its flags in as overrides).
"""

from __future__ import annotations

import getpass
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from core.errors import ConfigError
from core.text import quoted, text_problem

ENV_DATABASE_URL = "FILTERBETS_DATABASE_URL"
ENV_CANDLES_URL = "FILTERBETS_CANDLES_URL"
ENV_USER = "FILTERBETS_USER"
ENV_DATA_DIR = "FILTERBETS_DATA_DIR"
ENV_KEYMAP = "FILTERBETS_KEYMAP"
KEYMAP_FILE = "keys.toml"

# Async drivers we add when a user gives a plain `sqlite://` or `postgresql://` URL.
_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "postgres": "asyncpg"}
_SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def data_dir() -> Path:
    """The per-user data directory (XDG on Linux), overridable for tests and sandboxes."""
    override = os.environ.get(ENV_DATA_DIR)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_path

    return user_data_path("filterbets", appauthor=False)


def config_dir() -> Path:
    """The per-user config directory (XDG on Linux); FILTERBETS_DATA_DIR when set, so a
    sandbox keeps everything in one place."""
    override = os.environ.get(ENV_DATA_DIR)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_path

    return user_config_path("filterbets", appauthor=False)


def keymap_path() -> tuple[Path, bool]:
    """The dashboard's key remapping file, and whether the user named it (FILTERBETS_KEYMAP)
    rather than it being the default `keys.toml` in the config directory."""
    override = os.environ.get(ENV_KEYMAP, "").strip()
    if override:
        return Path(override).expanduser(), True
    return config_dir() / KEYMAP_FILE, False


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{data_dir() / 'filterbets.db'}"


# libpq's connection options that people put in a URL, and asyncpg reads from a DSN
# (connect_timeout is turned into asyncpg's `timeout` by `driver_connect_args`).
LIBPQ_OPTIONS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "sslpassword",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "target_session_attrs",
    "application_name",
    "options",
    "connect_timeout",
    "host",
    "passfile",
    "service",
    "krbsrvname",
    "gsslib",
)
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# SQLAlchemy's own asyncpg options, passed on as they are.
_DIALECT_OPTIONS = ("prepared_statement_cache_size",)


def _redacted(raw: str) -> str:
    """A URL that would not parse, for a message: any password replaced by ***."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", raw.strip())


def _check_postgres_options(url: URL) -> URL:
    """Refuse what asyncpg would choke on, in words: a bad port, an option it does not know,
    a bad sslmode or connect_timeout. `ssl=MODE` (asyncpg's spelling) becomes sslmode."""
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ConfigError(f"database URL: the port must be 1-65535, got {url.port}")
    query = dict(url.query)
    if "ssl" in query and "sslmode" not in query:
        query["sslmode"] = query.pop("ssl")
    known = (*LIBPQ_OPTIONS, *_DIALECT_OPTIONS)
    for key, value in query.items():
        if key not in known:
            raise ConfigError(
                f"database URL: unknown option {key!r}; PostgreSQL URLs take "
                + ", ".join(LIBPQ_OPTIONS)
            )
        if not isinstance(value, str):
            raise ConfigError(f"database URL: option {key!r} is given more than once")
    mode = query.get("sslmode")
    if mode is not None and mode not in SSL_MODES:
        raise ConfigError(f"database URL: sslmode {mode!r} is not one of {', '.join(SSL_MODES)}")
    timeout = query.get("connect_timeout")
    if isinstance(timeout, str):
        try:
            seconds = float(timeout)
        except ValueError:
            seconds = -1.0
        if not 0 < seconds < math.inf:
            raise ConfigError(
                f"database URL: connect_timeout must be a number of seconds, got {timeout!r}"
            )
    return url.set(query=query)


def driver_connect_args(url: URL) -> tuple[URL, dict[str, Any]]:
    """A PostgreSQL URL without its libpq options, and the asyncpg arguments they become:
    asyncpg reads sslmode, sslrootcert and the rest from a DSN (and any other option as a
    server setting), but SQLAlchemy would pass each as a keyword asyncpg does not take."""
    query = dict(url.query)
    connect_args: dict[str, Any] = {}
    timeout = query.pop("connect_timeout", None)
    if isinstance(timeout, str):
        connect_args["timeout"] = float(timeout)
    libpq = {key: query.pop(key) for key in list(query) if key in LIBPQ_OPTIONS}
    if libpq:
        connect_args["dsn"] = "postgresql://?" + urlencode(libpq)
    return url.set(query=query), connect_args


def normalize_database_url(raw: str) -> URL:
    """Parse a SQLAlchemy URL and make sure it names an async driver we support."""
    try:
        url = make_url(raw.strip())
        url.port  # noqa: B018 - parsed on access: a port that is not a number raises here
    except ArgumentError as exc:
        raise ConfigError(f"database URL is not valid: {mask_url_text(raw)!s}") from exc
    except ValueError as exc:
        raise ConfigError(
            f"database URL is not valid (its host or port cannot be read): {_redacted(raw)}"
        ) from exc
    backend, _, driver = url.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend not in _SUPPORTED_BACKENDS:
        raise ConfigError(
            f"database URL uses {url.drivername!r}; FilterBets supports sqlite and postgresql"
        )
    if not driver:
        driver = _ASYNC_DRIVERS[backend]
    elif driver not in ("aiosqlite", "asyncpg"):
        raise ConfigError(
            f"database driver {driver!r} is synchronous; use {backend}+{_ASYNC_DRIVERS[backend]}"
        )
    url = url.set(drivername=f"{backend}+{driver}")
    return _check_postgres_options(url) if backend == "postgresql" else url


def mask_url(url: URL) -> str:
    """The URL as text with any password replaced by ***."""
    return url.render_as_string(hide_password=True)


def mask_url_text(raw: str) -> str:
    try:
        return mask_url(make_url(raw))
    except (ArgumentError, ValueError):
        return _redacted(raw)


@dataclass(frozen=True)
class Settings:
    """Everything that decides where FilterBets reads and writes."""

    database_url: URL
    """The SQLAlchemy async URL of the database."""
    user_name: str
    """Who owns the filters and jobs created in this session."""
    database_url_source: str = field(default="default")
    """Where `database_url` came from: "flag", "env" or "default"."""
    candles_url: URL | None = None
    """A database of its own for exchange candles (FILTERBETS_CANDLES_URL); None keeps
    them in the main database."""

    user_name_source: str = field(default="flag")
    """Where `user_name` came from: "flag", "env" or "login" (the OS login name)."""

    def candles_settings(self) -> Settings:
        """Settings whose database is the candle store's: the main one unless
        FILTERBETS_CANDLES_URL names another."""
        if self.candles_url is None or self.candles_url == self.database_url:
            return self
        return Settings(
            database_url=self.candles_url, user_name=self.user_name, database_url_source="env"
        )

    @property
    def backend(self) -> str:
        return self.database_url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite or not self.database_url.database:
            return None
        if self.database_url.database == ":memory:":
            return None
        return Path(self.database_url.database)

    def describe_backend(self) -> str:
        """A short, password-free description for headers and logs."""
        if self.is_sqlite:
            return f"SQLite {self.sqlite_path or ':memory:'}"
        u = self.database_url
        host = u.host or "localhost"
        port = f":{u.port}" if u.port else ""
        who = f"{u.username}@" if u.username else ""
        return f"PostgreSQL {who}{host}{port}/{u.database or ''}"

    @property
    def masked_url(self) -> str:
        return mask_url(self.database_url)


def current_user_name() -> str:
    name = os.environ.get(ENV_USER, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "default"


def load_settings(database_url: str | None = None, user: str | None = None) -> Settings:
    """Resolve settings: a flag wins over the environment, which wins over the default."""
    if database_url is not None and not database_url.strip():
        raise ConfigError("--database-url: empty; give a database URL, or leave the option out")
    if database_url:
        raw, source = database_url, "flag"
    elif os.environ.get(ENV_DATABASE_URL, "").strip():
        raw, source = os.environ[ENV_DATABASE_URL], "env"
    else:
        raw, source = default_database_url(), "default"
    url = normalize_database_url(raw)
    candles_raw = os.environ.get(ENV_CANDLES_URL, "").strip()
    if (user or "").strip():
        user_name, user_source = (user or "").strip(), "flag"
    else:
        user_name = current_user_name()
        user_source = "env" if os.environ.get(ENV_USER, "").strip() else "login"
    return Settings(
        database_url=url,
        user_name=check_user_name(user_name),
        database_url_source=source,
        candles_url=_candles_url(candles_raw) if candles_raw else None,
        user_name_source=user_source,
    )


def _candles_url(raw: str) -> URL:
    try:
        return normalize_database_url(raw)
    except ConfigError as exc:
        raise ConfigError(f"{ENV_CANDLES_URL}: {exc}") from exc


MAX_USER_NAME = 120


def check_user_name(name: str) -> str:
    """A user name both databases store as given; ConfigError otherwise."""
    if len(name) > MAX_USER_NAME:
        raise ConfigError(f"user: at most {MAX_USER_NAME} characters, got {len(name):,}")
    problem = text_problem(name)
    if problem is not None:
        raise ConfigError(f"user: {quoted(name)} {problem}")
    return name


def prepare_sqlite_file(settings: Settings) -> Path | None:
    """Make ready the SQLite file before anything opens it; its path if it was created now.

    Only the default data folder is created on its own: a folder named in a URL that does
    not exist is far more often a typo than a wish, so it is a ConfigError. A new file is
    created 0600 (SQLite gives its -wal and -shm files the same mode): it holds a person's
    filters and results.
    """
    path = settings.sqlite_path
    if path is None:
        return None
    folder = path.parent
    if not folder.is_dir():
        if settings.database_url_source != "default":
            raise ConfigError(
                f"no folder {folder} for the database {path}: create it first, or check the URL"
            )
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot create the database {path}: {exc.strerror}") from exc
    os.close(descriptor)
    return path
