"""The dashboard's screens, one Textual mode each.

`SCREEN_MODES` is the single list the app builds its MODES and its mode-switching keys
from: a new screen is one `ScreenMode(...)` line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.screen import Screen

from tui.screens.data import DataScreen
from tui.screens.filters import FiltersScreen
from tui.screens.jobs import JobsScreen
from tui.screens.results import ResultsScreen
from tui.screens.scanner import ScannerScreen


@dataclass(frozen=True)
class ScreenMode:
    name: str
    """The Textual mode name, also the binding id suffix ("mode.data")."""
    key: str
    """The key that switches to it."""
    title: str
    """What the footer and help call it."""
    screen: Callable[[], Screen[Any]]


SCREEN_MODES: tuple[ScreenMode, ...] = (
    ScreenMode("filters", "1", "Filters", FiltersScreen),
    ScreenMode("jobs", "2", "Jobs", JobsScreen),
    ScreenMode("results", "3", "Results", ResultsScreen),
    ScreenMode("data", "4", "Data", DataScreen),
    ScreenMode("scanner", "5", "Scanner", ScannerScreen),
)

DEFAULT_MODE = "data"

__all__ = [
    "DEFAULT_MODE",
    "SCREEN_MODES",
    "DataScreen",
    "FiltersScreen",
    "JobsScreen",
    "ResultsScreen",
    "ScannerScreen",
    "ScreenMode",
]
