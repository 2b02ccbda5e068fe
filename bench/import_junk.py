"""Peak memory of importing a 34 MB file of junk rows (with 20 rows that parse).

Writes the junk file to a temporary folder, imports it with --skip-bad-rows into a fresh
SQLite database in a child process, and prints one JSON line:
  {"file_mb", "rows", "peak_rss_mb", "seconds", "exit_code", "summary"}
peak_rss_mb is the child's maximum resident set size. The file must be refused (more
bad rows than good) and the memory stay bounded, whatever the file's size.

Usage: uv run python bench/import_junk.py [--mb 34]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def write_junk(path: Path, megabytes: float) -> int:
    limit = int(megabytes * 1_000_000)
    rows = 0
    with path.open("w") as out:
        out.write("Div,Date,HomeTeam,AwayTeam,FTHG,FTAG\n")
        size = 0
        while size < limit:
            if rows % 50_000 == 0 and rows // 50_000 < 20:
                line = f"3,{rows // 50_000 + 1:02d}/08/2020,x,junk,1,1\n"
            else:
                line = f"3,j{rows % 1000},x,junk,1,1\n"
            out.write(line)
            size += len(line)
            rows += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=34.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="filterbets-junk-") as folder:
        junk = Path(folder) / "junk.csv"
        rows = write_junk(junk, args.mb)
        url = f"sqlite:///{Path(folder) / 'junk.db'}"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "core.cli", "--database-url", url, "import", "--quiet",
             "--skip-bad-rows", str(junk)],
            cwd=REPO_ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "file_mb": args.mb,
                "rows": rows,
                "peak_rss_mb": round(peak_kb / 1024),
                "seconds": round(seconds, 2),
                "exit_code": done.returncode,
                "summary": (done.stdout.strip().splitlines() or [""])[-1],
            }
        )
    )


if __name__ == "__main__":
    main()
