"""The `filterbets` command. With no sub-command it opens the dashboard.

Heavy imports (Textual, the importer) are deferred to the command that needs them,
so `filterbets --help` and `filterbets db current` start fast.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TextIO

from core.config import Settings, load_settings
from core.errors import FilterBetsError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="SQLAlchemy URL of the database (overrides FILTERBETS_DATABASE_URL)",
    )
    parser.add_argument("--user", metavar="NAME", help="act as this user (FILTERBETS_USER)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="filterbets",
        description="Backtest football betting filters. With no command, opens the dashboard.",
    )
    _add_global_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="load the bundled demo seasons into the database")
    demo.add_argument("--open", action="store_true", help="open the dashboard afterwards")

    importer = commands.add_parser("import", help="import football-data.co.uk CSV files")
    importer.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    importer.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="import the good rows of a file that has bad ones (default: refuse the file)",
    )
    importer.add_argument("--quiet", action="store_true", help="no progress bar or warnings")

    db = commands.add_parser("db", help="database schema: upgrade, downgrade, current, history")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_commands.add_parser("upgrade", help="upgrade the schema (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    down = db_commands.add_parser("downgrade", help="downgrade the schema to REV")
    down.add_argument("revision", metavar="REV")
    db_commands.add_parser("current", help="show the database's schema revision")
    db_commands.add_parser("history", help="list the schema revisions")

    commands.add_parser("dashboard", help="open the dashboard (the default)")
    return parser


def _run(coro: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(coro)


def _say(message: str, stream: TextIO = sys.stderr) -> None:
    print(message, file=stream, flush=True)


async def _cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from core import migrate

    if args.db_command == "upgrade":
        status = await migrate.upgrade(settings, args.revision)
        print(f"{settings.describe_backend()}: {status.describe()}")
    elif args.db_command == "downgrade":
        status = await migrate.downgrade(settings, args.revision)
        print(f"{settings.describe_backend()}: {status.describe()}")
    elif args.db_command == "current":
        current = await migrate.current_revision(settings)
        head = await asyncio.to_thread(migrate.head_revision)
        state = "head" if current == head else f"behind head {head}"
        print(f"{settings.describe_backend()}: revision {current or '(none)'} ({state})")
    else:
        for line in await asyncio.to_thread(migrate.history_lines):
            print(line)
    return EXIT_OK


async def _open_service(settings: Settings) -> Any:
    from core.services import FilterBetsService

    service = await FilterBetsService.open(settings)
    if service.schema_status is not None and service.schema_status.changed:
        _say(f"{settings.describe_backend()}: {service.schema_status.describe()}")
    return service


def _progress_printer(stream: TextIO) -> Callable[[Any], None] | None:
    """A one-line progress bar on a terminal; nothing when output is piped."""
    if not stream.isatty():
        return None
    width = 24

    def show(progress: Any) -> None:
        total = max(progress.rows_total, 1)
        done = min(progress.rows_done, total)
        filled = int(width * done / total)
        bar = "#" * filled + "." * (width - filled)
        stream.write(
            f"\r[{bar}] files {progress.files_done}/{progress.files_total}"
            f"  rows {progress.rows_done:,}/{progress.rows_total:,}"
            f"  {Path(progress.current_file).name[:28]:<28}"
        )
        stream.flush()

    return show


async def _import(
    settings: Settings, paths: Sequence[Path], *, skip_bad_rows: bool, quiet: bool
) -> int:
    from core.importing.service import expand_paths, import_paths

    files = expand_paths(paths)
    service = await _open_service(settings)
    try:
        on_progress = None if quiet else _progress_printer(sys.stderr)
        summary = await import_paths(
            service.db, files, skip_bad_rows=skip_bad_rows, on_progress=on_progress
        )
    finally:
        await service.close()
    if on_progress is not None:
        sys.stderr.write("\r\x1b[2K")
    if not quiet:
        for warning in summary.warnings:
            _say(f"warning: {warning}")
    for row in summary.rejected_rows:
        _say(f"rejected: {row.file}:{row.line}: {row.reason}")
    for error in summary.file_errors:
        _say(f"error: {error}")
    print(summary.summary_line())
    return EXIT_ERROR if summary.file_errors else EXIT_OK


def demo_files() -> list[Path]:
    folder = Path(__file__).resolve().parent / "demo_data"
    return sorted(folder.glob("*.csv"))


async def _cmd_demo(settings: Settings) -> int:
    print(f"Loading {len(demo_files())} demo seasons into {settings.describe_backend()}")
    return await _import(settings, demo_files(), skip_bad_rows=False, quiet=True)


def _open_dashboard(settings: Settings) -> int:
    from tui.app import run_app

    return run_app(settings)


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    command = args.command or "dashboard"
    if command == "dashboard":
        return _open_dashboard(settings)
    if command == "db":
        return _run(_cmd_db(settings, args))
    if command == "import":
        return _run(
            _import(settings, args.paths, skip_bad_rows=args.skip_bad_rows, quiet=args.quiet)
        )
    if command == "demo":
        code = _run(_cmd_demo(settings))
        if code == EXIT_OK and args.open:
            return _open_dashboard(settings)
        return code
    raise AssertionError(f"unhandled command {command!r}")


def describe_database_error(settings: Settings, exc: BaseException) -> str:
    """One line for a database that cannot be reached or opened."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc) else ""
    return f"cannot use database {settings.describe_backend()}: {reason or type(exc).__name__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.database_url, args.user)
    except FilterBetsError as exc:
        parser.exit(EXIT_USAGE, f"filterbets: error: {exc}\n")
    try:
        return _dispatch(settings, args)
    except FilterBetsError as exc:
        _say(f"filterbets: error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _say("filterbets: interrupted")
        return 130
    except Exception as exc:
        from sqlalchemy.exc import DBAPIError, OperationalError

        if isinstance(exc, OperationalError | DBAPIError | OSError | ConnectionError):
            _say(f"filterbets: error: {describe_database_error(settings, exc)}")
            return EXIT_ERROR
        raise


if __name__ == "__main__":
    sys.exit(main())
