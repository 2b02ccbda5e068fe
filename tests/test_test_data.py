"""The tests' real data: every shipped file is listed with its origin and checksum, is the
same bytes as the shared folder's copy, and the way tests ask for data skips or fails as
conftest.py says."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import TEST_DATA, real_file, shared_data

# | E0_1999-00.csv | origin | path | 23504 | 736515cb... | ... (the football-corrupt table
# has no origin column)
ROW = re.compile(r"^\| (?P<name>[^ |]+\.csv) \|.*\| (?P<bytes>\d+) \| (?P<sha1>[0-9a-f]{40}) \|")


def _listed() -> dict[str, tuple[int, str]]:
    """PROVENANCE.md's rows by path under tests/data: (bytes, sha1)."""
    listed: dict[str, tuple[int, str]] = {}
    folder = ""
    for line in (TEST_DATA / "PROVENANCE.md").read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## (\S+)/", line)
        if heading:
            folder = heading.group(1)
        row = ROW.match(line)
        if row:
            listed[f"{folder}/{row['name']}"] = (int(row["bytes"]), row["sha1"])
    return listed


def _shipped() -> list[str]:
    return sorted(
        path.relative_to(TEST_DATA).as_posix()
        for path in TEST_DATA.rglob("*")
        if path.is_file() and path.name != "PROVENANCE.md"
    )


def test_every_shipped_file_is_listed_with_its_size_and_checksum() -> None:
    listed = _listed()
    assert sorted(listed) == _shipped()
    for name, (size, sha1) in listed.items():
        data = (TEST_DATA / name).read_bytes()
        assert (len(data), hashlib.sha1(data).hexdigest()) == (size, sha1), name


def test_the_shipped_files_stay_small() -> None:
    total = sum((TEST_DATA / name).stat().st_size for name in _shipped())
    assert total < 3_000_000, f"tests/data holds {total:,} bytes; ask for the shared folder"


@pytest.mark.parametrize("name", _shipped())
def test_a_shipped_file_is_the_shared_folders_copy(name: str) -> None:
    assert (TEST_DATA / name).read_bytes() == shared_data(name).read_bytes()


# --- asking for data ----------------------------------------------------------------------


@pytest.fixture
def no_shared_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    absent = tmp_path / "no-such-shared-folder"
    monkeypatch.setattr(conftest, "SHARED_DATA", absent)
    monkeypatch.delenv("FILTERBETS_REQUIRE_CORPUS", raising=False)
    return absent


def test_a_shipped_file_is_found_without_the_shared_folder(no_shared_folder: Path) -> None:
    assert real_file("football/E0_2012-13.csv") == TEST_DATA / "football" / "E0_2012-13.csv"


def test_without_the_shared_folder_a_test_is_skipped_and_told_why(no_shared_folder: Path) -> None:
    for ask in (lambda: shared_data("football"), lambda: real_file("klines/x.csv")):
        with pytest.raises(pytest.skip.Exception) as skipped:
            ask()
        assert str(no_shared_folder) in str(skipped.value)
        assert "FILTERBETS_SHARED_DATA" in str(skipped.value)


def test_require_corpus_turns_that_skip_into_a_failure(
    no_shared_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FILTERBETS_REQUIRE_CORPUS", "1")
    with pytest.raises(pytest.fail.Exception, match="FILTERBETS_REQUIRE_CORPUS=1"):
        shared_data("football")


def test_a_name_missing_from_a_present_shared_folder_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path)
    with pytest.raises(pytest.fail.Exception, match=r"E0_2014-15\.csv"):
        real_file("football/E0_2014-15.csv")
