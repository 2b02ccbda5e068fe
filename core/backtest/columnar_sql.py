"""Reading a flat-stake run's candidates as columns, and writing its ledger in one statement.

SQLite hands each column over as one comma-separated text (group_concat), PostgreSQL as one
array (array_agg): a million-fixture run then builds a few dozen Python objects where a row
fetch built one tuple and a dozen values per fixture. Prices must arrive exactly, since
profit is computed from them: PostgreSQL's arrays are binary; SQLite prints a float with
only 15 digits (and slowly), so there every value travels as an integer, floats as
value * 2**52.

The ledger goes back the same way: one INSERT ... SELECT unpacks arrays of the bets
(json_each and a blob of digits on SQLite, unnest on PostgreSQL) instead of binding nine
parameters per bet.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    Select,
    String,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from core.backtest.columnar import FRACTION_SCALE, FlatColumns, FlatSettlement
from core.backtest.request import BacktestRequest
from core.backtest.settle import AH_MARKETS, OUTCOMES
from core.models import BacktestBet
from core.rules.catalogue import FIELDS, FixtureTables

__all__ = ["flat_columns_query", "flat_ledger_insert", "market_columns", "parse_flat_columns"]

SEASON_SEPARATOR = "\x1f"  # ASCII unit separator: never part of a season label we import
# SQLite's unixepoch() of a bare time reads it as a time on 2000-01-01.
_SQLITE_TIME_EPOCH = 946_684_800
_SECONDS_PER_DAY = 86_400
# What a missing AH line travels as (lines travel as quarter goals): no real line's.
_NO_LINE = -(2**62)
_NO_BYTES = literal(b"", LargeBinary)
_GOALS_BASE = 1024
_TEAM_BASE = 2**31
_MULTIPLICATIVE = 8  # SQLAlchemy's precedence of * / %: above + and -
_INT64_MAX = 2**63 - 1
_LARGEST_SCALED_PRICE = 2048.0  # 2048 * 2**52 = 2**63
_PRICE_DIGITS = 19
_DAY_DIGITS = 7
_DAY_OFFSET = 1_000_000  # days before 1970 as well, as non-negative digits


@dataclass(frozen=True)
class SeasonIndex:
    """Every season label in one text, each found first at its own place, so SQLite's
    instr() of a fixture's season in it numbers the seasons without building a string per
    fixture (which takes a lock in SQLite's allocator, and the parallel parts would queue
    on it)."""

    text: str
    labels: list[str]
    label_at: dict[int, int]
    """instr()'s 1-based position -> index into labels."""

    @staticmethod
    def of(labels: Sequence[str]) -> SeasonIndex | None:
        """None when some label cannot be placed so (empty, or holding the separator)."""
        # Shortest first: a label found earlier than its own place would have to sit inside
        # a shorter one, or across a separator.
        ordered = sorted(set(labels), key=lambda label: (len(label), label))
        if any(not label or SEASON_SEPARATOR in label for label in ordered):
            return None
        text = SEASON_SEPARATOR.join(ordered)
        positions = [text.find(label) + 1 for label in ordered]
        if len(set(positions)) != len(positions):
            return None
        return SeasonIndex(text, ordered, {p: i for i, p in enumerate(positions)})

    def codes(self, positions: Any) -> Any:
        """Label indexes of instr() positions; None if one is not a label's (a season
        that appeared after the labels were read)."""
        lookup = np.full(max(self.label_at, default=0) + 2, -1, dtype=np.int64)
        for position, index in self.label_at.items():
            lookup[position] = index
        positions = np.minimum(positions, len(lookup) - 1)
        codes = lookup[positions]
        return None if (codes < 0).any() else codes


def market_columns(
    request: BacktestRequest, tables: FixtureTables
) -> tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]:
    """(price, AH line, Pinnacle fair probability now, Pinnacle closing fair odds) of the
    request's market and source."""
    market = request.market
    timing = request.price_timing
    price = FIELDS[f"odds.{request.odds_source}.{market}"].sql(tables)
    line: ColumnElement[Any]
    if market in AH_MARKETS:
        line = FIELDS["ah_line_close" if timing else "ah_line"].sql(tables)
    else:
        line = literal(None)
    fair_now = FIELDS[f"fair.pinnacle{timing}.{market}"].sql(tables)
    fair_close = FIELDS[f"fair.pinnacle_close.{market}"].sql(tables)
    if market in AH_MARKETS:
        # Closing prices on a moved line price a different bet: no CLV for those.
        same_line = FIELDS["ah_line_close"].sql(tables) == line
        fair_close = case((same_line, fair_close), else_=None)
    closing_fair_odds = case((fair_close > 0, 1.0 / fair_close), else_=None)
    return price, line, fair_now, closing_fair_odds


def flat_columns_query(
    request: BacktestRequest,
    tables: FixtureTables,
    source: Any,
    where: ColumnElement[bool],
    dialect_name: str,
    seasons: SeasonIndex | None = None,
) -> Select[Any]:
    """One row: every column `parse_flat_columns` reads, aggregated over the candidates."""
    f = tables.fixtures.c
    price, line, _, closing = market_columns(request, tables)
    ah = request.market in AH_MARKETS
    if dialect_name == "sqlite":
        # Few aggregates, each of integers: group_concat's cost is per value it prints, and
        # SQLite prints a float slowly and with only 15 digits. So small integers are packed
        # into one, and floats travel as value * 2**52, exact for every value in [1, 2048)
        # (below 1 a price or closing price is unusable anyway, and truncating keeps it so).
        def joined(value: ColumnElement[Any]) -> ColumnElement[Any]:
            return func.group_concat(value)

        def scaled(value: ColumnElement[Any]) -> ColumnElement[Any]:
            return joined(func.coalesce(cast(value * float(FRACTION_SCALE), Integer), -1))

        kickoff = func.unixepoch(f.kickoff_date) + func.coalesce(
            func.unixepoch(f.kickoff_time) - _SQLITE_TIME_EPOCH, 0
        )
        columns = [
            joined(f.id),
            joined(kickoff),
            joined((f.league_id * _GOALS_BASE + f.home_goals) * _GOALS_BASE + f.away_goals),
            joined(f.home_team_id * _TEAM_BASE + f.away_team_id),
            scaled(price),
            *([joined(func.coalesce(cast(line * 4, Integer), _NO_LINE))] if ah else []),
            scaled(closing),
            (
                joined(func.instr(literal(seasons.text), f.season))
                if seasons is not None
                else func.group_concat(f.season, literal(SEASON_SEPARATOR))
            ),
            *_packing_checks(f, dialect_name),
        ]
        if ah:
            # A line off the quarter grid sends the run to the row path, which refuses it.
            quarters = line * 4
            columns.append(func.sum(case((quarters != cast(quarters, Integer), 1), else_=0)))
    else:
        # Each column as one bytea of big-endian binary values (int8send, float8send):
        # numpy reads it as it is, where arrays made a Python object per value.
        def epoch(value: ColumnElement[Any]) -> ColumnElement[Any]:
            return cast(func.floor(func.extract("epoch", value)), BigInteger)

        def ints(value: ColumnElement[Any]) -> ColumnElement[Any]:
            return func.string_agg(func.int8send(cast(value, BigInteger)), _NO_BYTES)

        def floats(value: ColumnElement[Any]) -> ColumnElement[Any]:
            exact = func.coalesce(cast(value, Float), literal_column("'NaN'::float8"))
            return func.string_agg(func.float8send(exact), _NO_BYTES)

        big = [cast(column, BigInteger) for column in (f.league_id, f.home_team_id)]
        columns = [
            ints(f.id),
            ints(epoch(f.kickoff_date) + func.coalesce(epoch(f.kickoff_time), 0)),
            ints((big[0] * _GOALS_BASE + f.home_goals) * _GOALS_BASE + f.away_goals),
            ints(big[1] * _TEAM_BASE + f.away_team_id),
            floats(price),
            *([floats(line)] if ah else []),
            floats(closing),
            func.array_agg(f.season),
            *_packing_checks(f, dialect_name),
        ]
    return select(func.count(), *columns).select_from(source).where(where)


def _packing_checks(f: Any, dialect_name: str) -> list[ColumnElement[Any]]:
    """What the packing of goals and teams assumes, checked: goals in [0, 1024), team ids
    in [1, 2**31)."""
    # SQLite's scalar min() and max() take several arguments; PostgreSQL's are least()
    # and greatest().
    least = func.min if dialect_name == "sqlite" else func.least
    greatest = func.max if dialect_name == "sqlite" else func.greatest
    return [
        func.min(least(f.home_goals, f.away_goals)),
        func.max(greatest(f.home_goals, f.away_goals)),
        func.min(least(f.home_team_id, f.away_team_id)),
        func.max(greatest(f.home_team_id, f.away_team_id)),
    ]


def parse_flat_columns(
    row: Sequence[Any], dialect_name: str, ah: bool, seasons: SeasonIndex | None = None
) -> FlatColumns | None:
    """The columns of `flat_columns_query`'s row; None when this data cannot take the
    columnar path (on SQLite: a price of 2048 or more, goals or team ids past what the
    packing holds, a line off the quarter grid, a season label holding the separator), so
    the caller takes the row path."""
    count, *values = row
    if not count:
        return _empty(ah)
    if dialect_name == "sqlite":
        return _parse_sqlite(count, values, ah, seasons)
    return _parse_postgres(count, values, ah)


def _parse_postgres(count: int, values: list[Any], ah: bool) -> FlatColumns | None:
    arrays = values[: 7 if ah else 6]
    labels = values[len(arrays)]
    if not _packing_holds(*values[len(arrays) + 1 :]):
        return None

    def ints(data: bytes) -> Any:
        return np.frombuffer(data, dtype=">i8").astype(np.int64)

    def floats(data: bytes) -> Any:
        return np.frombuffer(data, dtype=">f8").astype(np.float64)  # NULL came as NaN

    fixture_id, kickoff, league_goals, teams = (ints(data) for data in arrays[:4])
    price, *rest = (floats(data) for data in arrays[4:])
    line = rest.pop(0) if ah else None
    closing = rest.pop(0)
    season, season_labels = _numbered(labels)
    return _unpacked(
        count,
        fixture_id,
        kickoff,
        league_goals,
        teams,
        price,
        line,
        closing,
        season,
        season_labels,
    )


def _numbered(labels: Sequence[str]) -> tuple[Any, list[str]]:
    """Each label's index among the distinct labels, in order of first sight."""
    numbering: dict[str, int] = {}
    codes = np.fromiter(
        (numbering.setdefault(label, len(numbering)) for label in labels),
        dtype=np.int64,
        count=len(labels),
    )
    return codes, list(numbering)


def _packing_holds(
    lowest_goals: int, highest_goals: int, lowest_team: int, highest_team: int
) -> bool:
    return (
        lowest_goals >= 0
        and highest_goals < _GOALS_BASE
        and lowest_team >= 1
        and highest_team < _TEAM_BASE
    )


def _unpacked(
    count: int,
    fixture_id: Any,
    kickoff: Any,
    league_goals: Any,
    teams: Any,
    price: Any,
    line: Any,
    closing: Any,
    season: Any,
    labels: list[str],
) -> FlatColumns | None:
    return _columns(
        count,
        fixture_id,
        kickoff,
        league_goals // (_GOALS_BASE * _GOALS_BASE),
        teams // _TEAM_BASE,
        teams % _TEAM_BASE,
        league_goals // _GOALS_BASE % _GOALS_BASE,
        league_goals % _GOALS_BASE,
        price,
        line,
        closing,
        season,
        labels,
    )


def _parse_sqlite(
    count: int, values: list[Any], ah: bool, seasons: SeasonIndex | None
) -> FlatColumns | None:
    texts = values[: 7 if ah else 6]
    checks = values[len(texts) + 1 :]
    if not _packing_holds(*checks[:4]) or any(checks[4:]):  # then: lines off the quarter grid
        return None

    def ints(text: str) -> Any:
        return np.fromstring(text, dtype=np.int64, sep=",")

    fixture_id, kickoff, league_goals, teams, price, *rest = map(ints, texts)
    line = rest.pop(0) if ah else None
    closing = rest.pop(0)
    if (price == _INT64_MAX).any() or (closing == _INT64_MAX).any():
        return None  # a price of 2048 or more: the cast saturated
    season_text = values[len(texts)]
    if seasons is not None:
        season = seasons.codes(ints(season_text))
        if season is None:
            return None
        labels = seasons.labels
    else:
        season, labels = _numbered(season_text.split(SEASON_SEPARATOR))
    scale = float(FRACTION_SCALE)
    return _unpacked(
        count,
        fixture_id,
        kickoff,
        league_goals,
        teams,
        price / scale,  # -1 (no price) becomes a tiny negative: unusable, as NULL is
        None if line is None else np.where(line == _NO_LINE, np.nan, line / 4.0),
        closing / scale,
        season,
        labels,
    )


def _columns(
    count: int,
    fixture_id: Any,
    kickoff: Any,
    league: Any,
    home_team: Any,
    away_team: Any,
    home_goals: Any,
    away_goals: Any,
    price: Any,
    line: Any,
    closing: Any,
    season: Any,
    season_labels: list[str],
) -> FlatColumns | None:
    arrays = [fixture_id, kickoff, league, home_team, away_team, home_goals]
    arrays += [away_goals, price, closing, season] + ([line] if line is not None else [])
    if any(len(array) != count for array in arrays):
        return None  # a season label held the separator
    return FlatColumns(
        fixture_id=fixture_id,
        day=kickoff // _SECONDS_PER_DAY,
        seconds=kickoff % _SECONDS_PER_DAY,
        league_id=league,
        home_team_id=home_team,
        away_team_id=away_team,
        home_goals=home_goals,
        away_goals=away_goals,
        price=price,
        ah_line=line,
        closing_fair_odds=np.nan_to_num(closing, nan=0.0),
        season=season,
        season_labels=season_labels,
    )


def _empty(ah: bool) -> FlatColumns:
    ints = np.zeros(0, dtype=np.int64)
    floats = np.zeros(0, dtype=np.float64)
    return FlatColumns(
        ints,
        ints,
        ints,
        ints,
        ints,
        ints,
        ints,
        ints,
        floats,
        floats if ah else None,
        floats,
        ints,
        [],
    )


LEDGER_COLUMNS = (
    "result_id",
    "seq",
    "fixture_id",
    "kickoff_date",
    "odds",
    "stake",
    "outcome",
    "profit",
    "bank_after",
)


def flat_ledger_insert(dialect_name: str, result_id: int, settled: FlatSettlement) -> Insert | None:
    """INSERT ... SELECT of the whole ledger from arrays of its bets; None when a value
    would not fit the SQLite encoding (the caller takes the row path).

    Every value comes from the run itself, nothing from a join: the fixtures may change
    between the read and this write, and the ledger must record what was bet.
    """
    if dialect_name == "sqlite":
        return _sqlite_ledger_insert(result_id, settled)
    return _postgres_ledger_insert(result_id, settled)


def _outcome_names(code: Any) -> Any:
    return case({i: literal(name, String) for i, name in enumerate(OUTCOMES)}, value=code)


def _postgres_ledger_insert(result_id: int, settled: FlatSettlement) -> Insert:
    """Each bet as one integer, (fixture id * days + day) * pairs + pair, unpacked by hash
    joins to the run's distinct days and (price, outcome, profit) pairs: every array
    parameter costs about 0.2 s per 684k values to send and unpack, so one beats five."""
    days, day_index = np.unique(settled.day, return_inverse=True)
    pairs = len(settled.pair_units)
    span = len(days) * pairs
    if settled.bets and (int(settled.fixture_id.max()) + 1) * span > _INT64_MAX:
        return _postgres_ledger_insert_unpacked(result_id, settled)

    def array(values: Any, item: Any) -> Any:
        return bindparam(None, values, type_=ARRAY(item))

    packed = (settled.fixture_id * len(days) + day_index) * pairs + settled.pair
    bets = (
        func.unnest(array(packed.tolist(), BigInteger))
        .table_valued("value", with_ordinality="seq")
        .render_derived()
    )
    outcomes = [OUTCOMES[code] for code in settled.pair_outcome.tolist()]
    pair_table = (
        func.unnest(
            array(settled.pair_price.tolist(), Float),
            array(outcomes, String),
            array(list(settled.pair_profit), Numeric),
        )
        .table_valued("odds", "outcome", "profit", with_ordinality="number")
        .render_derived()
    )
    dates = [dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in days.tolist()]
    day_table = (
        func.unnest(array(dates, Date))
        .table_valued("kickoff_date", with_ordinality="number")
        .render_derived()
    )
    b, p, d = bets.c, pair_table.c, day_table.c

    def number(x: int) -> Any:
        return literal(x, BigInteger)

    pair_number = _modulo(b.value, number(pairs)) + number(1)
    day_number = _modulo(_divide(b.value, number(pairs)), number(len(days))) + number(1)
    rows = select(
        literal(result_id, Integer),
        b.seq,
        _divide(b.value, number(span)),
        d.kickoff_date,
        p.odds,
        literal(settled.plan.stake, Numeric),
        p.outcome,
        p.profit,
        null(),
    ).select_from(
        bets.join(pair_table, p.number == pair_number).join(day_table, d.number == day_number)
    )
    return insert(BacktestBet).from_select(list(LEDGER_COLUMNS), rows)


def _postgres_ledger_insert_unpacked(result_id: int, settled: FlatSettlement) -> Insert:
    def array(values: Any, item: Any) -> Any:
        return bindparam(None, values.tolist(), type_=ARRAY(item))

    bets = func.unnest(
        array(settled.fixture_id, BigInteger),
        array(settled.outcome, Integer),
        array(settled.units, BigInteger),
        array(settled.day, Integer),
        array(settled.price, Float),
    ).table_valued("fixture_id", "code", "units", "day", "odds", with_ordinality="seq")
    b = bets.render_derived().c
    rows = select(
        literal(result_id, Integer),
        b.seq,
        b.fixture_id,
        literal(dt.date(1970, 1, 1), Date) + b.day,
        b.odds,
        literal(settled.plan.stake, Numeric),
        _outcome_names(b.code),
        _divide(cast(b.units, Numeric), literal(Decimal(10_000), Numeric)),
        null(),
    )
    return insert(BacktestBet).from_select(list(LEDGER_COLUMNS), rows)


def _sqlite_ledger_insert(result_id: int, settled: FlatSettlement) -> Insert | None:
    """Rows come from json_each over one integer per bet, (fixture id * 5 + outcome) *
    span + profit units - lowest; price and date from fixed-width decimal digits in a
    blob, read by offset (substr on a blob is a byte offset, not a walk). The price travels
    as price * 2**52, an exact integer for prices under 2048."""
    n = settled.bets
    units = settled.units
    lowest = int(units.min()) if n else 0
    span = int(units.max()) - lowest + 1 if n else 1
    top_fixture = int(settled.fixture_id.max()) if n else 0
    if (top_fixture * 5 + 4) * span + span - 1 > _INT64_MAX or (n and settled.fixture_id.min() < 0):
        return None
    if n and (settled.price.max() >= _LARGEST_SCALED_PRICE or settled.day.min() < -_DAY_OFFSET):
        return None
    encoded = (settled.fixture_id * 5 + settled.outcome) * span + (units - lowest)
    scaled_price = (settled.price * float(FRACTION_SCALE)).astype(np.int64)
    day = settled.day + _DAY_OFFSET
    blob = np.concatenate(
        [_digits(scaled_price, _PRICE_DIGITS), _digits(day, _DAY_DIGITS)], axis=1
    ).tobytes()
    width = _PRICE_DIGITS + _DAY_DIGITS

    def number(x: int) -> Any:
        return literal(x, BigInteger)

    bets = func.json_each(bindparam(None, json.dumps(encoded.tolist()), type_=String))
    j = bets.table_valued("key", "value").c
    digits = bindparam(None, blob, type_=LargeBinary)

    def field(offset: int, length: int) -> Any:
        start = j.key * number(width) + number(offset + 1)
        return cast(func.substr(digits, start, number(length)), Integer)

    price = _divide(field(0, _PRICE_DIGITS), literal(float(FRACTION_SCALE), Float))
    day_number = field(_PRICE_DIGITS, _DAY_DIGITS) - number(_DAY_OFFSET)
    kickoff = func.date(day_number * number(_SECONDS_PER_DAY), literal("unixepoch"))
    rows = select(
        literal(result_id, Integer),
        j.key + number(1),
        _divide(j.value, number(span * 5)),
        kickoff,
        price,
        literal(float(settled.plan.stake), Float),
        _outcome_names(_modulo(_divide(j.value, number(span)), number(5))),
        _divide(_modulo(j.value, number(span)) + number(lowest), literal(10_000.0, Float)),
        null(),
    )
    return insert(BacktestBet).from_select(list(LEDGER_COLUMNS), rows)


def _divide(numerator: Any, denominator: Any) -> Any:
    # Integer division on integers in both databases; `op` would not parenthesize a sum
    # on its left without the precedence.
    return numerator.op("/", precedence=_MULTIPLICATIVE)(denominator)


def _modulo(numerator: Any, denominator: Any) -> Any:
    return numerator.op("%", precedence=_MULTIPLICATIVE)(denominator)


def _digits(values: Any, width: int) -> Any:
    """Each non-negative value as `width` ASCII digits, one row per value (four digits per
    step, through a table of 0000-9999: division is the slow part)."""
    out = np.empty((len(values), width), dtype=np.uint8)
    rest = values.astype(np.int64, copy=True)
    end = width
    while end > 0:
        start = max(end - 4, 0)
        chunk = rest % 10_000
        out[:, start:end] = _FOUR_DIGITS[chunk][:, 4 - (end - start) :]
        rest //= 10_000
        end = start
    return out


_FOUR_DIGITS = np.frombuffer(
    "".join(f"{i:04d}" for i in range(10_000)).encode(), dtype=np.uint8
).reshape(10_000, 4)
