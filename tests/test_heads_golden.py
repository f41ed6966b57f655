"""The six task heads against Hugging Face: logits, losses, chosen problem types, checkpoint loading reports.

Tolerances come from golden/manifest.json (float32 rtol/atol 1e-5, float64 1e-10). Float64 cases load the
float32 checkpoint widened to float64, which is what Hugging Face's ``.double()`` computed with.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import GOLDEN, assert_close, golden_cases, load_io

import roformer_np
from roformer_np import RoFormerConfig

CASES = golden_cases("heads")
F32_TOL = {"rtol": 1e-5, "atol": 1e-5}


def _load(cls_name: str, case: dict, dtype=None):
    cls = getattr(roformer_np, cls_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls.from_pretrained(GOLDEN / case["checkpoint"], dtype=dtype or np.dtype(case["dtype"]))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_head_golden(case: dict) -> None:
    model = _load(case["class"], case)
    assert model.config.__class__ is RoFormerConfig
    inputs, expected = load_io(case)
    model_inputs = {k: inputs[k] for k in case["inputs"]}
    tol = case["tolerance"]
    for call, spec in case["calls"].items():
        kwargs = {arg: (inputs[src] if isinstance(src, str) else src) for arg, src in spec.items()}
        if hasattr(model.config, "problem_type"):
            model.config.problem_type = None
        out = model(**model_inputs, **kwargs, output_hidden_states=True)
        for name in sorted(k for k in expected if k.startswith(call + ".")):
            field = name[len(call) + 1:]
            actual = out.hidden_states[-1] if field == "hidden_states.last" else getattr(out, field)
            if field == "loss":  # a 0-d loss is stored with shape (1,)
                assert np.ndim(actual) == 0
                actual = np.reshape(actual, (1,))
            # the causal-LM loss is computed in float32 even for a float64 model (Hugging Face upcasts to float32)
            t = F32_TOL if expected[name].dtype == np.float32 else tol
            assert_close(np.asarray(actual), expected[name], t["rtol"], t["atol"], f"{case['name']}: {name}")
        if "problem_types" in case:
            assert model.config.problem_type == case["problem_types"][call]


LOADING = [(c, target) for c in CASES if "loading" in c for target in c["loading"]]


@pytest.mark.parametrize("case, target", LOADING, ids=[f"{c['name']}->{t}" for c, t in LOADING])
def test_loading_reports_like_hugging_face(case: dict, target: str) -> None:
    """A checkpoint of one class loaded into another: same missing / unused keys as Hugging Face reports."""
    expected = case["loading"][target]
    cls = getattr(roformer_np, target)
    if "error" in expected:
        with pytest.raises(ValueError, match="shape"):
            cls.from_pretrained(GOLDEN / case["checkpoint"])
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = cls.from_pretrained(GOLDEN / case["checkpoint"])
    assert sorted(model.missing_keys) == expected["missing_keys"]
    assert sorted(model.unexpected_keys) == expected["unexpected_keys"]
    messages = " ".join(str(w.message) for w in caught)
    if expected["unexpected_keys"]:
        assert expected["unexpected_keys"][0] in messages
    new = [k for k in expected["missing_keys"] if not k.endswith("embed_positions.weight")]
    if target != "RoFormerModel" and new:
        assert "newly initialized" in messages and new[0] in messages


def test_manifest_covers_every_head_in_both_dtypes() -> None:
    seen = {(c["class"], c["dtype"]) for c in CASES}
    for head in ("RoFormerForMaskedLM", "RoFormerForCausalLM", "RoFormerForSequenceClassification",
                 "RoFormerForMultipleChoice", "RoFormerForTokenClassification", "RoFormerForQuestionAnswering"):
        assert (head, "float32") in seen and (head, "float64") in seen, head
    problem = {p for c in CASES for p in c.get("problem_types", {}).values()}
    assert problem == {"regression", "single_label_classification", "multi_label_classification"}
