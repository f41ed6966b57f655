"""Every logits processor and the whole built list against transformers 4.56.2 (golden/cases/logits_process, made by
golden/gen_logits_process.py): same -inf / +inf / NaN positions exactly, finite scores within the golden's
tolerance (float32: rtol 1e-5, atol 1e-6), and for the built lists the same processor classes in the same order."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import GOLDEN
from safetensors.numpy import load_file

from roformer_np import logits_process as lp
from roformer_np.logits_process import build_logits_processors

META = json.loads((GOLDEN / "cases" / "logits_process" / "cases.json").read_text(encoding="utf-8"))
TENSORS = load_file(str(GOLDEN / META["io"]))
TOL = META["tolerance"]
PROCESSOR_CASES = [c for c in META["cases"] if c["kind"] == "processor"]
CHAIN_CASES = [c for c in META["cases"] if c["kind"] == "chain"]


def prefix_fn(spec: dict, vocab: int):
    """The generator's ``table_plus_next`` rule: the batch's table entry + the two ids after the last token."""
    assert spec["rule"] == "table_plus_next"
    table = {int(k): v for k, v in spec["table"].items()}

    def fn(batch_id: int, sent: np.ndarray) -> list[int]:
        assert sent.ndim == 1 and sent.dtype == np.int64
        last = int(sent[-1])
        return list(table[batch_id]) + [(last + 1) % vocab, (last + 2) % vocab]

    return fn


def assert_scores(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert isinstance(actual, np.ndarray) and actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    for kind, test in (("-inf", np.isneginf), ("+inf", np.isposinf), ("NaN", np.isnan)):
        np.testing.assert_array_equal(test(actual), test(expected), err_msg=f"{what}: {kind} positions differ")
    finite = np.isfinite(expected)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=TOL["rtol"], atol=TOL["atol"], err_msg=what)


def _case_tensors(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return TENSORS[f"{name}.input_ids"], TENSORS[f"{name}.scores"], TENSORS[f"{name}.output"]


def _call_kwargs(case: dict) -> dict:
    return {k: TENSORS[f"{case['name']}.{k}"] if v == "tensor" else v for k, v in case["call"].items()}


def make_processor(case: dict, vocab: int):
    args = {}
    for key, value in case["args"].items():
        if value == "tensor":
            value = TENSORS[f"{case['name']}.{key}"]
        elif key == "prefix_allowed_tokens_fn":
            value = prefix_fn(value, vocab)
        elif key == "sequence_bias" and case.get("sequence_bias_form") == "dict":
            value = {tuple(ids): bias for ids, bias in value}
        args[key] = value
    return getattr(lp, case["class"])(**args)


@pytest.mark.parametrize("case", PROCESSOR_CASES, ids=[c["name"] for c in PROCESSOR_CASES])
def test_processor_matches_hugging_face(case: dict) -> None:
    input_ids, scores, expected = _case_tensors(case["name"])
    before = scores.copy()
    proc = make_processor(case, scores.shape[-1])
    actual = proc(input_ids, scores, **_call_kwargs(case))
    assert_scores(actual, expected, case["name"])
    assert actual is not scores
    np.testing.assert_array_equal(scores, before)  # the input is never written


def test_encoder_repetition_penalty_beams_differs_from_hf_raw_as_documented() -> None:
    """The beams golden is Hugging Face's processor given each row its own prompt; its raw processor penalises
    rows 0-1 with prompts 0 and 1 instead, so the two results really differ."""
    name = "encoder_repetition_penalty_beams3"
    input_ids, scores, expected = _case_tensors(name)
    raw = TENSORS[f"{name}.hf_raw_output"]
    assert not np.array_equal(raw, expected)
    ours = lp.EncoderRepetitionPenaltyLogitsProcessor(1.5, TENSORS[f"{name}.encoder_input_ids"])(input_ids, scores)
    assert_scores(ours, expected, name)
    assert np.abs(ours - raw).max() > 1e-3


def _build(case: dict):
    vocab = case["vocab_size"]
    custom = [make_processor({"name": case["name"], **spec}, vocab) for spec in case["custom"]]
    prefix = case["prefix_allowed_tokens_fn"]
    return build_logits_processors(
        case["options"], input_ids_seq_length=case["input_ids_seq_length"],
        encoder_input_ids=TENSORS[f"{case['name']}.encoder_input_ids"], eos_token_id=case["eos_token_id"],
        vocab_size=vocab, prefix_allowed_tokens_fn=None if prefix is None else prefix_fn(prefix, vocab),
        custom=custom or None)


@pytest.mark.parametrize("case", CHAIN_CASES, ids=[c["name"] for c in CHAIN_CASES])
def test_built_list_matches_hugging_face(case: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # chain_custom's replacement warning, checked below
        procs = _build(case)
    assert [type(p).__name__ for p in procs] == case["classes"]
    input_ids, scores, expected = _case_tensors(case["name"])
    assert_scores(procs(input_ids, scores, **_call_kwargs(case)), expected, case["name"])


def test_custom_replacement_warns_and_keeps_the_custom_object() -> None:
    case = next(c for c in CHAIN_CASES if c["name"] == "chain_custom")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        procs = _build(case)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and "custom RepetitionPenaltyLogitsProcessor will take precedence" in messages[0]
    assert procs[0].penalty == 2.5  # the custom one (the default would be 1.2)


def test_cumsum_accumulates_as_torch() -> None:
    """Bit for bit: torch's float32 cumsum accumulates in float64 (plain float32 accumulation loses the ones)."""
    x = TENSORS["cumsum.input"]
    np.testing.assert_array_equal(lp.cumsum(x), TENSORS["cumsum.output"])
    assert not np.array_equal(np.cumsum(x, axis=-1, dtype=np.float32), TENSORS["cumsum.output"])


def test_goldens_cover_the_brief() -> None:
    """Every processor class has a golden, and the chains cover greedy, sampling and beam sampling."""
    classes = {c["class"] for c in PROCESSOR_CASES}
    public = {n for n in lp.__all__ if n.endswith(("Processor", "Warper", "Penalty", "Normalization"))}
    assert public - {"LogitsProcessor"} <= classes
    options = [c["options"] for c in CHAIN_CASES]
    assert any(not o.get("do_sample") for o in options)
    assert any(o.get("do_sample") and o.get("num_beams", 1) == 1 for o in options)
    assert any(o.get("do_sample") and o.get("num_beams", 1) > 1 for o in options)
