"""Saved filters: create, list, show, delete, export and import, per user."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.backtest.request import BacktestRequest, RequestError
from core.db import Database
from core.errors import UsageMistake
from core.models import BacktestResult, Filter
from core.rules.known import check_rules_against_data
from core.text import quoted, text_problem

EXPORT_FORMAT = "filterbets.filter/1"
MAX_STAKE = Decimal("99999999.99")
MAX_DESCRIPTION = 10_000


class FilterError(UsageMistake):
    """A filter that does not exist, clashes with another, or has bad fields."""


@dataclass(frozen=True)
class FilterInfo:
    id: int
    name: str
    description: str
    rules: Any
    stake: Decimal
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    last_result_id: int | None = None
    last_bets: int | None = None
    last_yield: float | None = None
    backtest_settings: dict[str, Any] | None = None
    """How the filter is backtested by default (see `clean_backtest_settings`); None on
    filters saved without any, which run with the request defaults."""


def parse_stake(raw: str | Decimal | float | int) -> Decimal:
    try:
        stake = Decimal(str(raw))
        if not stake.is_finite():
            raise InvalidOperation
        stake = stake.quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise FilterError(f"stake: {raw!r} is not a number") from exc
    if not Decimal("0") < stake <= MAX_STAKE:
        raise FilterError(f"stake: {raw} must be more than 0 and at most {MAX_STAKE}")
    return stake


SETTINGS_FIELDS = (
    "market",
    "odds_source",
    "staking",
    "stake",
    "bank",
    "kelly_fraction",
    "kelly_cap",
)
"""What a filter's backtest settings hold: a BacktestRequest minus the rules and scope."""
DEFAULT_MARKET = "home"


def _settings_float(name: str, raw: Any, default: float) -> float:
    if raw is None:
        return default
    if isinstance(raw, bool):
        raise FilterError(f"{name}: {raw!r} is not a number")
    try:
        return float(raw)
    except (TypeError, ValueError) as exc:
        raise FilterError(f"{name}: {raw!r} is not a number") from exc


def clean_backtest_settings(raw: Any) -> dict[str, Any] | None:
    """Check a filter's backtest settings with BacktestRequest's own rules; the stored form.

    `raw` maps some of SETTINGS_FIELDS to values (market defaults to "home"; the others to
    the request defaults). Returns None for None. A bad or unknown field raises FilterError
    with a one-line message that names it.
    """
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise FilterError(
            f"backtest settings: expected an object with {', '.join(SETTINGS_FIELDS)}"
        )
    unknown = [str(key) for key in raw if key not in SETTINGS_FIELDS]
    if unknown:
        raise FilterError(f"{unknown[0]}: not a backtest setting; use {', '.join(SETTINGS_FIELDS)}")
    defaults = BacktestRequest(market=DEFAULT_MARKET)
    data = {key: value for key, value in raw.items() if value is not None}
    try:
        request = BacktestRequest(
            market=str(data.get("market", DEFAULT_MARKET)),
            rules=[],
            odds_source=str(data.get("odds_source", defaults.odds_source)),
            staking=str(data.get("staking", defaults.staking)),
            stake=data.get("stake"),
            bank=data.get("bank", defaults.bank),
            kelly_fraction=_settings_float(
                "kelly_fraction", data.get("kelly_fraction"), defaults.kelly_fraction
            ),
            kelly_cap=_settings_float("kelly_cap", data.get("kelly_cap"), defaults.kelly_cap),
        ).validated()
    except RequestError as exc:
        raise FilterError(str(exc)) from exc
    stored = request.to_dict()
    return {key: stored[key] for key in SETTINGS_FIELDS}


def _validated_rules(rules: Any) -> Any:
    """Rules ready to store: valid, and possibly a sweep's template (values may be
    `{"param": name}`; a backtest of such a filter asks for the values)."""
    from core.rules import parse_rules

    parse_rules(rules, params=True)
    return rules


def _info(row: Filter, last: BacktestResult | None = None) -> FilterInfo:
    return FilterInfo(
        id=row.id,
        name=row.name,
        description=row.description,
        rules=row.rules,
        stake=Decimal(row.stake),
        is_active=row.is_active,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_result_id=last.id if last else None,
        last_bets=last.bets if last else None,
        last_yield=last.yield_ if last else None,
        backtest_settings=row.backtest_settings,
    )


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise FilterError("name: a filter needs a name")
    if len(cleaned) > 120:
        raise FilterError("name: at most 120 characters")
    problem = text_problem(cleaned)
    if problem is not None:
        raise FilterError(f"name: {problem}")
    return cleaned


def _clean_description(description: str) -> str:
    cleaned = description.strip()
    if len(cleaned) > MAX_DESCRIPTION:
        raise FilterError(f"description: at most {MAX_DESCRIPTION:,} characters")
    problem = text_problem(cleaned, prose=True)
    if problem is not None:
        raise FilterError(f"description: {problem}")
    return cleaned


class FilterStore:
    def __init__(self, db: Database, user_id: int) -> None:
        self.db = db
        self.user_id = user_id

    async def create(
        self,
        name: str,
        rules: Any,
        *,
        stake: str | Decimal | float | int = Decimal("1.00"),
        description: str = "",
        backtest_settings: Mapping[str, Any] | None = None,
    ) -> FilterInfo:
        row = Filter(
            user_id=self.user_id,
            name=_clean_name(name),
            description=_clean_description(description),
            rules=_validated_rules(rules),
            stake=parse_stake(stake),
            is_active=True,
            backtest_settings=clean_backtest_settings(backtest_settings),
        )
        await check_rules_against_data(self.db, row.rules, when_empty=False)
        try:
            async with self.db.session() as session:
                session.add(row)
                await session.flush()
                return _info(row)
        except IntegrityError as exc:
            raise FilterError(f"a filter named {quoted(row.name)} already exists") from exc

    async def update(
        self,
        filter_id: int,
        *,
        name: str | None = None,
        rules: Any = None,
        stake: str | Decimal | float | int | None = None,
        description: str | None = None,
        is_active: bool | None = None,
        backtest_settings: Mapping[str, Any] | None = None,
    ) -> FilterInfo:
        """Change the given fields; None leaves a field as it is."""
        settings = clean_backtest_settings(backtest_settings)
        if rules is not None:
            await check_rules_against_data(self.db, _validated_rules(rules), when_empty=False)
        try:
            async with self.db.session() as session:
                row = await self._row(session, filter_id)
                if name is not None:
                    row.name = _clean_name(name)
                if rules is not None:
                    row.rules = _validated_rules(rules)
                if stake is not None:
                    row.stake = parse_stake(stake)
                if description is not None:
                    row.description = _clean_description(description)
                if is_active is not None:
                    row.is_active = is_active
                if settings is not None:
                    row.backtest_settings = settings
                await session.flush()
                return _info(row)
        except IntegrityError as exc:
            raise FilterError(f"a filter named {quoted(str(name))} already exists") from exc

    async def _row(self, session: Any, filter_id: int) -> Filter:
        row = (
            await session.execute(
                select(Filter).where(Filter.id == filter_id, Filter.user_id == self.user_id)
            )
        ).scalar_one_or_none()
        if row is None:
            raise FilterError(f"no filter with id {filter_id}")
        return row  # type: ignore[no-any-return]

    async def get(self, name_or_id: str | int) -> FilterInfo:
        """A filter by exact name, or by id when given a number that is not also a name."""
        if text_problem(str(name_or_id)) is not None:  # no name holds it: ask no database
            raise FilterError(_not_found(str(name_or_id), []))
        async with self.db.session() as session:
            query = select(Filter).where(Filter.user_id == self.user_id)
            row = (
                await session.execute(query.where(Filter.name == str(name_or_id)))
            ).scalar_one_or_none()
            if row is None and str(name_or_id).isdigit():
                row = (
                    await session.execute(query.where(Filter.id == int(name_or_id)))
                ).scalar_one_or_none()
            if row is None:
                names = (
                    (
                        await session.execute(
                            select(Filter.name).where(Filter.user_id == self.user_id)
                        )
                    )
                    .scalars()
                    .all()
                )
                raise FilterError(_not_found(str(name_or_id), list(names)))
            return _info(row, await _last_result(session, row.id))

    async def list(self) -> list[FilterInfo]:
        async with self.db.session() as session:
            rows = (
                (
                    await session.execute(
                        select(Filter)
                        .where(Filter.user_id == self.user_id)
                        .order_by(Filter.updated_at.desc(), Filter.id.desc())
                    )
                )
                .scalars()
                .all()
            )
            latest = await _last_results(session, [row.id for row in rows])
            return [_info(row, latest.get(row.id)) for row in rows]

    async def delete(self, name_or_id: str | int) -> FilterInfo:
        found = await self.get(name_or_id)
        async with self.db.session() as session:
            row = await self._row(session, found.id)
            await session.delete(row)
        return found

    async def duplicate(self, name_or_id: str | int, new_name: str | None = None) -> FilterInfo:
        source = await self.get(name_or_id)
        existing = {f.name for f in await self.list()}
        name = new_name or _copy_name(source.name, existing)
        return await self.create(
            name,
            source.rules,
            stake=source.stake,
            description=source.description,
            backtest_settings=source.backtest_settings,
        )

    def export_document(self, info: FilterInfo) -> dict[str, Any]:
        document = {
            "format": EXPORT_FORMAT,
            "name": info.name,
            "description": info.description,
            "stake": str(info.stake),
            "rules": info.rules,
        }
        if info.backtest_settings is not None:
            document["backtest_settings"] = info.backtest_settings
        return document

    async def import_file(
        self, path: Path, *, rename: str | None = None, replace: bool = False
    ) -> FilterInfo:
        """Save the filter in an export file. Under its own name by default (an error when
        one of yours has it), under `rename`, or over the filter of that name (`replace`:
        same id, so its results stay linked)."""
        from core.rules.json_input import read_json_file

        document = await asyncio.to_thread(read_json_file, path)
        if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
            raise FilterError(f"{path}: not a FilterBets filter export (format {EXPORT_FORMAT})")
        for key in ("name", "rules"):
            if key not in document:
                raise FilterError(f"{path}: the export has no {key!r}")
        try:
            settings = clean_backtest_settings(document.get("backtest_settings"))
        except FilterError as exc:
            raise FilterError(f"{path}: backtest_settings: {exc}") from exc
        name = _clean_name(rename if rename is not None else str(document["name"]))
        fields: dict[str, Any] = {
            "stake": document.get("stake", "1.00"),
            "description": str(document.get("description", "")),
            "backtest_settings": settings,
        }
        existing = await self._id_named(name)
        if existing is not None and replace:
            return await self._replace(existing, document["rules"], **fields)
        if existing is not None:
            raise FilterError(
                f"a filter named {quoted(name)} already exists: import this one under another"
                " name (--rename NEW) or over it (--replace)"
            )
        return await self.create(name, document["rules"], **fields)

    async def _id_named(self, name: str) -> int | None:
        async with self.db.session() as session:
            found = await session.execute(
                select(Filter.id).where(Filter.user_id == self.user_id, Filter.name == name)
            )
            return found.scalar()

    async def _replace(
        self,
        filter_id: int,
        rules: Any,
        *,
        stake: Any,
        description: str,
        backtest_settings: dict[str, Any] | None,
    ) -> FilterInfo:
        """Every field of a filter but its name and id, as given (settings None clears)."""
        checked_rules = _validated_rules(rules)
        checked_stake = parse_stake(stake)
        checked_description = _clean_description(description)
        await check_rules_against_data(self.db, checked_rules, when_empty=False)
        async with self.db.session() as session:
            row = await self._row(session, filter_id)
            row.rules = checked_rules
            row.stake = checked_stake
            row.description = checked_description
            row.backtest_settings = backtest_settings
            await session.flush()
            return _info(row)


def _copy_name(name: str, existing: set[str]) -> str:
    candidate = f"{name} (copy)"
    n = 2
    while candidate in existing:
        candidate = f"{name} (copy {n})"
        n += 1
    return candidate


def _not_found(wanted: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(wanted, names, n=1)
    hint = f" (did you mean {quoted(close[0])}?)" if close else ""
    return f"no filter named {quoted(wanted)}{hint}"


async def _last_result(session: Any, filter_id: int) -> BacktestResult | None:
    return (await _last_results(session, [filter_id])).get(filter_id)


async def _last_results(session: Any, filter_ids: list[int]) -> dict[int, BacktestResult]:
    """The newest result of each filter (ids grow with time, so the max id is the newest)."""
    if not filter_ids:
        return {}
    newest = (
        select(func.max(BacktestResult.id))
        .where(BacktestResult.filter_id.in_(filter_ids))
        .group_by(BacktestResult.filter_id)
    )
    rows = (
        (await session.execute(select(BacktestResult).where(BacktestResult.id.in_(newest))))
        .scalars()
        .all()
    )
    return {row.filter_id: row for row in rows if row.filter_id is not None}
