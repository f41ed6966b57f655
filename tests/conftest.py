"""Shared test helpers: where the golden files and the shared real data live."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "golden"
SHARED = REPO.parent / "shared"
REAL = SHARED / "data" / "real"


def pytest_configure(config) -> None:
    """Strict mode when the extension is built: a native kernel silently falling back to NumPy fails."""
    from roformer_np.backend import ENV_STRICT, native_available

    if native_available():
        os.environ.setdefault(ENV_STRICT, "1")


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
        pytest.fail(f"the shared test data is missing: expected {REAL} (a checkout of ../shared beside the repo)")
    return REAL
