"""Repeat callers: a number's previous calls and its follow-ups still open.

Read inside a store session; the console shows it at call start and the record
JSON carries it as ``history``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from voice.records.serialize import follow_up_dict, iso
from voice.records.tables import Call, FollowUp

PREVIOUS_CALLS = 5


def caller_history(s: Session, from_number: str, *, before: datetime | None = None,
                   exclude_sid: str | None = None) -> dict[str, Any]:
    """``{"previous_calls": [...], "open_follow_ups": [...]}`` for one caller number."""
    if not from_number:
        return {"previous_calls": [], "open_follow_ups": []}
    query = select(Call).where(Call.from_number == from_number).options(
        selectinload(Call.follow_ups))
    if before is not None:
        query = query.where(Call.started_at < before)
    if exclude_sid:
        query = query.where(Call.call_sid != exclude_sid)
    calls = s.scalars(query.order_by(Call.started_at.desc()).limit(PREVIOUS_CALLS)).all()
    open_items = s.scalars(
        select(FollowUp).join(Call)
        .where(Call.from_number == from_number, FollowUp.status != "done",
               *([Call.call_sid != exclude_sid] if exclude_sid else []))
        .order_by(FollowUp.created_at)
    ).all()
    return {
        "previous_calls": [
            {"call_sid": c.call_sid, "started_at": iso(c.started_at), "topic": c.topic,
             "peak_level": c.peak_level, "flagged": c.flagged, "status": c.status,
             "ended": _ended_line(c)}
            for c in calls
        ],
        "open_follow_ups": [
            {**follow_up_dict(f), "call_sid": f.call.call_sid} for f in open_items
        ],
    }


def _ended_line(call: Call) -> str | None:
    for line in call.summary or []:
        if isinstance(line, dict) and line.get("kind") == "ended":
            return str(line.get("text", "")).removeprefix("Ended: ")
    return None
