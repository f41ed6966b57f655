"""Logits processors that look at token sequences: n-gram repetition bans (of the sequence itself and of the
prompt), sequence biases and bad words, and prefix constraints. Same contract as :mod:`roformer_np.logits_process`.

Dimension legend: N rows, S sequence length so far, V vocab size, B prompt batch, W n-grams per row.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .config import as_int, is_real
from .logits_process import (
    NEG_INF,
    Array,
    LogitsProcessor,
    check_ids,
    check_ids_in_vocab,
    check_in_vocab,
    check_int,
    check_scores,
    check_token_ids,
    expanded_rows,
)


# ---------------------------------------------------------------------------------------------
# n-gram, bias and constraint processors
# ---------------------------------------------------------------------------------------------
def _windows(ids: Array, n: int) -> Array:
    """All n-grams of each row: [R, L] -> [R, L - n + 1, n] (zero n-grams when L < n)."""
    if ids.shape[1] < n:
        return np.zeros((ids.shape[0], 0, n), dtype=ids.dtype)
    return np.lib.stride_tricks.sliding_window_view(ids, n, axis=1)


def _ban_completions(scores: Array, grams: Array, prefix: Array) -> Array:
    """-inf at the last token of every n-gram in grams [N, W, n] whose first n-1 tokens equal prefix [N, n-1]."""
    match = np.all(grams[:, :, :-1] == prefix[:, None, :], axis=-1)  # [N, W]
    rows, cols = np.nonzero(match)
    out = scores.copy()
    out[rows, grams[rows, cols, -1]] = NEG_INF
    return out


class NoRepeatNGramLogitsProcessor(LogitsProcessor):
    """No n-gram of size ``ngram_size`` may occur twice in a row's sequence (prompt included)."""

    def __init__(self, ngram_size: int):
        self.ngram_size = check_int(ngram_size, "ngram_size", 1)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        ids = check_ids(input_ids, scores.shape[0])
        check_ids_in_vocab(ids, scores.shape[-1])
        n, cur_len = self.ngram_size, ids.shape[1]
        if cur_len + 1 < n:
            return scores.copy()
        return _ban_completions(scores, _windows(ids, n), ids[:, cur_len + 1 - n:])


class EncoderNoRepeatNGramLogitsProcessor(LogitsProcessor):
    """No n-gram of size ``encoder_ngram_size`` of the row's prompt may be generated (rows expand B prompts)."""

    def __init__(self, encoder_ngram_size: int, encoder_input_ids: Array):
        self.ngram_size = check_int(encoder_ngram_size, "encoder_ngram_size", 1)
        ids = np.asarray(encoder_input_ids)
        self.encoder_input_ids = check_ids(ids[None] if ids.ndim == 1 else ids, name="encoder_input_ids")
        self.batch_size = self.encoder_input_ids.shape[0]

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        ids = check_ids(input_ids, scores.shape[0])
        enc = self.encoder_input_ids
        check_ids_in_vocab(enc, scores.shape[-1], "encoder_input_ids")
        n, cur_len = self.ngram_size, ids.shape[1]
        if cur_len + 1 < n:  # Hugging Face's prefix slice is then too short to match any n-gram
            return scores.copy()
        grams = _windows(enc, n)[expanded_rows(scores.shape[0], self.batch_size)]
        return _ban_completions(scores, grams, ids[:, cur_len + 1 - n:])


def check_sequence_bias(sequence_bias: Any, name: str = "sequence_bias",
                        vocab_size: int | None = None) -> dict[tuple[int, ...], float]:
    """Hugging Face's two forms — ``{(ids...): bias}`` and ``[[ids, bias], ...]`` — as one dict (a later
    duplicate wins, as in Hugging Face's conversion). Ids are integers >= 0 (token 0 too, in both forms)."""
    if isinstance(sequence_bias, dict):
        pairs = list(sequence_bias.items())
        if any(not isinstance(k, tuple) for k, _ in pairs):
            raise ValueError(f"{name} as a dict must have tuples of token ids as keys, got {sequence_bias!r}")
    elif isinstance(sequence_bias, list):
        if any(not isinstance(e, (list, tuple)) or len(e) != 2 or not isinstance(e[0], list) for e in sequence_bias):
            raise ValueError(f"{name} as a list must hold [token_ids_list, bias] pairs, got {sequence_bias!r}")
        pairs = [(tuple(e[0]), e[1]) for e in sequence_bias]
    else:
        raise ValueError(f"{name} must be a dict {{(ids...): bias}} or a list [[ids, bias], ...], "
                         f"got {sequence_bias!r}")
    if not pairs:
        raise ValueError(f"{name} must not be empty")
    out: dict[tuple[int, ...], float] = {}
    for ids, bias in pairs:
        if not ids or any(as_int(i) is None or i < 0 for i in ids):
            raise ValueError(f"{name} keys must be non-empty sequences of integer token ids >= 0, got {list(ids)!r}")
        if not is_real(bias) or math.isnan(bias) or bias == math.inf:
            # -inf bans a sequence; +inf would turn the scores into NaN (Hugging Face's result) and decide nothing
            raise ValueError(f"{name} biases must be numbers below +inf (-inf bans), got {bias!r} for {list(ids)!r}")
        out[tuple(int(i) for i in ids)] = float(bias)
    if vocab_size is not None:
        check_in_vocab([i for ids in out for i in ids], name, vocab_size)
    return out


class SequenceBiasLogitsProcessor(LogitsProcessor):
    """Adds a bias to the last token of each biased sequence whenever the row ends with the sequence's other
    tokens (a one-token sequence is always biased). Biases of several sequences ending in one token add up."""

    _name = "sequence_bias"

    def __init__(self, sequence_bias: dict | list):
        self.sequence_bias = check_sequence_bias(sequence_bias, self._name)
        self._length_1 = [(ids[0], b) for ids, b in self.sequence_bias.items() if len(ids) == 1]
        self._longer = [(ids, b) for ids, b in self.sequence_bias.items() if len(ids) > 1]

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        ids = check_ids(input_ids, scores.shape[0])
        check_in_vocab([i for seq in self.sequence_bias for i in seq], self._name, scores.shape[-1])
        dtype = scores.dtype.type
        bias = np.zeros_like(scores)  # accumulated apart, then added once, as in Hugging Face
        if self._length_1:
            tokens, values = zip(*self._length_1)
            bias[:, list(tokens)] += np.asarray(values, dtype=scores.dtype)
        for seq, value in self._longer:
            if len(seq) > ids.shape[1]:
                continue
            matching = np.all(ids[:, ids.shape[1] + 1 - len(seq):] == np.asarray(seq[:-1]), axis=1)  # [N]
            bias[:, seq[-1]] += np.where(matching, dtype(value), dtype(0))
        return scores + bias


class NoBadWordsLogitsProcessor(SequenceBiasLogitsProcessor):
    """Bans each sequence of ``bad_words_ids`` (a bias of -inf on its last token). A one-token entry equal to an
    EOS id is dropped, as in Hugging Face (so ``[[eos]]`` bans nothing)."""

    _name = "bad_words_ids"

    def __init__(self, bad_words_ids: list[list[int]], eos_token_id: int | list[int] | Array | None = None):
        check_bad_words(bad_words_ids, self._name)
        eos = [] if eos_token_id is None else check_token_ids(eos_token_id, "eos_token_id", allow_empty=True)
        self.bad_words_ids = [list(w) for w in bad_words_ids if not (len(w) == 1 and w[0] in eos)]
        self.sequence_bias = {tuple(int(i) for i in w): NEG_INF for w in self.bad_words_ids}
        self._length_1 = [(ids[0], b) for ids, b in self.sequence_bias.items() if len(ids) == 1]
        self._longer = [(ids, b) for ids, b in self.sequence_bias.items() if len(ids) > 1]


def check_bad_words(bad_words_ids: Any, name: str = "bad_words_ids", vocab_size: int | None = None) -> None:
    if not isinstance(bad_words_ids, list) or not bad_words_ids:
        raise ValueError(f"{name} must be a non-empty list of lists of token ids, got {bad_words_ids!r}")
    for word in bad_words_ids:
        if not isinstance(word, list) or not word or any(as_int(i) is None or i < 0 for i in word):
            raise ValueError(f"{name} must be a list of non-empty lists of integer token ids >= 0, got {word!r} "
                             "in it")
    if vocab_size is not None:
        check_in_vocab([i for w in bad_words_ids for i in w], name, vocab_size)


class PrefixConstrainedLogitsProcessor(LogitsProcessor):
    """Only the tokens ``prefix_allowed_tokens_fn(batch_id, row_ids)`` returns may follow (others -inf).
    ``row_ids`` is the row's 1-D int64 array; the rows are B prompts × ``num_beams``."""

    def __init__(self, prefix_allowed_tokens_fn: Callable[[int, Array], list[int]], num_beams: int):
        if not callable(prefix_allowed_tokens_fn):
            raise ValueError(f"prefix_allowed_tokens_fn must be callable, got {prefix_allowed_tokens_fn!r}")
        self._prefix_allowed_tokens_fn = prefix_allowed_tokens_fn
        self._num_beams = check_int(num_beams, "num_beams", 1)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        ids = check_ids(input_ids, scores.shape[0])
        if ids.shape[0] % self._num_beams:
            raise ValueError(f"input_ids has {ids.shape[0]} rows, not a multiple of num_beams={self._num_beams}")
        mask = np.full_like(scores, NEG_INF)
        for row in range(ids.shape[0]):
            batch_id = row // self._num_beams
            allowed = self._prefix_allowed_tokens_fn(batch_id, ids[row].copy())  # the caller's ids stay intact
            allowed = check_token_ids(allowed, f"prefix_allowed_tokens_fn({batch_id}, ...)", allow_empty=True)
            if not allowed:
                raise ValueError(f"prefix_allowed_tokens_fn returned an empty list for batch ID {batch_id}: the "
                                 "constraint cannot be satisfied")
            check_in_vocab(allowed, f"prefix_allowed_tokens_fn({batch_id}, ...)", scores.shape[-1])
            mask[row, allowed] = 0
        return scores + mask
