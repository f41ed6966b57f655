"""Golden ``pytorch_model.bin`` files written by ``torch.save``, for the torch-free reader (development only).

* ``bin_tensors``: a state dict of assorted tensors — float32/float16/bfloat16/float64/int64/bool, views that
  share one storage, a transposed (non-contiguous) tensor, an offset slice — and the same values in
  ``expected.safetensors`` (bfloat16 widened to float32, which is what roformer_np returns).
* ``bin_model_<dtype>``: a RoFormerModel saved by Hugging Face's ``save_pretrained(safe_serialization=False)``
  in float32, float16 and bfloat16, with the float32 outputs of the same (widened) weights.
"""

from __future__ import annotations

import shutil

import numpy as np
import torch
from common import CASES_DIR, TOL_F32, redraw_weights, save_case_io, to_numpy
from transformers import RoFormerConfig, RoFormerModel

CONFIG = dict(vocab_size=61, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=40,
              max_position_embeddings=24, embedding_size=16, hidden_dropout_prob=0.0,
              attention_probs_dropout_prob=0.0)


def _tensors_case() -> dict:
    gen = torch.Generator().manual_seed(7)
    base = torch.randn(6, 5, generator=gen)
    state = {
        "f32": base,
        "f32_transposed": base.t(),  # non-contiguous strides
        "f32_row_view": base[2],  # shares base's storage, offset 10
        "f32_strided": base[1::2, ::2],  # shares the storage, non-unit strides
        "f16": torch.randn(3, 4, generator=gen).half(),
        "bf16": torch.randn(7, generator=gen).bfloat16(),
        "f64": torch.randn(2, 2, generator=gen).double(),
        "i64": torch.arange(-3, 5),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
    }
    case_dir = CASES_DIR / "bin_tensors"
    if case_dir.exists():
        shutil.rmtree(case_dir)
    case_dir.mkdir(parents=True)
    torch.save(state, case_dir / "tensors.bin")
    expected = {k: to_numpy(v.float() if v.dtype == torch.bfloat16 else v) for k, v in state.items()}
    save_case_io(case_dir / "expected.safetensors", {f"output.{k}": v for k, v in expected.items()})
    return {"name": "bin_tensors", "kind": "torch_pickle", "file": "cases/bin_tensors/tensors.bin",
            "io": "cases/bin_tensors/expected.safetensors", "outputs": sorted(expected),
            "tolerance": {"rtol": 0.0, "atol": 0.0},
            "description": "assorted dtypes, shared storages, non-contiguous and offset views"}


def _model_case(dtype: str, seed: int) -> dict:
    cfg = RoFormerConfig(**CONFIG)
    torch.manual_seed(seed)
    model = RoFormerModel(cfg).eval()
    redraw_weights(model, seed)
    stored = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    model = model.to(stored)
    name = f"bin_model_{dtype}"
    case_dir = CASES_DIR / name
    if case_dir.exists():
        shutil.rmtree(case_dir)
    model.save_pretrained(case_dir, safe_serialization=False)
    model = model.float()  # the reference outputs use the stored values widened to float32
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, cfg.vocab_size, (2, 9), dtype=np.int64)
    mask = np.ones((2, 9), dtype=np.int64)
    mask[1, 6:] = 0
    with torch.no_grad():
        out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    save_case_io(case_dir / "io.safetensors", {"input.input_ids": ids, "input.attention_mask": mask,
                                               "output.last_hidden_state": to_numpy(out.last_hidden_state)})
    return {"name": name, "kind": "model", "class": "RoFormerModel", "dtype": "float32",
            "stored_dtype": dtype, "checkpoint": f"cases/{name}", "io": f"cases/{name}/io.safetensors",
            "config": CONFIG, "call": {}, "inputs": ["attention_mask", "input_ids"],
            "outputs": ["last_hidden_state"], "tolerance": TOL_F32,
            "description": f"pytorch_model.bin with {dtype} storages (torch.save zip format)"}


def generate(seed: int = 4321) -> list[dict]:
    cases = [_tensors_case()]
    for i, dtype in enumerate(("float32", "float16", "bfloat16")):
        cases.append(_model_case(dtype, seed + i))
    return cases
