"""How records look outside the store: plain, JSON-safe dicts for the API and pages."""

from __future__ import annotations

import re
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


def _utterance_dict(u: UtteranceRow) -> dict[str, Any]:
    return {
        "speaker": u.speaker,
        "text": u.text,
        "t_start": u.t_start,
        "t_end": u.t_end,
        "final": u.final,
        "words": u.words or [],
        "audio": u.audio,
    }


def prompt_dict(p: PromptRow) -> dict[str, Any]:
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


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def follow_up_dict(f: FollowUp, now: datetime | None = None) -> dict[str, Any]:
    """A follow-up item: what, for whom, due when, owner, status, notes, source."""
    now = now or datetime.now(UTC)
    due, closed = _aware(f.due_at), _aware(f.closed_at)
    return {
        "id": f.id,
        "kind": f.kind,
        "what": f.summary,
        "for_whom": f.for_whom,
        "due_at": iso(due),
        "due_text": f.due_text,
        "owner": f.assignee,
        "status": f.status,
        "notes": f.note,
        "source": f.source,
        "overdue": bool(due and f.status != "done" and due < now),
        "closed_on_time": None if closed is None or due is None else closed <= due,
        "created_at": iso(f.created_at),
        "updated_at": iso(f.updated_at),
        "closed_at": iso(closed),
    }


_AT_SECONDS = re.compile(r"\bat (\d+(?:\.\d+)?) ?s\b")


def flag_reason_dicts(call: Call, evidence: bool = True) -> list[dict[str, Any]]:
    """Each flag reason with the time it names and the caller utterance that is its evidence
    (``evidence=False``: the time only, without loading the transcript)."""
    out = []
    points = list(call.frustration) if evidence else []
    for reason in call.flag_reasons or []:
        found = _AT_SECONDS.search(str(reason))
        if found:
            t: float | None = float(found.group(1))
        elif points:
            t = max(points, key=lambda p: p.score).t
        else:
            t = None
        quote = None
        if t is not None and evidence:
            callers = [(i, u) for i, u in enumerate(call.utterances)
                       if u.speaker == "caller" and u.t_start <= t + 0.5]
            if callers:
                i, u = callers[-1]
                quote = {"utterance": i, "t": u.t_start, "text": u.text}
        out.append({"reason": str(reason), "t": t, "evidence": quote})
    return out


def timeline(call: Call) -> list[dict[str, Any]]:
    """The call in time order: utterances, level changes and prompts."""
    items: list[dict[str, Any]] = [
        {"t": u.t_start, "type": "utterance", "utterance": i, "speaker": u.speaker,
         "text": u.text}
        for i, u in enumerate(call.utterances)
    ]
    level = None
    for p in call.frustration:
        if p.level != level:
            items.append({"t": p.t, "type": "level", "level": p.level, "score": p.score})
            level = p.level
    items += [{"t": p.t, "type": "prompt", "id": p.prompt_id, "kind": p.kind, "text": p.text,
               "status": p.status} for p in call.prompts]
    order = {"utterance": 0, "level": 1, "prompt": 2}
    return sorted(items, key=lambda x: (x["t"], order[x["type"]]))


def call_dict(call: Call, detail: bool) -> dict[str, Any]:
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
        "follow_ups": [follow_up_dict(f) for f in call.follow_ups],
        "topics": call.topics or ([call.topic] if call.topic else []),
        "purged": call.purged_at is not None,
    }
    data["flag_reasons"] = flag_reason_dicts(call, evidence=detail)
    if detail:
        data["summary"] = call.summary or []
        data["timeline"] = timeline(call)
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
