"""Text-only dialogues scored through the call-level state (the `voice score` format).

This module owns the JSONL transcript format of issue 3: parsing one dialogue a
line (``{"id", "turns": [{"speaker", "text"}]}``) with line-numbered errors, and
scoring a dialogue into ``{"id", "turns": [{"frustration", "level", "rising",
"reasons"}]}`` through the same scorer, cues and ``CallFrustration`` a live call
uses (no audio features).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voice.events import Speaker, Utterance, is_speaker
from voice.frustration.model import UtteranceScorer
from voice.frustration.state import CallFrustration, Tuning

TURN_SECONDS = 4.0  # synthetic spacing of turns, so states carry increasing times


@dataclass(frozen=True)
class Turn:
    """One speaker turn of a text transcript."""

    speaker: Speaker
    text: str


@dataclass(frozen=True)
class Dialogue:
    """A text transcript: an id and its turns in order."""

    id: str
    turns: tuple[Turn, ...]


class DialogueFormatError(ValueError):
    """A JSONL line that is not a valid dialogue."""

    def __init__(self, line_no: int, message: str) -> None:
        super().__init__(f"line {line_no}: {message}")
        self.line_no = line_no


def parse_dialogue(obj: Any) -> Dialogue:
    """Validate one decoded JSON object as a dialogue (raises ``ValueError``)."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    ident = obj.get("id")
    if not isinstance(ident, str | int) or isinstance(ident, bool) or ident == "":
        raise ValueError("'id' must be a non-empty string")
    turns = obj.get("turns")
    if not isinstance(turns, list):
        raise ValueError("'turns' must be a list")
    return Dialogue(str(ident), tuple(_parse_turn(i, t) for i, t in enumerate(turns, 1)))


def _parse_turn(index: int, turn: Any) -> Turn:
    if not isinstance(turn, dict):
        raise ValueError(f"turn {index}: expected an object")
    speaker = turn.get("speaker")
    if not is_speaker(speaker):
        raise ValueError(f"turn {index}: 'speaker' must be 'caller' or 'receptionist'")
    text = turn.get("text")
    if not isinstance(text, str):
        raise ValueError(f"turn {index}: 'text' must be a string")
    return Turn(speaker, text)


def read_dialogues(lines: Iterable[str]) -> Iterator[Dialogue | DialogueFormatError]:
    """Parse JSONL lines; yields a dialogue or a line-numbered error per line."""
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield parse_dialogue(json.loads(line))
        except json.JSONDecodeError as exc:
            yield DialogueFormatError(line_no, f"not valid JSON ({exc.msg})")
        except ValueError as exc:
            yield DialogueFormatError(line_no, str(exc))


class CachedScorer:
    """Wraps a scorer so texts scored ahead in one batch are not scored again."""

    def __init__(self, scorer: UtteranceScorer) -> None:
        self.inner = scorer
        self.name = scorer.name
        self.state_tuning = getattr(scorer, "state_tuning", None)
        self._cache: dict[str, float] = {}

    def prefetch(self, texts: Sequence[str]) -> None:
        """Score the texts not seen yet, in one batch."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        self._cache.update(zip(todo, self.inner.score(todo), strict=True))

    def score(self, texts: Sequence[str]) -> list[float]:
        """Frustration for each text, from the cache where possible."""
        self.prefetch(texts)
        return [self._cache[t] for t in texts]


class DiskCachedScorer(CachedScorer):
    """A ``CachedScorer`` whose scores persist in one ``.npz`` (benchmarks, tuning)."""

    def __init__(self, scorer: UtteranceScorer, path: Path) -> None:
        super().__init__(scorer)
        self.path = path
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                self._cache.update(zip(data["texts"].tolist(), data["scores"].tolist(),
                                       strict=True))

    def save(self) -> None:
        """Write the cache."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self._cache)
        np.savez(self.path, texts=np.array(texts),
                 scores=np.array([self._cache[t] for t in texts]))


def dialogue_utterances(dialogue: Dialogue) -> list[Utterance]:
    """The turns as final utterances at synthetic times (``TURN_SECONDS`` apart), no audio."""
    return [Utterance(dialogue.id, turn.speaker, turn.text, i * TURN_SECONDS,
                      i * TURN_SECONDS + TURN_SECONDS - 0.5, True)
            for i, turn in enumerate(dialogue.turns)]


def score_dialogue(dialogue: Dialogue, scorer: UtteranceScorer,
                   tuning: Tuning | None = None,
                   utterances: Sequence[Utterance] | None = None) -> dict[str, Any]:
    """Score one dialogue turn by turn into the output format of `voice score`.

    ``utterances`` (one per turn, same order) replaces the synthetic text-only ones,
    e.g. with the timings and ``AudioFeatures`` of a rendering of the dialogue.
    """
    utts = list(utterances) if utterances is not None else dialogue_utterances(dialogue)
    if len(utts) != len(dialogue.turns):
        raise ValueError(f"{dialogue.id}: {len(utts)} utterances for {len(dialogue.turns)} turns")
    cached = scorer if isinstance(scorer, CachedScorer) else CachedScorer(scorer)
    cached.prefetch([t.text for t in dialogue.turns if t.speaker == "caller" and t.text.strip()])
    call = CallFrustration(dialogue.id, cached, tuning)
    out = []
    for utt in utts:
        state = call.observe(utt)
        out.append({
            "frustration": state.utterance_score if state else None,
            "level": call.level,
            "rising": state.rising if state else _last_rising(call),
            "reasons": list(state.reasons) if state else [],
        })
    return {"id": dialogue.id, "turns": out}


def _last_rising(call: CallFrustration) -> bool:
    timeline = call.timeline
    return timeline[-1].rising if timeline else False


def score_text(text: str, scorer: UtteranceScorer) -> dict[str, Any]:
    """Score a single caller utterance: frustration, level and reasons."""
    result = score_dialogue(Dialogue("text", (Turn("caller", text),)), scorer)
    return {"text": text, **result["turns"][0]}
