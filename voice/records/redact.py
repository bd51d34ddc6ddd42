"""Redaction of payment card and social-security numbers before anything is stored or sent.

``Redactor.redact(text)`` replaces, in a transcript line:

* payment card numbers: a run of 13-19 digits that passes the Luhn check, typed
  (``4111 1111 1111 1111``, ``4111-1111-...``) or spoken the way Vosk writes them
  (``four one one one ...``, ``oh``/``zero``, ``double four``, ``forty one``), with
  ``[card]``;
* US social-security numbers: ``123-45-6789`` / ``123 45 6789`` typed, or a run of
  exactly nine digits (typed or spoken) that is a valid SSN (area not 000, 666 or
  9xx; group not 00; serial not 0000), with ``[ssn]``;
* any extra ``(label, regex)`` patterns from ``VOICE_REDACT_PATTERNS`` with ``[label]``.

Phone numbers (7, 10 or 11 digits) and dates of birth (at most 8 digits) are never
either, so they are left alone.  Pure functions; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from voice.events import Utterance

CARD = "[card]"
SSN = "[ssn]"
CARD_DIGITS = (13, 19)

_UNITS = {
    "zero": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9,
}
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_REPEAT = {"double": 2, "triple": 3}
_FILLERS = frozenset({"uh", "um", "er", "dash", "and"})
_TOKEN = re.compile(r"\d+|[A-Za-z']+|[^\sA-Za-z\d]")
_JOINERS = frozenset({"-", ",", ".", "/"})
_TYPED_SSN = re.compile(r"(?<![\d-])(\d{3})[- ](\d{2})[- ](\d{4})(?![\d-])")


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def ssn_ok(digits: str) -> bool:
    """Whether nine digits are a well-formed US social-security number."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


@dataclass(frozen=True)
class _Tok:
    text: str
    start: int
    end: int


@dataclass
class _Run:
    """Consecutive tokens that read as digits; ``digits[i]`` is what token ``toks[i]`` says."""

    toks: list[_Tok] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)


def _digit_value(tokens: Sequence[_Tok], i: int) -> tuple[str, int] | None:
    """The digits tokens ``i..`` say and how many tokens that took, or None."""
    word = tokens[i].text.lower()
    if word.isdigit():
        return word, 1
    if word in _UNITS:
        return str(_UNITS[word]), 1
    if word in _TEENS:
        return str(_TEENS[word]), 1
    if word in _TENS:
        nxt = tokens[i + 1].text.lower() if i + 1 < len(tokens) else ""
        if nxt in _UNITS and _UNITS[nxt] > 0 and nxt not in ("o", "oh"):
            return str(_TENS[word] + _UNITS[nxt]), 2
        return str(_TENS[word]), 1
    if word in _REPEAT and i + 1 < len(tokens):
        nxt = tokens[i + 1].text.lower()
        unit = nxt if nxt.isdigit() and len(nxt) == 1 else (
            str(_UNITS[nxt]) if nxt in _UNITS else None)
        if unit is not None:
            return unit * _REPEAT[word], 2
    return None


def _runs(tokens: Sequence[_Tok]) -> list[_Run]:
    """Runs of digit tokens, allowing separators and fillers between digits."""
    runs: list[_Run] = []
    current = _Run()
    i = 0
    while i < len(tokens):
        value = _digit_value(tokens, i)
        if value is not None:
            digits, used = value
            current.toks.append(_Tok(tokens[i].text, tokens[i].start, tokens[i + used - 1].end))
            current.digits.append(digits)
            i += used
            continue
        word = tokens[i].text.lower()
        if current.toks and (word in _JOINERS or word in _FILLERS):
            i += 1
            continue
        if current.toks:
            runs.append(current)
            current = _Run()
        i += 1
    if current.toks:
        runs.append(current)
    return runs


def _card_span(run: _Run) -> tuple[int, int] | None:
    """Token range [a, b) of the longest Luhn-valid card number in the run, if any."""
    best: tuple[int, int] | None = None
    for a in range(len(run.digits)):
        length = 0
        for b in range(a, len(run.digits)):
            length += len(run.digits[b])
            if length > CARD_DIGITS[1]:
                break
            if length >= CARD_DIGITS[0] and luhn_ok("".join(run.digits[a : b + 1])):
                if best is None or (b + 1 - a) > (best[1] - best[0]):
                    best = (a, b + 1)
        if best is not None:
            return best
    return None


@dataclass(frozen=True)
class Redactor:
    """Replaces card numbers, SSNs and configured patterns in text."""

    extra: tuple[tuple[str, re.Pattern[str]], ...] = ()

    @classmethod
    def from_patterns(cls, patterns: Iterable[tuple[str, str]]) -> Redactor:
        """A redactor with extra ``(label, regex)`` patterns (regexes match case-insensitively)."""
        return cls(tuple((label, re.compile(rx, re.IGNORECASE)) for label, rx in patterns))

    def redact(self, text: str) -> str:
        """``text`` with every card number, SSN and extra pattern replaced by its label."""
        if not text:
            return text
        text = _TYPED_SSN.sub(lambda m: SSN if ssn_ok("".join(m.groups())) else m.group(0), text)
        text = self._digit_runs(text)
        for label, pattern in self.extra:
            text = pattern.sub(f"[{label}]", text)
        return text

    def _digit_runs(self, text: str) -> str:
        tokens = [_Tok(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        for start, end, label in reversed(_stretches(tokens)):
            text = text[:start] + label + text[end:]
        return text

    def redact_words(self, words: Sequence[str]) -> list[str]:
        """Word-by-word texts with redacted stretches: the first word of a stretch
        becomes the label and the rest become empty strings (callers drop them)."""
        out = [self.redact(w) for w in words]
        for first, last, label in _stretches([_Tok(w, i, i + 1) for i, w in enumerate(words)]):
            out[first] = label
            for i in range(first + 1, last):
                out[i] = ""
        return out


def _stretches(tokens: Sequence[_Tok]) -> list[tuple[int, int, str]]:
    """``(start, end, label)`` of every card number and SSN among ``tokens``."""
    found: list[tuple[int, int, str]] = []
    for run in _runs(tokens):
        card = _card_span(run)
        if card is not None:
            a, b = card
            found.append((run.toks[a].start, run.toks[b - 1].end, CARD))
        elif ssn_ok("".join(run.digits)):
            found.append((run.toks[0].start, run.toks[-1].end, SSN))
    return found


def redact_utterance(redactor: Redactor, utterance: Utterance) -> Utterance:
    """The utterance with its text and words redacted (the same object when clean)."""
    text = redactor.redact(utterance.text)
    if text == utterance.text:
        return utterance
    masked = redactor.redact_words([w.text for w in utterance.words])
    words = tuple(replace(w, text=t) for w, t in zip(utterance.words, masked, strict=True) if t)
    return replace(utterance, text=text, words=words)


def redact_payload(redactor: Redactor, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """A bus payload with transcript text (and its words) redacted."""
    if kind != "transcript" or not isinstance(data.get("text"), str):
        return data
    text = redactor.redact(data["text"])
    if text == data["text"]:
        return data
    words = [w for w in data.get("words") or [] if isinstance(w, dict)]
    masked = redactor.redact_words([str(w.get("text", "")) for w in words])
    kept = [{**w, "text": t} for w, t in zip(words, masked, strict=True) if t]
    return {**data, "text": text, "words": kept}
