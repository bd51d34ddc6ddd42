"""How records look outside the store: plain, JSON-safe dicts for the API and pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from voice.records.tables import Call, FollowUp, PromptRow, UtteranceRow


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC (SQLite keeps no zone; everything is stored in UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _utterance_dict(u: UtteranceRow) -> dict:
    return {
        "speaker": u.speaker,
        "text": u.text,
        "t_start": u.t_start,
        "t_end": u.t_end,
        "final": u.final,
        "words": u.words or [],
        "audio": u.audio,
    }


def prompt_dict(p: PromptRow) -> dict:
    """A shown prompt and what the receptionist did with it."""
    return {
        "id": p.prompt_id,
        "kind": p.kind,
        "text": p.text,
        "why": p.why,
        "t": p.t,
        "status": p.status,
        "acted_by": p.acted_by,
        "acted_at": iso(p.acted_at),
    }


def follow_up_dict(f: FollowUp) -> dict:
    """A follow-up item."""
    return {
        "id": f.id,
        "summary": f.summary,
        "status": f.status,
        "assignee": f.assignee,
        "note": f.note,
        "created_at": iso(f.created_at),
        "closed_at": iso(f.closed_at),
    }


def call_dict(call: Call, detail: bool) -> dict:
    """A call as the API shows it; ``detail`` adds transcript, curve and prompts."""
    data: dict[str, Any] = {
        "call_sid": call.call_sid,
        "from": call.from_number,
        "to": call.to_number,
        "desk": call.desk,
        "started_at": iso(call.started_at),
        "ended_at": iso(call.ended_at),
        "status": call.status,
        "transcribed": call.transcribed,
        "simulated": call.simulated,
        "caller_name": call.caller_name,
        "topic": call.topic,
        "peak_score": call.peak_score,
        "peak_level": call.peak_level,
        "flagged": call.flagged,
        "flag_reasons": call.flag_reasons or [],
        "follow_ups": [follow_up_dict(f) for f in call.follow_ups],
    }
    if detail:
        data["utterances"] = [_utterance_dict(u) for u in call.utterances]
        data["frustration"] = [
            {
                "t": p.t,
                "score": p.score,
                "level": p.level,
                "trend": p.trend,
                "rising": p.rising,
                "utterance_score": p.utterance_score,
                "reasons": p.reasons or [],
            }
            for p in call.frustration
        ]
        data["prompts"] = [prompt_dict(p) for p in call.prompts]
        data["stats"] = call.stats or {}
    return data
