"""What the acoustic cues add: our call dialogues spoken by espeak-ng, cues on and off.

The acoustic cues (``voice.frustration.cues``: louder, higher pitch, faster, each
against the caller's own ``AudioBaseline`` from earlier in the call) had never been
measured.  This benchmark speaks every dialogue of ``benchmarks/data/call_dialogues.jsonl``
(split ``eval`` by default) with espeak-ng's English voice, lays the turns out on two
8 kHz tracks as a call would have them (receptionist and caller alternating, 0.6 s
apart, nobody talking over anybody), runs the product's own feature extraction
(``voice.audio.TrackAudio.features``: loudness of the voiced frames, autocorrelation
pitch, words per second) and feeds the utterances, features included, through the
shipped call-level state (``CallFrustration`` with the default ``Tuning``) with text
scores from the shipped scorer (frozen MiniLM + head).  No speech recognition: the
words are the dialogue's text, their timings spread evenly over the voiced span of
the turn (what word timings give the rate cue: words / speaking time).

Renderings (espeak-ng ``-s`` words per minute, ``-p`` pitch 0-99, level in dBFS; the
receptionist is always en-us+f3, pitch 65, 165 wpm, -20 dBFS):

* ``flat``: every caller turn in the calm voice (en-us+m3, pitch 35, 165 wpm,
  -20 dBFS): the frustrated words, but a voice that does not change;
* ``moderate``: frustrated caller turns (``"frustrated": true``) at 190 wpm, pitch 47,
  -15 dBFS (about +15 % rate, +12 % pitch, +5 dB: near or under the cue thresholds);
* ``strong``: frustrated caller turns at 215 wpm, pitch 60, -12 dBFS (about +30 % rate,
  +26 % pitch, +8 dB: over every threshold);
* ``raised``: the false-alarm side: every turn calm except one caller turn of each calm
  dialogue (its middle caller turn), spoken in the strong voice with its calm words (a
  caller who speaks up on a bad line, or about something that matters to them).

Every caller turn also gets a seeded jitter (level ±2 dB, pitch ±3, rate ±8 wpm) so the
calm turns vary as a voice does from sentence to sentence.  Each rendering is scored
twice: with the acoustic features (cues on) and with the same utterances stripped of
them (cues off; the wording model and the text cues as before).  The printed measured
changes (frustrated turn against the caller's own calm median) show what the renderer
actually produced.

espeak-ng is a weak proxy for real callers: a synthetic voice changes exactly the
three things asked of it, evenly over the whole turn, with no line noise, no
handset distance, no emotion in the voice quality; real callers get louder, faster
or higher in any mix, or not at all.  The figures say what the cues do when the
voice does change, not how often real voices change.

    .venv/bin/python benchmarks/acoustic_cues.py [--split eval|dev|all] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from tune_state import make_scorer  # noqa: E402

from voice.audio import TrackAudio  # noqa: E402
from voice.events import PHONE_RATE, Speaker, Utterance, Word  # noqa: E402
from voice.frustration.cues import AudioBaseline, audio_cues  # noqa: E402
from voice.frustration.dialogues import DiskCachedScorer  # noqa: E402
from voice.frustration.evaluate import EvalReport, LabelledDialogue, evaluate, read_labelled  # noqa: E402
from voice.frustration.state import Tuning  # noqa: E402
from voice.frustration.training import CALL_DIALOGUES  # noqa: E402
from voice.tools.speech import VOICE_STYLES, VoiceStyle, set_loudness, speak  # noqa: E402

GAP_S = 0.6  # silence between one turn's end and the next turn's start
LEAD_S = 0.5
SEED = 12


@dataclass(frozen=True)
class Manner:
    """How a caller turn is spoken: espeak-ng words per minute, pitch (0-99), level (dBFS)."""

    wpm: int
    pitch: int
    dbfs: float


CALM = Manner(165, 35, -20.0)
RENDERINGS: dict[str, Manner] = {  # how frustrated caller turns are spoken
    "flat": CALM,
    "moderate": Manner(190, 47, -15.0),
    "strong": Manner(215, 60, -12.0),
}
JITTER = Manner(8, 3, 2.0)  # uniform ± on every caller turn
RECEPTIONIST = Manner(165, 65, -20.0)


class Renderer:
    """espeak-ng turns, cached by (speaker, text, manner): receptionists are spoken once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, Manner], np.ndarray] = {}
        self.spoken = 0

    def turn(self, speaker: str, text: str, manner: Manner) -> np.ndarray:
        key = (speaker, text, manner)
        if key not in self._cache:
            variant = VOICE_STYLES[speaker].variant
            style = VoiceStyle(variant=variant, pitch=manner.pitch, words_per_minute=manner.wpm)
            self._cache[key] = set_loudness(speak(text, "en-us", speaker, style), manner.dbfs)
            self.spoken += 1
        return self._cache[key]


def caller_manner(frustrated: bool, rendering: str, rng: np.random.Generator) -> Manner:
    """The manner of one caller turn: the rendering's, with this turn's jitter."""
    base = RENDERINGS[rendering] if frustrated else CALM
    jw, jp, jd = (rng.uniform(-1.0, 1.0, 3) * np.array([JITTER.wpm, JITTER.pitch, JITTER.dbfs]))
    return Manner(int(round(base.wpm + jw)), int(np.clip(round(base.pitch + jp), 0, 99)),
                  round(float(base.dbfs + jd), 1))


def raised_turn(item: LabelledDialogue) -> int | None:
    """In a calm dialogue, the caller turn spoken in the strong voice by the ``raised`` run
    (the middle labelled caller turn, never the first two: the baseline needs them)."""
    if item.kind != "calm":
        return None
    callers = [i for i, _ in item.caller_labels()]
    return callers[max(2, len(callers) // 2)] if len(callers) > 2 else None


def render(item: LabelledDialogue, rendering: str, renderer: Renderer) -> list[Utterance]:
    """The dialogue spoken and measured: one final utterance per turn, with features.

    ``rendering`` is a key of ``RENDERINGS`` (how frustrated caller turns sound), or
    ``raised``: everything calm except one caller turn of each calm dialogue
    (``raised_turn``), spoken in the strong voice with calm words."""
    rng = np.random.default_rng([SEED, sum(map(ord, item.dialogue.id))])
    raised = raised_turn(item) if rendering == "raised" else None
    placed: list[tuple[Speaker, str, float, np.ndarray]] = []
    t = LEAD_S
    for index, (turn, label) in enumerate(zip(item.dialogue.turns, item.labels, strict=True)):
        if not turn.text.strip():
            placed.append((turn.speaker, turn.text, t, np.zeros(0, np.int16)))
            continue
        if rendering == "raised":
            manner = (caller_manner(index == raised, "strong", rng)
                      if turn.speaker == "caller" else RECEPTIONIST)
        else:
            manner = (caller_manner(bool(label), rendering, rng) if turn.speaker == "caller"
                      else RECEPTIONIST)
        pcm = renderer.turn(turn.speaker, turn.text, manner)
        placed.append((turn.speaker, turn.text, t, pcm))
        t += pcm.size / PHONE_RATE + GAP_S
    length_s = t + 1.0
    tracks = {s: TrackAudio(window_s=length_s + 5.0) for s in ("caller", "receptionist")}
    for speaker, _, start, pcm in placed:
        if pcm.size:
            tracks[speaker].write(pcm, start)
    for track in tracks.values():  # silence to the end, so both tracks span the call
        track.write(np.zeros(1, np.int16), length_s)
    out = []
    for speaker, text, start, pcm in placed:
        end = start + pcm.size / PHONE_RATE
        other = tracks["receptionist" if speaker == "caller" else "caller"]
        words = _spread_words(text, start, end)
        features = tracks[speaker].features(start, end, other=other, words=words) \
            if pcm.size else None
        out.append(Utterance(item.dialogue.id, speaker, text, start, end, True, words,
                             features))
    return out


def _spread_words(text: str, start: float, end: float) -> tuple[Word, ...]:
    """The turn's words with timings spread evenly over its voiced span."""
    tokens = text.split()
    if not tokens or end <= start:
        return ()
    step = (end - start) / len(tokens)
    return tuple(Word(w, round(start + i * step, 3), round(start + (i + 1) * step, 3))
                 for i, w in enumerate(tokens))


def measured_changes(items: list[LabelledDialogue], rendered: dict[str, list[Utterance]]
                     ) -> dict[str, Any]:
    """Frustrated and calm caller turns against the caller's calm median in the same call,
    and how often each acoustic cue fired on them (replaying each call's baseline)."""
    deltas: dict[str, list[float]] = {"db": [], "pitch": [], "rate": []}
    fired: dict[str, dict[str, int]] = {"frustrated": {}, "calm": {}}
    turns = {"frustrated": 0, "calm": 0}
    for item in items:
        utts = rendered[item.dialogue.id]
        calm = [u.audio for u, lab in zip(utts, item.labels, strict=True)
                if u.speaker == "caller" and lab is False and u.audio]
        baseline = AudioBaseline()
        for utt, lab in zip(utts, item.labels, strict=True):
            if utt.speaker != "caller" or utt.audio is None or lab is None:
                continue
            kind = "frustrated" if lab else "calm"
            turns[kind] += 1
            for cue in audio_cues(utt, baseline):
                fired[kind][cue.name] = fired[kind].get(cue.name, 0) + 1
            baseline.update(utt.audio, utt.audio.speech_rate_wps)
            if lab and len(calm) >= 2:
                deltas["db"].append(utt.audio.rms_dbfs - statistics.median(a.rms_dbfs
                                                                           for a in calm))
                pitches = [a.pitch_hz for a in calm if a.pitch_hz]
                if utt.audio.pitch_hz and pitches:
                    deltas["pitch"].append(utt.audio.pitch_hz / statistics.median(pitches) - 1)
                rates = [a.speech_rate_wps for a in calm if a.speech_rate_wps]
                if utt.audio.speech_rate_wps and rates:
                    deltas["rate"].append(utt.audio.speech_rate_wps / statistics.median(rates)
                                          - 1)
    return {"median_change_frustrated_vs_own_calm": {
                k: round(statistics.median(v), 3) if v else None for k, v in deltas.items()},
            "caller_turns": turns, "cue_fired": fired}


def strip_audio(rendered: dict[str, list[Utterance]]) -> dict[str, list[Utterance]]:
    """The same utterances (same timings) without acoustic features: cues off."""
    return {k: [replace(u, audio=None) for u in v] for k, v in rendered.items()}


def load_items(split: str) -> list[LabelledDialogue]:
    """The call dialogues of one split (``all``: every one)."""
    splits = {json.loads(line)["id"]: json.loads(line)["split"]
              for line in CALL_DIALOGUES.open() if line.strip()}
    items = list(read_labelled(CALL_DIALOGUES.open()))
    return [i for i in items if split == "all" or splits[i.dialogue.id] == split]


def row(name: str, report: EvalReport) -> str:
    """One table row in the README's markdown."""
    return (f"| {name} | {report.turn_auc:.3f} | {report.caught}/{report.turned} "
            f"({report.caught_share:.1%}) | {report.caught_rising}/{report.turned} | "
            f"{report.calm_ever_upset}/{report.calm} | {report.calm_ever_rising}/{report.calm} |")


def main(argv: list[str] | None = None) -> None:
    """Render, measure, score, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("eval", "dev", "all"), default="eval")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/voice_frust_cache"))
    parser.add_argument("--out", type=Path, default=None, help="Write the figures as JSON.")
    args = parser.parse_args(argv)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    items = load_items(args.split)
    scorer = make_scorer("head", args.cache)
    tuning = Tuning()
    renderer = Renderer()
    result: dict[str, Any] = {"split": args.split, "dialogues": len(items),
                              "renderings": {k: vars(v) for k, v in RENDERINGS.items()},
                              "calm": vars(CALM), "jitter": vars(JITTER), "runs": {}}
    lines = ["| rendering, cues | per-turn AUC | turned frustrated, caught | rising in time "
             "| calm ever upset | calm ever rising |", "| --- | --- | --- | --- | --- | --- |"]
    for rendering in [*RENDERINGS, "raised"]:
        rendered = {i.dialogue.id: render(i, rendering, renderer) for i in items}
        for cues, utts in (("off", strip_audio(rendered)), ("on", rendered)):
            report = evaluate(items, scorer, tuning, utts)
            result["runs"][f"{rendering}/{cues}"] = report.to_dict()
            lines.append(row(f"{rendering}, acoustic cues {cues}", report))
        result["runs"][f"{rendering}/measured"] = measured_changes(items, rendered)
    if isinstance(scorer, DiskCachedScorer):
        scorer.save()
    print(f"call dialogues split={args.split}: {len(items)} dialogues, "
          f"{renderer.spoken} turns spoken by espeak-ng")
    for rendering in [*RENDERINGS, "raised"]:
        m = result["runs"][f"{rendering}/measured"]
        print(f"  {rendering}: frustrated turn vs the caller's calm median "
              f"{m['median_change_frustrated_vs_own_calm']}; cues fired "
              f"{m['cue_fired']} on {m['caller_turns']} caller turns")
    print("\n".join(["", *lines]))
    result["cpu_s"] = round(time.process_time() - cpu0, 1)
    result["wall_s"] = round(time.perf_counter() - wall0, 1)
    result["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nCPU {result['cpu_s']} s (this process; espeak-ng runs in children), "
          f"wall {result['wall_s']} s, load average {result['load_avg']}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
