"""Backend selection: the NumPy reference (:mod:`roformer_np.ops`) or the compiled kernels.

Every kernel has the name and signature of its reference function (see ``ops.KERNELS``); the backend only
decides which implementation is called. ``"auto"`` (the default) means native when the extension was built.
The choice comes from, in order: an explicit argument, :func:`use_backend` (a context manager), the
``ROFORMER_NP_BACKEND`` environment variable, then ``"auto"``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
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
            _native_cache["module"] = importlib.import_module("roformer_np._native.kernels")
            _native_cache["error"] = None
        except ImportError as exc:
            _native_cache["module"] = None
            _native_cache["error"] = str(exc)
    return _native_cache["module"]


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
def use_backend(backend: str) -> Iterator[None]:
    """``with use_backend("numpy"): ...`` runs the enclosed calls on that backend (this thread)."""
    current_backend(backend)  # validate
    previous = getattr(_state, "backend", None)
    _state.backend = backend
    try:
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
