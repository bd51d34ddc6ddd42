"""The coaching playbook: what it holds.

The playbook lives in ``prompts/*.yaml``.  Each file is a mapping with any of the
sections ``stages`` (the steps of handling an upset caller, in order), ``topics``
(what the call is about: keywords, example sentences and the phrases cards and
records use), ``prompts`` (the cards), ``pacing`` (how fast cards may replace each
other) and ``urgency`` (what the coach does first while the caller is upset); the
last two at most once across all files.  This module owns the frozen dataclasses
for those; ``voice.coach.reader`` loads and validates them, ``voice.coach.watcher``
keeps them fresh.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from voice.coach.slots import Template
from voice.coach.yamlnodes import YamlProblem
from voice.events import CARD_KINDS, CardKind, Level, Speaker


class PlaybookError(YamlProblem):
    """A playbook file is broken: names the file, the line and what is wrong."""


@dataclass(frozen=True)
class Source:
    """Where something was defined (for error messages and the manager's view)."""

    file: str
    line: int


@dataclass(frozen=True)
class Stage:
    """One step of handling an upset caller; ``covered_by`` spots it in the desk's words.

    A ``skippable`` stage counts as passed once the receptionist covers a later one.
    """

    id: str
    title: str
    order: int
    covered_by: tuple[re.Pattern[str], ...] = ()
    covered_when_name_used: bool = False
    skippable: bool = False
    source: Source = Source("", 0)


@dataclass(frozen=True)
class Topic:
    """What a call is about: keyword patterns and example sentences for similarity.

    ``label`` fills a card's ``{topic}`` slot, spoken to the caller ("your
    insurance"); ``phrase`` is what records and follow-ups say the call was about
    ("an insurance problem": "Call Maria back about an insurance problem").
    """

    id: str
    label: str
    phrase: str
    keywords: tuple[re.Pattern[str], ...]
    examples: tuple[str, ...]
    source: Source = Source("", 0)


@dataclass(frozen=True)
class Conditions:
    """When a prompt may fire; every condition that is set must hold."""

    level_at_least: Level | None = None
    level_at_most: Level | None = None
    peak_at_least: Level | None = None
    rising: bool | None = None
    topics: tuple[str, ...] = ()
    topic_known: bool | None = None
    name_known: bool | None = None
    name_unused_turns: int | None = None
    speaker: Speaker | None = None
    said: tuple[re.Pattern[str], ...] = ()
    after: tuple[str, ...] = ()
    min_call_s: float | None = None
    promise_unkept: bool | None = None  # a repeat caller's earlier promise is overdue


@dataclass(frozen=True)
class PromptSpec:
    """One prompt card of the playbook (the engine turns it into ``events.Prompt``).

    ``paced: false`` lets a card skip the pacing (for reactions to the receptionist's
    own words, which only help at once); it still counts for the others.
    """

    id: str
    kind: CardKind
    text: Template
    why: str
    when: Conditions
    stage: str | None = None
    priority: int = 0
    done_when: tuple[re.Pattern[str], ...] = ()
    once_per_stage: bool = True
    paced: bool = True
    source: Source = Source("", 0)


@dataclass(frozen=True)
class Pacing:
    """How fast a new card may take the top of the screen, in seconds of call time.

    An ordinary card waits ``gap_s`` after the top card and, with the cards shown in
    the last ``window_s``, stays within ``max_cards``.  A card that answers an upset
    caller (see ``Urgency``) replaces an ordinary top card at once, waits only
    ``urgent_gap_s`` after another urgent card, and is never held back by the window:
    the cap keeps the screen readable, it never starves the call.  A card ticked Done
    or Dismiss leaves the top free at once.
    """

    gap_s: float = 12.0
    urgent_gap_s: float = 3.0
    max_cards: int = 4
    window_s: float = 60.0


@dataclass(frozen=True)
class Urgency:
    """What the coach does while the caller is upset.

    The caller is upset when the level reaches ``level_at_least``, or ``rising`` fires
    at ``rising_at_least`` or above.  Then the stages of ``path`` come first, in that
    order (stages the receptionist already covered are skipped, stages outside the
    path wait until the caller settles).  A caller whose words match ``asks_next_step``
    ("what are you going to do?") gets the ``next_step`` stage at once.
    """

    level_at_least: Level = "upset"
    rising_at_least: Level | None = "tense"
    path: tuple[str, ...] = ("empathize", "next_step", "confirm_details")
    asks_next_step: tuple[re.Pattern[str], ...] = ()
    next_step: str = "next_step"


@dataclass(frozen=True)
class Playbook:
    """The whole validated playbook: stages in order, topics, prompts, pacing, urgency."""

    stages: tuple[Stage, ...]
    topics: tuple[Topic, ...]
    prompts: tuple[PromptSpec, ...]
    pacing: Pacing = field(default_factory=Pacing)
    urgency: Urgency = field(default_factory=Urgency)
    files: tuple[str, ...] = ()
    kind_titles: dict[CardKind, str] = field(default_factory=dict)

    def kind_title(self, kind: CardKind) -> str:
        """The title a card of this kind carries on the console (``kinds`` in the YAML)."""
        return self.kind_titles.get(kind) or kind.replace("_", " ").capitalize()

    def stage_order(self, stage_id: str | None) -> int:
        """Position of a stage (stage-less prompts sort after all stages)."""
        for stage in self.stages:
            if stage.id == stage_id:
                return stage.order
        return len(self.stages)

    def stage(self, stage_id: str) -> Stage | None:
        """The stage with this id, if any."""
        return next((s for s in self.stages if s.id == stage_id), None)

    def topic(self, topic_id: str | None) -> Topic | None:
        """The topic with this id, if any."""
        return next((t for t in self.topics if t.id == topic_id), None)

    def prompt(self, prompt_id: str) -> PromptSpec | None:
        """The prompt card with this id, if any."""
        return next((p for p in self.prompts if p.id == prompt_id), None)

    def topic_phrase(self, topic_id: str | None, default: str = "their call") -> str:
        """What records and follow-ups say a call was about ("an insurance problem")."""
        topic = self.topic(topic_id)
        return topic.phrase if topic else default


def card_titles(playbook: Playbook | None) -> dict[CardKind, str]:
    """Each card kind's title for the pages (a default for every kind without a playbook)."""
    book = playbook or Playbook(stages=(), topics=(), prompts=())
    return {kind: book.kind_title(kind) for kind in CARD_KINDS}
