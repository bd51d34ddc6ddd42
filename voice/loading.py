"""Start-up loading of the models and the playbook, each allowed to be missing.

Each loader records what it loaded (or why not, and how to fix it) on the
``Services`` so ``/healthz`` and the start-up log can say so plainly.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voice.session import Services

log = logging.getLogger("voice")


def load_speech(services: Services) -> None:
    """Load the Vosk model named by VOSK_MODEL_PATH or found under models/."""
    config = services.config
    if not config.load_speech_model:
        services.speech_status = "disabled (VOICE_LOAD_SPEECH_MODEL=0)"
        return
    from voice.speech_models import describe_missing_model, resolve_speech_model
    from voice.transcribe import load_speech_engine

    path = resolve_speech_model(config.vosk_model_path, config.models_dir)
    if path is None:
        services.speech_status = "missing: " + describe_missing_model()
        log.warning("%s", describe_missing_model())
        return
    try:
        services.speech = load_speech_engine(path)
    except Exception as exc:
        services.speech_status = f"failed to load {path}: {exc}"
        log.error("speech model at %s failed to load: %s", path, exc)
        return
    services.speech_status = f"loaded {path}"
    log.info("speech model loaded from %s", path)


def load_sentiment(services: Services) -> None:
    """Load the frustration scorer (the offline default or VOICE_SENTIMENT_MODEL)."""
    config = services.config
    if not config.load_sentiment_model:
        services.scorer_status = "disabled (VOICE_LOAD_SENTIMENT_MODEL=0)"
        return
    from voice.frustration import load_scorer

    try:
        services.scorer = load_scorer(config.sentiment_model)
    except Exception as exc:
        services.scorer_status = f"failed: {exc}"
        log.error("sentiment model failed to load, frustration detection is off: %s", exc)
        return
    services.scorer_status = f"loaded {services.scorer.name}"
    log.info("sentiment model loaded: %s", services.scorer.name)


def load_playbook(services: Services) -> None:
    """Load the prompt playbook from the prompts folder, watching it for edits."""
    from voice.coach import PlaybookWatcher

    try:
        services.playbook = PlaybookWatcher(services.config.prompts_dir)
        playbook = services.playbook.current()
    except Exception as exc:
        services.playbook = None
        services.playbook_status = f"failed: {exc}"
        log.error("playbook failed to load, no prompts will be shown: %s", exc)
        return
    if services.config.load_sentiment_model:
        _warm_topic_matcher(playbook)
    folder = services.config.prompts_dir
    services.playbook_status = f"loaded {len(playbook.prompts)} prompts from {folder}"


def _warm_topic_matcher(playbook: object) -> None:
    """Load the encoder behind topic matching now, not inside the first call's thread."""
    from voice.coach.topics import default_topic_matcher

    try:
        default_topic_matcher().match("warming up the topic matcher", playbook.topics)
    except Exception as exc:  # the matcher falls back to keywords on its own
        log.warning("topic matcher could not load its encoder: %s", exc)
