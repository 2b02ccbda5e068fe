"""Pick a rule field by fuzzy search; every field shows its type and description.

Typing filters (`core.rules.search_fields`, pre-match fields only); up/down move, enter picks,
escape cancels. Dismissed with the field's name or None. Before anything is typed the list
leaves out the other books' fields (a thousand of them: William Hill's odds, implied
probabilities, margins ...); typing a book's code (wh, bfe) finds them.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from core.models import BOOK_CODES
from core.rules import FIELDS, Field, search_fields

TYPE_WORDS = {
    "number": "number",
    "integer": "whole number",
    "string": "text",
    "date": "date",
}


def field_option(field: Field, name_width: int, width: int) -> Option:
    """One line per field (OptionList would wrap a long description onto more lines)."""
    prompt = Text.assemble(
        (field.name.ljust(name_width), "bold"),
        " ",
        (TYPE_WORDS[field.type].ljust(12), "italic"),
        " ",
        (field.description, "dim"),
    )
    prompt.truncate(max(10, width), overflow="ellipsis")
    return Option(prompt, id=field.name)


_BOOKS = frozenset(BOOK_CODES)


def other_book(field: Field) -> bool:
    """A field of one of the other books (odds.wh.home, implied.bfe_close.away, ...)."""
    parts = field.name.split(".")
    return len(parts) > 1 and parts[1].removesuffix("_close") in _BOOKS


OTHER_BOOK_FIELDS = sum(1 for field in FIELDS.values() if field.pre_match and other_book(field))
IDLE_HINT = (
    f"+{OTHER_BOOK_FIELDS:,} other books' fields: type a book (wh, bfe…) · ↑↓ move · enter · esc"
)
SEARCH_HINT = "↑↓ move · enter pick · esc cancel"


def find_fields(query: str) -> list[Field]:
    """Pre-match fields for a search: core's ranking of the whole query, and with several words
    also every field whose name or description holds all of them ("close home" finds
    odds.pinnacle_close.home), those with more of the words in their name first. An empty
    query lists every field but the other books'."""
    ranked = search_fields(query, limit=len(FIELDS), pre_match_only=True)
    if not query.strip():
        return [field for field in ranked if not other_book(field)]
    words = query.lower().split()
    if len(words) < 2:
        return ranked
    pool = [f for f in FIELDS.values() if f.pre_match]
    hits = [f for f in pool if all(w in f"{f.name} {f.description}".lower() for w in words)]
    hits.sort(key=lambda f: -sum(w in f.name.lower() for w in words))
    seen: set[str] = set()
    found: list[Field] = []
    for field in [*hits, *ranked]:
        if field.name not in seen:
            seen.add(field.name)
            found.append(field)
    return found


def describe_field(field: Field) -> Text:
    text = Text.assemble(
        (field.name, "bold"),
        f" · {field.group} · {TYPE_WORDS[field.type]}\n",
        field.description,
    )
    if field.closing:
        text.append("\n⚠ closing price: known only at kick-off", style="bold")
    return text


class FieldPicker(ModalScreen[str | None]):
    """A search box over the pre-match fields of the rule catalogue."""

    HELP_SCOPE: ClassVar[str] = "Field picker"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("down", "move(1)", "Next field", show=False, id="picker.down"),
        Binding("up", "move(-1)", "Previous field", show=False, id="picker.up"),
        Binding("pagedown", "move(8)", "Page down", show=False, id="picker.page_down"),
        Binding("pageup", "move(-8)", "Page up", show=False, id="picker.page_up"),
    ]

    DEFAULT_CSS = """
    FieldPicker {
        align: center middle;
    }
    FieldPicker > Vertical {
        width: 100;
        max-width: 100%;
        height: 90%;
        max-height: 40;
        border: round $accent;
        border-title-align: center;
        background: $surface;
        padding: 0 1;
    }
    FieldPicker #picker-search {
        margin: 1 0;
    }
    FieldPicker OptionList {
        height: 1fr;
        border: none;
        padding: 0;
    }
    FieldPicker #picker-detail {
        height: 3;
        color: $text;
        border-top: solid $panel;
    }
    FieldPicker .hint {
        color: $text-muted;
    }
    """

    def __init__(self, current: str = "") -> None:
        super().__init__()
        self.current = current
        self.shown: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Pick a field"
            yield Input(
                placeholder="type to search names and descriptions",
                id="picker-search",
                compact=True,
            )
            yield OptionList(id="picker-list")
            yield Static("", id="picker-detail")
            yield Static(IDLE_HINT, id="picker-hint", classes="hint")

    def on_mount(self) -> None:
        search = self.query_one(Input)
        if self.current in FIELDS and other_book(FIELDS[self.current]):
            # Not in the list before a search: search for it.
            with self.prevent(Input.Changed):
                search.value = self.current
        self._show(search.value)
        if self.current in self.shown:
            self.query_one(OptionList).highlighted = self.shown.index(self.current)
        search.focus()

    def _show(self, query: str) -> None:
        fields = find_fields(query)
        self.query_one("#picker-hint", Static).update(SEARCH_HINT if query.strip() else IDLE_HINT)
        self.shown = [field.name for field in fields]
        options = self.query_one(OptionList)
        options.clear_options()
        name_width = max((len(name) for name in self.shown), default=0)
        # The box is at most 100 wide; less its border, padding, scrollbar and option padding.
        width = min(100, self.app.size.width) - 7
        options.add_options([field_option(field, name_width, width) for field in fields])
        options.highlighted = 0 if fields else None
        self._describe()

    def _describe(self) -> None:
        options = self.query_one(OptionList)
        detail = self.query_one("#picker-detail", Static)
        index = options.highlighted
        if index is None or not self.shown:
            detail.update(Text("No field matches; try fewer letters.", style="dim"))
            return
        detail.update(describe_field(FIELDS[self.shown[index]]))

    @on(Input.Changed, "#picker-search")
    def _search(self, event: Input.Changed) -> None:
        self._show(event.value)

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self._describe()

    @on(Input.Submitted, "#picker-search")
    def _submit(self) -> None:
        index = self.query_one(OptionList).highlighted
        if index is not None and self.shown:
            self.dismiss(self.shown[index])

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(event.option.id)

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if not self.shown:
            return
        current = options.highlighted or 0
        options.highlighted = max(0, min(len(self.shown) - 1, current + step))

    def action_cancel(self) -> None:
        self.dismiss(None)
