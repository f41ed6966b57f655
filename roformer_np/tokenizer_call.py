"""``__call__`` of a tokenizer as transformers 4.56.2's: argument checks, padding / truncation strategies,
pairs and batches, ``encode``, ``encode_plus``, ``batch_encode_plus`` and ``pad`` (``EncodingMixin``). The rows
themselves are built by :mod:`roformer_np.tokenizer_encoding`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from .tokenizer_encoding import (
    LARGE_INTEGER,
    PADDING_STRATEGIES,
    TRUNCATION_STRATEGIES,
    BatchEncoding,
    EncodeOptions,
    Row,
    build_rows,
    pad_rows,
    pad_target,
    to_output,
)

__all__ = ["EncodingMixin", "check_bool", "check_int"]

logger = logging.getLogger("roformer_np.tokenizer")

TextInput = Union[str, Sequence[str], Sequence[Sequence[str]]]


def check_bool(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, (bool, np.bool_)):
        allowed = "a bool or None" if allow_none else "a bool"
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__}")


def check_int(name: str, value: Any, minimum: int, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be an int{' or None' if allow_none else ''}, got {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")



class EncodingMixin:
    """The encoding API over ``_encode_ids`` / ``_encode_with_offsets`` of the tokenizer class."""

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message)

    def _resolve(
        self,
        padding: Any,
        truncation: Any,
        max_length: Any,
        stride: Any,
        pad_to_multiple_of: Any,
        padding_side: Any,
        add_special_tokens: Any,
        return_overflowing_tokens: Any,
        want_offsets: bool,
    ) -> EncodeOptions:
        """Hugging Face's ``_get_padding_truncation_strategies``, with its argument checks made strict."""
        check_int("max_length", max_length, 0)
        check_int("stride", stride, 0, allow_none=False)
        check_int("pad_to_multiple_of", pad_to_multiple_of, 1)
        check_bool("add_special_tokens", add_special_tokens)
        check_bool("return_overflowing_tokens", return_overflowing_tokens)
        if padding_side is not None and padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right', 'left' or None, got {padding_side!r}")
        if max_length is not None and padding is False and truncation is None:
            self._warn_once(
                "max_length-only",
                "Truncation was not explicitly activated but `max_length` is provided; defaulting to "
                "truncation='longest_first'. Pass `truncation=True` to silence this.",
            )
            truncation = "longest_first"
        if padding is True:
            if max_length is not None and truncation in (None, False, "do_not_truncate"):
                self._warn_once(
                    "padding-true-max-length",
                    "`max_length` is ignored when `padding=True` and there is no truncation strategy; "
                    "use padding='max_length' to pad to max_length.",
                )
            padding = "longest"
        elif padding is False or padding is None:
            padding = "do_not_pad"
        elif padding not in PADDING_STRATEGIES:
            raise ValueError(f"padding must be a bool or one of {PADDING_STRATEGIES}, got {padding!r}")
        if truncation is True:
            truncation = "longest_first"
        elif truncation is False or truncation is None:
            truncation = "do_not_truncate"
        elif truncation not in TRUNCATION_STRATEGIES:
            raise ValueError(
                f"truncation must be a bool, None or one of {TRUNCATION_STRATEGIES}, got {truncation!r}"
            )
        if max_length is None:
            if padding == "max_length":
                if self.model_max_length > LARGE_INTEGER:
                    self._warn_once(
                        "pad-no-max",
                        "Asked to pad to max_length but no max_length is given and the tokenizer has no "
                        "model_max_length; not padding.",
                    )
                    padding = "do_not_pad"
                else:
                    max_length = self.model_max_length
            if truncation != "do_not_truncate":
                if self.model_max_length > LARGE_INTEGER:
                    self._warn_once(
                        "truncate-no-max",
                        "Asked to truncate but no max_length is given and the tokenizer has no "
                        "model_max_length; not truncating.",
                    )
                    truncation = "do_not_truncate"
                else:
                    max_length = self.model_max_length
        if (
            truncation != "do_not_truncate"
            and padding != "do_not_pad"
            and pad_to_multiple_of is not None
            and max_length is not None
            and max_length % pad_to_multiple_of
        ):
            raise ValueError(
                f"max_length ({max_length}) must be a multiple of pad_to_multiple_of ({pad_to_multiple_of}) "
                "when both truncation and padding are on."
            )
        return EncodeOptions(
            add_special_tokens=bool(add_special_tokens),
            padding=padding,
            truncation=truncation,
            max_length=None if max_length is None else int(max_length),
            stride=int(stride),
            pad_to_multiple_of=None if pad_to_multiple_of is None else int(pad_to_multiple_of),
            padding_side=padding_side or self.padding_side,
            truncation_side=self.truncation_side,
            return_overflowing_tokens=bool(return_overflowing_tokens),
            want_offsets=want_offsets,
            fast=self._fast_layout,
        )

    @staticmethod
    def _items(text: Any, text_pair: Any) -> tuple[list[tuple[str, str | None]], bool]:
        """Validate the inputs; return ``(items, batched)`` with items as ``(text, pair or None)``."""
        if isinstance(text, str):
            if text_pair is not None and not isinstance(text_pair, str):
                raise TypeError(f"text_pair must be a str when text is a str, got {type(text_pair).__name__}")
            return [(text, text_pair)], False
        if text is None:
            raise TypeError("text must be a str or a list/tuple of str, got None")
        if not isinstance(text, (list, tuple)):
            raise TypeError(f"text must be a str or a list/tuple of str, got {type(text).__name__}")
        if text_pair is not None:
            if not isinstance(text_pair, (list, tuple)):
                raise TypeError(
                    "text_pair must be a list/tuple of str when text is a batch, "
                    f"got {type(text_pair).__name__}"
                )
            if len(text_pair) != len(text):
                raise ValueError(f"text has {len(text)} items but text_pair has {len(text_pair)}")
        items = []
        for i, item in enumerate(text):
            if text_pair is not None:
                pair = text_pair[i]
                if not isinstance(item, str):
                    raise TypeError(f"text[{i}] must be a str, got {type(item).__name__}")
                if not isinstance(pair, str):
                    raise TypeError(f"text_pair[{i}] must be a str, got {type(pair).__name__}")
                items.append((item, pair))
            elif isinstance(item, str):
                items.append((item, None))
            elif isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(t, str) for t in item):
                items.append((item[0], item[1]))  # a batch of (text, pair) tuples
            else:
                raise TypeError(f"text[{i}] must be a str or a (str, str) pair, got {type(item).__name__}")
        return items, True

    def __call__(
        self,
        text: TextInput,
        text_pair: str | Sequence[str] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
    ) -> BatchEncoding:
        """Encode a text, a pair, or a batch of either, as Hugging Face's tokenizers do.

        Truncation follows the slow tokenizer. With ``return_overflowing_tokens=True`` the overflow becomes
        extra rows (windows overlapping by ``stride``) and ``overflow_to_sample_mapping`` says which input
        each row came from, as the fast tokenizer. ``return_offsets_mapping`` gives ``(start, end)``
        character spans into the original text, ``(0, 0)`` for special and pad tokens.
        ``return_tensors="np"`` gives int64 arrays; otherwise Python lists.
        """
        items, batched = self._items(text, text_pair)
        if self._fast_layout and not batched and items[0][1] == "":
            items = [(items[0][0], None)]  # the fast tokenizer encodes an empty pair as no pair at all
        if return_tensors not in (None, "np"):
            raise ValueError(
                "return_tensors must be None or 'np' (this package has no other backend), "
                f"got {return_tensors!r}"
            )
        for name, value in (
            ("return_token_type_ids", return_token_type_ids),
            ("return_attention_mask", return_attention_mask),
        ):
            check_bool(name, value, allow_none=True)
        for name, value in (
            ("return_special_tokens_mask", return_special_tokens_mask),
            ("return_offsets_mapping", return_offsets_mapping),
            ("return_length", return_length),
        ):
            check_bool(name, value)
        if return_token_type_ids and not add_special_tokens and not self._fast_layout:
            raise ValueError(
                "return_token_type_ids=True with add_special_tokens=False is undefined; set "
                "add_special_tokens=True or return_token_type_ids=None"
            )
        opts = self._resolve(
            padding,
            truncation,
            max_length,
            stride,
            pad_to_multiple_of,
            padding_side,
            add_special_tokens,
            return_overflowing_tokens,
            bool(return_offsets_mapping),
        )
        rows: list[Row] = []
        sample_of_row: list[int] = []
        encoded: dict[str, tuple] = {}

        def encode(t: str) -> tuple:
            result = encoded.get(t)
            if result is None:
                if opts.want_offsets:
                    ids, offsets, _ = self._encode_with_offsets(t)
                    result = (ids, offsets)
                else:
                    result = (self._encode_ids(t), None)
                encoded[t] = result
            return result

        for index, (a, b) in enumerate(items):
            a_ids, a_off = encode(a)
            b_ids, b_off = encode(b) if b is not None else (None, None)
            new_rows = build_rows(a_ids, a_off, b_ids, b_off, self._ids, opts)
            rows.extend(new_rows)
            sample_of_row.extend([index] * len(new_rows))
        if opts.truncation == "do_not_truncate" and "too-long" not in self._warned:
            longest = max((len(r.ids) for r in rows), default=0)
            if longest > self.model_max_length:
                self._warn_once(
                    "too-long",
                    f"Token indices sequence length is longer than the specified maximum sequence length for "
                    f"this model ({longest} > {self.model_max_length}). Running this sequence through the "
                    "model will result in indexing errors",
                )
        unpadded = [len(r.ids) for r in rows]
        pad_rows(rows, pad_target(unpadded, opts), self._ids.pad, opts.padding_side)
        return to_output(
            rows,
            unpadded,
            sample_of_row if opts.return_overflowing_tokens else None,
            batched=batched,
            return_token_type_ids=True if return_token_type_ids is None else bool(return_token_type_ids),
            return_attention_mask=True if return_attention_mask is None else bool(return_attention_mask),
            return_special_tokens_mask=bool(return_special_tokens_mask),
            return_offsets_mapping=bool(return_offsets_mapping),
            return_length=bool(return_length),
            return_tensors=return_tensors,
            padding_side=opts.padding_side,
            padded_length=opts.fast,
        )

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        padding_side: str | None = None,
        return_tensors: str | None = None,
    ) -> list[int] | np.ndarray:
        """The ``input_ids`` of one text (or pair)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if (
            text_pair is None
            and padding is False
            and truncation in (None, False)
            and max_length is None
            and return_tensors is None
            and isinstance(add_special_tokens, bool)
        ):  # the common case, without __call__'s bookkeeping
            ids = self._encode_ids(text)
            if add_special_tokens:
                ids = [self._ids.cls, *ids, self._ids.sep]
            if len(ids) > self.model_max_length:
                self._warn_once(
                    "too-long",
                    f"Token indices sequence length is longer than the specified maximum sequence length for "
                    f"this model ({len(ids)} > {self.model_max_length}). Running this sequence through the "
                    "model will result in indexing errors",
                )
            return ids
        return self(
            text,
            text_pair,
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            stride=stride,
            padding_side=padding_side,
            return_tensors=return_tensors,
            return_token_type_ids=False,
            return_attention_mask=False,
        )["input_ids"]

    def encode_plus(self, text: str, text_pair: str | None = None, **kwargs: Any) -> BatchEncoding:
        """``__call__`` for one text or pair (Hugging Face's older name); same keyword arguments."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return self(text, text_pair, **kwargs)

    def batch_encode_plus(self, batch_text_or_text_pairs: Sequence, **kwargs: Any) -> BatchEncoding:
        """``__call__`` for a batch of texts or of ``(text, pair)`` tuples; same keyword arguments."""
        if not isinstance(batch_text_or_text_pairs, (list, tuple)):
            raise TypeError(
                "batch_text_or_text_pairs must be a list/tuple, got "
                + type(batch_text_or_text_pairs).__name__
            )
        return self(list(batch_text_or_text_pairs), **kwargs)

    def pad(
        self,
        encoded_inputs: dict | Sequence[dict],
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchEncoding:
        """Pad already-encoded rows (a dict of lists, or a list of dicts as a data collator receives)."""
        if isinstance(encoded_inputs, (list, tuple)):
            if not encoded_inputs or not all(isinstance(e, dict) for e in encoded_inputs):
                raise TypeError("encoded_inputs must be a dict of lists or a non-empty list of dicts")
            encoded_inputs = {k: [e[k] for e in encoded_inputs] for k in encoded_inputs[0]}
        if not isinstance(encoded_inputs, dict) or "input_ids" not in encoded_inputs:
            raise TypeError("encoded_inputs must contain 'input_ids'")
        if return_tensors not in (None, "np"):
            raise ValueError(f"return_tensors must be None or 'np', got {return_tensors!r}")
        data = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in encoded_inputs.items()}
        single = bool(data["input_ids"]) and not isinstance(data["input_ids"][0], (list, tuple))
        if single:
            data = {k: [v] for k, v in data.items()}
        opts = self._resolve(
            padding, None, max_length, 0, pad_to_multiple_of, padding_side, True, False, False
        )
        rows = []
        for i, ids in enumerate(data["input_ids"]):
            n = len(ids)
            rows.append(
                Row(
                    list(ids),
                    list(data["token_type_ids"][i]) if "token_type_ids" in data else [0] * n,
                    list(data["special_tokens_mask"][i]) if "special_tokens_mask" in data else [0] * n,
                    [tuple(o) for o in data["offset_mapping"][i]] if "offset_mapping" in data else None,
                    [None] * n,
                )
            )
        unpadded = [len(r.ids) for r in rows]
        masks = data.get("attention_mask")
        pad_rows(rows, pad_target(unpadded, opts), self._ids.pad, opts.padding_side)
        out: dict[str, Any] = {"input_ids": [r.ids for r in rows]}
        if "token_type_ids" in data:
            out["token_type_ids"] = [r.type_ids for r in rows]
        if return_attention_mask or (return_attention_mask is None):
            out["attention_mask"] = []
            for i, r in enumerate(rows):
                mask = list(masks[i]) if masks is not None else [1] * unpadded[i]
                extra = len(r.ids) - len(mask)
                if extra > 0:
                    mask = mask + [0] * extra if opts.padding_side == "right" else [0] * extra + mask
                out["attention_mask"].append(mask)
        if "special_tokens_mask" in data:
            out["special_tokens_mask"] = [r.special_mask for r in rows]
        if "offset_mapping" in data:
            out["offset_mapping"] = [r.offsets for r in rows]
        for key, value in data.items():
            out.setdefault(key, value)
        if single:
            out = {k: v[0] for k, v in out.items()}
        if return_tensors == "np":
            out = {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}
        return BatchEncoding(out)

