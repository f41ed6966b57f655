"""Checkpoint files: memory-mapped safetensors reading and writing, and the table of state-dict names.

Weights live in a flat ``dict[str, ndarray]`` under their Hugging Face state-dict names, so any Hugging Face
checkpoint loads as-is. This is the one module that spells those names out.
"""

from __future__ import annotations

import json
import math
import os
import struct
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .config import RoFormerConfig, junnyu_field
from .errors import CheckpointError
from .jsonio import loads_json, read_json
from .lowp import BF16Weight, Int8Weight

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
PT_WEIGHTS_NAME = "pytorch_model.bin"
PT_WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"
BASE_PREFIX = "roformer."

# safetensors dtype tag -> (numpy dtype of the stored bits, itemsize)
_ST_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # widened to float32 on load: numpy has no bfloat16
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NP_TO_ST = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
             np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.int16): "I16",
             np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8", np.dtype(np.bool_): "BOOL"}


__all__ = ["CheckpointError", "load_weights", "read_safetensors", "save_weights"]  # CheckpointError: errors.py
MAX_HEADER_BYTES = 100_000_000  # the safetensors package's own limit
MAX_NDIM = 64
MAX_NAME_BYTES = 255  # a shard file name: the longest a file system allows


# ---------------------------------------------------------------------------------------------
# The state-dict names of Hugging Face's RoFormer classes
# ---------------------------------------------------------------------------------------------
def sinusoidal_key() -> str:
    return "encoder.embed_positions.weight"


POOLER_KEYS = ("pooler.dense.weight", "pooler.dense.bias")  # JunnyU's RoFormerPooler (RoFormer-Sim)


def base_model_shapes(config: RoFormerConfig, pooler: bool = False) -> dict[str, tuple[int, ...]]:
    """Every parameter of ``RoFormerModel`` (no prefix) with its shape, for this configuration.

    RoFormer-V2 (JunnyU's ``norm_type: rms_norm`` / ``use_bias: false``) has no LayerNorm parameters and no
    biases on the six backbone linears (query, key, value, attention output, intermediate, output).
    ``pooler``: with JunnyU's pooler (:data:`POOLER_KEYS`), which a model has when its checkpoint carries it.
    """
    V, E, C, F = config.vocab_size, config.embedding_size, config.hidden_size, config.intermediate_size
    layer_norm = junnyu_field(config, "norm_type") == "layer_norm"
    use_bias = junnyu_field(config, "use_bias")
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (V, E),
        "embeddings.token_type_embeddings.weight": (config.type_vocab_size, E),
    }
    if layer_norm:
        shapes["embeddings.LayerNorm.weight"] = (E,)
        shapes["embeddings.LayerNorm.bias"] = (E,)
    if E != C:
        shapes["embeddings_project.weight"] = (C, E)
        shapes["embeddings_project.bias"] = (C,)
    shapes[sinusoidal_key()] = (config.max_position_embeddings, config.head_size)
    blocks = ["attention"] + (["crossattention"] if config.add_cross_attention else [])
    for i in range(config.num_hidden_layers):
        p = f"encoder.layer.{i}."
        for block in blocks:
            linears = [f"{block}.self.{name}" for name in ("query", "key", "value")] + [f"{block}.output.dense"]
            for name in linears:
                shapes[f"{p}{name}.weight"] = (C, C)
                if use_bias:
                    shapes[f"{p}{name}.bias"] = (C,)
            if layer_norm:
                shapes[f"{p}{block}.output.LayerNorm.weight"] = (C,)
                shapes[f"{p}{block}.output.LayerNorm.bias"] = (C,)
        for name, shape in (("intermediate.dense", (F, C)), ("output.dense", (C, F))):  # in the state dict's order
            shapes[f"{p}{name}.weight"] = shape
            if use_bias:
                shapes[f"{p}{name}.bias"] = shape[:1]
        if layer_norm:
            shapes[f"{p}output.LayerNorm.weight"] = (C,)
            shapes[f"{p}output.LayerNorm.bias"] = (C,)
    if pooler:
        shapes[POOLER_KEYS[0]] = (C, C)
        shapes[POOLER_KEYS[1]] = (C,)
    return shapes


def optional_keys() -> set[str]:
    """Parameters a checkpoint may omit because they are recomputed (Hugging Face does the same)."""
    return {sinusoidal_key()}


# The task heads, by the ``head_kind`` of each class in :mod:`roformer_np.heads`. Keys sit beside the
# ``roformer.`` backbone keys of a head checkpoint.
HEAD_KINDS = (
    "masked_lm",
    "causal_lm",
    "sequence_classification",
    "multiple_choice",
    "token_classification",
    "question_answering",
)
LM_BIAS_KEY = "cls.predictions.bias"
DECODER_WEIGHT_KEY = "cls.predictions.decoder.weight"
DECODER_BIAS_KEY = "cls.predictions.decoder.bias"
WORD_EMBEDDINGS_KEY = "embeddings.word_embeddings.weight"


def head_shapes(kind: str, config: RoFormerConfig) -> dict[str, tuple[int, ...]]:
    """The parameters of one task head (no ``roformer.`` prefix, as Hugging Face names them) and their shapes.

    The language-model heads list their decoder weight/bias too; those are aliases resolved by
    :func:`tied_aliases` (Hugging Face's ``_tied_weights_keys``) and usually absent from checkpoints.
    """
    V, E, C, N = config.vocab_size, config.embedding_size, config.hidden_size, config.num_labels
    if kind in ("masked_lm", "causal_lm") and junnyu_field(config, "norm_type") != "layer_norm":
        return {DECODER_WEIGHT_KEY: (V, E)}  # RoFormer-V2: the bare decoder (JunnyU's RoFormerV2LMPredictionHead)
    if kind in ("masked_lm", "causal_lm"):
        return {
            LM_BIAS_KEY: (V,),
            "cls.predictions.transform.dense.weight": (E, C),
            "cls.predictions.transform.dense.bias": (E,),
            "cls.predictions.transform.LayerNorm.weight": (E,),
            "cls.predictions.transform.LayerNorm.bias": (E,),
            DECODER_WEIGHT_KEY: (V, E),
            DECODER_BIAS_KEY: (V,),
        }
    if kind == "sequence_classification":
        return {
            "classifier.dense.weight": (C, C),
            "classifier.dense.bias": (C,),
            "classifier.out_proj.weight": (N, C),
            "classifier.out_proj.bias": (N,),
        }
    if kind == "multiple_choice":
        shapes: dict[str, tuple[int, ...]] = {}
        if getattr(config, "summary_use_proj", False):
            out = N if getattr(config, "summary_proj_to_labels", False) and N > 0 else C
            shapes["sequence_summary.summary.weight"] = (out, C)
            shapes["sequence_summary.summary.bias"] = (out,)
        shapes["classifier.weight"] = (1, C)
        shapes["classifier.bias"] = (1,)
        return shapes
    if kind == "token_classification":
        return {"classifier.weight": (N, C), "classifier.bias": (N,)}
    if kind == "question_answering":
        return {"qa_outputs.weight": (2, C), "qa_outputs.bias": (2,)}
    raise ValueError(f"unknown head kind {kind!r}; expected one of {HEAD_KINDS}")


def tied_aliases(kind: str, config: RoFormerConfig) -> dict[str, str]:
    """Head keys that alias another parameter (full state-dict names): alias -> source.

    The decoder bias always *is* ``cls.predictions.bias``; the decoder weight is the word-embedding
    matrix unless ``tie_word_embeddings`` is False. Hugging Face's safetensors files omit the aliases.
    """
    if kind not in ("masked_lm", "causal_lm"):
        return {}
    aliases = {DECODER_BIAS_KEY: LM_BIAS_KEY} if DECODER_BIAS_KEY in head_shapes(kind, config) else {}
    if config.tie_word_embeddings:
        aliases[DECODER_WEIGHT_KEY] = BASE_PREFIX + WORD_EMBEDDINGS_KEY
    return aliases


def add_prefix(weights: Mapping[str, np.ndarray], prefix: str = BASE_PREFIX) -> dict[str, np.ndarray]:
    """Base-model keys as the keys of a head checkpoint (``roformer.*``)."""
    return {prefix + k: v for k, v in weights.items()}


def split_head_checkpoint(
    weights: Mapping[str, np.ndarray], kind: str, config: RoFormerConfig
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str], list[str]]:
    """Match a checkpoint to a head class the way Hugging Face does.

    A checkpoint without any ``roformer.`` key is a bare RoFormerModel state dict: every key gets the prefix.
    Returns (backbone weights without prefix, head weights found, missing head keys, unused head-level keys).
    Missing keys are reported as Hugging Face reports them: an alias is not missing when its partner was
    loaded (the tied decoder weight of a checkpoint that has word embeddings), a wholly absent alias group
    is (both ``cls.predictions.bias`` and ``cls.predictions.decoder.bias``).
    """
    if not any(k.startswith(BASE_PREFIX) for k in weights):
        weights = add_prefix(weights)
    base = {k[len(BASE_PREFIX):]: v for k, v in weights.items() if k.startswith(BASE_PREFIX)}
    rest = {k: v for k, v in weights.items() if not k.startswith(BASE_PREFIX)}
    expected = head_shapes(kind, config)
    for key, shape in expected.items():
        if key in rest and tuple(rest[key].shape) != tuple(shape):
            raise CheckpointError(
                f"head weight {key!r} has shape {tuple(rest[key].shape)}, the configuration needs {tuple(shape)}"
            )
    head = {k: rest[k] for k in expected if k in rest}
    aliases = tied_aliases(kind, config)
    present = set(rest) | {BASE_PREFIX + k for k in base}
    missing = [k for k in expected if k not in rest]
    for alias, source in aliases.items():
        if source in present or alias in present:
            missing = [k for k in missing if k not in (alias, source)]
        if source in expected and source not in head and alias in head:
            head[source] = head[alias]  # an old file holding only the alias still fills the shared parameter
    unexpected = sorted(k for k in rest if k not in expected)
    return base, head, sorted(missing), unexpected


# ---------------------------------------------------------------------------------------------
# safetensors reading (memory-mapped)
# ---------------------------------------------------------------------------------------------
def checked_shape(shape: object, itemsize: int, what: str) -> tuple[int, ...]:
    """A tensor shape read from a file, as a tuple NumPy can hold; CheckpointError otherwise.

    Every dimension is a non-negative int (not a bool) and the non-zero ones, times ``itemsize``, fit in
    2**63 bytes — NumPy's limit even for an empty array — computed with Python ints, so nothing wraps.
    """
    if type(shape) not in (list, tuple) or len(shape) > MAX_NDIM or not all(type(s) is int and s >= 0 for s in shape):
        raise CheckpointError(f"{what} has an invalid shape {shape!r:.100} (up to {MAX_NDIM} non-negative ints)")
    if math.prod(s for s in shape if s) * itemsize >= 2**63:
        raise CheckpointError(f"{what} has a shape {list(shape)!r:.100} too large for any array")
    return tuple(shape)


def _read_header(path: Path) -> tuple[dict, dict[str, tuple[np.dtype, tuple[int, ...], int, int]], int]:
    """Parse and validate a safetensors header as the format's rules say (and the safetensors package does).

    Returns (metadata, {name: (stored dtype, shape, begin, end)}, offset of the data section). The tensors'
    byte ranges must tile the data section exactly: in order, no gaps, no overlaps, nothing left over.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: not a safetensors file (only {size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n == 0 or n > min(size - 8, MAX_HEADER_BYTES):
            raise CheckpointError(f"{path}: corrupt safetensors header length {n} (file is {size} bytes)")
        header = loads_json(fh.read(n), f"{path} (safetensors header)")
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header (not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{path}: safetensors __metadata__ must map strings to strings")
    data_start, data_size = 8 + n, size - 8 - n
    entries = {}
    for name, info in header.items():
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise CheckpointError(f"{path}: corrupt entry for tensor {name!r} (needs dtype, shape, data_offsets)")
        tag, offsets = info["dtype"], info["data_offsets"]
        if not isinstance(tag, str) or tag not in _ST_DTYPES:
            raise CheckpointError(f"{path}: tensor {name!r} has unsupported dtype {tag!r:.40}; "
                                  f"expected one of {sorted(_ST_DTYPES)}")
        stored = _ST_DTYPES[tag]
        shape = checked_shape(info["shape"], stored.itemsize, f"{path}: tensor {name!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            raise CheckpointError(f"{path}: tensor {name!r} has invalid data_offsets {offsets!r:.80}")
        begin, end = offsets
        nbytes = math.prod(shape) * stored.itemsize
        if end - begin != nbytes:
            raise CheckpointError(f"{path}: tensor {name!r} needs {nbytes} bytes but spans {end - begin}")
        if end > data_size:
            raise CheckpointError(
                f"{path}: file is truncated: tensor {name!r} ends at byte {end} of a {data_size}-byte data section"
            )
        entries[name] = (stored, shape, begin, end)
    covered = 0
    for begin, end, name in sorted((b, e, k) for k, (_, _, b, e) in entries.items()):
        if begin != covered:
            raise CheckpointError(f"{path}: tensor {name!r} starts at byte {begin}, expected {covered} "
                                  "(tensors overlap or leave a gap)")
        covered = end
    if covered != data_size:
        raise CheckpointError(f"{path}: {data_size - covered} bytes after the last tensor (a corrupt data section)")
    return metadata, entries, data_start


def _validate_with_safetensors(path: Path) -> None:
    """Let the safetensors package (the format's reference parser) vet the file too."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as fh:
            fh.keys()
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: corrupt safetensors file ({exc})") from None


def _bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32: shift the bits up."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file (its header validated)."""
    try:
        return _read_header(Path(path))[0]
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the safetensors file ({exc})") from None


def read_safetensors(
    path: str | os.PathLike, dtype: np.dtype | None = None, keep_bf16: bool = False
) -> dict[str, np.ndarray]:
    """Tensors of one ``.safetensors`` file, memory-mapped.

    Tensors whose stored dtype equals ``dtype`` (or every float tensor when ``dtype`` is None and it is
    F32/F64/F16) are read-only views into the mapped file, with no copy. BF16 widens to float32 first
    (``keep_bf16``: it stays a mapped :class:`~roformer_np.lowp.BF16Weight` of its bits, or a float32 array when
    not 2-D); float tensors are converted to ``dtype`` when given.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weight file not found: {path}")
    try:
        metadata, entries, data_start = _read_header(path)
        _validate_with_safetensors(path)
        # an empty data section cannot be mapped, and holds only zero-element tensors
        mm = np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size > data_start else None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the safetensors file ({exc})") from None
    if metadata.get("format") not in (None, "pt", "np", "numpy", "tf", "flax", "mlx"):
        warnings.warn(f"{path}: unusual safetensors format tag {metadata.get('format')!r}", stacklevel=2)
    out: dict[str, np.ndarray] = {}
    for name, (stored, shape, begin, end) in entries.items():
        if end > begin:
            arr = np.ndarray(shape, dtype=stored, buffer=mm[data_start + begin : data_start + end])
        else:
            arr = np.zeros(shape, dtype=stored)
            arr.flags.writeable = False
        if stored == _ST_DTYPES["BF16"]:
            if keep_bf16 and arr.ndim == 2:
                out[name] = BF16Weight(arr)
                continue
            arr = _bf16_to_f32(arr)
        if dtype is not None and arr.dtype.kind == "f" and arr.dtype != dtype:
            arr = arr.astype(dtype)
        out[name] = arr
    return out


def release_pages(arr: np.ndarray) -> bool:
    """Drop the resident pages of a tensor memory-mapped from a weight file (``madvise(MADV_DONTNEED)``).

    For a tensor the model no longer reads (it was packed into another layout): the file pages stay in the
    page cache, so the memory is returned without changing any data -- a later read faults them back in
    from the file. Pages shared with a neighbouring tensor are dropped too, and come back the same way.
    Returns whether anything was released (False for arrays not mapped from a file, or without madvise)."""
    import mmap

    base, mapped = arr, None
    while base is not None and mapped is None:
        mapped = getattr(base, "_mmap", None)
        base = getattr(base, "base", None)
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if mapped is None or advice is None or arr.nbytes == 0 or mapped.closed:
        return False
    start = arr.ctypes.data - np.frombuffer(mapped, dtype=np.uint8).ctypes.data
    page = mmap.PAGESIZE
    first, end = start // page * page, min(len(mapped), -(-(start + arr.nbytes) // page) * page)
    if start < 0 or first >= end:
        return False
    mapped.madvise(advice, first, end - first)
    return True


def load_weights(
    path: str | os.PathLike, dtype: np.dtype | None = None, check_finite: bool = True, keep_bf16: bool = False
) -> dict[str, np.ndarray]:
    """All tensors of a checkpoint: a directory, a ``.safetensors`` file or a sharded index.

    Directories are searched for ``model.safetensors``, then ``model.safetensors.index.json`` (shards),
    then ``pytorch_model.bin`` and ``pytorch_model.bin.index.json`` (read without torch, see
    :mod:`roformer_np.torch_pickle` when available), Hugging Face's order of preference.
    ``check_finite``: refuse a float tensor holding NaN or ±inf (:func:`require_finite`); ``keep_bf16``: BF16
    matrices of a safetensors file stay bf16 (see :func:`read_safetensors`).
    """
    if not isinstance(check_finite, bool):
        raise ValueError(f"check_finite must be True or False, got {check_finite!r}")
    path = Path(path)
    names = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, PT_WEIGHTS_NAME, PT_WEIGHTS_INDEX_NAME)
    if path.is_dir():
        for candidate in names:
            if (path / candidate).is_file():
                return load_weights(path / candidate, dtype, check_finite, keep_bf16)
        raise CheckpointError(f"no weights in {path}: expected one of {', '.join(names)}")
    if not path.exists():
        raise CheckpointError(f"weight file not found: {path}")
    if path.name.endswith(".index.json"):
        return _load_sharded(path, dtype, check_finite, keep_bf16)  # each shard is checked as it is read
    weights = _load_file(path, dtype, keep_bf16)
    if check_finite:
        # each checked chunk's file pages are returned: the model packs most tensors into another layout (and
        # gathers only the rows it needs from the embeddings), so the whole file need never be resident at once
        # -- a page read again faults back in from the page cache
        require_finite(weights, str(path), release=True)
    return weights


def _load_file(path: Path, dtype: np.dtype | None, keep_bf16: bool = False) -> dict[str, np.ndarray]:
    """The tensors of one weight file (``.bin`` or ``.safetensors``)."""
    if path.suffix == ".bin":
        try:
            from .torch_pickle import read_torch_checkpoint
        except ImportError:
            raise CheckpointError(
                f"{path}: reading pytorch_model.bin needs roformer_np.torch_pickle, which this build lacks; "
                "convert the checkpoint to model.safetensors"
            ) from None
        return read_torch_checkpoint(path, dtype)
    return read_safetensors(path, dtype, keep_bf16)


def read_shard_index(index_path: Path) -> dict[str, str]:
    """The ``weight_map`` of a ``*.index.json`` (tensor name -> shard file beside it), validated.

    A shard name must be a plain file name (no directory part, not ``.``/``..``/an index, no NUL, at most
    255 UTF-8 bytes — checked before the file system sees it, which would raise ENAMETOOLONG).
    """
    index = read_json(index_path, "shard index")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(f"{index_path}: corrupt shard index (weight_map must map names to file names)")
    for shard in set(weight_map.values()):
        try:
            encoded = shard.encode("utf-8")
        except UnicodeEncodeError:
            encoded = b"\0"
        if (len(encoded) > MAX_NAME_BYTES or b"\0" in encoded or Path(shard).name != shard
                or shard in ("", ".", "..") or shard.endswith(".index.json")):
            raise CheckpointError(f"{index_path}: shard {shard!r:.80} must be a file name beside the index "
                                  f"(at most {MAX_NAME_BYTES} bytes)")
    return weight_map


def _load_sharded(index_path: Path, dtype: np.dtype | None, check_finite: bool, keep_bf16: bool = False
                  ) -> dict[str, np.ndarray]:
    weight_map = read_shard_index(index_path)
    out: dict[str, np.ndarray] = {}
    for shard in sorted(set(weight_map.values())):
        if (index_path.parent / shard).is_dir():
            raise CheckpointError(f"{index_path}: shard {shard!r} is a directory, not a weight file")
        tensors = load_weights(index_path.parent / shard, dtype, check_finite, keep_bf16)
        for name in tensors:
            if weight_map.get(name) == shard:
                out[name] = tensors[name]
    missing = sorted(set(weight_map) - set(out))
    if missing:
        raise CheckpointError(f"{index_path}: shards lack tensors listed in the index: {missing[:5]}")
    return out


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
def save_weights(
    weights: Mapping[str, np.ndarray], path: str | os.PathLike, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write ``weights`` as a safetensors file that Hugging Face loads (``format: pt`` metadata).

    ``path`` may be a directory (the file is then ``model.safetensors`` inside it). Every tensor is written
    as its own bytes, so arrays that share memory (views, tied weights) are stored independently.
    """
    from safetensors.numpy import save_file

    path = Path(path)
    if path.is_dir() or path.suffix != ".safetensors":
        path.mkdir(parents=True, exist_ok=True)
        path = path / SAFE_WEIGHTS_NAME
    tensors = {}
    for name, arr in weights.items():
        arr = np.asarray(arr)
        if arr.dtype not in _NP_TO_ST:
            raise ValueError(f"save_weights: tensor {name!r} has unsupported dtype {arr.dtype}")
        tensors[name] = np.ascontiguousarray(arr)
    save_file(tensors, str(path), metadata={"format": "pt", **(metadata or {})})
    return path


# ---------------------------------------------------------------------------------------------
# Low-precision checkpoints (bf16 / int8 weights, see the README's "bf16 and int8 weights")
# ---------------------------------------------------------------------------------------------
PRECISION_KEY = "roformer_np.precision"  # safetensors metadata: "bfloat16" or "int8"; absent: a float file
INT8_SCHEME_KEY = "roformer_np.int8"
INT8_SCHEME = "symmetric per output channel: weight[j, :] = q[j, :] * scale[j], q int8 in [-127, 127]"
SCALE_SUFFIX = "_scale"  # "<name>.weight" (I8 [n, k]) has its scales in "<name>.weight_scale" (F32 [n])
INT8_QUANT_METHOD = "roformer_np_int8"  # config.json's quantization_config.quant_method of an int8 checkpoint
LOWP_PRECISIONS = ("bfloat16", "int8")
# not linear weights: gathered by index (a handful of rows) or added as a table
FLOAT_MATRICES = ("embeddings.token_type_embeddings.weight", "encoder.embed_positions.weight")


def lowp_weight_keys(shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    """The tensors a bf16 / int8 model holds in low precision: every linear weight and the word embeddings
    (the matrices, [out, in]); norms, biases, the token-type embeddings and the sinusoidal table stay float32."""
    return [k for k, shape in shapes.items()
            if len(shape) == 2 and k.endswith(".weight") and not k.endswith(FLOAT_MATRICES)]


def _weight_file(directory: Path) -> Path | None:
    for name in (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, PT_WEIGHTS_NAME, PT_WEIGHTS_INDEX_NAME):
        if (directory / name).is_file():
            return directory / name
    return None


def checkpoint_precision(path: str | os.PathLike) -> str | None:
    """``"bfloat16"`` or ``"int8"`` for a checkpoint roformer_np saved in low precision (its safetensors metadata
    says so), None for any other checkpoint (a directory, a weight file or a shard index)."""
    path = Path(path)
    file = _weight_file(path) if path.is_dir() else path
    if file is None or not file.is_file() or file.suffix == ".bin" or file.name.endswith(".bin.index.json"):
        return None
    if file.name.endswith(".index.json"):
        shards = sorted(set(read_shard_index(file).values()))
        if not shards:
            return None
        file = file.parent / shards[0]
        if not file.is_file():
            raise CheckpointError(f"{path}: shard {shards[0]!r} not found")
    precision = safetensors_metadata(file).get(PRECISION_KEY)
    if precision is not None and precision not in LOWP_PRECISIONS:
        raise CheckpointError(f"{file}: metadata {PRECISION_KEY}={precision!r:.40}; expected one of {LOWP_PRECISIONS}")
    return precision


def holds_float_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The weight file of a float checkpoint in ``directory`` (one not saved in low precision), or None."""
    directory = Path(directory)
    file = _weight_file(directory) if directory.is_dir() else None
    if file is None:
        return None
    try:
        precision = checkpoint_precision(directory)
    except CheckpointError:
        return file  # unreadable: treated as someone's checkpoint, never overwritten
    return None if precision in LOWP_PRECISIONS else file


def pair_int8(weights: Mapping[str, object], source: str) -> dict[str, object]:
    """An int8 checkpoint's tensors with each I8 matrix and its ``_scale`` vector made one
    :class:`~roformer_np.lowp.Int8Weight`; CheckpointError for a scale without its matrix (or the reverse), a
    wrong dtype or shape, a value -128, or a scale that is not finite and >= 0."""
    out: dict[str, object] = {}
    scales = {k[: -len(SCALE_SUFFIX)]: v for k, v in weights.items() if k.endswith(SCALE_SUFFIX)}
    for name in scales:
        if name not in weights:
            raise CheckpointError(f"{source}: scale tensor {name + SCALE_SUFFIX!r} has no int8 weight {name!r}")
    for name, arr in weights.items():
        if name.endswith(SCALE_SUFFIX) and name[: -len(SCALE_SUFFIX)] in weights:
            continue
        is_int8 = isinstance(arr, np.ndarray) and arr.dtype == np.int8
        if not is_int8:
            if name in scales:
                raise CheckpointError(f"{source}: tensor {name!r} has a scale but is {getattr(arr, 'dtype', '?')}, "
                                      "not int8")
            out[name] = arr
            continue
        if name not in scales:
            raise CheckpointError(f"{source}: int8 tensor {name!r} has no scales ({name + SCALE_SUFFIX!r})")
        scale = scales[name]
        if arr.ndim != 2:
            raise CheckpointError(f"{source}: int8 tensor {name!r} must be a matrix, got shape {arr.shape}")
        if not isinstance(scale, np.ndarray) or scale.dtype != np.float32 or scale.shape != arr.shape[:1]:
            raise CheckpointError(f"{source}: {name + SCALE_SUFFIX!r} must be float32 of shape {arr.shape[:1]}, got "
                                  f"{getattr(scale, 'dtype', '?')} {getattr(scale, 'shape', '?')}")
        if scale.size and not (np.isfinite(scale).all() and scale.min() >= 0):
            raise CheckpointError(f"{source}: {name + SCALE_SUFFIX!r} must hold finite scales >= 0")
        if arr.size and arr.min() < -127:
            raise CheckpointError(f"{source}: int8 tensor {name!r} holds -128 (the format is symmetric: [-127, 127])")
        out[name] = Int8Weight(arr, scale)
    return out


def _st_tensor(name: str, value: object) -> list[tuple[str, str, np.ndarray]]:
    """(name, safetensors dtype tag, array) entries of one tensor of a low-precision state."""
    if isinstance(value, BF16Weight):
        return [(name, "BF16", value.bits)]
    if isinstance(value, Int8Weight):
        return [(name, "I8", value.q), (name + SCALE_SUFFIX, "F32", value.scale)]
    arr = np.asarray(value)
    if arr.dtype not in _NP_TO_ST:
        raise ValueError(f"save_lowp_weights: tensor {name!r} has unsupported dtype {arr.dtype}")
    return [(name, _NP_TO_ST[arr.dtype], arr)]


def write_safetensors(tensors: list[tuple[str, str, np.ndarray]], path: Path, metadata: Mapping[str, str]) -> Path:
    """A safetensors file of ``(name, dtype tag, array)`` (any tag, BF16 included), written beside ``path`` and
    moved over it once complete (a model mapping the old file keeps reading the old file)."""
    # wider items first, so every tensor starts aligned to its item size (the header is padded to 8 bytes);
    # then by name: the same tensors give the same bytes whatever order they come in
    ordered = sorted(tensors, key=lambda t: (-t[2].dtype.itemsize, t[0]))
    header: dict[str, object] = {"__metadata__": dict(metadata)}
    offset = 0
    for name, tag, arr in ordered:
        header[name] = {"dtype": tag, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as fh:
            fh.write(struct.pack("<Q", len(text)) + text)
            for _, _, arr in ordered:
                fh.write(np.ascontiguousarray(arr).data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def save_lowp_weights(weights: Mapping[str, object], directory: str | os.PathLike, precision: str) -> Path:
    """Write a bf16 / int8 model's tensors as ``model.safetensors`` in ``directory``: BF16 tensors, or I8 matrices
    with their F32 ``<name>_scale``, the rest float32; the metadata names the format (:data:`PRECISION_KEY`)."""
    if precision not in LOWP_PRECISIONS:
        raise ValueError(f"precision must be one of {LOWP_PRECISIONS}, got {precision!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    metadata = {"format": "pt", PRECISION_KEY: precision}
    if precision == "int8":
        metadata[INT8_SCHEME_KEY] = INT8_SCHEME
    tensors = [entry for name, value in weights.items() for entry in _st_tensor(name, value)]
    return write_safetensors(tensors, directory / SAFE_WEIGHTS_NAME, metadata)


# ---------------------------------------------------------------------------------------------
# Matching a checkpoint to a model
# ---------------------------------------------------------------------------------------------
def strip_prefix(weights: Mapping[str, np.ndarray], prefix: str = BASE_PREFIX) -> dict[str, np.ndarray]:
    """Keys of a head checkpoint (``roformer.*``) as base-model keys; other keys are kept as they are."""
    if not any(k.startswith(prefix) for k in weights):
        return dict(weights)
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in weights.items()}


def check_weights(
    weights: Mapping[str, np.ndarray],
    expected: Mapping[str, tuple[int, ...]],
    optional: set[str] | frozenset[str] = frozenset(),
    source: str = "checkpoint",
) -> tuple[list[str], list[str]]:
    """Compare a checkpoint with the expected names and shapes.

    Raises :class:`CheckpointError` for a missing required tensor or a tensor of the wrong shape (naming
    the key and both shapes). Returns (missing optional keys, unexpected keys) for the caller to report.
    """
    missing = [k for k in expected if k not in weights]
    required_missing = [k for k in missing if k not in optional]
    if required_missing:
        more = f" (and {len(required_missing) - 5} more)" if len(required_missing) > 5 else ""
        raise CheckpointError(f"{source} is missing required weights: {required_missing[:5]}{more}")
    for key, shape in expected.items():
        if key in weights and tuple(weights[key].shape) != tuple(shape):
            raise CheckpointError(
                f"{source}: weight {key!r} has shape {tuple(weights[key].shape)}, "
                f"the configuration needs {tuple(shape)}"
            )
    unexpected = sorted(k for k in weights if k not in expected)
    return missing, unexpected


# ---------------------------------------------------------------------------------------------
# Checks of a loaded checkpoint (cheap: names and shapes, or one vectorised pass over the values)
# ---------------------------------------------------------------------------------------------
LAYER_PREFIX = "encoder.layer."
FINITE_CHUNK = 2**20  # elements per np.isfinite pass: a 1 MB scratch whatever the size of the tensor


def require_finite(weights: Mapping[str, np.ndarray], source: str, release: bool = False) -> None:
    """Raise :class:`CheckpointError` naming the first float tensor holding NaN or ±inf, and how many it holds.

    One such value makes every output NaN. Each float tensor is read once, in chunks (a memory-mapped file is
    paged in, which the first forward pass does anyway); integer and boolean tensors cannot hold them. The
    compiled kernels count on every thread (``count_nonfinite``: no scratch, so in larger chunks); NumPy's
    ``isfinite`` counts otherwise.
    ``release``: return each checked chunk's file pages (:func:`release_pages`), for tensors that are converted
    rather than used as stored, so the whole file is never resident at once.
    """
    counter = _native_nonfinite_counter()
    for name, arr in weights.items():
        bf16 = isinstance(arr, BF16Weight)  # kept as bits: a NaN or infinity has all eight exponent bits set
        if bf16:
            arr = arr.bits
        elif not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
            continue
        if arr.size == 0:
            continue
        flat = arr.reshape(-1)
        chunk = NATIVE_FINITE_CHUNK if counter is not None and flat.flags.c_contiguous else FINITE_CHUNK
        for start in range(0, flat.size, chunk):
            found = _count_nonfinite(flat[start : start + chunk], bf16, counter)
            if release:
                release_pages(flat[start : start + chunk])
            if found:
                bad = found + sum(_count_nonfinite(flat[i : i + chunk], bf16, counter)
                                  for i in range(start + chunk, flat.size, chunk))
                raise CheckpointError(
                    f"{source}: tensor {name!r} holds {bad} non-finite value{'s' if bad > 1 else ''} (NaN or ±inf), "
                    "which would make every output NaN; pass check_finite=False to load it anyway"
                )


NATIVE_FINITE_CHUNK = 2**22  # elements per native count: 16 MB of float32 paged in (and released) at a time


def _native_nonfinite_counter():
    """The compiled ``count_nonfinite`` where the native kernels are in use, else None."""
    from . import backend

    if backend.current_backend(None) == "numpy":
        return None
    module = backend._native_module()
    return getattr(module, "count_nonfinite", None)


def _count_nonfinite(values: np.ndarray, bf16: bool, counter) -> int:
    if counter is not None:
        try:
            return int(counter(values, bf16))
        except ValueError:  # a layout or dtype it does not read (a strided view, float128)
            pass
    finite = _bf16_finite(values) if bf16 else np.isfinite(values)
    return int(values.size - np.count_nonzero(finite))


def _bf16_finite(bits: np.ndarray) -> np.ndarray:
    return (bits & np.uint16(0x7F80)) != np.uint16(0x7F80)


def check_layer_count(weights: Mapping[str, np.ndarray], config: RoFormerConfig, source: str) -> None:
    """A config with more layers than the checkpoint (base-model names) holds is refused here, naming the field,
    from the tensor names alone: before the expected names (16 a layer) are listed for it."""
    held = set()
    for key in weights:
        if key.startswith(LAYER_PREFIX):
            index = key[len(LAYER_PREFIX):].split(".", 1)[0]
            if index.isdigit() and len(index) < 10:
                held.add(int(index))
    if config.num_hidden_layers > len(held):
        which = f" (encoder.layer.{min(held)} .. encoder.layer.{max(held)})" if held else ""
        raise CheckpointError(
            f"{source}: the config's num_hidden_layers={config.num_hidden_layers} but the checkpoint holds "
            f"{len(held)} layer{'s' if len(held) != 1 else ''}{which}"
        )
