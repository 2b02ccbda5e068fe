"""A seeded synthetic database of football fixtures with plausible odds, for benchmarks.

Goals come from Poisson draws around team strengths; every source's prices come from the
same true probabilities with that source's margin and some noise, so filters on odds bands,
leagues and derived fields select realistic shares of the rows.

    uv run python bench/synthetic.py --fixtures 1000000 --database-url sqlite:///bench/out/1m.db
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import Settings, load_settings
from core.migrate import upgrade
from core.models import ALL_ODDS_COLUMNS

SEED = 20261122
LEAGUES = 50
TEAMS_PER_LEAGUE = 20
MATCHES_PER_SEASON = TEAMS_PER_LEAGUE * (TEAMS_PER_LEAGUE - 1)
MARGINS = {"b365": 0.05, "pinnacle": 0.025, "avg": 0.055, "max": -0.01}


def _season_label(start_year: int) -> str:
    return f"{start_year}-{(start_year + 1) % 100:02d}"


def _outcome_probabilities(
    lam_home: np.ndarray, lam_away: np.ndarray, chunk: int = 50_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(home win), P(draw), P(over 2.5) from independent Poisson goals, summed over 0..10."""
    goals = np.arange(11)
    fact = np.array([math.factorial(k) for k in goals], dtype=float)
    diff = goals[:, None] - goals[None, :]
    total = goals[:, None] + goals[None, :]
    out = [np.empty(len(lam_home)) for _ in range(3)]
    for lo in range(0, len(lam_home), chunk):
        lh, la = lam_home[lo : lo + chunk, None], lam_away[lo : lo + chunk, None]
        ph = np.exp(-lh) * lh**goals / fact
        pa = np.exp(-la) * la**goals / fact
        joint = ph[:, :, None] * pa[:, None, :]
        out[0][lo : lo + chunk] = (joint * (diff > 0)).sum(axis=(1, 2))
        out[1][lo : lo + chunk] = (joint * (diff == 0)).sum(axis=(1, 2))
        out[2][lo : lo + chunk] = (joint * (total > 2)).sum(axis=(1, 2))
    return out[0], out[1], out[2]


def generate(n_fixtures: int, seed: int = SEED) -> dict[str, Any]:
    """Column arrays for leagues, teams, fixtures and odds (ids are 1-based)."""
    rng = np.random.default_rng(seed)
    seasons_needed = math.ceil(n_fixtures / (LEAGUES * MATCHES_PER_SEASON))
    first_year = 2024 - seasons_needed
    league_idx = np.arange(n_fixtures) % LEAGUES
    season_idx = np.arange(n_fixtures) // (LEAGUES * MATCHES_PER_SEASON)
    # Each league-season is a double round robin: every ordered pair meets exactly once.
    slot = (np.arange(n_fixtures) // LEAGUES) % MATCHES_PER_SEASON
    pair = rng.permutation(MATCHES_PER_SEASON)[slot]
    home_local = pair // (TEAMS_PER_LEAGUE - 1)
    away_local = (home_local + 1 + pair % (TEAMS_PER_LEAGUE - 1)) % TEAMS_PER_LEAGUE
    home_team = league_idx * TEAMS_PER_LEAGUE + home_local + 1
    away_team = league_idx * TEAMS_PER_LEAGUE + away_local + 1
    strength = rng.normal(0.0, 0.35, LEAGUES * TEAMS_PER_LEAGUE + 1)
    lam_home = np.exp(0.25 + strength[home_team] - strength[away_team])
    lam_away = np.exp(0.0 + strength[away_team] - strength[home_team])
    home_goals = rng.poisson(lam_home)
    away_goals = rng.poisson(lam_away)

    p_home, p_draw, p_over = _outcome_probabilities(lam_home, lam_away)
    p_away = 1.0 - p_home - p_draw
    ah_line = -np.round((lam_home - lam_away) * 4) / 4
    ah_line = np.clip(ah_line, -3.0, 3.0)

    odds: dict[str, np.ndarray] = {"ah_line": ah_line, "ah_line_close": ah_line}
    for source, margin in MARGINS.items():
        for timing, drift in (("", 0.0), ("_close", 0.02)):
            for sel, prob in (
                ("home", p_home),
                ("draw", p_draw),
                ("away", p_away),
                ("over25", p_over),
                ("under25", 1.0 - p_over),
                ("ah_home", np.full(n_fixtures, 0.5)),
                ("ah_away", np.full(n_fixtures, 0.5)),
            ):
                noise = rng.normal(0.0, 0.03 + drift, n_fixtures)
                price = 1.0 / np.clip(prob * (1 + margin) * np.exp(noise), 0.02, 0.98)
                price = np.round(np.maximum(price, 1.01), 2)
                # Older seasons lack closing prices and some sources, as real files do.
                missing = rng.random(n_fixtures) < (0.35 if timing else 0.03)
                col = np.where(missing, np.nan, price)
                odds[f"{source}{timing}_{sel}"] = col

    start = np.array(
        [dt.date(first_year + int(s), 8, 1).toordinal() for s in range(seasons_needed)]
    )
    day_offset = (
        (np.arange(n_fixtures) % (LEAGUES * MATCHES_PER_SEASON))
        * 290
        // (LEAGUES * MATCHES_PER_SEASON)
    )
    ordinals = start[season_idx] + day_offset
    hours = rng.choice([-1, 12, 14, 15, 17, 19, 20], n_fixtures)
    return {
        "n": n_fixtures,
        "first_year": first_year,
        "seasons": seasons_needed,
        "league_idx": league_idx,
        "season_idx": season_idx,
        "home_team": home_team,
        "away_team": away_team,
        "home_goals": home_goals,
        "away_goals": away_goals,
        "ordinals": ordinals,
        "hours": hours,
        "odds": odds,
    }


def _league_rows() -> list[tuple[int, str, str, str]]:
    return [
        (i + 1, f"S{i + 1:02d}", f"Synthetic League {i + 1}", "Synthetica") for i in range(LEAGUES)
    ]


def _team_rows() -> list[tuple[int, str]]:
    return [(i + 1, f"Team {i + 1:04d}") for i in range(LEAGUES * TEAMS_PER_LEAGUE)]


def _fixture_tuples(data: dict[str, Any], as_text: bool) -> list[tuple[Any, ...]]:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    stamp: Any = now.strftime("%Y-%m-%d %H:%M:%S.%f") if as_text else now
    rows = []
    hg, ag = data["home_goals"], data["away_goals"]
    for i in range(data["n"]):
        h, a = int(hg[i]), int(ag[i])
        day = dt.date.fromordinal(int(data["ordinals"][i]))
        hour = int(data["hours"][i])
        kickoff: Any = None if hour < 0 else dt.time(hour, 0)
        rows.append(
            (
                i + 1,
                int(data["league_idx"][i]) + 1,
                _season_label(data["first_year"] + int(data["season_idx"][i])),
                day.isoformat() if as_text else day,
                (kickoff.isoformat() + ".000000" if kickoff else None) if as_text else kickoff,
                int(data["home_team"][i]),
                int(data["away_team"][i]),
                h,
                a,
                "H" if h > a else ("D" if h == a else "A"),
                stamp,
                stamp,
            )
        )
    return rows


FIXTURE_COLUMNS = (
    "id",
    "league_id",
    "season",
    "kickoff_date",
    "kickoff_time",
    "home_team_id",
    "away_team_id",
    "home_goals",
    "away_goals",
    "result",
    "imported_at",
    "updated_at",
)


def _odds_tuples(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    columns = [data["odds"][name] for name in ALL_ODDS_COLUMNS]
    stacked = np.column_stack(columns).astype(object)
    stacked[np.isnan(np.column_stack(columns))] = None
    ids = np.arange(1, data["n"] + 1, dtype=object)
    return [tuple(row) for row in np.column_stack([ids, stacked]).tolist()]


def _load_sqlite(path: Path, data: dict[str, Any]) -> None:
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA synchronous=OFF")
        con.executemany(
            "INSERT INTO leagues (id, code, name, country) VALUES (?,?,?,?)", _league_rows()
        )
        con.executemany("INSERT INTO teams (id, name) VALUES (?,?)", _team_rows())
        placeholders = ",".join("?" * len(FIXTURE_COLUMNS))
        con.executemany(
            f"INSERT INTO fixtures ({','.join(FIXTURE_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608
            _fixture_tuples(data, as_text=True),
        )
        odds_cols = ("fixture_id", *ALL_ODDS_COLUMNS)
        odds_marks = ",".join("?" * len(odds_cols))
        con.executemany(
            f"INSERT INTO fixture_odds ({','.join(odds_cols)}) VALUES ({odds_marks})",  # noqa: S608
            _odds_tuples(data),
        )
        con.commit()
        con.execute("ANALYZE")
    finally:
        con.close()


async def _load_postgres(settings: Settings, data: dict[str, Any]) -> None:
    import asyncpg

    url = settings.database_url
    con = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        await con.copy_records_to_table(
            "leagues", records=_league_rows(), columns=["id", "code", "name", "country"]
        )
        await con.copy_records_to_table("teams", records=_team_rows(), columns=["id", "name"])
        await con.copy_records_to_table(
            "fixtures", records=_fixture_tuples(data, as_text=False), columns=list(FIXTURE_COLUMNS)
        )
        await con.copy_records_to_table(
            "fixture_odds", records=_odds_tuples(data), columns=["fixture_id", *ALL_ODDS_COLUMNS]
        )
        # Rows were copied with explicit ids, so move each id sequence past them.
        for table, max_id in (
            ("leagues", LEAGUES),
            ("teams", LEAGUES * TEAMS_PER_LEAGUE),
            ("fixtures", data["n"]),
        ):
            await con.execute("SELECT setval(pg_get_serial_sequence($1, 'id'), $2)", table, max_id)
        await con.execute("ANALYZE")
    finally:
        await con.close()


async def build(settings: Settings, n_fixtures: int, seed: int = SEED) -> float:
    """Create the schema and load `n_fixtures` synthetic fixtures; returns seconds taken."""
    started = time.perf_counter()
    await upgrade(settings)
    data = await asyncio.to_thread(generate, n_fixtures, seed)
    if settings.is_sqlite:
        assert settings.sqlite_path is not None
        await asyncio.to_thread(_load_sqlite, settings.sqlite_path, data)
    else:
        await _load_postgres(settings, data)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fixtures", type=int, default=1_000_000)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    settings = load_settings(args.database_url, "bench")
    seconds = asyncio.run(build(settings, args.fixtures, args.seed))
    print(f"built {args.fixtures:,} fixtures in {seconds:.1f}s at {settings.describe_backend()}")


if __name__ == "__main__":
    main()
