"""Random keys, typed fast, on every screen: the dashboard never exits with an error.

Issue 15 item 8: `q` then `i` typed quickly on the Data screen raised NoMatches (the import
prompt opened while the app was closing) and the app exited 1. Each episode starts the app
on one screen and sends a few hundred keys from a fixed seed, in bursts that arrive before
the previous ones are handled, as a fast typist's or a pasted text's would. Files are kept
out of it: imports and exports are stubbed (a random path could be `/`), and the working
directory is a temporary one.
"""

from __future__ import annotations

import asyncio
import random
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
from textual.pilot import Pilot

from core.config import Settings
from core.importing.service import ImportSummary
from core.jobs.queue import JobQueue
from core.results import ExportedFiles, ResultStore
from core.services import FilterBetsService
from tests.jobs_support import small_request
from tests.test_tui_data import settle
from tests.test_tui_results import AWAY, HOME, run_filter, seed_season
from tui.app import FilterBetsApp
from tui.screens import data as data_screen

SIZE = (80, 24)
SEED = 15_08
KEYS_PER_EPISODE = 180
START = {
    "filters": ["1"],
    "jobs": ["2"],
    "results": ["3"],
    "result detail": ["3", "enter"],
    "data": ["4"],
    "rule editor": ["1", "e"],
    "help": ["question_mark"],
}

# Every key some screen binds, what tables and boxes take, and text; q (quit) rarely.
BOUND = [
    *"1234jkhlgGsScxydrenivtRmpboOwfaJK",
    *("question_mark", "enter", "escape", "space", "tab", "shift+tab", "slash", "ctrl+p", "f2"),
    *("up", "down", "left", "right", "home", "end", "pageup", "pagedown", "delete"),
    *("left_square_bracket", "right_square_bracket", "backspace"),
]
TEXT = list("abcdefghijklmnopqrstuvwxyz0123456789.,-_~ /")


def key_event(key: str) -> events.Key:
    """The event a terminal sends for `key` (as Pilot builds it, without waiting)."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    original = REPLACED_KEYS.get(key, key)
    try:
        char: str | None = unicodedata.lookup(_get_unicode_name_from_key(original))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


def random_keys(rng: random.Random, count: int) -> list[str]:
    keys = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.004:
            keys.append("q")
        elif roll < 0.7:
            keys.append(rng.choice(BOUND))
        else:
            keys.append(rng.choice(TEXT))
    return keys


@pytest.fixture
def sandboxed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No file is read or written outside a temporary folder, whatever was typed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FILTERBETS_EXPORT_DIR", str(tmp_path))
    keymap = tmp_path / "keys.toml"
    keymap.write_text("")
    monkeypatch.setenv("FILTERBETS_KEYMAP", str(keymap))

    async def no_import(*_args: Any, **_kwargs: Any) -> ImportSummary:
        return ImportSummary(files=0)

    async def no_export(self: ResultStore, result_id: int, path: Path, *_a: Any, **_k: Any) -> Any:
        return ExportedFiles(paths=(path,), bets=0)

    monkeypatch.setattr(data_screen, "import_paths", no_import)
    monkeypatch.setattr(ResultStore, "export", no_export)


async def send(app: FilterBetsApp, keys: list[str]) -> None:
    driver = app._driver
    assert driver is not None
    for key in keys:
        event = key_event(key)
        event.set_sender(app)
        driver.send_message(event)


async def start_on(pilot: Pilot[Any], start: list[str]) -> None:
    """Close whatever is open, then press the keys that lead to the screen."""
    app = pilot.app
    for key in start:
        while len(app.screen_stack) > 1:
            await app.pop_screen()
        await pilot.press(key)
    await settle(pilot)


async def episodes(
    settings: Settings, service: FilterBetsService, plan: list[tuple[list[str], list[str]]]
) -> None:
    """Each (start, keys) of the plan in turn, in one app while it runs (q ends it: the
    next episode starts a new one)."""
    rng = random.Random(SEED)
    pending = list(plan)
    while pending:
        app = FilterBetsApp(settings, service=service)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            while pending and app.return_code is None:
                start, keys = pending.pop(0)
                await start_on(pilot, start)
                at = 0
                while at < len(keys) and app.return_code is None:
                    burst = keys[at : at + rng.randint(1, 12)]
                    at += len(burst)
                    await send(app, burst)
                    # Now and then the workers catch up; mostly the next burst comes first.
                    await (pilot.pause() if rng.random() < 0.15 else asyncio.sleep(0))
                if app.return_code is None:
                    await settle(pilot)
        assert app._exception is None, f"{start}: {app._exception!r}"
        assert app.return_code in (None, 0), f"{start}: exit {app.return_code} ({app.fatal_error})"


async def test_random_keys_on_every_screen_never_end_in_an_error(
    service: FilterBetsService, settings: Settings, sandboxed: None
) -> None:
    await seed_season(service, matches=24)
    await run_filter(service, "Away value", AWAY, "away")
    await run_filter(service, "Home short", HOME, "home")
    queue = JobQueue(service.db)
    await queue.submit(service.user_id, small_request())
    await queue.submit_raw(service.user_id, {"market": "away", "filter": "nope"})

    rng = random.Random(SEED)
    plan = [(START["data"], ["q", "i"])]  # the reported race first: q then i, in one burst
    plan += [(start, random_keys(rng, KEYS_PER_EPISODE)) for start in START.values()]
    await episodes(settings, service, plan)
