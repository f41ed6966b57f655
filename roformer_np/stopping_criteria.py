"""When ``generate()`` stops a row: Hugging Face transformers 4.56's stopping criteria, on NumPy arrays.

Every criterion is called after each new token with ``input_ids`` int64 ``[N, S]`` (prompt included) and the
step's ``scores`` float32 ``[N, V]`` (or None) and returns a bool ``[N]``: True where that row is done.
:class:`StoppingCriteriaList` ORs its members; :func:`build_stopping_criteria` makes the list ``generate()``
uses, in Hugging Face's order (max length, max time, stop strings, EOS) with its merge rule for custom criteria.

:class:`StopStringCriteria` takes the same decisions as Hugging Face's: a stop string counts only when it
overlaps the last token (it may run off either end of the tokens that spell it), measured on the "clean"
vocabulary (each token as ``convert_tokens_to_string`` spells it after a fixed prefix, so WordPiece tokens that
start a word carry a leading space and ``##`` pieces none). Hugging Face packs the per-token tables into one
tensor for a compiled lookup; here they are dicts walked backwards over the last tokens of each row, which
gives the same result (see :meth:`StopStringCriteria.__call__`).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "StoppingCriteria",
    "StoppingCriteriaList",
    "MaxLengthCriteria",
    "MaxTimeCriteria",
    "EosTokenCriteria",
    "StopStringCriteria",
    "build_stopping_criteria",
]

Array = np.ndarray
# Hugging Face's prefix for spelling tokens as they appear after other text (clean_tokenizer_vocab)
STATIC_PREFIX = "abcdef"
_CACHE_SIZE = 8  # stop-string tables kept, least recently used dropped (as Hugging Face's module cache)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _check_input_ids(input_ids: Any) -> Array:
    ids = np.asarray(input_ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"input_ids must be an integer array [batch, sequence], got {ids.dtype} {ids.shape}")
    return ids


def _full(input_ids: Any, value: bool) -> Array:
    return np.full(_check_input_ids(input_ids).shape[0], value, dtype=bool)  # [N]


class StoppingCriteria:
    """Base class: ``criteria(input_ids [N, S], scores [N, V] or None) -> bool [N]`` (True = row done)."""

    def __call__(self, input_ids: Array, scores: Array | None, **kwargs: Any) -> Array:
        raise NotImplementedError("StoppingCriteria needs to be subclassed")


class MaxLengthCriteria(StoppingCriteria):
    """Done once the sequence (prompt included) has ``max_length`` tokens; warns once per criterion when a
    sequence grows past ``max_position_embeddings`` (the model's limit) without being done."""

    def __init__(self, max_length: int, max_position_embeddings: int | None = None):
        if not _is_int(max_length) or max_length < 1:
            raise ValueError(f"max_length must be an int >= 1, got {max_length!r}")
        if max_position_embeddings is not None and (not _is_int(max_position_embeddings)
                                                    or max_position_embeddings < 1):
            raise ValueError(f"max_position_embeddings must be None or an int >= 1, got {max_position_embeddings!r}")
        self.max_length = int(max_length)
        self.max_position_embeddings = None if max_position_embeddings is None else int(max_position_embeddings)
        self._warned = False

    def __call__(self, input_ids: Array, scores: Array | None, **kwargs: Any) -> Array:
        cur_len = _check_input_ids(input_ids).shape[1]
        is_done = cur_len >= self.max_length
        limit = self.max_position_embeddings
        if limit is not None and not is_done and cur_len >= limit and not self._warned:
            self._warned = True
            warnings.warn(f"the generated sequence is longer than the model's limit of {limit} positions "
                          "(max_position_embeddings); later tokens may be meaningless", stacklevel=2)
        return _full(input_ids, is_done)


class MaxTimeCriteria(StoppingCriteria):
    """Done (every row) once more than ``max_time`` seconds have passed since ``initial_timestamp``
    (``time.time()`` at construction by default)."""

    def __init__(self, max_time: float, initial_timestamp: float | None = None):
        if not _is_real(max_time) or not math.isfinite(max_time) or max_time <= 0:
            raise ValueError(f"max_time must be a finite number of seconds > 0, got {max_time!r}")
        if initial_timestamp is not None and (not _is_real(initial_timestamp) or not math.isfinite(initial_timestamp)):
            raise ValueError(f"initial_timestamp must be None or a finite number, got {initial_timestamp!r}")
        self.max_time = float(max_time)
        self.initial_timestamp = time.time() if initial_timestamp is None else float(initial_timestamp)

    def __call__(self, input_ids: Array, scores: Array | None, **kwargs: Any) -> Array:
        return _full(input_ids, time.time() - self.initial_timestamp > self.max_time)


class EosTokenCriteria(StoppingCriteria):
    """Done where the last token is one of ``eos_token_id`` (an int, or a non-empty sequence/array of ints)."""

    def __init__(self, eos_token_id: int | Sequence[int] | Array):
        ids = [eos_token_id] if _is_int(eos_token_id) else eos_token_id
        if isinstance(ids, np.ndarray):
            ids = ids.reshape(-1).tolist() if np.issubdtype(ids.dtype, np.integer) else None
        elif isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            ids = None
        else:
            ids = list(ids)
        if not ids or not all(_is_int(i) and i >= 0 for i in ids):
            raise ValueError(f"eos_token_id must be an int >= 0 or a non-empty list of them, got {eos_token_id!r}")
        self.eos_token_id = np.asarray(ids, dtype=np.int64)  # [E]

    def __call__(self, input_ids: Array, scores: Array | None, **kwargs: Any) -> Array:
        ids = _check_input_ids(input_ids)
        if ids.shape[1] == 0:
            raise ValueError("input_ids must hold at least one token per row")
        return np.isin(ids[:, -1], self.eos_token_id)


# ---------------------------------------------------------------------------------------------
# Stop strings
# ---------------------------------------------------------------------------------------------
def check_stop_strings(stop_strings: Any) -> tuple[str, ...]:
    """``stop_strings`` (a str or a list of non-empty str) as a tuple; ValueError otherwise."""
    strings = [stop_strings] if isinstance(stop_strings, str) else stop_strings
    if isinstance(strings, (list, tuple)) and strings and all(isinstance(s, str) and s for s in strings):
        return tuple(strings)
    raise ValueError(f"stop_strings must be a non-empty str or a non-empty list of non-empty str, got {stop_strings!r}")


def clean_tokenizer_vocab(tokenizer: Any, static_prefix: str = STATIC_PREFIX) -> dict[int, str]:
    """``{id: text}`` for every vocabulary token: how the token reads when it follows other text.

    As Hugging Face: ``convert_tokens_to_string(prefix tokens + [token])`` with everything up to the end of
    ``static_prefix`` cut off, so a WordPiece word start reads ``" 我"``, a ``##`` piece ``"们"``."""
    base = tokenizer.convert_ids_to_tokens(tokenizer(static_prefix, add_special_tokens=False)["input_ids"])
    clean: dict[int, str] = {}
    for token, index in tokenizer.get_vocab().items():
        text = tokenizer.convert_tokens_to_string([*base, token])
        at = text.find(static_prefix)
        if at < 0:
            raise ValueError(f"tokenizer cannot spell {static_prefix!r} back (got {text!r}), so stop strings "
                             "cannot be matched against its vocabulary")
        clean[int(index)] = text[at + len(static_prefix):]
    return clean


def _end_overlaps(token: str, stop: str) -> tuple[int, ...]:
    """How many final characters of ``stop`` each prefix of ``token`` can supply as the last token: for a
    prefix of m <= len(stop) characters, m when it equals the end of ``stop``; for a longer prefix, len(stop)
    when it ends with ``stop`` (Hugging Face's possible end lengths, in its order)."""
    out = []
    for m in range(1, len(token) + 1):
        if m <= len(stop):
            if token[:m] == stop[len(stop) - m:]:
                out.append(m)
        elif token[:m].endswith(stop):
            out.append(len(stop))
    return tuple(out)


def _valid_positions(token: str, stop: str) -> frozenset[int]:
    """Offsets i (1 <= i < len(stop), counted from the end of ``stop``) where ``token`` can sit with i
    characters of ``stop`` after it: it equals ``stop``'s characters there, or runs off the start of ``stop``
    with its end matching ``stop``'s beginning. An empty token fits everywhere (as in Hugging Face)."""
    n, t = len(token), len(stop)
    out = []
    for i in range(1, t):
        if i + n <= t:
            if stop[t - i - n:t - i] == token:
                out.append(i)
        elif token.endswith(stop[:t - i]):
            out.append(i)
    return frozenset(out)


class _CleanVocab:
    """A tokenizer's clean vocabulary with, per character, the ids of the tokens holding it (a stop string
    can only involve tokens sharing a character with it, or empty ones)."""

    def __init__(self, tokenizer: Any):
        self.text = clean_tokenizer_vocab(tokenizer)  # {id: clean string}
        self.lengths = {i: len(s) for i, s in self.text.items()}
        self.by_char: dict[str, list[int]] = {}
        self.empty: list[int] = []
        for index, token in self.text.items():
            if not token:
                self.empty.append(index)
            for ch in set(token):
                self.by_char.setdefault(ch, []).append(index)

    def candidates(self, stop: str) -> set[int]:
        out = set(self.empty)
        for ch in set(stop):
            out.update(self.by_char.get(ch, ()))
        return out


class _StopTables:
    """Per stop string: end overlaps of the tokens that can end it, valid positions of those that can be
    inside it; plus every token's clean length (ids outside the vocabulary have none and never match)."""

    def __init__(self, vocab: _CleanVocab, stop_strings: tuple[str, ...]):
        self.lengths = vocab.lengths
        self.ends: list[dict[int, tuple[int, ...]]] = []
        self.positions: list[dict[int, frozenset[int]]] = []
        for stop in stop_strings:
            ends: dict[int, tuple[int, ...]] = {}
            positions: dict[int, frozenset[int]] = {}
            for index in vocab.candidates(stop):
                token = vocab.text[index]
                overlaps = _end_overlaps(token, stop)
                if overlaps:
                    ends[index] = overlaps
                valid = _valid_positions(token, stop)
                if valid:
                    positions[index] = valid
            self.ends.append(ends)
            self.positions.append(positions)
        if not any(self.ends):
            raise ValueError("stop_strings: no token of the tokenizer's vocabulary can end any of the stop strings "
                             f"{list(stop_strings)!r} (unusual characters the vocabulary lacks?)")


class _LRU:
    """A small thread-safe least-recently-used cache (Hugging Face keeps 8 stop-string tables too)."""

    def __init__(self, size: int):
        self.size = size
        self.items: OrderedDict[tuple, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple, make: Callable[[], Any]) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()  # outside the lock: may take a while, and may raise
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


_VOCABS = _LRU(4)
_TABLES = _LRU(_CACHE_SIZE)


def _stop_tables(tokenizer: Any, stop_strings: tuple[str, ...]) -> _StopTables:
    # keyed by what the tables depend on (the tokenizer object itself is not a reliable key)
    vocab_key = (type(tokenizer), tuple(tokenizer.get_vocab().items()))
    vocab = _VOCABS.get(vocab_key, lambda: _CleanVocab(tokenizer))
    return _TABLES.get((vocab_key, stop_strings), lambda: _StopTables(vocab, stop_strings))


class StopStringCriteria(StoppingCriteria):
    """Done where the text of the last tokens contains one of ``stop_strings`` overlapping the last token.

    ``["st", "op"]``, ``["las", "topper"]`` and ``["s", "to", "pped"]`` end ``"stop"``; ``["stop", "at"]`` does
    not (the string is there but the last token is not part of it). Text is measured on the tokenizer's clean
    vocabulary (:func:`clean_tokenizer_vocab`), so with the WordPiece tokenizers here a word-start token reads
    with a leading space: ``"我们"`` ends at the token ``我们`` (read ``" 我们"``, which holds it) but not at
    ``我`` ``们`` (read ``" 我 们"``; the stop string ``"我 们"`` matches that). Needs ``tokenizer.get_vocab``,
    ``convert_ids_to_tokens``, ``convert_tokens_to_string`` and ``tokenizer(text, add_special_tokens=False)``.
    """

    def __init__(self, tokenizer: Any, stop_strings: str | list[str]):
        self.stop_strings = check_stop_strings(stop_strings)
        if tokenizer is None:
            raise ValueError("tokenizer is required with stop_strings: pass the model's tokenizer")
        self._tables = _stop_tables(tokenizer, self.stop_strings)
        # at most one token per character can take part in a match (Hugging Face's window)
        self.maximum_token_len = max(len(s) for s in self.stop_strings)
        self.target_lens = tuple(len(s) for s in self.stop_strings)

    def _row_matches(self, window: list[int]) -> bool:
        """``window``: the row's last tokens, newest first."""
        tables, last = self._tables, window[0]
        lengths = tables.lengths
        for ends, positions, target in zip(tables.ends, tables.positions, self.target_lens):
            for matched in ends.get(last, ()):  # characters of the stop string the last token supplies
                if matched >= target:
                    return True
                for token in window[1:]:
                    if matched not in positions.get(token, ()):
                        break
                    matched += lengths[token]
                    if matched >= target:
                        return True
        return False

    def __call__(self, input_ids: Array, scores: Array | None, **kwargs: Any) -> Array:
        ids = _check_input_ids(input_ids)
        window = ids[:, ::-1][:, : self.maximum_token_len].tolist()  # [N, <= L], newest first
        return np.array([bool(row) and self._row_matches(row) for row in window], dtype=bool)


# ---------------------------------------------------------------------------------------------
# Lists
# ---------------------------------------------------------------------------------------------
class StoppingCriteriaList(list):
    """Criteria ORed together: a row is done as soon as any criterion says so."""

    def __call__(self, input_ids: Array, scores: Array | None, **kwargs: Any) -> Array:
        is_done = _full(input_ids, False)  # [N]
        for criteria in self:
            is_done = is_done | np.asarray(criteria(input_ids, scores, **kwargs), dtype=bool)
        return is_done

    @property
    def max_length(self) -> int | None:
        """The ``max_length`` of the first :class:`MaxLengthCriteria`, else None."""
        for criteria in self:
            if isinstance(criteria, MaxLengthCriteria):
                return criteria.max_length
        return None


def merge_criteria(default: StoppingCriteriaList, custom: Iterable[Callable] | None) -> StoppingCriteriaList:
    """Hugging Face's merge rule: a custom criterion of the same class as a default one takes its place (the
    first such custom one); the other custom criteria follow, in their order."""
    custom = list(custom or [])
    for i, criteria in enumerate(custom):
        if not callable(criteria):
            raise ValueError(f"custom[{i}] must be a StoppingCriteria (a callable), got {type(criteria).__name__}")
    if not custom:
        return default
    merged = StoppingCriteriaList()
    for criteria in default:
        merged.append(next((c for c in custom if type(c) is type(criteria)), criteria))
    merged.extend(c for c in custom if c not in merged)
    return merged


def build_stopping_criteria(
    *,
    max_length: int,
    max_time: float | None = None,
    stop_strings: str | list[str] | None = None,
    eos_token_id: int | Sequence[int] | Array | None = None,
    tokenizer: Any = None,
    max_position_embeddings: int | None = None,
    custom: Iterable[Callable] | None = None,
) -> StoppingCriteriaList:
    """The criteria of ``generate()`` as Hugging Face's ``_get_stopping_criteria``: max length, then max time,
    stop strings (which need ``tokenizer``), EOS; ``custom`` criteria are merged by :func:`merge_criteria`."""
    criteria = StoppingCriteriaList([MaxLengthCriteria(max_length, max_position_embeddings)])
    if max_time is not None:
        criteria.append(MaxTimeCriteria(max_time))
    if stop_strings is not None:
        if tokenizer is None:
            raise ValueError("tokenizer is required when stop_strings are given: pass the model's tokenizer "
                             "(tokenizer=...) so that the stop strings can be matched against its vocabulary")
        criteria.append(StopStringCriteria(tokenizer, stop_strings))
    if eos_token_id is not None:
        criteria.append(EosTokenCriteria(eos_token_id))
    return merge_criteria(criteria, custom)
