"""How well the call-level state does on labelled dialogues (`voice score --eval`).

This module owns the figures of issue 12 for any file in the dialogue format of
``shared/data/dialogues/`` (per turn ``speaker``, ``text`` and, on caller turns,
``frustrated`` true/false/null):

* per-turn ROC-AUC of the per-utterance score over labelled caller turns;
* conversations that turn frustrated (first labelled caller turn calm, a later one
  frustrated): the share *caught*, meaning the state shows upset, escalating or
  rising on the first frustrated caller turn or on the next caller turn;
* calm conversations (no frustrated caller turn): the share ever at upset or worse,
  and, to be honest about the meter, the share ever ``rising``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from voice.events import Utterance
from voice.frustration.dialogues import CachedScorer, Dialogue, parse_dialogue, score_dialogue
from voice.frustration.metrics import roc_auc
from voice.frustration.model import UtteranceScorer
from voice.frustration.state import Tuning

UPSET = ("upset", "escalating")


@dataclass(frozen=True)
class LabelledDialogue:
    """A dialogue with the ``frustrated`` label of each turn (None where unlabelled)."""

    dialogue: Dialogue
    labels: tuple[bool | None, ...]

    def caller_labels(self) -> list[tuple[int, bool]]:
        """(turn index, label) of the labelled caller turns, in order."""
        return [(i, bool(lab)) for i, (t, lab) in enumerate(zip(self.dialogue.turns,
                                                                   self.labels, strict=True))
                if t.speaker == "caller" and lab is not None]

    @property
    def kind(self) -> str:
        """``turns`` (starts calm, turns frustrated), ``calm``, ``starts`` or ``unlabelled``."""
        labelled = self.caller_labels()
        if not labelled:
            return "unlabelled"
        if not any(lab for _, lab in labelled):
            return "calm"
        return "starts" if labelled[0][1] else "turns"


def parse_labelled(obj: Any) -> LabelledDialogue:
    """One decoded JSON object as a labelled dialogue (raises ``ValueError``)."""
    dialogue = parse_dialogue(obj)
    labels = []
    for i, turn in enumerate(obj["turns"], 1):
        lab = turn.get("frustrated")
        if lab is not None and not isinstance(lab, bool):
            raise ValueError(f"turn {i}: 'frustrated' must be true, false or null")
        labels.append(lab)
    return LabelledDialogue(dialogue, tuple(labels))


def read_labelled(lines: Iterable[str]) -> Iterator[LabelledDialogue]:
    """Labelled dialogues of JSONL lines; a bad line raises ``ValueError`` with its number."""
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield parse_labelled(json.loads(line))
        except (json.JSONDecodeError, ValueError) as exc:
            raise ValueError(f"line {line_no}: {exc}") from exc


@dataclass(frozen=True)
class EvalReport:
    """The figures of one evaluation."""

    dialogues: int
    turn_auc: float
    turns_labelled: int
    turns_frustrated: int
    turned: int  # conversations that start calm and turn frustrated
    caught: int
    caught_rising: int  # of ``caught``, those where ``rising`` itself fired in the window
    calm: int
    calm_ever_upset: int
    calm_ever_rising: int
    starts_frustrated: int

    @property
    def caught_share(self) -> float:
        """Share of the conversations that turn frustrated caught within one caller turn."""
        return self.caught / self.turned if self.turned else float("nan")

    @property
    def caught_rising_share(self) -> float:
        """Share of the conversations that turn frustrated where ``rising`` fired in time."""
        return self.caught_rising / self.turned if self.turned else float("nan")

    @property
    def calm_upset_share(self) -> float:
        """Share of calm conversations ever called upset."""
        return self.calm_ever_upset / self.calm if self.calm else float("nan")

    @property
    def calm_rising_share(self) -> float:
        """Share of calm conversations ever marked rising."""
        return self.calm_ever_rising / self.calm if self.calm else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Counts and shares, rounded, for JSON."""
        return {**asdict(self), "turn_auc": round(self.turn_auc, 4),
                "caught_share": round(self.caught_share, 4),
                "caught_rising_share": round(self.caught_rising_share, 4),
                "calm_upset_share": round(self.calm_upset_share, 4),
                "calm_rising_share": round(self.calm_rising_share, 4)}

    def lines(self, name: str = "") -> list[str]:
        """A short human-readable report."""
        head = f"{name}: " if name else ""
        return [
            f"{head}{self.dialogues} dialogues, {self.turns_labelled} labelled caller turns "
            f"({self.turns_frustrated} frustrated)",
            f"  per-turn AUC                         {self.turn_auc:.3f}",
            f"  turned frustrated, caught in 1 turn  {self.caught}/{self.turned} "
            f"({self.caught_share:.1%})",
            f"  turned frustrated, rising in time    {self.caught_rising}/{self.turned} "
            f"({self.caught_rising_share:.1%})",
            f"  calm, ever upset                     {self.calm_ever_upset}/{self.calm} "
            f"({self.calm_upset_share:.1%})",
            f"  calm, ever rising                    {self.calm_ever_rising}/{self.calm} "
            f"({self.calm_rising_share:.1%})",
        ]


def _alarm(turn: dict[str, Any]) -> bool:
    return turn["level"] in UPSET or bool(turn["rising"])


def catch_window(item: LabelledDialogue) -> list[int]:
    """The first frustrated caller turn and the next caller turn."""
    callers = [i for i, t in enumerate(item.dialogue.turns) if t.speaker == "caller"]
    first = next(i for i, lab in item.caller_labels() if lab)
    return [first, *[i for i in callers if i > first][:1]]


def caught(item: LabelledDialogue, out: Sequence[dict[str, Any]]) -> bool:
    """Upset, escalating or rising on the first frustrated caller turn or the next one."""
    return any(_alarm(out[i]) for i in catch_window(item))


def rising_in_time(item: LabelledDialogue, out: Sequence[dict[str, Any]]) -> bool:
    """``rising`` on the first frustrated caller turn or the next one."""
    return any(bool(out[i]["rising"]) for i in catch_window(item))


def evaluate(items: Sequence[LabelledDialogue], scorer: UtteranceScorer,
             tuning: Tuning | None = None,
             utterances: Mapping[str, Sequence[Utterance]] | None = None) -> EvalReport:
    """Score every dialogue through the call-level state and count the figures.

    ``utterances`` maps a dialogue id to its turns as utterances (with timings and
    audio features, e.g. a rendering); dialogues not in it are scored text-only.
    """
    cached = scorer if isinstance(scorer, CachedScorer) else CachedScorer(scorer)
    cached.prefetch([t.text for item in items for t in item.dialogue.turns
                     if t.speaker == "caller" and t.text.strip()])
    ys: list[float] = []
    ps: list[float] = []
    counts = {"turned": 0, "caught": 0, "caught_rising": 0, "calm": 0, "upset": 0,
              "rising": 0, "starts": 0}
    for item in items:
        rendered = utterances.get(item.dialogue.id) if utterances else None
        out = score_dialogue(item.dialogue, cached, tuning, rendered)["turns"]
        for i, lab in item.caller_labels():
            if out[i]["frustration"] is not None:
                ys.append(float(lab))
                ps.append(out[i]["frustration"])
        kind = item.kind
        if kind == "turns":
            counts["turned"] += 1
            counts["caught"] += caught(item, out)
            counts["caught_rising"] += rising_in_time(item, out)
        elif kind == "calm":
            callers = [out[i] for i, _ in item.caller_labels()]
            counts["calm"] += 1
            counts["upset"] += any(t["level"] in UPSET for t in callers)
            counts["rising"] += any(t["rising"] for t in callers)
        elif kind == "starts":
            counts["starts"] += 1
    y = np.array(ys)
    return EvalReport(
        dialogues=len(items), turn_auc=roc_auc(y, np.array(ps)) if ys else float("nan"),
        turns_labelled=len(ys), turns_frustrated=int(y.sum()) if ys else 0,
        turned=counts["turned"], caught=counts["caught"],
        caught_rising=counts["caught_rising"], calm=counts["calm"],
        calm_ever_upset=counts["upset"], calm_ever_rising=counts["rising"],
        starts_frustrated=counts["starts"])
