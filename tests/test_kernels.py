"""The compiled kernels against the NumPy reference (:mod:`roformer_np.ops`), which is the oracle.

Tolerances (native vs reference, elementwise ``|a - e| <= atol + rtol |e|``):
- float64: rtol 1e-12, atol 1e-12 (times the magnitude of the data, which is O(1) here);
- float32: rtol 1e-5, atol 1e-5. The only differences are summation order (BLAS blocking, lane-wise
  LayerNorm/softmax sums) and the vectorised float32 exp/erf/tanh (a few ulps, erf <= 4.5e-7 absolute).
Every model golden also passes on the native backend at its own tolerance (test_model_golden.py).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from conftest import assert_close
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roformer_np import ops
from roformer_np.activations import ACTIVATIONS
from roformer_np.backend import native_available

pytestmark = pytest.mark.skipif(
    not native_available(),
    reason="the native extension is not built (pure-NumPy install): nothing to compare",
)

TOL = {np.float32: (1e-5, 1e-5), np.float64: (1e-12, 1e-12)}
DTYPES = [np.float32, np.float64]
HYP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def K():
    from roformer_np.backend import get_kernels

    return get_kernels("native")


def close(actual, expected, dtype, what):
    rtol, atol = TOL[dtype]
    assert_close(actual, expected, rtol, atol, what)


def close_normalized(kernel, reference, args, tail, dtype, what):
    """``kernel(*args, *tail)`` against ``reference`` for an output that ends in a LayerNorm.

    LayerNorm over very few features (2 of them are +-1 before the affine step) is ill-conditioned: there
    the float32 reference itself strays from the exact result by more than the tolerance. So float32 is
    judged against the float64 reference: native may err as much as the float32 reference, plus the
    tolerance. float64 is compared directly.
    """
    nat, ref = kernel(*args, *tail), reference(*args, *tail)
    if dtype == np.float64:
        close(nat, ref, dtype, what)
        return
    exact = reference(*(a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype == dtype else a
                        for a in args), *tail)
    rtol, atol = TOL[dtype]
    excess = np.abs(nat - exact) - (atol + rtol * np.abs(exact) + np.abs(ref - exact))
    assert excess.max() <= 0, f"{what}: native off by {excess.max():.3g} more than allowed"


def rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def strided(a: np.ndarray) -> np.ndarray:
    """The same values as a non-contiguous view (every other element of a wider buffer)."""
    buf = np.empty(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    buf[..., ::2] = a
    return buf[..., ::2]


def fmin_mask(keep: np.ndarray, dtype) -> np.ndarray:
    """Hugging Face's additive mask from a 0/1 keep array."""
    return ((1 - keep.astype(dtype)) * np.finfo(dtype).min).astype(dtype)


# ---------------------------------------------------------------------------------------------
# The contract
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ops.KERNELS)
def test_signature_matches_reference(K, name):
    ref = inspect.signature(getattr(ops, name))
    nat = inspect.signature(getattr(K, name))
    describe = lambda s: [(p.name, p.kind, p.default) for p in s.parameters.values()]  # noqa: E731
    assert describe(nat) == describe(ref), f"{name}: {nat} != {ref}"


def test_every_kernel_is_native(K):
    from roformer_np._native import kernels

    for name in ops.KERNELS:
        assert getattr(K, name) is getattr(kernels, name)


# ---------------------------------------------------------------------------------------------
# Parity on hypothesis-chosen shapes
# ---------------------------------------------------------------------------------------------
@HYP
@given(
    dtype=st.sampled_from(DTYPES),
    b=st.integers(1, 3),
    t=st.integers(1, 70),
    h=st.integers(1, 5),
    half_d=st.integers(1, 9),
    rotary_value=st.booleans(),
    masked=st.sampled_from(["none", "padding", "full_row", "causal"]),
    head_mask=st.booleans(),
    output_attentions=st.booleans(),
    noncontig=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_rotary_attention(
    K, dtype, b, t, h, half_d, rotary_value, masked, head_mask, output_attentions, noncontig, seed
):
    rng = np.random.default_rng(seed)
    d = 2 * half_d
    q, k, v = (rand(rng, (b, h, t, d), dtype) for _ in range(3))
    if noncontig:
        q, k, v = strided(q), strided(k), strided(v)
    table = ops.sinusoidal_table(t + 3, d).astype(dtype)
    sin, cos = ops.rotary_sin_cos(table, 2, t)
    mask = None
    if masked == "padding":
        keep = rng.integers(0, 2, (b, t))
        keep[:, 0] = 1
        mask = fmin_mask(keep, dtype)[:, None, None, :]
    elif masked == "full_row":  # a batch row whose keys are all hidden: uniform, not NaN
        keep = np.ones((b, t))
        keep[0] = 0
        mask = fmin_mask(keep, dtype)[:, None, None, :]
    elif masked == "causal":
        mask = fmin_mask(np.tril(np.ones((t, t))), dtype)[None, None]
    hm = rng.uniform(0, 1, h).astype(dtype) if head_mask else None
    ref = ops.rotary_attention(q, k, v, sin, cos, mask, rotary_value, hm, output_attentions)
    nat = K.rotary_attention(q, k, v, sin, cos, mask, rotary_value, hm, output_attentions)
    close(nat[0], ref[0], dtype, "context")
    assert np.isfinite(nat[0]).all()
    if output_attentions:
        close(nat[1], ref[1], dtype, "probs")
    else:
        assert nat[1] is None


@HYP
@given(
    s=st.integers(1, 300),
    h=st.sampled_from([1, 2, 5]),
    d=st.sampled_from([8, 24, 64, 72, 136]),
    output_attentions=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_one_query_attention_of_every_head_size(K, s, h, d, output_attentions, seed):
    """One float32 query against S cached keys: the one-query kernels (rnp_attn_q1_*: 8 keys at a time, 64-wide
    column blocks then 8-wide ones) on our GEMM paths, BLAS's GEMV under ROFORMER_NP_GEMM=blas."""
    rng = np.random.default_rng(seed)
    kbuf, vbuf = rand(rng, (1, h, s + 9, d), np.float32), rand(rng, (1, h, s + 9, d), np.float32)
    k, v = kbuf[:, :, :s], vbuf[:, :, :s]
    q = rand(rng, (1, h, 1, d), np.float32)
    keep = np.ones((1, s))
    keep[0, : s // 4] = 0
    mask = fmin_mask(keep, np.float32)[:, None, None, :]  # [1, 1, 1, S]
    ref = ops.attention(q, k, v, mask, None, output_attentions)
    nat = K.attention(q, k, v, mask, None, output_attentions)
    close(nat[0], ref[0], np.float32, "context")
    if output_attentions:
        close(nat[1], ref[1], np.float32, "probs")


@HYP
@given(
    dtype=st.sampled_from(DTYPES),
    b=st.integers(1, 2),
    t=st.integers(1, 4),
    past=st.integers(0, 300),
    h=st.sampled_from([1, 3, 4]),
    d=st.sampled_from([2, 8, 16]),
    seed=st.integers(0, 2**16),
)
def test_attention_decode_against_strided_cache(K, dtype, b, t, past, h, d, seed):
    """T new queries against a [B, H, :S, D] view of a larger key/value buffer (the KV cache)."""
    rng = np.random.default_rng(seed)
    s = past + t
    kbuf, vbuf = rand(rng, (b, h, s + 37, d), dtype), rand(rng, (b, h, s + 37, d), dtype)
    k, v = kbuf[:, :, :s], vbuf[:, :, :s]
    q = rand(rng, (b, h, t, d), dtype)
    keep = np.ones((b, s))
    keep[0, : s // 3] = 0  # left padding
    causal = np.concatenate([np.ones((t, past)), np.tril(np.ones((t, t)))], axis=1)
    mask = fmin_mask(causal[None] * keep[:, None, :], dtype)[:, None]  # [B, 1, T, S]
    ref = ops.attention(q, k, v, mask, None, True)
    nat = K.attention(q, k, v, mask, None, True)
    close(nat[0], ref[0], dtype, "context")
    close(nat[1], ref[1], dtype, "probs")


@HYP
@given(
    dtype=st.sampled_from(DTYPES),
    b=st.integers(1, 3),
    t=st.integers(1, 5),
    past=st.integers(0, 40),
    h=st.integers(1, 4),
    half_d=st.integers(1, 9),
    rotary_value=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_rotary_append_into_cache_slots(K, dtype, b, t, past, h, half_d, rotary_value, seed):
    """The decoding step's rotation + cache append: q / k / v as the q/k/v projection's strided views, k and v
    written into [B, H, T, D] slots of larger cache buffers, nothing around the slots touched."""
    rng = np.random.default_rng(seed)
    d = 2 * half_d
    qkv = rand(rng, (b, t, 3, h, d), dtype)  # one [B, T, 3C] projection, as qkv_projection views it
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
    table = ops.sinusoidal_table(past + t + 2, d).astype(dtype)
    sin, cos = ops.rotary_sin_cos(table, past, t)
    bufs = {}
    for name, fn in (("ref", ops.rotary_append), ("nat", K.rotary_append)):
        kbuf, vbuf = (np.full((b, h, past + t + 3, d), 7.0, dtype) for _ in range(2))
        q_rot = fn(q, k, v, sin, cos, kbuf[:, :, past : past + t], vbuf[:, :, past : past + t], rotary_value)
        bufs[name] = (q_rot, kbuf, vbuf)
    for i, what in enumerate(("queries", "cached keys", "cached values")):
        close(bufs["nat"][i], bufs["ref"][i], dtype, what)
    for buf in bufs["nat"][1:]:  # outside the slots: as it was
        assert (buf[:, :, :past] == 7).all() and (buf[:, :, past + t :] == 7).all()
    if not rotary_value:
        assert np.array_equal(bufs["nat"][2][:, :, past : past + t], v)  # values copied as they are


def test_attention_broadcast_inputs(K):
    """Stride-0 views (one key/value set broadcast over the batch, one key row repeated) are read right."""
    rng = np.random.default_rng(5)
    for dtype in DTYPES:
        q = rand(rng, (3, 2, 4, 6), dtype)
        k = np.broadcast_to(rand(rng, (1, 2, 5, 6), dtype), (3, 2, 5, 6))
        v = np.broadcast_to(rand(rng, (2, 1, 6), dtype), (3, 2, 5, 6))  # every key row the same
        for fn in ("attention",):
            ref = getattr(ops, fn)(q, k, v, None, None, True)
            nat = getattr(K, fn)(q, k, v, None, None, True)
            close(nat[0], ref[0], dtype, "context")
            close(nat[1], ref[1], dtype, "probs")


def test_attention_masks_of_every_broadcast_layout(K):
    """Masks broadcast to [B, H, T, S] from any layout: fewer dimensions, size-1 axes anywhere (read through
    zero strides), a key axis that is itself broadcast or strided."""
    rng = np.random.default_rng(4)
    b, h, t, s, d = 2, 3, 4, 7, 6
    for dtype in DTYPES:
        q = rand(rng, (b, h, t, d), dtype)
        k, v = rand(rng, (b, h, s, d), dtype), rand(rng, (b, h, s, d), dtype)
        wide = fmin_mask(rng.integers(0, 2, (b, h, t, 2 * s)), dtype)
        wide[..., 0] = 0  # every row keeps a key
        masks = [wide[:1, :1, :1, :s].reshape(s), wide[0, 0, :, :s], wide[:1, :, :1, :s], wide[:, :, :1, :s],
                 wide[:, :1, :, :s], wide[:, :, :, ::2][..., :s], np.zeros((b, 1, t, 1), dtype), wide[:, :, :, :s]]
        for m in masks:
            ref = ops.attention(q, k, v, m, None, True)
            nat = K.attention(q, k, v, m, None, True)
            close(nat[0], ref[0], dtype, f"context, mask {m.shape} strides {m.strides}")
            close(nat[1], ref[1], dtype, f"probs, mask {m.shape}")


def test_attention_full_hd_mask_and_no_mask(K):
    rng = np.random.default_rng(1)
    for dtype in DTYPES:
        q, k, v = (rand(rng, (2, 3, 5, 4), dtype) for _ in range(3))
        mask = fmin_mask(rng.integers(0, 2, (2, 3, 5, 5)), dtype)  # a full [B, H, T, S] mask
        for m in (mask, None, mask[:1]):
            ref = ops.attention(q, k, v, m, None, True)
            nat = K.attention(q, k, v, m, None, True)
            close(nat[0], ref[0], dtype, "context")
            close(nat[1], ref[1], dtype, "probs")


def test_fully_masked_rows_are_uniform(K):
    for dtype in DTYPES:
        rng = np.random.default_rng(2)
        q, k, v = (rand(rng, (1, 2, 3, 4), dtype) for _ in range(3))
        mask = np.full((1, 1, 1, 3), np.finfo(dtype).min, dtype=dtype)
        ctx, probs = K.attention(q, k, v, mask, None, True)
        np.testing.assert_array_equal(probs, np.full_like(probs, dtype(1) / dtype(3)))
        close(ctx, ops.attention(q, k, v, mask, None, True)[0], dtype, "context")


@HYP
@given(
    dtype=st.sampled_from(DTYPES),
    lead=st.sampled_from([(1, 1), (1, 7), (3, 5), (2, 33)]),
    c_in=st.integers(1, 80),
    c_out=st.integers(1, 300),
    bias=st.booleans(),
    noncontig=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_linear_and_qkv(K, dtype, lead, c_in, c_out, bias, noncontig, seed):
    rng = np.random.default_rng(seed)
    x = rand(rng, lead + (c_in,), dtype)
    if noncontig:
        x = strided(x)
    w = rand(rng, (c_out, c_in), dtype, 0.2)
    b = rand(rng, (c_out,), dtype) if bias else None
    close(K.linear(x, w, b), ops.linear(x, w, b), dtype, "linear")
    h = int(rng.integers(1, 4))
    c = 2 * h * int(rng.integers(1, 5))
    x = rand(rng, lead + (c,), dtype)
    w, b = rand(rng, (3 * c, c), dtype, 0.2), rand(rng, (3 * c,), dtype)
    for nat, ref in zip(K.qkv_projection(x, w, b, h), ops.qkv_projection(x, w, b, h)):
        assert nat.shape == ref.shape
        close(nat, ref, dtype, "qkv")


@HYP
@given(
    dtype=st.sampled_from(DTYPES),
    lead=st.sampled_from([(1, 1), (1, 9), (2, 17), (3, 64)]),
    c=st.integers(1, 70),
    f=st.integers(1, 200),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    noncontig=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_feed_forward_every_activation(K, dtype, lead, c, f, activation, noncontig, seed):
    """Native activations and the reference fallback (mish, selu, laplace, ...) alike."""
    rng = np.random.default_rng(seed)
    x = rand(rng, lead + (c,), dtype)
    if noncontig:
        x = strided(x)
    w_in, b_in = rand(rng, (f, c), dtype, 0.5), rand(rng, (f,), dtype)
    w_out, b_out = rand(rng, (c, f), dtype, 0.5), rand(rng, (c,), dtype)
    g, beta = rand(rng, (c,), dtype), rand(rng, (c,), dtype)
    close_normalized(K.feed_forward, ops.feed_forward, (x, w_in, b_in, w_out, b_out, g, beta), (1e-12, activation),
                     dtype, f"feed_forward[{activation}]")


def test_feed_forward_unknown_activation_raises(K):
    x = np.ones((1, 2, 4), np.float32)
    w = np.ones((4, 4), np.float32)
    b = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="hidden_act"):
        K.feed_forward(x, w, b, w, b, b, b, 1e-12, "prelu")


@HYP
@given(
    dtype=st.sampled_from(DTYPES),
    lead=st.sampled_from([(1, 1), (1, 13), (4, 31)]),
    c_in=st.integers(1, 90),
    c=st.integers(1, 90),
    eps=st.sampled_from([1e-12, 1e-5]),
    noncontig=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_output_layer_norm(K, dtype, lead, c_in, c, eps, noncontig, seed):
    rng = np.random.default_rng(seed)
    x, res = rand(rng, lead + (c_in,), dtype), rand(rng, lead + (c,), dtype)
    if noncontig:
        x, res = strided(x), strided(res)
    w, b = rand(rng, (c, c_in), dtype, 0.3), rand(rng, (c,), dtype)
    g, beta = rand(rng, (c,), dtype), rand(rng, (c,), dtype)
    close_normalized(K.output_layer_norm, ops.output_layer_norm, (x, w, b, res, g, beta), (eps,), dtype,
                     "output_layer_norm")


@HYP
@given(
    dtype=st.sampled_from(DTYPES),
    shape=st.sampled_from([(1, 1), (1, 9), (3, 17)]),
    e=st.integers(1, 70),
    seed=st.integers(0, 2**16),
)
def test_embed(K, dtype, shape, e, seed):
    rng = np.random.default_rng(seed)
    words, types = rand(rng, (37, e), dtype), rand(rng, (3, e), dtype)
    g, b = rand(rng, (e,), dtype), rand(rng, (e,), dtype)
    ids, tts = rng.integers(0, 37, shape), rng.integers(0, 3, shape)
    close_normalized(K.embed, ops.embed, (ids, tts, words, types, g, b), (1e-12,), dtype, "embed")


@pytest.mark.parametrize("dtype", DTYPES)
def test_apply_rotary(K, dtype):
    rng = np.random.default_rng(3)
    x = strided(rand(rng, (2, 3, 7, 10), dtype))
    sin, cos = ops.rotary_sin_cos(ops.sinusoidal_table(20, 10).astype(dtype), 5, 7)
    np.testing.assert_array_equal(K.apply_rotary(x, sin, cos), ops.apply_rotary(x, sin, cos))


def test_unsupported_dtype_strict_raises_and_lenient_falls_back(K, monkeypatch):
    x = np.ones((1, 2, 4), np.float16)
    w = np.ones((3, 4), np.float16)
    monkeypatch.setenv("ROFORMER_NP_STRICT", "1")
    with pytest.raises(RuntimeError, match="strict"):
        K.linear(x, w)
    monkeypatch.setenv("ROFORMER_NP_STRICT", "0")
    out = K.linear(x, w)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, ops.linear(x, w))


@pytest.fixture
def knobs():
    """The kernels module, with its tuning knobs restored after the test."""
    from roformer_np._native import kernels

    saved = kernels._get_fm_max_rows(), kernels._get_attention_tile_elems(), kernels._get_small_work()
    yield kernels
    kernels._set_fm_max_rows(saved[0])
    kernels._set_attention_tile_elems(saved[1])
    kernels._set_small_work(saved[2])


@pytest.mark.parametrize("fm_max_rows", [0, 512, 1 << 20])
@pytest.mark.parametrize("rows", [2, 17, 600])
@pytest.mark.parametrize("dtype", DTYPES)
def test_both_gemm_orientations(K, knobs, fm_max_rows, rows, dtype):
    """Token-major and feature-major GEMMs (and their transposing epilogues) both match the reference."""
    knobs._set_fm_max_rows(fm_max_rows)
    rng = np.random.default_rng(rows)
    c, f = 40, 150
    x = rand(rng, (1, rows, c), dtype)
    w_in, b_in, w_out, b_out = rand(rng, (f, c), dtype, 0.2), rand(rng, (f,), dtype), rand(rng, (c, f), dtype, 0.1), \
        rand(rng, (c,), dtype)
    g, beta = rand(rng, (c,), dtype), rand(rng, (c,), dtype)
    close(K.linear(x, w_in, b_in), ops.linear(x, w_in, b_in), dtype, "linear")
    close(K.output_layer_norm(x, w_out[:, :c], b_out, x, g, beta, 1e-12),
          ops.output_layer_norm(x, w_out[:, :c], b_out, x, g, beta, 1e-12), dtype, "output_layer_norm")
    for act in ("gelu", "mish"):  # a native activation, and one the reference applies between the GEMMs
        close(K.feed_forward(x, w_in, b_in, w_out, b_out, g, beta, 1e-12, act),
              ops.feed_forward(x, w_in, b_in, w_out, b_out, g, beta, 1e-12, act), dtype, f"feed_forward {act}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_attention_in_many_query_tiles(K, knobs, dtype):
    """Small score blocks: many query tiles per head, the last one partial."""
    knobs._set_attention_tile_elems(16)  # 16 query rows per task
    rng = np.random.default_rng(9)
    b, h, t, d = 2, 3, 53, 8
    q, k, v = (rand(rng, (b, h, t, d), dtype) for _ in range(3))
    sin, cos = ops.rotary_sin_cos(ops.sinusoidal_table(t, d).astype(dtype), 0, t)
    mask = fmin_mask(np.tril(np.ones((t, t))), dtype)[None, None]
    ref = ops.rotary_attention(q, k, v, sin, cos, mask, True, None, True)
    nat = K.rotary_attention(q, k, v, sin, cos, mask, True, None, True)
    close(nat[0], ref[0], dtype, "context")
    close(nat[1], ref[1], dtype, "probs")


@pytest.mark.parametrize("rotary_value", [False, True])
def test_attention_schedules_give_the_same_bits(K, knobs, rotary_value):
    """One (b, h) per task with its panels packed in the task, or every head packed first and one query
    tile per task (fewer heads than twice the threads): the same bits, and the reference's values."""
    from roformer_np import thread_limit

    knobs._set_small_work(0)
    knobs._set_attention_tile_elems(16 * 41)  # 16 query rows per tile: tiles of 16, 16, 1 for t = 33
    rng = np.random.default_rng(12)
    b, h, t, d = 1, 3, 33, 34  # odd panels: 33 keys, 34 value columns
    qkv = rand(rng, (b, t, 3, h, d), np.float32)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # strided views of fused rows
    sin, cos = ops.rotary_sin_cos(ops.sinusoidal_table(t, d).astype(np.float32), 0, t)
    mask = fmin_mask(rng.integers(0, 2, (b, t)), np.float32)[:, None, None]
    hm = np.array([1.0, 0.5, 0.0], np.float32)
    outs = []
    for n in (1, 2, 3):  # 3 heads: per-head tasks on one thread, query-tile tasks on two or three
        with thread_limit(n):
            outs.append(K.rotary_attention(q, k, v, sin, cos, mask, rotary_value, hm, True))
    for ctx, probs in outs[1:]:
        np.testing.assert_array_equal(ctx, outs[0][0])
        np.testing.assert_array_equal(probs, outs[0][1])
    ref = ops.rotary_attention(q, k, v, sin, cos, mask, rotary_value, hm, True)
    close(outs[0][0], ref[0], np.float32, "context")
    close(outs[0][1], ref[1], np.float32, "probs")


# ---------------------------------------------------------------------------------------------
# Thread-count invariance: bit-identical results for 1 and N threads
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fm_max_rows", [0, 512])  # token-major / feature-major GEMMs
@pytest.mark.parametrize("dtype", DTYPES)
def test_results_identical_for_1_and_n_threads(K, knobs, dtype, fm_max_rows):
    from roformer_np import thread_limit

    knobs._set_fm_max_rows(fm_max_rows)

    rng = np.random.default_rng(4)
    b, t, h, d, f = 2, 70, 5, 16, 333
    c = h * d
    x = rand(rng, (b, t, c), dtype)
    w_qkv, b_qkv = rand(rng, (3 * c, c), dtype, 0.1), rand(rng, (3 * c,), dtype)
    w_o, b_o = rand(rng, (c, c), dtype, 0.1), rand(rng, (c,), dtype)
    w_in, b_in, w_out = rand(rng, (f, c), dtype, 0.1), rand(rng, (f,), dtype), rand(rng, (c, f), dtype, 0.1)
    g, beta = rand(rng, (c,), dtype), rand(rng, (c,), dtype)
    sin, cos = ops.rotary_sin_cos(ops.sinusoidal_table(t, d).astype(dtype), 0, t)
    mask = fmin_mask(rng.integers(0, 2, (b, t)), dtype)[:, None, None]
    words = rand(rng, (50, c), dtype)
    ids = rng.integers(0, 50, (b, t))

    def run():
        q, k, v = K.qkv_projection(x, w_qkv, b_qkv, h)
        ctx, probs = K.rotary_attention(q, k, v, sin, cos, mask, True, None, True)
        dec = K.attention(q[:, :, -1:], k, v, None)[0]
        return [
            q,
            k,
            v,
            ctx,
            probs,
            dec,
            K.output_layer_norm(ctx, w_o, b_o, x, g, beta, 1e-12),
            K.feed_forward(x, w_in, b_in, w_out, b_o, g, beta, 1e-12, "gelu"),
            K.linear(x[:, :1], w_in, b_in),
            K.linear(x[:1, -1:], w_in, b_in),  # a single row (decoding): the GEMV path
            K.embed(ids, ids % 2, words, words[:2], g, beta, 1e-12),
        ]

    from roformer_np._native import kernels

    with thread_limit(1):
        one = run()
    runs = []
    for n in (2, 3):
        with thread_limit(n):
            knobs._set_small_work(0)  # every kernel in parallel, however small its work
            runs.append(run())
            knobs._set_small_work(1 << 30)  # every kernel on the calling thread
            runs.append(run())
    for many in runs:
        for a, bb in zip(one, many):
            if kernels.OPENMP:
                np.testing.assert_array_equal(a, bb)
            else:
                # A build without OpenMP parallelises only through BLAS's own threads, whose split of a GEMM
                # depends on the thread count: equal to rounding, not bit for bit (documented).
                close(a, bb, dtype, "1 vs n BLAS threads")


def test_concurrent_calls_from_python_threads(K, knobs):
    """The GIL is released inside the kernels and scratch buffers are per thread: calls from several Python
    threads at once (each with its own inputs and shapes) give each caller its own right answer."""
    from concurrent.futures import ThreadPoolExecutor

    knobs._set_small_work(0)  # these small shapes would otherwise stay on each calling thread

    def job(seed):
        rng = np.random.default_rng(seed)
        t, c, f, h = 20 + seed, 32, 96, 4
        x = rand(rng, (1, t, c), np.float32)
        w_in, b_in, w_out = rand(rng, (f, c), np.float32, 0.2), rand(rng, (f,), np.float32), \
            rand(rng, (c, f), np.float32, 0.1)
        b_out, g, beta = rand(rng, (c,), np.float32), rand(rng, (c,), np.float32), rand(rng, (c,), np.float32)
        q, k, v = (rand(rng, (1, h, t, c // h), np.float32) for _ in range(3))
        sin, cos = ops.rotary_sin_cos(ops.sinusoidal_table(t, c // h).astype(np.float32), 0, t)
        for _ in range(5):
            ff = K.feed_forward(x, w_in, b_in, w_out, b_out, g, beta, 1e-12, "gelu")
            att = K.rotary_attention(q, k, v, sin, cos, None)[0]
        close(ff, ops.feed_forward(x, w_in, b_in, w_out, b_out, g, beta, 1e-12, "gelu"), np.float32, "ffn")
        close(att, ops.rotary_attention(q, k, v, sin, cos, None)[0], np.float32, "attention")
        return True

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(job, range(8)))
