"""A backtest request: what to bet, where the prices come from, the scope and the staking."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from core.backtest.sources import DEFAULT_EXCHANGE_COMMISSION, SourceError, parse_source
from core.errors import UsageMistake
from core.rules.validate import MAX_LIST_VALUES
from core.text import quoted, text_problem

MARKETS = ("home", "draw", "away", "over25", "under25", "ah_home", "ah_away")
STAKING_KINDS = ("flat", "percent", "kelly")
DEFAULT_ODDS_SOURCE = "pinnacle"
DEFAULT_BANK = Decimal("100.00")
DEFAULT_PERCENT = Decimal("1")
DEFAULT_KELLY_FRACTION = 0.25
DEFAULT_KELLY_CAP = 0.05
MAX_AMOUNT = Decimal("99999999.99")
"""Largest bank or stake: what the ledger's money columns hold with room for the profit."""


class RequestError(UsageMistake):
    """A backtest request with a bad field; the message names the field."""


def _near(word: str, choices: tuple[str, ...]) -> str:
    import difflib

    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _decimal(name: str, raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError) as exc:
        raise RequestError(f"{name}: {raw!r} is not a number") from exc
    if not value.is_finite() or value <= 0:
        raise RequestError(f"{name}: must be a positive number, got {raw}")
    if value > MAX_AMOUNT:
        raise RequestError(f"{name}: at most {MAX_AMOUNT:,}, got {raw}")
    return value


def _fraction(name: str, raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError) as exc:
        raise RequestError(f"{name}: {raw!r} is not a number") from exc
    if not value.is_finite() or not 0 <= value < 1:
        raise RequestError(f"{name}: must be a fraction from 0 to under 1, got {raw}")
    return value


def parse_date(name: str, raw: str | dt.date | None) -> dt.date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError as exc:
        raise RequestError(f"{name}: {raw!r} is not a date (use YYYY-MM-DD)") from exc


@dataclass(frozen=True)
class BacktestRequest:
    """Everything a run needs. `filter_ref` (a saved filter's name or id) or `rules`."""

    market: str
    filter_ref: str | None = None
    rules: Any = None
    odds_source: str = DEFAULT_ODDS_SOURCE
    leagues: tuple[str, ...] = ()
    seasons: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    staking: str = "flat"
    stake: Decimal | None = None
    """Flat: units per bet (default: the filter's stake, else 1.00). Percent: % of bank."""
    bank: Decimal = DEFAULT_BANK
    kelly_fraction: float = DEFAULT_KELLY_FRACTION
    kelly_cap: float = DEFAULT_KELLY_CAP
    commission: Decimal | None = None
    """Share of an exchange's winnings it keeps (an exchange source only; 5% unless given)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def validated(self) -> BacktestRequest:
        """A copy with every field checked; raises RequestError naming the field."""
        if (self.filter_ref is None) == (self.rules is None):
            raise RequestError("filter: give a saved filter or inline rules, not both or neither")
        if self.market not in MARKETS:
            raise RequestError(
                f"market: unknown market {self.market!r}{_near(self.market, MARKETS)};"
                f" choose one of {', '.join(MARKETS)}"
            )
        try:
            source = parse_source(self.odds_source)
        except SourceError as exc:
            raise RequestError(str(exc)) from None
        commission = self.commission
        if commission is not None:
            commission = _fraction("commission", commission)
            if not source.exchange and commission:
                raise RequestError(
                    f"commission: {self.odds_source} is a bookmaker; only an exchange's"
                    " winnings pay commission"
                )
        if self.staking not in STAKING_KINDS:
            raise RequestError(
                f"staking: unknown plan {self.staking!r}; choose flat, percent or kelly"
            )
        for name, values in (("leagues", self.leagues), ("seasons", self.seasons)):
            if len(values) > MAX_LIST_VALUES:
                raise RequestError(f"{name}: at most {MAX_LIST_VALUES:,}, got {len(values):,}")
            for value in values:
                problem = text_problem(value)
                if problem is not None:
                    raise RequestError(f"{name}: {quoted(value)} {problem}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise RequestError(f"from/to: {self.date_from} is after {self.date_to}")
        bank = _decimal("bank", self.bank)
        if bank != bank.quantize(Decimal("0.01")):
            raise RequestError(f"bank: {self.bank} must be a whole number of cents")
        stake = None if self.stake is None else _decimal("stake", self.stake)
        if self.staking == "percent" and stake is not None and stake > 100:
            raise RequestError(f"stake: {stake}% of the bank is more than all of it")
        if (
            self.staking == "flat"
            and stake is not None
            and stake != stake.quantize(Decimal("0.01"))
        ):
            raise RequestError(f"stake: {stake} must be a whole number of cents")
        if not 0 < self.kelly_fraction <= 1:
            raise RequestError(f"kelly-fraction: {self.kelly_fraction} must be in (0, 1]")
        if not 0 < self.kelly_cap <= 1:
            raise RequestError(f"kelly-cap: {self.kelly_cap} must be in (0, 1]")
        if source.exchange and commission is None:
            commission = DEFAULT_EXCHANGE_COMMISSION
        return replace(
            self,
            odds_source=source.name,
            commission=commission,
            leagues=tuple(dict.fromkeys(code.strip() for code in self.leagues if code.strip())),
            seasons=tuple(dict.fromkeys(s.strip() for s in self.seasons if s.strip())),
            bank=bank,
            stake=stake,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form, stored with every result and every queued job."""
        return {
            "market": self.market,
            "filter": self.filter_ref,
            "rules": self.rules,
            "odds_source": self.odds_source,
            "leagues": list(self.leagues),
            "seasons": list(self.seasons),
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "staking": self.staking,
            "stake": None if self.stake is None else str(self.stake),
            "bank": str(self.bank),
            "kelly_fraction": self.kelly_fraction,
            "kelly_cap": self.kelly_cap,
            "commission": None if self.commission is None else str(self.commission),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BacktestRequest:
        try:
            return cls(
                market=str(data["market"]),
                filter_ref=None if data.get("filter") is None else str(data["filter"]),
                rules=data.get("rules"),
                odds_source=str(data.get("odds_source") or DEFAULT_ODDS_SOURCE),
                leagues=tuple(data.get("leagues") or ()),
                seasons=tuple(data.get("seasons") or ()),
                date_from=parse_date("from", data.get("from")),
                date_to=parse_date("to", data.get("to")),
                staking=str(data.get("staking") or "flat"),
                stake=None if data.get("stake") is None else _decimal("stake", data["stake"]),
                bank=_decimal("bank", data.get("bank", DEFAULT_BANK)),
                kelly_fraction=float(data.get("kelly_fraction", DEFAULT_KELLY_FRACTION)),
                kelly_cap=float(data.get("kelly_cap", DEFAULT_KELLY_CAP)),
                commission=None if data.get("commission") is None else data["commission"],
            ).validated()
        except KeyError as exc:
            raise RequestError(f"request: missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise RequestError(f"request: {exc}") from exc

    @property
    def price_timing(self) -> str:
        """'_close' when the chosen source is a closing price, else ''."""
        return parse_source(self.odds_source).timing

    @property
    def win_share(self) -> Decimal:
        """What a win pays of its winnings: 1 less the exchange's commission."""
        return Decimal(1) - (self.commission or Decimal(0))
