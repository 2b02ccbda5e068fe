"""Fitting text into table cells."""

from __future__ import annotations


def clip(text: str, width: int) -> str:
    """`text`, cut to `width` cells with an ellipsis at the end."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def clip_middle(text: str, width: int) -> str:
    """`text`, cut to `width` cells in the middle: both ends stay, so "Home favourites" and
    "Home favourites (copy)" still read apart."""
    if len(text) <= width:
        return text
    if width < 8:
        return clip(text, width)
    tail = (width - 1) // 2
    head = width - 1 - tail
    return text[:head].rstrip() + "…" + text[len(text) - tail :].lstrip()
