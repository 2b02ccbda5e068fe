"""A checkbox whose state is in its text, not only its colour."""

from __future__ import annotations

from typing import Any

from textual.widgets import Checkbox

CHECKED = "X"
UNCHECKED = " "


class StateCheckbox(Checkbox):
    """`▐X▌` when ticked, `▐ ▌` when not. Textual's draws `▐X▌` either way and tells them
    apart by colour alone: under NO_COLOR, two greys (and "skip bad rows" went on unseen)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.BUTTON_INNER = CHECKED if self.value else UNCHECKED

    def watch_value(self) -> None:
        self.BUTTON_INNER = CHECKED if self.value else UNCHECKED
        self.refresh()
        super().watch_value()
