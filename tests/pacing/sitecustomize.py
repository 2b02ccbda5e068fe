"""Test-only pacing for child processes (workers, the app's job child).

Python imports `sitecustomize` at start-up from any directory on PYTHONPATH; the job tests put
this directory there, with FILTERBETS_TEST_PACE_US set, for processes they start. The backtest
engine then spends that many extra microseconds per candidate while settling (in its worker
thread, so the event loop and heartbeats carry on). A fault test can catch a job mid-run on a
machine of any speed, instead of relying on a data set being big enough to be slow.
"""

from __future__ import annotations

import os

_PACE = os.environ.get("FILTERBETS_TEST_PACE_US")

if _PACE:
    # This directory is on sys.path (that is how this file was found); the repository may
    # not be yet, so the sibling module is imported by its plain name.
    from pace import pace_engine

    pace_engine(float(_PACE))
