"""What people do to records: tick a prompt card done or dismissed, work a follow-up item."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from voice.records.database import Database, RecordError, clip
from voice.records.serialize import follow_up_dict, prompt_dict
from voice.records.tables import Call, FollowUp, PromptRow, utcnow

FOLLOW_UP_STATUSES = ("open", "in_progress", "done")
PROMPT_ACTIONS = ("done", "dismissed")


class Actions(Database):
    """Prompt-card actions and follow-up edits, each stamped with who and when."""

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
                item.assignee = clip(assignee.strip(), 120) or None
            if note is not None:
                item.note = note
            if status is not None and status != item.status:
                item.status = status
                item.closed_at = utcnow() if status == "done" else None
            item.updated_at = utcnow()
            return follow_up_dict(item)
