"""Sweep parameters as the rule editor writes them, as plain Python (tested without a screen).

In a rule's value a parameter is written `$name` (`$lo..$hi`, `E0, $league`); the rules hold
`{"param": "name"}` there. Its values are typed as a list, `1.5, 1.8, 2.0`, or a range,
`1.5..3.0 step 0.1` (inclusive), and kept as the grid's JSON: a list, or
`{"from": 1.5, "to": 3.0, "step": 0.1}`.
"""

from __future__ import annotations

import re
from typing import Any, Final

from core.backtest.grid import GridError, parse_grid
from core.errors import RuleError
from core.rules import FIELDS
from core.rules.validate import params_used, parse_rules, typed_value
from tui.widgets.rule_text import value_text

PARAM_TEXT: Final = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
"""A parameter in a rule's value as typed: `$lo`."""
PARAM_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RANGE: Final = re.compile(
    r"^\s*(?P<start>[-+]?\d+(?:\.\d+)?)\s*(?:\.\.|\bto\b)\s*(?P<stop>[-+]?\d+(?:\.\d+)?)"
    r"(?:\s*(?:\bstep\b|\bby\b)\s*(?P<step>[-+]?\d+(?:\.\d+)?))?\s*$",
    re.IGNORECASE,
)
VALUES_EXAMPLE: Final = "a list 1.5, 1.8, 2.0 or a range 1.5..3.0 step 0.1"
_EXAMPLES: Final = {
    "number": VALUES_EXAMPLE,
    "integer": "a list 3, 5, 10 or a range 1..10 (step 1 unless given)",
    "string": "a list E0, SP1, I1",
    "date": "a list 2020-01-01, 2021-01-01",
}


def values_example(field_name: str) -> str:
    """How the values of a parameter on this field are typed."""
    found = FIELDS.get(field_name)
    return _EXAMPLES.get(found.type if found else "", VALUES_EXAMPLE)


def param_of(text: str) -> str | None:
    """The parameter's name when `text` is one (`$lo`), else None."""
    found = PARAM_TEXT.match(text.strip())
    return found.group(1) if found else None


def _number(text: str) -> int | float:
    return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)


def parse_values(text: str, field_name: str) -> Any:
    """The grid's JSON for the values as typed, checked against the field's type; ValueError
    with a short reason when they cannot be its values."""
    found = FIELDS.get(field_name)
    numeric = found is not None and found.type in ("number", "integer")
    text = text.strip()
    if not text:
        raise ValueError(f"type {values_example(field_name)}")
    ranged = _RANGE.match(text) if numeric else None
    spec: Any
    if ranged:
        start, stop = _number(ranged["start"]), _number(ranged["stop"])
        if ranged["step"] is None:
            if not (isinstance(start, int) and isinstance(stop, int)):
                raise ValueError(f"a range of decimals needs a step: {text} step 0.1")
            step: int | float = 1
        else:
            step = _number(ranged["step"])
        spec = {"from": start, "to": stop, "step": step}
    else:
        items = [item.strip() for item in text.split(",")]
        if any(not item for item in items):
            raise ValueError(f"an empty value in the list; type {values_example(field_name)}")
        spec = [_typed(found.type if found else None, item) for item in items]
    try:
        grid = parse_grid({"values": spec})
    except GridError as error:
        raise ValueError(str(error).replace("grid: parameter 'values': ", "")) from None
    if found is not None:
        for value in grid.values[0]:
            try:
                typed_value(found, value)
            except ValueError as error:
                raise ValueError(str(error)) from None
    return spec


def _typed(field_type: str | None, text: str) -> Any:
    if field_type in ("number", "integer"):
        try:
            return _number(text)
        except ValueError:
            return text  # typed_value names what is wrong with it
    return text


def expand(spec: Any) -> tuple[Any, ...]:
    """Every value a grid entry stands for, in order."""
    return parse_grid({"values": spec}).values[0]


def values_text(spec: Any) -> str:
    """A grid entry as the prompt shows it: `1.5, 1.8` or `1.5..3 step 0.1`."""
    if isinstance(spec, dict):
        return (
            f"{value_text(spec['from'])}..{value_text(spec['to'])} step {value_text(spec['step'])}"
        )
    return ", ".join(value_text(item) for item in spec)


def describe_values(spec: Any) -> str:
    """`16 values: 1.5, 1.6, 1.7, …, 3`."""
    values = expand(spec)
    shown = [value_text(v) for v in values]
    if len(shown) > 5:
        shown = [*shown[:3], "…", shown[-1]]
    count = f"{len(values):,} value{'s' if len(values) != 1 else ''}"
    return f"{count}: {', '.join(shown)}"


def template_params(rules: Any) -> list[str]:
    """The parameters in valid rules, first use first; none when they are not valid."""
    try:
        return list(params_used(parse_rules(rules, params=True)))
    except RuleError:
        return []


def suggest_name(field_name: str, slot: str, taken: set[str]) -> str:
    """A name for a new parameter: lo/hi for the ends of a range, else the field's last
    word (`away` for odds.pinnacle.away), numbered when taken."""
    if slot in ("low", "high"):
        base = "lo" if slot == "low" else "hi"
    else:
        base = re.sub(r"[^A-Za-z0-9_]", "_", field_name.rsplit(".", 1)[-1]) or "value"
        if not PARAM_NAME.match(base):
            base = f"p_{base}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return name


def variant_count(grid: dict[str, Any], names: list[str]) -> int:
    count = 1
    for name in names:
        count *= len(expand(grid[name]))
    return count


def first_values(grid: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Each parameter at its first value: the sweep's first variant."""
    return {name: expand(grid[name])[0] for name in names}
