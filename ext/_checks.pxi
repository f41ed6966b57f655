# Value checks of loaded weights: how many NaN / infinities a tensor holds (roformer_np.weights.require_finite).
# Included by kernels.pyx (one module: shared state, fused types and inlining across files).
from libc.stdint cimport uint64_t

# A float is NaN or infinite exactly when all its exponent bits are set.
_EXPONENT_BITS = {np.dtype(np.float16): 0x7C00, np.dtype(np.float32): 0x7F800000,
                  np.dtype(np.float64): 0x7FF0000000000000}
_BF16_EXPONENT_BITS = 0x7F80


def count_nonfinite(a, bint bf16=False):
    """How many NaN or ±inf the C-contiguous float16 / float32 / float64 array ``a`` holds (``bf16``: a uint16
    array of bfloat16 bit patterns), read once on every thread (a memory-mapped tensor is paged in by both).
    Any other array: ValueError (the caller counts with NumPy)."""
    arr = np.asarray(a)
    if not arr.flags.c_contiguous:
        raise ValueError("count_nonfinite: a must be C-contiguous")
    if bf16 and arr.dtype != np.uint16:
        raise ValueError(f"count_nonfinite: bfloat16 bits come as uint16, got {arr.dtype}")
    if not bf16 and arr.dtype not in _EXPONENT_BITS:
        raise ValueError(f"count_nonfinite: a must be float16, float32 or float64, got {arr.dtype}")
    cdef uint64_t mask = _BF16_EXPONENT_BITS if bf16 else _EXPONENT_BITS[arr.dtype]
    cdef Py_ssize_t n = arr.size, blocks = (n + _COUNT_BLOCK - 1) // _COUNT_BLOCK, blk, count = 0
    cdef int size = arr.dtype.itemsize
    cdef int nt = _threads_for_work(_num_threads, n)
    cdef const char *p = <const char*>_ptr(arr) if n else NULL
    with nogil:
        for blk in prange(blocks, num_threads=nt, schedule="static"):
            count += _count_block(p, size, mask, blk * _COUNT_BLOCK,
                                  _COUNT_BLOCK if n - blk * _COUNT_BLOCK > _COUNT_BLOCK else n - blk * _COUNT_BLOCK)
    return count


cdef enum:
    _COUNT_BLOCK = 16384  # elements per parallel task


cdef Py_ssize_t _count_block(const char *p, int size, uint64_t mask, Py_ssize_t first, Py_ssize_t n) noexcept nogil:
    """Elements [first, first + n) whose exponent bits (mask) are all set: plain loops the compiler vectorises."""
    cdef Py_ssize_t i, c = 0
    cdef const uint16_t *p16 = <const uint16_t*>p + first
    cdef const uint32_t *p32 = <const uint32_t*>p + first
    cdef const uint64_t *p64 = <const uint64_t*>p + first
    cdef uint16_t m16 = <uint16_t>mask
    cdef uint32_t m32 = <uint32_t>mask
    if size == 2:
        for i in range(n):
            c += (p16[i] & m16) == m16
    elif size == 4:
        for i in range(n):
            c += (p32[i] & m32) == m32
    else:
        for i in range(n):
            c += (p64[i] & mask) == mask
    return c
