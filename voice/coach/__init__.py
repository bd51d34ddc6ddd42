"""The coach stage: the playbook (``prompts/*.yaml``) and the prompt engine.

Frustration states and utterances of one call go into a ``PromptEngine``; prompt
cards (``events.Prompt``) come out.  The playbook is loaded and validated by
``load_playbook`` (``reader``) and kept fresh by ``PlaybookWatcher`` (``watcher``).
No Flask, no I/O besides reading the playbook files.
"""

from voice.coach.engine import PromptEngine
from voice.coach.history import UnkeptPromise, unkept_promise
from voice.coach.names import extract_caller_name
from voice.coach.playbook import (
    Conditions,
    Pacing,
    Playbook,
    PlaybookError,
    PromptSpec,
    Stage,
    Topic,
    Urgency,
)
from voice.coach.reader import load_playbook
from voice.coach.topics import TopicMatch, TopicMatcher, default_topic_matcher
from voice.coach.watcher import PlaybookWatcher

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
    "UnkeptPromise",
    "Urgency",
    "default_topic_matcher",
    "extract_caller_name",
    "load_playbook",
    "unkept_promise",
]
