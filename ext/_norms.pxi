# Activations in float64, residual + LayerNorm / RMS norm rows, and the embedding gather + norm.
# Included by kernels.pyx (one module: shared state, fused types and inlining across files).

cdef inline double _sigmoid(double x) noexcept nogil:
    cdef double e = exp(-x if x >= 0 else x)
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


def libm_erf(x):
    """libm's ``erf`` of each element of a float64 array (the values ``math.erf`` gives), in a new C-contiguous
    array of the same shape: roformer_np.activations rounds it to scipy's float32 erf without a Python call per
    element (and without importing scipy.special)."""
    xa = np.asarray(x, dtype=np.float64)
    if not xa.flags.c_contiguous:
        xa = xa.copy()  # (np.ascontiguousarray would make a 0-d array 1-d)
    out = np.empty(xa.shape, dtype=np.float64)
    cdef Py_ssize_t n = xa.size, i
    cdef const double *px = <const double*>_ptr(xa)
    cdef double *po = <double*>_ptr(out)
    cdef int nt = _threads_for_work(_num_threads, n)
    if n:
        with nogil:
            for i in prange(n, num_threads=nt, schedule="static"):
                po[i] = erf(px[i])
    return out


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
    if _lowp_kind(word_embeddings) != W_F32:  # bf16 / int8 rows: gathered (and widened) row by row
        return _ops().embed(input_ids, token_type_ids, word_embeddings, token_type_embeddings, ln_weight, ln_bias,
                            eps)
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
