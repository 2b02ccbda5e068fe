"""Rule trees as one readable line: `odds.pinnacle.home < 1.8 and league in E0, SP1`."""

from __future__ import annotations

import json
from typing import Any

OP_WORDS = {
    "=": "=",
    "!=": "≠",
    "<": "<",
    "<=": "≤",
    ">": ">",
    ">=": "≥",
    "between": "between",
    "in": "in",
    "not_in": "not in",
    "is_null": "is empty",
    "not_null": "is set",
}


def value_text(value: Any) -> str:
    """A rule value as a user would type it: 1.8, E0, 2019-20, [1.5, 2] -> 1.5..2, and a
    sweep's parameter {"param": "lo"} -> $lo."""
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, dict) and set(value) == {"param"}:
        return f"${value['param']}"  # a sweep parameter, as the editor writes it
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    if isinstance(value, list | tuple):
        return ", ".join(value_text(item) for item in value)
    return str(value)


def leaf_text(rule: dict[str, Any]) -> str:
    op = str(rule.get("op", "?"))
    words = f"{rule.get('field', '?')} {OP_WORDS.get(op, op)}"
    if op in ("is_null", "not_null"):
        return words
    value = rule.get("value")
    if op == "between" and isinstance(value, list) and len(value) == 2:
        return f"{words} {value_text(value[0])}..{value_text(value[1])}"
    return f"{words} {value_text(value)}"


def summarize_rules(rules: Any, *, top: bool = True) -> str:
    """One line; groups nest in brackets. An empty rule set reads "every fixture"."""
    if rules is None:
        return "-"
    if isinstance(rules, list):
        rules = {"all": rules}
    if not isinstance(rules, dict):
        return str(rules)
    if "not" in rules:
        return f"not ({summarize_rules(rules['not'], top=True)})"
    for kind, joiner in (("all", " and "), ("any", " or ")):
        if kind in rules:
            children = rules[kind] if isinstance(rules[kind], list) else []
            if not children:
                return "every fixture" if kind == "all" else "nothing"
            text = joiner.join(summarize_rules(child, top=False) for child in children)
            return text if top or len(children) == 1 else f"({text})"
    return leaf_text(rules)
