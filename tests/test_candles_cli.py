"""`filterbets candles`, `strategies`, `strategy run` and `jobs submit --strategy`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.candles.metrics import METRIC_KEYS
from core.candles.strategies import STRATEGIES
from core.cli import main
from tests.conftest import SHARED_DATA, shared_data


@pytest.fixture(autouse=True)
def _needs_shared_data() -> None:
    """Every test here reads the shared data folder: skipped without it (a failure under
    FILTERBETS_REQUIRE_CORPUS=1, as in CI; see tests/conftest.py)."""
    shared_data("klines")


JANUARY = SHARED_DATA / "klines/binance/BTCUSDT-1h-2023-01.spot-header.csv"


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    return ["--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]


def test_import_list_and_run(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*db, "candles", "import", str(JANUARY)]) == 0
    out = capsys.readouterr().out
    assert f"{JANUARY.name}: binance-spot BTCUSDT 1h (binance-12): 744 added, 0 unchanged" in out
    assert main([*db, "candles", "list", "--json"]) == 0
    [series] = json.loads(capsys.readouterr().out)
    assert series["bars"] == 744 and series["first"] == "2023-01-01T00:00:00+00:00"
    argv = [*db, "strategy", "run", "--symbol", "BTCUSDT", "--timeframe", "1h"]
    assert main([*argv, "--strategy", "ema_cross", "--params", '{"fast": 5}', "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(METRIC_KEYS) <= set(result)
    assert result["params"] == {"fast": 5, "slow": 26} and isinstance(result["result_id"], int)
    assert main([*argv, "--strategy", "bollinger", "--long-short", "--slippage-bps", "2"]) == 0
    assert "bollinger(20,2.0) on BTCUSDT 1h" in capsys.readouterr().out


def test_a_damaged_file_exits_1_with_its_line(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = SHARED_DATA / "klines-defects/BTCUSDT-1h-2019-01..2022-02.descending-zero-volume.csv"
    assert main([*db, "candles", "import", str(damaged)]) == 1
    err = capsys.readouterr().err
    assert f"error: {damaged.name}:line 3: rows are newest first" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["candles", "import", str(JANUARY), "--timeframe", "7m"], "timeframe: '7m' is not one of"),
        (
            ["strategy", "run", "--symbol", "X", "--timeframe", "1h", "--strategy", "sma_crosss"],
            "did you mean 'sma_cross'",
        ),
        (
            [
                "strategy",
                "run",
                "--symbol",
                "X",
                "--timeframe",
                "1h",
                "--strategy",
                "rsi",
                "--params",
                '{"period": 2.5}',
            ],
            "params.period: 2.5 is not a whole number",
        ),
        (
            [
                "strategy",
                "run",
                "--symbol",
                "X",
                "--timeframe",
                "1h",
                "--strategy",
                "rsi",
                "--stop-loss",
                "0",
            ],
            "stop-loss: 0 must be more than 0",
        ),
        (
            [
                "jobs",
                "submit",
                "--strategy",
                "rsi",
                "--symbol",
                "X",
                "--timeframe",
                "1h",
                "--market",
                "home",
            ],
            "a strategy run takes no --market",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    db: list[str], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main([*db, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_strategies_lists_each_with_its_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name, strategy in STRATEGIES.items():
        assert name in out
        for param in strategy.params:
            assert f"{param.name}: {param.type_name} = {param.default}" in out
