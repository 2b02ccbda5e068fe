"""Ask where to export a result, and as what; existing files are only replaced when asked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Select, Static

from core.results import EXPORT_FORMATS, ExportFormat, default_export_path, export_paths
from tui.widgets.checkbox import StateCheckbox


@dataclass(frozen=True)
class ExportRequest:
    path: Path
    fmt: ExportFormat
    overwrite: bool


def describe_files(path: Path, fmt: ExportFormat) -> str:
    if fmt == "json":
        return "One JSON document: the metrics and every bet."
    _ledger, metrics, splits = export_paths(path, fmt)
    return f"The ledger, plus {metrics.name} and {splits.name} next to it."


class ExportPrompt(ModalScreen[ExportRequest | None]):
    """Enter exports, escape cancels."""

    HELP_SCOPE: ClassVar[str] = "Export"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="export.cancel"),
    ]

    DEFAULT_CSS = """
    ExportPrompt {
        align: center middle;
    }
    ExportPrompt > Vertical {
        width: 76;
        max-width: 100%;
        height: auto;
        border: round $accent;
        border-title-align: center;
        background: $surface;
        padding: 0 1;
    }
    ExportPrompt Horizontal {
        height: auto;
    }
    ExportPrompt Horizontal Static {
        width: auto;
        padding: 0 1 0 0;
    }
    ExportPrompt Select {
        width: 12;
    }
    ExportPrompt #export-error {
        color: $error;
        height: auto;
    }
    ExportPrompt .hint {
        color: $text-muted;
    }
    """

    def __init__(self, result_id: int, directory: Path | None = None) -> None:
        super().__init__()
        self.result_id = result_id
        self.directory = directory
        self._suggested: str = ""

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Export result #{self.result_id}"
            with Horizontal():
                yield Static("Format")
                yield Select(
                    [(name.upper(), name) for name in EXPORT_FORMATS],
                    value="csv",
                    allow_blank=False,
                    compact=True,
                    id="export-format",
                )
            yield Static("File:")
            yield Input(id="export-path", compact=True)
            yield Static("", id="export-files", classes="hint")
            yield StateCheckbox("Overwrite existing files", id="export-overwrite", compact=True)
            yield Static("", id="export-error")
            yield Static("enter export · esc cancel · tab next field", classes="hint")

    def on_mount(self) -> None:
        self._suggest("csv")
        self.query_one(Input).focus()

    def _fmt(self) -> ExportFormat:
        value = self.query_one(Select).value
        return "json" if value == "json" else "csv"

    def _suggest(self, fmt: ExportFormat) -> None:
        path_input = self.query_one(Input)
        if path_input.value and path_input.value != self._suggested:
            return  # the user typed a name: keep it
        self._suggested = str(default_export_path(self.result_id, fmt, self.directory))
        path_input.value = self._suggested
        path_input.cursor_position = len(self._suggested)
        self._describe()

    def _describe(self) -> None:
        text = self.query_one(Input).value.strip()
        if text:
            self.query_one("#export-files", Static).update(
                Text(describe_files(Path(text).expanduser(), self._fmt()))
            )

    @on(Select.Changed, "#export-format")
    def _format_changed(self) -> None:
        self._suggest(self._fmt())
        self._describe()

    @on(Input.Changed, "#export-path")
    def _path_changed(self) -> None:
        self.query_one("#export-error", Static).update("")
        self._describe()

    @on(Input.Submitted, "#export-path")
    def _submit(self) -> None:
        text = self.query_one(Input).value.strip()
        error = self.query_one("#export-error", Static)
        if not text:
            error.update("Type a file name.")
            return
        fmt = self._fmt()
        path = Path(text).expanduser()
        if path.is_dir():
            path = default_export_path(self.result_id, fmt, path)
        overwrite = self.query_one(Checkbox).value
        existing = [p.name for p in export_paths(path, fmt) if p.exists()]
        if existing and not overwrite:
            error.update(
                Text(f"{', '.join(existing)} already exists: tick Overwrite or change the name.")
            )
            return
        if not path.parent.is_dir():
            error.update(Text(f"No such folder: {path.parent}"))
            return
        self.dismiss(ExportRequest(path, fmt, overwrite))

    def action_cancel(self) -> None:
        self.dismiss(None)
