"""The `filterbets` command's own behaviour: errors are one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.cli import main
from core.config import Settings
from tests.conftest import real_file


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
    assert done.stderr == (
        "filterbets: error: cannot connect to PostgreSQL nobody@127.0.0.1:1/none:"
        " connection refused (is the server running?)\n"
    )
    assert "secret" not in done.stderr


def test_db_commands_create_and_report_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgraded = _run_cli("--database-url", url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "created database schema at revision" in upgraded.stdout
    current = _run_cli("--database-url", url, "db", "current")
    assert "(head)" in current.stdout


def test_import_lists_at_most_20_rejected_rows_per_file_unless_verbose(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    corrupt = real_file("football-corrupt")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["--database-url", url, "import", str(corrupt)]) == 1  # files refused
    captured = capfd.readouterr()
    out, err = captured.out.splitlines(), captured.err.splitlines()
    rejected = [line for line in err if line.startswith("rejected: ")]
    per_file = {line.split(" ")[1].split(":")[0] for line in rejected}
    assert per_file == {"D1_2000-01.csv", "D1_2001-02.csv"}
    assert len(rejected) == 2 * 20 + 2
    assert "rejected: D1_2001-02.csv: ... and 286 more (--verbose lists them all)" in err
    assert "450 rows rejected" in out[-1]

    assert main(["--database-url", url, "import", "--verbose", str(corrupt)]) == 1
    verbose = capfd.readouterr().err.splitlines()
    assert sum(line.startswith("rejected: ") for line in verbose) == 450


def test_backtest_of_a_saved_filter_uses_its_saved_settings_unless_overridden(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    import json

    url = settings.database_url.render_as_string(hide_password=False)
    assert main(["--database-url", url, "demo"]) == 0
    band = '{"field": "odds.pinnacle.away", "op": "between", "value": [2, 3]}'
    for name, extra in (("Aways", ["--market", "away", "--staking", "percent"]), ("Bare", [])):
        assert (
            main(["--database-url", url, "filters", "create", name, "--rules", band, *extra]) == 0
        )
    capfd.readouterr()

    def backtest(*args: str) -> dict[str, Any]:
        assert main(["--database-url", url, "backtest", *args, "--json"]) == 0
        return dict(json.loads(capfd.readouterr().out))

    saved = backtest("Aways")
    assert (saved["market"], saved["staking"]["kind"]) == ("away", "percent")
    overridden = backtest("Aways", "--market", "home", "--staking", "flat")
    assert (overridden["market"], overridden["staking"]["kind"]) == ("home", "flat")

    assert main(["--database-url", url, "backtest", "Bare"]) == 2
    assert "filter 'Bare' has no saved market" in capfd.readouterr().err
    assert main(["--database-url", url, "backtest", "--rules", band]) == 2
    assert "--market: required with --rules" in capfd.readouterr().err


def test_demo_saves_example_filters_once_and_they_run(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    import json

    from core.cli import DEMO_FILTERS

    url = settings.database_url.render_as_string(hide_password=False)
    for name, *_ in DEMO_FILTERS:  # another test's demo may have saved them already
        main(["--database-url", url, "filters", "delete", name])
    capfd.readouterr()
    assert main(["--database-url", url, "demo"]) == 0
    assert "saved 2 example filters" in capfd.readouterr().out
    assert main(["--database-url", url, "filters", "delete", DEMO_FILTERS[0][0]]) == 0
    capfd.readouterr()
    # A second demo brings back only what is missing, and leaves the rest as it is.
    assert main(["--database-url", url, "demo"]) == 0
    assert f"saved 1 example filters: '{DEMO_FILTERS[0][0]}'" in capfd.readouterr().out
    assert main(["--database-url", url, "demo"]) == 0
    assert "example filters" not in capfd.readouterr().out
    for name, _, _, market in DEMO_FILTERS:
        assert main(["--database-url", url, "backtest", name, "--json"]) == 0
        metrics = json.loads(capfd.readouterr().out)
        assert metrics["market"] == market
        assert metrics["bets"] > 0


def test_teams_alias_links_a_spelling_and_names_a_missing_team(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'teams.db'}"
    season = tmp_path / "SP1_2025-26.csv"
    season.write_text(
        "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG\nSP1,20/04/2026,Ath Madrid,Getafe,1,0\n"
    )
    assert main(["--database-url", url, "import", "--quiet", str(season)]) == 0
    capfd.readouterr()
    assert main(["--database-url", url, "teams", "alias", "Atletico", "Ath Madird"]) == 2
    err = capfd.readouterr().err.splitlines()
    assert err == [
        "filterbets: error: no team 'Ath Madird' in the database (did you mean 'Ath Madrid'?)"
    ]
    assert main(["--database-url", url, "teams", "alias", "Atletico", "Ath Madrid"]) == 0
    assert capfd.readouterr().out == "'Atletico' now reads as team 'Ath Madrid'\n"
    assert main(["--database-url", url, "teams", "aliases"]) == 0
    assert "Atletico -> Ath Madrid" in capfd.readouterr().out.splitlines()


def _with_reader_gone(*args: str) -> tuple[int, str]:
    """Run the CLI with its stdout a pipe whose reader has already closed it (`| head`)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "core.cli", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    return done.returncode, done.stderr


def test_a_closed_pipe_ends_the_command_quietly(settings: Settings) -> None:
    """`filterbets backtest ... | head` printed "cannot use database ...: Broken pipe"."""
    url = settings.database_url.render_as_string(hide_password=False)
    for args in (
        ("db", "history"),
        ("--database-url", url, "backtest", "--market", "home", "--rules", "[]"),
    ):
        code, err = _with_reader_gone(*args)
        assert (code, err) == (141, ""), args


def test_fields_lists_what_rules_can_use_with_their_meaning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import json

    from core.rules.catalogue import FIELDS

    nowhere = ["--database-url", f"sqlite:///{tmp_path / 'none.db'}"]
    assert main([*nowhere, "fields", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {row["name"] for row in listed} == {n for n, f in FIELDS.items() if f.pre_match}
    assert not (tmp_path / "none.db").exists()  # no database is made to list them
    assert main([*nowhere, "fields", "william hill"]) == 0
    out = capsys.readouterr().out
    assert "odds.wh.home" in out and "odds.wh_close.away" in out and "odds.b365" not in out
    assert main([*nowhere, "fields", "team form"]) == 0
    assert "home.points_last5" in capsys.readouterr().out
    assert main([*nowhere, "fields", "goals_scored_in_match"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
