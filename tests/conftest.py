"""Shared test helpers: where the golden files and the real vocabularies/configs (tests/data/real) live."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "golden"
# published vocabularies and configs, copied byte for byte (provenance and sha256 in tests/data/real/SOURCES.md)
REAL = REPO / "tests" / "data" / "real"


def pytest_configure(config) -> None:
    """Strict mode when the extension is built: a native kernel silently falling back to NumPy fails."""
    from roformer_np.backend import ENV_STRICT, native_available

    if native_available():
        os.environ.setdefault(ENV_STRICT, "1")
    # the distributed predictors share packed weights through ~/.cache/roformer_np/panels by default: the
    # tests (and the Ray / Dask workers they start, which inherit this) write a temporary one instead
    if "ROFORMER_NP_PANEL_CACHE" not in os.environ:
        import atexit
        import shutil
        import tempfile

        os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="roformer-np-test-cache-")
        atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)


def golden_manifest() -> dict:
    return json.loads((GOLDEN / "manifest.json").read_text(encoding="utf-8"))


def golden_cases(group: str) -> list[dict]:
    return [c for c in golden_manifest()["cases"] if c.get("group") == group]


def load_io(case: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(inputs, expected outputs) of a golden case, keyed without their ``input.``/``output.`` prefix."""
    from safetensors.numpy import load_file

    tensors = load_file(str(GOLDEN / case["io"]))
    inputs = {k[len("input."):]: v for k, v in tensors.items() if k.startswith("input.")}
    outputs = {k[len("output."):]: v for k, v in tensors.items() if k.startswith("output.")}
    return inputs, outputs


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float, what: str) -> float:
    """``|a - e| <= atol + rtol |e|`` elementwise; returns the largest absolute error (for reports)."""
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != expected {expected.dtype}"
    err = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    bound = atol + rtol * np.abs(expected.astype(np.float64))
    worst = int(np.argmax(err - bound)) if err.size else 0
    assert np.all(err <= bound), (
        f"{what}: max abs error {err.max():.3e} exceeds atol {atol} + rtol {rtol} * |expected| "
        f"(at flat index {worst}: got {actual.flat[worst]!r}, expected {expected.flat[worst]!r})"
    )
    return float(err.max()) if err.size else 0.0


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not REAL.is_dir():
        pytest.fail(f"the real test data is missing: expected {REAL} (an incomplete source tree)")
    return REAL


def tiny_config(**overrides):
    from roformer_np import RoFormerConfig

    base = dict(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
                max_position_embeddings=32, type_vocab_size=2)
    return RoFormerConfig(**{**base, **overrides})


def random_weights(config, seed: int = 0, dtype=np.float32, std: float = 0.2) -> dict[str, np.ndarray]:
    """Seeded random base-model weights for ``config`` (LayerNorm weights around 1), without the table."""
    from roformer_np.weights import base_model_shapes, sinusoidal_key

    rng = np.random.default_rng(seed)
    out = {}
    for key, shape in base_model_shapes(config).items():
        if key == sinusoidal_key():
            continue
        value = rng.normal(0.0, std, shape)
        if key.endswith("LayerNorm.weight"):
            value += 1.0
        out[key] = value.astype(dtype)
    return out


# Fake checkpoints for the pipeline and command-line tests, built once per session.
@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """A stand-in for roformer_np/demo: tiny random models of every shipped task."""
    from fake_models import make_demo_root

    return make_demo_root(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def qa_dir(tmp_path_factory):
    from fake_models import make_model_dir

    return make_model_dir(tmp_path_factory.mktemp("qa"), "qa")


@pytest.fixture(scope="session")
def lm_dir(tmp_path_factory):
    from fake_models import make_model_dir

    return make_model_dir(tmp_path_factory.mktemp("lm"), "causal_lm")
