"""The records store: the only code that opens a database session.

``RecordStore`` writes calls, utterances, frustration points, prompts and
follow-ups, and reads them back as plain dicts for the API and review pages;
its ``users`` (``records.users.UserStore``) holds logins, desks and API tokens.
While a call runs, writes go through ``writer.RecordWriter`` so the call never
waits on the database.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker
from sqlalchemy.pool import StaticPool

from voice.events import CallStarted, EndStatus, FrustrationState, Prompt, Utterance
from voice.records.history import caller_history
from voice.records.outcome import OutcomeSettings, file_outcome
from voice.records.reach import DatabaseUnreachable, explain_unreachable
from voice.records.serialize import call_dict, follow_up_dict, prompt_dict
from voice.records.tables import (
    Call,
    FollowUp,
    FrustrationPoint,
    PromptRow,
    UtteranceRow,
    utcnow,
)
from voice.records.users import UserStore

log = logging.getLogger(__name__)

FOLLOW_UP_STATUSES = ("open", "in_progress", "done")
INTERRUPTED_FOLLOW_UP = ("The service restarted during this call; check the caller was helped "
                         "and call back if needed.")
PROMPT_ACTIONS = ("done", "dismissed")


class RecordError(LookupError):
    """A record that was asked for does not exist or cannot change that way."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets thread-safe settings and WAL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                             connect_args={"connect_timeout": 5})
    if url in ("sqlite://", "sqlite:///:memory:"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
    else:
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if url not in ("sqlite://", "sqlite:///:memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value else value


class RecordStore:
    """Reads and writes call records; thread-safe (a session per call)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.outcome = OutcomeSettings()
        self.users = UserStore(self.session)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Create or upgrade the schema; ``DatabaseUnreachable`` when it cannot connect."""
        try:
            migrate(self.engine)
        except OperationalError as exc:
            raise DatabaseUnreachable(explain_unreachable(self.url, exc)) from None

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return True
        except SQLAlchemyError:
            return False

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    # --- writes while a call runs -------------------------------------------------

    def open_call(
        self, started: CallStarted, stream_sid: str | None = None, instance_id: str | None = None
    ) -> bool:
        """Create the call row (or take it over when a new stream joins a live call).

        A call that has ended stays as it is: nothing a later ``start`` sends
        reopens it or changes who called or which desk it was.  A live call keeps
        its first caller, number and desk too; only the stream and owner change.
        Over-long values (a SIP address as the caller, say) are cut to the column
        size rather than refused, so the call is always recorded.
        """
        with self.session() as s:
            call = s.scalar(select(Call).where(Call.call_sid == started.call_sid))
            if call is not None and call.status != "live":
                return False
            if call is None:
                call = Call(call_sid=started.call_sid)
                s.add(call)
                if started.started_at:
                    call.started_at = datetime.fromisoformat(started.started_at)
            call.stream_sid = _clip(stream_sid, 64) or call.stream_sid
            call.from_number = call.from_number or _clip(started.from_number, 255) or ""
            call.to_number = call.to_number or _clip(started.to_number, 255) or ""
            call.desk = call.desk or _clip(started.desk, 120) or "front-desk"
            call.status = "live"
            call.instance_id = instance_id
            call.heartbeat_at = utcnow()
            call.transcribed = started.transcribed
            call.simulated = started.simulated
            return True

    def call_status(self, call_sid: str) -> str | None:
        """``live``, how the call ended (``completed``, ``interrupted`` ...), or None if unknown."""
        with self.session() as s:
            return s.scalar(select(Call.status).where(Call.call_sid == call_sid))

    def _call_id(self, s: Session, call_sid: str) -> int:
        call_id = s.scalar(select(Call.id).where(Call.call_sid == call_sid))
        if call_id is None:
            raise RecordError(f"no call {call_sid}")
        return call_id

    def add_utterance(self, utterance: Utterance) -> None:
        """Store a final utterance."""
        with self.session() as s:
            s.add(
                UtteranceRow(
                    call_id=self._call_id(s, utterance.call_sid),
                    speaker=utterance.speaker,
                    text=utterance.text,
                    t_start=utterance.t_start,
                    t_end=utterance.t_end,
                    final=utterance.final,
                    words=[asdict(w) for w in utterance.words],
                    audio=asdict(utterance.audio) if utterance.audio else None,
                )
            )

    def add_frustration(self, state: FrustrationState) -> None:
        """Store a point of the frustration curve."""
        with self.session() as s:
            s.add(
                FrustrationPoint(
                    call_id=self._call_id(s, state.call_sid),
                    t=state.t,
                    score=state.score,
                    level=state.level,
                    trend=state.trend,
                    rising=state.rising,
                    utterance_score=state.utterance_score,
                    reasons=list(state.reasons),
                )
            )

    def add_prompt(self, prompt: Prompt) -> None:
        """Store a prompt card that was shown."""
        with self.session() as s:
            s.add(
                PromptRow(
                    call_id=self._call_id(s, prompt.call_sid),
                    prompt_id=prompt.id,
                    kind=prompt.kind,
                    text=prompt.text,
                    why=prompt.why,
                    t=prompt.t,
                )
            )

    def update_call(self, call_sid: str, **values: Any) -> None:
        """Set summary fields on the call (caller_name, topic, peak_score …)."""
        with self.session() as s:
            s.execute(update(Call).where(Call.call_sid == call_sid).values(**values))

    def close_call(
        self,
        call_sid: str,
        status: EndStatus,
        *,
        flagged: bool = False,
        flag_reasons: tuple[str, ...] | list[str] = (),
        follow_up: str | None = None,
        summary: dict[str, Any] | None = None,
    ) -> bool:
        """Close a call; returns False when it is unknown or there was nothing to do.

        The first close sets the status and end time.  A close that brings the
        call's outcome (``follow_up``) still lands after an earlier bare close, e.g.
        a status callback that reached another instance before the stream ended
        here: it fills in the flags, the summary and the follow-up item.
        """
        with self.session() as s:
            call = s.scalar(
                select(Call).where(Call.call_sid == call_sid).options(selectinload(Call.follow_ups))
            )
            if call is None:
                return False
            if call.status != "live":
                if not follow_up or call.follow_ups:
                    return False
            else:
                call.status = status
                call.ended_at = utcnow()
            call.flagged = flagged
            call.flag_reasons = list(flag_reasons)
            for key, value in (summary or {}).items():
                setattr(call, key, value)
            if follow_up:
                s.add_all(file_outcome(call, follow_up, self.outcome))
            return True

    def touch_calls(self, call_sids: list[str]) -> None:
        """Say that these live calls are still running here (their heartbeat)."""
        if not call_sids:
            return
        with self.session() as s:
            s.execute(
                update(Call)
                .where(Call.call_sid.in_(call_sids), Call.status == "live")
                .values(heartbeat_at=utcnow())
            )

    def live_call_owners(self) -> dict[str, str | None]:
        """Live calls and the instance that runs each."""
        with self.session() as s:
            rows = s.execute(select(Call.call_sid, Call.instance_id).where(Call.status == "live"))
            return {sid: owner for sid, owner in rows}

    def close_interrupted_calls(
        self, stale_after_s: float = 0.0, also: list[str] | tuple[str, ...] = ()
    ) -> list[str]:
        """Close as interrupted the live calls nobody has vouched for in ``stale_after_s``
        (and the live calls named in ``also``).

        A running instance renews its calls' heartbeat, so with several instances
        on one database only the calls of an instance that died are closed.
        """
        cutoff = utcnow() - timedelta(seconds=stale_after_s)
        last_sign = func.coalesce(Call.heartbeat_at, Call.started_at)
        with self.session() as s:
            calls = s.scalars(
                select(Call).where(
                    Call.status == "live", (last_sign <= cutoff) | Call.call_sid.in_(list(also))
                )
            ).all()
            for call in calls:
                call.status = "interrupted"
                call.ended_at = utcnow()
                s.add_all(file_outcome(call, INTERRUPTED_FOLLOW_UP, self.outcome))
            return [c.call_sid for c in calls]

    # --- prompts and follow-ups --------------------------------------------------

    def act_on_prompt(self, call_sid: str, prompt_id: str, action: str,
                      user: str) -> dict[str, Any]:
        """Record that a prompt card was ticked done or dismissed."""
        if action not in PROMPT_ACTIONS:
            raise RecordError(f"action must be one of {', '.join(PROMPT_ACTIONS)}")
        with self.session() as s:
            row = s.scalar(
                select(PromptRow)
                .join(Call)
                .where(Call.call_sid == call_sid, PromptRow.prompt_id == prompt_id)
                .order_by(PromptRow.id.desc())
            )
            if row is None:
                raise RecordError(f"no prompt {prompt_id} on call {call_sid}")
            row.status = action
            row.acted_by = user
            row.acted_at = utcnow()
            return prompt_dict(row)

    def update_follow_up(
        self,
        follow_up_id: int,
        *,
        assignee: str | None = None,
        status: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Reassign, annotate, start, finish or re-open a follow-up item."""
        if status is not None and status not in FOLLOW_UP_STATUSES:
            raise RecordError(f"status must be one of {', '.join(FOLLOW_UP_STATUSES)}")
        with self.session() as s:
            item = s.get(FollowUp, follow_up_id)
            if item is None:
                raise RecordError(f"no follow-up {follow_up_id}")
            if assignee is not None:
                item.assignee = _clip(assignee.strip(), 120) or None
            if note is not None:
                item.note = note
            if status is not None and status != item.status:
                item.status = status
                item.closed_at = utcnow() if status == "done" else None
            item.updated_at = utcnow()
            return follow_up_dict(item)

    # --- reads ---------------------------------------------------------------------

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
