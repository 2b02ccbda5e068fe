"""Ask where to save one CSV file; an existing file is only replaced when asked."""

from __future__ import annotations

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


@dataclass(frozen=True)
class SaveRequest:
    path: Path
    overwrite: bool


class SavePrompt(ModalScreen[SaveRequest | None]):
    """Enter saves, escape cancels. Shows what the file will hold under the name."""

    HELP_SCOPE: ClassVar[str] = "Save"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="save.cancel"),
    ]

    DEFAULT_CSS = """
    SavePrompt {
        align: center middle;
    }
    SavePrompt > Vertical {
        width: 76;
        max-width: 100%;
        height: auto;
        border: round $accent;
        border-title-align: center;
        background: $surface;
        padding: 0 1;
    }
    SavePrompt #save-error {
        color: $error;
        height: auto;
    }
    SavePrompt .hint {
        color: $text-muted;
    }
    """

    def __init__(self, title: str, suggested: Path, description: str) -> None:
        super().__init__()
        self.title_text = title
        self.suggested = suggested
        self.description = description

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            yield Static("File:")
            yield Input(str(self.suggested), id="save-path", compact=True)
            yield Static(Text(self.description), classes="hint")
            yield Checkbox("Overwrite an existing file", id="save-overwrite", compact=True)
            yield Static("", id="save-error")
            yield Static("enter save · esc cancel · tab next field", classes="hint")

    def on_mount(self) -> None:
        path_input = self.query_one(Input)
        path_input.cursor_position = len(path_input.value)
        path_input.focus()

    @on(Input.Changed, "#save-path")
    def _path_changed(self) -> None:
        self.query_one("#save-error", Static).update("")

    @on(Input.Submitted, "#save-path")
    def _submit(self) -> None:
        text = self.query_one(Input).value.strip()
        error = self.query_one("#save-error", Static)
        if not text:
            error.update("Type a file name.")
            return
        path = Path(text).expanduser()
        if path.is_dir():
            path = path / self.suggested.name
        overwrite = self.query_one(Checkbox).value
        if path.exists() and not overwrite:
            error.update(Text(f"{path.name} already exists: tick Overwrite or change the name."))
            return
        if not path.parent.is_dir():
            error.update(Text(f"No such folder: {path.parent}"))
            return
        self.dismiss(SaveRequest(path, overwrite))

    def action_cancel(self) -> None:
        self.dismiss(None)
