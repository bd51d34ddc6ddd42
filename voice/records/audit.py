"""The audit log of protected records: who viewed which call, transcript or export, and purges.

``AuditLog(store).record(...)`` appends one row; ``entries(...)`` reads them
back newest first.  Nothing in the application updates or deletes an audit
row: a flush that tries is refused (``AuditTampering``), so the log is
append-only from the application's side.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from voice.records.serialize import iso
from voice.records.tables import AuditEntry

ACTIONS = ("view_call", "view_call_api", "list_calls", "export_csv", "history", "purge",
           "view_follow_ups", "view_live")


class AuditTampering(RuntimeError):
    """Something tried to change or delete an audit row."""


@event.listens_for(Session, "before_flush")
def _append_only(session: Session, _context: Any, _instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry):
            raise AuditTampering("the audit log is append-only")


def audit_dict(entry: AuditEntry) -> dict[str, Any]:
    """One audit row as JSON."""
    return {
        "id": entry.id, "at": iso(entry.at), "user": entry.username, "role": entry.role,
        "action": entry.action, "call_sid": entry.call_sid, "path": entry.path,
        "from": entry.remote_addr, "detail": entry.detail or {},
    }


class AuditLog:
    """Appends and reads audit rows through a ``RecordStore``."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def record(self, *, user: str, role: str, action: str, call_sid: str | None = None,
               path: str = "", remote_addr: str = "", detail: dict[str, Any] | None = None) -> None:
        """Append one row."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        with self.store.session() as s:
            s.add(AuditEntry(username=user[:80], role=role[:20], action=action,
                             call_sid=call_sid[:64] if call_sid else None, path=path[:500],
                             remote_addr=remote_addr[:64], detail=detail or {}))

    def last_at(self, *, user: str, action: str, call_sid: str,
                since: datetime) -> datetime | None:
        """When the newest ``action`` row of ``user`` for ``call_sid`` since ``since`` was made."""
        query = (select(func.max(AuditEntry.at))
                 .where(AuditEntry.username == user[:80], AuditEntry.action == action,
                        AuditEntry.call_sid == call_sid[:64], AuditEntry.at >= since))
        with self.store.session() as s:
            at: datetime | None = s.scalar(query)
            return at

    def entries(self, *, user: str | None = None, call_sid: str | None = None,
                since: datetime | None = None, limit: int = 200,
                offset: int = 0) -> list[dict[str, Any]]:
        """Rows newest first, optionally for one user and/or one call."""
        query = select(AuditEntry)
        if user:
            query = query.where(AuditEntry.username == user)
        if call_sid:
            query = query.where(AuditEntry.call_sid == call_sid)
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        with self.store.session() as s:
            return [audit_dict(e) for e in s.scalars(query.offset(offset))]
