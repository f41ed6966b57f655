"""Orderings with NumPy's stable tie rule (ties in index order, NaN last), faster than a stable argsort.

A stable ``np.argsort`` of a 50000-token vocabulary row takes ~6.6 ms (merge sort), a third of a decoding step
when a sampling warper needs it, and as long per masked position in fill-mask. Both functions here give
exactly its order (tests compare them on ties, signed zeros, infinities and NaN).
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def stable_argsort(x: Array) -> Array:
    """``np.argsort(x, axis=-1, kind="stable")``, 3-4x faster on float32.

    For float32 without NaN each value is mapped to an unsigned key ordered as the floats (-0.0 as +0.0), its
    index put in the low 32 bits, and the 64-bit keys sorted with NumPy's (SIMD) unstable sort: the index
    breaks every tie, so the order is the stable one. Other dtypes, and rows with NaN, take NumPy's."""
    x = np.asarray(x)
    if x.dtype != np.float32 or x.shape[-1] >= 2**32 or np.isnan(x).any():
        return np.argsort(x, axis=-1, kind="stable")
    bits = (x + np.float32(0)).view(np.uint32)  # -0.0 + 0.0 = +0.0: the two zeros tie, as they compare
    key = np.where(bits >> np.uint32(31), ~bits, bits | np.uint32(0x80000000)).astype(np.uint64)
    key = (key << np.uint64(32)) | np.arange(x.shape[-1], dtype=np.uint64)
    return (np.sort(key, axis=-1) & np.uint64(0xFFFFFFFF)).astype(np.intp)


def stable_top_k(row: Array, k: int) -> Array:
    """``np.argsort(-row, kind="stable")[:k]`` for a 1-D ``row``: the k largest, best first, ties by index, in
    O(len(row)) -- a partition finds the k-th largest value, then only the k picked are sorted."""
    row = np.asarray(row)
    n = row.shape[0]
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    if k >= n or np.isnan(row).any():
        return np.argsort(-row, kind="stable")[:k]
    kth = np.partition(row, n - k)[n - k]  # the k-th largest value
    above = np.flatnonzero(row > kth)  # all of them are in; then the ties at kth, lowest indices first
    picked = np.concatenate([above, np.flatnonzero(row == kth)[: k - above.size]])
    return picked[np.argsort(-row[picked], kind="stable")]  # picked is in index order within equal values
