# roformer_np's own float32 GEMM (csrc/rnp_gemm*.c): weights packed once into 32-column panels
# (PackedWeight), AVX-512F or AVX2+FMA micro-kernels chosen from CPUID at run time, tiles handed out to
# threads by an atomic counter. The BLAS path (_blas_gemm.pxi) stays for float64, for CPUs with neither
# instruction set, and whenever ROFORMER_NP_GEMM=blas.
# Included by kernels.pyx.

cdef extern from "csrc/rnp_gemm.h":
    int RNP_NR
    int RNP_GEMM_BLAS
    int RNP_GEMM_AVX2
    int RNP_GEMM_AVX512
    int rnp_gemm_cpu_supports(int kernel) noexcept nogil
    long rnp_packed_size(int n, int k) noexcept nogil
    void rnp_pack_b(const float *w, long ldw, int n, int k, float *packed, int nthreads) noexcept nogil
    void rnp_unpack_b(const float *packed, int n, int k, float *w, int nthreads) noexcept nogil
    int rnp_sgemm(int kernel, int m, int n, int k, const float *a, long lda, const float *bp, const float *w,
                  long ldw, const float *bk, long ldbk, float *y, long ldy, const float *bias, int code, int epilogue,
                  int nthreads) noexcept nogil

GEMM_KERNELS = ("blas", "avx2", "avx512")  # index = the C enum


cdef int _best_kernel():
    if rnp_gemm_cpu_supports(RNP_GEMM_AVX512):
        return RNP_GEMM_AVX512
    if rnp_gemm_cpu_supports(RNP_GEMM_AVX2):
        return RNP_GEMM_AVX2
    return RNP_GEMM_BLAS


cdef int _gemm_kernel = _best_kernel()


def _set_gemm_kernel(str name):
    """Choose the float32 GEMM: ``"auto"`` (the best this CPU runs), ``"avx512"``, ``"avx2"`` or ``"blas"``.

    Returns the name now in force. A kernel this CPU cannot run is a ValueError (never a crash)."""
    global _gemm_kernel
    if name == "auto":
        _gemm_kernel = _best_kernel()
        return GEMM_KERNELS[_gemm_kernel]
    if name not in GEMM_KERNELS:
        raise ValueError(f"GEMM kernel must be one of {('auto',) + GEMM_KERNELS}, got {name!r}")
    code = GEMM_KERNELS.index(name)
    if not rnp_gemm_cpu_supports(code):
        raise ValueError(f"GEMM kernel {name!r}: this CPU does not support it")
    _gemm_kernel = code
    return name


def _get_gemm_kernel():
    return GEMM_KERNELS[_gemm_kernel]


def _gemm_cpu_supports(str name):
    return bool(rnp_gemm_cpu_supports(GEMM_KERNELS.index(name)))


cdef object _row_ids(object key):
    """``key`` as an int64 array when it selects rows by integer index (an embedding gather), else None."""
    if (isinstance(key, (int, np.integer)) and not isinstance(key, bool)) or (
            isinstance(key, (list, np.ndarray)) and np.asarray(key).dtype.kind in "iu"):
        return np.asarray(key, dtype=np.int64)
    return None


cdef object _flat_rows(object ids, int n):
    """``ids`` flattened, negative ones from the end; IndexError outside [-n, n)."""
    flat = ids.reshape(-1)
    if flat.size and (flat.min() < -n or flat.max() >= n):
        raise IndexError(f"row index out of range for a weight of {n} rows")
    return np.where(flat < 0, flat + n, flat)


cdef class PackedWeight:
    """A float32 weight ``[N, K]`` (PyTorch's ``[out, in]``) held only in the micro-kernels' panel layout.

    ``panels`` is ``[ceil(N / 32), K, 32]``: panel p holds output features 32p .. 32p + 31, k-major, zero
    beyond N. The Hugging Face layout comes back on demand (``unpack()``, ``np.asarray``, ``.T``, indexing):
    a new array each time, so the reference (NumPy) path can still run a model that holds packed weights.
    """
    cdef readonly object panels
    cdef readonly int n
    cdef readonly int k

    def __init__(self, panels, int n, int k):
        panels = np.asarray(panels)
        if panels.dtype != np.float32 or not panels.flags.c_contiguous or \
                panels.shape != ((n + RNP_NR - 1) // RNP_NR, k, RNP_NR):
            raise ValueError(f"panels must be C-contiguous float32 [ceil(n / {RNP_NR}), k, {RNP_NR}]")
        self.panels, self.n, self.k = panels, n, k

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

    def _rebind_panels(self, panels):
        """Hold ``panels`` instead of the current ones: the same bytes elsewhere, e.g. a read-only memory map
        that other processes share (:mod:`roformer_np.panel_cache` compares every byte before calling this)."""
        self.panels = _same_layout(self.panels, panels)

    def unpack(self):
        """The ``[N, K]`` float32 array (a new one on every call)."""
        out = np.empty((self.n, self.k), dtype=np.float32)
        cdef float *po = <float*>_ptr(out)
        cdef float *pp = <float*>_ptr(self.panels)
        cdef int n = self.n, k = self.k, nt = _threads_for_work(_num_threads, <Py_ssize_t>n * k)
        if n and k:
            with nogil:
                rnp_unpack_b(pp, n, k, po, nt)
        return out

    def __array__(self, dtype=None, copy=None):
        a = self.unpack()
        return a if dtype is None else a.astype(dtype, copy=False)

    def _rows(self, ids):
        """Rows ``ids`` (integer array of any shape, negative from the end) straight from the panels."""
        flat = _flat_rows(ids, self.n)
        out = self.panels[flat // RNP_NR, :, flat % RNP_NR]  # [len, K]: row v is column v % 32 of its panel
        return out.reshape(tuple(ids.shape) + (self.k,))

    def __getitem__(self, key):
        ids = _row_ids(key)  # rows by integer index (the embedding gather): from the panels, nothing unpacked
        return self.unpack()[key] if ids is None else self._rows(ids)

    def __reduce__(self):
        return (pack_weight, (self.unpack(),))

    def __repr__(self):
        return f"PackedWeight(shape={self.shape}, panels={RNP_NR} columns)"


def pack_weight(weight):
    """``weight [N, K]`` (any float dtype, any strides) -> :class:`PackedWeight` (float32 panels)."""
    w = np.ascontiguousarray(weight, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"pack_weight: weight must be 2-D [out, in], got shape {w.shape}")
    cdef int n = w.shape[0], k = w.shape[1]
    panels = _pages().empty_panels(((n + RNP_NR - 1) // RNP_NR, k, RNP_NR), np.float32)
    cdef float *pw = <float*>_ptr(w)
    cdef float *pp = <float*>_ptr(panels)
    cdef int nt = _threads_for_work(_num_threads, <Py_ssize_t>n * k)
    if n and k:
        with nogil:
            rnp_pack_b(pw, k, n, k, pp, nt)
    return PackedWeight(panels, n, k)


def pack_weight_rows(parts):
    """The row-wise concatenation of ``parts`` (2-D, one width) as a :class:`PackedWeight`, the same panels as
    ``pack_weight(np.concatenate(parts))`` without that copy: each part whose rows start a panel (every part
    before the last a multiple of 32 rows: the stacked q / k / v weights) is packed into its own panels."""
    ws = [np.ascontiguousarray(part, dtype=np.float32) for part in parts]
    if not ws or any(w.ndim != 2 for w in ws) or len({w.shape[1] for w in ws}) != 1:
        raise ValueError("pack_weight_rows: parts must be a non-empty list of 2-D [rows, in] arrays of one width, "
                         f"got shapes {[w.shape for w in ws]}")
    if any(w.shape[0] % RNP_NR for w in ws[:-1]):
        return pack_weight(np.concatenate(ws))
    cdef int k = ws[0].shape[1], n = sum(w.shape[0] for w in ws), rows, nt
    panels = _pages().empty_panels(((n + RNP_NR - 1) // RNP_NR, k, RNP_NR), np.float32)
    cdef float *pp = <float*>_ptr(panels)
    cdef float *pw
    cdef long first = 0
    for w in ws:
        rows = w.shape[0]
        pw = <float*>_ptr(w)
        nt = _threads_for_work(_num_threads, <Py_ssize_t>rows * k)
        if rows and k:
            with nogil:
                rnp_pack_b(pw, k, rows, k, pp + first * k, nt)  # the part's first panel: rows first .. (first % 32 == 0)
        first += rows
    return PackedWeight(panels, n, k)


cdef inline bint _own_gemm(object dt, int k) noexcept:
    """Whether a float32 product of reduction size k runs on our micro-kernels (k = 0 is left to BLAS's
    path, which fills the output with the bias)."""
    return _gemm_kernel != RNP_GEMM_BLAS and dt.itemsize == 4 and k > 0


cdef inline object _wt(object w, object dt, bint own):
    """A weight as the chosen path reads it: a PackedWeight as it is on our GEMM, else a C-contiguous
    array of ``dt`` (a PackedWeight unpacked: slow, only on a forced BLAS path or in float64)."""
    if own and isinstance(w, PackedWeight):
        return w
    return _c(w, dt)


cdef inline void _weight_ptrs(object w, float **bp, float **wp):
    """Packed panels (bp) or plain rows (wp) of a float32 weight; the other pointer is NULL."""
    if isinstance(w, PackedWeight):
        bp[0] = <float*>_ptr((<PackedWeight>w).panels)
        wp[0] = NULL
    else:
        bp[0] = NULL
        wp[0] = <float*>_ptr(w)


def _gemm_forced(x, weight, bias=None, str kernel="avx512", int code=0):
    """Test hook: ``act(x @ weight.T + bias)`` on the named micro-kernel (weight plain or packed), whatever
    the kernel in force; x [M, K] float32."""
    xa = _c(x, np.float32)
    w = weight if isinstance(weight, PackedWeight) else _c(weight, np.float32)
    bb = _c(bias, np.float32)
    cdef int m = xa.shape[0], n = w.shape[0], k = w.shape[1]
    if xa.shape[1] != k:
        raise ValueError("x and weight do not chain")
    y = np.zeros((m, n), dtype=np.float32)
    cdef float *bp
    cdef float *wp
    _weight_ptrs(w, &bp, &wp)
    cdef int code_k = GEMM_KERNELS.index(kernel)
    if not rnp_gemm_cpu_supports(code_k) or code_k == RNP_GEMM_BLAS:
        raise ValueError(f"kernel {kernel!r} is not a micro-kernel this CPU runs")
    cdef float *px = <float*>_ptr(xa)
    cdef float *py = <float*>_ptr(y)
    cdef float *pb = <float*>_ptr(bb)
    with nogil:
        rnp_sgemm(code_k, m, n, k, px, k, bp, wp, k, NULL, 0, py, n, pb, code, pb != NULL or code != 0,
                  _gemm_threads(_num_threads, m, n, k))
    return y


cdef inline int _kdim(object w):
    """The reduction size K of a weight [N, K] (a PackedWeight is not unpacked to find it)."""
    shape = np.shape(w)
    return shape[-1] if len(shape) else 0
