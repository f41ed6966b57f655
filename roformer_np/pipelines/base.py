"""What every task pipeline shares: option checking, input normalisation, length-grouped batching, threads.

A pipeline turns each input into one or more *features* (model rows: one per text, several for a long
question-answering context), runs the features through the model in padded batches of similar length, then
turns each input's feature outputs into Hugging Face's result for that input. A task subclass writes four
small methods: ``_check_input``, ``_preprocess``, ``_forward`` and ``_postprocess``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..backend import current_backend, use_backend

# Inputs are read this many batches at a time: enough to group lengths well, bounded in memory for
# generators and long files.
WINDOW_BATCHES = 8


@dataclass
class Feature:
    """One model row: token ids and types (no padding) plus what the task needs to read the outputs back."""

    ids: list[int]
    type_ids: list[int]
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Batch:
    """Right-padded model inputs [B, T] of some features, and each row's unpadded length."""

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    attention_mask: np.ndarray
    lengths: list[int]
    features: list[Feature]

    def model_inputs(self) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids, "token_type_ids": self.token_type_ids,
                "attention_mask": self.attention_mask}


def pad_features(features: list[Feature], pad_id: int) -> Batch:
    """Right-pad to the longest row. RoFormer's positions count from the left, so the real tokens of a
    right-padded row see exactly what they would alone (the mask hides the pads)."""
    lengths = [len(f.ids) for f in features]
    b, t = len(features), max(lengths)
    ids = np.full((b, t), pad_id, dtype=np.int64)
    types = np.zeros((b, t), dtype=np.int64)
    mask = np.zeros((b, t), dtype=np.int64)
    for row, (feature, n) in enumerate(zip(features, lengths)):
        ids[row, :n] = feature.ids
        types[row, :n] = feature.type_ids
        mask[row, :n] = 1
    return Batch(ids, types, mask, lengths, features)


def length_groups(lengths: list[int], batch_size: int, pad: bool) -> list[list[int]]:
    """Indices grouped into batches of at most ``batch_size``, by length (shortest first), so padding is small.

    With ``pad=False`` a batch only holds rows of one length (generation: left padding would shift RoFormer's
    positions and change the continuation).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])  # stable: equal lengths keep input order
    runs = [list(g) for _, g in itertools.groupby(order, key=lambda i: lengths[i])] if not pad else [order]
    return [run[i:i + batch_size] for run in runs for i in range(0, len(run), batch_size)]


def check_positive_int(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")


def check_kwargs_dict(name: str, value: Any) -> dict[str, Any]:
    """A dict of keyword arguments (for the tokenizer) with str keys; None is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{name} must be a dict of keyword arguments, got {value!r:.80}")
    return dict(value)


def _thread_limit(num_threads: int | None) -> contextlib.AbstractContextManager:
    """Limit the native kernels' threads (``roformer_np.threads`` comes with the compiled-kernels build)."""
    if num_threads is None:
        return contextlib.nullcontext()
    try:
        from ..threads import thread_limit
    except ImportError:  # a build without thread control: the NumPy path uses BLAS's own setting
        return contextlib.nullcontext()
    return thread_limit(num_threads)



@functools.cache
def _option_names(parse_options: Any) -> tuple[frozenset, bool]:
    """The keyword options a ``_parse_options`` function takes, and whether it takes any (``**options``: it
    checks them itself). Cached per function: ``inspect.signature`` costs more than a server's whole request
    handling."""
    params = inspect.signature(parse_options).parameters
    names = frozenset(name for name, p in params.items() if name != "self")
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

class Pipeline:
    """Base class of the task pipelines: call with one input, a list, or any iterable.

    Options given to the constructor are the defaults of every call; a call's keyword options override them.
    One input gives one result, a list or tuple a list of results (in input order), any other iterable (a
    generator, a file) a generator of results, computed ``batch_size`` rows at a time.
    """

    task: ClassVar[str] = ""
    pad_batches: ClassVar[bool] = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        batch_size: int = 1,
        backend: str | None = None,
        num_threads: int | None = None,
        **defaults: Any,
    ) -> None:
        check_positive_int("batch_size", batch_size)
        check_positive_int("num_threads", num_threads, allow_none=True)
        if backend is not None:
            current_backend(backend)  # validate the name now, not at the first call
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self.backend = backend
        self.num_threads = num_threads
        self._defaults = defaults
        self._parsed_defaults = self._options(defaults)  # fail early on a bad default; parsed (and warned) once

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(task={self.task!r}, model={type(self.model).__name__}, "
                f"batch_size={self.batch_size}, options={self._defaults})")

    # -- options ---------------------------------------------------------------------------------
    def _options(self, given: dict[str, Any]) -> dict[str, Any]:
        """Check the options by the keyword signature of ``_parse_options`` (a typo raises, never vanishes)."""
        params, open_ended = _option_names(type(self)._parse_options)
        unknown = sorted(set(given) - params)
        if unknown and not open_ended:
            raise TypeError(f"{self.task} pipeline: unknown option(s) {unknown}; known: {sorted(params)}")
        return self._parse_options(**given)

    def _parse_options(self, **options: Any) -> dict[str, Any]:
        """Validate and normalise the task's options; the keyword parameters are the allowed options."""
        raise NotImplementedError

    # -- calling ---------------------------------------------------------------------------------
    def __call__(self, inputs: Any, batch_size: int | None = None, **options: Any) -> Any:
        opts = self._options({**self._defaults, **options}) if options else dict(self._parsed_defaults)
        opts["_call"] = options  # some of Hugging Face's nesting rules look at the call's own keywords
        check_positive_int("batch_size", batch_size, allow_none=True)
        size = self.batch_size if batch_size is None else int(batch_size)
        if self._is_single(inputs):
            return self._wrap_single(inputs, next(self._run([inputs], opts, size)), opts)
        if isinstance(inputs, (list, tuple)):
            return self._wrap_list(list(self._run(inputs, opts, size)), opts)
        if isinstance(inputs, Iterable) and not isinstance(inputs, (bytes, dict)):
            return self._run(inputs, opts, size)
        raise ValueError(f"{self.task} pipeline: inputs must be {self._input_doc()}, a list of them, or an "
                         f"iterable of them; got {type(inputs).__name__}")

    def _is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, str)

    def _input_doc(self) -> str:
        return "a str"

    def _wrap_single(self, inputs: Any, result: Any, opts: dict) -> Any:
        return result

    def _wrap_list(self, results: list, opts: dict) -> Any:
        return results

    def _run(self, inputs: Iterable, opts: dict, batch_size: int) -> Iterator[Any]:
        """Results in input order, reading the inputs a window of batches at a time."""
        iterator = iter(inputs)
        while True:
            window = list(itertools.islice(iterator, batch_size * WINDOW_BATCHES))
            if not window:
                return
            checked = [self._check_input(x) for x in window]
            per_input = [self._preprocess(x, opts) for x in checked]
            flat = [f for feats in per_input for f in feats]
            outputs = self._forward_all(flat, opts, batch_size)
            start = 0
            for item, feats in zip(checked, per_input):
                yield self._postprocess(item, feats, outputs[start:start + len(feats)], opts)
                start += len(feats)

    def _forward_all(self, features: list[Feature], opts: dict, batch_size: int) -> list[Any]:
        """Each feature's output, computed in length-grouped batches."""
        outputs: list[Any] = [None] * len(features)
        groups = length_groups([len(f.ids) for f in features], batch_size, self.pad_batches)
        pad_id = self.tokenizer.pad_token_id
        with self._compute():
            for group in groups:
                batch = pad_features([features[i] for i in group], pad_id)
                for i, out in zip(group, self._forward(batch, opts)):
                    outputs[i] = out
        return outputs

    def _forward_exact(self, features: list[Feature], opts: dict) -> list[Any]:
        """Each feature's output, nothing padded: the features grouped by length, all the groups in one call of
        :meth:`_forward_groups` (a server's pass over requests of several lengths). Every output is the one
        the feature gets in a batch of its own length, as ``__call__`` runs it."""
        outputs: list[Any] = [None] * len(features)
        groups = length_groups([len(f.ids) for f in features], max(1, len(features)), pad=False)
        pad_id = self.tokenizer.pad_token_id
        with self._compute():
            batches = [pad_features([features[i] for i in group], pad_id) for group in groups]
            for group, batch_outputs in zip(groups, self._forward_groups(batches, opts)):
                for i, out in zip(group, batch_outputs):
                    outputs[i] = out
        return outputs

    def _compute(self) -> contextlib.AbstractContextManager:
        """The pipeline's backend and thread limit, for its forward passes."""
        stack = contextlib.ExitStack()
        if self.backend is not None:
            stack.enter_context(use_backend(self.backend))
        stack.enter_context(_thread_limit(self.num_threads))
        return stack

    # -- the task's steps ------------------------------------------------------------------------
    def _check_input(self, item: Any) -> Any:
        """One input, validated (ValueError with a clear message when it cannot be used)."""
        if not isinstance(item, str):
            raise ValueError(f"{self.task} pipeline: each input must be a str, got {type(item).__name__}")
        return item

    def _preprocess(self, item: Any, opts: dict) -> list[Feature]:
        raise NotImplementedError

    def _forward(self, batch: Batch, opts: dict) -> list[Any]:
        """One output per row of ``batch`` (already cut to the row's real length where per token)."""
        raise NotImplementedError

    def _forward_groups(self, batches: list[Batch], opts: dict) -> list[list[Any]]:
        """:meth:`_forward` of each batch (each of one length, unpadded); a task whose model can run several
        lengths in one pass (``forward_length_groups``) overrides this with the same outputs."""
        return [self._forward(batch, opts) for batch in batches]

    def _grouped_pass(self, batches: list[Batch]) -> list[Any] | None:
        """The model's ``forward_length_groups`` over ``batches`` (one result per batch), or None where a pass
        of their own is the same (one batch) or the model has no such pass (a decoder runs with its cache)."""
        grouped = getattr(self.model, "forward_length_groups", None)
        if grouped is None or len(batches) < 2 or self.model.config.is_decoder:
            return None
        return grouped([(batch.input_ids, batch.token_type_ids) for batch in batches])

    def _postprocess(self, item: Any, features: list[Feature], outputs: list[Any], opts: dict) -> Any:
        raise NotImplementedError


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in the array's own dtype (as Hugging Face's pipelines do in NumPy)."""
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def encode_features(tokenizer: Any, text: str, text_pair: str | None = None, **kwargs: Any) -> list[Feature]:
    """Tokenize one text (or pair) into features; ``kwargs`` go to the tokenizer (offsets, overflow …).

    Extra per-row fields the tokenizer returns (offsets, special-token mask) land in ``Feature.data``, and
    ``sequence_ids`` too (which of the pair each token came from).
    """
    enc = tokenizer(text, text_pair, return_token_type_ids=True, **kwargs)
    keys = [k for k in ("input_ids", "token_type_ids", "offset_mapping", "special_tokens_mask") if k in enc]
    flat = bool(enc["input_ids"]) and not isinstance(enc["input_ids"][0], list)  # one row, not a list of rows
    rows = [{k: enc[k] for k in keys}] if flat else [{k: enc[k][r] for k in keys} for r in range(len(enc["input_ids"]))]
    features = []
    for r, row in enumerate(rows):
        data = {k: row[k] for k in keys[2:]}
        data["sequence_ids"] = enc.sequence_ids(r)
        features.append(Feature(list(row["input_ids"]), list(row["token_type_ids"]), data))
    return features
