"""generate() with every logits-processor option, group beam search, stop strings and stored options, against
Hugging Face transformers 4.56.2 (golden/cases/generate_options, made by golden/gen_generate_options.py).

Deterministic searches must give Hugging Face's tokens, per-step scores / raw logits, sequence scores and beam
indices; sampling cases compare the first step's filtered scores (no random draw has happened yet).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from roformer_np import BertTokenizerFast, RoFormerForCausalLM

HERE = Path(__file__).resolve().parents[1] / "golden" / "cases" / "generate_options"
GOLDEN = json.loads((HERE / "cases.json").read_text())
CASES = GOLDEN["cases"]
VOCAB = 64


def prefix_allowed(batch_id: int, ids: np.ndarray) -> list[int]:
    """The golden generator's function, as written there."""
    return [(int(np.sum(ids)) + 3 * k) % VOCAB for k in range(6)]


def _close(actual: np.ndarray, expected: np.ndarray, tol: dict, what: str) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    inf = ~np.isfinite(expected)
    np.testing.assert_array_equal(actual[inf], expected[inf], err_msg=f"{what}: non-finite entries differ")
    np.testing.assert_allclose(actual[~inf], expected[~inf], rtol=tol["rtol"], atol=tol["atol"], err_msg=what)


_models: dict[tuple[str, str], RoFormerForCausalLM] = {}


def _model(checkpoint: str, dtype: str) -> RoFormerForCausalLM:
    key = (checkpoint, dtype)
    if key not in _models:
        _models[key] = RoFormerForCausalLM.from_pretrained(HERE / checkpoint, dtype=dtype)
    return _models[key]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_generate_option_matches_hugging_face(case: dict) -> None:
    io = load_file(str(HERE / case["io"]))
    inputs = {k[len("input."):]: v for k, v in io.items() if k.startswith("input.")}
    call = dict(case["call"])
    if call.pop("prefix_allowed_tokens_fn", False):
        call["prefix_allowed_tokens_fn"] = prefix_allowed
    if "stop_strings" in call:
        call["tokenizer"] = BertTokenizerFast.from_pretrained(HERE / case["checkpoint"])
    if case["compare"] == "first_scores":
        call["seed"] = 0
    model = _model(case["checkpoint"], case["dtype"])
    out = model.generate(**inputs, **call)
    tol = case["tolerance"]
    if case["compare"] == "first_scores":
        _close(out.scores[0], io["output.scores.0"], tol, "first step's processed scores")
        _close(out.logits[0], io["output.logits.0"], tol, "first step's logits")
        return
    sequences = out if isinstance(out, np.ndarray) else out.sequences
    np.testing.assert_array_equal(sequences, io["output.sequences"])
    if isinstance(out, np.ndarray):
        return
    for field in ("scores", "logits"):
        steps = sorted(int(k.split(".")[-1]) for k in io if k.startswith(f"output.{field}."))
        got = getattr(out, field)
        if not steps:
            assert got is None, f"{field}: Hugging Face returns None here"
            continue
        assert len(got) == len(steps), field
        for step in steps:
            _close(got[step], io[f"output.{field}.{step}"], tol, f"{field}[{step}]")
    for field in ("attentions", "hidden_states"):
        keys = [k for k in io if k.startswith(f"output.{field}.")]
        if not keys:
            continue
        got = getattr(out, field)
        steps = {int(k.split(".")[2]) for k in keys}
        assert len(got) == len(steps), field
        for key in keys:
            step, layer = (int(x) for x in key.split(".")[2:])
            _close(got[step][layer], io[key], tol, f"{field}[{step}][{layer}]")
    if "output.sequences_scores" in io:
        _close(out.sequences_scores, io["output.sequences_scores"], tol, "sequences_scores")
    else:
        assert getattr(out, "sequences_scores", None) is None
    if "output.beam_indices" in io:
        np.testing.assert_array_equal(out.beam_indices, io["output.beam_indices"])


def test_the_stored_ngram_case_repeats_less_than_without_it() -> None:
    """The issue's example: the stored no_repeat_ngram_size must change the tokens (and be Hugging Face's)."""
    case = next(c for c in CASES if c["name"] == "stored_ngram")
    io = load_file(str(HERE / case["io"]))
    prompt = dict(input_ids=io["input.input_ids"], attention_mask=io["input.attention_mask"])
    stored = _model("stored_ngram", "float32").generate(**prompt)
    plain = _model("decoder", "float32").generate(**prompt, max_new_tokens=12)
    np.testing.assert_array_equal(stored, io["output.sequences"])
    assert not np.array_equal(stored, plain)
    for row in stored:
        pairs = list(zip(row[:-1], row[1:]))
        assert len(pairs) == len(set(pairs)), row  # no bigram twice


def test_generation_config_has_every_hugging_face_field_with_its_default() -> None:
    from roformer_np.generation_config import DEFAULTS

    assert DEFAULTS == GOLDEN["generation_config_defaults"]


def test_a_prefix_lm_without_cache_differs_from_the_cached_one() -> None:
    """use_cache=False recomputes every step both ways (Hugging Face's behaviour): not the cached result."""
    by_name = {c["name"]: load_file(str(HERE / c["io"]))["output.sequences"] for c in CASES}
    assert not np.array_equal(by_name["prefix_lm_no_cache"], by_name["prefix_lm_cached"])
