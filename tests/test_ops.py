"""The reference building blocks on their own: activations, LayerNorm, softmax, attention, dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from roformer_np import ops
from roformer_np.activations import ACTIVATIONS, get_activation


def _erf_gelu(x):
    return np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.ravel()]).reshape(x.shape)


def test_gelu_is_the_exact_erf_form() -> None:
    x = np.linspace(-6, 6, 101)
    np.testing.assert_allclose(get_activation("gelu")(x), _erf_gelu(x), rtol=1e-14, atol=1e-15)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(get_activation("gelu")(x32), _erf_gelu(x), rtol=1e-6, atol=1e-7)


def test_selu_matches_torch_constants() -> None:
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    expected = 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1))
    np.testing.assert_allclose(get_activation("selu")(x), expected, rtol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_keep_dtype_and_shape_and_are_finite(name, dtype) -> None:
    x = np.linspace(-50, 50, 41, dtype=dtype).reshape(1, 41)
    with np.errstate(over="raise", invalid="raise"):
        y = get_activation(name)(x)
    assert y.dtype == dtype and y.shape == x.shape and np.all(np.isfinite(y))


def test_unknown_activation() -> None:
    with pytest.raises(ValueError, match="hidden_act"):
        get_activation("nope")


def test_layer_norm_biased_variance() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3, 2, (4, 10))
    w, b = rng.normal(size=10), rng.normal(size=10)
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12) * w + b
    np.testing.assert_allclose(ops.layer_norm(x, w, b, 1e-12), expected, rtol=1e-12)


def test_softmax_is_stable_and_fully_masked_rows_are_uniform() -> None:
    big = np.array([[1e4, 1e4 - 1, -1e4]], dtype=np.float32)
    p = ops.softmax(big)
    assert np.all(np.isfinite(p)) and abs(p.sum() - 1) < 1e-6
    # additive finfo.min mask on every key: uniform, never NaN (Hugging Face's behaviour)
    q = np.ones((1, 1, 2, 4), np.float32)
    k = v = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    mask = np.full((1, 1, 1, 3), np.finfo(np.float32).min, np.float32)
    ctx, probs = ops.attention(q, k, v, mask, output_attentions=True)
    np.testing.assert_allclose(probs, 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(ctx.reshape(2, 4), np.tile(v[0, 0].mean(0), (2, 1)), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocks_never_upcast(dtype) -> None:
    rng = np.random.default_rng(1)
    B, T, C, H, F = 2, 3, 8, 2, 12

    def r(*shape):
        return rng.normal(size=shape).astype(dtype)

    x = r(B, T, C)
    q, k, v = ops.qkv_projection(x, r(3 * C, C), r(3 * C), H)
    assert q.shape == (B, H, T, C // H) and q.dtype == dtype
    sin, cos = ops.rotary_sin_cos(ops.sinusoidal_table(8, C // H).astype(dtype), 0, T)
    ctx, probs = ops.rotary_attention(q, k, v, sin, cos, None, True, None, True)
    assert ctx.shape == (B, T, C) and ctx.dtype == dtype and probs.dtype == dtype
    out = ops.output_layer_norm(ctx, r(C, C), r(C), x, r(C), r(C), 1e-12)
    ff = ops.feed_forward(out, r(F, C), r(F), r(C, F), r(C), r(C), r(C), 1e-12, "gelu")
    emb = ops.embed(np.array([[1, 2, 3]]), np.zeros((1, 3), int), r(5, C), r(2, C), r(C), r(C), 1e-12)
    assert out.dtype == ff.dtype == emb.dtype == dtype
