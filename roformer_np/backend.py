"""Backend selection: the NumPy reference (:mod:`roformer_np.ops`) or the compiled kernels.

Every kernel has the name and signature of its reference function (see ``ops.KERNELS``); the backend only
decides which implementation is called. ``"auto"`` (the default) means native when the extension was built.
The choice comes from, in order: an explicit argument, :func:`use_backend` (a context manager), the
``ROFORMER_NP_BACKEND`` environment variable, then ``"auto"``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from types import SimpleNamespace

from . import ops

BACKENDS = ("auto", "numpy", "native")
ENV_BACKEND = "ROFORMER_NP_BACKEND"
ENV_STRICT = "ROFORMER_NP_STRICT"

_state = threading.local()
_native_cache: dict[str, object] = {}
_warned = False


def _native_module():
    """The compiled kernel module, or None (the reason is kept for :func:`show_config`)."""
    if "module" not in _native_cache:
        try:
            from .threads import configure_native

            with _cython_blas_alone():
                with _bounded_spin():
                    module = importlib.import_module("roformer_np._native.kernels")
                configure_native(module)
            _native_cache["module"] = module
            _native_cache["error"] = None
        except ImportError as exc:
            _native_cache["module"] = None
            _native_cache["error"] = str(exc)
    return _native_cache["module"]


CYTHON_BLAS = "scipy.linalg.cython_blas"


@contextlib.contextmanager
def _cython_blas_alone() -> Iterator[None]:
    """Within the block, scipy's cython_blas (whose BLAS the kernels call) is loaded without scipy.linalg.

    The kernels need only its function pointers, which they take when they load; but an ordinary import
    runs scipy.linalg's ``__init__`` first, 0.2 s of start-up (it loads scipy's array-API layer, which walks
    all of NumPy). The module alone costs 0.03 s. Afterwards its ``sys.modules`` entry is removed again, so
    a later ``import scipy.linalg`` binds it as usual (an extension module loads once per process: the same
    module comes back). Anything unexpected leaves it to the ordinary import.
    """
    if CYTHON_BLAS in sys.modules:
        yield
        return
    try:
        scipy_spec = importlib.util.find_spec("scipy")  # finds, does not import
        folders = list(scipy_spec.submodule_search_locations or []) if scipy_spec else []
        paths = [os.path.join(folder, "linalg", "cython_blas" + suffix)
                 for folder in folders for suffix in importlib.machinery.EXTENSION_SUFFIXES]
        path = next((p for p in paths if os.path.isfile(p)), None)
        if path is not None:
            spec = importlib.util.spec_from_file_location(CYTHON_BLAS, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[CYTHON_BLAS] = module
            spec.loader.exec_module(module)
    except Exception:  # any failure: the kernels' own import does it the ordinary way
        sys.modules.pop(CYTHON_BLAS, None)
    try:
        yield
    finally:
        if "scipy.linalg" not in sys.modules:
            sys.modules.pop(CYTHON_BLAS, None)


SPIN_COUNT = "3000"  # libgomp spin iterations before a worker sleeps: about 0.08 ms here


@contextlib.contextmanager
def _bounded_spin() -> Iterator[None]:
    """Load OpenMP with GOMP_SPINCOUNT=3000 unless the user chose a policy (environment restored after).

    Between parallel regions a worker spins briefly, then sleeps. The GEMMs run on roformer_np's own task
    pool (csrc/rnp_pool.c), OpenMP only the attention and row passes between them: an OpenMP worker still
    spinning when the next GEMM starts takes a core from the pool's threads. Measured here (2 cores, base
    model, (1, 128)): a 0.8 ms spin (30000) made the int8 forward 27.5 ms against 22 ms with 0.08 ms (3000),
    bf16 48 against 41 ms, float32 the same; a passive policy (0) paid a futex wake-up per region in
    decoding. libgomp's own default spins about 8 ms after the last region. libgomp reads the variable
    once, when the extension loads it.
    """
    keys = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    chosen = [f"{k}={os.environ[k]}" for k in keys if k in os.environ]
    if _openmp_already_loaded():
        _native_cache["wait_policy"] = "as set when another library loaded the OpenMP runtime first"
        yield
        return
    if chosen:
        _native_cache["wait_policy"] = ", ".join(chosen)
        yield
        return
    _native_cache["wait_policy"] = f"GOMP_SPINCOUNT={SPIN_COUNT} (roformer_np's default: spin ~0.1 ms, then sleep)"
    os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    try:
        yield
    finally:
        os.environ.pop("GOMP_SPINCOUNT", None)


def _openmp_already_loaded() -> bool:
    """Is the system OpenMP runtime (the one the extension links) already mapped? Then it has read its
    environment already. (Vendored copies such as torch's libgomp-<hash>.so are separate runtimes.)"""
    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            names = {os.path.basename(line.split()[-1]) for line in fh if ".so" in line}
    except OSError:
        return False
    return any(n.startswith(("libgomp.so", "libomp.so", "libiomp5.so")) for n in names)


def native_available() -> bool:
    return _native_module() is not None


def strict_mode() -> bool:
    """In strict mode (``ROFORMER_NP_STRICT=1``) a fallback from native to NumPy raises instead."""
    return os.environ.get(ENV_STRICT, "").strip() not in ("", "0")


def current_backend(backend: str | None = None) -> str:
    """The backend name in force: the argument, else the context manager, else the environment."""
    name = backend or getattr(_state, "backend", None) or os.environ.get(ENV_BACKEND, "").strip() or "auto"
    name = name.lower()
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    return name


@contextlib.contextmanager
def use_backend(backend: str | None = None, num_threads: int | None = None) -> Iterator[None]:
    """``with use_backend("numpy"): ...`` runs the enclosed calls on that backend (this thread).

    ``num_threads`` also limits the native kernels' threads inside the block (process-wide, as OpenMP).
    """
    from .threads import thread_limit

    if backend is not None:
        current_backend(backend)  # validate
    previous = getattr(_state, "backend", None)
    if backend is not None:
        _state.backend = backend
    try:
        if num_threads is None:
            yield
        else:
            with thread_limit(num_threads):
                yield
    finally:
        _state.backend = previous


def get_kernels(backend: str | None = None) -> SimpleNamespace:
    """A namespace with every name of ``ops.KERNELS``, bound to the chosen implementation."""
    global _warned
    name = current_backend(backend)
    reference = {k: getattr(ops, k) for k in ops.KERNELS}
    if name == "numpy":
        return SimpleNamespace(name="numpy", **reference)
    module = _native_module()
    if module is None:
        reason = _native_cache.get("error")
        if name == "native" or strict_mode():
            raise RuntimeError(f"the native backend was requested but the extension is not built ({reason})")
        if not _warned:
            warnings.warn(
                "roformer_np: compiled kernels not available; using the NumPy reference path "
                f"(slower). Reason: {reason}",
                RuntimeWarning,
                stacklevel=2,
            )
            _warned = True
        return SimpleNamespace(name="numpy", **reference)
    impl = {k: getattr(module, k, reference[k]) for k in ops.KERNELS}
    return SimpleNamespace(name="native", **impl)


def packs_weights(dtype, backend: str | None = None) -> bool:
    """Whether a model of ``dtype`` built now for ``backend`` holds its linear weights packed: float32, the
    native kernels in force and one of roformer_np's micro-kernels chosen (not ``ROFORMER_NP_GEMM=blas``)."""
    import numpy as np

    from . import threads

    if np.dtype(dtype) != np.float32 or current_backend(backend) == "numpy" or _native_module() is None:
        return False
    return threads.gemm_kernel() in ("avx512", "avx2")


def pack_weight(weight):
    """``weight [N, K]`` in the micro-kernels' panel layout (a PackedWeight: no other copy is kept)."""
    module = _native_module()
    if module is None:
        raise RuntimeError("packing needs the native kernels")
    return module.pack_weight(weight)


def pack_weight_rows(parts):
    """``pack_weight(np.concatenate(parts))`` without the concatenated copy (the stacked q / k / v weights)."""
    module = _native_module()
    if module is None:
        raise RuntimeError("packing needs the native kernels")
    return module.pack_weight_rows(parts)


def packs_lowp(backend: str | None = None) -> bool:
    """Whether bf16 / int8 weights built now for ``backend`` are packed for roformer_np's low-precision
    micro-kernels (native kernels in force with the AVX-512 or AVX2 GEMM). Otherwise they stay in their
    plain containers (:mod:`roformer_np.lowp`) and run on the NumPy reference emulation."""
    from . import threads

    module = _native_module()
    if current_backend(backend) == "numpy" or module is None or not hasattr(module, "pack_int8"):
        return False
    return threads.gemm_kernel() in ("avx512", "avx2")


def pack_lowp(weight):
    """A plain bf16 / int8 container (``precision`` "bfloat16" / "int8") in the micro-kernels' panel layout
    (PackedBF16Weight / PackedInt8Weight: no other copy is kept)."""
    module = _native_module()
    if module is None:
        raise RuntimeError("packing needs the native kernels")
    precision = getattr(weight, "precision", None)
    if precision == "bfloat16":
        return module.pack_bf16(weight.bits)
    if precision == "int8":
        return module.pack_int8(weight.q, weight.scale)
    raise ValueError(f"pack_lowp: weight must be a bfloat16 or int8 container, got {type(weight).__name__}")


BLAS_FIELDS = ("internal_api", "version", "architecture", "threading_layer", "num_threads", "filepath")


def config_info() -> dict:
    """What :func:`show_config` prints, as a dict."""
    from . import threads

    module = _native_module()
    info = {
        "backend": current_backend(),
        "resolved_backend": "native" if (module is not None and current_backend() != "numpy") else "numpy",
        "strict": strict_mode(),
        "native_built": module is not None,
        "native_error": _native_cache.get("error"),
        "native_path": getattr(module, "__file__", None),
        "openmp": bool(getattr(module, "OPENMP", False)),
        "openmp_wait_policy": _native_cache.get("wait_policy"),
        "num_threads": threads.get_num_threads(),
        "num_threads_source": threads.num_threads_source(),
        "gemm_mode": module._get_gemm_mode() if module is not None else None,
        "gemm_kernel": threads.gemm_kernel() if module is not None else None,
        "lowp_kernels": threads.lowp_kernels() if module is not None else None,
        "blas": [
            {k: lib.get(k) for k in BLAS_FIELDS}
            for lib in threads.blas_libraries()
        ],
        "kernels_blas": [lib["filepath"] for lib in threads.scipy_blas_libraries()] if module else [],
    }
    return info


def show_config(file=None) -> dict:
    """Print the backend, whether the extension is built, OpenMP on/off, the GEMM kernel and the thread counts."""
    import sys

    from . import threads

    info = config_info()
    out = file or sys.stdout
    lines = [
        f"roformer_np backend : {info['backend']} -> {info['resolved_backend']}"
        + ("  (strict mode)" if info["strict"] else ""),
        f"native extension    : {'built' if info['native_built'] else 'not built'}"
        + (f" ({info['native_path']})" if info["native_built"] else f" ({info['native_error']})"),
        f"OpenMP              : {'on' if info['openmp'] else 'off'}"
        + (f", wait policy {info['openmp_wait_policy']}" if info["openmp"] else ""),
        f"kernel threads      : {info['num_threads']} (from {info['num_threads_source']})",
    ]
    if info["native_built"]:
        kernel = info["gemm_kernel"]
        lines.append(
            f"GEMM kernel         : {kernel} "
            + ("(BLAS: float32 and float64)" if kernel == "blas" else
               "(roformer_np's micro-kernels for float32; float64 on BLAS)")
            + f"; {threads.ENV_GEMM} forces one of {', '.join(threads.GEMM_CHOICES)}"
        )
        lowp = info["lowp_kernels"]
        if lowp:
            lines.append(
                "bf16 / int8 weights : "
                + ("NumPy reference emulation (BLAS GEMM in force)" if kernel == "blas" else
                   f"bf16 {lowp['bf16']}, int8 {lowp['int8']}")
                + f"; {threads.ENV_LOWP} forces one of {', '.join(threads.LOWP_CHOICES)}"
            )
        lines.append(
            f"GEMM threading      : {info['gemm_mode']} "
            + ("(one single-threaded BLAS call per thread, BLAS pinned to 1 thread inside kernels)"
               if info["gemm_mode"] == "omp" else "(BLAS's own threads)")
            + ("; micro-kernel tiles on roformer_np's task pool" if kernel != "blas" else "")
        )
    if not info["blas"]:
        lines.append("BLAS                : (install threadpoolctl for details)")
    for lib in info["blas"]:
        used = " [kernels]" if lib["filepath"] in info["kernels_blas"] else ""
        lines.append(
            f"BLAS                : {lib['internal_api']} {lib['version']} {lib['architecture'] or ''}, "
            f"{lib['num_threads']} threads{used} {lib['filepath']}"
        )
    print("\n".join(lines), file=out)
    return info
