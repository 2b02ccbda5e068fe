"""Test-only crash points for child processes.

Python imports `sitecustomize` at start-up from any directory on PYTHONPATH; a test puts
this directory there (with the repository after it) and names a point in
FILTERBETS_TEST_HANG_AT. The child then stops at that point, says so on stderr, and waits
to be killed: a real process killed at a known moment, with no hook in the application.

  import-before-features   `filterbets import` after every file has committed, before
                           the feature recompute
"""

from __future__ import annotations

import os

HANG_AT = os.environ.get("FILTERBETS_TEST_HANG_AT")
MARKER = "crashpoint reached:"

if HANG_AT == "import-before-features":
    import asyncio
    import sys
    from typing import Any

    import core.importing.service as importing

    async def _hang(*_args: Any) -> None:
        print(f"{MARKER} {HANG_AT}", file=sys.stderr, flush=True)
        await asyncio.Event().wait()

    importing.recompute_features = _hang  # type: ignore[assignment]
