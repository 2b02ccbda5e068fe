"""A sweep's grid: named parameters, each with a list of values or an inclusive range, and the
cartesian product of them in grid order (the last parameter varies fastest).

    {"lo": [1.8, 2.0], "hi": {"from": 2.5, "to": 3.0, "step": 0.1}, "league": ["E0", "I1"]}

Ranges are counted in decimal, from the numbers as written, so `to` is reached without float
drift: 1.5 to 3.0 by 0.1 ends at exactly 3.0, and integer ranges stay integers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from core.backtest.request import RequestError

__all__ = ["MAX_VARIANTS", "Grid", "GridError", "parse_grid"]

MAX_VARIANTS: Final = 1_000_000
_RANGE_KEYS: Final = frozenset({"from", "to", "step"})


class GridError(RequestError):
    """A grid that cannot be run; the message names the parameter."""


@dataclass(frozen=True)
class Grid:
    names: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    """Each parameter's values, in the order written."""
    spec: list[list[Any]]
    """The grid as given (lists and ranges), as [name, values] pairs: a JSON object's key
    order does not survive PostgreSQL's JSONB, and the order of the parameters is the order
    of the variants."""

    @property
    def size(self) -> int:
        return math.prod(len(values) for values in self.values)

    def params(self, index: int) -> dict[str, Any]:
        """The parameters of variant `index` in grid order (last parameter fastest)."""
        picked: list[Any] = []
        for values in reversed(self.values):
            index, at = divmod(index, len(values))
            picked.append(values[at])
        return dict(zip(self.names, reversed(picked), strict=True))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for index in range(self.size):
            yield self.params(index)


def parse_grid(raw: Any) -> Grid:
    """A grid from its JSON form (an object, or [name, values] pairs as stored); raises
    GridError naming the parameter at fault."""
    pairs = _pairs(raw)
    if not pairs:
        raise GridError('grid: expected an object of parameters, e.g. {"lo": [1.5, 2.0]}')
    names: list[str] = []
    values: list[tuple[Any, ...]] = []
    total = 1
    for name, spec in pairs:
        if name in names:
            raise GridError(f"grid: parameter {name!r} is given twice")
        if not isinstance(name, str) or not name:
            raise GridError(f"grid: parameter names are non-empty strings, got {name!r}")
        expanded = _values(name, spec)
        total *= len(expanded)
        if total > MAX_VARIANTS:
            raise GridError(
                f"grid: more than {MAX_VARIANTS:,} variants (parameter {name!r} takes it past);"
                " narrow a range or split the sweep"
            )
        names.append(name)
        values.append(expanded)
    return Grid(tuple(names), tuple(values), [[name, spec] for name, spec in pairs])


def _pairs(raw: Any) -> list[tuple[Any, Any]]:
    if isinstance(raw, Mapping):
        return list(raw.items())
    if isinstance(raw, list) and all(
        isinstance(pair, list | tuple) and len(pair) == 2 for pair in raw
    ):
        return [(pair[0], pair[1]) for pair in raw]
    return []


def _values(name: str, spec: Any) -> tuple[Any, ...]:
    if isinstance(spec, list):
        if not spec:
            raise GridError(f"grid: parameter {name!r} has an empty list of values")
        return tuple(spec)
    if isinstance(spec, Mapping) and set(spec) == _RANGE_KEYS:
        return _range(name, spec)
    if isinstance(spec, Mapping):
        missing = sorted(_RANGE_KEYS - set(spec))
        extra = sorted(set(spec) - _RANGE_KEYS)
        problem = f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"
        raise GridError(
            f'grid: parameter {name!r}: a range is {{"from", "to", "step"}} ({problem})'
        )
    raise GridError(
        f"grid: parameter {name!r} takes a list of values or a range"
        f' {{"from": ..., "to": ..., "step": ...}}, got {spec!r}'
    )


def _range(name: str, spec: Mapping[str, Any]) -> tuple[Any, ...]:
    numbers: dict[str, Decimal] = {}
    for key in ("from", "to", "step"):
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise GridError(
                f"grid: parameter {name!r}: range {key} must be a number, got {value!r}"
            )
        try:
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:
            raise GridError(
                f"grid: parameter {name!r}: range {key} {value!r} is not a number"
            ) from None
        if not number.is_finite():
            raise GridError(f"grid: parameter {name!r}: range {key} must be finite, got {value!r}")
        numbers[key] = number
    start, stop, step = numbers["from"], numbers["to"], numbers["step"]
    if step <= 0:
        raise GridError(
            f"grid: parameter {name!r}: range step must be above 0, got {spec['step']!r}"
        )
    if stop < start:
        raise GridError(
            f"grid: parameter {name!r}: range from {spec['from']!r} to {spec['to']!r} is empty"
        )
    count = int((stop - start) / step) + 1
    if count > MAX_VARIANTS:
        raise GridError(f"grid: parameter {name!r}: range has more than {MAX_VARIANTS:,} values")
    integers = all(isinstance(spec[key], int) for key in ("from", "to", "step"))
    points = (start + i * step for i in range(count))
    return tuple(int(p) if integers else float(p) for p in points)
