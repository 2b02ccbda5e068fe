"""The Filters screen and the rule editor, driven through Pilot at 80x24 on both backends."""

from __future__ import annotations

import asyncio
import csv
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.config import Settings
from core.filters import FilterStore
from core.jobs.queue import SUCCEEDED
from core.jobs.runner import JobEvent
from core.results import ResultStore
from core.services import FilterBetsService
from tests.test_tui_data import plain, record_notifications, settle, wait_for
from tests.test_tui_results import column, open_results, seed_season, static_text
from tui.app import FilterBetsApp, JobEventMessage
from tui.screens.filters import FiltersScreen, matches, updated_text
from tui.screens.results import ResultDetailScreen, ResultsScreen
from tui.screens.rule_editor import (
    PreviewCounted,
    RuleEditorScreen,
    RuleGroupNode,
    RuleLeaf,
    check_tree,
    flatten,
    move_node,
    parse_value,
    rules_from_tree,
    tree_from_rules,
)
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.export_prompt import ExportPrompt
from tui.widgets.field_picker import FieldPicker
from tui.widgets.help import HelpScreen
from tui.widgets.vim_table import VimDataTable

SIZE = (80, 24)


# Helpers -------------------------------------------------------------------------------


async def open_filters(pilot: Pilot[Any]) -> FiltersScreen:
    await settle(pilot)
    await pilot.press("1")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, FiltersScreen)
    return screen


def rule_rows(app: FilterBetsApp) -> list[tuple[str, str]]:
    """The editor's rule table as (rule, check) with the indentation kept."""
    table = app.screen.query_one("#editor-rules", VimDataTable)
    return [
        (plain(table.get_row_at(i)[0]).rstrip(), plain(table.get_row_at(i)[1]))
        for i in range(table.row_count)
    ]


def preview(app: FilterBetsApp) -> str:
    return static_text(app, "#editor-preview")


async def wait_for_preview(pilot: Pilot[Any], editor: RuleEditorScreen) -> str:
    """The preview text once the debounced preview of the current rules has finished."""
    await wait_for(
        pilot,
        lambda: editor._timer is None and editor.preview_metrics is not None,
        "the preview",
    )
    return preview(editor.app)  # type: ignore[arg-type]


async def add_rule(pilot: Pilot[Any], search: str, value: str) -> None:
    """a, pick the first field the search finds, type the value, back to the table."""
    await pilot.press("a")
    await pilot.pause()
    assert isinstance(pilot.app.screen, FieldPicker)
    await pilot.press(*search)
    await pilot.press("enter")
    await pilot.pause()
    if value:
        await pilot.press(*value)
    await pilot.press("escape")
    await pilot.pause()


# The workflow --------------------------------------------------------------------------


async def test_create_preview_save_run_open_and_export(
    service: FilterBetsService,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new filter from the keyboard, all the way to an exported ledger."""
    await seed_season(service)  # 60 games, home 1.60 / away 2.50, every third an away win
    monkeypatch.setenv("FILTERBETS_EXPORT_DIR", str(tmp_path))
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        filters = await open_filters(pilot)
        assert static_text(app, "#filters-summary") == "No filters yet"
        await pilot.press("n")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        assert editor.query_one("#editor-name", Input).has_focus
        # An empty filter matches every fixture.
        assert "60 fixtures match" in await wait_for_preview(pilot, editor)

        await pilot.press(*"Away in E0", "enter")
        assert editor.query_one("#editor-rules").has_focus
        editor.query_one("#editor-market", Select).value = "away"
        await add_rule(pilot, "league", "E0")
        assert rule_rows(app) == [
            ("▾ ALL of these  (the filter)", "✓"),
            ("  • league = E0", "✓"),
        ]
        text = await wait_for_preview(pilot, editor)
        # 30 E0 games, 10 of them away wins at 2.50: +15 - 20 = -5.
        assert text == "Preview 30 fixtures match · flat 1u: 30 bets, -5.00 u, yield -16.67%"

        await pilot.press("s")
        await settle(pilot)
        assert "information: Filters: Saved filter 'Away in E0'." in notes
        saved = await FilterStore(service.db, service.user_id).get("Away in E0")
        assert saved.rules == {"all": [{"field": "league", "op": "=", "value": "E0"}]}

        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is filters
        assert column(app, "#filters-table", "name") == ["Away in E0"]
        assert column(app, "#filters-table", "rules") == ["league = E0"]
        assert column(app, "#filters-table", "bets") == ["-"]

        await pilot.press("r")
        await settle(pilot)
        assert app.screen is filters  # r stays on the screen
        assert any("Backtest: Backtest of 'Away in E0' (away @ pinnacle" in n for n in notes)
        (done,) = [n for n in notes if "Backtest done: 'Away in E0'" in n]
        (run,) = await ResultStore(service.db, service.user_id).list_results()
        # With the run's warnings, if any (no closing prices for CLV here).
        assert done.startswith("warning: " if run.warnings else "information: ")
        assert all(f"⚠ {warning}" in done for warning in run.warnings)
        assert app.running_jobs == 0
        # The list shows the new result without being asked.
        assert column(app, "#filters-table", "bets") == ["30"]
        assert column(app, "#filters-table", "yield") == ["-16.67%"]

        await open_results(pilot)
        assert column(app, "#results-table", "filter") == ["Away in E0"]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ResultDetailScreen)
        assert "Away in E0 · away @ pinnacle" in static_text(app, "#result-title")
        await pilot.press("x")
        assert isinstance(app.screen, ExportPrompt)
        await pilot.press("enter")
        await settle(pilot)
        result_id = (await ResultStore(service.db, service.user_id).list_results())[0].id
        rows = list(csv.DictReader((tmp_path / f"result-{result_id}.csv").open()))
        assert len(rows) == 30
        assert {row["league"] for row in rows} == {"E0"}
        assert [row["outcome"] for row in rows[:4]] == ["win", "loss", "loss", "win"]
        assert sum(Decimal(row["profit"]) for row in rows) == Decimal("-5")


async def test_bad_values_show_inline_next_to_their_rule_and_block_saving(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_season(service, matches=6)
    rules = {
        "all": [
            {"field": "league", "op": "=", "value": "E0"},
            {"any": [{"field": "odds.pinnacle.home", "op": "<", "value": 2}]},
        ]
    }
    await FilterStore(service.db, service.user_id).create("Nested", rules)
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        assert "3 fixtures match" in await wait_for_preview(pilot, editor)
        assert [rule for rule, _ in rule_rows(app)] == [
            "▾ ALL of these  (the filter)",
            "  • league = E0",
            "  ▾ ANY of these",
            "    • odds.pinnacle.home < 2",
        ]

        # The rule inside the ANY group (rules.all[1].any[0]) gets a text value.
        await pilot.press("G", "enter")
        value = editor.query_one("#editor-value", Input)
        assert value.has_focus
        await pilot.press("ctrl+u", *"cheap")
        await pilot.pause()
        checks = [check for _, check in rule_rows(app)]
        assert checks[:3] == ["✓", "✓", "✓"]
        assert checks[3].startswith("⚠ takes a number, got string")  # clipped to the column
        assert static_text(app, "#editor-problem") == '⚠ takes a number, got string "cheap"'
        assert not value.is_valid  # the box itself is marked too
        assert preview(app).startswith("Preview 1 problem to fix")

        await pilot.press("escape", "s")
        await settle(pilot)
        assert any("Not saved: Fix the 1 problem marked ⚠ first." in n for n in notes)
        stored = await FilterStore(service.db, service.user_id).get("Nested")
        assert stored.rules == rules  # untouched

        # An empty ANY group is a problem of the group's own row.
        await pilot.press("x")  # remove the bad rule: the ANY group is now empty
        await pilot.pause()
        assert rule_rows(app)[-1][0] == "  ▸ ANY of these"
        assert rule_rows(app)[-1][1].startswith("⚠ 'any' needs at least one rule")
        assert static_text(app, "#editor-problem") == (
            "⚠ 'any' needs at least one rule (an empty 'any' never matches)"
        )
        await pilot.press("x")
        await settle(pilot)
        assert "3 fixtures match" in await wait_for_preview(pilot, editor)

        # Leaving with unsaved changes asks first.
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.screen is editor
        await pilot.press("escape", "y")
        await settle(pilot)
        assert isinstance(app.screen, FiltersScreen)


async def test_groups_reorder_and_the_saved_tree(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_season(service, matches=6)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("n")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        await pilot.press(*"Grouped", "enter")
        await add_rule(pilot, "league", "E0")
        await add_rule(pilot, "odds.pinnacle.home", "1.5..1.7")
        await pilot.press("o")  # a new ANY group after the selected rule
        await add_rule(pilot, "season", "2019-20, 2020-21")
        assert [rule for rule, _ in rule_rows(app)] == [
            "▾ ALL of these  (the filter)",
            "  • league = E0",
            "  • odds.pinnacle.home ≥ 1.5..1.7",
            "  ▾ ANY of these",
            "    • season = 2019-20, 2020-21",
        ]
        # Fix the operators from the row panel.
        editor.query_one("#editor-op", Select).value = "in"
        await pilot.pause()
        await pilot.press("k", "k")
        editor.query_one("#editor-op", Select).value = "between"
        await pilot.pause()
        # Move the price rule down into the group (it enters as the group's first rule).
        await pilot.press("J")
        await pilot.pause()
        assert [rule for rule, _ in rule_rows(app)] == [
            "▾ ALL of these  (the filter)",
            "  • league = E0",
            "  ▾ ANY of these",
            "    • odds.pinnacle.home between 1.5..1.7",
            "    • season in 2019-20, 2020-21",
        ]
        await pilot.press("t")  # the rule's group: ANY -> NOT
        await pilot.pause()
        assert rule_rows(app)[2][0] == "  ▾ NOT all of these"
        assert all(check == "✓" for _, check in rule_rows(app))
        await pilot.press("s")
        await settle(pilot)
        saved = await FilterStore(service.db, service.user_id).get("Grouped")
        assert saved.rules == {
            "all": [
                {"field": "league", "op": "=", "value": "E0"},
                {
                    "not": {
                        "all": [
                            {"field": "odds.pinnacle.home", "op": "between", "value": [1.5, 1.7]},
                            {"field": "season", "op": "in", "value": ["2019-20", "2020-21"]},
                        ]
                    }
                },
            ]
        }
        # Out of the group again: K at the group's top moves the rule before the group.
        await pilot.press("K")
        await pilot.pause()
        assert [rule for rule, _ in rule_rows(app)][2:4] == [
            "  • odds.pinnacle.home between 1.5..1.7",
            "  ▾ NOT",
        ]


async def test_a_newer_edit_makes_a_running_preview_stale(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_season(service, matches=12)
    await FilterStore(service.db, service.user_id).create(
        "Prices", [{"field": "odds.pinnacle.home", "op": ">=", "value": 1.0}]
    )
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        assert "12 fixtures match" in await wait_for_preview(pilot, editor)
        await pilot.press("j", "enter")
        await wait_for_preview(pilot, editor)  # whatever moving there scheduled, done
        # Keystrokes faster than the debounce: one preview, for the final text.
        runs = 0
        original = editor._preview

        def counting(*args: Any) -> Any:
            nonlocal runs
            runs += 1
            return original(*args)

        editor._preview = counting  # type: ignore[method-assign]
        await pilot.press("ctrl+u", "9", ".", "5")
        text = await wait_for_preview(pilot, editor)
        # One run for four keys: debounced. (Whether it has finished by the time the keys
        # are processed is the machine's speed, not the editor's behaviour: not asserted.)
        assert runs == 1
        assert text.startswith("Preview 0 fixtures match")
        # A result that arrives for an older generation is dropped.
        editor.post_message(PreviewCounted(editor.generation - 1, 999))
        await pilot.pause()
        assert "999" not in preview(app)


# The list ------------------------------------------------------------------------------


async def test_search_duplicate_and_delete_with_confirmation(
    service: FilterBetsService, settings: Settings
) -> None:
    store = FilterStore(service.db, service.user_id)
    await store.create(
        "Home favourites", [{"field": "odds.pinnacle.home", "op": "<", "value": 1.6}]
    )
    await store.create("Away in Spain", [{"field": "league", "op": "=", "value": "SP1"}])
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_filters(pilot)
        assert column(app, "#filters-table", "name") == ["Away in Spain", "Home favourites"]
        assert column(app, "#filters-table", "rules") == [
            "league = SP1",
            "odds.pinnacle.home < 1.6",
        ]
        assert column(app, "#filters-table", "updated") == ["just now", "just now"]

        await pilot.press("slash")
        assert screen.query_one("#filters-search", Input).has_focus
        await pilot.press(*"pinnacle")
        assert column(app, "#filters-table", "name") == ["Home favourites"]
        assert static_text(app, "#filters-summary") == "1 of 2 filters match"
        await pilot.press("enter")  # back to the table, search kept
        assert screen.query_one("#filters-table").has_focus
        await pilot.press("escape")  # clears it
        assert len(column(app, "#filters-table", "name")) == 2

        # The cursor stayed on the row the search found.
        assert screen.selected() is not None
        assert screen.selected().name == "Home favourites"  # type: ignore[union-attr]
        await pilot.press("c")  # duplicate it: the copy is selected
        await settle(pilot)
        assert len(column(app, "#filters-table", "name")) == 3
        assert screen.selected().name == "Home favourites (copy)"  # type: ignore[union-attr]

        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # no
        await settle(pilot)
        assert len(column(app, "#filters-table", "name")) == 3
        await pilot.press("d", "y")
        await settle(pilot)
        assert len(column(app, "#filters-table", "name")) == 2
    assert {f.name for f in await store.list()} == {"Home favourites", "Away in Spain"}


async def test_run_uses_the_last_runs_settings(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_season(service, matches=12)
    saved = await FilterStore(service.db, service.user_id).create(
        "Spain", [{"field": "league", "op": "=", "value": "SP1"}]
    )
    engine = BacktestEngine(service.db, service.user_id)
    await engine.run(
        BacktestRequest(
            market="draw",
            filter_ref=str(saved.id),
            staking="percent",
            stake=Decimal("2"),
            bank=Decimal("50"),
        )
    )
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("r")
        await settle(pilot)
    results = await ResultStore(service.db, service.user_id).list_results()
    assert len(results) == 2
    newest = results[0].request
    assert (newest["market"], newest["staking"], newest["stake"], newest["bank"]) == (
        "draw",
        "percent",
        "2",
        "50",
    )


async def test_help_lists_the_new_screens_bindings_with_ids(
    service: FilterBetsService, settings: Settings
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        listed = {entry.description for entry in app.screen.entries}
        assert {
            "New",
            "Edit",
            "Run",
            "Search",
            "Duplicate",
            "Delete",
            "Filters",
            "Results",
        } <= listed
    from tui.screens.results import CompareScreen, ResultDetailScreen
    from tui.widgets.export_prompt import ExportPrompt as Prompt

    for owner in (
        FiltersScreen,
        RuleEditorScreen,
        ResultsScreen,
        ResultDetailScreen,
        CompareScreen,
        ConfirmScreen,
        FieldPicker,
        Prompt,
    ):
        for binding in Binding.make_bindings(owner.BINDINGS):
            assert binding.id, f"{owner.__name__}: {binding.key!r} has no id"
            assert binding.description, f"{owner.__name__}: {binding.id} has no description"
            assert "ctrl+s" not in binding.key and "ctrl+enter" not in binding.key


async def test_the_editor_fits_80x24_without_overlap(
    service: FilterBetsService, settings: Settings
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("escape")  # leave the name box for the table
        await add_rule(pilot, "odds.pinnacle.home", "1.8")
        parts = [
            "#editor-name",
            "#editor-stake",
            "#editor-market",
            "#editor-odds",
            "#editor-staking",
            "#editor-rules",
            "#editor-field",
            "#editor-op",
            "#editor-value",
            "#editor-hint",
            "#editor-problem",
            "#editor-preview",
        ]
        regions = {part: app.screen.query_one(part).region for part in parts}
        for part, region in regions.items():
            assert region.width > 0 and region.height > 0, part
            assert region.right <= SIZE[0] and region.bottom <= SIZE[1] - 1, part  # footer
        names = list(regions)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                assert not regions[first].overlaps(regions[second]), (first, second)
        assert regions["#editor-rules"].height >= 6


# Pieces --------------------------------------------------------------------------------


def test_rules_round_trip_through_the_tree() -> None:
    stored = [
        {"field": "league", "op": "in", "value": ["E0", "SP1"]},
        {"not": {"field": "odds.pinnacle.home", "op": "between", "value": [1.5, 2.0]}},
        {
            "not": {
                "all": [
                    {"field": "month", "op": "=", "value": 12},
                    {"field": "weekday", "op": "is_null"},
                ]
            }
        },
        {"any": [{"field": "date", "op": ">=", "value": "2020-01-01"}]},
    ]
    root = tree_from_rules(stored)
    rules, paths = rules_from_tree(root)
    assert rules == {"all": stored}
    assert "rules.all[1].not" in paths and "rules.all[2].not.all[1]" in paths
    assert [row.depth for row in flatten(root)] == [0, 1, 1, 2, 1, 2, 2, 1, 2]


def test_errors_map_to_the_row_at_fault() -> None:
    bad = RuleLeaf("odds.pinnacle.home", ">=", "1.8x")
    empty = RuleLeaf()
    root = RuleGroupNode("all", [RuleLeaf("league", "=", "E0"), RuleGroupNode("any", [bad]), empty])
    _rules, problems = check_tree(root)
    assert problems[id(bad)] == ['takes a number, got string "1.8x"']
    assert problems[id(empty)] == ["pick a field (f)"]
    assert id(root.children[0]) not in problems


def test_price_ranges_as_bettors_write_them() -> None:
    """Issue 14 item 10: `1.5-2.0` (how bettors write it) gave "a list of 1", `1,5..2,0` "a
    list of 4"; the editor took only `1.5..2.0`."""
    price = "odds.pinnacle.home"
    for typed in ("1.5..2.0", "1.5-2.0", "1,5..2,0", "1.5 - 2", "1.5 .. 2", "1,5-2", "1.5 to 2"):
        leaf = RuleLeaf(price, "between", typed)
        assert parse_value(leaf) == (True, [1.5, 2.0] if "2." in typed else [1.5, 2]), typed
        assert check_tree(RuleGroupNode("all", [leaf]))[1] == {}, typed
    # A negative Asian handicap line, months, a single price with a decimal comma.
    assert parse_value(RuleLeaf("ah_line", "between", "-1.5--0.5")) == (True, [-1.5, -0.5])
    assert parse_value(RuleLeaf("month", "between", "1-3")) == (True, [1, 3])
    assert parse_value(RuleLeaf(price, ">=", "1,85")) == (True, 1.85)
    # Dates keep their hyphens; ranges of them use "..".
    dates = RuleLeaf("date", "between", "2019-08-01..2020-05-31")
    assert parse_value(dates) == (True, ["2019-08-01", "2020-05-31"])
    # Anything else says exactly which form to write.
    for typed in ("1.5", "1.5 2.0", "1,5, 2,0", "1.5..2.0..3"):
        leaf = RuleLeaf(price, "between", typed)
        (problem,) = check_tree(RuleGroupNode("all", [leaf]))[1][id(leaf)]
        assert problem == (
            "write the range as low..high, e.g. 1.5..2.2 (1.5-2.2 and 1,5..2,2 work too)"
        ), typed


async def test_a_range_typed_with_a_hyphen_previews_in_the_editor(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_season(service, matches=12)  # home 1.60 / away 2.50
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("n")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        await pilot.press("enter")  # from the name to the rules
        await add_rule(pilot, "odds.pinnacle.away", "")
        editor.query_one("#editor-op", Select).value = "between"
        await pilot.pause()
        editor.query_one("#editor-value", Input).focus()
        await pilot.press(*"2,4 - 2,6", "escape")
        assert rule_rows(app)[1] == ("  • odds.pinnacle.away between 2,4 - 2,6", "✓")
        assert "12 fixtures match" in await wait_for_preview(pilot, editor)
        assert rules_from_tree(editor.root)[0] == {
            "all": [{"field": "odds.pinnacle.away", "op": "between", "value": [2.4, 2.6]}]
        }


def test_moving_rows_through_groups() -> None:
    a, b, c = (
        RuleLeaf("league", "=", "E0"),
        RuleLeaf("season", "=", "x"),
        RuleLeaf("month", "=", "1"),
    )
    group = RuleGroupNode("any", [c])
    root = RuleGroupNode("all", [a, group, b])
    assert move_node(root, a, 1)  # into the group below, as its first rule
    assert group.children == [a, c] and root.children == [group, b]
    assert move_node(root, a, -1)  # out of the group's top: before it
    assert root.children == [a, group, b]
    assert move_node(root, b, -1)  # into the group above, as its last rule
    assert group.children == [c, b]
    assert not move_node(root, root, 1)


def test_search_and_updated_texts() -> None:
    import datetime as dt

    from core.filters import FilterInfo

    now = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    info = FilterInfo(
        1,
        "Home favs",
        "",
        [{"field": "league", "op": "=", "value": "E0"}],
        Decimal("1"),
        True,
        now,
        now,
    )
    assert matches(info, "home")
    assert matches(info, "favs league")
    assert not matches(info, "spain")
    assert updated_text(now - dt.timedelta(seconds=30), now) == "just now"
    assert updated_text(now - dt.timedelta(minutes=5), now) == "5 min ago"
    assert updated_text(now - dt.timedelta(hours=3), now) == "3 h ago"
    assert updated_text(now - dt.timedelta(hours=30), now) == "yesterday"


async def test_run_queues_a_job_when_the_app_has_a_job_runner(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = await FilterStore(service.db, service.user_id).create(
        "Spain", [{"field": "league", "op": "=", "value": "SP1"}]
    )

    class Info:
        short_id = "ab12cd34"

    class FakeRunner:
        def __init__(self) -> None:
            self.submitted: list[tuple[int, BacktestRequest]] = []

        async def submit(self, user_id: int, request: BacktestRequest) -> Info:
            self.submitted.append((user_id, request))
            return Info()

        running: list[Any] = []

        async def stop(self, grace: float = 0.0) -> None:
            return None

    runner = FakeRunner()
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        monkeypatch.setattr(app, "job_runner", runner, raising=False)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, FiltersScreen)
    assert [(user, request.filter_ref, request.market) for user, request in runner.submitted] == [
        (service.user_id, str(saved.id), "home")
    ]
    queued = "Backtest of 'Spain' (home @ pinnacle, flat 1.00) queued as job ab12cd34."
    assert f"information: Jobs: {queued}" in notes
    assert await ResultStore(service.db, service.user_id).list_results() == []


async def test_staking_set_in_the_editor_is_how_r_runs(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_season(service, matches=12)
    await FilterStore(service.db, service.user_id).create(
        "Aways", [{"field": "odds.pinnacle.away", "op": ">=", "value": 2.0}]
    )
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        editor.query_one("#editor-market", Select).value = "away"
        editor.query_one("#editor-staking", Select).value = "percent"
        await pilot.pause()
        assert editor.query_one("#editor-stake", Input).value == "1"
        assert static_text(app, "#editor-stake-label") == "% bank"
        editor.query_one("#editor-stake", Input).value = "2.5"
        assert editor.dirty
        await pilot.press("s")
        await settle(pilot)
        assert not editor.dirty
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, FiltersScreen)
        await pilot.press("r")
        await settle(pilot)
    (result,) = await ResultStore(service.db, service.user_id).list_results()
    assert (result.market, result.staking, result.request["stake"]) == ("away", "percent", "2.5")
    saved = await FilterStore(service.db, service.user_id).get("Aways")
    assert saved.backtest_settings is not None
    assert (
        saved.backtest_settings["market"],
        saved.backtest_settings["staking"],
        saved.backtest_settings["stake"],
    ) == ("away", "percent", "2.5")


async def test_saved_settings_load_in_the_editor_and_r_runs_with_them(
    service: FilterBetsService, settings: Settings
) -> None:
    """Settings saved with the filter (here from core, as the CLI does) are what the editor
    shows and how r runs it, in a fresh app; a filter saved without any runs on defaults."""
    await seed_season(service, matches=12)
    store = FilterStore(service.db, service.user_id)
    await store.create("Plain", [{"field": "league", "op": "=", "value": "E0"}])
    kept = await store.create(
        "Kelly aways",
        [{"field": "odds.pinnacle.away", "op": ">=", "value": 2.0}],
        backtest_settings={
            "market": "away",
            "odds_source": "avg",
            "staking": "kelly",
            "kelly_fraction": 0.5,
            "kelly_cap": 0.1,
        },
    )
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        assert column(app, "#filters-table", "name") == ["Kelly aways", "Plain"]
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        assert editor.query_one("#editor-market", Select).value == "away"
        assert editor.query_one("#editor-odds", Select).value == "avg"
        assert editor.query_one("#editor-staking", Select).value == "kelly"
        assert editor.query_one("#editor-stake", Input).value == "0.5"
        assert static_text(app, "#editor-stake-label") == "Kelly x"
        assert not editor.dirty
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("r", "j", "r")
        await settle(pilot)
    results = await ResultStore(service.db, service.user_id).list_results()
    by_filter = {result.filter_id: result.request for result in results}
    kelly = by_filter[kept.id]
    assert (kelly["market"], kelly["odds_source"], kelly["staking"]) == ("away", "avg", "kelly")
    assert (kelly["kelly_fraction"], kelly["kelly_cap"]) == (0.5, 0.1)
    (plain,) = [request for fid, request in by_filter.items() if fid != kept.id]
    assert (plain["market"], plain["odds_source"], plain["staking"]) == (
        "home",
        "pinnacle",
        "flat",
    )


async def test_no_false_no_filters_yet_while_the_list_reloads(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 17: after the first filter was saved and the editor left, the Filters
    screen said "No filters yet" until the list arrived (over a second under load)."""
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        filters = await open_filters(pilot)
        assert static_text(app, "#filters-summary") == "No filters yet"
        await pilot.press("n")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        await pilot.press(*"First one", "enter")
        await pilot.press("s")
        await settle(pilot)

        # From now on the list arrives only when the test says so.
        gate = asyncio.Event()
        original = FilterStore.list

        async def slow_list(store: FilterStore) -> list[Any]:
            await gate.wait()
            return await original(store)

        monkeypatch.setattr(FilterStore, "list", slow_list)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is filters
        assert static_text(app, "#filters-summary") != "No filters yet"
        assert not filters.query_one("#filters-empty").display
        assert column(app, "#filters-table", "name") == ["First one"]
        gate.set()
        await settle(pilot)
        assert column(app, "#filters-table", "name") == ["First one"]
        assert static_text(app, "#filters-summary") == "1 filter"

        # A screen that was empty says nothing about it until the list arrives.
        await FilterStore(service.db, service.user_id).delete("First one")
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        assert static_text(app, "#filters-summary") == "No filters yet"
        await FilterStore(service.db, service.user_id).create("From the CLI", [])
        gate.clear()
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("1")
        await pilot.pause()
        assert static_text(app, "#filters-summary") == "Loading…"
        assert not filters.query_one("#filters-empty").display
        gate.set()
        await settle(pilot)
        assert column(app, "#filters-table", "name") == ["From the CLI"]


def test_field_search_takes_several_words() -> None:
    from tui.widgets.field_picker import find_fields

    assert find_fields("odds.pinnacle.home")[0].name == "odds.pinnacle.home"
    names = [field.name for field in find_fields("pinnacle close home")]
    assert names[0] == "odds.pinnacle_close.home"
    assert all(field.pre_match for field in find_fields(""))
    assert find_fields("no such thing") == []


def test_the_other_books_fields_wait_for_a_search() -> None:
    """A thousand fields of other books (odds, implied, fair, margins) would bury the team
    form fields: before a search the list leaves them out, and a book's code finds them."""
    from core.rules import FIELDS
    from tui.widgets.field_picker import OTHER_BOOK_FIELDS, find_fields, other_book

    idle = [field.name for field in find_fields("")]
    assert not any(name.split(".")[1:2] in (["wh"], ["bfe_close"]) for name in idle)
    assert {"odds.b365.home", "odds.pinnacle_close.away", "league"} <= set(idle)
    assert any(FIELDS[name].group == "Team form" for name in idle)
    pre_match = [field for field in FIELDS.values() if field.pre_match]
    assert len(idle) + OTHER_BOOK_FIELDS == len(pre_match)
    assert OTHER_BOOK_FIELDS > 500
    assert find_fields("wh")[0].name == "odds.wh.home"
    assert [field.name for field in find_fields("wh away")][:1] == ["odds.wh.away"]
    assert other_book(FIELDS["implied.bfe_close.home"]) and not other_book(FIELDS["odds.max.home"])


async def test_a_rule_on_another_books_price_opens_the_picker_on_its_field(
    service: FilterBetsService, settings: Settings
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("escape")
        await pilot.press("a")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, FieldPicker)
        hint = str(picker.query_one("#picker-hint", Static).render())
        assert hint.startswith("+") and "type a book" in hint and "…" not in hint.split(")")[1]
        assert picker.query_one("#picker-hint").region.right <= SIZE[0]
        await pilot.press(*"wh away", "enter")
        await pilot.pause()
        await pilot.press(*"2.5", "escape")
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, FieldPicker)
        assert picker.query_one(Input).value == "odds.wh.away"
        assert picker.shown[picker.query_one(OptionList).highlighted or 0] == "odds.wh.away"


async def test_a_new_filter_starts_in_name_and_the_hint_says_so(
    service: FilterBetsService, settings: Settings
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("n")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        assert editor.query_one("#editor-name", Input).has_focus
        hint = static_text(app, "#editor-hint")
        assert hint == "Name the filter, then enter for its rules (a adds one) · f2 saves"
        await pilot.press(*"Spain", "enter")
        assert editor.query_one("#editor-rules").has_focus
        assert static_text(app, "#editor-hint").startswith("a adds a rule inside this group")
        await add_rule(pilot, "league", "SP1")
        assert static_text(app, "#editor-hint").endswith("· f field · J/K move")
        editor.query_one("#editor-name", Input).focus()
        await pilot.pause()
        assert static_text(app, "#editor-hint").startswith("Name the filter")
        await pilot.press("f2")  # s would type into the name: f2 saves from a box
        await settle(pilot)
    saved = await FilterStore(service.db, service.user_id).get("Spain")
    assert saved.rules == {"all": [{"field": "league", "op": "=", "value": "SP1"}]}
    assert saved.backtest_settings is not None
    assert saved.backtest_settings["market"] == "home"


async def test_the_list_shows_a_job_result_when_the_job_ends(
    service: FilterBetsService, settings: Settings
) -> None:
    """A job run by the app's runner ends: the filter's last bets and yield follow."""
    await seed_season(service, matches=12)
    saved = await FilterStore(service.db, service.user_id).create(
        "Aways",
        [{"field": "odds.pinnacle.away", "op": ">=", "value": 2.0}],
        backtest_settings={"market": "away"},
    )
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        assert column(app, "#filters-table", "bets") == ["-"]
        app.running_jobs = 1  # as the runner's events set it
        await settle(pilot)
        await BacktestEngine(service.db, service.user_id).run(
            BacktestRequest(market="away", filter_ref=str(saved.id))
        )
        app.running_jobs = 0
        await settle(pilot)
        assert column(app, "#filters-table", "bets") == ["12"]


async def test_the_list_shows_a_job_result_even_when_the_job_was_too_quick_to_see_running(
    service: FilterBetsService, settings: Settings
) -> None:
    """A job can start and end between two of the runner's looks: running_jobs never moves,
    but the job's end still brings the filter's last result into the list."""
    await seed_season(service, matches=12)
    saved = await FilterStore(service.db, service.user_id).create(
        "Aways", [{"field": "odds.pinnacle.away", "op": ">=", "value": 2.0}]
    )
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        assert column(app, "#filters-table", "bets") == ["-"]
        run = await BacktestEngine(service.db, service.user_id).run(
            BacktestRequest(market="away", filter_ref=str(saved.id))
        )
        event = JobEvent(
            uuid.uuid4(), service.user_id, SUCCEEDED, 1.0, "done", 0.1, None, run.result_id
        )
        app.post_message(JobEventMessage(event))
        await settle(pilot)
        assert app.running_jobs == 0
        assert column(app, "#filters-table", "bets") == ["12"]


async def test_a_saved_any_group_opens_as_any_and_previews_what_a_backtest_bets(
    service: FilterBetsService, settings: Settings
) -> None:
    """A filter stored as {"any": [...]} (from the CLI, say) keeps ANY in the editor: the
    panel's default ALL must never be copied into the top group when the first row shows."""
    await seed_season(service)
    either = {
        "any": [
            {"field": "league", "op": "=", "value": "E0"},
            {"field": "date", "op": ">=", "value": "2019-09-19"},
        ]
    }
    await FilterStore(service.db, service.user_id).create("Either", either)
    engine = BacktestEngine(service.db, service.user_id)
    any_count = await engine.count(BacktestRequest(market="away", rules=either))
    all_count = await engine.count(BacktestRequest(market="away", rules={"all": either["any"]}))
    assert (any_count, all_count) == (40, 10)  # 30 E0 + the last 10 SP1; the last 10 E0
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        await wait_for_preview(pilot, editor)
        assert editor.root.kind == "any"
        assert rules_from_tree(editor.root)[0] == either
        assert editor.preview_count == any_count
        assert "ANY of these" in rule_rows(app)[0][0]
        # Through the top row and back: the panel shows ANY, and nothing counts as an edit.
        await pilot.press("k", "k", "j")
        await settle(pilot)
        assert editor.query_one("#editor-kind", Select).value == "any"
        assert editor.root.kind == "any" and not editor.dirty


async def test_the_preview_shows_a_kelly_run_that_never_bets_and_the_runs_warnings(
    service: FilterBetsService, settings: Settings
) -> None:
    """Issue 14 item 7: Kelly at Pinnacle's own prices never bets (it sizes from Pinnacle's
    margin-free price, so that price never shows an edge), and nothing said so. The editor
    previews the Kelly run too, and shows the preview runs' warnings as a result does."""
    await seed_season(service, matches=12)
    await FilterStore(service.db, service.user_id).create(
        "Kelly homes",
        [{"field": "odds.pinnacle.home", "op": "<", "value": 2.0}],
        backtest_settings={"market": "home", "odds_source": "pinnacle", "staking": "kelly"},
    )
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        await wait_for(pilot, lambda: editor.preview_kelly is not None, "the Kelly preview")
        kelly = editor.preview_kelly
        assert kelly is not None and kelly["bets"] == 0 and kelly["skipped_no_edge"] == 12
        text = preview(app)
        assert "flat 1u: 12 bets" in text and "kelly: 0 bets" in text
        shown = " ".join(static_text(app, "#editor-warnings").split())
        assert kelly["warnings"], "a run with no bets says so"
        for warning in kelly["warnings"]:
            assert f"⚠ WARNING {' '.join(warning.split())}" in shown

        # Maximum prices: whatever the flat run warns about is shown, once.
        editor.query_one("#editor-staking", Select).value = "flat"
        editor.query_one("#editor-odds", Select).value = "max"
        await wait_for(
            pilot,
            lambda: (
                editor.preview_metrics is not None
                and editor.preview_metrics["odds_source"] == "max"
            ),
            "the preview at maximum prices",
        )
        assert editor.preview_kelly is None and "kelly" not in preview(app)
        warnings = editor.preview_metrics["warnings"]  # type: ignore[index]
        shown = " ".join(static_text(app, "#editor-warnings").split())
        assert all(" ".join(w.split()) in shown for w in warnings)
        assert shown.count("⚠ WARNING") == len(set(warnings))
