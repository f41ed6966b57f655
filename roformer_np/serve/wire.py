"""Messages between the server and its forward process: a tree of JSON values and NumPy arrays, no pickle.

A message is one frame on a pipe: a 4-byte little-endian length, that many bytes of UTF-8 JSON, then the raw
bytes of each array the JSON refers to, in order. In the JSON an array is ``{"__nd__": [dtype, shape]}``, a
NumPy scalar ``{"__np__": [dtype, value-as-0-d-array]}``, a tuple ``{"__tuple__": [...]}`` and a pipeline
``Feature`` ``{"__feature__": [ids, type_ids, data]}``; dicts must have string keys (a key that starts with
``__`` is refused, so nothing can pose as a tag). Floats keep every bit (JSON's shortest round-trip repr, and
NaN / inf as Python's json writes them); arrays and NumPy scalars keep their dtype.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

import numpy as np

from ..pipelines.base import Feature

DTYPES = frozenset({"bool", "int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64"})
MAX_JSON = 1 << 28  # bytes of one message's JSON
MAX_ARRAY = 1 << 32  # bytes of one array
_LENGTH = struct.Struct("<I")


class WireError(ValueError):
    """A frame that is not a message of this protocol (or a value it cannot carry)."""


def encode(value: Any) -> tuple[bytes, list[np.ndarray]]:
    """(JSON bytes, the arrays after it) for ``value``."""
    arrays: list[np.ndarray] = []

    def walk(v: Any) -> Any:
        if isinstance(v, np.generic):  # before float: np.float64 is a float, and would lose its type
            return {"__np__": walk(np.asarray(v))}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, np.ndarray):
            if v.dtype.name not in DTYPES:
                raise WireError(f"arrays of dtype {v.dtype} cannot be sent")
            arrays.append(np.ascontiguousarray(v))
            return {"__nd__": [v.dtype.name, list(v.shape)]}
        if isinstance(v, Feature):  # ids and type ids are lists of ints: JSON as they are (the hot path)
            return {"__feature__": [_ints(v.ids), _ints(v.type_ids), walk(v.data)]}
        if isinstance(v, tuple):
            return {"__tuple__": [walk(x) for x in v]}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if not isinstance(k, str) or k.startswith("__"):
                    raise WireError(f"dict keys must be strings not starting with '__', got {k!r}")
                out[k] = walk(x)
            return out
        raise WireError(f"a {type(v).__name__} cannot be sent")

    text = json.dumps(walk(value), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return text, arrays


def write(stream: BinaryIO, value: Any) -> None:
    """One frame holding ``value`` (then flushed)."""
    text, arrays = encode(value)
    if len(text) > MAX_JSON:
        raise WireError(f"a message's JSON is {len(text)} bytes, more than {MAX_JSON}")
    stream.write(_LENGTH.pack(len(text)))
    stream.write(text)
    for a in arrays:
        if a.nbytes:
            stream.write(a.reshape(-1).view(np.uint8).data)
    stream.flush()


def read(stream: BinaryIO) -> Any:
    """The next frame's value; EOFError at the end of the stream (also in the middle of a frame)."""
    (length,) = _LENGTH.unpack(_exactly(stream, _LENGTH.size))
    if length > MAX_JSON:
        raise WireError(f"a frame announces {length} bytes of JSON, more than {MAX_JSON}")
    try:
        tree = json.loads(_exactly(stream, length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"a frame's JSON does not parse: {exc}") from None

    def walk(v: Any) -> Any:
        if isinstance(v, list):
            return [walk(x) for x in v]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (tag, body), = v.items()
            if tag == "__nd__":
                return _array(stream, body)
            if tag == "__np__":
                return walk(body)[()]
            if tag == "__tuple__":
                return tuple(walk(x) for x in body)
            if tag == "__feature__":
                ids, type_ids, data = body
                return Feature(_ints(ids), _ints(type_ids), walk(data))
        if any(k.startswith("__") for k in v):
            raise WireError(f"unknown tag in a frame: {sorted(v)[0]!r}")
        return {k: walk(x) for k, x in v.items()}

    return walk(tree)


def _ints(values: Any) -> list[int]:
    """``values`` if it is a list of Python ints (checked in one pass), else WireError."""
    if type(values) is not list or not all(type(x) is int for x in values):
        raise WireError("a feature's ids and type ids must be lists of Python ints")
    return values


def _array(stream: BinaryIO, body: Any) -> np.ndarray:
    try:
        dtype, shape = body
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise WireError(f"a bad array header in a frame: {body!r}") from None
    if dtype not in DTYPES or any(n < 0 for n in shape):
        raise WireError(f"a bad array header in a frame: {body!r}")
    count = 1
    for n in shape:
        count *= n
    nbytes = count * np.dtype(dtype).itemsize
    if nbytes > MAX_ARRAY:  # checked before reading, so a bad header cannot ask for a huge buffer
        raise WireError(f"an array of {nbytes} bytes in a frame, more than {MAX_ARRAY}")
    return np.frombuffer(bytearray(_exactly(stream, nbytes)), dtype=dtype).reshape(shape)


def _exactly(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError("the stream ended inside a frame" if data else "the stream ended")
    return data
