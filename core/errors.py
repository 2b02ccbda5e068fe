"""Errors a user can cause. Each carries one clear line meant to be shown as is."""

from __future__ import annotations


class FilterBetsError(Exception):
    """Base class: the message is one line, safe to show without a traceback."""


class ConfigError(FilterBetsError):
    """Bad settings: an unparseable URL, an unsupported backend."""


class DatabaseUnavailableError(FilterBetsError):
    """The database could not be reached or opened."""


class ImportFileError(FilterBetsError):
    """A file that cannot be imported at all (not a football-data CSV, unreadable)."""
