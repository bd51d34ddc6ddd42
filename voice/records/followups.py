"""Working the follow-ups: what is due today, what is overdue, by owner, and changing one.

``FollowUpBook(store, timezone)`` reads follow-up items with their call's
desk, caller and time, scoped to the desks a person may see, and updates one
item after checking its desk.  "Today" is the office's day (``VOICE_TIMEZONE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import selectinload

from voice.records.scope import may_see
from voice.records.serialize import follow_up_dict, iso
from voice.records.tables import Call, FollowUp

VIEWS = ("open", "today", "overdue", "done", "all")


class FollowUpNotFound(LookupError):
    """No such follow-up, or not one this person may see."""


@dataclass(frozen=True)
class Day:
    """The office's day as a UTC range."""

    start: datetime
    end: datetime


def office_day(now: datetime, timezone: str) -> Day:
    """Today in the office's time zone, as ``[start, end)`` in UTC."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    start = datetime.combine(local.date(), time(0, 0), tzinfo=zone)
    return Day(start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC))


class FollowUpBook:
    """Follow-up queries and updates through a ``RecordStore``."""

    def __init__(self, store: Any, timezone: str = "UTC") -> None:
        self.store = store
        self.timezone = timezone

    def _scoped(self, query: Any, desks: frozenset[str] | None) -> Any:
        query = query.join(Call)
        return query if desks is None else query.where(Call.desk.in_(sorted(desks)))

    def _view(self, query: Any, view: str, now: datetime) -> Any:
        day = office_day(now, self.timezone)
        if view == "open":
            return query.where(FollowUp.status != "done")
        if view == "today":
            return query.where(FollowUp.status != "done", FollowUp.due_at >= day.start,
                               FollowUp.due_at < day.end)
        if view == "overdue":
            return query.where(FollowUp.status != "done", FollowUp.due_at < now)
        if view == "done":
            return query.where(FollowUp.status == "done")
        return query

    def items(self, *, desks: frozenset[str] | None, view: str = "open",
              owner: str | None = None, now: datetime | None = None,
              limit: int = 500) -> list[dict[str, Any]]:
        """Items with their call, soonest due first (no due date last)."""
        if view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}")
        now = now or datetime.now(UTC)
        query = self._view(self._scoped(select(FollowUp), desks), view, now)
        if owner:
            query = query.where(FollowUp.assignee == owner)
        query = query.options(selectinload(FollowUp.call)).order_by(
            FollowUp.due_at.is_(None), FollowUp.due_at, FollowUp.id).limit(limit)
        with self.store.session() as s:
            return [self._with_call(f, now) for f in s.scalars(query)]

    def _with_call(self, f: FollowUp, now: datetime) -> dict[str, Any]:
        data = follow_up_dict(f, now)
        data.update(call_sid=f.call.call_sid, desk=f.call.desk, caller_name=f.call.caller_name,
                    from_number=f.call.from_number, call_started_at=iso(f.call.started_at),
                    topic=f.call.topic)
        return data

    def counts(self, *, desks: frozenset[str] | None,
               now: datetime | None = None) -> dict[str, Any]:
        """``{"due_today", "overdue", "open"}`` for the console's badge and the page."""
        now = now or datetime.now(UTC)
        out = {}
        with self.store.session() as s:
            for view, key in (("today", "due_today"), ("overdue", "overdue"), ("open", "open")):
                query = self._view(self._scoped(select(func.count(FollowUp.id)), desks), view, now)
                out[key] = int(s.scalar(query) or 0)
        return out

    def owners(self, *, desks: frozenset[str] | None) -> list[dict[str, Any]]:
        """Open items per owner."""
        query = self._scoped(select(FollowUp.assignee, func.count(FollowUp.id)), desks).where(
            FollowUp.status != "done").group_by(FollowUp.assignee).order_by(FollowUp.assignee)
        with self.store.session() as s:
            return [{"owner": o or "(nobody)", "open": n} for o, n in s.execute(query)]

    def get(self, follow_up_id: int, desks: frozenset[str] | None) -> dict[str, Any]:
        """One item, if this person may see it."""
        with self.store.session() as s:
            item = s.get(FollowUp, follow_up_id)
            if item is None or not may_see(desks, item.call.desk):
                raise FollowUpNotFound(f"no follow-up {follow_up_id}")
            return self._with_call(item, datetime.now(UTC))

    def update(self, follow_up_id: int, desks: frozenset[str] | None,
               **change: Any) -> dict[str, Any]:
        """Reassign, annotate or change the status of one item this person may see."""
        self.get(follow_up_id, desks)
        updated: dict[str, Any] = self.store.update_follow_up(follow_up_id, **change)
        return updated


def on_time_filter() -> Any:
    """Items done no later than they were due (SQL expression)."""
    return and_(FollowUp.status == "done", or_(FollowUp.due_at.is_(None),
                                               FollowUp.closed_at <= FollowUp.due_at))
