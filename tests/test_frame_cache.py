"""The frame's files beside a SQLite database: a new process reads them instead of the
tables, only for the data state they were written in; a damaged or stale file is never
read, and the frame is the same either way (PostgreSQL has no files and reads the tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core import frame as frame_module
from core.frame import AnalysisFrame, forget_frame, frame_for
from core.frame_cache import cache_dir
from core.services import FilterBetsService
from tests.factories import add_fixtures, random_fixture_specs

COLUMNS = ["pinnacle_home", "b365_away", "home_elo"]
BASE = ("fixture_id", "day", "seconds", "league", "season", "home_team", "away_team")


def _same(a: AnalysisFrame, b: AnalysisFrame) -> None:
    assert a.version == b.version
    for name in (*BASE, "home_goals", "away_goals"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    assert a.team_names == b.team_names and a.league_codes == b.league_codes
    assert a.league_countries == b.league_countries and a.season_labels == b.season_labels
    for name in COLUMNS:
        assert np.array_equal(a.column(name), b.column(name), equal_nan=True), name


def _tables_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*_args: Any) -> Any:
        raise AssertionError("read the tables although the files were there")

    monkeypatch.setattr(frame_module, "_load_base", refuse)

    async def no_columns(reader: Any, frame: AnalysisFrame, names: Any) -> Any:
        assert not names, f"read {names} from the tables"
        return {}

    monkeypatch.setattr(frame_module, "_load_columns", no_columns)


def _files(service: FilterBetsService) -> list[Path]:
    path = service.settings.sqlite_path
    assert path is not None
    return sorted(cache_dir(path).glob("*.npz"))


async def test_a_new_process_reads_the_files_of_the_same_data_state(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_fixtures(service, random_fixture_specs(60, seed=11))
    from_tables = await frame_for(service.db, COLUMNS)
    forget_frame(service.db)  # as a new process starts
    if service.settings.sqlite_path is None:
        assert (await frame_for(service.db, COLUMNS)).version == from_tables.version
        return
    assert len(_files(service)) == 1 + len(COLUMNS)
    with monkeypatch.context() as patch:
        _tables_refused(patch)
        _same(await frame_for(service.db, COLUMNS), from_tables)


async def test_files_of_an_older_data_state_are_never_read_and_are_removed(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_fixtures(service, random_fixture_specs(40, seed=12))
    old = await frame_for(service.db, COLUMNS)
    old_files = _files(service) if service.settings.sqlite_path else []
    await add_fixtures(service, random_fixture_specs(5, seed=13))  # bumps the data version
    forget_frame(service.db)
    new = await frame_for(service.db, COLUMNS)
    assert new.version > old.version and len(new) == len(old) + 5
    if service.settings.sqlite_path is None:
        return
    assert not set(old_files) & set(_files(service))
    forget_frame(service.db)
    with monkeypatch.context() as patch:
        _tables_refused(patch)
        _same(await frame_for(service.db, COLUMNS), new)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the files are SQLite's
async def test_a_damaged_file_is_ignored_and_the_tables_read(
    service: FilterBetsService,
) -> None:
    await add_fixtures(service, random_fixture_specs(30, seed=14))
    expected = await frame_for(service.db, COLUMNS)
    for path in _files(service):
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # cut short
    forget_frame(service.db)
    _same(await frame_for(service.db, COLUMNS), expected)


async def test_a_migration_that_deletes_rows_is_a_new_data_state(
    service: FilterBetsService,
) -> None:
    """0009's downgrade deletes upcoming fixtures without any import: the frame (and its
    files) from before must not be used after it."""
    from core import migrate

    specs = random_fixture_specs(20, seed=15)
    upcoming = dict(specs[-1]) | {"date": "2031-05-01", "goals": None}
    await add_fixtures(service, [*specs, upcoming])
    before = await frame_for(service.db, COLUMNS)
    await migrate.downgrade(service.settings, "0008")
    await migrate.upgrade(service.settings)
    forget_frame(service.db)
    after = await frame_for(service.db, COLUMNS)
    assert after.version > before.version
    assert len(after) == len(before) - 1
