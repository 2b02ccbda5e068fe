"""Errors a user can cause. Each carries one clear line meant to be shown as is."""

from __future__ import annotations


class FilterBetsError(Exception):
    """Base class: the message is one line, safe to show without a traceback."""


class UsageMistake(FilterBetsError):
    """What the user asked for cannot be done as asked (a bad option, rule, name or file
    choice): the command line exits 2 for these, 1 for other errors."""


class ConfigError(UsageMistake):
    """Bad settings: an unparseable URL, an unsupported backend."""


class DatabaseUnavailableError(FilterBetsError):
    """The database could not be reached or opened."""


class ImportFileError(FilterBetsError):
    """A file that cannot be imported at all (not a football-data CSV, unreadable)."""


class TeamError(UsageMistake):
    """A team or team alias a command cannot use (a usage error)."""


class RemovalError(UsageMistake):
    """Fixtures a delete command cannot find, or that changed before it ran (usage error)."""


class RuleError(UsageMistake):
    """A filter rule that cannot be used.

    `path` locates the rule in the tree (e.g. ``rules.all[2].any[0]``), `message`
    says what is wrong; str() joins them into the one line shown to the user.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message

    def __reduce__(self) -> tuple[type[RuleError], tuple[str, str]]:
        # The default reduce would call __init__ with the joined line only.
        return (type(self), (self.path, self.message))


class ScanError(UsageMistake):
    """A scan that cannot run as asked (see core.scanner)."""
