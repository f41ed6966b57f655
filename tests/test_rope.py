"""Rotary position embedding: Hugging Face's table and pair layout, and the properties that make it rotary."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from roformer_np import ops


def test_table_matches_hugging_face_unit_test_values() -> None:
    # transformers' tests/models/roformer: d=6, M=6, row 1
    np.testing.assert_allclose(ops.sinusoidal_table(6, 6)[1], [0.8415, 0.0464, 0.0022, 0.5403, 0.9989, 1.0000],
                               atol=5e-5)
    table = ops.sinusoidal_table(512, 512)
    np.testing.assert_allclose(table[:3, :5], [[0, 0, 0, 0, 0], [0.8415, 0.8219, 0.8020, 0.7819, 0.7617],
                                               [0.9093, 0.9364, 0.9581, 0.9749, 0.9870]], atol=5e-5)


def test_table_layout_sin_first_half_cos_second_half() -> None:
    d, p = 8, np.arange(10)[:, None]
    w = 10000.0 ** (-2 * np.arange(d // 2) / d)
    table = ops.sinusoidal_table(10, d)
    assert table.dtype == np.float32
    np.testing.assert_array_equal(table[:, : d // 2], np.sin(p * w).astype(np.float32))
    np.testing.assert_allclose(table[:, d // 2 :], np.cos(p * w), atol=1e-7)


def test_rotation_uses_adjacent_pairs_like_hugging_face() -> None:
    # transformers' test: q = arange(2*12*16*64)/100 as [2, 12, 16, 64]; position 1, dims 0..7
    q = (np.arange(2 * 12 * 16 * 64, dtype=np.float32) / 100).reshape(2, 12, 16, 64)
    sin, cos = ops.rotary_sin_cos(ops.sinusoidal_table(16, 64), 0, 16)
    rotated = ops.apply_rotary(q, sin, cos)
    np.testing.assert_allclose(rotated[0, 0, 1, :8],
                               [-0.2012, 0.8897, 0.0263, 0.9401, 0.2074, 0.9463, 0.3481, 0.9343], atol=5e-5)
    np.testing.assert_allclose(ops.apply_rotary(-q, sin, cos)[0, 0, 1, :8],
                               [0.2012, -0.8897, -0.0263, -0.9401, -0.2074, -0.9463, -0.3481, -0.9343], atol=5e-5)


def test_rotation_equals_complex_multiplication() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 1, 5, 8))
    table = ops.sinusoidal_table(5, 8).astype(np.float64)
    sin, cos = ops.rotary_sin_cos(table, 0, 5)
    z = (x[..., 0::2] + 1j * x[..., 1::2]) * (cos + 1j * sin)
    rotated = ops.apply_rotary(x, sin, cos)
    np.testing.assert_allclose(rotated[..., 0::2], z.real, atol=1e-12)
    np.testing.assert_allclose(rotated[..., 1::2], z.imag, atol=1e-12)


dims = st.sampled_from([2, 4, 6, 8, 16, 64])


@settings(max_examples=40, deadline=None)
@given(d=dims, length=st.integers(1, 20), seed=st.integers(0, 2**31 - 1))
def test_rotation_preserves_norms(d, length, seed) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 3, length, d))
    sin, cos = ops.rotary_sin_cos(ops.sinusoidal_table(64, d).astype(np.float64), 0, length)
    rotated = ops.apply_rotary(x, sin, cos)
    # float32-rounded sin/cos: |sin^2 + cos^2 - 1| <= ~1e-7
    np.testing.assert_allclose(np.linalg.norm(rotated, axis=-1), np.linalg.norm(x, axis=-1), rtol=2e-7)


@settings(max_examples=40, deadline=None)
@given(d=dims, m=st.integers(0, 40), n=st.integers(0, 40), shift=st.integers(1, 20), seed=st.integers(0, 2**31 - 1))
def test_score_depends_only_on_position_difference(d, m, n, shift, seed) -> None:
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(1, 1, 1, d)), rng.normal(size=(1, 1, 1, d))
    table = ops.sinusoidal_table(64, d).astype(np.float64)

    def score(pq: int, pk: int) -> float:
        qs, qc = ops.rotary_sin_cos(table, pq, 1)
        ks, kc = ops.rotary_sin_cos(table, pk, 1)
        return float((ops.apply_rotary(q, qs, qc) * ops.apply_rotary(k, ks, kc)).sum())

    # the table is rounded to float32 as Hugging Face stores it, so equality holds to ~1e-6
    scale = np.abs(q).sum() * np.abs(k).sum()
    assert abs(score(m, n) - score(m + shift, n + shift)) <= 2e-6 * scale
