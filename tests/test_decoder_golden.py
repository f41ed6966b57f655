"""Decoder mode against Hugging Face: causal + padding masks, cross-attention, the cache, and generation.

Every cached step is compared on its logits, attention maps and the whole cache in Hugging Face's legacy
layout (keys/values after rotary), in float32 (rtol/atol 1e-5) and float64 (1e-10). Generated token ids
must be identical.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import GOLDEN, assert_close, golden_cases, load_io

from roformer_np import KVCache, RoFormerForCausalLM, RoFormerModel

CASES = golden_cases("decoder")
STEPS = [c for c in CASES if c["kind"] == "steps"]
GENERATE = [c for c in CASES if c["kind"] == "generate"]
FORWARD = [c for c in CASES if c["kind"] == "forward"]
PARTS = ("key", "value", "cross_key", "cross_value")


def _model(case: dict, cls=RoFormerForCausalLM):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls.from_pretrained(GOLDEN / case["checkpoint"], dtype=np.dtype(case["dtype"]))


def _step_inputs(case: dict, inputs: dict, i: int) -> dict:
    kwargs = {k: inputs[f"step{i}.{k}"] for k in case["steps"][i]}
    if "encoder_hidden_states" in inputs:
        kwargs["encoder_hidden_states"] = inputs["encoder_hidden_states"]
        kwargs["encoder_attention_mask"] = inputs["encoder_attention_mask"]
    return kwargs


def _golden_legacy(expected: dict, i: int, layers: int) -> tuple:
    return tuple(
        tuple(expected[f"step{i}.past.{layer}.{p}"] for p in PARTS if f"step{i}.past.{layer}.{p}" in expected)
        for layer in range(layers)
    )


def _compare_cache(legacy: tuple, expected: dict, i: int, tol: dict, what: str) -> None:
    for layer, entry in enumerate(legacy):
        names = [p for p in PARTS if f"step{i}.past.{layer}.{p}" in expected]
        assert len(entry) == len(names), f"{what}: layer {layer} holds {len(entry)} arrays, expected {len(names)}"
        for part, array in zip(names, entry):
            assert_close(array, expected[f"step{i}.past.{layer}.{part}"], tol["rtol"], tol["atol"],
                         f"{what}: step {i} cache layer {layer} {part}")


@pytest.mark.parametrize("case", STEPS, ids=[c["name"] for c in STEPS])
def test_cached_steps(case: dict) -> None:
    """Prefill then cached steps, our own KVCache carried across calls."""
    model = _model(case)
    inputs, expected = load_io(case)
    tol = case["tolerance"]
    cache = None
    for i in range(len(case["steps"])):
        out = model(**_step_inputs(case, inputs, i), past_key_values=cache, use_cache=True, output_attentions=True)
        cache = out.past_key_values
        assert isinstance(cache, KVCache)
        assert_close(out.logits, expected[f"step{i}.logits"], tol["rtol"], tol["atol"], f"{case['name']} step {i}")
        for layer, a in enumerate(out.attentions):
            assert_close(a, expected[f"step{i}.attentions.{layer}"], tol["rtol"], tol["atol"],
                         f"{case['name']} step {i} attentions {layer}")
        for layer, a in enumerate(out.cross_attentions or ()):
            assert_close(a, expected[f"step{i}.cross_attentions.{layer}"], tol["rtol"], tol["atol"],
                         f"{case['name']} step {i} cross_attentions {layer}")
        _compare_cache(cache.to_legacy(), expected, i, tol, case["name"])


@pytest.mark.parametrize("case", STEPS, ids=[c["name"] for c in STEPS])
def test_cached_steps_from_legacy_tuples(case: dict) -> None:
    """Each step continued from Hugging Face's own legacy cache, in the bare model loaded from the LM file."""
    model = _model(case, RoFormerModel)
    lm = _model(case)
    inputs, expected = load_io(case)
    tol = case["tolerance"]
    for i in range(1, len(case["steps"])):
        legacy = _golden_legacy(expected, i - 1, model.config.num_hidden_layers)
        out = model(**_step_inputs(case, inputs, i), past_key_values=legacy, use_cache=True)
        assert_close(lm.lm_logits(out.last_hidden_state), expected[f"step{i}.logits"], tol["rtol"], tol["atol"],
                     f"{case['name']} step {i} from the legacy cache")
        _compare_cache(out.past_key_values.to_legacy(), expected, i, tol, case["name"])


@pytest.mark.parametrize("case", STEPS, ids=[c["name"] for c in STEPS])
def test_full_forward_matches(case: dict) -> None:
    model = _model(case)
    inputs, expected = load_io(case)
    n = len(case["steps"])
    kwargs = {k: np.concatenate([inputs[f"step{i}.{k}"] for i in range(n)], axis=1)
              for k in ("input_ids", "token_type_ids")}
    kwargs["attention_mask"] = inputs[f"step{n - 1}.attention_mask"]
    if "encoder_hidden_states" in inputs:
        kwargs["encoder_hidden_states"] = inputs["encoder_hidden_states"]
        kwargs["encoder_attention_mask"] = inputs["encoder_attention_mask"]
    out = model(**kwargs, use_cache=False)
    assert out.past_key_values is None
    tol = case["tolerance"]
    assert_close(out.logits, expected["full.logits"], tol["rtol"], tol["atol"], f"{case['name']} full forward")


@pytest.mark.parametrize("case", [c for c in STEPS if "greedy" in c], ids=lambda c: c["name"])
def test_greedy_with_cross_attention(case: dict) -> None:
    model = _model(case)
    inputs, expected = load_io(case)
    seq = model.generate(
        inputs["step0.input_ids"], attention_mask=inputs["step0.attention_mask"],
        max_new_tokens=case["greedy"]["max_new_tokens"], encoder_hidden_states=inputs["encoder_hidden_states"],
        encoder_attention_mask=inputs["encoder_attention_mask"],
    )
    np.testing.assert_array_equal(seq, expected["greedy.sequences"])


@pytest.mark.parametrize("case", FORWARD, ids=[c["name"] for c in FORWARD])
def test_single_decoder_calls(case: dict) -> None:
    model = _model(case)
    inputs, expected = load_io(case)
    out = model(**inputs, **case["call"])
    tol = case["tolerance"]
    for name in sorted(expected):
        kind, _, index = name.partition(".")
        actual = getattr(out, kind) if not index else getattr(out, kind)[int(index)]
        assert_close(actual, expected[name], tol["rtol"], tol["atol"], f"{case['name']}: {name}")


@pytest.mark.parametrize("case", GENERATE, ids=[c["name"] for c in GENERATE])
def test_generate_matches_hugging_face(case: dict) -> None:
    model = _model(case)
    inputs, expected = load_io(case)
    seq = model.generate(**inputs, **case["call"])
    assert seq.dtype == np.int64
    np.testing.assert_array_equal(seq, expected["sequences"], err_msg=case["name"])


def test_manifest_covers_decoding() -> None:
    names = {c["name"] for c in CASES}
    for required in ("decoder_steps", "decoder_steps_float64", "decoder_cross_steps", "decoder_cross_steps_float64",
                     "decoder_rotary_value_steps", "greedy", "greedy_eos_left_padded", "greedy_prefix_lm",
                     "beam", "beam_eos_length_penalty", "beam_early_stopping", "beam_never", "beam_float64",
                     "decoder_cross_head_mask", "decoder_cross_mask_3d"):
        assert required in names, required
    # EOS really ends some rows early in some case (so padding after EOS is exercised)
    assert any(c.get("rows_hitting_eos") and any(c["rows_hitting_eos"]) and not all(c["rows_hitting_eos"])
               for c in GENERATE)
