"""Golden cases of decoder mode: causal mask, cross-attention, the key/value cache, and generation.

Development only. Run through ``golden/generate.py decoder``. Checkpoints are ``RoFormerForCausalLM``
(``save_pretrained``, float32); float64 entries reuse them through Hugging Face's ``.double()``.

* ``kind: "steps"`` — a prompt is prefilled and then continued over several cached forward calls. For call
  ``i`` the inputs are ``input.step<i>.<argument>`` and the outputs ``output.step<i>.logits``,
  ``output.step<i>.attentions.<layer>`` (``cross_attentions.<layer>``) and the whole cache after the call in
  Hugging Face's legacy layout, ``output.step<i>.past.<layer>.<key|value|cross_key|cross_value>`` ([batch,
  heads, positions, head size], keys/values after rotary). ``output.full.logits`` is one uncached forward
  over every token of the steps (same masks).
* ``kind: "forward"`` — one call ``model(**inputs, **call)``; outputs ``logits``, ``attentions.<layer>``,
  ``cross_attentions.<layer>``.
* ``kind: "generate"`` — ``model.generate(**call)`` on ``input.*``; ``output.sequences`` are Hugging Face's
  token ids. For cross-attention (where Hugging Face 4.56's ``generate`` fails) the greedy tokens come from
  an explicit loop of cached forward calls.
"""

from __future__ import annotations

import shutil

import numpy as np
import torch
from common import CASES_DIR, TOL_F32, TOL_F64, redraw_weights, save_case_io, to_numpy
from common import TINY_HEADS as TINY
from transformers import RoFormerConfig, RoFormerForCausalLM

ENC_LEN = 5

CHECKPOINTS = {
    "decoder": dict(is_decoder=True),
    "decoder_cross": dict(is_decoder=True, add_cross_attention=True),
    "decoder_rotary_value": dict(is_decoder=True, rotary_value=True, embedding_size=24),
    "prefix_lm": dict(is_decoder=False),
}


def _model(name: str, seed: int) -> RoFormerForCausalLM:
    cfg = RoFormerConfig(**{**TINY, **CHECKPOINTS[name]})
    torch.manual_seed(seed)
    model = RoFormerForCausalLM(cfg).eval()
    redraw_weights(model, seed)
    case_dir = CASES_DIR / name
    if case_dir.exists():
        shutil.rmtree(case_dir)
    model.save_pretrained(case_dir, safe_serialization=True)
    return model


def _entry(name: str, checkpoint: str, io: str, dtype: str, kind: str, **extra) -> dict:
    return {
        "name": name,
        "kind": kind,
        "class": "RoFormerForCausalLM",
        "dtype": dtype,
        "checkpoint": f"cases/{checkpoint}",
        "io": f"cases/{checkpoint}/{io}",
        "config": {**TINY, **CHECKPOINTS[checkpoint]},
        "tolerance": TOL_F64 if dtype == "float64" else TOL_F32,
        **extra,
    }


# ---------------------------------------------------------------------------------------------
# Cached forward steps
# ---------------------------------------------------------------------------------------------
def _steps_case(model, checkpoint: str, dtype: str, rng: np.random.Generator, cross: bool) -> dict:
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    model = model.to(tdtype)
    b, prompt, news = 3, 6, [1, 2, 1]
    total = prompt + sum(news)
    ids = rng.integers(1, TINY["vocab_size"], (b, total), dtype=np.int64)
    mask = np.ones((b, total), dtype=np.int64)
    mask[1, :2] = 0  # a left-padded row
    mask[2, 4:6] = 0  # padding inside the prompt (right-padded prompt, then continued)
    types = rng.integers(0, 2, (b, total), dtype=np.int64)
    tensors: dict[str, np.ndarray] = {}
    common: dict = {}
    if cross:
        enc = rng.normal(0, 1, (b, ENC_LEN, TINY["hidden_size"])).astype(dtype)
        enc_mask = np.ones((b, ENC_LEN), dtype=np.int64)
        enc_mask[0, -2:] = 0
        tensors["input.encoder_hidden_states"], tensors["input.encoder_attention_mask"] = enc, enc_mask
        common = dict(encoder_hidden_states=torch.from_numpy(enc), encoder_attention_mask=torch.from_numpy(enc_mask))
    past, start, steps = None, 0, []
    for i, n in enumerate([prompt] + news):
        end = start + n
        step = {"input_ids": ids[:, start:end], "attention_mask": mask[:, :end], "token_type_ids": types[:, start:end]}
        with torch.no_grad():
            out = model(**{k: torch.from_numpy(v) for k, v in step.items()}, **common, past_key_values=past,
                        use_cache=True, output_attentions=True, return_dict=True)
        for k, v in step.items():
            tensors[f"input.step{i}.{k}"] = v
        tensors[f"output.step{i}.logits"] = to_numpy(out.logits)
        for layer, a in enumerate(out.attentions):
            tensors[f"output.step{i}.attentions.{layer}"] = to_numpy(a)
        for layer, a in enumerate(out.cross_attentions or ()):
            tensors[f"output.step{i}.cross_attentions.{layer}"] = to_numpy(a)
        for layer, entry in enumerate(out.past_key_values.to_legacy_cache()):
            for part, tensor in zip(("key", "value", "cross_key", "cross_value"), entry):
                if tensor is None:  # 4.56 pads the legacy tuple with Nones when there is no cross-attention
                    continue
                tensors[f"output.step{i}.past.{layer}.{part}"] = to_numpy(tensor)
        past, start = out.past_key_values, end
        steps.append(sorted(step))
    with torch.no_grad():
        full = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                     token_type_ids=torch.from_numpy(types), **common, use_cache=False, return_dict=True)
    tensors["output.full.logits"] = to_numpy(full.logits)
    extra = {}
    if cross:
        # greedy decoding through explicit cached calls: Hugging Face 4.56's generate() fails with cross-attention
        seq = ids[:, :prompt].copy()
        gmask = mask[:, :prompt].copy()
        past = None
        with torch.no_grad():
            for _ in range(5):
                new = seq if past is None else seq[:, -1:]
                out = model(input_ids=torch.from_numpy(new), attention_mask=torch.from_numpy(gmask), **common,
                            past_key_values=past, use_cache=True, return_dict=True)
                past = out.past_key_values
                nxt = to_numpy(out.logits[:, -1].float().argmax(-1))
                seq = np.concatenate([seq, nxt[:, None]], axis=1)
                gmask = np.concatenate([gmask, np.ones((b, 1), dtype=np.int64)], axis=1)
        tensors["output.greedy.sequences"] = seq
        extra["greedy"] = {"prompt": "step0", "max_new_tokens": 5}
    suffix = "" if dtype == "float32" else "_float64"
    io = f"io_steps{suffix}.safetensors"
    save_case_io(CASES_DIR / checkpoint / io, tensors)
    return _entry(f"{checkpoint}_steps{suffix}", checkpoint, io, dtype, "steps", steps=steps,
                  outputs=sorted(k[len("output."):] for k in tensors if k.startswith("output.")),
                  description=f"prefill {prompt} tokens, then {news} cached; padded rows; token types"
                  + ("; cross-attention over a padded encoder output" if cross else ""), **extra)


# ---------------------------------------------------------------------------------------------
# generate()
# ---------------------------------------------------------------------------------------------
def _generate(model, inputs: dict[str, np.ndarray], call: dict) -> np.ndarray:
    with torch.no_grad():
        out = model.generate(**{k: torch.from_numpy(v) for k, v in inputs.items()}, **call)
    return to_numpy(out)


def _prompt(rng: np.random.Generator, b: int, t: int, left_pad: int = 0) -> dict[str, np.ndarray]:
    ids = rng.integers(1, TINY["vocab_size"], (b, t), dtype=np.int64)
    out = {"input_ids": ids}
    if left_pad:
        mask = np.ones((b, t), dtype=np.int64)
        mask[-1, :left_pad] = 0
        ids[-1, :left_pad] = 0  # the pad id (config.pad_token_id = 0)
        out["attention_mask"] = mask
    return out


def _pick_eos(sequences: np.ndarray, prompt_len: int, step: int = 2) -> int:
    """A token the unconstrained run emits early in row 0, so that EOS really ends some rows."""
    return int(sequences[0, prompt_len + step])


def _generation_cases(models: dict, rng: np.random.Generator) -> list[dict]:
    manifest = []

    def add(name: str, checkpoint: str, inputs: dict, call: dict, dtype: str = "float32", note: str = "") -> None:
        model = models[checkpoint].to(torch.float64 if dtype == "float64" else torch.float32)
        sequences = _generate(model, inputs, call)
        io = f"gen_{name}.safetensors"
        save_case_io(CASES_DIR / checkpoint / io,
                     {**{f"input.{k}": v for k, v in inputs.items()}, "output.sequences": sequences})
        prompt_len = inputs["input_ids"].shape[1]
        eos = call.get("eos_token_id")
        ended = None if eos is None else [bool(np.isin(row[prompt_len:], eos).any()) for row in sequences]
        manifest.append(_entry(name, checkpoint, io, dtype, "generate", call=call, inputs=sorted(inputs),
                               outputs=["sequences"], rows_hitting_eos=ended,
                               description=note or ", ".join(f"{k}={v}" for k, v in call.items())))

    # greedy
    p = _prompt(rng, 1, 5)
    add("greedy", "decoder", p, dict(max_new_tokens=10, do_sample=False))
    add("greedy_float64", "decoder", p, dict(max_new_tokens=10, do_sample=False), dtype="float64")
    p = _prompt(rng, 3, 6, left_pad=2)
    free = _generate(models["decoder"].float(), p, dict(max_new_tokens=10, do_sample=False))
    add("greedy_eos_left_padded", "decoder", p,
        dict(max_new_tokens=10, do_sample=False, eos_token_id=_pick_eos(free, 6)),
        note="3 rows, one left-padded (attention_mask given); EOS ends some rows early, the rest pad")
    p = _prompt(rng, 2, 5)
    p["token_type_ids"] = rng.integers(0, 2, (2, 5), dtype=np.int64)
    add("greedy_token_types", "decoder", p, dict(max_new_tokens=6, do_sample=False),
        note="token_type_ids given: generated positions repeat the last type")
    p = _prompt(rng, 2, 6)
    p["input_ids"][0, :2] = 0  # pad id in the prompt, no attention_mask: Hugging Face infers one
    add("greedy_inferred_mask", "decoder", p, dict(max_new_tokens=6, do_sample=False),
        note="prompt holds pad id 0 and no attention_mask: the mask is inferred from the pad id")
    p = _prompt(rng, 2, 4)
    add("greedy_repetition_penalty", "decoder", p, dict(max_new_tokens=12, do_sample=False, repetition_penalty=1.6))
    add("greedy_rotary_value", "decoder_rotary_value", _prompt(rng, 2, 5), dict(max_new_tokens=8, do_sample=False))
    add("greedy_prefix_lm", "prefix_lm", _prompt(rng, 2, 5, left_pad=1), dict(max_new_tokens=8, do_sample=False),
        note="is_decoder=False: the prompt attends both ways, new tokens to everything before them (prefix LM)")
    # beam search
    p = _prompt(rng, 1, 5)
    add("beam", "decoder", p, dict(max_new_tokens=6, num_beams=3, do_sample=False))
    add("beam_float64", "decoder", p, dict(max_new_tokens=6, num_beams=3, do_sample=False), dtype="float64")
    p = _prompt(rng, 2, 5, left_pad=2)
    free = _generate(models["decoder"].float(), p, dict(max_new_tokens=8, num_beams=4, do_sample=False))
    eos = _pick_eos(free, 5, 1)
    add("beam_eos_length_penalty", "decoder", p,
        dict(max_new_tokens=8, num_beams=4, do_sample=False, eos_token_id=eos, length_penalty=0.5,
             num_return_sequences=2), note="left-padded batch, EOS, length_penalty 0.5, 2 sequences per prompt")
    add("beam_early_stopping", "decoder", p,
        dict(max_new_tokens=8, num_beams=3, do_sample=False, eos_token_id=eos, length_penalty=2.0,
             early_stopping=True))
    add("beam_never", "decoder", p,
        dict(max_new_tokens=8, num_beams=3, do_sample=False, eos_token_id=[eos, 7], length_penalty=1.5,
             early_stopping="never"), note="two EOS ids, early_stopping='never', length_penalty 1.5")
    add("beam_repetition_penalty", "decoder", _prompt(rng, 2, 4),
        dict(max_new_tokens=7, num_beams=2, do_sample=False, repetition_penalty=1.5, length_penalty=-0.5))
    add("beam_prefix_lm", "prefix_lm", _prompt(rng, 2, 5), dict(max_new_tokens=6, num_beams=3, do_sample=False))
    return manifest


def _forward_cases(models: dict, rng: np.random.Generator) -> list[dict]:
    """Single decoder calls with options the step cases leave out: a head mask shared with cross-attention,
    and a 3-D mask (used as given: no causal part is added)."""
    model = models["decoder_cross"].float()
    b, t = 2, 5
    base = {"input_ids": rng.integers(0, TINY["vocab_size"], (b, t), dtype=np.int64),
            "encoder_hidden_states": rng.normal(0, 1, (b, ENC_LEN, TINY["hidden_size"])).astype(np.float32)}
    specs = {
        "decoder_cross_head_mask": {"head_mask": np.array([[1, 0, 0.5, 1], [0.25, 1, 1, 0]], np.float32)},
        "decoder_cross_mask_3d": {"attention_mask": (rng.random((b, t, t)) > 0.3).astype(np.int64)},
    }
    manifest = []
    for name, extra in specs.items():
        inputs = {**base, **extra}
        with torch.no_grad():
            out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, output_attentions=True,
                        use_cache=False, return_dict=True)
        tensors = {f"input.{k}": v for k, v in inputs.items()}
        tensors["output.logits"] = to_numpy(out.logits)
        for layer in range(TINY["num_hidden_layers"]):
            tensors[f"output.attentions.{layer}"] = to_numpy(out.attentions[layer])
            tensors[f"output.cross_attentions.{layer}"] = to_numpy(out.cross_attentions[layer])
        io = f"io_{name[len('decoder_cross_'):]}.safetensors"
        save_case_io(CASES_DIR / "decoder_cross" / io, tensors)
        manifest.append(_entry(name, "decoder_cross", io, "float32", "forward", inputs=sorted(inputs),
                               call={"output_attentions": True, "use_cache": False},
                               outputs=sorted(k[len("output."):] for k in tensors if k.startswith("output.")),
                               description=f"one decoder call with {sorted(extra)[0]} and cross-attention"))
    return manifest


def generate(seed: int = 2468) -> list[dict]:
    models = {name: _model(name, seed + i) for i, name in enumerate(CHECKPOINTS)}
    rng = np.random.default_rng(seed)
    manifest = []
    for checkpoint, cross in (("decoder", False), ("decoder_cross", True), ("decoder_rotary_value", False)):
        for dtype in ("float32", "float64"):
            if checkpoint == "decoder_rotary_value" and dtype == "float64":
                continue
            manifest.append(_steps_case(models[checkpoint], checkpoint, dtype, rng, cross))
    for model in models.values():
        model.float()
    manifest.extend(_generation_cases(models, rng))
    manifest.extend(_forward_cases(models, rng))
    return manifest
