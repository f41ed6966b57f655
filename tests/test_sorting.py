"""roformer_np.sorting: the fast orderings give NumPy's stable argsort order exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from roformer_np.sorting import stable_argsort, stable_top_k


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 3),
    vocab=st.integers(0, 300),
    levels=st.sampled_from([0, 3, 50]),
    specials=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_orders_are_numpys_stable_argsort(rows, vocab, levels, specials, dtype, seed) -> None:
    """The fast keyed sort gives np.argsort(kind="stable")'s order exactly: ties (few levels) in index order,
    -0.0 tied with +0.0, infinities at the ends, NaN rows (the fallback) last."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, vocab)) * 5
    if levels:
        x = np.round(x * levels) / levels
    if specials and vocab:
        for value in (0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan):
            x[rng.integers(0, rows), rng.integers(0, vocab)] = value
    x = x.astype(dtype)
    got = stable_argsort(x)
    assert got.dtype == np.intp and np.array_equal(got, np.argsort(x, axis=-1, kind="stable"))
    assert np.array_equal(stable_argsort(x[0]), np.argsort(x[0], kind="stable"))  # one row, 1-D
    for k in (0, 1, 5, vocab // 2, vocab, vocab + 3):
        assert np.array_equal(stable_top_k(x[0], k), np.argsort(-x[0], kind="stable")[:k]), k
