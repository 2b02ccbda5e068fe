"""Candle strategy benchmarks, printed as JSON.

    uv run python bench/candles.py                 # import, one run, a 1,000-variant sweep,
                                                   # and backtesting.py on the same data
    uv run python bench/candles.py --vectorbt PY   # also vectorbt, run by the python PY of a
                                                   # throwaway venv that has it installed

* import: the 74k-row Bybit BTCUSDT 15m file into a fresh SQLite database, end to end;
* sma_cross: one warm in-memory run over those 74k bars (signals, fills, metrics);
* sweep: sma_cross, fast 5..54 x slow 20..210 step 10 (1,000 variants) over the same bars,
  with its luck report, in process; and end to end through `filterbets sweep --strategy`
  (a fresh process reading the candles from SQLite and storing the result);
* backtesting.py: the same run (FractionalBacktest, trading whole satoshis) fed the same
  signals, so only the execution differs, and once more with its own crossover() and pandas
  SMAs as a user would write it; trades and final equity are compared with ours. Its
  finalize_trades closes a trade still open at the end at the last bar's open, ours at the
  last bar's close (as the issue defines): that trade is the whole difference.
* vectorbt (optional, its own venv): from_signals with the signals shifted one bar and
  filled at the open. It values a position still open at the end at the last close without
  an exit fee; less that fee, its final equity is ours.

Our sizing is units = size x cash / price with the fee paid on top; backtesting.py buys as
many units as cash covers with the fee included. The comparison runs ours with
size = 1 / (1 + fee), which buys the same units.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.backtest.luck_report import luck_summary  # noqa: E402
from core.candles.execution import ExecutionOptions, PriceSeries  # noqa: E402
from core.candles.importing import import_candle_files  # noqa: E402
from core.candles.parse import read_candle_file  # noqa: E402
from core.candles.request import StrategyRequest  # noqa: E402
from core.candles.run import run_strategy  # noqa: E402
from core.candles.store import CandleStore  # noqa: E402
from core.candles.strategies import STRATEGIES  # noqa: E402
from core.candles.sweep import StrategySweepRequest, sweep_strategy  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.migrate import upgrade  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "klines" / "bybit" / "BTCUSDT-15m-2023-11..2026-01.csv"
FEE = 0.00055
CASH = 10_000.0
GRID = {"fast": {"from": 5, "to": 54, "step": 1}, "slow": {"from": 20, "to": 210, "step": 10}}


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


async def bench_import(repeat: int) -> dict[str, Any]:
    samples = []
    with tempfile.TemporaryDirectory() as folder:
        for n in range(repeat):
            settings = load_settings(f"sqlite+aiosqlite:///{folder}/import{n}.db", "bench")
            await upgrade(settings)
            store = await CandleStore.open(settings)
            started = time.perf_counter()
            summary = await import_candle_files(store, [DATA])
            samples.append(time.perf_counter() - started)
            await store.close()
            assert summary.outcomes[0].added == 73_777, summary.outcomes[0]
    return {"rows": 73_777, "median_ms": _median_ms(samples), "runs": repeat}


def bench_run(prices: PriceSeries, repeat: int) -> dict[str, Any]:
    strategy = STRATEGIES["sma_cross"]
    params = strategy.defaults()
    run_strategy(prices, strategy, params, ExecutionOptions(), 15)  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        outcome = run_strategy(prices, strategy, params, ExecutionOptions(), 15)
        samples.append(time.perf_counter() - started)
    return {
        "bars": len(prices),
        "trades": outcome.metrics["trades"],
        "median_ms": _median_ms(samples),
    }


def bench_sweep(prices: PriceSeries, open_ms: np.ndarray, repeat: int) -> dict[str, Any]:
    """In process: every variant measured, then the luck report (q-values, walk-forward by
    month, PBO over 10 blocks of exit days)."""
    request = StrategySweepRequest(StrategyRequest("BTCUSDT", "15m", "sma_cross"), GRID)
    request = request.validated()
    samples, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        sweep = sweep_strategy(prices, open_ms, 15, request)
        report = luck_summary(sweep.luck_inputs(10), min_bets=50, walk_forward=True, pbo_blocks=10)
        samples.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    ran = sum(1 for v in sweep.variants if not v.skipped)
    return {
        "variants": len(sweep.variants),
        "ran": ran,
        "skipped_fast_not_below_slow": len(sweep.variants) - ran,
        "pbo": report["pbo"],
        "median_s": round(statistics.median(samples), 2),
        "median_cpu_s": round(statistics.median(cpu), 2),
    }


def bench_sweep_cli(repeat: int) -> dict[str, Any]:
    """End to end: `filterbets sweep --strategy sma_cross ... --json` over the 74k bars in
    SQLite, as a user runs it (start-up, candles read, sweep, luck report, 1,000 variant rows
    stored); CPU is the child's user + system time."""
    samples, cpu = [], []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/sweep.db"

        async def load() -> None:
            settings = load_settings(url, "bench")
            await upgrade(settings)
            store = await CandleStore.open(settings)
            await import_candle_files(store, [DATA])
            await store.close()

        asyncio.run(load())
        argv = [sys.executable, "-m", "core.cli", "--database-url", url, "sweep"]
        argv += ["--strategy", "sma_cross", "--symbol", "BTCUSDT", "--timeframe", "15m"]
        argv += ["--grid", json.dumps(GRID), "--json"]
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)
            samples.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            assert json.loads(done.stdout)["trials"] == 1_000
    return {
        "variants": 1_000,
        "median_s": round(statistics.median(samples), 2),
        "median_cpu_s": round(statistics.median(cpu), 2),
        "runs": repeat,
    }


def _ours_matched(prices: PriceSeries) -> tuple[Any, float]:
    options = ExecutionOptions(fee=FEE, size=1 / (1 + FEE), cash=CASH)
    strategy = STRATEGIES["sma_cross"]
    run_strategy(prices, strategy, strategy.defaults(), options, 15)
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        outcome = run_strategy(prices, strategy, strategy.defaults(), options, 15)
        samples.append(time.perf_counter() - started)
    return outcome, statistics.median(samples)


def bench_backtesting_py(prices: PriceSeries, open_ms: np.ndarray) -> dict[str, Any]:
    import pandas as pd
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest, crossover

    from core.candles.indicators import Indicators

    frame = pd.DataFrame(
        {
            "Open": prices.open,
            "High": prices.high,
            "Low": prices.low,
            "Close": prices.close,
            "Volume": np.ones(len(prices)),
        },
        index=pd.to_datetime(open_ms, unit="ms"),
    )
    buy, sell = STRATEGIES["sma_cross"].signals(Indicators(prices.close), {"fast": 10, "slow": 30})

    class SameSignals(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.buy_signal = self.I(lambda: buy, name="buy", plot=False)
            self.sell_signal = self.I(lambda: sell, name="sell", plot=False)

        def next(self) -> None:
            if self.buy_signal[-1] and not self.position:
                self.buy(size=0.99999999)
            elif self.sell_signal[-1] and self.position:
                self.position.close()

    class OwnIndicators(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            close = pd.Series(self.data.Close)
            self.fast = self.I(lambda: close.rolling(10).mean(), name="fast", plot=False)
            self.slow = self.I(lambda: close.rolling(30).mean(), name="slow", plot=False)

        def next(self) -> None:
            if crossover(self.fast, self.slow) and not self.position:
                self.buy(size=0.99999999)
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    def run(strategy: type, unit: float = 1e-8) -> tuple[Any, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            test = FractionalBacktest(
                frame,
                strategy,
                cash=CASH,
                commission=FEE,
                finalize_trades=True,
                fractional_unit=unit,
            )
            started = time.perf_counter()
            stats = test.run()
        return stats, time.perf_counter() - started

    same, same_s = run(SameSignals)
    # Whole satoshis round each trade's units down; a tiny unit shows that is the difference.
    fine, _fine_s = run(SameSignals, 1e-14)
    own, own_s = run(OwnIndicators)
    ours, ours_s = _ours_matched(prices)
    ours_final = ours.metrics["final_equity"]
    theirs_trades = same["_trades"]
    fills = ours.execution.fills
    bars_equal = np.array_equal(
        fills.entry_bar, theirs_trades["EntryBar"].to_numpy()
    ) and np.array_equal(fills.exit_bar, theirs_trades["ExitBar"].to_numpy())
    return {
        "library": "backtesting.py",
        "same_signals": {
            "trades": {"ours": ours.metrics["trades"], "theirs": int(same["# Trades"])},
            "entry_and_exit_bars_equal": bool(bars_equal),
            "final_equity": {
                "ours": round(ours_final, 4),
                "theirs": round(float(same["Equity Final [$]"]), 4),
            },
            "final_equity_relative_difference": abs(
                ours_final / float(same["Equity Final [$]"]) - 1
            ),
            "final_equity_theirs_in_units_of_1e-14": round(float(fine["Equity Final [$]"]), 4),
            # backtesting.py's finalize_trades closes the last trade at the last bar's open;
            # we close it at the last bar's close. Every earlier trade agrees:
            "max_relative_profit_difference_before_the_last_trade": float(
                np.max(
                    np.abs(fine["_trades"]["PnL"].to_numpy()[:-1] - ours.execution.profit[:-1])
                    / np.abs(ours.execution.profit[:-1])
                )
            ),
            "last_exit_price": {
                "ours": float(fills.exit_price[-1]),
                "theirs": float(theirs_trades["ExitPrice"].iloc[-1]),
                "last_bar_open": float(prices.open[-1]),
                "last_bar_close": float(prices.close[-1]),
            },
            "seconds": {"ours": round(ours_s, 4), "theirs": round(same_s, 3)},
            "ratio_theirs_over_ours": round(same_s / ours_s, 1),
        },
        "own_indicators": {
            "trades": int(own["# Trades"]),
            "final_equity": round(float(own["Equity Final [$]"]), 4),
            "seconds": round(own_s, 3),
        },
    }


def bench_vectorbt(python: str, prices: PriceSeries) -> dict[str, Any]:
    """vectorbt in its own venv (numba, scipy, plotly...: not a project dependency)."""
    from core.candles.indicators import Indicators

    buy, sell = STRATEGIES["sma_cross"].signals(Indicators(prices.close), {"fast": 10, "slow": 30})
    with tempfile.TemporaryDirectory() as folder:
        np.savez(
            Path(folder) / "data.npz", open=prices.open, close=prices.close, buy=buy, sell=sell
        )
        script = f"""
import json, time, numpy as np, pandas as pd, vectorbt as vbt
d = np.load({str(Path(folder) / "data.npz")!r})
opens, close = pd.Series(d['open']), pd.Series(d['close'])
# Fill at the next bar's open: shift the signals one bar and trade at the open.
entries = pd.Series(np.r_[False, d['buy'][:-1]])
exits = pd.Series(np.r_[False, d['sell'][:-1]])
def run():
    return vbt.Portfolio.from_signals(close, entries, exits, price=opens, fees={FEE},
                                      init_cash={CASH}, size=np.inf, freq='15min')
run()
t = time.perf_counter(); pf = run(); s = time.perf_counter() - t
last_open = bool((pf.trades.records_readable['Status'] == 'Open').iloc[-1])
value = float(pf.value().iloc[-1])
position = float(pf.assets().iloc[-1]) * float(close.iloc[-1])
print(json.dumps({{"trades": int(pf.trades.count()), "final_equity": value,
                  "last_trade_open": last_open,
                  "final_equity_less_an_exit_fee": value - {FEE} * position,
                  "seconds": s}}))
"""
        done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"library": "vectorbt", "error": done.stderr.strip().splitlines()[-1]}
    found = json.loads(done.stdout.strip().splitlines()[-1])
    ours, ours_s = _ours_matched(prices)
    return {
        "library": "vectorbt",
        **found,
        "ours_final_equity": ours.metrics["final_equity"],
        "ratio_theirs_over_ours": round(found["seconds"] / ours_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--vectorbt", metavar="PYTHON", help="a python that can import vectorbt")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    raw = read_candle_file(DATA)
    prices = PriceSeries(raw.open, raw.high, raw.low, raw.close)
    open_ms = raw.open_us // 1000
    report: dict[str, Any] = {}
    if not args.skip_import:
        report["import_sqlite"] = asyncio.run(bench_import(args.repeat))
    report["sma_cross_run"] = bench_run(prices, args.repeat * 4)
    if not args.skip_sweep:
        report["sma_cross_sweep"] = bench_sweep(prices, open_ms, 1)
        report["sma_cross_sweep_cli"] = bench_sweep_cli(3)
    report["backtesting_py"] = bench_backtesting_py(prices, open_ms)
    if args.vectorbt:
        report["vectorbt"] = bench_vectorbt(args.vectorbt, prices)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
