"""Rule trees as vectorised masks over the analysis frame (`core.frame`).

Semantics (identical to `core.rules.oracle`, which the tests hold this to):

* Two-valued logic. Every leaf is true or false, never unknown: a leaf whose field is
  missing (NaN, or label code -1) is false for every op except ``is_null``. So ``!=`` and
  ``not_in`` do not match a missing value either.
* Groups are plain boolean logic over those leaves: ``all`` is AND (empty: true),
  ``any`` is OR, ``not`` the complement. ``{"not": {"field": "odds.pinnacle.home",
  "op": ">", "value": 2}}`` therefore matches fixtures without a Pinnacle price.
* Numbers compare as doubles; integers as exact integers (the data's are small, so a
  double holds them exactly; a rule value beyond 2**53 compares as infinity, which every
  stored value is below); dates as days; strings by code point, decided once per distinct
  label rather than once per fixture.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from core.frame import AnalysisFrame
from core.rules.catalogue import Field, FieldValues, Labels
from core.rules.validate import Leaf, Node, Not, Scalar, iter_leaves

__all__ = ["LeafMask", "field_values", "leaf_mask", "rule_columns", "rule_mask"]

Bools = NDArray[np.bool_]
LeafMask = Callable[[Leaf, AnalysisFrame], Bools]
_EXACT_IN_A_DOUBLE: Final = 2**53
_EPOCH: Final = dt.date(1970, 1, 1)


def rule_columns(node: Node) -> set[str]:
    """The frame columns the rules read."""
    return {column for leaf in iter_leaves(node) for column in leaf.field.columns}


def field_values(field: Field, frame: AnalysisFrame) -> FieldValues:
    """Every fixture's value of a field, computed once per frame."""
    key = ("field", field.name)
    found = frame.cache.get(key)
    if found is None:
        found = frame.cache[key] = field.vector(frame)
    return found


def rule_mask(node: Node, frame: AnalysisFrame, leaf: LeafMask | None = None) -> Bools:
    """Which fixtures of the frame the rules match. `leaf` computes a leaf's mask (sweeps
    pass one that caches them); by default `leaf_mask`."""
    evaluate = leaf or leaf_mask
    return _mask(node, frame, evaluate)


def _mask(node: Node, frame: AnalysisFrame, leaf: LeafMask) -> Bools:
    if isinstance(node, Leaf):
        return leaf(node, frame)
    if isinstance(node, Not):
        return ~_mask(node.child, frame, leaf)
    if not node.children:
        return np.ones(len(frame), dtype=np.bool_)
    masks = [_mask(child, frame, leaf) for child in node.children]
    combine = np.logical_and if node.kind == "all" else np.logical_or
    out = masks[0].copy() if len(masks) > 1 else masks[0]
    for mask in masks[1:]:
        combine(out, mask, out=out)
    return out


def leaf_mask(leaf: Leaf, frame: AnalysisFrame) -> Bools:
    values = field_values(leaf.field, frame)
    if isinstance(values, Labels):
        return _labels_mask(leaf, values)
    return numbers_mask(leaf.field, leaf.op, leaf.value, values.values)


def numbers_mask(field: Field, op: str, value: Any, values: NDArray[np.float64]) -> Bools:
    """A leaf's mask over a number, integer or date field's values."""
    if op == "is_null":
        return np.isnan(values)
    if op == "not_null":
        return ~np.isnan(values)
    if op in ("in", "not_in"):
        items = np.array([_operand(field, item) for item in value], dtype=np.float64)
        found: Bools = np.isin(values, items)
        return found if op == "in" else ~found & ~np.isnan(values)
    if op == "between":
        low, high = (_operand(field, item) for item in value)
        return (values >= low) & (values <= high)
    operand = _operand(field, value)
    if op == "=":
        return np.equal(values, operand)
    if op == "!=":
        return np.not_equal(values, operand) & ~np.isnan(values)
    if op == "<":
        return values < operand
    if op == "<=":
        return values <= operand
    if op == ">":
        return values > operand
    if op == ">=":
        return values >= operand
    raise ValueError(f"unknown op {op!r}")


def _operand(field: Field, value: Scalar) -> float:
    """A rule value as the double its field's values are compared with."""
    if field.type == "date":
        assert isinstance(value, dt.date)
        return float((value - _EPOCH).days)
    if isinstance(value, int) and abs(value) > _EXACT_IN_A_DOUBLE:
        return math.copysign(math.inf, value)
    return float(value)  # type: ignore[arg-type]


def _labels_mask(leaf: Leaf, values: Labels) -> Bools:
    op = leaf.op
    if op == "is_null":
        return values.codes < 0
    if op == "not_null":
        return values.codes >= 0
    decide = _label_test(op, leaf.value)
    # One verdict per label, the last for a missing value (code -1).
    verdicts = np.array(
        [label is not None and decide(label) for label in values.labels] + [False],
        dtype=np.bool_,
    )
    return verdicts[values.codes]


def _label_test(op: str, value: Any) -> Callable[[str], bool]:
    if op in ("in", "not_in"):
        members = set(value)
        if op == "in":
            return members.__contains__
        return lambda label: label not in members
    if op == "between":
        low, high = value
        return lambda label: low <= label <= high
    tests: dict[str, Callable[[str], bool]] = {
        "=": lambda label: label == value,
        "!=": lambda label: label != value,
        "<": lambda label: label < value,
        "<=": lambda label: label <= value,
        ">": lambda label: label > value,
        ">=": lambda label: label >= value,
    }
    return tests[op]
