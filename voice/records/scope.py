"""Whether a desk is among the desks someone may see.

Who may see which desks is ``voice.auth.scope.visible_desks`` (a manager: every
desk, ``None``; a receptionist: the desks she works); the records code takes that
set and asks ``may_see`` for each call or follow-up.
"""

from __future__ import annotations


def may_see(desks: frozenset[str] | None, desk: str) -> bool:
    """Whether a call or follow-up of ``desk`` is within ``desks`` (None: every desk)."""
    return desks is None or desk in desks
