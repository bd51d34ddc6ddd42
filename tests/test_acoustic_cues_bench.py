"""The acoustic-cue benchmark's own logic: its espeak-ng renderings are measured by the
product's feature extraction as asked (louder, higher, faster only where they should be),
and rendered utterances reach the call-level state (no figure of the run is asserted;
the benchmark prints them)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import missing

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import acoustic_cues as bench  # noqa: E402

from voice.frustration.evaluate import read_labelled  # noqa: E402
from voice.frustration.state import Tuning  # noqa: E402

DIALOGUE = {"id": "bench-test", "turns": [
    {"speaker": "receptionist", "text": "Good morning, how can I help?", "frustrated": None},
    {"speaker": "caller", "text": "Hi, I am calling about my lab results from last week.",
     "frustrated": False},
    {"speaker": "receptionist", "text": "Let me look that up for you.", "frustrated": None},
    {"speaker": "caller", "text": "Sure, my date of birth is the fourth of May.",
     "frustrated": False},
    {"speaker": "receptionist", "text": "I don't see them here yet.", "frustrated": None},
    {"speaker": "caller", "text": "Then I need to know today when they will be ready.",
     "frustrated": True},
]}


class WordingScorer:
    """0.05 for every text, except ``edgy`` (0.4 when given) for texts saying 'today':
    words a little negative, not enough to alarm on their own."""

    name = "wording"

    def __init__(self, edgy: float = 0.05) -> None:
        self.edgy = edgy

    def score(self, texts: Sequence[str]) -> list[float]:
        return [self.edgy if "today" in t else 0.05 for t in texts]


@pytest.fixture(scope="module")
def item():
    if shutil.which("espeak-ng") is None:
        missing("espeak-ng", "apt-get install espeak-ng")
    return next(read_labelled([json.dumps(DIALOGUE)]))


def _caller_audio(utts):
    return [u.audio for u in utts if u.speaker == "caller"]


def test_strong_rendering_is_measured_louder_higher_and_faster_on_the_frustrated_turn(item):
    calm1, calm2, angry = _caller_audio(bench.render(item, "strong", bench.Renderer()))
    assert angry.rms_dbfs - max(calm1.rms_dbfs, calm2.rms_dbfs) > 4.0
    assert angry.pitch_hz > 1.15 * max(calm1.pitch_hz, calm2.pitch_hz)
    assert angry.speech_rate_wps > min(calm1.speech_rate_wps, calm2.speech_rate_wps)


def test_flat_rendering_keeps_the_frustrated_turn_within_the_jitter(item):
    calm1, calm2, angry = _caller_audio(bench.render(item, "flat", bench.Renderer()))
    assert abs(angry.rms_dbfs - (calm1.rms_dbfs + calm2.rms_dbfs) / 2) < 4.0
    assert angry.pitch_hz < 1.15 * max(calm1.pitch_hz, calm2.pitch_hz)


def test_a_strong_voice_tips_slightly_negative_words_into_a_catch(item):
    rendered = {item.dialogue.id: bench.render(item, "strong", bench.Renderer())}
    on = bench.evaluate([item], WordingScorer(0.4), Tuning(), rendered)
    off = bench.evaluate([item], WordingScorer(0.4), Tuning(), bench.strip_audio(rendered))
    assert (on.turned, on.caught) == (1, 1)
    assert (off.turned, off.caught) == (1, 0)


def test_a_strong_voice_with_calm_words_alone_raises_no_alarm(item):
    rendered = {item.dialogue.id: bench.render(item, "strong", bench.Renderer())}
    on = bench.evaluate([item], WordingScorer(), Tuning(), rendered)
    assert (on.turned, on.caught) == (1, 0)
