"""Text helpers for parser messages: every finding stays one short, printable line."""

from __future__ import annotations

SHOWN = 60
"""Characters of a hostile value quoted in a message (a 5,000-digit ``pct`` is shortened)."""


def shorten(value: str, limit: int = SHOWN) -> str:
    """``value`` cut to ``limit`` characters (``…`` and the length when cut), control
    characters escaped, so a message quoting it stays one line."""
    text = value if value.isprintable() else value.encode("unicode_escape").decode("ascii")
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(value)} characters)"
