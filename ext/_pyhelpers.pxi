# Python-facing helpers: dtype resolution, contiguity, data pointers, scratch arrays, the fallback.
# Included by kernels.pyx (one module: shared state, fused types and inlining across files).

# ---------------------------------------------------------------------------------------------
# Python-facing helpers
# ---------------------------------------------------------------------------------------------
cdef object _FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


cdef object _ops():
    from roformer_np import ops
    return ops


cdef object _pages():
    from roformer_np import pages  # where the long-lived weight panels get their memory
    return pages


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
    cdef list dts = []
    for a in arrays:
        if a is None:
            continue
        # arrays first: ``hasattr`` on an ndarray raises (and formats) an AttributeError, on every kernel call;
        # packed and bf16 / int8 weights say their dtype: np.asarray would widen a whole matrix just to ask
        if type(a) is np.ndarray or isinstance(a, PackedWeight) or hasattr(a, "precision"):
            dts.append(a.dtype)
        else:
            dts.append(np.asarray(a).dtype)
    if not dts:
        return None
    first = dts[0]
    for d in dts:
        if d is not first:
            dt = np.result_type(*dts)
            return dt if dt in _FLOATS else None
    return first if first in _FLOATS else None


cdef object _same_layout(object held, object panels):
    """``panels`` if it can stand for ``held`` (same dtype, shape, C order): the check of ``_rebind_panels``."""
    panels = np.asarray(panels)
    if panels.dtype != held.dtype or panels.shape != held.shape or not panels.flags.c_contiguous:
        raise ValueError(f"panels must be C-contiguous {held.dtype} {held.shape}, got {panels.dtype} {panels.shape}")
    return panels
