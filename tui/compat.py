"""Work-arounds for bugs in Textual that random keys found (tests/test_tui_random_keys.py).

Each names what goes wrong; remove it when the Textual in uv.lock has the fix.
"""

from __future__ import annotations

import contextlib
from typing import Any

from textual.await_complete import AwaitComplete
from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.events import Mount
from textual.screen import Screen
from textual.widgets import Header, OptionList
from textual.widgets._header import HeaderTitle

_move_page = OptionList._move_page
_dismiss = Screen.dismiss


def _move_page_when_laid_out(self: OptionList, direction: Any) -> None:
    """pageup/pagedown in an option list that has options but no size yet (the command
    palette's list as its results arrive, a Select's overlay as it opens) looked up a line
    index that is only built once the list has a size: KeyError, and the app exited."""
    if self.highlighted is not None and self.highlighted not in self._index_to_line:
        return
    _move_page(self, direction)


def _dismiss_if_on_top(self: Screen[Any], result: Any = None) -> AwaitComplete:
    """Screen.dismiss pops whichever screen is on top. A message that reaches a screen after
    it has closed (a button's Pressed behind the key that answered the question) dismissed
    it again: its callback ran twice, and the screen under it was popped (or, the last one,
    ScreenStackError and the app exited). A screen that is not on top is not dismissed."""
    if not self.is_active:
        nothing: AwaitComplete = AwaitComplete.nothing()  # type: ignore[no-untyped-call]
        return nothing
    return _dismiss(self, result)


def _watch_titles_until_removed(self: Header, _: Mount) -> None:
    """Header's own title watcher, which also raised NoMatches when a title changed while the
    header's children were already gone with its closing screen (a sweep's detail handing
    over to the sweep view as it opened): the app exited. Textual's code, with that caught."""

    async def set_title() -> None:
        with contextlib.suppress(NoScreen, NoMatches):
            self.query_one(HeaderTitle).update(self.format_title())

    self.watch(self.app, "title", set_title)
    self.watch(self.app, "sub_title", set_title)
    self.watch(self.screen, "title", set_title)
    self.watch(self.screen, "sub_title", set_title)


def apply() -> None:
    OptionList._move_page = _move_page_when_laid_out  # type: ignore[method-assign]
    Screen.dismiss = _dismiss_if_on_top  # type: ignore[method-assign]
    Header._on_mount = _watch_titles_until_removed  # type: ignore[method-assign]
