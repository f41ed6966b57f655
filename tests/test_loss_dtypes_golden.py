"""Sequence-classification losses with mixed logits / label dtypes against PyTorch (golden/cases/loss_dtypes,
made by golden/gen_loss_dtypes.py with transformers 4.56.2's loss lines): value and dtype."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import GOLDEN

from roformer_np.losses import sequence_classification_loss

CASES = json.loads((GOLDEN / "cases" / "loss_dtypes" / "cases.json").read_text(encoding="utf-8"))
# by the least precise dtype a step is computed in (log-sigmoid / log-softmax run in the logits' dtype)
RTOL = {"float16": 2e-3, "float32": 2e-6, "float64": 1e-10}


def _id(case: dict) -> str:
    return f"{case['problem_type'][:6]}{case['num_labels']}-{case['logits_dtype']}-{case['labels_dtype']}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_loss_dtype_and_value_match_pytorch(case: dict) -> None:
    logits = np.asarray(case["logits"], dtype=case["logits_dtype"])
    labels = case["labels"] if case["labels_as_list"] else np.asarray(case["labels"], dtype=case["labels_dtype"])
    if "error" in case:
        with pytest.raises(ValueError, match="labels"):
            sequence_classification_loss(logits, labels, case["num_labels"], case["problem_type"])
        return
    loss, problem_type = sequence_classification_loss(logits, labels, case["num_labels"], case["problem_type"])
    assert problem_type == case["problem_type"]
    assert loss.shape == () and loss.dtype == np.dtype(case["loss_dtype"])
    least = min((case["logits_dtype"], case["loss_dtype"]), key=lambda d: np.finfo(d).bits)
    np.testing.assert_allclose(float(loss), case["loss"], rtol=RTOL[least], atol=0)


def test_the_issue_case_is_covered() -> None:
    """A float64 model's multi-label loss with float32 targets: float32, as PyTorch computes it."""
    assert any(c["problem_type"] == "multi_label_classification" and c["logits_dtype"] == "float64"
               and c["labels_dtype"] == "float32" and c["loss_dtype"] == "float32" for c in CASES)
