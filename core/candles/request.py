"""A strategy run request: what to run, on which candles, with which costs and exits."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

from core.candles.execution import DEFAULT_CASH, DEFAULT_FEE, ExecutionOptions
from core.candles.strategies import StrategyParamError, get_strategy
from core.candles.timeframes import TimeframeError, checked_timeframe
from core.errors import UsageMistake

STRATEGY_KIND = "strategy"
"""`kind` of a strategy request (jobs) and of its stored result (backtest_results.kind)."""


class StrategyRequestError(UsageMistake):
    """A strategy request with a bad field; the message names the field."""


def _number(name: str, raw: Any, *, low: float, high: float, low_open: bool = False) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise StrategyRequestError(f"{name}: {raw!r} is not a number") from exc
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        bound = f"more than {low:g}" if low_open else f"at least {low:g}"
        raise StrategyRequestError(f"{name}: {raw} must be {bound} and at most {high:g}")
    return value


def _date(name: str, raw: Any) -> dt.date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError as exc:
        raise StrategyRequestError(f"{name}: {raw!r} is not a date (use YYYY-MM-DD)") from exc


@dataclass(frozen=True)
class StrategyRequest:
    symbol: str
    timeframe: str
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    exchange: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    fee: float = DEFAULT_FEE
    slippage_bps: float = 0.0
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    size: float = 1.0
    long_short: bool = False
    cash: float = DEFAULT_CASH

    def validated(self) -> StrategyRequest:
        """A copy with every field checked and the parameters filled in with defaults."""
        try:
            timeframe = checked_timeframe(self.timeframe)
            strategy = get_strategy(self.strategy)
            params = strategy.resolve(self.params)
        except (TimeframeError, StrategyParamError) as exc:
            raise StrategyRequestError(str(exc)) from exc
        if not self.symbol.strip():
            raise StrategyRequestError("symbol: required (e.g. BTCUSDT)")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise StrategyRequestError(f"from: {self.date_from} is after to ({self.date_to})")
        return replace(
            self,
            symbol=self.symbol.strip().upper(),
            timeframe=timeframe,
            params=params,
            exchange=self.exchange.strip().lower() if self.exchange else None,
            fee=_number("fee", self.fee, low=0.0, high=0.1),
            slippage_bps=_number("slippage-bps", self.slippage_bps, low=0.0, high=1000.0),
            stop_loss_pct=None
            if self.stop_loss_pct is None
            else _number("stop-loss", self.stop_loss_pct, low=0.0, high=99.0, low_open=True),
            take_profit_pct=None
            if self.take_profit_pct is None
            else _number(
                "take-profit", self.take_profit_pct, low=0.0, high=10_000.0, low_open=True
            ),
            size=_number("size", self.size, low=0.0, high=1.0, low_open=True),
            cash=_number("cash", self.cash, low=0.0, high=1e15, low_open=True),
        )

    def options(self) -> ExecutionOptions:
        return ExecutionOptions(
            long_short=self.long_short,
            fee=self.fee,
            slippage_bps=self.slippage_bps,
            stop_loss_pct=self.stop_loss_pct,
            take_profit_pct=self.take_profit_pct,
            size=self.size,
            cash=self.cash,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": STRATEGY_KIND,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "strategy": self.strategy,
            "params": dict(self.params),
            "exchange": self.exchange,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "fee": self.fee,
            "slippage_bps": self.slippage_bps,
            "stop_loss_pct": self.stop_loss_pct,
            "take_profit_pct": self.take_profit_pct,
            "size": self.size,
            "long_short": self.long_short,
            "cash": self.cash,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StrategyRequest:
        return cls(
            symbol=str(data.get("symbol") or ""),
            timeframe=str(data.get("timeframe") or ""),
            strategy=str(data.get("strategy") or ""),
            params=dict(data.get("params") or {}),
            exchange=data.get("exchange"),
            date_from=_date("from", data.get("from")),
            date_to=_date("to", data.get("to")),
            fee=data.get("fee", DEFAULT_FEE),
            slippage_bps=data.get("slippage_bps", 0.0),
            stop_loss_pct=data.get("stop_loss_pct"),
            take_profit_pct=data.get("take_profit_pct"),
            size=data.get("size", 1.0),
            long_short=bool(data.get("long_short", False)),
            cash=data.get("cash", DEFAULT_CASH),
        ).validated()

    @property
    def title(self) -> str:
        params = ",".join(str(value) for value in self.params.values())
        return f"{self.strategy}({params}) on {self.symbol} {self.timeframe}"


def is_strategy_request(data: dict[str, Any]) -> bool:
    return data.get("kind") == STRATEGY_KIND


def _params_argument(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    text = raw
    if raw.startswith("@"):
        try:
            with open(raw[1:], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise StrategyRequestError(f"--params: cannot read {raw[1:]} ({exc.strerror})") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StrategyRequestError(
            f"--params: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(value, dict):
        raise StrategyRequestError('--params: give a JSON object, e.g. {"fast": 10, "slow": 30}')
    return value


def request_from_args(args: argparse.Namespace, *, checked: bool = True) -> StrategyRequest:
    """The request from `strategy run` / `jobs submit --strategy` / `sweep --strategy`
    arguments, validated unless `checked` is False (a sweep checks its own)."""
    request = StrategyRequest(
        symbol=args.symbol or "",
        timeframe=args.timeframe or "",
        strategy=args.strategy or "",
        params=_params_argument(args.params),
        exchange=args.exchange,
        date_from=_date("from", args.date_from),
        date_to=_date("to", args.date_to),
        fee=DEFAULT_FEE if args.fee is None else args.fee,
        slippage_bps=0.0 if args.slippage_bps is None else args.slippage_bps,
        stop_loss_pct=args.stop_loss,
        take_profit_pct=args.take_profit,
        size=1.0 if args.size is None else args.size,
        long_short=bool(args.long_short),
        cash=DEFAULT_CASH if args.cash is None else args.cash,
    )
    return request.validated() if checked else request
