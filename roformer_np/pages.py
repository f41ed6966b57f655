"""Memory for the long-lived weight panels that loading packs (float32, bf16 and int8 panels).

NumPy asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on every array of 4 MiB or more,
so each first touch of 2 MiB faults in a whole huge page. On a virtual machine whose host hands free memory
back lazily (virtio-balloon free-page reporting: Firecracker and many clouds) a huge page that has been free
for a while is no longer backed by the host, and faulting one in cost ~23 ms per 2 MiB on the development VM:
a fresh process packed the base model's ~500 MB of panels in 1.5-5 s, against 0.6 s on ordinary 4 KiB pages
(which come from the guest's recently used, still backed, free lists). Streaming the panels did not get
slower on 4 KiB pages (decoding, which reads every panel once per token, measured in one process with one
model on each kind of page: 0.94-1.04x the huge-page time, within the noise), so the panels are allocated
on 4 KiB pages (``MADV_NOHUGEPAGE``, also where THP is set to "always").

``ROFORMER_NP_HUGEPAGES=on`` restores NumPy's behaviour (huge pages at first touch; on bare metal, where they
fault in fast, loading may be a little quicker). Arrays below 4 MiB, or where ``mmap.madvise`` is missing (not
Linux), are plain ``np.empty``.
"""

from __future__ import annotations

import math
import mmap
import os

import numpy as np

POLICIES = ("off", "on")
_MIN_BYTES = 4 << 20  # NumPy's own huge-page threshold
_HAVE_MADVISE = hasattr(mmap.mmap, "madvise") and hasattr(mmap, "MADV_NOHUGEPAGE")


def policy() -> str:
    """Whether weight panels go on huge pages (``ROFORMER_NP_HUGEPAGES``: ``off``, the default, or ``on``)."""
    value = os.environ.get("ROFORMER_NP_HUGEPAGES", "").strip().lower() or "off"
    if value not in POLICIES:
        raise ValueError(f"ROFORMER_NP_HUGEPAGES must be one of {', '.join(POLICIES)}; got {value!r}")
    return value


def empty_panels(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array for panels that live as long as the model (page-aligned when large)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < _MIN_BYTES or not _HAVE_MADVISE or policy() == "on":
        return np.empty(shape, dtype=dtype)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # private, like malloc's
    buf.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)
