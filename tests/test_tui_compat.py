"""The work-arounds in tui/compat.py, each against the Textual bug it names."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Header
from textual.widgets._header import HeaderTitle

from tui import compat


class _WithHeader(App[None]):
    def compose(self) -> ComposeResult:
        yield Header()


async def test_a_title_change_after_the_header_lost_its_children_is_ignored() -> None:
    # As when a screen closes just as its title changes: Textual's watcher queried a
    # HeaderTitle that was gone, NoMatches, and the app exited with it.
    compat.apply()
    app = _WithHeader()
    async with app.run_test() as pilot:
        await app.query_one(HeaderTitle).remove()
        app.title = "another title"
        await pilot.pause()
        assert app.is_running  # run_test re-raises on leaving whatever ended the app
