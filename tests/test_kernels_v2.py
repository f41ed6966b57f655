"""RoFormer-V2's kernels against the NumPy reference: the parameter-free RMS-norm epilogue and bias-free GEMMs.

``ops.norm`` is the RMS norm when the norm parameters are None, and every linear may have no bias. The native
kernels take the same None arguments; here they are compared with :mod:`roformer_np.ops` on hypothesis shapes
and on every dispatch path (token- and feature-major GEMMs, the one-row GEMV, BLAS's own threads, serial and
parallel epilogues), at test_kernels.py's tolerances.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_kernels import DTYPES, HYP, K, close, close_normalized, knobs, rand, strided  # noqa: F401 (fixtures)

from roformer_np import ops
from roformer_np.backend import native_available

pytestmark = pytest.mark.skipif(
    not native_available(),
    reason="the native extension is not built (pure-NumPy install): nothing to compare",
)


def test_rms_norm_is_the_paper_formula() -> None:
    """x / sqrt(mean(x^2) + eps): no mean subtraction (a shifted row is not re-centred), no gain, no offset."""
    x = np.array([[3.0, 4.0], [1.0, 1.0]])
    np.testing.assert_allclose(ops.rms_norm(x, 0.0), x / np.sqrt([[12.5], [1.0]]), rtol=1e-15)
    np.testing.assert_allclose(ops.norm(x, None, None, 1e-12), ops.rms_norm(x, 1e-12), rtol=0)
    assert not np.allclose(ops.rms_norm(x, 1e-12), ops.layer_norm(x, np.ones(2), np.zeros(2), 1e-12))


@HYP
@given(
    dtype=st.sampled_from(DTYPES),
    lead=st.sampled_from([(1, 1), (1, 13), (4, 31)]),
    c_in=st.integers(1, 90),
    c=st.integers(1, 90),
    bias=st.booleans(),
    noncontig=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_output_rms_norm(K, dtype, lead, c_in, c, bias, noncontig, seed):  # noqa: F811
    rng = np.random.default_rng(seed)
    x, res = rand(rng, lead + (c_in,), dtype), rand(rng, lead + (c,), dtype)
    if noncontig:
        x, res = strided(x), strided(res)
    w, b = rand(rng, (c, c_in), dtype, 0.3), rand(rng, (c,), dtype) if bias else None
    close_normalized(K.output_layer_norm, ops.output_layer_norm, (x, w, b, res, None, None), (1e-12,), dtype,
                     "output_layer_norm (RMS)")


@HYP
@given(
    dtype=st.sampled_from(DTYPES),
    lead=st.sampled_from([(1, 1), (1, 9), (2, 17), (3, 64)]),
    c=st.integers(1, 70),
    f=st.integers(1, 200),
    activation=st.sampled_from(["relu", "gelu", "mish"]),  # V2's, v1's, one the reference applies
    noncontig=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_feed_forward_without_biases_or_norm_parameters(K, dtype, lead, c, f, activation, noncontig,  # noqa: F811
                                                       seed):
    rng = np.random.default_rng(seed)
    x = rand(rng, lead + (c,), dtype)
    if noncontig:
        x = strided(x)
    w_in, w_out = rand(rng, (f, c), dtype, 0.5), rand(rng, (c, f), dtype, 0.5)
    close_normalized(K.feed_forward, ops.feed_forward, (x, w_in, None, w_out, None, None, None),
                     (1e-12, activation), dtype, f"feed_forward (V2, {activation})")


@HYP
@given(
    dtype=st.sampled_from(DTYPES),
    shape=st.sampled_from([(1, 1), (1, 9), (3, 17)]),
    e=st.integers(1, 70),
    seed=st.integers(0, 2**16),
)
def test_embed_rms(K, dtype, shape, e, seed):  # noqa: F811
    rng = np.random.default_rng(seed)
    words, types = rand(rng, (37, e), dtype), rand(rng, (3, e), dtype)
    ids, tts = rng.integers(0, 37, shape), rng.integers(0, 3, shape)
    close_normalized(K.embed, ops.embed, (ids, tts, words, types, None, None), (1e-12,), dtype, "embed (RMS)")


@pytest.mark.parametrize("dtype", DTYPES)
def test_qkv_projection_without_bias(K, dtype):  # noqa: F811
    rng = np.random.default_rng(5)
    x, w = rand(rng, (2, 9, 24), dtype), rand(rng, (72, 24), dtype, 0.2)
    for nat, ref in zip(K.qkv_projection(x, w, None, 3), ops.qkv_projection(x, w, None, 3)):
        close(nat, ref, dtype, "qkv without bias")


@pytest.mark.parametrize("gemm_mode", ["omp", "blas"])
@pytest.mark.parametrize("small_work", [0, 1 << 30])  # every epilogue in parallel / on the calling thread
@pytest.mark.parametrize("fm_max_rows", [0, 512, 1 << 20])  # token-major / feature-major GEMMs
@pytest.mark.parametrize("rows", [1, 17, 600])  # 1: the GEMV path
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dispatch_path(K, knobs, gemm_mode, small_work, fm_max_rows, rows, dtype):  # noqa: F811
    knobs._set_fm_max_rows(fm_max_rows)
    knobs._set_small_work(small_work)
    knobs._set_gemm_mode(gemm_mode)
    try:
        rng = np.random.default_rng(rows)
        c, f = 40, 150
        x = rand(rng, (1, rows, c), dtype)
        w_in, w_out = rand(rng, (f, c), dtype, 0.2), rand(rng, (c, f), dtype, 0.1)
        close(K.linear(x, w_in), ops.linear(x, w_in), dtype, "linear without bias")
        close(K.output_layer_norm(x, w_out[:, :c], None, x, None, None, 1e-12),
              ops.output_layer_norm(x, w_out[:, :c], None, x, None, None, 1e-12), dtype, "output RMS norm")
        for act in ("relu", "mish"):
            close(K.feed_forward(x, w_in, None, w_out, None, None, None, 1e-12, act),
                  ops.feed_forward(x, w_in, None, w_out, None, None, None, 1e-12, act), dtype, f"V2 FFN {act}")
        ids = rng.integers(0, 37, (1, rows))
        words = rand(rng, (37, c), dtype)
        close(K.embed(ids, ids % 2, words, words[:2], None, None, 1e-12),
              ops.embed(ids, ids % 2, words, words[:2], None, None, 1e-12), dtype, "embed RMS")
    finally:
        knobs._set_gemm_mode("omp" if knobs.OPENMP else "blas")
