"""`filterbets scan` (today's picks from saved filters) and `filterbets picks` (their live
record)."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from core.config import Settings


def add_scan_commands(commands: Any) -> None:
    scan = commands.add_parser(
        "scan",
        help="list the upcoming fixtures your filters pick, with price and stake",
        description=(
            "Upcoming fixtures are those without a result, from a fixtures file"
            " (football-data's fixtures.csv); their features are as of each kick-off."
        ),
    )
    scan.add_argument("filters", nargs="*", metavar="FILTER", help="saved filters (names or ids)")
    scan.add_argument("--all", action="store_true", help="every active saved filter")
    scan.add_argument("--rules", metavar="JSON", help="inline rules JSON (or @file)")
    scan.add_argument("--market", help="with --rules: home|draw|away|over25|...")
    scan.add_argument("--odds", metavar="SRC", help="with --rules: the odds source (pinnacle)")
    scan.add_argument("--from", dest="date_from", metavar="DATE", help="first day (today)")
    scan.add_argument("--to", dest="date_to", metavar="DATE", help="last day")
    scan.add_argument(
        "--bank", metavar="AMOUNT", help="the bank percent and Kelly filters stake from"
    )
    scan.add_argument(
        "--record", action="store_true", help="store the picks as taken (for `filterbets picks`)"
    )
    scan.add_argument("--json", action="store_true", help="print one JSON object")

    picks = commands.add_parser(
        "picks", help="the picks you recorded: outcomes, profit, CLV, against the backtest"
    )
    picks.add_argument("filter", nargs="?", metavar="FILTER", help="only this filter's picks")
    picks.add_argument("--json", action="store_true", help="print one JSON object")


def _targets_usage(args: argparse.Namespace) -> None:
    from core.cli import UsageError

    given = sum([bool(args.filters), bool(args.all), args.rules is not None])
    if given != 1:
        raise UsageError("give saved FILTER names, --all, or --rules JSON (one of them)")
    if args.rules is not None and args.market is None:
        raise UsageError("--market: required with --rules (home, draw, away, ...)")


async def cmd_scan(settings: Settings, args: argparse.Namespace) -> int:
    from core.backtest.request import BacktestRequest, parse_date
    from core.cli import EXIT_OK, UsageError, _open_service, read_json_argument
    from core.scanner import Scanner, ScanTarget

    _targets_usage(args)
    bank = None
    if args.bank is not None:
        try:
            bank = Decimal(args.bank).quantize(Decimal("0.01"))
        except InvalidOperation:
            raise UsageError(f"--bank: {args.bank!r} is not an amount") from None
        if not bank.is_finite() or bank <= 0:
            raise UsageError(f"--bank: must be more than 0, got {args.bank}")
    date_from = parse_date("from", args.date_from)
    date_to = parse_date("to", args.date_to)
    service = await _open_service(settings)
    try:
        scanner = Scanner(service.db, service.user_id)
        if args.rules is not None:
            rules = read_json_argument(args.rules, "--rules")
            request = BacktestRequest(
                market=args.market, rules=rules, odds_source=args.odds or "pinnacle"
            ).validated()
            targets = [ScanTarget("inline rules", rules, request)]
        else:
            targets = await scanner.saved_targets(args.filters, every=args.all)
        result = await scanner.scan(targets, date_from=date_from, date_to=date_to, bank=bank)
        recorded = await scanner.record(result.picks) if args.record else None
    finally:
        await service.close()
    if args.json:
        out = result.to_json()
        if recorded is not None:
            out["recorded"] = recorded
        print(json.dumps(out, default=str))
    else:
        print(render_scan(result, recorded))
    return EXIT_OK


async def cmd_picks(settings: Settings, args: argparse.Namespace) -> int:
    from core.cli import EXIT_OK, _open_service
    from core.scanner import Scanner

    service = await _open_service(settings)
    try:
        picks, filters = await Scanner(service.db, service.user_id).records(args.filter)
    finally:
        await service.close()
    if args.json:
        print(
            json.dumps(
                {
                    "picks": [pick.to_json() for pick in picks],
                    "filters": [record.to_json() for record in filters],
                },
                default=str,
            )
        )
    else:
        print(render_picks(picks, filters))
    return EXIT_OK


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2%}"


def render_scan(result: Any, recorded: int | None) -> str:
    lines = [
        f"{len(result.picks):,} picks among {result.upcoming:,} upcoming fixtures"
        f" ({result.skipped_no_odds:,} matched without the price asked for)"
    ]
    lines += [f"  ! {warning}" for warning in result.warnings]
    day = None
    for pick in result.picks:
        if pick.date != day:
            day = pick.date
            lines += ["", f"  {day:%a %d %b %Y}"]
        kickoff = "--:--" if pick.kickoff is None else pick.kickoff.strftime("%H:%M")
        lines.append(
            f"  {kickoff}  {pick.league:<4} {pick.home_team} v {pick.away_team}"
            f"  {pick.market} @ {pick.price:g} ({pick.odds_source}), stake {pick.stake}"
            f"  [{pick.filter}]"
        )
        used = ", ".join(f"{name}={value}" for name, value in pick.features.items())
        if used:
            lines.append(f"         {used}")
    if recorded is not None:
        lines += ["", f"  recorded {recorded:,} new picks (see `filterbets picks`)"]
    return "\n".join(lines)


def render_picks(picks: list[Any], filters: list[Any]) -> str:
    if not picks:
        return "no picks recorded yet: `filterbets scan ... --record` records them"
    lines = ["Picks"]
    for pick in picks:
        result = "open" if pick.outcome is None else f"{pick.outcome} {pick.profit:+.2f}"
        lines.append(
            f"  {pick.date}  {pick.league:<4} {pick.home_team} v {pick.away_team}"
            f"  {pick.market} @ {pick.price:g}, stake {pick.stake}  {result}  [{pick.filter}]"
        )
    lines += ["", "Live record against the backtest (seasons before the first pick)"]
    for record in filters:
        clv = "-" if record.clv is None else f"{record.clv:+.2%}"
        lines.append(
            f"  {record.filter}: {record.picks} picks, {record.settled} settled,"
            f" profit {record.profit:+.2f}, yield {_percent(record.yield_)}, CLV {clv};"
            f" backtest yield {_percent(record.backtest_yield)}"
        )
        lines.append(f"    {record.note}")
    return "\n".join(lines)
