"""Frustration cues beyond the wording model: what the caller says and how they sound.

This module owns the rule-based evidence that the call-level state fuses with the
model score.  Every cue is a ``Cue``: a contribution in 0..1 and a reason with
evidence a receptionist or manager can read ("said 'third time'", "louder than
earlier in the call (+7 dB)").  Audio cues compare an utterance with the caller's
own running ``AudioBaseline`` from earlier in the same call.  Pure functions and a
small stateful baseline; no I/O.
"""

from __future__ import annotations

import re
import statistics
from collections import deque
from dataclasses import dataclass

from voice.events import AudioFeatures, Utterance


@dataclass(frozen=True)
class Cue:
    """One piece of evidence: ``contribution`` in 0..1 and a readable reason."""

    name: str
    contribution: float
    reason: str
    escalation: bool = False


# (cue name, pattern, contribution, escalation demand?)
_PHRASES: tuple[tuple[str, str, float, bool], ...] = (
    ("supervisor", r"\b(supervisor|manager|someone (in charge|above you)|"
     r"whoever (is in charge|runs))\b", 0.45, True),
    ("legal", r"\b(lawyer|attorney|sue|lawsuit|medical board|health department)\b", 0.55, True),
    ("complaint", r"\b(file|filing|make|making) (a )?complaint\b|\breport(ing|ed)? (this|you)\b",
     0.45, True),
    ("cancel", r"\b(cancel (everything|my account)|switching doctors|another doctor|"
     r"somewhere else|done with (this|you))\b", 0.4, True),
    ("repeat_call", r"\b(third|fourth|fifth|second|\d+(st|nd|rd|th)) (time|call)\b|"
     r"\b(called|phoned|rung|calling) (\w+ ){0,3}(twice|(three|four|five|\d+) times|"
     r"again|every day)\b|\bhow many times\b", 0.35, False),
    ("no_callback", r"\b(nobody|no one|no-one|never) (\w+ ){0,2}(called|call|calls|rang|got|"
     r"get|gets|returned|return)( me)? back\b|\bnever (heard|got) back\b|"
     r"\bnobody (will )?return", 0.35, False),
    ("kept_waiting", r"\b(on hold|been waiting|waited|waiting for) (\w+ ){0,3}"
     r"(\d+|an?|one|two|three|four|five|ten|twenty|thirty|forty|forty-five|"
     r"forever|hours?|weeks?|days?|months?)\b", 0.3, False),
    ("billing_dispute", r"\b(double (billed|charged)|charged (me )?(again|twice)|"
     r"(wrong|bogus) (bill|charge)|collections?|not paying|refund|money back)\b", 0.3, False),
    ("exasperation", r"\b(ridiculous|unacceptable|unbelievable|useless|absurd|"
     r"fed up|sick and tired|last straw|are you kidding)\b", 0.3, False),
)
_COMPILED = tuple((n, re.compile(p, re.IGNORECASE), c, e) for n, p, c, e in _PHRASES)


_SENTENCE = re.compile(r"[^.!?]*[.!?]+|[^.!?]+$")
_WORD_SPAN = re.compile(r"\S+")
_EDGE = " ,.;:!?-–—\"'"


def _quote(text: str, start: int, end: int, max_words: int = 10, context: int = 3) -> str:
    """The words that triggered a cue, read as evidence: the sentence holding them, or
    when that sentence is long, the matched words with a few words either side, cut at
    word boundaries and marked with "…" where cut (never a sentence's tail and the
    next sentence's head)."""
    lo, hi = 0, len(text)
    for sentence in _SENTENCE.finditer(text):
        if sentence.start() <= start < sentence.end():
            lo, hi = sentence.start(), max(sentence.end(), end)
            break
    words = list(_WORD_SPAN.finditer(text, lo, hi))
    if not words:
        return text[start:end].strip(_EDGE)
    hit = [i for i, w in enumerate(words) if w.end() > start and w.start() < end] or [0]
    first, last = (0, len(words) - 1) if len(words) <= max_words else (
        max(0, hit[0] - context), min(len(words) - 1, hit[-1] + context))
    quote = text[words[first].start():words[last].end()].strip(_EDGE)
    head = "…" if first > 0 else ""
    tail = "…" if last < len(words) - 1 else ""
    return f"{head}{quote}{tail}"


def _clip(text: str, limit: int = 60) -> str:
    """``text`` up to ``limit`` characters, cut at a word boundary with "…" if longer."""
    text = text.strip()
    if len(text) <= limit:
        return text.strip(_EDGE)
    return text[:limit].rsplit(" ", 1)[0].rstrip(_EDGE) + "…"


def phrase_cues(text: str) -> list[Cue]:
    """Escalation and complaint phrases in one caller utterance."""
    cues = []
    for name, pattern, contribution, escalation in _COMPILED:
        match = pattern.search(text)
        if match:
            quote = _quote(text, match.start(), match.end())
            cues.append(Cue(name, contribution, f"said '{quote}'", escalation))
    return cues


_WORD = re.compile(r"[a-z']+")
_STOP = frozenset(
    "i me my we you your the a an and or but to of in on for is it its it's this that was "
    "be been have has had do did not no so just at with about what can could would will "
    "they them he she there here are am im i'm".split()
)


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` without common function words."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def repetition_cue(text: str, earlier: list[str], min_overlap: float = 0.5) -> Cue | None:
    """The caller repeating an earlier complaint (shared content words)."""
    words = content_words(text)
    if len(words) < 3:
        return None
    best, best_text = 0.0, ""
    for prior in earlier:
        prior_words = content_words(prior)
        if len(prior_words) < 3:
            continue
        overlap = len(words & prior_words) / min(len(words), len(prior_words))
        if overlap > best:
            best, best_text = overlap, prior
    if best < min_overlap:
        return None
    return Cue("repeated", 0.25, f"repeated the same complaint ('{_clip(best_text)}')")


_OFFER = re.compile(
    r"\b(i can|i could|we can|we could|let me|would you like|you could|you can|"
    r"i'll|we'll|how about|try)\b",
    re.IGNORECASE,
)
_REJECT = re.compile(
    r"^\s*(no\b|nope\b|don't\b|that (won't|doesn't|will not|does not)|"
    r"i don't want|i'm not (going|doing)|not again)|\b(won't work|doesn't help|"
    r"not good enough|that's not (an answer|going to work))\b",
    re.IGNORECASE,
)


def negation_cue(text: str, receptionist_text: str | None) -> Cue | None:
    """The caller rejecting a solution the receptionist just offered."""
    if not receptionist_text or not _OFFER.search(receptionist_text):
        return None
    match = _REJECT.search(text)
    if not match:
        return None
    quote = _quote(text, match.start(), match.end())
    return Cue("rejected_offer", 0.2, f"turned down the offered next step ('{quote}')")


_CUT_OFF = ("--", "—", "–", "...", "…")


def interruption_cue(
    utterance: Utterance, receptionist: Utterance | None, min_overlap_s: float = 0.5
) -> Cue | None:
    """The caller cutting the receptionist off (overlap, or a transcript cut mid-word)."""
    overlap = utterance.audio.overlap_s if utterance.audio else 0.0
    if receptionist is not None and utterance.t_end > utterance.t_start:
        overlap = max(overlap, receptionist.t_end - utterance.t_start)
    if overlap >= min_overlap_s:
        return Cue("interrupted", 0.15, f"talked over the receptionist ({overlap:.1f} s)")
    if receptionist is not None and receptionist.text.rstrip().endswith(_CUT_OFF):
        return Cue("interrupted", 0.15, "cut the receptionist off mid-sentence")
    return None


SILENCE_DBFS = -50.0


class AudioBaseline:
    """The caller's running loudness, pitch and speech rate from earlier in the call."""

    def __init__(self, window: int = 12, min_samples: int = 2) -> None:
        self.min_samples = min_samples
        self._rms: deque[float] = deque(maxlen=window)
        self._pitch: deque[float] = deque(maxlen=window)
        self._rate: deque[float] = deque(maxlen=window)

    def update(self, features: AudioFeatures, rate: float | None) -> None:
        """Add one utterance's features (silent stretches are ignored)."""
        if features.rms_dbfs <= SILENCE_DBFS:
            return
        self._rms.append(features.rms_dbfs)
        if features.pitch_hz:
            self._pitch.append(features.pitch_hz)
        if rate:
            self._rate.append(rate)

    def _median(self, values: deque[float]) -> float | None:
        return statistics.median(values) if len(values) >= self.min_samples else None

    @property
    def rms_dbfs(self) -> float | None:
        """Median loudness so far (None until enough speech)."""
        return self._median(self._rms)

    @property
    def pitch_hz(self) -> float | None:
        """Median pitch so far (None until enough voiced speech)."""
        return self._median(self._pitch)

    @property
    def rate_wps(self) -> float | None:
        """Median speech rate in words per second so far."""
        return self._median(self._rate)


def speech_rate(utterance: Utterance) -> float | None:
    """Words per second: from the audio features, else from the word timings."""
    if utterance.audio and utterance.audio.speech_rate_wps:
        return utterance.audio.speech_rate_wps
    if len(utterance.words) >= 3:
        span = utterance.words[-1].end - utterance.words[0].start
        if span > 0.3:
            return len(utterance.words) / span
    return None


def _ramp(value: float, start: float, full: float) -> float:
    """0 at ``start``, 1 at ``full``, linear between, clipped."""
    return max(0.0, min(1.0, (value - start) / (full - start)))


def loudness_cue(features: AudioFeatures, baseline: AudioBaseline) -> Cue | None:
    """Louder than the caller's own baseline by 4 dB or more (silence never counts)."""
    base = baseline.rms_dbfs
    if base is None or features.rms_dbfs <= SILENCE_DBFS:
        return None
    delta = features.rms_dbfs - base
    if delta < 4.0:
        return None
    weight = 0.1 + 0.2 * _ramp(delta, 4.0, 12.0)
    return Cue("louder", weight, f"louder than earlier in the call (+{delta:.0f} dB)")


def pitch_cue(features: AudioFeatures, baseline: AudioBaseline) -> Cue | None:
    """Pitch raised 15% or more above the caller's baseline."""
    base = baseline.pitch_hz
    if base is None or not features.pitch_hz or features.rms_dbfs <= SILENCE_DBFS:
        return None
    ratio = features.pitch_hz / base - 1.0
    if ratio < 0.15:
        return None
    weight = 0.08 + 0.12 * _ramp(ratio, 0.15, 0.5)
    return Cue("higher_pitch", weight, f"higher pitch than earlier (+{ratio:.0%})")


def rate_cue(rate: float | None, baseline: AudioBaseline) -> Cue | None:
    """Talking 25% or more faster than the caller's baseline."""
    base = baseline.rate_wps
    if base is None or not rate:
        return None
    ratio = rate / base - 1.0
    if ratio < 0.25:
        return None
    weight = 0.05 + 0.1 * _ramp(ratio, 0.25, 0.75)
    return Cue("faster", weight, f"speaking faster than earlier (+{ratio:.0%})")


def silence_cue(features: AudioFeatures, long_s: float = 8.0) -> Cue | None:
    """A long silence before the caller spoke (left waiting on the line)."""
    if features.silence_before_s < long_s:
        return None
    seconds = features.silence_before_s
    return Cue("long_silence", 0.05, f"long silence before speaking ({seconds:.0f} s)")


def audio_cues(utterance: Utterance, baseline: AudioBaseline) -> list[Cue]:
    """All audio cues of one caller utterance against the baseline (not updated here)."""
    features = utterance.audio
    if features is None:
        return []
    found = (
        loudness_cue(features, baseline),
        pitch_cue(features, baseline),
        rate_cue(speech_rate(utterance), baseline),
        silence_cue(features),
    )
    return [c for c in found if c is not None]
