"""Counts for the trends page: tense calls per topic per week, follow-ups opened vs on time.

Both read only de-identified columns (date, topic, level, flagged, follow-up
status and times), so they survive the retention purge.  Weeks are ISO weeks
in the office's time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from voice.events import LEVELS
from voice.records.tables import Call, FollowUp

TENSE_LEVELS = LEVELS[1:]  # every level above calm


def _week(value: datetime, zone: ZoneInfo) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    year, week, _ = value.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def tense_by_topic(store: Any, *, weeks: int = 8, timezone: str = "UTC",
                   desks: frozenset[str] | None = None, now: datetime | None = None
                   ) -> list[dict[str, Any]]:
    """``[{week, topic, calls, tense, flagged}]`` for the last ``weeks`` weeks."""
    zone = ZoneInfo(timezone)
    since = (now or datetime.now(UTC)) - timedelta(weeks=weeks)
    query = select(Call.topic, Call.started_at, Call.peak_level, Call.flagged).where(
        Call.started_at >= since)
    if desks is not None:
        query = query.where(Call.desk.in_(sorted(desks)))
    buckets: dict[tuple[str, str], dict[str, Any]] = {}
    with store.session() as s:
        for topic, started, level, flagged in s.execute(query):
            key = (_week(started, zone), topic or "other")
            b = buckets.setdefault(key, {"week": key[0], "topic": key[1], "calls": 0,
                                         "tense": 0, "flagged": 0})
            b["calls"] += 1
            b["tense"] += int(level in TENSE_LEVELS or bool(flagged))
            b["flagged"] += int(bool(flagged))
    return sorted(buckets.values(), key=lambda b: (b["week"], -b["tense"], b["topic"]))


def follow_up_outcomes(store: Any, *, weeks: int = 8, timezone: str = "UTC",
                       desks: frozenset[str] | None = None, now: datetime | None = None
                       ) -> list[dict[str, Any]]:
    """``[{week, opened, closed, closed_on_time, closed_late, open}]`` by week opened."""
    zone = ZoneInfo(timezone)
    since = (now or datetime.now(UTC)) - timedelta(weeks=weeks)
    query = select(FollowUp.created_at, FollowUp.status, FollowUp.due_at, FollowUp.closed_at
                   ).join(Call).where(FollowUp.created_at >= since)
    if desks is not None:
        query = query.where(Call.desk.in_(sorted(desks)))
    weeks_out: dict[str, dict[str, Any]] = {}
    with store.session() as s:
        for created, status, due, closed in s.execute(query):
            w = weeks_out.setdefault(_week(created, zone), {
                "week": _week(created, zone), "opened": 0, "closed": 0, "closed_on_time": 0,
                "closed_late": 0, "open": 0})
            w["opened"] += 1
            if status != "done":
                w["open"] += 1
                continue
            w["closed"] += 1
            on_time = due is None or (closed is not None and _utc(closed) <= _utc(due))
            w["closed_on_time" if on_time else "closed_late"] += 1
    return sorted(weeks_out.values(), key=lambda w: w["week"])


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
