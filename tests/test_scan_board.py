"""The dashboard's scan of every active filter (core.scan_board) on both backends, with the
real files; and the bet slip and CSV files of core.scan_export."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.errors import ScanError
from core.filters import FilterStore
from core.importing.service import import_paths
from core.scan_board import scan_active_filters
from core.scan_export import (
    PICKS_CSV_HEADER,
    SCAN_CSV_HEADER,
    bet_slip,
    default_scan_export_path,
    picks_rows,
    scan_rows,
    write_csv,
)
from core.scanner import Scanner
from core.services import FilterBetsService
from tests.conftest import shared_data
from tests.test_scanner import DAY, FAVOURITES, FIXTURES, HISTORY, SEASONS

AWAYS = [{"field": "odds.b365.away", "op": "between", "value": [2.5, 4.0]}]
E0 = [{"field": "league", "op": "=", "value": "E0"}]


async def load_upcoming(service: FilterBetsService) -> None:
    """The history published before the 2026-04-24 fixtures, then those fixtures."""
    shared_data("upcoming")
    await import_paths(service.db, sorted(HISTORY.glob("*.csv")))
    await import_paths(service.db, [FIXTURES])


async def save_filters(service: FilterBetsService) -> None:
    """A flat b365 filter, a percent one (needs a bank) and one at Pinnacle's prices, which
    the fixtures files no longer carry."""
    store = FilterStore(service.db, service.user_id)
    await store.create(
        "favourites", FAVOURITES, backtest_settings={"market": "home", "odds_source": "b365"}
    )
    await store.create(
        "Away value",
        AWAYS,
        backtest_settings={
            "market": "away",
            "odds_source": "b365",
            "staking": "percent",
            "stake": "2",
        },
    )
    await store.create("E0 at Pinnacle", E0, backtest_settings={"market": "home"})


@pytest.fixture
async def loaded(service: FilterBetsService) -> FilterBetsService:
    await load_upcoming(service)
    await save_filters(service)
    return service


async def test_filters_that_need_a_bank_are_left_out_with_a_reason(
    loaded: FilterBetsService,
) -> None:
    service = loaded
    board = await scan_active_filters(service.db, service.user_id, date_from=DAY)
    assert sorted(board.filters) == ["E0 at Pinnacle", "favourites"]
    assert board.left_out == ["Away value stakes percent of a bank: give a bank to scan it"]
    assert board.result.picks and {p.filter for p in board.result.picks} == {"favourites"}
    # The missing source is named with the filters it concerns.
    assert len(board.warnings) == 1
    assert board.warnings[0].startswith(
        "E0 at Pinnacle: the filter's odds source pinnacle is missing from the upcoming"
    )
    assert "b365 (186)" in board.warnings[0]
    assert board.loaded.fixtures == 186
    assert (board.loaded.first_date, board.loaded.last_date) == (DAY, dt.date(2026, 4, 27))

    with_bank = await scan_active_filters(
        service.db, service.user_id, date_from=DAY, bank=Decimal("250")
    )
    assert with_bank.left_out == []
    aways = [p for p in with_bank.result.picks if p.filter == "Away value"]
    assert aways and all(p.stake == Decimal("5.00") for p in aways)  # 2% of 250
    # The same picks as the scanner's own scan of the same filters.
    scanner = Scanner(service.db, service.user_id)
    targets = await scanner.saved_targets([], every=True)
    direct = await scanner.scan(targets, date_from=DAY, bank=Decimal("250"))
    assert with_bank.result.picks == direct.picks


async def test_inactive_filters_are_not_scanned_and_recorded_picks_are_known(
    loaded: FilterBetsService,
) -> None:
    service = loaded
    store = FilterStore(service.db, service.user_id)
    away = await store.get("Away value")
    await store.update(away.id, is_active=False)
    board = await scan_active_filters(service.db, service.user_id, date_from=DAY)
    assert board.left_out == [] and board.inactive == 1
    assert not any(board.is_recorded(p) for p in board.result.picks)
    first = board.result.picks[:2]
    await Scanner(service.db, service.user_id).record(first)
    again = await scan_active_filters(service.db, service.user_id, date_from=DAY)
    assert [again.is_recorded(p) for p in again.result.picks] == [
        p in first for p in again.result.picks
    ]


async def test_no_match_in_the_dates_means_no_missing_source_warning(
    loaded: FilterBetsService,
) -> None:
    service = loaded
    later = dt.date(2026, 5, 1)
    board = await scan_active_filters(service.db, service.user_id, date_from=later)
    assert board.result.upcoming == 0 and board.result.picks == []
    assert board.warnings == []  # the dates are the news, not a missing source
    with pytest.raises(ScanError, match="To 2026-04-24 is before From 2026-05-01"):
        await scan_active_filters(service.db, service.user_id, date_from=later, date_to=DAY)


async def test_kelly_filters_are_told_they_need_pinnacle_prices(
    service: FilterBetsService,
) -> None:
    await load_upcoming(service)
    await FilterStore(service.db, service.user_id).create(
        "Kelly aways",
        AWAYS,
        backtest_settings={"market": "away", "odds_source": "b365", "staking": "kelly"},
    )
    board = await scan_active_filters(
        service.db, service.user_id, date_from=DAY, bank=Decimal("1000")
    )
    assert board.result.picks == []  # Kelly sizes from Pinnacle's fair prices: none here
    assert board.warnings == [
        "Kelly aways: Kelly stakes need pinnacle prices, which the upcoming fixtures lack,"
        " so Kelly picks nothing; stake flat or percent instead"
    ]


# Bet slip and files ------------------------------------------------------------------


async def test_bet_slip_and_csv_files_hold_the_picks(
    loaded: FilterBetsService, tmp_path: Path
) -> None:
    service = loaded
    board = await scan_active_filters(
        service.db, service.user_id, date_from=DAY, bank=Decimal("250")
    )
    picks = board.result.picks
    slip = bet_slip(picks).splitlines()
    total = sum((p.stake for p in picks), Decimal(0))
    assert slip[0] == f"FilterBets bet slip: {len(picks)} picks, total stake {total:,}"
    assert slip[2] == "Fri 24 Apr 2026"
    first = picks[0]
    assert slip[3] == (
        f"  {first.kickoff:%H:%M} {first.league:<4} {first.home_team} v {first.away_team}:"
        f" {first.market} @ {first.price:.2f} (b365), stake {first.stake}  [{first.filter}]"
    )
    assert sum(1 for line in slip if line.startswith("  ")) == len(picks)

    folder = tmp_path / "exports"
    folder.mkdir()
    path = default_scan_export_path("scan", DAY, folder)
    assert path == folder / "scan-2026-04-24.csv"
    write_csv(path, SCAN_CSV_HEADER, scan_rows(picks))
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["fixture_id"] for r in rows] == [str(p.fixture_id) for p in picks]
    assert rows[0]["stake"] == str(first.stake) and float(rows[0]["price"]) == first.price
    assert rows[0]["features"].startswith("{") and rows[0]["staking"] in ("flat", "percent")
    # Numbered, never replaced unless asked; nothing left behind by a refusal.
    assert default_scan_export_path("scan", DAY, folder) == folder / "scan-2026-04-24-2.csv"
    with pytest.raises(ScanError, match="not overwriting"):
        write_csv(path, SCAN_CSV_HEADER, [])
    write_csv(path, SCAN_CSV_HEADER, [], overwrite=True)
    assert path.read_text(encoding="utf-8").strip() == ",".join(SCAN_CSV_HEADER)
    assert sorted(p.name for p in folder.iterdir()) == ["scan-2026-04-24.csv"]
    with pytest.raises(ScanError, match="no such folder"):
        write_csv(folder / "missing" / "x.csv", SCAN_CSV_HEADER, [])


async def test_recorded_picks_export_with_their_outcomes(
    loaded: FilterBetsService, tmp_path: Path
) -> None:
    service = loaded
    shared_data("football-recent")
    scanner = Scanner(service.db, service.user_id)
    board = await scan_active_filters(service.db, service.user_id, date_from=DAY)
    await scanner.record(board.result.picks)
    await import_paths(service.db, SEASONS)
    picks, _filters = await scanner.records()
    path = tmp_path / "picks.csv"
    write_csv(path, PICKS_CSV_HEADER, picks_rows(picks))
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(picks)
    by_fixture: dict[str, Any] = {r["fixture_id"]: r for r in rows}
    for pick in picks:
        row = by_fixture[str(pick.fixture_id)]
        assert row["outcome"] == (pick.outcome or "")
        assert row["profit"] == ("" if pick.profit is None else str(pick.profit))
    assert all(r["outcome"] in ("win", "loss") for r in rows)  # E0/E1 picks: all settled
