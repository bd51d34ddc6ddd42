from collections.abc import Sequence

from voice.events import LEVELS, AudioFeatures, Utterance
from voice.frustration.state import CallFrustration


class TableScorer:
    """Fake scorer: a fixed score per text, 0.05 for anything unknown."""

    name = "table"

    def __init__(self, table: dict[str, float] | None = None) -> None:
        self.table = table or {}
        self.calls = 0

    def score(self, texts: Sequence[str]) -> list[float]:
        self.calls += 1
        return [self.table.get(t, 0.05) for t in texts]


def _caller(text, t, final=True, rms=None):
    audio = AudioFeatures(rms_dbfs=rms) if rms is not None else None
    return Utterance("CA1", "caller", text, t, t + 2.0, final, audio=audio)


def _run(texts_scores, **kw):
    call = CallFrustration("CA1", TableScorer(dict(texts_scores)), **kw)
    states = [call.observe(_caller(text, 3.0 * i)) for i, (text, _) in enumerate(texts_scores)]
    return call, states


def test_receptionist_speech_updates_context_but_emits_nothing():
    call = CallFrustration("CA1", TableScorer())
    out = call.observe(Utterance("CA1", "receptionist", "How can I help?", 0, 1, True))
    assert out is None and call.timeline == []


def test_calm_call_stays_calm_and_is_not_flagged():
    call, states = _run([(f"calm line {i}", 0.05) for i in range(6)])
    assert {s.level for s in states} == {"calm"}
    assert not any(s.rising for s in states)
    summary = call.summary()
    assert summary.flagged is False and summary.peak_level == "calm"


def test_climbing_scores_turn_rising_on_and_raise_the_level():
    seq = [("a", 0.1), ("b", 0.35), ("c", 0.6), ("d", 0.85), ("e", 0.95)]
    call, states = _run(seq)
    assert states[0].rising is False
    assert any(s.rising for s in states[1:4])
    assert [s.level for s in states][-1] in ("upset", "escalating")
    assert states[-1].score > states[0].score
    assert states[-1].trend > 0


def test_one_calm_sentence_does_not_drop_the_level_straight_back():
    seq = [("a", 0.9), ("b", 0.95), ("c", 0.95), ("calm", 0.05)]
    call, states = _run(seq)
    before = states[2].level
    assert before in ("upset", "escalating")
    assert states[3].level != "calm"
    assert states[3].level in ("tense", "upset", before)


def test_level_does_not_flicker_around_a_threshold():
    seq = [(f"x{i}", s) for i, s in enumerate([0.55, 0.75, 0.6, 0.75, 0.6, 0.75, 0.6])]
    call, states = _run(seq)
    levels = [s.level for s in states]
    changes = [(a, b) for a, b in zip(levels, levels[1:], strict=False) if a != b]
    assert levels[-1] == "upset"
    assert len(changes) <= 2
    assert all(LEVELS.index(b) > LEVELS.index(a) for a, b in changes)  # never back down


def test_level_comes_back_to_calm_after_sustained_calm():
    seq = [("a", 0.95), ("b", 0.95)] + [(f"calm{i}", 0.02) for i in range(8)]
    call, states = _run(seq)
    assert states[-1].level == "calm"
    drops = [i for i in range(1, len(states)) if states[i].level != states[i - 1].level]
    assert len(drops) >= 2  # stepped down, not dropped at once


def test_asking_for_a_manager_escalates_and_flags_with_the_quote():
    seq = [("a", 0.5), ("b", 0.8), ("I want to speak to your manager now", 0.8)]
    call, states = _run(seq)
    assert states[-1].level == "escalating"
    summary = call.summary()
    assert summary.flagged
    assert any("manager" in r for r in summary.flag_reasons)


def test_state_reasons_carry_evidence():
    call, states = _run([("This is the third time I've called", 0.91)])
    reasons = states[0].reasons
    assert "negative wording 0.91" in reasons
    assert any("third time" in r for r in reasons)


def test_louder_caller_raises_the_score_and_silence_does_not():
    def run(last_rms):
        call = CallFrustration("CA1", TableScorer())
        for i in range(3):
            call.observe(_caller(f"ok {i}", 3.0 * i, rms=-30.0))
        return call.observe(_caller("fine then", 10.0, rms=last_rms))

    loud, silent, same = run(-20.0), run(-80.0), run(-30.0)
    assert loud.score > same.score
    assert silent.score == same.score
    assert any("louder than earlier" in r for r in loud.reasons)


def test_partials_are_throttled_and_only_reported_when_they_raise_the_level():
    scorer = TableScorer({"this is absolutely ridiculous I have": 0.97})
    call = CallFrustration("CA1", scorer)
    assert call.observe(_caller("hi I", 0.0, final=False)) is None  # too short
    assert call.observe(_caller("hi I am calling about", 0.5, final=False)) is None  # calm
    assert call.observe(_caller("hi I am calling about my", 0.8, final=False)) is None  # throttle
    state = call.observe(_caller("this is absolutely ridiculous I have", 3.0, final=False))
    assert state is not None and state.level != "calm"
    assert call.timeline[-1] is state


def test_same_input_gives_the_same_timeline():
    seq = [("a", 0.2), ("b", 0.7), ("c", 0.4), ("d", 0.9)]
    assert _run(seq)[0].timeline == _run(seq)[0].timeline


def test_long_tense_stretch_is_flagged_even_without_upset():
    seq = [(f"t{i}", 0.62) for i in range(5)]
    call, states = _run(seq)
    summary = call.summary()
    assert summary.peak_level in ("tense", "upset")
    assert summary.flagged


# -- scripted calls (issue 12): the state with the shipped tuning -------------------------


def _script(lines):
    """Run (speaker, text, score) lines through a call; the states of the caller lines."""
    scores = {text: score for _, text, score in lines if score is not None}
    call = CallFrustration("CA1", TableScorer(scores))
    out = []
    for i, (speaker, text, _) in enumerate(lines):
        utt = Utterance("CA1", speaker, text, 3.0 * i, 3.0 * i + 2.5, True)
        state = call.observe(utt)
        if speaker == "caller":
            out.append(state)
    return call, out


CURT = [
    ("receptionist", "Riverside Family Practice, how can I help you today?", None),
    ("caller", "Refill.", 0.3),
    ("receptionist", "Sure, which medication?", None),
    ("caller", "Metformin.", 0.25),
    ("receptionist", "And your date of birth?", None),
    ("caller", "Six two eighty.", 0.3),
    ("receptionist", "Same pharmacy as last time?", None),
    ("caller", "Yes. Same one.", 0.3),
    ("receptionist", "It'll be ready tomorrow.", None),
    ("caller", "Fine. Bye.", 0.35),
]


def test_curt_but_calm_caller_stays_calm_and_is_never_rising():
    call, states = _script(CURT)
    assert [s.level for s in states] == ["calm"] * len(states)
    assert not any(s.rising for s in states)
    assert call.summary().flagged is False


ESCALATING = [
    ("receptionist", "Riverside Family Practice, this is Maria.", None),
    ("caller", "Hi, I'm calling to check on a refill for my insulin.", 0.05),
    ("receptionist", "Let me look. I see the request came in on Monday.", None),
    ("caller", "Right, and the pharmacy still hasn't heard from you.", 0.15),
    ("receptionist", "The doctor has to sign it, she's been out this week.", None),
    ("caller", "So I'm supposed to just go without insulin? I called Monday and Wednesday.", 0.8),
    ("receptionist", "I can send her an urgent message now.", None),
    ("caller", "That's what they said Wednesday. I need it today, not another message.", 0.85),
]


def test_escalating_caller_is_flagged_on_the_first_frustrated_turn_or_the_next():
    _, states = _script(ESCALATING)
    assert all(s.level == "calm" for s in states[:2])
    first, following = states[2], states[3]
    alarm = [s.rising or s.level in ("upset", "escalating") for s in (first, following)]
    assert any(alarm)
    assert first.rising  # the jump itself is marked rising, on that very turn
    assert following.level in ("upset", "escalating")


CALMED = [
    ("caller", "I've been charged twice for the same visit and I'm really fed up.", 0.9),
    ("receptionist", "I'm sorry. I can see both charges, I'm reversing one now.", None),
    ("caller", "You better, this is the second time this has happened to me.", 0.9),
    ("receptionist", "It's reversed; you'll see it back in three days.", None),
    ("caller", "Oh. Okay, thank you.", 0.05),
    ("receptionist", "Anything else?", None),
    ("caller", "No, that's all, thanks.", 0.05),
    ("receptionist", "Have a good day.", None),
    ("caller", "You too.", 0.03),
    ("receptionist", "Bye now.", None),
    ("caller", "Bye.", 0.03),
    ("receptionist", "Take care.", None),
    ("caller", "Thanks again.", 0.03),
]


def test_calmed_caller_comes_down_step_by_step_not_at_once():
    _, states = _script(CALMED)
    levels = [s.level for s in states]
    peak = max(LEVELS.index(lv) for lv in levels[:2])
    assert peak >= LEVELS.index("upset")
    assert LEVELS.index(levels[2]) >= peak - 1  # one calm sentence is not the end of it
    assert levels[-1] == "calm"
    steps = [LEVELS.index(a) - LEVELS.index(b) for a, b in zip(levels, levels[1:], strict=False)]
    assert max(steps) <= 1  # never more than one level down per caller turn
    assert not any(s.rising for s in states[2:])


# -- rising against the caller's own per-call baseline (issue 12) -----------------------


def test_long_calm_chat_with_a_moderately_negative_line_is_never_rising():
    scores = [0.2, 0.35, 0.3, 0.45, 0.25, 0.4, 0.3, 0.55, 0.2, 0.35, 0.3, 0.45] * 2
    _, states = _run([(f"chat {i}", s) for i, s in enumerate(scores)])
    assert not any(s.rising for s in states)


def test_caller_negative_from_the_start_is_not_rising_at_their_own_level():
    # upset about their knee all along: once the baseline has two of their own turns
    # (it starts from two pseudo-turns at the prior), a similar line is no rise
    scores = [0.65, 0.7, 0.62, 0.68, 0.72, 0.66]
    call, states = _run([(f"knee {i}", s) for i, s in enumerate(scores)])
    assert not any(s.rising for s in states[2:])
    assert call.caller_baseline() > 0.5


def test_jump_far_above_the_callers_baseline_is_rising_on_that_turn():
    scores = [0.1, 0.2, 0.15, 0.9]
    _, states = _run([(f"line {i}", s) for i, s in enumerate(scores)])
    assert [s.rising for s in states] == [False, False, False, True]


class TunedTableScorer(TableScorer):
    """A fake scorer whose model carries its own state tuning, as a model card can."""

    name = "tuned-table"

    def __init__(self, table: dict[str, float], state_tuning: dict) -> None:
        super().__init__(table)
        self.state_tuning = state_tuning


def test_a_scorer_that_carries_its_own_tuning_gets_it_and_others_get_the_defaults():
    from voice.frustration.dialogues import CachedScorer
    from voice.frustration.state import Tuning

    table = {"a": 0.05, "b": 0.45, "c": 0.45}
    own = TunedTableScorer(table, {"enter": [0.2, 0.35, 0.6], "alpha": 0.9})
    call = CallFrustration("CA1", own)
    assert call.tuning.enter == (0.2, 0.35, 0.6) and call.tuning.alpha == 0.9
    assert call.tuning.rising_min == Tuning().rising_min
    states = [call.observe(_caller(t, 3.0 * i)) for i, t in enumerate("abc")]
    assert states[-1].level == "upset"  # 0.45 is upset on this model's scale
    default = CallFrustration("CA2", TableScorer(table))
    assert default.tuning == Tuning()
    assert [default.observe(_caller(t, 3.0 * i)).level for i, t in enumerate("abc")][-1] == "calm"
    assert CallFrustration("CA3", CachedScorer(own)).tuning == call.tuning  # wrappers pass it on


def test_a_state_tuning_with_an_unknown_field_is_refused_by_name():
    import pytest

    from voice.frustration.state import tuning_for

    with pytest.raises(ValueError, match="unknown field.*upset_at"):
        tuning_for(TunedTableScorer({}, {"upset_at": 0.5}))
