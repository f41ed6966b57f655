"""The NumPy RoFormerModel against Hugging Face's outputs, case by case, on every output tensor.

Tolerances come from golden/manifest.json: float32 rtol 1e-5 / atol 1e-5, float64 rtol 1e-10 / atol 1e-10.
The first diverging tensor (embeddings, then layer by layer) is named on failure.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import GOLDEN, assert_close, golden_cases, load_io

from roformer_np import RoFormerModel
from roformer_np.backend import native_available

CASES = golden_cases("model")
BACKENDS = [
    "numpy",
    pytest.param(
        "native",
        marks=pytest.mark.skipif(
            not native_available(), reason="the native extension is not built (pure-NumPy install)"
        ),
    ),
]


def _output_order(name: str) -> tuple:
    kind, _, index = name.partition(".")
    return (0 if kind == "hidden_states" else 1 if kind == "attentions" else 2, int(index or 0))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case(case: dict, backend: str) -> None:
    dtype = np.dtype(case["dtype"])
    model = RoFormerModel.from_pretrained(GOLDEN / case["checkpoint"], dtype=dtype, backend=backend)
    inputs, expected = load_io(case)
    out = model(**inputs, **case["call"])
    tol = case["tolerance"]
    for name in sorted(expected, key=_output_order):
        kind, _, index = name.partition(".")
        actual = getattr(out, kind) if not index else getattr(out, kind)[int(index)]
        assert_close(actual, expected[name], tol["rtol"], tol["atol"], f"{case['name']}: {name}")


def test_manifest_covers_the_required_options() -> None:
    names = {c["name"] for c in CASES}
    for required in ("default", "embedding_size", "rotary_value", "padded_batch", "token_type_ids",
                     "head_mask_per_layer", "seq_len_1", "seq_eq_max_positions", "float64"):
        assert required in names
    assert {c["dtype"] for c in CASES} == {"float32", "float64"}
    for act in ("gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "quick_gelu", "relu", "silu", "tanh",
                "sigmoid", "linear", "mish", "gelu_10"):
        assert f"act_{act}" in names
