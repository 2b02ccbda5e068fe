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

    filters = commands.add_parser("filters", help="saved filters: create, list, show, ...")
    filter_commands = filters.add_subparsers(
        dest="filters_command", metavar="ACTION", required=True
    )
    create = filter_commands.add_parser("create", help="save a new filter")
    create.add_argument("name")
    create.add_argument("--rules", required=True, metavar="JSON", help="rules JSON, or @file")
    create.add_argument("--stake", default="1.00", help="flat stake in units (default 1.00)")
    create.add_argument("--description", default="")
    filter_commands.add_parser("list", help="list your filters")
    for action, text in (
        ("show", "show one filter"),
        ("delete", "delete a filter (its results are kept)"),
        ("export", "print a filter as JSON, for `filters import`"),
    ):
        sub = filter_commands.add_parser(action, help=text)
        sub.add_argument("name", help="filter name or id")
    imported = filter_commands.add_parser("import", help="save a filter from an export file")
    imported.add_argument("file", type=Path)

    backtest = commands.add_parser("backtest", help="run a backtest now and store its result")
    add_backtest_arguments(backtest)
    backtest.add_argument("--json", action="store_true", help="print one JSON object")

    from core.jobs.cli import add_jobs_commands

    add_jobs_commands(commands)

    commands.add_parser("dashboard", help="open the dashboard (the default)")
    return parser


def add_backtest_arguments(parser: argparse.ArgumentParser) -> None:
    """The request arguments, shared by `backtest` and `jobs submit`."""
    parser.add_argument("filter", nargs="?", help="a saved filter's name or id")
    parser.add_argument("--rules", metavar="JSON", help="inline rules JSON (or @file)")
    parser.add_argument(
        "--market", required=True, help="home|draw|away|over25|under25|ah_home|ah_away"
    )
    parser.add_argument(
        "--odds", default="pinnacle", metavar="SRC", help="odds source (default pinnacle)"
    )
    parser.add_argument("--leagues", default="", help="comma-separated league codes, e.g. E0,SP1")
    parser.add_argument(
        "--seasons", default="", help="comma-separated seasons, e.g. 2018-19,2019-20"
    )
    parser.add_argument("--from", dest="date_from", metavar="DATE", help="first date, YYYY-MM-DD")
    parser.add_argument("--to", dest="date_to", metavar="DATE", help="last date, YYYY-MM-DD")
    parser.add_argument("--staking", default="flat", help="flat | percent | kelly")
    parser.add_argument(
        "--stake", help="flat: units per bet (default: the filter's stake); percent: %% of bank"
    )
    parser.add_argument("--bank", default="100", help="starting bank (default 100)")
    parser.add_argument("--kelly-fraction", type=float, default=0.25)
    parser.add_argument("--kelly-cap", type=float, default=0.05, help="max stake, share of bank")


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


class UsageError(FilterBetsError):
    """Bad arguments: exit code 2."""


def _read_rules_argument(raw: str) -> Any:
    import json

    text = raw
    source = "--rules"
    if raw.startswith("@"):
        path = Path(raw[1:])
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{source}: cannot read ({exc.strerror})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc


def request_from_args(args: argparse.Namespace) -> Any:
    from core.backtest.request import BacktestRequest, parse_date

    if (args.filter is None) == (args.rules is None):
        raise UsageError("give a saved filter name or --rules JSON (one of them)")
    split = [part.strip() for part in args.leagues.split(",") if part.strip()]
    seasons = [part.strip() for part in args.seasons.split(",") if part.strip()]
    return BacktestRequest(
        market=args.market,
        filter_ref=args.filter,
        rules=None if args.rules is None else _read_rules_argument(args.rules),
        odds_source=args.odds,
        leagues=tuple(split),
        seasons=tuple(seasons),
        date_from=parse_date("from", args.date_from),
        date_to=parse_date("to", args.date_to),
        staking=args.staking,
        stake=None if args.stake is None else args.stake,
        bank=args.bank,
        kelly_fraction=args.kelly_fraction,
        kelly_cap=args.kelly_cap,
    ).validated()


async def _cmd_filters(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from core.filters import FilterStore

    service = await _open_service(settings)
    try:
        store = FilterStore(service.db, service.user_id)
        action = args.filters_command
        if action == "create":
            info = await store.create(
                args.name,
                _read_rules_argument(args.rules),
                stake=args.stake,
                description=args.description,
            )
            print(f"saved filter {info.name!r} (id {info.id})")
        elif action == "list":
            rows = await store.list()
            if not rows:
                print("no filters yet: filterbets filters create NAME --rules JSON")
            for info in rows:
                last = (
                    f"last: {info.last_bets:,} bets, yield "
                    + ("-" if info.last_yield is None else f"{info.last_yield * 100:+.2f}%")
                    if info.last_result_id
                    else "never run"
                )
                print(f"{info.id:>4}  {info.name:<30} stake {info.stake:<8} {last}")
        elif action == "show":
            info = await store.get(args.name)
            print(f"{info.name} (id {info.id}), stake {info.stake}")
            if info.description:
                print(info.description)
            print(json.dumps(info.rules, indent=2))
        elif action == "delete":
            info = await store.delete(args.name)
            print(f"deleted filter {info.name!r}; its stored results are kept")
        elif action == "export":
            info = await store.get(args.name)
            print(json.dumps(store.export_document(info), indent=2))
        else:
            info = await store.import_file(args.file)
            print(f"imported filter {info.name!r} (id {info.id})")
    finally:
        await service.close()
    return EXIT_OK


async def _cmd_backtest(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from core.backtest.engine import BacktestEngine
    from core.report import render_metrics

    request = request_from_args(args)
    service = await _open_service(settings)
    try:
        run = await BacktestEngine(service.db, service.user_id).run(request)
    finally:
        await service.close()
    if args.json:
        print(json.dumps(run.metrics | {"result_id": run.result_id}, default=str))
    else:
        title = f"Filter {run.filter_name!r}" if run.filter_name else "Inline rules"
        print(render_metrics(run.metrics, title=title, result_id=run.result_id))
        print(f"\n  {run.seconds * 1000:.0f} ms")
    return EXIT_OK


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
    if command == "filters":
        return _run(_cmd_filters(settings, args))
    if command == "backtest":
        return _run(_cmd_backtest(settings, args))
    if command in ("jobs", "worker"):
        from core.jobs.cli import run_command

        return run_command(settings, args)
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


def _usage_errors() -> tuple[type[Exception], ...]:
    from core.backtest.request import RequestError
    from core.errors import RuleError
    from core.filters import FilterError

    return (UsageError, RequestError, RuleError, FilterError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    usage_errors = _usage_errors()
    try:
        settings = load_settings(args.database_url, args.user)
    except FilterBetsError as exc:
        parser.exit(EXIT_USAGE, f"filterbets: error: {exc}\n")
    try:
        return _dispatch(settings, args)
    except usage_errors as exc:
        _say(f"filterbets: error: {exc}")
        return EXIT_USAGE
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
