# Configuration called by roformer_np.threads, the BLAS thread guard, and how many threads a task gets.
# Included by kernels.pyx (one module: shared state, fused types and inlining across files).

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


cdef extern from "csrc/rnp_pool.h":
    void rnp_pool_set_spin_us(int us) nogil
    int rnp_pool_spin_us() nogil
    void rnp_pool_set_yield_us(int us) nogil
    int rnp_pool_yield_us() nogil


def _pool_wait_us(spin=None, yield_=None):
    """(spin, yield): how long an idle worker of the task pool spins, then yields, before it sleeps
    (microseconds); either argument sets it (benchmarks)."""
    if spin is not None:
        rnp_pool_set_spin_us(int(spin))
    if yield_ is not None:
        rnp_pool_set_yield_us(int(yield_))
    return rnp_pool_spin_us(), rnp_pool_yield_us()
