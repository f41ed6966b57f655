"""Logits processors of ``generate()``, with Hugging Face transformers 4.56.2's names, arguments and numerics.

A processor maps ``(input_ids [N, S] int64, scores [N, V] float)`` to new scores [N, V] of the same dtype; it
never writes into its input. ``input_ids`` is the whole sequence so far (prompt included). Arithmetic is done in
the scores' dtype as PyTorch does it on the CPU (a Python scalar is rounded to float32 first; softmax and
log-softmax in float32; cumulative sums accumulate in float64 and are rounded per element, as torch's CPU
``cumsum`` does). This module holds the base classes, the argument checks and the processors that act on
lengths, penalties and single tokens; the sampling warpers (:mod:`roformer_np.logits_warpers`), the sequence
processors (:mod:`roformer_np.logits_sequences`: n-grams, biases, bad words, prefix constraints) and
:func:`build_logits_processors` (:mod:`roformer_np.logits_build`, the list ``generate()`` uses) are re-exported
here, so every name can be imported from this module.

Where this module deliberately differs from Hugging Face (see golden/README.md, "Logits processors"):
token ids outside ``[0, V)`` raise ``ValueError`` (Hugging Face wraps negative ids, raises ``IndexError`` or
silently ignores them); ``EncoderRepetitionPenaltyLogitsProcessor`` maps expanded rows (beams, returned
sequences) to their own prompt (Hugging Face penalises the first rows with the wrong prompts);
``ExponentialDecayLengthPenalty`` leaves an EOS score of -inf at -inf (Hugging Face turns it into NaN);
sequence biases may target token 0 in the list form, and numbers may be ints where Hugging Face demands floats.

Dimension legend: N rows (batch × beams), S sequence length so far, V vocab size, B prompt batch.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from .config import as_int, is_real

Array = np.ndarray
NEG_INF = -math.inf


# ---------------------------------------------------------------------------------------------
# Argument checks (pure; ``name`` is the argument or generate() option the message names)
# ---------------------------------------------------------------------------------------------
def check_int(value: Any, name: str, low: int = 0) -> int:
    """``value`` as an int >= ``low`` (NumPy integers too, never a bool)."""
    n = as_int(value)
    if n is None or n < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return n


def check_real(value: Any, name: str, allowed: str, ok: Callable[[float], bool]) -> float:
    """``value`` as a float when it is a real number (not a bool) for which ``ok`` holds (NaN never does)."""
    if not is_real(value) or math.isnan(value) or not ok(float(value)):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


def check_positive_finite(value: Any, name: str) -> float:
    return check_real(value, name, "a finite number > 0", lambda v: 0 < v < math.inf)


def check_token_ids(value: Any, name: str, vocab_size: int | None = None, allow_empty: bool = False) -> list[int]:
    """An id or a sequence (list, tuple, 1-D array) of ids, each an integer in [0, vocab_size)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if as_int(value) is not None:
        items = [value]
    elif isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        items = list(value)
    else:
        raise ValueError(f"{name} must be a token id or a list of token ids, got {value!r}")
    if not items and not allow_empty:
        raise ValueError(f"{name} must hold at least one token id, got {value!r}")
    ids = [as_int(i) for i in items]
    if any(i is None or i < 0 for i in ids):
        raise ValueError(f"{name} must hold integer token ids >= 0, got {value!r}")
    if vocab_size is not None:
        check_in_vocab(ids, name, vocab_size)
    return ids  # type: ignore[return-value]


def check_in_vocab(ids: Iterable[int], name: str, vocab_size: int) -> None:
    bad = sorted({int(i) for i in ids if not 0 <= i < vocab_size})
    if bad:
        raise ValueError(f"{name} must hold token ids in [0, {vocab_size}), got {bad}")


def check_min_tokens_to_keep(value: Any) -> int:
    return check_int(value, "min_tokens_to_keep", 1)


def check_scores(scores: Any) -> Array:
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.dtype.kind != "f":
        raise ValueError(f"scores must be a floating [batch, vocab] array, got {scores.dtype} {scores.shape}")
    return scores


def check_ids(input_ids: Any, rows: int | None = None, name: str = "input_ids") -> Array:
    ids = np.asarray(input_ids)
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer [batch, seq] array, got {ids.dtype} {ids.shape}")
    if rows is not None and ids.shape[0] != rows:
        raise ValueError(f"{name} has {ids.shape[0]} rows but scores have {rows}")
    return ids


def check_ids_in_vocab(ids: Array, vocab_size: int, name: str = "input_ids") -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"{name} must hold token ids in [0, {vocab_size}), got values from {ids.min()} to "
                         f"{ids.max()}")


def _seq_len(input_ids: Any) -> int:
    return int(np.shape(input_ids)[-1])


def _masked(scores: Array, columns: list[int] | Array) -> Array:
    """A copy of ``scores`` with ``columns`` set to -inf in every row."""
    out = scores.copy()
    out[:, columns] = NEG_INF
    return out


def _forced(scores: Array, columns: list[int]) -> Array:
    """-inf everywhere but 0 at ``columns`` (the forced-token processors)."""
    out = np.full_like(scores, NEG_INF)
    out[:, columns] = 0
    return out


# ---------------------------------------------------------------------------------------------
# float32 math as torch's CPU kernels compute it
# ---------------------------------------------------------------------------------------------
def softmax(x: Array) -> Array:
    """exp(x - max) / sum along the last axis, in x's dtype (a row of -inf gives NaN, as in torch)."""
    with np.errstate(invalid="ignore"):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x: Array) -> Array:
    with np.errstate(invalid="ignore", divide="ignore"):
        shifted = x - x.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cumsum(x: Array) -> Array:
    """torch's CPU cumsum: accumulated in float64, each partial sum rounded to x's dtype."""
    return np.cumsum(x, axis=-1, dtype=np.float64).astype(x.dtype)


def scatter_back(sorted_values: Array, order: Array) -> Array:
    """Undo a row-wise ``take_along_axis(x, order)``: out[r, order[r, j]] = sorted_values[r, j]."""
    out = np.empty_like(sorted_values)
    np.put_along_axis(out, order, sorted_values, axis=-1)
    return out


# ---------------------------------------------------------------------------------------------
# Base classes
# ---------------------------------------------------------------------------------------------
class LogitsProcessor:
    """Base class of every processor: ``__call__(input_ids, scores) -> scores``."""

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        raise NotImplementedError(f"{self.__class__} is an abstract class; call a subclass")


class LogitsProcessorList(list):
    """A list of processors applied in order. Extra keyword arguments go to every processor whose
    ``__call__`` takes more than (input_ids, scores) — e.g. ``HammingDiversityLogitsProcessor`` needs
    ``current_tokens`` and ``beam_group_idx``; a missing one raises ``ValueError``, as in Hugging Face."""

    def __call__(self, input_ids: Array, scores: Array, **kwargs: Any) -> Array:
        for processor in self:
            params = inspect.signature(processor.__call__).parameters
            if len(params) > 2:
                needed = [p.name for p in list(params.values())[2:]
                          if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.default is p.empty]
                missing = [n for n in needed if n not in kwargs]
                if missing:
                    raise ValueError(f"{processor.__class__.__name__} needs the keyword arguments {missing} "
                                     "when the processor list is called")
                scores = processor(input_ids, scores, **kwargs)
            else:
                scores = processor(input_ids, scores)
        return scores


# ---------------------------------------------------------------------------------------------
# Length and forced-token processors
# ---------------------------------------------------------------------------------------------
class MinLengthLogitsProcessor(LogitsProcessor):
    """EOS scores -inf while the sequence (prompt included) is shorter than ``min_length``."""

    def __init__(self, min_length: int, eos_token_id: int | list[int] | Array):
        self.min_length = check_int(min_length, "min_length", 0)
        self.eos_token_id = check_token_ids(eos_token_id, "eos_token_id", allow_empty=True)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        check_in_vocab(self.eos_token_id, "eos_token_id", scores.shape[-1])
        if _seq_len(input_ids) < self.min_length:
            return _masked(scores, self.eos_token_id)
        return scores.copy()


class MinNewTokensLengthLogitsProcessor(LogitsProcessor):
    """EOS scores -inf until ``min_new_tokens`` tokens follow the first ``prompt_length_to_skip``."""

    def __init__(self, prompt_length_to_skip: int, min_new_tokens: int, eos_token_id: int | list[int] | Array):
        self.prompt_length_to_skip = check_int(prompt_length_to_skip, "prompt_length_to_skip", 0)
        self.min_new_tokens = check_int(min_new_tokens, "min_new_tokens", 0)
        self.eos_token_id = check_token_ids(eos_token_id, "eos_token_id", allow_empty=True)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        check_in_vocab(self.eos_token_id, "eos_token_id", scores.shape[-1])
        if _seq_len(input_ids) - self.prompt_length_to_skip < self.min_new_tokens:
            return _masked(scores, self.eos_token_id)
        return scores.copy()


class ForcedBOSTokenLogitsProcessor(LogitsProcessor):
    """At length 1, only ``bos_token_id`` may follow (score 0, every other -inf)."""

    def __init__(self, bos_token_id: int):
        self.bos_token_id = check_int(bos_token_id, "bos_token_id", 0)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        check_in_vocab([self.bos_token_id], "bos_token_id", scores.shape[-1])
        return _forced(scores, [self.bos_token_id]) if _seq_len(input_ids) == 1 else scores.copy()


class ForcedEOSTokenLogitsProcessor(LogitsProcessor):
    """At length ``max_length - 1``, only the EOS id(s) may follow (score 0, every other -inf)."""

    def __init__(self, max_length: int, eos_token_id: int | list[int] | Array):
        self.max_length = check_int(max_length, "max_length", 1)
        self.eos_token_id = check_token_ids(eos_token_id, "eos_token_id")  # none would leave every score -inf

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        check_in_vocab(self.eos_token_id, "eos_token_id", scores.shape[-1])
        return _forced(scores, self.eos_token_id) if _seq_len(input_ids) == self.max_length - 1 else scores.copy()


class ExponentialDecayLengthPenalty(LogitsProcessor):
    """After ``start_index`` generated tokens, EOS scores grow by |score| · (factor^k - 1) at the k-th step past it.

    An EOS score of -inf (banned, e.g. by ``min_length``) stays -inf; Hugging Face computes -inf + inf = NaN there.
    """

    def __init__(self, exponential_decay_length_penalty: tuple[int, float], eos_token_id: int | list[int] | Array,
                 input_ids_seq_length: int):
        start, factor = check_decay(exponential_decay_length_penalty, "exponential_decay_length_penalty")
        self.regulation_start = start + check_int(input_ids_seq_length, "input_ids_seq_length", 0)
        self.regulation_factor = factor
        self.eos_token_id = check_token_ids(eos_token_id, "eos_token_id", allow_empty=True)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        check_in_vocab(self.eos_token_id, "eos_token_id", scores.shape[-1])
        cur_len = _seq_len(input_ids)
        if cur_len <= self.regulation_start:
            return scores.copy()
        growth = scores.dtype.type(pow(self.regulation_factor, cur_len - self.regulation_start) - 1)
        eos = scores[:, self.eos_token_id]  # [N, E]
        with np.errstate(over="ignore", invalid="ignore"):
            penalty = np.where(np.isneginf(eos), 0, np.abs(eos) * growth).astype(scores.dtype)
        penalties = np.zeros_like(scores)
        penalties[:, self.eos_token_id] = penalty
        return scores + penalties


def check_decay(value: Any, name: str) -> tuple[int, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (start_index, decay_factor), got {value!r}")
    start = as_int(value[0])
    if start is None or start < 0:
        raise ValueError(f"{name}[0] (start_index) must be an integer >= 0, got {value[0]!r}")
    factor = check_positive_finite(value[1], f"{name}[1] (decay_factor)")
    return start, factor


# ---------------------------------------------------------------------------------------------
# Penalties
# ---------------------------------------------------------------------------------------------
def _penalise(scores: Array, rows: Array, ids: Array, penalty: float) -> Array:
    """CTRL's rule on scores[rows, ids]: negative scores times ``penalty``, the others divided by it."""
    p = scores.dtype.type(penalty)
    seen = scores[rows, ids]
    out = scores.copy()
    with np.errstate(over="ignore"):  # overflow to inf, as in torch
        out[rows, ids] = np.where(seen < 0, seen * p, seen / p)  # repeated ids write the same value
    return out


class RepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """Every token already in the row (after the first ``prompt_ignore_length``) gets CTRL's penalty once."""

    def __init__(self, penalty: float, prompt_ignore_length: int | None = None):
        self.penalty = check_positive_finite(penalty, "penalty")
        self.prompt_ignore_length = (None if prompt_ignore_length is None
                                     else check_int(prompt_ignore_length, "prompt_ignore_length", 0))

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        ids = check_ids(input_ids, scores.shape[0])
        if self.prompt_ignore_length:
            ids = ids[:, self.prompt_ignore_length:]
        check_ids_in_vocab(ids, scores.shape[-1])
        return _penalise(scores, np.arange(ids.shape[0])[:, None], ids, self.penalty)


class EncoderRepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """The inverse penalty on the prompt's tokens: ``penalty`` > 1 makes them more likely.

    Row i of the scores uses prompt row i // (N // B) when the N rows expand B prompts (beams, several returned
    sequences). Hugging Face gathers the B prompt rows against the first B score rows instead.
    """

    def __init__(self, penalty: float, encoder_input_ids: Array):
        self.penalty = 1 / check_positive_finite(penalty, "penalty")  # Python float, as Hugging Face stores it
        ids = np.asarray(encoder_input_ids)
        self.encoder_input_ids = check_ids(ids[None] if ids.ndim == 1 else ids, name="encoder_input_ids")

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        enc = self.encoder_input_ids
        check_ids_in_vocab(enc, scores.shape[-1], "encoder_input_ids")
        per_row = enc[expanded_rows(scores.shape[0], enc.shape[0])]  # [N, S_enc]
        return _penalise(scores, np.arange(per_row.shape[0])[:, None], per_row, self.penalty)


def expanded_rows(n_rows: int, batch: int) -> Array:
    """The prompt row of each of ``n_rows`` score rows when every prompt is repeated n_rows // batch times."""
    if batch == 0 or n_rows % batch:
        raise ValueError(f"scores have {n_rows} rows, not a multiple of the {batch} encoder_input_ids rows")
    return np.arange(n_rows) // (n_rows // batch)


class HammingDiversityLogitsProcessor(LogitsProcessor):
    """Group beam search: a beam group's scores lose ``diversity_penalty`` per use of a token by earlier groups
    at this step. ``current_tokens`` [B · num_beams] holds this step's tokens so far; scores are the group's rows."""

    def __init__(self, diversity_penalty: float, num_beams: int, num_beam_groups: int):
        self._diversity_penalty = check_positive_finite(diversity_penalty, "diversity_penalty")
        self._num_beams = check_int(num_beams, "num_beams", 2)
        groups = check_int(num_beam_groups, "num_beam_groups", 2)
        if groups > self._num_beams:
            raise ValueError(f"num_beam_groups must be <= num_beams ({self._num_beams}), got {num_beam_groups!r}")
        self._num_sub_beams = self._num_beams // groups

    def __call__(self, input_ids: Array, scores: Array, current_tokens: Array, beam_group_idx: int) -> Array:
        scores = check_scores(scores)
        vocab = scores.shape[-1]
        tokens = np.asarray(current_tokens).reshape(-1)
        check_ids_in_vocab(tokens[None], vocab, "current_tokens")
        start = check_int(beam_group_idx, "beam_group_idx", 0) * self._num_sub_beams
        group_size = min(start + self._num_sub_beams, self._num_beams) - start
        out = scores.copy()
        if start == 0:
            return out
        penalty = scores.dtype.type(self._diversity_penalty)
        for b in range(tokens.shape[0] // self._num_beams):
            previous = tokens[b * self._num_beams: b * self._num_beams + start]
            frequency = np.bincount(previous, minlength=vocab).astype(scores.dtype)  # [V]
            out[b * group_size: (b + 1) * group_size] -= penalty * frequency
        return out


# ---------------------------------------------------------------------------------------------
# Suppression, cleaning, normalisation
# ---------------------------------------------------------------------------------------------
class SuppressTokensLogitsProcessor(LogitsProcessor):
    """``suppress_tokens`` are -inf at every step."""

    def __init__(self, suppress_tokens: Iterable[int]):
        self.suppress_tokens = check_token_ids(listed_tokens(suppress_tokens), "suppress_tokens", allow_empty=True)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        check_in_vocab(self.suppress_tokens, "suppress_tokens", scores.shape[-1])
        return _masked(scores, self.suppress_tokens)


class SuppressTokensAtBeginLogitsProcessor(LogitsProcessor):
    """``begin_suppress_tokens`` are -inf at the step where the sequence length equals ``begin_index``."""

    def __init__(self, begin_suppress_tokens: Iterable[int], begin_index: int):
        self.begin_suppress_tokens = check_token_ids(listed_tokens(begin_suppress_tokens), "begin_suppress_tokens",
                                                     allow_empty=True)
        self.begin_index = check_int(begin_index, "begin_index", 0)

    def set_begin_index(self, begin_index: int) -> None:
        self.begin_index = check_int(begin_index, "begin_index", 0)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        check_in_vocab(self.begin_suppress_tokens, "begin_suppress_tokens", scores.shape[-1])
        if _seq_len(input_ids) == self.begin_index:
            return _masked(scores, self.begin_suppress_tokens)
        return scores.copy()


def listed_tokens(tokens: Any) -> Any:
    """Hugging Face takes ``list(tokens)`` of any iterable (a set, a range); a single id stays an id."""
    if as_int(tokens) is not None or isinstance(tokens, (list, tuple, np.ndarray, str, bytes)):
        return tokens
    try:
        return list(tokens)
    except TypeError:
        return tokens


class InfNanRemoveLogitsProcessor(LogitsProcessor):
    """NaN -> 0, +inf -> the dtype's largest value, -inf -> its lowest."""

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        info = np.finfo(scores.dtype)
        return np.nan_to_num(scores, nan=0.0, posinf=info.max, neginf=info.min)


class LogitNormalization(LogitsProcessor):
    """log-softmax of the scores (the last processor when ``renormalize_logits`` is set)."""

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        return log_softmax(check_scores(scores))


# names defined by the modules that import this one, re-exported lazily (PEP 562)
_LAZY = {
    **dict.fromkeys(("TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper", "MinPLogitsWarper",
                     "TypicalLogitsWarper", "EpsilonLogitsWarper", "EtaLogitsWarper"), "logits_warpers"),
    **dict.fromkeys(("NoRepeatNGramLogitsProcessor", "EncoderNoRepeatNGramLogitsProcessor",
                     "SequenceBiasLogitsProcessor", "NoBadWordsLogitsProcessor", "PrefixConstrainedLogitsProcessor"),
                    "logits_sequences"),
    "build_logits_processors": "logits_build",
}

__all__ = [
    "LogitsProcessor", "LogitsProcessorList", "MinLengthLogitsProcessor", "MinNewTokensLengthLogitsProcessor",
    "ForcedBOSTokenLogitsProcessor", "ForcedEOSTokenLogitsProcessor", "ExponentialDecayLengthPenalty",
    "RepetitionPenaltyLogitsProcessor", "EncoderRepetitionPenaltyLogitsProcessor", "HammingDiversityLogitsProcessor",
    "SuppressTokensLogitsProcessor", "SuppressTokensAtBeginLogitsProcessor", "InfNanRemoveLogitsProcessor",
    "LogitNormalization", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
