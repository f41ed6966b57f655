"""Shared pieces of the benchmark: the base-size checkpoint, the MLM head, FLOP counts.

The checkpoint is Hugging Face's RoFormerForMaskedLM (base size, vocab 50000) with random weights from a
fixed seed, written once as safetensors under ``$ROFORMER_NP_BENCH_DIR`` (default /tmp/roformer_np_bench);
every contender loads that same file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

BASE = dict(
    vocab_size=50000,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=1536,
    embedding_size=768,
    hidden_act="gelu",
    type_vocab_size=2,
)
SEED = 0


def read_bandwidth(threads: int) -> float:
    """GB/s of a ``threads``-thread read (np.max over the parts of 512 MB, best of 4): the unit of a
    memory-bound decoding step's floor (the weight bytes it reads / this)."""
    from concurrent.futures import ThreadPoolExecutor

    a = np.ones(2**27, np.float32)
    parts = np.array_split(a, threads)
    best = 0.0
    with ThreadPoolExecutor(threads) as ex:
        for _ in range(4):
            t0 = time.perf_counter()
            list(ex.map(np.max, parts))
            best = max(best, a.nbytes / (time.perf_counter() - t0) / 1e9)
    return best


def bench_dir() -> Path:
    return Path(os.environ.get("ROFORMER_NP_BENCH_DIR", "/tmp/roformer_np_bench"))


def checkpoint() -> Path:
    """Directory with config.json + model.safetensors of the seeded base-size RoFormerForMaskedLM."""
    path = bench_dir() / "base_mlm"
    if (path / "model.safetensors").is_file():
        return path
    import torch
    from transformers import RoFormerConfig, RoFormerForMaskedLM

    torch.manual_seed(SEED)
    model = RoFormerForMaskedLM(RoFormerConfig(**BASE)).eval()
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    return path


def encoder_flops(batch: int, seq: int, past: int = 0) -> float:
    """Multiply-adds x 2 of the encoder (GEMMs and attention), no elementwise work."""
    c, f, layers = BASE["hidden_size"], BASE["intermediate_size"], BASE["num_hidden_layers"]
    m = batch * seq
    gemm = 2 * m * c * (3 * c + c + 2 * f)
    attn = 2 * 2 * batch * seq * (past + seq) * c
    return float(layers * (gemm + attn))


def mlm_head_flops(batch: int, seq: int) -> float:
    c, e, v = BASE["hidden_size"], BASE["embedding_size"], BASE["vocab_size"]
    m = batch * seq
    return float(2 * m * (c * e + e * v))


class MLMHead:
    """RoFormer's MLM head (roformer_np.heads.lm_head): LayerNorm(act(h W_t.T + b_t)) W_word.T + bias.

    The decoder weight is tied to the word embeddings. ``kernels`` supplies ``linear`` (native or NumPy),
    as RoFormerForMaskedLM does with its model's backend.
    """

    def __init__(self, weights: dict, eps: float, activation: str) -> None:
        self.w_t = weights["cls.predictions.transform.dense.weight"]
        self.b_t = weights["cls.predictions.transform.dense.bias"]
        self.ln_w = weights["cls.predictions.transform.LayerNorm.weight"]
        self.ln_b = weights["cls.predictions.transform.LayerNorm.bias"]
        self.bias = weights["cls.predictions.bias"]
        self.activation = activation
        self.eps = eps

    def __call__(self, hidden: np.ndarray, word_embeddings: np.ndarray, kernels) -> np.ndarray:
        from roformer_np.heads import lm_head

        return lm_head(
            hidden, self.w_t, self.b_t, self.ln_w, self.ln_b, word_embeddings, self.bias, self.eps, self.activation,
            kernels.linear,
        )  # [B, T, V]
