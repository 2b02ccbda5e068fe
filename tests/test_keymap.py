"""Key remapping from keys.toml / FILTERBETS_KEYMAP: parsing, problems as one line each, and
the remapped keys at work in the dashboard (footer, help, the keys themselves)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets._footer import FooterKey

from core.config import ENV_DATA_DIR, ENV_KEYMAP, Settings, keymap_path
from core.services import FilterBetsService
from tests.test_tui_data import record_notifications, settle
from tui import keymap as keymap_module
from tui.app import FilterBetsApp
from tui.keymap import (
    MAX_KEYMAP_BYTES,
    MAX_PROBLEMS_SHOWN,
    binding_ids,
    load_keymap,
    parse_keymap,
)
from tui.screens.filters import FiltersScreen
from tui.screens.rule_editor import RuleEditorScreen
from tui.widgets.help import HelpScreen

SIZE = (80, 24)
KNOWN = {"filters.run", "filters.new", "app.quit", "editor.add_rule", "editor.save"}


def test_ids_map_to_keys_flat_or_in_tables() -> None:
    text = """
"filters.run" = "R"
"app.quit" = ["ctrl+q", "q"]

[editor]
add_rule = "+"
save = "f5, s"
"""
    loaded = parse_keymap(text, Path("keys.toml"), KNOWN)
    assert loaded.problems == []
    assert loaded.keymap == {
        "filters.run": "R",
        "app.quit": "ctrl+q,q",
        "editor.add_rule": "+",
        "editor.save": "f5,s",
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '"filters.rnu" = "R"',
            "keys.toml: no binding has the id 'filters.rnu' (did you mean 'filters.run'?)",
        ),
        ('"nothing.like.it" = "R"', "keys.toml: no binding has the id 'nothing.like.it'; ? lists"),
        ('"filters.run" = 5', "keys.toml: filters.run = 5 is not a key"),
        ('"filters.run" = ""', "keys.toml: filters.run = '' is not a key"),
        ('"filters.run" = "ctrl q"', "keys.toml: filters.run = 'ctrl q' is not a key"),
        ('"filters.run" = "R', "keys.toml: not valid TOML ("),
    ],
)
def test_each_problem_is_one_line_naming_the_entry(text: str, problem: str) -> None:
    loaded = parse_keymap(text + '\n"app.quit" = "ctrl+q"\n', Path("keys.toml"), KNOWN)
    assert len(loaded.problems) == 1
    assert loaded.problems[0].startswith(problem)
    assert "\n" not in loaded.problems[0]
    if "TOML" not in problem:
        assert loaded.keymap == {"app.quit": "ctrl+q"}  # the good entries still apply


def test_where_the_file_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEYMAP, raising=False)
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path))
    assert keymap_path() == (tmp_path / "keys.toml", False)
    monkeypatch.setenv(ENV_KEYMAP, str(tmp_path / "mine.toml"))
    assert keymap_path() == (tmp_path / "mine.toml", True)
    # No default file is no keymap and no complaint; a file the user named must exist.
    assert load_keymap(tmp_path / "keys.toml", named=False).problems == []
    missing = load_keymap(tmp_path / "mine.toml", named=True)
    assert missing.problems == [
        f"{ENV_KEYMAP}: {tmp_path / 'mine.toml'}: no such file; no keys remapped"
    ]


def test_every_dashboard_binding_has_a_known_id() -> None:
    ids = binding_ids()
    assert {"app.help", "app.quit", "mode.filters", "filters.run", "editor.add_rule"} <= ids
    assert {"jobs.cancel", "results.export", "result.export", "data.import", "table.down"} <= ids


async def test_remapped_keys_work_and_show_in_footer_and_help(
    service: FilterBetsService,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(
        '"filters.new" = "N"\n"app.help" = "f1"\n"filters.rnu" = "R"\n', encoding="utf-8"
    )
    monkeypatch.setenv(ENV_KEYMAP, str(keys))
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        assert isinstance(app.screen, FiltersScreen)
        assert notes == [
            "warning: Keymap: keys.toml: no binding has the id 'filters.rnu'"
            " (did you mean 'filters.run'?)"
        ]
        shown = {key.description: key.key_display for key in app.screen.query(FooterKey)}
        assert shown["New"] == "N" and shown["Help"] == "f1"
        assert "Press N to write one" in str(
            app.screen.query_one("#filters-empty-message").render()
        )

        await pilot.press("n")  # the old key does nothing now
        await settle(pilot)
        assert isinstance(app.screen, FiltersScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)

        await pilot.press("f1")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        listed = {entry.description: entry.keys for entry in help_screen.entries}
        assert listed["New"] == ("N",)
        ids = {entry.description: entry.ids for entry in help_screen.entries}
        assert ids["New"] == ("filters.new",) and ids["Help"] == ("app.help",)
        row = [e.description for e in help_screen.entries].index(
            "New"
        )  # the highlighted row's id is shown under the table
        for _ in range(row):
            await pilot.press("j")
        await pilot.pause()
        shown_id = str(help_screen.query_one("#help-id").render())
        assert shown_id == "id filters.new in keys.toml"
        assert listed["Help"] == ("f1",)
        assert "q" in listed["Quit"]  # unchanged
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("N")
        await settle(pilot)
        assert isinstance(app.screen, RuleEditorScreen)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        ("[[[ not toml", "not valid TOML"),
        (b"\xff\xfe", "cannot read it"),
    ],
)
async def test_a_bad_keymap_file_is_a_warning_not_a_crash(
    service: FilterBetsService,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: str | bytes | None,
    problem: str,
) -> None:
    keys = tmp_path / "keys.toml"
    if isinstance(content, bytes):
        keys.write_bytes(content)
    elif content is not None:
        keys.write_text(content, encoding="utf-8")
    monkeypatch.setenv(ENV_KEYMAP, str(keys))
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        (note,) = [n for n in notes if "Keymap" in n]
        assert note.startswith("warning: Keymap: ") and problem in note
        assert note.endswith("no keys remapped")
        await pilot.press("1")
        await settle(pilot)
        await pilot.press("question_mark")  # the default keys still work
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


def test_a_key_another_action_has_there_is_a_clash(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(
        '"filters.run" = "d"\n'  # Delete's key on the Filters screen
        '"app.help" = "1"\n'  # the Filters screen's key, everywhere
        '"filters.new" = "N"\n'  # free
        '"editor.save" = "f2"\n'  # f2 saves already: the same action, no clash
        '"jobs.cancel" = "r"\n',  # r is Run on Filters, but Jobs has no r
        encoding="utf-8",
    )
    loaded = load_keymap(keys, named=True)
    assert loaded.problems == [
        "keys.toml: app.help = '1' is also mode.filters (Filters) on every screen;"
        " pick another key",
        "keys.toml: filters.run = 'd' is also filters.delete (Delete) on Filters screen;"
        " pick another key",
    ]
    assert loaded.keymap["filters.run"] == "d"  # applied all the same: the user asked


def test_a_huge_keymap_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 item 9: 200,000 unknown ids kept start-up at 100% CPU for about 70 s, then
    raised one notification per problem."""
    keys = tmp_path / "keys.toml"
    keys.write_text("".join(f'"no.such{i}" = "x"\n' for i in range(200_000)), encoding="utf-8")
    size = keys.stat().st_size

    def not_parsed(_text: str) -> None:
        raise AssertionError("a file over the limit is not parsed")

    monkeypatch.setattr(keymap_module.tomllib, "loads", not_parsed)
    loaded = load_keymap(keys, named=True)
    assert loaded.keymap == {}
    assert loaded.problem_lines() == [
        f"{keys}: {size:,} bytes, more than a keymap needs (at most 64 KB); no keys remapped"
    ]
    assert size > MAX_KEYMAP_BYTES


def test_many_problems_show_the_first_ten_and_count_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "".join(f'"no.such{i}" = "x"\n' for i in range(2_000)) + '"filters.run" = "R"\n'
    assert len(text.encode()) < MAX_KEYMAP_BYTES
    hints = []
    real = keymap_module.difflib.get_close_matches

    def counted(word: str, *args: object, **kwargs: object) -> list[str]:
        hints.append(word)
        return real(word, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(keymap_module.difflib, "get_close_matches", counted)
    loaded = parse_keymap(text, Path("keys.toml"), KNOWN)
    assert loaded.keymap == {"filters.run": "R"}  # the good entry still applies
    lines = loaded.problem_lines()
    assert len(lines) == MAX_PROBLEMS_SHOWN + 1 == 11
    assert lines[0].startswith("keys.toml: no binding has the id 'no.such0'")
    assert lines[-1] == "keys.toml: and 1,990 more problems like these"
    assert len(hints) == MAX_PROBLEMS_SHOWN  # no "did you mean" worked out for the rest


async def test_the_dashboard_shows_at_most_ten_keymap_problems_and_a_count(
    service: FilterBetsService,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text("".join(f'"no.such{i}" = "x"\n' for i in range(500)), encoding="utf-8")
    monkeypatch.setenv(ENV_KEYMAP, str(keys))
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown = [n for n in notes if "Keymap" in n]
        assert len(shown) == 11
        assert shown[-1] == "warning: Keymap: keys.toml: and 490 more problems like these"


def test_a_keymap_that_is_not_a_file_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "keys.toml"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    loaded = load_keymap(fifo, named=True)
    assert loaded.problem_lines() == [f"{fifo}: not a file; no keys remapped"]
