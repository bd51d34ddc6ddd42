"""Filing a call's outcome when it closes: summary, topics, caller name, follow-up items.

``file_outcome`` runs inside the store's transaction that closes the call.  It
reads the stored (already redacted) utterances and frustration curve, finds the
office's promises and the caller's open requests (``promises``), resolves their
due dates in the office's time zone, files one follow-up item per commitment
(owner: the receptionist who made it, by the name she gave in her greeting,
else the desk), and writes the summary lines.  A call with no commitment gets
the one item the caller of ``close_call`` proposed (``fallback``): a tense call
always has something to decide on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from voice.names import find_name, receptionist_name
from voice.records.promises import Commitment, find_commitments, resolve_due
from voice.records.redact import Redactor
from voice.records.summary import SummaryPoint, SummaryUtterance, summarize
from voice.records.tables import Call, FollowUp

NO_DUE = "no due date was said"


class TopicLike(Protocol):
    """What the outcome reads of a playbook topic (``voice.coach.playbook.Topic``)."""

    @property
    def id(self) -> str:
        """The topic's id (``billing``)."""
        ...

    @property
    def label(self) -> str:
        """What a card's ``{topic}`` slot says to the caller."""
        ...

    @property
    def keywords(self) -> tuple[re.Pattern[str], ...]:
        """Patterns that spot the topic in the caller's words."""
        ...


def _no_topics() -> Sequence[TopicLike]:
    return ()


@dataclass
class OutcomeSettings:
    """What filing an outcome needs from outside the store."""

    timezone: str = "UTC"
    topics: Callable[[], Sequence[TopicLike]] = _no_topics
    redactor: Redactor = field(default_factory=Redactor)

    def phrase(self, topic_id: str | None) -> str | None:
        """The playbook's words for a topic in a follow-up ("a billing question")."""
        for topic in self.topics():
            if topic.id == topic_id:
                return getattr(topic, "phrase", None) or topic.label
        return None


def _topics(call: Call, settings: OutcomeSettings) -> list[str]:
    found = [call.topic] if call.topic else []
    for u in call.utterances:
        if u.speaker != "caller":
            continue
        for topic in settings.topics():
            if topic.id not in found and any(p.search(u.text.lower()) for p in topic.keywords):
                found.append(topic.id)
    return found


def _caller_name(call: Call) -> str | None:
    if call.caller_name:
        return call.caller_name
    for u in [u for u in call.utterances if u.speaker == "caller"][:4]:
        found = find_name(u.text)
        if found:
            return found.name
    return None


def _owner(call: Call) -> str:
    for u in [u for u in call.utterances if u.speaker == "receptionist"][:2]:
        name = receptionist_name(u.text)
        if name:
            return name
    return call.desk


def _local(when: datetime, timezone: str) -> str:
    return when.astimezone(ZoneInfo(timezone)).strftime("%a %d %b %H:%M")


def due_words(c: Commitment, due: datetime | None, timezone: str) -> str:
    """How the item says when it is due."""
    if due is not None:
        return f"{_local(due, timezone)} (“{c.due_phrase}”)"
    if c.due_phrase:
        return f"no due date: “{c.due_phrase}” could not be read as a date"
    return NO_DUE


def _what(c: Commitment, who: str, topic: str | None) -> str:
    about = f", about {topic}" if topic else ""
    action = c.action[:1].upper() + c.action[1:]
    return f"{who}{about}: {action}."


def _source(call: Call, index: int | None) -> dict[str, Any] | None:
    if index is None or not 0 <= index < len(call.utterances):
        return None
    u = call.utterances[index]
    return {"utterance": index, "speaker": u.speaker, "t": u.t_start, "text": u.text}


def _evidence_index(call: Call) -> int | None:
    """The caller utterance at the frustration peak (where the flag's evidence is)."""
    if not call.frustration:
        return None
    peak = max(call.frustration, key=lambda p: p.score)
    best, gap = None, float("inf")
    for i, u in enumerate(call.utterances):
        if u.speaker == "caller" and abs(u.t_end - peak.t) < gap:
            best, gap = i, abs(u.t_end - peak.t)
    return best


def file_outcome(call: Call, fallback: str | None, settings: OutcomeSettings) -> list[FollowUp]:
    """Write the call's summary and topics and return its new follow-up items (unsaved)."""
    utterances = list(call.utterances)
    commitments = find_commitments(utterances)
    call.caller_name = call.caller_name or _caller_name(call)
    call.topics = _topics(call, settings)
    topic = settings.phrase(call.topic or (call.topics[0] if call.topics else None))
    owner = _owner(call)
    name = call.caller_name
    who = f"{name} ({call.from_number})" if name and call.from_number else (
        name or call.from_number or "the caller")
    tz = settings.timezone
    items: list[FollowUp] = []
    dues: dict[int, datetime | None] = {}
    for c in commitments:
        due = resolve_due(c.due_phrase, call.started_at, tz)
        dues[id(c)] = due
        items.append(FollowUp(
            call_id=call.id, kind=c.kind, summary=settings.redactor.redact(_what(c, who, topic)),
            for_whom=who[:255], due_at=due, due_text=due_words(c, due, tz)[:255],
            assignee=owner[:120], source=_source(call, c.utterance),
        ))
    if not items and fallback:
        items.append(FollowUp(
            call_id=call.id, kind="decide", summary=settings.redactor.redact(fallback),
            for_whom=who[:255], due_at=None, due_text=NO_DUE, assignee=owner[:120],
            source=_source(call, _evidence_index(call)),
        ))
    call.summary = summarize(
        [SummaryUtterance(u.speaker, u.text, u.t_start, u.t_end) for u in utterances],
        [SummaryPoint(p.t, p.score, p.level) for p in call.frustration],
        commitments,
        status=call.status,
        topic_phrase=topic,
        topic_words=lambda text: any(
            p.search(text.lower()) for t in settings.topics() for p in t.keywords),
        due_words=lambda c: due_words(c, dues.get(id(c)), tz),
        owner=owner,
    )
    return items
