"""The coach stage: the playbook (``prompts/*.yaml``) and the prompt engine.

Frustration states and utterances of one call go into a ``PromptEngine``; prompt
cards (``events.Prompt``) come out.  The playbook is loaded and validated by
``load_playbook`` and kept fresh by ``PlaybookWatcher``.  No Flask, no I/O besides
reading the playbook files.
"""

from voice.coach.engine import PromptEngine, extract_caller_name
from voice.coach.playbook import (
    Conditions,
    Pacing,
    Playbook,
    PlaybookError,
    PlaybookWatcher,
    PromptSpec,
    Stage,
    Topic,
    load_playbook,
)
from voice.coach.topics import TopicMatch, TopicMatcher, default_topic_matcher

__all__ = [
    "Conditions",
    "Pacing",
    "Playbook",
    "PlaybookError",
    "PlaybookWatcher",
    "PromptEngine",
    "PromptSpec",
    "Stage",
    "Topic",
    "TopicMatch",
    "TopicMatcher",
    "default_topic_matcher",
    "extract_caller_name",
    "load_playbook",
]
