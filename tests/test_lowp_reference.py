"""roformer_np.lowp, the reference of the bf16 / int8 GEMMs: rounding against float64 definitions, int8
quantization (ties, zero rows, bounds), the exact integer part, the plain containers, and the native helpers
(f32_to_bf16, quantize_rows, packing) bit for bit against it."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from roformer_np import lowp
from roformer_np.backend import native_available

RNG = np.random.default_rng(16)


def _bf16_nearest(x: np.ndarray) -> np.ndarray:
    """The definition: of the two bf16 values around a finite float32 (truncation and the next one up in
    magnitude), the nearer in exact (float64) arithmetic; a tie goes to the even bit pattern."""
    u = x.view(np.uint32)
    low = (u >> 16).astype(np.uint32)  # truncation toward zero (magnitude)
    high = low + 1  # the next bf16 away from zero (0x7F80 is infinity: the overflow case)
    vlow = (low << 16).view(np.float32).astype(np.float64)
    vhigh_bits = (high << 16)
    with np.errstate(over="ignore", invalid="ignore"):
        vhigh = vhigh_bits.view(np.float32).astype(np.float64)
        exact = x.astype(np.float64)
        d_low, d_high = np.abs(exact - vlow), np.abs(vhigh - exact)
        # past the largest bf16 the upper neighbour is infinity: compare with 2^128 (the value it stands for)
        top = (high & 0x7FFF) == 0x7F80
        d_high = np.where(top, np.abs(np.sign(exact) * 2.0**128 - exact), d_high)
    pick_high = (d_high < d_low) | ((d_high == d_low) & (low % 2 == 1))
    return np.where(pick_high, high, low).astype(np.uint16)


def test_bf16_rounding_is_the_nearest_value_ties_to_even() -> None:
    bits = RNG.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    ties = (RNG.integers(0, 0x7F7F, 2000).astype(np.uint32) << 16) | 0x8000  # exactly half-way
    near_max = np.array([0x7F7F7FFF, 0x7F7F8000, 0x7F7FFFFF, 0xFF7FFFFF, 0x00008000, 0x00018000], np.uint32)
    u = np.concatenate([bits, ties, ties | 0x80000000, near_max])
    x = u.view(np.float32)
    finite = np.isfinite(x)
    got = lowp.to_bf16_bits(x)
    np.testing.assert_array_equal(got[finite], _bf16_nearest(x[finite]))
    # below the tie past the largest bf16, at it (odd: rounds up) and above: RNE overflows to infinity
    np.testing.assert_array_equal(got[-near_max.size :][:3], [0x7F7F, 0x7F80, 0x7F80])


def test_bf16_special_values() -> None:
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -2.0], np.float32)
    snan = np.array([0x7F800001, 0xFF800001, 0x7FBFFFFF], np.uint32).view(np.float32)  # signalling NaNs
    got = lowp.to_bf16_bits(np.concatenate([x, snan]))
    assert [hex(v) for v in got[:4]] == ["0x0", "0x8000", "0x7f80", "0xff80"]
    assert got[6] == 0x3F80 and got[7] == 0xC000
    nans = got[[4, 5, 8, 9, 10]]
    assert np.all((nans & 0x7F80) == 0x7F80) and np.all(nans & 0x0040), "a NaN stays a quiet NaN"
    assert got[5] & 0x8000 and got[9] & 0x8000, "the sign of a NaN is kept"
    assert np.isnan(lowp.from_bf16_bits(nans)).all()
    assert lowp.to_bf16_bits(np.float32(1.5)).shape == ()


def test_every_bf16_value_round_trips() -> None:
    bits = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    values = lowp.from_bf16_bits(bits)
    back = lowp.to_bf16_bits(values)
    keep = ~np.isnan(values)
    np.testing.assert_array_equal(back[keep], bits[keep])  # a bf16 value is exact in float32
    np.testing.assert_array_equal(lowp.round_bf16(values)[keep].view(np.uint32), values[keep].view(np.uint32))
    rel = np.abs(lowp.round_bf16(x := RNG.normal(size=10_000).astype(np.float32)) - x) / np.abs(x)
    assert rel.max() <= 2.0**-8  # half a unit in the 8-bit significand


def test_quantize_rows_ties_zero_rows_and_bounds() -> None:
    x = np.array([[127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -127.0], [0, 0, 0, 0, 0, 0, 0]], np.float32)
    q, scale = lowp.quantize_rows(x)
    assert q.dtype == np.int8 and scale.dtype == np.float32
    np.testing.assert_array_equal(q[0], [127, 0, 2, 2, 0, -2, -127])  # amax 127: inv 1, rint ties to even
    assert scale[0] == 1.0 and scale[1] == 0 and not q[1].any()
    w = RNG.normal(size=(64, 300)).astype(np.float32) * np.logspace(-20, 20, 64, dtype=np.float32)[:, None]
    q, scale = lowp.quantize_rows(w)
    assert np.all(np.abs(q).max(axis=1) == 127)  # every non-zero row reaches the full range
    err = np.abs(q.astype(np.float64) * scale[:, None] - w)
    assert np.all(err <= 0.5001 * scale[:, None])  # at most half a step, per row
    np.testing.assert_array_equal(scale, np.abs(w).max(axis=1) / np.float32(127))
    qw, sw = lowp.quantize_weight(w)
    np.testing.assert_array_equal(qw, q)
    np.testing.assert_array_equal(sw, scale)
    with pytest.raises(ValueError, match="rows, k"):
        lowp.quantize_rows(np.zeros(3, np.float32))


def test_quantize_rows_in_float32_operations() -> None:
    """inv = 127 / amax is rounded to float32 before the product (as the kernels do): recomputed step by step."""
    x = RNG.normal(size=(200, 33)).astype(np.float32)
    amax = np.abs(x).max(axis=1)
    inv = (np.float32(127) / amax).astype(np.float32)
    expect = np.clip(np.rint((x * inv[:, None]).astype(np.float32)), -127, 127).astype(np.int8)
    np.testing.assert_array_equal(lowp.quantize_rows(x)[0], expect)


def test_int8_integer_part_is_exact() -> None:
    k = 8192  # |acc| up to 127 * 127 * k = 1.3e8: exact in float64, as in int32
    qx = RNG.integers(-127, 128, (5, k)).astype(np.int8)
    qw = RNG.integers(-127, 128, (7, k)).astype(np.int8)
    qx[0], qw[0] = 127, -127  # the extreme sums
    exact = qx.astype(np.int64) @ qw.astype(np.int64).T
    acc = lowp.int8_accumulate(qx, qw)
    np.testing.assert_array_equal(acc, exact.astype(np.float64))
    assert acc[0, 0] == -127 * 127 * k


def test_linear_int8_epilogue_bit_for_bit() -> None:
    x = RNG.normal(size=(3, 4, 50)).astype(np.float32)
    w = RNG.normal(size=(9, 50)).astype(np.float32)
    bias = RNG.normal(size=9).astype(np.float32)
    q, scale = lowp.quantize_weight(w)
    y = lowp.linear_int8(x, q, scale, bias)
    qx, sx = lowp.quantize_rows(x.reshape(-1, 50))
    acc = (qx.astype(np.int64) @ q.astype(np.int64).T).astype(np.float32)
    expect = (acc * (sx[:, None] * scale[None, :]) + bias).reshape(3, 4, 9)
    assert y.shape == (3, 4, 9) and y.dtype == np.float32
    np.testing.assert_array_equal(y, expect)
    cos = np.sum(y * (x @ w.T + bias)) / np.linalg.norm(y) / np.linalg.norm(x @ w.T + bias)
    assert cos > 0.999


def test_linear_bf16_against_float64() -> None:
    x = RNG.normal(size=(6, 200)).astype(np.float32)
    w = lowp.round_bf16(RNG.normal(size=(11, 200)).astype(np.float32))
    y = lowp.linear_bf16(x, w)
    exact = lowp.round_bf16(x).astype(np.float64) @ w.astype(np.float64).T  # products exact, sums exact-ish
    bound = 200 * np.finfo(np.float32).eps * (np.abs(lowp.round_bf16(x)) @ np.abs(w).T)
    assert np.all(np.abs(y - exact) <= bound)
    assert np.abs(y - x @ w.T).max() > 0  # the input rounding is not skipped


@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_container_linear_in_blocks_equals_the_whole_product(monkeypatch, precision) -> None:
    x = RNG.normal(size=(2, 3, 40)).astype(np.float32)
    w = RNG.normal(size=(37, 40)).astype(np.float32)
    bias = RNG.normal(size=37).astype(np.float32)
    container = lowp.convert(w, precision)
    if precision == "bfloat16":
        whole = lowp.linear_bf16(x, container.unpack(), bias)
    else:
        whole = lowp.linear_int8(x, container.q, container.scale, bias)
    monkeypatch.setattr(lowp, "BLOCK_ELEMENTS", 40 * 5)  # 8 blocks of 5 rows (the last one shorter)
    monkeypatch.setattr(type(container), "unpack", _never)  # the blocks never widen the whole matrix
    from roformer_np import ops

    y = ops.linear(x, container, bias)  # the dispatch on weight.precision
    if precision == "int8":
        np.testing.assert_array_equal(y, whole)
    else:
        np.testing.assert_allclose(y, whole, rtol=1e-6, atol=1e-6)


def _never(self):
    raise AssertionError("a whole weight matrix was widened")


def test_containers_behave_as_read_only_float32_matrices() -> None:
    w = RNG.normal(size=(6, 10)).astype(np.float32)
    b, i = lowp.convert(w, "bfloat16"), lowp.convert(w, "int8")
    for c in (b, i):
        assert c.shape == (6, 10) and c.dtype == np.float32 and c.ndim == 2 and c.size == 60 and len(c) == 6
        full = np.asarray(c)
        assert full.dtype == np.float32 and full.shape == (6, 10)
        np.testing.assert_array_equal(c.T, full.T)
        np.testing.assert_array_equal(c[[4, 1, 4]], full[[4, 1, 4]])  # an embedding gather
        np.testing.assert_array_equal(c[np.array([[0, 5], [2, 2]])], full[np.array([[0, 5], [2, 2]])])
        np.testing.assert_array_equal(c[2:5], full[2:5])
        assert c[3, 7] == full[3, 7]
        np.testing.assert_array_equal(np.asarray(c.rows(1, 4)), full[1:4])
        again = pickle.loads(pickle.dumps(c))
        np.testing.assert_array_equal(np.asarray(again), full)
        assert np.asarray(c, dtype=np.float64).dtype == np.float64
        assert c.precision in repr(c)
    assert b.nbytes == 6 * 10 * 2 and i.nbytes == 6 * 10 + 6 * 4
    np.testing.assert_array_equal(np.asarray(b), lowp.round_bf16(w))
    np.testing.assert_array_equal(np.asarray(i), i.q.astype(np.float32) * i.scale[:, None])
    assert i.int8()[0] is i.q


def test_containers_refuse_bad_parts() -> None:
    with pytest.raises(ValueError, match="uint16"):
        lowp.BF16Weight(np.zeros((2, 2), np.int16))
    with pytest.raises(ValueError, match="int8"):
        lowp.Int8Weight(np.zeros((2, 2), np.uint8), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="scale must be float32"):
        lowp.Int8Weight(np.zeros((2, 2), np.int8), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="-128"):
        lowp.Int8Weight(np.full((2, 2), -128, np.int8), np.ones(2, np.float32))
    for bad in (np.nan, -1.0, np.inf):
        with pytest.raises(ValueError, match="finite and >= 0"):
            lowp.Int8Weight(np.zeros((2, 2), np.int8), np.array([1.0, bad], np.float32))


def test_convert_rounds_once_a_block_at_a_time() -> None:
    w = RNG.normal(size=(700, 1000)).astype(np.float16)  # a half-precision checkpoint, e.g. the demo models
    released = []
    b = lowp.convert(w, "bfloat16", released.append)
    blocks, whole = released[:-1], released[-1]  # each block once converted, then the whole tensor's pages
    assert len(blocks) == -(-700 // (lowp.BLOCK_ELEMENTS // 1000)) > 1 and sum(r.shape[0] for r in blocks) == 700
    assert whole.shape == w.shape and np.shares_memory(whole, w)
    np.testing.assert_array_equal(b.bits, lowp.to_bf16_bits(w.astype(np.float32)))
    assert lowp.convert(b, "bfloat16") is b  # a bf16 weight is not rounded again
    i = lowp.convert(b, "int8")  # bf16 -> int8 quantizes the exact bf16 values
    q, s = lowp.quantize_weight(b.unpack())
    np.testing.assert_array_equal(i.q, q)
    np.testing.assert_array_equal(i.scale, s)
    assert lowp.convert(i, "int8") is i
    with pytest.raises(ValueError, match="precision"):
        lowp.convert(w, "int4")
    stacked = lowp.concat_rows([i.rows(0, 3), i.rows(3, 700)])
    np.testing.assert_array_equal(stacked.q, i.q)
    with pytest.raises(ValueError, match="differ"):
        lowp.concat_rows([b, i])


@pytest.mark.parametrize(
    "dtype, quantize, expect",
    [
        (np.float32, None, ("float32", "float32")),
        ("float64", None, ("float64", "float64")),
        ("bfloat16", None, ("float32", "bfloat16")),
        ("bf16", None, ("float32", "bfloat16")),
        ("BF16", None, ("float32", "bfloat16")),
        (np.float32, "int8", ("float32", "int8")),
    ],
)
def test_resolve_precision(dtype, quantize, expect) -> None:
    compute, precision = lowp.resolve_precision(dtype, quantize)
    assert (compute.name, precision) == expect


@pytest.mark.parametrize(
    "dtype, quantize, message",
    [
        (np.float64, "int8", "dtype must be float32"),
        ("bfloat16", "int8", "exclude each other"),
        ("float16", None, "dtype must be float32, float64 or 'bfloat16'"),
        (np.int8, None, "dtype must be"),
        ("int8", None, "dtype must be"),
        (np.float32, "int4", "quantize must be None or one of"),
        (np.float32, True, "quantize must be"),
    ],
)
def test_bad_precision_pairs_name_the_argument(dtype, quantize, message) -> None:
    with pytest.raises(ValueError, match=message):
        lowp.resolve_precision(dtype, quantize)


# ---------------------------------------------------------------------------------------------
# The native helpers agree with the reference bit for bit
# ---------------------------------------------------------------------------------------------
native = pytest.mark.skipif(not native_available(), reason="the native extension is not built")


@native
def test_native_f32_to_bf16_equals_the_reference() -> None:
    from roformer_np._native import kernels

    u = np.concatenate([RNG.integers(0, 2**32, 299_994, dtype=np.uint64).astype(np.uint32),
                        np.array([0x7F800001, 0xFF800001, 0x7FFFFFFF, 0x7F7FFFFF, 0x80000000, 0x7F808000], np.uint32)])
    x = u.view(np.float32).reshape(600, 500)[:, :400]  # strided rows too
    np.testing.assert_array_equal(kernels.f32_to_bf16(x), lowp.to_bf16_bits(x))


@native
def test_native_quantize_rows_equals_the_reference() -> None:
    from roformer_np._native import kernels

    x = RNG.normal(size=(97, 131)).astype(np.float32) * np.logspace(-30, 30, 97, dtype=np.float32)[:, None]
    x[3] = 0
    x[5, ::7] = 0.5 * (np.abs(x[5]).max() / 127) * np.arange(1, 20)[: len(x[5, ::7])]  # products near ties
    q, s = kernels.quantize_rows(x)
    rq, rs = lowp.quantize_rows(x)
    np.testing.assert_array_equal(q, rq)
    np.testing.assert_array_equal(s, rs)


@native
@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_packed_weights_give_back_the_plain_rows(precision) -> None:
    from roformer_np.backend import pack_lowp

    w = lowp.convert(RNG.normal(size=(45, 70)).astype(np.float32), precision)
    packed = pack_lowp(w)
    assert packed.precision == precision and packed.shape == (45, 70)
    plain = lowp.as_plain(packed)
    if precision == "bfloat16":
        np.testing.assert_array_equal(plain.bits, w.bits)
    else:
        np.testing.assert_array_equal(plain.q, w.q)
        np.testing.assert_array_equal(plain.scale, w.scale)
    x = RNG.normal(size=(4, 70)).astype(np.float32)
    np.testing.assert_array_equal(lowp.linear(x, packed), lowp.linear(x, w))  # the reference runs packed ones too
