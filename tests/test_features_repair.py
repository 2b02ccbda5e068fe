"""Fixtures and their team features stay consistent whatever moment a process dies at:
a real `filterbets import` is killed after its files commit and before the feature
recompute; the next import, or the next start, repairs what it left (both backends)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.config import Settings
from core.db import Database
from core.features import compute_features
from core.features.service import _load
from core.importing.service import import_paths
from core.models import FEATURE_COLUMNS, Fixture, FixtureFeatures
from core.services import FilterBetsService
from tests.conftest import REPO_ROOT, SHARED_DATA, shared_data

CRASHPOINTS = Path(__file__).resolve().parent / "crashpoints"


@pytest.fixture(autouse=True)
def _needs_shared_data() -> None:
    """Every test here reads the shared data folder: skipped without it (a failure under
    FILTERBETS_REQUIRE_CORPUS=1, as in CI; see tests/conftest.py)."""
    shared_data("upcoming")


HISTORY = SHARED_DATA / "upcoming" / "history-2026-04-24"
FILES = [HISTORY / "E0_2025-26.csv", HISTORY / "E1_2025-26.csv"]


async def import_killed_before_features(settings: Settings, *files: Path) -> None:
    """`filterbets import FILES` in a child process, killed (SIGKILL) once its files have
    committed and before it recomputes features."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(CRASHPOINTS), str(REPO_ROOT)])
    env["FILTERBETS_TEST_HANG_AT"] = "import-before-features"
    url = settings.database_url.render_as_string(hide_password=False)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "core.cli",
        "--database-url",
        url,
        "import",
        "--quiet",
        *map(str, files),
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stderr is not None
    try:
        seen = []
        while True:
            line = (await asyncio.wait_for(child.stderr.readline(), 120)).decode()
            assert line, f"the import ended before the crash point: {seen}"
            seen.append(line)
            if line.startswith("crashpoint reached: import-before-features"):
                break
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()


async def counts(db: Database) -> tuple[int, int]:
    async with db.session() as session:
        fixtures = await session.scalar(select(func.count()).select_from(Fixture))
        rows = await session.scalar(select(func.count()).select_from(FixtureFeatures))
    return int(fixtures or 0), int(rows or 0)


async def assert_features_as_from_scratch(db: Database) -> None:
    columns = [FixtureFeatures.fixture_id, *(getattr(FixtureFeatures, c) for c in FEATURE_COLUMNS)]
    async with db.session() as session:
        stored = {row[0]: tuple(row) for row in (await session.execute(select(*columns))).all()}
        fixtures, names = await _load(await session.connection())
    expected = {row[0]: tuple(row) for row in compute_features(fixtures, names)}
    assert stored.keys() == expected.keys()
    assert [i for i in expected if stored[i] != expected[i]] == []


def corrected(path: Path, folder: Path) -> Path:
    """A copy of a season file whose first match has one more home goal (a correction)."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    header, first = rows[0], rows[1]
    home, away = int(first[header.index("FTHG")]) + 1, int(first[header.index("FTAG")])
    first[header.index("FTHG")] = str(home)
    first[header.index("FTR")] = "H" if home > away else "D" if home == away else "A"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    copy = folder / path.name
    copy.write_text(out.getvalue(), encoding="utf-8")
    return copy


async def test_an_import_killed_before_its_features_is_repaired_by_the_next_import_or_start(
    service: FilterBetsService, settings: Settings, tmp_path: Path
) -> None:
    db = service.db
    await import_killed_before_features(settings, *FILES)
    fixtures, rows = await counts(db)
    assert (fixtures, rows) == (332 + 528, 0)  # the files committed, their features did not

    # Importing the same files again changes no fixture, yet fills the features in.
    again = await import_paths(db, FILES)
    assert (again.fixtures_added, again.fixtures_updated) == (0, 0)
    assert await counts(db) == (fixtures, fixtures)
    await assert_features_as_from_scratch(db)

    # A correction killed the same way: the corrected fixture has no row, and every row
    # its result reaches is stale, until the next start repairs them.
    await import_killed_before_features(settings, corrected(FILES[0], tmp_path))
    assert await counts(db) == (fixtures, fixtures - 1)
    message = await service.repair_features()
    assert message is not None
    assert message.startswith("team features recomputed for 1 fixtures that had none")
    await assert_features_as_from_scratch(db)
    assert await service.repair_features() is None  # nothing left


async def test_every_start_of_the_cli_repairs_what_an_import_left(
    service: FilterBetsService, settings: Settings, capfd: Any
) -> None:
    from core.cli import main

    await import_killed_before_features(settings, FILES[0])
    assert await counts(service.db) == (332, 0)
    url = settings.database_url.render_as_string(hide_password=False)
    assert await asyncio.to_thread(main, ["--database-url", url, "filters", "list"]) == 0
    assert "team features recomputed for 332 fixtures that had none" in capfd.readouterr().err
    assert await counts(service.db) == (332, 332)
