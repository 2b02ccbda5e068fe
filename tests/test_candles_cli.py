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
SWEEP = ["sweep", "--strategy", "sma_cross", "--symbol", "BTCUSDT", "--timeframe", "1h"]


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
        (
            [*SWEEP, "--grid", '{"fast": [5]}', "--leagues", "E0"],
            "--strategy: a strategy sweep takes no --leagues",
        ),
        (
            [*SWEEP, "--grid", '{"fast": [5], "slow": {"from": 20, "to": 10, "step": 5}}'],
            "grid: parameter 'slow': range from 20 to 10 is empty",
        ),
        ([*SWEEP, "--grid", '{"lower": [5]}'], "grid: parameter 'lower': sma_cross has no such"),
        ([*SWEEP, "--grid", "{}", "--periods", "week"], "argument --periods: invalid choice"),
        (
            ["sweep", "--rules", "{}", "--market", "home", "--grid", "{}", "--symbol", "X"],
            "--symbol: only with --strategy",
        ),
        (
            ["sweep", "--rules", "{}", "--market", "home", "--grid", "{}", "--periods", "month"],
            "--periods: only with --strategy",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    db: list[str], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main([*db, "db", "upgrade"]) == 0  # so no "created a new database" note
    capsys.readouterr()
    if "--periods" in argv and "week" in argv:  # argparse's own usage error
        with pytest.raises(SystemExit) as stopped:
            main([*db, *argv])
        assert stopped.value.code == 2
        assert message in capsys.readouterr().err
        return
    assert main([*db, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_strategy_sweep_and_a_promoted_variant(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*db, "candles", "import", str(JANUARY)]) == 0
    capsys.readouterr()
    grid = '{"fast": {"from": 4, "to": 12, "step": 4}, "slow": [24, 48]}'
    argv = [*db, *SWEEP, "--grid", grid, "--min-bets", "2", "--pbo-blocks", "4"]
    assert main([*argv, "--json", "--fee", "0.001"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trials"] == 6 and report["strategy"] == "sma_cross"
    assert report["fee"] == 0.001 and report["period_kind"] == "month"
    assert [v["params"] for v in report["variants"]][:2] == [
        {"fast": 4, "slow": 24},
        {"fast": 4, "slow": 48},
    ]
    for variant in report["variants"]:
        assert set(METRIC_KEYS) <= set(variant)
        assert {"bets", "profit", "staked", "yield", "p_value", "q_value"} <= set(variant)
    # January alone is one month: no walk-forward, and the report says why.
    assert report["walk_forward"] is None and report["seasons"] == ["2023-01"]
    assert any("at least 3 months" in warning for warning in report["warnings"])
    assert report["pbo"] is not None
    assert main([*db, "promote", str(report["result_id"]), "5", "--json"]) == 0
    promoted = json.loads(capsys.readouterr().out)
    assert promoted["params"] == {"fast": 12, "slow": 48}
    # The same run as in the sweep (its fee of 0.001 too), now stored with its ledger.
    assert promoted["total_return"] == report["variants"][5]["total_return"]
    assert main([*argv, "--periods", "quarter"]) == 0
    text = capsys.readouterr().out
    assert "Sweep of 6 variants of sma_cross on binance-spot BTCUSDT 1h" in text
    assert "filterbets promote" in text
    assert main([*argv, "--job"]) == 0
    job = capsys.readouterr().out.strip()
    assert main([*db, "jobs", "list"]) == 0
    listed = capsys.readouterr().out
    assert job[:8] in listed and "sweep of sma_cross on BTCUSDT 1h" in listed


def test_strategies_lists_each_with_its_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name, strategy in STRATEGIES.items():
        assert name in out
        for param in strategy.params:
            assert f"{param.name}: {param.type_name} = {param.default}" in out
