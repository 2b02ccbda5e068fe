"""Rules given as JSON text (the CLI's --rules, a filter export file), parsed within limits.

json.loads alone recurses once per nesting level (a RecursionError at about 1,000), turns a
4,301-digit integer into a ValueError, and accepts NaN and Infinity. Here every such input is
a one-line RuleError naming its source, before anything else sees the value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from core.errors import RuleError

MAX_JSON_BYTES = 1_000_000
"""Largest rules text or filter export: a hundred rules take a few kilobytes."""
MAX_JSON_NESTING = 64
"""Deepest nesting of JSON arrays and objects: rules nested to their limit take about 20, so
deeper input is refused here and shallower input gets the validator's located message."""
MAX_NUMBER_DIGITS = 100

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class _Refused(ValueError):
    """Raised from json.loads' hooks: the message is the whole reason."""


def _nesting(text: str) -> int:
    """The deepest nesting of arrays and objects, ignoring brackets inside strings."""
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        raise _Refused(
            f"a number of {digits:,} digits; numbers in rules have at most {MAX_NUMBER_DIGITS}"
        )
    return int(text)


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number JSON allows; give a finite number")


def parse_json_text(text: str, source: str) -> Any:
    """The value of JSON `text`; a RuleError located at `source` for anything unparseable."""
    if len(text) > MAX_JSON_BYTES:
        raise RuleError(source, f"{len(text):,} characters; the limit is {MAX_JSON_BYTES:,}")
    if _nesting(text) > MAX_JSON_NESTING:
        raise RuleError(source, f"nested more than {MAX_JSON_NESTING} levels deep")
    try:
        return json.loads(text, parse_int=_integer, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise RuleError(
            source, f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except _Refused as exc:
        raise RuleError(source, str(exc)) from exc


def read_json_file(path: Path) -> Any:
    """The JSON value in the file at `path`, read within MAX_JSON_BYTES; a RuleError naming
    the file for a file that is missing, unreadable, too large, not UTF-8 or not JSON."""
    source = str(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError as exc:
        raise RuleError(source, "no such file") from exc
    except OSError as exc:
        raise RuleError(source, f"cannot read ({exc.strerror or type(exc).__name__})") from exc
    if len(data) > MAX_JSON_BYTES:
        raise RuleError(source, f"larger than {MAX_JSON_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RuleError(source, f"not UTF-8 text (byte {exc.start + 1:,})") from exc
    return parse_json_text(text, source)
