"""Scanner speed: 50 saved filters against the upcoming fixtures of every fixtures file in
../shared/data/upcoming (about 700), over the corpus's history; and the import of one
fixtures file. Prints one JSON line per measurement, medians of several runs, in ms:
    uv run python bench/scanner.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import load_settings  # noqa: E402
from core.filters import FilterStore  # noqa: E402
from core.importing.service import import_paths  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.scanner import Scanner  # noqa: E402
from core.services import FilterBetsService  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def _filters() -> list[tuple[str, list[dict[str, object]], dict[str, str]]]:
    """50 filters: odds bands at three books on three markets, some with team form."""
    made = []
    for i in range(50):
        lo = 1.3 + (i % 10) * 0.2
        market = ("home", "away", "draw")[i % 3]
        source = ("b365", "avg", "max")[i % 3]
        rules: list[dict[str, object]] = [
            {"field": f"odds.{source}.{market}", "op": "between", "value": [lo, lo + 1.0]}
        ]
        if i % 2:
            rules.append({"field": "diff.ppg", "op": ">", "value": -0.5 + (i % 5) * 0.2})
        made.append((f"filter {i:02d}", rules, {"market": market, "odds_source": source}))
    return made


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(f"sqlite:///{tmp}/scan.db", "bench")
        await upgrade(settings)
        service = await FilterBetsService.open(settings, migrate=False)
        await import_paths(service.db, sorted((SHARED / "football").glob("*.csv")))
        files = sorted((SHARED / "upcoming").glob("fixtures_*.csv"))
        imports = []
        for path in files:
            started = time.perf_counter()
            await import_paths(service.db, [path])
            imports.append(time.perf_counter() - started)
        store = FilterStore(service.db, service.user_id)
        for name, rules, settings_ in _filters():
            await store.create(name, rules, backtest_settings=settings_)
        scanner = Scanner(service.db, service.user_id)
        targets = await scanner.saved_targets([], every=True)
        since = dt.date(2000, 1, 1)
        result = await scanner.scan(targets, date_from=since)  # loads the frame's columns
        samples = []
        for _ in range(args.runs):
            started = time.perf_counter()
            result = await scanner.scan(targets, date_from=since)
            samples.append(time.perf_counter() - started)
        await service.close()
    print(
        json.dumps(
            {
                "filters": len(targets),
                "upcoming": result.upcoming,
                "picks": len(result.picks),
                "scan_ms": round(statistics.median(samples) * 1000, 1),
                "fixtures_file_import_ms": round(statistics.median(imports) * 1000, 1),
                "fixtures_file_import_max_ms": round(max(imports) * 1000, 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
