"""The job tests' pacing reaches the processes they start (else a fast machine finishes a
job before a fault test can catch it mid-run, and the tests fail by luck of timing)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.jobs_support import pace_jobs


def test_a_child_started_under_pace_jobs_runs_a_paced_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    pace_jobs(monkeypatch, microseconds=30.0)
    probe = (
        "import core.backtest.engine as e; "
        "print(e.run_backtest.__qualname__, e.settle_flat.__qualname__)"
    )
    # Started elsewhere than the repository: the pacing must not depend on the child's cwd.
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["paced.<locals>.run"] * 2, out.stderr


def test_without_pace_jobs_a_child_runs_the_real_engine(tmp_path: os.PathLike[str]) -> None:
    probe = (
        "import core.backtest.engine as e; "
        "print(e.run_backtest.__qualname__, e.settle_flat.__qualname__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["run_backtest", "settle_flat"], out.stderr
