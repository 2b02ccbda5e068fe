"""Backtest and live-count speed on the real corpus and on 1M synthetic fixtures, both backends,
against straightforward polars and pandas implementations of the same filters over the same
rows in memory.

Prints one JSON line per (dataset, backend, filter) with medians of 5 runs, in milliseconds:
    uv run python bench/backtest.py [--skip-postgres | --skip-sqlite] [--skip-1m] [--skip-corpus]

The 1M databases are built once (bench/out/synthetic-1m.db and the PostgreSQL database
filterbets_bench_1m) and reused. Each backtest run is end to end in process and warm (the
analysis frame loaded): request -> data version check -> masks -> settle -> metrics, timed
without storing (`backtest_ms`) and with the stored result and ledger (`stored_ms`). The
peers are timed over a DataFrame already in memory; their load is reported apart.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.runs import forget  # noqa: E402
from bench.synthetic import build  # noqa: E402
from core.backtest.engine import BacktestEngine  # noqa: E402
from core.backtest.request import BacktestRequest  # noqa: E402
from core.config import Settings, load_settings  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.services import FilterBetsService  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "football"
OUT = ROOT / "bench" / "out"
PG_SERVER = os.environ.get("FILTERBETS_BENCH_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
RUNS = 5


def filters(leagues: tuple[str, str]) -> dict[str, dict[str, Any]]:
    """The benchmark filters, each with the market it bets: the issue's three, and one on
    point-in-time team features (which must keep the same targets)."""
    return {
        "odds_band": {
            "market": "away",
            "rules": {"field": "odds.pinnacle.away", "op": "between", "value": [2.0, 3.0]},
        },
        "league_and_odds": {
            "market": "home",
            "rules": [
                {"field": "league", "op": "in", "value": list(leagues)},
                {"field": "odds.pinnacle.home", "op": "between", "value": [1.5, 2.5]},
            ],
        },
        "any_of_3": {
            "market": "draw",
            "rules": {
                "any": [
                    {"field": "odds.pinnacle.draw", "op": ">", "value": 3.8},
                    {"field": "overround.pinnacle", "op": "<", "value": 0.02},
                    {"field": "fav_odds.b365", "op": "<", "value": 1.3},
                ]
            },
        },
        "form_and_odds": {
            "market": "home",
            "rules": [
                {"field": "diff.ppg", "op": ">=", "value": 0.5},
                {"field": "odds.pinnacle.home", "op": "between", "value": [1.5, 3.0]},
            ],
        },
    }


def _pandas_mask(frame: pd.DataFrame, name: str, leagues: tuple[str, str]) -> pd.Series:
    if name == "form_and_odds":
        return ((frame["home_ppg"] - frame["away_ppg"]) >= 0.5) & frame["pinnacle_home"].between(
            1.5, 3.0
        )
    if name == "odds_band":
        return frame["pinnacle_away"].between(2.0, 3.0)
    if name == "league_and_odds":
        return frame["league"].isin(leagues) & frame["pinnacle_home"].between(1.5, 2.5)
    overround = (
        1 / frame["pinnacle_home"] + 1 / frame["pinnacle_draw"] + 1 / frame["pinnacle_away"] - 1
    )
    fav = np.fmin(frame["b365_home"], frame["b365_away"]).where(
        frame["b365_home"].notna() & frame["b365_away"].notna()
    )
    return (frame["pinnacle_draw"] > 3.8) | (overround < 0.02) | (fav < 1.3)


def pandas_backtest(
    frame: pd.DataFrame, name: str, market: str, leagues: tuple[str, str]
) -> dict[str, float]:
    """What a careful notebook does: mask, sort, flat-stake profit, drawdown, yield."""
    picked = frame[_pandas_mask(frame, name, leagues)]
    price = picked[f"pinnacle_{market}"]
    picked = picked[price.notna() & (price > 1.0)]
    picked = picked.sort_values(
        ["kickoff_date", "kickoff_time", "league", "home_team"], na_position="first"
    )
    won = {
        "home": picked["result"] == "H",
        "away": picked["result"] == "A",
        "draw": picked["result"] == "D",
    }[market]
    profit = np.where(won, picked[f"pinnacle_{market}"] - 1.0, -1.0)
    cumulative = np.cumsum(profit)
    peak = np.maximum.accumulate(np.concatenate([[0.0], cumulative]))[1:]
    drawdown = float((peak - cumulative).max()) if len(profit) else 0.0
    total = float(profit.sum())
    return {
        "bets": len(profit),
        "profit": total,
        "yield": total / len(profit) if len(profit) else 0.0,
        "max_drawdown": drawdown,
    }


def _polars_mask(frame: pl.DataFrame, name: str, leagues: tuple[str, str]) -> pl.Expr:
    if name == "form_and_odds":
        return ((pl.col("home_ppg") - pl.col("away_ppg")) >= 0.5) & pl.col(
            "pinnacle_home"
        ).is_between(1.5, 3.0)
    if name == "odds_band":
        return pl.col("pinnacle_away").is_between(2.0, 3.0)
    if name == "league_and_odds":
        return pl.col("league").is_in(list(leagues)) & pl.col("pinnacle_home").is_between(1.5, 2.5)
    overround = (
        1 / pl.col("pinnacle_home") + 1 / pl.col("pinnacle_draw") + 1 / pl.col("pinnacle_away") - 1
    )
    fav = pl.min_horizontal("b365_home", "b365_away")
    fav = (
        pl.when(pl.col("b365_home").is_null() | pl.col("b365_away").is_null())
        .then(None)
        .otherwise(fav)
    )
    return (pl.col("pinnacle_draw") > 3.8) | (overround < 0.02) | (fav < 1.3)


def polars_backtest(
    frame: pl.DataFrame, name: str, market: str, leagues: tuple[str, str]
) -> dict[str, float]:
    """The same notebook steps in polars: mask, sort, flat-stake profit, drawdown, yield."""
    price = f"pinnacle_{market}"
    letter = {"home": "H", "away": "A", "draw": "D"}[market]
    picked = (
        frame.filter(_polars_mask(frame, name, leagues).fill_null(False))
        .filter(pl.col(price).is_not_null() & (pl.col(price) > 1.0))
        .sort(["kickoff_date", "kickoff_time", "league", "home_team"], nulls_last=False)
        .select(
            profit=pl.when(pl.col("result") == letter).then(pl.col(price) - 1.0).otherwise(-1.0)
        )
        .with_columns(cum=pl.col("profit").cum_sum())
        .with_columns(peak=pl.max_horizontal(pl.col("cum"), pl.lit(0.0)).cum_max())
    )
    total = float(picked["profit"].sum())
    bets = picked.height
    return {
        "bets": bets,
        "profit": total,
        "yield": total / bets if bets else 0.0,
        "max_drawdown": float((picked["peak"] - picked["cum"]).max() or 0.0),
    }


async def load_frame(settings: Settings) -> pd.DataFrame:
    """The same rows the engine reads, as one DataFrame (timed separately)."""
    from core.rules.oracle import fixture_query_base

    tables = fixture_query_base()
    f, o = tables.fixtures.c, tables.odds.c
    query = tables.select(
        f.id,
        f.kickoff_date,
        f.kickoff_time,
        tables.leagues.c.code.label("league"),
        tables.home_team.c.name.label("home_team"),
        f.result,
        o.pinnacle_home,
        o.pinnacle_draw,
        o.pinnacle_away,
        o.b365_home,
        o.b365_away,
        tables.features.c.home_ppg,
        tables.features.c.away_ppg,
    )
    service = await FilterBetsService.open(settings, migrate=False)
    try:
        async with service.db.session() as session:
            result = await session.execute(query)
            frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    finally:
        await service.close()
    for column in (
        "pinnacle_home",
        "pinnacle_draw",
        "pinnacle_away",
        "b365_home",
        "b365_away",
        "home_ppg",
        "away_ppg",
    ):
        frame[column] = frame[column].astype(float)
    frame["kickoff_time"] = frame["kickoff_time"].astype(str)
    return frame


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


async def bench_dataset(dataset: str, settings: Settings, leagues: tuple[str, str]) -> None:
    service = await FilterBetsService.open(settings, migrate=False)
    engine = BacktestEngine(service.db, service.user_id)
    started = time.perf_counter()
    frame = await load_frame(settings)
    polars_frame = pl.from_pandas(frame)
    load_seconds = time.perf_counter() - started
    # Keep the DataFrames' objects out of every later garbage collection, so holding them
    # does not slow the runs measured below (the app holds no such frame).
    gc.collect()
    gc.freeze()
    try:
        for name, spec in filters(leagues).items():
            request = BacktestRequest(market=spec["market"], rules=spec["rules"])
            await forget(service, await engine.run(request))  # loads the frame's columns
            unstored, stored, count = [], [], []
            bets = 0
            for _ in range(RUNS):
                t0 = time.perf_counter()
                run = await engine.run(request, store=False)
                unstored.append(time.perf_counter() - t0)
                bets = run.metrics["bets"]
                t0 = time.perf_counter()
                run = await engine.run(request)
                stored.append(time.perf_counter() - t0)
                await forget(service, run)
                t0 = time.perf_counter()
                await engine.count(request)
                count.append(time.perf_counter() - t0)
            pandas_runs, polars_runs = [], []
            reference: dict[str, float] = {}
            for _ in range(RUNS):
                t0 = time.perf_counter()
                reference = pandas_backtest(frame, name, spec["market"], leagues)
                pandas_runs.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                polars_reference = polars_backtest(polars_frame, name, spec["market"], leagues)
                polars_runs.append(time.perf_counter() - t0)
            ours = statistics.median(unstored)
            print(
                json.dumps(
                    {
                        "dataset": dataset,
                        "backend": settings.backend,
                        "filter": name,
                        "bets": bets,
                        "pandas_bets": reference["bets"],
                        "polars_bets": polars_reference["bets"],
                        "backtest_ms": _median_ms(unstored),
                        "stored_ms": _median_ms(stored),
                        "count_ms": _median_ms(count),
                        "polars_ms": _median_ms(polars_runs),
                        "pandas_ms": _median_ms(pandas_runs),
                        "peer_load_ms": round(load_seconds * 1000, 1),
                        "ours_over_polars": round(ours / statistics.median(polars_runs), 2),
                        "ours_over_pandas": round(ours / statistics.median(pandas_runs), 2),
                    }
                ),
                flush=True,
            )
    finally:
        await service.close()


async def _admin(server: str, statement: str) -> bool:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(server)
    try:
        conn = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, database=url.database
        )
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL unreachable at {server}: {exc}", file=sys.stderr)
        return False
    try:
        await conn.execute(statement)
    except asyncpg.DuplicateDatabaseError:
        return False
    finally:
        await conn.close()
    return True


def _pg_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)


async def corpus_settings(backend: str, workdir: Path) -> Settings | None:
    from core.importing.service import expand_paths, import_paths

    if backend == "sqlite":
        settings = load_settings(f"sqlite:///{workdir / 'corpus.db'}", "bench")
    else:
        name = "filterbets_bench_corpus"
        await _admin(PG_SERVER, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not await _admin(PG_SERVER, f'CREATE DATABASE "{name}"'):
            return None
        settings = load_settings(_pg_url(name), "bench")
    await upgrade(settings)
    service = await FilterBetsService.open(settings, migrate=False)
    try:
        await import_paths(service.db, expand_paths([CORPUS]))
    finally:
        await service.close()
    return settings


async def synthetic_settings(backend: str) -> Settings | None:
    if backend == "sqlite":
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / "synthetic-1m.db"
        settings = load_settings(f"sqlite:///{path}", "bench")
        if not path.exists():
            print("building the 1M SQLite database (once)...", file=sys.stderr)
            await build(settings, 1_000_000)
        await upgrade(settings)  # a database built by an older checkout
        await ensure_features(settings)
        return settings
    name = "filterbets_bench_1m"
    created = await _admin(PG_SERVER, f'CREATE DATABASE "{name}"')
    settings = load_settings(_pg_url(name), "bench")
    if created:
        print("building the 1M PostgreSQL database (once)...", file=sys.stderr)
        await build(settings, 1_000_000)
    await upgrade(settings)
    await ensure_features(settings)
    return settings


async def ensure_features(settings: Settings) -> None:
    """Team features for the 1M database, computed once (about a minute) and kept."""
    from sqlalchemy import func, select

    from core.features import recompute_all
    from core.models import FixtureFeatures

    service = await FilterBetsService.open(settings, migrate=False)
    try:
        async with service.db.session() as session:
            rows = (
                await session.execute(select(func.count()).select_from(FixtureFeatures))
            ).scalar_one()
        if rows == 0:
            print("computing team features for the 1M database (once)...", file=sys.stderr)
            await recompute_all(service.db)
    finally:
        await service.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-1m", action="store_true")
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    backends = [
        backend
        for backend, skipped in (("sqlite", args.skip_sqlite), ("postgresql", args.skip_postgres))
        if not skipped
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for backend in [] if args.skip_corpus else backends:
            settings = await corpus_settings(backend, Path(tmp))
            if settings is not None:
                await bench_dataset("corpus", settings, ("E0", "SP1"))
    if not args.skip_1m:
        for backend in backends:
            settings = await synthetic_settings(backend)
            if settings is not None:
                await bench_dataset("synthetic_1m", settings, ("S01", "S02"))


if __name__ == "__main__":
    asyncio.run(main())
