# bf16 weights (csrc/rnp_gemm_bf16*.c, contract in csrc/rnp_lowp.h): PackedBF16Weight holds a weight's
# bfloat16 bit patterns in the word-panel layout of the micro-kernels (two consecutive k of one output column
# per 32-bit word, 32 columns per panel); pack_bf16 / f32_to_bf16 make them; _gemm_bf16_forced is the test
# hook that runs one named kernel. The dispatch of ordinary calls (ext/_lowp_gemm.pxi) reads ``panels``.
# Included by kernels.pyx after _lowp_config.pxi.

from libc.stdint cimport uint16_t, uint32_t, int64_t

cdef extern from "csrc/rnp_lowp.h":
    void rnp_f32_to_bf16(const float *x, long count, uint16_t *out) noexcept nogil
    long rnp_bf16_packed_words(int n, int k) noexcept nogil
    void rnp_bf16_pack(const uint16_t *w, long ldw, int n, int k, uint16_t *packed, int nthreads) noexcept nogil
    void rnp_bf16_unpack(const uint16_t *packed, int n, int k, uint16_t *w, int nthreads) noexcept nogil
    int rnp_gemm_bf16(int kernel, int dot, int m, int n, int k, const float *a, long lda, const uint16_t *bp,
                      const uint16_t *w, long ldw, float *y, long ldy, const float *bias, int code, int epilogue,
                      int nthreads) noexcept nogil


cdef inline object _bf16_widen(object bits):
    """uint16 bf16 bit patterns -> the float32 values they stand for (exact: the upper half of a float32)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


cdef object _bf16_panels_shape(int n, int k):
    return ((n + RNP_NR - 1) // RNP_NR, (k + 1) // 2, RNP_NR, 2)


cdef class PackedBF16Weight:
    """A weight ``[N, K]`` (PyTorch's ``[out, in]``) held as bfloat16 in the micro-kernels' word panels.

    ``panels`` is uint16 ``[ceil(N / 32), ceil(K / 2), 32, 2]``: panel p holds output features 32p .. 32p + 31;
    ``panels[p, t, j]`` is the 32-bit word (k = 2t, k = 2t + 1) of feature 32p + j, zero beyond N and K. It
    behaves as the float32 ``[N, K]`` array of its exact bf16 values (``unpack()``, ``np.asarray``, ``.T``,
    indexing: a new array each time, so the reference path can run a model that holds these weights).
    """
    cdef readonly object panels
    cdef readonly int n
    cdef readonly int k

    def __init__(self, panels, int n, int k):
        panels = np.asarray(panels)
        if n < 0 or k < 0:
            raise ValueError(f"PackedBF16Weight: n and k must be >= 0, got n={n}, k={k}")
        if panels.dtype != np.uint16 or not panels.flags.c_contiguous or panels.shape != _bf16_panels_shape(n, k):
            raise ValueError(f"panels must be C-contiguous uint16 [ceil(n / {RNP_NR}), ceil(k / 2), {RNP_NR}, 2] = "
                             f"{_bf16_panels_shape(n, k)}, got {panels.dtype} {panels.shape}")
        self.panels, self.n, self.k = panels, n, k

    def _rebind_panels(self, panels):
        """Hold ``panels`` instead of the current ones: the same bytes elsewhere, e.g. a read-only memory map
        that other processes share (:mod:`roformer_np.panel_cache` compares every byte before calling this)."""
        self.panels = _same_layout(self.panels, panels)

    @property
    def precision(self):
        return "bfloat16"

    @property
    def shape(self):
        return (self.n, self.k)

    @property
    def dtype(self):
        return np.dtype(np.float32)

    @property
    def ndim(self):
        return 2

    @property
    def size(self):
        return self.n * self.k

    @property
    def nbytes(self):
        return self.panels.nbytes

    @property
    def T(self):
        return self.unpack().T

    def __len__(self):
        return self.n

    def bits(self):
        """The ``[N, K]`` uint16 bf16 bit patterns (a new array on every call)."""
        out = np.empty((self.n, self.k), dtype=np.uint16)
        cdef uint16_t *po = <uint16_t*>_ptr(out)
        cdef uint16_t *pp = <uint16_t*>_ptr(self.panels)
        cdef int n = self.n, k = self.k, nt = _threads_for_work(_num_threads, <Py_ssize_t>n * k)
        if n and k:
            with nogil:
                rnp_bf16_unpack(pp, n, k, po, nt)
        return out

    def unpack(self):
        """The ``[N, K]`` float32 array of the bf16 values (exact; a new one on every call)."""
        return _bf16_widen(self.bits())

    def _rows(self, idx):
        """Rows ``idx`` (integer array of any shape, negative from the end) straight from the panels."""
        flat = _flat_rows(idx, self.n)
        out = np.empty((flat.size, self.k), dtype=np.uint32)  # float32 bits: the bf16 bits in the upper half
        cdef const int64_t[::1] rid = np.ascontiguousarray(flat, dtype=np.int64)
        cdef const uint16_t[:, :, ::1] pan = self.panels.reshape(self.panels.shape[0], -1, RNP_NR * 2)
        cdef uint32_t[:, ::1] o = out
        cdef Py_ssize_t r, kk, v, col
        cdef int k = self.k
        with nogil:
            for r in range(rid.shape[0]):
                v = rid[r]
                col = (v % RNP_NR) * 2
                for kk in range(k):  # word kk // 2 of the panel, half kk % 2 of row v's word
                    o[r, kk] = (<uint32_t>pan[v // RNP_NR, kk // 2, col + kk % 2]) << 16
        return out.view(np.float32).reshape(tuple(idx.shape) + (self.k,))

    def __array__(self, dtype=None, copy=None):
        a = self.unpack()
        return a if dtype is None else a.astype(dtype, copy=False)

    def __getitem__(self, key):
        ids = _row_ids(key)  # rows by integer index (the embedding gather): from the panels, nothing unpacked
        return self.unpack()[key] if ids is None else self._rows(ids)

    def __reduce__(self):
        return (pack_bf16, (self.bits(),))

    def __repr__(self):
        return f"PackedBF16Weight(shape={self.shape}, precision='bfloat16', panels={RNP_NR} columns)"


def pack_bf16(bits):
    """``bits`` uint16 ``[N, K]`` (bf16 bit patterns, any strides) -> :class:`PackedBF16Weight`."""
    b = np.asarray(bits)
    if b.dtype != np.uint16 or b.ndim != 2:
        raise ValueError(f"pack_bf16: bits must be a 2-D uint16 array [out, in] of bfloat16 bit patterns, "
                         f"got {b.dtype} with shape {b.shape}")
    b = _rowview(b, b.dtype)  # rows read in place where they can be (a copy only if needed)
    cdef int n = b.shape[0], k = b.shape[1]
    cdef long ldw = _st(b, 0, k)
    panels = _pages().empty_panels(_bf16_panels_shape(n, k), np.uint16)
    cdef uint16_t *pw = <uint16_t*>_ptr(b)
    cdef uint16_t *pp = <uint16_t*>_ptr(panels)
    cdef int nt = _threads_for_work(_num_threads, <Py_ssize_t>n * k)
    if n and k:
        with nogil:
            rnp_bf16_pack(pw, ldw, n, k, pp, nt)
    return PackedBF16Weight(panels, n, k)


def f32_to_bf16(x):
    """bf16 bit patterns (uint16, same shape) of ``x`` as float32: round to nearest even, overflow to inf,
    NaN to the quiet NaN of the same sign and upper payload (``bits >> 16 | 0x0040``); x of another dtype is
    converted to float32 first."""
    xa = np.asarray(x, dtype=np.float32)
    if not xa.flags.c_contiguous:
        xa = xa.copy(order="C")
    out = np.empty(xa.shape, dtype=np.uint16)
    cdef float *px = <float*>_ptr(xa)
    cdef uint16_t *po = <uint16_t*>_ptr(out)
    cdef long count = xa.size
    with nogil:
        rnp_f32_to_bf16(px, count, po)
    return out


def _gemm_bf16_forced(x, weight, bias=None, str kernel="avx512", object dot=True, int code=0):
    """Test hook: ``act(x @ bf16(weight).T + bias)`` on the named kernel, whatever is in force: ``kernel``
    "avx512" or "avx2", ``dot`` True for vdpbf16ps, "amx" for AMX tiles (AVX-512 only; a plain weight runs on
    vdpbf16ps) or False for the widening kernel. x [M, K] float32 (rounded to
    bf16 inside); weight a PackedBF16Weight, or uint16 bits [N, K] (the plain-rows path: packed slice by slice
    on the fly)."""
    xa = _rowview(np.asarray(x), np.dtype(np.float32))  # strided rows are read in place (lda), like wp's
    cdef const uint16_t *bp = NULL
    cdef const uint16_t *wp = NULL
    cdef int n, k
    cdef long ldw = 0, ldx
    if isinstance(weight, PackedBF16Weight):
        wb = (<PackedBF16Weight>weight).panels
        bp = <uint16_t*>_ptr(wb)
        n, k = (<PackedBF16Weight>weight).n, (<PackedBF16Weight>weight).k
    else:
        wb = np.asarray(weight)
        if wb.dtype != np.uint16 or wb.ndim != 2:
            raise ValueError(f"_gemm_bf16_forced: weight must be a PackedBF16Weight or 2-D uint16 bits [N, K], "
                             f"got {wb.dtype} with shape {wb.shape}")
        wb = _rowview(wb, wb.dtype)
        wp = <uint16_t*>_ptr(wb)
        n, k = wb.shape[0], wb.shape[1]
        ldw = _st(wb, 0, k)
    if xa.ndim != 2 or xa.shape[1] != k:
        raise ValueError(f"_gemm_bf16_forced: x must be [M, {k}], got shape {xa.shape}")
    bb = _c(bias, np.float32)
    if bb is not None and bb.shape != (n,):
        raise ValueError(f"_gemm_bf16_forced: bias must be [{n}], got shape {bb.shape}")
    if kernel not in ("avx512", "avx2") or not rnp_gemm_cpu_supports(GEMM_KERNELS.index(kernel)):
        raise ValueError(f"kernel {kernel!r} is not a micro-kernel this CPU runs")
    cdef int code_k = GEMM_KERNELS.index(kernel)
    cdef int mode = _forced_dot(dot, code_k, RNP_DOT_BF16, "_gemm_bf16_forced")
    cdef int m = xa.shape[0]
    ldx = _st(xa, 0, k)
    y = np.zeros((m, n), dtype=np.float32)
    cdef float *px = <float*>_ptr(xa)
    cdef float *py = <float*>_ptr(y)
    cdef float *pb = <float*>_ptr(bb)
    cdef int rc
    with nogil:
        rc = rnp_gemm_bf16(code_k, mode, m, n, k, px, ldx, bp, wp, ldw, py, n, pb, code, pb != NULL or code != 0,
                           _gemm_threads(_num_threads, m, n, k))
    if rc:
        raise MemoryError("_gemm_bf16_forced: could not allocate the rounded rows of x")
    return y


def _bf16_dot_cpu_supports():
    """Whether this CPU runs vdpbf16ps (AVX512_BF16 with AVX-512F/BW): the tests' list of paths."""
    return bool(rnp_lowp_cpu_supports(RNP_DOT_BF16))
