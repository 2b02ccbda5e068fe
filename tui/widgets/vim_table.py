"""A DataTable that also answers to vim keys, for every table in the dashboard."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable


class VimDataTable(DataTable[Any]):
    """DataTable with j/k/h/l and g/G next to the arrow, Home and End keys."""

    HELP_SCOPE: ClassVar[str] = "Tables"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Next row", show=False, id="table.down"),
        Binding("k", "cursor_up", "Previous row", show=False, id="table.up"),
        Binding("h", "cursor_left", "Scroll left", show=False, id="table.left"),
        Binding("l", "cursor_right", "Scroll right", show=False, id="table.right"),
        Binding("g", "scroll_top", "First row", show=False, id="table.first"),
        Binding("G", "scroll_bottom", "Last row", show=False, id="table.last"),
    ]
