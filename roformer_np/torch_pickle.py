"""Read PyTorch ``pytorch_model.bin`` checkpoints without torch, and without running untrusted code.

A ``torch.save`` file (the zip format, PyTorch >= 1.6) is a zip archive holding ``<root>/data.pkl`` — a
pickle that describes tensors — and ``<root>/data/<key>`` — the raw bytes of each storage. The pickle
refers to storages through "persistent ids" and rebuilds tensors by calling
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``.

Unpickling is restricted: :class:`_RestrictedUnpickler` resolves only the handful of globals a state dict
needs, each to a harmless NumPy stand-in defined here, and refuses every other global *before* anything is
called. A malicious pickle (``os.system``, ``builtins.eval``, ``subprocess``…) raises
:class:`UnsafeCheckpointError` and executes nothing.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from .weights import CheckpointError

# torch storage class name -> numpy dtype of its elements (bfloat16 is read as uint16 bits, then widened)
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),  # widened to float32 when read
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
    "UntypedStorage": np.dtype("u1"),
}
_BF16_BITS = _STORAGE_DTYPES["BFloat16Storage"]


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint's pickle asks for a global that a state dict never needs: refused, nothing ran."""


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` & co.: only records which dtype the storage holds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    """The tensor ``storage[offset:]`` viewed with ``size`` and ``stride`` (in elements), as a new array."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or storage_offset < 0 or any(s < 0 for s in size + stride):
        raise CheckpointError(f"corrupt tensor record: size {size}, stride {stride}, offset {storage_offset}")
    if any(s == 0 for s in size):
        return np.zeros(size, dtype=storage.dtype)
    last = storage_offset + sum((n - 1) * st for n, st in zip(size, stride))
    if last >= storage.size:
        raise CheckpointError(
            f"corrupt tensor record: view ends at element {last} of a {storage.size}-element storage"
        )
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=size, strides=tuple(st * item for st in stride), writeable=False
    )
    return np.array(view)  # a contiguous copy: views of shared storages become independent arrays


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *extra):
    return data


def _ordered_dict(*args):
    return OrderedDict(*args)


# (module, name) -> the stand-in; nothing outside this table can be reached from the pickle.
_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
    ("torch.storage", "UntypedStorage"): _StorageType("UntypedStorage"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, load_storage) -> None:
        super().__init__(file)
        self._load_storage = load_storage

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle protocol
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"refusing to load global {module}.{name} from the checkpoint: a weights file never needs it "
                "(it may be malicious); nothing was executed"
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CheckpointError(f"unsupported persistent id in checkpoint: {pid!r:.80}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"unsupported storage type in checkpoint: {storage_type!r:.80}")
        return self._load_storage(str(key), storage_type.dtype, int(numel))


def read_torch_checkpoint(path: str | os.PathLike, dtype: np.dtype | None = None) -> dict[str, np.ndarray]:
    """Tensors of a ``torch.save`` zip checkpoint, as NumPy arrays; float tensors converted to ``dtype``."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head[:1] == b"\x80":
            raise CheckpointError(
                f"{path}: legacy (pre-1.6, non-zip) PyTorch format is not supported; re-save it with a recent torch "
                "or convert it to safetensors"
            )
        raise CheckpointError(f"{path}: not a PyTorch zip checkpoint")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickles = [n for n in names if n.endswith("data.pkl")]
            if len(pickles) != 1:
                raise CheckpointError(f"{path}: expected one data.pkl in the archive, found {len(pickles)}")
            root = pickles[0][: -len("data.pkl")]
            byteorder = archive.read(root + "byteorder").decode().strip() if root + "byteorder" in names else "little"
            if byteorder not in ("little", "big"):
                raise CheckpointError(f"{path}: unknown byte order {byteorder!r}")
            storages: dict[str, np.ndarray] = {}

            def load_storage(key: str, storage_dtype: np.dtype, numel: int) -> np.ndarray:
                if key not in storages:
                    member = f"{root}data/{key}"
                    if member not in names:
                        raise CheckpointError(f"{path}: storage {key} is missing from the archive")
                    raw = archive.read(member)
                    dt = storage_dtype.newbyteorder(">") if byteorder == "big" else storage_dtype
                    if len(raw) < numel * dt.itemsize:
                        raise CheckpointError(f"{path}: storage {key} is truncated")
                    array = np.frombuffer(raw, dtype=dt, count=numel).astype(storage_dtype, copy=False)
                    if storage_dtype == _BF16_BITS:  # bfloat16 is the top half of a float32
                        array = (array.astype(np.uint32) << 16).view(np.float32)
                    storages[key] = array
                return storages[key]

            state = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), load_storage).load()
    except (zipfile.BadZipFile, EOFError, pickle.UnpicklingError, ValueError, KeyError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{path}: corrupt PyTorch checkpoint ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(state).__name__}")
    out: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if not isinstance(value, np.ndarray):
            continue  # e.g. non-tensor entries some trainers add
        if dtype is not None and value.dtype.kind == "f" and value.dtype != dtype:
            value = value.astype(dtype)
        out[str(name)] = value
    return out
