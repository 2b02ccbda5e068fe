"""The `?` overlay: every key that works where the user pressed it, read from the bindings."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from tui.keymap import key_for
from tui.widgets.vim_table import VimDataTable


@dataclass(frozen=True)
class HelpEntry:
    keys: tuple[str, ...]
    """Every key bound to the action, as shown to the user ("j", "↓")."""
    description: str
    scope: str
    """Where the keys apply: "Global", a screen's name, "Tables"."""
    ids: tuple[str, ...] = ()
    """The bindings' ids, which a keymap file (keys.toml) remaps."""
    available: bool = True
    """False: it does nothing here now (no job to retry, say); listed so it can be found."""


def scope_name(node: DOMNode) -> str:
    """The group a node's bindings are listed under: its HELP_SCOPE, else its class name."""
    scope = getattr(node, "HELP_SCOPE", None)
    return scope if isinstance(scope, str) and scope else type(node).__name__


def help_entries(screen: Screen[Any]) -> list[HelpEntry]:
    """The described bindings active on `screen`, keys merged per action, outermost scope first.

    Keys come from the live binding map, so a keymap that remaps a binding id shows up here.
    Keys that do nothing here now (which the footer leaves out) are listed too, marked so.
    """
    by_key = screen.active_bindings
    active = list(by_key.values())
    app = screen.app
    for node, bindings in screen._modal_binding_chain:
        for key, binding in bindings:
            # Hidden (check_action False), not shadowed by another binding of its key.
            if key not in by_key and app._check_action_state(binding.action, node) is False:
                active.append(ActiveBinding(node, binding, False, binding.tooltip))
    return _merge(active, app.get_key_display)


def _merge(
    active: Iterable[ActiveBinding], key_display: Callable[[Binding], str]
) -> list[HelpEntry]:
    groups: dict[int, tuple[DOMNode, dict[str, tuple[list[str], str, list[str], list[bool]]]]] = {}
    for item in active:
        binding: Binding = item.binding
        if binding.system or not binding.description:
            continue
        _node, actions = groups.setdefault(id(item.node), (item.node, {}))
        keys, _description, ids, enabled = actions.setdefault(
            binding.action, ([], binding.description, [], [])
        )
        shown = key_display(binding)
        if shown not in keys:
            keys.append(shown)
        if binding.id and binding.id not in ids:
            ids.append(binding.id)
        enabled.append(bool(item.enabled))
    entries: list[HelpEntry] = []
    # The chain runs from the focused widget out to the app; list the app's keys first.
    for node, actions in reversed(groups.values()):
        scope = scope_name(node)
        for keys, description, ids, enabled in actions.values():
            entries.append(HelpEntry(tuple(keys), description, scope, tuple(ids), any(enabled)))
    return entries


class HelpScreen(ModalScreen[None]):
    """A modal list of keys; escape, q or ? closes it."""

    HELP_SCOPE: ClassVar[str] = "Help"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close help", id="help.close"),
        Binding("q", "close", "Close help", show=False, id="help.close_q"),
        Binding(
            "question_mark",
            "close",
            "Close help",
            key_display="?",
            show=False,
            id="help.close_question_mark",
        ),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $accent;
        border-title-align: center;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen VimDataTable {
        height: auto;
        max-height: 18;
    }
    HelpScreen #help-id {
        color: $text-muted;
        width: 100%;
    }
    HelpScreen #help-hint {
        color: $text-muted;
        width: 100%;
        content-align: center middle;
    }
    """

    def __init__(self, entries: Iterable[HelpEntry]) -> None:
        super().__init__()
        self.entries = list(entries)

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Keys"
            yield VimDataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="help-id")
            yield Static(self._hint(), id="help-hint")

    def _hint(self) -> str:
        """How to close and scroll, in the keys the keymap gives."""
        close = [
            key_for(self, "help.close", "esc"),
            key_for(self, "help.close_q", "q"),
            key_for(self, "help.close_question_mark", "?"),
        ]
        down, up = key_for(self, "table.down", "j"), key_for(self, "table.up", "k")
        return f"{', '.join(close[:-1])} or {close[-1]} closes · {down}/{up} scroll"

    def on_mount(self) -> None:
        table = self.query_one(VimDataTable)
        table.add_column(Text("Keys"), key="keys")
        table.add_column(Text("Action"), key="action")
        table.add_column(Text("Where"), key="scope")
        for entry in self.entries:
            action = Text(entry.description)
            if not entry.available:
                action.append(" (not now)", style="dim")
            table.add_row(
                Text(" ".join(entry.keys), style="bold" if entry.available else "dim"),
                action,
                Text(entry.scope, style="dim"),
            )
        table.focus()

    @on(DataTable.RowHighlighted)
    def _show_id(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted binding's id: what a keymap file (keys.toml) remaps."""
        index = event.cursor_row
        ids = self.entries[index].ids if 0 <= index < len(self.entries) else ()
        text = Text("id ", style="dim")
        text.append(", ".join(ids) if ids else "none (a built-in key)", style="bold")
        text.append(" in keys.toml", style="dim")
        self.query_one("#help-id", Static).update(text)

    def action_close(self) -> None:
        self.dismiss(None)
