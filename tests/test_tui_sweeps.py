"""Sweeps in the dashboard: a parameter from the rule editor, the sweep run as a job, the
sweep result (variants, heatmap, walk-forward, PBO), promoting a variant, and a backtest's
p-value against its filter's trials. Pilot at 80x24 on SQLite and PostgreSQL.

The data is hand-built so that every number can be followed: three seasons of 30 games,
away odds 2.0, 2.5 and 3.0 in turn, the away side winning every other game. At each price
half the bets win: 2.0 breaks even, 2.5 makes +25% and 3.0 +50%.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select, TabbedContent

from core.backtest.engine import BacktestEngine
from core.backtest.grid import parse_grid
from core.backtest.request import BacktestRequest
from core.backtest.sweeps import SweepEngine, SweepRequest
from core.backtest.trials import filter_trials
from core.config import Settings
from core.filters import FilterStore
from core.results import ResultStore, SweepVariantRow
from core.services import FilterBetsService
from tests.factories import add_fixtures
from tests.test_tui_data import plain, record_notifications, settle, static_text, wait_for
from tests.test_tui_filters import open_filters, rule_rows, wait_for_preview
from tests.test_tui_results import column, open_results, table_cells
from tui.app import FilterBetsApp
from tui.screens.results import ResultDetailScreen
from tui.screens.rule_editor import RuleEditorScreen, RuleLeaf, leaf_rules, tree_from_rules
from tui.screens.rule_editor_sweep import leaf_slots
from tui.screens.sweep_result import SweepResultScreen
from tui.widgets.metrics_panel import MetricsPanel, metric_lines
from tui.widgets.param_prompt import ParamPrompt
from tui.widgets.rule_text import summarize_rules
from tui.widgets.sweep_params import describe_values, parse_values
from tui.widgets.sweep_prompt import SweepPrompt
from tui.widgets.sweep_view import (
    HeatmapAxes,
    default_axes,
    heatmap_slice,
    held_count,
    next_axes,
    sort_variants,
    yield_cell_text,
)

SIZE = (80, 24)
PRICES = (2.0, 2.5, 3.0)
SEASONS = ("2017-18", "2018-19", "2019-20")
BAND = {"field": "odds.pinnacle.away", "op": "between", "value": [2.0, 3.0]}
TEMPLATE = {
    "all": [
        {
            "field": "odds.pinnacle.away",
            "op": "between",
            "value": [{"param": "lo"}, {"param": "hi"}],
        }
    ]
}
GRID = {"lo": [2.0, 2.5], "hi": [2.5, 3.0]}
# Per season: 10 games at each price, 5 of them away wins.
YIELDS = [0.125, 0.25, 0.25, 0.375]  # (2, 2.5), (2, 3), (2.5, 2.5), (2.5, 3)
BETS = [60, 90, 30, 60]


async def seed_bands(service: FilterBetsService) -> None:
    specs = []
    for s, season in enumerate(SEASONS):
        start = dt.date(2017 + s, 8, 5)
        for i in range(30):
            away_win = i % 2 == 0
            specs.append(
                {
                    "league": "E0",
                    "season": season,
                    "date": start + dt.timedelta(days=3 * i),
                    "home": f"Home {i:02d}",
                    "away": f"Away {i:02d}",
                    "goals": (0, 1) if away_win else (1, 0),
                    "odds": {
                        "pinnacle_home": 2.0,
                        "pinnacle_draw": 3.5,
                        "pinnacle_away": PRICES[i % 3],
                    },
                }
            )
    await add_fixtures(service, specs)


async def run_sweep(service: FilterBetsService, filter_name: str = "Away band") -> int:
    store = FilterStore(service.db, service.user_id)
    saved = await store.create(filter_name, TEMPLATE, backtest_settings={"market": "away"})
    request = SweepRequest(
        backtest=BacktestRequest(market="away", filter_ref=str(saved.id)),
        grid=GRID,
        min_bets=10,
        pbo_blocks=4,
    )
    run = await SweepEngine(service.db, service.user_id).run(request)
    return run.result_id


# The pieces, without a screen -----------------------------------------------------------


def test_values_are_a_list_or_an_inclusive_range() -> None:
    field = "odds.pinnacle.away"
    assert parse_values("1.5, 1.8, 2.0", field) == [1.5, 1.8, 2.0]
    assert parse_values("1.5..3.0 step 0.1", field) == {"from": 1.5, "to": 3.0, "step": 0.1}
    assert describe_values(parse_values("1.5..3.0 step 0.1", field)) == (
        "16 values: 1.5, 1.6, 1.7, …, 3"
    )
    assert parse_values("1 to 5", "home.points_last5") == {"from": 1, "to": 5, "step": 1}
    assert parse_values("E0, SP1", "league") == ["E0", "SP1"]
    with pytest.raises(ValueError, match="type a list E0, SP1, I1"):
        parse_values(" ", "league")  # the example fits the field


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("", "odds.pinnacle.away", "type a list 1.5, 1.8, 2.0 or a range"),
        ("1.5..3.0", "odds.pinnacle.away", "a range of decimals needs a step: 1.5..3.0 step 0.1"),
        ("3..1", "home.points_last5", "range from 3 to 1 is empty"),
        ("1.5..3 step 0", "odds.pinnacle.away", "range step must be above 0"),
        ("1.5, x", "odds.pinnacle.away", 'takes a number, got string "x"'),
        ("1.5, , 2", "odds.pinnacle.away", "an empty value in the list"),
    ],
)
def test_values_that_cannot_be_the_fields_say_why(text: str, field: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_values(text, field)
    assert message in str(caught.value)


def test_a_rule_value_holds_parameters_as_dollar_names() -> None:
    leaf = RuleLeaf("odds.pinnacle.away", "between", "$lo..3")
    assert leaf_rules(leaf) == {
        "field": "odds.pinnacle.away",
        "op": "between",
        "value": [{"param": "lo"}, 3],
    }
    assert [(s.label, s.text) for s in leaf_slots(leaf)] == [("low end", "$lo"), ("high end", "3")]
    # A saved template reads back as it was typed, and reads as such in the filters list.
    tree = tree_from_rules(TEMPLATE)
    assert isinstance(tree.children[0], RuleLeaf) and tree.children[0].value == "$lo..$hi"
    assert summarize_rules(TEMPLATE) == "odds.pinnacle.away between $lo..$hi"


def _rows(values: list[float | None]) -> list[SweepVariantRow]:
    from decimal import Decimal

    return [
        SweepVariantRow(
            i, {}, 0 if v is None else 10, 0, Decimal(0), Decimal(0), v, 0.0, 0, v, v, v
        )
        for i, v in enumerate(values)
    ]


def test_variants_sort_by_a_metric_with_the_missing_last_and_ties_in_grid_order() -> None:
    rows = _rows([0.1, None, 0.3, 0.1])
    assert [v.index for v in sort_variants(rows, "yield", True)] == [2, 0, 3, 1]
    assert [v.index for v in sort_variants(rows, "yield", False)] == [0, 3, 2, 1]
    assert [v.index for v in sort_variants(rows, "p", False)] == [0, 3, 2, 1]


def test_the_heatmap_spreads_two_parameters_and_holds_the_others() -> None:
    grid = parse_grid({"league": ["E0", "I1", "SP1"], "lo": [1.5, 2.0], "hi": [3.0, 3.5, 4.0, 5.0]})
    axes = default_axes(grid)
    assert axes == HeatmapAxes(0, 1)  # league has more values than lo: down the side
    cut = heatmap_slice(grid, axes, held_index=2)
    assert cut.held == {"hi": 4.0} and held_count(grid, axes) == 4
    for r, league in enumerate(cut.row_values):
        for c, lo in enumerate(cut.col_values):
            assert grid.params(cut.cells[r][c]) == {"league": league, "lo": lo, "hi": 4.0}
    axes = next_axes(grid, axes)  # league and hi: hi has more values
    assert axes == HeatmapAxes(2, 0)
    cut = heatmap_slice(grid, axes, held_index=1)
    assert cut.held == {"lo": 2.0}
    assert grid.params(cut.cells[3][1]) == {"league": "I1", "lo": 2.0, "hi": 5.0}
    single = heatmap_slice(parse_grid({"lo": [1.5, 2.0]}), HeatmapAxes(0, None), 0)
    assert single.cells == ((0,), (1,))
    assert [yield_cell_text(v) for v in _rows([0.125, None, -1.0])] == ["+12.5", "·", "-100.0"]


# Trials over time -----------------------------------------------------------------------


async def test_a_backtest_is_judged_against_every_trial_on_its_filter(
    service: FilterBetsService,
) -> None:
    await seed_bands(service)
    store = FilterStore(service.db, service.user_id)
    engine = BacktestEngine(service.db, service.user_id)
    results = ResultStore(service.db, service.user_id)
    plain_filter = await store.create("Plain band", BAND)
    first = await engine.run(BacktestRequest(market="away", filter_ref="Plain band"))
    trials = (await results.get(first.result_id)).trials
    assert trials is not None and (trials.filter_name, trials.trials) == ("Plain band", 1)
    assert await filter_trials(service.db, plain_filter.id) == 1  # the run counted itself

    sweep_id = await run_sweep(service)
    swept = await store.get("Away band")
    assert await filter_trials(service.db, swept.id) == 4
    # A promoted variant runs inline rules; its trials are those of the filter swept.
    promoted = await engine.run(await results.variant_request(sweep_id, 3))
    detail = await results.get(promoted.result_id)
    assert detail.trials is not None
    assert (detail.trials.filter_id, detail.trials.trials) == (swept.id, 4)
    p = detail.metrics["p_value"]
    assert detail.trials.bonferroni(p) == pytest.approx(min(1.0, 4 * p))
    assert f"(4 trials on filter Away band; Bonferroni {min(1.0, 4 * p):,.4f})" in (
        await results.summary_text(promoted.result_id)
    )
    # Rules never swept, run inline: no filter to count against.
    other = await engine.run(BacktestRequest(market="home", rules=BAND))
    assert (await results.get(other.result_id)).trials is None
    assert (await results.get(sweep_id)).trials is None  # a sweep reports its own trials
    assert await results.last_sweep_grid(swept.id) == GRID
    assert await results.last_sweep_grid(plain_filter.id) is None


def test_the_metrics_panel_puts_the_trials_beside_the_p_value() -> None:
    from core.results import TrialCount

    metrics = {"p_value": 0.02, "bets": 10}
    lines = {line.key: line for line in metric_lines(metrics, TrialCount(1, "Band", 80))}
    assert lines["p_value"].text == "0.0200 of 80 trials"
    assert lines["p_bonferroni"].text == "1.0000"
    lines = {line.key: line for line in metric_lines(metrics, TrialCount(1, "Band", 2))}
    assert lines["p_bonferroni"].text == "0.0400"
    assert "p_bonferroni" not in {line.key for line in metric_lines(metrics)}


# The editor: a parameter, then the sweep as a job ---------------------------------------


async def fill_param(pilot: Pilot[Any], values: str, slot: int | None = None) -> None:
    """p on the selected rule, pick the slot, type the values, enter."""
    await pilot.press("p")
    await settle(pilot)
    prompt = pilot.app.screen
    assert isinstance(prompt, ParamPrompt)
    if slot is not None:
        prompt.query_one("#param-slot", Select).value = slot
        await settle(pilot)
    assert prompt.query_one("#param-values", Input).has_focus
    await pilot.press("ctrl+u", *values, "enter")
    await settle(pilot)


async def test_a_value_made_a_parameter_runs_as_a_sweep_job(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_bands(service)
    saved = await FilterStore(service.db, service.user_id).create(
        "Away band", {"all": [BAND]}, backtest_settings={"market": "away"}
    )
    app = FilterBetsApp(settings, service=service, run_jobs=True, jobs_in_child=False)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        assert "90 fixtures match" in await wait_for_preview(pilot, editor)
        assert editor.query_one("#editor-rules").has_focus

        await fill_param(pilot, "2.0, 2.5")  # the low end first
        assert rule_rows(app)[1] == ("  • odds.pinnacle.away between $lo..3", "✓ sweeps $lo (2)")
        await fill_param(pilot, "2.5..3.0 step 0.5", slot=1)
        assert rule_rows(app)[1] == (
            "  • odds.pinnacle.away between $lo..$hi",
            "✓ sweeps $lo (2), $hi (2)",
        )
        # The preview runs the first variant, lo=2.0 hi=2.5, and says which it is.
        assert await wait_for_preview(pilot, editor) == (
            "Variant 1/4: 60 fixtures match · flat 1u: 60 bets, +7.50 u, yield +12.50%"
        )
        await pilot.press("s")  # saved, the sweep's variants count as the filter's trials
        await settle(pilot)
        assert (await FilterStore(service.db, service.user_id).get(saved.id)).rules == TEMPLATE

        await pilot.press("w")
        await settle(pilot)
        prompt = app.screen
        assert isinstance(prompt, SweepPrompt)
        about = static_text(app, "#sweep-about")
        assert "'Away band': 2 values of $lo, 2 values of $hi = 4 variants" in about
        assert "Every variant counts as a trial of 'Away band'." in about
        await pilot.press("ctrl+u", "1", "0", "enter")
        await settle(pilot)
        assert app.screen is editor
        assert any("Sweep: Sweep of 'Away band' queued as job" in n for n in notes)
        results = ResultStore(service.db, service.user_id)

        async def sweeps() -> list[Any]:
            return [r for r in await results.list_results() if r.kind == "sweep"]

        found: list[Any] = []

        async def check() -> None:
            found[:] = await sweeps()

        for _ in range(200):
            await check()
            if found:
                break
            await pilot.pause(0.05)
        assert len(found) == 1, "the sweep job did not store its result"
        result = found[0]
        assert result.filter_id == saved.id and result.market == "away"
        sweep = result.request["sweep"]
        assert sweep["grid"] == [["lo", [2.0, 2.5]], ["hi", {"from": 2.5, "to": 3.0, "step": 0.5}]]
        assert sweep["min_bets"] == 10
        variants = await results.variants(result.id)
        assert [v.yield_ for v in variants] == YIELDS
        assert [v.bets for v in variants] == BETS
        assert await filter_trials(service.db, saved.id) == 4


async def test_a_parameter_without_values_is_named_and_the_sweep_waits_for_it(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_bands(service)
    await FilterStore(service.db, service.user_id).create("Away band", TEMPLATE)
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("r")  # a template has no values to backtest with
        await settle(pilot)
        assert notes == [
            "warning: Run: 'Away band' is a sweep template ($lo, $hi): e opens it, w there"
            " sweeps it."
        ]
        assert await ResultStore(service.db, service.user_id).list_results() == []
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        await wait_for(pilot, lambda: editor._timer is None, "the preview")
        assert rule_rows(app)[1][1] == "$lo, $hi need values (p)"
        assert static_text(app, "#editor-preview") == (
            "Preview Template: give $lo, $hi values (p on its rule) to preview and sweep"
        )
        await pilot.press("w")
        await settle(pilot)
        assert not isinstance(app.screen, SweepPrompt)
        assert "warning: Sweep: Give $lo, $hi values first (p on its rule)." in notes


async def test_a_saved_template_offers_the_values_of_its_last_sweep(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_bands(service)
    await run_sweep(service)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_filters(pilot)
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        await wait_for(pilot, lambda: editor.grid == GRID, "the last sweep's grid")
        assert rule_rows(app)[1][1] == "✓ sweeps $lo (2), $hi (2)"
        assert (await wait_for_preview(pilot, editor)).startswith("Variant 1/4: 60 fixtures match")


# The sweep result ----------------------------------------------------------------------


async def open_sweep(pilot: Pilot[Any]) -> SweepResultScreen:
    await open_results(pilot)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, SweepResultScreen)
    await wait_for(pilot, lambda: screen.detail is not None, "the sweep")
    return screen


def variant_column(app: FilterBetsApp, key: str) -> list[str]:
    table = app.screen.query_one("#sweep-variants")
    keys = [str(c.key.value) for c in table.ordered_columns]  # type: ignore[attr-defined]
    return [row[keys.index(key)] for row in table_cells(app, "#sweep-variants")]


async def test_the_sweep_result_shows_its_variants_heatmap_and_walk_forward(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_bands(service)
    await BacktestEngine(service.db, service.user_id).run(
        BacktestRequest(market="away", rules=BAND)
    )
    sweep_id = await run_sweep(service)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_results(pilot)
        assert column(app, "#results-table", "kind") == ["sweep", "filter"]
        screen = await open_sweep(pilot)
        assert screen.result_id == sweep_id
        headline = static_text(app, "#sweep-headline")
        assert headline.startswith(
            "Walk-forward out-of-sample yield +37.50% over 20 bets, against the best in-sample"
            " yield +37.50%"
        )
        assert "PBO" in headline and "of the time" in headline

        # Best yield first; the two at +25% in grid order.
        assert variant_column(app, "index") == ["3", "1", "2", "0"]
        assert variant_column(app, "yield") == ["+37.50%", "+25.00%", "+25.00%", "+12.50%"]
        assert variant_column(app, "param:lo") == ["2.5", "2", "2.5", "2"]
        variants = await ResultStore(service.db, service.user_id).variants(sweep_id)
        q_values = {str(v.index): v.q_value for v in variants}
        assert all(q is not None for q in q_values.values())
        assert variant_column(app, "q") == [f"{q_values[i]:.3f}" for i in ["3", "1", "2", "0"]]
        while screen.sort_by != "p":
            await pilot.press("s")
        await settle(pilot)
        p_values = [v.p_value for v in sorted(variants, key=lambda v: (v.p_value, v.index))]
        assert variant_column(app, "p") == [f"{p:.3f}" for p in p_values]
        await pilot.press("S")
        assert variant_column(app, "p") == [f"{p:.3f}" for p in reversed(p_values)]

        await pilot.press("m")
        await settle(pilot)
        assert app.screen.query_one(TabbedContent).active == "heatmap"
        assert table_cells(app, "#sweep-heatmap") == [
            ["2", "+12.5", "+25.0"],
            ["2.5", "+25.0", "+37.5*"],
        ]
        assert static_text(app, "#sweep-heatmap-title") == "Yield by lo (down) and hi (across)"
        await pilot.press("t")  # swap: hi down the side
        assert table_cells(app, "#sweep-heatmap") == [
            ["2.5", "+12.5", "+25.0"],
            ["3", "+25.0", "+37.5*"],
        ]
        await pilot.press("down", "right")
        assert plain(static_text(app, "#sweep-heatmap-cell")).startswith(
            "#3 lo=2.5 hi=3: 60 bets, +22.50 u, yield +37.50%"
        )

        await pilot.press("w")
        await settle(pilot)
        assert table_cells(app, "#sweep-walk") == [
            ["2019-20", "20", "+7.50", "+37.50%", "lo=2.5 hi=3"],
            ["all", "20", "+7.50", "+37.50%", table_cells(app, "#sweep-walk")[1][4]],
        ]
        notes = static_text(app, "#sweep-walk-notes")
        assert "4 trials in this sweep; 4 ever on filter Away band" in notes


async def test_enter_on_a_variant_promotes_it_and_opens_its_backtest(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_bands(service)
    sweep_id = await run_sweep(service)
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        sweep = await open_sweep(pilot)
        await pilot.press("down")  # variant 1: lo=2.0 hi=3.0
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultDetailScreen), "the backtest")
        detail_screen = app.screen
        assert isinstance(detail_screen, ResultDetailScreen)
        await wait_for(pilot, lambda: detail_screen.detail is not None, "the detail")
        detail = detail_screen.detail
        assert detail is not None and detail.summary.kind == "backtest"
        assert detail.summary.bets == 90 and detail.summary.yield_ == pytest.approx(0.25)
        assert detail.rules == {
            "all": [{"field": "odds.pinnacle.away", "op": "between", "value": [2.0, 3.0]}]
        }
        assert any(f"Promoted: Variant 1 of sweep #{sweep_id} is result" in n for n in notes)
        panel = detail_screen.query_one(MetricsPanel)
        assert panel.trials is not None and panel.trials.trials == 4
        lines = {line.key: line.text for line in metric_lines(detail.metrics, panel.trials)}
        assert lines["p_value"].endswith("of 4 trials")
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is sweep


async def test_a_sweep_opened_from_anywhere_shows_as_a_sweep(
    service: FilterBetsService, settings: Settings
) -> None:
    """The Jobs screen (and any other opener) pushes the result's detail: a sweep's hands
    over to the sweep view."""
    await seed_bands(service)
    sweep_id = await run_sweep(service)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(ResultDetailScreen(sweep_id))
        await wait_for(pilot, lambda: isinstance(app.screen, SweepResultScreen), "the sweep")
        screen = app.screen
        assert isinstance(screen, SweepResultScreen) and screen.result_id == sweep_id


async def test_the_heatmap_holds_a_third_parameter_and_steps_through_its_values(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_bands(service)
    rules = {
        "all": [
            TEMPLATE["all"][0],
            {"field": "odds.pinnacle.home", "op": ">=", "value": {"param": "h"}},
        ]
    }
    request = SweepRequest(
        backtest=BacktestRequest(market="away", rules=rules),
        grid={**GRID, "h": [1.0, 5.0]},  # every home price is 2.0: h=5 bets on nothing
        min_bets=10,
        pbo_blocks=4,
    )
    await SweepEngine(service.db, service.user_id).run(request)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_sweep(pilot)
        await pilot.press("m")
        await settle(pilot)
        title = "#sweep-heatmap-title"
        assert static_text(app, title) == "Yield by lo (down) and hi (across) · h=1 (1 of 2)"
        assert table_cells(app, "#sweep-heatmap") == [
            ["2", "+12.5", "+25.0"],
            ["2.5", "+25.0", "+37.5*"],
        ]
        await pilot.press("right_square_bracket")
        assert static_text(app, title) == "Yield by lo (down) and hi (across) · h=5 (2 of 2)"
        assert table_cells(app, "#sweep-heatmap") == [["2", "·", "·"], ["2.5", "·", "·"]]
        await pilot.press("a")
        assert static_text(app, title) == "Yield by lo (down) and h (across) · hi=2.5 (1 of 2)"
        assert table_cells(app, "#sweep-heatmap") == [["2", "+12.5", "·"], ["2.5", "+25.0", "·"]]


async def test_a_big_sweep_lists_its_variants_a_page_at_a_time(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_bands(service)
    request = SweepRequest(
        backtest=BacktestRequest(
            market="away",
            rules={"field": "odds.pinnacle.away", "op": ">=", "value": {"param": "lo"}},
        ),
        grid={"lo": {"from": 1.0, "to": 6.99, "step": 0.01}},
        min_bets=0,
        pbo_blocks=4,
    )
    await SweepEngine(service.db, service.user_id).run(request)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_sweep(pilot)
        status = "#sweep-variants-status"
        assert static_text(app, status).startswith(
            "all 600 variants · 1-500 ([ ] page) · sort: Yield ▼"
        )
        assert len(table_cells(app, "#sweep-variants")) == 500
        await pilot.press("right_square_bracket")
        assert static_text(app, status).startswith("all 600 variants · 501-600 ([ ] page)")
        rows = table_cells(app, "#sweep-variants")
        assert len(rows) == 100
        # The last page ends with the variants without bets (lo above every price).
        assert rows[-1][2] == "0" and screen.shown[-1].yield_ is None
        await pilot.press("m")
        await settle(pilot)
        assert static_text(app, "#sweep-heatmap-title") == "Yield by lo"
        cells = {row[0]: row[1] for row in table_cells(app, "#sweep-heatmap")}
        # Every game from 1.0 (+25%); only the 3.0 games from 2.51 on (+50%), the first of
        # them the best in sample; none above 3.0.
        assert (cells["1"], cells["2.5"], cells["2.51"], cells["3"], cells["3.01"]) == (
            "+25.0",
            "+37.5",
            "+50.0*",
            "+50.0",
            "·",
        )
