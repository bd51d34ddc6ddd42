"""Start-up loading of the models and the playbook, each allowed to be missing.

Each loader returns a ``Loaded``: the thing (or None) and a one-line status that
says what was loaded, or why not and how to fix it, so ``/healthz`` and the
start-up log can say so plainly.  Loaders never touch the ``Services``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from voice.config import Config

if TYPE_CHECKING:
    from voice.coach import Playbook, PlaybookWatcher
    from voice.frustration import UtteranceScorer
    from voice.transcribe import SpeechEngine

log = logging.getLogger("voice")

T = TypeVar("T")


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """A part loaded at start-up (None when absent) and what to say about it."""

    value: T | None
    status: str


def load_speech(config: Config) -> Loaded[SpeechEngine]:
    """Load the Vosk model named by VOSK_MODEL_PATH or found under models/."""
    if not config.load_speech_model:
        return Loaded(None, "disabled (VOICE_LOAD_SPEECH_MODEL=0)")
    from voice.speech_models import describe_missing_model, resolve_speech_model
    from voice.transcribe import load_speech_engine

    path = resolve_speech_model(config.vosk_model_path, config.models_dir)
    if path is None:
        log.warning("%s", describe_missing_model())
        return Loaded(None, "missing: " + describe_missing_model())
    try:
        engine = load_speech_engine(path)
    except Exception as exc:
        log.error("speech model at %s failed to load: %s", path, exc)
        return Loaded(None, f"failed to load {path}: {exc}")
    engine.graph_reset_after_s = config.asr_graph_reset_s
    log.info("speech model loaded from %s", path)
    return Loaded(engine, f"loaded {path}")


def load_sentiment(config: Config) -> Loaded[UtteranceScorer]:
    """Load the frustration scorer (the offline default or VOICE_SENTIMENT_MODEL)."""
    if not config.load_sentiment_model:
        return Loaded(None, "disabled (VOICE_LOAD_SENTIMENT_MODEL=0)")
    from voice.frustration import load_scorer, tuning_for

    try:
        scorer = load_scorer(config.sentiment_model)
        tuning_for(scorer)  # a model card's state tuning is checked here, not mid-call
    except Exception as exc:
        log.error("sentiment model failed to load, frustration detection is off: %s", exc)
        return Loaded(None, f"failed: {exc}")
    log.info("sentiment model loaded: %s", scorer.name)
    return Loaded(scorer, f"loaded {scorer.name}")


def load_playbook(config: Config) -> Loaded[PlaybookWatcher]:
    """Load the prompt playbook from the prompts folder, watching it for edits."""
    from voice.coach import PlaybookWatcher

    try:
        watcher = PlaybookWatcher(config.prompts_dir)
        playbook = watcher.current()
    except Exception as exc:
        log.error("playbook failed to load, no prompts will be shown: %s", exc)
        return Loaded(None, f"failed: {exc}")
    if config.load_sentiment_model:
        _warm_topic_matcher(playbook)
    return Loaded(watcher, f"loaded {len(playbook.prompts)} prompts from {config.prompts_dir}")


def _warm_topic_matcher(playbook: Playbook) -> None:
    """Load the encoder behind topic matching now, not inside the first call's thread."""
    from voice.coach.topics import default_topic_matcher

    try:
        default_topic_matcher().match("warming up the topic matcher", playbook.topics)
    except Exception as exc:  # the matcher falls back to keywords on its own
        log.warning("topic matcher could not load its encoder: %s", exc)
