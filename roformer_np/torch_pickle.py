"""Read PyTorch ``pytorch_model.bin`` checkpoints without torch, and without running untrusted code.

A ``torch.save`` file (the zip format, PyTorch >= 1.6) is a zip archive holding ``<root>/data.pkl`` — a
pickle that describes tensors — and ``<root>/data/<key>`` — the raw bytes of each storage. The pickle
refers to storages through "persistent ids" ``("storage", torch.FloatStorage, key, location, numel)`` and
rebuilds tensors by calling ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``.

The file is treated as hostile. Its pickle runs in :mod:`roformer_np.pickle_vm` (torch's weights-only opcode
subset, no code, no recursion, bounded memo and depth), where the only callable globals are the functions
below; they record what the file declares and build nothing yet. Then, before any tensor byte is read:

* a storage is only ever what a persistent id made (a :class:`_Storage`: key, dtype, element count) and its
  zip member must hold exactly ``numel * itemsize`` bytes, stored or deflated (what ``torch.load`` reads),
  not encrypted, within the file — a deflated member may inflate at most :data:`MAX_INFLATE_RATIO` times;
* a tensor's extent is computed with Python ints (``offset + sum((size_i - 1) * stride_i)``, strides >= 0)
  and must end inside its storage; it may not have more elements than its storage (``torch.save`` never
  writes broadcasts: a stride-0 view of a 1-element storage cannot claim 6e8 elements);
* the distinct tensors of the state dict may not add up to more than :data:`MAX_VIEW_FACTOR` times the
  elements of their storages (tied weights that are the same view count once).

Members are then streamed in chunks into buffers of exactly the expected size, and tensors are read-only
views of them (a copy only for bfloat16 widening, byte swapping or a ``dtype`` conversion). Nothing a file
does outlives its load: the stand-ins are fresh per load or immutable. Every failure is a
:class:`CheckpointError` naming the file and the member being read.
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError
from .pickle_vm import Global, UnsafeCheckpointError, restricted_load
from .weights import checked_shape

__all__ = ["UnsafeCheckpointError", "read_torch_checkpoint"]

MAX_PICKLE_BYTES = 16 * 2**20  # data.pkl: ~150 bytes per tensor, so ~100,000 tensors
MAX_INFLATE_RATIO = 64  # a deflated member may be 64x its compressed size (+1 MiB): weights barely compress
INFLATE_SLACK = 2**20
MAX_VIEW_FACTOR = 2  # distinct tensor elements <= 2x their storages' elements (+ VIEW_SLACK)
VIEW_SLACK = 2**16
_CHUNK = 1 << 20

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
_STORAGE_GLOBALS = {("torch", name): name for name in _STORAGE_DTYPES}
_STORAGE_GLOBALS[("torch.storage", "UntypedStorage")] = "UntypedStorage"
_REBUILD_TENSOR = ("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = ("torch._utils", "_rebuild_parameter")
_ORDERED_DICT = ("collections", "OrderedDict")
_ALLOWED = frozenset({_REBUILD_TENSOR, _REBUILD_PARAMETER, _ORDERED_DICT, *_STORAGE_GLOBALS})
_MAX_KEY = 256


class _Storage:
    """A storage named by a persistent id; ``data`` (a read-only 1-D array of ``dtype``) is filled later."""

    __slots__ = ("key", "member", "dtype", "numel", "data")

    def __init__(self, key: str, member: zipfile.ZipInfo, dtype: np.dtype, numel: int) -> None:
        self.key, self.member, self.dtype, self.numel = key, member, dtype, numel
        self.data: np.ndarray | None = None


class _TensorRecord:
    """What ``_rebuild_tensor_v2`` was asked for, validated against its storage; materialised later."""

    __slots__ = ("storage", "offset", "size", "stride", "numel")

    def __init__(self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride
        self.numel = math.prod(size)

    def view_key(self) -> tuple:
        return (id(self.storage), self.offset, self.size, self.stride)


def _is_int(value: Any) -> bool:
    return type(value) is int  # not bool, not a subclass with custom arithmetic


def _rebuild_tensor(args: tuple) -> _TensorRecord:
    """``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])``."""
    if len(args) not in (6, 7):
        raise CheckpointError(f"_rebuild_tensor_v2 takes 6 or 7 arguments, the file gives {len(args)}")
    storage, offset, size, stride, requires_grad, hooks = args[:6]
    if type(storage) is not _Storage:
        raise CheckpointError(f"a tensor's storage must be a storage record, not a {type(storage).__name__}")
    if type(size) is not tuple or type(stride) is not tuple or len(size) != len(stride):
        raise CheckpointError("a tensor's size and stride must be tuples of one length")
    if not (_is_int(offset) and offset >= 0 and all(_is_int(s) and s >= 0 for s in size + stride)):
        raise CheckpointError(f"corrupt tensor record: size {size}, stride {stride}, offset {offset!r}")
    if type(requires_grad) is not bool or type(hooks) not in (dict, OrderedDict):
        raise CheckpointError("corrupt tensor record: requires_grad or backward hooks of the wrong type")
    checked_shape(size, storage.dtype.itemsize, f"a tensor of storage {storage.key}")
    record = _TensorRecord(storage, offset, size, stride)
    if record.numel:
        last = offset + sum((n - 1) * st for n, st in zip(size, stride))
        if last >= storage.numel:
            raise CheckpointError(f"a tensor of storage {storage.key} ends at element {last} of a "
                                  f"{storage.numel}-element storage")
        if record.numel > storage.numel:
            raise CheckpointError(f"a tensor of storage {storage.key} has {record.numel} elements, more than its "
                                  f"{storage.numel}-element storage (a broadcast view; torch.save never writes one)")
    return record


def _call(func: Global, args: tuple) -> Any:
    """``REDUCE``: the three functions a state dict calls, each on validated arguments."""
    name = (func.module, func.name)
    if name == _REBUILD_TENSOR:
        return _rebuild_tensor(args)
    if name == _REBUILD_PARAMETER:  # (data, requires_grad, backward_hooks): a Parameter is its tensor
        if len(args) != 3 or type(args[0]) is not _TensorRecord:
            raise CheckpointError("_rebuild_parameter takes (tensor, requires_grad, hooks)")
        return args[0]
    if name == _ORDERED_DICT:
        if args:
            raise CheckpointError("OrderedDict is rebuilt without arguments in a state dict")
        return OrderedDict()
    raise CheckpointError(f"{func} is not callable")


class _Archive:
    """One ``torch.save`` zip, read under the limits above; ``where`` names the member being read."""

    def __init__(self, path: Path, archive: zipfile.ZipFile) -> None:
        self.zip, self.size = archive, path.stat().st_size
        self.where = "the zip directory"
        infos = archive.infolist()
        self.members = {info.filename: info for info in infos}
        if len(self.members) != len(infos):
            raise CheckpointError("the archive lists a member twice")
        pickles = [n for n in self.members if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise CheckpointError(f"expected one <root>/data.pkl in the archive, found {len(pickles)}")
        self.root = pickles[0][: -len("data.pkl")]
        self.storages: dict[str, _Storage] = {}

    def member(self, name: str, size: int | None = None, limit: int | None = None) -> zipfile.ZipInfo:
        """The member ``name``, checked to hold ``size`` bytes (or at most ``limit``) that the file can justify."""
        info = self.members.get(name)
        if info is None:
            raise CheckpointError(f"{name} is missing from the archive")
        if info.flag_bits & 0x1:
            raise CheckpointError(f"{name} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(f"{name} uses zip compression method {info.compress_type}; torch.load reads "
                                  "stored (torch.save's) and deflated members only")
        if size is not None and info.file_size != size:
            raise CheckpointError(f"{name} holds {info.file_size} bytes, its tensors' storage needs {size}")
        if limit is not None and info.file_size > limit:
            raise CheckpointError(f"{name} is {info.file_size} bytes, over the {limit}-byte limit")
        if info.header_offset + info.compress_size > self.size:
            raise CheckpointError(f"{name} claims {info.compress_size} bytes beyond the end of the file")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise CheckpointError(f"{name} is stored with {info.compress_size} bytes for {info.file_size}")
        if info.file_size > MAX_INFLATE_RATIO * info.compress_size + INFLATE_SLACK:
            raise CheckpointError(f"{name} inflates {info.compress_size} bytes to {info.file_size} (a zip bomb?)")
        return info

    def read_into(self, info: zipfile.ZipInfo, out: np.ndarray) -> None:
        """Stream a member into ``out`` (uint8, exactly its size), chunk by chunk."""
        self.where = info.filename
        view, done = memoryview(out), 0
        with self.zip.open(info) as fh:
            while done < len(out):
                chunk = fh.read(min(_CHUNK, len(out) - done))
                if not chunk:
                    raise CheckpointError(f"{info.filename} is truncated at byte {done} of {len(out)}")
                view[done : done + len(chunk)] = chunk
                done += len(chunk)
            if fh.read(1):  # zipfile stops at the declared size; a longer stream is corrupt all the same
                raise CheckpointError(f"{info.filename} inflates past its declared {len(out)} bytes")

    def read_small(self, name: str, limit: int) -> bytes:
        self.where = name
        info = self.member(name, limit=limit)
        out = np.empty(info.file_size, np.uint8)
        self.read_into(info, out)
        return out.tobytes()

    def persistent_load(self, pid: Any) -> _Storage:
        """``BINPERSID``: ``("storage", storage type, key, location, numel)`` -> the storage's record."""
        if type(pid) is not tuple or len(pid) != 5 or pid[0] != "storage":
            raise CheckpointError(f"unsupported persistent id in checkpoint: {pid!r:.80}")
        storage_type, key, location, numel = pid[1:]
        if type(storage_type) is not Global or (storage_type.module, storage_type.name) not in _STORAGE_GLOBALS:
            raise CheckpointError(f"unsupported storage type in checkpoint: {storage_type!r:.80}")
        if type(key) is not str or not 0 < len(key) <= _MAX_KEY or type(location) is not str:
            raise CheckpointError(f"corrupt storage record: key {key!r:.80}, location {location!r:.80}")
        if not (_is_int(numel) and numel >= 0):
            raise CheckpointError(f"corrupt storage record: {numel!r:.80} elements")
        dtype = _STORAGE_DTYPES[_STORAGE_GLOBALS[(storage_type.module, storage_type.name)]]
        known = self.storages.get(key)
        if known is not None:
            if (known.dtype, known.numel) != (dtype, numel):
                raise CheckpointError(f"storage {key} is declared twice with different types or sizes")
            return known
        info = self.member(f"{self.root}data/{key}", size=numel * dtype.itemsize)
        self.storages[key] = storage = _Storage(key, info, dtype, numel)
        return storage

    def load_storage(self, storage: _Storage, big_endian: bool) -> np.ndarray:
        if storage.data is None:
            raw = np.empty(storage.numel * storage.dtype.itemsize, np.uint8)
            self.read_into(storage.member, raw)
            data = raw.view(storage.dtype.newbyteorder(">") if big_endian else storage.dtype)
            if big_endian and storage.dtype.itemsize > 1:
                data = data.astype(storage.dtype)
            data.flags.writeable = False
            storage.data = data
        return storage.data


def _contiguous(size: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    expected = 1
    for n, st in zip(reversed(size), reversed(stride)):
        if n != 1 and st != expected:
            return False
        expected *= n
    return True


def _tensor(record: _TensorRecord, flat: np.ndarray) -> np.ndarray:
    """The validated view ``record`` of its storage's elements ``flat``: never reaches outside it."""
    if record.numel == 0:
        return np.zeros(record.size, flat.dtype)
    if _contiguous(record.size, record.stride):
        return flat[record.offset : record.offset + record.numel].reshape(record.size)
    last = record.offset + sum((n - 1) * st for n, st in zip(record.size, record.stride))
    extent = flat[record.offset : last + 1]  # exactly the elements the view may touch
    item = flat.dtype.itemsize
    return np.lib.stride_tricks.as_strided(extent, shape=record.size, strides=[st * item for st in record.stride],
                                           writeable=False)


def _state_dict(root: Any) -> dict[str, _TensorRecord]:
    """The tensors of the unpickled object: a state dict, or the ``state_dict`` entry of a training checkpoint."""
    if type(root) in (dict, OrderedDict) and type(root.get("state_dict")) in (dict, OrderedDict):
        root = root["state_dict"]
    if type(root) not in (dict, OrderedDict):
        raise CheckpointError(f"expected a state dict, found {type(root).__name__}")
    bad = next((k for k in root if type(k) is not str), None)
    if bad is not None:
        raise CheckpointError(f"state-dict keys must be strings, found {bad!r:.80}")
    return {k: v for k, v in root.items() if type(v) is _TensorRecord}  # other entries: trainers' extras


def _check_budget(records: dict[str, _TensorRecord]) -> None:
    distinct = {r.view_key(): r for r in records.values()}
    storages = {id(r.storage): r.storage for r in distinct.values()}
    elements, budget = sum(r.numel for r in distinct.values()), sum(s.numel for s in storages.values())
    if elements > MAX_VIEW_FACTOR * budget + VIEW_SLACK:
        raise CheckpointError(f"the state dict's tensors claim {elements} elements from storages of {budget} "
                              f"(more than {MAX_VIEW_FACTOR}x: overlapping views)")


def _read(files: _Archive, dtype: np.dtype | None) -> dict[str, np.ndarray]:
    byteorder = "little"
    if files.root + "byteorder" in files.members:
        byteorder = files.read_small(files.root + "byteorder", 16).decode("ascii").strip()
        if byteorder not in ("little", "big"):
            raise CheckpointError(f"unknown byte order {byteorder!r}")
    pickled = files.read_small(files.root + "data.pkl", MAX_PICKLE_BYTES)
    records = _state_dict(restricted_load(pickled, _ALLOWED, _call, files.persistent_load))
    _check_budget(records)
    out: dict[str, np.ndarray] = {}
    views: dict[tuple, np.ndarray] = {}
    for name, record in records.items():
        key = record.view_key()
        if key not in views:
            value = _tensor(record, files.load_storage(record.storage, byteorder == "big"))
            if record.storage.dtype == _STORAGE_DTYPES["BFloat16Storage"]:  # the top half of a float32
                value = (value.astype(np.uint32) << 16).view(np.float32)
            if dtype is not None and value.dtype.kind == "f" and value.dtype != dtype:
                value = value.astype(dtype)
            value.flags.writeable = False
            views[key] = value
        out[name] = views[key]
    return out


# what zipfile, zlib and the OS raise for a damaged archive (encryption and methods are refused before)
_ARCHIVE_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, struct.error, NotImplementedError,
                   RuntimeError, UnicodeDecodeError, OverflowError, ValueError)


def read_torch_checkpoint(path: str | os.PathLike, dtype: np.dtype | None = None) -> dict[str, np.ndarray]:
    """Tensors of a ``torch.save`` zip checkpoint, as read-only NumPy arrays; float tensors converted to ``dtype``.

    Tensors that are the same view of one storage (tied weights) are the same array.
    """
    path = Path(path)
    files: _Archive | None = None
    try:
        if not path.is_file():  # a FIFO would block open(), a directory or device is no checkpoint
            raise CheckpointError("not a regular file")
        with open(path, "rb") as fh:
            head = fh.read(4)
        if head[:1] == b"\x80":
            raise CheckpointError(
                "legacy (pre-1.6, non-zip) PyTorch format is not supported; re-save it with a recent torch "
                "or convert it to safetensors"
            )
        if head != b"PK\x03\x04":
            raise CheckpointError("not a PyTorch zip checkpoint")
        with zipfile.ZipFile(path) as archive:
            files = _Archive(path, archive)
            return _read(files, dtype)
    except CheckpointError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except _ARCHIVE_ERRORS as exc:
        where = files.where if files is not None else "the zip directory"
        raise CheckpointError(f"{path}: corrupt PyTorch checkpoint ({where}: {type(exc).__name__}: {exc})") from None
