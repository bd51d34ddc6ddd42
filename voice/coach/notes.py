"""What the coach has heard on one call: ``CallNotes``.

The caller's name and topic (from the caller's words), the stages the receptionist
has covered (heard on the outbound track, or a card ticked Done), the stages a card
was shown for, the cards whose step the receptionist already did (``done_when``),
whether the receptionist has used the caller's name, and whether the caller asked
what happens next.  Pure state; the engine decides what to show from it.
"""

from __future__ import annotations

from voice.coach.names import extract_caller_name, uses_name
from voice.coach.playbook import Playbook
from voice.coach.topics import TopicMatcher


class CallNotes:
    """The coach's running notes on one call."""

    def __init__(self, topic_matcher: TopicMatcher) -> None:
        self._topics = topic_matcher
        self.caller_name: str | None = None
        self.topic: str | None = None
        self.covered: list[str] = []
        self.offered: set[str] = set()
        self.done: set[str] = set()
        self.asked_next_step = False
        self._topic_scores: dict[str, float] = {}
        self._name_used = False
        self._unused_turns = 0

    def hear_caller(self, text: str, playbook: Playbook) -> None:
        """Take in a caller utterance: name, topic, and "what are you going to do?"."""
        if self.caller_name is None:
            self.caller_name = extract_caller_name(text)
        urgency = playbook.urgency
        if urgency.next_step not in self.covered and any(
            p.search(text) for p in urgency.asks_next_step
        ):
            self.asked_next_step = True
        found = self._topics.match(text, playbook.topics)
        if found is None:
            return
        self._topic_scores[found.topic_id] = (
            self._topic_scores.get(found.topic_id, 0.0) + found.score
        )
        order = [t.id for t in playbook.topics]
        ranked = sorted(
            self._topic_scores.items(),
            key=lambda kv: (-kv[1], order.index(kv[0]) if kv[0] in order else len(order)),
        )
        self.topic = ranked[0][0]

    def hear_receptionist(self, text: str, playbook: Playbook) -> None:
        """Take in a receptionist utterance: the stages and card steps it covers."""
        if self.caller_name and not self._name_used:
            if uses_name(text, self.caller_name):
                self._name_used = True
            else:
                self._unused_turns += 1
        for stage in playbook.stages:
            said = any(p.search(text) for p in stage.covered_by)
            if said or (stage.covered_when_name_used and self._name_used):
                self.cover(stage.id, playbook.urgency.next_step)
        for spec in playbook.prompts:
            if any(p.search(text) for p in spec.done_when):
                self.done.add(spec.id)
                if spec.stage:
                    self.cover(spec.stage, playbook.urgency.next_step)

    def name_unused(self, turns: int) -> bool:
        """The caller gave a name the receptionist has not said in ``turns`` turns."""
        return bool(self.caller_name) and not self._name_used and self._unused_turns >= turns

    def cover(self, stage_id: str, next_step: str = "next_step") -> None:
        """The receptionist has done this stage (said it, or ticked its card Done)."""
        if stage_id not in self.covered:
            self.covered.append(stage_id)
        if stage_id == next_step:
            self.asked_next_step = False

    def offer(self, stage_id: str, next_step: str = "next_step") -> None:
        """A card for this stage went up."""
        self.offered.add(stage_id)
        if stage_id == next_step:
            self.asked_next_step = False

