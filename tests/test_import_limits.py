"""Imports that used to crash or hang: devices, pipes, huge and junk files, UTF-16.

Only regular files are read, at most MAX_FILE_BYTES, validated a chunk at a time with
only KEPT_PER_FILE problems kept, and a file with more bad rows than good is refused
even when skipping bad rows. (Peak memory is measured by bench/import_junk.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import ImportFileError
from core.importing import football_data
from core.importing.football_data import KEPT_PER_FILE, MAX_FILE_BYTES, parse_file
from core.importing.service import import_paths
from core.services import FilterBetsService
from tests.conftest import real_file

HEADER = "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG"


def test_a_device_is_refused_unread() -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_file(Path("/dev/zero"))
    assert str(caught.value) == (
        "zero: not a regular file (a device, pipe or socket); only files are imported"
    )


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    pipe = tmp_path / "E0.csv"
    os.mkfifo(pipe)
    with pytest.raises(ImportFileError, match=r"^E0\.csv: not a regular file"):
        parse_file(pipe)


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:  # sparse: no disk space used
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ImportFileError) as caught:
        parse_file(huge)
    assert str(caught.value) == (
        "huge.csv: larger than 64 MB, far beyond any football-data file; not imported"
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_files_read_like_their_utf8_original(tmp_path: Path, encoding: str) -> None:
    original = real_file("football/E0_2019-20.csv")
    copy = tmp_path / original.name
    copy.write_bytes(original.read_text(encoding="utf-8").encode(encoding))
    assert parse_file(copy) == parse_file(original)


@pytest.mark.parametrize("name", ["E0_2001-02.csv", "F1_2019-20.csv", "E2_2014-15.csv"])
def test_a_file_read_in_many_chunks_parses_as_in_one(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quoted cells (E0_2001-02), CR CR LF line ends (F1_2019-20), bad cells (E2_2014-15)."""
    whole = parse_file(real_file(f"football/{name}"))
    monkeypatch.setattr(football_data, "CHUNK_LINES", 7)
    monkeypatch.setattr(football_data, "_LINE_BLOCK", 100)
    assert parse_file(real_file(f"football/{name}")) == whole


def junk(folder: Path, *, bad: int, good: int) -> Path:
    """Rows of junk with a few that happen to parse (league "3", teams x v junk)."""
    rows = [f"3,j{i},x,junk,1,1" for i in range(bad)]
    rows += [f"3,{day + 1:02d}/08/2020,x,junk,1,1" for day in range(good)]
    path = folder / "junk.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_only_the_first_problems_of_a_file_are_kept_and_all_are_counted(
    tmp_path: Path,
) -> None:
    parsed = parse_file(junk(tmp_path, bad=KEPT_PER_FILE + 500, good=20))
    assert (parsed.bad_row_count, len(parsed.bad_rows)) == (KEPT_PER_FILE + 500, KEPT_PER_FILE)
    assert parsed.data_rows == KEPT_PER_FILE + 520
    assert parsed.bad_rows[0].line == 2 and parsed.bad_rows[-1].line == KEPT_PER_FILE + 1


async def test_a_file_with_more_bad_rows_than_good_is_refused_even_when_skipping(
    service: FilterBetsService, tmp_path: Path
) -> None:
    summary = await import_paths(service.db, [junk(tmp_path, bad=1500, good=20)],
                                 skip_bad_rows=True)  # fmt: skip
    assert summary.fixtures_added == 0
    [error] = summary.file_errors
    assert error.startswith("junk.csv: refused, 1,500 of 1,520 rows are bad (first: line 2:")
    assert error.endswith("not imported, even when skipping bad rows")
    assert (len(summary.rejected_rows), summary.rejected_count) == (KEPT_PER_FILE, 1500)
    assert "1,500 rows rejected" in summary.summary_line()


async def test_devices_pipes_and_huge_files_are_refused_and_the_others_imported(
    service: FilterBetsService, tmp_path: Path
) -> None:
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    good = real_file("football/E0_2019-20.csv")
    summary = await import_paths(service.db, [Path("/dev/zero"), pipe, huge, good])
    assert summary.fixtures_added == 380
    assert [error.split(":")[0] for error in summary.file_errors] == [
        "zero",
        "pipe.csv",
        "huge.csv",
    ]
