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
