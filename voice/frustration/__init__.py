"""The frustration stage: per-utterance scores, cues and the call-level state.

Public API: ``load_scorer`` and the ``UtteranceScorer`` engines (``model``), the
cues (``cues``), ``CallFrustration`` and its ``CallSummary`` (``state``) and the
text-dialogue scoring behind `voice score` (``dialogues``, ``cli``).
"""

from voice.frustration.cues import AudioBaseline, Cue, audio_cues, phrase_cues
from voice.frustration.dialogues import Dialogue, Turn, score_dialogue, score_text
from voice.frustration.model import (
    ENV_VAR,
    HFClassifierScorer,
    MiniLMHeadScorer,
    ScorerLoadError,
    UtteranceScorer,
    load_scorer,
    scorer_from_env,
)
from voice.frustration.state import CallFrustration, CallSummary, Tuning, tuning_for

__all__ = [
    "ENV_VAR",
    "AudioBaseline",
    "CallFrustration",
    "CallSummary",
    "Cue",
    "Dialogue",
    "HFClassifierScorer",
    "MiniLMHeadScorer",
    "ScorerLoadError",
    "Turn",
    "Tuning",
    "tuning_for",
    "UtteranceScorer",
    "audio_cues",
    "load_scorer",
    "phrase_cues",
    "score_dialogue",
    "score_text",
    "scorer_from_env",
]
