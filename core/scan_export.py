"""The scanner's picks on paper: a bet slip for the clipboard and CSV files.

A scan's picks (`ScanPick`) export as the bets to place; recorded picks (`PickRecord`) as
the live record, with outcome, profit and CLV. Files go where result exports go
(`core.results.export_dir`), numbered so that no file is replaced unless asked; a file is
written whole to a temporary name first, so a failure never leaves half a file.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import errno
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.errors import ScanError
from core.results import export_dir
from core.scanner import PickRecord, ScanPick

SCAN_CSV_HEADER = (
    "date",
    "kickoff",
    "league",
    "home_team",
    "away_team",
    "filter",
    "market",
    "ah_line",
    "odds_source",
    "price",
    "stake",
    "staking",
    "features",
    "fixture_id",
)
PICKS_CSV_HEADER = (
    "date",
    "league",
    "home_team",
    "away_team",
    "filter",
    "market",
    "odds_source",
    "price",
    "stake",
    "taken_at",
    "outcome",
    "profit",
    "clv",
    "clv_source",
    "fixture_id",
)


def bet_label(market: str, price: float, ah_line: float | None = None) -> str:
    """ "home @ 1.85", "ah_home -0.5 @ 1.95"."""
    line = "" if ah_line is None else f" {ah_line:+g}"
    return f"{market}{line} @ {price:.2f}"


def bet_slip(picks: Sequence[ScanPick]) -> str:
    """The picks to place, by day and kick-off, with the total stake: plain lines to paste."""
    if not picks:
        return "FilterBets bet slip: no picks"
    total = sum((pick.stake for pick in picks), Decimal(0))
    count = len(picks)
    lines = [f"FilterBets bet slip: {count} pick{'s' if count != 1 else ''}, total stake {total:,}"]
    day = None
    for pick in picks:
        if pick.date != day:
            day = pick.date
            lines += ["", f"{day:%a %d %b %Y}"]
        kickoff = "--:--" if pick.kickoff is None else pick.kickoff.strftime("%H:%M")
        lines.append(
            f"  {kickoff} {pick.league:<4} {pick.home_team} v {pick.away_team}:"
            f" {bet_label(pick.market, pick.price, pick.ah_line)} ({pick.odds_source}),"
            f" stake {pick.stake}  [{pick.filter}]"
        )
    return "\n".join(lines)


def default_scan_export_path(
    kind: str, day: dt.date, directory: Path | None = None, until: dt.date | None = None
) -> Path:
    """`<kind>-<day>[..<until>].csv` in the export folder, numbered so that no file would be
    replaced (`kind`: "scan" for a scan's picks, "picks" for the recorded ones)."""
    folder = directory if directory is not None else export_dir()
    stem = f"{kind}-{day.isoformat()}" + (f"..{until.isoformat()}" if until else "")
    n = 1
    while True:
        candidate = folder / (stem + (f"-{n}" if n > 1 else "") + ".csv")
        if not candidate.exists():
            return candidate
        n += 1


def _money(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def _optional(value: Any) -> Any:
    return "" if value is None else value


def scan_rows(picks: Iterable[ScanPick]) -> list[tuple[Any, ...]]:
    return [
        (
            pick.date.isoformat(),
            "" if pick.kickoff is None else pick.kickoff.strftime("%H:%M"),
            pick.league,
            pick.home_team,
            pick.away_team,
            pick.filter,
            pick.market,
            _optional(pick.ah_line),
            pick.odds_source,
            pick.price,
            _money(pick.stake),
            pick.staking.get("kind", ""),
            json.dumps(pick.features, sort_keys=True, default=str),
            pick.fixture_id,
        )
        for pick in picks
    ]


def picks_rows(picks: Iterable[PickRecord]) -> list[tuple[Any, ...]]:
    return [
        (
            pick.date.isoformat(),
            pick.league,
            pick.home_team,
            pick.away_team,
            pick.filter,
            pick.market,
            pick.odds_source,
            pick.price,
            _money(pick.stake),
            pick.taken_at.isoformat(),
            _optional(pick.outcome),
            _money(pick.profit),
            _optional(pick.clv),
            _optional(pick.clv_source),
            _optional(pick.fixture_id),
        )
        for pick in picks
    ]


def write_csv(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], *, overwrite: bool = False
) -> None:
    """Write `rows` under `header` to `path`, whole or not at all; an existing file is
    replaced only with `overwrite`. Blocking: call it in a thread."""
    target = path.expanduser()
    if not target.parent.is_dir():
        raise ScanError(f"no such folder: {target.parent}")
    if target.exists() and not overwrite:
        raise ScanError(f"not overwriting {target}")
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as exc:
        raise ScanError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text.getvalue())
        os.chmod(temporary, 0o644)
        if overwrite:
            os.replace(temporary, target)
        else:
            _place_new(temporary, target)
    except FileExistsError as exc:
        raise ScanError(f"not overwriting {target}") from exc
    except OSError as exc:
        raise ScanError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _place_new(temporary: str, target: Path) -> None:
    """Move the written file to `target`, failing (FileExistsError) if `target` exists."""
    try:
        os.link(temporary, target)  # atomic, and never replaces
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        # No hard links here (some network and FAT file systems): claim the name, then
        # move the whole file onto it.
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        os.replace(temporary, target)
