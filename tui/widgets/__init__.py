"""Widgets shared by every screen of the dashboard."""

from __future__ import annotations

from tui.widgets.help import HelpEntry, HelpScreen, help_entries
from tui.widgets.import_prompt import ImportPrompt, ImportRequest
from tui.widgets.vim_table import VimDataTable

__all__ = [
    "HelpEntry",
    "HelpScreen",
    "ImportPrompt",
    "ImportRequest",
    "VimDataTable",
    "help_entries",
]
