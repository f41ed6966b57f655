"""Model inputs from token ids: special tokens, truncation, overflow windows, padding, NumPy arrays.

The rules are those of transformers 4.56.2. Truncation without overflow follows the slow tokenizer's
``truncate_sequences`` -- or, for :class:`RoFormerTokenizerFast` (``EncodeOptions.fast``), the fast one's,
which splits a pair differently under ``longest_first`` and raises where the slow one logs an error. Overflow
follows the fast tokenizer: each window becomes a row of its own, with ``overflow_to_sample_mapping``,
because that is the form question answering over long documents relies on (the slow tokenizer only returns
the leftover ids). Where the slow tokenizer logs an error and returns the input untruncated, so do these
functions, with a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["BatchEncoding", "Row", "EncodeOptions", "build_rows", "pad_rows", "to_output"]

PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")
# Hugging Face treats a model_max_length above this as "no limit" (it defaults to int(1e30)).
LARGE_INTEGER = int(1e20)
VERY_LARGE_INTEGER = int(1e30)


class BatchEncoding(dict):
    """The tokenizer's output: a dict with Hugging Face's key names, also readable as attributes.

    ``enc["input_ids"]`` and ``enc.input_ids`` are the same object. ``sequence_ids(i)`` tells, for each
    position of row ``i``, which input sequence it came from (0 or 1; ``None`` for special and pad tokens),
    as the fast tokenizer's ``BatchEncoding.sequence_ids`` does.
    """

    def __init__(self, data: dict | None = None, layouts: list | None = None) -> None:
        super().__init__(data or {})
        self._layouts = layouts or []

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no key or attribute {name!r}") from None

    def __reduce__(self):
        return (self.__class__, (dict(self), self._layouts))

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        if not self._layouts:
            raise ValueError("sequence_ids() is only available on outputs of RoFormerTokenizer.__call__")
        return list(self._layouts[batch_index])


@dataclass
class EncodeOptions:
    """The resolved arguments of one ``__call__`` (strategies already normalised)."""

    add_special_tokens: bool
    padding: str  # "longest" | "max_length" | "do_not_pad"
    truncation: str  # one of TRUNCATION_STRATEGIES
    max_length: int | None
    stride: int
    pad_to_multiple_of: int | None
    padding_side: str
    truncation_side: str
    return_overflowing_tokens: bool
    want_offsets: bool
    fast: bool = False  # the layout of Hugging Face's fast tokenizer (see build_rows and to_output)


@dataclass
class Row:
    """One model input row before padding."""

    ids: list[int]
    type_ids: list[int]
    special_mask: list[int]
    offsets: list[tuple[int, int]] | None
    seq_ids: list[int | None]


@dataclass
class SpecialIds:
    cls: int
    sep: int
    pad: int


def _assemble(
    a_ids: list[int],
    a_off: list | None,
    b_ids: list[int] | None,
    b_off: list | None,
    special: SpecialIds,
    opts: EncodeOptions,
) -> Row:
    pair = b_ids is not None
    if opts.add_special_tokens:
        ids = [special.cls, *a_ids, special.sep]
        type_ids = [0] * (len(a_ids) + 2)
        mask = [1] + [0] * len(a_ids) + [1]
        seq: list[int | None] = [None] + [0] * len(a_ids) + [None]
        if pair:
            ids += b_ids
            ids.append(special.sep)
            type_ids += [1] * (len(b_ids) + 1)
            mask += [0] * len(b_ids) + [1]
            seq += [1] * len(b_ids) + [None]
        offsets = None
        if a_off is not None:
            offsets = [(0, 0), *a_off, (0, 0)]
            if pair:
                offsets += b_off
                offsets.append((0, 0))
    else:
        ids = a_ids + (b_ids if pair else [])
        mask = [0] * len(ids)
        seq = [0] * len(a_ids) + ([1] * len(b_ids) if pair else [])
        # without special tokens the slow tokenizer gives both sequences type id 0, the fast one still 0 / 1
        type_ids = list(seq) if opts.fast else [0] * len(ids)
        offsets = None if a_off is None else a_off + (b_off if pair else [])
    return Row(ids, type_ids, mask, offsets, seq)


def _windows(n: int, size: int, stride: int, side: str) -> list[tuple[int, int]]:
    """The overflow windows of the ``tokenizers`` library: ``size`` tokens each, overlapping by ``stride``."""
    if size >= n:
        return [(0, n)]
    if stride >= size:
        raise ValueError(
            f"stride ({stride}) must be smaller than the number of tokens each window keeps ({size}); "
            "lower `stride` or raise `max_length`."
        )
    step = size - stride
    out = []
    if side == "right":
        for start in range(0, n, step):
            stop = min(start + size, n)
            out.append((start, stop))
            if stop == n:
                break
    else:
        for last in range(n - 1, -1, -step):
            stop = last + 1
            start = max(0, stop - size)
            out.append((start, stop))
            if start == 0:
                break
    return out


_NO_PAIR = ("truncation='only_second' needs a `text_pair` (Hugging Face's fast tokenizer raises 'Second sequence not "
            "provided')")


def fast_truncation_lengths(len_a: int, len_b: int | None, strategy: str, room: int) -> tuple[int, int]:
    """How many tokens of each text Hugging Face's fast tokenizer keeps when ``room`` (the maximum length
    without the special tokens) is too small for both. ``longest_first`` on a pair keeps the shorter text
    whole if it fits in half the room, else half the room (rounded down) for the shorter and the rest for
    the longer; ``only_*`` cannot empty its text (ValueError, where the fast tokenizer raises) -- except
    that no room at all empties every text, whatever the strategy."""
    if room == 0:
        return 0, 0
    if len_b is None:
        if strategy == "only_second":
            raise ValueError(_NO_PAIR)
        return max(0, room), 0
    if strategy == "longest_first":
        short = min(len_a, len_b, room // 2)
        kept = (short, room - short)
        return kept if len_a <= len_b else kept[::-1]
    target = room - (len_b if strategy == "only_first" else len_a)
    if target <= 0:
        which = "first" if strategy == "only_first" else "second"
        raise ValueError(
            f"truncation={strategy!r} cannot reach the maximum length: the {which} text would have to go "
            "entirely (Hugging Face's fast tokenizer raises 'Sequence to truncate too short')"
        )
    return (target, len_b) if strategy == "only_first" else (len_a, target)


def _fast_truncated(a_ids: list[int], a_off: list | None, b_ids: list[int] | None, b_off: list | None,
                    special: SpecialIds, opts: EncodeOptions, room: int) -> Row:
    """One text or pair cut to ``room`` tokens (without the special ones) as the fast tokenizer cuts it."""
    if 0 < room <= opts.stride:
        raise ValueError(f"stride={opts.stride} must be smaller than the {room} tokens a truncated input keeps "
                         "(max_length minus the special tokens); Hugging Face's fast tokenizer panics here")
    pair = b_ids is not None
    n_a, n_b = fast_truncation_lengths(len(a_ids), len(b_ids) if pair else None, opts.truncation, room)
    a0, a1 = _cut(len(a_ids), len(a_ids) - n_a, opts.truncation_side)
    wb = wbo = None
    if pair:
        b0, b1 = _cut(len(b_ids), len(b_ids) - n_b, opts.truncation_side)
        wb, wbo = b_ids[b0:b1], None if b_off is None else b_off[b0:b1]
    return _assemble(a_ids[a0:a1], None if a_off is None else a_off[a0:a1], wb, wbo, special, opts)


def _cut(length: int, remove: int, side: str) -> tuple[int, int]:
    """The range kept when ``remove`` tokens go from the ``side`` end of a sequence of ``length``."""
    return (0, length - remove) if side == "right" else (remove, length)


def _cannot_truncate(which: str, length: int, remove: int, opts: EncodeOptions) -> None:
    """Hugging Face's tokenizers log an error and leave the sequence untruncated: so do we, with a warning."""
    warnings.warn(
        f"max_length={opts.max_length} cannot be met with truncation={opts.truncation!r}: {remove} tokens "
        f"must go but the {which} sequence has only {length} (special tokens need "
        f"{'their own room' if opts.add_special_tokens else 'none'}); it is left untruncated, as Hugging Face "
        "does. Raise `max_length` or choose another truncation strategy.",
        stacklevel=5,
    )


def build_rows(
    a_ids: list[int],
    a_off: list | None,
    b_ids: list[int] | None,
    b_off: list | None,
    special: SpecialIds,
    opts: EncodeOptions,
) -> list[Row]:
    """Truncate (or cut into overflow windows) one text or pair and add the special tokens."""
    pair = b_ids is not None
    n_special = (3 if pair else 2) if opts.add_special_tokens else 0
    len_a = len(a_ids)
    len_b = len(b_ids) if pair else 0
    strategy = opts.truncation
    max_length = opts.max_length
    if strategy == "do_not_truncate" or max_length is None or len_a + len_b + n_special <= max_length:
        return [_assemble(a_ids, a_off, b_ids, b_off, special, opts)]
    remove = len_a + len_b + n_special - max_length
    if opts.fast:
        if max_length < n_special:  # the fast tokenizer then leaves the input whole, silently
            return [_assemble(a_ids, a_off, b_ids, b_off, special, opts)]
        if not opts.return_overflowing_tokens:
            return [_fast_truncated(a_ids, a_off, b_ids, b_off, special, opts, max_length - n_special)]
        if strategy == "only_second" and not pair:
            raise ValueError(_NO_PAIR)
        if (len_b if strategy == "only_second" else len_a) <= remove:
            raise ValueError(f"truncation={strategy!r} cannot reach max_length={max_length} with overflow windows "
                             "(Hugging Face's fast tokenizer raises 'Sequence to truncate too short')")
    if strategy == "only_second" and not pair:
        warnings.warn("truncation='only_second' without a `text_pair` truncates nothing (as in Hugging Face); "
                      "use 'longest_first' or 'only_first'.", stacklevel=4)
        return [_assemble(a_ids, a_off, b_ids, b_off, special, opts)]
    side = opts.truncation_side

    if opts.return_overflowing_tokens:
        if pair and strategy == "longest_first":
            raise ValueError(
                "return_overflowing_tokens=True cannot be used with truncation='longest_first' on pairs; "
                "choose truncation='only_first' or 'only_second'."
            )
        truncate_a = strategy != "only_second"
        length = len_a if truncate_a else len_b
        if length <= remove:
            _cannot_truncate("first" if truncate_a else "second", length, remove, opts)
            return [_assemble(a_ids, a_off, b_ids, b_off, special, opts)]
        rows = []
        for start, stop in _windows(length, length - remove, opts.stride, side):
            if truncate_a:
                wa, wo = a_ids[start:stop], None if a_off is None else a_off[start:stop]
                rows.append(_assemble(wa, wo, b_ids, b_off, special, opts))
            else:
                wb, wo = b_ids[start:stop], None if b_off is None else b_off[start:stop]
                rows.append(_assemble(a_ids, a_off, wb, wo, special, opts))
        return rows

    keep_a = (0, len_a)
    keep_b = (0, len_b)
    if strategy == "only_first" or (strategy == "longest_first" and not pair):
        if len_a <= remove:
            _cannot_truncate("first", len_a, remove, opts)
        else:
            keep_a = _cut(len_a, remove, side)
    elif strategy == "only_second":
        if len_b <= remove:
            _cannot_truncate("second", len_b, remove, opts)
        else:
            keep_b = _cut(len_b, remove, side)
    else:  # longest_first on a pair, with the slow tokenizer's split of the removals
        first_remove = min(abs(len_b - len_a), remove)
        second_remove = remove - first_remove
        if len_a > len_b:
            remove_a = first_remove + second_remove // 2
            remove_b = second_remove - second_remove // 2
        else:
            remove_a = second_remove // 2
            remove_b = first_remove + second_remove - second_remove // 2
        # below the special tokens' own room both texts go entirely (Hugging Face: [CLS] [SEP] [SEP])
        keep_a = _cut(len_a, min(remove_a, len_a), side)
        keep_b = _cut(len_b, min(remove_b, len_b), side)
    a0, a1 = keep_a
    wa = a_ids[a0:a1]
    wao = None if a_off is None else a_off[a0:a1]
    wb = wbo = None
    if pair:
        b0, b1 = keep_b
        wb = b_ids[b0:b1]
        wbo = None if b_off is None else b_off[b0:b1]
    return [_assemble(wa, wao, wb, wbo, special, opts)]


def pad_target(lengths: list[int], opts: EncodeOptions) -> int | None:
    """The padded length for rows of these lengths, or ``None`` for no padding."""
    if opts.padding == "do_not_pad" or not lengths:
        return None
    target = max(lengths) if opts.padding == "longest" else opts.max_length
    if target is None:
        return None
    multiple = opts.pad_to_multiple_of
    if multiple and target % multiple:
        target = (target // multiple + 1) * multiple
    return target


def pad_rows(rows: list[Row], target: int | None, pad_id: int, side: str) -> None:
    """Pad every row shorter than ``target`` in place (rows already longer are left as they are)."""
    if target is None:
        return
    for row in rows:
        missing = target - len(row.ids)
        if missing <= 0:
            continue
        if side == "right":
            row.ids = row.ids + [pad_id] * missing
            row.type_ids = row.type_ids + [0] * missing
            row.special_mask = row.special_mask + [1] * missing
            row.seq_ids = row.seq_ids + [None] * missing
            if row.offsets is not None:
                row.offsets = row.offsets + [(0, 0)] * missing
        else:
            row.ids = [pad_id] * missing + row.ids
            row.type_ids = [0] * missing + row.type_ids
            row.special_mask = [1] * missing + row.special_mask
            row.seq_ids = [None] * missing + row.seq_ids
            if row.offsets is not None:
                row.offsets = [(0, 0)] * missing + row.offsets


def _attention(row: Row, unpadded: int, side: str) -> list[int]:
    missing = len(row.ids) - unpadded
    if missing <= 0:
        return [1] * len(row.ids)
    return [1] * unpadded + [0] * missing if side == "right" else [0] * missing + [1] * unpadded


def to_output(
    rows: list[Row],
    unpadded: list[int],
    sample_of_row: list[int] | None,
    *,
    batched: bool,
    return_token_type_ids: bool,
    return_attention_mask: bool,
    return_special_tokens_mask: bool,
    return_offsets_mapping: bool,
    return_length: bool,
    return_tensors: str | None,
    padding_side: str,
    padded_length: bool = False,
) -> BatchEncoding:
    """Gather rows into a ``BatchEncoding`` (flat lists for one text without overflow, as Hugging Face)."""
    data: dict = {"input_ids": [r.ids for r in rows]}
    if return_token_type_ids:
        data["token_type_ids"] = [r.type_ids for r in rows]
    if return_attention_mask:
        data["attention_mask"] = [_attention(r, n, padding_side) for r, n in zip(rows, unpadded)]
    if return_special_tokens_mask:
        data["special_tokens_mask"] = [r.special_mask for r in rows]
    if return_offsets_mapping:
        data["offset_mapping"] = [r.offsets for r in rows]
    flat = not batched and sample_of_row is None
    if return_length:
        # Hugging Face's slow tokenizer reports the padded length for one text, the unpadded one in batches;
        # the fast one the padded length always.
        data["length"] = [len(rows[0].ids)] if flat else [len(r.ids) for r in rows] if padded_length \
            else list(unpadded)
    if sample_of_row is not None:
        data["overflow_to_sample_mapping"] = list(sample_of_row)
    layouts = [r.seq_ids for r in rows]
    if return_tensors == "np":
        for key, value in data.items():
            data[key] = _as_array(key, value)
    elif flat:
        # the fast tokenizer keeps one text's length as a list of one
        data = {key: value if key == "length" and padded_length else value[0] for key, value in data.items()}
    return BatchEncoding(data, layouts)


def _as_array(key: str, value: list) -> np.ndarray:
    if key in ("length", "overflow_to_sample_mapping"):
        return np.asarray(value, dtype=np.int64)
    lengths = {len(v) for v in value}
    if len(lengths) > 1:
        raise ValueError(
            f"Unable to create a NumPy array for {key!r}: the rows have different lengths {sorted(lengths)}. "
            "Use padding=True (or padding='max_length') with return_tensors='np'."
        )
    if key == "offset_mapping":
        array = np.asarray(value, dtype=np.int64)
        return array.reshape(len(value), lengths.pop() if lengths else 0, 2)
    array = np.asarray(value, dtype=np.int64)
    return array.reshape(len(value), lengths.pop() if lengths else 0)
