# cython: language_level=3, boundscheck=False, wraparound=True, cdivision=True, initializedcheck=False
"""Compiled kernels: the functions of ``roformer_np.ops.KERNELS`` with identical names and signatures.

Layout (scikit-learn style): a thin ``def`` wrapper validates and converts its arguments, allocates the
outputs and calls a ``cdef ... nogil`` core that runs ``prange`` over independent work. GEMMs go through
``scipy.linalg.cython_blas`` (s/dgemm), never hand-written loops, with their epilogues fused (bias +
activation, bias + residual + LayerNorm) so every activation tensor is written once and re-read hot.

Dimension legend: B batch, T new tokens (queries), P cached length, S = P + T keys, H heads, D head size,
C hidden size (= H * D), E embedding size, F intermediate size, V vocab size, N output features of a GEMM,
K reduction size of a GEMM, M rows of a GEMM (= B * T).

GEMMs of 2..512 rows are computed transposed ("feature-major", y.T = W x.T: the tokens are BLAS's M
dimension), which OpenBLAS runs faster for short sequences; their epilogues transpose back in 16 x 16
tiles. Scratch buffers come from a per-thread workspace kept across calls (rnp_workspace in _vmath.pxd).

Threads: every output element is computed by exactly one thread, and the way work is cut (column units
of a GEMM, query tiles of attention, rows of a LayerNorm) depends only on the shapes, never on the number
of threads, so 1 and N threads give bit-identical results. Inside our parallel regions the BLAS library
must run single-threaded (else its own threads oversubscribe the cores): ``roformer_np.threads`` hands
us its thread-count setters, which we flip around each call.
"""

import numpy as np

cimport cython
cimport numpy as cnp
from cython.parallel cimport parallel, prange
from libc.math cimport erf, exp, sqrt, tanh
from libc.stdlib cimport free, malloc
from scipy.linalg.cython_blas cimport dgemm, dgemv, sgemm, sgemv

from _vmath cimport (
    RNP_HAVE_OPENMP,
    omp_get_max_threads,
    rnp_add_ln_row_f32,
    rnp_add_rms_row_f32,
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


# ---------------------------------------------------------------------------------------------
# Configuration (called by roformer_np.threads)
# ---------------------------------------------------------------------------------------------
def _set_num_threads(int n):
    global _num_threads
    _num_threads = max(1, n)


def _get_num_threads():
    return _num_threads


def _openmp_max_threads():
    return omp_get_max_threads()


def _set_gemm_mode(str mode):
    """``"omp"``: per-thread column blocks with single-threaded BLAS; ``"blas"``: BLAS's own threads."""
    global _gemm_mode
    if mode not in ("omp", "blas"):
        raise ValueError(mode)
    _gemm_mode = 0 if mode == "omp" else 1


def _set_units_per_gemm(int n):
    """Tuning knob: how many column units a GEMM is cut into (results depend on it in the last bits)."""
    global _units_per_gemm
    _units_per_gemm = max(1, n)


def _get_units_per_gemm():
    return _units_per_gemm


def _set_fm_max_rows(int n):
    """Tuning knob: GEMMs with 2..n rows use the feature-major product (0 disables it)."""
    global _fm_max_rows
    _fm_max_rows = max(0, n)


def _get_fm_max_rows():
    return _fm_max_rows


def _set_attention_tile_elems(int n):
    """Tuning knob: elements of one query tile's [tile, S] score block (see _attention_tile)."""
    global _tile_elems
    _tile_elems = max(16, n)


def _get_attention_tile_elems():
    return _tile_elems


def _get_gemm_mode():
    return "omp" if _gemm_mode == 0 else "blas"


def _set_blas_controls(list pairs):
    """``[(address of get_num_threads, address of set_num_threads), ...]`` of the BLAS libraries."""
    global _n_blas
    cdef size_t g, s
    _n_blas = 0
    for g, s in pairs[:MAX_BLAS]:
        _blas_get[_n_blas] = <get_threads_t><void*>g
        _blas_set[_n_blas] = <set_threads_t><void*>s
        _n_blas += 1


cdef inline void _blas_threads(int n) noexcept nogil:
    cdef int i
    for i in range(_n_blas):
        _blas_set[i](n)


cdef class _BlasGuard:
    """Single-threaded BLAS while any kernel call runs: the first call to enter saves the counts and sets 1, the
    last to leave restores them.

    Calls overlap: the kernels release the GIL, so several Python threads run them at once (and a callback
    between two GEMMs may call another kernel). Saving the counts on every entry, as a per-call guard would,
    lets a call that starts inside another's window save the 1 it sees and "restore" it, leaving BLAS
    single-threaded for good. enter/exit are called with the GIL held, which makes the depth updates atomic.
    """
    cdef int prev[MAX_BLAS]
    cdef int depth

    cdef inline void enter(self) noexcept nogil:
        cdef int i
        if self.depth == 0:
            for i in range(_n_blas):
                self.prev[i] = _blas_get[i]()
                if self.prev[i] != 1:
                    _blas_set[i](1)
        self.depth += 1

    cdef inline void exit(self) noexcept nogil:
        cdef int i
        if self.depth == 0:
            return
        self.depth -= 1
        if self.depth == 0:
            for i in range(_n_blas):
                if self.prev[i] != 1:
                    _blas_set[i](self.prev[i])


cdef _BlasGuard _guard = _BlasGuard()


# ---------------------------------------------------------------------------------------------
# BLAS helpers (row-major views of column-major BLAS)
# ---------------------------------------------------------------------------------------------
cdef inline void _gemm(char ta, char tb, int m, int n, int k, real *a, int lda, real *b, int ldb,
                       real beta, real *c, int ldc) noexcept nogil:
    cdef real one = 1
    if m <= 0 or n <= 0:
        return
    if real is float:
        sgemm(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc)
    else:
        dgemm(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc)


cdef inline void _gemm_xwt(int m, int n, int k, real *x, int ldx, real *w, int ldw, real *y,
                           int ldy) noexcept nogil:
    """y[m, n] = x[m, k] @ w[n, k].T, all row-major: in BLAS's column-major terms y.T = w @ x.T.

    A single row (decoding) goes to GEMV: GEMM would first copy ("pack") the whole weight block, which
    triples the memory traffic of a product that is bound by memory bandwidth.
    """
    cdef real one = 1, zero = 0
    cdef int inc = 1
    cdef char t = c'T'
    if m == 1 and n > 0 and k > 0:
        if real is float:
            sgemv(&t, &k, &n, &one, w, &ldw, x, &inc, &zero, y, &inc)
        else:
            dgemv(&t, &k, &n, &one, w, &ldw, x, &inc, &zero, y, &inc)
        return
    _gemm(c'T', c'N', n, m, k, w, ldw, x, ldx, <real>0, y, ldy)


cdef inline void _gemv_n(int m, int n, real *a, int lda, real *x, real *y) noexcept nogil:
    """y[m] = A x for the column-major A [m, n] (leading dimension lda): row-major y = x @ a_rows."""
    cdef real one = 1, zero = 0
    cdef int i, inc = 1
    cdef char t = c'N'
    if m <= 0:
        return
    if n <= 0:
        for i in range(m):
            y[i] = 0
        return
    if real is float:
        sgemv(&t, &m, &n, &one, a, &lda, x, &inc, &zero, y, &inc)
    else:
        dgemv(&t, &m, &n, &one, a, &lda, x, &inc, &zero, y, &inc)


cdef inline bint _use_fm(int m) noexcept nogil:
    """Whether a GEMM of m rows runs feature-major (shape-only: the same on any thread count)."""
    return 2 <= m <= _fm_max_rows and _gemm_mode == 0


cdef inline void _gemm_fm(int m, int n, int k, real *x, int ldx, bint x_fm, real *w, int ldw, real *yt,
                          int ldt) noexcept nogil:
    """yt[n, m] = w[n, k] @ x.T: the product laid out feature-major (one row per output feature).

    x is token-major [m, k] (leading dimension ldx) or, with ``x_fm``, feature-major [k, m]. In BLAS's
    column-major terms the tokens are the M dimension and the weight rows the N dimension, the
    orientation in which OpenBLAS's kernels run 15-30% faster for the short M of one sequence (measured
    on single-threaded sgemm at M = 16..512, K = 768).
    """
    _gemm(c'N' if x_fm else c'T', c'N', m, n, k, x, ldx, w, ldw, <real>0, yt, ldt)


cdef inline void _transpose(real *dst, Py_ssize_t ldd, real *src, Py_ssize_t lds, int rows,
                            int cols) noexcept nogil:
    """dst[i, j] = src[j, i] for i < rows, j < cols (leading dimensions ldd and lds)."""
    if real is float:
        rnp_transpose_f32(dst, ldd, src, lds, rows, cols)
    else:
        rnp_transpose_f64(dst, ldd, src, lds, rows, cols)


cdef inline void _bias_act_rows(real *y, int ldy, real *bias, int m, int n, int code) noexcept nogil:
    """y[:m, :n] = act(y + bias) for a block of rows (n columns, leading dimension ldy)."""
    cdef int i, j
    cdef real v, h = 0.5
    cdef real *row
    for i in range(m):
        row = y + <Py_ssize_t>i * ldy
        if real is float:
            if bias != NULL:
                rnp_bias_act_f32(row, bias, n, code)
            elif code != 0:  # bias-free (V2): the vectorised loop with a zero bias (only -0.0 becomes +0.0)
                rnp_sbias_act_f32(row, 0, n, code)
        else:
            for j in range(n):
                v = row[j]
                if bias != NULL:
                    v = v + bias[j]
                row[j] = _act_f64(v, code)


cdef inline void _sbias_act_rows(real *yt, int ldt, real *bias, int rows, int m, int code) noexcept nogil:
    """yt[r, :m] = act(yt[r, :m] + bias[r]) for the rows of a feature-major block (bias may be NULL)."""
    cdef int r, i
    cdef real bv
    cdef real *row
    for r in range(rows):
        row = yt + <Py_ssize_t>r * ldt
        bv = bias[r] if bias != NULL else 0
        if real is float:
            rnp_sbias_act_f32(row, bv, m, code)
        else:
            for i in range(m):
                row[i] = _act_f64(row[i] + bv, code)


cdef inline void _untranspose_act(int m, int nb, real *yt, int ldt, real *y, int ldy, real *bias, int code,
                                  bint epilogue) noexcept nogil:
    """y[:m, :nb] = act(yt[:nb, :m].T + bias), 16 rows at a time so each block is still in L1/L2."""
    cdef int i0, ib
    for i0 in range(0, m, 16):
        ib = min(16, m - i0)
        _transpose(y + <Py_ssize_t>i0 * ldy, ldy, yt + i0, ldt, ib, nb)
        if epilogue:
            _bias_act_rows(y + <Py_ssize_t>i0 * ldy, ldy, bias, ib, nb, code)


cdef inline double _sigmoid(double x) noexcept nogil:
    cdef double e = exp(-x if x >= 0 else x)
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


cdef inline double _act_f64(double v, int code) noexcept nogil:
    """float64 activations through libm, matching the reference to the last bits."""
    cdef double r
    if code == 1 or code == 12:
        r = v * 0.5 * (1.0 + erf(v * 0.7071067811865476))
        if code == 12:
            r = -10.0 if r < -10.0 else (10.0 if r > 10.0 else r)
        return r
    if code == 2:
        return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
    if code == 3:
        return 0.5 * v * (1.0 + tanh(v * 0.7978845608 * (1.0 + 0.044715 * v * v)))
    if code == 4:
        return v * _sigmoid(1.702 * v)
    if code == 5:
        return v if v > 0 else 0.0
    if code == 6:
        return v * _sigmoid(v)
    if code == 7:
        return tanh(v)
    if code == 8:
        return _sigmoid(v)
    if code == 9:
        r = v if v > 0 else 0.0
        return r * r
    if code == 10:
        return 0.0 if v < 0 else (6.0 if v > 6 else v)
    if code == 11:
        return v if v >= 0 else v * 0.01
    return v


cdef inline int _unit_width(int n) noexcept nogil:
    """Columns per GEMM call: about n / units, a multiple of 16, at least 64 -- never thread-dependent.

    BLAS results depend (in the last bits) on the extent of the call, so the cut must not depend on
    the thread count: every thread count runs exactly the same calls, merely distributed differently.
    """
    cdef int u = (n + _units_per_gemm - 1) // _units_per_gemm
    u = (u + 15) // 16 * 16
    return max(64, u)


cdef inline int _threads_for(int units) noexcept nogil:
    return max(1, min(_num_threads, units))


cdef Py_ssize_t _small_work = 131072  # elements: below this a parallel region costs more than it saves


def _set_small_work(Py_ssize_t n):
    """Work (elements) below which a kernel stays on the calling thread; 0 parallelises everything (tests)."""
    global _small_work
    _small_work = max(0, n)


def _get_small_work():
    return _small_work


cdef inline int _threads_for_work(int units, Py_ssize_t work) noexcept nogil:
    """Threads for ``units`` tasks totalling ``work`` elements: one thread for tiny work (decoding).

    Waking a worker that has gone to sleep costs tens of microseconds, more than a whole rotation or a
    one-query attention over a short cache. Every task is computed the same way on any thread, so the
    choice never changes the results.
    """
    if work < _small_work:
        return 1
    return _threads_for(units)


cdef inline int _gemm_threads(int units, int m, int n, int k) noexcept nogil:
    """Threads for an [m, k] x [k, n] product cut into ``units`` column units.

    A single row (GEMV) is bound by reading the n x k weights; a product of m > 1 rows does ~m / 8 times
    more work per weight than that read costs. Tiny products (small models, short inputs) stay on the
    calling thread: a worker woken from sleep, or one whose core is busy with another process, can cost
    milliseconds, a thousand times the product itself.
    """
    cdef Py_ssize_t work = <Py_ssize_t>n * k
    if m > 1:
        work = work * m // 8
    return _threads_for_work(units, work)


cdef inline int _gemv_width(int n) noexcept nogil:
    """Columns per GEMV call (a single row): 4 units per core, a multiple of 16, at least 128.

    A GEMV is a short, memory-bound call: with only one unit per core, a worker that wakes late finds
    its unit already taken (dynamic schedule) and the call runs on one core. Finer units let the late
    thread share what is left. Shape-only, so still thread-count invariant.
    """
    cdef int units = 4 * _units_per_gemm
    cdef int u = (n + units - 1) // units
    u = (u + 15) // 16 * 16
    return max(128, u)


DEF FM_UNIT_ELEMS = 262144  # a feature-major unit's result stays in L2 (1 MB of float32) for its epilogue


cdef inline int _fm_width(int n, int m) noexcept nogil:
    """Columns per GEMM call of the feature-major linear: as _unit_width, but at most FM_UNIT_ELEMS / m,
    with the number of units a multiple of _units_per_gemm so that the cores get equal shares (the
    50000-word MLM decoder: 26 units, not 25)."""
    cdef int cap = max(64, (FM_UNIT_ELEMS // m) // 16 * 16)
    cdef int units
    if _unit_width(n) <= cap:
        return _unit_width(n)
    units = (n + cap - 1) // cap
    units = (units + _units_per_gemm - 1) // _units_per_gemm * _units_per_gemm
    return max(64, ((n + units - 1) // units + 15) // 16 * 16)


cdef void _linear_act(int m, int n, int k, real *x, int ldx, real *w, real *bias, real *y, int ldy,
                      int code, bint epilogue, int *fm_failed) noexcept nogil:
    """y[m, n] = act(x @ w.T + bias); w is [n, k] contiguous. One GEMM + epilogue per column unit.

    With ``fm_failed`` given and ``_use_fm(m)``, each unit computes its columns feature-major into the
    thread's own L2-sized scratch and transposes them into y with the epilogue while they are hot in
    cache (a [n, m] buffer for the whole product would be 25 MB for the 50000-word LM decoder: fresh
    pages to zero and a round trip through DRAM). If that scratch cannot be had, fm_failed[0] is set.
    """
    cdef int width = _gemv_width(n) if m == 1 else _unit_width(n)
    cdef int units, nt
    cdef int u, n0, nb
    cdef size_t unit_bytes
    cdef real *yt
    if fm_failed != NULL and _use_fm(m):
        width = _fm_width(n, m)
        units = (n + width - 1) // width
        unit_bytes = sizeof(real) * <size_t>width * m
        with parallel(num_threads=_gemm_threads(units, m, n, k)):
            yt = <real*>rnp_workspace(WS_GEMM, unit_bytes)
            if yt == NULL:
                fm_failed[0] = 1
            for u in prange(units, schedule="dynamic"):
                if yt == NULL:
                    continue
                n0 = u * width
                nb = min(width, n - n0)
                _gemm_fm(m, nb, k, x, ldx, False, w + <Py_ssize_t>n0 * k, k, yt, m)
                _untranspose_act(m, nb, yt, m, y + n0, ldy, NULL if bias == NULL else bias + n0, code, epilogue)
            if yt != NULL:
                rnp_ws_release(yt, unit_bytes)
        return
    units = (n + width - 1) // width
    nt = _gemm_threads(units, m, n, k)
    if _gemm_mode == 1:  # BLAS's own threads (for comparison; not thread-count invariant)
        if _num_threads > 1:
            _blas_threads(_num_threads)
        _gemm_xwt(m, n, k, x, ldx, w, k, y, ldy)
        if _num_threads > 1:
            _blas_threads(1)
        if epilogue:
            for u in prange(m, num_threads=_threads_for_work(m, <Py_ssize_t>m * n), schedule="static"):
                _bias_act_rows(y + <Py_ssize_t>u * ldy, ldy, bias, 1, n, code)
        return
    for u in prange(units, num_threads=nt, schedule="dynamic"):
        n0 = u * width
        nb = min(width, n - n0)
        _gemm_xwt(m, nb, k, x, ldx, w + <Py_ssize_t>n0 * k, k, y + n0, ldy)
        if epilogue:
            _bias_act_rows(y + n0, ldy, NULL if bias == NULL else bias + n0, m, nb, code)


cdef void _linear_fm(int m, int n, int k, real *x, int ldx, bint x_fm, real *w, real *bias, real *yt, int code,
                     bint epilogue) noexcept nogil:
    """yt[n, m] = act(w @ x.T + bias[:, None]): the feature-major product, by column units of w."""
    cdef int width = _unit_width(n)
    cdef int units = (n + width - 1) // width
    cdef int u, n0, nb
    for u in prange(units, num_threads=_gemm_threads(units, m, n, k), schedule="dynamic"):
        n0 = u * width
        nb = min(width, n - n0)
        _gemm_fm(m, nb, k, x, ldx, x_fm, w + <Py_ssize_t>n0 * k, k, yt + <Py_ssize_t>n0 * m, m)
        if epilogue:
            _sbias_act_rows(yt + <Py_ssize_t>n0 * m, m, NULL if bias == NULL else bias + n0, nb, m, code)


cdef void _ln_from_fm(int m, int n, real *yt, real *y, real *bias, real *res, int ldr, real *g, real *b,
                      double eps) noexcept nogil:
    """y[i] = LayerNorm(yt[:, i] + bias + res[i]) for each of m tokens: transposed 16 tokens at a time."""
    cdef int ntile = (m + 15) // 16
    cdef int t, i0, ib, i
    for t in prange(ntile, num_threads=_threads_for_work(ntile, <Py_ssize_t>m * n), schedule="dynamic"):
        i0 = t * 16
        ib = min(16, m - i0)
        _transpose(y + <Py_ssize_t>i0 * n, n, yt + i0, m, ib, n)
        for i in range(i0, i0 + ib):
            _add_ln_row(y + <Py_ssize_t>i * n, bias, NULL if res == NULL else res + <Py_ssize_t>i * ldr, g, b, n,
                        eps)


cdef void _add_ln_rows(int m, int n, real *y, real *bias, real *res, int ldr, real *g, real *b,
                       double eps) noexcept nogil:
    """y[i] = LayerNorm(y[i] + bias + res[i]) for each of m rows (y contiguous [m, n])."""
    cdef int i
    for i in prange(m, num_threads=_threads_for_work(m, <Py_ssize_t>m * n), schedule="dynamic", chunksize=4):
        _add_ln_row(y + <Py_ssize_t>i * n, bias, NULL if res == NULL else res + <Py_ssize_t>i * ldr, g, b, n, eps)


cdef inline void _add_row(real *y, real *bias, real *res, int n) noexcept nogil:
    """y += bias + res over one row, in the reference's order (either may be NULL)."""
    cdef int j
    cdef real v
    for j in range(n):
        v = y[j]
        if bias != NULL:
            v = v + bias[j]
        if res != NULL:
            v = v + res[j]
        y[j] = v


cdef inline void _add_rms_row(real *y, real *bias, real *res, int n, double eps) noexcept nogil:
    """y = y' / sqrt(mean(y'^2) + eps) with y' = y + bias + res (bias, res may be NULL), as ops.rms_norm."""
    cdef int j
    cdef double s = 0.0
    cdef real root
    if real is float:
        rnp_add_rms_row_f32(y, bias, res, n, <float>eps)
        return
    _add_row(y, bias, res, n)
    for j in range(n):
        s += y[j] * y[j]
    root = sqrt(s / n + eps)
    for j in range(n):
        y[j] = y[j] / root


cdef inline void _add_ln_row(real *y, real *bias, real *res, real *g, real *b, int n,
                             double eps) noexcept nogil:
    """y = Norm(y + bias + res): LayerNorm with gain g and offset b, or (g NULL) RoFormer-V2's RMS norm."""
    cdef int j
    cdef double s = 0.0, c
    cdef real mean, inv
    if g == NULL:
        _add_rms_row(y, bias, res, n, eps)
        return
    if real is float:
        rnp_add_ln_row_f32(y, bias, res, g, b, n, <float>eps)
        return
    _add_row(y, bias, res, n)
    for j in range(n):
        s += y[j]
    mean = s / n
    s = 0.0
    for j in range(n):
        c = y[j] - mean
        s += c * c
    inv = 1.0 / sqrt(s / n + eps)
    for j in range(n):
        y[j] = (y[j] - mean) * inv * g[j] + b[j]


# ---------------------------------------------------------------------------------------------
# Attention core
# ---------------------------------------------------------------------------------------------
cdef inline void _rotate_rows(real *dst, real *src, Py_ssize_t lds, int rows, int d, real *sin,
                              real *cos) noexcept nogil:
    """dst[r] = rotary(src[r]) with the sin/cos row r ([rows, d/2] contiguous); dst is [rows, d]."""
    cdef int r, i, half = d // 2
    cdef real e, o, sn, cs
    if real is float:
        rnp_rotate_rows_f32(dst, src, lds, rows, half, sin, cos)
        return
    for r in range(rows):
        for i in range(half):
            e = src[r * lds + 2 * i]
            o = src[r * lds + 2 * i + 1]
            sn = sin[r * half + i]
            cs = cos[r * half + i]
            dst[r * d + 2 * i] = e * cs - o * sn
            dst[r * d + 2 * i + 1] = o * cs + e * sn


cdef inline void _softmax_row(real *s, real *mask, int n, real scale, bint use_hm, real hm) noexcept nogil:
    cdef int j
    cdef real mx, tot
    if real is float:
        rnp_softmax_row_f32(s, mask, n, scale, use_hm, hm)
        return
    mx = -1.0 / 0.0
    for j in range(n):
        s[j] = s[j] / scale
        if mask != NULL:
            s[j] = s[j] + mask[j]
        if s[j] > mx:
            mx = s[j]
    tot = 0
    for j in range(n):
        s[j] = exp(s[j] - mx)
        tot = tot + s[j]
    for j in range(n):
        s[j] = s[j] / tot
        if use_hm:
            s[j] = s[j] * hm


cdef int _tile_elems = 262144


cdef inline int _attention_tile(int T, int S) noexcept nogil:
    """Query rows per attention task: as many as keep the [tile, S] scores within _tile_elems (L2), a
    multiple of 16 -- fewer, larger GEMMs repack k and v less often. Shape-only, so thread-invariant."""
    cdef int tile = (_tile_elems // max(S, 1)) // 16 * 16
    return max(16, min(tile, (T + 15) // 16 * 16))


cdef void _attention_core(
    int B, int H, int T, int S, int D,
    real *q, Py_ssize_t qb, Py_ssize_t qh, Py_ssize_t qt,
    real *k, Py_ssize_t kb, Py_ssize_t kh, Py_ssize_t ks,
    real *v, Py_ssize_t vb, Py_ssize_t vh, Py_ssize_t vs,
    real *sin, real *cos, bint rotate_qk, bint rotate_v,
    real *mask, Py_ssize_t mb, Py_ssize_t mh, Py_ssize_t mt,
    real *head_mask, real *out, real *probs, int tile, int *failed,
) noexcept nogil:
    """out[b, t, h*D:(h+1)*D] = softmax(rot(q) rot(k).T / sqrt(D) + mask) * head_mask @ v.

    Pass 1 rotates the keys (and values) of every (b, h) once into [B, H, S, D] buffers. Pass 2 runs one
    task per (b, h, query tile of ``tile`` rows): only a [tile, S] score block per thread exists (unless
    ``probs`` is given, then the rows are written straight into it). Tasks are scheduled dynamically (a
    descheduled thread does not stall the others) and each task is computed by one thread with the same
    calls whatever the thread count.
    """
    cdef int bh, task, b, h, t0, tq, i, nt
    cdef int C = H * D
    cdef int ntiles = (T + tile - 1) // tile
    cdef real scale = <real>sqrt(<double>D)
    cdef Py_ssize_t SD = <Py_ssize_t>S * D
    cdef real *krot = NULL
    cdef real *vrot = NULL
    cdef real *qbuf = NULL
    cdef real *sbuf = NULL
    cdef size_t rot_bytes = sizeof(real) * B * H * SD
    cdef size_t qbuf_bytes = sizeof(real) * (<Py_ssize_t>tile * D if rotate_qk else 1)
    cdef size_t sbuf_bytes = sizeof(real) * (<Py_ssize_t>tile * S if probs == NULL else 1)
    cdef real *kp
    cdef real *vp
    cdef real *qp
    cdef real *sp
    cdef real *mrow
    cdef int ldk, ldv, ldq
    cdef real hm
    if rotate_qk:
        krot = <real*>rnp_workspace(WS_KROT, rot_bytes)
        if rotate_v:
            vrot = <real*>rnp_workspace(WS_VROT, rot_bytes)
        if krot == NULL or (rotate_v and vrot == NULL):
            failed[0] = 1
            if krot != NULL:
                rnp_ws_release(krot, rot_bytes)
            if vrot != NULL:
                rnp_ws_release(vrot, rot_bytes)
            return
        nt = _threads_for_work(B * H, <Py_ssize_t>B * H * SD)
        for bh in prange(B * H, num_threads=nt, schedule="dynamic"):
            b = bh // H
            h = bh - b * H
            _rotate_rows(krot + bh * SD, k + b * kb + h * kh, ks, S, D, sin, cos)
            if rotate_v:
                _rotate_rows(vrot + bh * SD, v + b * vb + h * vh, vs, S, D, sin, cos)
    nt = _threads_for_work(B * H * ntiles, <Py_ssize_t>B * H * T * SD)
    with parallel(num_threads=nt):
        qbuf = <real*>rnp_workspace(WS_QBUF, qbuf_bytes)
        sbuf = <real*>rnp_workspace(WS_SBUF, sbuf_bytes)
        if qbuf == NULL or sbuf == NULL:
            failed[0] = 1
        for task in prange(B * H * ntiles, schedule="dynamic"):
            if failed[0]:
                continue
            bh = task // ntiles
            t0 = (task - bh * ntiles) * tile
            tq = min(tile, T - t0)
            b = bh // H
            h = bh - b * H
            if rotate_qk:
                kp = krot + bh * SD
                ldk = D
            else:
                kp = k + b * kb + h * kh
                ldk = <int>ks
            if rotate_v:
                vp = vrot + bh * SD
                ldv = D
            else:
                vp = v + b * vb + h * vh
                ldv = <int>vs
            hm = head_mask[h] if head_mask != NULL else 1
            qp = q + b * qb + h * qh + <Py_ssize_t>t0 * qt
            ldq = <int>qt
            if rotate_qk:
                _rotate_rows(qbuf, qp, qt, tq, D, sin + <Py_ssize_t>t0 * (D // 2), cos + <Py_ssize_t>t0 * (D // 2))
                qp = qbuf
                ldq = D
            if probs != NULL:
                sp = probs + ((<Py_ssize_t>b * H + h) * T + t0) * S
            else:
                sp = sbuf
            _gemm_xwt(tq, S, D, qp, ldq, kp, ldk, sp, S)  # [tq, S] scores
            for i in range(tq):
                mrow = NULL
                if mask != NULL:
                    mrow = mask + b * mb + h * mh + <Py_ssize_t>(t0 + i) * mt
                _softmax_row(sp + <Py_ssize_t>i * S, mrow, S, scale, head_mask != NULL, hm)
            # [tq, S] @ [S, D] -> out[b, t0:t0+tq, h*D:(h+1)*D]; column-major: out.T = v.T @ p.T
            if tq == 1:  # one query (decoding): GEMV, which reads v once without packing it
                _gemv_n(D, S, vp, ldv, sp, out + (<Py_ssize_t>b * T + t0) * C + <Py_ssize_t>h * D)
            else:
                _gemm(c'N', c'N', D, tq, S, vp, ldv, sp, S, <real>0,
                      out + (<Py_ssize_t>b * T + t0) * C + <Py_ssize_t>h * D, C)
        if qbuf != NULL:
            rnp_ws_release(qbuf, qbuf_bytes)
        if sbuf != NULL:
            rnp_ws_release(sbuf, sbuf_bytes)
    if krot != NULL:
        rnp_ws_release(krot, rot_bytes)
    if vrot != NULL:
        rnp_ws_release(vrot, rot_bytes)


# ---------------------------------------------------------------------------------------------
# Python-facing helpers
# ---------------------------------------------------------------------------------------------
cdef object _FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


cdef object _ops():
    from roformer_np import ops
    return ops


cdef inline bint _strict():
    from roformer_np.backend import strict_mode
    return strict_mode()


cdef _fallback(str name, str why):
    if _strict():
        raise RuntimeError(f"native {name}: {why} (strict mode forbids the NumPy fallback)")
    return getattr(_ops(), name)


cdef inline object _c(object a, object dtype):
    """C-contiguous array of ``dtype`` (a copy only if needed); None (an absent bias or norm weight) stays None."""
    return None if a is None else np.ascontiguousarray(a, dtype=dtype)


cdef inline void* _ptr(object a):
    """Data pointer of an ndarray (None -> NULL), taken while holding the GIL."""
    if a is None:
        return NULL
    return cnp.PyArray_DATA(<cnp.ndarray>a)


cdef object _rowview(object a, object dtype):
    """``a`` as rows BLAS can read in place (else a C copy): unit-stride last axis, non-negative
    item-multiple strides, and rows (second-to-last axis) that do not overlap (stride >= row length)."""
    a = np.asarray(a)
    if a.dtype != dtype:
        return np.ascontiguousarray(a, dtype=dtype)
    item = a.dtype.itemsize
    if a.shape[-1] > 1 and a.strides[-1] != item:
        return np.ascontiguousarray(a)
    if a.ndim >= 2 and a.shape[-2] > 1 and a.strides[-2] < a.shape[-1] * item:
        return np.ascontiguousarray(a)
    for st in a.strides:
        if st < 0 or st % item:
            return np.ascontiguousarray(a)
    return a


cdef object _scratch(int slot, Py_ssize_t rows, Py_ssize_t cols, object dtype):
    """A [rows, cols] array over the calling thread's workspace ``slot`` (see rnp_workspace): valid until
    this thread asks for the slot again, so only for buffers that die inside one kernel call. Buffers too
    big to keep come from np.empty."""
    cdef size_t nbytes = <size_t>rows * cols * dtype.itemsize
    cdef cnp.npy_intp dims[2]
    cdef void *p
    if nbytes > RNP_WS_MAX:
        return np.empty((rows, cols), dtype=dtype)
    p = rnp_workspace(slot, nbytes)
    if p == NULL:
        raise MemoryError(f"native kernels: could not allocate {nbytes} bytes of scratch")
    dims[0] = rows
    dims[1] = cols
    return cnp.PyArray_SimpleNewFromData(2, dims, cnp.NPY_FLOAT32 if dtype.itemsize == 4 else cnp.NPY_FLOAT64, p)


cdef inline Py_ssize_t _st(object a, int axis, Py_ssize_t minimum):
    """Stride in elements of an axis (at least ``minimum`` so that BLAS accepts it as a leading dim)."""
    cdef Py_ssize_t s = a.strides[axis] // a.dtype.itemsize
    return s if a.shape[axis] > 1 else max(s, minimum)


def _dtype_of(*arrays):
    """The common float dtype of the given arrays (None ones, absent parameters, are skipped), else None."""
    dt = np.result_type(*[np.asarray(a).dtype for a in arrays if a is not None])
    return dt if dt in _FLOATS else None


# ---------------------------------------------------------------------------------------------
# Kernels (names and signatures of roformer_np.ops)
# ---------------------------------------------------------------------------------------------
def linear(x, weight, bias=None):
    """``x @ weight.T + bias``: [..., K] -> [..., N] with weight [N, K]."""
    dt = _dtype_of(x, weight) if bias is None else _dtype_of(x, weight, bias)
    if dt is None:
        return _fallback("linear", "unsupported dtype")(x, weight, bias)
    xa, w = _c(x, dt), _c(weight, dt)
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
    cdef void *pw = _ptr(w)
    cdef void *pb = _ptr(bb)
    cdef void *py = _ptr(y)
    cdef bint f32 = dt.itemsize == 4
    cdef int failed = 0
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
    ops = _ops()
    q, k, v = np.split(qkv, 3, axis=-1)  # [B, T, C] each
    return ops.split_heads(q, num_heads), ops.split_heads(k, num_heads), ops.split_heads(v, num_heads)


def apply_rotary(x, sin, cos):
    """Rotate adjacent feature pairs of x [B, H, T, D] by sin/cos [T, D/2]."""
    x = np.asarray(x)
    dt = _dtype_of(x, sin, cos)
    if dt is None or x.ndim != 4 or x.shape[-1] % 2 or np.shape(sin) != (x.shape[2], x.shape[3] // 2) \
            or np.shape(cos) != np.shape(sin):
        return _fallback("apply_rotary", "unsupported dtype or shape")(x, sin, cos)
    xa, sn, cs = _c(x, dt), _c(sin, dt), _c(cos, dt)
    out = np.empty(xa.shape, dtype=dt)
    cdef int bh, BH = xa.shape[0] * xa.shape[1], T = xa.shape[2], D = xa.shape[3]
    cdef Py_ssize_t step = <Py_ssize_t>T * D
    cdef int nt = _threads_for_work(BH, <Py_ssize_t>BH * step)
    cdef void *po = _ptr(out)
    cdef void *px = _ptr(xa)
    cdef void *ps = _ptr(sn)
    cdef void *pc = _ptr(cs)
    cdef bint f32 = dt.itemsize == 4
    with nogil:
        if f32:
            for bh in prange(BH, num_threads=nt, schedule="static"):
                _rotate_rows[float](<float*>po + bh * step, <float*>px + bh * step, D, T, D, <float*>ps, <float*>pc)
        else:
            for bh in prange(BH, num_threads=nt, schedule="static"):
                _rotate_rows[double](<double*>po + bh * step, <double*>px + bh * step, D, T, D,
                                     <double*>ps, <double*>pc)
    return out


cdef object _attention_impl(str name, q, k, v, sin, cos, bint rotate_qk, bint rotate_v, mask, head_mask,
                            bint output_attentions):
    """The shared wrapper of attention / rotary_attention; None means "not supported natively"."""
    q, k, v = np.asarray(q), np.asarray(k), np.asarray(v)
    args = [q, k, v] + ([sin, cos] if rotate_qk else []) + ([] if mask is None else [mask]) + \
        ([] if head_mask is None else [head_mask])
    dt = _dtype_of(*args)
    if dt is None or q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        return None
    B, H, T, D = q.shape
    S = k.shape[2]
    if k.shape != (B, H, S, D) or v.shape != (B, H, S, D) or D == 0:
        return None
    if rotate_qk and (D % 2 or S != T or np.shape(sin) != (T, D // 2) or np.shape(cos) != (T, D // 2)):
        return None
    if head_mask is not None and np.size(head_mask) != H:
        return None
    qa, ka, va = _rowview(q, dt), _rowview(k, dt), _rowview(v, dt)
    sn = _c(sin, dt) if rotate_qk else None
    cs = _c(cos, dt) if rotate_qk else None
    mk = None
    cdef Py_ssize_t mb = 0, mh = 0, mt = 0
    if mask is not None:
        m = np.broadcast_to(np.asarray(mask, dtype=dt), (B, H, T, S))
        if S > 1 and m.strides[3] != m.dtype.itemsize:
            m = np.ascontiguousarray(m)
        mk = m
        mb, mh, mt = (s // m.dtype.itemsize for s in m.strides[:3])
    hmk = None if head_mask is None else _c(np.reshape(head_mask, -1), dt)
    out = np.empty((B, T, H * D), dtype=dt)
    probs = np.empty((B, H, T, S), dtype=dt) if output_attentions else None
    if B * H * T == 0:
        return out, probs
    if S == 0:
        out[...] = np.nan  # softmax over nothing, as the reference (0/0)
        if probs is not None:
            probs = probs.reshape(B, H, T, 0)
        return out, probs
    cdef Py_ssize_t qb = _st(qa, 0, 1), qh = _st(qa, 1, 1), qt = _st(qa, 2, D)
    cdef Py_ssize_t kb = _st(ka, 0, 1), kh = _st(ka, 1, 1), ks = _st(ka, 2, D)
    cdef Py_ssize_t vb = _st(va, 0, 1), vh = _st(va, 1, 1), vs = _st(va, 2, D)
    cdef int B_ = B, H_ = H, T_ = T, S_ = S, D_ = D
    cdef int tile = _attention_tile(T, S)
    cdef int failed = 0
    cdef void *pq = _ptr(qa)
    cdef void *pk = _ptr(ka)
    cdef void *pv = _ptr(va)
    cdef void *ps = _ptr(sn)
    cdef void *pc = _ptr(cs)
    cdef void *pm = _ptr(mk)
    cdef void *ph = _ptr(hmk)
    cdef void *po = _ptr(out)
    cdef void *pp = _ptr(probs)
    cdef bint f32 = dt.itemsize == 4
    _guard.enter()
    with nogil:
        if f32:
            _attention_core[float](
                B_, H_, T_, S_, D_, <float*>pq, qb, qh, qt, <float*>pk, kb, kh, ks, <float*>pv, vb, vh, vs,
                <float*>ps, <float*>pc, rotate_qk, rotate_v, <float*>pm, mb, mh, mt, <float*>ph, <float*>po,
                <float*>pp, tile, &failed)
        else:
            _attention_core[double](
                B_, H_, T_, S_, D_, <double*>pq, qb, qh, qt, <double*>pk, kb, kh, ks, <double*>pv, vb, vh, vs,
                <double*>ps, <double*>pc, rotate_qk, rotate_v, <double*>pm, mb, mh, mt, <double*>ph, <double*>po,
                <double*>pp, tile, &failed)
    _guard.exit()
    if failed:
        raise MemoryError(f"native {name}: could not allocate the per-thread attention buffers")
    return out, probs


def attention(q, k, v, mask, head_mask=None, output_attentions=False):
    """Scaled dot-product attention; q [B, H, T, D], k/v [B, H, S, D] (strided views welcome).

    Returns the context [B, T, C] and the probabilities [B, H, T, S] if asked (else None).
    """
    res = _attention_impl("attention", q, k, v, None, None, False, False, mask, head_mask, output_attentions)
    if res is None:
        return _fallback("attention", "unsupported dtype or shape")(q, k, v, mask, head_mask, output_attentions)
    return res


def rotary_attention(q, k, v, sin, cos, mask, rotary_value=False, head_mask=None, output_attentions=False):
    """Rotate q and k (and v under ``rotary_value``) and attend, in one pass per (batch, head)."""
    res = _attention_impl("rotary_attention", q, k, v, sin, cos, True, bool(rotary_value), mask, head_mask,
                          output_attentions)
    if res is None:
        return _fallback("rotary_attention", "unsupported dtype or shape")(
            q, k, v, sin, cos, mask, rotary_value, head_mask, output_attentions)
    return res


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
    xa, w, bb, g, be = _c(x, dt), _c(weight, dt), _c(bias, dt), _c(ln_weight, dt), _c(ln_bias, dt)
    cdef int n = w.shape[0], k = w.shape[1]
    if xa.shape[-1] != k:
        raise ValueError(f"output_layer_norm: x has width {xa.shape[-1]}, weight expects {k}")
    res = _c(np.broadcast_to(residual, xa.shape[:-1] + (n,)), dt)
    y = np.empty(xa.shape[:-1] + (n,), dtype=dt)
    cdef int m = y.size // n if n else 0
    if m == 0 or n == 0:
        return y
    yt = _scratch(WS_GEMM, n, m, dt) if _use_fm(m) else None  # feature-major scratch
    cdef double e = eps
    cdef void *px = _ptr(xa)
    cdef void *pw = _ptr(w)
    cdef void *pb = _ptr(bb)
    cdef void *pr = _ptr(res)
    cdef void *pg = _ptr(g)
    cdef void *pe = _ptr(be)
    cdef void *py = _ptr(y)
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
    xa, w1, b1, w2, b2 = _c(x, dt), _c(w_in, dt), _c(b_in, dt), _c(w_out, dt), _c(b_out, dt)
    g, be = _c(ln_weight, dt), _c(ln_bias, dt)
    cdef int f = w1.shape[0], c = w1.shape[1]
    if xa.shape[-1] != c or w2.shape[1] != f or w2.shape[0] != c:
        raise ValueError(f"feed_forward: shapes x {xa.shape}, w_in {w1.shape}, w_out {w2.shape} do not chain")
    y = np.empty(xa.shape, dtype=dt)  # [B, T, C]
    cdef int m = y.size // c if c else 0
    if m == 0 or c == 0:
        return y
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


cdef void _embed_rows(int nrow, int E, Py_ssize_t *ids, Py_ssize_t *tts, real *we, Py_ssize_t wrow, real *te,
                      real *g, real *b, double eps, real *y, int nt) noexcept nogil:
    cdef int r, j
    cdef real *dst
    for r in prange(nrow, num_threads=nt, schedule="static"):
        dst = y + <Py_ssize_t>r * E
        for j in range(E):
            dst[j] = we[ids[r] * wrow + j]
        _add_ln_row(dst, te + tts[r] * E, <real*>NULL, g, b, E, eps)


def embed(input_ids, token_type_ids, word_embeddings, token_type_embeddings, ln_weight, ln_bias, eps):
    """Gather word + token-type rows and normalise them (LayerNorm, or RMS when ln_weight is None): [B, T] ids ->
    [B, T, E]."""
    dt = _dtype_of(word_embeddings, token_type_embeddings, ln_weight, ln_bias)
    if dt is None:
        return _fallback("embed", "unsupported dtype")(
            input_ids, token_type_ids, word_embeddings, token_type_embeddings, ln_weight, ln_bias, eps)
    ids = np.asarray(input_ids)
    tts = np.broadcast_to(np.asarray(token_type_ids), ids.shape)
    ii, tt = _c(ids, np.intp), _c(tts, np.intp)
    we = _rowview(word_embeddings, dt)
    te, g, be = _c(token_type_embeddings, dt), _c(ln_weight, dt), _c(ln_bias, dt)
    cdef Py_ssize_t V = we.shape[0], NT = te.shape[0]
    cdef int E = we.shape[1]
    if te.shape[1] != E:
        raise ValueError("embed: word and token-type embeddings differ in width")
    if ii.size and (ii.min() < -V or ii.max() >= V or tt.min() < -NT or tt.max() >= NT):
        raise IndexError("embed: an id is out of range")
    if ii.size and (ii.min() < 0 or tt.min() < 0):
        ii = np.where(ii < 0, ii + V, ii)  # NumPy's negative indexing, as the reference
        tt = np.where(tt < 0, tt + NT, tt)
    y = np.empty(ids.shape + (E,), dtype=dt)
    cdef Py_ssize_t wrow = we.strides[0] // we.dtype.itemsize
    cdef int nrow = ii.size
    cdef int nt = _threads_for_work(nrow, <Py_ssize_t>nrow * E)
    cdef double e = eps
    cdef Py_ssize_t *pi = <Py_ssize_t*>_ptr(ii)
    cdef Py_ssize_t *pt = <Py_ssize_t*>_ptr(tt)
    cdef void *pw = _ptr(we)
    cdef void *pte = _ptr(te)
    cdef void *pg = _ptr(g)
    cdef void *pb = _ptr(be)
    cdef void *py = _ptr(y)
    cdef bint f32 = dt.itemsize == 4
    if nrow == 0 or E == 0:
        return y
    with nogil:
        if f32:
            _embed_rows[float](nrow, E, pi, pt, <float*>pw, wrow, <float*>pte, <float*>pg, <float*>pb, e,
                               <float*>py, nt)
        else:
            _embed_rows[double](nrow, E, pi, pt, <double*>pw, wrow, <double*>pte, <double*>pg, <double*>pb, e,
                                <double*>py, nt)
    return y
