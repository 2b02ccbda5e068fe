"""The `filterbets` command. With no sub-command it opens the dashboard.

Heavy imports (Textual, the importer) are deferred to the command that needs them,
so `filterbets --help` and `filterbets db current` start fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from core.config import Settings, load_settings, prepare_sqlite_file
from core.errors import FilterBetsError, UsageMistake
from core.text import display_width, pad, quoted

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
    importer.add_argument(
        "--verbose",
        action="store_true",
        help=f"list every warning and rejected row (default: {MESSAGES_PER_FILE} per file)",
    )

    db = commands.add_parser("db", help="database schema: upgrade, downgrade, current, history")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_commands.add_parser("upgrade", help="upgrade the schema (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    down = db_commands.add_parser(
        "downgrade", help="downgrade the schema to REV (says first what that deletes)"
    )
    down.add_argument("revision", metavar="REV", help="a revision, or base")
    down.add_argument(
        "--yes", action="store_true", help="go ahead without asking when the downgrade deletes data"
    )
    grant = db_commands.add_parser(
        "grant",
        help="PostgreSQL: a login role that runs and reads its own work and no one else's",
    )
    grant.add_argument("role", metavar="USER", help="the role's name, which is its user's too")
    secret = grant.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the role's password from stdin"
    )
    secret.add_argument(
        "--no-password",
        action="store_true",
        help="no password (trust, peer or certificate login; keeps one the role has)",
    )
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
    create.add_argument("--market", help="market the dashboard's r runs it on (default home)")
    create.add_argument("--odds", metavar="SRC", help="odds source to run it with")
    create.add_argument("--staking", help="flat | percent | kelly, to run it with")
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
    clash = imported.add_mutually_exclusive_group()
    clash.add_argument("--rename", metavar="NEW", help="save it under the name NEW")
    clash.add_argument(
        "--replace", action="store_true", help="overwrite your filter of the same name"
    )

    backtest = commands.add_parser("backtest", help="run a backtest now and store its result")
    add_backtest_arguments(backtest)
    backtest.add_argument("--json", action="store_true", help="print one JSON object")

    features = commands.add_parser("features", help="team features (form, table, Elo) for filters")
    feature_commands = features.add_subparsers(
        dest="features_command", metavar="ACTION", required=True
    )
    feature_commands.add_parser("recompute", help="recompute every fixture's features from scratch")

    fields = commands.add_parser(
        "fields", help="the fields rules can use, with what each means (no database needed)"
    )
    fields.add_argument(
        "query", nargs="?", default="", help="only fields whose name or meaning holds this"
    )
    fields.add_argument("--json", action="store_true", help="print one JSON list")

    data = commands.add_parser("data", help="stored fixtures: list imports, delete some")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    data_commands.add_parser("imports", help="list the imports that added fixtures")
    coverage = data_commands.add_parser(
        "coverage", help="the odds sources each league-season has prices from (for --odds)"
    )
    coverage.add_argument("--league", metavar="CODE", help="one league, e.g. E0")
    coverage.add_argument("--season", metavar="SEASON", help="one season, e.g. 2000-01")
    remove = data_commands.add_parser(
        "delete", help="delete a league-season, or the fixtures an import added"
    )
    remove.add_argument("--league", metavar="CODE", help="with --season: one league-season")
    remove.add_argument("--season", metavar="SEASON", help="e.g. 2019-20")
    remove.add_argument(
        "--import", dest="import_ids", metavar="ID", type=int, action="append",
        help="the fixtures import ID added (see `data imports`); repeatable",
    )  # fmt: skip
    remove.add_argument("--yes", action="store_true", help="delete without asking")

    teams = commands.add_parser("teams", help="team names: aliases for other spellings")
    team_commands = teams.add_subparsers(dest="teams_command", metavar="ACTION", required=True)
    alias = team_commands.add_parser(
        "alias", help="read NAME as the stored team EXISTING (its fixtures move there)"
    )
    alias.add_argument("name", metavar="NAME", help='another spelling, e.g. "Atl. Madrid"')
    alias.add_argument("existing", metavar="EXISTING", help='the stored name, e.g. "Ath Madrid"')
    team_commands.add_parser("aliases", help="list the aliases")

    from core.jobs.cli import add_jobs_commands
    from core.scan_cli import add_scan_commands
    from core.sweep_cli import add_sweep_commands

    add_sweep_commands(commands)
    add_scan_commands(commands)
    add_jobs_commands(commands)

    from core.candles.cli import add_candle_commands

    add_candle_commands(commands)

    commands.add_parser("dashboard", help="open the dashboard (the default)")
    return parser


def add_backtest_arguments(parser: argparse.ArgumentParser) -> None:
    """The request arguments, shared by `backtest` and `jobs submit`."""
    parser.add_argument("filter", nargs="?", help="a saved filter's name or id")
    parser.add_argument("--rules", metavar="JSON", help="inline rules JSON (or @file)")
    parser.add_argument(
        "--market",
        help="home|draw|away|over25|under25|ah_home|ah_away (default: the saved filter's)",
    )
    parser.add_argument(
        "--odds",
        metavar="SRC",
        help="odds source (default: the saved filter's, else pinnacle)",
    )
    parser.add_argument("--leagues", default="", help="comma-separated league codes, e.g. E0,SP1")
    parser.add_argument(
        "--seasons", default="", help="comma-separated seasons, e.g. 2018-19,2019-20"
    )
    parser.add_argument("--from", dest="date_from", metavar="DATE", help="first date, YYYY-MM-DD")
    parser.add_argument("--to", dest="date_to", metavar="DATE", help="last date, YYYY-MM-DD")
    parser.add_argument(
        "--staking", help="flat | percent | kelly (default: the saved filter's, else flat)"
    )
    parser.add_argument(
        "--stake", help="flat: units per bet (default: the filter's stake); percent: %% of bank"
    )
    parser.add_argument("--bank", help="starting bank (default: the saved filter's, else 100)")
    parser.add_argument("--kelly-fraction", type=float, help="default: saved, else 0.25")
    parser.add_argument("--kelly-cap", type=float, help="max stake, share of bank (0.05)")
    parser.add_argument(
        "--commission",
        help="an exchange's share of winnings, e.g. 0.02 (--odds bfe; default 0.05)",
    )


def _run(coro: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(coro)


def _say(message: str, stream: TextIO | None = None) -> None:
    # sys.stderr looked up per call, not bound at import: it may have been replaced.
    print(message, file=stream or sys.stderr, flush=True)


async def _cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from core import migrate

    if args.db_command == "upgrade":
        status = await migrate.upgrade(settings, args.revision)
        print(f"{settings.describe_backend()}: {status.describe()}")
    elif args.db_command == "downgrade":
        return await _downgrade(settings, args.revision, assume_yes=args.yes)
    elif args.db_command == "grant":
        return await _grant(settings, args)
    elif args.db_command == "current":
        current = await migrate.current_revision(settings)
        head = await asyncio.to_thread(migrate.head_revision)
        state = "head" if current == head else f"behind head {head}"
        print(f"{settings.describe_backend()}: revision {current or '(none)'} ({state})")
    else:
        for line in await asyncio.to_thread(migrate.history_lines):
            print(line)
    return EXIT_OK


async def _downgrade(settings: Settings, revision: str, *, assume_yes: bool) -> int:
    """Say what the downgrade deletes and ask (or want --yes); on SQLite, back up first."""
    from alembic.script.revision import RevisionError
    from alembic.util.exc import CommandError

    from core import migrate
    from core.downgrade import backup_sqlite, plan_downgrade

    backend = settings.describe_backend()
    try:
        plan = await plan_downgrade(settings, revision)
    except (RevisionError, CommandError, ValueError) as exc:
        raise UsageError(f"db downgrade: {exc}") from exc
    if plan.losses:
        _say(f"downgrading {backend} from {plan.current} to {plan.target} deletes:")
        for loss in plan.losses:
            _say(f"  - {loss}")
        if not settings.is_sqlite:
            _say("  (no copy is made on PostgreSQL: take one with pg_dump first to keep it)")
        if not assume_yes:
            if not _stdin_is_terminal():
                raise UsageError("db downgrade: it deletes the data above; add --yes to go ahead")
            if not _confirm("Delete it and downgrade? [y/N] "):
                _say("downgrade cancelled; nothing changed")
                return EXIT_ERROR
        if settings.is_sqlite and settings.sqlite_path is not None:
            copy = await asyncio.to_thread(backup_sqlite, settings, plan)
            _say(f"backed up {settings.sqlite_path} to {copy}")
    status = await migrate.downgrade(settings, revision)
    print(f"{backend}: {status.describe()}")
    return EXIT_OK


async def _grant(settings: Settings, args: argparse.Namespace) -> int:
    from core.access import check_role_name, grant_role
    from core.db import Database

    if settings.is_sqlite:
        raise UsageError(
            "db grant: only PostgreSQL has roles; a SQLite file is its owner's alone (0600)"
        )
    role = check_role_name(args.role)
    password = _role_password(role, args)
    service = await _open_service(settings)  # the schema at head: the policies exist
    await service.close()
    database = Database(settings)
    try:
        grant = await grant_role(database, role, password)
    finally:
        await database.dispose()
    done = "created" if grant.created else "renewed"
    print(
        f"{done} role {quoted(role)} on {settings.describe_backend()}: it reads the shared"
        f" data, and runs and reads only the work of user {quoted(role)}"
    )
    as_role = settings.database_url.set(username=role, password=None)
    print(f"it connects with: {as_role.render_as_string(hide_password=True)}")
    return EXIT_OK


def _role_password(role: str, args: argparse.Namespace) -> str | None:
    if args.no_password:
        return None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: standard input held no password")
        return password
    if not _stdin_is_terminal():
        raise UsageError("db grant: give --password-stdin or --no-password")
    import getpass

    password = getpass.getpass(f"password for role {role}: ")
    if not password or password != getpass.getpass("the same again: "):
        raise UsageError("db grant: the passwords were empty or differ; nothing changed")
    return password


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        return False


def _confirm(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


async def _open_service(settings: Settings, *, repair: bool = True) -> Any:
    """The service; first recomputing the features an interrupted import left undone,
    unless the command rewrites them all itself (`repair` False)."""
    from core.services import FilterBetsService

    service = await FilterBetsService.open(settings)
    if service.schema_status is not None and service.schema_status.changed:
        _say(f"{settings.describe_backend()}: {service.schema_status.describe()}")
    repaired = await service.repair_features() if repair else None
    if repaired is not None:
        _say(f"{settings.describe_backend()}: {repaired}")
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
    settings: Settings,
    paths: Sequence[Path],
    *,
    skip_bad_rows: bool,
    quiet: bool,
    verbose: bool = False,
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
        _say_capped(
            "warning",
            [str(warning) for warning in summary.warnings],
            verbose,
            summary.unlisted_warnings,
        )
    _say_capped(
        "rejected",
        [f"{row.file}:{row.line}: {row.reason}" for row in summary.rejected_rows],
        verbose,
        summary.unlisted_rejected,
    )
    for error in summary.file_errors:
        _say(f"error: {error}")
    print(summary.summary_line())
    return EXIT_ERROR if summary.file_errors else EXIT_OK


# Lines of one kind (warnings, rejected rows) printed per file before "... and N more".
MESSAGES_PER_FILE = 20


def _say_capped(kind: str, messages: list[str], verbose: bool, unlisted: Mapping[str, int]) -> None:
    """One line per message, at most MESSAGES_PER_FILE per file unless `verbose`: a
    damaged file can reject hundreds of rows, and the summary line says how many.
    `unlisted`: per file, the messages counted but not kept (a junk file's millions)."""
    shown: Counter[str] = Counter()
    hidden: Counter[str] = Counter(unlisted)
    for message in messages:
        file = message.split(":", 1)[0]
        if verbose or shown[file] < MESSAGES_PER_FILE:
            shown[file] += 1
            _say(f"{kind}: {message}")
        else:
            hidden[file] += 1
    from core.importing.football_data import KEPT_PER_FILE

    for file, more in hidden.items():
        if file not in unlisted:
            hint = "--verbose lists them all"
        elif verbose:
            hint = f"only the first {KEPT_PER_FILE:,} of a file are kept"
        else:
            hint = f"--verbose lists the first {KEPT_PER_FILE:,}"
        _say(f"{kind}: {file}: ... and {more:,} more ({hint})")


def demo_files() -> list[Path]:
    folder = Path(__file__).resolve().parent / "demo_data"
    return sorted(folder.glob("*.csv"))


DEMO_FILTERS: Final = (
    (
        "Away 2.0-3.0",
        "An example: away teams priced 2.0 to 3.0 at Pinnacle.",
        {"field": "odds.pinnacle.away", "op": "between", "value": [2.0, 3.0]},
        "away",
    ),
    (
        "Home in form",
        "An example: home sides at least half a point per game better than their guests,"
        " priced 1.5 to 2.5 at Pinnacle.",
        [
            {"field": "diff.ppg", "op": ">=", "value": 0.5},
            {"field": "odds.pinnacle.home", "op": "between", "value": [1.5, 2.5]},
        ],
        "home",
    ),
)
"""Saved with the demo seasons, so a first look at the dashboard has filters to run."""


async def _cmd_demo(settings: Settings) -> int:
    print(f"Loading {len(demo_files())} demo seasons into {settings.describe_backend()}")
    code = await _import(settings, demo_files(), skip_bad_rows=False, quiet=True)
    if code != EXIT_OK:
        return code
    from core.filters import FilterStore

    service = await _open_service(settings)
    try:
        store = FilterStore(service.db, service.user_id)
        existing = {info.name for info in await store.list()}
        added = []
        for name, description, rules, market in DEMO_FILTERS:
            if name not in existing:  # a second demo keeps the user's edits of them
                await store.create(
                    name, rules, description=description, backtest_settings={"market": market}
                )
                added.append(name)
    finally:
        await service.close()
    if added:
        print(f"saved {len(added)} example filters: {', '.join(quoted(name) for name in added)}")
    return EXIT_OK


def _open_dashboard(settings: Settings) -> int:
    from tui.app import run_app

    return run_app(settings)


class UsageError(UsageMistake):
    """Bad arguments: exit code 2."""


def _read_rules_argument(raw: str) -> Any:
    return read_json_argument(raw, "--rules")


def read_json_argument(raw: str, option: str) -> Any:
    """A JSON option's value (--rules, --grid): inline JSON, or @FILE. Parsed within
    limits: any input is a value or a one-line RuleError."""
    from core.rules.json_input import parse_json_text, read_json_file

    if raw.startswith("@"):
        return read_json_file(Path(raw[1:]))
    return parse_json_text(raw, option)


def check_request_args(args: argparse.Namespace) -> None:
    """Usage errors that need no database: one of filter and --rules, and a market for
    inline rules (a saved filter may carry its own)."""
    if (args.filter is None) == (args.rules is None):
        raise UsageError("give a saved filter name or --rules JSON (one of them)")
    if args.rules is not None and args.market is None:
        raise UsageError("--market: required with --rules (home, draw, away, ...)")


async def saved_backtest_settings(service: Any, args: argparse.Namespace) -> Any:
    """The saved filter's backtest settings, the defaults for any option not given."""
    from core.filters import FilterStore

    if args.filter is None:
        return None
    return (await FilterStore(service.db, service.user_id).get(args.filter)).backtest_settings


def _rules_argument(raw: str, *, template: bool) -> Any:
    from core.rules.validate import parse_rules

    rules = _read_rules_argument(raw)
    parse_rules(rules, params=template)
    return rules


def request_from_args(
    args: argparse.Namespace, saved: Mapping[str, Any] | None = None, *, template: bool = False
) -> Any:
    """The request: each option as given, else the saved filter's setting, else the
    request default. `template`: the rules are a sweep's, checked with its grid."""
    from core.backtest.request import BacktestRequest, parse_date

    check_request_args(args)
    saved = saved or {}
    defaults = BacktestRequest(market="home")

    def pick(given: Any, key: str, default: Any) -> Any:
        if given is not None:
            return given
        return saved.get(key) if saved.get(key) is not None else default

    market = pick(args.market, "market", None)
    if market is None:
        raise UsageError(
            f"--market: required, filter {quoted(args.filter)} has no saved market"
            " (home, draw, away, ...)"
        )
    split = [part.strip() for part in args.leagues.split(",") if part.strip()]
    seasons = [part.strip() for part in args.seasons.split(",") if part.strip()]
    return BacktestRequest(
        market=str(market),
        filter_ref=args.filter,
        rules=None if args.rules is None else _rules_argument(args.rules, template=template),
        odds_source=str(pick(args.odds, "odds_source", defaults.odds_source)),
        leagues=tuple(split),
        seasons=tuple(seasons),
        date_from=parse_date("from", args.date_from),
        date_to=parse_date("to", args.date_to),
        staking=str(pick(args.staking, "staking", defaults.staking)),
        stake=pick(args.stake, "stake", None),
        bank=pick(args.bank, "bank", defaults.bank),
        kelly_fraction=float(pick(args.kelly_fraction, "kelly_fraction", defaults.kelly_fraction)),
        kelly_cap=float(pick(args.kelly_cap, "kelly_cap", defaults.kelly_cap)),
        commission=pick(args.commission, "commission", None),
    ).validated()


def _filter_settings_args(args: argparse.Namespace) -> dict[str, Any] | None:
    """`filters create --market/--odds/--staking` as backtest settings, or None if none."""
    given = {"market": args.market, "odds_source": args.odds, "staking": args.staking}
    settings = {key: value for key, value in given.items() if value is not None}
    if settings.get("staking", "flat") == "flat" and settings:
        settings["stake"] = args.stake
    return settings or None


async def _cmd_filters(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from core.filters import FilterStore

    rules = _read_rules_argument(args.rules) if args.filters_command == "create" else None
    service = await _open_service(settings)
    try:
        store = FilterStore(service.db, service.user_id)
        action = args.filters_command
        if action == "create":
            info = await store.create(
                args.name,
                rules,
                stake=args.stake,
                description=args.description,
                backtest_settings=_filter_settings_args(args),
            )
            print(f"saved filter {quoted(info.name)} (id {info.id})")
        elif action == "list":
            rows = await store.list()
            if not rows:
                print("no filters yet: filterbets filters create NAME --rules JSON")
            # Aligned by terminal columns: an emoji takes two, an accent none of its own.
            width = min(max((display_width(info.name) for info in rows), default=0), 40)
            for info in rows:
                last = (
                    f"last: {info.last_bets:,} bets, yield "
                    + ("-" if info.last_yield is None else f"{info.last_yield * 100:+.2f}%")
                    if info.last_result_id
                    else "never run"
                )
                print(f"{info.id:>4}  {pad(info.name, width)}  stake {info.stake:<8} {last}")
        elif action == "show":
            info = await store.get(args.name)
            print(f"{info.name} (id {info.id}), stake {info.stake}")
            if info.backtest_settings:
                run = info.backtest_settings
                print(f"runs on {run['market']} @ {run['odds_source']}, {run['staking']} staking")
            if info.description:
                print(info.description)
            print(json.dumps(info.rules, indent=2))
        elif action == "delete":
            info = await store.delete(args.name)
            print(f"deleted filter {quoted(info.name)}; its stored results are kept")
        elif action == "export":
            info = await store.get(args.name)
            print(json.dumps(store.export_document(info), indent=2))
        else:
            info = await store.import_file(args.file, rename=args.rename, replace=args.replace)
            print(f"imported filter {quoted(info.name)} (id {info.id})")
    finally:
        await service.close()
    return EXIT_OK


async def _cmd_backtest(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from core.backtest.engine import BacktestEngine
    from core.report import render_metrics

    # Inline rules are checked before the database is opened; a saved filter's settings
    # (defaults for the options not given) need the database.
    early = request_from_args(args) if args.filter is None else None
    service = await _open_service(settings)
    try:
        request = early or request_from_args(args, await saved_backtest_settings(service, args))
        run = await BacktestEngine(service.db, service.user_id).run(request)
    finally:
        await service.close()
    if args.json:
        print(json.dumps(run.metrics | {"result_id": run.result_id}, default=str))
    else:
        title = f"Filter {quoted(run.filter_name)}" if run.filter_name else "Inline rules"
        print(render_metrics(run.metrics, title=title, result_id=run.result_id))
        print(f"\n  {run.seconds * 1000:.0f} ms")
    return EXIT_OK


async def _cmd_teams(settings: Settings, args: argparse.Namespace) -> int:
    from core.importing.teams import link_alias, list_aliases

    service = await _open_service(settings)
    try:
        if args.teams_command == "alias":
            link = await link_alias(service.db, args.name, args.existing)
            moved = ""
            if link.fixtures_moved:
                merged = f", {link.fixtures_merged:,} merged" if link.fixtures_merged else ""
                moved = f"; {link.fixtures_moved:,} fixtures moved to it{merged}"
            print(f"{link.alias!r} now reads as team {link.team!r}{moved}")
        else:
            aliases = await list_aliases(service.db)
            if not aliases:
                print('no aliases: filterbets teams alias "Other Name" "Stored Name"')
            for other, team in aliases:
                print(f"{other} -> {team}")
    finally:
        await service.close()
    return EXIT_OK


async def _cmd_data(settings: Settings, args: argparse.Namespace) -> int:
    from core.importing import removal

    if args.data_command == "delete":
        by_season = args.league is not None or args.season is not None
        if by_season == bool(args.import_ids) or (by_season and not (args.league and args.season)):
            raise UsageError("give --league CODE --season SEASON, or --import ID (one of them)")
    service = await _open_service(settings)
    try:
        if args.data_command == "coverage":
            return await _print_coverage(service, args.league, args.season)
        if args.data_command == "imports":
            imports = await removal.list_imports(service.db)
            if not imports:
                print("no imports recorded yet")
            for info in imports:
                when = info.imported_at.strftime("%Y-%m-%d %H:%M UTC")
                left = (
                    ""
                    if info.fixtures_left == info.fixtures_added
                    else (f", {info.fixtures_left:,} left")
                )
                print(
                    f"{info.id:>5}  {when}  {info.file_name}"
                    f"  {info.fixtures_added:,} fixtures added{left}"
                )
            return EXIT_OK
        if args.import_ids:
            plan = await removal.plan_imports(service.db, args.import_ids)
        else:
            plan = await removal.plan_league_season(service.db, args.league, args.season)
        if plan.fixtures == 0:
            print(plan.describe())
            return EXIT_OK
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError(f"{plan.describe()}; add --yes to delete")
            question = f"{plan.describe()}.\nDelete? [y/N] "
            answer = (await asyncio.to_thread(input, question)).strip().lower()
            if answer not in ("y", "yes"):
                print("nothing deleted")
                return EXIT_OK
        deleted = await removal.remove(service.db, plan)
    finally:
        await service.close()
    print(f"deleted {deleted:,} fixtures of {plan.label}; backtest results and ledgers kept")
    return EXIT_OK


async def _print_coverage(service: Any, league: str | None, season: str | None) -> int:
    """Per league-season, each odds source with the share of games it prices (1X2 home for
    Bet365, Pinnacle, average and maximum; any price for another book), most first."""
    from core.services import LeagueSeasonSummary, format_coverage

    summaries: list[LeagueSeasonSummary] = await service.league_seasons()
    chosen = [
        s
        for s in summaries
        if (league is None or s.league_code == league) and (season is None or s.season == season)
    ]
    if not chosen:
        what = " ".join(part for part in (league, season) if part)
        known = sorted({s.league_code for s in summaries})
        raise UsageError(
            f"no league-season {what} in the database"
            + (f" (leagues: {', '.join(known)})" if known else "")
        )
    width = max(40, min(shutil.get_terminal_size((80, 24)).columns, 100))
    for summary in chosen:
        print(f"{summary.league_code} {summary.season}  {summary.fixtures:,} games")
        pre = {k: v for k, v in summary.coverage.items() if not k.endswith("_close")}
        close = {k: v for k, v in summary.coverage.items() if k.endswith("_close")}
        close |= {f"{book}_close": share for book, share in summary.books_close.items()}
        for label, shares in (("pre-match", pre | summary.books), ("closing", close)):
            ranked = sorted(shares.items(), key=lambda item: -item[1])
            items = [f"{source} {format_coverage(share)}" for source, share in ranked if share > 0]
            for line in _wrap(items or ["-"], width - 12):
                print(f"  {label:<10}{line}")
                label = ""
    return EXIT_OK


def _wrap(items: list[str], width: int) -> list[str]:
    """Items two spaces apart, as many a line as fit `width` (an item is never split)."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += "  " + item
        else:
            lines.append(item)
    return lines


async def _cmd_features(settings: Settings) -> int:
    from core.features import recompute_all

    service = await _open_service(settings, repair=False)
    try:
        summary = await recompute_all(service.db)
    finally:
        await service.close()
    print(
        f"features: {summary.fixtures:,} fixtures, {summary.written:,} rows written"
        f" in {summary.seconds:.1f} s"
    )
    return EXIT_OK


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    command = args.command or "dashboard"
    if command == "fields":  # the catalogue alone: no database is opened, or made
        return _cmd_fields(args)
    if not (command == "db" and args.db_command == "history"):
        created = prepare_sqlite_file(settings)
        if created is not None:
            _say(f"filterbets: created a new database at {created}")
    if command == "dashboard":
        return _open_dashboard(settings)
    if command == "db":
        return _run(_cmd_db(settings, args))
    if command == "import":
        return _run(
            _import(
                settings,
                args.paths,
                skip_bad_rows=args.skip_bad_rows,
                quiet=args.quiet,
                verbose=args.verbose,
            )
        )
    if command == "filters":
        return _run(_cmd_filters(settings, args))
    if command == "backtest":
        return _run(_cmd_backtest(settings, args))
    if command == "features":
        return _run(_cmd_features(settings))
    if command in ("scan", "picks"):
        from core.scan_cli import cmd_picks, cmd_scan

        return _run((cmd_scan if command == "scan" else cmd_picks)(settings, args))
    if command in ("sweep", "promote"):
        from core.sweep_cli import cmd_promote, cmd_sweep

        return _run((cmd_sweep if command == "sweep" else cmd_promote)(settings, args))
    if command in ("candles", "strategies", "strategy"):
        from core.candles.cli import run_command as run_candle_command

        return run_candle_command(settings, args)
    if command == "teams":
        return _run(_cmd_teams(settings, args))
    if command == "data":
        return _run(_cmd_data(settings, args))
    if command in ("jobs", "worker"):
        from core.jobs.cli import run_command

        return run_command(settings, args)
    if command == "demo":
        code = _run(_cmd_demo(settings))
        if code == EXIT_OK and args.open:
            return _open_dashboard(settings)
        return code
    raise AssertionError(f"unhandled command {command!r}")


def _cmd_fields(args: argparse.Namespace) -> int:
    """Pre-match fields only: the others are refused in filters, and say what to use."""
    import json

    from core.rules.catalogue import FIELDS

    needle = args.query.strip().lower()
    chosen = [
        field
        for field in FIELDS.values()
        if field.pre_match
        and (
            not needle
            or needle in field.name.lower()
            or needle in field.description.lower()
            or needle in field.group.lower()
        )
    ]
    if args.json:
        rows = [
            {"name": f.name, "type": f.type, "group": f.group, "description": f.description}
            for f in chosen
        ]
        print(json.dumps(rows))
        return EXIT_OK
    if not chosen:
        _say(f"filterbets: no field holds {args.query!r}; try a shorter word, e.g. 'points'")
        return EXIT_USAGE
    width = max(len(f.name) for f in chosen)
    group = None
    for field in chosen:
        if field.group != group:
            group = field.group
            print(f"{'' if group == chosen[0].group else chr(10)}{group}")
        print(f"  {field.name:<{width}}  {field.type:<7}  {field.description}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # inside the try: a reader gone before the last write is the same
        return code
    except BrokenPipeError:
        return _reader_gone()


EXIT_PIPE_CLOSED = 128 + signal.SIGPIPE
"""What a shell reports for a Unix tool that a closed pipe stopped (`yes | head` gives 141)."""


def _reader_gone() -> int:
    """The reader of our output went away (`filterbets backtest ... | head`): stop without a
    word, as Unix tools do. Output still buffered goes to /dev/null, so the interpreter's
    final flush does not complain either."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_PIPE_CLOSED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.database_url, args.user)
    except FilterBetsError as exc:
        parser.exit(EXIT_USAGE, f"filterbets: error: {exc}\n")
    try:
        return _dispatch(settings, args)
    except UsageMistake as exc:
        _say(f"filterbets: error: {exc}")
        return EXIT_USAGE
    except FilterBetsError as exc:
        _say(f"filterbets: error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _say("filterbets: interrupted")
        return 130
    except BrokenPipeError:
        raise  # our output's reader went away: not a database error (see main)
    except Exception as exc:
        from core.dberrors import describe_database_error

        message = describe_database_error(exc, settings.describe_backend())
        if message is None:
            raise
        _say(f"filterbets: error: {message}")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
