"""Thread counts of the native kernels and of the BLAS libraries, without oversubscription.

The native kernels parallelise with OpenMP over ``get_num_threads()`` threads: ``set_num_threads(n)``
(or ``with thread_limit(n):``), else ``OMP_NUM_THREADS``, else the cores this process may run on. Inside
their parallel regions every GEMM is a single-threaded BLAS call on its own block of columns, so the BLAS
library behind ``scipy.linalg.cython_blas`` must not start threads of its own: the kernels switch it to
one thread while any of their calls runs (through its ``openblas_set_num_threads``, found with
threadpoolctl) and restore the previous count when the last one ends, also when calls from several Python
threads overlap. NumPy's own BLAS is left alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

ENV_OMP = "OMP_NUM_THREADS"
ENV_GEMM = "ROFORMER_NP_GEMM"
GEMM_CHOICES = ("auto", "avx512", "avx2", "blas")
ENV_LOWP = "ROFORMER_NP_LOWP"
LOWP_CHOICES = ("auto", "amx", "dot", "widen")
_setting: int | None = None
_native = None  # the kernels module, once configure_native() ran


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_num_threads() -> int:
    """``OMP_NUM_THREADS`` (its first entry) if set and valid, else the available cores."""
    value = os.environ.get(ENV_OMP, "").split(",")[0].strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return available_cores()


def get_num_threads() -> int:
    """Threads the native kernels use now."""
    return _setting if _setting is not None else default_num_threads()


def num_threads_source() -> str:
    if _setting is not None:
        return "set_num_threads"
    value = os.environ.get(ENV_OMP, "").split(",")[0].strip()
    return ENV_OMP if value.isdigit() and int(value) > 0 else "available cores"


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads in the native kernels (``None``: back to ``OMP_NUM_THREADS`` / the cores)."""
    global _setting
    if n is not None:
        n = int(n)
        if n < 1:
            raise ValueError(f"num_threads must be a positive integer, got {n}")
    _setting = n
    if _native is not None:
        _native._set_num_threads(get_num_threads())


@contextlib.contextmanager
def thread_limit(n: int | None) -> Iterator[None]:
    """``with thread_limit(1): ...`` runs the enclosed native calls on ``n`` threads (process-wide)."""
    previous = _setting
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(previous)


# ---------------------------------------------------------------------------------------------
# BLAS libraries
# ---------------------------------------------------------------------------------------------
def blas_libraries() -> list[dict]:
    """threadpoolctl's description of the loaded BLAS libraries.

    Without threadpoolctl, the OpenBLAS libraries mapped into this process (from /proc/self/maps) with
    only their path, which is all :func:`configure_native` needs.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return _mapped_openblas()
    return [i for i in threadpool_info() if i.get("user_api") == "blas"]


def _mapped_openblas() -> list[dict]:
    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            fields = [line.split() for line in fh]
    except OSError:
        return []
    paths = {
        f[-1]
        for f in fields
        if len(f) >= 6 and "openblas" in os.path.basename(f[-1]).lower() and ".so" in os.path.basename(f[-1])
    }
    return [
        {
            "user_api": "blas",
            "internal_api": "openblas",
            "filepath": p,
            "version": None,
            "architecture": None,
            "threading_layer": None,
            "num_threads": None,
        }
        for p in sorted(paths)
        if p.startswith("/")
    ]


def scipy_blas_libraries() -> list[dict]:
    """The BLAS libraries scipy's cython_blas may call: scipy's bundled one if present, else all loaded."""
    import importlib

    # make sure scipy's BLAS is loaded; its path, not scipy.linalg's, which would import all of it
    cython_blas = importlib.import_module("scipy.linalg.cython_blas")
    libs = blas_libraries()
    scipy_dir = os.path.dirname(os.path.dirname(os.path.abspath(cython_blas.__file__)))
    own = [i for i in libs if os.path.abspath(i["filepath"]).startswith(scipy_dir)]
    return own or libs


def _openblas_controls(libs: list[dict]) -> list[tuple[int, int]]:
    """(address of get_num_threads, address of set_num_threads) for each OpenBLAS among ``libs``."""
    pairs = []
    for info in libs:
        if info.get("internal_api") != "openblas":
            continue
        try:
            dll = ctypes.CDLL(info["filepath"])
        except OSError:
            continue
        for prefix in ("", "scipy_"):
            for suffix in ("", "64_", "_64"):
                get = getattr(dll, f"{prefix}openblas_get_num_threads{suffix}", None)
                put = getattr(dll, f"{prefix}openblas_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    pairs.append(
                        (ctypes.cast(get, ctypes.c_void_p).value, ctypes.cast(put, ctypes.c_void_p).value)
                    )
                    break
            else:
                continue
            break
    return pairs


def configure_native(module) -> None:
    """Give the kernels module its thread count and the BLAS thread-count setters."""
    global _native
    _native = module
    module._set_num_threads(get_num_threads())
    # One GEMM column block per core: each thread packs the activations once and its own block of the
    # weights once (measured: 8 blocks per GEMM cost 15-60% more at M = 512 on 2 cores). Tied to the
    # machine's cores, not to the thread setting, so results stay identical for every thread count.
    module._set_units_per_gemm(max(2, available_cores()))
    module._set_blas_controls(_openblas_controls(scipy_blas_libraries()))
    if hasattr(module, "_set_gemm_kernel"):
        set_gemm_kernel(requested_gemm_kernel())
    if hasattr(module, "_set_lowp"):
        set_lowp_kernels(requested_lowp_kernels())


def requested_gemm_kernel() -> str:
    """``ROFORMER_NP_GEMM`` (auto, avx512, avx2 or blas; empty means auto); ValueError for anything else."""
    value = os.environ.get(ENV_GEMM, "").strip().lower() or "auto"
    if value not in GEMM_CHOICES:
        raise ValueError(f"{ENV_GEMM} must be one of {GEMM_CHOICES}, got {value!r}")
    return value


def set_gemm_kernel(name: str) -> str:
    """Choose the float32 GEMM of the native kernels (one of :data:`GEMM_CHOICES`): ``"avx512"`` / ``"avx2"``
    are roformer_np's own micro-kernels over packed weights, ``"blas"`` the BLAS library behind scipy, ``"auto"``
    the best this CPU runs. A kernel the CPU lacks is a ValueError. Returns the kernel now in force.

    Weights are packed when a model is built (for the kernel in force then); a model built for a micro-kernel
    still runs on ``"blas"`` (unpacking on every call, slowly), so choose before loading."""
    if name not in GEMM_CHOICES:
        raise ValueError(f"gemm kernel must be one of {GEMM_CHOICES}, got {name!r}")
    if _native is None:
        raise RuntimeError("the native kernels are not loaded")
    return _native._set_gemm_kernel(name)


def requested_lowp_kernels() -> str:
    """``ROFORMER_NP_LOWP`` (auto, amx, dot or widen; empty means auto); ValueError for anything else."""
    value = os.environ.get(ENV_LOWP, "").strip().lower() or "auto"
    if value not in LOWP_CHOICES:
        raise ValueError(f"{ENV_LOWP} must be one of {LOWP_CHOICES}, got {value!r}")
    return value


def set_lowp_kernels(name: str) -> str:
    """Choose how bf16 / int8 weights are multiplied on the AVX-512 GEMM: ``"amx"`` on AMX tiles (tdpbf16ps,
    tdpbusd; packed weights, ValueError without AMX), ``"dot"`` with the dot-product instructions (vdpbf16ps,
    vpdpbusd; ValueError when the CPU has neither), ``"widen"`` with the widening kernels (the same numbers
    from plain FMAs / vpmaddubsw), ``"auto"`` the best of these the CPU has. int8 gives the same bits on
    every path; bf16 on AMX adds in its own order (float32 round-off from the others). Returns the choice
    now in force."""
    if name not in LOWP_CHOICES:
        raise ValueError(f"low-precision kernels must be one of {LOWP_CHOICES}, got {name!r}")
    if _native is None:
        raise RuntimeError("the native kernels are not loaded")
    return _native._set_lowp(name)


def lowp_kernels() -> dict | None:
    """``{"choice", "bf16", "int8"}``: the choice and the instructions the bf16 / int8 GEMMs use now."""
    return _native._get_lowp() if _native is not None and hasattr(_native, "_get_lowp") else None


def gemm_kernel() -> str | None:
    """The float32 GEMM in force (``"avx512"``, ``"avx2"``, ``"blas"``), None without native kernels."""
    return _native._get_gemm_kernel() if _native is not None and hasattr(_native, "_get_gemm_kernel") else None
