"""Finding calls: filters, full-text search over transcripts, pagination, CSV export.

``CallFilter`` is what the review page and the export take from the query
string; ``find_calls`` returns one page of calls and the total.  Transcript
search uses PostgreSQL full-text search (``to_tsvector('english', text) @@
plainto_tsquery(...)``, GIN-indexed by migration 0003) and, on SQLite, a plain
case-insensitive match of every word.  ``csv_rows`` writes the filtered list with
cells that a spreadsheet will never run as a formula.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, false, func, or_, select
from sqlalchemy.orm import selectinload

from voice.records.serialize import call_dict
from voice.records.tables import Call, FollowUp, UtteranceRow

PER_PAGE = 25
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
FOLLOW_UP_FILTERS = ("open", "in_progress", "done", "none")


class FilterError(ValueError):
    """A filter in the query string cannot be read; the message says which."""


@dataclass(frozen=True)
class CallFilter:
    """What to show in the call list."""

    date_from: date | None = None
    date_to: date | None = None
    desk: str | None = None
    topic: str | None = None
    flagged: bool | None = None
    follow_up: str | None = None
    overdue: bool = False
    q: str = ""
    page: int = 1
    per_page: int = PER_PAGE
    desks: frozenset[str] | None = None  # who is asking may see only these (None: all)

    @classmethod
    def from_args(cls, args: Mapping[str, str], default_flagged: bool | None = None
                  ) -> CallFilter:
        """Read the query string; a bad value raises ``FilterError`` naming the field."""
        def day(name: str) -> date | None:
            raw = (args.get(name) or "").strip()
            if not raw:
                return None
            try:
                return date.fromisoformat(raw)
            except ValueError:
                raise FilterError(f"{name} must be a date like 2026-12-03") from None

        flagged_raw = (args.get("flagged") or "").strip().lower()
        flagged = {"1": True, "yes": True, "true": True, "0": False, "no": False,
                   "false": False, "any": None, "": default_flagged}.get(flagged_raw, "bad")
        if flagged == "bad":
            raise FilterError("flagged must be 1, 0 or any")
        follow_up = (args.get("follow_up") or "").strip() or None
        if follow_up and follow_up not in FOLLOW_UP_FILTERS:
            raise FilterError(f"follow_up must be one of {', '.join(FOLLOW_UP_FILTERS)}")
        try:
            page = max(int(args.get("page") or 1), 1)
            per_page = min(max(int(args.get("per_page") or PER_PAGE), 1), 200)
        except ValueError:
            raise FilterError("page and per_page must be whole numbers") from None
        return cls(
            date_from=day("from"), date_to=day("to"),
            desk=(args.get("desk") or "").strip() or None,
            topic=(args.get("topic") or "").strip() or None,
            flagged=flagged,  # type: ignore[arg-type]
            follow_up=follow_up,
            overdue=(args.get("overdue") or "") in ("1", "yes", "true", "on"),
            q=(args.get("q") or "").strip()[:200],
            page=page, per_page=per_page,
        )

    def scoped(self, desks: frozenset[str] | None) -> CallFilter:
        """The same filter limited to the desks someone may see."""
        return replace(self, desks=desks)

    def query_args(self, **override: Any) -> dict[str, str]:
        """The filter as query-string arguments (for links to other pages)."""
        out = {
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "desk": self.desk or "", "topic": self.topic or "",
            "flagged": {True: "1", False: "0", None: "any"}[self.flagged],
            "follow_up": self.follow_up or "", "overdue": "1" if self.overdue else "",
            "q": self.q, "page": str(self.page),
        }
        out.update({k: str(v) for k, v in override.items()})
        return {k: v for k, v in out.items() if v}


def _like(word: str) -> str:
    return "%" + re.sub(r"([%_\\])", r"\\\1", word.lower()) + "%"


def _text_match(dialect: str, q: str) -> Any:
    """Calls with an utterance matching ``q`` (full text on PostgreSQL, words on SQLite)."""
    if dialect == "postgresql":
        matches = func.to_tsvector("english", UtteranceRow.text).op("@@")(
            func.plainto_tsquery("english", q))
        return exists().where(UtteranceRow.call_id == Call.id, matches)
    words = re.findall(r"[\w'\[\]]+", q.lower())[:8]
    if not words:
        return false()
    return and_(*[
        exists().where(UtteranceRow.call_id == Call.id,
                       func.lower(UtteranceRow.text).like(_like(w), escape="\\"))
        for w in words
    ])


def _where(f: CallFilter, dialect: str, timezone: str, now: datetime) -> list[Any]:
    zone = ZoneInfo(timezone)
    where: list[Any] = []
    if f.desks is not None:
        where.append(Call.desk.in_(sorted(f.desks)))
    if f.date_from:
        where.append(Call.started_at >= datetime.combine(f.date_from, time(0), zone)
                     .astimezone(UTC))
    if f.date_to:
        end = datetime.combine(f.date_to + timedelta(days=1), time(0), zone)
        where.append(Call.started_at < end.astimezone(UTC))
    if f.desk:
        where.append(Call.desk == f.desk)
    if f.topic:
        where.append(Call.topic == f.topic)
    if f.flagged is not None:
        where.append(Call.flagged.is_(f.flagged))
    if f.follow_up == "none":
        where.append(~exists().where(FollowUp.call_id == Call.id))
    elif f.follow_up:
        where.append(exists().where(FollowUp.call_id == Call.id, FollowUp.status == f.follow_up))
    if f.overdue:
        where.append(exists().where(FollowUp.call_id == Call.id, FollowUp.status != "done",
                                    FollowUp.due_at < now))
    if f.q:
        name = func.lower(Call.caller_name).like(_like(f.q), escape="\\")
        where.append(or_(name, _text_match(dialect, f.q)))
    return where


def find_calls(store: Any, f: CallFilter, timezone: str = "UTC",
               now: datetime | None = None) -> tuple[list[dict[str, Any]], int]:
    """One page of calls matching the filter (newest first) and how many match in all."""
    now = now or datetime.now(UTC)
    where = _where(f, store.kind, timezone, now)
    with store.session() as s:
        total = int(s.scalar(select(func.count(Call.id)).where(*where)) or 0)
        rows = s.scalars(
            select(Call).where(*where).options(selectinload(Call.follow_ups))
            .order_by(Call.started_at.desc(), Call.id.desc())
            .limit(f.per_page).offset((f.page - 1) * f.per_page)
        ).all()
        return [call_dict(c, detail=False) for c in rows], total


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: formula starters get a leading quote."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


CSV_COLUMNS = ("call_sid", "started_at", "desk", "from", "caller_name", "topic", "peak_level",
               "peak_score", "flagged", "flag_reasons", "follow_up_status", "follow_up_owner",
               "follow_up_due_at", "follow_up")


def csv_text(calls: Iterable[dict[str, Any]]) -> str:
    """The calls as CSV (header first), every cell formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for c in calls:
        fu = c["follow_ups"][-1] if c["follow_ups"] else {}
        writer.writerow([safe_cell(v) for v in (
            c["call_sid"], c["started_at"], c["desk"], c["from"], c["caller_name"], c["topic"],
            c["peak_level"], c["peak_score"], c["flagged"],
            "; ".join(r["reason"] for r in c["flag_reasons"]), fu.get("status"),
            fu.get("owner"), fu.get("due_at"), fu.get("what"))])
    return out.getvalue()
