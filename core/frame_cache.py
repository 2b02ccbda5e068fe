"""The analysis frame's columns on disk, beside a SQLite database, so a new process (every
command-line run) starts from them instead of reading the wide tables again.

A cache entry is valid for one data state only: the version counter and the moment of the
change that set it (`data_state`, bumped in the same transaction as every write to
fixtures, odds or features). Both are written into each file and checked on reading, so a
file from any other state, another database once at the same path, or a half-written or
damaged file is ignored and the frame reads the database as it would without a cache.
Files are written under a temporary name and renamed into place; entries of older states
are deleted when a newer one is written. Nothing here can change a number: a miss only
costs the read the cache would have saved.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Final

import numpy as np

logger = logging.getLogger(__name__)

_FORMAT: Final = 1
"""Bumped when the layout of the files changes: older files are then never read."""


def cache_dir(database: Path) -> Path:
    """`.<name>.frames` beside the database file."""
    return database.parent / f".{database.name}.frames"


def _state_key(version: int, changed_at: dt.datetime | None) -> str:
    moment = changed_at.isoformat() if changed_at is not None else "never"
    digest = hashlib.sha256(f"{_FORMAT}|{version}|{moment}".encode()).hexdigest()[:16]
    return f"v{version}-{digest}"


def _file(folder: Path, key: str, name: str) -> Path:
    return folder / f"{key}.{name}.npz"


def read(
    database: Path, version: int, changed_at: dt.datetime | None, name: str
) -> dict[str, Any] | None:
    """The arrays stored under `name` for this data state, or None (no such file, another
    state's, or unreadable)."""
    key = _state_key(version, changed_at)
    path = _file(cache_dir(database), key, name)
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["state"]) != key:
                return None
            return {item: stored[item] for item in stored.files if item != "state"}
    except FileNotFoundError:
        return None
    except Exception:  # damaged or foreign: the database has the data
        logger.debug("frame cache: ignoring %s", path, exc_info=True)
        return None


def write(
    database: Path,
    version: int,
    changed_at: dt.datetime | None,
    name: str,
    arrays: dict[str, Any],
) -> None:
    """Store `arrays` under `name` for this data state (best effort: a folder that cannot
    be written to only means no cache)."""
    folder = cache_dir(database)
    key = _state_key(version, changed_at)
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".writing-", suffix=".npz")
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez(out, state=np.array(key), **arrays)
            os.replace(temporary, _file(folder, key, name))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _forget_other_states(folder, key)
    except OSError:
        logger.debug("frame cache: cannot write in %s", folder, exc_info=True)


def _forget_other_states(folder: Path, key: str) -> None:
    for path in folder.glob("v*.npz"):
        if not path.name.startswith(f"{key}."):
            with contextlib.suppress(OSError):
                path.unlink()


def labels_to_array(labels: Any) -> Any:
    """JSON text as a 0-d unicode array (npz holds no objects without pickle)."""
    return np.array(json.dumps(labels))


def labels_from_array(stored: Any) -> Any:
    return json.loads(str(stored))
