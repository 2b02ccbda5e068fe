"""Resident memory of a whole process running one backtest over the analysis frame.

For each dataset, a new child process opens the database, runs one backtest of a filter
that loads six of the frame's odds and feature columns (bench/backtest.py's form_and_odds:
both sides' points per game and Pinnacle's home price in the rules, and the three Pinnacle
closing prices that CLV's margin-free price needs), first without and then with its stored
ledger, and reports its resident set (VmRSS) at each step and its peak
(VmHWM), from /proc. Prints one JSON line per dataset:

    uv run python bench/memory.py [--skip-1m] [--skip-corpus]

The corpus is the shared 37,899-match folder imported into a temporary SQLite file; the 1M
database is bench/backtest.py's (bench/out/synthetic-1m.db, built there once if absent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RULES: list[dict[str, Any]] = [
    {"field": "diff.ppg", "op": ">=", "value": 0.3},
    {"field": "odds.pinnacle.home", "op": "between", "value": [1.5, 3.0]},
]


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"/proc/self/status has no {key}")


async def child(url: str) -> None:
    from bench.runs import forget
    from core.backtest.engine import BacktestEngine
    from core.backtest.request import BacktestRequest
    from core.config import load_settings
    from core.frame import frame_for
    from core.services import FilterBetsService

    imported_mb = _status_mb("VmRSS")
    service = await FilterBetsService.open(load_settings(url, "bench"), migrate=False)
    try:
        engine = BacktestEngine(service.db, service.user_id)
        request = BacktestRequest(market="home", rules=RULES)
        run = await engine.run(request, store=False)
        after_run_mb = _status_mb("VmRSS")
        stored = await engine.run(request)
        after_ledger_mb = _status_mb("VmRSS")
        frame = await frame_for(service.db)
        arrays = [value for value in vars(frame).values() if hasattr(value, "nbytes")]
        print(
            json.dumps(
                {
                    "fixtures": len(frame),
                    "bets": run.metrics["bets"],
                    "loaded_columns": sorted(frame.columns),
                    "frame_mb": round(
                        sum(a.nbytes for a in [*arrays, *frame.columns.values()]) / 2**20, 1
                    ),
                    "rss_after_imports_mb": imported_mb,
                    "rss_after_backtest_mb": after_run_mb,
                    "rss_after_stored_ledger_mb": after_ledger_mb,
                    "peak_rss_mb": _status_mb("VmHWM"),
                }
            ),
            flush=True,
        )
        await forget(service, stored)
    finally:
        await service.close()


def measure(dataset: str, url: str) -> None:
    done = subprocess.run(
        [sys.executable, __file__, "--child", url],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        print(f"{dataset}: the child failed:\n{done.stderr}", file=sys.stderr)
        return
    print(json.dumps({"dataset": dataset, **json.loads(done.stdout.strip().splitlines()[-1])}))


async def corpus_url(folder: Path) -> str:
    from bench.backtest import corpus_settings

    settings = await corpus_settings("sqlite", folder)
    assert settings is not None
    return settings.database_url.render_as_string(hide_password=False)


async def synthetic_url() -> str:
    from bench.backtest import synthetic_settings

    settings = await synthetic_settings("sqlite")
    assert settings is not None
    return settings.database_url.render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--skip-1m", action="store_true")
    parser.add_argument("--skip-corpus", action="store_true")
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child))
        return
    with tempfile.TemporaryDirectory(prefix="filterbets-memory-") as folder:
        if not args.skip_corpus:
            measure("corpus", asyncio.run(corpus_url(Path(folder))))
        if not args.skip_1m:
            measure("synthetic_1m", asyncio.run(synthetic_url()))


if __name__ == "__main__":
    main()
