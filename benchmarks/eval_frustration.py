"""Evaluate the frustration stage: utterance level and dialogue level, every variant.

Data (nothing here was used to fit or choose the shipped head):
  * GoEmotions test (5,427 Reddit comments; frustrated = anger|annoyance|disapproval|
    disappointment);
  * benchmarks/data/call_utterances.jsonl — 60 call-like utterances written for this
    evaluation (30 frustrated, 30 calm), other wording than models/call_phrases.jsonl;
  * benchmarks/data/call_dialogues.jsonl — 16 front-desk dialogues (8 escalating with
    the caller's worst turn marked, 8 calm).

For each head variant the training script tries (refit here, deterministically, from
cached embeddings) and for the shipped head it prints ROC-AUC and F1 at the operating
threshold, model only and with the conversational cues (the fused per-utterance score
`voice score` reports), then the dialogue-level figures: how many escalating calls turn
`rising` on at or before the caller's worst turn, how many reach upset, and how many
false `upset` levels calm calls get.

    .venv/bin/python benchmarks/eval_frustration.py [--skip-variants]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voice.frustration.dialogues import parse_dialogue, score_dialogue  # noqa: E402
from voice.frustration.model import Head, load_head  # noqa: E402
from voice.frustration.state import Tuning  # noqa: E402

DATA = REPO / "benchmarks" / "data"


def _train_module():
    spec = importlib.util.spec_from_file_location("train_frustration",
                                                  REPO / "models" / "train_frustration.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class HeadScorer:
    """A head over the shared encoder, with an embedding cache for repeated texts."""

    def __init__(self, name: str, head: Head, encoder) -> None:
        self.name, self.head, self.encoder = name, head, encoder
        self._cache: dict[str, float] = {}

    def score(self, texts: Sequence[str]) -> list[float]:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            probs = self.head.predict(self.encoder.encode(todo))
            self._cache.update(zip(todo, (float(p) for p in probs), strict=True))
        return [self._cache[t] for t in texts]


def fused_scores(texts: list[str], scorer: HeadScorer) -> np.ndarray:
    """Per-utterance score with the conversational cues, as `voice score TEXT` gives it."""
    from voice.frustration.dialogues import score_text

    return np.array([score_text(t, scorer)["frustration"] for t in texts])


def dialogue_figures(dialogues: list[dict], scorer: HeadScorer) -> dict[str, str]:
    """Rising-before-worst, reached-upset and false-upset counts over the scenarios."""
    rising_early = upset = esc_total = false_upset = calm_turns = calm_tense = 0
    for raw in dialogues:
        out = score_dialogue(parse_dialogue(raw), scorer)["turns"]
        caller = [i for i, t in enumerate(raw["turns"]) if t["speaker"] == "caller"]
        if raw["kind"] == "escalating":
            esc_total += 1
            worst = raw["worst_turn"]
            rising_early += any(out[i]["rising"] for i in caller if i <= worst)
            upset += any(out[i]["level"] in ("upset", "escalating") for i in caller)
        else:
            calm_turns += len(caller)
            false_upset += sum(out[i]["level"] in ("upset", "escalating") for i in caller)
            calm_tense += any(out[i]["level"] != "calm" for i in caller)
    n_calm = len(dialogues) - esc_total
    return {
        "rising<=worst": f"{rising_early}/{esc_total}",
        "reached upset": f"{upset}/{esc_total}",
        "false upset turns (calm)": f"{false_upset}/{calm_turns}",
        "calm calls ever tense": f"{calm_tense}/{n_calm}",
    }


def utterance_figures(tm, head: Head, threshold: float, ge_test, calls: list[dict],
                      scorer: HeadScorer) -> dict[str, str]:
    """AUC and F1 on GoEmotions test and the held-out call utterances."""
    y_ge = ge_test.broad
    p_ge = head.predict(ge_test.x)
    y_call = np.array([r["frustrated"] for r in calls], dtype=np.float32)
    texts = [r["text"] for r in calls]
    p_call = np.array(scorer.score(texts))
    p_fused = fused_scores(texts, scorer)
    floor = Tuning().model_floor
    fused_threshold = (threshold - floor) / (1.0 - floor)  # the same point after the floor
    return {
        "thr": f"{threshold:.2f}",
        "GE test AUC": f"{tm.roc_auc(y_ge, p_ge):.3f}",
        "GE test F1": f"{tm.f1_at(y_ge, p_ge, threshold):.3f}",
        "call AUC": f"{tm.roc_auc(y_call, p_call):.3f}",
        "call F1": f"{tm.f1_at(y_call, p_call, threshold):.3f}",
        "call+cues AUC": f"{tm.roc_auc(y_call, p_fused):.3f}",
        "call+cues F1": f"{tm.f1_at(y_call, p_fused, fused_threshold):.3f}",
    }


def print_table(rows: dict[str, dict[str, str]]) -> None:
    """A fixed-width table, one row per head."""
    cols = list(next(iter(rows.values())))
    width = max(len(name) for name in rows) + 2
    print("".ljust(width) + "  ".join(c.rjust(max(len(c), 6)) for c in cols))
    for name, row in rows.items():
        print(name.ljust(width) + "  ".join(row[c].rjust(max(len(c), 6)) for c in cols))


def main(argv: list[str] | None = None) -> None:
    """Evaluate the shipped head and (unless skipped) every variant; print tables."""
    parser = argparse.ArgumentParser(description="Evaluate the frustration stage.")
    parser.add_argument("--skip-variants", action="store_true")
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    tm = _train_module()
    cache = args.cache or tm.DEFAULT_CACHE
    data_dir = tm.default_data_dir()
    from voice.embedding import load_encoder

    encoder = load_encoder()
    shipped = load_head()
    heads: dict[str, tuple[Head, float]] = {"SHIPPED: " + shipped.meta.get("variant", "?"):
                                            (shipped, shipped.threshold)}
    if not args.skip_variants:
        ge_dev = tm.load_goemotions(data_dir, cache, "dev")
        call_dev = tm.load_calls(tm.CALL_PHRASES, cache, "dev")
        for name, head in tm.fit_all(data_dir, cache).items():
            heads[name] = (head, tm.operating_threshold(head, ge_dev, call_dev))
    ge_test = tm.load_goemotions(data_dir, cache, "test")
    calls = tm.read_jsonl(DATA / "call_utterances.jsonl")
    dialogues = tm.read_jsonl(DATA / "call_dialogues.jsonl")
    utt_rows, dlg_rows = {}, {}
    for name, (head, threshold) in heads.items():
        scorer = HeadScorer(name, head, encoder)
        utt_rows[name] = utterance_figures(tm, head, threshold, ge_test, calls, scorer)
        dlg_rows[name] = dialogue_figures(dialogues, scorer)
    print("\nUtterance level (GE = GoEmotions test, n=5427; call = call_utterances.jsonl, n=60)")
    print_table(utt_rows)
    print("\nDialogue level (call_dialogues.jsonl: 8 escalating, 8 calm; text only, no audio)")
    print_table(dlg_rows)
    print(json.dumps({"utterance": utt_rows, "dialogue": dlg_rows}))


if __name__ == "__main__":
    main()
