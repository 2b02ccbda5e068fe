from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings, normalize_database_url
from core.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FILTERBETS_DATABASE_URL", raising=False)
    monkeypatch.delenv("FILTERBETS_USER", raising=False)
    monkeypatch.setenv("FILTERBETS_DATA_DIR", str(tmp_path / "data"))


def test_plain_urls_get_the_async_driver() -> None:
    assert normalize_database_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert normalize_database_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert normalize_database_url("postgres://u@h/db").drivername == "postgresql+asyncpg"
    assert normalize_database_url("postgresql+asyncpg://u@h/db").drivername == "postgresql+asyncpg"


def test_unsupported_or_synchronous_urls_are_refused_with_a_clear_line() -> None:
    with pytest.raises(ConfigError, match="supports sqlite and postgresql"):
        normalize_database_url("mysql://u@h/db")
    with pytest.raises(ConfigError, match="synchronous"):
        normalize_database_url("postgresql+psycopg2://u@h/db")
    with pytest.raises(ConfigError, match="not valid"):
        normalize_database_url("not a url")


def test_default_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.database_url_source == "default"
    assert settings.sqlite_path == tmp_path / "data" / "filterbets.db"


def test_flag_beats_env_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILTERBETS_DATABASE_URL", "sqlite:////tmp/from-env.db")
    assert load_settings().database_url.database == "/tmp/from-env.db"
    assert load_settings().database_url_source == "env"
    flagged = load_settings("sqlite:////tmp/from-flag.db")
    assert flagged.database_url.database == "/tmp/from-flag.db"
    assert flagged.database_url_source == "flag"


def test_passwords_never_appear_in_descriptions() -> None:
    settings = load_settings("postgresql://filterbets:s3cret@db.example:5433/fb")
    assert "s3cret" not in settings.masked_url
    assert "s3cret" not in settings.describe_backend()
    assert settings.describe_backend() == "PostgreSQL filterbets@db.example:5433/fb"
    assert "***" in settings.masked_url


def test_user_comes_from_flag_then_env_then_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILTERBETS_USER", "alice")
    assert load_settings().user_name == "alice"
    assert load_settings(user="bob").user_name == "bob"
    monkeypatch.delenv("FILTERBETS_USER")
    assert load_settings().user_name  # the OS login name, whatever it is here


def _cli(*args: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


def test_a_sqlite_url_into_a_missing_folder_is_an_error_and_creates_nothing(
    tmp_path: Path,
) -> None:
    """`--database-url sqlite:////nonexistent/dir/x.db filters list` made the folders and a
    new database."""
    missing = tmp_path / "nonexistent" / "dir"
    code, _out, err = _cli("--database-url", f"sqlite:///{missing / 'x.db'}", "filters", "list")
    assert code == 2
    assert err == (
        f"filterbets: error: no folder {missing} for the database {missing / 'x.db'}:"
        " create it first, or check the URL\n"
    )
    assert not (tmp_path / "nonexistent").exists()


def test_a_new_database_at_a_given_path_is_announced_and_private(tmp_path: Path) -> None:
    path = tmp_path / "mine.db"
    code, _out, err = _cli("--database-url", f"sqlite:///{path}", "filters", "list")
    assert code == 0, err
    assert err.splitlines()[0] == f"filterbets: created a new database at {path}"
    assert path.stat().st_mode & 0o777 == 0o600
    code, _out, err = _cli("--database-url", f"sqlite:///{path}", "filters", "list")
    assert code == 0 and "created" not in err  # said once, when it is new


def test_the_default_data_folder_is_still_made_on_first_use(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    data = tmp_path / "fresh" / "data"
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "filters", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"FILTERBETS_DATA_DIR": str(data)},
    )
    assert done.returncode == 0, done.stderr
    assert (data / "filterbets.db").stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o700


def test_an_empty_database_url_is_an_error_not_the_environments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FILTERBETS_DATABASE_URL", "sqlite:////tmp/from-env.db")
    with pytest.raises(ConfigError, match="--database-url: empty"):
        load_settings("")
    code, _out, err = _cli("--database-url", "", "filters", "list")
    assert code == 2
    assert err.startswith("filterbets: error: --database-url: empty")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql://u:pw@h:notaport/x",
            "database URL is not valid (its host or port cannot be read):"
            " postgresql://u:***@h:notaport/x",
        ),
        (
            "postgresql://u:pw@[::1/x",
            "database URL is not valid (its host or port cannot be read):"
            " postgresql://u:***@[::1/x",
        ),
        ("postgresql://u:pw@h:99999/x", "database URL: the port must be 1-65535, got 99999"),
        (
            "postgresql://u@h/x?sslmode=sure",
            "database URL: sslmode 'sure' is not one of disable, allow, prefer, require,"
            " verify-ca, verify-full",
        ),
        (
            "postgresql://u@h/x?connect_timeout=soon",
            "database URL: connect_timeout must be a number of seconds",
        ),
        ("postgresql://u@h/x?colour=blue", "database URL: unknown option 'colour'"),
    ],
)
def test_malformed_database_urls_are_one_line_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(url)
    assert str(refused.value).startswith(message)
    assert "pw" not in str(refused.value)
    code, _out, err = _cli("--database-url", url, "db", "current")
    assert (code, err) == (2, f"filterbets: error: {refused.value}\n")


def test_libpq_options_reach_the_driver_in_its_own_form() -> None:
    from core.config import driver_connect_args

    url = load_settings(
        "postgresql://u@h/x?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=7"
        "&prepared_statement_cache_size=0"
    ).database_url
    bare, args = driver_connect_args(url)
    assert dict(bare.query) == {"prepared_statement_cache_size": "0"}
    assert args == {
        "timeout": 7.0,
        "dsn": "postgresql://?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
    }
    assert dict(load_settings("postgresql://u@h/x?ssl=require").database_url.query) == {
        "sslmode": "require"
    }


def test_a_url_with_libpq_options_connects(postgres_server_url: str | None) -> None:
    """`?sslmode=require`, which libpq users always write, was a TypeError from asyncpg."""
    if postgres_server_url is None:
        pytest.skip("no PostgreSQL server")
    base = postgres_server_url.split("?")[0]
    code, out, err = _cli(
        "--database-url",
        f"{base}?sslmode=prefer&connect_timeout=5&application_name=fb-test",
        "db",
        "current",
    )
    assert code == 0, err
    assert "revision" in out
    code, _out, err = _cli("--database-url", f"{base}?sslmode=require", "db", "current")
    # The test server has no TLS: refused in one line, not a TypeError traceback.
    assert code == 1 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("filterbets: error: cannot connect to PostgreSQL")
