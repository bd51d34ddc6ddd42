"""Fine-tune MiniLM end to end on frustration, export it to ONNX and quantize it to int8.

This module owns the shipped model's training: the packaged all-MiniLM-L6-v2
encoder plus a linear layer over its mean-pooled output, trained end to end on
GoEmotions ``train`` (output ``frustrated`` = anger|annoyance|disapproval|
disappointment, plus the 28 GoEmotions labels as auxiliary outputs), XED's English
subtitle lines (``models/xed/``, ``frustrated`` = anger) and the call phrases
(``frustrated`` only).  Token ids are cached and training checkpoints
every few steps, so an interrupted run resumes where it stopped.  The trained net
is exported with ``torch.onnx`` and its weights quantized to int8 with ONNX
Runtime's dynamic quantization (``export_int8``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voice.frustration.training import (
    SEED,
    XED_EMOTIONS,
    call_rows,
    goemotions_rows,
    text_digest,
    xed_rows,
)

GE_LABELS = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "neutral",
    "optimism", "pride", "realization", "relief", "remorse", "sadness", "surprise",
)
XED_OUTPUTS = tuple(f"xed_{emotion}" for emotion in XED_EMOTIONS)
OUTPUTS = ("frustrated", *GE_LABELS, *XED_OUTPUTS)
PLAN_AFTER_STEPS = 12  # the schedule is fitted to the time budget after this many steps


@dataclass(frozen=True)
class FineTuneConfig:
    """The knobs of one fine-tuning run (all written to the model card)."""

    max_length: int = 64
    batch_size: int = 32
    lr: float = 5e-5
    head_lr: float = 1e-3
    warmup: float = 0.06
    negatives_per_positive: float = 1.2  # calm GoEmotions rows kept per frustrated row
    xed_weight: float = 1.0  # loss weight of an XED subtitle line (0: XED left out)
    xed_negatives_per_positive: float = 3.0  # calm XED lines kept per angry one
    call_repeats: int = 10  # each call phrase is seen this many times per epoch
    call_weight: float = 4.0  # loss weight of a call phrase relative to a comment
    aux_weight: float = 0.5  # weight of the 28 GoEmotions and 8 XED label outputs
    epochs: float = 2.0
    freeze_layers: int = 0  # the embeddings and this many lower layers stay frozen
    threads: int = 2
    max_minutes: float = 25.0
    checkpoint_every: int = 40
    seed: int = SEED


@dataclass
class TrainingSet:
    """Token ids, targets and masks of the training rows, in a fixed order."""

    ids: list[np.ndarray]
    targets: np.ndarray  # (n, len(OUTPUTS))
    masks: np.ndarray  # (n, len(OUTPUTS)): 1 where the target is known
    weights: np.ndarray  # (n,)
    counts: dict[str, int]
    digest: str


def _tokenizer(encoder_dir: Path, max_length: int) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
    tok.enable_truncation(max_length)
    tok.no_padding()
    return tok


def _subsample_calm(rows: list[dict[str, Any]], per_positive: float,
                    rng: np.random.Generator) -> tuple[list[dict[str, Any]], int, int]:
    """Every frustrated row and ``per_positive`` calm rows for each; the rows, how many
    frustrated and how many calm rows there were."""
    pos = [r for r in rows if r["frustrated"]]
    neg = [r for r in rows if not r["frustrated"]]
    keep = rng.choice(len(neg), size=min(len(neg), int(len(pos) * per_positive)),
                      replace=False)
    return pos + [neg[i] for i in sorted(keep)], len(pos), len(neg)


def build_training_set(data_dir: Path, encoder_dir: Path, cache: Path,
                       cfg: FineTuneConfig) -> TrainingSet:
    """GoEmotions and XED train (calm rows subsampled) plus repeated call phrases,
    tokenised once."""
    rng = np.random.default_rng(cfg.seed)
    ge_rows, ge_pos, ge_neg = _subsample_calm(goemotions_rows(data_dir, "train"),
                                              cfg.negatives_per_positive, rng)
    xed, xed_pos, _ = (_subsample_calm(xed_rows("train"), cfg.xed_negatives_per_positive, rng)
                       if cfg.xed_weight > 0 else ([], 0, 0))
    calls = call_rows(split="train")
    texts = ([r["text"] for r in ge_rows] + [r["text"] for r in calls] * cfg.call_repeats
             + [r["text"] for r in xed])
    n_ge = len(ge_rows)
    n_calls = len(calls) * cfg.call_repeats
    targets = np.zeros((len(texts), len(OUTPUTS)), dtype=np.float32)
    masks = np.zeros_like(targets)
    for i, r in enumerate(ge_rows):
        targets[i, 0] = float(r["frustrated"])
        for label in r["labels"]:
            targets[i, 1 + GE_LABELS.index(label)] = 1.0
        masks[i, : 1 + len(GE_LABELS)] = 1.0
    for k, r in enumerate(calls * cfg.call_repeats):
        targets[n_ge + k, 0] = float(r["frustrated"])
        masks[n_ge + k, 0] = 1.0
    xed_first = OUTPUTS.index(XED_OUTPUTS[0])
    for k, r in enumerate(xed):
        targets[n_ge + n_calls + k, 0] = float(r["frustrated"])
        for label in r["labels"]:
            targets[n_ge + n_calls + k, xed_first + XED_EMOTIONS.index(label)] = 1.0
        masks[n_ge + n_calls + k, 0] = 1.0
        masks[n_ge + n_calls + k, xed_first:] = 1.0
    weights = np.ones(len(texts), dtype=np.float32)
    weights[n_ge:n_ge + n_calls] = cfg.call_weight
    weights[n_ge + n_calls:] = cfg.xed_weight
    digest = text_digest(texts, f"len={cfg.max_length}")
    ids = _cached_ids(texts, encoder_dir, cache / f"tokens-{digest}.npz", cfg.max_length)
    counts = {"goemotions_frustrated": ge_pos, "goemotions_calm_kept": n_ge - ge_pos,
              "goemotions_calm_total": ge_neg, "xed_angry": xed_pos,
              "xed_calm_kept": len(xed) - xed_pos, "call_phrases": len(calls),
              "call_repeats": cfg.call_repeats, "rows": len(texts)}
    return TrainingSet(ids, targets, masks, weights, counts, digest)


def _cached_ids(texts: list[str], encoder_dir: Path, path: Path, max_length: int
                ) -> list[np.ndarray]:
    if path.exists():
        with np.load(path) as data:
            flat, offsets = data["flat"], data["offsets"]
    else:
        tok = _tokenizer(encoder_dir, max_length)
        encoded = [np.array(e.ids, dtype=np.int32) for e in tok.encode_batch(texts)]
        offsets = np.cumsum([0] + [len(e) for e in encoded])
        flat = np.concatenate(encoded)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, flat=flat, offsets=offsets)
    return [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def batch_order(ids: list[np.ndarray], cfg: FineTuneConfig) -> list[np.ndarray]:
    """Shuffled batches, grouped by length within windows (less padding), deterministic."""
    rng = np.random.default_rng(cfg.seed + 1)
    batches: list[np.ndarray] = []
    epochs = max(1, int(np.ceil(cfg.epochs)))
    for _ in range(epochs):
        perm = rng.permutation(len(ids))
        window = cfg.batch_size * 50
        for lo in range(0, len(perm), window):
            chunk = sorted(perm[lo : lo + window], key=lambda i: len(ids[i]))
            group = [np.array(chunk[j : j + cfg.batch_size])
                     for j in range(0, len(chunk), cfg.batch_size)]
            rng.shuffle(group)
            batches.extend(group)
    return batches[: int(len(batches) * cfg.epochs / epochs)]


def _pad(ids: list[np.ndarray], rows: np.ndarray) -> tuple[Any, Any]:
    import torch

    width = max(len(ids[i]) for i in rows)
    x = torch.zeros((len(rows), width), dtype=torch.long)
    m = torch.zeros((len(rows), width), dtype=torch.long)
    for j, i in enumerate(rows):
        x[j, : len(ids[i])] = torch.from_numpy(ids[i].astype(np.int64))
        m[j, : len(ids[i])] = 1
    return x, m


def make_net(encoder_dir: Path) -> Any:
    """The encoder plus a linear layer over its mean-pooled output (``len(OUTPUTS)`` logits)."""
    import torch
    from transformers import AutoModel

    class FrustrationNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # eager attention keeps the attention mask in the exported graph: an SDPA
            # export traced with an all-ones mask leaves it out, so padding is attended to
            self.encoder = AutoModel.from_pretrained(str(encoder_dir), local_files_only=True,
                                                     attn_implementation="eager")
            self.dropout = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, len(OUTPUTS))

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids,
                                  attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(self.dropout(pooled))

    return FrustrationNet()


def _lr_factor(step: int, total: int, warmup: float) -> float:
    warm = max(1, int(total * warmup))
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (total - step) / max(1, total - warm))


def fine_tune(data: TrainingSet, encoder_dir: Path, cache: Path, cfg: FineTuneConfig,
              bar: Callable[[int, int], Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Train (resuming from ``cache``'s checkpoint if it matches); returns net and run facts."""
    import torch

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    net = make_net(encoder_dir)
    frozen = [net.encoder.embeddings, *net.encoder.encoder.layer[: cfg.freeze_layers]]
    for module in frozen:
        for param in module.parameters():
            param.requires_grad_(False)
    trainable = [p for p in net.encoder.parameters() if p.requires_grad]
    groups = [{"params": trainable, "lr": cfg.lr},
              {"params": net.head.parameters(), "lr": cfg.head_lr}]
    opt = torch.optim.AdamW(groups, weight_decay=0.01)
    batches = batch_order(data.ids, cfg)
    plan = {"total": len(batches)}  # shortened once the speed of this machine is known
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: _lr_factor(s, plan["total"], cfg.warmup))
    ckpt = cache / f"finetune-{data.digest}-{text_digest([json.dumps(asdict(cfg))])}.pt"
    step, spent, losses = 0, 0.0, []
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step, spent, losses = state["step"], state["spent_s"], state["losses"]
        plan["total"] = state["total"]
    targets, masks = torch.from_numpy(data.targets), torch.from_numpy(data.masks)
    weights = torch.from_numpy(data.weights)
    aux = torch.full((len(OUTPUTS),), cfg.aux_weight)
    aux[0] = 1.0
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    progress = bar(plan["total"], step) if bar else None
    t0 = time.perf_counter() - spent
    stopped_by_budget = False
    net.train()
    while step < plan["total"]:
        if time.perf_counter() - t0 > cfg.max_minutes * 60:
            stopped_by_budget = True
            break
        if step == PLAN_AFTER_STEPS and not ckpt.exists():
            plan["total"] = _fit_plan(plan["total"], step, time.perf_counter() - t0, cfg)
            if progress is not None:
                progress.total = plan["total"]
        rows = batches[step]
        x, m = _pad(data.ids, rows)
        logits = net(x, m)
        per = loss_fn(logits, targets[rows]) * masks[rows] * aux
        loss = (per.sum(1) * weights[rows]).sum() / weights[rows].sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        losses.append(float(loss.detach()))
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        if step % cfg.checkpoint_every == 0 or step == plan["total"]:
            _save_checkpoint(ckpt, net, opt, sched, step, time.perf_counter() - t0, losses,
                             plan["total"])
    if progress is not None:
        progress.close()
    net.eval()
    facts = {"steps": step, "planned_steps": plan["total"], "epoch_steps": len(batches),
             "train_seconds": round(time.perf_counter() - t0),
             "stopped_by_time_budget": stopped_by_budget,
             "final_loss": round(float(np.mean(losses[-50:])), 4) if losses else None}
    return net, facts


def _fit_plan(total: int, step: int, elapsed: float, cfg: FineTuneConfig) -> int:
    """Steps that fit the time budget at the speed measured so far (never more than planned)."""
    per_step = elapsed / max(1, step)
    return max(step + 1, min(total, int(cfg.max_minutes * 60 * 0.97 / per_step)))


def _save_checkpoint(path: Path, net: Any, opt: Any, sched: Any, step: int, spent: float,
                     losses: list[float], total: int) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "step": step, "spent_s": spent, "losses": losses,
                "total": total}, tmp)
    os.replace(tmp, path)


def export_int8(net: Any, out_dir: Path, encoder_dir: Path, keep_fp32: Path | None = None
                ) -> dict[str, Any]:
    """Export ``net`` to ONNX, quantize its weights to int8 as the shared encoder's are
    (``voice.embedding.quantize_int8``), copy the tokenizer."""
    import shutil

    import torch

    from voice.embedding import quantize_int8

    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = keep_fp32 or out_dir / "model.fp32.onnx"
    x = torch.ones((2, 8), dtype=torch.long)
    with torch.inference_mode():
        torch.onnx.export(net, (x, torch.ones_like(x)), str(fp32),
                          input_names=["input_ids", "attention_mask"], output_names=["logits"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"},
                                        "logits": {0: "batch"}},
                          opset_version=17, dynamo=False)
    int8 = out_dir / "model.int8.onnx"
    quantize_int8(fp32, int8)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json",
                 "special_tokens_map.json"):
        if (encoder_dir / name).exists():
            shutil.copy(encoder_dir / name, out_dir / name)
    return {"fp32_mb": round(fp32.stat().st_size / 2**20, 1),
            "int8_mb": round(int8.stat().st_size / 2**20, 1), "fp32_path": str(fp32)}
