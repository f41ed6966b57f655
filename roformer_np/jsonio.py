"""Reading the JSON files of a checkpoint directory (config, tokenizer and generation configs, shard indexes).

A checkpoint directory may come from anyone, so every JSON file is read under the same limits: a size cap
checked while reading, strict UTF-8, and a nesting depth and value count checked before ``json.loads`` (whose
C parser recurses once per level, and builds ~20x the text's size from ``[[],[],…]``). Every failure is a
:class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError

MAX_JSON_BYTES = 64 * 2**20  # a shard index of a 10^5-tensor model is ~10 MB; configs are a few KB
MAX_JSON_DEPTH = 64  # Hugging Face's files nest 3 deep (config -> id2label -> label)
MAX_JSON_VALUES = 1_000_000  # a 10,000-tensor safetensors header holds ~80,000; parsed, each costs ~100 bytes

_CHUNK = 1 << 20


def json_extent(raw: bytes) -> tuple[int, int]:
    """(nesting depth, number of values) of JSON text — an upper bound on ``json.loads``' recursion and on
    the objects it builds — found without recursing, in NumPy passes over 1 MiB chunks.

    Escaped backslashes and quotes are dropped, so every remaining quote opens or closes a string; outside
    strings, brackets count +1 / -1 for the depth, and brackets and commas count the values. Up to the first
    syntax error (where ``json.loads`` stops) these are the parser's own numbers; invalid text only counts higher.
    """
    text = np.frombuffer(raw.replace(b"\\\\", b"").replace(b'\\"', b""), np.uint8)
    level = deepest = quotes = values = 0
    for start in range(0, len(text), _CHUNK):
        part = text[start : start + _CHUNK]
        outside = ((np.cumsum(part == ord('"'), dtype=np.int64) + quotes) & 1) == 0
        opens = ((part == ord("[")) | (part == ord("{"))) & outside
        closes = ((part == ord("]")) | (part == ord("}"))) & outside
        run = np.cumsum(opens.astype(np.int64) - closes) + level
        deepest, level = max(deepest, int(run.max())), int(run[-1])
        values += int(np.count_nonzero(opens)) + int(np.count_nonzero((part == ord(",")) & outside))
        quotes += int(np.count_nonzero(part == ord('"')))
    return deepest, values


def loads_json(raw: bytes, source: str) -> Any:
    """Parse UTF-8 JSON bytes; every way they can be bad is a :class:`CheckpointError` naming ``source``."""
    depth, values = json_extent(raw)
    if depth > MAX_JSON_DEPTH:
        raise CheckpointError(f"{source}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if values > MAX_JSON_VALUES:
        raise CheckpointError(f"{source}: JSON holds more than {MAX_JSON_VALUES} values")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{source}: not UTF-8 text ({exc})") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an int of > 4300 digits, a deep document
        raise CheckpointError(f"{source} is not valid JSON: {exc}") from None


def read_json(path: str | os.PathLike, what: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The JSON document in ``path`` (a ``what``: "config", "shard index"…), read under the limits above.

    A missing file raises FileNotFoundError, as ``open`` does; other I/O errors are a CheckpointError.
    """
    path = Path(path)
    if path.exists() and not path.is_file():  # a directory, a FIFO (open would block), a device
        raise CheckpointError(f"{path}: the {what} is not a regular file")
    try:
        with open(path, "rb") as fh:  # in chunks: read(max_bytes + 1) would allocate that much up front
            chunks, total = [], 0
            while total <= max_bytes:
                chunk = fh.read(min(_CHUNK, max_bytes + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            raw = b"".join(chunks)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise CheckpointError(f"{path}: the {what} is larger than the {max_bytes}-byte limit for JSON files")
    return loads_json(raw, f"{path} ({what})")
