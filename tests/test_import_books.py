"""Every bookmaker's prices imported from real football-data files into
fixture_book_prices, and backtests at them equal to an independent reading of the CSV
(the csv module, profit counted by hand). Database tests run on both backends."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.backtest.sources import parse_source
from core.data_version import read_data_state
from core.importing.football_data import BOOKSUM_RANGE, parse_file
from core.importing.removal import plan_imports, remove
from core.importing.service import ImportSummary, import_paths
from core.models import (
    BOOK_CODES,
    BOOKS,
    ODDS_SOURCES,
    BacktestResult,
    Fixture,
    FixtureBookPrices,
    League,
    Pick,
)
from core.services import FilterBetsService
from core.upcoming import missing_source_warning, upcoming_odds_sources
from tests.conftest import real_file

EVERY_E0 = {"field": "league", "op": "=", "value": "E0"}
OLD_BOOKS = "football/E0_2004-05.csv"  # shipped: no Pinnacle, Bet365 and six other books
EXCHANGE = "football-recent/E0_2024-25.csv"  # the Betfair exchange, pre-match and closing
NO_BET365 = "football/N1_2000-01.csv"  # neither Bet365 nor Pinnacle
FIXTURES = "upcoming/fixtures_2026-04-24..2026-04-27.nobom.csv"
SEASON = "football-recent/E0_2025-26.csv"
HISTORY = "upcoming/history-2026-04-24/E0_2025-26.csv"


# --- the independent reading ---------------------------------------------------------


def _rows(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig") if raw[:3] == b"\xef\xbb\xbf" else raw.decode("cp1252")
    return [row for row in csv.DictReader(text.splitlines()) if row.get("Div")]


def _price(row: dict[str, str], header: str) -> float | None:
    try:
        price = float(row.get(header) or "")
    except ValueError:
        return None
    return price if 1.0 < price <= 1000.0 else None


def _group_prices(row: dict[str, str], headers: tuple[str, ...]) -> list[float | None]:
    """A book's prices of one market as the README says they are kept: a group whose
    implied probabilities sum outside BOOKSUM_RANGE is a typo, all of it missing."""
    prices = [_price(row, header) for header in headers]
    present = [p for p in prices if p is not None]
    if len(present) == len(prices) and not (
        BOOKSUM_RANGE[0] <= sum(1 / p for p in present) <= BOOKSUM_RANGE[1]
    ):
        return [None] * len(prices)
    return prices


def _date(row: dict[str, str]) -> dt.date:
    return dt.datetime.strptime(row["Date"], "%d/%m/%Y").date()


def _away(row: dict[str, str], prefix: str) -> float | None:
    return _group_prices(row, (f"{prefix}H", f"{prefix}D", f"{prefix}A"))[2]


def _flat_away(
    rows: list[dict[str, str]], price_of: Callable[[dict[str, str]], float | None], keep: float
) -> tuple[int, float]:
    """(bets, profit) staking 1 on every away win priced; `keep` is the share of winnings
    paid (1 less an exchange's commission)."""
    bets, profit = 0, 0.0
    for row in rows:
        price = price_of(row)
        if price is None:
            continue
        bets += 1
        profit += (price - 1) * keep if row["FTR"] == "A" else -1.0
    return bets, profit


async def _run(service: FilterBetsService, source: str, **kw: Any) -> dict[str, Any]:
    run = await BacktestEngine(service.db, service.user_id).run(
        BacktestRequest(market="away", rules=kw.pop("rules", EVERY_E0), odds_source=source, **kw)
    )
    return run.metrics


async def _import(service: FilterBetsService, *paths: Path) -> ImportSummary:
    summary = await import_paths(service.db, list(paths))
    assert summary.file_errors == [], summary.file_errors
    return summary


async def _version(service: FilterBetsService) -> int:
    async with service.db.session() as session:
        return (await read_data_state(session))[0]


async def _book_rows(service: FilterBetsService, league: str = "") -> list[tuple[Any, ...]]:
    b = FixtureBookPrices
    query = select(
        Fixture.kickoff_date,
        b.book,
        b.closing,
        b.home,
        b.draw,
        b.away,
        b.over25,
        b.ah_home,
        b.fixture_id,
    ).join(Fixture, Fixture.id == b.fixture_id)
    if league:
        query = query.join(League, League.id == Fixture.league_id).where(League.code == league)
    async with service.db.session() as session:
        rows = [tuple(r) for r in await session.execute(query)]
    return sorted(rows, key=lambda r: (r[0], r[-1], r[1], r[2]))


# --- parsing -------------------------------------------------------------------------


def test_a_season_before_pinnacle_reads_every_books_columns() -> None:
    path = real_file(OLD_BOOKS)
    parsed = parse_file(path)
    assert [book for book, _closing in parsed.books.groups] == ["bw", "iw", "wh", "lb", "gb", "sb"]
    assert not any(closing for _book, closing in parsed.books.groups)
    rows = _rows(path)
    first = parsed.rows[0]
    values = dict(zip(parsed.books.columns, first.books, strict=True))
    wh = parsed.books.groups.index(("wh", False))
    assert [values[(wh, s)] for s in range(3)] == [
        _price(rows[0], h) for h in ("WHH", "WHD", "WHA")
    ]
    gb = parsed.books.groups.index(("gb", False))
    assert (values[(gb, 3)], values[(gb, 4)]) == (
        _price(rows[0], "GB>2.5"),
        _price(rows[0], "GB<2.5"),
    )


def test_a_books_handicap_prices_at_its_own_line_are_kept_only_at_the_fixtures() -> None:
    """2003-05 files price Gamebookers' and Ladbrokes' handicaps at their own lines (GBAH,
    LBAH); the handicap prices are settled at the fixture's line (B365AH there)."""
    path = real_file(OLD_BOOKS)
    parsed = parse_file(path)
    gb = parsed.books.groups.index(("gb", False))
    home = parsed.books.columns.index((gb, 5))
    for row, raw in zip(parsed.rows, _rows(path), strict=True):
        same = raw["GBAH"].strip() and float(raw["GBAH"]) == float(raw["B365AH"] or "nan")
        expected = _price(raw, "GBAHH") if same else None
        if (
            expected is not None
            and not BOOKSUM_RANGE[0]
            <= (1 / expected + 1 / (_price(raw, "GBAHA") or expected))
            <= BOOKSUM_RANGE[1]
        ):
            expected = None
        assert row.books[home] == expected, row.line
    other = sum(
        1
        for raw in _rows(path)
        if raw["GBAHH"].strip() and raw["GBAH"].strip() != raw["B365AH"].strip()
    )
    notes = [w for w in parsed.warnings if w.kind == "note" and w.detail.startswith("GBAHH/")]
    assert [w.detail.split(":")[1].strip() for w in notes] == [
        f"{other} rows priced at the GBAH line, not the fixture's (B365AH)"
    ]


def test_a_typo_in_a_books_group_is_stored_as_missing_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "E0_2019-20.csv"
    path.write_text(
        "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,WHH,WHD,WHA,LBH,LBD,LBA\n"
        "E0,10/08/2019,Arsenal,Burnley,1,0,2.1,3.4,3.5,21,3.4,3.5\n"
    )
    parsed = parse_file(path)
    [row] = parsed.rows
    assert row.books == (2.1, 3.4, 3.5, None, None, None)
    [warning] = parsed.warnings
    assert warning.detail.startswith("LBH/LBD/LBA: 21/3.4/3.5: the prices imply a bookmaker margin")


# --- backtests at a book's prices ----------------------------------------------------


async def test_a_run_at_one_book_and_at_the_best_of_two_equals_the_csv(
    service: FilterBetsService,
) -> None:
    path = real_file(OLD_BOOKS)
    await _import(service, path)
    rows = _rows(path)
    for source, price_of in (
        ("wh", lambda row: _away(row, "WH")),
        ("lb", lambda row: _away(row, "LB")),
        (
            "best:wh,lb",
            lambda row: max(
                (p for p in (_away(row, "WH"), _away(row, "LB")) if p is not None), default=None
            ),
        ),
    ):
        bets, profit = _flat_away(rows, price_of, 1.0)
        metrics = await _run(service, source)
        assert bets > 300
        assert (metrics["bets"], metrics["profit"]) == (bets, pytest.approx(profit, abs=1e-6)), (
            source
        )
    # The best of two is never below either book.
    assert (await _run(service, "best:wh,lb"))["profit"] >= max(
        (await _run(service, "wh"))["profit"], (await _run(service, "lb"))["profit"]
    )
    # No Pinnacle in 2004-05: nothing to bet at its prices.
    assert (await _run(service, "pinnacle"))["bets"] == 0


@pytest.mark.parametrize(("source", "prefix"), [("bfe", "BFE"), ("bfe_close", "BFEC")])
async def test_an_exchange_run_pays_commission_as_the_csv_says(
    service: FilterBetsService, source: str, prefix: str
) -> None:
    path = real_file(EXCHANGE)
    await _import(service, path)
    rows = _rows(path)
    for commission in ("0.05", "0.02"):
        bets, profit = _flat_away(rows, lambda row: _away(row, prefix), 1 - float(commission))
        metrics = await _run(service, source, commission=commission)
        assert bets > 370
        assert metrics["bets"] == bets
        assert metrics["profit"] == pytest.approx(profit, abs=1e-6)


async def test_a_season_without_bet365_or_pinnacle_backtests_at_its_books(
    service: FilterBetsService,
) -> None:
    path = real_file(NO_BET365)
    await _import(service, path)
    rows = _rows(path)
    every = {"field": "league", "op": "=", "value": "N1"}
    assert (await _run(service, "b365", rules=every))["bets"] == 0
    for source, prefix in (("wh", "WH"), ("iw", "IW"), ("gb", "GB"), ("sb", "SB")):
        bets, profit = _flat_away(rows, lambda row, p=prefix: _away(row, p), 1.0)
        metrics = await _run(service, source, rules=every)
        assert bets > 250
        assert (metrics["bets"], metrics["profit"]) == (bets, pytest.approx(profit, abs=1e-6))
    # A rule on a book's price reads it too.
    priced = {"field": "odds.wh.away", "op": ">=", "value": 3.0}
    bets, profit = _flat_away(
        rows, lambda row: p if (p := _away(row, "WH")) is not None and p >= 3.0 else None, 1.0
    )
    metrics = await _run(service, "wh", rules=priced)
    assert (metrics["bets"], metrics["profit"]) == (bets, pytest.approx(profit, abs=1e-6))


# --- re-import, correction, settling, removal ----------------------------------------


async def test_importing_again_changes_nothing_and_a_corrected_price_is_rewritten(
    service: FilterBetsService, tmp_path: Path
) -> None:
    path = real_file(OLD_BOOKS)
    await _import(service, path)
    stored = await _book_rows(service)
    # Every group of every row with a price: 380 rows x 6 books, less the groups missing.
    assert len(stored) == sum(
        1
        for row in _rows(path)
        for prefix in ("BW", "IW", "WH", "LB", "GB", "SB")
        if any(_price(row, prefix + s) for s in ("H", "D", "A", ">2.5", "<2.5", "AHH", "AHA"))
    )
    version = await _version(service)
    again = await _import(service, path)
    assert (again.fixtures_added, again.fixtures_updated, again.fixtures_unchanged) == (0, 0, 380)
    assert await _book_rows(service) == stored
    assert await _version(service) == version  # nothing changed: frames stay valid

    # A corrected file: one William Hill price changed, Ladbrokes gone from one row.
    lines = path.read_bytes().decode("cp1252").splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("WHA")] = "9"
    cells[header.index("WHH")] = "1.25"
    for name in ("LBH", "LBD", "LBA", "LBAHH", "LBAHA", "LBAH"):
        cells[header.index(name)] = ""
    corrected = tmp_path / path.name
    corrected.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n", "cp1252")
    before = await _run(service, "wh")
    changed = await _import(service, corrected)
    assert (changed.fixtures_updated, changed.fixtures_unchanged) == (1, 379)
    assert await _version(service) > version
    now = await _book_rows(service)
    gone = [r for r in stored if r not in now]
    new = [r for r in now if r not in stored]
    assert sorted(r[1] for r in gone) == ["lb", "wh"]
    assert [(r[1], r[3], r[5]) for r in new] == [("wh", 1.25, 9.0)]
    assert {r[-1] for r in gone} == {new[0][-1]}  # the one fixture
    # The frame reads the new price: the away win at 9 (the result unchanged).
    after = await _run(service, "wh")
    assert after["bets"] == before["bets"]
    old_wha = float(lines[1].split(",")[header.index("WHA")])
    won = cells[header.index("FTR")] == "A"
    assert after["profit"] == pytest.approx(
        before["profit"] + (9 - old_wha if won else 0), abs=1e-6
    )


async def test_a_season_file_fills_the_closing_book_prices_of_upcoming_fixtures(
    service: FilterBetsService,
) -> None:
    await _import(service, real_file(HISTORY))
    await _import(service, real_file(FIXTURES))
    # The fixtures file's E0 matches, with their books' pre-match prices and no closing.
    upcoming = _rows(real_file(FIXTURES))
    e0 = [row for row in upcoming if row["Div"] == "E0"]
    assert e0
    sources = await upcoming_odds_sources(service.db, leagues=["E0"])
    assert sources["bfd"] == sources["lb"] == len(e0)
    assert sources["wh"] == 0
    assert missing_source_warning("wh", sources) is not None
    rows_before = {r for r in await _book_rows(service) if r[0] >= dt.date(2026, 4, 24)}
    assert rows_before
    assert not [r for r in rows_before if r[2]]  # no closing prices yet

    summary = await _import(service, real_file(SEASON))
    assert summary.settled == len(e0)
    season = {(_date(r), r["HomeTeam"]): r for r in _rows(real_file(SEASON))}
    first, last = dt.date(2026, 4, 24), dt.date(2026, 4, 27)
    after = [r for r in await _book_rows(service, "E0") if first <= r[0] <= last]
    # Closing prices are the season file's (where it has them: some of its rows have
    # none from Betfred); pre-match ones stay as first seen.
    in_range = [row for (day, _home), row in season.items() if first <= day <= last]
    assert len(in_range) == len(e0)
    season_closing = {
        (_date(row), _price(row, "BFDCH")) for row in in_range if _price(row, "BFDCH")
    }
    closing = {(r[0], r[3]) for r in after if r[1] == "bfd" and r[2]}
    assert 0 < len(closing) == len(season_closing) < len(e0)
    assert closing == season_closing
    pre_match = {(r[0], r[3]) for r in after if r[1] == "bfd" and not r[2]}
    assert pre_match == {(_date(row), _price(row, "BFDH")) for row in e0}
    # A closing backtest at the book now bets them.
    metrics = await _run(service, "bfd_close", rules=EVERY_E0, date_from=first, date_to=last)
    assert metrics["bets"] == len(season_closing)


async def test_settling_keeps_the_first_pre_match_prices_and_takes_the_closing_ones(
    service: FilterBetsService, tmp_path: Path
) -> None:
    week = tmp_path / "fixtures.csv"
    week.write_text(
        "Div,Date,Time,HomeTeam,AwayTeam,WHH,WHD,WHA,PPH,PPD,PPA,WHCH,WHCD,WHCA\n"
        "E0,25/04/2026,15:00,Chelsea,Everton,2.1,3.4,3.5,2.05,3.3,3.6,,,\n"
    )
    season = tmp_path / "E0_2025-26.csv"
    season.write_text(
        "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,WHH,WHD,WHA,LBH,LBD,LBA,WHCH,WHCD,WHCA\n"
        "E0,25/04/2026,Chelsea,Everton,0,2,2.2,3.3,3.3,2.15,3.3,3.4,2.3,3.3,3.2\n"
    )
    await _import(service, week)
    settled = await _import(service, season)
    assert settled.settled == 1
    stored = {(r[1], r[2]): (r[3], r[4], r[5]) for r in await _book_rows(service)}
    assert stored == {
        ("wh", False): (2.1, 3.4, 3.5),  # as first seen
        ("pp", False): (2.05, 3.3, 3.6),  # only the fixtures file had it: kept
        ("lb", False): (2.15, 3.3, 3.4),  # only the season file has it
        ("wh", True): (2.3, 3.3, 3.2),  # closing: the season file's
    }
    metrics = await _run(service, "wh_close")
    assert (metrics["bets"], metrics["profit"]) == (1, pytest.approx(2.2))


async def test_a_removed_import_takes_its_book_prices_with_it(service: FilterBetsService) -> None:
    first = await _import(service, real_file(OLD_BOOKS))
    await _import(service, real_file(NO_BET365))
    n1_rows = [r for r in await _book_rows(service) if r[0] < dt.date(2004, 7, 1)]
    assert n1_rows
    plan = await plan_imports(service.db, first.import_ids)
    assert await remove(service.db, plan) == 380
    async with service.db.session() as session:
        orphans = (
            await session.execute(
                select(func.count())
                .select_from(FixtureBookPrices)
                .where(~FixtureBookPrices.fixture_id.in_(select(Fixture.id)))
            )
        ).scalar_one()
    assert orphans == 0
    assert await _book_rows(service) == n1_rows
    assert (await _run(service, "wh"))["bets"] == 0


# --- long best-of sources --------------------------------------------------------------


def test_the_longest_best_of_list_fits_the_stored_odds_source() -> None:
    books = [
        b for b in (*ODDS_SOURCES, *BOOK_CODES) if b not in {x.code for x in BOOKS if x.exchange}
    ]
    longest = parse_source("best_close:" + ",".join(books)).name
    assert len(longest) > 20  # the old width
    for column in (BacktestResult.__table__.c.odds_source, Pick.__table__.c.odds_source):
        assert len(longest) <= column.type.length


async def test_a_run_at_the_best_of_many_books_is_stored_and_listed(
    service: FilterBetsService,
) -> None:
    path = real_file(OLD_BOOKS)
    await _import(service, path)
    source = "best:b365,wh,lb,bw,iw,gb,sb"
    rows = _rows(path)
    bets, profit = _flat_away(
        rows,
        lambda row: max(
            (
                p
                for prefix in ("B365", "WH", "LB", "BW", "IW", "GB", "SB")
                if (p := _away(row, prefix)) is not None
            ),
            default=None,
        ),
        1.0,
    )
    run = await BacktestEngine(service.db, service.user_id).run(
        BacktestRequest(market="away", rules=EVERY_E0, odds_source=source)
    )
    assert (run.metrics["bets"], run.metrics["profit"]) == (bets, pytest.approx(profit, abs=1e-6))
    async with service.db.session() as session:
        stored = await session.get(BacktestResult, run.result_id)
    assert stored is not None and stored.odds_source == source


# --- the CLI's coverage list ----------------------------------------------------------


def test_data_coverage_lists_each_seasons_odds_sources_most_games_first(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from core.cli import main

    url = f"sqlite:///{tmp_path / 'cov.db'}"
    files = [str(real_file(OLD_BOOKS)), str(real_file(NO_BET365))]
    assert main(["--database-url", url, "import", "--quiet", *files]) == 0
    capfd.readouterr()
    assert main(["--database-url", url, "data", "coverage", "--league", "N1"]) == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines[0] == "N1 2000-01  306 games"
    assert lines[2] == "  closing   -"
    assert lines[1].startswith("  pre-match ")
    listed = lines[1].removeprefix("  pre-match ").split("  ")
    rows = _rows(real_file(NO_BET365))
    expected = {
        code: sum(1 for row in rows if any(_price(row, prefix + s) for s in "HDA"))
        for code, prefix in (("iw", "IW"), ("wh", "WH"), ("gb", "GB"), ("sb", "SB"))
    }
    assert {item.split()[0] for item in listed} == set(expected)
    shares = [expected[item.split()[0]] / len(rows) for item in listed]
    assert shares == sorted(shares, reverse=True)
    assert max(len(line) for line in lines) <= 80
    # An unknown league is a usage error naming the leagues there are.
    assert main(["--database-url", url, "data", "coverage", "--league", "E9"]) == 2
    assert "no league-season E9 in the database (leagues: E0, N1)" in capfd.readouterr().err


def test_the_cli_backtests_the_exchange_at_a_commission_given(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import json

    from core.cli import main

    url = f"sqlite:///{tmp_path / 'bfe.db'}"
    path = real_file(EXCHANGE)
    assert main(["--database-url", url, "import", "--quiet", str(path)]) == 0
    capfd.readouterr()
    rules = json.dumps(EVERY_E0)
    args = ["--database-url", url, "backtest", "--rules", rules, "--market", "away", "--json"]
    assert main([*args, "--odds", "bfe", "--commission", "0.02"]) == 0
    metrics = json.loads(capfd.readouterr().out)
    bets, profit = _flat_away(_rows(path), lambda row: _away(row, "BFE"), 0.98)
    assert (metrics["bets"], metrics["profit"]) == (bets, pytest.approx(profit, abs=1e-4))
    # A bookmaker pays no commission: a usage error, not a run.
    assert main([*args, "--odds", "wh", "--commission", "0.02"]) == 2
    assert "only an exchange's winnings pay commission" in capfd.readouterr().err
