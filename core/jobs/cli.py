"""`filterbets jobs ...` and `filterbets worker`.

Kept free of heavy imports at module level: core.cli imports this to build its parser.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from core.config import Settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_TIMEOUT = 3

# The same tuple as core.jobs.queue.STATUSES (a test keeps them equal), for argparse choices.
STATUS_CHOICES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds") from exc
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a number of seconds, 0 or more")
    return value


def add_jobs_commands(commands: Any) -> None:
    """Add `jobs` and `worker` to the `filterbets` sub-command parsers."""
    from core.cli import add_backtest_arguments

    jobs = commands.add_parser(
        "jobs", help="queued backtests: submit, list, show, cancel, retry, wait"
    )
    actions = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)

    submit = actions.add_parser(
        "submit",
        help="queue a backtest (the arguments of `backtest`), or with --strategy a strategy run"
        " (the arguments of `strategy run`); prints the job id",
    )
    add_backtest_arguments(submit)
    submit.add_argument("--json", action="store_true", help="print the job as JSON")
    from core.candles.cli import add_strategy_arguments

    add_strategy_arguments(
        submit.add_argument_group("strategy runs (with --strategy)"), required=False
    )

    listing = actions.add_parser("list", help="list your jobs, newest first")
    listing.add_argument("--status", choices=STATUS_CHOICES, help="only jobs in this state")
    listing.add_argument("--limit", type=_positive, default=None, help="at most this many")
    listing.add_argument("--json", action="store_true", help="print a JSON array")

    show = actions.add_parser("show", help="show one job")
    show.add_argument("job", metavar="ID", help="job id (or a unique prefix)")
    show.add_argument("--json", action="store_true", help="print one JSON object")

    for name, text in (
        ("cancel", "cancel a queued or running job"),
        ("retry", "queue a failed, cancelled or interrupted job again"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("job", metavar="ID", help="job id (or a unique prefix)")

    wait = actions.add_parser(
        "wait", help="wait for a job: exit 0 on success, 1 on failure or cancel, 3 on timeout"
    )
    wait.add_argument("job", metavar="ID", help="job id (or a unique prefix)")
    wait.add_argument("--timeout", type=_seconds, default=None, metavar="S", help="give up after S")

    worker = commands.add_parser(
        "worker", help="run queued jobs until SIGTERM/SIGINT (any number, one database)"
    )
    worker.add_argument(
        "--concurrency", type=_positive, default=2, metavar="N", help="jobs at once (default 2)"
    )
    worker.add_argument(
        "--stale-after",
        type=_seconds,
        default=30.0,
        metavar="S",
        help="mark running jobs without a heartbeat for S seconds interrupted (default 30)",
    )
    worker.add_argument(
        "--grace",
        type=_seconds,
        default=5.0,
        metavar="S",
        help="on SIGTERM, let running jobs finish for S seconds before releasing them (default 5)",
    )
    worker.add_argument(
        "--poll", type=_seconds, default=0.25, metavar="S", help="queue poll interval when idle"
    )
    worker.add_argument(
        "--heartbeat",
        type=_seconds,
        default=0.25,
        metavar="S",
        help="write running jobs' heartbeat and progress every S seconds (default 0.25)",
    )


def run_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "worker":
        from core.cli import UsageError
        from core.jobs.worker import run_worker

        if args.poll <= 0 or args.heartbeat <= 0:
            raise UsageError("--poll/--heartbeat: must be more than 0 seconds")
        if args.heartbeat * 3 > args.stale_after:
            raise UsageError("--heartbeat: must be at most a third of --stale-after")
        return asyncio.run(
            run_worker(
                settings,
                concurrency=args.concurrency,
                stale_after=args.stale_after,
                grace=args.grace,
                poll_interval=args.poll,
                heartbeat_interval=args.heartbeat,
            )
        )
    return asyncio.run(_jobs(settings, args))


async def _jobs(settings: Settings, args: argparse.Namespace) -> int:
    from core.backtest.request import BacktestRequest
    from core.cli import (
        _open_service,
        check_request_args,
        request_from_args,
        saved_backtest_settings,
    )
    from core.jobs.queue import JobQueue

    request: BacktestRequest | None = None
    strategy_request = None
    if args.jobs_command == "submit":
        if args.strategy is not None:
            strategy_request = _strategy_request(args)
        else:
            check_request_args(args)
            if args.filter is None:  # inline rules: checked before the database is opened
                request = request_from_args(args)
    service = await _open_service(settings)
    try:
        if args.jobs_command == "submit" and strategy_request is None and request is None:
            request = request_from_args(args, await saved_backtest_settings(service, args))
        queue = JobQueue(service.db)
        user_id = service.user_id
        action = args.jobs_command
        if request is not None or strategy_request is not None:
            if strategy_request is not None:
                info = await queue.submit_strategy(user_id, strategy_request)
            else:
                assert request is not None
                info = await queue.submit(user_id, request)
            if args.json:
                print(json.dumps(info.to_dict(), default=str))
            else:
                print(info.job_id)
                _say(f"queued job {info.short_id}: {info.title}")
            return EXIT_OK
        if action == "list":
            rows = await queue.list(user_id=user_id, status=args.status, limit=args.limit)
            if args.json:
                print(json.dumps([row.to_dict() for row in rows], default=str))
            elif not rows:
                print("no jobs" + (f" {args.status}" if args.status else ""))
            else:
                for row in rows:
                    print(_list_line(row))
            return EXIT_OK
        if action == "show":
            info = await queue.get(args.job, user_id=user_id)
            if args.json:
                print(json.dumps(info.to_dict(), default=str))
            else:
                print("\n".join(_show_lines(info)))
            return EXIT_OK
        if action == "cancel":
            info = await queue.cancel(args.job, user_id=user_id)
            # A running job's runner sees the request within a second: wait that long.
            deadline = time.monotonic() + 2.0
            while not info.is_finished and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                info = await queue.get(info.job_id, user_id=user_id)
            if info.status == "cancelled":
                print(f"cancelled job {info.short_id}")
            elif info.is_finished:
                print(f"job {info.short_id} {info.status} before the cancel reached it")
            else:
                print(
                    f"asked job {info.short_id} to stop; its worker ({info.worker}) has not"
                    " answered yet (a stopped worker's jobs are cancelled when found stale)"
                )
            return EXIT_OK
        if action == "retry":
            info = await queue.retry(args.job, user_id=user_id)
            print(f"queued job {info.short_id} again")
            return EXIT_OK
        return await _wait(queue, args.job, user_id, args.timeout)
    finally:
        await service.close()


def _strategy_request(args: argparse.Namespace) -> Any:
    from core.candles.request import request_from_args as strategy_request_from_args
    from core.cli import UsageError

    football = [
        flag
        for flag, value in (
            ("a filter", args.filter),
            ("--rules", args.rules),
            ("--market", args.market),
            ("--odds", args.odds),
            ("--staking", args.staking),
        )
        if value is not None
    ]
    if football:
        raise UsageError(f"--strategy: a strategy run takes no {football[0]}")
    return strategy_request_from_args(args)


async def _wait(queue: Any, ref: str, user_id: int, limit: float | None) -> int:
    deadline = None if limit is None else time.monotonic() + limit
    tty = sys.stderr.isatty()
    info = await queue.get(ref, user_id=user_id)
    while not info.is_finished:
        if tty:
            sys.stderr.write(f"\r{_bar(info.progress)} {info.status:<9} {info.message[:50]:<50}")
            sys.stderr.flush()
        if deadline is not None and time.monotonic() >= deadline:
            if tty:
                sys.stderr.write("\r\x1b[2K")
            print(f"job {info.short_id} still {info.status} after {limit:g} s")
            return EXIT_TIMEOUT
        pause = 0.25 if deadline is None else max(0.0, min(0.25, deadline - time.monotonic()))
        await asyncio.sleep(pause)
        info = await queue.get(info.job_id, user_id=user_id)
    if tty:
        sys.stderr.write("\r\x1b[2K")
    print(_outcome_line(info))
    return EXIT_OK if info.status == "succeeded" else EXIT_FAILED


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _bar(progress: float, width: int = 20) -> str:
    filled = int(width * min(max(progress, 0.0), 1.0))
    return "[" + "#" * filled + "." * (width - filled) + f"] {progress * 100:3.0f}%"


def _when(value: Any) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _result_text(info: Any) -> str:
    if info.result_id is None:
        return ""
    if info.kind == "strategy":
        total = "-" if info.yield_ is None else f"{info.yield_ * 100:+.2f}%"
        return f"result {info.result_id} ({info.bets:,} trades, return {total})"
    yield_text = "-" if info.yield_ is None else f"{info.yield_ * 100:+.2f}%"
    return f"result {info.result_id} ({info.bets:,} bets, yield {yield_text})"


def _outcome_line(info: Any) -> str:
    if info.status == "succeeded":
        return f"job {info.short_id} succeeded: {_result_text(info)}"
    return f"job {info.short_id} {info.status}: {info.error or info.message}"


def _list_line(info: Any) -> str:
    if info.status == "succeeded":
        detail = _result_text(info)
    elif info.status in ("failed", "interrupted"):
        detail = info.error or info.message
    else:
        detail = info.message
    return (
        f"{info.short_id}  {info.status:<11} {info.progress * 100:4.0f}%"
        f"  {_when(info.created_at)}  {info.title[:40]:<40}  {detail}"
    )


def _runs_line(info: Any) -> str:
    request = info.request
    if info.kind == "strategy":
        options = ["long/short" if request.get("long_short") else "long only"]
        options.append(f"fee {request.get('fee')}")
        for key, label in (("stop_loss_pct", "stop"), ("take_profit_pct", "target")):
            if request.get(key) is not None:
                options.append(f"{label} {request[key]}%")
        dates = ""
        if request.get("from") or request.get("to"):
            dates = f", dates {request.get('from') or '…'} to {request.get('to') or '…'}"
        return f"  runs       {info.title}, {', '.join(options)}{dates}"
    scope = []
    if request.get("leagues"):
        scope.append("leagues " + ",".join(request["leagues"]))
    if request.get("seasons"):
        scope.append("seasons " + ",".join(request["seasons"]))
    if request.get("from") or request.get("to"):
        scope.append(f"dates {request.get('from') or '…'} to {request.get('to') or '…'}")
    return (
        f"  runs       {info.title}, odds {request.get('odds_source')},"
        f" staking {request.get('staking')}" + (f", {'; '.join(scope)}" if scope else "")
    )


def _show_lines(info: Any) -> list[str]:
    lines = [
        f"job {info.job_id}",
        f"  status     {info.status}"
        + (" (cancel requested)" if info.cancel_requested and not info.is_finished else ""),
        f"  progress   {_bar(info.progress)}  {info.message}",
        _runs_line(info),
        f"  created    {_when(info.created_at)} UTC",
        f"  started    {_when(info.started_at)}"
        + (f" (waited {info.queue_seconds:.1f} s)" if info.queue_seconds is not None else ""),
        f"  finished   {_when(info.finished_at)}"
        + (f" (ran {info.run_seconds:.1f} s)" if info.run_seconds is not None else ""),
        f"  worker     {info.worker or '-'} (attempt {info.attempt})",
    ]
    if info.result_id is not None:
        lines.append(f"  result     {_result_text(info)}")
    if info.error:
        lines.append(f"  error      {info.error}")
    if info.error_details:
        lines.append("  details")
        lines.extend("    " + line for line in info.error_details.rstrip().splitlines())
    return lines
