"""The prompt engine driven by scripted calls (hand-built utterances and states)."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from voice.coach import PromptEngine, TopicMatcher, extract_caller_name, load_playbook
from voice.events import FrustrationState, Utterance
from voice.scenarios.script import load_scenario, shipped_scenarios

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
SID = "CA-test"


@pytest.fixture(scope="module")
def playbook():
    return load_playbook(PROMPTS)


def engine(playbook, matcher=None) -> PromptEngine:
    return PromptEngine(SID, playbook, topic_matcher=matcher or TopicMatcher(encoder=None))


def play(eng: PromptEngine, script) -> list[tuple[float, str, str]]:
    """script: (t, speaker | 'level', text-or-level); returns (t, prompt id, text)."""
    out = []
    for t, who, what in script:
        if who == "level":
            prompts = eng.on_frustration(FrustrationState(SID, 0.5, what, 0.0, False, (), t))
        else:
            prompts = eng.on_utterance(Utterance(SID, who, what, max(t - 2, 0), t, True))
        out.extend((p.t, p.id, p.text) for p in prompts)
    return out


BILLING = [
    (2, "caller", "hi my name is mary jones and i got a bill for four hundred dollars"),
    (2, "level", "tense"),
    (6, "receptionist", "okay that's your insurance you need to call them"),
    (10, "caller", "they said your office billed it wrong this is ridiculous"),
    (10, "level", "upset"),
    (14, "receptionist", "why did you not call them first"),
    (18, "caller", "i did call them i have called three times"),
    (18, "level", "escalating"),
    (24, "receptionist", "i'm so sorry mary i can understand how frustrating this is"),
    (28, "caller", "thank you it has been a nightmare"),
    (28, "level", "upset"),
    (32, "receptionist", "let me research the bill and call you back today"),
    (36, "caller", "okay"),
    (36, "level", "tense"),
    (44, "receptionist", "will that work for you"),
    (48, "caller", "yes that works thank you"),
    (48, "level", "calm"),
]


def test_billing_call_gets_empathy_when_upset_then_the_bills_own_step(playbook):
    eng = engine(playbook)
    shown = play(eng, BILLING)
    assert [pid for _, pid, _ in shown] == [
        "calm_thank",  # tense: stay calm, thank Mary
        "coach_own_it",  # "that's your insurance"
        "empathize",  # upset at 10 s: empathy first, in the caller's same turn
        "coach_help_me_understand",  # "why did you"
        "billing_research",  # escalating: the bill's own next step, not the generic one
        "confirm_details",  # she empathized herself, so the path moves on to the details
    ]
    assert {t for t, pid, _ in shown if pid == "empathize"} == {10}
    assert eng.caller_name == "Mary Jones" and eng.topic == "billing"
    assert eng.covered_stages == ("calm_name", "empathize", "next_step", "agree")
    texts = dict((pid, text) for _, pid, text in shown)
    assert texts["calm_thank"].startswith("Stay calm, it isn't personal. \"Mary, thank you")
    assert texts["empathize"].startswith('"Mary, I can certainly understand')


def test_same_input_same_output(playbook):
    assert play(engine(playbook), BILLING) == play(engine(playbook), BILLING)


def test_calm_call_gets_no_prompts(playbook):
    eng = engine(playbook)
    scenario = load_scenario(next(p for p in shipped_scenarios() if p.stem == "calm_booking"))
    script = []
    for turn in scenario.turns:
        script.append((turn.at, turn.speaker, turn.text))
        if turn.speaker == "caller":
            script.append((turn.at, "level", "calm"))
    assert play(eng, script) == []
    assert eng.caller_name == "Tom Alvarez"


def test_no_prompt_is_shown_twice(playbook):
    eng = engine(playbook)
    script = []
    for i in range(40):
        t = i * 10.0
        level = ("tense", "upset", "escalating")[i % 3]
        script += [(t, "caller", "this bill is wrong"), (t, "level", level)]
        script.append((t + 1, "receptionist", "that's your insurance, why did you not call"))
    ids = [pid for _, pid, _ in play(eng, script)]
    assert ids and len(ids) == len(set(ids))


def test_unnamed_caller_slots_read_naturally(playbook):
    eng = engine(playbook)
    shown = play(
        eng,
        [
            (3, "caller", "you charged me twice"),
            (3, "level", "tense"),
            (20, "level", "tense"),
            (40, "level", "upset"),
        ],
    )
    texts = [text for _, _, text in shown]
    assert texts[0].startswith("Stay calm") and "Ask for their name" in texts[0]
    assert texts[1] == (
        'Let them talk. "I\'m listening. Please tell me what happened so I can help." '
        "Jot short notes as they speak."
    )
    assert texts[2] == (
        '"I can certainly understand how you feel. I\'d be upset if this happened to me too."'
    )
    assert all("{" not in t and " ," not in t for t in texts)


def test_topic_next_step_uses_name(playbook):
    eng = engine(playbook)
    script = [
        (1, "caller", "this is greg walsh calling, i've been waiting in my car for an hour"),
        (1, "level", "tense"),
        (2, "receptionist", "i'm so sorry greg, what happened?"),
        (3, "receptionist", "may i ask a few questions? i will personally make sure"),
        (20, "level", "upset"),
    ]
    shown = play(eng, script)
    assert eng.topic == "waiting"
    assert shown[-1][1] == "waiting_choice"
    assert "Would you rather wait, Greg, or shall I reschedule you" in shown[-1][2]


def test_receptionist_doing_the_step_suppresses_its_card(playbook):
    eng = engine(playbook)
    script = [
        (1, "caller", "my name is ann lee, i never got my test results"),
        (1, "level", "tense"),
        (2, "receptionist", "ann i'm sorry. let me check on your results right now"),
        (20, "level", "upset"),
        (40, "level", "upset"),
        (60, "level", "upset"),
    ]
    ids = [pid for _, pid, _ in play(eng, script)]
    assert "results_callback" not in ids and "empathize" not in ids
    assert "next_step" in eng.covered_stages


def test_use_the_name_coaching(playbook):
    eng = engine(playbook)
    script = [
        (1, "caller", "it's dana here and my prescription refill never went through"),
        (1, "level", "tense"),
        (2, "receptionist", "okay"),
        (3, "receptionist", "which medication is it"),
        (30, "level", "tense"),
    ]
    shown = play(eng, script)
    assert "coach_use_name" in [pid for _, pid, _ in shown]
    text = next(t for _, pid, t in shown if pid == "coach_use_name")
    assert text.startswith('Use their name: "Dana, …"')


def test_name_used_means_no_name_coaching(playbook):
    eng = engine(playbook)
    script = [
        (1, "caller", "it's dana here and my prescription refill never went through"),
        (1, "level", "tense"),
        (2, "receptionist", "okay dana"),
        (3, "receptionist", "which medication is it"),
        (4, "receptionist", "one moment"),
        (30, "level", "tense"),
    ]
    assert "coach_use_name" not in [pid for _, pid, _ in play(eng, script)]


def test_pacing_in_call_time_one_new_top_card_every_few_seconds(playbook):
    pacing = playbook.pacing
    eng = engine(playbook)
    script = [(1, "caller", "this bill is wrong")] + [
        (1 + i * 0.5, "level", "tense") for i in range(240)
    ]
    times = [t for t, _, _ in play(eng, script)]
    assert len(times) >= 2
    assert all(b - a >= pacing.gap_s for a, b in zip(times, times[1:], strict=False))
    for t in times:
        in_window = [x for x in times if t <= x < t + pacing.window_s]
        assert len(in_window) <= pacing.max_cards


def test_cards_for_an_upset_caller_come_fast_but_still_readable(playbook):
    eng = engine(playbook)
    script = [(1, "caller", "this bill is wrong")] + [
        (1 + i * 0.5, "level", "upset") for i in range(60)
    ]
    shown = play(eng, script)
    assert [pid for _, pid, _ in shown][:3] == ["empathize", "billing_research", "confirm_details"]
    times = [t for t, _, _ in shown]
    assert times[:3] == [1, 1 + playbook.pacing.urgent_gap_s, 1 + 2 * playbook.pacing.urgent_gap_s]


def test_deflection_is_coached_even_inside_a_cooldown(playbook):
    eng = engine(playbook)
    shown = play(
        eng,
        [
            (1, "caller", "my insurance denied the claim"),
            (1, "level", "upset"),
            (2, "receptionist", "that's not my department, sorry"),
            (3, "receptionist", "why didn't you call them"),
        ],
    )
    assert [pid for _, pid, _ in shown] == [
        "empathize",  # upset from the first turn: no "stay calm" card first
        "coach_own_it",
        "coach_help_me_understand",
    ]


def test_partials_and_other_calls_are_ignored(playbook):
    eng = engine(playbook)
    assert eng.on_utterance(Utterance(SID, "receptionist", "why did you", 0, 1, False)) == []
    assert eng.on_utterance(Utterance("other", "receptionist", "why did you", 0, 1, True)) == []
    assert eng.on_frustration(FrustrationState("other", 0.9, "escalating", 0, True)) == []


def test_playbook_source_can_be_a_callable(playbook):
    calls = []

    def source():
        calls.append(1)
        return playbook

    eng = PromptEngine(SID, source, topic_matcher=TopicMatcher(encoder=None))
    eng.on_frustration(FrustrationState(SID, 0.6, "upset", 0.1, True, (), 3.0))
    assert calls


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("hi my name is mary jones and i have a question", "Mary Jones"),
        ("Hello, this is Greg Walsh calling about my bill", "Greg Walsh"),
        ("it's dana here", "Dana"),
        ("this is mrs jones", "Mrs. Jones"),
        ("my name's Ann", "Ann"),
        ("this is ridiculous", None),
        ("this is the third time i'm calling", None),
        ("my name is not important", None),
    ],
)
def test_extract_caller_name(text, name):
    assert extract_caller_name(text) == name


class FakeEncoder:
    """Bag-of-words vectors over a tiny vocabulary: deterministic, no model."""

    VOCAB = ("pills", "drugstore", "sitter", "moved", "money", "paid")

    def encode(self, texts):
        rows = []
        for text in texts:
            words = text.lower().split()
            v = np.zeros(len(self.VOCAB) + 64)
            v[: len(self.VOCAB)] = [float(w in words) for w in self.VOCAB]
            if not v.any():  # no known word: a bucket of its own, unlike anything else
                v[len(self.VOCAB) + zlib.crc32(text.encode()) % 64] = 1.0
            rows.append(v / np.linalg.norm(v))
        return np.array(rows, dtype=np.float32)


def test_topic_by_similarity_with_a_fake_encoder(playbook):
    matcher = TopicMatcher(encoder=FakeEncoder(), threshold=0.5)
    found = matcher.match("the drugstore says i have two pills", playbook.topics)
    assert found is not None and found.topic_id == "refills" and found.method == "similarity"
    assert matcher.match("hello there", playbook.topics) is None
    keyword = matcher.match("my bill is wrong", playbook.topics)
    assert keyword is not None and keyword.topic_id == "billing" and keyword.method == "keyword"


def test_encoder_that_fails_to_load_falls_back_to_keywords(playbook):
    def broken():
        raise RuntimeError("no model here")

    matcher = TopicMatcher(encoder=broken)
    assert matcher.match("the drugstore says i have two pills", playbook.topics) is None
    assert matcher.match("my refill", playbook.topics).topic_id == "refills"


@pytest.mark.slow
def test_topic_by_similarity_with_the_real_encoder(playbook):
    from voice.embedding import load_encoder

    matcher = TopicMatcher(encoder=load_encoder)
    cases = {
        "the drugstore never got anything from dr patel and i only have two pills left": "refills",
        "you moved my visit again, this is the second time": "rescheduled",
        "i have been sitting in the lobby since two o'clock": "waiting",
    }
    for text, topic in cases.items():
        found = matcher.match(text, playbook.topics)
        assert found is not None and found.topic_id == topic, (text, found)
    assert matcher.match("what a lovely day it is", playbook.topics) is None


def test_billing_dispute_scenario_escalates_then_calms(playbook):
    """The shipped demo, with hand-set levels per caller turn (no frustration model)."""
    levels = iter(
        ["tense", "upset", "escalating", "escalating", "tense", "tense", "tense", "calm", "calm"]
    )
    scenario = load_scenario(next(p for p in shipped_scenarios() if p.stem == "billing_dispute"))
    eng = engine(playbook)
    script = []
    for turn in scenario.turns:
        script.append((turn.at, turn.speaker, turn.text))
        if turn.speaker == "caller":
            script.append((turn.at, "level", next(levels)))
    ids = [pid for _, pid, _ in play(eng, script)]
    assert ids[:3] == ["calm_thank", "coach_own_it", "empathize"]  # empathy once upset
    assert ids.index("billing_research") < ids.index("confirm_details")
    assert eng.topic == "billing" and eng.caller_name == "Linda Morris"
    assert {"empathize", "next_step", "close"} <= set(eng.covered_stages)


def _tense_call(playbook, after_first=None):
    eng = engine(playbook)
    shown = play(eng, [(1, "caller", "this bill is wrong"), (1, "level", "tense")])
    if after_first:
        after_first(eng, shown[0][1])
    for t in range(2, 40):
        shown += play(eng, [(t, "level", "tense")])
    return eng, {pid: t for t, pid, _ in shown}


def test_a_card_ticked_done_covers_its_stage_and_the_coach_moves_on(playbook):
    eng, shown = _tense_call(playbook, lambda e, pid: e.acknowledge(pid, "done"))
    assert "calm_name" in eng.covered_stages
    assert "calm_thank" not in shown, "the covered stage gets no second card"


def test_a_dismissed_card_frees_the_top_for_the_next_one(playbook):
    _, kept = _tense_call(playbook)
    _, dismissed = _tense_call(playbook, lambda e, pid: e.acknowledge(pid, "dismissed"))
    assert dismissed["listen_connect"] < kept["listen_connect"]
