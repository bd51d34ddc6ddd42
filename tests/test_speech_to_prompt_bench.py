"""The speech-to-prompt benchmark's own logic: its scripted call and how it pairs prompts
with caller turns (no timing is asserted; the benchmark prints the figures)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import missing

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import speech_to_prompt as bench  # noqa: E402

from voice.audio import mulaw_decode, pitch_hz, rms_dbfs  # noqa: E402


def _caller(t_end: float, **extra: object) -> dict:
    return {"call_sid": "CA1", "speaker": "caller", "final": True, "t_end": t_end, **extra}


def test_a_prompt_belongs_to_the_caller_turn_that_raised_it():
    sent = {"CA1": {3.4: 100.0, 24.6: 121.0, 33.7: 130.0}}
    events = [
        (101.0, "transcript", _caller(3.36)),
        (122.0, "frustration", {"call_sid": "CA1", "t": 24.63}),
        (122.3, "prompt", {"call_sid": "CA1", "t": 24.63}),
        (129.0, "prompt", {"call_sid": "CA1", "t": 32.57}),  # raised on the receptionist
        (129.5, "frustration", {"call_sid": "CA1", "t": 33.1}),  # a partial, mid-turn
        (129.6, "prompt", {"call_sid": "CA1", "t": 33.1}),
    ]
    turns, paced = bench.turns_of(sent, events)
    assert [t.to_final for t in turns] == [pytest.approx(1.0), None, None]
    assert turns[0].to_prompt is None
    assert turns[1].to_prompt == pytest.approx(1.3) and not turns[1].early
    assert turns[2].to_prompt == 0.0 and turns[2].early
    assert paced == 1


def test_the_scripted_caller_grows_louder_higher_and_talks_over_the_receptionist():
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        missing("espeak-ng and sox", "apt-get install espeak-ng sox")
    caller, receptionist = (mulaw_decode(track) for track in bench.scripted_call(0.0))
    ends = bench.caller_turn_ends(bench.scripted_call(0.0)[0])
    assert len(ends) == sum(who == "caller" for who, *_ in bench.SCRIPT)
    starts = [0, *[e + 1 for e in ends[:-1]]]
    turns = [caller[s * 160:(e + 1) * 160] for s, e in zip(starts, ends, strict=True)]
    loud = [rms_dbfs(t[np.abs(t) > 200]) for t in turns]
    pitch = [pitch_hz(t, 8000) for t in turns]
    assert min(loud[3:]) > max(loud[:3]) + 12  # the cue's full weight needs 12 dB
    assert min(pitch[3:]) > 1.4 * max(pitch[:3])
    frame = 160
    both = [bool(np.abs(caller[i:i + frame]).max() > 200 and
                 np.abs(receptionist[i:i + frame]).max() > 200)
            for i in range(0, caller.size - frame, frame)]
    assert sum(both) * 0.02 >= 1.5  # the upset turns start while the receptionist talks
