"""What an import did: its summary, the files it refused, and every row it rejected or cell
it stored as missing, one table row each (file, line, reason)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from core.importing.service import ImportSummary
from tui.widgets.styles import PROBLEM
from tui.widgets.vim_table import VimDataTable

MAX_ROWS = 2000
"""A damaged file can reject every row; the table shows this many, and says how many more."""


@dataclass(frozen=True)
class ReportRow:
    file: str
    line: int
    kind: str
    """"rejected" (the row was not imported), "missing" (one cell or one bookmaker's group
    stored as missing), "team" (a name that may need an alias) or "note"."""
    reason: str


_VERDICTS = {
    "rejected": "row rejected",
    "missing": "value stored as missing",
    "team": "team not known",
    "note": "note",
}


def report_rows(summary: ImportSummary) -> list[ReportRow]:
    """Rejected rows and warnings, by file and line."""
    rows = [ReportRow(r.file, r.line, "rejected", r.reason) for r in summary.rejected_rows]
    rows += [ReportRow(w.file, w.line, w.kind, w.detail) for w in summary.warnings]
    rows.sort(key=lambda row: (row.file, row.line))
    return rows


def has_problems(summary: ImportSummary) -> bool:
    return bool(summary.file_errors or summary.rejected_rows or summary.warnings)


class ImportReport(ModalScreen[None]):
    """The last import's report; escape or enter closes it."""

    HELP_SCOPE: ClassVar[str] = "Import report"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close", id="import_report.close"),
    ]

    DEFAULT_CSS = """
    ImportReport {
        align: center middle;
    }
    ImportReport > Vertical {
        width: 100%;
        max-width: 120;
        height: 100%;
        max-height: 40;
        border: round $accent;
        border-title-align: center;
        background: $surface;
        padding: 0 1;
    }
    ImportReport Static {
        height: auto;
    }
    ImportReport #import-report-table {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    ImportReport .hint {
        color: $text-muted;
    }
    """

    def __init__(self, summary: ImportSummary) -> None:
        super().__init__()
        self.summary = summary
        self.rows = report_rows(summary)

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Import report"
            yield Static(Text(self.summary.summary_line()), id="import-report-summary")
            refused = "\n".join(f"refused: {line}" for line in self.summary.file_errors)
            yield Static(Text(refused, style=PROBLEM), id="import-report-refused")
            yield VimDataTable(id="import-report-table", cursor_type="row", zebra_stripes=True)
            # The whole problem of the row under the cursor: the table cuts long ones.
            yield Static("", id="import-report-detail")
            yield Static("", id="import-report-more", classes="hint")
            yield Static("j/k move · esc closes", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#import-report-refused").display = bool(self.summary.file_errors)
        table = self.query_one(VimDataTable)
        table.add_column("File", key="file")
        table.add_column("Line", key="line")
        table.add_column("", key="kind")
        table.add_column("Problem", key="reason")
        for row in self.rows[:MAX_ROWS]:
            table.add_row(
                row.file,
                Text(f"{row.line:,}", justify="right"),
                Text(row.kind, style=PROBLEM if row.kind == "rejected" else ""),
                row.reason,
            )
        table.display = bool(self.rows)
        self.query_one("#import-report-detail").display = bool(self.rows)
        hidden = len(self.rows) - MAX_ROWS
        more = self.query_one("#import-report-more", Static)
        if hidden > 0:
            more.update(
                f"{hidden:,} more not shown; `filterbets import --verbose PATH` prints them all"
            )
        elif not self.rows:
            more.update("No row was rejected and no value stored as missing.")
        else:
            more.display = False
        table.focus()

    @on(DataTable.RowHighlighted, "#import-report-table")
    def _show_detail(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < min(len(self.rows), MAX_ROWS):
            row = self.rows[event.cursor_row]
            where = f"{row.file}:{row.line}"
            verdict = _VERDICTS.get(row.kind, row.kind)
            self.query_one("#import-report-detail", Static).update(
                Text.assemble((where, "bold"), f" ({verdict}): {row.reason}")
            )

    def action_close(self) -> None:
        self.dismiss(None)
