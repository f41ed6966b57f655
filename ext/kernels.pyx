# cython: language_level=3, boundscheck=False, wraparound=True, cdivision=True, initializedcheck=False
"""Compiled kernels: the functions of ``roformer_np.ops.KERNELS`` with identical names and signatures.

Layout (scikit-learn style): a thin ``def`` wrapper validates and converts its arguments, allocates the
outputs and calls a ``cdef ... nogil`` core. float32 GEMMs run on roformer_np's own micro-kernels
(csrc/rnp_gemm*.c: AVX-512F or AVX2+FMA, chosen from CPUID; weights packed once into panels, see
_packed_gemm.pxi) with bias + activation in the tile write-out and residual + norm in a row pass right after;
float64, other CPUs and ``ROFORMER_NP_GEMM=blas`` go through ``scipy.linalg.cython_blas`` (s/dgemm)
with the same fused epilogues, so every activation tensor is written once and re-read hot.

Dimension legend: B batch, T new tokens (queries), P cached length, S = P + T keys, H heads, D head size,
C hidden size (= H * D), E embedding size, F intermediate size, V vocab size, N output features of a GEMM,
K reduction size of a GEMM, M rows of a GEMM (= B * T).

On the BLAS path, GEMMs of 2..512 rows are computed transposed ("feature-major", y.T = W x.T: the tokens
are BLAS's M dimension), which OpenBLAS runs faster for short sequences; their epilogues transpose back in
16 x 16 tiles. Scratch buffers come from a per-thread workspace kept across calls (rnp_workspace, rnp_common.h).

Threads: every output element is computed by exactly one thread, and the way work is cut (GEMM tiles or
column units, query tiles of attention, rows of a LayerNorm) depends only on the shapes, never on the number
of threads, so 1 and N threads give bit-identical results (attention may hand out a whole head or one of its
query tiles per task as the thread count suggests: each tile is computed with the same calls either way). Our GEMM tiles go to a task pool (rnp_pool.h) that
never waits for a worker which has not started; attention and norm rows run in OpenMP regions. Inside those
the BLAS library must run single-threaded (else its own threads oversubscribe the cores):
``roformer_np.threads`` hands us its thread-count setters, which we flip around each call.
"""

import numpy as np

cimport cython
cimport numpy as cnp
from cython.parallel cimport parallel, prange
from libc.math cimport erf, exp, sqrt, tanh
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dgemm, dgemv, sgemm, sgemv

from _vmath cimport (
    RNP_HAVE_OPENMP,
    omp_get_max_threads,
    rnp_add_ln_row_f32,
    rnp_add_rms_row_f32,
    rnp_attn_pack_keys,
    rnp_attn_pack_values,
    rnp_attn_q1_scores,
    rnp_attn_q1_values,
    rnp_bias_act_f32,
    rnp_rotate_rows_f32,
    rnp_sbias_act_f32,
    rnp_softmax_row_f32,
    rnp_transpose_f32,
    rnp_transpose_f64,
    RNP_WS_MAX,
    rnp_workspace,
    rnp_ws_release,
)

cnp.import_array()

ctypedef fused real:
    float
    double

ctypedef int (*get_threads_t)() noexcept nogil
ctypedef void (*set_threads_t)(int) noexcept nogil

# Activation codes implemented natively (see _vmath.pxd); other names run the reference activation.
ACT_CODES = {
    "linear": 0, "gelu": 1, "gelu_python": 1, "gelu_new": 2, "gelu_accurate": 2, "gelu_pytorch_tanh": 2,
    "gelu_fast": 3, "quick_gelu": 4, "relu": 5, "silu": 6, "swish": 6, "tanh": 7, "sigmoid": 8,
    "relu2": 9, "relu6": 10, "leaky_relu": 11, "gelu_10": 12,
}

OPENMP = bool(RNP_HAVE_OPENMP)
DEF MAX_BLAS = 4       # BLAS libraries whose thread count we control

# workspace slots (rnp_workspace: per-thread buffers reused across calls)
DEF WS_KROT = 0
DEF WS_VROT = 1
DEF WS_QBUF = 2
DEF WS_SBUF = 3
DEF WS_GEMM = 4   # feature-major GEMM results
DEF WS_HIDDEN = 5  # the feed-forward intermediate
DEF WS_PACKTMP = 6  # one rotated key panel / value row while packing them

cdef int _num_threads = 1
# 0: fixed column units spread over our OpenMP threads, each a single-threaded GEMM (thread-count
# invariant); 1: one GEMM on BLAS's own threads (the only parallel GEMM of a build without OpenMP)
cdef int _gemm_mode = 0 if RNP_HAVE_OPENMP else 1
cdef int _units_per_gemm = 2  # column units per GEMM (see _unit_width); set to the core count at import
# GEMMs of 2.._fm_max_rows rows compute the transposed ("feature-major") product, see _gemm_fm
cdef int _fm_max_rows = 512
cdef int _n_blas = 0
cdef get_threads_t _blas_get[MAX_BLAS]
cdef set_threads_t _blas_set[MAX_BLAS]


# The kernels by job (textual includes: one extension module, so the configuration and the BLAS guard
# are shared and the helpers inline across files).
include "_config.pxi"      # thread counts, the BLAS guard, threads per task
include "_pyhelpers.pxi"   # argument conversion, data pointers, scratch arrays, the fallback
include "_blas_gemm.pxi"   # BLAS GEMMs and the column-unit linear
include "_packed_gemm.pxi" # our packed-weight GEMM: PackedWeight, kernel choice
include "_lowp_config.pxi" # bf16 / int8: dot-product instructions or widening kernels
include "_lowp_bf16.pxi"   # bf16 weights: PackedBF16Weight, pack_bf16
include "_lowp_int8.pxi"   # int8 weights: PackedInt8Weight, pack_int8, quantize_rows
include "_lowp_gemm.pxi"   # one GEMM call for any weight (float32, bf16, int8)
include "_norms.pxi"       # activations (float64), residual + norm rows, the embedding
include "_attention.pxi"   # rotary, softmax, the attention core and its wrappers
include "_checks.pxi"      # how many NaN / infinities a loaded tensor holds


# ---------------------------------------------------------------------------------------------
# Kernels (names and signatures of roformer_np.ops)
# ---------------------------------------------------------------------------------------------
def linear(x, weight, bias=None):
    """``x @ weight.T + bias``: [..., K] -> [..., N] with weight [N, K] (an array or a PackedWeight)."""
    dt = _dtype_of(x, weight) if bias is None else _dtype_of(x, weight, bias)
    if dt is None:
        return _fallback("linear", "unsupported dtype")(x, weight, bias)
    cdef int kind = _lowp_kind(weight)
    if kind != W_F32 and not _lowp_runs_here(dt):
        return _ops().linear(x, weight, bias)  # bf16 / int8 off our micro-kernels: the emulating reference
    # A single row with a plain weight (the tied LM decoder while decoding, a classifier head) stays on our
    # kernels too: both read the rows in place (rnp_rowplain_avx512 / _avx2) with the bits of any other row
    # count, so a request's results do not depend on what it is batched with (BLAS's GEMV would differ).
    cdef bint own = kind != W_F32 or _own_gemm(dt, _kdim(weight))
    xa = _c(x, dt)
    w = weight if kind != W_F32 else _wt(weight, dt, own)
    bb = None if bias is None else _c(bias, dt)
    cdef int n = w.shape[0], k = w.shape[1]
    if xa.shape[-1] != k:
        raise ValueError(f"linear: x has width {xa.shape[-1]}, weight expects {k}")
    y = np.empty(xa.shape[:-1] + (n,), dtype=dt)
    cdef int m = y.size // n if n else 0
    if k == 0 or m == 0 or n == 0:
        y[...] = 0 if bias is None else bb
        return y
    cdef void *px = _ptr(xa)
    cdef void *pb = _ptr(bb)
    cdef void *py = _ptr(y)
    cdef WRef r
    cdef int failed = 0
    if own:
        keep = _wref(w, &r)
        with nogil:
            failed = _gemm_w(&r, m, n, k, <float*>px, k, <float*>py, n, <float*>pb, 0, pb != NULL)
        if failed:
            raise MemoryError("linear: could not allocate the low-precision GEMM's scratch")
        return y
    cdef void *pw = _ptr(w)
    cdef bint f32 = dt.itemsize == 4
    _guard.enter()
    with nogil:
        if f32:
            _linear_act[float](m, n, k, <float*>px, k, <float*>pw, <float*>pb, <float*>py, n, 0, pb != NULL, &failed)
        else:
            _linear_act[double](m, n, k, <double*>px, k, <double*>pw, <double*>pb, <double*>py, n, 0, pb != NULL,
                                &failed)
    _guard.exit()
    if failed:
        raise MemoryError("linear: could not allocate the native kernels' scratch")
    return y


def qkv_projection(x, w_qkv, b_qkv, num_heads):
    """Queries, keys and values from one GEMM: [B, T, C] -> three [B, H, T, D] views of one buffer."""
    qkv = linear(x, w_qkv, b_qkv)  # [B, T, 3C]
    if qkv.ndim != 3 or qkv.shape[2] % (3 * num_heads):
        ops = _ops()  # (the reference's errors for odd shapes)
        q, k, v = np.split(qkv, 3, axis=-1)  # [B, T, C] each
        return ops.split_heads(q, num_heads), ops.split_heads(k, num_heads), ops.split_heads(v, num_heads)
    b, t, c3 = qkv.shape
    heads = qkv.reshape(b, t, 3, num_heads, c3 // (3 * num_heads))  # feature c of q / k / v: head c // D
    return (heads[:, :, 0].transpose(0, 2, 1, 3), heads[:, :, 1].transpose(0, 2, 1, 3),
            heads[:, :, 2].transpose(0, 2, 1, 3))  # [B, H, T, D] views, as ops.split_heads gives


cdef void _output_ln(int m, int n, int k, real *x, int ldx, bint x_fm, real *w, real *bias, real *res, real *g,
                     real *b, double eps, real *y, real *yt) noexcept nogil:
    """y[m, n] = LayerNorm(x @ w[n, k].T + bias + res[m, n]): GEMM per column range, then rows.

    x is token-major [m, k], or feature-major [k, m] with ``x_fm`` (then ``yt`` must be given). With a
    scratch ``yt`` [n, m] and ``_use_fm(m)`` the product is computed feature-major and transposed back by
    the LayerNorm pass.
    """
    cdef Py_ssize_t i
    if k == 0:
        for i in range(<Py_ssize_t>m * n):
            y[i] = 0
        _add_ln_rows(m, n, y, bias, res, n, g, b, eps)
    elif yt != NULL and (x_fm or _use_fm(m)):
        _linear_fm(m, n, k, x, ldx, x_fm, w, <real*>NULL, yt, 0, False)
        _ln_from_fm(m, n, yt, y, bias, res, n, g, b, eps)
    else:
        _linear_act(m, n, k, x, ldx, w, <real*>NULL, y, n, 0, False, <int*>NULL)
        _add_ln_rows(m, n, y, bias, res, n, g, b, eps)


def output_layer_norm(x, weight, bias, residual, ln_weight, ln_bias, eps):
    """``Norm(x @ weight.T + bias + residual)``: [B, T, K] -> [B, T, C], one GEMM + a fused epilogue.

    ``bias`` may be None; ``ln_weight`` and ``ln_bias`` None select the parameter-free RMS norm (ops.norm)."""
    dt = _dtype_of(x, weight, bias, residual, ln_weight, ln_bias)
    if dt is None:
        return _fallback("output_layer_norm", "unsupported dtype")(
            x, weight, bias, residual, ln_weight, ln_bias, eps)
    cdef int kind = _lowp_kind(weight)
    if kind != W_F32 and not _lowp_runs_here(dt):  # the emulating reference
        return _ops().output_layer_norm(x, weight, bias, residual, ln_weight, ln_bias, eps)
    cdef bint own = kind != W_F32 or _own_gemm(dt, _kdim(weight))
    xa, bb = _c(x, dt), _c(bias, dt)
    w = weight if kind != W_F32 else _wt(weight, dt, own)
    g, be = _c(ln_weight, dt), _c(ln_bias, dt)
    cdef int n = w.shape[0], k = w.shape[1]
    if xa.shape[-1] != k:
        raise ValueError(f"output_layer_norm: x has width {xa.shape[-1]}, weight expects {k}")
    want = xa.shape[:-1] + (n,)
    res = _c(residual if type(residual) is np.ndarray and residual.shape == want else np.broadcast_to(residual, want),
             dt)
    y = np.empty(xa.shape[:-1] + (n,), dtype=dt)
    cdef int m = y.size // n if n else 0
    if m == 0 or n == 0:
        return y
    cdef double e = eps
    cdef void *px = _ptr(xa)
    cdef void *pb = _ptr(bb)
    cdef void *pr = _ptr(res)
    cdef void *pg = _ptr(g)
    cdef void *pe = _ptr(be)
    cdef void *py = _ptr(y)
    cdef WRef r
    cdef int failed = 0
    if own:  # our GEMM, then bias + residual + norm row by row
        keep = _wref(w, &r)
        with nogil:
            failed = _gemm_w(&r, m, n, k, <float*>px, k, <float*>py, n, NULL, 0, False)
            if not failed:
                _add_ln_rows[float](m, n, <float*>py, <float*>pb, <float*>pr, n, <float*>pg, <float*>pe, e)
        if failed:
            raise MemoryError("output_layer_norm: could not allocate the low-precision GEMM's scratch")
        return y
    yt = _scratch(WS_GEMM, n, m, dt) if _use_fm(m) else None  # feature-major scratch
    cdef void *pw = _ptr(w)
    cdef void *pt = _ptr(yt)
    cdef bint f32 = dt.itemsize == 4
    _guard.enter()
    with nogil:
        if f32:
            _output_ln[float](m, n, k, <float*>px, k, False, <float*>pw, <float*>pb, <float*>pr, <float*>pg,
                              <float*>pe, e, <float*>py, <float*>pt)
        else:
            _output_ln[double](m, n, k, <double*>px, k, False, <double*>pw, <double*>pb, <double*>pr, <double*>pg,
                               <double*>pe, e, <double*>py, <double*>pt)
    _guard.exit()
    return y


def feed_forward(x, w_in, b_in, w_out, b_out, ln_weight, ln_bias, eps, activation):
    """``Norm(act(x W_in.T + b_in) W_out.T + b_out + x)``: [B, T, C] -> [B, T, C] (biases and norm
    parameters may be None, as in output_layer_norm).

    The [B, T, F] intermediate is written once (GEMM + bias + activation per column range) and read
    once by the second GEMM, whose epilogue adds bias and residual and normalises each row.
    """
    dt = _dtype_of(x, w_in, b_in, w_out, b_out, ln_weight, ln_bias)
    if dt is None:
        return _fallback("feed_forward", "unsupported dtype")(
            x, w_in, b_in, w_out, b_out, ln_weight, ln_bias, eps, activation)
    code = ACT_CODES.get(activation, -1) if isinstance(activation, str) else -1
    act = None
    if code < 0:
        from roformer_np.activations import get_activation
        act = get_activation(activation)  # ValueError for unknown names, as the reference
    cdef bint lowp = _lowp_kind(w_in) != W_F32 or _lowp_kind(w_out) != W_F32
    if lowp and not _lowp_runs_here(dt):  # the emulating reference
        return _ops().feed_forward(x, w_in, b_in, w_out, b_out, ln_weight, ln_bias, eps, activation)
    cdef bint own = lowp or (_own_gemm(dt, _kdim(w_in)) and _own_gemm(dt, _kdim(w_out)))
    xa, b1, b2 = _c(x, dt), _c(b_in, dt), _c(b_out, dt)
    w1 = w_in if _lowp_kind(w_in) != W_F32 else _wt(w_in, dt, own)
    w2 = w_out if _lowp_kind(w_out) != W_F32 else _wt(w_out, dt, own)
    g, be = _c(ln_weight, dt), _c(ln_bias, dt)
    cdef int f = w1.shape[0], c = w1.shape[1]
    if xa.shape[-1] != c or w2.shape[1] != f or w2.shape[0] != c:
        raise ValueError(f"feed_forward: shapes x {xa.shape}, w_in {w1.shape}, w_out {w2.shape} do not chain")
    y = np.empty(xa.shape, dtype=dt)  # [B, T, C]
    cdef int m = y.size // c if c else 0
    if m == 0 or c == 0:
        return y
    if own:
        return _feed_forward_own(xa, w1, b1, w2, b2, g, be, eps, max(code, 0), act, y)
    cdef bint fm = _use_fm(m)
    # the [B*T, F] intermediate: feature-major [F, B*T] on the feature-major path
    hid = _scratch(WS_HIDDEN, f, m, dt) if fm else _scratch(WS_HIDDEN, m, f, dt)
    yt = _scratch(WS_GEMM, c, m, dt) if fm else None
    cdef int icode = max(code, 0)
    cdef double e = eps
    cdef void *px = _ptr(xa)
    cdef void *pw1 = _ptr(w1)
    cdef void *pb1 = _ptr(b1)
    cdef void *pw2 = _ptr(w2)
    cdef void *pb2 = _ptr(b2)
    cdef void *pg = _ptr(g)
    cdef void *pe = _ptr(be)
    cdef void *ph = _ptr(hid)
    cdef void *py = _ptr(y)
    cdef void *pt = _ptr(yt)
    cdef bint f32 = dt.itemsize == 4
    cdef int ldh = m if fm else f
    _guard.enter()
    with nogil:
        if fm and f32:
            _linear_fm[float](m, f, c, <float*>px, c, False, <float*>pw1, <float*>pb1, <float*>ph, icode, True)
        elif fm:
            _linear_fm[double](m, f, c, <double*>px, c, False, <double*>pw1, <double*>pb1, <double*>ph, icode, True)
        elif f32:
            _linear_act[float](m, f, c, <float*>px, c, <float*>pw1, <float*>pb1, <float*>ph, f, icode, True,
                               <int*>NULL)
        else:
            _linear_act[double](m, f, c, <double*>px, c, <double*>pw1, <double*>pb1, <double*>ph, f, icode, True,
                                <int*>NULL)
    if act is not None:
        try:  # a rare activation: the reference's, between the two native GEMMs
            hid = _c(act(hid), dt)
        except BaseException:
            _guard.exit()  # give BLAS its threads back before propagating
            raise
        ph = _ptr(hid)
    with nogil:
        if f32:
            _output_ln[float](m, c, f, <float*>ph, ldh, fm, <float*>pw2, <float*>pb2, <float*>px, <float*>pg,
                              <float*>pe, e, <float*>py, <float*>pt)
        else:
            _output_ln[double](m, c, f, <double*>ph, ldh, fm, <double*>pw2, <double*>pb2, <double*>px, <double*>pg,
                               <double*>pe, e, <double*>py, <double*>pt)
    _guard.exit()
    return y


# Rows per block of feed_forward on our GEMMs: the [rows, F] intermediate (and the bf16 / int8 GEMMs' converted
# inputs) exist for one block at a time -- 3 MB instead of 12.6 MB at (8, 128) for a base model. The GEMM cuts
# its rows into blocks of this size anyway (rnp_tiling), and every row's bits are independent of the others'.
DEF FF_ROWS = 256


cdef object _feed_forward_own(xa, w1, b1, w2, b2, g, be, double eps, int code, act, y):
    """feed_forward on our GEMMs, FF_ROWS rows at a time: [rows, F] intermediate token-major, bias +
    activation in the first GEMM's tile write-out, then the second GEMM and the residual + norm rows."""
    cdef int f = w1.shape[0], c = w1.shape[1]
    cdef int m = y.size // c
    cdef int r0, rows
    hid = _scratch(WS_HIDDEN, min(m, FF_ROWS), f, np.dtype(np.float32))
    cdef WRef r1, r2
    cdef int failed = 0
    keep1, keep2 = _wref(w1, &r1), _wref(w2, &r2)
    cdef float *px = <float*>_ptr(xa)
    cdef float *pb1 = <float*>_ptr(b1)
    cdef float *pb2 = <float*>_ptr(b2)
    cdef float *pg = <float*>_ptr(g)
    cdef float *pe = <float*>_ptr(be)
    cdef float *ph
    cdef float *py = <float*>_ptr(y)
    for r0 in range(0, m, FF_ROWS):
        rows = min(FF_ROWS, m - r0)
        block = hid[:rows]
        ph = <float*>_ptr(hid)
        with nogil:
            failed = _gemm_w(&r1, rows, f, c, px + <Py_ssize_t>r0 * c, c, ph, f, pb1, code, True)
        if failed:
            raise MemoryError("feed_forward: could not allocate the low-precision GEMM's scratch")
        if act is not None:  # a rare activation: the reference's, between the two GEMMs
            _guard.enter()  # kernels called from inside it (another thread's too) see BLAS pinned, as on BLAS's path
            try:
                block = _c(act(block), np.float32)
            finally:
                _guard.exit()
            ph = <float*>_ptr(block)
        with nogil:
            failed = _gemm_w(&r2, rows, c, f, ph, f, py + <Py_ssize_t>r0 * c, c, NULL, 0, False)
            if not failed:
                _add_ln_rows[float](rows, c, py + <Py_ssize_t>r0 * c, pb2, px + <Py_ssize_t>r0 * c, c, pg, pe, eps)
        if failed:
            raise MemoryError("feed_forward: could not allocate the low-precision GEMM's scratch")
    return y
