"""Cheap levers on the frozen-encoder head, chosen on development data, reported once.

Every variant is a head over the shipped encoder's frozen vectors (int8 ONNX MiniLM),
cached by ``voice.frustration.training.frozen_embeddings``:

* ``shipped``: ``models/frustration_head.npz`` as committed (the baseline row);
* ``refit``: the same recipe fitted again here (shows what refitting alone moves);
* ``multitask``: one hidden layer, two output groups: the binary frustration label and
  GoEmotions' 28 labels (sigmoid each; call phrases carry no such labels and add to
  the frustration loss only), ``--aux`` weight on the 28-label loss;
* ``labels28``: the same network's 28 label probabilities, frustration read as the
  noisy-OR of anger, annoyance, disapproval and disappointment (no binary output);
* ``vader``: the shipped recipe with VADER's neg / neu / pos / compound appended to the
  vector (``voice.frustration.lexicon``; ``vaderSentiment``, MIT);
* ``xed-W``: the recipe plus XED's English subtitle lines (``models/xed/``, CC BY 4.0;
  frustrated = anger), each line at weight W (``--xed-weights``); ``xed-disgust-1``: the
  same with anger or disgust as the label; ``vader+xed-W``: both levers.

Chosen on development data: GoEmotions dev and ``models/call_phrases.jsonl``
split=dev (per-turn AUC, ECE after Platt on the same dev rows), XED's dev tenth; MELD
train-split caller turns (the state's development dialogues) are development data too,
never fitted on.  ``--report NAME`` then prints, once, the held-out figures of
the variant named: GoEmotions test, the held-out call utterances, MELD dev+test caller
turns, and the call-level state on the eval dialogues of ``tune_state.py`` (its
``--limit 300`` samples), with the variant's scores put on the shipped head's scale
(Platt fitted on the same dev rows for both models, composed), so the state's tuned
thresholds mean the same.

    .venv/bin/python benchmarks/head_variants.py [--report vader] [--aux 1.0] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from tune_state import load_sets  # noqa: E402

from voice.frustration.calibration import fit_platt, logit, sigmoid  # noqa: E402
from voice.frustration.evaluate import evaluate  # noqa: E402
from voice.frustration.lexicon import lexicon_features  # noqa: E402
from voice.frustration.metrics import expected_calibration_error, roc_auc  # noqa: E402
from voice.frustration.model import Head, load_head  # noqa: E402
from voice.frustration.state import Tuning  # noqa: E402
from voice.frustration.training import (  # noqa: E402
    CALL_HELDOUT,
    SEED,
    Labelled,
    call_rows,
    default_data_dir,
    fit_head,
    frozen_embeddings,
    goemotions_rows,
    read_jsonl,
    xed_rows,
)

FRUSTRATED_LABELS = ("anger", "annoyance", "disapproval", "disappointment")
CALL_WEIGHT = 20.0


def label_names(rows: list[dict[str, Any]]) -> list[str]:
    """The 28 GoEmotions labels, sorted."""
    return sorted({label for r in rows for label in r["labels"]})


def label_matrix(rows: list[dict[str, Any]], names: list[str]) -> np.ndarray:
    """Rows x labels 0/1 (all zeros for rows without GoEmotions labels)."""
    index = {n: i for i, n in enumerate(names)}
    out = np.zeros((len(rows), len(names)), dtype=np.float32)
    for k, r in enumerate(rows):
        for label in r.get("labels", ()):
            out[k, index[label]] = 1.0
    return out


def fit_multitask(x: np.ndarray, y: np.ndarray, w: np.ndarray, labels: np.ndarray,
                  has_labels: np.ndarray, aux: float, hidden: int = 64,
                  weight_decay: float = 1e-3, epochs: int = 300) -> tuple[Head, Head]:
    """One hidden layer, 1 + 28 outputs; the shipped head's optimiser and class balance.
    Returns (frustration head, 28-label head) sharing the hidden layer."""
    import torch

    torch.manual_seed(SEED)
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)
    lt, mt = torch.from_numpy(labels), torch.from_numpy(has_labels.astype(np.float32))
    pos, neg = float((w * y).sum()), float((w * (1 - y)).sum())
    wt = torch.from_numpy(w * np.where(y > 0.5, 0.5 / pos, 0.5 / neg)).float()
    n_lab = float(has_labels.sum())
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, 1 + labels.shape[1]))
    opt = torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=weight_decay)
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")
    for _ in range(epochs):
        opt.zero_grad()
        out = net(xt)
        main = (bce(out[:, 0], yt) * wt).sum()
        side = (bce(out[:, 1:], lt).mean(dim=1) * mt).sum() / n_lab
        (main + aux * side).backward()
        opt.step()
    first, last = net[0], net[2]
    w0, b0 = first.weight.detach().numpy().T.copy(), first.bias.detach().numpy().copy()
    w1, b1 = last.weight.detach().numpy().T.copy(), last.bias.detach().numpy().copy()
    return (Head(layers=((w0, b0), (w1[:, :1].copy(), b1[:1].copy()))),
            Head(layers=((w0, b0), (w1[:, 1:].copy(), b1[1:].copy()))))


def multilabel_probs(head: Head, x: np.ndarray) -> np.ndarray:
    """The 28 sigmoid outputs of a label head."""
    (w0, b0), (w1, b1) = head.layers
    return np.asarray(sigmoid(np.maximum(x @ w0 + b0, 0.0) @ w1 + b1))


def noisy_or(probs: np.ndarray, names: list[str]) -> np.ndarray:
    """P(any frustrated label) from the per-label probabilities (independence assumed)."""
    cols = [names.index(n) for n in FRUSTRATED_LABELS]
    return np.asarray(1.0 - np.prod(1.0 - probs[:, cols], axis=1))


def reads_lexicon(name: str, head: Any) -> bool:
    """Whether variant ``name`` reads the lexicon features after the embedding."""
    return name.startswith("vader") or bool(getattr(head, "reads_lexicon", False))


def main(argv: list[str] | None = None) -> None:  # noqa: PLR0915 - one linear script
    """Fit the variants, print development figures, optionally report one once."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/voice_frust_cache"))
    parser.add_argument("--aux", type=float, default=1.0, help="Weight of the 28-label loss.")
    parser.add_argument("--report", default=None, help="Report this variant on eval data.")
    parser.add_argument("--out", type=Path, default=None, help="Write the figures as JSON.")
    parser.add_argument("--xed-weights", default="0.5,1,2",
                        help="Weights per XED line to try (comma-separated; empty: none).")
    args = parser.parse_args(argv)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    data = default_data_dir()
    ge_train, ge_dev = goemotions_rows(data, "train"), goemotions_rows(data, "dev")
    calls_train, calls_dev = call_rows(split="train"), call_rows(split="dev")
    names = label_names(ge_train)
    train = Labelled.of(ge_train) + Labelled.of(calls_train, weight=CALL_WEIGHT)
    dev = Labelled.of(ge_dev) + Labelled.of(calls_dev)
    x_train = frozen_embeddings(train.texts, args.cache, "train")
    x_dev = frozen_embeddings(dev.texts, args.cache, "dev")
    n_ge_dev = len(ge_dev)
    sets = load_sets(data, 300)
    dialogue_texts = sorted({t.text for items in sets.values() for i in items
                             for t in i.dialogue.turns if t.speaker == "caller"
                             and t.text.strip()})
    x_dialogue = frozen_embeddings(dialogue_texts, args.cache, "dialogues")
    row_of = {t: k for k, t in enumerate(dialogue_texts)}
    meld_dev = [(t.text, bool(lab)) for i in sets["dev:meld"]
                for t, lab in zip(i.dialogue.turns, i.labels, strict=True)
                if t.speaker == "caller" and lab is not None and t.text.strip()]
    print(f"embeddings ready: {time.process_time() - cpu0:.0f} CPU-s", file=sys.stderr)

    labels = np.vstack([label_matrix(ge_train, names),
                        np.zeros((len(calls_train), len(names)), np.float32)])
    has_labels = np.r_[np.ones(len(ge_train)), np.zeros(len(calls_train))]
    variants: dict[str, Any] = {"shipped": load_head()}
    variants["refit"] = fit_head(x_train, train.y, train.w)
    frust, lab_head = fit_multitask(x_train, train.y, train.w, labels, has_labels, args.aux)
    variants["multitask"] = frust
    variants["labels28"] = lab_head
    extra_train = lexicon_features(train.texts)
    vader_dev = lexicon_features(dev.texts)
    vader_dialogue = lexicon_features(dialogue_texts)
    variants["vader"] = fit_head(np.hstack([x_train, extra_train]), train.y, train.w)
    xed_train, xed_dev = xed_rows("train"), xed_rows("dev")
    x_xed = frozen_embeddings([r["text"] for r in xed_train], args.cache, "xed-train")
    x_xed_dev = frozen_embeddings([r["text"] for r in xed_dev], args.cache, "xed-dev")
    vader_xed_dev = lexicon_features([r["text"] for r in xed_dev])
    y_xed_dev = np.array([r["frustrated"] for r in xed_dev], dtype=float)
    x_with_xed = np.vstack([x_train, x_xed])
    vader_with_xed = np.vstack([extra_train, lexicon_features([r["text"] for r in xed_train])])
    for weight in [float(w) for w in args.xed_weights.split(",") if w.strip()]:
        with_xed = train + Labelled.of(xed_train, weight=weight)
        variants[f"xed-{weight:g}"] = fit_head(x_with_xed, with_xed.y, with_xed.w)
        variants[f"vader+xed-{weight:g}"] = fit_head(np.hstack([x_with_xed, vader_with_xed]),
                                                     with_xed.y, with_xed.w)
    if args.xed_weights.strip():
        angry_or_disgusted = [{**r, "frustrated": bool({"anger", "disgust"} & set(r["labels"]))}
                              for r in xed_train]
        with_xed = train + Labelled.of(angry_or_disgusted)
        variants["xed-disgust-1"] = fit_head(x_with_xed, with_xed.y, with_xed.w)
    print(f"fitted: {time.process_time() - cpu0:.0f} CPU-s", file=sys.stderr)

    def predict(name: str, x: np.ndarray, extra: np.ndarray) -> np.ndarray:
        """``name``'s scores for rows with embeddings ``x`` and lexicon features ``extra``."""
        head = variants[name]
        if name == "labels28":
            return noisy_or(multilabel_probs(head, x), names)
        if reads_lexicon(name, head):
            return np.asarray(head.predict(np.hstack([x, extra])))
        return np.asarray(head.predict(x))

    meld_x = x_dialogue[[row_of[t] for t, _ in meld_dev]]
    meld_y = np.array([lab for _, lab in meld_dev], dtype=float)
    meld_extra = vader_dialogue[[row_of[t] for t, _ in meld_dev]]
    print("\ndevelopment (choose here): per-turn AUC; ECE after Platt on the same dev rows")
    print(f"| variant | GoEmotions dev AUC ({n_ge_dev}) | call dev AUC ({len(calls_dev)}) "
          f"| dev ECE raw / Platt | XED dev AUC ({len(xed_dev)}) "
          f"| MELD train-split caller turns AUC ({len(meld_dev)}) |")
    print("| --- | --- | --- | --- | --- | --- |")
    dev_rows = {}
    for name in variants:
        p = predict(name, x_dev, vader_dev)
        platt = fit_platt(p, dev.y)
        pm = predict(name, meld_x, meld_extra)
        dev_rows[name] = {
            "goemotions_dev_auc": roc_auc(dev.y[:n_ge_dev], p[:n_ge_dev]),
            "call_dev_auc": roc_auc(dev.y[n_ge_dev:], p[n_ge_dev:]),
            "ece_raw": expected_calibration_error(dev.y, p),
            "ece_platt": expected_calibration_error(dev.y, platt.apply(p)),
            "xed_dev_auc": roc_auc(y_xed_dev, predict(name, x_xed_dev, vader_xed_dev)),
            "meld_train_auc": roc_auc(meld_y, pm), "platt": platt.to_dict()}
        r = dev_rows[name]
        print(f"| {name} | {r['goemotions_dev_auc']:.3f} | {r['call_dev_auc']:.3f} | "
              f"{r['ece_raw']:.3f} / {r['ece_platt']:.3f} | {r['xed_dev_auc']:.3f} | "
              f"{r['meld_train_auc']:.3f} |")
    result: dict[str, Any] = {"aux": args.aux, "dev": dev_rows}
    if args.report:
        result["eval"] = report(args, args.report, variants, predict, dev, x_dev,
                                vader_dev, sets, x_dialogue, row_of, vader_dialogue)
    result["cpu_s"] = round(time.process_time() - cpu0, 1)
    result["wall_s"] = round(time.perf_counter() - wall0, 1)
    result["load_avg"] = [round(v, 2) for v in os.getloadavg()]
    print(f"\nCPU {result['cpu_s']} s, wall {result['wall_s']} s, "
          f"load average {result['load_avg']}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


class _ArrayScorer:
    """Scores looked up from precomputed arrays (every dialogue text is embedded ahead)."""

    def __init__(self, name: str, scores: dict[str, float]) -> None:
        self.name = name
        self._scores = scores

    def score(self, texts: list[str]) -> list[float]:
        return [self._scores[t] for t in texts]


def report(args: argparse.Namespace, name: str, variants: dict[str, Any], predict: Any,
           dev: Labelled, x_dev: np.ndarray, vader_dev: np.ndarray,
           sets: dict[str, Any], x_dialogue: np.ndarray, row_of: dict[str, int],
           vader_dialogue: np.ndarray) -> dict[str, Any]:
    """Held-out figures of ``shipped`` and ``name``, once."""
    data = default_data_dir()
    ge_test = Labelled.of(goemotions_rows(data, "test"))
    heldout = Labelled.of(read_jsonl(CALL_HELDOUT))
    x_test = frozen_embeddings(ge_test.texts, args.cache, "goemotions_test")
    x_held = frozen_embeddings(heldout.texts, args.cache, "call_heldout")
    texts = list(row_of)
    base_platt = fit_platt(predict("shipped", x_dev, vader_dev), dev.y)
    test_extra, held_extra = lexicon_features(ge_test.texts), lexicon_features(heldout.texts)
    out: dict[str, Any] = {}
    for variant in ("shipped", name):
        platt = fit_platt(predict(variant, x_dev, vader_dev), dev.y)

        def to_shipped_scale(p: np.ndarray, platt: Any = platt) -> np.ndarray:
            """Calibrated by its own Platt, then through the shipped head's Platt inverse."""
            return np.asarray(sigmoid((platt.a * logit(p) + platt.b - base_platt.b)
                                      / base_platt.a))

        p_dialogue = to_shipped_scale(predict(variant, x_dialogue, vader_dialogue))
        scorer = _ArrayScorer(variant, dict(zip(texts, p_dialogue.tolist(), strict=True)))
        figures: dict[str, Any] = {
            "goemotions_test_auc": roc_auc(ge_test.y, predict(variant, x_test, test_extra)),
            "call_heldout_auc": roc_auc(heldout.y, predict(variant, x_held, held_extra)),
            "platt_to_shipped_scale": {"a": platt.a / base_platt.a,
                                       "b": (platt.b - base_platt.b) / base_platt.a}}
        for set_name in ("eval:meld", "eval:topicalchat", "eval:calls"):
            figures[set_name] = evaluate(sets[set_name], scorer, Tuning()).to_dict()
        out[variant] = figures
        print(f"\nheld-out, {variant}: GoEmotions test AUC {figures['goemotions_test_auc']:.3f}"
              f", call held-out AUC {figures['call_heldout_auc']:.3f}")
        for set_name in ("eval:meld", "eval:topicalchat", "eval:calls"):
            f = figures[set_name]
            print(f"  {set_name:17s} AUC {f['turn_auc']:.3f}  caught {f['caught']}/{f['turned']}"
                  f" ({f['caught_share']:.1%})  calm upset {f['calm_ever_upset']}/{f['calm']}"
                  f" ({f['calm_upset_share']:.1%})  rising in time "
                  f"{f['caught_rising_share']:.1%}  calm rising {f['calm_rising_share']:.1%}")
    return out


if __name__ == "__main__":
    main()
