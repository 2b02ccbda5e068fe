"""Writing a run's ledger (`backtest_bets`): one row per bet, in the run's transaction.

A flat-stake run's ledger goes in one INSERT ... SELECT that unpacks arrays of its bets
(json_each and a blob of digits on SQLite, unnest on PostgreSQL) instead of binding nine
parameters per bet; every value comes from the run itself, nothing from a join, so the
ledger records what was bet even if the fixtures change meanwhile. Bank-based runs (and a
flat run the packing cannot carry) write their rows as multi-row INSERTs on SQLite and
COPY on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from itertools import chain, count, repeat
from operator import itemgetter
from typing import Any, Final, cast

import numpy as np
from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    bindparam,
    case,
    func,
    insert,
    literal,
    null,
    select,
    text,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from core.backtest.flat import FlatSettlement
from core.backtest.settle import OUTCOMES
from core.backtest.staking import BacktestOutcome, gc_paused
from core.db import Memoized
from core.models import BacktestBet

__all__ = ["LEDGER_COLUMNS", "write_flat_ledger", "write_ledger"]

Progress = Callable[[int, int], None]
"""(bets stored, bets in all)"""
LEDGER_COPY_CHUNK: Final = 50_000
# Prices cross SQLite as integers in units of 2**-52: exact for every double in [1, 2048)
# (their spacing there is at least 2**-52, and 2048 * 2**52 is 2**63).
FRACTION_SCALE: Final = 2**52
_SECONDS_PER_DAY: Final = 86_400
_MULTIPLICATIVE: Final = 8  # SQLAlchemy's precedence of * / %: above + and -
_INT64_MAX: Final = 2**63 - 1
_LARGEST_SCALED_PRICE: Final = 2048.0  # 2048 * 2**52 = 2**63
_PRICE_DIGITS: Final = 19
_DAY_DIGITS: Final = 7
_DAY_OFFSET: Final = 1_000_000  # days before 1970 as well, as non-negative digits


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
        _divide(sql_cast(b.units, Numeric), literal(Decimal(10_000), Numeric)),
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
        return sql_cast(func.substr(digits, start, number(length)), Integer)

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


# SQLite's limit on parameters in one statement (999 before 3.32).
_SQLITE_MAX_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def _multirow_insert(table: Table, dialect: Any, rows: int) -> str:
    """INSERT INTO table (LEDGER_COLUMNS) VALUES (?, ...), ... for `rows` rows: only
    placeholders, the values are bound."""
    prefix = str(insert(table).compile(dialect=dialect, column_keys=list(LEDGER_COLUMNS)))
    head, _, one_row = prefix.partition(" VALUES ")
    return f"{head} VALUES {', '.join([one_row] * rows)}"


def _ledger_rows(
    result_id: int, outcome: BacktestOutcome, *, sqlite: bool
) -> list[tuple[Any, ...]]:
    """Ledger rows as driver parameters in LEDGER_COLUMNS order.

    SQLite's driver takes neither Decimal nor (from Python 3.12) date, so money goes as
    float, as SQLAlchemy's own Numeric does there, and dates as ISO text.
    """
    ledger, placed = outcome.ledger, outcome.placed
    if len(ledger) != len(placed):
        raise ValueError("ledger and placed bets differ in length")
    money: Callable[[Decimal], Any] = Memoized(float).__getitem__ if sqlite else _same
    day: Callable[[dt.date], Any] = Memoized(dt.date.isoformat).__getitem__ if sqlite else _same
    banks: Any = (
        map(float if sqlite else _same, map(_BANK_AFTER, ledger))
        if outcome.bank_based
        else repeat(None)
    )
    with gc_paused():
        # C-level map/zip: about 1 µs a row where a comprehension takes 2.
        return list(
            zip(
                repeat(result_id),
                count(1),
                map(_FIXTURE_ID, ledger),
                map(day, map(_KICKOFF_DATE, placed)),
                map(_ODDS, ledger),
                map(money, map(_STAKE, ledger)),
                map(_OUTCOME, ledger),
                map(money, map(_PROFIT, ledger)),
                banks,
            )
        )


_FIXTURE_ID = itemgetter(0)
_KICKOFF_DATE = itemgetter(1)
_ODDS = itemgetter(1)
_STAKE = itemgetter(2)
_OUTCOME = itemgetter(3)
_PROFIT = itemgetter(4)
_BANK_AFTER = itemgetter(5)


def _same(value: Any) -> Any:
    return value


async def write_ledger(
    session: AsyncSession, result_id: int, outcome: BacktestOutcome, progress: Progress
) -> None:
    """A bank-based run's ledger, row by row (multi-row INSERTs or COPY)."""
    connection = await session.connection()
    sqlite = connection.dialect.name == "sqlite"
    rows = _ledger_rows(result_id, outcome, sqlite=sqlite)
    await _write_rows(session, rows, progress)


async def write_flat_ledger(
    session: AsyncSession, result_id: int, settled: FlatSettlement, progress: Progress
) -> None:
    """A flat-stake run's ledger: one INSERT ... SELECT, or rows when the packing cannot
    carry the run's values (on SQLite, a price of 2048 or more)."""
    connection = await session.connection()
    dialect = connection.dialect.name
    statement = flat_ledger_insert(dialect, result_id, settled)
    if statement is not None:
        await session.execute(statement)
        progress(settled.bets, settled.bets)
        return
    await _write_rows(session, _flat_rows(result_id, settled, sqlite=dialect == "sqlite"), progress)


def _flat_rows(result_id: int, settled: FlatSettlement, *, sqlite: bool) -> list[tuple[Any, ...]]:
    money: Callable[[Decimal], Any] = float if sqlite else _same
    profit = [money(p) for p in settled.pair_profit]
    outcome = [OUTCOMES[code] for code in settled.pair_outcome.tolist()]
    days = [dt.date(1970, 1, 1) + dt.timedelta(days=d) for d in np.unique(settled.day).tolist()]
    day_of = {
        d: (day.isoformat() if sqlite else day)
        for d, day in zip(np.unique(settled.day).tolist(), days, strict=True)
    }
    stake = money(settled.plan.stake)
    return [
        (result_id, seq, fixture_id, day_of[day], price, stake, outcome[pair], profit[pair], None)
        for seq, fixture_id, day, price, pair in zip(
            count(1),
            settled.fixture_id.tolist(),
            settled.day.tolist(),
            settled.price.tolist(),
            settled.pair.tolist(),
            strict=False,
        )
    ]


async def _write_rows(
    session: AsyncSession, rows: list[tuple[Any, ...]], progress: Progress
) -> None:
    connection = await session.connection()
    total = len(rows)
    if connection.dialect.name == "sqlite":
        # Multi-row INSERTs of as many rows as SQLite takes parameters: a fifth less CPU
        # than executemany, which steps the statement once per row.
        per_statement = _SQLITE_MAX_PARAMETERS // len(LEDGER_COLUMNS)
        table = cast(Table, BacktestBet.__table__)
        statements: dict[int, str] = {}
        for start in range(0, total, per_statement):
            chunk = rows[start : start + per_statement]
            statement = statements.get(len(chunk))
            if statement is None:
                statement = statements[len(chunk)] = _multirow_insert(
                    table, connection.dialect, len(chunk)
                )
            await connection.exec_driver_sql(statement, tuple(chain.from_iterable(chunk)))
            progress(start + len(chunk), total)
        return
    if (await connection.execute(text("SELECT row_security_active('backtest_bets')"))).scalar():
        # A role from `filterbets db grant`: COPY refuses a table under row-level security,
        # so INSERTs of many rows, each checked against its policy.
        table = cast(Table, BacktestBet.__table__)
        for start in range(0, total, LEDGER_COPY_CHUNK):
            chunk = rows[start : start + LEDGER_COPY_CHUNK]
            await connection.execute(
                insert(table), [dict(zip(LEDGER_COLUMNS, row, strict=True)) for row in chunk]
            )
            progress(start + len(chunk), total)
        return
    # COPY is several times faster than INSERT on PostgreSQL, and runs inside this
    # session's transaction on the same connection.
    driver: Any = (await connection.get_raw_connection()).driver_connection
    for start in range(0, total, LEDGER_COPY_CHUNK):
        await driver.copy_records_to_table(
            BacktestBet.__tablename__,
            records=rows[start : start + LEDGER_COPY_CHUNK],
            columns=LEDGER_COLUMNS,
        )
        progress(min(start + LEDGER_COPY_CHUNK, total), total)
