"""The bf16-weight GEMM (csrc/rnp_gemm_bf16*.c, ext/_lowp_bf16.pxi): rounding, packing, every kernel path.

The definition the kernels are held to (rnp_lowp.h), written out here in NumPy: x and w are rounded to bf16 by
round-to-nearest-even on the float32 bits (``rne_bits``), the bf16 values widen exactly to float32, and the
product is the float64 matmul of those values. A kernel accumulates in float32, so it may differ from that by
the round-off of a float32 sum: ``|y - exact| <= 1e-5 (|xr| @ |wr|.T + |b|)`` elementwise (as the float32 GEMM
tests). Everything else is exact: rounding and packing bit for bit, packed vs plain weights, thread counts,
the widening kernels vs vdpbf16ps (same per-element order of the same exact products).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roformer_np.backend import native_available

pytestmark = pytest.mark.skipif(not native_available(), reason="the native extension is not built")

HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTOL = 1e-5


@pytest.fixture(scope="module")
def native():
    from roformer_np._native import kernels

    return kernels


def paths() -> list[tuple[str, bool | str]]:
    """(kernel, dot) pairs this CPU runs: AMX tiles, vdpbf16ps, then the AVX-512F and AVX2 widening kernels."""
    if not native_available():
        return []
    from roformer_np._native import kernels

    out: list[tuple[str, bool | str]] = []
    if kernels._gemm_cpu_supports("avx512"):
        if kernels._amx_cpu_supports():
            out.append(("avx512", "amx"))
        if kernels._bf16_dot_cpu_supports():
            out.append(("avx512", True))
        out.append(("avx512", False))
    if kernels._gemm_cpu_supports("avx2"):
        out.append(("avx2", False))
    return out


def path_id(p: tuple[str, bool | str]) -> str:
    return f"{p[0]}-{p[1] if isinstance(p[1], str) else ('dot' if p[1] else 'widen')}"


def same_order_paths() -> list[tuple[str, bool | str]]:
    """The paths that add in vdpbf16ps's order (AMX adds in its own: float32 round-off apart)."""
    return [p for p in paths() if p[1] != "amx"]


# ---------------------------------------------------------------------------------------------------------
# The definition, in NumPy
# ---------------------------------------------------------------------------------------------------------
def rne_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits: round to nearest even on the 16 dropped bits; NaN -> quiet NaN (bits >> 16 | 0x40)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    upper = u >> 16
    rounded = (u + 0x7FFF + (upper & 1)) >> 16
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    return np.where(nan, upper | 0x40, rounded).astype(np.uint16)


def widen(bits: np.ndarray) -> np.ndarray:
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def check_product(y, x, bits, b, what: str) -> None:
    xr, wr = widen(rne_bits(x)).astype(np.float64), widen(bits).astype(np.float64)
    b64 = 0.0 if b is None else b.astype(np.float64)
    exact = xr @ wr.T + b64
    bound = RTOL * (np.abs(xr) @ np.abs(wr).T + np.abs(b64)) + 1e-30
    assert y.shape == exact.shape and y.dtype == np.float32, what
    excess = np.abs(y.astype(np.float64) - exact) / bound
    where = np.unravel_index(excess.argmax(), excess.shape) if excess.size else ()
    assert excess.size == 0 or excess.max() <= 1.0, f"{what}: error {excess.max():.2f}x the bound at {where}"


def bits_layout(rng, n: int, k: int, layout: str) -> np.ndarray:
    """bf16 bits [n, k]: C-contiguous, a row-strided view (even or odd row stride), or a view starting at an
    odd column (rows not 4-byte aligned: the packer's scalar path)."""
    wide = rne_bits(rng.standard_normal((n, k + 3)).astype(np.float32))
    if layout == "c":
        return np.ascontiguousarray(wide[:, :k])
    if layout == "rows":
        return wide[:, :k]  # row stride k + 3
    return wide[:, 1 : k + 1]


# ---------------------------------------------------------------------------------------------------------
# Rounding
# ---------------------------------------------------------------------------------------------------------
SPECIALS = np.array(
    [
        0x00000000, 0x80000000,  # +-0
        0x7F800000, 0xFF800000,  # +-inf
        0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FBFFFFF, 0x7F81FFFF, 0x7FFFFFFF,  # NaNs (signalling too)
        0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F7FFF, 0x7F7F8000,  # the largest floats: to inf / stay finite / tie to inf
        0x3F808000, 0x3F818000, 0xBF808000, 0xBF818000,  # exact ties: to the even neighbour
        0x3F808001, 0x3F807FFF, 0x3F800000,  # just above / below a tie, exact
        0x00000001, 0x00008000, 0x00018000, 0x007FFFFF, 0x807FFFFF, 0x00800000,  # subnormals, the smallest normal
    ],
    dtype=np.uint32,
)


def test_f32_to_bf16_matches_rne_bit_for_bit(native) -> None:
    rng = np.random.default_rng(0)
    every = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)  # all classes, uniformly
    for u in (SPECIALS, every):
        x = u.view(np.float32)
        got = native.f32_to_bf16(x)
        assert got.dtype == np.uint16 and got.shape == x.shape
        assert np.array_equal(got, rne_bits(x))
    got = native.f32_to_bf16(SPECIALS.view(np.float32))
    assert list(got[:2]) == [0x0000, 0x8000], "signed zeros"
    assert list(got[2:4]) == [0x7F80, 0xFF80], "infinities"
    assert all(int(v) & 0x7F80 == 0x7F80 and int(v) & 0x7F and int(v) & 0x40 for v in got[4:11]), "quiet NaNs"
    assert list(got[11:15]) == [0x7F80, 0xFF80, 0x7F7F, 0x7F80], "overflow to inf, ties at the top"
    assert list(got[15:19]) == [0x3F80, 0x3F82, 0xBF80, 0xBF82], "ties to even"
    x = np.float32([1.0, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8])  # 1 + 1/256 is a tie between 1 and 1 + 1/128
    assert np.array_equal(widen(native.f32_to_bf16(x)), np.float32([1.0, 1.0, 1.0 + 2.0**-6]))


def test_f32_to_bf16_keeps_the_shape_and_takes_any_layout(native) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    assert np.array_equal(native.f32_to_bf16(x), rne_bits(x))
    view = x[:, ::2, 1:].transpose(2, 0, 1)
    got = native.f32_to_bf16(view)
    assert got.shape == view.shape and np.array_equal(got, rne_bits(view))
    assert native.f32_to_bf16(np.float32(1.5)).shape == ()
    assert native.f32_to_bf16(np.zeros((0, 3), np.float32)).shape == (0, 3)
    # other dtypes go through float32 first
    assert np.array_equal(native.f32_to_bf16(x.astype(np.float64)), rne_bits(x))


# ---------------------------------------------------------------------------------------------------------
# Packing
# ---------------------------------------------------------------------------------------------------------
def expected_panels(bits: np.ndarray) -> np.ndarray:
    """The layout of rnp_lowp.h built in NumPy: [ceil(n/32), ceil(k/2), 32, 2], zero beyond n and k."""
    n, k = bits.shape
    npan, kw = -(-n // 32), -(-k // 2)
    full = np.zeros((npan * 32, kw * 2), dtype=np.uint16)
    full[:n, :k] = bits
    return full.reshape(npan, 32, kw, 2).transpose(0, 2, 1, 3)


@pytest.mark.parametrize("n,k", [(1, 1), (31, 5), (32, 300), (33, 7), (70, 1), (65, 2), (3, 0), (0, 4), (100, 513)])
@pytest.mark.parametrize("layout", ["c", "rows", "odd"])
def test_pack_layout_and_round_trip(native, n, k, layout) -> None:
    rng = np.random.default_rng(n * 1000 + k)
    bits = bits_layout(rng, n, k, layout)
    p = native.pack_bf16(bits)
    assert p.panels.dtype == np.uint16 and p.panels.flags.c_contiguous
    assert p.panels.shape == (-(-n // 32), -(-k // 2), 32, 2)
    assert np.array_equal(p.panels, expected_panels(bits)), "layout (incl. zero padding) differs from rnp_lowp.h"
    assert p.n == n and p.k == k and p.shape == (n, k) and len(p) == n and p.ndim == 2 and p.size == n * k
    assert p.dtype == np.float32 and p.precision == "bfloat16" and p.nbytes == p.panels.nbytes
    assert np.array_equal(p.bits(), bits) and p.bits().dtype == np.uint16
    values = widen(bits)
    assert p.unpack().dtype == np.float32 and np.array_equal(p.unpack(), values)
    assert np.array_equal(np.asarray(p), values) and np.array_equal(p.T, values.T)
    assert np.asarray(p, dtype=np.float64).dtype == np.float64
    back = pickle.loads(pickle.dumps(p))
    assert isinstance(back, native.PackedBF16Weight) and np.array_equal(back.panels, p.panels)
    assert "bfloat16" in repr(p) and str((n, k)) in repr(p)


def test_row_indexing_reads_the_panels(native) -> None:
    rng = np.random.default_rng(2)
    bits = bits_layout(rng, 75, 9, "c")
    p, values = native.pack_bf16(bits), widen(bits)
    for key in (0, 74, -1, -75, np.int64(33), [3, 40, 3], np.array([[1, 2], [70, -2]]), np.array([], dtype=np.int64)):
        got, want = p[key], values[key]
        assert got.shape == want.shape and got.dtype == np.float32 and np.array_equal(got, want), key
    for key in (slice(30, 40), (slice(None), 3), (5, slice(2, 7)), True):  # everything else: as the array does
        assert np.array_equal(p[key], values[key]), key
    for key in (75, -76, [0, 75]):
        with pytest.raises(IndexError):
            p[key]


def test_bad_bits_are_a_value_error(native) -> None:
    for bad in (np.ones((3, 4), np.float32), np.ones((3, 4), np.int16), np.ones(4, np.uint16),
                np.ones((2, 3, 4), np.uint16)):
        with pytest.raises(ValueError, match="bits must be a 2-D uint16"):
            native.pack_bf16(bad)
    with pytest.raises(ValueError, match="panels must be"):
        native.PackedBF16Weight(np.zeros((1, 2, 32, 2), np.uint16), 5, 5)  # k = 5 needs 3 words
    with pytest.raises(ValueError, match="panels must be"):
        native.PackedBF16Weight(np.zeros((1, 2, 32, 2), np.float32), 5, 4)
    with pytest.raises(ValueError, match="n and k"):
        native.PackedBF16Weight(np.zeros((1, 2, 32, 2), np.uint16), -1, 4)


# ---------------------------------------------------------------------------------------------------------
# The GEMM
# ---------------------------------------------------------------------------------------------------------
@st.composite
def problems(draw):
    """Tails everywhere: M from 1, N not a multiple of 32 or 16, K odd and across the 512-wide K-block, a bias or
    none; x contiguous, row-strided (read in place) or column-strided (copied); w contiguous or strided."""
    m = draw(st.one_of(st.just(1), st.integers(1, 30)))
    n = draw(st.one_of(st.integers(1, 70), st.sampled_from([15, 16, 17, 31, 32, 33, 64, 95])))
    k = draw(st.one_of(st.integers(1, 40), st.integers(500, 1100), st.sampled_from([511, 512, 513, 1023, 1025])))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x_layout = draw(st.sampled_from(["c", "rows", "cols"]))
    base = rng.standard_normal((m, 2 * k + 1)).astype(np.float32)
    x = {"c": np.ascontiguousarray(base[:, :k]), "rows": base[:, 1 : k + 1], "cols": base[:, : 2 * k : 2]}[x_layout]
    bits = bits_layout(rng, n, k, draw(st.sampled_from(["c", "rows", "odd"])))
    b = rng.standard_normal(n).astype(np.float32) if draw(st.booleans()) else None
    return x, bits, b


@pytest.mark.parametrize("path", paths(), ids=path_id)
@HYP
@given(problems())
def test_kernel_against_the_definition(native, path, problem) -> None:
    kernel, dot = path
    x, bits, b = problem
    y = native._gemm_bf16_forced(x, bits, b, kernel, dot)  # plain rows: packed slice by slice on the fly
    check_product(y, x, bits, b, f"{path_id(path)} plain")
    packed = native.pack_bf16(bits)
    if dot == "amx":  # AMX runs packed weights only (plain rows stay on vdpbf16ps): its own order
        y = native._gemm_bf16_forced(x, packed, b, kernel, dot)
        check_product(y, x, bits, b, f"{path_id(path)} packed")
    else:
        assert np.array_equal(native._gemm_bf16_forced(x, packed, b, kernel, dot), y), "packed and plain differ"
    last = native._gemm_bf16_forced(x[-1:], packed, b, kernel, dot)
    if dot == "amx":  # a lone row runs vdpbf16ps's row kernel (AMX streams it slower): its order, not AMX's
        assert np.array_equal(last, native._gemm_bf16_forced(x[-1:], packed, b, kernel, True))
        check_product(last, x[-1:], bits, b, f"{path_id(path)} row alone")
    else:
        assert np.array_equal(last, y[-1:]), "a row alone differs from the same row in a block"
    # x already holding bf16 values: rounding it again changes nothing
    xr = widen(rne_bits(x))
    assert np.array_equal(native._gemm_bf16_forced(xr, packed, b, kernel, dot), y)


@HYP
@given(problems())
def test_every_path_gives_the_same_bits(native, problem) -> None:
    """vdpbf16ps and the widening FMAs do the same two exact products per word in the same order (normal
    numbers: vdpbf16ps flushes subnormals, which these data never produce)."""
    x, bits, b = problem
    packed = native.pack_bf16(bits)
    same = same_order_paths()
    ys = [native._gemm_bf16_forced(x, packed, b, kernel, dot) for kernel, dot in same]
    for y, path in zip(ys[1:], same[1:]):
        assert np.array_equal(y, ys[0]), f"{path_id(path)} differs from {path_id(same[0])}"


def test_subnormals_widening_exact_dot_flushes(native) -> None:
    """Below the normal range the widening kernels still follow the definition (IEEE float32 FMAs), while
    vdpbf16ps treats subnormal inputs and results as zero (architectural): off by less than 2^-126 here."""
    tiny = 2.0**-130  # subnormal, exact in bf16
    x = np.float32([[tiny, 0.0], [2.0**-70, 0.0]])
    bits = rne_bits(np.float32([[1.0, 0.0], [2.0**-70, 0.0]]))
    want = np.float32([[tiny, 0.0], [2.0**-70, 2.0**-140]])  # a subnormal input, a subnormal product
    p = native.pack_bf16(bits)
    for kernel, dot in paths():
        y = native._gemm_bf16_forced(x, p, None, kernel, dot)
        if dot:
            assert np.abs(y.astype(np.float64) - want).max() < 2.0**-126 and y[1, 0] == want[1, 0]
        else:
            assert np.array_equal(y, want), f"{kernel} widening"


@pytest.mark.parametrize("path", paths(), ids=path_id)
def test_a_large_product_on_every_path(native, path) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((77, 1500)).astype(np.float32)  # several row blocks of the kernel, 3 K-blocks
    bits = rne_bits(rng.standard_normal((300, 1500)).astype(np.float32) * 0.05)
    b = rng.standard_normal(300).astype(np.float32)
    y = native._gemm_bf16_forced(x, native.pack_bf16(bits), b, *path)
    check_product(y, x, bits, b, path_id(path))


@pytest.mark.parametrize("path", paths(), ids=path_id)
@pytest.mark.parametrize("act", ["gelu", "gelu_new", "gelu_fast", "quick_gelu", "relu", "silu", "tanh", "sigmoid",
                                 "relu2", "relu6", "leaky_relu", "gelu_10", "linear"])
def test_every_activation_in_the_write_out(native, path, act) -> None:
    from roformer_np.activations import get_activation

    code = native.ACT_CODES[act]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 301)).astype(np.float32)
    bits = rne_bits(rng.standard_normal((45, 301)).astype(np.float32) * 0.3)
    b = rng.standard_normal(45).astype(np.float32)
    p = native.pack_bf16(bits)
    pre = native._gemm_bf16_forced(x, p, b, *path)  # sum + bias, no activation
    check_product(pre, x, bits, b, "pre-activation")
    want = get_activation(act)(pre)
    np.testing.assert_allclose(native._gemm_bf16_forced(x, p, b, *path, code=code), want, rtol=1e-5, atol=1e-5,
                               err_msg=f"{act} with bias on {path_id(path)}")
    nob = native._gemm_bf16_forced(x, p, None, *path)
    np.testing.assert_allclose(native._gemm_bf16_forced(x, p, None, *path, code=code), get_activation(act)(nob),
                               rtol=1e-5, atol=1e-5, err_msg=f"{act} without bias on {path_id(path)}")


def test_all_activation_codes_are_covered(native) -> None:
    names = ["gelu", "gelu_new", "gelu_fast", "quick_gelu", "relu", "silu", "tanh", "sigmoid", "relu2", "relu6",
             "leaky_relu", "gelu_10", "linear"]
    assert {native.ACT_CODES[a] for a in names} == set(native.ACT_CODES.values())


@pytest.mark.parametrize("path", paths(), ids=path_id)
def test_empty_sums_and_empty_outputs(native, path) -> None:
    b = np.float32([1.0, -2.0, 3.0])
    y = native._gemm_bf16_forced(np.zeros((4, 0), np.float32), np.zeros((3, 0), np.uint16), b, *path,
                                 code=native.ACT_CODES["relu"])
    assert np.array_equal(y, np.tile(np.float32([1.0, 0.0, 3.0]), (4, 1))), "k = 0: act(bias)"
    assert native._gemm_bf16_forced(np.zeros((0, 5), np.float32), np.zeros((3, 5), np.uint16), None,
                                    *path).shape == (0, 3)
    assert native._gemm_bf16_forced(np.zeros((2, 5), np.float32), np.zeros((0, 5), np.uint16), None,
                                    *path).shape == (2, 0)


def test_special_values_propagate(native) -> None:
    """inf and NaN in x or w give what the float sum gives (one element of each kind, the rest ones)."""
    x = np.ones((3, 8), np.float32)
    x[1, 2], x[2, 5] = np.inf, np.nan
    bits = rne_bits(np.ones((2, 8), np.float32))
    for path in paths():
        y = native._gemm_bf16_forced(x, native.pack_bf16(bits), None, *path)
        assert np.array_equal(y[0], [8.0, 8.0]) and np.all(np.isposinf(y[1])) and np.all(np.isnan(y[2])), path


def test_one_and_two_threads_give_the_same_bits(native) -> None:
    """Tiles are handed out dynamically, but each element's reduction order is fixed by the shape."""
    from roformer_np.threads import thread_limit

    rng = np.random.default_rng(4)
    x = rng.standard_normal((77, 1100)).astype(np.float32)
    bits = rne_bits(rng.standard_normal((300, 1100)).astype(np.float32))
    p = native.pack_bf16(bits)
    small = native._get_small_work()
    native._set_small_work(0)  # parallelise even small products
    try:
        results = {}
        for nt in (1, 2):
            with thread_limit(nt):
                results[nt] = [native._gemm_bf16_forced(x, w, None, *path) for path in paths() for w in (p, bits)]
                results[nt].append(native.pack_bf16(bits).panels)
                results[nt].append(native.pack_bf16(bits).bits())
    finally:
        native._set_small_work(small)
    for a, b in zip(results[1], results[2]):
        assert np.array_equal(a, b)


def test_bad_arguments_are_a_value_error(native) -> None:
    x = np.ones((2, 6), np.float32)
    bits = np.zeros((3, 6), np.uint16)
    for bad in (np.zeros((3, 6), np.float32), np.zeros((3, 6), np.int16), np.zeros(6, np.uint16)):
        with pytest.raises(ValueError, match="weight must be a PackedBF16Weight or 2-D uint16"):
            native._gemm_bf16_forced(x, bad)
    with pytest.raises(ValueError, match="x must be"):
        native._gemm_bf16_forced(np.ones((2, 5), np.float32), bits)
    with pytest.raises(ValueError, match="x must be"):
        native._gemm_bf16_forced(np.ones(6, np.float32), bits)
    with pytest.raises(ValueError, match="bias must be"):
        native._gemm_bf16_forced(x, bits, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="not a micro-kernel"):
        native._gemm_bf16_forced(x, bits, None, "blas", False)
    with pytest.raises(ValueError, match="not a micro-kernel"):
        native._gemm_bf16_forced(x, bits, None, "sse", False)
    with pytest.raises(ValueError, match="dot=True needs"):
        native._gemm_bf16_forced(x, bits, None, "avx2", True)
    with pytest.raises(ValueError, match="dot='amx' needs the avx512 kernel"):
        native._gemm_bf16_forced(x, bits, None, "avx2", "amx")
    with pytest.raises(ValueError, match="dot must be True, False or 'amx'"):
        native._gemm_bf16_forced(x, bits, None, "avx2", "tiles")
