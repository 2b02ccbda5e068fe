"""What a candle file's name and folders say: symbol, timeframe and exchange.

`BTCUSDT-1h-2023-03.csv`, `BTCUSDT_15m.csv`, `BTCUSDT_60_full.csv` (Bybit's interval 60),
`BTC_USDT_USDT-1h-futures.feather` (freqtrade's pair naming). Flags win over names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.candles.timeframes import parse_bybit_interval, parse_timeframe

QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "BTC", "ETH", "EUR")
EXCHANGES = (
    "bybit",
    "binance",
    "okx",
    "bitget",
    "kucoin",
    "kraken",
    "coinbase",
    "bitmex",
    "deribit",
    "gateio",
    "mexc",
    "htx",
)
DEFAULT_EXCHANGE = "bybit"
"""The seed system's exchange, for files whose path names none."""
_SYMBOL = re.compile(r"^[A-Z0-9]{2,}$")
_SPLIT = re.compile(r"[-_. ]+")


@dataclass(frozen=True)
class NameHints:
    symbol: str | None
    timeframe: str | None
    exchange: str | None


def _tokens(name: str) -> list[str]:
    return [token for token in _SPLIT.split(name) if token]


def _symbol(tokens: list[str]) -> tuple[str | None, int]:
    """The symbol and how many leading tokens spell it."""
    if not tokens or not _SYMBOL.match(tokens[0]):
        return None, 0
    first = tokens[0]
    if any(first.endswith(quote) and len(first) > len(quote) for quote in QUOTES):
        return first, 1
    if len(tokens) > 1 and tokens[1] in QUOTES:
        # freqtrade: BTC_USDT (spot) or BTC_USDT_USDT (futures, settled in USDT)
        used = 3 if len(tokens) > 2 and tokens[2] == tokens[1] else 2
        return first + tokens[1], used
    return None, 0


def hints_from_path(path: Path) -> NameHints:
    tokens = _tokens(path.stem)
    symbol, used = _symbol(tokens)
    timeframe = None
    for position, token in enumerate(tokens[used:], start=used):
        timeframe = parse_timeframe(token)
        if timeframe is None and position == used and symbol is not None:
            timeframe = parse_bybit_interval(token)  # only right after the symbol
        if timeframe is not None:
            break
    exchange = None
    lowered = [token.lower() for token in tokens]
    for part in [*lowered, *(p.lower() for p in reversed(path.parent.parts))]:
        if part in EXCHANGES:
            exchange = part
            break
    if exchange is None:
        for part in (p.lower() for p in reversed(path.parent.parts)):
            found = next((name for name in EXCHANGES if name in part), None)
            if found is not None:
                exchange = found
                break
    if exchange is not None and "spot" in lowered:
        exchange = f"{exchange}-spot"
    return NameHints(symbol=symbol, timeframe=timeframe, exchange=exchange)
