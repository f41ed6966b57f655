# GEMMs through scipy's BLAS: the row-major helpers, the feature-major product and the column-unit linear.
# Included by kernels.pyx (one module: shared state, fused types and inlining across files).

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
