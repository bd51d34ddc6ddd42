"""Request-side helpers for protected records: whose desks, and auditing each view.

Blueprints call ``current_desks()`` to scope what they show (the desks of the
logged-in person or token, from ``voice.auth.scope``) and ``audit_view(...)``
whenever a page or endpoint shows a call record, a transcript or an export.
A failed audit write refuses the view (503) rather than showing a record nobody
logged.
"""

from __future__ import annotations

from typing import Any

from flask import abort, g, request

from voice.auth.scope import visible_desks
from voice.records.audit import AuditLog
from voice.services import current_services


def current_desks() -> frozenset[str] | None:
    """The desks the logged-in person (or token) may see; None for all."""
    person = getattr(g, "user", None)
    return visible_desks(person) if person is not None else frozenset()


def audit_view(action: str, call_sid: str | None = None,
               detail: dict[str, Any] | None = None) -> None:
    """Append an audit row for this request (who, when, which call, from where)."""
    person = getattr(g, "user", None)
    try:
        AuditLog(current_services().store).record(
            user=getattr(person, "username", "anonymous"), role=getattr(person, "role", ""),
            action=action,
            call_sid=call_sid, path=request.full_path.rstrip("?"),
            remote_addr=request.remote_addr or "", detail=detail,
        )
    except Exception:  # noqa: BLE001 - no audit row, no record
        abort(503, description="The audit log could not be written; try again shortly.")


def query_value(name: str) -> Any:
    """A stripped query-string value, or None."""
    return (request.args.get(name) or "").strip() or None
