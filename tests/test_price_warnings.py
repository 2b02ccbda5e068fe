"""Kelly at Pinnacle's own price never bets, and maximum prices are seldom there to be had:
both said in the run's warnings, which the CLI report and the dashboard's metrics panel show."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

import core.cli
from core.backtest.metrics import KELLY_AT_PINNACLE_WARNING, MAX_PRICES_WARNING
from core.cli import main
from core.config import Settings
from core.services import FilterBetsService
from tests.conftest import wipe_all_tables
from tests.jobs_support import AWAY_2_TO_3, seed_small, sync_url


async def _seeded(settings: Settings) -> None:
    service = await FilterBetsService.open(settings, migrate=False)
    try:
        await wipe_all_tables(service)  # PostgreSQL's test database is shared
        await seed_small(service)
    finally:
        await service.close()


def test_kelly_at_pinnacle_and_maximum_prices_say_what_they_mean(
    settings: Settings, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_seeded(settings))
    monkeypatch.setattr(core.cli, "_say", lambda m, stream=None: print(m, file=sys.stderr))
    rules = json.dumps(AWAY_2_TO_3)

    def backtest(*args: str) -> tuple[str, dict[str, object]]:
        base = ["--database-url", sync_url(settings), "backtest", "--market", "away"]
        capfd.readouterr()
        assert main([*base, "--rules", rules, *args]) == 0
        report = capfd.readouterr().out
        assert main([*base, "--rules", rules, "--json", *args]) == 0
        return report, json.loads(capfd.readouterr().out)

    report, metrics = backtest("--staking", "kelly")
    assert metrics["bets"] == 0
    assert metrics["warnings"][0] == KELLY_AT_PINNACLE_WARNING  # type: ignore[index]
    assert f"  ! {KELLY_AT_PINNACLE_WARNING}" in report.splitlines()

    report, metrics = backtest("--odds", "max")
    assert MAX_PRICES_WARNING in metrics["warnings"]  # type: ignore[operator]
    assert f"  ! {MAX_PRICES_WARNING}" in report.splitlines()

    _report, metrics = backtest()  # flat stakes at Pinnacle: neither applies
    assert metrics["bets"] == 3
    assert not {KELLY_AT_PINNACLE_WARNING, MAX_PRICES_WARNING} & set(metrics["warnings"])  # type: ignore[arg-type]
