"""Retention: purging the protected parts of old calls, keeping de-identified counts.

``purge(store, older_than_days, dry_run)`` finds closed calls that started
before the cut-off and are not yet purged, and (unless ``dry_run``) deletes
their utterances, frustration points and prompts, and blanks everything that
says who called or what was said: caller name and number, summary, flag
reasons, follow-up text, notes and source.  What the trends page counts stays:
date, desk, topic, peak level, flagged, and each follow-up's status, owner and
due/closed times.  ``purge_and_audit`` also appends the purge to the audit log;
``DailyPurge`` is the running service's once-a-day purge (``VOICE_RETENTION_DAYS``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from voice.records.tables import Call, FollowUp, FrustrationPoint, PromptRow, UtteranceRow

log = logging.getLogger(__name__)

PURGED_TEXT = "[purged]"


@dataclass(frozen=True)
class PurgeResult:
    """What a purge removed (or would remove, for a dry run)."""

    cutoff: datetime
    calls: int
    utterances: int
    frustration_points: int
    prompts: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe counts."""
        return {"cutoff": self.cutoff.isoformat(), "calls": self.calls,
                "utterances": self.utterances, "frustration_points": self.frustration_points,
                "prompts": self.prompts, "dry_run": self.dry_run}


def parse_age(text: str) -> int:
    """Days from ``90d``, ``12w`` or ``90``; ValueError otherwise."""
    raw = text.strip().lower()
    units = {"d": 1, "w": 7}
    if raw[-1:] in units and raw[:-1].isdigit():
        return int(raw[:-1]) * units[raw[-1]]
    if raw.isdigit():
        return int(raw)
    raise ValueError(f"{text!r} is not an age like 90d or 12w")


def purge(store: Any, older_than_days: int, *, dry_run: bool = False,
          now: datetime | None = None) -> PurgeResult:
    """Purge (or count, with ``dry_run``) calls older than ``older_than_days`` days."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    with store.session() as s:
        ids = list(s.scalars(select(Call.id).where(
            Call.started_at < cutoff, Call.purged_at.is_(None), Call.status != "live")))
        counts = [
            int(s.scalar(select(func.count(t.id)).where(t.call_id.in_(ids))) or 0) if ids else 0
            for t in (UtteranceRow, FrustrationPoint, PromptRow)
        ]
        if ids and not dry_run:
            for table in (UtteranceRow, FrustrationPoint, PromptRow):
                s.execute(delete(table).where(table.call_id.in_(ids)))
            for call in s.scalars(select(Call).where(Call.id.in_(ids))):
                call.caller_name = None
                call.from_number = ""
                call.to_number = ""
                call.summary = None
                call.flag_reasons = []
                call.stats = {}
                call.purged_at = datetime.now(UTC)
            for item in s.scalars(select(FollowUp).where(FollowUp.call_id.in_(ids))):
                item.summary = PURGED_TEXT
                item.for_whom = ""
                item.note = ""
                item.due_text = ""
                item.source = None
    utterances, points, prompts = counts
    return PurgeResult(cutoff, len(ids), utterances, points, prompts, dry_run=dry_run)


def purge_and_audit(store: Any, older_than_days: int, *, user: str, dry_run: bool = False,
                    path: str = "", now: datetime | None = None) -> PurgeResult:
    """Purge (or count) and append the purge to the audit log."""
    from voice.records.audit import AuditLog

    result = purge(store, older_than_days, dry_run=dry_run, now=now)
    AuditLog(store).record(user=user, role="system", action="purge", path=path,
                           detail={**result.as_dict(), "older_than_days": older_than_days})
    return result


class DailyPurge:
    """The running service's purge: once shortly after start, then every 24 hours."""

    def __init__(self, store: Any, retention_days: int, first_after_s: float = 300.0,
                 every_s: float = 86_400.0) -> None:
        self.store = store
        self.retention_days = retention_days
        self.first_after_s = first_after_s
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> PurgeResult | None:
        """One purge; logged and skipped (never raised) when the database fails."""
        try:
            result = purge_and_audit(self.store, self.retention_days, user="retention")
        except Exception as exc:  # noqa: BLE001 - try again tomorrow
            log.error("retention purge failed: %s", exc)
            return None
        if result.calls:
            log.info("retention: purged %d call(s) older than %d days", result.calls,
                     self.retention_days)
        return result

    def start(self) -> None:
        """Start the background thread (no-op when retention is 0 = keep)."""
        if self.retention_days <= 0:
            return

        def loop() -> None:
            wait = self.first_after_s
            while not self._stop.wait(wait):
                self.run_once()
                wait = self.every_s

        self._thread = threading.Thread(target=loop, name="retention-purge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
