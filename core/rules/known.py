"""Values of closed sets: a rule on a league, country or team the database does not hold is a
mistake worth stopping for, with a suggestion, as `--leagues XX` is.

`check_known_values(rules, known)` is pure: it takes the rule tree and the values the data
holds (`load_known_values` reads them from the database). Only `=` and `in` are checked: an
unknown value there selects nothing, silently. `!= "XX"` and `not_in` exclude nothing, which
people write on purpose; a range over names (`home_team < "M"`) names no team.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from core.errors import RuleError
from core.rules.validate import Leaf, iter_leaves, parse_rules
from core.text import quoted

CLOSED_FIELDS: Mapping[str, str] = {
    "league": "league",
    "country": "country",
    "home_team": "team",
    "away_team": "team",
}
"""field -> the kind of thing its values name (the key of a KnownValues mapping)."""
_CHECKED_OPS = ("=", "in")

KnownValues = Mapping[str, Collection[str]]
"""kind ("league", "country", "team") -> every value the database holds."""


def suggest_known(value: str, known: Collection[str]) -> str | None:
    """The known value a mistyped one most likely meant (the same letters in another case
    first), or None."""
    by_case = {name.lower(): name for name in known}
    if value.lower() in by_case:
        return by_case[value.lower()]
    close = difflib.get_close_matches(value, list(known), n=1, cutoff=0.5)
    return close[0] if close else None


def unknown_value_message(kind: str, value: str, known: Collection[str]) -> str:
    """'no league 'EPL' in the database (did you mean 'E0'?)': the same words for a rule's
    value and for --leagues."""
    hint = suggest_known(value, known) if len(value) <= 64 else None
    suffix = f" (did you mean {quoted(hint)}?)" if hint else ""
    return f"no {kind} {quoted(value)} in the database{suffix}"


def closed_leaves(rules: Any) -> list[Leaf]:
    """The leaves of valid rules (or a sweep's template) whose values name a league, country
    or team."""
    return [
        leaf
        for leaf in iter_leaves(parse_rules(rules, params=True))
        if leaf.field.name in CLOSED_FIELDS and leaf.op in _CHECKED_OPS
    ]


def unknown_value_errors(rules: Any, known: KnownValues) -> list[RuleError]:
    """A RuleError at each leaf naming a value its closed set does not hold."""
    errors = []
    for leaf in closed_leaves(rules):
        kind = CLOSED_FIELDS[leaf.field.name]
        values = known.get(kind, ())
        wanted = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
        for value in wanted:
            if isinstance(value, str) and value not in values:
                errors.append(RuleError(leaf.path, unknown_value_message(kind, value, values)))
                break
    return errors


def check_known_values(rules: Any, known: KnownValues) -> None:
    """Raise the first unknown-value RuleError of valid `rules` (see unknown_value_errors)."""
    errors = unknown_value_errors(rules, known)
    if errors:
        raise errors[0]


async def load_known_values(db: Any) -> KnownValues:
    """Every league code, country and team name in the database (`db` a core.db.Database)."""
    from sqlalchemy import select

    from core.models import League, Team

    async with db.session() as session:
        leagues = (await session.execute(select(League.code, League.country))).all()
        teams = (await session.execute(select(Team.name))).scalars().all()
    return {
        "league": frozenset(code for code, _country in leagues),
        "country": frozenset(country for _code, country in leagues),
        "team": frozenset(teams),
    }


async def check_rules_against_data(db: Any, rules: Any, *, when_empty: bool = True) -> None:
    """check_known_values against the database's values, read only when the rules name a
    league, country or team. `when_empty=False` lets any value pass while the database holds
    no data at all (a filter saved before the first import)."""
    if not closed_leaves(rules):
        return
    known = await load_known_values(db)
    if when_empty or any(known.values()):
        check_known_values(rules, known)
