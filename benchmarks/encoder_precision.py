"""Does the shared encoder's int8 quantization cost quality?  The same tables, fp32 vs int8.

The frozen-encoder head (the default scorer) on the shipped ONNX fp32 encoder and on
its int8 dynamic quantization (``OnnxSentenceEncoder(int8=True)``): per-turn AUC on
GoEmotions test (evenly sampled, ``--goemotions``), the held-out call utterances and
MELD dev+test caller turns, and the call-level state's figures (shipped ``Tuning``) on
the eval dialogues of ``benchmarks/tune_state.py``.  Scores are cached on disk.

    .venv/bin/python benchmarks/encoder_precision.py [--goemotions 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.tune_state import load_sets  # noqa: E402
from voice.embedding import OnnxSentenceEncoder, default_encoder_path  # noqa: E402
from voice.frustration.dialogues import DiskCachedScorer  # noqa: E402
from voice.frustration.evaluate import evaluate  # noqa: E402
from voice.frustration.metrics import roc_auc  # noqa: E402
from voice.frustration.model import MiniLMHeadScorer, default_head_path  # noqa: E402
from voice.frustration.training import (  # noqa: E402
    CALL_HELDOUT,
    Labelled,
    default_data_dir,
    goemotions_rows,
    read_jsonl,
)


def main(argv: list[str] | None = None) -> None:
    """Print both rows and their JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/voice_frust_cache"))
    parser.add_argument("--goemotions", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args(argv)
    data_dir = default_data_dir()
    ge = goemotions_rows(data_dir, "test")
    ge = [ge[int(k * len(ge) / args.goemotions)] for k in range(min(args.goemotions, len(ge)))]
    meld_turns = [t for d in read_jsonl(data_dir / "dialogues/meld/meld.jsonl")
                  if d["id"].split("/")[1] in ("dev", "test") for t in d["turns"]
                  if t["speaker"] == "caller" and t.get("frustrated") is not None
                  and t["text"].strip()]
    turn_sets = {"GoEmotions test": Labelled.of(ge), "call held-out":
                 Labelled.of(read_jsonl(CALL_HELDOUT)), "MELD dev+test": Labelled.of(meld_turns)}
    sets = {k: v for k, v in load_sets(data_dir, args.limit).items() if k.startswith("eval:")}
    stamp = hashlib.sha1(default_head_path().read_bytes()).hexdigest()[:10]
    result = {}
    for int8 in (True, False):  # fp32 last: its scores are usually cached by tune_state
        encoder = OnnxSentenceEncoder(default_encoder_path(), int8=int8)
        scorer = DiskCachedScorer(MiniLMHeadScorer(encoder=encoder),
                                  args.cache / f"scores-head-{stamp}-{encoder.tag}.npz")
        row: dict[str, object] = {}
        for name, data in turn_sets.items():
            row[f"{name} AUC"] = round(roc_auc(data.y, np.array(scorer.score(data.texts))), 4)
        for name, items in sets.items():
            row[name] = evaluate(items, scorer).to_dict()
        scorer.save()
        result["int8" if int8 else "fp32"] = row
        print(f"\n{'int8' if int8 else 'fp32 (shipped)'} encoder + head")
        for k, v in row.items():
            if isinstance(v, dict):
                print(f"  {k:18s} AUC {v['turn_auc']:.3f} caught {v['caught']}/{v['turned']} "
                      f"calm upset {v['calm_ever_upset']}/{v['calm']} calm rising "
                      f"{v['calm_ever_rising']}/{v['calm']}")
            else:
                print(f"  {k:24s} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
