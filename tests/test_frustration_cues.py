from voice.events import AudioFeatures, Utterance, Word
from voice.frustration.cues import (
    AudioBaseline,
    audio_cues,
    interruption_cue,
    negation_cue,
    phrase_cues,
    repetition_cue,
)


def _caller(text="hello there", rms=-30.0, pitch=None, rate=None, t0=10.0, t1=12.0, **kw):
    audio = AudioFeatures(rms_dbfs=rms, pitch_hz=pitch, speech_rate_wps=rate, **kw)
    return Utterance("CA1", "caller", text, t0, t1, True, audio=audio)


def _baseline(rms=-30.0, pitch=180.0, rate=2.5, n=3):
    base = AudioBaseline()
    for _ in range(n):
        base.update(AudioFeatures(rms_dbfs=rms, pitch_hz=pitch), rate)
    return base


def test_third_time_calling_is_quoted_as_a_repeat_call_cue():
    cues = phrase_cues("This is the third time I've called about my refill")
    names = {c.name for c in cues}
    assert "repeat_call" in names
    reason = next(c.reason for c in cues if c.name == "repeat_call")
    assert "third time" in reason and reason.startswith("said '")


def test_asking_for_a_manager_or_lawyer_is_an_escalation_demand():
    assert any(c.escalation for c in phrase_cues("Put your manager on the phone"))
    assert any(c.escalation for c in phrase_cues("My lawyer will hear about this"))


def test_nobody_called_me_back_is_a_callback_cue():
    assert {c.name for c in phrase_cues("Nobody called me back yesterday")} == {"no_callback"}


def test_calm_scheduling_sentence_has_no_phrase_cues():
    assert phrase_cues("Could I move my appointment to Thursday afternoon?") == []


def test_same_complaint_repeated_is_detected_and_new_topic_is_not():
    earlier = ["My prescription refill for metformin never reached the pharmacy"]
    again = repetition_cue("The metformin refill still never reached my pharmacy", earlier)
    assert again is not None and again.contribution > 0
    assert repetition_cue("Can I also book a flu shot for Friday?", earlier) is None


def test_rejecting_an_offered_solution_is_a_negation_cue():
    cue = negation_cue("No, a message won't work for me", "I can take a message for the nurse")
    assert cue is not None and "turned down" in cue.reason
    assert negation_cue("No, a message won't work", "What is your date of birth?") is None


def test_talking_over_the_receptionist_is_an_interruption():
    receptionist = Utterance("CA1", "receptionist", "Our policy is that", 8.0, 11.0, True)
    cue = interruption_cue(_caller(t0=10.0, t1=13.0), receptionist)
    assert cue is not None and "1.0 s" in cue.reason
    cut = Utterance("CA1", "receptionist", "Our policy is that patients—", 0.0, 2.0, True)
    assert interruption_cue(Utterance("CA1", "caller", "I was late!", 5, 6, True), cut)


def test_waiting_turn_without_overlap_is_not_an_interruption():
    receptionist = Utterance("CA1", "receptionist", "Anything else?", 5.0, 7.0, True)
    assert interruption_cue(_caller(t0=8.0, t1=9.0), receptionist) is None


def test_louder_segment_raises_the_loudness_cue_with_the_decibels():
    cues = audio_cues(_caller(rms=-23.0), _baseline(rms=-30.0))
    loud = [c for c in cues if c.name == "louder"]
    assert loud and loud[0].reason == "louder than earlier in the call (+7 dB)"


def test_much_louder_counts_more_than_slightly_louder():
    base = _baseline()
    slight = audio_cues(_caller(rms=-25.0), base)[0].contribution
    much = audio_cues(_caller(rms=-16.0), base)[0].contribution
    assert much > slight > 0


def test_silence_does_not_raise_loudness_or_lower_the_baseline():
    base = _baseline(rms=-30.0)
    assert audio_cues(_caller(rms=-70.0), base) == []
    base.update(AudioFeatures(rms_dbfs=-70.0), None)
    base.update(AudioFeatures(rms_dbfs=-70.0), None)
    assert base.rms_dbfs == -30.0
    assert audio_cues(_caller(rms=-29.0), base) == []


def test_no_audio_cue_before_the_caller_has_a_baseline():
    assert audio_cues(_caller(rms=-10.0), AudioBaseline()) == []


def test_higher_pitch_and_faster_speech_are_cues_relative_to_baseline():
    cues = audio_cues(_caller(pitch=250.0, rate=4.0), _baseline(pitch=180.0, rate=2.5))
    assert {c.name for c in cues} == {"higher_pitch", "faster"}


def test_speech_rate_is_taken_from_word_timings_when_not_given():
    words = tuple(Word(f"w{i}", 10 + i * 0.2, 10 + i * 0.2 + 0.15) for i in range(8))
    utt = Utterance("CA1", "caller", "w " * 8, 10.0, 11.6, True, words=words,
                    audio=AudioFeatures(rms_dbfs=-30.0))
    cues = audio_cues(utt, _baseline(rate=2.0))
    assert [c.name for c in cues] == ["faster"]


def test_long_silence_before_speaking_is_reported():
    cues = audio_cues(_caller(silence_before_s=12.0), _baseline())
    assert any(c.name == "long_silence" and "12 s" in c.reason for c in cues)


def test_a_quoted_phrase_is_its_own_sentence_not_the_tail_of_the_last_one():
    text = ("I did call them! They told me your office sent the claim with the wrong code. "
            "This is ridiculous, I paid my copay at the visit.")
    reasons = [c.reason for c in phrase_cues(text)]
    assert reasons == ["said 'This is ridiculous, I paid my copay at the visit'"]


def test_a_long_sentence_is_cut_at_word_boundaries_around_the_trigger():
    text = ("Honestly this is the third time I am calling about this and I am starting to "
            "lose all patience with every one of you")
    reason = next(c.reason for c in phrase_cues(text) if c.name == "repeat_call")
    assert reason == "said '…this is the third time I am calling…'"
    quote = reason[len("said '"):-1].strip("…")
    assert quote in text, "whole words only, nothing cut mid-word"


def test_a_repeated_complaint_is_quoted_in_whole_words():
    earlier = ["My prescription refill for metformin never reached the pharmacy on Main Street "
               "even though I called twice"]
    cue = repetition_cue("The metformin refill never reached the pharmacy on Main Street", earlier)
    assert cue is not None
    quote = cue.reason.split("('", 1)[1].rstrip("')")
    assert quote.endswith("…") and quote[:-1] in earlier[0]
    assert earlier[0][len(quote) - 1] == " ", "cut between words"
