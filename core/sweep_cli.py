"""`filterbets sweep` and `filterbets promote`: many variants of a filter or of a candle
strategy, and one of them run as a full backtest or strategy run."""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.config import Settings

TOP_VARIANTS = 15


def add_sweep_commands(commands: Any) -> None:
    from core.candles.cli import add_strategy_arguments
    from core.cli import add_backtest_arguments

    sweep = commands.add_parser(
        "sweep",
        help="run every variant of a rule template or a candle strategy over a grid,"
        " with a luck report",
        description=(
            'Rules may hold {"param": "NAME"} in place of values; the grid gives each'
            ' parameter a list of values or a range {"from": 1.5, "to": 3.0, "step": 0.1}.'
            " With --strategy the grid sweeps the strategy's parameters over stored candles"
            ' (e.g. {"fast": {"from": 5, "to": 50, "step": 5}, "slow": [50, 100, 200]}).'
        ),
    )
    add_backtest_arguments(sweep)
    strategy = sweep.add_argument_group("candle strategy sweeps (with --strategy)")
    add_strategy_arguments(strategy, required=False)
    strategy.add_argument(
        "--periods",
        choices=("month", "quarter"),
        help="a strategy sweep's walk-forward periods: calendar months (default) or quarters",
    )
    sweep.add_argument("--grid", required=True, metavar="JSON", help="the grid JSON, or @file")
    sweep.add_argument(
        "--min-bets",
        type=int,
        default=50,
        metavar="N",
        help="bets a variant needs to be chosen by the walk-forward or ranked best (50)",
    )
    sweep.add_argument(
        "--no-walk-forward", action="store_true", help="skip the season-by-season walk-forward"
    )
    sweep.add_argument(
        "--pbo-blocks", type=int, default=10, metavar="S", help="date blocks for PBO (even, 10)"
    )
    sweep.add_argument(
        "--job", action="store_true", help="queue it as a job (workers run it); print the job id"
    )
    sweep.add_argument(
        "--parts",
        type=int,
        metavar="N",
        help="as a job: split into N parts any worker may claim (default: by its size)",
    )
    sweep.add_argument("--json", action="store_true", help="print one JSON object")

    promote = commands.add_parser(
        "promote", help="run one variant of a stored sweep as a full backtest with its ledger"
    )
    promote.add_argument("result", type=int, help="the sweep's result id")
    promote.add_argument("variant", type=int, help="the variant's number (0-based, grid order)")
    promote.add_argument("--json", action="store_true", help="print one JSON object")


def sweep_request_from_args(args: argparse.Namespace, saved: Any) -> Any:
    from core.backtest.sweeps import SweepRequest
    from core.cli import UsageError, read_json_argument, request_from_args

    if args.staking not in (None, "flat"):
        raise UsageError("--staking: sweeps bet flat stakes")
    backtest = request_from_args(args, saved, template=True)
    return SweepRequest(
        backtest=backtest,
        grid=read_json_argument(args.grid, "--grid"),
        min_bets=args.min_bets,
        walk_forward=not args.no_walk_forward,
        pbo_blocks=args.pbo_blocks,
        parts=args.parts,
    ).validated()


_STRATEGY_ONLY = (
    "symbol",
    "timeframe",
    "exchange",
    "params",
    "fee",
    "slippage_bps",
    "stop_loss",
    "take_profit",
    "size",
    "cash",
    "periods",
)


def strategy_sweep_request_from_args(args: argparse.Namespace) -> Any:
    """A candle strategy sweep's request (`sweep --strategy`); football options are refused."""
    from core.candles.request import request_from_args
    from core.candles.sweep import StrategySweepRequest
    from core.cli import UsageError, read_json_argument

    football = [
        flag
        for flag, value in (
            ("a filter", args.filter),
            ("--rules", args.rules),
            ("--market", args.market),
            ("--odds", args.odds),
            ("--leagues", args.leagues or None),
            ("--seasons", args.seasons or None),
            ("--staking", args.staking),
            ("--stake", args.stake),
            ("--bank", args.bank),
            ("--kelly-fraction", args.kelly_fraction),
            ("--kelly-cap", args.kelly_cap),
            ("--parts", args.parts),
        )
        if value is not None
    ]
    if football:
        raise UsageError(f"--strategy: a strategy sweep takes no {football[0]}")
    return StrategySweepRequest(
        base=request_from_args(args, checked=False),
        grid=read_json_argument(args.grid, "--grid"),
        min_bets=args.min_bets,
        walk_forward=not args.no_walk_forward,
        pbo_blocks=args.pbo_blocks,
        periods=args.periods or "month",
    ).validated()


def _check_football_args(args: argparse.Namespace) -> None:
    from core.cli import UsageError, check_request_args

    given = [name for name in _STRATEGY_ONLY if getattr(args, name) is not None]
    if args.long_short:
        given.append("long_short")
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')}: only with --strategy")
    check_request_args(args)


async def cmd_sweep(settings: Settings, args: argparse.Namespace) -> int:
    from core.backtest.sweeps import SweepEngine
    from core.cli import EXIT_OK, _open_service, saved_backtest_settings

    # Everything that needs no database is checked before one is opened.
    request: Any = None
    if args.strategy is None:
        _check_football_args(args)
    else:
        request = strategy_sweep_request_from_args(args)
    service = await _open_service(settings)
    try:
        if request is None:
            request = sweep_request_from_args(args, await saved_backtest_settings(service, args))
        if args.job:
            from core.jobs.queue import JobQueue
            from core.jobs.sweep_jobs import submit_sweep

            info = await submit_sweep(JobQueue(service.db), service.user_id, request)
            print(json.dumps(info.to_dict(), default=str) if args.json else info.job_id)
            return EXIT_OK
        run = await SweepEngine(service.db, service.user_id).run(request)
    finally:
        await service.close()
    if args.json:
        print(json.dumps(run.report | {"result_id": run.result_id}, default=str))
    else:
        print(render_sweep(run.report, run.result_id))
        print(f"\n  {run.seconds * 1000:.0f} ms")
    return EXIT_OK


async def cmd_promote(settings: Settings, args: argparse.Namespace) -> int:
    from core.backtest.engine import BacktestEngine
    from core.candles.request import StrategyRequest
    from core.cli import EXIT_OK, _open_service
    from core.report import render_metrics
    from core.results import ResultStore

    service = await _open_service(settings)
    try:
        request = await ResultStore(service.db, service.user_id).variant_request(
            args.result, args.variant
        )
        if isinstance(request, StrategyRequest):
            return await _promote_strategy(service, request, args)
        run = await BacktestEngine(service.db, service.user_id).run(request)
    finally:
        await service.close()
    if args.json:
        print(json.dumps(run.metrics | {"result_id": run.result_id}, default=str))
    else:
        title = f"Sweep #{args.result}, variant {args.variant}"
        print(render_metrics(run.metrics, title=title, result_id=run.result_id))
    return EXIT_OK


async def _promote_strategy(service: Any, request: Any, args: argparse.Namespace) -> int:
    """A strategy sweep's variant as a full strategy run, stored with its trade ledger."""
    from core.candles.report import render_strategy_metrics
    from core.candles.service import StrategyRunner
    from core.candles.store import CandleStore
    from core.cli import EXIT_OK

    candles = await CandleStore.open(service.settings, service.db)
    try:
        run = await StrategyRunner(service.db, candles, service.user_id).run(request)
    finally:
        await candles.close()
    if args.json:
        print(json.dumps(run.to_json(), default=str))
    else:
        print(f"Sweep #{args.result}, variant {args.variant}")
        print(render_strategy_metrics(run))
    return EXIT_OK


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2%}"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in params.items())


def _title(report: dict[str, Any], result_id: int) -> str:
    if "strategy" not in report:
        return (
            f"Sweep of {report['trials']:,} variants, market {report['market']} at"
            f" {report['odds_source']} odds, flat {report['stake']} per bet, result #{result_id}"
        )
    fixed = _params(report["params"])
    return (
        f"Sweep of {report['trials']:,} variants of {report['strategy']}"
        f"{f' ({fixed})' if fixed else ''} on {report['exchange']} {report['symbol']}"
        f" {report['timeframe']}, {report['bars']:,} bars {report['start'][:10]}"
        f" to {report['end'][:10]}, result #{result_id}"
    )


def render_sweep(report: dict[str, Any], result_id: int) -> str:
    """A sweep's report as text. A strategy sweep's variants show their strategy metrics
    too, and its walk-forward goes by calendar month or quarter."""
    variants = report["variants"]
    strategy = "strategy" in report
    period, bets = (report["period_kind"], "trades") if strategy else ("season", "bets")
    lines = [_title(report, result_id), "", f"  {report['headline']}"]
    lines += [f"  PBO: {report['pbo_reading']}"]
    lines += [f"  ! {warning}" for warning in report["warnings"]]
    ranked = sorted(
        (v for v in variants if v["bets"] >= max(report["min_bets"], 1) and v["yield"] is not None),
        key=lambda v: -v["yield"],
    )
    extra = f"  {'return':>8}  {'sharpe':>6}  {'max dd':>6}" if strategy else ""
    lines += [
        "",
        f"  Best variants with at least {report['min_bets']} {bets}"
        f" ({len(ranked):,} of {len(variants):,}):",
        f"  {'#':>6}  {bets:>6}  {'profit':>9}  {'yield':>8}{extra}  {'p':>6}  {'q':>6}"
        "  parameters",
    ]
    index = {id(v): i for i, v in enumerate(variants)}
    for v in ranked[:TOP_VARIANTS]:
        if strategy:
            drawdown = "-" if v["max_drawdown"] is None else f"{v['max_drawdown']:.1%}"
            extra = f"  {_percent(v['total_return']):>8}  {_ratio(v['sharpe']):>6}  {drawdown:>6}"
        lines.append(
            f"  {index[id(v)]:>6}  {v['bets']:>6,}  {v['profit']:>9.2f}  {_percent(v['yield']):>8}"
            f"{extra}  {_p(v['p_value']):>6}  {_p(v['q_value']):>6}  {_params(v['params'])}"
        )
    walk = report["walk_forward"]
    if walk is not None:
        lines += [
            "",
            f"  Walk-forward (best in-sample variant of all earlier {period}s,"
            f" {'traded' if strategy else 'bet'} next):",
            f"  {period:<10}  {bets:>6}  {'profit':>9}  {'yield':>8}  chosen",
        ]
        for row in walk["seasons"]:
            chosen = "-" if row["chosen"] is None else _params(row["chosen"])
            lines.append(
                f"  {row['season']:<10}  {row['bets']:>6,}  {row['profit']:>9.2f}"
                f"  {_percent(row['yield']):>8}  {chosen}"
            )
        lines.append(
            f"  {'all':<10}  {walk['bets']:>6,}  {walk['profit']:>9.2f}"
            f"  {_percent(walk['yield']):>8}  p = {_p(walk['p_value'])}"
        )
    run = "strategy run" if strategy else "backtest"
    lines += ["", f"  promote a variant to a full {run}: filterbets promote {result_id} NUMBER"]
    return "\n".join(lines)
