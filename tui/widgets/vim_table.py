"""A DataTable that also answers to vim keys, for every table in the dashboard."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable


class VimDataTable(DataTable[Any]):
    """DataTable with j/k/h/l and g/G next to the arrow, Home and End keys.

    A table sized to its rows inside a scrolling container (the result's splits) also
    scrolls that container to keep the cursor row on screen: DataTable scrolls only itself.
    """

    HELP_SCOPE: ClassVar[str] = "Tables"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Next row", show=False, id="table.down"),
        Binding("k", "cursor_up", "Previous row", show=False, id="table.up"),
        Binding("h", "cursor_left", "Scroll left", show=False, id="table.left"),
        Binding("l", "cursor_right", "Scroll right", show=False, id="table.right"),
        Binding("g", "scroll_top", "First row", show=False, id="table.first"),
        Binding("G", "scroll_bottom", "Last row", show=False, id="table.last"),
    ]

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        super()._scroll_cursor_into_view(animate=animate)
        # After the table's own (deferred) scroll, so its offset is the one shown.
        self.call_after_refresh(self._reveal_cursor_row)

    def _reveal_cursor_row(self) -> None:
        if (
            not self.is_mounted
            or not self.has_focus
            or not self.is_valid_row_index(self.cursor_row)
        ):
            return
        scroller = next(
            (
                node
                for node in self.ancestors
                if isinstance(node, Widget) and node.allow_vertical_scroll
            ),
            None,
        )
        if scroller is None:
            return
        row = self._get_row_region(self.cursor_row)
        top = self.content_region.y + row.y - round(self.scroll_y)
        bottom = top + row.height
        if self.cursor_row == 0 and self.show_header:
            top -= self.header_height  # the first row comes with its column names
        view = scroller.content_region
        if bottom > view.bottom:
            scroller.scroll_relative(y=bottom - view.bottom, animate=False, immediate=True)
        elif top < view.y:
            scroller.scroll_relative(y=top - view.y, animate=False, immediate=True)
