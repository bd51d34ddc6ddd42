"""Which desks' calls and follow-ups a person may see.

A manager sees every desk (``None``); a receptionist sees her own desks: the
``desks`` of her login once users carry them, else the service's one desk.
Every desk-scoped page and endpoint asks ``visible_desks`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def visible_desks(user: Mapping[str, Any] | None, default_desk: str) -> frozenset[str] | None:
    """The desks ``user`` may see, or None for all of them (managers)."""
    if not user:
        return frozenset()
    if user.get("role") == "manager":
        return None
    desks = user.get("desks")
    if desks:
        return frozenset(str(d) for d in desks)
    return frozenset({default_desk})


def may_see(desks: frozenset[str] | None, desk: str) -> bool:
    """Whether a call or follow-up of ``desk`` is within ``desks``."""
    return desks is None or desk in desks
