"""The coach keeps up with an upset caller: urgency first, cards that replace each other.

Scripted calls (hand-set levels per caller turn, no model), in call time, so every
run gives the same cards at the same seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from voice.coach import PromptEngine, TopicMatcher, load_playbook
from voice.events import FrustrationState, Utterance

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
SID = "CA-urgent"

# The call of issue 10: a passive receptionist while the caller escalates (41 s).
INSURANCE_PASSIVE = [
    (1.0, "receptionist", "Maple Street Family Practice, how can I help?"),
    (6.0, "caller", "Hi, my name is Rosa Diaz. My insurance denied my claim for the MRI.", "tense"),
    (9.0, "receptionist", "Okay."),
    (13.0, "caller", "They say your office sent the wrong code and I've called them twice.",
     "tense"),
    (15.0, "receptionist", "Mm-hm."),
    (21.0, "caller", "I'm really frustrated. Nobody here is taking responsibility for this.",
     "upset"),
    (22.5, "receptionist", "I see."),
    (26.0, "caller", "So what are you going to do about it?", "escalating"),
    (28.0, "receptionist", "Let me see."),
    (33.0, "caller", "I've been waiting for weeks and now they want me to pay all of it.",
     "escalating"),
    (35.0, "receptionist", "Mm-hm."),
    (41.0, "caller", "This is ridiculous.", "escalating"),
]


@pytest.fixture(scope="module")
def playbook():
    return load_playbook(PROMPTS)


def engine(playbook) -> PromptEngine:
    return PromptEngine(SID, playbook, topic_matcher=TopicMatcher(encoder=None))


def play(eng: PromptEngine, script, rising_at: float | None = None) -> list[tuple[float, str]]:
    """Each caller line is followed by its frustration state, as the call wires them."""
    out = []
    for row in script:
        t, who, text = row[:3]
        out += eng.on_utterance(Utterance(SID, who, text, t - 1.5, t, True))
        if who == "caller":
            rising = rising_at is not None and t >= rising_at
            out += eng.on_frustration(FrustrationState(SID, 0.5, row[3], 0.1, rising, (), t))
    return [(p.t, p.id) for p in out]


def kinds_by(eng: PromptEngine, playbook, t: float) -> set[str]:
    return {p.kind for p in eng.shown if p.t <= t}


def test_a_passive_receptionist_gets_empathize_in_the_callers_same_turn(playbook):
    eng = engine(playbook)
    shown = play(eng, INSURANCE_PASSIVE)
    assert (21.0, "empathize") in shown, shown
    after_upset = [pid for t, pid in shown if t >= 21.0]
    assert after_upset[0] == "empathize"
    assert not any(pid in ("calm_thank", "listen_connect") for pid in after_upset)


def test_what_are_you_going_to_do_gets_the_topics_next_step_now(playbook):
    eng = engine(playbook)
    shown = play(eng, INSURANCE_PASSIVE)
    assert (26.0, "insurance_red_tape") in shown
    card = next(p for p in eng.shown if p.id == "insurance_red_tape")
    assert "billing team" in card.text and "three-way call" in card.text and "Rosa" in card.text


def test_by_the_end_of_the_upset_call_empathize_confirm_and_next_step_were_shown(playbook):
    eng = engine(playbook)
    play(eng, INSURANCE_PASSIVE)
    assert {"empathize", "confirm", "next_step"} <= kinds_by(eng, playbook, 41.0)
    assert "next_step_generic" not in [p.id for p in eng.shown], "the topic's own step instead"
    assert len(eng.shown) <= playbook.pacing.max_cards


def test_an_unclicked_card_never_blocks_an_urgent_one(playbook):
    eng = engine(playbook)
    first = play(eng, [(10.0, "caller", "my bill is wrong", "tense")])
    assert first == [(10.0, "calm_ask_name")]
    nobody_clicked = play(eng, [(11.0, "caller", "and nobody will explain it", "upset")])
    assert nobody_clicked == [(11.0, "empathize")], "1 s later, over the standing card"


def test_a_full_window_of_ordinary_cards_does_not_starve_an_upset_caller(playbook):
    eng = engine(playbook)
    tense = [(t, "caller", "my bill is wrong", "tense") for t in range(1, 40)]
    shown = play(eng, tense)
    assert len(shown) == playbook.pacing.max_cards  # the window is full
    later = play(eng, [(41.0, "caller", "this is getting ridiculous", "upset")])
    assert later and later[0][0] == 41.0 and later[0][1] == "billing_research"


def test_a_receptionist_who_says_sorry_gets_no_empathize_card(playbook):
    eng = engine(playbook)
    shown = play(eng, [
        (3.0, "caller", "my name is tom reed and i never got my test results", "tense"),
        (5.0, "receptionist", "Tom, I'm so sorry, that must be frustrating."),
        (9.0, "caller", "nobody ever calls me back, this is the third time", "upset"),
        (12.0, "receptionist", "Okay."),
        (16.0, "caller", "I am really upset about this", "escalating"),
    ])
    ids = [pid for _, pid in shown]
    assert "empathize" not in ids
    assert (9.0, "results_callback") in shown, "upset: straight to the step for the results"


def test_rising_at_tense_counts_as_upset(playbook):
    eng = engine(playbook)
    shown = play(eng, [(4.0, "caller", "my refill never went through, again", "tense")],
                 rising_at=4.0)
    assert shown == [(4.0, "empathize")]


def test_a_caller_line_alone_waits_for_its_frustration_state(playbook):
    eng = engine(playbook)
    play(eng, [(2.0, "caller", "my bill is wrong", "upset")])
    words = eng.on_utterance(Utterance(SID, "caller", "and now collections", 5.0, 6.0, True))
    assert words == [], "level cards are decided on the state that follows the line"
    state = eng.on_frustration(FrustrationState(SID, 0.7, "upset", 0.1, False, (), 6.0))
    assert [p.id for p in state] == ["billing_research"]


def test_covered_stages_are_skipped_on_the_urgent_path(playbook):
    eng = engine(playbook)
    shown = play(eng, [
        (2.0, "caller", "i have been waiting here for an hour", "upset"),
        (4.0, "receptionist", "I'm so sorry. Just to confirm, what is your date of birth?"),
        (8.0, "caller", "march third. why is it taking so long", "escalating"),
    ])
    assert [pid for _, pid in shown] == ["empathize", "waiting_choice"]


def test_a_calm_call_gets_no_de_escalation_cards(playbook):
    eng = engine(playbook)
    shown = play(eng, [
        (2.0, "caller", "hi, this is ann here, i need to book a checkup", "calm"),
        (5.0, "receptionist", "Sure, Ann. Does Tuesday at ten work?"),
        (8.0, "caller", "tuesday. fine.", "calm"),
        (10.0, "receptionist", "Okay."),
        (14.0, "caller", "what are you going to do about the reminder text, i never get it",
         "calm"),
    ])
    assert shown == []


def test_the_same_call_gives_the_same_cards_at_the_same_seconds(playbook):
    assert play(engine(playbook), INSURANCE_PASSIVE) == play(engine(playbook), INSURANCE_PASSIVE)


def test_once_the_urgent_path_is_up_the_other_stages_go_on_while_still_upset(playbook):
    eng = engine(playbook)
    script = [(t, "caller", "my insurance denied the claim again", "upset") for t in (2, 5, 8)]
    script.append((22.0, "receptionist", "Let me look into it with them right now."))
    shown = play(eng, script)
    assert [pid for _, pid in shown] == [
        "empathize", "insurance_red_tape", "confirm_details", "agree_next_step"]
    assert shown[-1][0] == 22.0
