"""What the coach knows of a repeat caller before the call: an earlier promise not kept.

The call's wiring looks the caller's history up at call start (the record's
``history`` shape: ``{"previous_calls": [...], "open_follow_ups": [...]}``) and
hands it here; ``unkept_promise`` picks the latest open promise whose due time
passed before this call began, the one the office must own first.  The card's words
live in the playbook (``when: {promise_unkept: true}``, slots ``{promise}`` and
``{promised_when}``); this module only fills the slots.  Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

_CALLBACK = re.compile(r"\b(?:call|ring|phone|get back|let you know|hear (?:back|from)|"
                       r"reach out|follow up)\b")
_SEND = re.compile(r"\b(?:send|fax|e-?mail|mail|text)\b")


@dataclass(frozen=True)
class UnkeptPromise:
    """An open promise to this caller that was due before the call began."""

    follow_up_id: int | None
    call_sid: str
    promise: str        # "you a callback": fills "We promised {promise} ..."
    promised_when: str  # "yesterday", "on Monday", "for earlier today", "on 2 December"
    due_at: datetime


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def promise_words(item: Mapping[str, Any]) -> str:
    """What was promised, said to the caller ("you a callback", "to send you that")."""
    source = item.get("source") or {}
    said = f"{source.get('text') or ''} {item.get('what') or ''}".lower()
    if _SEND.search(said):
        return "to send you that"
    if _CALLBACK.search(said):
        return "you a callback"
    return "to get back to you"


def when_words(due: datetime, now: datetime, timezone: str) -> str:
    """When it was due, from the caller's side of today ("yesterday", "on Monday")."""
    zone = ZoneInfo(timezone)
    due_day, today = due.astimezone(zone).date(), now.astimezone(zone).date()
    days = (today - due_day).days
    if days <= 0:
        return "for earlier today"
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"on {due.astimezone(zone):%A}"
    local = due.astimezone(zone)
    return f"on {local.day} {local:%B}"


def unkept_promise(history: Mapping[str, Any] | None, now: datetime,
                   timezone: str = "UTC") -> UnkeptPromise | None:
    """The latest open promise in ``history`` that fell due before ``now``, or None."""
    overdue: list[tuple[datetime, Mapping[str, Any]]] = []
    for item in (history or {}).get("open_follow_ups", []):
        due = _parse(item.get("due_at"))
        if item.get("kind") == "promise" and item.get("status") != "done" and due and due < now:
            overdue.append((due, item))
    if not overdue:
        return None
    due, item = max(overdue, key=lambda pair: pair[0])
    return UnkeptPromise(
        follow_up_id=item.get("id"),
        call_sid=str(item.get("call_sid") or ""),
        promise=promise_words(item),
        promised_when=when_words(due, now, timezone),
        due_at=due,
    )
