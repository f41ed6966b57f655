"""Start-up: what ``import roformer_np`` and a first pipeline call load, the lazy public names, and the
scipy-free erf that keeps the quick start from importing scipy.special (bit for bit scipy's result).

Timings live in bench/bench_startup.py; these tests check the deterministic part: which modules get loaded.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf as scipy_erf

import roformer_np
from roformer_np import activations

HEAVY = ["scipy", "scipy.special", "scipy.linalg", "tqdm", "safetensors", "threadpoolctl", "rjieba", "jieba"]


def loaded_after(code: str) -> list[str]:
    """The modules of HEAVY (and numpy) that a fresh interpreter has loaded after running ``code``."""
    package_root = str(Path(roformer_np.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": package_root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY + ['numpy']!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120,
                          cwd=package_root)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_import_loads_nothing_heavy():
    assert loaded_after("import roformer_np") == []  # not even numpy: every public name is lazy


def test_the_api_loads_no_optional_dependency():
    assert loaded_after("from roformer_np import RoFormerModel, RoFormerForMaskedLM, pipeline, "
                        "RoFormerTokenizerFast") == ["numpy"]


def test_a_first_fill_mask_loads_neither_scipy_special_nor_all_of_scipy_linalg():
    # the shipped demo model: jieba is needed to tokenize, safetensors to read the weights; the GELU of
    # the prediction head runs without scipy.special, and the native kernels' BLAS without scipy.linalg
    loaded = loaded_after("from roformer_np import pipeline\npipeline('fill-mask')('水在零度时会[MASK]。')")
    assert "scipy.special" not in loaded and "scipy.linalg" not in loaded and "tqdm" not in loaded
    assert "safetensors" in loaded and ("rjieba" in loaded or "jieba" in loaded)


@pytest.mark.skipif(not roformer_np.native_available(), reason="the native kernels are not built")
def test_native_kernels_leave_scipy_linalg_to_load_as_usual():
    # the native kernels even where the suite runs on the NumPy backend (ROFORMER_NP_BACKEND=numpy)
    loaded = loaded_after("import os\nos.environ.pop('ROFORMER_NP_BACKEND', None)\n"
                          "from roformer_np import backend\nassert backend.get_kernels().name == 'native'\n"
                          "import sys\nassert 'scipy.linalg.cython_blas' not in sys.modules\n"
                          "import scipy.linalg.cython_blas\nassert scipy.linalg.cython_blas.__pyx_capi__['sgemm']")
    assert "scipy.linalg" in loaded  # imported above, the ordinary way


# -- the lazy public names ------------------------------------------------------------------------
def test_every_public_name_resolves_and_star_import_gives_them():
    for name in roformer_np.__all__:
        assert getattr(roformer_np, name) is not None, name
    namespace: dict = {}
    exec("from roformer_np import *", namespace)
    assert set(roformer_np.__all__) <= set(namespace)
    assert set(roformer_np.__all__) <= set(dir(roformer_np))
    assert roformer_np.RoFormerModel.__module__ == "roformer_np.model"


def test_submodules_and_unknown_names():
    assert roformer_np.ops.__name__ == "roformer_np.ops"  # as when __init__ imported it eagerly
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        roformer_np.nope  # noqa: B018
    with pytest.raises(AttributeError):
        roformer_np.demo  # noqa: B018 - a data folder, not a module
    with pytest.raises(ImportError):
        exec("from roformer_np import nope", {})


def test_auto_classes_are_exported():
    auto = ["AutoConfig", "AutoTokenizer", "AutoModel", "AutoModelForMaskedLM", "AutoModelForCausalLM",
            "AutoModelForSequenceClassification", "AutoModelForMultipleChoice", "AutoModelForTokenClassification",
            "AutoModelForQuestionAnswering"]
    assert set(auto) <= set(roformer_np.__all__)
    assert all(getattr(roformer_np, name) is getattr(roformer_np.auto, name) for name in auto)


# -- erf without scipy.special --------------------------------------------------------------------
def _native_built() -> bool:
    from roformer_np.backend import native_available

    return native_available()


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("vectorised", [False, True])
def test_libm_erf_is_scipys_float32_erf_bit_for_bit(monkeypatch, vectorised):
    if vectorised:
        if not _native_built():
            pytest.skip("the native extension is not built")
        from roformer_np._native import kernels  # noqa: F401  (the vectorised libm erf)
    else:
        monkeypatch.setattr(activations, "_native_libm_erf", lambda: None)  # one Python call per element
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, scale, 400_000) for scale in (1e-3, 0.3, 1.0, 2.0, 4.0)])
    special = [0.0, -0.0, 1e-45, -1e-45, 1e-38, 0.5, -0.5, 1.0, -1.0, 3.9, 4.0, 10.0, -10.0, 3.4e38, -3.4e38,
               np.inf, -np.inf, np.nan]
    x = np.concatenate([x, special]).astype(np.float32)
    assert _same_bits(activations._erf_float32_libm(x), scipy_erf(x))


def test_unsure_elements_go_to_scipy(monkeypatch):
    x = np.linspace(-5, 5, 1001, dtype=np.float32).reshape(7, 11, 13)
    monkeypatch.setattr(activations, "_ERF_ULPS", 2.0 ** 40)  # every element is "near a midpoint"
    assert _same_bits(activations._erf_float32_libm(x), scipy_erf(x))


def test_libm_erf_has_a_budget_then_scipy_special_is_imported():
    probe = ("import numpy as np\nfrom roformer_np import activations as a\nx = np.ones(1000, np.float32)\n"
             "calls = a._libm_budget // 1000\n[a.gelu(x) for _ in range(calls)]\nimport sys\n"
             "assert 'scipy.special' not in sys.modules\na.gelu(x)")
    assert "scipy.special" in loaded_after(probe)


needs_native = pytest.mark.skipif(not _native_built(), reason="the native extension is not built")


@needs_native
def test_native_libm_erf_is_math_erf():
    from roformer_np._native import kernels

    x = np.concatenate([np.random.default_rng(1).normal(0, 2, 30_000), [0.0, -0.0, 5e-324, 1e300, -1e300, np.inf,
                                                                         -np.inf, np.nan]])
    got = kernels.libm_erf(x)
    want = np.array([math.erf(v) for v in x])
    assert np.array_equal(got, want, equal_nan=True) and np.signbit(got[-7]) == np.signbit(want[-7])
    assert kernels.libm_erf(np.float64(0.5)).shape == () and kernels.libm_erf(x[::3]).shape == x[::3].shape
    assert float(kernels.libm_erf(np.float64(0.5))) == math.erf(0.5)


@needs_native
def test_with_the_native_kernels_loaded_erf_never_needs_scipy_special():
    """The vectorised libm path has no budget: a long generation no longer stops to import scipy.special."""
    probe = ("import numpy as np\nfrom roformer_np import activations as a\nfrom roformer_np._native import kernels\n"
             "x = np.linspace(-4, 4, 1000, dtype=np.float32)\n"
             "outs = [a.gelu(x) for _ in range(2 * a._libm_budget // 1000)]")
    assert "scipy.special" not in loaded_after(probe)
    from roformer_np._native import kernels  # noqa: F401  (so the bit test below takes the native path)

    x = np.concatenate([np.random.default_rng(0).normal(0, s, 200_000) for s in (1e-3, 1.0, 4.0)]).astype(np.float32)
    assert activations._native_libm_erf() is not None
    assert _same_bits(activations._erf_float32_libm(x), scipy_erf(x))


def test_erf_dispatch_keeps_scipys_dtypes_and_shapes():
    for x in (np.float32(0.3), np.array(0.3, np.float32), np.zeros((2, 0), np.float32),
              np.linspace(-3, 3, 50), np.linspace(-3, 3, 50, dtype=np.float16),
              np.linspace(-3, 3, activations._libm_budget + 1, dtype=np.float32)):
        want = scipy_erf(x)
        ways = [activations.erf] + ([activations._erf_float32_libm] if x.dtype == np.float32 else [])
        for way in ways:  # (scipy.special is imported here, so erf itself dispatches to it)
            got = way(x)
            assert type(got) is type(want) and np.asarray(got).dtype == np.asarray(want).dtype
            np.testing.assert_array_equal(got, want)


def test_plain_char_is_the_normalizer_check_it_replaces():
    from roformer_np import tokenizer_stages as fast

    for first, last in fast._PLAIN_BLOCKS + ((0x00, 0x20), (0x7F, 0x2FF), (0xFFEF, 0xFFFF)):
        for cp in range(first, last + 1):
            ch = chr(cp)
            assert fast._plain_char(ch) == (fast._normalize_char.__wrapped__(ch, True, False) == ch
                                            and len(ch.lower()) == 1), hex(cp)
