"""bf16 and int8 weights: the numbers of roformer_np's low-precision GEMMs, written out in NumPy.

The compiled kernels (``csrc/rnp_lowp.h`` is their contract) compute exactly what this module computes;
the NumPy backend runs these functions, and the kernel tests compare against them.

bfloat16 ("bf16") is the upper half of a float32: 1 sign bit, the same 8 exponent bits, 7 mantissa bits. A
float32 rounds to it by round-to-nearest-even on the 16 bits dropped; a NaN stays a (quiet) NaN. A product of
two bf16 values is exact in float32, so a bf16 GEMM only rounds its inputs: ``y = bf16(x) @ w.T`` with float32
accumulation (:func:`linear_bf16`).

int8 weights are symmetric per output channel, ``w[j, :] ~ q[j, :] * scale[j]`` with ``q`` in [-127, 127]; the
activations are quantized the same way per row (token) when the GEMM runs, the integer products are summed
exactly, and one float32 rescale gives the result (:func:`linear_int8`)::

    amax = max_k |x[i, k]|;   inv = 127 / amax (0 for a zero row);   q[i, k] = clamp(rint(x[i, k] * inv), -127, 127)
    scale[i] = amax / 127                                                        (all in float32)
    y[i, j] = float32(sum_k qx[i, k] * qw[j, k]) * (scale_x[i] * scale_w[j]) + bias[j]

The plain containers :class:`BF16Weight` and :class:`Int8Weight` hold such weights row by row ([n, k]); they
look like a read-only float32 matrix (``shape``, ``dtype``, ``np.asarray`` widens / dequantizes, indexing
returns float32 rows: the embedding gathers) and carry ``precision``, on which :func:`roformer_np.ops.linear`
dispatches. The native kernels take them as they are ("plain rows") or packed (``backend.pack_lowp``).

Legend: m rows of x (tokens), k inputs, n outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import pages

Array = np.ndarray
PRECISIONS = ("float32", "float64", "bfloat16", "int8")
DTYPE_NAMES = {"float32": "float32", "float64": "float64", "bfloat16": "bfloat16", "bf16": "bfloat16"}
QUANTIZE_CHOICES = ("int8",)
BLOCK_ELEMENTS = 1 << 18  # weight elements widened at a time in the reference GEMMs (1 MB of float32)
_QNAN_BIT = np.uint32(0x0040)  # the top mantissa bit of a bf16: set, a NaN is quiet


# ---------------------------------------------------------------------------------------------
# Which precision a model is asked for
# ---------------------------------------------------------------------------------------------
def resolve_precision(dtype: Any = np.float32, quantize: str | None = None) -> tuple[np.dtype, str]:
    """``(compute dtype, weight precision)`` of a ``dtype=`` / ``quantize=`` pair.

    ``dtype``: a NumPy float32 / float64 dtype (or its name; None: float32), or ``"bfloat16"`` / ``"bf16"``
    (bf16 weights, float32 compute); ``quantize``: None or ``"int8"`` (int8 weights, float32 compute, so
    ``dtype`` must be float32). The precision is one of :data:`PRECISIONS`.
    """
    if dtype is None:  # the default: float32
        dtype = np.float32
    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        raise ValueError(f"quantize must be None or one of {QUANTIZE_CHOICES}, got {quantize!r}")
    if isinstance(dtype, str) and dtype.lower() in DTYPE_NAMES:
        name = DTYPE_NAMES[dtype.lower()]
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
        if name not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32, float64 or 'bfloat16' (alias 'bf16'), got {dtype!r}")
    if quantize == "int8":
        if name == "bfloat16":
            raise ValueError("dtype='bfloat16' and quantize='int8' exclude each other: choose bf16 or int8 weights")
        if name == "float64":
            raise ValueError("quantize='int8' computes in float32: dtype must be float32, got float64")
        return np.dtype(np.float32), "int8"
    if name == "bfloat16":
        return np.dtype(np.float32), "bfloat16"
    return np.dtype(name), name


def is_lowp(weight: Any) -> bool:
    """Whether ``weight`` is a bf16 / int8 weight (a plain container or a packed native one)."""
    return getattr(weight, "precision", None) in ("bfloat16", "int8")


# ---------------------------------------------------------------------------------------------
# bf16 numbers
# ---------------------------------------------------------------------------------------------
def to_bf16_bits(x: Any) -> Array:
    """float32 -> the bf16 bit patterns (uint16, same shape), rounding to nearest, ties to even.

    Adding 0x7FFF plus the lowest kept bit, then dropping 16 bits, rounds a tie up exactly when the kept part
    is odd. Infinities stay, the largest floats round up to infinity (as RNE says), -0 stays -0, and a NaN
    keeps its sign and top mantissa bits with the quiet bit set (so it never rounds into an infinity).
    """
    x = np.asarray(x, dtype=np.float32)
    u = np.ascontiguousarray(x).view(np.uint32).reshape(x.shape)
    upper = u >> np.uint32(16)
    rounded = (u + (np.uint32(0x7FFF) + (upper & np.uint32(1)))) >> np.uint32(16)  # no wrap below the NaNs
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    return np.where(nan, upper | _QNAN_BIT, rounded).astype(np.uint16)


def from_bf16_bits(bits: Any) -> Array:
    """bf16 bit patterns -> float32 (exact: the bits become the upper half)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def round_bf16(x: Any) -> Array:
    """float32 values rounded to the nearest bf16 value, as float32."""
    return from_bf16_bits(to_bf16_bits(x))


# ---------------------------------------------------------------------------------------------
# int8 numbers
# ---------------------------------------------------------------------------------------------
def quantize_rows(x: Any) -> tuple[Array, Array]:
    """Symmetric int8 per row: ``x [m, k]`` -> ``(q int8 [m, k], scale float32 [m])``, ``x ~ q * scale[:, None]``.

    Every operation is a float32 one, as in the kernels: ``inv = 127 / amax`` rounded once, ``x * inv`` rounded
    once, then ``rint`` (ties to even) and the clamp. A row of zeros gets scale 0 and q 0. Beyond the ordinary:
    a subnormal amax makes ``inv`` infinite (the clamp keeps each sign, 0 * inf gives NaN), and a NaN or
    infinite x gives NaN products; a NaN product quantizes to 0.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"quantize_rows: x must be [rows, k], got shape {x.shape}")
    amax = np.abs(x).max(axis=1, initial=np.float32(0))  # [m]
    inv = np.zeros_like(amax)
    with np.errstate(over="ignore", invalid="ignore"):
        np.divide(np.float32(127), amax, out=inv, where=amax > 0)
        q = np.clip(np.rint(x * inv[:, None]), -127, 127)
    q[np.isnan(q)] = 0
    return q.astype(np.int8), amax / np.float32(127)


def quantize_weight(w: Any) -> tuple[Array, Array]:
    """A weight ``[n, k]`` as int8 per output channel (row): :func:`quantize_rows` of its rows."""
    return quantize_rows(w)


# ---------------------------------------------------------------------------------------------
# The two GEMMs
# ---------------------------------------------------------------------------------------------
def linear_bf16(x: Any, w: Array, bias: Array | None = None) -> Array:
    """``bf16(x) @ w.T + bias`` with ``w [n, k]`` float32 holding bf16 values: [..., k] -> [..., n].

    The products are exact in float32; only the order of the float32 sums differs from the kernels'.
    """
    y = round_bf16(x) @ w.T
    if bias is not None:
        y += bias
    return y


def int8_accumulate(qx: Array, qw: Array) -> Array:
    """``qx [m, k] @ qw [n, k].T`` exactly: float64 products and sums of integers below 2^53 are exact, so this
    is the kernels' int32 accumulator (returned as float64 [m, n])."""
    return qx.astype(np.float64) @ qw.astype(np.float64).T


def linear_int8(x: Any, q: Array, scale: Array, bias: Array | None = None) -> Array:
    """``x @ (q * scale[:, None]).T + bias`` the int8 way: [..., k] -> [..., n] (float32).

    x is quantized per row (:func:`quantize_rows`), the integer part is exact (:func:`int8_accumulate`), then
    ``y = float32(acc) * (scale_x[:, None] * scale[None, :]) + bias``.
    """
    x = np.asarray(x, dtype=np.float32)
    lead, k = x.shape[:-1], x.shape[-1]
    qx, sx = quantize_rows(x.reshape(-1, k))  # [m, k], [m]
    acc = int8_accumulate(qx, q)  # [m, n]
    y = acc.astype(np.float32) * (sx[:, None] * scale[None, :])
    if bias is not None:
        y += bias
    return y.reshape(lead + (q.shape[0],))


def linear(x: Any, weight: Any, bias: Array | None = None) -> Array:
    """:func:`linear_bf16` / :func:`linear_int8` for a bf16 / int8 weight (plain or packed), a block of rows of
    the weight at a time: a forward pass never widens a whole weight matrix (the tied word embeddings
    included)."""
    w = as_plain(weight)
    x = np.asarray(x, dtype=np.float32)
    n, k = w.shape
    if x.shape[-1] != k:
        raise ValueError(f"linear: x has width {x.shape[-1]}, weight expects {k}")
    y = np.empty(x.shape[:-1] + (n,), dtype=np.float32)
    step = max(1, BLOCK_ELEMENTS // max(k, 1))
    if w.precision == "bfloat16":
        xr = round_bf16(x)  # each input rounded once, as the kernels do
        for j in range(0, n, step):
            y[..., j : j + step] = xr @ from_bf16_bits(w.bits[j : j + step]).T
    else:
        flat = x.reshape(-1, k)
        qx, sx = quantize_rows(flat)
        out = y.reshape(-1, n)
        for j in range(0, n, step):
            acc = int8_accumulate(qx, w.q[j : j + step])
            out[:, j : j + step] = acc.astype(np.float32) * (sx[:, None] * w.scale[None, j : j + step])
    if bias is not None:
        y += bias
    return y


# ---------------------------------------------------------------------------------------------
# Plain containers
# ---------------------------------------------------------------------------------------------
class _LowpWeight:
    """What both containers share: a read-only float32 matrix [n, k] to NumPy, whose values are never widened
    whole unless asked (``np.asarray``, ``unpack``, ``.T``)."""

    __slots__ = ()
    precision: str
    dtype = np.dtype(np.float32)
    ndim = 2
    shape: tuple[int, int]

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def T(self) -> Array:  # noqa: N802 (NumPy's name); widens the whole matrix
        return self.unpack().T

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        values = self.unpack()
        return values if dtype is None else values.astype(dtype, copy=False)

    def unpack(self) -> Array:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, precision={self.precision!r})"


class BF16Weight(_LowpWeight):
    """A bf16 weight ``[n, k]`` held as its bit patterns ``bits`` (uint16, any strides: may map a file)."""

    precision = "bfloat16"
    __slots__ = ("bits",)

    def __init__(self, bits: Array) -> None:
        bits = np.asarray(bits)
        if bits.dtype != np.uint16 or bits.ndim != 2:
            raise ValueError(f"BF16Weight: bits must be a uint16 [n, k] array, got {bits.dtype} {bits.shape}")
        self.bits = bits

    @property
    def shape(self) -> tuple[int, int]:
        return self.bits.shape

    @property
    def nbytes(self) -> int:
        return self.bits.nbytes

    def unpack(self) -> Array:
        return from_bf16_bits(self.bits)

    def __getitem__(self, key: Any) -> Array:
        """float32 values of the selected rows (``w[ids]``: an embedding gather) -- only those are widened."""
        return from_bf16_bits(self.bits[key])

    def rows(self, start: int, stop: int) -> BF16Weight:
        """Rows ``start:stop`` as a container (a view)."""
        return BF16Weight(self.bits[start:stop])

    def __reduce__(self) -> tuple:
        return BF16Weight, (self.bits,)


class Int8Weight(_LowpWeight):
    """An int8 weight ``[n, k]``: ``q`` (int8 in [-127, 127]) and the per-row ``scale`` (float32 [n], finite,
    >= 0), the values being ``q * scale[:, None]``."""

    precision = "int8"
    __slots__ = ("q", "scale")

    def __init__(self, q: Array, scale: Array) -> None:
        q, scale = np.asarray(q), np.asarray(scale)
        if q.dtype != np.int8 or q.ndim != 2:
            raise ValueError(f"Int8Weight: q must be an int8 [n, k] array, got {q.dtype} {q.shape}")
        if scale.dtype != np.float32 or scale.shape != q.shape[:1]:
            raise ValueError(f"Int8Weight: scale must be float32 [{q.shape[0]}], got {scale.dtype} {scale.shape}")
        if q.size and q.min() < -127:
            raise ValueError("Int8Weight: q must lie in [-127, 127] (symmetric), it holds -128")
        if scale.size and not (np.isfinite(scale).all() and scale.min() >= 0):
            raise ValueError("Int8Weight: scale must be finite and >= 0")
        self.q, self.scale = q, scale

    @property
    def shape(self) -> tuple[int, int]:
        return self.q.shape

    @property
    def nbytes(self) -> int:
        return self.q.nbytes + self.scale.nbytes

    def int8(self) -> tuple[Array, Array]:
        return self.q, self.scale

    def unpack(self) -> Array:
        return self.q.astype(np.float32) * self.scale[:, None]

    def __getitem__(self, key: Any) -> Array:
        """Dequantized float32 values of the selected rows (or elements): only those are computed."""
        scale = np.broadcast_to(self.scale[:, None], self.q.shape)  # a view: each element's row scale
        return self.q[key].astype(np.float32) * scale[key]

    def rows(self, start: int, stop: int) -> Int8Weight:
        return Int8Weight(self.q[start:stop], self.scale[start:stop])

    def __reduce__(self) -> tuple:
        return Int8Weight, (self.q, self.scale)


def pack_blockwise(w: Any, precision: str, pack: Callable[[Any], Any],
                   release: Callable[[Array], Any] | None = None) -> Any:
    """:func:`convert` then ``pack`` (``backend.pack_lowp``), a block of rows (whole 32-row panels) at a time,
    into one packed weight: the matrix never exists in both layouts at once (the word embeddings, 31% of a
    base model, would otherwise raise the peak memory of a load by their plain size)."""
    n, k = w.shape
    step = max(32, BLOCK_ELEMENTS // max(k, 1) // 32 * 32)
    if n <= step:
        return pack(convert(w, precision, release))
    panels = colsum = scale = None
    packed = None
    for r in range(0, n, step):
        block = w.rows(r, min(n, r + step)) if is_lowp(w) else w[r : r + step]
        packed = pack(convert(block, precision, release))
        if panels is None:
            panels = pages.empty_panels((-(-n // 32),) + packed.panels.shape[1:], packed.panels.dtype)
            if precision == "int8":
                colsum, scale = np.empty(panels.shape[0] * 32, np.int32), np.empty(n, np.float32)
        panels[r // 32 : r // 32 + packed.panels.shape[0]] = packed.panels
        if precision == "int8":
            colsum[r : r + packed.colsum.shape[0]] = packed.colsum
            scale[r : r + packed.scale.shape[0]] = packed.scale
    kind = type(packed)
    return kind(panels, n, k) if precision == "bfloat16" else kind(panels, colsum, scale, n, k)


def as_plain(weight: Any) -> BF16Weight | Int8Weight:
    """A plain container of a bf16 / int8 weight: itself, or the rows of a packed native one."""
    if isinstance(weight, (BF16Weight, Int8Weight)):
        return weight
    precision = getattr(weight, "precision", None)
    if precision == "bfloat16":
        return BF16Weight(weight.bits())
    if precision == "int8":
        return Int8Weight(*weight.int8())
    raise ValueError(f"expected a bfloat16 or int8 weight, got {type(weight).__name__}")


def concat_rows(parts: Sequence[Any]) -> BF16Weight | Int8Weight:
    """Containers of one precision stacked along the rows (q/k/v): per-row quantization does not mix rows,
    so the stack of quantized parts is the quantized stack."""
    plain = [as_plain(p) for p in parts]
    if len({p.precision for p in plain}) != 1:
        raise ValueError("concat_rows: the parts differ in precision")
    if plain[0].precision == "bfloat16":
        return BF16Weight(np.concatenate([p.bits for p in plain]))
    return Int8Weight(np.concatenate([p.q for p in plain]), np.concatenate([p.scale for p in plain]))


# ---------------------------------------------------------------------------------------------
# Conversion of float weights (row blocks, so a mapped checkpoint is never copied whole)
# ---------------------------------------------------------------------------------------------
def convert(w: Any, precision: str, release: Callable[[Array], Any] | None = None) -> BF16Weight | Int8Weight:
    """A float matrix ``[n, k]`` (any float dtype, e.g. mapped from a file) as a bf16 / int8 container.

    The values are rounded from their float32 value, a block of rows at a time; ``release`` is called on each
    source block once converted (to return a mapped file's pages). A container of the same precision is
    returned as it is (no rounding twice); a bf16 one is quantized from its exact values.
    """
    if precision not in ("bfloat16", "int8"):
        raise ValueError(f"precision must be 'bfloat16' or 'int8', got {precision!r}")
    if getattr(w, "precision", None) == precision:
        return as_plain(w)
    if isinstance(w, BF16Weight):  # bf16 -> int8: quantize the exact bf16 values
        w = w.unpack()
    w = np.asarray(w)
    if w.ndim != 2 or w.dtype.kind != "f":
        raise ValueError(f"convert: expected a float [n, k] matrix, got {w.dtype} {w.shape}")
    n, k = w.shape
    step = max(1, BLOCK_ELEMENTS // max(k, 1))
    if precision == "bfloat16":
        bits = np.empty((n, k), dtype=np.uint16)
        for r in range(0, n, step):
            bits[r : r + step] = to_bf16_bits(w[r : r + step])
            if release is not None:
                release(w[r : r + step])
        out: BF16Weight | Int8Weight = BF16Weight(bits)
    else:
        q, scale = np.empty((n, k), dtype=np.int8), np.empty(n, dtype=np.float32)
        for r in range(0, n, step):
            q[r : r + step], scale[r : r + step] = quantize_rows(w[r : r + step])
            if release is not None:
                release(w[r : r + step])
        out = Int8Weight(q, scale)
    if release is not None:
        release(w)  # and the pages around the blocks' edges, faulted in again by the next block's reads
    return out
