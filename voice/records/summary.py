"""The call's summary: extractive, deterministic, each line pointing to its utterance.

``summarize`` reads the stored call (utterances, frustration curve, the
commitments found by ``promises``) and writes at most a handful of lines a
person can read in ten seconds:

* ``wanted``   - the caller's first substantive request or complaint, with its topic;
* ``went_wrong`` - the caller turns that drove the frustration peak, with times;
* ``promised`` / ``asked`` - what the office promised (who, by when) and what the
  caller asked for that nobody promised;
* ``ended``    - calm, still upset, hung up mid-complaint, or cut off.

Every line is ``{"kind", "text", "utterance", "t"}``; ``utterance`` is the index
of the utterance it quotes (the review page links it).  No model, no network:
the same record always gives the same summary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from voice.events import LEVELS
from voice.records.promises import Commitment

_GREETING_ONLY = re.compile(r"^(?:hi|hello|hey|yes|yeah|good (?:morning|afternoon)|um|uh|"
                            r"this is|my name is|it's|i'm|[a-z']+|\s)*$")
_CLOSING = re.compile(r"\b(?:bye|goodbye|thank you|thanks|have a (?:good|nice))\b")
_WANT = re.compile(r"\b(?:i (?:need|want|would like|'d like|got|have|am calling|'m calling)|"
                   r"calling (?:about|because|to)|why|can you|could you|nobody|still)\b")


@dataclass(frozen=True)
class SummaryUtterance:
    """What the summary reads of an utterance."""

    speaker: str
    text: str
    t_start: float
    t_end: float


@dataclass(frozen=True)
class SummaryPoint:
    """What the summary reads of a frustration point."""

    t: float
    score: float
    level: str


def clock(seconds: float) -> str:
    """``m:ss`` of call time."""
    s = max(int(round(seconds)), 0)
    return f"{s // 60}:{s % 60:02d}"


def _quote(text: str, size: int = 140) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= size else text[: size - 1].rsplit(" ", 1)[0] + "…"


def _line(kind: str, text: str, index: int | None, utterances: Sequence[SummaryUtterance]
          ) -> dict[str, Any]:
    t = utterances[index].t_start if index is not None else None
    return {"kind": kind, "text": text, "utterance": index, "t": t}


def _wanted(utterances: Sequence[SummaryUtterance], topic_words: Callable[[str], bool]
            ) -> int | None:
    callers = [i for i, u in enumerate(utterances) if u.speaker == "caller"][:4]
    for i in callers:
        if topic_words(utterances[i].text):
            return i
    for i in callers:
        text = utterances[i].text.lower()
        if _WANT.search(text) or len(text.split()) >= 8:
            return i
    return callers[0] if callers else None


def _caller_at(utterances: Sequence[SummaryUtterance], t: float) -> int | None:
    """The caller utterance a frustration point at ``t`` scored (it ends at ``t``)."""
    best, gap = None, float("inf")
    for i, u in enumerate(utterances):
        if u.speaker == "caller" and abs(u.t_end - t) < gap and u.t_start <= t + 0.5:
            best, gap = i, abs(u.t_end - t)
    return best


def _drivers(points: Sequence[SummaryPoint]) -> list[tuple[int, float, float]]:
    """Up to two biggest rises (point index, score before, score after) up to the peak."""
    if not points:
        return []
    peak = max(range(len(points)), key=lambda i: (points[i].score, -i))
    rises = []
    for i in range(peak + 1):
        before = points[i - 1].score if i else 0.0
        if points[i].score - before >= 0.05:
            rises.append((points[i].score - before, i, before))
    rises.sort(key=lambda r: (-r[0], r[1]))
    return sorted((i, before, points[i].score) for _, i, before in rises[:2])


def _ended(utterances: Sequence[SummaryUtterance], points: Sequence[SummaryPoint],
           status: str) -> tuple[str, int | None]:
    last = len(utterances) - 1 if utterances else None
    if status == "interrupted":
        return "Ended: the call was cut off (the service stopped during it).", last
    level = points[-1].level if points else "calm"
    if last is not None:
        final = utterances[last]
        upset = LEVELS.index(level) >= LEVELS.index("upset")
        if final.speaker == "caller" and upset and not _CLOSING.search(final.text.lower()):
            return f"Ended: the caller hung up mid-complaint at {clock(final.t_end)}.", last
    if LEVELS.index(level) >= LEVELS.index("upset"):
        return f"Ended: the caller was still {level}.", last
    if level == "tense":
        return "Ended: calmer, but still tense.", last
    return "Ended: calm.", last


def summarize(
    utterances: Sequence[SummaryUtterance],
    points: Sequence[SummaryPoint],
    commitments: Sequence[Commitment],
    *,
    status: str,
    topic_phrase: str | None,
    topic_words: Callable[[str], bool] = lambda _text: False,
    due_words: Callable[[Commitment], str] = lambda c: c.due_phrase or "no due date said",
    owner: str | None = None,
) -> list[dict[str, Any]]:
    """The summary lines of one call (see the module docstring)."""
    lines: list[dict[str, Any]] = []
    wanted = _wanted(utterances, topic_words)
    if wanted is not None:
        about = f" (topic: {topic_phrase})" if topic_phrase else ""
        lines.append(_line("wanted", f"Wanted: “{_quote(utterances[wanted].text)}”{about}",
                           wanted, utterances))
    for i, before, after in _drivers(points):
        at = _caller_at(utterances, points[i].t)
        if at is None:
            continue
        lines.append(_line(
            "went_wrong",
            f"Went wrong at {clock(utterances[at].t_start)}: “{_quote(utterances[at].text)}” "
            f"(frustration {before:.2f} → {after:.2f}, {points[i].level})", at, utterances))
    for c in commitments:
        if c.kind == "promise":
            who = owner or "the receptionist"
            also = f" (with {c.by})" if c.by else ""
            text = (f"Promised by {who}{also} at {clock(c.t)}: “{_quote(c.clause)}”, "
                    f"due {due_words(c)}")
        else:
            text = f"Asked by the caller at {clock(c.t)}, nobody promised it: “{_quote(c.clause)}”"
        lines.append(_line("promised" if c.kind == "promise" else "asked", text, c.utterance,
                           utterances))
    if utterances:
        text, index = _ended(utterances, points, status)
        lines.append(_line("ended", text, index, utterances))
    return lines
