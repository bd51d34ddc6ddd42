"""Which instance runs which live call, and closing the calls of an instance that died.

A running instance renews the heartbeat of its live calls; at start-up (and on
a timer) calls nobody has vouched for are closed as ``interrupted`` with a
follow-up to check the caller was helped.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from voice.records.database import Database
from voice.records.outcome import file_outcome
from voice.records.tables import Call, utcnow

INTERRUPTED_FOLLOW_UP = ("The service restarted during this call; check the caller was helped "
                         "and call back if needed.")


class Heartbeats(Database):
    """Live calls' owners and heartbeats."""

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
