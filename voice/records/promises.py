"""What the office promised on a call, and what the caller asked for that nobody promised.

``find_commitments`` reads a call's final utterances (receptionist and caller)
and returns ``Commitment``s: a receptionist's promise ("i'll call you back
tomorrow", "let me check with billing and get back to you by friday", "i'll have
the doctor look at your results") or a caller's request no promise answered
("can someone call me back").  ``resolve_due`` turns the time words of a
commitment into a due date and time with ``dateparser``, relative to the call's
start in the office's time zone; words that name only a day get the office's
closing time, words that name none give no due date (never an invented one).
Pure functions; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

import dateparser

OFFICE_CLOSES = time(17, 0)
PART_OF_DAY_ENDS = {"morning": time(12, 0), "afternoon": time(17, 0), "evening": time(20, 0),
                    "tonight": time(20, 0)}
CommitmentKind = Literal["promise", "request"]


class UtteranceLike(Protocol):
    """What this module reads of an utterance."""

    speaker: str
    text: str
    t_start: float


@dataclass(frozen=True)
class Commitment:
    """One promise (or open request) heard on the call."""

    kind: CommitmentKind
    clause: str           # the words of the commitment, as said
    action: str           # the same in plain third-person words ("call them back by friday")
    due_phrase: str | None
    utterance: int        # index into the call's utterances
    t: float
    speaker: str
    by: str | None = None  # someone else named to do it ("the doctor", "billing")


_SUBJECT = (
    r"(?:i'll|i will|i'm going to|i am going to|i'm gonna|we'll|we will|we're going to|"
    r"we are going to|let me|i can|we can|i'll make sure to|i promise to|i'll be sure to)"
)
_OTHERS = (r"(?:the doctor|doctor \w+|dr \w+|the nurse|a nurse|billing|our billing team|someone|"
           r"somebody|the pharmacy|the office manager|our manager|she|he|they)")
_FOLLOW_VERBS = (
    r"(?:call|ring|phone|get back|find|send|fax|email|e-mail|mail|text|resubmit|submit|research|"
    r"look into|look at|look over|review|follow up|reach out|let you know|find out|check with|"
    r"check on|talk to|speak (?:to|with)|ask|schedule|book|reschedule|refill|renew|process|"
    r"fix|correct|update|forward|put (?:in|through)|take care of|make sure|have|get)"
)
_PROMISE = re.compile(
    rf"\b(?:{_SUBJECT}(?: \w+){{0,2}}? {_FOLLOW_VERBS}|{_OTHERS} will {_FOLLOW_VERBS}|"
    rf"{_OTHERS}'ll {_FOLLOW_VERBS}|you(?:'ll| will) (?:get a call|hear (?:back|from)))\b"
)
_IN_CALL = re.compile(
    r"\b(?:let me|i'll|i can) (?:pull|bring|look (?:that|it|you) up|put you on hold|"
    r"transfer|see|just|get (?:that|your|the) (?:up|information|info|date|name)|ask you|"
    r"have your|get your)\b"
)
_CONTACT = re.compile(r"\b(?:get back|call you|call back|let you know|hear (?:back|from)|"
                      r"send|fax|email|text you|reach out|follow up)\b")
_REQUEST = re.compile(
    r"\b(?:can|could|would|will) (?:you|someone|somebody|anyone|the doctor)(?: please)? "
    r"(?:call me|call back|get back|send|fax|email|have (?:the doctor|someone|a nurse)|"
    r"look into|check|let me know|refill|fix|reschedule)\b|"
    r"\bi (?:need|want|would like|'d like) (?:you|someone|somebody|the doctor|a call)"
    r"(?: to)?(?: (?:call|send|fax|look|check|get back|fix|refill))?\b|"
    r"\bplease (?:call me|have (?:the doctor|someone)|send|fax|get back)\b"
)
_NUM = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
        "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}
_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_NUMW = (r"(?:an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\d+|a few|"
         r"a couple(?: of)?)")
_ORD = (r"(?:\d{1,2}(?:st|nd|rd|th)|(?:twenty|thirty)[ -]?(?:first|second|third|fourth|fifth|"
        r"sixth|seventh|eighth|ninth)|" + "|".join(_ORDINALS) + ")")
_HOUR = r"(?:\d{1,2}(?::\d\d)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_TIME_WORDS = re.compile(
    rf"\b(?:(?:by|before|on|this|next|until|till|no later than|first thing)\s+)?(?:"
    rf"tomorrow(?: (?:morning|afternoon|evening))?|today|tonight|later today|"
    rf"end of (?:the )?(?:day|week)|this (?:morning|afternoon|evening|week)|"
    rf"next (?:week|month|{_DAY})|{_DAY}(?: (?:morning|afternoon|evening))?|"
    rf"in {_NUMW} (?:minutes?|hours?|days?|weeks?)|within {_NUMW} (?:hours?|days?)|"
    rf"the {_ORD}|noon|midday|{_HOUR}(?: o'clock| thirty| fifteen| forty five)?"
    rf"(?: ?(?:am|pm|a m|p m|in the morning|in the afternoon))?(?= |$)"
    rf")"
)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9:'\- ]+", " ", text.lower().replace("’", "'")))


def _clauses(text: str) -> list[str]:
    """Split typed text at sentence ends; Vosk text (no punctuation) stays one clause."""
    parts = re.split(r"(?<=[.!?])\s+|\s+(?:and then|but|so)\s+(?=i'll|we'll|i will)", text)
    return [p for p in (_clean(x).strip() for x in parts) if p]


def _time_phrase(clause: str) -> str | None:
    """The time words of a clause, adjacent pieces joined ("tomorrow before noon")."""
    found = [m for m in _TIME_WORDS.finditer(clause) if not _bare_number(m.group(0))]
    if not found:
        return None
    start, end = found[0].start(), found[0].end()
    for m in found[1:]:
        gap = clause[end : m.start()]
        if len(gap.split()) <= 2:
            end = m.end()
    return clause[start:end].strip()


def _bare_number(words: str) -> bool:
    """A lone number ("one", "2") is not a time unless it says o'clock/am/pm or follows by/at."""
    return re.fullmatch(rf"(?:on |this |next )?{_HOUR}", words.strip()) is not None


_THIRD_PERSON = [
    (r"\bi'll\b", "we'll"), (r"\bi'm\b", "we're"), (r"\bi\b", "we"), (r"\bme\b", "us"),
    (r"\bmy\b", "our"), (r"\byou're\b", "they're"), (r"\byourself\b", "themselves"),
    (r"\byour\b", "their"), (r"\byou\b", "them"),
]


def _plain(clause: str) -> str:
    """The commitment as a to-do: subject dropped, pronouns turned to the caller's side."""
    starts = [m.start() for m in _PROMISE.finditer(clause)
              if not _IN_CALL.match(clause, m.start())]
    text = clause[starts[0]:] if starts else clause
    text = re.sub(rf"^{_SUBJECT}\s+", "", text)
    for pattern, repl in _THIRD_PERSON:
        text = re.sub(pattern, repl, text)
    return text.strip()


def _promise_in(clause: str) -> bool:
    """Whether the clause commits the office to something after the call."""
    contact = bool(_CONTACT.search(clause) or _time_phrase(clause))
    for m in _PROMISE.finditer(clause):
        if _IN_CALL.match(clause, m.start()) and not contact:
            continue
        if re.match(r"(?:let me|i can|we can)\b", clause[m.start():]) and not contact:
            continue
        return True
    return False


def _someone_else(clause: str) -> str | None:
    m = re.search(rf"\b(?:have|ask|get) ({_OTHERS})\b|\b({_OTHERS}) (?:will|'ll)\b", clause)
    if not m:
        return None
    who = m.group(1) or m.group(2)
    return None if who in ("she", "he", "they", "someone", "somebody") else who


def find_commitments(utterances: Sequence[UtteranceLike]) -> list[Commitment]:
    """Promises on the receptionist's track, then caller requests no later promise answered."""
    promises: list[Commitment] = []
    requests: list[Commitment] = []
    for index, u in enumerate(utterances):
        for clause in _clauses(u.text):
            if u.speaker == "receptionist" and _promise_in(clause):
                promises.append(Commitment("promise", clause, _plain(clause), _time_phrase(clause),
                                           index, u.t_start, u.speaker, _someone_else(clause)))
            elif u.speaker == "caller" and _REQUEST.search(clause):
                requests.append(Commitment("request", clause, _request_action(clause),
                                           _time_phrase(clause), index, u.t_start, u.speaker))
    answered = [r for r in requests if any(p.utterance > r.utterance for p in promises)]
    return _fold(promises) + [r for r in requests if r not in answered]


FOLD_WITHIN_S = 30.0


def _fold(promises: list[Commitment]) -> list[Commitment]:
    """One item per thing promised: promises with no time words made shortly (within
    ``FOLD_WITHIN_S`` s) before a dated one join it ("i'll look into this ... i'll call you
    back by thursday"); the dated one's utterance stays the source."""
    out: list[Commitment] = []
    for p in promises:
        if p.due_phrase is not None:
            absorbed: list[Commitment] = []
            while out and out[-1].due_phrase is None and p.t - out[-1].t <= FOLD_WITHIN_S:
                absorbed.insert(0, out.pop())
            if absorbed:
                p = replace(p, clause="; ".join([q.clause for q in absorbed] + [p.clause]),
                            action="; ".join([q.action for q in absorbed] + [p.action]),
                            by=p.by or next((q.by for q in absorbed if q.by), None))
        out.append(p)
    return out


def _request_action(clause: str) -> str:
    m = _REQUEST.search(clause)
    text = clause[m.start():] if m else clause
    for pattern, repl in [(r"\bme\b", "them"), (r"\bmy\b", "their"), (r"\bi\b", "they")]:
        text = re.sub(pattern, repl, text)
    return f"the caller asked: {text.strip()}"


# --- due dates ----------------------------------------------------------------------


def _normalise(phrase: str) -> tuple[str, time | None, str]:
    """Words dateparser reads, the time of day to use, and the span kind."""
    p = re.sub(r"^(?:by|before|on|until|till|no later than|first thing)\s+", "", phrase)
    p = re.sub(r"\s+(?:by|before|at|around)\s+", " ", f" {p} ").strip()
    at: time | None = None
    for part, ends in PART_OF_DAY_ENDS.items():
        if re.search(rf"\b{part}\b", p):
            at = ends
            p = re.sub(rf"\b(?:this |in the )?{part}\b", "", p).strip() or "today"
    if re.search(r"\b(?:noon|midday)\b", p):
        at, p = time(12, 0), re.sub(r"\b(?:noon|midday)\b", "", p).strip() or "today"
    if re.search(r"\bend of (?:the )?day\b|\blater today\b", p):
        return "today", OFFICE_CLOSES, "day"
    if re.search(r"\b(?:end of (?:the )?week|this week)\b", p):
        return "friday", OFFICE_CLOSES, "week"
    if p == "next week":
        return "next week", OFFICE_CLOSES, "next_week"
    hour = re.search(rf"\b({_HOUR})(?: o'clock| (thirty|fifteen|forty five))?"
                     r"(?: ?(am|pm|a m|p m))?$", p)
    if hour and not p.startswith(("in ", "within ")):
        at = _clock_time(hour.group(1), hour.group(2), hour.group(3))
        p = p[: hour.start()].strip() or "today"
    ordinal = re.search(rf"\bthe ({_ORD})\b", p)
    if ordinal:
        return f"day:{_ordinal_day(ordinal.group(1))}", at or OFFICE_CLOSES, "day"
    p = re.sub(r"\bwithin\b", "in", p)
    p = re.sub(r"\ba (?:few|couple(?: of)?)\b", "3" if "few" in p else "2", p)
    exact = re.match(r"in \S+ (?:minutes?|hours?)$", p) is not None
    return p, at, "exact" if exact else "day"


def _clock_time(hour: str, minutes: str | None, meridiem: str | None) -> time:
    if ":" in hour:
        h, m = (int(x) for x in hour.split(":"))
    else:
        h, m = _NUM.get(hour) or int(hour), 0
    m = {"thirty": 30, "fifteen": 15, "forty five": 45}.get(minutes or "", m)
    mer = (meridiem or "").replace(" ", "")
    if mer == "pm" and h < 12 or not mer and 1 <= h <= 6:
        h += 12  # office hours: "at three" means the afternoon
    if mer == "am" and h == 12:
        h = 0
    return time(h % 24, m)


def _ordinal_day(words: str) -> int:
    digits = re.match(r"\d+", words)
    if digits:
        return int(digits.group(0))
    parts = re.split(r"[ -]", words)
    if len(parts) == 2:
        return {"twenty": 20, "thirty": 30}[parts[0]] + _ORDINALS[parts[1]]
    return _ORDINALS[words]


def resolve_due(phrase: str | None, call_start: datetime, timezone: str) -> datetime | None:
    """When a commitment is due (UTC), from its time words and the call's start; None when
    there are no time words or dateparser cannot read them."""
    if not phrase:
        return None
    zone = ZoneInfo(timezone)
    start = (call_start if call_start.tzinfo else call_start.replace(tzinfo=UTC)).astimezone(zone)
    base = start.replace(tzinfo=None)
    words, at, span = _normalise(phrase)
    if words.startswith("day:"):
        day = int(words[4:])
        month = base.replace(day=1)
        if day < base.day:
            month = (month + timedelta(days=32)).replace(day=1)
        words = f"{day} {month:%B %Y}"
    parsed = dateparser.parse(
        words, languages=["en"],
        settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future",
                  "RETURN_AS_TIMEZONE_AWARE": False},
    )
    if parsed is None:
        return None
    if span == "next_week":
        parsed = parsed + timedelta(days=4 - parsed.weekday())  # the Friday of that week
    if span != "exact":
        parsed = datetime.combine(parsed.date(), at or OFFICE_CLOSES)
    return parsed.replace(tzinfo=zone).astimezone(UTC)
