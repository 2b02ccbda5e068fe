"""Filter names as people type them: printed as typed, listed in line whatever their
characters, and an import of a name already taken offers a way out."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import core.cli
from core.cli import main
from core.config import Settings
from core.services import FilterBetsService
from core.text import clip, display_width, pad, quoted
from tests.conftest import wipe_all_tables
from tests.jobs_support import sync_url

NAME = "O'Neill's \"draws\" ⚽ Ligue 1 — été"
Run = Callable[..., tuple[int, str, str]]


def test_display_width_counts_terminal_columns() -> None:
    assert display_width("abc") == 3
    assert display_width("⚽") == 2
    assert display_width("été") == 3
    assert display_width("e\u0301te\u0301") == 3  # combining accents take no column
    assert display_width("日本") == 4
    assert pad("⚽x", 5) == "⚽x  "
    assert clip("⚽⚽⚽", 5) == "⚽⚽…" and display_width(clip("⚽⚽⚽", 5)) == 5
    assert quoted(NAME) == f"'{NAME}'"
    assert quoted("bell\x07") == "'bell\\x07'"


@pytest.fixture
def run(
    settings: Settings, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Run:
    async def empty() -> None:
        service = await FilterBetsService.open(settings, migrate=False)
        try:
            await wipe_all_tables(service)  # PostgreSQL's test database is shared
        finally:
            await service.close()

    asyncio.run(empty())
    monkeypatch.setattr(core.cli, "_say", lambda m, stream=None: print(m, file=sys.stderr))

    def run(*args: str) -> tuple[int, str, str]:
        capfd.readouterr()
        code = main(["--database-url", sync_url(settings), "--user", "tester", *args])
        out, err = capfd.readouterr()
        return code, out, err

    return run


def test_names_are_printed_as_typed(run: Run) -> None:
    """It printed saved filter 'O\\'Neill\\'s "draws" ⚽ Ligue 1 — été'."""
    code, out, _ = run("filters", "create", NAME, "--rules", "[]")
    assert code == 0
    assert out.startswith(f"saved filter '{NAME}' (id ")
    assert "\\" not in out
    code, _, err = run("filters", "show", NAME + "!")
    assert err.strip() == f"filterbets: error: no filter named '{NAME}!' (did you mean '{NAME}'?)"


def test_filters_list_is_aligned_by_display_width(run: Run) -> None:
    names = ["⚽⚽ goals", "été", "plain ascii name", "日本 J1"]
    for name in names:
        assert run("filters", "create", name, "--rules", "[]")[0] == 0
    code, out, _ = run("filters", "list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(names)
    columns = {display_width(line[: line.index("  stake ")]) for line in lines}
    assert len(columns) == 1, out


def test_importing_a_taken_name_offers_rename_or_replace(run: Run, tmp_path: Path) -> None:
    assert run("filters", "create", "away 2-3", "--rules", "[]", "--stake", "2")[0] == 0
    export = tmp_path / "away.json"
    document = {
        "format": "filterbets.filter/1",
        "name": "away 2-3",
        "stake": "5.00",
        "rules": {"field": "odds.pinnacle.away", "op": "between", "value": [2.0, 3.0]},
    }
    export.write_text(json.dumps(document), encoding="utf-8")

    code, _, err = run("filters", "import", str(export))
    assert (code, err.strip()) == (
        2,
        "filterbets: error: a filter named 'away 2-3' already exists: import this one under"
        " another name (--rename NEW) or over it (--replace)",
    )

    code, out, _ = run("filters", "import", str(export), "--rename", "away 2-3 (theirs)")
    assert code == 0 and out.startswith("imported filter 'away 2-3 (theirs)' (id ")

    before = json.loads(run("filters", "export", "away 2-3")[1])
    code, out, _ = run("filters", "import", str(export), "--replace")
    assert code == 0
    after = json.loads(run("filters", "export", "away 2-3")[1])
    assert (before["stake"], after["stake"]) == ("2.00", "5.00")
    assert after["rules"] == document["rules"]
    listed = run("filters", "list")[1].splitlines()
    assert len(listed) == 2  # replaced in place, not added
    with pytest.raises(SystemExit) as both:
        run("filters", "import", str(export), "--rename", "x", "--replace")
    assert both.value.code == 2
