"""`filterbets candles ...`, `filterbets strategies` and `filterbets strategy run`.

Kept free of heavy imports at module level: core.cli imports this to build its parser.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from core.config import Settings

EXIT_OK = 0
EXIT_ERROR = 1


def add_candle_commands(commands: Any) -> None:
    candles = commands.add_parser("candles", help="exchange candles: import, list")
    actions = candles.add_subparsers(dest="candles_command", metavar="ACTION", required=True)
    importer = actions.add_parser(
        "import", help="import candle files (Bybit, Binance, freqtrade); folders are searched"
    )
    importer.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    importer.add_argument("--symbol", help="e.g. BTCUSDT (default: from the file name)")
    importer.add_argument("--timeframe", help="e.g. 15m, 1h (default: from the file name)")
    importer.add_argument("--exchange", help="e.g. bybit (default: from the path, else bybit)")
    listing = actions.add_parser("list", help="list the candle series: range, bars, gaps")
    listing.add_argument("--json", action="store_true", help="print a JSON array")

    commands.add_parser("strategies", help="list the candle strategies and their parameters")
    strategy = commands.add_parser("strategy", help="candle strategies: run one")
    strategy_actions = strategy.add_subparsers(
        dest="strategy_command", metavar="ACTION", required=True
    )
    run = strategy_actions.add_parser("run", help="run a strategy over stored candles now")
    add_strategy_arguments(run)
    run.add_argument("--from", dest="date_from", metavar="DATE", help="first day, YYYY-MM-DD")
    run.add_argument("--to", dest="date_to", metavar="DATE", help="last day, YYYY-MM-DD")
    run.add_argument("--json", action="store_true", help="print one JSON object")


def add_strategy_arguments(parser: Any, *, required: bool = True) -> None:
    """The strategy request's arguments, shared by `strategy run` and `jobs submit`
    (which adds --from/--to itself)."""
    parser.add_argument("--symbol", required=required, help="e.g. BTCUSDT")
    parser.add_argument("--timeframe", required=required, help="e.g. 15m, 1h")
    parser.add_argument("--strategy", required=required, metavar="NAME", help="see `strategies`")
    parser.add_argument("--exchange", help="when the symbol is stored for several exchanges")
    parser.add_argument("--params", metavar="JSON", help='e.g. \'{"fast": 10, "slow": 30}\'')
    parser.add_argument("--fee", help="fee rate per fill (default 0.00055, Bybit taker)")
    parser.add_argument("--slippage-bps", help="slippage per fill in basis points (default 0)")
    parser.add_argument("--stop-loss", metavar="PCT", help="stop-loss, percent from entry")
    parser.add_argument("--take-profit", metavar="PCT", help="take-profit, percent from entry")
    parser.add_argument("--size", help="position size, fraction of equity (default 1)")
    parser.add_argument(
        "--long-short", action="store_true", help="reverse on exit signals (default long-only)"
    )
    parser.add_argument("--cash", help="starting cash (default 10000)")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "candles":
        return asyncio.run(_candles(settings, args))
    if args.command == "strategies":
        return _strategies()
    return asyncio.run(_strategy_run(settings, args))


async def _candles(settings: Settings, args: argparse.Namespace) -> int:
    from core.candles.store import CandleStore

    if args.candles_command == "import":
        return await _import(settings, args)
    store = await CandleStore.open(settings)
    try:
        series = await store.list_series()
    finally:
        await store.close()
    if args.json:
        print(json.dumps([info.to_dict() for info in series]))
        return EXIT_OK
    if not series:
        print("no candles yet: filterbets candles import FILE...")
        return EXIT_OK
    print(f"{'exchange':<12} {'symbol':<10} {'tf':<4} {'first':<16} {'last':<16} {'bars':>8} gaps")
    for info in series:
        first = info.first_open.strftime("%Y-%m-%d %H:%M") if info.first_open else "-"
        last = info.last_open.strftime("%Y-%m-%d %H:%M") if info.last_open else "-"
        gaps = (
            f"{info.gaps} ({info.missing_bars} bar{'s' if info.missing_bars > 1 else ''})"
            if info.gaps
            else "0"
        )
        print(
            f"{info.exchange:<12} {info.symbol:<10} {info.timeframe:<4} {first:<16} {last:<16}"
            f" {info.bars:>8,} {gaps}"
        )
    return EXIT_OK


async def _import(settings: Settings, args: argparse.Namespace) -> int:
    from core.candles.importing import expand_candle_paths, import_candle_files
    from core.candles.store import CandleStore
    from core.candles.timeframes import checked_timeframe
    from core.cli import UsageError

    timeframe = None if args.timeframe is None else checked_timeframe(args.timeframe)
    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {missing[0]}")
    files = expand_candle_paths(args.paths)
    if not files:
        raise UsageError("no candle files (.csv, .feather) in the folders given")
    store = await CandleStore.open(settings)

    def report(outcome: Any) -> None:
        if outcome.error is not None:
            _say(outcome.line())
            return
        print(outcome.line(), flush=True)
        for note in outcome.notes:
            _say(f"  note: {note}")

    try:
        summary = await import_candle_files(
            store,
            files,
            symbol=args.symbol,
            timeframe=timeframe,
            exchange=args.exchange,
            on_file=report,
        )
    finally:
        await store.close()
    print(summary.summary_line())
    return EXIT_ERROR if summary.refused else EXIT_OK


def _strategies() -> int:
    from core.candles.strategies import STRATEGIES

    for strategy in STRATEGIES.values():
        params = ", ".join(f"{p.name}: {p.type_name} = {p.default}" for p in strategy.params)
        print(f"{strategy.name:<13} {params or '(no parameters)'}")
        print(f"{'':<13} {strategy.description}")
    return EXIT_OK


async def _strategy_run(settings: Settings, args: argparse.Namespace) -> int:
    from core.candles.report import render_strategy_metrics
    from core.candles.request import request_from_args
    from core.candles.service import open_runner

    request = request_from_args(args)
    service, store, runner = await open_runner(settings)
    try:
        run = await runner.run(request)
    finally:
        await store.close()
        await service.close()
    if args.json:
        print(json.dumps(run.to_json(), default=str))
    else:
        print(render_strategy_metrics(run))
    return EXIT_OK
