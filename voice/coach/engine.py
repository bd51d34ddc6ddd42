"""The prompt engine: one call's utterances and frustration states in, prompt cards out.

It keeps what the coach knows about the call: the caller's name, the topic, which
stages of the playbook the receptionist has already covered (heard on the outbound
track) or been shown, and which cards were shown when.  A card fires when its
conditions hold, is never shown twice, and waits on cooldowns measured in call time
(``Utterance.t_end`` / ``FrustrationState.t``), so the same input always gives the
same cards.  No I/O, no wall clock, no Flask.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from voice import events
from voice.coach.playbook import Conditions, Playbook, PromptSpec
from voice.coach.topics import TopicMatcher, default_topic_matcher
from voice.events import LEVELS, Level
from voice.names import extract_caller_name

PlaybookSource = Playbook | Callable[[], Playbook]

_TITLES = {"mr": "Mr.", "mrs": "Mrs.", "ms": "Ms.", "miss": "Miss", "dr": "Dr."}


def _at_least(level: Level, floor: Level) -> bool:
    return LEVELS.index(level) >= LEVELS.index(floor)


class PromptEngine:
    """Turns one call's events into prompt cards, following the playbook."""

    def __init__(
        self,
        call_sid: str,
        playbook_source: PlaybookSource,
        topic_matcher: TopicMatcher | None = None,
    ) -> None:
        self.call_sid = call_sid
        self._source = playbook_source
        self._topics = topic_matcher or default_topic_matcher()
        self.caller_name: str | None = None
        self.topic: str | None = None
        self.shown: list[events.Prompt] = []
        self._covered: list[str] = []
        self._offered: set[str] = set()
        self._done: set[str] = set()
        self._dismissed: set[str] = set()
        self._topic_scores: dict[str, float] = {}
        self._level: Level = "calm"
        self._peak: Level = "calm"
        self._rising = False
        self._t = 0.0
        self._name_used = False
        self._unused_turns = 0
        self._last_stage_t: float | None = None

    @property
    def covered_stages(self) -> tuple[str, ...]:
        """Stages the receptionist has covered, in the order they were heard."""
        return tuple(self._covered)

    @property
    def level(self) -> Level:
        """The latest frustration level seen."""
        return self._level

    def playbook(self) -> Playbook:
        """The playbook in force now (a watcher's reload shows up here)."""
        source = self._source
        return source if isinstance(source, Playbook) else source()

    def on_utterance(self, u: events.Utterance) -> list[events.Prompt]:
        """Take in one utterance (partials are ignored) and return any new cards."""
        if u.call_sid != self.call_sid or not u.final or not u.text.strip():
            return []
        self._t = max(self._t, u.t_end)
        playbook = self.playbook()
        if u.speaker == "caller":
            self._hear_caller(u.text, playbook)
        else:
            self._hear_receptionist(u.text, playbook)
        return self._fire(playbook, u)

    def on_frustration(self, s: events.FrustrationState) -> list[events.Prompt]:
        """Take in the call's latest frustration state and return any new cards."""
        if s.call_sid != self.call_sid:
            return []
        self._t = max(self._t, s.t)
        self._level, self._rising = s.level, s.rising
        if LEVELS.index(s.level) > LEVELS.index(self._peak):
            self._peak = s.level
        return self._fire(self.playbook(), None)

    def acknowledge(self, prompt_id: str, action: str) -> None:
        """The receptionist ticked a card: ``done`` covers its stage, so the coach moves
        on; ``dismissed`` frees its place, so it no longer holds back the next card."""
        if action == "dismissed":
            self._dismissed.add(prompt_id)
            return
        if action != "done":
            return
        spec = next((p for p in self.playbook().prompts if p.id == prompt_id), None)
        if spec is not None and spec.stage:
            self._cover(spec.stage)

    # --- listening ------------------------------------------------------------------------

    def _hear_caller(self, text: str, playbook: Playbook) -> None:
        if self.caller_name is None:
            self.caller_name = extract_caller_name(text)
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

    def _hear_receptionist(self, text: str, playbook: Playbook) -> None:
        if self.caller_name and not self._name_used:
            if self._uses_name(text):
                self._name_used = True
            else:
                self._unused_turns += 1
        for stage in playbook.stages:
            said = any(p.search(text) for p in stage.covered_by)
            if said or (stage.covered_when_name_used and self._name_used):
                self._cover(stage.id)
        for spec in playbook.prompts:
            if any(p.search(text) for p in spec.done_when):
                self._done.add(spec.id)

    def _uses_name(self, text: str) -> bool:
        words = set(re.findall(r"[a-z'\-]+", text.lower()))
        parts = [w.lower().rstrip(".") for w in (self.caller_name or "").split()]
        return any(p in words for p in parts if p not in _TITLES)

    def _cover(self, stage_id: str) -> None:
        if stage_id not in self._covered:
            self._covered.append(stage_id)

    # --- deciding -------------------------------------------------------------------------

    def _fire(self, playbook: Playbook, trigger: events.Utterance | None) -> list[events.Prompt]:
        order = {spec.id: i for i, spec in enumerate(playbook.prompts)}
        ranked = sorted(
            (spec for spec in playbook.prompts if self._eligible(playbook, spec, trigger)),
            key=lambda s: (-s.priority, playbook.stage_order(s.stage), order[s.id]),
        )
        out: list[events.Prompt] = []
        for spec in ranked:
            if len(out) >= playbook.pacing.max_per_event or not self._paced(playbook, spec):
                continue
            out.append(self._show(playbook, spec))
        return out

    def _eligible(
        self, playbook: Playbook, spec: PromptSpec, trigger: events.Utterance | None
    ) -> bool:
        if spec.id in self._done or any(p.id == spec.id for p in self.shown):
            return False
        if spec.stage and not self._stage_open(playbook, spec):
            return False
        return self._conditions_hold(spec.when, trigger)

    def _stage_open(self, playbook: Playbook, spec: PromptSpec) -> bool:
        if spec.stage in self._covered or (spec.once_per_stage and spec.stage in self._offered):
            return False
        stage = next(s for s in playbook.stages if s.id == spec.stage)
        furthest = max((playbook.stage_order(s) for s in self._covered), default=-1)
        return not (stage.skippable and furthest > stage.order)

    def _conditions_hold(self, when: Conditions, trigger: events.Utterance | None) -> bool:
        checks = (
            when.level_at_least is None or _at_least(self._level, when.level_at_least),
            when.level_at_most is None or _at_least(when.level_at_most, self._level),
            when.peak_at_least is None or _at_least(self._peak, when.peak_at_least),
            when.rising is None or when.rising == self._rising,
            not when.topics or self.topic in when.topics,
            when.topic_known is None or when.topic_known == (self.topic is not None),
            when.name_known is None or when.name_known == (self.caller_name is not None),
            when.name_unused_turns is None or self._name_unused(when.name_unused_turns),
            all(s in self._covered for s in when.after),
            when.min_call_s is None or self._t >= when.min_call_s,
            self._words_match(when, trigger),
        )
        return all(checks)

    def _name_unused(self, turns: int) -> bool:
        return bool(self.caller_name) and not self._name_used and self._unused_turns >= turns

    @staticmethod
    def _words_match(when: Conditions, trigger: events.Utterance | None) -> bool:
        if when.speaker is None:
            return True
        if trigger is None or trigger.speaker != when.speaker:
            return False
        return not when.said or any(p.search(trigger.text) for p in when.said)

    def _paced(self, playbook: Playbook, spec: PromptSpec) -> bool:
        pacing, t = playbook.pacing, self._t
        if not spec.paced:
            return True
        standing = [p for p in self.shown if p.id not in self._dismissed]
        if standing and t - standing[-1].t < pacing.min_gap_s:
            return False
        recent = [p for p in standing if t - p.t < pacing.window_s]
        if len(recent) >= pacing.max_cards:
            return False
        last_stage = self._last_stage_t
        return not (spec.stage and last_stage is not None and t - last_stage < pacing.stage_gap_s)

    def _show(self, playbook: Playbook, spec: PromptSpec) -> events.Prompt:
        if spec.stage:
            self._offered.add(spec.stage)
            self._last_stage_t = self._t
        prompt = events.Prompt(
            call_sid=self.call_sid,
            id=spec.id,
            kind=spec.kind,
            text=spec.text.render(self._slots(playbook)),
            why=spec.why,
            t=self._t,
        )
        self.shown.append(prompt)
        return prompt

    def _slots(self, playbook: Playbook) -> dict[str, str]:
        name = self.caller_name or ""
        titled = name.split(" ")[0] in _TITLES.values()
        topic = playbook.topic(self.topic)
        return {
            "caller_name": name,
            "first_name": name if titled else name.split(" ")[0],
            "topic": topic.label if topic else "",
        }
