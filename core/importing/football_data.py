"""Reading football-data.co.uk season files: decoding, column mapping, validation.

Pure functions with no database access, so they can run in a worker thread and be
tested on small hand-written files.

Two kinds of file:

* a *season file* holds one division's played matches, each with its full-time score;
* a *fixtures file* (football-data's fixtures.csv) holds upcoming matches of many
  divisions: its header has no result columns (since 2024-25), or they are empty in
  every row (before). Its rows become fixtures without a result.

A *bad row* (missing or wrong Div, Date, teams or full-time score, a date outside
the file's season, or in a fixtures file far from the file's other dates, non-empty
cells beyond the header) cannot be imported. A *bad cell* in an optional column
(odds, match stats, half-time score, kick-off time) is stored as missing and reported
as a warning; the row is still imported.

A file whose name starts with a division code (`E0_2019-20.csv`, football-data's own
`E0.csv`) must hold that division's rows, and a season in its name (`_2019-20`) must be
its rows' season; otherwise the file is refused whole (a download saved under the wrong
name, or another league's file).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from operator import add, itemgetter
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from core.errors import ImportFileError
from core.importing.leagues import LEAGUES, league_for_code
from core.models.fixtures import (
    ALL_ODDS_COLUMNS,
    BOOK_SELECTIONS,
    BOOKS,
    MATCH_STAT_COLUMNS,
    odds_column_name,
)

REQUIRED_COLUMNS = ("Div", "Date", "HomeTeam", "AwayTeam", "FTHG", "FTAG")
# Every file has these; a fixtures file has no FTHG/FTAG.
KEY_COLUMNS = REQUIRED_COLUMNS[:4]
RESULT_COLUMNS = REQUIRED_COLUMNS[4:]
# Some football-data files name the team columns HT/AT.
_HEADER_ALIASES = {"HT": "HomeTeam", "AT": "AwayTeam"}

# File header -> Fixture column, in MATCH_STAT_COLUMNS order.
STAT_HEADERS: dict[str, str] = {
    "HS": "home_shots",
    "AS": "away_shots",
    "HST": "home_shots_on_target",
    "AST": "away_shots_on_target",
    "HC": "home_corners",
    "AC": "away_corners",
    "HF": "home_fouls",
    "AF": "away_fouls",
    "HY": "home_yellow_cards",
    "AY": "away_yellow_cards",
    "HR": "home_red_cards",
    "AR": "away_red_cards",
}
assert set(STAT_HEADERS.values()) == set(MATCH_STAT_COLUMNS)

# The Fixture columns a file provides besides the key (league, date, teams), in the
# order of MatchRow.values. The importer compares these with stored rows.
FIXTURE_VALUE_COLUMNS: tuple[str, ...] = (
    "season",
    "kickoff_time",
    "home_goals",
    "away_goals",
    "result",
    "half_time_home_goals",
    "half_time_away_goals",
    "half_time_result",
    *MATCH_STAT_COLUMNS,
    "referee",
)
_V = {name: i for i, name in enumerate(FIXTURE_VALUE_COLUMNS)}

ODDS_VALUE_COLUMNS: tuple[str, ...] = ALL_ODDS_COLUMNS
_O = {name: i for i, name in enumerate(ODDS_VALUE_COLUMNS)}

_SELECTION_SUFFIX = {
    "home": "H",
    "draw": "D",
    "away": "A",
    "over25": ">2.5",
    "under25": "<2.5",
    "ah_home": "AHH",
    "ah_away": "AHA",
}
_MARKET = {
    "home": "1x2",
    "draw": "1x2",
    "away": "1x2",
    "over25": "ou",
    "under25": "ou",
    "ah_home": "ah",
    "ah_away": "ah",
}
# (source, closing) -> market -> header prefixes, best first. The 2019-20 layout
# uses Max*/Avg*; older files have BetBrain's BbMx*/BbAv*. Pinnacle 1X2 is PS* (P*
# in some files), while its O/U and AH prices are P*/PC*.
_PREFIXES: dict[tuple[str, bool], dict[str, tuple[str, ...]]] = {
    ("b365", False): {"1x2": ("B365",), "ou": ("B365",), "ah": ("B365",)},
    ("b365", True): {"1x2": ("B365C",), "ou": ("B365C",), "ah": ("B365C",)},
    ("pinnacle", False): {"1x2": ("PS", "P"), "ou": ("P",), "ah": ("P",)},
    ("pinnacle", True): {"1x2": ("PSC",), "ou": ("PC",), "ah": ("PC",)},
    ("avg", False): {"1x2": ("Avg", "BbAv"), "ou": ("Avg", "BbAv"), "ah": ("Avg", "BbAv")},
    ("avg", True): {"1x2": ("AvgC",), "ou": ("AvgC",), "ah": ("AvgC",)},
    ("max", False): {"1x2": ("Max", "BbMx"), "ou": ("Max", "BbMx"), "ah": ("Max", "BbMx")},
    ("max", True): {"1x2": ("MaxC",), "ou": ("MaxC",), "ah": ("MaxC",)},
}


def _build_odds_candidates() -> dict[str, tuple[str, ...]]:
    candidates: dict[str, tuple[str, ...]] = {}
    for (source, closing), markets in _PREFIXES.items():
        for selection, suffix in _SELECTION_SUFFIX.items():
            column = odds_column_name(source + ("_close" if closing else ""), selection)
            candidates[column] = tuple(p + suffix for p in markets[_MARKET[selection]])
    # 2003-05 files have no market-wide line, only Bet365's own (B365AH), which is
    # the line their B365AHH/B365AHA prices were offered at.
    candidates["ah_line"] = ("AHh", "BbAHh", "B365AH")
    candidates["ah_line_close"] = ("AHCh",)
    return candidates


# Fixture odds column -> file headers that may hold it, best first.
ODDS_CANDIDATES: dict[str, tuple[str, ...]] = _build_odds_candidates()
assert set(ODDS_CANDIDATES) == set(ODDS_VALUE_COLUMNS)
AH_LINE_COLUMNS = frozenset({"ah_line", "ah_line_close"})

BookGroup = tuple[str, bool]
"""(book code, closing): one row of fixture_book_prices per fixture."""
# Every book's headers: WHH/WHD/WHA, WH>2.5, WHAHH ... pre-match, WHCH ... WHCAHH closing,
# in BOOK_SELECTIONS order; and the column of a book's own handicap line, where it has one
# (GBAH, LBAH in 2003-05 files: their AHH/AHA prices are offered at that line).
BOOK_HEADERS: dict[BookGroup, tuple[str, ...]] = {
    (book.code, closing): tuple(
        book.prefix + ("C" if closing else "") + _SELECTION_SUFFIX[selection]
        for selection in BOOK_SELECTIONS
    )
    for book in BOOKS
    for closing in (False, True)
}
BOOK_LINE_HEADERS: dict[BookGroup, str] = {
    (book.code, closing): book.prefix + ("CAH" if closing else "AH")
    for book in BOOKS
    for closing in (False, True)
}
BOOK_WIDTH = len(BOOK_SELECTIONS)
_BOOK_AH = tuple(BOOK_SELECTIONS.index(s) for s in ("ah_home", "ah_away"))


@dataclass(frozen=True)
class BookLayout:
    """Where a file's other books' prices sit in its rows' MatchRow.books: only the
    columns the file has (most books publish 1X2 alone), so a row holds no padding."""

    groups: tuple[BookGroup, ...] = ()
    """The books (and timings) the file has a price column of."""
    columns: tuple[tuple[int, int], ...] = ()
    """(position in groups, index in BOOK_SELECTIONS) of each MatchRow.books value"""

    def slots(self, group: int) -> tuple[int | None, ...]:
        """A group's BOOK_SELECTIONS: each one's index in MatchRow.books (None: absent)."""
        where = {column: i for i, column in enumerate(self.columns)}
        return tuple(where.get((group, s)) for s in range(BOOK_WIDTH))


# Plausibility limits for optional cells.
MAX_ODDS = 1000.0  # Betfair's ceiling; anything above is a typo
# A bookmaker's prices for the outcomes of one market (1X2, over/under, Asian handicap)
# imply probabilities summing to 1 + its margin. One bookmaker's group (Bet365, Pinnacle)
# or the market average's, pre-match or closing, summing outside this range holds a typo
# (a real file: BbAv>2.5 = 7.30 beside BbAv<2.5 = 1.87, a sum of 0.67); which price is
# wrong cannot be told, so the whole group is stored as missing. (Maximum prices come from
# several bookmakers: their sum may legitimately fall below 1.)
BOOKSUM_RANGE = (0.98, 1.30)
# A market maximum is a typo when its winnings (price - 1) are more than this many times
# the average's for the same selection, and its implied probability is more than
# MAX_PRICE_PROBABILITY_GAP below the average's (BbMxAHH = 9 against an average of 1.92;
# a long shot's maximum of 60 against an average of 30 is ordinary). It alone is stored as
# missing.
MAX_PRICE_WINNINGS_RATIO = 3.0
MAX_PRICE_PROBABILITY_GAP = 0.10
MAX_AH_LINE = 10.0
MAX_GOALS = 99
MAX_STAT = 999
MAX_NAME_LENGTH = 120  # String(120) on Team.name and Fixture.referee
MAX_DIVISION_LENGTH = 8  # String(8) on League.code

# A fixtures file covers a few days; a row further than this from the file's median
# date is a typo (a real file had five rows dated 25/04/2016 among 2026 fixtures).
FIXTURES_DATE_SPAN_DAYS = 60

# Bounds that keep a file's import in bounded memory, whatever the file holds. Real
# football-data files are under 2 MB and 10,000 rows.
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_MATCH_ROWS = 100_000
KEPT_PER_FILE = 1_000
"""Bad rows and warnings kept per file for the report; the rest are only counted."""
CHUNK_LINES = 20_000
"""Lines validated at a time; a file of more is read twice (its facts first)."""

SEASON_START_MONTH = 7
# Seasons can run late (2019-20 E0 ended 26/07/2020), so allow to end of August.
SEASON_LAST_MONTH = 8


class MatchRow(NamedTuple):
    """One good row, ready for the database (team names still unresolved).

    A NamedTuple rather than a dataclass: tens of thousands are built per import.
    """

    line: int
    division: str
    kickoff_date: dt.date
    home_team: str
    away_team: str
    values: tuple[object, ...]
    """Fixture columns in FIXTURE_VALUE_COLUMNS order (no goals or result when upcoming)."""
    odds: tuple[float | None, ...]
    """Odds columns in ODDS_VALUE_COLUMNS order."""
    books: tuple[float | None, ...] = ()
    """Other books' prices, as ParsedFile.books lays them out."""


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str


class ImportWarning(str):
    """`file:line: detail` as one line of text (what the CLI prints), with its parts kept
    for a reader that lists them by file and line (the dashboard's import report)."""

    file: str
    line: int
    detail: str
    """`column: value: reason`, or what else was wrong."""
    kind: str
    """"missing" (a cell stored as missing), "team" (a name to alias) or "note"."""

    def __new__(cls, file: str, line: int, detail: str, kind: str = "missing") -> ImportWarning:
        warning = super().__new__(cls, f"{file}:{line}: {detail}")
        warning.file, warning.line, warning.detail, warning.kind = file, line, detail, kind
        return warning

    def __reduce__(self) -> tuple[type[ImportWarning], tuple[str, int, str, str]]:
        return (ImportWarning, (self.file, self.line, self.detail, self.kind))


@dataclass
class ParsedFile:
    name: str
    division: str | None
    """A season file's division; a fixtures file's most common one (each row has its own)."""
    season: str | None
    season_start: dt.date | None
    season_end: dt.date | None
    upcoming: bool = False
    """A fixtures file: every row is an upcoming match, without a result."""
    rows: list[MatchRow] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    """The first KEPT_PER_FILE bad rows; bad_row_count counts them all."""
    warnings: list[ImportWarning] = field(default_factory=list)
    """`file:line: column: value: reason` for the first KEPT_PER_FILE bad optional cells;
    warning_count counts them all."""
    bad_row_count: int = 0
    warning_count: int = 0
    value_slots: tuple[int, ...] = tuple(range(len(FIXTURE_VALUE_COLUMNS)))
    """Indexes into MatchRow.values the file can fill; the others are always None."""
    odds_slots: tuple[int, ...] = tuple(range(len(ODDS_VALUE_COLUMNS)))
    """Indexes into MatchRow.odds the file can fill; the others are always None."""
    books: BookLayout = field(default_factory=BookLayout)
    """Where its rows' MatchRow.books hold each book's prices."""

    @property
    def data_rows(self) -> int:
        """Rows that were read, good and bad (lines of nothing but commas excluded)."""
        return len(self.rows) + self.bad_row_count

    def reject(self, line: int, reason: str) -> None:
        self.bad_row_count += 1
        if len(self.bad_rows) < KEPT_PER_FILE:
            self.bad_rows.append(BadRow(line, reason))

    def warn(self, line: int, detail: str, kind: str = "missing") -> None:
        self.warning_count += 1
        if len(self.warnings) < KEPT_PER_FILE:
            self.warnings.append(ImportWarning(self.name, line, detail, kind))

    @property
    def divisions(self) -> list[str]:
        """The divisions of the good rows, in order of first appearance."""
        return list(dict.fromkeys(row.division for row in self.rows))


# ---------------------------------------------------------------------------
# Decoding


def decode_bytes(raw: bytes, name: str) -> str:
    """UTF-8 (BOM or not), falling back to cp1252, or UTF-16 (BOM, or the zero bytes of
    ASCII text in it); refuses web pages, binary and empty files."""
    utf16 = _utf16_codec(raw)
    if utf16 is not None:
        try:
            raw = raw.decode(utf16).encode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"{name}: not valid UTF-16 text (byte {exc.start}), not a football-data CSV"
            ) from exc
    if not raw.strip():
        raise ImportFileError(f"{name}: empty file, not a football-data CSV")
    head = raw[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        title = re.search(rb"<title>([^<]{1,80})</title>", raw[:2048], re.IGNORECASE)
        what = f' ("{title.group(1).decode("ascii", "replace").strip()}")' if title else ""
        raise ImportFileError(
            f"{name}: a web page{what}, not a football-data CSV"
            " (a download that returned an error page?)"
        )
    if b"\x00" in raw[:8192]:
        raise ImportFileError(f"{name}: binary data, not a football-data CSV")
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        # Old files were saved from Windows spreadsheets (E0_2004-05.csv).
        return body.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{name}: not text in UTF-8, UTF-16 or cp1252 (byte {exc.start}),"
            " not a football-data CSV"
        ) from exc


def _utf16_codec(raw: bytes) -> str | None:
    """ "utf-16" (it reads the BOM), "utf-16-le"/"-be" for ASCII text saved as UTF-16
    without one (every other byte zero), or None."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = raw[:4096]
    if len(sample) < 4:
        return None
    half = len(sample) // 2
    if sample[1::2].count(0) > 0.9 * half and sample[0::2].count(0) < 0.1 * half:
        return "utf-16-le"
    if sample[0::2].count(0) > 0.9 * half and sample[1::2].count(0) < 0.1 * half:
        return "utf-16-be"
    return None


def read_file(path: Path) -> bytes:
    """A file's bytes: only a regular file (a device such as /dev/zero or a pipe could be
    endless), and at most MAX_FILE_BYTES."""
    name = path.name
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise ImportFileError(f"{path}: no such file") from exc
    except OSError as exc:
        raise ImportFileError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImportFileError(f"{name}: is a folder, not a CSV file")
    if not stat.S_ISREG(info.st_mode):
        raise ImportFileError(
            f"{name}: not a regular file (a device, pipe or socket); only files are imported"
        )
    too_big = (
        f"{name}: larger than {MAX_FILE_BYTES // 2**20} MB, far beyond any football-data file;"
        " not imported"
    )
    if info.st_size > MAX_FILE_BYTES:
        raise ImportFileError(too_big)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImportFileError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    if len(raw) > MAX_FILE_BYTES:  # it grew since
        raise ImportFileError(too_big)
    return raw


# Physical lines are split a block of about this many characters at a time.
_LINE_BLOCK = 1 << 20


def physical_lines(text: str) -> Iterator[str]:
    """The file's lines, in order, as an editor numbers them (the first is line 1).

    Ends of line may be LF, CRLF or CR CR LF (F1_2019-20.csv); a file with only
    CRs (classic Mac) is split on those. Lazily, a block at a time: a big file is
    never held as one list of lines.
    """
    separator = "\r" if "\n" not in text and "\r" in text else "\n"
    start, size = 0, len(text)
    while start < size:
        end = text.find(separator, start + _LINE_BLOCK)
        if end == -1:
            end = size
        lines = text[start:end].split(separator)
        if end == size and lines[-1] == "":
            lines.pop()  # the file's last line ends with a line break
        if separator == "\n":
            yield from (line.rstrip("\r") for line in lines)
        else:
            yield from lines
        start = end + 1


# ---------------------------------------------------------------------------
# Cell parsers (None means "does not parse")


def parse_date(text: str) -> dt.date | None:
    """dd/mm/yy or dd/mm/yyyy; two-digit years 69-99 are 19xx, 00-68 are 20xx."""
    parts = text.strip().split("/")
    if len(parts) != 3:
        return None
    day, month, year = parts
    if not (
        0 < len(day) <= 2
        and 0 < len(month) <= 2
        and len(year) in (2, 4)
        and (day + month + year).isascii()
        and (day + month + year).isdigit()
    ):
        return None
    y = int(year)
    if len(year) == 2:
        y += 1900 if y >= 69 else 2000
    try:
        return dt.date(y, int(month), int(day))
    except ValueError:
        return None


def parse_time(text: str) -> dt.time | None:
    """HH:MM or HH:MM:SS (24-hour)."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(
        0 < len(p) <= 2 and p.isascii() and p.isdigit() for p in parts
    ):
        return None
    hour, minute, second = (int(p) for p in (*parts, "0")[:3])
    try:
        return dt.time(hour, minute, second)
    except ValueError:
        return None


def parse_count(text: str) -> int | None:
    """A non-negative whole number; "2.0" (a spreadsheet's re-save) counts as 2."""
    try:
        whole = int(text)
    except ValueError:
        pass
    else:
        return whole if whole >= 0 else None
    try:
        number = float(text)
    except ValueError:
        return None
    if number >= 0 and number.is_integer():
        return int(number)
    return None


def season_window(first: dt.date) -> tuple[str, dt.date, dt.date]:
    """The season label and the dates it may span, from its first match date."""
    start_year = first.year if first.month >= SEASON_START_MONTH else first.year - 1
    label = f"{start_year}-{(start_year + 1) % 100:02d}"
    start = dt.date(start_year, SEASON_START_MONTH, 1)
    end = dt.date(start_year + 1, SEASON_LAST_MONTH + 1, 1) - dt.timedelta(days=1)
    return label, start, end


def result_code(home_goals: int, away_goals: int) -> str:
    if home_goals > away_goals:
        return "H"
    if home_goals < away_goals:
        return "A"
    return "D"


def clean_name(text: str) -> str:
    """Trim and collapse whitespace, including cp1252 non-breaking spaces."""
    return " ".join(text.replace("\xa0", " ").split())


def is_division_code(text: str) -> bool:
    return 0 < len(text) <= MAX_DIVISION_LENGTH and text.isascii() and text.isalnum()


# ---------------------------------------------------------------------------
# Header


@dataclass(frozen=True)
class ColumnMap:
    """Where each field lives in a file's rows (None: the file has no such column)."""

    width: int
    required: dict[str, int]
    """KEY_COLUMNS"""
    fthg: int | None
    ftag: int | None
    time: int | None
    ftr: int | None
    hthg: int | None
    htag: int | None
    htr: int | None
    referee: int | None
    stats: tuple[tuple[int | None, str], ...]
    """(cell index, header) per MATCH_STAT_COLUMNS entry"""
    prices: tuple[tuple[int | None, str], ...]
    """(cell index, header) per odds price column (ODDS_VALUE_COLUMNS minus the lines)"""
    lines: tuple[tuple[int | None, str], ...]
    """(cell index, header) for ah_line and ah_line_close"""
    books: BookLayout
    book_prices: tuple[tuple[int | None, str], ...]
    """(cell index, header) per books.columns entry"""
    book_lines: tuple[tuple[int, int, str], ...]
    """(position in books.groups, cell index, header) of a book's own handicap line"""
    unnamed: tuple[int, ...]
    """Columns with an empty header name."""

    def value_slots(self, *, upcoming: bool = False) -> tuple[int, ...]:
        """Indexes into MatchRow.values that rows of this file may fill."""
        if upcoming:
            return tuple(
                i
                for i, column in enumerate(FIXTURE_VALUE_COLUMNS)
                if column == "season"
                or (column == "kickoff_time" and self.time is not None)
                or (column == "referee" and self.referee is not None)
            )
        half_time = self.hthg is not None and self.htag is not None
        present = {
            "season": True,
            "kickoff_time": self.time is not None,
            "home_goals": True,
            "away_goals": True,
            "result": True,
            "half_time_home_goals": self.hthg is not None,
            "half_time_away_goals": self.htag is not None,
            "half_time_result": self.htr is not None or half_time,
            "referee": self.referee is not None,
        }
        for (index, _header), column in zip(self.stats, MATCH_STAT_COLUMNS, strict=True):
            present[column] = index is not None
        return tuple(i for i, column in enumerate(FIXTURE_VALUE_COLUMNS) if present[column])

    def odds_slots(self) -> tuple[int, ...]:
        """Indexes into MatchRow.odds that rows of this file may fill."""
        return tuple(
            i for i, (index, _h) in enumerate(self.prices + self.lines) if index is not None
        )


_PRICE_COLUMNS = tuple(c for c in ODDS_VALUE_COLUMNS if c not in AH_LINE_COLUMNS)
_LINE_COLUMNS = tuple(c for c in ODDS_VALUE_COLUMNS if c in AH_LINE_COLUMNS)
_MARKET_SELECTIONS = {
    market: tuple(s for s, m in _MARKET.items() if m == market) for market in ("1x2", "ou", "ah")
}


class _PriceChecks:
    """The typo checks (BOOKSUM_RANGE, MAX_PRICE_*) a file's columns allow, as odds slots
    (and, for the other books' groups, slots of MatchRow.books)."""

    def __init__(self, cols: ColumnMap) -> None:
        slot = {name: i for i, name in enumerate(ODDS_VALUE_COLUMNS)}
        present = set(cols.odds_slots())
        self.headers = [header for _index, header in cols.prices]
        self.groups: list[tuple[int, ...]] = []
        for source in ("b365", "pinnacle", "avg"):
            for timing in ("", "_close"):
                for selections in _MARKET_SELECTIONS.values():
                    slots = tuple(slot[odds_column_name(source + timing, s)] for s in selections)
                    if present.issuperset(slots):
                        self.groups.append(slots)
        # Every other book's (the exchange's too: its back prices sum to about 1).
        self.book_headers = [header for _index, header in cols.book_prices]
        self.book_groups: list[tuple[int, ...]] = []
        for position in range(len(cols.books.groups)):
            where = cols.books.slots(position)
            for selections in _MARKET_SELECTIONS.values():
                found = [where[BOOK_SELECTIONS.index(s)] for s in selections]
                slots = tuple(i for i in found if i is not None)
                if len(slots) == len(selections):
                    self.book_groups.append(slots)
        self.maxima: list[tuple[int, int]] = []
        for timing in ("", "_close"):
            for selection in _SELECTION_SUFFIX:
                pair = (
                    slot[odds_column_name("max" + timing, selection)],
                    slot[odds_column_name("avg" + timing, selection)],
                )
                if present.issuperset(pair):
                    self.maxima.append(pair)

    @property
    def active(self) -> bool:
        return bool(self.groups or self.maxima or self.book_groups)

    def fix(
        self, odds: tuple[float | None, ...], books: tuple[float | None, ...]
    ) -> tuple[tuple[float | None, ...], tuple[float | None, ...], list[str]]:
        """The odds and book prices with typos made missing, and a warning detail for each."""
        details: list[str] = []
        gone = self._bad_groups(odds, self.groups, self.headers, details)
        gone_books = self._bad_groups(books, self.book_groups, self.book_headers, details)
        for most, average in self.maxima:
            top, mean = odds[most], odds[average]
            if (
                top is not None
                and mean is not None
                and top - 1 > MAX_PRICE_WINNINGS_RATIO * (mean - 1)
                and 1 / mean - 1 / top > MAX_PRICE_PROBABILITY_GAP
            ):
                gone.add(most)
                details.append(
                    f"{self.headers[most]}: {top:g}: far above the average price {mean:g}"
                    f" ({self.headers[average]}), a typo? (stored as missing)"
                )
        return _without(odds, gone), _without(books, gone_books), details

    @staticmethod
    def _bad_groups(
        odds: tuple[float | None, ...],
        groups: list[tuple[int, ...]],
        headers: list[str],
        details: list[str],
    ) -> set[int]:
        """Slots of the groups whose booksum is out of range, with a detail for each."""
        low, high = BOOKSUM_RANGE
        gone: set[int] = set()
        for slots in groups:
            prices = [price for i in slots if (price := odds[i]) is not None]
            if len(prices) < len(slots):
                continue
            booksum = sum(1 / price for price in prices)
            if not low <= booksum <= high:
                gone.update(slots)
                details.append(
                    f"{'/'.join(headers[i] for i in slots)}: "
                    f"{'/'.join(f'{price:g}' for price in prices)}: the prices imply a "
                    f"bookmaker margin of {booksum - 1:+.1%}, outside {low - 1:+.0%} to "
                    f"{high - 1:+.0%}, a typo? (stored as missing)"
                )
        return gone

    def screen(
        self,
        texts: list[tuple[str, ...]],
        book_texts: list[tuple[str, ...]],
        value_of: Callable[[str], float],
        inverse_of: Callable[[str], float],
    ) -> set[int]:
        """Rows some check fails, from the rows' price texts and each text's value and
        its inverse (NaN when blank or bad, which compares false: a group with a price
        missing passes). A column at a time, each check one comprehension: measured
        faster than numpy once its import is counted."""
        if not texts:
            return set()
        columns = list(zip(*texts, strict=True))
        failing = self._screen_groups(self.groups, columns, inverse_of)
        if self.book_groups:
            book_columns = list(zip(*book_texts, strict=True))
            failing |= self._screen_groups(self.book_groups, book_columns, inverse_of)
        used = {i for pair in self.maxima for i in pair}
        values = {i: list(map(value_of, columns[i])) for i in used}
        ratio, gap = MAX_PRICE_WINNINGS_RATIO, MAX_PRICE_PROBABILITY_GAP
        for most, average in self.maxima:
            failing.update(
                n
                for n, (top, mean) in enumerate(zip(values[most], values[average], strict=True))
                if top - 1 > ratio * (mean - 1) and 1 / mean - 1 / top > gap
            )
        return failing

    @staticmethod
    def _screen_groups(
        groups: list[tuple[int, ...]],
        columns: list[tuple[str, ...]],
        inverse_of: Callable[[str], float],
    ) -> set[int]:
        """Rows whose prices of some group imply a booksum out of BOOKSUM_RANGE: the
        inverses summed by chained map(add) (measured faster than a comprehension)."""
        low, high = BOOKSUM_RANGE
        failing: set[int] = set()
        for slots in groups:
            first, *others = (map(inverse_of, columns[i]) for i in slots)
            booksums: Iterator[float] = first
            for other in others:
                booksums = map(add, booksums, other)
            failing.update(
                n for n, booksum in enumerate(booksums) if booksum < low or booksum > high
            )
        return failing


def _without(values: tuple[float | None, ...], gone: set[int]) -> tuple[float | None, ...]:
    if not gone:
        return values
    return tuple(None if i in gone else value for i, value in enumerate(values))


# MatchRow.odds is prices then lines, so both must be in that order already.
assert ODDS_VALUE_COLUMNS == _PRICE_COLUMNS + _LINE_COLUMNS
_STAT_HEADER_OF = {column: header for header, column in STAT_HEADERS.items()}


def map_header(cells: list[str], name: str) -> ColumnMap:
    """Locate the columns we read; refuses a header that is not football-data's."""
    position: dict[str, int] = {}
    unnamed: list[int] = []
    for index, raw in enumerate(cells):
        header = raw.replace("\ufeff", "").strip()
        if not header:
            unnamed.append(index)
        elif header not in position:  # first of duplicates wins
            position[header] = index
    for alias, canonical in _HEADER_ALIASES.items():
        if canonical not in position and alias in position:
            position[canonical] = position[alias]
    missing = [column for column in REQUIRED_COLUMNS if column not in position]
    if set(RESULT_COLUMNS) <= set(missing) and len(missing) < len(REQUIRED_COLUMNS):
        # A fixtures file has no result columns (upcoming matches): only keys are needed.
        missing = [column for column in missing if column not in RESULT_COLUMNS]
    if missing:
        if len(missing) == len(REQUIRED_COLUMNS):
            raise ImportFileError(
                f"{name}: not a football-data CSV (header has none of "
                f"{', '.join(REQUIRED_COLUMNS)})"
            )
        raise ImportFileError(
            f"{name}: not a football-data CSV (header lacks {', '.join(missing)})"
        )

    def odds_slot(column: str) -> tuple[int | None, str]:
        for header in ODDS_CANDIDATES[column]:
            if header in position:
                return position[header], header
        return None, ""

    book_groups = tuple(
        group
        for group, headers in BOOK_HEADERS.items()
        if any(header in position for header in headers)
    )
    book_columns = tuple(
        (n, s)
        for n, group in enumerate(book_groups)
        for s, header in enumerate(BOOK_HEADERS[group])
        if header in position
    )
    book_prices = tuple(
        (position[header], header)
        for n, s in book_columns
        if (header := BOOK_HEADERS[book_groups[n]][s])
    )
    book_lines = tuple(
        (n, position[line], line)
        for n, group in enumerate(book_groups)
        if (line := BOOK_LINE_HEADERS[group]) in position
    )
    return ColumnMap(
        width=len(cells),
        required={column: position[column] for column in KEY_COLUMNS},
        fthg=position.get("FTHG"),
        ftag=position.get("FTAG"),
        time=position.get("Time"),
        ftr=position.get("FTR"),
        hthg=position.get("HTHG"),
        htag=position.get("HTAG"),
        htr=position.get("HTR"),
        referee=position.get("Referee"),
        stats=tuple(
            (position.get(_STAT_HEADER_OF[column]), _STAT_HEADER_OF[column])
            for column in MATCH_STAT_COLUMNS
        ),
        prices=tuple(odds_slot(column) for column in _PRICE_COLUMNS),
        lines=tuple(odds_slot(column) for column in _LINE_COLUMNS),
        books=BookLayout(book_groups, book_columns),
        book_prices=book_prices,
        book_lines=book_lines,
        unnamed=tuple(unnamed),
    )


# ---------------------------------------------------------------------------
# Rows

_MALFORMED = ["\x00malformed"]
_UNSEEN: Any = object()
_Parsed = TypeVar("_Parsed")


Record = tuple[int, list[str]]
"""(physical line, cells) of one CSV record after the header."""


def _records(lines: Iterator[str], *, quoted: bool) -> Iterator[Record]:
    """Every non-blank CSV record after the header, lazily.

    Quoted cells may hold commas ("Wiley, A. G." in E0_2001-02.csv) or, rarely,
    line breaks, so records come from the csv module; `quoted` is False when the
    text has no double quote at all, and then a plain split is what csv would do,
    only faster. Lines of nothing but commas (and spaces) are padding, not rows.
    """
    if not quoted:
        return (
            (number, text.split(","))
            for number, text in enumerate(lines, start=2)
            if text.strip(" ,\t")
        )
    return (
        (number, cells)
        for number, cells in _read_records_slowly(lines)
        if any(map(str.strip, cells))
    )


def _read_records_slowly(lines: Iterator[str]) -> Iterator[Record]:
    """Record by record, tracking lines consumed; a malformed record becomes _MALFORMED."""
    reader = csv.reader(lines)
    consumed = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:
            cells = _MALFORMED
        # +1 for the header line, +1 because line numbers start at 1.
        yield consumed + 2, cells
        consumed = reader.line_num


def _chunks(records: Iterator[Record]) -> Iterator[list[Record]]:
    while chunk := list(islice(records, CHUNK_LINES)):
        yield chunk


def parse_text(text: str, name: str) -> ParsedFile:
    """Parse a decoded football-data file. Raises ImportFileError if it is not one.

    Records are validated CHUNK_LINES at a time, so memory stays bounded (only good rows,
    at most MAX_MATCH_ROWS, and KEPT_PER_FILE problems are kept). What every row is
    checked against (the file's division, season, kind) comes from the whole file: a
    file of one chunk, the usual case, is read once; a bigger one twice.
    """
    lines = physical_lines(text)
    first = next(lines, "")
    if not first.strip(" ,\t"):
        raise ImportFileError(f"{name}: no header on line 1, not a football-data CSV")
    try:
        header = next(csv.reader([first]))
    except csv.Error as exc:
        raise ImportFileError(f"{name}: header line is not CSV ({exc})") from exc
    columns = map_header(header, name)
    quoted = '"' in text
    chunks = _chunks(_records(lines, quoted=quoted))
    head = next(chunks, [])
    facts = _FileFacts(columns)
    facts.add(head)
    more = next(chunks, None)
    if more is not None:
        # A big file: its facts from a first pass, then the chunks again.
        for chunk in chain([more], chunks):
            facts.add(chunk)
        rest = physical_lines(text)
        next(rest)
        chunks = _chunks(_records(rest, quoted=quoted))
        head = next(chunks, [])
    validator = _Validator(columns, name, facts)
    validator.feed(head)
    for chunk in chunks:
        validator.feed(chunk)
    parsed = validator.result
    for line_header, count in validator.other_lines.items():
        closing = line_header.endswith("CAH")
        common = columns.lines[1 if closing else 0][1] or "none"
        prices = f"{line_header}H/{line_header}A"
        parsed.warn(
            1,
            f"{prices}: {_plural_rows(count)} priced at the {line_header} line, not the fixture's"
            f" ({common}): those prices are not kept (handicap bets settle at the fixture's"
            " line)",
            "note",
        )
    check_name_matches_rows(parsed)
    return parsed


# A name that starts with a division code (E0_2019-20.csv, E0.csv, SP1-old.csv), and a
# season in it (_2019-20).
_NAMED_DIVISION = re.compile(r"([A-Z]{1,3}[0-9]?)(?=[_.\- ]|$)")
_NAMED_SEASON = re.compile(r"_((?:19|20)[0-9]{2})-([0-9]{2})(?=[_.\- ]|$)")


def division_in_name(name: str) -> str | None:
    """The known division code a file's name starts with, if any."""
    found = _NAMED_DIVISION.match(name)
    return found.group(1) if found and found.group(1) in LEAGUES else None


def season_in_name(name: str) -> str | None:
    """The season label in a file's name (`E0_2019-20.csv` -> "2019-20"), if any."""
    found = _NAMED_SEASON.search(name)
    if found is None or (int(found.group(1)) + 1) % 100 != int(found.group(2)):
        return None
    return f"{found.group(1)}-{found.group(2)}"


def _league_label(code: str) -> str:
    league = league_for_code(code)
    return code if league.name == code else f"{code} ({league.name}, {league.country})"


def check_name_matches_rows(parsed: ParsedFile) -> None:
    """Refuse a file named for one division or season that holds another's rows."""
    name = parsed.name
    named = division_in_name(name)
    held = parsed.divisions
    if named is not None and held and held != [named]:
        rows = ", ".join(_league_label(code) for code in held[:4])
        more = f" and {len(held) - 4} more" if len(held) > 4 else ""
        raise ImportFileError(
            f"{name}: named for {_league_label(named)} but its rows are {rows}{more};"
            " nothing imported (rename the file if its rows are right)"
        )
    named_season = season_in_name(name)
    if named_season not in (None, parsed.season) and parsed.rows and not parsed.upcoming:
        raise ImportFileError(
            f"{name}: named for season {named_season} but its rows are {parsed.season};"
            " nothing imported (rename the file if its rows are right)"
        )


def parse_file(path: Path) -> ParsedFile:
    """Read and parse one file. Raises ImportFileError if it cannot be imported at all."""
    return parse_text(decode_bytes(read_file(path), path.name), path.name)


def _plural_rows(count: int) -> str:
    return f"{count:,} row{'' if count == 1 else 's'}"


def _price_or_reason(raw: str) -> float | str:
    try:
        price = float(raw)
    except ValueError:
        return "not a number"
    if price <= 1.0:
        return "decimal odds must be greater than 1.0"
    if not price <= MAX_ODDS:  # also nan and inf
        return f"decimal odds must be at most {MAX_ODDS:g}"
    return price


def _line_or_reason(raw: str) -> float | str:
    try:
        line = float(raw)
    except ValueError:
        return "not a number"
    if not (-MAX_AH_LINE <= line <= MAX_AH_LINE) or not (line * 4).is_integer():
        return f"handicap line must be a multiple of 0.25 within +-{MAX_AH_LINE:g}"
    return line + 0.0  # -0.0 -> 0.0


def _count_or_reason(raw: str) -> int | str:
    count = parse_count(raw)
    if count is None or count > MAX_STAT:
        return "not a count"
    return count


class _CellCache(Generic[_Parsed]):
    """Parsed value per distinct cell text, for one kind of optional cell.

    Prices and counts repeat a lot within a file ("2.10", "0"), so each distinct
    text is parsed once and rows are converted with C-level lookups.
    """

    def __init__(self, parse: Callable[[str], _Parsed | str]) -> None:
        self.parse = parse
        self.values: dict[str, _Parsed | None] = {"": None}
        self.bad: dict[str, str] = {}
        """Text -> why it is not a valid value (the parser returned a reason)."""

    def learn(self, texts: set[str]) -> None:
        for text in texts - self.values.keys():
            if not text.strip():
                self.values[text] = None
                continue
            parsed = self.parse(text)
            if isinstance(parsed, str):
                self.values[text] = None
                self.bad[text] = parsed
            else:
                self.values[text] = parsed


def _getter(indices: Iterable[int | None], blank: int) -> Callable[[list[str]], tuple[str, ...]]:
    """A fast cells -> tuple of texts; absent columns read the always-blank cell."""
    picked = [blank if i is None else i for i in indices]
    if not picked:
        return lambda cells: ()
    if len(picked) == 1:
        only = picked[0]
        return lambda cells: (cells[only],)
    get: Callable[[list[str]], tuple[str, ...]] = itemgetter(*picked)
    return get


class _FileFacts:
    """What every row of a file is checked against, gathered from all its records: the
    division (the most common Div), whether it is a fixtures file (no result in any row),
    and its dates (the first, for a season file's season; the median, for a fixtures
    file's centre)."""

    # Distinct Div and Date texts counted, at most (a junk file has endless ones).
    MAX_DISTINCT = 50_000

    def __init__(self, cols: ColumnMap) -> None:
        self.cols = cols
        self.divisions: Counter[str] = Counter()
        self.dates: Counter[str] = Counter()
        self.first_date: dt.date | None = None
        self.results_seen = cols.fthg is None or cols.ftag is None
        """True once a row has a result, or when the file has no result columns."""
        self.any_rows = False

    def add(self, records: list[Record]) -> None:
        if not records:
            return
        self.any_rows = True
        i_div, i_date = self.cols.required["Div"], self.cols.required["Date"]
        # Counted per distinct text at C speed; a few distinct values per real file.
        divisions = Counter(cells[i_div].strip() for _l, cells in records if i_div < len(cells))
        for code, count in divisions.items():
            if is_division_code(code) and self._room(self.divisions, code):
                self.divisions[code] += count
        dates = Counter(cells[i_date] for _l, cells in records if i_date < len(cells))
        for text, count in dates.items():
            if self._room(self.dates, text):
                self.dates[text] += count
        if self.first_date is None:
            self.first_date = next(
                (
                    day
                    for _l, cells in records
                    if i_date < len(cells) and (day := parse_date(cells[i_date])) is not None
                ),
                None,
            )
        if not self.results_seen:
            i_fthg, i_ftag = self.cols.fthg, self.cols.ftag
            assert i_fthg is not None and i_ftag is not None
            self.results_seen = any(
                (i_fthg < len(cells) and cells[i_fthg].strip())
                or (i_ftag < len(cells) and cells[i_ftag].strip())
                for _l, cells in records
            )

    def _room(self, counter: Counter[str], key: str) -> bool:
        return key in counter or len(counter) < self.MAX_DISTINCT

    @property
    def division(self) -> str | None:
        return self.divisions.most_common(1)[0][0] if self.divisions else None

    @property
    def upcoming(self) -> bool:
        """A fixtures file: no result columns, or no row with a result."""
        no_results = self.cols.fthg is None or self.cols.ftag is None
        return no_results or (self.any_rows and not self.results_seen)

    def median_date(self) -> dt.date | None:
        """The median of the rows' dates that parse (a fixtures file's centre)."""
        counted: Counter[int] = Counter()
        for text, count in self.dates.items():
            day = parse_date(text)
            if day is not None:
                counted[day.toordinal()] += count
        if not counted:
            return None
        half, seen = (sum(counted.values()) + 1) // 2, 0
        for ordinal in sorted(counted):
            seen += counted[ordinal]
            if seen >= half:
                return dt.date.fromordinal(ordinal)
        raise AssertionError("unreachable")


_Candidate = tuple[int, list[str], str, dt.date, str, str, int | None, int | None, str | None]
"""A row that passed pass 1: line, cells, division, date, home, away, goals, result."""


class _Validator:
    """Sorts records into good rows and bad rows, a chunk at a time, collecting bad-cell
    warnings.

    Written for speed (a whole corpus is tens of thousands of rows): the common
    case takes the fewest steps, and messages are only built for problems.
    """

    # The conversion caches are emptied past this many entries (a junk file's texts
    # are all distinct; a real file's repeat).
    MAX_CACHED = 50_000

    def __init__(self, cols: ColumnMap, name: str, facts: _FileFacts) -> None:
        self.cols = cols
        self.name = name
        self.upcoming = upcoming = facts.upcoming
        self.division = facts.division
        self.season: str | None = None
        self.start: dt.date | None = None
        self.end: dt.date | None = None
        self.centre: dt.date | None = None
        if upcoming:
            # Each row is labelled with its own date's season; the file's dates must lie
            # close together (a fixtures file spans days, not seasons).
            self.centre = facts.median_date()
            if self.centre is not None:
                self.season = season_window(self.centre)[0]
                self.start = self.centre - dt.timedelta(days=FIXTURES_DATE_SPAN_DAYS)
                self.end = self.centre + dt.timedelta(days=FIXTURES_DATE_SPAN_DAYS)
        elif facts.first_date is not None:
            self.season, self.start, self.end = season_window(facts.first_date)
        self.result = ParsedFile(
            name,
            self.division,
            self.season,
            self.start,
            self.end,
            upcoming=upcoming,
            value_slots=cols.value_slots(upcoming=upcoming),
            odds_slots=cols.odds_slots(),
            books=cols.books,
        )
        # Dates, team names and goal counts repeat a lot within a file, so each
        # distinct text is converted once.
        self.date_cache: dict[str, dt.date | None] = {}
        self.name_cache: dict[str, str] = {}
        self.goal_cache: dict[str, int | None] = {str(n): n for n in range(MAX_GOALS + 1)}
        self.time_cache: dict[str, dt.time | None] = {"": None}
        self.referee_cache: dict[str, str | None] = {"": None}
        self.season_of: dict[dt.date, str] = {}
        self.seen: dict[tuple[str, dt.date, str, str], int] = {}
        self.price_checks = _PriceChecks(cols)
        self.other_lines: dict[str, int] = {}
        """Book line header -> rows whose handicap prices were at another line, not kept."""

    def date_of(self, text: str) -> dt.date | None:
        cache = self.date_cache
        if text in cache:
            return cache[text]
        if len(cache) > self.MAX_CACHED:
            cache.clear()
        found = cache[text] = parse_date(text)
        return found

    def goals_of(self, text: str) -> int | None:
        cache = self.goal_cache
        if text in cache:
            return cache[text]
        if len(cache) > self.MAX_CACHED:
            cache.clear()
        count = parse_count(text)
        found = cache[text] = count if count is not None and count <= MAX_GOALS else None
        return found

    def name_of(self, text: str) -> str:
        cache = self.name_cache
        found = cache.get(text)
        if found is None:
            if len(cache) > self.MAX_CACHED:
                cache.clear()
            found = cache[text] = clean_name(text)
        return found

    def feed(self, records: list[Record]) -> None:
        """Validate one chunk of records (in file order)."""
        candidates = self._required_cells(records)
        if candidates:
            self._optional_cells(candidates)
        if len(self.result.rows) > MAX_MATCH_ROWS:
            raise ImportFileError(
                f"{self.name}: more than {MAX_MATCH_ROWS:,} match rows, far beyond any"
                " football-data file; not imported"
            )

    def _required_cells(self, records: list[Record]) -> list[_Candidate]:
        """Pass 1: shape and required cells; any problem makes the row bad."""
        cols = self.cols
        req = cols.required
        i_div, i_date = req["Div"], req["Date"]
        i_home, i_away = req["HomeTeam"], req["AwayTeam"]
        i_fthg, i_ftag, i_ftr = cols.fthg, cols.ftag, cols.ftr
        width = cols.width
        unnamed = cols.unnamed
        upcoming, division = self.upcoming, self.division
        start, end, season, centre = self.start, self.end, self.season, self.centre
        date_get, date_of = self.date_cache.get, self.date_of
        name_get, name_of = self.name_cache.get, self.name_of
        goal_get, goals_of = self.goal_cache.get, self.goals_of
        reject = self.result.reject
        seen = self.seen
        candidates: list[_Candidate] = []
        for line, cells in records:
            if cells is _MALFORMED:
                reject(line, "malformed CSV (stray quote or line break)")
                continue
            n = len(cells)
            if n == width:
                # One more blank cell at index `width` stands in for absent columns.
                cells.append("")
            elif n < width:
                # Short rows: the missing trailing cells are blank.
                cells.extend([""] * (width + 1 - n))
            else:
                extra = [c for c in cells[width:] if c.strip()]
                if extra:
                    reject(
                        line,
                        f"{n - width} cells beyond the header's {width} columns, "
                        f"{len(extra)} of them not empty (first: {extra[0].strip()!r})",
                    )
                    continue
                del cells[width + 1 :]
                cells[width] = ""
            if unnamed:
                stray = next((i for i in unnamed if cells[i].strip()), None)
                if stray is not None:
                    text = cells[stray].strip()
                    reject(line, f"column {stray + 1} has no header but holds {text!r}")
                    continue
            div = cells[i_div]
            if div != division:
                div = div.strip()
                reason = None
                if not div:
                    reason = "Div: missing"
                elif not is_division_code(div):
                    reason = f"Div: {div}: not a division code"
                elif div != division and not upcoming:
                    reason = f"Div: {div}: differs from the file's division {division}"
                if reason is not None:
                    reject(line, reason)
                    continue
            date = date_get(cells[i_date], _UNSEEN)
            if date is _UNSEEN:
                date = date_of(cells[i_date])
            if date is None or start is None or end is None or not (start <= date <= end):
                raw_date = cells[i_date].strip()
                if not raw_date:
                    reason = "Date: missing"
                elif date is None:
                    reason = f"Date: {raw_date}: not a dd/mm/yy or dd/mm/yyyy date"
                elif upcoming:
                    assert centre is not None
                    reason = (
                        f"Date: {raw_date}: {abs((date - centre).days):,} days from the"
                        f" file's other dates (around {centre}), a typo?"
                    )
                else:
                    reason = f"Date: {raw_date}: outside season {season} ({start} to {end})"
                reject(line, reason)
                continue
            home = name_get(cells[i_home]) or name_of(cells[i_home])
            away = name_get(cells[i_away]) or name_of(cells[i_away])
            if not home or not away or home == away or len(home) + len(away) > MAX_NAME_LENGTH:
                if not home:
                    reason = "HomeTeam: missing"
                elif not away:
                    reason = "AwayTeam: missing"
                elif home == away:
                    reason = f"HomeTeam and AwayTeam are both {home}"
                elif max(len(home), len(away)) > MAX_NAME_LENGTH:
                    reason = f"team name longer than {MAX_NAME_LENGTH} characters"
                else:
                    reason = None
                if reason is not None:
                    reject(line, reason)
                    continue
            if upcoming:
                home_goals = away_goals = full_time = None
            else:
                assert i_fthg is not None and i_ftag is not None
                home_goals = goal_get(cells[i_fthg], _UNSEEN)
                if home_goals is _UNSEEN:
                    home_goals = goals_of(cells[i_fthg])
                away_goals = goal_get(cells[i_ftag], _UNSEEN)
                if away_goals is _UNSEEN:
                    away_goals = goals_of(cells[i_ftag])
                if home_goals is None or away_goals is None:
                    header, index = ("FTHG", i_fthg) if home_goals is None else ("FTAG", i_ftag)
                    raw = cells[index].strip()
                    reject(
                        line,
                        f"{header}: {raw}: not a number of goals" if raw else f"{header}: missing",
                    )
                    continue
                full_time = (
                    "H" if home_goals > away_goals else "A" if home_goals < away_goals else "D"
                )
                if i_ftr is not None:
                    ftr = cells[i_ftr]
                    if ftr != full_time and (ftr := ftr.strip()) and ftr != full_time:
                        if ftr in ("H", "D", "A"):
                            reason = (
                                f"FTR: {ftr}: disagrees with the score {home_goals}-{away_goals}"
                                f" (expected {full_time})"
                            )
                        else:
                            reason = f"FTR: {ftr}: not H, D or A"
                        reject(line, reason)
                        continue
            key = (div, date, home, away)
            first_line = seen.get(key)
            if first_line is not None:
                reject(line, f"same match as line {first_line} ({home} v {away} on {date})")
                continue
            seen[key] = line
            candidates.append(
                (line, cells, div, date, home, away, home_goals, away_goals, full_time)
            )
        return candidates

    def _optional_cells(self, candidates: list[_Candidate]) -> None:
        """Pass 2: optional cells; a problem is a warning and a missing value."""
        cols = self.cols
        width = cols.width
        upcoming = self.upcoming
        get_prices = _getter((i for i, _h in cols.prices), width)
        get_lines = _getter((i for i, _h in cols.lines), width)
        get_books = _getter((i for i, _h in cols.book_prices), width)
        # An upcoming match has no match stats or half-time score yet (older fixtures files
        # keep those columns, empty): read as absent.
        stat_columns = [(None, h) for _i, h in cols.stats] if upcoming else cols.stats
        get_stats = _getter((i for i, _h in stat_columns), width)
        prices: _CellCache[float] = _CellCache(_price_or_reason)
        lines: _CellCache[float] = _CellCache(_line_or_reason)
        stats: _CellCache[int] = _CellCache(_count_or_reason)
        good_cells = [candidate[1] for candidate in candidates]
        # Each row's texts of each kind, then their distinct values parsed once.
        price_texts = list(map(get_prices, good_cells))
        line_texts = list(map(get_lines, good_cells))
        stat_texts = list(map(get_stats, good_cells))
        book_texts = list(map(get_books, good_cells))
        prices.learn(set(chain.from_iterable(chain(price_texts, book_texts))))
        lines.learn(set(chain.from_iterable(line_texts)))
        stats.learn(set(chain.from_iterable(stat_texts)))
        price_of = prices.values.__getitem__
        line_of = lines.values.__getitem__
        stat_of = stats.values.__getitem__
        # Which kinds have bad texts at all (usually none), with their headers.
        kinds = (
            (prices.bad, cols.prices),
            (lines.bad, cols.lines),
            (stats.bad, cols.stats),
            (prices.bad, cols.book_prices),
        )
        checks = [
            (slot, bad_texts, where) for slot, (bad_texts, where) in enumerate(kinds) if bad_texts
        ]
        add_warning = self.result.warn

        def warn(line: int, header: str, value: str, reason: str) -> None:
            add_warning(line, f"{header}: {value.strip()}: {reason}")

        time_cache = self.time_cache
        referee_cache = self.referee_cache
        for cache in (time_cache, referee_cache):
            if len(cache) > self.MAX_CACHED:
                cache.clear()
                cache[""] = None
        goal_cache = self.goal_cache
        i_time, i_hthg, i_htag, i_htr = cols.time, cols.hthg, cols.htag, cols.htr
        if upcoming:
            i_hthg = i_htag = i_htr = None
        i_referee = cols.referee
        # Absent optional columns read the blank cell at index `width`.
        i_time_or_blank = width if i_time is None else i_time
        i_hthg_or_blank = width if i_hthg is None else i_hthg
        i_htag_or_blank = width if i_htag is None else i_htag
        i_htr_or_blank = width if i_htr is None else i_htr
        i_referee_or_blank = width if i_referee is None else i_referee
        season_of = self.season_of
        season = self.season
        good = self.result.rows
        first_new = len(good)
        for (
            line,
            cells,
            div,
            date,
            home,
            away,
            home_goals,
            away_goals,
            full_time,
        ), *texts in zip(candidates, price_texts, line_texts, stat_texts, book_texts, strict=True):
            raw = cells[i_time_or_blank]
            if raw in time_cache:
                kickoff = time_cache[raw]
            else:
                kickoff = time_cache[raw] = parse_time(raw) if raw.strip() else None
                if kickoff is None and raw.strip():
                    warn(line, "Time", raw, "not a HH:MM time")
                    del time_cache[raw]  # so that every row with it is warned about

            ht_home = ht_away = None
            raw_home = cells[i_hthg_or_blank]
            raw_away = cells[i_htag_or_blank]
            if raw_home or raw_away:
                assert home_goals is not None and away_goals is not None
                ht_home = goal_cache.get(raw_home)
                ht_away = goal_cache.get(raw_away)
                if (
                    ht_home is None
                    or ht_away is None
                    or ht_home > home_goals
                    or ht_away > away_goals
                ):
                    ht_home, ht_away = _half_time_goals(
                        line, raw_home, raw_away, home_goals, away_goals, warn
                    )
            ht_result = None
            if ht_home is not None and ht_away is not None:
                ht_result = "H" if ht_home > ht_away else "A" if ht_home < ht_away else "D"
            raw = cells[i_htr_or_blank]
            if raw != (ht_result or ""):
                raw = raw.strip()
                if raw and raw != ht_result:
                    # A bad HTR is stored as missing, like any bad optional cell.
                    if raw not in ("H", "D", "A"):
                        warn(line, "HTR", raw, "not H, D or A")
                        ht_result = None
                    elif ht_result is not None:
                        warn(
                            line,
                            "HTR",
                            raw,
                            f"disagrees with the half-time score {ht_home}-{ht_away}",
                        )
                        ht_result = None
                    else:
                        # A half-time result without the half-time score is still a fact.
                        ht_result = raw
            raw = cells[i_referee_or_blank]
            if raw in referee_cache:
                referee = referee_cache[raw]
            else:
                referee = clean_name(raw) or None
                if referee is not None and len(referee) > MAX_NAME_LENGTH:
                    warn(line, "Referee", referee[:40] + "...", f"longer than {MAX_NAME_LENGTH}")
                    referee = None
                else:
                    referee_cache[raw] = referee
            for slot, bad_texts, where in checks:
                if not bad_texts.keys().isdisjoint(texts[slot]):
                    for text, (_index, header) in zip(texts[slot], where, strict=True):
                        if text in bad_texts:
                            warn(line, header, text, bad_texts[text])
            row_season: str | None
            if upcoming:
                row_season = season_of.get(date)
                if row_season is None:
                    row_season = season_of[date] = season_window(date)[0]
            else:
                row_season = season
            good.append(
                MatchRow(
                    line,
                    div,
                    date,
                    home,
                    away,
                    (
                        row_season,
                        kickoff,
                        home_goals,
                        away_goals,
                        full_time,
                        ht_home,
                        ht_away,
                        ht_result,
                        *map(stat_of, texts[2]),
                        referee,
                    ),
                    (*map(price_of, texts[0]), *map(line_of, texts[1])),
                    tuple(map(price_of, texts[3])),
                )
            )
        if cols.book_lines:
            self._book_lines(candidates, first_new, lines)
        if self.price_checks.active:
            nan = float("nan")
            value_of = {t: nan if v is None else v for t, v in prices.values.items()}
            inverse_of = {t: nan if v is None else 1 / v for t, v in prices.values.items()}
            new = good[first_new:]
            failing = self.price_checks.screen(
                price_texts, book_texts, value_of.__getitem__, inverse_of.__getitem__
            )
            for n in sorted(failing):
                row = new[n]
                odds, books, details = self.price_checks.fix(row.odds, row.books)
                good[first_new + n] = row._replace(odds=odds, books=books)
                for detail in details:
                    add_warning(row.line, detail)

    def _book_lines(
        self, candidates: list[_Candidate], first_new: int, lines: _CellCache[float]
    ) -> None:
        """A book's handicap prices at its own line (GBAH) are kept only where that line is
        the fixture's (ah_line, the line the other handicap prices are at); a bad line
        cell is a warning, and its prices are not kept either."""
        good = self.result.rows
        common = {False: _O["ah_line"], True: _O["ah_line_close"]}
        layout = self.cols.books
        cells = [candidate[1] for candidate in candidates]
        lines.learn({c[index] for c in cells for _n, index, _h in self.cols.book_lines})
        for n, index, header in self.cols.book_lines:
            slot = common[layout.groups[n][1]]
            home, away = (layout.slots(n)[i] for i in _BOOK_AH)
            for k, row_cells in enumerate(cells):
                row = good[first_new + k]
                books = row.books
                if (home is None or books[home] is None) and (away is None or books[away] is None):
                    continue
                text = row_cells[index]
                line = lines.values[text]
                if line is not None and line == row.odds[slot]:
                    continue
                if text in lines.bad:
                    self.result.warn(row.line, f"{header}: {text.strip()}: {lines.bad[text]}")
                else:
                    self.other_lines[header] = self.other_lines.get(header, 0) + 1
                kept = list(books)
                for i in (home, away):
                    if i is not None:
                        kept[i] = None
                good[first_new + k] = row._replace(books=tuple(kept))


def _half_time_goals(
    line: int,
    raw_home: str,
    raw_away: str,
    home_goals: int,
    away_goals: int,
    warn: Callable[[int, str, str, str], None],
) -> tuple[int | None, int | None]:
    """The half-time score's cells, each checked; a bad one is a warning and None."""
    result: list[int | None] = []
    for header, raw, full in (("HTHG", raw_home, home_goals), ("HTAG", raw_away, away_goals)):
        if not raw.strip():
            result.append(None)
            continue
        count = parse_count(raw)
        if count is None:
            warn(line, header, raw, "not a number of goals")
            result.append(None)
        elif count > full:
            warn(line, header, raw, f"more half-time goals than full-time ({full})")
            result.append(None)
        else:
            result.append(count)
    return result[0], result[1]
