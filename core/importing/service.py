"""Importing football-data files into the database: one transaction per file.

Each file is parsed in a worker thread (the next file while the current one is
written), then upserted in bulk. One query reads the stored fixtures of the file's
league and date range; rows not stored yet are inserted through the driver
(executemany on SQLite, COPY on PostgreSQL); changed rows are updated with one
executemany; unchanged rows are not touched, so a re-import writes nothing and
`updated_at` only moves when data changed. Leagues, teams and team_leagues are
read once per run and extended as files bring new ones.

One fixture, one row. A row is keyed by league, date, home and away team (team names
read through `team_aliases`). A fixtures file's rows are upcoming fixtures; a season
file's row for the same match later fills in its result, stats and closing prices,
while pre-match prices already stored are kept as first seen, unless they were
missing. A fixtures file never touches a fixture that has its result. A postponed
match: a row with no fixture at its key takes over an upcoming fixture of the same
league, home team, away team and season that no other row of the file matches (the
nearest in date), moving it to the row's date, so it never becomes two fixtures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import gc
import shlex
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Select,
    Table,
    Time,
    bindparam,
    delete,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import dml as pg_dml
from sqlalchemy.dialects.sqlite import dml as sqlite_dml
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeDecorator, TypeEngine

from core.data_changes import record_data_change
from core.db import Database, as_date, as_time, dialect_insert, utcnow
from core.errors import ImportFileError
from core.features.service import AffectedFixtures, forget, rowless
from core.features.service import recompute as recompute_features
from core.importing.football_data import (
    BOOK_WIDTH,
    FIXTURE_VALUE_COLUMNS,
    MAX_FILE_BYTES,
    ODDS_VALUE_COLUMNS,
    BookGroup,
    BookLayout,
    ImportWarning,
    MatchRow,
    ParsedFile,
    parse_file,
)
from core.importing.leagues import known_league, league_for_code
from core.models import BOOK_SELECTIONS, Base, FixtureBookPrices, ImportRecord, TeamAlias

_T = TypeVar("_T")

# Rows per INSERT/UPDATE batch, and so per progress report.
CHUNK_ROWS = 2000
# Names per `IN (...)` lookup, well under SQLite's bound-parameter limit.
LOOKUP_CHUNK = 500

_FIXTURES: Table = Base.metadata.tables["fixtures"]
_ODDS: Table = Base.metadata.tables["fixture_odds"]
_BOOKS: Table = FixtureBookPrices.__table__  # type: ignore[assignment]
_TEAMS: Table = Base.metadata.tables["teams"]
_LEAGUES: Table = Base.metadata.tables["leagues"]
_TEAM_LEAGUES: Table = Base.metadata.tables["team_leagues"]
_ALIASES: Table = TeamAlias.__table__  # type: ignore[assignment]
_IMPORTS: Table = ImportRecord.__table__  # type: ignore[assignment]

_HOME_GOALS = FIXTURE_VALUE_COLUMNS.index("home_goals")
_SEASON = FIXTURE_VALUE_COLUMNS.index("season")
_TIME = FIXTURE_VALUE_COLUMNS.index("kickoff_time")
# Pre-match prices (and the line they were offered at): kept as first seen.
_PRE_MATCH_ODDS = frozenset(i for i, name in enumerate(ODDS_VALUE_COLUMNS) if "_close" not in name)
_NO_PRICES: tuple[None, ...] = (None,) * BOOK_WIDTH
_NO_ROWS: list[tuple[Any, ...]] = []

BookPrices = dict[BookGroup, tuple[Any, ...]]
"""A fixture's other books' prices: (book, closing) -> BOOK_SELECTIONS prices, only groups
with a price."""
# An upcoming fixture is looked for this far around a file's dates when a row has no
# fixture at its key (a postponed match), within the row's season.
POSTPONED_SEARCH_DAYS = 366
# A new team in a fixtures file gets a "did you mean" when a team of its league is this
# similar (difflib's ratio), or a team of another league this similar.
SUGGESTION_CUTOFF = 0.6
SUGGESTION_CUTOFF_OTHER_LEAGUES = 0.85


@dataclass(frozen=True)
class ImportProgress:
    """Emitted after each chunk of rows and after each file."""

    files_done: int
    files_total: int
    rows_done: int
    rows_total: int
    """Data rows in all files; an estimate from line counts until a file is parsed."""
    current_file: str


@dataclass(frozen=True)
class RejectedRow:
    file: str
    line: int
    """Physical line in the file; the header is line 1."""
    reason: str


@dataclass
class ImportSummary:
    files: int = 0
    files_imported: int = 0
    files_rejected: int = 0
    fixtures_added: int = 0
    fixtures_updated: int = 0
    fixtures_unchanged: int = 0
    upcoming_added: int = 0
    """Of fixtures_added: upcoming ones (from fixtures files), without a result yet."""
    settled: int = 0
    """Of fixtures_updated: upcoming fixtures that got their result."""
    moved: int = 0
    """Of fixtures_updated: upcoming fixtures moved to a new date (postponed matches)."""
    warnings: list[ImportWarning] = field(default_factory=list)
    """`file:line: column: value: reason` for each bad optional cell stored as missing
    (the first KEPT_PER_FILE of a file; `unlisted_warnings` counts the rest)."""
    rejected_rows: list[RejectedRow] = field(default_factory=list)
    """The first KEPT_PER_FILE bad rows of a file; `unlisted_rejected` counts the rest."""
    unlisted_warnings: dict[str, int] = field(default_factory=dict)
    """File name -> warnings counted but not kept."""
    unlisted_rejected: dict[str, int] = field(default_factory=dict)
    """File name -> bad rows counted but not kept."""
    file_errors: list[str] = field(default_factory=list)
    """One line per file that was refused whole."""
    import_ids: list[int] = field(default_factory=list)
    """The `imports` records of the files that added fixtures (what an undo deletes)."""
    seconds: float = 0.0

    @property
    def warning_count(self) -> int:
        return len(self.warnings) + sum(self.unlisted_warnings.values())

    @property
    def rejected_count(self) -> int:
        return len(self.rejected_rows) + sum(self.unlisted_rejected.values())

    @property
    def fixtures_seen(self) -> int:
        return self.fixtures_added + self.fixtures_updated + self.fixtures_unchanged

    @property
    def rows_per_s(self) -> float:
        """Good rows (added, updated or unchanged) per second of the whole import."""
        return self.fixtures_seen / self.seconds if self.seconds > 0 else 0.0

    def summary_line(self) -> str:
        refused = f", {self.files_rejected} refused" if self.files_rejected else ""
        upcoming = f" ({self.upcoming_added:,} upcoming)" if self.upcoming_added else ""
        changes = [
            f"{count:,} {what}"
            for count, what in ((self.settled, "settled"), (self.moved, "moved to a new date"))
            if count
        ]
        detail = f" ({', '.join(changes)})" if changes else ""
        return (
            f"{self.files_imported} of {self.files} files imported{refused}: "
            f"{self.fixtures_added:,} fixtures added{upcoming}, "
            f"{self.fixtures_updated:,} updated{detail}, "
            f"{self.fixtures_unchanged:,} unchanged; "
            f"{_plural(self.warning_count, 'warning')}, "
            f"{_plural(self.rejected_count, 'row')} rejected; "
            f"{self.seconds:.2f} s ({self.rows_per_s:,.0f} rows/s)"
        )


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def expand_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Files as given, folders replaced by their *.csv files (sorted), duplicates dropped.

    A folder holding no CSV file is kept as is, so that import_paths reports it in
    `file_errors` like any other file it cannot import. A path that does not exist
    raises ImportFileError naming it.
    """
    return _expand(paths, keep_missing=False)


def _expand(paths: Iterable[Path | str], *, keep_missing: bool) -> list[Path]:
    expanded: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if not path.exists():
            if not keep_missing:
                raise ImportFileError(f"{path}: no such file or folder")
            candidates = [path]
        elif path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.suffix.lower() == ".csv" and not p.is_dir()
            )
            candidates = found or [path]
        else:
            candidates = [path]
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                expanded.append(candidate)
    return expanded


def _estimate_rows(path: Path) -> int:
    """Data rows in a file, guessed from its line count (for the progress total); 0 for
    what the parser will refuse unread (not a regular file, too big)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return 0
        raw = path.read_bytes()
    except OSError:
        return 0
    lines = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1)
    return max(lines - 1, 0)


def _parse_or_error(path: Path) -> ParsedFile | str:
    """The parsed file, or the one-line reason it cannot be imported at all."""
    if path.is_dir():
        return f"{path}: folder holds no .csv files"
    try:
        return parse_file(path)
    except ImportFileError as exc:
        return str(exc)
    except MemoryError:
        return f"{path.name}: too big to read in the memory left; not imported"


async def import_paths(
    db: Database,
    paths: Sequence[Path],
    *,
    skip_bad_rows: bool = False,
    on_progress: Callable[[ImportProgress], None] | None = None,
) -> ImportSummary:
    """Import football-data CSV files (or folders of them), one transaction per file.

    By default a file with any bad row is refused whole and nothing of it is
    written; with skip_bad_rows its good rows are imported and the bad ones listed.
    Either way the other files go on.
    """
    with _fewer_gc_passes():
        return await _import_paths(db, paths, skip_bad_rows=skip_bad_rows, on_progress=on_progress)


async def _import_paths(
    db: Database,
    paths: Sequence[Path],
    *,
    skip_bad_rows: bool,
    on_progress: Callable[[ImportProgress], None] | None,
) -> ImportSummary:
    started = time.perf_counter()
    # A missing path is reported in file_errors like any file that cannot be read.
    files = await asyncio.to_thread(_expand, paths, keep_missing=True)
    summary = ImportSummary(files=len(files))
    estimates = await asyncio.to_thread(lambda: [_estimate_rows(p) for p in files])
    run = _ImportRun(db, summary, estimates, on_progress)
    run.report(files[0].name if files else "")
    if files:
        await run.load_reference()
    pending = asyncio.create_task(asyncio.to_thread(_parse_or_error, files[0])) if files else None
    try:
        for index, path in enumerate(files):
            assert pending is not None
            parsed = await pending
            # Parse the next file while this one is written.
            pending = (
                asyncio.create_task(asyncio.to_thread(_parse_or_error, files[index + 1]))
                if index + 1 < len(files)
                else None
            )
            await run.import_one(index, path, parsed, skip_bad_rows=skip_bad_rows)
    finally:
        if pending is not None:
            pending.cancel()
    summary.seconds = time.perf_counter() - started
    # Fixtures left without features by an earlier import that died before its recompute
    # (re-importing its files changes nothing, so nothing else would bring them back).
    left, _count = await rowless(db, expected=summary.fixtures_added + summary.fixtures_updated)
    run.affected.merge(left)
    if run.affected:
        # Derived rows, outside the timed import (see core.features).
        await recompute_features(db, run.affected)
    return summary


# Young-generation threshold while imports run (CPython's default is 700).
IMPORT_GC_THRESHOLD = 20_000
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


@contextmanager
def _fewer_gc_passes() -> Iterator[None]:
    """Run the cyclic garbage collector less often while an import runs.

    A file in flight keeps a few thousand small containers alive (split rows,
    parsed rows); at the default threshold the collector runs hundreds of times
    per corpus, rescanning them, for about a tenth of the import's time. None of
    them form reference cycles, so collecting less often frees nothing later.
    The threshold is process-wide: it is restored when the last running import
    ends, and never lowered.
    """
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            if _gc_saved[0] < IMPORT_GC_THRESHOLD:
                gc.set_threshold(IMPORT_GC_THRESHOLD, *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                _gc_saved = None


class _ImportRun:
    """State of one import_paths call: counters, progress, and id caches."""

    def __init__(
        self,
        db: Database,
        summary: ImportSummary,
        estimates: list[int],
        on_progress: Callable[[ImportProgress], None] | None,
    ) -> None:
        self.db = db
        self.summary = summary
        self.estimates = estimates
        self.on_progress = on_progress
        self.rows_done = 0
        self.files_done = 0
        # Ids known to be committed: loaded once, then extended only after a
        # file's transaction commits.
        self.league_ids: dict[str, int] = {}
        self.team_ids: dict[str, int] = {}
        self.league_teams: dict[int, set[int]] = {}
        self.aliases: dict[str, str] = {}
        """Another spelling -> the name the team is stored under."""
        self.played_leagues: dict[int, bool] = {}
        self.upcoming_leagues: set[int] = set()
        """Leagues with upcoming fixtures (only there can a row be a postponed match)."""
        # Fixtures added or changed by committed files, for the feature recompute.
        self.affected = AffectedFixtures()

    async def load_reference(self) -> None:
        """Read leagues, teams and team_leagues once (small tables), to save round trips."""
        async with self.db.session() as session:
            conn = await session.connection()
            leagues = await conn.execute(select(_LEAGUES.c.code, _LEAGUES.c.id))
            self.league_ids = {code: int(id_) for code, id_ in leagues}
            teams = await conn.execute(select(_TEAMS.c.name, _TEAMS.c.id))
            self.team_ids = {name: int(id_) for name, id_ in teams}
            links = await conn.execute(select(_TEAM_LEAGUES.c.league_id, _TEAM_LEAGUES.c.team_id))
            for league_id, team_id in links:
                self.league_teams.setdefault(int(league_id), set()).add(int(team_id))
            aliases = await conn.execute(select(_ALIASES.c.alias, _ALIASES.c.team_name))
            self.aliases = {str(alias): str(name) for alias, name in aliases}
            f = _FIXTURES.c
            waiting = select(f.league_id).where(f.result.is_(None)).distinct()
            self.upcoming_leagues = {int(i) for i in (await conn.execute(waiting)).scalars()}

    # -- progress -----------------------------------------------------------

    def report(self, current: str) -> None:
        if self.on_progress is None:
            return
        self.on_progress(
            ImportProgress(
                files_done=self.files_done,
                files_total=len(self.estimates),
                rows_done=self.rows_done,
                rows_total=max(sum(self.estimates), self.rows_done),
                current_file=current,
            )
        )

    def _finish_file(self, name: str) -> None:
        self.files_done += 1
        self.report(name)

    # -- one file -------------------------------------------------------------

    async def import_one(
        self, index: int, path: Path, parsed: ParsedFile | str, *, skip_bad_rows: bool
    ) -> None:
        summary = self.summary
        if isinstance(parsed, str):
            self.estimates[index] = 0
            summary.files_rejected += 1
            summary.file_errors.append(parsed)
            self._finish_file(path.name)
            return
        name = parsed.name
        self.estimates[index] = parsed.data_rows
        rejected = [RejectedRow(name, bad.line, bad.reason) for bad in parsed.bad_rows]
        summary.rejected_rows.extend(rejected)
        bad = parsed.bad_row_count
        if bad > len(rejected):
            summary.unlisted_rejected[name] = bad - len(rejected)
        refusal = None
        if rejected:
            first = f"(first: line {rejected[0].line}: {rejected[0].reason})"
            if not parsed.rows:
                refusal = f"{name}: refused, all {bad:,} rows are bad {first}"
            elif bad > len(parsed.rows):
                # Junk with a few rows that happen to parse is not a damaged season file.
                refusal = (
                    f"{name}: refused, {bad:,} of {parsed.data_rows:,} rows are bad {first};"
                    " a file with more bad rows than good is not imported, even when"
                    " skipping bad rows"
                )
            elif not skip_bad_rows:
                refusal = (
                    f"{name}: refused, {_plural(bad, 'bad row')} {first}; "
                    f"nothing imported from this file; skipping bad rows would import "
                    f"its {len(parsed.rows):,} good rows"
                )
        if refusal is not None or not parsed.rows:
            if refusal is not None:
                summary.files_rejected += 1
                summary.file_errors.append(refusal)
            else:
                summary.files_imported += 1
                summary.warnings.append(
                    ImportWarning(name, 1, "rows: 0: no match rows after the header", "note")
                )
            self.rows_done += parsed.data_rows
            self._finish_file(name)
            return
        rows_before = self.rows_done
        try:
            counts = await self._write(parsed)
        except Exception as exc:
            if not _is_integrity_error(exc):
                raise
            # e.g. another process imported the same matches at the same moment.
            reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"])[0]
            summary.files_rejected += 1
            summary.file_errors.append(
                f"{name}: the database refused the rows ({reason}); nothing imported"
            )
            self.rows_done = rows_before + parsed.data_rows
            self._finish_file(name)
            return
        summary.files_imported += 1
        if counts.import_id is not None:
            summary.import_ids.append(counts.import_id)
        summary.fixtures_added += counts.added
        summary.fixtures_updated += counts.updated
        summary.fixtures_unchanged += counts.unchanged
        summary.settled += counts.settled
        summary.moved += counts.moved
        if parsed.upcoming:
            summary.upcoming_added += counts.added
        summary.warnings.extend(parsed.warnings)
        if parsed.warning_count > len(parsed.warnings):
            summary.unlisted_warnings[name] = parsed.warning_count - len(parsed.warnings)
        summary.warnings.extend(counts.notes)
        first_line = {row.division: row.line for row in reversed(parsed.rows)}
        for division in parsed.divisions:
            if known_league(division) is None:
                summary.warnings.append(
                    ImportWarning(
                        name,
                        first_line[division],
                        f"Div: {division}: unknown division code, "
                        f"imported as league {division!r} in country Unknown",
                        kind="note",
                    )
                )
        self.rows_done = rows_before + parsed.data_rows
        self._finish_file(name)

    async def _write(self, parsed: ParsedFile) -> _FileCounts:
        """Upsert one file's good rows in one transaction, league by league: every league
        compared first, then written (so the file's import record is one statement)."""
        rows = parsed.rows
        counts = _FileCounts()
        new_team_ids: dict[str, int] = {}
        by_division: dict[str, list[MatchRow]] = {}
        for row in rows:
            by_division.setdefault(row.division, []).append(row)
        names = {r.home_team for r in rows} | {r.away_team for r in rows}
        stored_as = {name: self.aliases.get(name, name) for name in names}
        if parsed.upcoming:
            counts.notes = await self._suggest_aliases(parsed, stored_as)
        links: dict[int, set[int]] = {}
        league_ids: dict[str, int] = {}
        plans: list[_LeaguePlan] = []
        async with self.db.session() as session:
            conn = await session.connection()
            bulk = await _Bulk.open(conn)
            by_name = await self._team_ids(conn, set(stored_as.values()), new_team_ids)
            team_ids = {name: by_name[stored] for name, stored in stored_as.items()}
            for division, division_rows in by_division.items():
                league_id = league_ids[division] = await self._league_id(conn, division)
                teams = {team_ids[r.home_team] for r in division_rows}
                teams |= {team_ids[r.away_team] for r in division_rows}
                links[league_id] = await self._link_teams(conn, league_id, teams)
                plans.append(
                    await self._plan(bulk, league_id, division_rows, team_ids, parsed.books)
                )
            owned = sum(len(plan.new) + len(plan.settled) for plan in plans)
            if owned:
                counts.import_id = await bulk.record_import(parsed.name, owned)
            for plan in plans:
                await self._apply(bulk, conn, parsed, plan, counts)
            if counts.added or counts.updated:  # an unchanged file leaves frames valid
                await record_data_change(conn, f"import {parsed.name}")
        # Committed: the new ids are real now.
        self.league_ids.update(league_ids)
        self.team_ids.update(new_team_ids)
        self.league_teams.update(links)
        for plan in plans:
            for prepared in (*plan.new, *(p for _, p in plan.changed)):
                key, row = prepared.key, prepared.row
                self.affected.add(
                    plan.league_id, str(row.values[_SEASON]), key[1], key[2], row.kickoff_date
                )
            if parsed.upcoming and plan.new:
                self.upcoming_leagues.add(plan.league_id)
        return counts

    async def _plan(
        self,
        bulk: _Bulk,
        league_id: int,
        rows: list[MatchRow],
        team_ids: dict[str, int],
        layout: BookLayout,
    ) -> _LeaguePlan:
        """One league's rows of a file against what is stored: new, changed, unchanged."""
        # Rows are compared in the driver's form (dates are text on SQLite), so stored
        # rows need no conversion on the way out. A file has few distinct dates and
        # times, so each is converted once.
        dates = {row.kickoff_date for row in rows}
        to_driver_date = bulk.converter(_FIXTURES.c.kickoff_date.type)
        stored_date = {day: to_driver_date(day) for day in dates}
        to_driver = _DriverValues(bulk)
        book_reader = _BookReader(layout)
        first, last = min(dates), max(dates)
        plan = _LeaguePlan(league_id, rows, first, last)
        existing = await self._stored(bulk, league_id, first, last)
        unmatched: list[_Prepared] = []
        matched: set[int] = set()
        for row in rows:
            prepared = _Prepared(
                (stored_date[row.kickoff_date], team_ids[row.home_team], team_ids[row.away_team]),
                to_driver(row.values),
                row,
            )
            stored = existing.get(prepared.key)
            if stored is None:
                unmatched.append(prepared)
                continue
            matched.add(stored[0])
            if (
                stored[1] == prepared.values
                and stored[2] == row.odds
                and stored[6] == book_reader.rows(stored[0], row.books)
            ):
                plan.unchanged += 1
                continue
            books = book_reader.prices(row.books)
            merged = _merge(stored, prepared._replace(books=books), to_driver)
            if merged is None:
                plan.unchanged += 1
            else:
                plan.changed.append((stored[0], merged))
                if _settles(stored, merged):
                    plan.settled.append(stored[0])
        if unmatched and league_id in self.upcoming_leagues:
            # A row with no fixture at its key may be a postponed match: it takes over an
            # upcoming fixture of the same teams and season (the nearest in date).
            around = dt.timedelta(days=POSTPONED_SEARCH_DAYS)
            waiting = await self._stored(bulk, league_id, first - around, last + around, True)
            by_pair: dict[tuple[int, int], list[_Stored]] = {}
            for stored in waiting.values():
                if stored[0] not in matched:
                    by_pair.setdefault((stored[3], stored[4]), []).append(stored)
            for prepared in unmatched:
                row = prepared.row
                pool = [
                    stored
                    for stored in by_pair.get(prepared.key[1:], ())
                    if stored[1][_SEASON] == row.values[_SEASON]
                ]
                if not pool:
                    plan.new.append(prepared)
                    continue
                ordinal = row.kickoff_date.toordinal()
                stored = min(pool, key=lambda s: abs(s[5].toordinal() - ordinal))
                by_pair[prepared.key[1:]].remove(stored)
                books = book_reader.prices(row.books)
                moved = _merge(stored, prepared._replace(books=books), to_driver, force=True)
                assert moved is not None
                plan.changed.append((stored[0], moved))
                plan.moved += 1
                if _settles(stored, moved):
                    plan.settled.append(stored[0])
        else:
            plan.new.extend(unmatched)
        return plan

    async def _apply(
        self,
        bulk: _Bulk,
        conn: AsyncConnection,
        parsed: ParsedFile,
        plan: _LeaguePlan,
        counts: _FileCounts,
    ) -> None:
        """Write one league's plan: insert the new, rewrite the changed."""
        name = parsed.name
        rows_base = self.rows_done
        self.rows_done += plan.unchanged
        stamp = bulk.converter(_FIXTURES.c.updated_at.type)(utcnow())
        for chunk in _chunks(plan.new, CHUNK_ROWS):
            assert counts.import_id is not None
            await self._insert(
                bulk,
                parsed,
                plan.league_id,
                chunk,
                stamp,
                (plan.first, plan.last),
                counts.import_id,
            )
            self.rows_done += len(chunk)
            self.report(name)
        for chunk_changed in _chunks(plan.changed, CHUNK_ROWS):
            await self._update(conn, name, chunk_changed)
            self.rows_done += len(chunk_changed)
            self.report(name)
        # A settled fixture now belongs to the import that completed it: undoing the
        # fixtures file that announced it must not take the played match away.
        for chunk_ids in _chunks(plan.settled, LOOKUP_CHUNK):
            await conn.execute(
                update(_FIXTURES)
                .where(_FIXTURES.c.id.in_(chunk_ids))
                .values(import_id=counts.import_id)
            )
        self.rows_done = rows_base + len(plan.rows)
        counts.added += len(plan.new)
        counts.updated += len(plan.changed)
        counts.unchanged += plan.unchanged
        counts.settled += len(plan.settled)
        counts.moved += plan.moved

    async def _suggest_aliases(
        self, parsed: ParsedFile, stored_as: dict[str, str]
    ) -> list[ImportWarning]:
        """A "did you mean" for each team a fixtures file names that is not known yet, in
        a league with played matches stored: the closest known name, if one is close and
        does not play in the file itself."""
        # A team that plays in this file is not another spelling of one that also does.
        playing = set(stored_as.values())
        known_names = {
            team_id: name for name, team_id in self.team_ids.items() if name not in playing
        }
        notes: list[ImportWarning] = []
        seen: set[str] = set()
        for row in parsed.rows:
            league_id = self.league_ids.get(row.division)
            if league_id is None or not await self._has_history(league_id):
                continue  # nothing to compare with
            league_teams = self.league_teams.get(league_id, set())
            for header, team in (("HomeTeam", row.home_team), ("AwayTeam", row.away_team)):
                if team in seen or stored_as[team] in self.team_ids:
                    continue
                seen.add(team)
                best = _closest_name(team, known_names, league_teams)
                if best is not None:
                    notes.append(
                        ImportWarning(
                            parsed.name,
                            row.line,
                            f"{header}: {team}: not a team known in {row.division}; "
                            f"did you mean {best!r}? If so: filterbets teams alias "
                            f"{shlex.quote(team)} {shlex.quote(best)}",
                            kind="team",
                        )
                    )
        return notes

    async def _has_history(self, league_id: int) -> bool:
        """Whether the league has played matches stored (asked once per league and run)."""
        found = self.played_leagues.get(league_id)
        if found is None:
            f = _FIXTURES.c
            query = select(f.id).where(f.league_id == league_id, f.result.is_not(None)).limit(1)
            async with self.db.session() as session:
                found = (await session.execute(query)).first() is not None
            self.played_leagues[league_id] = found
        return found

    # -- reference rows -------------------------------------------------------

    async def _league_id(self, conn: AsyncConnection, code: str) -> int:
        if code in self.league_ids:
            return self.league_ids[code]
        query = select(_LEAGUES.c.id).where(_LEAGUES.c.code == code)
        found = (await conn.execute(query)).scalar()
        if found is None:
            info = league_for_code(code)
            insert = _conflict_insert(self.db.dialect_name, _LEAGUES).values(
                code=info.code, name=info.name, country=info.country
            )
            await conn.execute(insert.on_conflict_do_nothing(index_elements=["code"]))
            found = (await conn.execute(query)).scalar_one()
        return int(found)

    async def _team_ids(
        self, conn: AsyncConnection, names: set[str], fresh: dict[str, int]
    ) -> dict[str, int]:
        ids = {name: self.team_ids[name] for name in names if name in self.team_ids}
        missing = sorted(names - ids.keys())
        if missing:
            # All teams were loaded at the start, so these are new unless another
            # process added them since; RETURNING gives the ids of those inserted.
            insert = _conflict_insert(self.db.dialect_name, _TEAMS).on_conflict_do_nothing(
                index_elements=["name"]
            )
            params = [{"name": name} for name in missing]
            found: dict[str, int] = {}
            if conn.dialect.insert_returning and conn.dialect.insert_executemany_returning:
                returning = insert.returning(_TEAMS.c.name, _TEAMS.c.id)
                found = {row.name: int(row.id) for row in await conn.execute(returning, params)}
            else:
                await conn.execute(insert, params)
            others = [name for name in missing if name not in found]
            if others:
                found.update(await self._lookup_teams(conn, others))
            ids.update(found)
            fresh.update(found)
        return ids

    async def _lookup_teams(self, conn: AsyncConnection, names: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(names, LOOKUP_CHUNK):
            query = select(_TEAMS.c.name, _TEAMS.c.id).where(_TEAMS.c.name.in_(chunk))
            found.update({row.name: int(row.id) for row in await conn.execute(query)})
        return found

    async def _link_teams(self, conn: AsyncConnection, league_id: int, teams: set[int]) -> set[int]:
        """Make sure team_leagues has every (team, league) pair; returns the league's teams."""
        known = self.league_teams.get(league_id, set())
        missing = sorted(teams - known)
        if missing:
            insert = _conflict_insert(self.db.dialect_name, _TEAM_LEAGUES)
            await conn.execute(
                insert.on_conflict_do_nothing(index_elements=["team_id", "league_id"]),
                [{"team_id": team_id, "league_id": league_id} for team_id in missing],
            )
        return known | teams

    # -- fixtures -------------------------------------------------------------

    async def _stored(
        self, bulk: _Bulk, league_id: int, first: dt.date, last: dt.date, upcoming: bool = False
    ) -> dict[tuple[Any, int, int], _Stored]:
        """Stored fixtures of the league in the date range (only those without a result
        when `upcoming`), keyed like _Prepared.key."""
        n_values = len(FIXTURE_VALUE_COLUMNS)
        stored: dict[tuple[Any, int, int], _Stored] = {}
        params = {"league_id": league_id, "first": first, "last": last}
        query = _UPCOMING_QUERY if upcoming else _STORED_QUERY
        key = "upcoming" if upcoming else "stored"
        rows = await bulk.fetch(key, query, params)
        if not rows:
            return stored
        # Rows as they come (the fixture's adjacent), sorted as _BookReader.rows sorts them.
        books: dict[int, list[tuple[Any, ...]]] = {}
        query = _UPCOMING_BOOKS_QUERY if upcoming else _STORED_BOOKS_QUERY
        fixture_id, same = None, []
        for book_row in await bulk.fetch(f"{key} books", query, params):
            if book_row[0] != fixture_id:
                fixture_id = book_row[0]
                same = books[fixture_id] = []
            same.append(book_row)
        for same in books.values():
            same.sort()
        days: dict[Any, dt.date] = {}
        for values in rows:
            day = days.get(values[1])
            if day is None:
                day = days[values[1]] = as_date(values[1])
            stored[(values[1], values[2], values[3])] = _Stored(
                values[0],
                values[4 : 4 + n_values],
                values[4 + n_values :],
                values[2],
                values[3],
                day,
                books.get(values[0], _NO_ROWS),
            )
        return stored

    async def _insert(
        self,
        bulk: _Bulk,
        parsed: ParsedFile,
        league_id: int,
        chunk: Sequence[_Prepared],
        stamp: Any,
        dates: tuple[dt.date, dt.date],
        import_id: int,
    ) -> None:
        # Columns the file cannot fill are left out (they default to NULL):
        # binding fewer parameters is most of the cost on SQLite.
        absent_values = {
            name for i, name in enumerate(FIXTURE_VALUE_COLUMNS) if i not in parsed.value_slots
        }
        source = parsed.name
        await bulk.insert(
            _FIXTURES,
            _FIXTURE_INSERT_COLUMNS,
            [
                (league_id, *p.key, *p.values, source, p.row.line, stamp, stamp, import_id)
                for p in chunk
            ],
            omit=absent_values,
        )
        fixture_ids = await bulk.consecutive_ids(_FIXTURES, len(chunk))
        if fixture_ids is None:
            # Read the new ids back with one query over the file's dates (stored
            # rows in that range come back too and are simply not looked up).
            params = {"league_id": league_id, "first": dates[0], "last": dates[1]}
            rows = await bulk.fetch("ids", _IDS_QUERY, params)
            by_key = {(r[1], r[2], r[3]): r[0] for r in rows}
            fixture_ids = [by_key[p.key] for p in chunk]
        absent_odds = {
            name for i, name in enumerate(ODDS_VALUE_COLUMNS) if i not in parsed.odds_slots
        }
        await bulk.insert(
            _ODDS,
            _ODDS_INSERT_COLUMNS,
            [(fixture_id, *p.row.odds) for fixture_id, p in zip(fixture_ids, chunk, strict=True)],
            omit=absent_odds,
        )
        books = [p.row.books for p in chunk]
        for columns, rows in _book_rows(fixture_ids, books, parsed.books):
            await bulk.insert(_BOOKS, columns, rows)

    async def _update(
        self, conn: AsyncConnection, file_name: str, changed: Sequence[tuple[int, _Prepared]]
    ) -> None:
        """Rewrite changed fixtures (rare, so plain SQLAlchemy executemany)."""
        now = utcnow()
        statement = update(_FIXTURES).where(_FIXTURES.c.id == bindparam("fixture_pk"))
        await conn.execute(
            statement,
            [
                {
                    **dict(zip(FIXTURE_VALUE_COLUMNS, p.row.values, strict=True)),
                    "kickoff_date": p.row.kickoff_date,
                    "source_file": file_name,
                    "source_line": p.row.line,
                    "updated_at": now,
                    "fixture_pk": fixture_id,
                }
                for fixture_id, p in changed
            ],
        )
        # An upsert, since a fixture written by other code may have no odds row yet.
        insert = _conflict_insert(self.db.dialect_name, _ODDS)
        upsert = insert.on_conflict_do_update(
            index_elements=["fixture_id"],
            set_={name: insert.excluded[name] for name in ODDS_VALUE_COLUMNS},
        )
        await conn.execute(
            upsert,
            [
                {
                    "fixture_id": fixture_id,
                    **dict(zip(ODDS_VALUE_COLUMNS, p.row.odds, strict=True)),
                }
                for fixture_id, p in changed
            ],
        )
        # Other books' prices as merged: the fixture's rows replaced.
        ids = [fixture_id for fixture_id, _p in changed]
        for chunk_ids in _chunks(ids, LOOKUP_CHUNK):
            await conn.execute(delete(_BOOKS).where(_BOOKS.c.fixture_id.in_(chunk_ids)))
        book_rows = [
            dict(zip(_BOOK_INSERT_COLUMNS, (fixture_id, book, closing, *prices), strict=True))
            for fixture_id, p in changed
            for (book, closing), prices in (p.books or {}).items()
        ]
        if book_rows:
            await conn.execute(_BOOKS.insert(), book_rows)
        # Their features are stale until the recompute after the import: without a row
        # they read as work left, should the process die before it (core.features.service).
        await forget(conn, ids)


@dataclass
class _LeaguePlan:
    """What one league's rows of a file do to the stored fixtures."""

    league_id: int
    rows: list[MatchRow]
    first: dt.date
    last: dt.date
    new: list[_Prepared] = field(default_factory=list)
    changed: list[tuple[int, _Prepared]] = field(default_factory=list)
    settled: list[int] = field(default_factory=list)
    """Upcoming fixtures the file gives their result."""
    moved: int = 0
    unchanged: int = 0


@dataclass
class _FileCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    settled: int = 0
    moved: int = 0
    import_id: int | None = None
    """The file's record in `imports`, when it adds or settles fixtures."""
    notes: list[ImportWarning] = field(default_factory=list)
    """Warnings about the file as a whole (team names to alias)."""


class _Stored(NamedTuple):
    """A stored fixture as the importer compares it (values in the driver's form)."""

    id: int
    values: tuple[Any, ...]
    """FIXTURE_VALUE_COLUMNS"""
    odds: tuple[Any, ...]
    """ODDS_VALUE_COLUMNS"""
    home_team_id: int
    away_team_id: int
    kickoff_date: dt.date
    books: list[tuple[Any, ...]]
    """Its fixture_book_prices rows as the driver gives them, sorted (see _BookReader)."""


class _DriverValues:
    """A row's FIXTURE_VALUE_COLUMNS values in the driver's form (times as text on SQLite)."""

    def __init__(self, bulk: _Bulk) -> None:
        self.as_time = bulk.converter(_FIXTURES.c.kickoff_time.type)
        self.identity = self.as_time is _identity

    def __call__(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.identity or values[_TIME] is None:
            return values
        return (*values[:_TIME], self.as_time(values[_TIME]), *values[_TIME + 1 :])


def _settles(stored: _Stored, merged: _Prepared) -> int:
    """1 when the change gives an upcoming fixture its result."""
    return int(stored.values[_HOME_GOALS] is None and merged.values[_HOME_GOALS] is not None)


def _merge(
    stored: _Stored, prepared: _Prepared, to_driver: _DriverValues, *, force: bool = False
) -> _Prepared | None:
    """What a file row makes of the stored fixture it matches, or None to leave it.

    A played match (a season file's row) over a played one replaces it, as a corrected
    file should. A fixtures file never touches a played match. Over an upcoming fixture,
    the row's values win where it has them (the result arrives, a kick-off time moves);
    pre-match prices already stored are kept as first seen unless they were missing,
    closing prices come from the row. `force`: the fixture moves to the row's date.
    """
    row = prepared.row
    row_played = row.values[_HOME_GOALS] is not None
    stored_played = stored.values[_HOME_GOALS] is not None
    if stored_played:
        if not row_played:
            return None
        return prepared
    assert prepared.books is not None
    kept = tuple(
        as_time(mine)
        if i == _TIME and mine is not None and file is None
        else (file if file is not None else mine)
        for i, (mine, file) in enumerate(zip(stored.values, row.values, strict=True))
    )
    odds = tuple(
        mine if i in _PRE_MATCH_ODDS and mine is not None else file
        for i, (mine, file) in enumerate(zip(stored.odds, row.odds, strict=True))
    )
    stored_books = {(r[1], bool(r[2])): tuple(r[3:]) for r in stored.books}
    books = _merge_books(stored_books, prepared.books)
    merged = _Prepared(prepared.key, to_driver(kept), row._replace(values=kept, odds=odds), books)
    unchanged = merged.values == stored.values and odds == stored.odds and books == stored_books
    if unchanged and not force:
        return None
    return merged


def _merge_books(stored: BookPrices, row: BookPrices) -> BookPrices:
    """An upcoming fixture's other books' prices with a file row's, as `_merge` does the
    odds: pre-match prices kept as first seen unless missing, closing ones the row's."""
    merged = {group: prices for group, prices in stored.items() if not group[1]}
    for group, prices in row.items():
        mine = merged.get(group)
        merged[group] = (
            prices
            if mine is None
            else tuple(m if m is not None else p for m, p in zip(mine, prices, strict=True))
        )
    return merged


class _BookReader:
    """A row's other books' prices as stored (groups without a price left out), from the
    compact MatchRow.books of a file's layout."""

    def __init__(self, layout: BookLayout) -> None:
        blank = len(layout.columns)  # the index of a None appended to each row's prices
        # In (book, closing) order, as the stored rows are sorted.
        self.groups = sorted(
            (group, _picker([blank if i is None else i for i in layout.slots(n)]))
            for n, group in enumerate(layout.groups)
        )

    def prices(self, books: tuple[float | None, ...]) -> BookPrices:
        padded = (*books, None)
        return {
            group: prices for group, pick in self.groups if (prices := pick(padded)) != _NO_PRICES
        }

    def rows(self, fixture_id: int, books: tuple[float | None, ...]) -> list[tuple[Any, ...]]:
        """As fixture_book_prices rows (fixture_id, book, closing, prices...), sorted: equal
        to the stored rows when nothing changed (closing False equals SQLite's 0)."""
        padded = (*books, None)
        return [
            (fixture_id, book, closing, *prices)
            for (book, closing), pick in self.groups
            if (prices := pick(padded)) != _NO_PRICES
        ]


def _book_rows(
    fixture_ids: Sequence[int], books: Sequence[tuple[float | None, ...]], layout: BookLayout
) -> list[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """fixture_book_prices rows for new fixtures, a row per group with a price: (columns,
    rows) per set of selections the file's groups have (a statement each, so that a book
    with 1X2 prices alone binds no empty over/under or handicap columns)."""
    shapes: dict[tuple[int, ...], list[tuple[BookGroup, list[int]]]] = {}
    for n, group in enumerate(layout.groups):
        slots = layout.slots(n)
        shape = tuple(s for s, i in enumerate(slots) if i is not None)
        shapes.setdefault(shape, []).append((group, [i for i in slots if i is not None]))
    found = []
    for shape, groups in shapes.items():
        empty = (None,) * len(shape)
        picks = [(book, closing, _picker(slots)) for (book, closing), slots in groups]
        rows = [
            (fixture_id, book, closing, *prices)
            for fixture_id, row in zip(fixture_ids, books, strict=True)
            for book, closing, pick in picks
            if (prices := pick(row)) != empty
        ]
        columns = ("fixture_id", "book", "closing", *(BOOK_SELECTIONS[s] for s in shape))
        found.append((columns, rows))
    return found


def _closest_name(team: str, known: dict[int, str], league_teams: set[int]) -> str | None:
    """The known team name most like `team`: a team of its league if close, another
    league's if very close."""
    lowered = team.lower()
    best: tuple[float, str] | None = None
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(lowered)
    for team_id, name in known.items():
        cutoff = SUGGESTION_CUTOFF if team_id in league_teams else SUGGESTION_CUTOFF_OTHER_LEAGUES
        matcher.set_seq1(name.lower())
        if matcher.real_quick_ratio() < cutoff or matcher.quick_ratio() < cutoff:
            continue
        score = matcher.ratio()
        if score >= cutoff and (best is None or score > best[0]):
            best = (score, name)
    return None if best is None else best[1]


class _Prepared(NamedTuple):
    """A file row with its database key and values in the driver's form."""

    key: tuple[Any, int, int]
    """(kickoff_date, home_team_id, away_team_id)"""
    values: tuple[Any, ...]
    """FIXTURE_VALUE_COLUMNS values"""
    row: MatchRow
    books: BookPrices | None = None
    """Other books' prices to store for a stored fixture (a new one's are row.books)."""


def _range_query(*columns: ColumnElement[Any]) -> Select[Any]:
    f = _FIXTURES.c
    return select(*columns).where(
        f.league_id == bindparam("league_id", type_=f.league_id.type),
        f.kickoff_date.between(
            bindparam("first", type_=f.kickoff_date.type),
            bindparam("last", type_=f.kickoff_date.type),
        ),
    )


_FIXTURE_INSERT_COLUMNS = (
    "league_id",
    "kickoff_date",
    "home_team_id",
    "away_team_id",
    *FIXTURE_VALUE_COLUMNS,
    "source_file",
    "source_line",
    "imported_at",
    "updated_at",
    "import_id",
)
_ODDS_INSERT_COLUMNS = ("fixture_id", *ODDS_VALUE_COLUMNS)
_BOOK_INSERT_COLUMNS = ("fixture_id", "book", "closing", *BOOK_SELECTIONS)
_IMPORT_COLUMNS = ("file_name", "imported_at", "fixtures_added")
_KEY_COLUMNS = (
    _FIXTURES.c.id,
    _FIXTURES.c.kickoff_date,
    _FIXTURES.c.home_team_id,
    _FIXTURES.c.away_team_id,
)
# A league's fixtures in a date range, with everything a file can change.
_STORED_QUERY = _range_query(
    *_KEY_COLUMNS,
    *(_FIXTURES.c[name] for name in FIXTURE_VALUE_COLUMNS),
    *(_ODDS.c[name] for name in ODDS_VALUE_COLUMNS),
).select_from(_FIXTURES.outerjoin(_ODDS, _ODDS.c.fixture_id == _FIXTURES.c.id))
_UPCOMING_QUERY = _STORED_QUERY.where(_FIXTURES.c.result.is_(None))
# Their other books' prices.
_STORED_BOOKS_QUERY = _range_query(
    _BOOKS.c.fixture_id, _BOOKS.c.book, _BOOKS.c.closing, *(_BOOKS.c[s] for s in BOOK_SELECTIONS)
).select_from(_FIXTURES.join(_BOOKS, _BOOKS.c.fixture_id == _FIXTURES.c.id))
_UPCOMING_BOOKS_QUERY = _STORED_BOOKS_QUERY.where(_FIXTURES.c.result.is_(None)).order_by(
    _BOOKS.c.fixture_id
)
_STORED_BOOKS_QUERY = _STORED_BOOKS_QUERY.order_by(_BOOKS.c.fixture_id)
_IDS_QUERY = _range_query(*_KEY_COLUMNS)


def _picker(slots: Sequence[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A fast tuple -> tuple of the items at `slots`."""
    if len(slots) == 1:
        only = slots[0]
        return lambda values: (values[only],)
    if not slots:
        return lambda values: ()
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]] = itemgetter(*slots)
    return pick


def _conflict_insert(dialect_name: str, table: Table) -> pg_dml.Insert | sqlite_dml.Insert:
    """dialect_insert, typed as the dialect Insert that has ON CONFLICT."""
    statement = dialect_insert(dialect_name, table)
    assert isinstance(statement, pg_dml.Insert | sqlite_dml.Insert)
    return statement


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    """Parameter names in positional order."""
    types: tuple[TypeEngine[Any], ...]


class _Bulk:
    """Bulk reads and inserts through the database driver, inside the open transaction.

    SQLAlchemy's per-row parameter handling costs more than the database's own
    work when files bring tens of thousands of rows, so the hot paths compile
    their parameterized statement once with SQLAlchemy and hand plain tuples to
    the driver: executemany on SQLite, binary COPY on PostgreSQL. Values are put
    in the driver's form with the column types' own bind processors.
    """

    # Compiled SQL per (dialect, driver, statement key); statements never change.
    _compiled: dict[tuple[str, str, str], _Compiled] = {}

    def __init__(self, dialect: Dialect, driver: Any) -> None:
        self.dialect = dialect
        self.driver = driver
        self.postgres = dialect.name == "postgresql"
        self._converters: dict[TypeEngine[Any], Callable[[Any], Any]] = {}

    @classmethod
    async def open(cls, conn: AsyncConnection) -> _Bulk:
        raw = await conn.get_raw_connection()
        bulk = cls(conn.dialect, raw.driver_connection)
        if bulk.postgres and not bulk.driver.is_in_transaction():
            # SQLAlchemy's asyncpg adapter opens its transaction on the first
            # statement; driver-level writes before that would not be atomic.
            # (SQLite's driver opens the transaction itself on the first write.)
            await conn.execute(select(literal(1)))
            if not bulk.driver.is_in_transaction():
                raise RuntimeError("bulk import needs an open transaction on the connection")
        return bulk

    def converter(self, type_: TypeEngine[Any]) -> Callable[[Any], Any]:
        """Python value -> driver value for a column type (identity when none is needed)."""
        found = self._converters.get(type_)
        if found is not None:
            return found
        process = type_.dialect_impl(self.dialect).bind_processor(self.dialect)
        if process is None or not isinstance(type_, Date | Time | DateTime | TypeDecorator):
            # Numbers and text go to the driver as they are (SQLite's Float
            # processor would only call float() on what already is a float).
            found = _identity
        else:
            cache: dict[Any, Any] = {}

            def convert(value: Any, process: Callable[[Any], Any] = process) -> Any:
                if value is None:
                    return None
                # Few distinct dates and times per file: convert each once.
                done = cache.get(value)
                if done is None:
                    done = cache[value] = process(value)
                return done

            found = convert
        self._converters[type_] = found
        return found

    def _compile(self, key: str, statement: Any, **kw: Any) -> _Compiled:
        cache_key = (self.dialect.name, self.dialect.driver, key)
        found = self._compiled.get(cache_key)
        if found is None:
            compiled = statement.compile(dialect=self.dialect, **kw)
            names = tuple(compiled.positiontup or ())
            found = _Compiled(
                compiled.string, names, tuple(compiled.binds[name].type for name in names)
            )
            self._compiled[cache_key] = found
        return found

    async def fetch(
        self, key: str, query: Select[Any], params: dict[str, Any]
    ) -> list[tuple[Any, ...]]:
        """Run a query with named parameters; rows come back in the driver's form."""
        compiled = self._compile(key, query)
        args = [
            self.converter(type_)(params[name])
            for name, type_ in zip(compiled.names, compiled.types, strict=True)
        ]
        if self.postgres:
            return [tuple(record) for record in await self.driver.fetch(compiled.sql, *args)]
        async with self.driver.execute(compiled.sql, args) as cursor:
            return list(await cursor.fetchall())

    async def record_import(self, file_name: str, fixtures: int) -> int:
        """A row in `imports` for a file that adds (or settles) `fixtures`; its id. One
        statement through the driver: SQLAlchemy's would cost several round trips."""
        stamp = self.converter(_IMPORTS.c.imported_at.type)(utcnow())
        insert = _IMPORTS.insert().returning(_IMPORTS.c.id)
        compiled = self._compile("record import", insert, column_keys=_IMPORT_COLUMNS)
        values = {"file_name": file_name[:255], "imported_at": stamp, "fixtures_added": fixtures}
        args = [values[name] for name in compiled.names]
        if self.postgres:
            return int(await self.driver.fetchval(compiled.sql, *args))
        async with self.driver.execute(compiled.sql, args) as cursor:
            row = await cursor.fetchone()
        return int(row[0])

    async def consecutive_ids(self, table: Table, count: int) -> list[int] | None:
        """Ids of the `count` rows just inserted into `table`, in order, when knowable.

        SQLite gives each new row the largest rowid plus one, and nobody else can
        write while our transaction holds the write lock, so the rows of the last
        executemany are the `count` ids ending at last_insert_rowid(). A count of
        that id range confirms it (it would not match if SQLite had fallen back to
        random rowids). PostgreSQL's COPY reports no ids: None.
        """
        if self.postgres or count == 0:
            return None
        id_column = table.c.id
        last = func.last_insert_rowid()
        query = select(
            last,
            select(func.count())
            .where(id_column.between(last - bindparam("before", type_=Integer), last))
            .scalar_subquery(),
        )
        [(last_id, found)] = await self.fetch(f"ids {table.name}", query, {"before": count - 1})
        if found != count:
            return None
        return list(range(last_id - count + 1, last_id + 1))

    async def insert(
        self,
        table: Table,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        omit: Collection[str] = (),
    ) -> None:
        """Insert rows of values already in the driver's form.

        `omit` names columns whose values are all None; SQLite gets a narrower
        INSERT without them (they take their NULL default).
        """
        if not rows:
            return
        if self.postgres:
            # COPY's cost hardly depends on NULL columns; rows go as they are.
            await self.driver.copy_records_to_table(table.name, records=rows, columns=columns)
            return
        kept = [name for name in columns if name not in omit]
        key = f"insert {table.name} {' '.join(kept)}"
        compiled = self._compile(key, table.insert(), column_keys=kept)
        # One itemgetter both drops the omitted values and puts the rest in the
        # statement's (table) order; the driver pulls rows through it lazily.
        pick = _picker([columns.index(name) for name in compiled.names])
        await self.driver.executemany(compiled.sql, map(pick, rows))


def _is_integrity_error(exc: BaseException) -> bool:
    """A constraint violation, raised through SQLAlchemy or straight from the driver."""
    if isinstance(exc, IntegrityError | sqlite3.IntegrityError):
        return True
    # asyncpg's errors carry the SQLSTATE; class 23 is "integrity constraint violation".
    return str(getattr(exc, "sqlstate", "") or "").startswith("23")


def _identity(value: Any) -> Any:
    return value


def _chunks(items: Sequence[_T], size: int) -> list[Sequence[_T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
