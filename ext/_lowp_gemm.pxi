# One GEMM call for any weight: float32 (PackedWeight or rows), bf16 (PackedBF16Weight or a plain
# roformer_np.lowp.BF16Weight) or int8 (PackedInt8Weight or a plain Int8Weight). The kernels fill a WRef
# from the weight while holding the GIL, then multiply without it. Low-precision weights run here only on
# roformer_np's micro-kernels in float32; elsewhere (ROFORMER_NP_GEMM=blas, float64) the kernels hand them
# to the NumPy reference, which emulates the same rounding (roformer_np.lowp) -- never a plain float GEMM.
# Included by kernels.pyx after _lowp_bf16.pxi and _lowp_int8.pxi.

from libc.stdint cimport uint16_t, int8_t, int32_t

cdef enum:
    W_F32 = 0
    W_BF16 = 1
    W_INT8 = 2


cdef struct WRef:
    int kind
    const void *bp       # packed panels, or NULL
    const void *w        # plain rows [n, ldw], or NULL
    long ldw
    const int32_t *colsum
    const float *scale


cdef inline int _lowp_kind(object w):
    """W_BF16 / W_INT8 for a low-precision weight (packed or a plain container), else W_F32."""
    if type(w) is np.ndarray or w is None or isinstance(w, PackedWeight):
        return W_F32
    if isinstance(w, PackedBF16Weight):
        return W_BF16
    if isinstance(w, PackedInt8Weight):
        return W_INT8
    precision = getattr(w, "precision", None)
    if precision == "bfloat16":
        return W_BF16
    if precision == "int8":
        return W_INT8
    return W_F32


cdef inline bint _lowp_runs_here(object dt):
    """Whether bf16 / int8 weights multiply on our micro-kernels now (else: the NumPy reference)."""
    return _gemm_kernel != RNP_GEMM_BLAS and dt.itemsize == 4


cdef object _plain_rows(object rows, object dtype, int word):
    """C-contiguous rows of ``dtype`` whose row stride is a whole number of 32-bit words (a padded copy
    only when the width is not: small odd-width test models)."""
    a = np.ascontiguousarray(rows, dtype=dtype)
    if a.ndim != 2:
        raise ValueError(f"a low-precision weight must be 2-D [out, in], got shape {a.shape}")
    if a.shape[1] % word:
        padded = np.zeros((a.shape[0], a.shape[1] + word - a.shape[1] % word), dtype=dtype)
        padded[:, : a.shape[1]] = a
        a = padded
    return a


cdef object _wref(object w, WRef *r):
    """Fill r from a weight (the GIL held); returns what must stay alive while r is used (a converted copy
    of plain rows, or None). Plain float32 weights must already be C-contiguous float32."""
    keep = None
    r.kind = _lowp_kind(w)
    r.bp = NULL
    r.w = NULL
    r.ldw = 0
    r.colsum = NULL
    r.scale = NULL
    if r.kind == W_F32:
        if isinstance(w, PackedWeight):
            r.bp = _ptr((<PackedWeight>w).panels)
        else:
            r.w = _ptr(w)
            r.ldw = w.shape[1]
    elif r.kind == W_BF16:
        if isinstance(w, PackedBF16Weight):
            r.bp = _ptr((<PackedBF16Weight>w).panels)
        else:
            keep = _plain_rows(w.bits, np.uint16, 2)
            r.w = _ptr(keep)
            r.ldw = keep.shape[1]
    else:
        if isinstance(w, PackedInt8Weight):
            r.bp = _ptr((<PackedInt8Weight>w).panels)
            r.colsum = <const int32_t*>_ptr((<PackedInt8Weight>w).colsum)
            r.scale = <const float*>_ptr((<PackedInt8Weight>w).scale)
        else:
            keep = (_plain_rows(w.q, np.int8, 4), np.ascontiguousarray(w.scale, dtype=np.float32))
            r.w = _ptr(keep[0])
            r.ldw = keep[0].shape[1]
            r.scale = <const float*>_ptr(keep[1])
    return keep


cdef inline int _gemm_w(const WRef *r, int m, int n, int k, const float *x, int ldx, float *y, int ldy,
                        const float *bias, int code, bint epilogue) noexcept nogil:
    """y[m, n] = act(x @ w.T + bias) on our micro-kernels for the weight r describes. Nonzero: out of memory."""
    cdef int nt = _gemm_threads(_num_threads, m, n, k)
    cdef bint avx512 = _gemm_kernel == RNP_GEMM_AVX512
    if r.kind == W_F32:
        return rnp_sgemm(_gemm_kernel, m, n, k, x, ldx, <const float*>r.bp, <const float*>r.w, r.ldw, NULL, 0,
                         y, ldy, bias, code, epilogue, nt)
    if r.kind == W_BF16:
        return rnp_gemm_bf16(_gemm_kernel, _lowp_bf16 if avx512 else RNP_LOWP_WIDEN, m, n, k, x, ldx, <const uint16_t*>r.bp,
                             <const uint16_t*>r.w, r.ldw, y, ldy, bias, code, epilogue, nt)
    return rnp_gemm_i8(_gemm_kernel, _lowp_i8 if avx512 else RNP_LOWP_WIDEN, m, n, k, x, ldx, <const int8_t*>r.bp, r.colsum,
                       <const int8_t*>r.w, r.ldw, r.scale, y, ldy, bias, code, epilogue, nt)
