"""Utterance-level figures of the frustration scorers, the frozen-head baseline first.

Data (no scorer was trained or chosen on any of the reported sets):
  * GoEmotions test (5,427 Reddit comments; frustrated = anger|annoyance|disapproval|
    disappointment);
  * benchmarks/data/call_utterances.jsonl — 100 held-out call-like utterances, other
    wording than models/call_phrases.jsonl (which the models train on);
  * MELD caller turns (frustrated = anger|disgust): MELD dev+test splits, and all;
  * Topical-Chat caller turns (frustrated = Angry|Disgusted), all.

``--context`` also measures whether context helps the fine-tuned model: each MELD
caller turn (MELD train split, development only) scored cold, after the other
party's previous turn ("previous [SEP] turn"), and after the caller's previous turn.

Scores are cached on disk by scorer and text (``--cache``).

    .venv/bin/python benchmarks/eval_frustration.py [--context]
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

from voice.frustration.dialogues import DiskCachedScorer  # noqa: E402
from voice.frustration.metrics import f1_at, roc_auc  # noqa: E402
from voice.frustration.model import (  # noqa: E402
    FINETUNED_SCORER_NAME,
    HEAD_SCORER_NAME,
    load_scorer,
)
from voice.frustration.training import (  # noqa: E402
    CALL_HELDOUT,
    Labelled,
    default_data_dir,
    goemotions_rows,
    read_jsonl,
)


def turn_sets(data_dir: Path) -> dict[str, Labelled]:
    """The reported sets as texts and labels."""
    def caller_turns(path: Path, splits: tuple[str, ...] | None) -> Labelled:
        rows = []
        for d in read_jsonl(path):
            if splits and d["id"].split("/")[1] not in splits:
                continue
            rows += [t for t in d["turns"] if t["speaker"] == "caller"
                     and t.get("frustrated") is not None and t["text"].strip()]
        return Labelled.of(rows)

    meld = data_dir / "dialogues" / "meld" / "meld.jsonl"
    return {
        "GoEmotions test": Labelled.of(goemotions_rows(data_dir, "test")),
        "call held-out": Labelled.of(read_jsonl(CALL_HELDOUT)),
        "MELD dev+test": caller_turns(meld, ("dev", "test")),
        "MELD all": caller_turns(meld, None),
        "Topical-Chat all": caller_turns(
            data_dir / "dialogues" / "topicalchat" / "topicalchat.jsonl", None),
    }


def cached(kind: str, cache: Path) -> tuple[DiskCachedScorer, float]:
    """The scorer (with its disk cache) and its operating threshold."""
    name = FINETUNED_SCORER_NAME if kind == "finetuned" else HEAD_SCORER_NAME
    scorer = load_scorer(name)
    path = (REPO / "models" / "frustration_minilm" / "model.int8.onnx" if kind == "finetuned"
            else REPO / "models" / "frustration_head.npz")
    stamp = hashlib.sha1(path.read_bytes()).hexdigest()[:10]
    if kind == "head":  # the encoder's back end and max length change the head's scores
        stamp += f"-{encoder_tag()}"
    return DiskCachedScorer(scorer, cache / f"scores-{kind}-{stamp}.npz"), scorer.threshold


def encoder_tag() -> str:
    """Which shared encoder the head runs on (back end and max length)."""
    from voice.embedding import load_encoder

    return load_encoder().tag


def utterance_table(sets: dict[str, Labelled], cache: Path) -> dict[str, dict[str, str]]:
    """AUC (and F1 at the shipped threshold on GoEmotions test and calls) per scorer."""
    rows = {}
    for kind, label in (("head", "baseline: frozen MiniLM + head"),
                        ("finetuned", "fine-tuned MiniLM, int8 (shipped)")):
        scorer, threshold = cached(kind, cache)
        row = {}
        for name, data in sets.items():
            p = np.array(scorer.score(data.texts))
            row[f"{name} AUC"] = f"{roc_auc(data.y, p):.3f}"
            if name in ("GoEmotions test", "call held-out"):
                row[f"{name} F1"] = f"{f1_at(data.y, p, threshold):.3f}"
        scorer.save()
        rows[label] = row
    return rows


def context_table(data_dir: Path, cache: Path, kind: str = "finetuned",
                  limit: int | None = None) -> dict[str, str]:
    """One scorer on MELD train-split caller turns (development only): cold vs with context.

    ``limit`` keeps that many dialogues, evenly spread (the shared cores' time).
    """
    scorer, _ = cached(kind, cache)
    cold, other, own, ys = [], [], [], []
    dialogues = [d for d in read_jsonl(data_dir / "dialogues" / "meld" / "meld.jsonl")
                 if d["id"].split("/")[1] == "train"]
    if limit and len(dialogues) > limit:
        dialogues = [dialogues[int(k * len(dialogues) / limit)] for k in range(limit)]
    for d in dialogues:
        prev_other = prev_own = ""
        for t in d["turns"]:
            if t["speaker"] != "caller":
                prev_other = t["text"]
                continue
            if t.get("frustrated") is not None and t["text"].strip():
                cold.append(t["text"])
                other.append(f"{prev_other} [SEP] {t['text']}" if prev_other else t["text"])
                own.append(f"{prev_own} [SEP] {t['text']}" if prev_own else t["text"])
                ys.append(float(t["frustrated"]))
            prev_own = t["text"]
    y = np.array(ys)
    out = {name: f"{roc_auc(y, np.array(scorer.score(texts))):.3f}"
           for name, texts in (("cold", cold), ("after the other party's turn", other),
                               ("after the caller's previous turn", own))}
    p_cold, p_other = np.array(scorer.score(cold)), np.array(scorer.score(other))
    p_own = np.array(scorer.score(own))
    out["max(cold, after other party)"] = f"{roc_auc(y, np.maximum(p_cold, p_other)):.3f}"
    out["mean(cold, after other party)"] = f"{roc_auc(y, (p_cold + p_other) / 2):.3f}"
    out["mean(cold, after own previous)"] = f"{roc_auc(y, (p_cold + p_own) / 2):.3f}"
    out["turns"] = str(len(ys))
    scorer.save()
    return out


def print_table(rows: dict[str, dict[str, str]]) -> None:
    """One block per scorer (the tables are wide)."""
    for name, row in rows.items():
        print(f"\n{name}")
        for col, value in row.items():
            print(f"  {col:28s} {value}")


def main(argv: list[str] | None = None) -> None:
    """Print the utterance table (and the context table with ``--context``)."""
    parser = argparse.ArgumentParser(description="Evaluate the frustration scorers.")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/voice_frust_cache"))
    parser.add_argument("--context", action="store_true")
    parser.add_argument("--context-scorer", choices=("head", "finetuned"), default="head")
    parser.add_argument("--context-limit", type=int, default=300,
                        help="MELD train dialogues for the context table (0: all).")
    parser.add_argument("--context-only", action="store_true")
    args = parser.parse_args(argv)
    data_dir = default_data_dir()
    result: dict[str, object] = {}
    if not args.context_only:
        rows = utterance_table(turn_sets(data_dir), args.cache)
        print_table(rows)
        result["utterance"] = rows
    if args.context or args.context_only:
        ctx = context_table(data_dir, args.cache, args.context_scorer,
                            args.context_limit or None)
        print(f"\nContext, {args.context_scorer}, MELD train-split caller turns "
              "(development only)")
        for k, v in ctx.items():
            print(f"  {k:36s} AUC {v}")
        result["context"] = ctx
    print(json.dumps(result))


if __name__ == "__main__":
    main()
