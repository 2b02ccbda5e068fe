"""A small modal that asks which football-data files or folders to import."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Static

from tui.widgets.checkbox import StateCheckbox


@dataclass(frozen=True)
class ImportRequest:
    paths: tuple[Path, ...]
    skip_bad_rows: bool


def parse_paths(text: str) -> tuple[Path, ...]:
    """Shell-style words (quote paths with spaces), ~ expanded. Raises ValueError if unusable."""
    words = shlex.split(text)
    if not words:
        raise ValueError("type a file or folder to import")
    paths = tuple(Path(word).expanduser() for word in words)
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise ValueError(f"not found: {', '.join(missing)}")
    return paths


class SpaceToggles(StateCheckbox, inherit_bindings=False):
    """A checkbox that space toggles; enter is left to the prompt, which says enter imports."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_button", "Toggle", show=False),
    ]


class ImportPrompt(ModalScreen[ImportRequest | None]):
    """Enter imports, escape cancels; dismissed with the request or None."""

    HELP_SCOPE: ClassVar[str] = "Import"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="import.cancel"),
        Binding("enter", "submit", "Import", show=False, id="import.submit"),
    ]

    DEFAULT_CSS = """
    ImportPrompt {
        align: center middle;
    }
    ImportPrompt > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        border: round $accent;
        border-title-align: center;
        background: $surface;
        padding: 0 1;
    }
    ImportPrompt #import-error {
        color: $error;
        height: auto;
    }
    ImportPrompt .hint {
        color: $text-muted;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Import football-data.co.uk CSV files"
            yield Static("Files or folders (of season .csv files), separated by spaces:")
            yield Input(placeholder="e.g. ~/football/E0_2023-24.csv ~/football/", id="import-paths")
            yield SpaceToggles(
                "Skip bad rows (import the good rows of a damaged file)", id="import-skip"
            )
            yield Static("", id="import-error")
            yield Static("enter import · esc cancel · tab next field", classes="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        try:
            paths = parse_paths(self.query_one("#import-paths", Input).value)
        except ValueError as error:
            self.query_one("#import-error", Static).update(Text(str(error)))
            return
        skip = self.query_one(Checkbox).value
        self.dismiss(ImportRequest(paths, skip_bad_rows=skip))

    def action_cancel(self) -> None:
        self.dismiss(None)
