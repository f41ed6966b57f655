"""The reference math of RoFormer, as pure NumPy functions of (parameters, inputs).

This module is the single source of truth: the compiled kernels in ``ext/`` implement the functions
listed in :data:`KERNELS` with the very same names and signatures and are tested against these.
Everything works in the dtype of its inputs (float32 or float64); no function silently upcasts.

Dimension legend used in every shape comment:
    B batch, T new tokens, P cached length, S = P + T key length, H heads, D head size,
    C hidden size (= H * D), E embedding size, F intermediate size, V vocab size, M max positions.

Linear layers store weights as PyTorch does, ``[out, in]``, so ``y = x @ W.T + b``.
"""

from __future__ import annotations

import numpy as np

from . import lowp
from .activations import get_activation

Array = np.ndarray

# The functions a backend may replace with a compiled version (same name, same signature).
KERNELS = (
    "linear",
    "embed",
    "qkv_projection",
    "apply_rotary",
    "rotary_append",
    "rotary_attention",
    "grouped_rotary_attention",
    "attention",
    "output_layer_norm",
    "feed_forward",
)


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------
def linear(x: Array, weight: Array, bias: Array | None = None) -> Array:
    """``x @ weight.T + bias``: [..., in] -> [..., out] with weight [out, in].

    A bf16 or int8 weight (``weight.precision``) runs its own arithmetic (:func:`roformer_np.lowp.linear`).
    """
    if getattr(weight, "precision", None) in ("bfloat16", "int8"):
        return lowp.linear(x, weight, bias)
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y


def layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    """LayerNorm over the last axis with the biased variance, as ``torch.nn.LayerNorm``."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + x.dtype.type(eps))
    return centred * inv_std * weight + bias


def rms_norm(x: Array, eps: float) -> Array:
    """RoFormer-V2's parameter-free norm over the last axis: ``x / sqrt(mean(x^2) + eps)``.

    Unlike LayerNorm it subtracts no mean and has no gain or offset (Su, "RoFormerV2", 2022; bert4keras
    ``LayerNormalization(zero_mean=False, scale=False, offset=False)``).
    """
    mean_square = np.mean(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(mean_square + x.dtype.type(eps))


def norm(x: Array, weight: Array | None, bias: Array | None, eps: float) -> Array:
    """The residual norm of a block: LayerNorm with its parameters, or, when a block has none (``weight`` is
    None, as in every RoFormer-V2 checkpoint), :func:`rms_norm`."""
    return rms_norm(x, eps) if weight is None else layer_norm(x, weight, bias, eps)


def softmax(x: Array, axis: int = -1) -> Array:
    """Numerically stable softmax (the row maximum is subtracted first)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    e /= e.sum(axis=axis, keepdims=True)
    return e


# ---------------------------------------------------------------------------------------------
# Rotary position embedding (Su et al., "RoFormer", 2021)
# ---------------------------------------------------------------------------------------------
def sinusoidal_table(num_positions: int, dim: int) -> Array:
    """The ``[M, D]`` table of ``encoder.embed_positions``: sin in the first half, cos in the second.

    For position p and frequency w_i = 10000^(-2i/D), column i holds sin(p * w_i) and column
    D/2 + i holds cos(p * w_i). Angles are computed in float64 and rounded to float32, exactly as
    Hugging Face builds the table (a float64 model therefore holds float32-rounded values too).
    """
    pos = np.arange(num_positions, dtype=np.float64)[:, None]  # [M, 1]
    j = np.arange(dim)
    angle = pos / np.power(10000.0, 2 * (j // 2) / dim)  # [M, D], pairs share a frequency
    half = (dim + 1) // 2
    table = np.empty((num_positions, dim), dtype=np.float32)
    table[:, :half] = np.sin(angle[:, 0::2])
    table[:, half:] = np.cos(angle[:, 1::2])
    return table


def rotary_sin_cos(table: Array, start: int, length: int) -> tuple[Array, Array]:
    """sin and cos, each ``[T, D/2]``, for positions ``start .. start + length - 1``."""
    rows = table[start : start + length]  # [T, D]
    half = table.shape[1] // 2
    return rows[:, :half], rows[:, half:]


def apply_rotary(x: Array, sin: Array, cos: Array) -> Array:
    """Rotate each adjacent feature pair (2i, 2i+1) of ``x`` by the angle of its position.

    x: [B, H, T, D]; sin, cos: [T, D/2]. As a complex product, (x_2i + j x_2i+1) * e^(j p w_i):
        x'_2i   = x_2i   cos - x_2i+1 sin
        x'_2i+1 = x_2i+1 cos + x_2i   sin
    (GPT-J's interleaved layout, not the rotate-half layout of NeoX/LLaMA.)
    """
    even, odd = x[..., 0::2], x[..., 1::2]  # [B, H, T, D/2] each
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = odd * cos + even * sin
    return out


def rotary_append(q: Array, k: Array, v: Array, sin: Array, cos: Array, k_out: Array, v_out: Array,
                  rotary_value: bool = False) -> Array:
    """A decoding step's new positions, rotated and cached in one pass: ``k_out[...] = rotary(k)``,
    ``v_out[...] = rotary(v)`` under ``rotary_value`` else ``v``, and the rotated queries returned.

    q, k, v, k_out, v_out: [B, H, T, D] (``k_out`` / ``v_out`` the cache's slots for these T positions);
    sin, cos: [T, D/2]. Keys (and values) are cached after rotation, so past positions are never rotated again.
    """
    k_out[...] = apply_rotary(k, sin, cos)
    v_out[...] = apply_rotary(v, sin, cos) if rotary_value else v
    return apply_rotary(q, sin, cos)


# ---------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------
def split_heads(x: Array, num_heads: int) -> Array:
    """[B, T, C] -> [B, H, T, D]; feature c belongs to head c // D."""
    b, t, c = x.shape
    return x.reshape(b, t, num_heads, c // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x: Array) -> Array:
    """[B, H, T, D] -> [B, T, C]."""
    b, h, t, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * d)


def qkv_projection(x: Array, w_qkv: Array, b_qkv: Array | None, num_heads: int) -> tuple[Array, Array, Array]:
    """Queries, keys and values from one GEMM over the stacked weights.

    x: [B, T, C]; w_qkv: [3C, C] (query, key, value rows stacked); b_qkv: [3C], or None (RoFormer-V2).
    Returns q, k, v, each [B, H, T, D].
    """
    qkv = linear(x, w_qkv, b_qkv)  # [B, T, 3C]
    q, k, v = np.split(qkv, 3, axis=-1)  # [B, T, C] each
    return split_heads(q, num_heads), split_heads(k, num_heads), split_heads(v, num_heads)


def attention(
    q: Array,
    k: Array,
    v: Array,
    mask: Array | None,
    head_mask: Array | None = None,
    output_attentions: bool = False,
) -> tuple[Array, Array | None]:
    """Scaled dot-product attention with an additive mask.

    q: [B, H, T, D]; k, v: [B, H, S, D]; mask: additive, broadcastable to [B, H, T, S]
    (0 where visible, the dtype's most negative number where hidden), or None.
    head_mask: [H] multipliers of the probabilities, or None.
    Returns the context [B, T, C] and, if asked, the probabilities [B, H, T, S].
    """
    scale = q.dtype.type(np.sqrt(q.shape[-1]))
    scores = (q @ k.swapaxes(-1, -2)) / scale  # [B, H, T, S]
    if mask is not None:
        scores += mask
    probs = softmax(scores, axis=-1)
    if head_mask is not None:
        probs *= head_mask.reshape(1, -1, 1, 1)
    context = probs @ v  # [B, H, T, D]
    return merge_heads(context), (probs if output_attentions else None)


def rotary_attention(
    q: Array,
    k: Array,
    v: Array,
    sin: Array,
    cos: Array,
    mask: Array | None,
    rotary_value: bool = False,
    head_mask: Array | None = None,
    output_attentions: bool = False,
) -> tuple[Array, Array | None]:
    """Self-attention with rotary positions: rotate q and k (and v if ``rotary_value``), then attend.

    q, k, v: [B, H, T, D] straight from the projection; sin, cos: [T, D/2].
    The context is not rotated back: under ``rotary_value`` it stays a mix of rotated values.
    """
    q = apply_rotary(q, sin, cos)
    k = apply_rotary(k, sin, cos)
    if rotary_value:
        v = apply_rotary(v, sin, cos)
    return attention(q, k, v, mask, head_mask, output_attentions)


def grouped_rotary_attention(
    q: Array, k: Array, v: Array, sin: Array, cos: Array, groups: Array, rotary_value: bool = False,
) -> Array:
    """Rotary self-attention within each row of several groups of rows packed one after another, none padded.

    q, k, v: [1, H, N, D], the projection of every token of the groups; groups: [G, 2] ints, each group's
    (rows, length), its rows' tokens consecutive, N = sum(rows * length); sin, cos: [P, D/2] for positions
    0 .. P - 1, P >= the longest length (every row starts at position 0). Every token of a row attends to
    all of that row's tokens. Returns the context [1, N, C]: each group's rows as :func:`rotary_attention`
    gives them for the group alone.
    """
    groups = check_groups(groups, q.shape[2], sin.shape[0])
    contexts, first = [], 0
    for rows, length in groups:
        context, _ = rotary_attention(*(group_rows(x, first, rows, length) for x in (q, k, v)), sin[:length],
                                      cos[:length], None, rotary_value)  # [rows, length, C]
        contexts.append(context.reshape(1, rows * length, -1))
        first += rows * length
    return np.concatenate(contexts, axis=1)


def group_rows(x: Array, first: int, rows: int, length: int) -> Array:
    """The [rows, H, length, D] view of one group's tokens ``first .. first + rows * length - 1`` of a packed
    [1, H, N, D] projection."""
    heads, depth = x.shape[1], x.shape[3]
    return x[0, :, first:first + rows * length].reshape(heads, rows, length, depth).transpose(1, 0, 2, 3)


def check_groups(groups: Array, tokens: int, positions: int) -> Array:
    """``groups`` as a [G, 2] int64 array of (rows, length), each at least 1, covering exactly ``tokens``
    tokens, no length beyond ``positions``; ValueError naming what is wrong."""
    g = np.asarray(groups)
    if g.ndim != 2 or g.shape[1] != 2 or g.shape[0] == 0 or g.dtype.kind not in "iu":
        raise ValueError(f"groups must be a non-empty [G, 2] int array of (rows, length), got {g.dtype} {g.shape}")
    g = g.astype(np.int64)
    if g.min() < 1:
        raise ValueError(f"groups: rows and lengths must be at least 1, got {g.min()}")
    if int(g[:, 0].max()) > tokens:  # (also keeps rows * length from overflowing below)
        raise ValueError(f"groups: {int(g[:, 0].max())} rows exceed the projection's {tokens} tokens")
    if int(g[:, 1].max()) > positions:
        raise ValueError(f"groups: a length of {int(g[:, 1].max())} exceeds the {positions} rotary positions given")
    if int((g[:, 0] * g[:, 1]).sum()) != tokens:
        raise ValueError(f"groups hold {int((g[:, 0] * g[:, 1]).sum())} tokens, the projection {tokens}")
    return g


# ---------------------------------------------------------------------------------------------
# Residual blocks (post-norm, as BERT). Biases may be None and the norm parameters None together
# (RoFormer-V2: bias-free linears and the parameter-free RMS norm, see :func:`norm`).
# ---------------------------------------------------------------------------------------------
def output_layer_norm(
    x: Array, weight: Array, bias: Array | None, residual: Array, ln_weight: Array | None, ln_bias: Array | None,
    eps: float,
) -> Array:
    """``Norm(x @ weight.T + bias + residual)``: [B, T, in] -> [B, T, C]."""
    return norm(linear(x, weight, bias) + residual, ln_weight, ln_bias, eps)


def feed_forward(
    x: Array,
    w_in: Array,
    b_in: Array | None,
    w_out: Array,
    b_out: Array | None,
    ln_weight: Array | None,
    ln_bias: Array | None,
    eps: float,
    activation: str,
) -> Array:
    """The position-wise block ``Norm(act(x W_in.T + b_in) W_out.T + b_out + x)``.

    x: [B, T, C]; w_in: [F, C]; w_out: [C, F]; ``activation`` is a ``hidden_act`` name.
    """
    hidden = get_activation(activation)(linear(x, w_in, b_in))  # [B, T, F]
    return output_layer_norm(hidden, w_out, b_out, x, ln_weight, ln_bias, eps)


def embed(
    input_ids: Array,
    token_type_ids: Array,
    word_embeddings: Array,
    token_type_embeddings: Array,
    ln_weight: Array | None,
    ln_bias: Array | None,
    eps: float,
) -> Array:
    """Word + token-type embeddings, then the norm. No absolute positions: rotary carries them.

    input_ids, token_type_ids: [B, T] integers; word_embeddings: [V, E]; token_type_embeddings: [N, E].
    Returns [B, T, E].
    """
    x = word_embeddings[input_ids] + token_type_embeddings[token_type_ids]
    return norm(x, ln_weight, ln_bias, eps)
