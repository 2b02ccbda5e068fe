"""Rule trees: JSON shape, validation with located one-line errors, and the parsed tree.

A rule tree is JSON:

* leaf: ``{"field": NAME, "op": OP, "value": V}`` (no ``value`` for is_null/not_null)
* groups: ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": NODE}``
* a bare list at the top means ``all``; an empty top-level list (or ``{"all": []}``)
  matches every fixture. An empty ``any`` is an error (it could never match).

Values are typed by the field: number (int or float), integer (whole number),
string, date (ISO ``YYYY-MM-DD`` text); ``in``/``not_in`` take a non-empty list,
``between`` takes ``[lo, hi]`` with lo <= hi (inclusive).

Paths name a node from the root: ``rules``, ``rules[0]`` (bare list),
``rules.all[2].any[0]``, ``rules.not``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from core.errors import RuleError
from core.rules.catalogue import FIELDS, Field, FieldType, did_you_mean, suggest_field
from core.text import printable, text_problem

MAX_DEPTH = 8
"""Most nodes on any root-to-leaf path (the root and the leaf included)."""
MAX_LEAVES = 100
INTEGER_RANGE = (-1_000_000, 1_000_000)
"""What an integer field without bounds of its own may be compared with: past any real
count or day span, and inside every database's integer types (PostgreSQL's int4)."""
MAX_LIST_VALUES = 1_000
"""Longest list for 'in'/'not_in': more than any league's teams, seasons or leagues."""
MAX_TEXT = 200
"""Longest string value: past any league, country, team or season name."""

Op = Literal["=", "!=", "<", "<=", ">", ">=", "between", "in", "not_in", "is_null", "not_null"]
OPS: tuple[Op, ...] = (
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "between",
    "in",
    "not_in",
    "is_null",
    "not_null",
)
SCALAR_OPS: tuple[Op, ...] = ("=", "!=", "<", "<=", ">", ">=")
LIST_OPS: tuple[Op, ...] = ("in", "not_in")
NULL_OPS: tuple[Op, ...] = ("is_null", "not_null")

# Spellings people type for an op; used only to suggest the canonical one.
_OP_ALIASES: dict[str, str] = {
    "==": "=",
    "eq": "=",
    "equals": "=",
    "is": "=",
    "<>": "!=",
    "ne": "!=",
    "neq": "!=",
    "not": "!=",
    "lt": "<",
    "le": "<=",
    "lte": "<=",
    "=<": "<=",
    "gt": ">",
    "ge": ">=",
    "gte": ">=",
    "=>": ">=",
    "range": "between",
    "in_": "in",
    "not in": "not_in",
    "notin": "not_in",
    "nin": "not_in",
    "not_in_": "not_in",
    "null": "is_null",
    "isnull": "is_null",
    "is null": "is_null",
    "missing": "is_null",
    "notnull": "not_null",
    "not null": "not_null",
    "is not null": "not_null",
    "is_not_null": "not_null",
    "exists": "not_null",
}
GROUP_KEYS = ("all", "any", "not")
LEAF_KEYS = ("field", "op", "value")

Scalar: TypeAlias = float | int | str | dt.date


@dataclass(frozen=True)
class Param:
    """A named sweep parameter standing where a rule value would (`{"param": "lo"}`)."""

    name: str


Value: TypeAlias = Scalar | Param | tuple[Scalar | Param, ...] | None

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TYPE_WORDS: dict[FieldType, str] = {
    "number": "a number",
    "integer": "a whole number",
    "string": "a string",
    "date": "an ISO date 'YYYY-MM-DD'",
}


@dataclass(frozen=True)
class Leaf:
    path: str
    field: Field
    op: Op
    value: Value
    """None for is_null/not_null, a tuple for in/not_in/between, else one typed value."""


@dataclass(frozen=True)
class Group:
    path: str
    kind: Literal["all", "any"]
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    path: str
    child: Node


Node: TypeAlias = Leaf | Group | Not


def _show(value: Any) -> str:
    """A short one-line rendering of a user value for messages."""
    if isinstance(value, int) and value.bit_length() > 128:
        if value.bit_length() > 14_000:  # str() refuses ints past 4,300 digits
            return "a number of more than 4,000 digits"
        return f"a number of {len(str(abs(value))):,} digits"
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return f"<{_kind(value)}>"
    return _clipped(text)


def _clipped(text: str) -> str:
    text = printable(text)
    return text if len(text) <= 40 else text[:37] + "..."


def _word(value: Any) -> str:
    """A key, field or op name from the user, for a message."""
    return _clipped(str(value))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _suffix(suggestion: str | None) -> str:
    return f" (did you mean '{suggestion}'?)" if suggestion else ""


def _typed(field: Field, value: Any) -> Scalar:
    """One value converted to the field's type; raises ValueError with the reason."""
    wrong = ValueError(
        f"field '{field.name}' takes {_TYPE_WORDS[field.type]}, got {_kind(value)} {_show(value)}"
    )
    if field.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ValueError(f"field '{field.name}' takes a finite number, got {_show(value)}")
        return number
    if field.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        if isinstance(value, float):
            if not value.is_integer():
                raise wrong
            value = int(value)
        low, high = field.bounds or INTEGER_RANGE
        if not low <= value <= high:
            raise ValueError(
                f"field '{field.name}' takes a whole number from {low:,} to {high:,},"
                f" got {_show(value)}"
            )
        return int(value)
    if field.type == "string":
        if not isinstance(value, str):
            raise wrong
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(f"field '{field.name}': the value {problem}")
        if len(value) > MAX_TEXT:
            raise ValueError(
                f"field '{field.name}' takes at most {MAX_TEXT} characters, got {len(value):,}"
            )
        return value
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise wrong
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"field '{field.name}': {_show(value)} is not a real date") from None


def _ordered(low: Scalar, high: Scalar) -> bool:
    if isinstance(low, dt.date) and isinstance(high, dt.date):
        return low <= high
    if isinstance(low, str) and isinstance(high, str):
        return low <= high
    if isinstance(low, int | float) and isinstance(high, int | float):
        return low <= high
    return False


class _Parser:
    def __init__(self, *, params: bool = False) -> None:
        self.errors: list[RuleError] = []
        self.params = params
        """Whether `{"param": NAME}` may stand for a value (a sweep's rule template)."""

    def fail(self, path: str, message: str) -> None:
        self.errors.append(RuleError(path, message))

    def node(self, raw: Any, path: str, depth: int) -> Node | None:
        if depth > MAX_DEPTH:
            self.fail(path, f"rules are nested too deeply (the limit is {MAX_DEPTH} levels)")
            return None
        if isinstance(raw, list):
            if depth != 1:
                self.fail(path, 'a bare list is only allowed at the top; use {"all": [...]}')
                return None
            return self.group("all", raw, path, f"{path}[{{}}]", depth)
        if not isinstance(raw, dict):
            self.fail(path, f"expected a rule object, got {_kind(raw)} {_show(raw)}")
            return None
        keys = list(raw)
        group_keys = [key for key in keys if key in GROUP_KEYS]
        if group_keys:
            extra = [key for key in keys if key not in GROUP_KEYS or key != group_keys[0]]
            if extra:
                self.fail(
                    path,
                    f"a group has exactly one key ('all', 'any' or 'not'); "
                    f"unexpected key '{_word(extra[0])}'",
                )
                return None
            key = group_keys[0]
            if key == "not":
                return self.negation(raw[key], path, depth)
            kind: Literal["all", "any"] = "all" if key == "all" else "any"
            return self.group(kind, raw[key], path, f"{path}.{kind}[{{}}]", depth)
        if any(key in LEAF_KEYS for key in keys):
            return self.leaf(raw, path)
        if not keys:
            self.fail(path, "empty rule object; expected 'field'/'op'/'value' or 'all'/'any'/'not'")
            return None
        key = str(keys[0])
        self.fail(
            path,
            f"unexpected key '{_word(key)}'{_suffix(did_you_mean(key, LEAF_KEYS + GROUP_KEYS))}; "
            "expected 'field'/'op'/'value' or 'all'/'any'/'not'",
        )
        return None

    def group(
        self, kind: Literal["all", "any"], raw: Any, path: str, child_path: str, depth: int
    ) -> Node | None:
        if not isinstance(raw, list):
            self.fail(path, f"'{kind}' takes a list of rules, got {_kind(raw)} {_show(raw)}")
            return None
        if kind == "any" and not raw:
            self.fail(path, "'any' needs at least one rule (an empty 'any' never matches)")
            return None
        children = [self.node(item, child_path.format(i), depth + 1) for i, item in enumerate(raw)]
        parsed = tuple(child for child in children if child is not None)
        return Group(path, kind, parsed) if len(parsed) == len(children) else None

    def negation(self, raw: Any, path: str, depth: int) -> Node | None:
        child_path = f"{path}.not"
        if not isinstance(raw, dict):
            self.fail(
                child_path,
                f"'not' takes one rule object, got {_kind(raw)}; "
                'wrap several rules as {"not": {"all": [...]}}',
            )
            return None
        child = self.node(raw, child_path, depth + 1)
        return None if child is None else Not(path, child)

    def leaf(self, raw: dict[str, Any], path: str) -> Leaf | None:
        before = len(self.errors)
        for key in raw:
            if key not in LEAF_KEYS:
                hint = did_you_mean(str(key), LEAF_KEYS)
                self.fail(path, f"unexpected key '{_word(key)}' in a rule{_suffix(hint)}")
        field = self.leaf_field(raw, path)
        op = self.leaf_op(raw, path)
        if len(self.errors) > before or field is None or op is None:
            return None
        value = self.leaf_value(raw, path, field, op)
        return None if len(self.errors) > before else Leaf(path, field, op, value)

    def leaf_field(self, raw: dict[str, Any], path: str) -> Field | None:
        if "field" not in raw:
            self.fail(path, "missing 'field'")
            return None
        name = raw["field"]
        if not isinstance(name, str):
            self.fail(path, f"'field' must be a field name, got {_kind(name)} {_show(name)}")
            return None
        field = FIELDS.get(name)
        if field is None:
            self.fail(path, f"unknown field '{_word(name)}'{_suffix(suggest_field(name))}")
            return None
        if not field.pre_match:
            self.fail(
                path,
                f"'{name}' is known only after the match, so a filter cannot use it; "
                f"{field.alternative}",
            )
            return None
        return field

    def leaf_op(self, raw: dict[str, Any], path: str) -> Op | None:
        if "op" not in raw:
            self.fail(path, "missing 'op'")
            return None
        op = raw["op"]
        if not isinstance(op, str):
            self.fail(path, f"'op' must be a string, got {_kind(op)} {_show(op)}")
            return None
        for known in OPS:
            if op == known:
                return known
        hint = _OP_ALIASES.get(op.strip().lower()) or did_you_mean(op, OPS)
        listing = "" if hint else f"; ops are {', '.join(OPS)}"
        self.fail(path, f"unknown op '{_word(op)}'{_suffix(hint)}{listing}")
        return None

    def leaf_value(self, raw: dict[str, Any], path: str, field: Field, op: Op) -> Value:
        if op in NULL_OPS:
            if raw.get("value") is not None:
                self.fail(path, f"op '{op}' takes no value, got {_show(raw['value'])}")
            return None
        if "value" not in raw:
            self.fail(path, f"missing 'value' for op '{op}'")
            return None
        value = raw["value"]
        if value is None:
            self.fail(path, f"op '{op}' needs a value, got null; use 'is_null' to match blanks")
            return None
        whole = self.param(path, value, "") if op not in SCALAR_OPS else None
        if whole is not None:
            return whole  # the list itself is the parameter: each grid value is a list
        if op in SCALAR_OPS:
            if isinstance(value, list):
                hint = "; use 'in' for several values" if op == "=" else ""
                self.fail(path, f"op '{op}' takes a single value, got a list{hint}")
                return None
            return self.typed(path, field, value)
        if not isinstance(value, list):
            shape = "[lo, hi]" if op == "between" else "a non-empty list of values"
            self.fail(path, f"op '{op}' takes {shape}, got {_kind(value)} {_show(value)}")
            return None
        if op == "between":
            return self.between(path, field, value)
        if not value:
            self.fail(path, f"op '{op}' takes a non-empty list of values, got []")
            return None
        if len(value) > MAX_LIST_VALUES:
            self.fail(
                path, f"op '{op}' takes at most {MAX_LIST_VALUES:,} values, got {len(value):,}"
            )
            return None
        items = [
            self.typed(path, field, item, f"item {i} of the list: ") for i, item in enumerate(value)
        ]
        present = tuple(item for item in items if item is not None)
        return present if len(present) == len(items) else None

    def between(self, path: str, field: Field, value: list[Any]) -> Value:
        if len(value) != 2:
            self.fail(path, f"op 'between' takes [lo, hi], got a list of {len(value)}")
            return None
        low = self.typed(path, field, value[0], "lo: ")
        high = self.typed(path, field, value[1], "hi: ")
        if low is None or high is None:
            return None
        if isinstance(low, Param) or isinstance(high, Param):
            return (low, high)  # a variant with lo > hi matches nothing: not an error
        if not _ordered(low, high):
            self.fail(path, f"op 'between' needs lo <= hi, got {_show(value)}")
            return None
        return (low, high)

    def typed(self, path: str, field: Field, value: Any, prefix: str = "") -> Scalar | Param | None:
        param = self.param(path, value, prefix)
        if param is not None:
            return param
        try:
            return _typed(field, value)
        except ValueError as exc:
            self.fail(path, f"{prefix}{exc}")
            return None

    def param(self, path: str, value: Any, prefix: str) -> Param | None:
        if not (isinstance(value, dict) and "param" in value):
            return None
        name = value["param"]
        if not self.params:
            self.fail(path, f"{prefix}a parameter {_show(value)} only belongs in a sweep's rules")
        elif len(value) != 1 or not isinstance(name, str) or not name:
            self.fail(
                path, f'{prefix}a parameter is written {{"param": "name"}}, got {_show(value)}'
            )
        else:
            return Param(name)
        return None


def _count_leaves(rules: Any) -> int:
    """How many rule objects the tree holds, down to MAX_DEPTH (the parser reports what lies
    deeper): a walk without recursion, suggestions or type checks, so an oversized tree is
    refused before the slow part of parsing it."""
    leaves = 0
    stack: list[tuple[Any, int]] = [(rules, 1)]
    while stack:
        raw, depth = stack.pop()
        if depth > MAX_DEPTH:
            continue
        if isinstance(raw, list):
            stack.extend((item, depth + 1) for item in raw)
        elif isinstance(raw, dict):
            group = next((key for key in GROUP_KEYS if key in raw), None)
            if group is None:
                leaves += 1
            elif isinstance(raw[group], list):
                stack.extend((item, depth + 1) for item in raw[group])
            else:
                stack.append((raw[group], depth + 1))
    return leaves


def _parse(rules: Any, path: str, *, params: bool = False) -> tuple[Node | None, list[RuleError]]:
    leaves = _count_leaves(rules)
    if leaves > MAX_LEAVES:
        return None, [RuleError(path, f"too many rules: {leaves:,} (the limit is {MAX_LEAVES})")]
    parser = _Parser(params=params)
    return parser.node(rules, path, 1), parser.errors


def rule_errors(rules: Any, *, path: str = "rules", params: bool = False) -> list[RuleError]:
    """Every problem in a rule tree, in tree order (empty when the rules are valid).
    `params`: the tree is a sweep's template, whose values may be parameters."""
    return _parse(rules, path, params=params)[1]


def parse_rules(rules: Any, *, path: str = "rules", params: bool = False) -> Node:
    """The typed tree of valid rules (a tree already parsed is returned as it is); raises
    the first RuleError otherwise. `params`: the tree is a sweep's template, whose values
    may be `Param`s."""
    if isinstance(rules, Leaf | Group | Not):
        return rules
    tree, errors = _parse(rules, path, params=params)
    if errors:
        raise errors[0]
    assert tree is not None
    return tree


def validate_rules(rules: Any) -> Any:
    """Return the rules unchanged when valid (ready to store); raise the first RuleError."""
    parse_rules(rules)
    return rules


def iter_leaves(node: Node) -> Iterator[Leaf]:
    if isinstance(node, Leaf):
        yield node
    elif isinstance(node, Group):
        for child in node.children:
            yield from iter_leaves(child)
    else:
        yield from iter_leaves(node.child)


def leaf_params(leaf: Leaf) -> list[Param]:
    """The parameters standing in a leaf's value."""
    value = leaf.value
    if isinstance(value, Param):
        return [value]
    if isinstance(value, tuple):
        return [item for item in value if isinstance(item, Param)]
    return []


def params_used(node: Node) -> dict[str, list[Leaf]]:
    """Each parameter of a template, with the leaves it stands in (first use first)."""
    used: dict[str, list[Leaf]] = {}
    for leaf in iter_leaves(node):
        for param in leaf_params(leaf):
            used.setdefault(param.name, []).append(leaf)
    return used


def typed_value(field: Field, value: Any) -> Scalar:
    """A raw JSON value as a leaf on `field` holds it; ValueError says why it cannot be."""
    return _typed(field, value)


def fields_used(rules: Any) -> list[str]:
    """Names of the fields valid rules read, first use first, without repeats."""
    return list(dict.fromkeys(leaf.field.name for leaf in iter_leaves(parse_rules(rules))))


CLOSING_PRICE_WARNING = "uses closing prices, known only at kick-off"


def uses_closing_prices(rules: Any) -> bool:
    """True when valid rules read any closing price (then show CLOSING_PRICE_WARNING)."""
    return any(leaf.field.closing for leaf in iter_leaves(parse_rules(rules)))
