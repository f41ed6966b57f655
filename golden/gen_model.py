"""Golden cases of the bare RoFormerModel (encoder mode): every option, every activation, float32 and float64.

Development only. Run through ``golden/generate.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from common import CASES_DIR, TOL_F32, TOL_F64, redraw_weights, save_case_io, to_numpy
from safetensors.numpy import load_file, save_file
from transformers import RoFormerConfig, RoFormerModel

TINY = dict(
    vocab_size=97,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=48,
    max_position_embeddings=40,
    type_vocab_size=3,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)

ACTIVATIONS = [
    "gelu", "gelu_python", "gelu_new", "gelu_accurate", "gelu_fast", "gelu_pytorch_tanh", "quick_gelu",
    "gelu_10", "relu", "relu2", "relu6", "leaky_relu", "silu", "swish", "tanh", "sigmoid", "linear", "mish",
    "laplace",
]


def _cases() -> list[dict]:
    cases = [
        dict(name="default", config={}, batch=2, seq=7, drop_table=True),
        dict(name="embedding_size", config=dict(embedding_size=24), batch=2, seq=6),
        dict(name="rotary_value", config=dict(rotary_value=True), batch=2, seq=9),
        dict(name="rotary_value_embedding_size", config=dict(rotary_value=True, embedding_size=40), batch=1, seq=5),
        dict(name="padded_batch", config={}, batch=3, seq=8, padding=True),
        dict(name="token_type_ids", config={}, batch=2, seq=6, token_types=True),
        dict(name="head_mask_per_layer", config={}, batch=2, seq=5, head_mask="layers"),
        dict(name="head_mask_shared", config={}, batch=1, seq=5, head_mask="shared"),
        dict(name="seq_len_1", config={}, batch=2, seq=1),
        dict(name="seq_eq_max_positions", config={}, batch=1, seq=TINY["max_position_embeddings"]),
        dict(name="mask_3d", config={}, batch=2, seq=6, mask_3d=True),
        dict(name="inputs_embeds", config=dict(embedding_size=24), batch=2, seq=5, embeds=True),
        dict(name="fully_masked_row", config={}, batch=2, seq=5, zero_row=True),
        dict(name="wide_3_layers", config=dict(hidden_size=64, num_attention_heads=2, num_hidden_layers=3,
                                               intermediate_size=96, hidden_act="gelu_new"), batch=2, seq=11),
        dict(name="float64", config=dict(rotary_value=True, embedding_size=24), batch=2, seq=8, padding=True,
             token_types=True, dtype="float64"),
        dict(name="float64_default", config={}, batch=2, seq=7, dtype="float64"),
    ]
    for act in ACTIVATIONS:
        cases.append(dict(name=f"act_{act}", config=dict(hidden_act=act, num_hidden_layers=1), batch=1, seq=6,
                          light=True))
    return cases


def _inputs(case: dict, cfg: RoFormerConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    b, t = case["batch"], case["seq"]
    inputs: dict[str, np.ndarray] = {}
    if case.get("embeds"):
        inputs["inputs_embeds"] = rng.normal(0, 1, (b, t, cfg.embedding_size))
    else:
        inputs["input_ids"] = rng.integers(0, cfg.vocab_size, (b, t), dtype=np.int64)
    if case.get("padding"):
        mask = np.ones((b, t), dtype=np.int64)
        mask[0, t - 3 :] = 0  # right padding
        mask[-1, :2] = 0  # left padding
        inputs["attention_mask"] = mask
    if case.get("zero_row"):
        mask = np.ones((b, t), dtype=np.int64)
        mask[1, :] = 0
        inputs["attention_mask"] = mask
    if case.get("mask_3d"):
        inputs["attention_mask"] = (rng.random((b, t, t)) > 0.3).astype(np.int64)
    if case.get("token_types"):
        inputs["token_type_ids"] = rng.integers(0, cfg.type_vocab_size, (b, t), dtype=np.int64)
    if case.get("head_mask") == "layers":
        inputs["head_mask"] = rng.choice([0.0, 0.5, 1.0, 1.5], (cfg.num_hidden_layers, cfg.num_attention_heads))
    elif case.get("head_mask") == "shared":
        inputs["head_mask"] = np.array([1.0, 0.0, 0.25, 1.0])
    return inputs


def generate(seed: int = 1234) -> list[dict]:
    manifest = []
    for index, case in enumerate(_cases()):
        name, dtype = case["name"], case.get("dtype", "float32")
        cfg = RoFormerConfig(**{**TINY, **case["config"]})
        torch.manual_seed(seed + index)
        model = RoFormerModel(cfg).eval()
        redraw_weights(model, seed + index)
        tdtype = torch.float64 if dtype == "float64" else torch.float32
        model = model.to(tdtype)
        rng = np.random.default_rng(seed + index)
        inputs = _inputs(case, cfg, rng)
        kwargs = {}
        for key, value in inputs.items():
            tensor = torch.from_numpy(value)
            if value.dtype.kind == "f":
                tensor = tensor.to(tdtype)
            kwargs[key] = tensor
        light = case.get("light", False)
        with torch.no_grad():
            out = model(**kwargs, output_hidden_states=not light, output_attentions=not light, return_dict=True)
        outputs = {"last_hidden_state": to_numpy(out.last_hidden_state)}
        if not light:
            for i, h in enumerate(out.hidden_states):
                outputs[f"hidden_states.{i}"] = to_numpy(h)
            for i, a in enumerate(out.attentions):
                outputs[f"attentions.{i}"] = to_numpy(a)

        case_dir = CASES_DIR / name
        if case_dir.exists():
            shutil.rmtree(case_dir)
        model.save_pretrained(case_dir, safe_serialization=True)
        if case.get("drop_table"):  # Hub checkpoints usually omit the deterministic table
            weights_file = case_dir / "model.safetensors"
            tensors = load_file(str(weights_file))
            tensors.pop("encoder.embed_positions.weight")
            save_file(tensors, str(weights_file), metadata={"format": "pt"})
        io_inputs = {f"input.{k}": (v.astype(np.float64 if dtype == "float64" else np.float32)
                                    if v.dtype.kind == "f" else v) for k, v in inputs.items()}
        save_case_io(case_dir / "io.safetensors", {**io_inputs, **{f"output.{k}": v for k, v in outputs.items()}})
        manifest.append(
            {
                "name": name,
                "kind": "model",
                "class": "RoFormerModel",
                "dtype": dtype,
                "checkpoint": f"cases/{name}",
                "io": f"cases/{name}/io.safetensors",
                "config": {**TINY, **case["config"]},
                "call": {"output_hidden_states": not light, "output_attentions": not light},
                "inputs": sorted(inputs),
                "outputs": sorted(outputs),
                "tolerance": TOL_F64 if dtype == "float64" else TOL_F32,
                "description": _describe(case),
            }
        )
    return manifest


def _describe(case: dict) -> str:
    bits = [f"batch {case['batch']} x seq {case['seq']}"]
    for key in ("padding", "token_types", "mask_3d", "embeds", "zero_row", "drop_table"):
        if case.get(key):
            bits.append(key)
    if case.get("head_mask"):
        bits.append(f"head_mask {case['head_mask']}")
    if case["config"]:
        bits.append(", ".join(f"{k}={v}" for k, v in case["config"].items()))
    return "; ".join(bits)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    print(len(generate()), "model cases")
