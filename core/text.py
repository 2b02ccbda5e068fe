"""Text that users type: what may be stored, how to show it in a message, how wide it is.

Both databases must store a value the same way, and a terminal must show it without being
driven by it: PostgreSQL refuses NUL in text, neither database (nor UTF-8) can hold a lone
surrogate, and a control character in a name printed to a terminal is an escape sequence.
"""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 controls, DEL, and lone surrogates (what json.loads makes of "\ud800").
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same, less the tab and newline a multi-line description may hold.
_UNSAFE_IN_PROSE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _describe(char: str) -> str:
    code = ord(char)
    if code == 0:
        return "a NUL character (U+0000)"
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X}), which is not valid text"
    return f"a control character (U+{code:04X})"


def text_problem(value: str, *, prose: bool = False) -> str | None:
    """Why `value` cannot be stored and shown as text ("contains a NUL character
    (U+0000)"), or None when it can. `prose` allows tabs and newlines."""
    found = (_UNSAFE_IN_PROSE if prose else _UNSAFE).search(value)
    return None if found is None else f"contains {_describe(found.group())}"


def printable(value: str) -> str:
    """`value` with controls and lone surrogates written as escapes (\\x1b, \\ud800), and
    everything else (quotes, accents, emoji) as typed: safe to print in a message."""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNSAFE.sub(escape, value)


def quoted(value: str) -> str:
    """A name for a message: in single quotes, as typed (no backslashes before quotes)."""
    return f"'{printable(value)}'"


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0  # accents, variation selectors, zero-width joiners
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(value: str) -> int:
    """Terminal columns `value` takes: wide characters (emoji, CJK) count 2, combining marks
    and zero-width characters 0."""
    if value.isascii():
        return len(value)
    return sum(_char_width(char) for char in value)


def clip(value: str, width: int) -> str:
    """`value` cut to at most `width` columns, ending in an ellipsis when cut."""
    if display_width(value) <= width:
        return value
    kept: list[str] = []
    used = 0
    for char in value:
        char_width = _char_width(char)
        if used + char_width > width - 1:
            break
        kept.append(char)
        used += char_width
    return "".join(kept) + "…"


def pad(value: str, width: int) -> str:
    """`value` clipped to `width` columns and padded with spaces to exactly `width`."""
    shown = clip(value, width)
    return shown + " " * (width - display_width(shown))
