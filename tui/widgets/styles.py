"""Colours for gains, losses and problems.

Light tints on purpose: with NO_COLOR, Textual turns colours into greys by luminance, and pure
red would become a grey too dark to read on the dark background. Meaning never rests on colour
alone anyway: numbers carry their sign, problems a ⚠.
"""

from __future__ import annotations

GOOD = "#5fd75f"
BAD = "#ff8787"
PROBLEM = f"bold {BAD}"


def signed_style(value: float | None) -> str:
    """GOOD above zero, BAD below, plain at zero, dim when there is no value."""
    if value is None:
        return "dim"
    return GOOD if value > 0 else BAD if value < 0 else ""
