"""Bar timeframes: their names, lengths and how file names spell them."""

from __future__ import annotations

import re

from core.errors import UsageMistake

# Canonical name -> minutes. Weeks start on Monday 00:00 UTC, as on Bybit and Binance.
TIMEFRAMES: dict[str, int] = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "12h": 720,
    "1d": 1440,
    "1w": 10080,
}
_BY_MINUTES = {minutes: name for name, minutes in TIMEFRAMES.items()}
# Bybit v5's interval names, as people put them in file names (BTCUSDT_60.csv).
_BYBIT_INTERVALS = {"D": 1440, "W": 10080} | {str(m): m for m in TIMEFRAMES.values() if m < 1440}
_SPELLED = re.compile(r"^(\d+)(m|min|h|d|w)$")
_UNIT_MINUTES = {"m": 1, "min": 1, "h": 60, "d": 1440, "w": 10080}
# 1970-01-01 was a Thursday: Monday-aligned weeks are offset by 4 days from the epoch.
WEEK_OFFSET_MS = 4 * 86_400_000


class TimeframeError(UsageMistake):
    """A timeframe that is not one of TIMEFRAMES."""


def minutes_of(timeframe: str) -> int:
    return TIMEFRAMES[timeframe]


def bar_ms(timeframe: str) -> int:
    return TIMEFRAMES[timeframe] * 60_000


def grid_offset_ms(timeframe: str) -> int:
    """Bars open at multiples of the bar length after this offset from the epoch."""
    return WEEK_OFFSET_MS if timeframe == "1w" else 0


def parse_timeframe(text: str) -> str | None:
    """A canonical name for `15m`, `1h`, `60m`, `4H`, `1d`... or None. An upper-case M is a
    month (Binance's `1M`), which has no fixed length and is not supported."""
    match = _SPELLED.match(text if text.endswith("M") else text.lower())
    if match is None:
        return None
    minutes = int(match.group(1)) * _UNIT_MINUTES[match.group(2)]
    return _BY_MINUTES.get(minutes)


def parse_bybit_interval(text: str) -> str | None:
    """`15`, `60`, `240`, `D`, `W` (Bybit v5 interval names) -> a canonical name, or None."""
    minutes = _BYBIT_INTERVALS.get(text.upper())
    return None if minutes is None else _BY_MINUTES[minutes]


def checked_timeframe(text: str) -> str:
    """The canonical name for a user's --timeframe, or TimeframeError naming the choices."""
    found = parse_timeframe(text.strip()) or parse_bybit_interval(text.strip())
    if found is None:
        raise TimeframeError(
            f"timeframe: {text!r} is not one of {', '.join(TIMEFRAMES)}"
            " (Bybit's interval numbers such as 60 also work)"
        )
    return found
