"""Reading calls back as plain dicts: one call whole or brief, lists, counts, topic trends."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from voice.records.database import Database
from voice.records.history import caller_history
from voice.records.serialize import call_dict
from voice.records.tables import Call, utcnow


class CallReads(Database):
    """Calls read back for the API, the console, the review pages and the CLI."""

    def call_desk_status(self, call_sid: str) -> tuple[str, str] | None:
        """The call's desk and status (``live``, ``completed``, ...), or None."""
        with self.session() as s:
            row = s.execute(select(Call.desk, Call.status).where(Call.call_sid == call_sid)).first()
            return (row[0], row[1]) if row else None

    def get_call(self, call_sid: str) -> dict[str, Any] | None:
        """The whole record of one call, or None."""
        with self.session() as s:
            call = s.scalar(
                select(Call)
                .where(Call.call_sid == call_sid)
                .options(
                    selectinload(Call.utterances),
                    selectinload(Call.frustration),
                    selectinload(Call.prompts),
                    selectinload(Call.follow_ups),
                )
            )
            if call is None:
                return None
            data = call_dict(call, detail=True)
            data["history"] = caller_history(s, call.from_number, before=call.started_at,
                                             exclude_sid=call.call_sid)
            return data

    def get_call_brief(self, call_sid: str) -> dict[str, Any] | None:
        """A call without its transcript (for desk checks and history), or None."""
        with self.session() as s:
            call = s.scalar(select(Call).where(Call.call_sid == call_sid)
                            .options(selectinload(Call.follow_ups)))
            return call_dict(call, detail=False) if call else None

    def caller_history(self, from_number: str, exclude_sid: str | None = None) -> dict[str, Any]:
        """A caller number's previous calls and open follow-ups (see ``history``)."""
        with self.session() as s:
            return caller_history(s, from_number, exclude_sid=exclude_sid)

    def list_calls(
        self,
        *,
        flagged: bool | None = None,
        status: str | None = None,
        desks: Collection[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Calls newest first, optionally only flagged ones, one status or some desks."""
        query = select(Call).options(selectinload(Call.follow_ups))
        if desks is not None:
            query = query.where(Call.desk.in_(list(desks)))
        if flagged is not None:
            query = query.where(Call.flagged == flagged)
        if status:
            query = query.where(Call.status == status)
        query = query.order_by(Call.started_at.desc(), Call.id.desc()).limit(limit).offset(offset)
        with self.session() as s:
            return [call_dict(c, detail=False) for c in s.scalars(query)]

    def topic_trends(self, weeks: int = 8, now: datetime | None = None) -> list[dict[str, Any]]:
        """Count of calls (and flagged calls) per topic per ISO week, newest week last."""
        since = (now or utcnow()) - timedelta(weeks=weeks)
        with self.session() as s:
            rows = s.execute(
                select(Call.topic, Call.started_at, Call.flagged).where(Call.started_at >= since)
            ).all()
        buckets: dict[tuple[str, str], dict[str, Any]] = {}
        for topic, started_at, flagged in rows:
            year, week, _ = started_at.isocalendar()
            key = (f"{year}-W{week:02d}", topic or "other")
            bucket = buckets.setdefault(
                key, {"week": key[0], "topic": key[1], "calls": 0, "flagged": 0}
            )
            bucket["calls"] += 1
            bucket["flagged"] += int(bool(flagged))
        return sorted(buckets.values(), key=lambda b: (b["week"], -b["calls"], b["topic"]))

    def count_calls(self) -> int:
        """How many calls are stored."""
        with self.session() as s:
            return int(s.scalar(select(func.count(Call.id))) or 0)
