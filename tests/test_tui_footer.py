"""The footer at 80x24 shows every key it lists, ? Help and q Quit included, on each screen;
at 120 columns it also has room for ^p Commands."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets._footer import FooterKey

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.config import Settings
from core.filters import FilterStore
from core.services import FilterBetsService
from tests.test_tui_data import settle
from tests.test_tui_results import seed_season
from tui.app import FilterBetsApp
from tui.screens.results import ResultDetailScreen
from tui.screens.rule_editor import RuleEditorScreen


def footer_keys(app: FilterBetsApp) -> dict[str, bool]:
    """Each key the footer has, and whether all of it is on screen (not cut at the right
    edge, not under the docked ^p Commands)."""
    width = app.screen.size.width
    keys = [key for key in app.screen.query(FooterKey) if key.display]
    palette = [key for key in keys if key.has_class("-command-palette")]
    limit = palette[0].region.x if palette else width
    shown: dict[str, bool] = {}
    for key in keys:
        region = key.region
        right = width if key in palette else limit
        shown[key.key_display] = region.width > 0 and region.right <= right
    return shown


async def seeded(service: FilterBetsService) -> None:
    await seed_season(service, matches=12)
    saved = await FilterStore(service.db, service.user_id).create(
        "Aways", [{"field": "odds.pinnacle.away", "op": ">=", "value": 2.0}]
    )
    await BacktestEngine(service.db, service.user_id).run(
        BacktestRequest(market="away", filter_ref=str(saved.id))
    )


async def go(pilot: Pilot[Any], *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


SCREENS = [
    pytest.param(("1",), id="filters"),
    pytest.param(("2",), id="jobs"),
    pytest.param(("3",), id="results"),
    pytest.param(("4",), id="data"),
    pytest.param(("1", "e"), id="editor"),
    pytest.param(("3", "enter"), id="result-detail"),
    pytest.param(("3", "enter", "b"), id="result-ledger"),
]


@pytest.mark.parametrize("keys", SCREENS)
async def test_help_and_quit_fit_at_80_columns(
    service: FilterBetsService, settings: Settings, keys: tuple[str, ...]
) -> None:
    await seeded(service)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await go(pilot, *keys)
        shown = footer_keys(app)
        cut = [key for key, visible in shown.items() if not visible]
        assert not cut, f"cut off: {cut} of {list(shown)}"
        assert {"?", "q"} <= set(shown)
        assert "^p" not in shown  # its room goes to the screen's keys below 100 columns


async def test_the_new_filter_name_box_shows_how_to_save(
    service: FilterBetsService, settings: Settings
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await go(pilot, "1", "n")
        assert isinstance(app.screen, RuleEditorScreen)
        shown = footer_keys(app)
        assert shown == {"esc": True, "f2": True}  # the letters type into the name


async def test_wide_terminals_show_the_palette_too(
    service: FilterBetsService, settings: Settings
) -> None:
    await seeded(service)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for keys in (("1",), ("1", "e"), ("escape", "2"), ("3", "enter")):
            await go(pilot, *keys)
            shown = footer_keys(app)
            assert all(shown.values()), shown
            assert {"?", "q", "^p"} <= set(shown)
        assert isinstance(app.screen, ResultDetailScreen)
