"""RoFormer-V2 and RoFormer-Sim against the reference, JunnyU's ``roformer`` 0.4.3 (golden/gen_junnyu.py).

Every V2 head, the .bin and untied variants, the embedding projection; the Sim pooler on the base model and the
causal LM, the UniLM cached steps (types 1 after a bidirectional prompt pass) and greedy decoding through
``generate()``. On both backends, at the manifest's tolerances (float32 1e-5, float64 1e-10).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import GOLDEN, assert_close, golden_cases, load_io
from test_model_golden import BACKENDS

import roformer_np
from roformer_np.cache import KVCache

CASES = golden_cases("junnyu")
HEADS = [c for c in CASES if c["kind"] == "head"]
STEPS = [c for c in CASES if c["kind"] == "steps"]
GREEDY = [c for c in CASES if c["kind"] == "greedy"]
F32_TOL = {"rtol": 1e-5, "atol": 1e-5}


def _load(case: dict, backend: str):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every reference parameter is used, none is newly initialised
        return getattr(roformer_np, case["class"]).from_pretrained(
            GOLDEN / case["checkpoint"], dtype=np.dtype(case["dtype"]), backend=backend)


def _close(actual, expected: np.ndarray, case: dict, what: str) -> None:
    tol = F32_TOL if expected.dtype == np.float32 else case["tolerance"]
    if np.ndim(actual) == 0:
        actual = np.reshape(actual, (1,))
    if what.endswith(".loss") and case["class"] == "RoFormerForCausalLM" and expected.dtype == np.float64:
        # the causal-LM loss follows Hugging Face 4.56, which upcasts the logits to float32 (4.30 did not)
        assert actual.dtype == np.float32
        actual, tol = actual.astype(np.float64), F32_TOL
    assert_close(np.asarray(actual), expected, tol["rtol"], tol["atol"], f"{case['name']}: {what}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", HEADS, ids=[c["name"] for c in HEADS])
def test_junnyu_head(case: dict, backend: str) -> None:
    model = _load(case, backend)
    inputs, expected = load_io(case)
    model_inputs = {k: inputs[k] for k in case["inputs"]}
    for call, spec in case["calls"].items():
        kwargs = {arg: inputs[src] for arg, src in spec.items()}
        out = model(**model_inputs, **kwargs, output_hidden_states=True)
        names = sorted(k for k in expected if k.startswith(call + "."))
        assert names
        for name in names:
            field = name[len(call) + 1:]
            actual = out.hidden_states[-1] if field == "hidden_states.last" else getattr(out, field)
            _close(actual, expected[name], case, name)


def test_junnyu_cases_cover_v2_heads_and_sim() -> None:
    classes = {c["class"] for c in HEADS if "rms_norm" == c["config"].get("norm_type")}
    assert classes == {"RoFormerModel", "RoFormerForMaskedLM", "RoFormerForCausalLM",
                       "RoFormerForSequenceClassification", "RoFormerForMultipleChoice",
                       "RoFormerForTokenClassification", "RoFormerForQuestionAnswering"}
    sim = [c for c in HEADS if c["config"].get("pooler_activation") == "linear"]
    assert {c["class"] for c in sim} == {"RoFormerModel", "RoFormerForCausalLM"}
    assert all(any(o.endswith("pooler_output") for o in c["outputs"]) for c in sim)
    assert {c["dtype"] for c in CASES} == {"float32", "float64"} and STEPS and GREEDY


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", STEPS, ids=[c["name"] for c in STEPS])
def test_junnyu_sim_cached_steps(case: dict, backend: str) -> None:
    """The prompt pass is bidirectional (token types 0), later calls causal with types 1, through one cache."""
    model = _load(case, backend)
    inputs, expected = load_io(case)
    cache = KVCache(model.config.num_hidden_layers)
    for i in range(case["steps"]):
        step = {k[len(f"step{i}."):]: v for k, v in inputs.items() if k.startswith(f"step{i}.")}
        out = model(**step, past_key_values=cache, use_cache=True)
        for field in case["outputs"]:
            _close(getattr(out, field), expected[f"step{i}.{field}"], case, f"step {i} {field}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", GREEDY, ids=[c["name"] for c in GREEDY])
def test_junnyu_sim_greedy_generate(case: dict, backend: str) -> None:
    model = _load(case, backend)
    inputs, expected = load_io(case)
    sequences = model.generate(inputs["input_ids"], **case["call"])
    np.testing.assert_array_equal(sequences, expected["sequences"])
