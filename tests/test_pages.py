"""roformer_np.pages: where the long-lived weight panels get their memory (4 KiB pages unless asked otherwise)."""

from __future__ import annotations

import mmap

import numpy as np
import pytest

from roformer_np import pages


def _root(a: np.ndarray):
    while isinstance(a, np.ndarray):
        a = a.base
    return a.obj if isinstance(a, memoryview) else a


def test_large_panels_are_a_private_mapping(monkeypatch) -> None:
    monkeypatch.delenv("ROFORMER_NP_HUGEPAGES", raising=False)
    a = pages.empty_panels((3, 1024, 512), np.float32)  # 6 MiB
    assert a.shape == (3, 1024, 512) and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % mmap.PAGESIZE == 0
    if pages._HAVE_MADVISE:
        assert isinstance(_root(a), mmap.mmap)
    a[...] = 7.0
    assert float(a.sum()) == 7.0 * a.size


def test_small_panels_and_the_on_policy_are_plain_numpy(monkeypatch) -> None:
    monkeypatch.delenv("ROFORMER_NP_HUGEPAGES", raising=False)
    assert not isinstance(_root(pages.empty_panels((10, 32), np.int8)), mmap.mmap)
    monkeypatch.setenv("ROFORMER_NP_HUGEPAGES", "ON")
    assert pages.policy() == "on"
    big = pages.empty_panels((8 << 20,), np.uint8)
    assert big.shape == (8 << 20,) and not isinstance(_root(big), mmap.mmap)


def test_a_bad_policy_is_refused_with_the_allowed_values(monkeypatch) -> None:
    monkeypatch.setenv("ROFORMER_NP_HUGEPAGES", "always")
    with pytest.raises(ValueError, match="ROFORMER_NP_HUGEPAGES must be one of off, on; got 'always'"):
        pages.empty_panels((8 << 20,), np.uint8)


def test_packed_weights_are_the_same_on_either_kind_of_page(monkeypatch) -> None:
    from roformer_np.backend import native_available

    if not native_available():
        pytest.skip("the native extension is not built")
    from roformer_np._native import kernels

    w = np.random.default_rng(0).standard_normal((1100, 1024)).astype(np.float32)
    x = np.random.default_rng(1).standard_normal((5, 1024)).astype(np.float32)
    got = {}
    for how in ("off", "on"):
        monkeypatch.setenv("ROFORMER_NP_HUGEPAGES", how)
        p = kernels.pack_weight(w)
        assert isinstance(_root(p.panels), mmap.mmap) == (how == "off" and pages._HAVE_MADVISE)
        got[how] = (p.panels.copy(), kernels.linear(x, p))
    assert np.array_equal(got["off"][0], got["on"][0]) and np.array_equal(got["off"][1], got["on"][1])
