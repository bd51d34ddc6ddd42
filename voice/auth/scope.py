"""Desks kept apart: which desks and calls a person may see and act on.

A receptionist sees only the desks she works (``voice users desks``) and acts
only on their live calls; a manager (and ``VOICE_API_TOKEN``) sees every desk.
Views call these helpers after the login check; they answer with ``abort``.
One rule everywhere: an unknown call or item is 404; another desk's is 403 (reading
or acting, page, login or token alike), as for review, audit, the export and
another desk's follow-ups; lists leave another desk's out.
"""

from __future__ import annotations

from typing import Any

from flask import abort

from voice.auth.identity import Person
from voice.services import current_services


def visible_desks(person: Person) -> frozenset[str] | None:
    """The desks ``person`` may see, or None for every desk."""
    return person.desks


def page_desk(person: Person, requested: str | None) -> str:
    """The desk a console page or stream shows: the one asked for when allowed, else 403."""
    default = current_services().config.desk_name
    desk = (requested or "").strip()
    if not desk:
        if person.desks is None or default in person.desks:
            return default
        if not person.desks:
            abort(403, description=f"{person.username} works no desk yet: a manager runs "
                                   f"`voice users desks {person.username} DESK`.")
        return sorted(person.desks)[0]
    if not person.sees_desk(desk):
        abort(403, description=f"{person.username} does not work the desk {desk!r}.")
    return desk


def check_call_action(person: Person, store: Any, call_sid: str) -> str:
    """The desk of a call ``person`` may act on now: 404 unknown, 403 other desk or ended."""
    found = store.call_desk_status(call_sid)
    if found is None:
        abort(404, description=f"no call {call_sid}")
    desk, status = found
    if not person.sees_desk(desk):
        abort(403, description=f"call {call_sid} belongs to another desk")
    if status != "live":
        abort(403, description=f"call {call_sid} has ended ({status}): its prompts are closed")
    return str(desk)


def may_read_call(person: Person, call: dict[str, Any] | None) -> bool:
    """Whether ``person`` may read this stored call (the API and review)."""
    return call is not None and person.sees_desk(call.get("desk") or "")


def check_call_read(person: Person, call: dict[str, Any] | None, call_sid: str) -> dict[str, Any]:
    """The stored call ``person`` may read: 404 unknown, 403 another desk's."""
    if call is None:
        abort(404, description=f"no call {call_sid}")
    if not may_read_call(person, call):
        abort(403, description=f"call {call_sid} belongs to another desk")
    return call
