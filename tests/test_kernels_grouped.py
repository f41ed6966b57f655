"""``grouped_rotary_attention`` (several length groups packed in one projection): the native kernel against
the NumPy reference (tolerances of test_kernels.py), and against ``rotary_attention`` of each group alone,
bit for bit (the server's promise: a request's rows get the bits of its own call)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_kernels import DTYPES, HYP, close, rand, strided

from roformer_np import ops
from roformer_np.backend import native_available

pytestmark = pytest.mark.skipif(not native_available(), reason="the native extension is not built")


@pytest.fixture(scope="module")
def K():
    from roformer_np.backend import get_kernels

    return get_kernels("native")


def packed(rng, groups, h, d, dtype, noncontig):
    """q, k, v [1, H, N, D] for the groups' tokens (views of one fused [1, N, 3C] projection, as
    qkv_projection gives them, or every other element of a wider buffer)."""
    n = sum(r * t for r, t in groups)
    if noncontig:
        return tuple(strided(rand(rng, (1, h, n, d), dtype)) for _ in range(3))
    fused = rand(rng, (1, n, 3, h, d), dtype)
    return tuple(fused[:, :, i].transpose(0, 2, 1, 3) for i in range(3))


def alone(K, q, k, v, sin, cos, groups, rotary_value):
    """Each group through ``rotary_attention`` on its own, with Hugging Face's mask of ones (-0.0)."""
    out, first = [], 0
    for rows, length in groups:
        part = [ops.group_rows(x, first, rows, length) for x in (q, k, v)]
        mask = np.full((rows, 1, 1, length), -0.0, dtype=q.dtype)
        context, _ = K.rotary_attention(*part, sin[:length], cos[:length], mask, rotary_value)
        out.append(context.reshape(1, rows * length, -1))
        first += rows * length
    return np.concatenate(out, axis=1)


@HYP
@given(
    dtype=st.sampled_from(DTYPES),
    groups=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 40)), min_size=1, max_size=4),
    h=st.integers(1, 4),
    half_d=st.integers(1, 8),
    rotary_value=st.booleans(),
    noncontig=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_grouped_rotary_attention(K, dtype, groups, h, half_d, rotary_value, noncontig, seed):
    rng = np.random.default_rng(seed)
    d = 2 * half_d
    q, k, v = packed(rng, groups, h, d, dtype, noncontig)
    longest = max(t for _, t in groups)
    sin, cos = ops.rotary_sin_cos(ops.sinusoidal_table(longest + 2, d).astype(dtype), 0, longest + 2)
    shapes = np.array(groups)
    nat = K.grouped_rotary_attention(q, k, v, sin, cos, shapes, rotary_value)
    ref = ops.grouped_rotary_attention(q, k, v, sin, cos, shapes, rotary_value)
    assert nat.shape == ref.shape == (1, q.shape[2], h * d) and nat.dtype == dtype
    close(nat, ref, dtype, "context")
    assert np.array_equal(nat, alone(K, q, k, v, sin, cos, groups, rotary_value))


@pytest.mark.parametrize("impl", ["native", "reference"])
@pytest.mark.parametrize(("groups", "message"), [
    ([[2, 3], [1, 4]], "groups hold 10 tokens, the projection 9"),
    ([[1, 9], [0, 4]], "at least 1"),
    ([[1, 9]], "exceeds the 8 rotary positions"),
    ([[10**18, 10**18]], "rows exceed"),
    ([9], r"\[G, 2\] int array"),
    ([[1.0, 9.0]], r"\[G, 2\] int array"),
    (np.zeros((0, 2), np.int64), r"\[G, 2\] int array"),
])
def test_groups_that_do_not_fit_the_projection_are_refused(K, impl, groups, message):
    rng = np.random.default_rng(0)
    q, k, v = (rand(rng, (1, 2, 9, 4), np.float32) for _ in range(3))
    sin, cos = ops.rotary_sin_cos(ops.sinusoidal_table(8, 4).astype(np.float32), 0, 8)
    fn = K.grouped_rotary_attention if impl == "native" else ops.grouped_rotary_attention
    with pytest.raises(ValueError, match=message):
        fn(q, k, v, sin, cos, groups)
