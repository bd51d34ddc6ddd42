"""The prompt engine: one call's utterances and frustration states in, prompt cards out.

It keeps what the coach knows about the call (``CallNotes``: the caller's name, the
topic, the stages the receptionist covered or was shown, the cards shown when) and
decides, on every event, whether one new card should take the top of the screen.

The playbook's stage order is the default path through a calm-enough call.  While
the caller is upset (``Urgency``) the urgent path comes first: empathize, the
topic's next step, confirm the details, each skipped once the receptionist has
covered it, and a caller who asks "what are you going to do?" gets the next step at
once; once the path is up, the other stages go on in their usual order.
Level-driven cards are decided on the frustration state that follows each caller
turn and on the receptionist's turns; a caller utterance alone only fires cards
that react to the caller's words.  Timing is call time (``Utterance.t_end`` /
``FrustrationState.t``), so the same input always gives the same cards.  No I/O,
no wall clock, no Flask.
"""

from __future__ import annotations

from collections.abc import Callable

from voice import events
from voice.coach.history import UnkeptPromise
from voice.coach.names import first_name
from voice.coach.notes import CallNotes
from voice.coach.playbook import Conditions, Playbook, PromptSpec
from voice.coach.topics import TopicMatcher, default_topic_matcher
from voice.events import LEVELS, Level

PlaybookSource = Playbook | Callable[[], Playbook]

def _at_least(level: Level, floor: Level) -> bool:
    return LEVELS.index(level) >= LEVELS.index(floor)


class PromptEngine:
    """Turns one call's events into prompt cards, following the playbook."""

    def __init__(
        self,
        call_sid: str,
        playbook_source: PlaybookSource,
        topic_matcher: TopicMatcher | None = None,
        unkept: UnkeptPromise | None = None,
    ) -> None:
        self.call_sid = call_sid
        self.unkept = unkept
        self._source = playbook_source
        self.notes = CallNotes(topic_matcher or default_topic_matcher())
        self.shown: list[events.Prompt] = []
        self._urgent_ids: set[str] = set()
        self._acted: set[str] = set()
        self._level: Level = "calm"
        self._peak: Level = "calm"
        self._rising = False
        self._t = 0.0

    # --- what the coach knows -------------------------------------------------------------

    @property
    def caller_name(self) -> str | None:
        """The name the caller gave, if any."""
        return self.notes.caller_name

    @property
    def topic(self) -> str | None:
        """The playbook topic id the call is about, if known."""
        return self.notes.topic

    @property
    def topic_phrase(self) -> str:
        """What records and follow-ups say the call was about ("a billing question")."""
        return self.playbook().topic_phrase(self.notes.topic)

    @property
    def covered_stages(self) -> tuple[str, ...]:
        """Stages the receptionist has covered, in the order they were heard."""
        return tuple(self.notes.covered)

    @property
    def level(self) -> Level:
        """The latest frustration level seen."""
        return self._level

    @property
    def top(self) -> events.Prompt | None:
        """The card at the top of the screen now (the newest one), if any."""
        return self.shown[-1] if self.shown else None

    def playbook(self) -> Playbook:
        """The playbook in force now (a watcher's reload shows up here)."""
        source = self._source
        return source if isinstance(source, Playbook) else source()

    def urgent(self) -> bool:
        """Whether the caller needs an answer now (upset, rising, or asked what next)."""
        urgency = self.playbook().urgency
        rising_floor = urgency.rising_at_least
        return (
            _at_least(self._level, urgency.level_at_least)
            or (self._rising and rising_floor is not None and _at_least(self._level, rising_floor))
            or self.notes.asked_next_step
        )

    # --- events in --------------------------------------------------------------------------

    def on_start(self) -> list[events.Prompt]:
        """The call began: the card owning an unkept promise, if there is one to own."""
        if self.unkept is None:
            return []
        playbook = self.playbook()
        for spec in playbook.prompts:
            if spec.when.promise_unkept and self._eligible(playbook, spec, None, ()):
                return [self._show(playbook, spec, urgent_card=False)]
        return []

    def on_utterance(self, u: events.Utterance) -> list[events.Prompt]:
        """Take in one utterance (partials are ignored) and return any new card."""
        if u.call_sid != self.call_sid or not u.final or not u.text.strip():
            return []
        self._t = max(self._t, u.t_end)
        playbook = self.playbook()
        if u.speaker == "caller":
            self.notes.hear_caller(u.text, playbook)
        else:
            self.notes.hear_receptionist(u.text, playbook)
        return self._fire(playbook, u)

    def on_frustration(self, s: events.FrustrationState) -> list[events.Prompt]:
        """Take in the call's latest frustration state and return any new card."""
        if s.call_sid != self.call_sid:
            return []
        self._t = max(self._t, s.t)
        self._level, self._rising = s.level, s.rising
        if LEVELS.index(s.level) > LEVELS.index(self._peak):
            self._peak = s.level
        return self._fire(self.playbook(), None)

    def acknowledge(self, prompt_id: str, action: str) -> None:
        """The receptionist ticked a card: either way the top of the screen is free;
        ``done`` also covers its stage, so the coach moves on."""
        if action not in ("done", "dismissed"):
            return
        self._acted.add(prompt_id)
        spec = self.playbook().prompt(prompt_id)
        if action == "done" and spec is not None and spec.stage:
            self.notes.cover(spec.stage, self.playbook().urgency.next_step)

    # --- deciding ---------------------------------------------------------------------------

    def _fire(self, playbook: Playbook, trigger: events.Utterance | None) -> list[events.Prompt]:
        urgent = self.urgent()
        path = self._path(playbook) if urgent else ()
        order = {spec.id: i for i, spec in enumerate(playbook.prompts)}
        eligible = [s for s in playbook.prompts if self._eligible(playbook, s, trigger, path)]
        if trigger is not None and trigger.speaker == "caller":
            eligible = [s for s in eligible if s.when.speaker == "caller"]

        def rank(spec: PromptSpec) -> tuple[int, int, int, int, int]:
            group = (-1 if spec.when.promise_unkept else 0 if spec.when.speaker
                     else 1 if spec.stage in path else 2)
            place = path.index(spec.stage) if spec.stage in path else len(path)
            stage = playbook.stage_order(spec.stage)
            return (group, -spec.priority, place, stage, order[spec.id])

        for spec in sorted(eligible, key=rank):
            if self._paced(playbook, spec, urgent_card=spec.stage in path):
                return [self._show(playbook, spec, urgent_card=spec.stage in path)]
        return []

    def _path(self, playbook: Playbook) -> tuple[str, ...]:
        """The urgent path now: uncovered stages only, the next step first if asked for."""
        urgency = playbook.urgency
        path = [s for s in urgency.path if s not in self.notes.covered]
        if self.notes.asked_next_step and urgency.next_step not in self.notes.covered:
            path = [urgency.next_step] + [s for s in path if s != urgency.next_step]
        return tuple(path)

    def _eligible(
        self,
        playbook: Playbook,
        spec: PromptSpec,
        trigger: events.Utterance | None,
        path: tuple[str, ...],
    ) -> bool:
        if spec.id in self.notes.done or any(p.id == spec.id for p in self.shown):
            return False
        if spec.stage:
            open_ = (self._path_open(playbook, spec, path) if path
                     else self._stage_open(playbook, spec))
            if not open_:
                return False
        return self._conditions_hold(spec.when, trigger)

    def _path_open(self, playbook: Playbook, spec: PromptSpec, path: tuple[str, ...]) -> bool:
        """While urgent: a path stage is open once every path stage before it is offered;
        the other stages wait until the whole path was offered, then go on in order."""
        if spec.stage not in path:
            done = all(s in self.notes.offered for s in path)
            return done and self._stage_open(playbook, spec)
        if spec.once_per_stage and spec.stage in self.notes.offered:
            return False
        before = path[: path.index(spec.stage)]
        return all(s in self.notes.offered for s in before)

    def _stage_open(self, playbook: Playbook, spec: PromptSpec) -> bool:
        covered, offered = self.notes.covered, self.notes.offered
        if spec.stage in covered or (spec.once_per_stage and spec.stage in offered):
            return False
        stage = playbook.stage(spec.stage or "")
        furthest = max((playbook.stage_order(s) for s in covered), default=-1)
        return stage is not None and not (stage.skippable and furthest > stage.order)

    def _conditions_hold(self, when: Conditions, trigger: events.Utterance | None) -> bool:
        notes = self.notes
        checks = (
            when.level_at_least is None or _at_least(self._level, when.level_at_least),
            when.level_at_most is None or _at_least(when.level_at_most, self._level),
            when.peak_at_least is None or _at_least(self._peak, when.peak_at_least),
            when.rising is None or when.rising == self._rising,
            not when.topics or notes.topic in when.topics,
            when.topic_known is None or when.topic_known == (notes.topic is not None),
            when.name_known is None or when.name_known == (notes.caller_name is not None),
            when.name_unused_turns is None or notes.name_unused(when.name_unused_turns),
            all(s in notes.covered for s in when.after),
            when.min_call_s is None or self._t >= when.min_call_s,
            when.promise_unkept is None or when.promise_unkept == (self.unkept is not None),
            self._words_match(when, trigger),
        )
        return all(checks)

    @staticmethod
    def _words_match(when: Conditions, trigger: events.Utterance | None) -> bool:
        if when.speaker is None:
            return True
        if trigger is None or trigger.speaker != when.speaker:
            return False
        return not when.said or any(p.search(trigger.text) for p in when.said)

    def _paced(self, playbook: Playbook, spec: PromptSpec, urgent_card: bool) -> bool:
        """Whether ``spec`` may take the top now (see ``Pacing``)."""
        if not spec.paced:
            return True
        pacing, t, top = playbook.pacing, self._t, self.top
        if top is not None and top.id not in self._acted:
            since = t - top.t
            if urgent_card and top.id in self._urgent_ids and since < pacing.urgent_gap_s:
                return False
            if not urgent_card and since < pacing.gap_s:
                return False
        if urgent_card:
            return True
        recent = [p for p in self.shown if t - p.t < pacing.window_s]
        return len(recent) < pacing.max_cards

    def _show(self, playbook: Playbook, spec: PromptSpec, urgent_card: bool) -> events.Prompt:
        if spec.stage:
            self.notes.offer(spec.stage, playbook.urgency.next_step)
        prompt = events.Prompt(
            call_sid=self.call_sid,
            id=spec.id,
            kind=spec.kind,
            text=spec.text.render(self._slots(playbook)),
            why=spec.why,
            t=self._t,
        )
        self.shown.append(prompt)
        if urgent_card:
            self._urgent_ids.add(prompt.id)
        return prompt

    def _slots(self, playbook: Playbook) -> dict[str, str]:
        name = self.notes.caller_name or ""
        topic = playbook.topic(self.notes.topic)
        unkept = self.unkept
        return {
            "caller_name": name,
            "first_name": first_name(name) if name else "",
            "topic": topic.label if topic else "",
            "promise": unkept.promise if unkept else "",
            "promised_when": unkept.promised_when if unkept else "",
        }
