"""Shared helpers of the golden generators (development only: imports torch and transformers)."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import save_file

GOLDEN_DIR = Path(__file__).resolve().parent
CASES_DIR = GOLDEN_DIR / "cases"
# the tiny random config of the head and decoder cases (the model cases use their own, see gen_model.py)
TINY_HEADS = dict(
    vocab_size=64,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=40,
    max_position_embeddings=48,
    type_vocab_size=2,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)

# float32 outputs must match to float32 round-off; float64 ones to ~1e-10 (see golden/README.md).
TOL_F32 = {"rtol": 1e-5, "atol": 1e-5}
TOL_F64 = {"rtol": 1e-10, "atol": 1e-10}


def versions() -> dict[str, str]:
    import safetensors
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def redraw_weights(model: torch.nn.Module, seed: int, std: float = 0.2) -> None:
    """Replace Hugging Face's tiny init (std 0.02, LN = 1/0) with larger random values so no path hides.

    Every Linear/Embedding weight and bias ~ N(0, std); LayerNorm weight 1 + N(0, std), bias N(0, std).
    The sinusoidal position table is deterministic and is left as Hugging Face built it.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("embed_positions.weight"):
                continue
            noise = torch.randn(param.shape, generator=gen, dtype=torch.float64) * std
            if "LayerNorm.weight" in name:
                noise += 1.0
            param.copy_(noise.to(param.dtype))


def to_numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy().copy()


def save_case_io(path: Path, tensors: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path))


def write_manifest(cases: list[dict], extra: dict | None = None, name: str = "manifest.json") -> Path:
    out = GOLDEN_DIR / name
    data = {"format_version": 1, "generator": versions(), **(extra or {}), "cases": cases}
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return out
