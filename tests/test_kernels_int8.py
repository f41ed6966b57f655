"""The int8-weight GEMM (csrc/rnp_gemm_i8*.c, numerics in csrc/rnp_lowp.h) against its definition.

The reference is written here as the definition itself: rows quantized in float32 NumPy
(``amax = max |x|``, ``inv = 127 / amax`` (0 for a zero row), ``q = clip(rint(x * inv), -127, 127)``,
``scale = amax / 127``), the integer product as a float64 matmul of the int values (exact: every partial sum is
an integer below 2^53), then ``y = acc.astype(f32) * (sx[:, None] * sw[None, :]) + bias`` in float32.
Quantization and the int32 sums must agree bit for bit on every path (vpdpbusd, the AVX-512 kernel forced to
widen, the AVX2 widening kernel; packed and plain weights); so must the dequantized output, because the
write-out does the same float32 multiplies in the same order (no FMA contraction) and adds the bias after.
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
MAX_K = 131072  # RNP_I8_MAX_K: 127 * 127 * k stays below 2^31


@pytest.fixture(scope="module")
def native():
    from roformer_np._native import kernels

    return kernels


def int8_paths() -> list[tuple[str, bool | str]]:
    """(kernel, dot) pairs this CPU runs: AMX tiles, vpdpbusd, the AVX-512 kernel widening, the AVX2 kernel."""
    if not native_available():
        return []
    from roformer_np._native import kernels

    paths: list[tuple[str, bool | str]] = []
    if kernels._gemm_cpu_supports("avx512"):
        if kernels._amx_cpu_supports():
            paths.append(("avx512", "amx"))
        try:
            kernels._int8_acc_forced(np.zeros((1, 4), np.int8), (np.zeros((1, 4), np.int8), np.ones(1, np.float32)))
            paths.append(("avx512", True))
        except ValueError:  # no AVX512_VNNI
            pass
        paths.append(("avx512", False))
    if kernels._gemm_cpu_supports("avx2"):
        paths.append(("avx2", False))
    return paths


PATHS = int8_paths()


def ref_quantize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rnp_lowp.h's per-row quantization, float32 throughout: (q int8 [m, k], scale float32 [m])."""
    x = np.asarray(x, dtype=np.float32)
    amax = np.max(np.abs(x), axis=1) if x.shape[1] else np.zeros(x.shape[0], np.float32)
    with np.errstate(divide="ignore", over="ignore"):  # inv of a zero / subnormal amax is not used / inf
        inv = np.where(amax > 0, np.float32(127.0) / amax, np.float32(0.0)).astype(np.float32)
    with np.errstate(invalid="ignore"):  # 0 * inf (a subnormal amax: inv = inf) is NaN, cast to 0
        q = np.clip(np.rint(x * inv[:, None]), -127, 127).astype(np.int8)
    return q, (amax / np.float32(127.0)).astype(np.float32)


def ref_acc(qx: np.ndarray, qw: np.ndarray) -> np.ndarray:
    """The exact integer product [m, n] (float64 matmul of int8 values: exact), as int64."""
    return (qx.astype(np.float64) @ qw.astype(np.float64).T).astype(np.int64)


def ref_linear(x, qw, sw, bias=None) -> np.ndarray:
    q, sx = ref_quantize(x)
    y = ref_acc(q, qw).astype(np.float32) * (sx[:, None] * sw[None, :])
    return y if bias is None else y + bias


def random_int8(rng, n: int, k: int) -> np.ndarray:
    return rng.integers(-127, 128, (n, k)).astype(np.int8)


@st.composite
def problems(draw):
    """Shapes with tails in every direction: M from 1, N odd / not a multiple of 32 or 16, K not a multiple
    of 4 and across the 1024-wide K-block; x contiguous or strided, rows of huge / tiny / zero magnitude;
    the plain weight rows contiguous, strided or misaligned (not on a 4-byte boundary)."""
    m = draw(st.one_of(st.just(1), st.integers(1, 30)))
    n = draw(st.one_of(st.integers(1, 70), st.sampled_from([15, 16, 17, 31, 32, 33, 95])))
    k = draw(st.one_of(st.integers(1, 41), st.integers(1019, 1031), st.sampled_from([2047, 2048, 2053, 3072])))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    layout = draw(st.sampled_from(["c", "cols", "fortran"]))
    base = rng.standard_normal((m, 2 * k) if layout == "cols" else (m, k)).astype(np.float32)
    base *= np.float32(draw(st.sampled_from([1.0, 1e-30, 1e30, 7.5])))
    if m > 1 and draw(st.booleans()):
        base[draw(st.integers(0, m - 1))] = 0.0
    x = base[:, ::2] if layout == "cols" else (np.asfortranarray(base) if layout == "fortran" else base)
    wl = draw(st.sampled_from(["c", "wide", "odd"]))
    big = random_int8(rng, n, k + 5)
    qw = big[:, :k] if wl == "wide" else (big[:, 1 : k + 1] if wl == "odd" else np.ascontiguousarray(big[:, :k]))
    sw = (rng.random(n) * 0.05).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32) if draw(st.booleans()) else None
    return x, qw, sw, b


# ------------------------------------------------------------------------------------------------------------
# quantization


def test_quantize_rows_special_values(native) -> None:
    """Ties at .5 (amax 127: inv = 1, so x * inv is x exactly), zero rows, negative values, huge and tiny
    magnitudes, a lone nonzero value, lengths around the 16-lane (AVX-512) and 32-value (AVX2) vector tails."""
    ties = np.array([[127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -126.5, 3.49999, -3.50001, 0.0]], np.float32)
    rows = [
        ties,
        np.zeros((2, 17), np.float32),
        -np.abs(np.random.default_rng(1).standard_normal((3, 33))).astype(np.float32),
        np.array([[3.4e38, -3.4e38, 1e38, 1.0]], np.float32),
        np.array([[1e-30, -3e-31, 5e-31, 0.0]], np.float32),
        np.array([[1e-38, 0.0, -1e-39, 5e-39], [1e-45, -1e-45, 0.0, 0.0]], np.float32),  # subnormal amax
        np.array([[0.0, 0.0, -2.0, 0.0, 0.0]], np.float32),
        np.random.default_rng(2).standard_normal((4, 16)).astype(np.float32),
        np.random.default_rng(3).standard_normal((5, 1)).astype(np.float32),
        # the 32-wide vector blocks (AVX2) and their tails: the same cases in rows of 31 to 100 values
        np.tile(ties, 7)[:, :75],
        np.tile(np.array([[3.4e38, -3.4e38, 1e38, 1.0]], np.float32), 10),
        np.tile(np.array([[1e-38, 0.0, -1e-39, 5e-39]], np.float32), 9),
        *(np.random.default_rng(4 + n).standard_normal((2, n)).astype(np.float32) for n in (31, 32, 33, 64, 100)),
    ]
    for x in rows:
        q, s = native.quantize_rows(x)
        rq, rs = ref_quantize(x)
        assert q.dtype == np.int8 and s.dtype == np.float32 and q.shape == x.shape and s.shape == (x.shape[0],)
        assert np.array_equal(q, rq), f"q differs on {x[0, :4]}"
        assert np.array_equal(s.view(np.int32), rs.view(np.int32)), "scale differs"
    q, _ = native.quantize_rows(ties)
    assert q[0].tolist() == [127, 0, 2, 2, 0, -2, -2, 126, -126, 3, -4, 0], "round half to even"
    # amax subnormal: 127 / amax overflows to inf; the signs survive and zeros stay zero
    q, _ = native.quantize_rows(np.array([[1e-38, 0.0, -1e-39, 5e-39]], np.float32))
    assert q[0].tolist() == [127, 0, -127, 127]


def test_agrees_with_the_numpy_emulation_module(native) -> None:
    """roformer_np.lowp (the reference the model runs on the BLAS / NumPy paths) gives the same bits."""
    from roformer_np import lowp

    rng = np.random.default_rng(8)
    x = rng.standard_normal((9, 1030)).astype(np.float32)
    x[3] = 0.0
    x[4] *= np.float32(1e-38)
    qw, sw = lowp.quantize_weight(rng.standard_normal((70, 1030)).astype(np.float32))
    b = rng.standard_normal(70).astype(np.float32)
    q, s = native.quantize_rows(x)
    with np.errstate(over="ignore", invalid="ignore"):  # the subnormal row: 127 / amax = inf
        lq, ls = lowp.quantize_rows(x)
        ref = lowp.linear_int8(x, qw, sw, b)
    assert np.array_equal(q, lq) and np.array_equal(s, ls)
    packed = native.pack_int8(qw, sw)
    for kernel, dot in PATHS:
        assert np.array_equal(native._gemm_int8_forced(x, packed, b, kernel, dot), ref), (kernel, dot)


@HYP
@given(problems())
def test_quantize_rows_bit_for_bit(native, problem) -> None:
    x = problem[0]
    q, s = native.quantize_rows(x)
    rq, rs = ref_quantize(x)
    assert np.array_equal(q, rq) and np.array_equal(s.view(np.int32), rs.view(np.int32))
    assert q.min(initial=0) >= -127
    q64, s64 = native.quantize_rows(x.astype(np.float64))  # other floats are converted to float32 first
    assert np.array_equal(q64, q) and np.array_equal(s64, s)


def test_quantize_rows_rejects(native) -> None:
    with pytest.raises(ValueError, match="x must be a float array"):
        native.quantize_rows(np.ones((2, 3), np.int32))
    with pytest.raises(ValueError, match="x must be 2-D"):
        native.quantize_rows(np.ones(3, np.float32))


# ------------------------------------------------------------------------------------------------------------
# integer sums and the dequantized output


@pytest.mark.parametrize(("kernel", "dot"), PATHS)
@HYP
@given(problems())
def test_int32_sums_are_exact(native, kernel, dot, problem) -> None:
    x, qw, sw, _ = problem
    qx, _ = ref_quantize(x)
    exact = ref_acc(qx, qw)
    packed = native.pack_int8(qw, sw)
    for weight, what in ((packed, "packed"), ((qw, sw), "plain rows")):
        acc = native._int8_acc_forced(qx, weight, kernel, dot)
        assert acc.dtype == np.int32 and acc.shape == exact.shape
        assert np.array_equal(acc.astype(np.int64), exact), f"{kernel} dot={dot} {what}"


@pytest.mark.parametrize(("kernel", "dot"), PATHS)
@HYP
@given(problems())
def test_output_equals_the_reference_bit_for_bit(native, kernel, dot, problem) -> None:
    x, qw, sw, b = problem
    ref = ref_linear(x, qw, sw, b)
    packed = native.pack_int8(qw, sw)
    y = native._gemm_int8_forced(x, packed, b, kernel, dot)
    assert y.dtype == np.float32 and y.shape == ref.shape
    assert np.array_equal(y, ref), f"{kernel} dot={dot}: max |diff| {np.abs(y - ref).max()}"
    assert np.array_equal(native._gemm_int8_forced(x, (qw, sw), b, kernel, dot), y), "plain rows differ"


@HYP
@given(problems())
def test_every_path_and_row_count_gives_the_same_bits(native, problem) -> None:
    """Exact sums: AMX, vpdpbusd, the AVX-512 kernel forced to widen and the AVX2 kernel agree, and a row
    alone (M = 1) equals the same row inside a block."""
    x, qw, sw, b = problem
    packed = native.pack_int8(qw, sw)
    ys = [native._gemm_int8_forced(x, packed, b, kernel, dot) for kernel, dot in PATHS]
    for y, path in zip(ys[1:], PATHS[1:]):
        assert np.array_equal(y, ys[0]), f"{path} differs from {PATHS[0]}"
    assert np.array_equal(native._gemm_int8_forced(x[-1:], packed, b, *PATHS[0]), ys[0][-1:])


@pytest.mark.parametrize(("kernel", "dot"), PATHS)
def test_extreme_sums_at_the_largest_k(native, kernel, dot) -> None:
    """|acc| up to 127 * 127 * RNP_I8_MAX_K (just below 2^31); the VNNI offset (+128 on x, -128 colsum)
    leaves the int32 range on the way and must wrap back exactly."""
    k = MAX_K
    qx = np.stack([np.full(k, 127, np.int8), np.full(k, -127, np.int8), np.where(np.arange(k) % 2, 127, -127)])
    qx = qx.astype(np.int8)
    qw = np.stack([np.full(k, 127, np.int8), np.full(k, -127, np.int8), np.zeros(k, np.int8)])
    exact = ref_acc(qx, qw)
    assert abs(exact).max() == 127 * 127 * k
    packed = native.pack_int8(qw, np.ones(3, np.float32))
    for weight in (packed, (qw, np.ones(3, np.float32))):
        assert np.array_equal(native._int8_acc_forced(qx, weight, kernel, dot).astype(np.int64), exact)


@pytest.mark.parametrize(("kernel", "dot"), PATHS)
@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu", "silu", "tanh", "sigmoid", "quick_gelu"])
def test_activation_in_the_write_out(native, kernel, dot, act) -> None:
    from roformer_np.activations import get_activation

    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 1100)).astype(np.float32)
    qw, sw = random_int8(rng, 45, 1100), np.full(45, 1e-3, np.float32)
    b = rng.standard_normal(45).astype(np.float32)
    packed = native.pack_int8(qw, sw)
    pre = native._gemm_int8_forced(x, packed, b, kernel, dot)
    assert np.array_equal(pre, ref_linear(x, qw, sw, b))
    y = native._gemm_int8_forced(x, packed, b, kernel, dot, native.ACT_CODES[act])
    np.testing.assert_allclose(y, get_activation(act)(pre), rtol=1e-5, atol=1e-5, err_msg=f"{act} on {kernel}")
    nob = native._gemm_int8_forced(x, packed, None, kernel, dot, native.ACT_CODES[act])  # activation, no bias
    np.testing.assert_allclose(nob, get_activation(act)(ref_linear(x, qw, sw)), rtol=1e-5, atol=1e-5)


def test_one_and_two_threads_give_the_same_bits(native) -> None:
    """Several row blocks and panel groups (m > 256), handed out dynamically: the same bits."""
    from roformer_np.threads import thread_limit

    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 1500)).astype(np.float32)
    qw, sw = random_int8(rng, 200, 1500), (rng.random(200) * 0.01).astype(np.float32)
    b = rng.standard_normal(200).astype(np.float32)
    packed = native.pack_int8(qw, sw)
    small = native._get_small_work()
    native._set_small_work(0)  # parallelise even small products
    try:
        with thread_limit(1):
            one = [native._gemm_int8_forced(x, w, b, *p) for p in PATHS for w in (packed, (qw, sw))]
        with thread_limit(2):
            two = [native._gemm_int8_forced(x, w, b, *p) for p in PATHS for w in (packed, (qw, sw))]
    finally:
        native._set_small_work(small)
    ref = ref_linear(x, qw, sw, b)
    for a, c in zip(one, two):
        assert np.array_equal(a, c) and np.array_equal(a, ref)


def test_empty_reduction_gives_the_bias(native) -> None:
    qw, sw = np.zeros((5, 0), np.int8), np.ones(5, np.float32)
    b = np.arange(5, dtype=np.float32)
    packed = native.pack_int8(qw, sw)
    assert packed.panels.shape == (1, 0, 32, 4)
    for kernel, dot in PATHS:
        assert np.array_equal(
            native._gemm_int8_forced(np.zeros((3, 0), np.float32), packed, b, kernel, dot), np.broadcast_to(b, (3, 5))
        )
        assert not native._int8_acc_forced(np.zeros((2, 0), np.int8), packed, kernel, dot).any()


# ------------------------------------------------------------------------------------------------------------
# the packed weight


def test_packed_int8_weight_round_trip(native) -> None:
    rng = np.random.default_rng(1)
    for n, k in [(1, 1), (31, 5), (32, 300), (33, 7), (70, 1), (40, 1029)]:
        q = random_int8(rng, n, k)
        s = (rng.random(n) * 0.1).astype(np.float32)
        p = native.pack_int8(q, s)
        assert p.precision == "int8" and p.shape == (n, k) and p.dtype == np.float32 and p.ndim == 2
        assert len(p) == n and p.size == n * k and p.n == n and p.k == k
        assert p.panels.shape == ((n + 31) // 32, (k + 3) // 4, 32, 4) and p.panels.dtype == np.int8
        assert p.nbytes == p.panels.nbytes + p.colsum.nbytes + p.scale.nbytes
        # the layout itself: word t of row 32p + j holds q[32p + j, 4t : 4t + 4]
        padded = np.zeros(((n + 31) // 32 * 32, (k + 3) // 4 * 4), np.int8)
        padded[:n, :k] = q
        expect = padded.reshape(-1, 32, (k + 3) // 4, 4).transpose(0, 2, 1, 3)
        assert np.array_equal(p.panels, expect), "panel layout"
        colsum = np.zeros((n + 31) // 32 * 32, np.int32)
        colsum[:n] = q.sum(axis=1, dtype=np.int64)
        assert p.colsum.dtype == np.int32 and np.array_equal(p.colsum, colsum)
        q2, s2 = p.int8()
        assert np.array_equal(q2, q) and np.array_equal(s2, s)
        deq = q.astype(np.float32) * s[:, None]
        assert np.array_equal(p.unpack(), deq) and np.array_equal(np.asarray(p), deq)
        assert np.array_equal(p.T, deq.T) and np.array_equal(p[1:3], deq[1:3])
        back = pickle.loads(pickle.dumps(p))
        assert np.array_equal(back.panels, p.panels) and np.array_equal(back.colsum, p.colsum)
        assert "int8" in repr(p)
    # strided and misaligned sources pack to the same panels
    big = random_int8(rng, 50, 40)
    for q in (big[:, 3:38], big[::2, :35], np.asfortranarray(big[:, :35])):
        s = np.ones(q.shape[0], np.float32)
        assert np.array_equal(native.pack_int8(q, s).int8()[0], q)


def test_bad_input_is_a_value_error_naming_the_argument(native) -> None:
    q, s = np.ones((3, 8), np.int8), np.ones(3, np.float32)
    bad_q = q.copy()
    bad_q[1, 2] = -128
    for args, match in [
        ((bad_q, s), "q values must lie in \\[-127, 127\\]"),
        ((q.astype(np.int16), s), "q must be an int8 array"),
        ((q.astype(np.float32), s), "q must be an int8 array"),
        ((np.ones(8, np.int8), s[:1]), "q must be 2-D"),
        ((q, np.ones(4, np.float32)), "scale must have shape \\(3,\\)"),
        ((q, s.astype(np.float64)), "scale must be a float32 array"),
        ((q, np.array([1, -1, 1], np.float32)), "scale values must be finite and >= 0"),
        ((q, np.array([1, np.nan, 1], np.float32)), "scale values must be finite and >= 0"),
        ((q, np.array([1, np.inf, 1], np.float32)), "scale values must be finite and >= 0"),
        ((np.zeros((1, MAX_K + 1), np.int8), np.ones(1, np.float32)), "above the int8 GEMM's limit"),
    ]:
        with pytest.raises(ValueError, match=match):
            native.pack_int8(*args)
    packed = native.pack_int8(q, s)
    x = np.ones((2, 8), np.float32)
    kernel, dot = PATHS[0]
    with pytest.raises(ValueError, match="weight q values must lie"):
        native._gemm_int8_forced(x, (bad_q, s), None, kernel, dot)
    with pytest.raises(ValueError, match="weight scale must have shape"):
        native._gemm_int8_forced(x, (q, s[:2]), None, kernel, dot)
    with pytest.raises(ValueError, match="weight must be a PackedInt8Weight"):
        native._gemm_int8_forced(x, q, None, kernel, dot)
    with pytest.raises(ValueError, match="x must be float32 \\[M, 8\\]"):
        native._gemm_int8_forced(np.ones((2, 7), np.float32), packed, None, kernel, dot)
    with pytest.raises(ValueError, match="x must be float32"):
        native._gemm_int8_forced(x.astype(np.float64), packed, None, kernel, dot)
    with pytest.raises(ValueError, match="bias must be float32 \\[3\\]"):
        native._gemm_int8_forced(x, packed, np.ones(4, np.float32), kernel, dot)
    with pytest.raises(ValueError, match="code must be an activation code"):
        native._gemm_int8_forced(x, packed, None, kernel, dot, 99)
    with pytest.raises(ValueError, match="kernel must be 'avx512' or 'avx2'"):
        native._gemm_int8_forced(x, packed, None, "blas", False)
    with pytest.raises(ValueError, match="dot=True needs the avx512 kernel"):
        native._gemm_int8_forced(x, packed, None, "avx2", True)
    with pytest.raises(ValueError, match="dot='amx' needs the avx512 kernel"):
        native._gemm_int8_forced(x, packed, None, "avx2", "amx")
    with pytest.raises(ValueError, match="dot must be True, False or 'amx'"):
        native._int8_acc_forced(np.zeros((2, 8), np.int8), packed, kernel, 1)
    with pytest.raises(ValueError, match="qx values must lie"):
        native._int8_acc_forced(bad_q[:, :8], packed, kernel, dot)
    with pytest.raises(ValueError, match="qx must be int8 \\[M, 8\\]"):
        native._int8_acc_forced(np.ones((2, 9), np.int8), packed, kernel, dot)
    with pytest.raises(ValueError, match="colsum must be"):
        type(packed)(packed.panels, packed.colsum[:-1], packed.scale, 3, 8)


def test_row_gathers_read_the_panels(native) -> None:
    """Indexing rows (the embedding gather of int8 word embeddings) dequantizes just those rows from the
    panels: the same float32 values as the whole unpacked matrix, for any shape of ids, negative ids included;
    an id out of range is an IndexError."""
    rng = np.random.default_rng(5)
    q = rng.integers(-127, 128, (70, 13)).astype(np.int8)
    scale = rng.random(70).astype(np.float32)
    packed = native.pack_int8(q, scale)
    full = q.astype(np.float32) * scale[:, None]
    ids = np.array([[0, 5, 69], [33, -1, 31]])
    assert np.array_equal(packed[ids], full[ids])
    assert np.array_equal(packed[3], full[3]) and np.array_equal(packed[[1, 2]], full[[1, 2]])
    with pytest.raises(IndexError):
        packed[np.array([70])]
