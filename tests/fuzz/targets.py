"""The fuzz targets: one function per file reader, shared by the hypothesis properties and the atheris harnesses.

Each target writes the fuzzed bytes where the reader expects a file, reads it, and checks the contract of
issue 12: the reader returns what the file holds, or raises :class:`CheckpointError` / ``ValueError`` —
nothing else, no crash, and no allocation beyond what the file can justify. A broken contract raises
:class:`Finding` (or lets the unexpected exception through), which fails the test or the fuzzing run.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from roformer_np import CheckpointError

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
AREAS = ("safetensors", "torch", "config", "vocab")
# what a load may allocate (Python + NumPy heap, as tracemalloc sees it): a fixed floor for the readers' own
# buffers (1 MiB inflation slack x the view budget and conversions, JSON scans) plus a multiple of the file
PEAK_FLOOR = 48 * 2**20
PEAK_PER_BYTE = 256
ALLOWED = (CheckpointError, ValueError)


class Finding(AssertionError):
    """The reader broke its contract on this input."""


def seeds(area: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((CORPUS / area).iterdir()) if p.is_file()]


def _windows(sources: list[bytes], width: int) -> set[bytes]:
    return {src[i : i + width] for src in sources for i in range(len(src) - width + 1)}


def check_from_file(arrays: object, sources: list[bytes]) -> None:
    """Every element of every returned array is a run of bytes of the file (or of a member it inflates to):
    nothing comes from the heap. A float32 element whose low 16 bits are zero may be a widened bfloat16: its
    top two bytes must then be in the file."""
    if not isinstance(arrays, dict):
        raise Finding(f"the reader returned a {type(arrays).__name__}, not a dict")
    windows: dict[int, set[bytes]] = {}

    def found(element: bytes) -> bool:
        if len(element) not in windows:
            windows[len(element)] = _windows(sources, len(element))
        return element in windows[len(element)]

    for name, arr in arrays.items():
        if not isinstance(name, str) or not isinstance(arr, np.ndarray):
            raise Finding(f"entry {name!r:.60} is a {type(arr).__name__}")
        flat = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).reshape(-1)
        width = arr.dtype.itemsize
        for element in {bytes(row) for row in flat.view(np.uint8).reshape(flat.size, width)} if flat.size else ():
            bf16 = arr.dtype == np.float32 and element[:2] == b"\0\0" and found(element[2:])
            if not (found(element) or bf16):
                raise Finding(f"tensor {name!r:.60} holds {element!r}, found nowhere in the file")


def unpack_zip(data: bytes, limit: int = 64 * 2**20) -> dict[str, bytes] | None:
    """The members of an archive, inflated (each at most ``limit`` bytes), or None when zipfile cannot read it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist()
                    if info.file_size <= limit and info.compress_type in (0, 8) and not info.flag_bits & 1}
    except Exception:  # noqa: BLE001 - any damage: the caller falls back to the raw bytes
        return None


def repack_zip(members: dict[str, bytes]) -> bytes:
    """A stored archive of ``members`` with correct CRCs (so a mutated member reaches the reader's checks)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def _run(load: Callable[[Path], object], path: Path, size: int) -> tuple[object, BaseException | None]:
    """``load(path)``; under tracemalloc (unless ROFORMER_FUZZ_TRACEMALLOC=0) its peak must stay within the
    bound for a file of ``size`` bytes. Returns (result, the allowed error raised or None)."""
    measure = os.environ.get("ROFORMER_FUZZ_TRACEMALLOC", "1") != "0"
    started = measure and not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    if measure:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
    result, error = None, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = load(path)
    except ALLOWED as exc:
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1] - before if measure else 0
        if started:
            tracemalloc.stop()
    bound = PEAK_FLOOR + PEAK_PER_BYTE * size
    if peak > bound:
        raise Finding(f"reading a {size}-byte file allocated {peak} bytes (bound {bound})")
    return result, error


def _scratch() -> Path:
    root = Path(os.environ.get("ROFORMER_FUZZ_TMP", tempfile.gettempdir()))
    directory = Path(tempfile.mkdtemp(prefix="roformer-fuzz-", dir=root))
    return directory


def _cleanup(directory: Path) -> None:
    for p in directory.iterdir():
        p.unlink()
    directory.rmdir()


def _fuzz_weights(data: bytes, name: str, sources: Callable[[], list[bytes]]) -> None:
    """Write ``data`` as the weight file ``name``, load it, and check every element against ``sources()``."""
    from roformer_np.weights import load_weights

    directory = _scratch()
    try:
        path = directory / name
        path.write_bytes(data)
        result, error = _run(lambda p: load_weights(p, check_finite=False), path, len(data))
        if error is None:
            check_from_file(result, sources())
        del result  # a memory map closes before its file goes
    finally:
        _cleanup(directory)


def fuzz_safetensors(data: bytes) -> None:
    _fuzz_weights(data, "model.safetensors", lambda: [data])


def fuzz_torch(data: bytes) -> None:
    _fuzz_weights(data, "pytorch_model.bin", lambda: [data, *(unpack_zip(data) or {}).values()])


def fuzz_config(data: bytes) -> None:
    from roformer_np import RoFormerConfig

    directory = _scratch()
    try:
        path = directory / "config.json"
        path.write_bytes(data)
        config, error = _run(RoFormerConfig.from_pretrained, directory, len(data))
        if error is None:
            again = RoFormerConfig.from_dict(config.to_dict())  # what it loaded can be saved and reloaded
            if again != config:
                raise Finding("the config does not round-trip through to_dict")
            config.to_json_string()
    finally:
        _cleanup(directory)


VOCAB_TEXTS = ("今天天气很好，hello worlds!", "北京[MASK]是 a b\tc", "")


def fuzz_vocab(data: bytes) -> None:
    from roformer_np import RoFormerTokenizer, RoFormerTokenizerFast
    from roformer_np.tokenizer import load_vocab

    directory = _scratch()
    try:
        path = directory / "vocab.txt"
        path.write_bytes(data)
        text = data[:64].decode("utf-8", "replace")
        for cls in (RoFormerTokenizer, RoFormerTokenizerFast):
            tokenizer, error = _run(cls.from_pretrained, directory, len(data))
            if error is not None:
                continue
            lines = len(load_vocab(path))
            for sample in (*VOCAB_TEXTS, text):
                try:
                    ids = tokenizer(sample)["input_ids"]
                except ValueError:
                    continue  # e.g. a vocabulary without [UNK]: refused with the reason
                if not all(type(i) is int and 0 <= i < lines for i in ids):
                    raise Finding(f"{cls.__name__} produced ids outside the {lines}-line vocabulary: {ids[:10]}")
                tokenizer.decode(ids)
    finally:
        _cleanup(directory)


# ---------------------------------------------------------------------------------------------
# Structure-aware mutations (shared by the hypothesis strategies and the atheris mutators)
# ---------------------------------------------------------------------------------------------
HOSTILE_JSON = [None, True, -1, 0, 2**31, 2**63, 2**64, 10**30, -(2**63), 1.5, 1e308, "", "x" * 300, "F32", "BF16",
                [], [0], [2**64], [-1], [0, 2**64], [[[]]], {}, {"a": 1}, "../x", "a\x00b", "\udc80"]
DEEP = "\u0001deep\u0001"  # stands for a deeply nested array, spliced into the JSON text (json.dumps recurses)


def json_paths(value: object) -> list[tuple]:
    """The path (keys / indices) of every node of a JSON value, found iteratively, in a stable order."""
    paths, stack = [], [((), value)]
    while stack:
        path, node = stack.pop()
        paths.append(path)
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        stack.extend((path + (k,), v) for k, v in children)
    return sorted(paths, key=repr)


def replace_json(value: object, path: tuple, new: object, depth: int) -> bytes:
    """The JSON text of ``value`` with the node at ``path`` replaced by ``new`` (``DEEP``: ``depth`` nested [])."""
    if path:
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = new
    else:
        value = new
    return json.dumps(value).replace(json.dumps(DEEP), "[" * depth + "]" * depth).encode()


def random_json_mutation(raw: bytes, rng) -> bytes | None:
    """``raw`` JSON with one node replaced by a hostile value (``rng``: a random.Random), None if not JSON."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    depth = rng.choice([rng.randint(1, 70), rng.randint(60, 100_000)])
    return replace_json(value, rng.choice(json_paths(value)), rng.choice([*HOSTILE_JSON, DEEP]), depth)


def split_safetensors(data: bytes) -> tuple[bytes, bytes] | None:
    """(header bytes, data section) of a safetensors file whose length prefix is consistent, else None."""
    if len(data) < 8:
        return None
    (n,) = struct.unpack("<Q", data[:8])
    return (data[8 : 8 + n], data[8 + n :]) if n <= len(data) - 8 else None


def join_safetensors(header: bytes, section: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header + section


TARGETS: dict[str, Callable[[bytes], None]] = {
    "safetensors": fuzz_safetensors, "torch": fuzz_torch, "config": fuzz_config, "vocab": fuzz_vocab,
}
