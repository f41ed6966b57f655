"""RoFormerModel: embeddings -> N post-norm blocks with rotary self-attention -> hidden states (-> pooler).

The forward pass is a set of pure functions over a :class:`Params` tree (built once from the flat Hugging
Face state dict); :class:`RoFormerModel` is a thin Hugging Face-style wrapper around them. Decoder mode
adds the causal mask, optional cross-attention and the key/value cache (:mod:`roformer_np.cache`).

RoFormer-V2 (JunnyU's ``norm_type: rms_norm``, ``use_bias: false``) is the same graph with the parameter-free
RMS norm in place of each LayerNorm and no bias on the six backbone linears: its absent parameters are None in
:class:`Params` and the kernels take None for them. A checkpoint with ``pooler.*`` weights (RoFormer-Sim) also
gets JunnyU's pooler: ``pooler_activation(dense(h[:, 0]))``.

Dimension legend: B batch, T new tokens, P cached length, S = P + T, H heads, D head size, C hidden size,
E embedding size, F intermediate size, V vocab size, M max positions, L layers, Se encoder length.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from . import lowp, ops, pages, panel_cache
from .activations import get_activation
from .backend import get_kernels, pack_lowp, pack_weight, pack_weight_rows, packs_lowp, packs_weights
from .cache import KVCache
from .config import CONFIG_NAME, RoFormerConfig, config_for_loading, junnyu_field
from .device import InferenceModeMixin
from .errors import CheckpointError
from .hub import CheckpointFiles, pop_hub_kwargs, resolve_checkpoint
from .outputs import BaseModelOutputWithPastAndCrossAttentions
from .weights import (
    INT8_QUANT_METHOD,
    LOWP_PRECISIONS,
    POOLER_KEYS,
    PT_WEIGHTS_INDEX_NAME,
    PT_WEIGHTS_NAME,
    SAFE_WEIGHTS_INDEX_NAME,
    SAFE_WEIGHTS_NAME,
    base_model_shapes,
    check_layer_count,
    check_weights,
    checkpoint_precision,
    holds_float_checkpoint,
    load_weights,
    lowp_weight_keys,
    optional_keys,
    pair_int8,
    release_pages,
    require_finite,
    save_lowp_weights,
    save_weights,
    sinusoidal_key,
    strip_prefix,
)

Array = np.ndarray
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------
# Biases are None without ``use_bias`` and LayerNorm parameters None under ``norm_type: rms_norm`` (V2).
@dataclass
class AttentionParams:
    """One attention block. Self-attention uses w_qkv [3C, C]; cross-attention uses w_q and w_kv [2C, C]."""

    w_qkv: Array
    b_qkv: Array | None
    w_out: Array  # [C, C]
    b_out: Array | None
    ln_weight: Array | None
    ln_bias: Array | None


@dataclass
class LayerParams:
    attention: AttentionParams
    crossattention: AttentionParams | None
    w_in: Array  # [F, C]
    b_in: Array | None
    w_out: Array  # [C, F]
    b_out: Array | None
    ln_weight: Array | None
    ln_bias: Array | None


@dataclass
class Params:
    word_embeddings: Array  # [V, E]
    token_type_embeddings: Array  # [N, E]
    emb_ln_weight: Array | None
    emb_ln_bias: Array | None
    project_weight: Array | None  # [C, E] when E != C
    project_bias: Array | None
    positions: Array | SinusoidalPositions  # [M, D] sinusoidal table (stored, or computed as far as used)
    layers: list[LayerParams] = field(default_factory=list)
    pooler_weight: Array | None = None  # [C, C] (RoFormer-Sim)
    pooler_bias: Array | None = None


def _stacked(w: dict[str, Array], names: list[str], stack: Callable[[list], Any] | None = None) -> Array | None:
    """The named tensors concatenated (or ``stack(parts)``), or None when the checkpoint has none of them
    (bias-free V2)."""
    parts = [w.get(n) for n in names]
    if parts[0] is None:
        return None
    if stack is not None and all(isinstance(part, np.ndarray) for part in parts):
        return stack(parts)
    if lowp.is_lowp(parts[0]):
        return lowp.concat_rows(parts)
    if any(not isinstance(part, np.ndarray) or part.ndim < 1 for part in parts):
        return np.concatenate(parts)  # whatever NumPy says of them
    rows = sum(np.shape(part)[0] for part in parts)
    dtype = np.result_type(*parts)
    # on 4 KiB pages, as the panels it is packed into (roformer_np.pages: NumPy's huge pages fault in slowly)
    return np.concatenate(parts, out=pages.empty_panels((rows, *np.shape(parts[0])[1:]), dtype))


def _attention_params(w: dict[str, Array], prefix: str, stack: Callable[[list], Any] | None = None
                      ) -> AttentionParams:
    s = f"{prefix}.self."
    return AttentionParams(
        w_qkv=_stacked(w, [s + "query.weight", s + "key.weight", s + "value.weight"], stack),
        b_qkv=_stacked(w, [s + "query.bias", s + "key.bias", s + "value.bias"]),
        w_out=w[f"{prefix}.output.dense.weight"],
        b_out=w.get(f"{prefix}.output.dense.bias"),
        ln_weight=w.get(f"{prefix}.output.LayerNorm.weight"),
        ln_bias=w.get(f"{prefix}.output.LayerNorm.bias"),
    )


class SinusoidalPositions:
    """The ``[M, D]`` sinusoidal table when the checkpoint does not store it, computed only as far as positions
    are used: its rows do not depend on M (every prefix equals the whole table's, bit for bit), and M may be
    up to 2^20. Slicing (``table[a:b]``) and ``np.asarray`` (the whole table, for saving) are what it offers.
    """

    MIN_ROWS = 512  # the first computation covers ordinary lengths at once

    def __init__(self, num_positions: int, dim: int, dtype: np.dtype) -> None:
        self.shape = (num_positions, dim)
        self.dtype = np.dtype(dtype)
        self._rows = np.empty((0, dim), dtype=self.dtype)

    def _upto(self, stop: int) -> Array:
        rows = self._rows  # one read: a thread growing the table replaces it whole
        if stop > rows.shape[0]:
            n = min(self.shape[0], max(stop, 2 * rows.shape[0], self.MIN_ROWS))
            rows = ops.sinusoidal_table(n, self.shape[1]).astype(self.dtype)
            self._rows = rows
        return rows

    def __getitem__(self, key: slice) -> Array:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("SinusoidalPositions supports table[start:stop] only")
        start, stop, _ = key.indices(self.shape[0])
        return self._upto(stop)[start:stop]

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        table = self._upto(self.shape[0])
        return table if dtype is None else table.astype(dtype)


def build_params(weights: Mapping[str, Array], config: RoFormerConfig, dtype: np.dtype,
                 stack_qkv: Callable[[list], Any] | None = None) -> Params:
    """Arrange a base-model state dict (no prefix, checked against :func:`base_model_shapes`, so the keys a
    configuration has no use for are absent) into :class:`Params`, in ``dtype``; :class:`LowpTensors` (a bf16 /
    int8 model) converts each tensor as it is read instead. ``stack_qkv``: how the self-attention's query, key
    and value weights become one (default: concatenated; :func:`~roformer_np.backend.pack_weight_rows` packs
    them straight into panels)."""
    if isinstance(weights, LowpTensors):
        w: Mapping[str, Any] = weights
    else:  # no copy when the dtype already matches
        w = {k: np.asarray(v, dtype=dtype) for k, v in weights.items()}
    table = w.get(sinusoidal_key())
    if table is None:
        table = SinusoidalPositions(config.max_position_embeddings, config.head_size, dtype)
    layers = []
    for i in range(config.num_hidden_layers):
        p = f"encoder.layer.{i}."
        layers.append(
            LayerParams(
                attention=_attention_params(w, p + "attention", stack_qkv),
                crossattention=_attention_params(w, p + "crossattention") if config.add_cross_attention else None,
                w_in=w[p + "intermediate.dense.weight"],
                b_in=w.get(p + "intermediate.dense.bias"),
                w_out=w[p + "output.dense.weight"],
                b_out=w.get(p + "output.dense.bias"),
                ln_weight=w.get(p + "output.LayerNorm.weight"),
                ln_bias=w.get(p + "output.LayerNorm.bias"),
            )
        )
    return Params(
        word_embeddings=w["embeddings.word_embeddings.weight"],
        token_type_embeddings=w["embeddings.token_type_embeddings.weight"],
        emb_ln_weight=w.get("embeddings.LayerNorm.weight"),
        emb_ln_bias=w.get("embeddings.LayerNorm.bias"),
        project_weight=w.get("embeddings_project.weight"),
        project_bias=w.get("embeddings_project.bias"),
        positions=table,
        layers=layers,
        pooler_weight=w.get(POOLER_KEYS[0]),
        pooler_bias=w.get(POOLER_KEYS[1]),
    )


WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
PackedEntry = tuple[Any, int, int]  # (PackedWeight, first row, end row) of one Hugging Face tensor


class ModelWeights(Mapping):
    """The model's parameters under their Hugging Face names (read-only), in the checkpoint's order.

    Plain tensors are held as they are; packed ones (see :func:`pack_params`) are unpacked on access, a new
    array each time -- the model keeps no second copy of them."""

    def __init__(self, plain: dict[str, Array], packed: dict[str, PackedEntry], order: list[str]) -> None:
        self._plain, self._packed, self._order = plain, packed, order

    def __getitem__(self, key: str) -> Array:
        if key in self._packed:
            packed, first, end = self._packed[key]
            return packed.unpack()[first:end]
        return self._plain[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, key: object) -> bool:
        return key in self._plain or key in self._packed

    def materialize(self) -> dict[str, Array]:
        """Every tensor as an array; a packed tensor shared by several keys (q/k/v) is unpacked once."""
        unpacked: dict[int, Array] = {}
        out = {}
        for key in self._order:
            if key in self._packed:
                packed, first, end = self._packed[key]
                out[key] = unpacked.setdefault(id(packed), packed.unpack())[first:end]
            else:
                out[key] = self._plain[key]
        return out

    def low_precision(self) -> dict[str, Any]:
        """Every tensor as held: bf16 / int8 ones as plain containers (the rows of a packed one, unpacked once
        per packed matrix), the others as arrays. For saving a low-precision model."""
        plain: dict[int, Any] = {}
        out = {}
        for key in self._order:
            if key in self._packed:
                held, first, end = self._packed[key]
                out[key] = plain.setdefault(id(held), lowp.as_plain(held)).rows(first, end)
            else:
                out[key] = self._plain[key]
        return out

    def num_elements(self) -> int:
        packed = sum((end - first) * entry.shape[1] for entry, first, end in self._packed.values())
        return int(sum(v.size for v in self._plain.values()) + packed)


def _arrays(value: Any) -> tuple[Array, ...]:
    """The arrays holding a tensor: itself, or a container's bits / (q, scale)."""
    if isinstance(value, lowp.BF16Weight):
        return (value.bits,)
    if isinstance(value, lowp.Int8Weight):
        return value.q, value.scale
    return (value,) if isinstance(value, np.ndarray) else ()


def pack_params(params: Params, config: RoFormerConfig, sources: dict[str, Array] | None = None,
                pack: Callable[[Any], Any] = pack_weight, word_embeddings: bool = False
                ) -> dict[str, PackedEntry]:
    """Replace the linear weights of ``params`` by their packed form (in place); returns where each Hugging
    Face tensor now lives, so that :meth:`RoFormerModel.state_dict` can unpack it on demand.

    Packed: the stacked q/k/v weight, the attention output, both feed-forward weights, the embedding
    projection and the pooler; with ``word_embeddings`` the word embeddings too (the tied LM decoder's weight:
    it streams the panels, and the embedding gathers its rows from them). Never packed: the token-type
    embeddings and cross-attention (sliced by rows).
    ``sources`` (the Hugging Face tensors): each one's file pages are released once it is packed, so a
    memory-mapped checkpoint is never resident beside its packed copy (:func:`~roformer_np.weights.release_pages`).
    ``pack``: float32 :func:`~roformer_np.backend.pack_weight`, or for bf16 / int8 containers
    :func:`~roformer_np.backend.pack_lowp` (or the identity: the containers stay plain, see :func:`lowp_entries`).
    """
    entries: dict[str, PackedEntry] = {}

    def put(key: str, packed: Any, rows: int | None = None, first: int = 0) -> Any:
        entries[key] = (packed, first, first + (rows if rows is not None else packed.shape[0]))
        if sources is not None and key in sources:
            for arr in _arrays(sources[key]):
                release_pages(arr)
        return packed

    c = config.hidden_size
    for i, layer in enumerate(params.layers):
        p = f"encoder.layer.{i}."
        att = layer.attention
        if not _is_packed(att.w_qkv):  # (build_params may have packed it from its three parts)
            att.w_qkv = pack(att.w_qkv)  # [3C, C]: one GEMM for queries, keys and values
        for j, name in enumerate(("query", "key", "value")):
            put(f"{p}attention.self.{name}.weight", att.w_qkv, c, j * c)
        att.w_out = put(f"{p}attention.output.dense.weight", pack(att.w_out))
        layer.w_in = put(f"{p}intermediate.dense.weight", pack(layer.w_in))
        layer.w_out = put(f"{p}output.dense.weight", pack(layer.w_out))
    if params.project_weight is not None:
        params.project_weight = put("embeddings_project.weight", pack(params.project_weight))
    if params.pooler_weight is not None:
        params.pooler_weight = put(POOLER_KEYS[0], pack(params.pooler_weight))
    if word_embeddings:
        params.word_embeddings = put(WORD_EMBEDDINGS, pack(params.word_embeddings))
    return entries


# ---------------------------------------------------------------------------------------------
# bf16 / int8 weights
# ---------------------------------------------------------------------------------------------
class LowpTensors(Mapping):
    """A state dict as a bf16 / int8 model reads it: the ``lowp_keys`` tensors as bf16 / int8 containers
    (:func:`roformer_np.lowp.convert`, a block of rows at a time, each block's file pages released once
    converted), every other one float32 (kept in :attr:`floats`). Converted when read, so a model is built
    tensor by tensor, each packed before the next is read: never the whole checkpoint in two forms at once.

    Containers already of ``precision`` (a low-precision checkpoint) are kept as they are: nothing is rounded
    twice. int8 containers are refused for bf16 (dequantizing and rounding again would lose both ways).
    """

    def __init__(self, weights: Mapping[str, Any], lowp_keys: set[str], precision: str,
                 pack: Callable[[Any], Any] | None = None, pack_keys: Iterable[str] = ()) -> None:
        for key, value in weights.items():
            if isinstance(value, lowp.Int8Weight) and precision != "int8":
                raise ValueError(f"tensor {key!r} holds int8 weights: pass quantize='int8' (they are not dequantized "
                                 f"into a {precision} model)")
        self._weights, self._lowp_keys, self.precision = weights, lowp_keys, precision
        # ``pack_keys`` are converted straight into ``pack``'s layout, block by block (lowp.pack_blockwise)
        self._pack, self._pack_keys = pack, set(pack_keys) if pack is not None else set()
        self.floats: dict[str, Array] = {}

    def __getitem__(self, key: str) -> Any:
        value = self._weights[key]
        if key in self._pack_keys:
            return lowp.pack_blockwise(value, self.precision, self._pack, release_pages)
        if key in self._lowp_keys:
            return lowp.convert(value, self.precision, release_pages)
        if key not in self.floats:
            if isinstance(value, lowp.BF16Weight):
                self.floats[key] = value.unpack()
            else:
                # a private copy (they are small: norms, biases, token types, the table), and the file pages
                # returned: a view would keep faulting in the page-cache folios it shares with the big tensors
                # around it (converted and released), tens of MB of a file the model no longer reads
                self.floats[key] = np.array(value, np.float32)
                if isinstance(value, np.ndarray):
                    release_pages(value)
        return self.floats[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._weights)

    def __len__(self) -> int:
        return len(self._weights)


def lowp_entries(params: Params, config: RoFormerConfig, sources: dict[str, Any], backend: str | None
                 ) -> dict[str, PackedEntry]:
    """Where each low-precision tensor of a bf16 / int8 model lives (as :func:`pack_params`): the backbone
    linears packed for the low-precision micro-kernels when they run (:func:`runs_lowp_kernels`), else plain
    containers; the word embeddings likewise (packed while converted, see :class:`LowpTensors`: rows are
    gathered from the panels, and the tied LM decoder streams them); cross-attention (sliced by rows) always
    plain. The model keeps no second copy of any of them."""
    packed = runs_lowp_kernels(backend)
    entries = pack_params(params, config, sources if packed else None, pack_lowp if packed else _same)
    v = params.word_embeddings.shape[0]
    entries[WORD_EMBEDDINGS] = (params.word_embeddings, 0, v)
    c = config.hidden_size
    for i, layer in enumerate(params.layers):
        cross = layer.crossattention
        if cross is None:
            continue
        p = f"encoder.layer.{i}.crossattention."
        for j, name in enumerate(("query", "key", "value")):
            entries[f"{p}self.{name}.weight"] = (cross.w_qkv, j * c, (j + 1) * c)
        entries[f"{p}output.dense.weight"] = (cross.w_out, 0, cross.w_out.shape[0])
    return entries


def _is_packed(weight: Any) -> bool:
    """A weight already in the micro-kernels' panel layout (it carries its panels)."""
    return hasattr(weight, "panels") and not isinstance(weight, np.ndarray)


def _same(weight: Any) -> Any:
    return weight


def _row_block(weight: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a weight: an array slice, or a container of those rows (nothing widened)."""
    return weight.rows(start, stop) if lowp.is_lowp(weight) else weight[start:stop]


# the kernels holding a GEMM, which a bf16 / int8 weight may reach
LOWP_GEMM_KERNELS = ("linear", "qkv_projection", "output_layer_norm", "feed_forward")


_native_lowp: dict[int, bool] = {}


def native_takes_lowp(linear: Any) -> bool:
    """Whether a native ``linear`` computes with bf16 weights as bf16 GEMMs (rounding its input), rather than
    widening them to a float32 GEMM, as a build without the low-precision dispatch would. One 1 x 2 product,
    with a plain and a packed weight, decides it once per extension: 1 + 2^-10 rounds to the bf16 value 1."""
    key = id(linear)
    if key not in _native_lowp:
        x = np.array([[1 + 2**-10, 0.0]], dtype=np.float32)
        plain = lowp.BF16Weight(np.array([[0x3F80, 0]], dtype=np.uint16))  # [[1, 0]]
        try:
            takes = all(float(np.asarray(linear(x, w))[0, 0]) == 1.0 for w in (plain, pack_lowp(plain)))
        except (TypeError, ValueError, RuntimeError):
            takes = False
        if not takes:  # not kept: a probe that failed under a passing condition must not disable the kernels
            return False
        _native_lowp[key] = True
    return _native_lowp[key]


def runs_lowp_kernels(backend: str | None = None) -> bool:
    """Whether bf16 / int8 weights run (and are packed for) roformer_np's low-precision micro-kernels now."""
    return packs_lowp(backend) and native_takes_lowp(get_kernels(backend).linear)


def model_kernels(backend: str | None, precision: str) -> Any:
    """The kernels a model of ``precision`` runs: :func:`~roformer_np.backend.get_kernels`, except that bf16 /
    int8 weights run the reference GEMMs (:mod:`roformer_np.lowp`) where roformer_np's low-precision
    micro-kernels do not (``ROFORMER_NP_GEMM=blas``, or an extension without them): never a plain-float GEMM."""
    kernels = get_kernels(backend)
    if precision in LOWP_PRECISIONS and kernels.name == "native" and not runs_lowp_kernels(backend):
        return SimpleNamespace(**{**vars(kernels), **{k: getattr(ops, k) for k in LOWP_GEMM_KERNELS}})
    return kernels


# ---------------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------------
def extended_attention_mask(attention_mask: Array, num_new: int, is_decoder: bool, dtype: np.dtype) -> Array:
    """The additive mask added to the scores: 0 where visible, ``finfo(dtype).min`` where hidden.

    attention_mask: [B, S] (1 = attend) or [B, T, S] (used as given, no causal part).
    Encoder: [B, 1, 1, S]. Decoder: causal over the T new tokens, with the first S - T (cached) columns
    visible, times the padding mask: [B, 1, T, S]. The single additive value (never -inf) matches Hugging
    Face: a fully hidden row then becomes uniform instead of NaN.
    """
    m = attention_mask.astype(dtype, copy=False)
    if m.ndim == 3:
        ext = m[:, None, :, :]
    elif is_decoder:
        s = m.shape[1]
        causal = np.tril(np.ones((num_new, num_new), dtype=dtype))  # [T, T]
        if s > num_new:
            causal = np.concatenate([np.ones((num_new, s - num_new), dtype=dtype), causal], axis=1)  # [T, S]
        ext = causal[None, None, :, :] * m[:, None, None, :]
    else:
        ext = m[:, None, None, :]
    return (dtype.type(1.0) - ext) * np.finfo(dtype).min


def invert_attention_mask(encoder_attention_mask: Array, dtype: np.dtype) -> Array:
    """Cross-attention mask: [B, Se] -> [B, 1, 1, Se] (or [B, T, Se] -> [B, 1, T, Se]), additive."""
    m = encoder_attention_mask.astype(dtype, copy=False)
    ext = m[:, None, :, :] if m.ndim == 3 else m[:, None, None, :]
    return (dtype.type(1.0) - ext) * np.finfo(dtype).min


# ---------------------------------------------------------------------------------------------
# Forward pass
# ---------------------------------------------------------------------------------------------
def embeddings_forward(
    params: Params, config: RoFormerConfig, input_ids: Array | None, token_type_ids: Array,
    inputs_embeds: Array | None, kernels: Any,
) -> Array:
    """Token ids -> [B, T, C]: word + token-type embeddings, the norm, and the E -> C projection."""
    eps = config.layer_norm_eps
    table = params.word_embeddings
    if inputs_embeds is None and not isinstance(table, np.ndarray):
        # packed (float32 panels) or bf16 / int8 embeddings: only the rows of the ids present are gathered (and
        # widened), then embedded as usual
        used, where = np.unique(input_ids, return_inverse=True)
        x = kernels.embed(where.reshape(input_ids.shape), token_type_ids, table[used], params.token_type_embeddings,
                          params.emb_ln_weight, params.emb_ln_bias, eps)  # [B, T, E]
    elif inputs_embeds is None:
        x = kernels.embed(input_ids, token_type_ids, table, params.token_type_embeddings,
                          params.emb_ln_weight, params.emb_ln_bias, eps)  # [B, T, E]
    else:
        x = ops.norm(inputs_embeds + params.token_type_embeddings[token_type_ids],
                     params.emb_ln_weight, params.emb_ln_bias, eps)
    if params.project_weight is not None:
        x = kernels.linear(x, params.project_weight, params.project_bias)  # [B, T, E] -> [B, T, C]
    return x


def self_attention_block(
    p: AttentionParams, h: Array, sin: Array, cos: Array, mask: Array | None, config: RoFormerConfig,
    head_mask: Array | None, cache: KVCache | None, layer: int, output_attentions: bool, kernels: Any,
) -> tuple[Array, Array | None]:
    """Rotary self-attention + output projection + residual + norm: [B, T, C] -> [B, T, C]."""
    q, k, v = kernels.qkv_projection(h, p.w_qkv, p.b_qkv, config.num_attention_heads)  # [B, H, T, D] x3
    if cache is None:
        context, probs = kernels.rotary_attention(
            q, k, v, sin, cos, mask, config.rotary_value, head_mask, output_attentions
        )
    else:
        # Keys (and values) are cached after rotation, so past positions are never rotated again: the new
        # ones are rotated straight into the cache's buffers, in the pass that rotates the queries
        slot_k, slot_v = cache.append_slots(layer, k.shape, k.dtype)
        q = kernels.rotary_append(q, k, v, sin, cos, slot_k, slot_v, config.rotary_value)
        k, v = cache.keys(layer), cache.values(layer)  # [B, H, S, D]
        context, probs = kernels.attention(q, k, v, mask, head_mask, output_attentions)
    del q, k, v  # the [B, T, 3C] projection (the cache keeps its own rows): not alive beside the output's buffers
    out = kernels.output_layer_norm(context, p.w_out, p.b_out, h, p.ln_weight, p.ln_bias, config.layer_norm_eps)
    return out, probs


def cross_attention_block(
    p: AttentionParams, h: Array, encoder_hidden_states: Array, mask: Array | None, config: RoFormerConfig,
    head_mask: Array | None, cache: KVCache | None, layer: int, output_attentions: bool, kernels: Any,
) -> tuple[Array, Array | None]:
    """Attention from the decoder states to the encoder states. No rotary here, as in Hugging Face."""
    n, c = config.num_attention_heads, config.hidden_size
    b_q, b_kv = (None, None) if p.b_qkv is None else (p.b_qkv[:c], p.b_qkv[c:])
    q = ops.split_heads(kernels.linear(h, _row_block(p.w_qkv, 0, c), b_q), n)  # [B, H, T, D]
    if cache is not None and cache.cross_keys[layer] is not None:
        k, v = cache.cross_keys[layer], cache.cross_values[layer]  # computed on the first step
    else:
        kv = kernels.linear(encoder_hidden_states, _row_block(p.w_qkv, c, 3 * c), b_kv)  # [B, Se, 2C]
        k, v = ops.split_heads(kv[..., :c], n), ops.split_heads(kv[..., c:], n)  # [B, H, Se, D]
        if cache is not None:
            cache.set_cross(layer, k, v)
    context, probs = kernels.attention(q, k, v, mask, head_mask, output_attentions)
    out = kernels.output_layer_norm(context, p.w_out, p.b_out, h, p.ln_weight, p.ln_bias, config.layer_norm_eps)
    return out, probs


def encoder_forward(
    params: Params, config: RoFormerConfig, hidden: Array, mask: Array | None, start: int,
    head_mask: Array | None = None, cache: KVCache | None = None, encoder_hidden_states: Array | None = None,
    encoder_mask: Array | None = None, output_attentions: bool = False, output_hidden_states: bool = False,
    kernels: Any = None,
) -> tuple[Array, tuple | None, tuple | None, tuple | None]:
    """Run every layer. hidden: [B, T, C], the new tokens at positions ``start .. start + T - 1``.

    Returns (last hidden state, hidden states (L+1) or None, self-attentions or None, cross-attentions
    or None).
    """
    kernels = kernels or get_kernels()
    sin, cos = ops.rotary_sin_cos(params.positions, start, hidden.shape[1])  # [T, D/2] each
    use_cross = config.is_decoder and encoder_hidden_states is not None
    all_hidden = [] if output_hidden_states else None
    all_attn = [] if output_attentions else None
    all_cross = [] if output_attentions and config.add_cross_attention else None
    for i, layer in enumerate(params.layers):
        if all_hidden is not None:
            all_hidden.append(hidden)
        layer_head_mask = None if head_mask is None else head_mask[i]
        hidden, probs = self_attention_block(
            layer.attention, hidden, sin, cos, mask, config, layer_head_mask, cache, i, output_attentions, kernels
        )
        if all_attn is not None:
            all_attn.append(probs)
        if use_cross:
            hidden, cross_probs = cross_attention_block(
                layer.crossattention, hidden, encoder_hidden_states, encoder_mask, config, layer_head_mask,
                cache, i, output_attentions, kernels,
            )
            if all_cross is not None:
                all_cross.append(cross_probs)
        hidden = kernels.feed_forward(
            hidden, layer.w_in, layer.b_in, layer.w_out, layer.b_out, layer.ln_weight, layer.ln_bias,
            config.layer_norm_eps, config.hidden_act,
        )
    if all_hidden is not None:
        all_hidden.append(hidden)
    if all_cross is not None and not use_cross:
        all_cross = None
    return (
        hidden,
        None if all_hidden is None else tuple(all_hidden),
        None if all_attn is None else tuple(all_attn),
        None if all_cross is None else tuple(all_cross),
    )


def grouped_encoder_forward(
    params: Params, config: RoFormerConfig, groups: list[tuple[Array, Array]], kernels: Any,
) -> list[Array]:
    """Several groups of rows in one pass, none padded: each group [B_g, T_g] ids and token types, rows of one
    length, every token attended, every row from position 0. Returns each group's last hidden state
    [B_g, T_g, C].

    The token-wise steps (embeddings, the projections, the feed-forward) run once over all the groups' tokens
    as one [1, N, C] row, the attention within each row (:func:`ops.grouped_rotary_attention`). A kernel whose
    rows do not depend on the rows beside them (the native ones) gives every group the bits it gets alone;
    BLAS may differ in the last bits.
    """
    shapes = np.array([ids.shape for ids, _ in groups], dtype=np.int64)  # [G, 2]: (rows, length)
    ids = np.concatenate([g[0].reshape(-1) for g in groups])[None]  # [1, N]
    types = np.concatenate([g[1].reshape(-1) for g in groups])[None]
    sin, cos = ops.rotary_sin_cos(params.positions, 0, int(shapes[:, 1].max()))  # [P, D/2] each
    hidden = embeddings_forward(params, config, ids, types, None, kernels)  # [1, N, C]
    for layer in params.layers:
        p = layer.attention
        q, k, v = kernels.qkv_projection(hidden, p.w_qkv, p.b_qkv, config.num_attention_heads)  # [1, H, N, D]
        context = kernels.grouped_rotary_attention(q, k, v, sin, cos, shapes, config.rotary_value)  # [1, N, C]
        del q, k, v
        hidden = kernels.output_layer_norm(context, p.w_out, p.b_out, hidden, p.ln_weight, p.ln_bias,
                                           config.layer_norm_eps)
        hidden = kernels.feed_forward(
            hidden, layer.w_in, layer.b_in, layer.w_out, layer.b_out, layer.ln_weight, layer.ln_bias,
            config.layer_norm_eps, config.hidden_act,
        )
    parts = np.split(hidden[0], np.cumsum(shapes[:, 0] * shapes[:, 1])[:-1])
    return [part.reshape(rows, length, -1) for part, (rows, length) in zip(parts, shapes)]


def pooler_forward(params: Params, config: RoFormerConfig, hidden: Array, kernels: Any) -> Array | None:
    """JunnyU's RoFormerPooler: ``pooler_activation(h[:, 0] @ W.T + b)``, [B, T, C] -> [B, C]; None without one.

    ``pooler_activation`` is ``linear`` in RoFormer-Sim (the similarity vector) and ``tanh`` by default."""
    if params.pooler_weight is None:
        return None
    act = get_activation(junnyu_field(config, "pooler_activation"))
    return act(kernels.linear(np.ascontiguousarray(hidden[:, 0]), params.pooler_weight, params.pooler_bias))


# ---------------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------------
def _as_int_array(value: Any, name: str) -> Array:
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and arr.size and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        elif arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _check_range(arr: Array, name: str, high: int, what: str) -> None:
    if arr.size and (arr.min() < 0 or arr.max() >= high):
        bad = arr.min() if arr.min() < 0 else arr.max()
        raise ValueError(f"{name} holds {bad}, outside the allowed range [0, {high}) ({what})")


def check_unit_interval(arr: Array, name: str) -> None:
    """Masks weight attention: a value outside [0, 1] overflows the additive mask ((1 - 3) * finfo.min = +inf)
    or scales a head by garbage, and NaN spreads to every output. Two reductions, no copy."""
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.size and arr.dtype != np.bool_:
        low, high = arr.min(), arr.max()
        if not (low >= 0 and high <= 1):  # NaN fails both comparisons
            raise ValueError(f"{name} must hold values in [0, 1], got values from {low} to {high}")


def _check_rank(arr: Array, name: str, ranks: tuple[int, ...], shape_doc: str) -> None:
    if arr.ndim not in ranks:
        raise ValueError(f"{name} must have shape {shape_doc}, got an array of shape {arr.shape}")


# ---------------------------------------------------------------------------------------------
# The model class
# ---------------------------------------------------------------------------------------------
class RoFormerModel(InferenceModeMixin):
    """The bare RoFormer encoder (or decoder), Hugging Face's ``RoFormerModel`` in NumPy.

    >>> model = RoFormerModel.from_pretrained("path/to/checkpoint")  # doctest: +SKIP
    >>> out = model(input_ids=[[101, 2769, 102]])                      # doctest: +SKIP
    >>> out.last_hidden_state.shape                                    # doctest: +SKIP
    (1, 3, 768)
    """

    base_model_prefix = "roformer"
    extra_files: ClassVar[tuple[str, ...]] = ()  # files beside the weights that from_pretrained reads

    def __init__(
        self,
        config: RoFormerConfig,
        weights: dict[str, Array],
        dtype: np.dtype | type | str = np.float32,
        backend: str | None = None,
        quantize: str | None = None,
    ) -> None:
        if dtype is not None and not isinstance(dtype, str) and np.dtype(dtype) not in SUPPORTED_DTYPES:
            raise ValueError(f"dtype must be float32 or float64 (or 'bfloat16' weights), got {np.dtype(dtype)}")
        # bf16 / int8 weights compute in float32: ``dtype`` is the compute dtype, ``precision`` the weights'
        dtype, self.precision = lowp.resolve_precision(dtype, quantize)
        self.config = config
        self.dtype = dtype
        self.backend = backend
        weights = strip_prefix(weights)
        check_layer_count(weights, config, "RoFormerModel weights")  # before the expected names are listed
        # JunnyU's pooler exists when the checkpoint carries it (RoFormer-Sim); then both tensors are required
        expected = base_model_shapes(config, pooler=any(k in weights for k in POOLER_KEYS))
        self.missing_keys, self.unexpected_keys = check_weights(
            weights, expected, optional_keys(), source="RoFormerModel weights"
        )
        plain = {k: v for k, v in weights.items() if k in expected}
        order = list(plain)
        self._packed: dict[str, PackedEntry] = {}
        if self.precision in LOWP_PRECISIONS:
            # every linear weight and the word embeddings in bf16 / int8, converted tensor by tensor
            # the word embeddings (gathered by row from the panels, and the tied LM head's weight) are packed
            # as they are converted, a block of rows at a time
            tensors = LowpTensors(plain, set(lowp_weight_keys(expected)), self.precision,
                                  pack_lowp if runs_lowp_kernels(backend) else None, (WORD_EMBEDDINGS,))
            self.params = build_params(tensors, config, dtype)
            self._packed = lowp_entries(self.params, config, plain, backend)
            plain = {k: tensors[k] for k in order if k not in self._packed}  # the float32 ones
        else:
            if any(isinstance(v, lowp.Int8Weight) for v in plain.values()):
                raise ValueError("the weights hold int8 tensors: pass quantize='int8' (they are not dequantized "
                                 f"into a {self.precision} model)")
            # float32 on roformer_np's micro-kernels: the linear weights and the word embeddings are held
            # packed, and only packed
            packing = packs_weights(dtype, backend)
            self.params = build_params(plain, config, dtype, pack_weight_rows if packing else None)
            if packing:
                self._packed = pack_params(self.params, config, plain, word_embeddings=True)
            for key in self._packed:
                del plain[key]
        self.weights = ModelWeights(plain, self._packed, order)
        shared_dir = panel_cache.active_directory()
        if shared_dir is not None and self._packed:  # one copy of the packed weights per machine, not per process
            panel_cache.share_packed((held for held, _, _ in self._packed.values()), shared_dir)

    @property
    def has_pooler(self) -> bool:
        return self.params.pooler_weight is not None

    @property
    def unilm(self) -> bool:
        """RoFormer-Sim's seq2seq mode (a decoder with a pooler, as JunnyU's ``RoFormerForCausalLM`` runs it):
        the pass without cache (the prompt) attends bidirectionally, later tokens causally (and to all of it)."""
        return self.config.is_decoder and self.has_pooler

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, dtype: np.dtype | type | str | None = None, backend: str | None = None,
        config: RoFormerConfig | None = None, check_finite: bool = True, quantize: str | None = None, **hub: Any,
    ) -> RoFormerModel:
        """Load ``config.json`` and the weights (safetensors, sharded safetensors or .bin) of a checkpoint
        directory or a Hub repository id (``hub``: ``revision``, ``cache_dir``, ``local_files_only``,
        ``token``, ``force_download``, as in transformers; see :mod:`roformer_np.hub`).
        ``check_finite=False`` skips the refusal of weights holding NaN or ±inf.

        ``dtype``: float32 (the default) or float64, or ``"bfloat16"`` (``"bf16"``) for bf16 weights;
        ``quantize="int8"``: int8 weights. Both compute in float32 (see the README's "bf16 and int8 weights").
        A checkpoint saved in bf16 / int8 loads in its own precision by default (int8 only as int8)."""
        where = f"{cls.__name__}.from_pretrained"
        overrides = hub
        hub = pop_hub_kwargs(overrides, where)
        # transformers' habit: from_pretrained(path, num_labels=3, output_hidden_states=True) overrides config.json
        config = config_for_loading(path, config, overrides, hub, where)
        config, weights, path, precision = read_checkpoint(
            path, dtype, config, cls.extra_files, check_finite=check_finite, quantize=quantize, **hub)
        model = cls(config, weights, backend=backend, **precision)
        if model.unexpected_keys:
            warnings.warn(
                f"{cls.__name__}: unused weights in {path}: {model.unexpected_keys[:8]}"
                + (" ..." if len(model.unexpected_keys) > 8 else ""),
                stacklevel=2,
            )
        return model

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (loadable by Hugging Face's RoFormerModel).

        A bf16 / int8 model writes its weights as they are held (BF16, or I8 with float32 scales; see the
        README), never into a directory holding a float checkpoint."""
        directory = Path(directory)
        save_checkpoint(directory, self.config, self.precision, self.state_dict, self.low_precision_state)
        return directory

    def state_dict(self) -> dict[str, Array]:
        """Every parameter under its Hugging Face name (no prefix), the sinusoidal table included; float arrays
        (a bf16 / int8 model's weights widened / dequantized: the values it computes with)."""
        weights = self.weights.materialize()
        weights.setdefault(sinusoidal_key(), np.asarray(self.params.positions))
        return weights

    def low_precision_state(self) -> dict[str, Any]:
        """As :meth:`state_dict`, with the bf16 / int8 tensors as their containers (what save_pretrained writes)."""
        weights = self.weights.low_precision()
        weights.setdefault(sinusoidal_key(), np.asarray(self.params.positions))
        return weights

    def kernels(self) -> Any:
        """The kernels a forward pass runs now (see :func:`model_kernels`)."""
        return model_kernels(self.backend, self.precision)

    @property
    def num_parameters(self) -> int:
        return self.weights.num_elements()

    # -- forward ---------------------------------------------------------------------------------
    def __call__(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        head_mask: Any = None,
        inputs_embeds: Any = None,
        encoder_hidden_states: Any = None,
        encoder_attention_mask: Any = None,
        past_key_values: KVCache | tuple | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPastAndCrossAttentions | tuple:
        """Hidden states for a batch of token ids (or embeddings), as Hugging Face's forward.

        input_ids: [B, T] ints in [0, vocab_size); attention_mask: [B, P + T] (1 = attend) or [B, T, P + T];
        token_type_ids: [B, T]; head_mask: [H] or [L, H]; inputs_embeds: [B, T, E] instead of input_ids;
        encoder_hidden_states: [B, Se, C] and encoder_attention_mask: [B, Se] for cross-attention;
        past_key_values: a :class:`KVCache` or Hugging Face's legacy tuple.
        """
        cfg = self.config
        output_attentions = cfg.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = cfg.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = cfg.return_dict if return_dict is None else return_dict
        use_cache = (cfg.use_cache if use_cache is None else use_cache) if cfg.is_decoder else False
        inputs = self._prepare_inputs(
            input_ids, attention_mask, token_type_ids, head_mask, inputs_embeds, encoder_hidden_states,
            encoder_attention_mask, past_key_values, use_cache,
        )
        kernels = self.kernels()
        hidden = embeddings_forward(
            self.params, cfg, inputs["input_ids"], inputs["token_type_ids"], inputs["inputs_embeds"], kernels
        )
        last, hidden_states, attentions, cross_attentions = encoder_forward(
            self.params, cfg, hidden, inputs["mask"], inputs["start"], inputs["head_mask"], inputs["cache"],
            inputs["encoder_hidden_states"], inputs["encoder_mask"], output_attentions, output_hidden_states,
            kernels,
        )
        out = BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=last,
            pooler_output=pooler_forward(self.params, cfg, last, kernels),
            past_key_values=inputs["cache"],
            hidden_states=hidden_states,
            attentions=attentions,
            cross_attentions=cross_attentions,
        )
        return out if return_dict else out.to_tuple()

    forward = __call__

    def forward_length_groups(self, groups: list[tuple[Any, Any]]) -> list[Array]:
        """Each group's last hidden state [B_g, T_g, C], all the groups in one pass and nothing padded.

        groups: (input_ids [B_g, T_g], token_type_ids [B_g, T_g] or None) each, every token attended. A
        result is ``self(input_ids, token_type_ids=...).last_hidden_state`` of its group alone (bit for bit on
        the native kernels; see :func:`grouped_encoder_forward`), at the cost of one pass for all the token-wise
        steps: a server's requests of different lengths share their projections without padding. A decoder
        (causal attention with its cache) runs each group as its own call.
        """
        checked = [self._prepare_inputs(ids, None, types, None, None, None, None, None, False) for ids, types in groups]
        if len(checked) <= 1 or self.config.is_decoder:
            return [self(i["input_ids"], token_type_ids=i["token_type_ids"], return_dict=True).last_hidden_state
                    for i in checked]
        return grouped_encoder_forward(
            self.params, self.config, [(i["input_ids"], i["token_type_ids"]) for i in checked], self.kernels()
        )

    def _prepare_inputs(
        self, input_ids, attention_mask, token_type_ids, head_mask, inputs_embeds, encoder_hidden_states,
        encoder_attention_mask, past_key_values, use_cache,
    ) -> dict[str, Any]:
        """Validate every argument (``ValueError`` naming it) and build masks, positions and the cache."""
        cfg, dtype = self.config, self.dtype
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if input_ids is not None:
            input_ids = _as_int_array(input_ids, "input_ids")
            _check_rank(input_ids, "input_ids", (2,), "[batch, seq]")
            _check_range(input_ids, "input_ids", cfg.vocab_size, "vocab_size")
            batch, length = input_ids.shape
        else:
            inputs_embeds = np.asarray(inputs_embeds)
            _check_rank(inputs_embeds, "inputs_embeds", (3,), f"[batch, seq, embedding_size={cfg.embedding_size}]")
            if inputs_embeds.dtype.kind != "f":
                raise ValueError(f"inputs_embeds must be floating point, got dtype {inputs_embeds.dtype}")
            if inputs_embeds.shape[-1] != cfg.embedding_size:
                raise ValueError(
                    f"inputs_embeds has width {inputs_embeds.shape[-1]}, expected embedding_size={cfg.embedding_size}"
                )
            inputs_embeds = inputs_embeds.astype(dtype, copy=False)
            batch, length = inputs_embeds.shape[:2]
        if batch == 0 or length == 0:
            raise ValueError(f"inputs must have at least one row and one token, got shape ({batch}, {length})")

        cache = _as_cache(past_key_values, cfg.num_hidden_layers)
        if cache is None and use_cache:
            cache = KVCache(cfg.num_hidden_layers)
        past = cache.get_seq_length() if cache is not None else 0
        if cache is not None:
            cache.check_compatible(batch, cfg.num_attention_heads, cfg.head_size, dtype)
        total = past + length
        if total > cfg.max_position_embeddings:
            raise ValueError(
                f"sequence length {length}" + (f" after {past} cached positions" if past else "")
                + f" exceeds max_position_embeddings={cfg.max_position_embeddings}"
            )

        if token_type_ids is None:
            token_type_ids = np.zeros((batch, length), dtype=np.int64)
        else:
            token_type_ids = _as_int_array(token_type_ids, "token_type_ids")
            if token_type_ids.shape != (batch, length):
                raise ValueError(f"token_type_ids has shape {token_type_ids.shape}, expected {(batch, length)}")
            _check_range(token_type_ids, "token_type_ids", cfg.type_vocab_size, "type_vocab_size")

        if attention_mask is None:
            attention_mask = np.ones((batch, total), dtype=dtype)
        else:
            attention_mask = np.asarray(attention_mask)
            if attention_mask.dtype.kind not in "biuf":
                raise ValueError(f"attention_mask must be numeric, got dtype {attention_mask.dtype}")
            if attention_mask.ndim == 2:
                if attention_mask.shape != (batch, total):
                    raise ValueError(
                        f"attention_mask has shape {attention_mask.shape}, expected (batch, cached + new) = "
                        f"{(batch, total)}"
                    )
            elif attention_mask.ndim == 3:
                if attention_mask.shape != (batch, length, total):
                    raise ValueError(
                        f"attention_mask has shape {attention_mask.shape}, expected {(batch, length, total)}"
                    )
            else:
                raise ValueError(
                    f"attention_mask must be [batch, seq] or [batch, seq, seq], got shape {attention_mask.shape}"
                )
            check_unit_interval(attention_mask, "attention_mask")
        # A UniLM model's first pass (no cache yet) is bidirectional; new tokens are causal after it.
        causal = cfg.is_decoder and not (self.unilm and past == 0)
        mask = extended_attention_mask(attention_mask, length, causal, dtype)

        if head_mask is not None:
            head_mask = np.asarray(head_mask, dtype=dtype)
            L, H = cfg.num_hidden_layers, cfg.num_attention_heads
            if head_mask.shape == (H,):
                head_mask = np.broadcast_to(head_mask, (L, H))
            elif head_mask.shape != (L, H):
                raise ValueError(f"head_mask must have shape ({H},) or ({L}, {H}), got {head_mask.shape}")
            check_unit_interval(head_mask, "head_mask")

        encoder_mask = None
        if encoder_hidden_states is not None and cfg.is_decoder:
            if not cfg.add_cross_attention:
                raise ValueError(
                    "encoder_hidden_states were passed but the model has no cross-attention "
                    "(config.add_cross_attention=False)"
                )
            encoder_hidden_states = np.asarray(encoder_hidden_states)
            if encoder_hidden_states.ndim != 3 or encoder_hidden_states.shape[0] != batch:
                raise ValueError(
                    f"encoder_hidden_states must be [batch={batch}, enc_seq, hidden_size={cfg.hidden_size}], "
                    f"got shape {encoder_hidden_states.shape}"
                )
            if encoder_hidden_states.shape[-1] != cfg.hidden_size:
                raise ValueError(
                    f"encoder_hidden_states has width {encoder_hidden_states.shape[-1]}, "
                    f"expected hidden_size={cfg.hidden_size}"
                )
            encoder_hidden_states = encoder_hidden_states.astype(dtype, copy=False)
            enc_len = encoder_hidden_states.shape[1]
            if encoder_attention_mask is None:
                encoder_attention_mask = np.ones((batch, enc_len), dtype=dtype)
            encoder_attention_mask = np.asarray(encoder_attention_mask)
            if encoder_attention_mask.shape not in ((batch, enc_len), (batch, length, enc_len)):
                raise ValueError(
                    f"encoder_attention_mask has shape {encoder_attention_mask.shape}, expected {(batch, enc_len)}"
                )
            check_unit_interval(encoder_attention_mask, "encoder_attention_mask")
            encoder_mask = invert_attention_mask(encoder_attention_mask, dtype)
        else:
            encoder_hidden_states = None

        return {
            "input_ids": input_ids,
            "inputs_embeds": inputs_embeds,
            "token_type_ids": token_type_ids,
            "mask": mask,
            "head_mask": head_mask,
            "cache": cache,
            "start": past,
            "encoder_hidden_states": encoder_hidden_states,
            "encoder_mask": encoder_mask,
        }


# the weight files from_pretrained reads, in load_weights' (and transformers') order of preference
WEIGHT_FILES = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, PT_WEIGHTS_NAME, PT_WEIGHTS_INDEX_NAME)


def checkpoint_files(extra_files: tuple[str, ...] = (), with_config: bool = True) -> CheckpointFiles:
    """What a model's from_pretrained reads: ``config.json`` (unless a config is given), the weights in the
    first format present, and ``extra_files`` when there."""
    return CheckpointFiles(((CONFIG_NAME,), WEIGHT_FILES) if with_config else (WEIGHT_FILES,), extra_files)


def read_checkpoint(
    path: str | os.PathLike, dtype: np.dtype | type | str | None, config: RoFormerConfig | None = None,
    extra_files: tuple[str, ...] = (), *, revision: str | None = None, cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False, token: str | bool | None = None, force_download: bool = False,
    check_finite: bool = True, quantize: str | None = None,
) -> tuple[RoFormerConfig, dict[str, Array], Path, dict[str, Any]]:
    """The config (unless given), the weights, the local directory of a checkpoint directory or Hub id, and
    the ``dtype`` / ``quantize`` keywords the model is built with (``extra_files``: optional files fetched
    beside them, e.g. ``generation_config.json``; ``check_finite``: refuse weights holding NaN or ±inf, see
    :func:`~roformer_np.weights.require_finite`).

    Float models get their weights in ``dtype``; bf16 / int8 ones get them as stored (memory-mapped, BF16 kept
    as bits, an int8 checkpoint's matrices paired with their scales), to be converted tensor by tensor."""
    needed = checkpoint_files(extra_files, with_config=config is None)
    directory = resolve_checkpoint(path, needed, revision=revision, cache_dir=cache_dir,
                                   local_files_only=local_files_only, token=token, force_download=force_download)
    if not directory.exists():
        raise FileNotFoundError(f"checkpoint directory not found: {directory}")
    if config is None:
        config = RoFormerConfig.from_pretrained(directory)
        if directory != Path(path):
            config.name_or_path = os.fspath(path)  # the Hub id, as transformers records it
    stored = checkpoint_precision(directory)
    precision = settle_precision(dtype, quantize, stored, config, directory)
    if lowp.resolve_precision(**precision)[1] not in LOWP_PRECISIONS:
        return config, load_weights(directory, np.dtype(precision["dtype"]), check_finite), directory, precision
    # as stored: each tensor's file pages are returned once checked, and again once converted
    weights = load_weights(directory, None, check_finite=False, keep_bf16=True)
    if check_finite:
        require_finite(weights, str(directory), release=True)
    if stored == "int8":
        weights = pair_int8(weights, str(directory))
    return config, weights, directory, precision


def _quant_method(config: RoFormerConfig) -> Any:
    quantization = getattr(config, "quantization_config", None)
    return quantization.get("quant_method") if isinstance(quantization, dict) else None


def settle_precision(dtype: Any, quantize: str | None, stored: str | None, config: RoFormerConfig,
                     where: Any) -> dict[str, Any]:
    """The ``dtype`` / ``quantize`` a checkpoint is built with: as asked (``dtype=None``: float32), except that a
    checkpoint saved in bf16 loads as bf16 unless another precision is asked for, and one saved in int8 only
    as int8 (ValueError for ``dtype`` bfloat16 / float64 there: its weights are not converted again).
    ``stored``: :func:`~roformer_np.weights.checkpoint_precision`; the config must agree with it."""
    if (_quant_method(config) == INT8_QUANT_METHOD) != (stored == "int8"):
        raise CheckpointError(
            f"{where}: config.json's quantization_config and the weight file disagree on roformer_np's int8 "
            f"format (weights: {stored or 'float'})")
    if stored == "int8":
        asked = "float32" if dtype is None else lowp.resolve_precision(dtype, quantize)[1]
        if asked not in ("float32", "int8"):
            raise ValueError(f"dtype={dtype!r}: the checkpoint at {where} holds int8 weights, which load only as "
                             "they are (int8 weights, float32 compute): pass dtype=None or float32")
        return {"dtype": np.float32, "quantize": "int8"}
    if dtype is None:
        dtype = "bfloat16" if stored == "bfloat16" and quantize is None else np.float32
    lowp.resolve_precision(dtype, quantize)  # ValueError for a bad pair, before anything is read
    return {"dtype": dtype, "quantize": quantize}


def saved_config(config: RoFormerConfig, precision: str) -> RoFormerConfig:
    """The config written beside a model's weights: bf16 ones say ``"dtype": "bfloat16"`` (Hugging Face loads
    them in that dtype with ``dtype="auto"``), int8 ones carry ``quantization_config`` (roformer_np's format:
    Hugging Face refuses the unknown method instead of misreading I8 tensors), float ones neither marker."""
    if precision not in LOWP_PRECISIONS and _quant_method(config) != INT8_QUANT_METHOD:
        return config
    data = config.to_dict()
    if _quant_method(config) == INT8_QUANT_METHOD:
        data.pop("quantization_config")
    if precision == "bfloat16":
        data["dtype"] = "bfloat16"
    elif precision == "int8":
        data["quantization_config"] = {
            "quant_method": INT8_QUANT_METHOD, "bits": 8, "weights": "symmetric per output channel (I8 '<name>' "
            "with F32 '<name>_scale')", "activations": "dynamic per token", "compute_dtype": "float32",
        }
    return type(config).from_dict(data)


def save_checkpoint(directory: Path, config: RoFormerConfig, precision: str, state: Callable[[], dict],
                    low_precision_state: Callable[[], dict]) -> None:
    """``config.json`` and ``model.safetensors`` of a model of ``precision`` (float: ``state()``; bf16 / int8:
    ``low_precision_state()``). A low-precision model is not written over a float checkpoint (ValueError,
    nothing written): the float weights could not be recovered from it."""
    if precision in LOWP_PRECISIONS:
        held = holds_float_checkpoint(directory)
        if held is not None:
            article = "an" if precision == "int8" else "a"
            raise ValueError(f"directory {directory} holds a float checkpoint ({held.name}): {article} {precision} "
                             "model is saved into another directory (a float checkpoint is never overwritten)")
    saved_config(config, precision).save_pretrained(directory)
    if precision in LOWP_PRECISIONS:
        save_lowp_weights(low_precision_state(), directory, precision)
    else:
        save_weights(state(), directory)


def _as_cache(past_key_values: Any, num_layers: int) -> KVCache | None:
    if past_key_values is None or isinstance(past_key_values, KVCache):
        if isinstance(past_key_values, KVCache) and past_key_values.num_layers != num_layers:
            raise ValueError(f"past_key_values has {past_key_values.num_layers} layers, the model has {num_layers}")
        return past_key_values
    return KVCache.from_legacy(past_key_values, num_layers)
