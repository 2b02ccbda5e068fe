"""The `filterbets` command's own behaviour: errors are one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main


def _run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_an_unsupported_database_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--database-url", "mysql://u@h/db", "db", "current"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "supports sqlite and postgresql" in err
    assert "Traceback" not in err


def test_an_unreachable_postgres_is_one_clear_line() -> None:
    done = _run_cli(
        "--database-url", "postgresql://nobody:secret@127.0.0.1:1/none", "db", "current"
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "cannot use database PostgreSQL nobody@127.0.0.1:1/none" in done.stderr
    assert "secret" not in done.stderr


def test_db_commands_create_and_report_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgraded = _run_cli("--database-url", url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "created database schema at revision" in upgraded.stdout
    current = _run_cli("--database-url", url, "db", "current")
    assert "(head)" in current.stdout
