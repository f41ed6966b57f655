"""Golden cases of RoFormer-V2 and RoFormer-Sim from the reference, JunnyU's ``roformer`` package 0.4.3.

Development only, and its own environment: ``roformer`` 0.4.3 needs ``transformers==4.30.2`` (see
golden/requirements-junnyu.txt), so this script runs directly, not through ``generate.py``:

    /tmp/junnyu-env/bin/python golden/gen_junnyu.py

It replaces the ``junnyu`` group of ``manifest.json`` and leaves every other entry (and the manifest's
``generator`` field, which describes the Hugging Face groups) as it is; each entry records its own tool
versions under ``generator``. Checkpoints are written by the package's ``save_pretrained`` (float32); float64
entries reuse them through ``.double()``, as the Hugging Face groups do.

* ``kind: "head"`` — one model, several calls (``calls`` as in the heads group: a call name maps each keyword
  argument to an ``input.*`` tensor); outputs ``output.<call>.<field>`` for ``logits``, ``loss``,
  ``start_logits``/``end_logits``, ``last_hidden_state``, ``pooler_output`` and ``hidden_states.last``.
* ``kind: "steps"`` — RoFormer-Sim's seq2seq (UniLM) decoding driven by hand, as the package's
  ``prepare_inputs_for_generation`` intends (its ``generate()`` misses the cache on newer transformers,
  JunnYu/RoFormer_pytorch#45): a prompt pass with ``token_type_ids`` 0, then cached calls whose new tokens have
  ``token_type_ids`` 1. Call ``i`` reads ``input.step<i>.<argument>`` and gives ``output.step<i>.<field>``.
* ``kind: "greedy"`` — greedy decoding through the same loop: ``output.sequences`` (prompt + new tokens; rows
  that produced ``eos_token_id`` are filled with ``pad_token_id``, as ``generate()`` does).
"""

from __future__ import annotations

import json
import platform
import shutil

import numpy as np
import roformer
import torch
import transformers
from common import CASES_DIR, GOLDEN_DIR, TOL_F32, TOL_F64, redraw_weights, save_case_io, to_numpy
from common import TINY_HEADS as TINY
from gen_heads import _inputs

GROUP = "junnyu"
V2 = dict(norm_type="rms_norm", use_bias=False, hidden_act="relu")
SIM = dict(is_decoder=True, pooler_activation="linear", eos_token_id=51)  # 51: one the greedy case meets
FIELDS = ("loss", "logits", "start_logits", "end_logits", "last_hidden_state", "pooler_output")


def versions() -> dict[str, str]:
    import safetensors

    return {"roformer": roformer.__version__ if hasattr(roformer, "__version__") else "0.4.3",
            "torch": torch.__version__, "transformers": transformers.__version__,
            "safetensors": safetensors.__version__, "numpy": np.__version__, "python": platform.python_version()}


def _cases() -> list[dict]:
    v2_head = dict(batch=2, seq=7, padding=True, token_types=True)
    return [
        dict(name="junnyu_v2_base", cls="RoFormerModel", config=V2, float64=True, **v2_head,
             calls={"plain": {}}),
        dict(name="junnyu_v2_mlm", cls="RoFormerForMaskedLM", config=V2, float64=True, **v2_head,
             calls={"plain": {}, "labels": {"labels": "mlm"}}),
        dict(name="junnyu_v2_mlm_bin", cls="RoFormerForMaskedLM", config=V2, bin=True, batch=2, seq=5,
             calls={"plain": {}}),
        dict(name="junnyu_v2_mlm_untied", cls="RoFormerForMaskedLM", config={**V2, "tie_word_embeddings": False},
             batch=2, seq=6, calls={"plain": {}}),
        dict(name="junnyu_v2_causal_lm", cls="RoFormerForCausalLM", config={**V2, "is_decoder": True},
             float64=True, **v2_head, calls={"labels": {"labels": "mlm"}}),
        dict(name="junnyu_v2_seq_cls", cls="RoFormerForSequenceClassification", config={**V2, "num_labels": 3},
             float64=True, batch=3, seq=6, padding=True, calls={"single": {"labels": "class"}}),
        dict(name="junnyu_v2_multiple_choice", cls="RoFormerForMultipleChoice", config=V2, batch=2, choices=3,
             seq=6, padding=True, token_types=True, float64=True, calls={"labels": {"labels": "choice"}}),
        # no padding here: the package's token-classification loss skips padded positions, Hugging Face 4.56's
        # (which roformer_np's heads follow) does not
        dict(name="junnyu_v2_token_cls", cls="RoFormerForTokenClassification", config={**V2, "num_labels": 5},
             float64=True, batch=2, seq=7, token_types=True, calls={"labels": {"labels": "token"}}),
        dict(name="junnyu_v2_qa", cls="RoFormerForQuestionAnswering", config=V2, float64=True, batch=3, seq=7,
             padding=True, calls={"positions": {"start_positions": "start", "end_positions": "end"}}),
        dict(name="junnyu_v2_embedding_size", cls="RoFormerModel", config={**V2, "embedding_size": 24}, batch=2,
             seq=6, padding=True, calls={"plain": {}}),
        # RoFormer-Sim: the v1 backbone + JunnyU's linear pooler, a decoder whose first pass is bidirectional
        dict(name="junnyu_sim_base", cls="RoFormerModel", pooler=True, config=SIM, float64=True, batch=2, seq=7,
             padding=True, calls={"plain": {}}),
        dict(name="junnyu_sim_causal_lm", cls="RoFormerForCausalLM", config=SIM, float64=True, batch=3, seq=7,
             padding=True, calls={"plain": {}, "labels": {"labels": "mlm"}}),
    ]


def _model(case: dict, seed: int):
    cfg = roformer.RoFormerConfig(**{**TINY, **case["config"]})
    torch.manual_seed(seed)
    cls = getattr(roformer, case["cls"])
    model = (cls(cfg, add_pooling_layer=True) if case.get("pooler") else cls(cfg)).eval()
    redraw_weights(model, seed)
    case_dir = CASES_DIR / case["name"]
    if case_dir.exists():
        shutil.rmtree(case_dir)
    model.save_pretrained(case_dir, safe_serialization=not case.get("bin"))
    return model, case_dir


def _entry(case: dict, dtype: str, kind: str, io_name: str, **extra) -> dict:
    name = case["name"]
    return {
        "name": name if dtype == "float32" else f"{name}_float64",
        "kind": kind,
        "class": case["cls"],
        "dtype": dtype,
        "checkpoint": f"cases/{name}",
        "io": f"cases/{name}/{io_name}",
        "config": {**TINY, **case["config"]},
        "tolerance": TOL_F64 if dtype == "float64" else TOL_F32,
        "generator": versions(),
        **extra,
    }


def _head_case(case: dict, seed: int) -> list[dict]:
    model, case_dir = _model(case, seed)
    raw = _inputs(case, model.config, np.random.default_rng(seed))
    entries = []
    for dtype in ["float32"] + (["float64"] if case.get("float64") else []):
        tdtype = torch.float64 if dtype == "float64" else torch.float32
        model = model.to(tdtype)
        inputs = {k: (v.astype(dtype) if v.dtype.kind == "f" else v) for k, v in raw.items()}
        model_inputs = sorted(k for k in inputs if not k.startswith("labels."))
        outputs, calls = {}, {}
        for call_name, spec in case["calls"].items():
            kwargs = {k: torch.from_numpy(inputs[k]) for k in model_inputs}
            kwargs.update({arg: torch.from_numpy(inputs[f"labels.{src}"]) for arg, src in spec.items()})
            calls[call_name] = {arg: f"labels.{src}" for arg, src in spec.items()}
            with torch.no_grad():
                out = model(**kwargs, output_hidden_states=True, return_dict=True)
            for field in FIELDS:
                value = getattr(out, field, None)
                if value is not None:
                    outputs[f"{call_name}.{field}"] = to_numpy(value)
            outputs[f"{call_name}.hidden_states.last"] = to_numpy(out.hidden_states[-1])
        used = {src for spec in calls.values() for src in spec.values()}
        stored = {f"input.{k}": v for k, v in inputs.items() if k in model_inputs or k in used}
        io_name = "io.safetensors" if dtype == "float32" else "io_float64.safetensors"
        save_case_io(case_dir / io_name, {**stored, **{f"output.{k}": v for k, v in outputs.items()}})
        entries.append(_entry(case, dtype, "head", io_name, inputs=model_inputs, calls=calls,
                              outputs=sorted(outputs), description=f"JunnyU {case['cls']} in {dtype}: calls "
                              f"{sorted(calls)}, " + ", ".join(f"{k}={v}" for k, v in case["config"].items())))
    return entries


def _step(model, ids, mask, types, past):
    """One call as ``prepare_inputs_for_generation`` builds it (the package's ``generate()`` would, with a cache)."""
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, token_type_ids=types, past_key_values=past,
                     use_cache=True, return_dict=True)


def _steps_case(seed: int) -> list[dict]:
    """Prompt pass (types 0, one row right-padded), then cached steps of 1, 2 and 1 new tokens (types 1)."""
    case = dict(name="junnyu_sim_steps", cls="RoFormerForCausalLM", config=SIM)
    model, case_dir = _model(case, seed)
    rng = np.random.default_rng(seed)
    prompt = rng.integers(6, TINY["vocab_size"], (2, 5), dtype=np.int64)
    prompt_mask = np.ones((2, 5), dtype=np.int64)
    prompt_mask[1, 3:] = 0
    steps = [{"input_ids": prompt, "attention_mask": prompt_mask, "token_type_ids": np.zeros_like(prompt)}]
    total = 5
    for width in (1, 2, 1):
        total += width
        ids = rng.integers(6, TINY["vocab_size"], (2, width), dtype=np.int64)
        mask = np.concatenate([prompt_mask, np.ones((2, total - 5), dtype=np.int64)], axis=1)
        steps.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.ones_like(ids)})
    entries = []
    for dtype in ("float32", "float64"):
        model = model.to(torch.float64 if dtype == "float64" else torch.float32)
        tensors, past = {}, None
        for i, step in enumerate(steps):
            out = _step(model, *(torch.from_numpy(step[k]) for k in ("input_ids", "attention_mask",
                                                                      "token_type_ids")), past)
            past = out.past_key_values
            tensors.update({f"input.step{i}.{k}": v for k, v in step.items()})
            tensors[f"output.step{i}.logits"] = to_numpy(out.logits)
            tensors[f"output.step{i}.pooler_output"] = to_numpy(out.pooler_output)
        io_name = "io.safetensors" if dtype == "float32" else "io_float64.safetensors"
        save_case_io(case_dir / io_name, tensors)
        entries.append(_entry(case, dtype, "steps", io_name, steps=len(steps), outputs=["logits", "pooler_output"],
                              description=f"JunnyU RoFormer-Sim UniLM steps in {dtype}: prompt (bidirectional, "
                              "types 0, row 1 right-padded) then cached calls of 1, 2, 1 tokens with types 1"))
    return entries


def _greedy_case(seed: int, max_new_tokens: int = 8) -> list[dict]:
    """Greedy decoding by hand: each new token is fed alone against the cache with token_type_ids 1."""
    case = dict(name="junnyu_sim_greedy", cls="RoFormerForCausalLM", config=SIM)
    model, case_dir = _model(case, seed)
    cfg = model.config
    prompt = np.random.default_rng(seed).integers(6, TINY["vocab_size"], (3, 4), dtype=np.int64)
    entries = []
    for dtype in ("float32", "float64"):
        model = model.to(torch.float64 if dtype == "float64" else torch.float32)
        seq = torch.from_numpy(prompt)
        out = _step(model, seq, torch.ones_like(seq), torch.zeros_like(seq), None)
        done = torch.zeros(len(seq), dtype=torch.bool)
        for _ in range(max_new_tokens):
            nxt = out.logits[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, cfg.pad_token_id), nxt)
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            done |= nxt == cfg.eos_token_id
            if bool(done.all()):
                break
            out = _step(model, nxt[:, None], torch.ones_like(seq), torch.ones_like(nxt[:, None]),
                        out.past_key_values)
        io_name = "io.safetensors" if dtype == "float32" else "io_float64.safetensors"
        save_case_io(case_dir / io_name, {"input.input_ids": prompt, "output.sequences": to_numpy(seq)})
        entries.append(_entry(case, dtype, "greedy", io_name, call={"max_new_tokens": max_new_tokens},
                              outputs=["sequences"], description=f"JunnyU RoFormer-Sim greedy UniLM decoding "
                              f"in {dtype}: new tokens with types 1 through the cache, eos {cfg.eos_token_id}"))
    return entries


def generate(seed: int = 1313) -> list[dict]:
    entries = []
    for index, case in enumerate(_cases()):
        entries.extend(_head_case(case, seed + index))
    entries.extend(_steps_case(seed + 100))
    entries.extend(_greedy_case(seed + 200))
    for entry in entries:
        entry["group"] = GROUP
    return entries


def main() -> None:
    torch.set_num_threads(1)  # reproducible reductions
    path = GOLDEN_DIR / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    new = generate()
    data["cases"] = [c for c in data["cases"] if c.get("group") != GROUP] + new
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{GROUP}: {len(new)} cases")


if __name__ == "__main__":
    main()
