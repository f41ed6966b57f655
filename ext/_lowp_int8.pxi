# int8 weights (csrc/rnp_gemm_i8*.c, numerics in csrc/rnp_lowp.h): symmetric per-output-channel
# weights q_w * scale packed once into 32-column panels of 4-k words (PackedInt8Weight, with the column sums
# that vpdpbusd's unsigned operand needs), activations quantized per row on the fly, exact int32 sums,
# dequantized in the tile write-out. vpdpbusd (AVX512_VNNI) or the widening vpmaddubsw kernel (AVX2).
# Included by kernels.pyx after _lowp_bf16.pxi.

from libc.stdint cimport int8_t, int32_t, int64_t

cdef extern from "csrc/rnp_lowp.h":
    void rnp_quantize_rows(int m, int k, const float *x, long ldx, int8_t *q, long ldq, float *scale) noexcept nogil
    long rnp_i8_packed_words(int n, int k) noexcept nogil
    void rnp_i8_pack(const int8_t *w, long ldw, int n, int k, int8_t *packed, int32_t *colsum,
                     int nthreads) noexcept nogil
    void rnp_i8_unpack(const int8_t *packed, int n, int k, int8_t *w, int nthreads) noexcept nogil
    int rnp_gemm_i8(int kernel, int dot, int m, int n, int k, const float *a, long lda, const int8_t *bp,
                    const int32_t *colsum, const int8_t *w, long ldw, const float *w_scale, float *y, long ldy,
                    const float *bias, int code, int epilogue, int nthreads) noexcept nogil
    int rnp_gemm_i8_acc(int kernel, int dot, int m, int n, int k, const int8_t *qa, long ldqa, const int8_t *bp,
                        const int32_t *colsum, const int8_t *w, long ldw, int32_t *acc, long ldacc,
                        int nthreads) noexcept nogil


cdef object _int8_rows(object q, str name):
    """``q`` (int8 [n, k] in [-127, 127]) as rows the packer reads in place (else a C copy) and their
    stride in bytes; ValueError naming the argument otherwise."""
    q = np.asarray(q)
    if q.dtype != np.int8:
        raise ValueError(f"{name} must be an int8 array, got dtype {q.dtype}")
    if q.ndim != 2:
        raise ValueError(f"{name} must be 2-D [n, k], got shape {q.shape}")
    if q.shape[1] > RNP_I8_MAX_K:
        raise ValueError(f"{name}: k = {q.shape[1]} is above the int8 GEMM's limit {RNP_I8_MAX_K}")
    if q.size and (q == -128).any():
        raise ValueError(f"{name} values must lie in [-127, 127] (symmetric int8), found -128")
    q = _rowview(q, np.dtype(np.int8))
    cdef Py_ssize_t ld = q.strides[0] if q.shape[0] > 1 else q.shape[1]
    return q, ld


cdef object _int8_scale(object scale, int n, str name):
    """``scale`` as a C-contiguous float32 [n] of finite values >= 0; ValueError naming it otherwise."""
    s = np.asarray(scale)
    if s.dtype != np.float32:
        raise ValueError(f"{name} must be a float32 array, got dtype {s.dtype}")
    if s.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one per output row), got {s.shape}")
    if not np.isfinite(s).all() or (s < 0).any():
        raise ValueError(f"{name} values must be finite and >= 0")
    return np.ascontiguousarray(s)


cdef class PackedInt8Weight:
    """An int8 weight ``q [N, K]`` with per-row scales (``w ~ q * scale[:, None]``) in the VNNI panel layout.

    ``panels`` is int8 ``[ceil(N / 32), ceil(K / 4), 32, 4]``: panel p holds output features 32p .. 32p + 31,
    each 32-bit word the 4 consecutive k one vpdpbusd lane consumes, zero beyond N and K. ``colsum[j]`` is
    ``sum_k q[j, k]`` (int32, ``ceil(N / 32) * 32``, zero beyond N). As an array (``np.asarray``, ``.T``,
    indexing, ``unpack()``) it is the dequantized float32 ``q * scale``; ``int8()`` gives ``(q, scale)``.
    """
    cdef readonly object panels
    cdef readonly object colsum
    cdef readonly object scale
    cdef readonly int n
    cdef readonly int k

    def __init__(self, panels, colsum, scale, int n, int k):
        panels, colsum, scale = np.asarray(panels), np.asarray(colsum), np.asarray(scale)
        np_ = (n + RNP_NR - 1) // RNP_NR
        if panels.dtype != np.int8 or not panels.flags.c_contiguous or \
                panels.shape != (np_, (k + 3) // 4, RNP_NR, 4):
            raise ValueError(f"panels must be C-contiguous int8 [ceil(n / {RNP_NR}), ceil(k / 4), {RNP_NR}, 4]")
        if colsum.dtype != np.int32 or not colsum.flags.c_contiguous or colsum.shape != (np_ * RNP_NR,):
            raise ValueError(f"colsum must be C-contiguous int32 [ceil(n / {RNP_NR}) * {RNP_NR}]")
        if scale.dtype != np.float32 or not scale.flags.c_contiguous or scale.shape != (n,):
            raise ValueError("scale must be C-contiguous float32 [n]")
        if k > RNP_I8_MAX_K:
            raise ValueError(f"k = {k} is above the int8 GEMM's limit {RNP_I8_MAX_K}")
        self.panels, self.colsum, self.scale, self.n, self.k = panels, colsum, scale, n, k

    def _rebind_panels(self, panels):
        """Hold ``panels`` instead of the current ones: the same bytes elsewhere, e.g. a read-only memory map
        that other processes share (:mod:`roformer_np.panel_cache` compares every byte before calling this)."""
        self.panels = _same_layout(self.panels, panels)

    @property
    def precision(self):
        return "int8"

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
        return self.panels.nbytes + self.colsum.nbytes + self.scale.nbytes

    @property
    def T(self):
        return self.unpack().T

    def __len__(self):
        return self.n

    def int8(self):
        """``(q int8 [N, K], scale float32 [N])``: new arrays on every call."""
        q = np.empty((self.n, self.k), dtype=np.int8)
        cdef int8_t *pq = <int8_t*>_ptr(q)
        cdef int8_t *pp = <int8_t*>_ptr(self.panels)
        cdef int n = self.n, k = self.k, nt = _threads_for_work(_num_threads, <Py_ssize_t>n * k // 4)
        if n and k:
            with nogil:
                rnp_i8_unpack(pp, n, k, pq, nt)
        return q, self.scale.copy()

    def unpack(self):
        """The dequantized ``[N, K]`` float32 array ``q * scale[:, None]`` (a new one on every call)."""
        q, s = self.int8()
        return q.astype(np.float32) * s[:, None]

    def __array__(self, dtype=None, copy=None):
        a = self.unpack()
        return a if dtype is None else a.astype(dtype, copy=False)

    def __getitem__(self, key):
        ids = _row_ids(key)  # rows by integer index (the embedding gather): from the panels, dequantized
        return self.unpack()[key] if ids is None else self._rows(ids)

    cdef object _rows(self, object ids):
        """Rows ``ids`` (any shape of integers) -> float32 ``ids.shape + (k,)``: q * scale of each row."""
        flat = _flat_rows(ids, self.n)
        out = np.empty((flat.size, self.k), dtype=np.float32)
        cdef const int64_t[::1] rid = np.ascontiguousarray(flat, dtype=np.int64)
        cdef const int8_t[:, :, ::1] pan = self.panels.reshape(self.panels.shape[0], -1, RNP_NR * 4)
        cdef const float[::1] sc = self.scale
        cdef float[:, ::1] o = out
        cdef Py_ssize_t r, kk, v, col
        cdef int k = self.k
        with nogil:
            for r in range(rid.shape[0]):
                v = rid[r]
                col = (v % RNP_NR) * 4
                for kk in range(k):  # word kk // 4 of the panel, byte kk % 4 of row v's word
                    o[r, kk] = pan[v // RNP_NR, kk // 4, col + kk % 4] * sc[v]
        return out.reshape(tuple(ids.shape) + (self.k,))

    def __reduce__(self):
        return (pack_int8, self.int8())

    def __repr__(self):
        return f"PackedInt8Weight(shape={self.shape}, precision='int8', panels={RNP_NR} columns x 4 k)"


def pack_int8(q, scale):
    """``q`` int8 ``[N, K]`` in [-127, 127] (any strides) and ``scale`` float32 ``[N]`` (finite, >= 0)
    -> :class:`PackedInt8Weight` (the panels and the column sums)."""
    cdef Py_ssize_t ld
    qv, ld = _int8_rows(q, "q")
    cdef int n = qv.shape[0], k = qv.shape[1]
    s = _int8_scale(scale, n, "scale")
    np_ = (n + RNP_NR - 1) // RNP_NR
    panels = _pages().empty_panels((np_, (k + 3) // 4, RNP_NR, 4), np.int8)
    colsum = np.zeros(np_ * RNP_NR, dtype=np.int32)
    cdef int8_t *pw = <int8_t*>_ptr(qv)
    cdef int8_t *pp = <int8_t*>_ptr(panels)
    cdef int32_t *pc = <int32_t*>_ptr(colsum)
    cdef int nt = _threads_for_work(_num_threads, <Py_ssize_t>n * k // 4)
    if n and k:
        with nogil:
            rnp_i8_pack(pw, ld, n, k, pp, pc, nt)
    return PackedInt8Weight(panels, colsum, s, n, k)


def quantize_rows(x):
    """Per-row (per-token) symmetric quantization of ``x [M, K]`` (float32; other floats are converted):
    ``(q int8 [M, K], scale float32 [M])`` with ``amax = max |x[i]|``, ``q = clip(rint(x * (127 / amax)),
    -127, 127)``, ``scale = amax / 127`` in float32 (rnp_lowp.h), as the GEMM quantizes its input."""
    xa = np.asarray(x)
    if xa.dtype.kind != "f":
        raise ValueError(f"x must be a float array, got dtype {xa.dtype}")
    if xa.ndim != 2:
        raise ValueError(f"x must be 2-D [M, K], got shape {xa.shape}")
    xa = _rowview(xa, np.dtype(np.float32))
    cdef int m = xa.shape[0], k = xa.shape[1]
    cdef long ldx = xa.strides[0] // 4 if m > 1 else k
    q = np.empty((m, k), dtype=np.int8)
    scale = np.empty(m, dtype=np.float32)
    cdef float *px = <float*>_ptr(xa)
    cdef int8_t *pq = <int8_t*>_ptr(q)
    cdef float *ps = <float*>_ptr(scale)
    if m:
        with nogil:
            rnp_quantize_rows(m, k, px, ldx, pq, k, ps)
    return q, scale


cdef int _int8_kernel(str kernel) except -1:
    """The C kernel code of a test hook's ``kernel``; ValueError when this CPU cannot run it."""
    if kernel not in ("avx512", "avx2"):
        raise ValueError(f"kernel must be 'avx512' or 'avx2', got {kernel!r}")
    cdef int code_k = GEMM_KERNELS.index(kernel)
    if not rnp_gemm_cpu_supports(code_k):
        raise ValueError(f"kernel {kernel!r}: this CPU does not support it")
    return code_k


cdef object _int8_weight(object weight):
    """A test hook's ``weight``: (packed, None, 0, scale) for a PackedInt8Weight, (None, q rows, ld, scale)
    for a ``(q, scale)`` pair (the plain-rows path)."""
    if isinstance(weight, PackedInt8Weight):
        return weight, None, 0, (<PackedInt8Weight>weight).scale
    if isinstance(weight, tuple) and len(weight) == 2:
        qv, ld = _int8_rows(weight[0], "weight q")
        return None, qv, ld, _int8_scale(weight[1], qv.shape[0], "weight scale")
    raise ValueError(f"weight must be a PackedInt8Weight or a (q, scale) pair, got {type(weight).__name__}")


def _gemm_int8_forced(x, weight, bias=None, str kernel="avx512", object dot=True, int code=0):
    """Test hook: ``act(quantize_rows(x) . q.T * scales + bias)`` on the named micro-kernel (``dot``: True
    vpdpbusd, "amx" AMX tiles for a packed weight, False the widening AVX2 kernel), whatever the kernels in force. ``weight``: a PackedInt8Weight
    or a ``(q, scale)`` pair (plain rows, packed slice by slice on the fly); x ``[M, K]`` float32."""
    cdef int code_k = _int8_kernel(kernel)
    cdef int mode = _forced_dot(dot, code_k, RNP_DOT_VNNI, "int8 GEMM")
    packed, qv, ldw_, sw = _int8_weight(weight)
    cdef int n = sw.shape[0]
    cdef int k = packed.k if packed is not None else qv.shape[1]
    xa = np.asarray(x)
    if xa.dtype != np.float32 or xa.ndim != 2 or xa.shape[1] != k:
        raise ValueError(f"x must be float32 [M, {k}], got {xa.dtype} {xa.shape}")
    xa = _rowview(xa, np.dtype(np.float32))
    cdef int m = xa.shape[0]
    cdef long ldx = xa.strides[0] // 4 if m > 1 else k
    bb = None
    if bias is not None:
        bb = np.asarray(bias)
        if bb.dtype != np.float32 or bb.shape != (n,):
            raise ValueError(f"bias must be float32 [{n}], got {bb.dtype} {bb.shape}")
        bb = np.ascontiguousarray(bb)
    if code < 0 or code > 12:
        raise ValueError(f"code must be an activation code in [0, 12], got {code}")
    y = np.empty((m, n), dtype=np.float32)
    cdef const int8_t *bp = NULL
    cdef const int32_t *cs = NULL
    cdef const int8_t *wp = NULL
    cdef long ldw = ldw_
    if packed is not None:
        bp = <int8_t*>_ptr((<PackedInt8Weight>packed).panels)
        cs = <int32_t*>_ptr((<PackedInt8Weight>packed).colsum)
    else:
        wp = <int8_t*>_ptr(qv)
    cdef float *px = <float*>_ptr(xa)
    cdef float *py = <float*>_ptr(y)
    cdef float *pb = <float*>_ptr(bb)
    cdef float *ps = <float*>_ptr(sw)
    cdef int nt = _gemm_threads(_num_threads, m, n, k)
    cdef int rc = 0
    if m and n:
        with nogil:
            rc = rnp_gemm_i8(code_k, mode, m, n, k, px, ldx, bp, cs, wp, ldw, ps, py, n, pb, code,
                             pb != NULL or code != 0, nt)
    if rc != 0:
        raise MemoryError("int8 GEMM: could not allocate its activation buffer")
    return y


def _int8_acc_forced(qx, weight, str kernel="avx512", object dot=True):
    """Test hook: the int32 sums ``qx . q.T`` (qx int8 [M, K] in [-127, 127], already quantized) on the
    named micro-kernel; ``weight`` as for :func:`_gemm_int8_forced`."""
    cdef int code_k = _int8_kernel(kernel)
    cdef int mode = _forced_dot(dot, code_k, RNP_DOT_VNNI, "int8 GEMM")
    packed, qv, ldw_, sw = _int8_weight(weight)
    cdef int n = sw.shape[0]
    cdef int k = packed.k if packed is not None else qv.shape[1]
    cdef Py_ssize_t ldq_
    qa, ldq_ = _int8_rows(qx, "qx")
    if qa.shape[1] != k:
        raise ValueError(f"qx must be int8 [M, {k}], got shape {qa.shape}")
    cdef int m = qa.shape[0]
    acc = np.empty((m, n), dtype=np.int32)
    cdef const int8_t *bp = NULL
    cdef const int32_t *cs = NULL
    cdef const int8_t *wp = NULL
    cdef long ldw = ldw_, ldq = ldq_
    if packed is not None:
        bp = <int8_t*>_ptr((<PackedInt8Weight>packed).panels)
        cs = <int32_t*>_ptr((<PackedInt8Weight>packed).colsum)
    else:
        wp = <int8_t*>_ptr(qv)
    cdef int8_t *pq = <int8_t*>_ptr(qa)
    cdef int32_t *pa = <int32_t*>_ptr(acc)
    cdef int nt = _gemm_threads(_num_threads, m, n, k)
    cdef int rc = 0
    if m and n:
        with nogil:
            rc = rnp_gemm_i8_acc(code_k, mode, m, n, k, pq, ldq, bp, cs, wp, ldw, pa, n, nt)
    if rc != 0:
        raise MemoryError("int8 GEMM: could not allocate its activation buffer")
    return acc
