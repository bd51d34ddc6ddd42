"""Writing a call as it happens: its row, utterances, frustration points, prompts, its close.

Called through ``RecordWriter`` while a call runs (never from the call's own
thread), and by the status callback that may close a call from another instance.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from voice.events import CallStarted, FrustrationState, Prompt, Utterance
from voice.records.database import Database, RecordError, clip
from voice.records.outcome import file_outcome
from voice.records.tables import Call, FrustrationPoint, PromptRow, UtteranceRow, utcnow


class CallWrites(Database):
    """The rows of one call, written while it runs and when it ends."""

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
            call.stream_sid = clip(stream_sid, 64) or call.stream_sid
            call.from_number = call.from_number or clip(started.from_number, 255) or ""
            call.to_number = call.to_number or clip(started.to_number, 255) or ""
            call.desk = call.desk or clip(started.desk, 120) or "front-desk"
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
        status: str,
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
