"""Sweep speed: 1,000 variants (lo x hi x league) over the real corpus, in process and through
the CLI, against one grouped polars query and one DuckDB query over the same rows in memory
computing the same per-variant numbers; and 10,000 variants over the 1M synthetic fixtures.

Prints one JSON line per measurement, medians of several runs, in milliseconds:
    uv run python bench/sweep.py [--skip-1m] [--skip-cli] [--runs N]

The peers get the rows already in memory, sorted in settlement order (their load is timed
apart); ours reads its in-memory frame, checked against the data version on every run. Both
sides compute bets, wins, profit, max drawdown, the longest losing run and the t statistic of
each variant, and the script checks they agree. Ours also computes q-values, the walk-forward
and PBO, which the peers do not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backtest import corpus_settings, synthetic_settings  # noqa: E402
from core.backtest.request import BacktestRequest  # noqa: E402
from core.backtest.stats import student_t_sf  # noqa: E402
from core.backtest.sweeps import SweepEngine, SweepRequest  # noqa: E402
from core.config import Settings  # noqa: E402
from core.frame import frame_for  # noqa: E402
from core.services import FilterBetsService  # noqa: E402

TEMPLATE = [
    {"field": "league", "op": "=", "value": {"param": "league"}},
    {"field": "odds.pinnacle.away", "op": "between", "value": [{"param": "lo"}, {"param": "hi"}]},
]


def corpus_grid() -> dict[str, Any]:
    return {
        "lo": {"from": 1.5, "to": 2.4, "step": 0.1},
        "hi": {"from": 2.5, "to": 4.3, "step": 0.2},
        "league": ["E0", "E1", "E2", "E3", "EC", "SP1", "I1", "D1", "F1", "N1"],
    }


def synthetic_grid() -> dict[str, Any]:
    """20 x 10 x 50 = 10,000 variants."""
    return {
        "lo": {"from": 1.5, "to": 2.45, "step": 0.05},
        "hi": {"from": 2.5, "to": 4.3, "step": 0.2},
        "league": [f"S{i:02d}" for i in range(1, 51)],
    }


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


async def peer_rows(settings: Settings) -> pl.DataFrame:
    """The rows a peer works on: each fixture with a result and a usable away price, in
    settlement order, with its league, price and whether the away side won."""
    service = await FilterBetsService.open(settings, migrate=False)
    try:
        frame = await frame_for(service.db, ["pinnacle_away"])
        price = frame.column("pinnacle_away")
        usable = frame.settled & (price > 1.0) & (price < np.inf)
        rows = np.flatnonzero(usable)
        codes = np.array(
            [frame.league_codes.get(i, "") for i in range(max(frame.league_codes) + 1)]
        )
        return pl.DataFrame(
            {
                "order": np.arange(len(rows)),
                "league": codes[frame.league[rows]],
                "price": price[rows],
                "won": frame.away_goals[rows] > frame.home_goals[rows],
            }
        )
    finally:
        await service.close()


def _variants(grid: dict[str, Any]) -> pl.DataFrame:
    from core.backtest.grid import parse_grid

    parsed = parse_grid(grid)
    params = list(parsed)
    return pl.DataFrame(
        {
            "variant": list(range(len(params))),
            "lo": [p["lo"] for p in params],
            "hi": [p["hi"] for p in params],
            "league": [p["league"] for p in params],
        }
    )


def polars_sweep(rows: pl.DataFrame, variants: pl.DataFrame) -> pl.DataFrame:
    """Every variant's numbers as one grouped query."""
    bets = (
        rows.join(variants, on="league")
        .filter((pl.col("price") >= pl.col("lo")) & (pl.col("price") <= pl.col("hi")))
        .sort(["variant", "order"])
        .with_columns(profit=pl.when(pl.col("won")).then(pl.col("price") - 1.0).otherwise(-1.0))
        .with_columns(cum=pl.col("profit").cum_sum().over("variant"))
        .with_columns(
            peak=pl.max_horizontal(pl.col("cum"), pl.lit(0.0)).cum_max().over("variant"),
            run=pl.col("won").rle_id().over("variant"),
        )
    )
    losing_runs = (
        bets.filter(~pl.col("won"))
        .group_by("variant", "run")
        .len()
        .group_by("variant")
        .agg(longest_losing_run=pl.col("len").max())
    )
    summary = bets.group_by("variant").agg(
        bets=pl.len(),
        wins=pl.col("won").sum(),
        profit=pl.col("profit").sum(),
        max_drawdown=(pl.col("peak") - pl.col("cum")).max(),
        mean=pl.col("profit").mean(),
        std=pl.col("profit").std(ddof=1),
    )
    return (
        variants.select("variant")
        .join(summary, on="variant", how="left")
        .join(losing_runs, on="variant", how="left")
        .with_columns(t_stat=pl.col("mean") / (pl.col("std") / pl.col("bets").sqrt()))
        .sort("variant")
    )


DUCKDB_SQL = """
WITH bets AS (
    SELECT v.variant, r."order", r.won,
           CASE WHEN r.won THEN r.price - 1.0 ELSE -1.0 END AS profit
    FROM rows_table r JOIN variants v
      ON r.league = v.league AND r.price BETWEEN v.lo AND v.hi
), cum AS (
    SELECT *, SUM(profit) OVER w AS cum,
           SUM(CASE WHEN won THEN 1 ELSE 0 END) OVER w AS wins_so_far
    FROM bets WINDOW w AS (PARTITION BY variant ORDER BY "order")
), peaks AS (
    SELECT *, MAX(GREATEST(cum, 0.0)) OVER (PARTITION BY variant ORDER BY "order") AS peak
    FROM cum
), runs AS (
    SELECT variant, wins_so_far, COUNT(*) AS len FROM peaks WHERE NOT won
    GROUP BY variant, wins_so_far
)
SELECT p.variant, COUNT(*) AS bets, SUM(CASE WHEN won THEN 1 ELSE 0 END) AS wins,
       SUM(profit) AS profit, MAX(peak - cum) AS max_drawdown,
       AVG(profit) / (STDDEV_SAMP(profit) / SQRT(COUNT(*))) AS t_stat,
       (SELECT MAX(len) FROM runs WHERE runs.variant = p.variant) AS longest_losing_run
FROM peaks p GROUP BY p.variant ORDER BY p.variant
"""


def duckdb_sweep(connection: Any) -> list[tuple[Any, ...]]:
    return list(connection.execute(DUCKDB_SQL).fetchall())


def _pandas(frame: pl.DataFrame) -> Any:
    import pandas as pd

    return pd.DataFrame({name: frame[name].to_numpy() for name in frame.columns})


def _check_same(ours: list[dict[str, Any]], theirs: pl.DataFrame) -> int:
    """How many variants agree on every number (all must)."""
    agreed = 0
    for mine, row in zip(ours, theirs.iter_rows(named=True), strict=True):
        bets = row["bets"] or 0
        assert mine["bets"] == bets, (mine, row)
        if bets:
            assert mine["wins"] == row["wins"]
            assert math.isclose(mine["profit"], row["profit"], abs_tol=1e-6)
            assert math.isclose(mine["max_drawdown"], row["max_drawdown"], abs_tol=1e-6)
            assert mine["longest_losing_run"] == (row["longest_losing_run"] or 0)
            if mine["t_stat"] is not None:
                assert math.isclose(mine["t_stat"], row["t_stat"], rel_tol=1e-6)
        agreed += 1
    return agreed


async def bench(
    settings: Settings, dataset: str, grid: dict[str, Any], runs: int, cli: bool
) -> None:
    request = SweepRequest(
        backtest=BacktestRequest(market="away", rules=TEMPLATE), grid=grid, min_bets=50
    )
    service = await FilterBetsService.open(settings, migrate=False)
    engine = SweepEngine(service.db, service.user_id)
    started = time.perf_counter()
    first = await engine.run(request, store=False)  # loads the frame's columns
    cold = time.perf_counter() - started
    samples, stored = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        run = await engine.run(request, store=False)
        samples.append(time.perf_counter() - t0)
    for _ in range(max(1, runs // 2)):
        t0 = time.perf_counter()
        await engine.run(request)
        stored.append(time.perf_counter() - t0)
    await service.close()

    t0 = time.perf_counter()
    rows = await peer_rows(settings)
    load = time.perf_counter() - t0
    variants = _variants(grid)
    polars_runs, duck_runs = [], []
    theirs = polars_sweep(rows, variants)
    agreed = _check_same(run.report["variants"], theirs)
    for _ in range(runs):
        t0 = time.perf_counter()
        theirs = polars_sweep(rows, variants)
        # The peer's p-values, with the same Student-t tail as ours, to compute the same numbers.
        [
            student_t_sf(t, n - 1)
            for t, n in zip(theirs["t_stat"], theirs["bets"], strict=True)
            if t is not None and n and n > 1 and math.isfinite(t)
        ]
        polars_runs.append(time.perf_counter() - t0)
    connection = duckdb.connect()
    # Through pandas (numpy columns): DuckDB reads a polars frame only through pyarrow.
    connection.register("rows_table", _pandas(rows))
    connection.register("variants", _pandas(variants))
    duck = duckdb_sweep(connection)
    assert [r[1] for r in duck] == [v["bets"] for v in run.report["variants"] if v["bets"]]
    for _ in range(runs):
        t0 = time.perf_counter()
        duckdb_sweep(connection)
        duck_runs.append(time.perf_counter() - t0)
    ours = statistics.median(samples)
    line: dict[str, Any] = {
        "dataset": dataset,
        "backend": settings.backend,
        "variants": first.report["trials"],
        "agreed_variants": agreed,
        "first_run_ms": round(cold * 1000, 1),
        "warm_ms": _median_ms(samples),
        "warm_stored_ms": _median_ms(stored),
        "polars_ms": _median_ms(polars_runs),
        "duckdb_ms": _median_ms(duck_runs),
        "peer_load_ms": round(load * 1000, 1),
        "ours_over_polars": round(ours / statistics.median(polars_runs), 2),
        "ours_over_duckdb": round(ours / statistics.median(duck_runs), 2),
    }
    if cli:
        line["cli_ms"] = _cli(settings, grid, runs)
    print(json.dumps(line), flush=True)


def _cli(settings: Settings, grid: dict[str, Any], runs: int) -> float:
    url = settings.database_url.render_as_string(hide_password=False)
    command = [
        sys.executable,
        "-m",
        "core.cli",
        "--database-url",
        url,
        "sweep",
        "--rules",
        json.dumps(TEMPLATE),
        "--market",
        "away",
        "--grid",
        json.dumps(grid),
        "--json",
    ]
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT, env=os.environ.copy())
        samples.append(time.perf_counter() - t0)
    return _median_ms(samples)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-1m", action="store_true")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    backends = ["sqlite"] if args.skip_postgres else ["sqlite", "postgresql"]
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            settings = await corpus_settings(backend, Path(tmp))
            if settings is not None:
                await bench(settings, "corpus", corpus_grid(), args.runs, not args.skip_cli)
    if not args.skip_1m:
        settings = await synthetic_settings("sqlite")
        if settings is not None:
            await bench(settings, "synthetic_1m", synthetic_grid(), 1, False)


if __name__ == "__main__":
    asyncio.run(main())
