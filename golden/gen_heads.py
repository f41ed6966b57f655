"""Golden cases of the six task heads: logits, losses (and the problem type chosen), float32 and float64.

Development only. Run through ``golden/generate.py heads``. Each case directory holds the head checkpoint as
Hugging Face's ``save_pretrained`` writes it (tied decoder weight/bias omitted) and ``io.safetensors`` with
``input.<argument>`` and ``output.<name>``. A case may hold several calls of the same model: the manifest's
``calls`` maps a call name to its keyword arguments (names of ``input.*`` tensors) and its outputs
(``output.<call>.<field>``). ``loading`` records Hugging Face's missing/unexpected keys when this case's
checkpoint is loaded into other classes (``output_loading_info=True``).
"""

from __future__ import annotations

import shutil

import numpy as np
import torch
import transformers
from common import CASES_DIR, TOL_F32, TOL_F64, redraw_weights, save_case_io, to_numpy
from common import TINY_HEADS as TINY
from transformers import RoFormerConfig

LOAD_INTO = ["RoFormerModel", "RoFormerForMaskedLM", "RoFormerForCausalLM", "RoFormerForSequenceClassification",
             "RoFormerForMultipleChoice", "RoFormerForTokenClassification", "RoFormerForQuestionAnswering"]


def _cases() -> list[dict]:
    """``float64``: also run the same checkpoint in float64 (Hugging Face's ``.double()``; a port widens the
    float32 file), giving a second manifest entry ``<name>_float64`` that shares the checkpoint."""
    return [
        dict(name="heads_base", cls="RoFormerModel", config={}, batch=2, seq=6, calls={"plain": {}}),
        dict(name="mlm", cls="RoFormerForMaskedLM", config={}, batch=2, seq=7, padding=True, float64=True,
             calls={"plain": {}, "labels": {"labels": "mlm"}}),
        dict(name="mlm_embedding_size", cls="RoFormerForMaskedLM", config=dict(embedding_size=24, rotary_value=True),
             batch=2, seq=6, token_types=True, calls={"labels": {"labels": "mlm"}}),
        dict(name="mlm_untied", cls="RoFormerForMaskedLM", config=dict(tie_word_embeddings=False), batch=2, seq=5,
             calls={"labels": {"labels": "mlm"}}),
        dict(name="causal_lm", cls="RoFormerForCausalLM", config=dict(is_decoder=True), batch=2, seq=7, padding=True,
             float64=True,
             calls={"labels": {"labels": "mlm"}, "num_items": {"labels": "mlm", "num_items_in_batch": 5},
                    "shift_labels": {"labels": "mlm", "shift_labels": "mlm"}}),
        dict(name="seq_cls", cls="RoFormerForSequenceClassification", config=dict(num_labels=3, hidden_act="gelu_new"),
             batch=3, seq=6, padding=True, float64=True,
             calls={"single": {"labels": "class"}, "multi": {"labels": "multi"}}),
        dict(name="seq_cls_regression", cls="RoFormerForSequenceClassification", config=dict(num_labels=1),
             batch=3, seq=5, calls={"regression": {"labels": "regression"}}),
        dict(name="multiple_choice", cls="RoFormerForMultipleChoice", config={}, batch=2, choices=3, seq=6,
             padding=True, token_types=True, float64=True, calls={"labels": {"labels": "choice"}}),
        dict(name="multiple_choice_first_proj", cls="RoFormerForMultipleChoice",
             config=dict(summary_type="first", summary_use_proj=True, summary_activation="tanh"), batch=2,
             choices=2, seq=5, calls={"labels": {"labels": "choice"}}),
        dict(name="multiple_choice_mean", cls="RoFormerForMultipleChoice", config=dict(summary_type="mean"),
             batch=2, choices=3, seq=5, calls={"labels": {"labels": "choice"}}),
        dict(name="token_cls", cls="RoFormerForTokenClassification", config=dict(num_labels=5), batch=2, seq=7,
             padding=True, float64=True, calls={"labels": {"labels": "token"}}),
        dict(name="qa", cls="RoFormerForQuestionAnswering", config={}, batch=3, seq=7, padding=True, float64=True,
             calls={"positions": {"start_positions": "start", "end_positions": "end"}}),
    ]


def _inputs(case: dict, cfg: RoFormerConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    lead = (case["batch"], case["choices"]) if "choices" in case else (case["batch"],)
    t = case["seq"]
    inputs: dict[str, np.ndarray] = {"input_ids": rng.integers(0, cfg.vocab_size, (*lead, t), dtype=np.int64)}
    if case.get("padding"):
        mask = np.ones((*lead, t), dtype=np.int64)
        mask[0, ..., t - 2:] = 0  # right padding
        mask[-1, ..., :2] = 0  # left padding
        inputs["attention_mask"] = mask
    if case.get("token_types"):
        inputs["token_type_ids"] = rng.integers(0, cfg.type_vocab_size, (*lead, t), dtype=np.int64)
    b = case["batch"]
    labels = rng.integers(0, cfg.vocab_size, (b, t), dtype=np.int64)
    labels[rng.random((b, t)) < 0.3] = -100
    inputs["labels.mlm"] = labels
    inputs["labels.class"] = rng.integers(0, cfg.num_labels, (b,), dtype=np.int64)
    inputs["labels.multi"] = (rng.random((b, cfg.num_labels)) < 0.5).astype(np.float64)
    inputs["labels.regression"] = rng.normal(0, 1, (b,))
    inputs["labels.choice"] = rng.integers(0, case.get("choices", 2), (b,), dtype=np.int64)
    token = rng.integers(0, cfg.num_labels, (b, t), dtype=np.int64)
    token[:, 0] = -100
    inputs["labels.token"] = token
    # one position past the end (clamped to T: ignored) and one negative (clamped to 0)
    start = rng.integers(0, t, (b,), dtype=np.int64)
    start[0] = t + 3
    end = rng.integers(0, t, (b,), dtype=np.int64)
    end[-1] = -2
    inputs["labels.start"], inputs["labels.end"] = start, end
    return inputs


def _loading_info(case_dir) -> dict:
    info = {}
    for name in LOAD_INTO:
        cls = getattr(transformers, name)
        try:
            _, loading = cls.from_pretrained(case_dir, output_loading_info=True)
        except RuntimeError as exc:  # a head parameter of another shape: Hugging Face refuses to load
            assert "size mismatch" in str(exc)
            info[name] = {"error": "size mismatch"}
            continue
        info[name] = {"missing_keys": sorted(loading["missing_keys"]),
                      "unexpected_keys": sorted(loading["unexpected_keys"])}
    return info


def _run_calls(model, case: dict, inputs: dict, tdtype) -> tuple[dict, dict, dict]:
    """Run every call of a case; returns (outputs, call specs, problem types)."""
    model_inputs = [k for k in inputs if not k.startswith("labels.")]
    outputs: dict[str, np.ndarray] = {}
    calls: dict[str, dict] = {}
    problem_types: dict[str, str | None] = {}
    for call_name, spec in case["calls"].items():
        kwargs = {k: torch.from_numpy(inputs[k]) for k in model_inputs}
        call_args: dict = {}
        for arg, src in spec.items():
            if isinstance(src, str):
                value = torch.from_numpy(inputs[f"labels.{src}"])
                kwargs[arg] = value.to(tdtype) if value.is_floating_point() else value
                call_args[arg] = f"labels.{src}"
            else:
                kwargs[arg] = call_args[arg] = src
        model.config.problem_type = None  # each call infers its own problem type
        with torch.no_grad():
            out = model(**kwargs, output_hidden_states=True, return_dict=True)
        for field in ("loss", "logits", "start_logits", "end_logits", "last_hidden_state"):
            value = getattr(out, field, None)
            if value is not None:
                outputs[f"{call_name}.{field}"] = to_numpy(value)
        outputs[f"{call_name}.hidden_states.last"] = to_numpy(out.hidden_states[-1])
        calls[call_name] = call_args
        if case["cls"] == "RoFormerForSequenceClassification":
            problem_types[call_name] = model.config.problem_type
    return outputs, calls, problem_types


def generate(seed: int = 4321) -> list[dict]:
    manifest = []
    for index, case in enumerate(_cases()):
        name = case["name"]
        cfg = RoFormerConfig(**{**TINY, **case["config"]})
        torch.manual_seed(seed + index)
        model = getattr(transformers, case["cls"])(cfg).eval()
        redraw_weights(model, seed + index)
        case_dir = CASES_DIR / name
        if case_dir.exists():
            shutil.rmtree(case_dir)
        model.save_pretrained(case_dir, safe_serialization=True)
        raw = _inputs(case, model.config, np.random.default_rng(seed + index))
        for dtype in ["float32"] + (["float64"] if case.get("float64") else []):
            tdtype = torch.float64 if dtype == "float64" else torch.float32
            model = model.to(tdtype)
            inputs = {k: (v.astype(dtype) if v.dtype.kind == "f" else v) for k, v in raw.items()}
            outputs, calls, problem_types = _run_calls(model, case, inputs, tdtype)
            model_inputs = sorted(k for k in inputs if not k.startswith("labels."))
            used = {k for spec in calls.values() for k in spec.values() if isinstance(k, str)}
            stored = {f"input.{k}": v for k, v in inputs.items() if k in model_inputs or k in used}
            io_name = "io.safetensors" if dtype == "float32" else "io_float64.safetensors"
            save_case_io(case_dir / io_name, {**stored, **{f"output.{k}": v for k, v in outputs.items()}})
            entry = {
                "name": name if dtype == "float32" else f"{name}_float64",
                "kind": "head",
                "class": case["cls"],
                "dtype": dtype,
                "checkpoint": f"cases/{name}",
                "io": f"cases/{name}/{io_name}",
                "config": {**TINY, **case["config"]},
                "inputs": model_inputs,
                "calls": calls,
                "outputs": sorted(outputs),
                "tolerance": TOL_F64 if dtype == "float64" else TOL_F32,
                "description": f"{case['cls']} in {dtype}: " + ", ".join(
                    [f"calls {sorted(calls)}"] + [f"{k}={v}" for k, v in case["config"].items()]
                ),
            }
            if problem_types:
                entry["problem_types"] = problem_types
            if dtype == "float32" and name in ("heads_base", "mlm", "mlm_untied", "seq_cls",
                                               "multiple_choice_first_proj"):
                entry["loading"] = _loading_info(case_dir)
            manifest.append(entry)
    return manifest
