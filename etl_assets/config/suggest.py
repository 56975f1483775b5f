"""The "did you mean" hint of every error about an unknown name (source, table, report, config key)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.6
"""difflib's similarity ratio a known name needs to be suggested."""


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name most like ``name``, or None when none is close enough."""
    found = difflib.get_close_matches(str(name), list(known), n=1, cutoff=CUTOFF)
    return found[0] if found else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest known name, else the empty string (to append to a message)."""
    match = closest(name, known)
    return f"; did you mean {match!r}?" if match else ""
