"""Packed weights shared between the processes of one machine: a directory of memory-mapped panel files.

On the compiled kernels a model holds its linear weights (and a bf16 / int8 model its word embeddings) in the
micro-kernels' panel layout, built at load: private memory, one copy per process. Ray actors or Dask workers on
one node each load the same model, so each would hold its own copy. With a panel cache directory every packed
weight is written there once (a ``.npy`` file per weight) and every process maps that file read-only instead of
keeping its private panels: the page cache holds one copy for all of them.

Correctness never depends on the cache: a process packs its weights itself, as without a cache, and maps a
file only when every byte of it equals what it packed (a stale, foreign, truncated or tampered file is
replaced, never read as weights). A file name is a digest of the layout and of sampled bytes, only to find the
candidate. A process that cannot write the directory keeps its private panels and says so once.

Enable it with ``ROFORMER_NP_PANEL_CACHE=/some/dir`` or ``with panel_cache.sharing("/some/dir"): ...`` around
the loading; :class:`roformer_np.distributed.PipelinePredictor` does it by default (:func:`default_directory`).
Deleting the directory is always safe: processes that mapped its files keep their pages until they exit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

ENV = "ROFORMER_NP_PANEL_CACHE"
SAMPLES = 64  # blocks of the panels hashed into a file's name (its bytes are compared in full)
SAMPLE_BYTES = 4096
COMPARE_BYTES = 1 << 23  # compared 8 MiB at a time: no second full-size temporary

_UNSET = object()
_directory: ContextVar[Any] = ContextVar("roformer_np_panel_cache", default=_UNSET)
_warned: set[str] = set()


def default_directory() -> Path:
    """``$ROFORMER_NP_PANEL_CACHE``, else ``$XDG_CACHE_HOME/roformer_np/panels`` (``~/.cache/...``)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "roformer_np" / "panels"


def active_directory() -> Path | None:
    """The directory models built now share their packed weights through: the innermost :func:`sharing`,
    else ``$ROFORMER_NP_PANEL_CACHE``, else None (no sharing)."""
    chosen = _directory.get()
    if chosen is not _UNSET:
        return chosen
    return Path(os.environ[ENV]) if os.environ.get(ENV) else None


@contextlib.contextmanager
def sharing(directory: str | os.PathLike | None) -> Iterator[Path | None]:
    """Models built inside share their packed weights through ``directory`` (None: no sharing, whatever
    ``$ROFORMER_NP_PANEL_CACHE`` says)."""
    if directory is not None and not isinstance(directory, (str, os.PathLike)):
        raise ValueError(f"panel cache directory must be a path or None, got {type(directory).__name__}")
    path = None if directory is None else Path(directory)
    token = _directory.set(path)
    try:
        yield path
    finally:
        _directory.reset(token)


def is_shared(weight: Any) -> bool:
    """Whether a packed weight's panels are a read-only file mapping (not private memory)."""
    panels = getattr(weight, "panels", None)
    while isinstance(panels, np.ndarray):
        if isinstance(panels, np.memmap):
            return True
        panels = panels.base
    return False


def share_packed(weights: Iterable[Any], directory: str | os.PathLike) -> int:
    """Map each distinct packed weight (an object with ``panels`` and ``_rebind_panels``) from ``directory``,
    writing its file first where none holds its bytes. Returns how many are now shared."""
    directory = Path(directory)
    seen: set[int] = set()
    shared = 0
    for weight in weights:
        if id(weight) in seen or not hasattr(weight, "_rebind_panels"):
            continue
        seen.add(id(weight))
        if is_shared(weight):
            shared += 1
            continue
        try:
            mapped = _mapped_copy(np.asarray(weight.panels), directory)
        except OSError as exc:  # an unwritable or full directory: the private panels stay, said once
            _warn_once(str(directory), f"panel cache {directory}: {exc}; the packed weights stay private "
                                       "to this process")
            return shared
        weight._rebind_panels(mapped)
        shared += 1
    return shared


def _mapped_copy(panels: np.ndarray, directory: Path) -> np.ndarray:
    """A read-only mapping of a file in ``directory`` holding exactly ``panels``' bytes."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{_digest(panels)}.npy"
    with _locked(directory):  # one writer at a time: processes starting together map the same file
        mapped = _open_equal(path, panels)
        if mapped is None:
            _write(path, panels)
            mapped = _open_equal(path, panels)
    if mapped is None:
        raise OSError(f"{path} does not read back as written")
    return mapped


def _digest(panels: np.ndarray) -> str:
    """A name for the panels: their layout and ``SAMPLES`` evenly spaced blocks of their bytes."""
    flat = panels.reshape(-1).view(np.uint8)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{panels.dtype.str}{panels.shape}".encode())
    n = flat.size
    step = max(SAMPLE_BYTES, n // SAMPLES)
    for start in range(0, n, step):
        h.update(flat[start : start + SAMPLE_BYTES].tobytes())
    h.update(flat[max(0, n - SAMPLE_BYTES) :].tobytes())
    return h.hexdigest()


def _open_equal(path: Path, panels: np.ndarray) -> np.ndarray | None:
    """``path`` mapped read-only if it is a ``.npy`` of the panels' dtype and shape holding their bytes."""
    if not path.is_file():
        return None
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError):  # truncated, not a .npy, a pickle: rewritten
        return None
    if not isinstance(mapped, np.memmap) or mapped.dtype != panels.dtype or mapped.shape != panels.shape \
            or not mapped.flags.c_contiguous:
        return None
    return mapped if _equal_bytes(mapped, panels) else None


def _equal_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Byte equality (NaN payloads included), a chunk at a time."""
    fa, fb = a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8)
    return all(np.array_equal(fa[i : i + COMPARE_BYTES], fb[i : i + COMPARE_BYTES])
               for i in range(0, fa.size, COMPARE_BYTES))


def _write(path: Path, panels: np.ndarray) -> None:
    """``panels`` as ``path`` (a ``.npy``), whole or not at all: written beside it, then renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, panels, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory/.lock`` (where the platform has ``fcntl``; the byte comparison keeps
    results right without it)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux
        yield
        return
    with open(directory / ".lock", "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
