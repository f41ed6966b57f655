"""The sampling warpers of ``generate()`` (Hugging Face 4.56.2's "logits warpers"): temperature, top-k, top-p,
min-p, typical, epsilon and eta filtering. Same contract and numerics as :mod:`roformer_np.logits_process`.

Filtered tokens get ``filter_value`` (-inf by default). Where Hugging Face sorts (top-p, typical, min-p), ties are
ordered here by a stable sort (lower index first among equal scores); torch's CPU sort orders ties its own way, so
on exact ties at the cut-off a different one of the tied tokens may survive (tests stay away from such ties).

Dimension legend: N rows, V vocab size.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .logits_process import (
    Array,
    LogitsProcessor,
    check_int,
    check_min_tokens_to_keep,
    check_positive_finite,
    check_real,
    check_scores,
    cumsum,
    log_softmax,
    scatter_back,
    softmax,
)
from .sorting import stable_argsort


def _fill(scores: Array, remove: Array, filter_value: float) -> Array:
    return np.where(remove, scores.dtype.type(filter_value), scores)


def _kth_largest(scores: Array, k: int) -> Array:
    """The k-th largest score of each row, [N, 1] (torch.topk(scores, k)[0][..., -1:])."""
    v = scores.shape[-1]
    return np.partition(scores, v - k, axis=-1)[:, v - k, None]


def _keep_top(scores: Array, remove: Array, min_tokens_to_keep: int) -> Array:
    """Never remove a token scoring at least the ``min_tokens_to_keep``-th best (ties at that score are kept)."""
    return remove & (scores < _kth_largest(scores, min(min_tokens_to_keep, scores.shape[-1])))


class TemperatureLogitsWarper(LogitsProcessor):
    """scores / temperature."""

    def __init__(self, temperature: float):
        self.temperature = check_positive_finite(temperature, "temperature")

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        with np.errstate(over="ignore"):  # overflow to inf, as in torch
            return scores / scores.dtype.type(self.temperature)


class TopKLogitsWarper(LogitsProcessor):
    """Keeps the tokens scoring at least the k-th best score, k = max(top_k, min_tokens_to_keep)."""

    def __init__(self, top_k: int, filter_value: float = -math.inf, min_tokens_to_keep: int = 1):
        self.top_k = max(check_int(top_k, "top_k", 1), check_min_tokens_to_keep(min_tokens_to_keep))
        self.filter_value = _filter_value(filter_value)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        kth = _kth_largest(scores, min(self.top_k, scores.shape[-1]))
        return _fill(scores, scores < kth, self.filter_value)


class TopPLogitsWarper(LogitsProcessor):
    """Nucleus filtering: removes the least likely tokens while their cumulative probability is <= 1 - top_p,
    keeping at least ``min_tokens_to_keep``."""

    def __init__(self, top_p: float, filter_value: float = -math.inf, min_tokens_to_keep: int = 1):
        self.top_p = check_real(top_p, "top_p", "a number in [0, 1]", lambda v: 0 <= v <= 1)
        self.filter_value = _filter_value(filter_value)
        self.min_tokens_to_keep = check_min_tokens_to_keep(min_tokens_to_keep)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        order = stable_argsort(scores)  # ascending
        cumulative = cumsum(softmax(np.take_along_axis(scores, order, axis=-1)))
        remove_sorted = cumulative <= scores.dtype.type(1 - self.top_p)
        remove_sorted[:, -self.min_tokens_to_keep:] = False
        return _fill(scores, scatter_back(remove_sorted, order), self.filter_value)


class MinPLogitsWarper(LogitsProcessor):
    """Removes tokens less likely than ``min_p`` times the most likely one, keeping at least
    ``min_tokens_to_keep`` (the best-scoring)."""

    def __init__(self, min_p: float, filter_value: float = -math.inf, min_tokens_to_keep: int = 1):
        self.min_p = check_real(min_p, "min_p", "a number in [0, 1]", lambda v: 0 <= v <= 1)
        self.filter_value = _filter_value(filter_value)
        self.min_tokens_to_keep = check_min_tokens_to_keep(min_tokens_to_keep)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        probs = softmax(scores)
        remove = probs < scores.dtype.type(self.min_p) * probs.max(axis=-1, keepdims=True)
        best_first = stable_argsort(-scores)[:, : self.min_tokens_to_keep]
        np.put_along_axis(remove, best_first, False, axis=-1)
        return _fill(scores, remove, self.filter_value)


class TypicalLogitsWarper(LogitsProcessor):
    """Typical decoding: keeps the tokens whose -log p is closest to the entropy, up to probability ``mass``."""

    def __init__(self, mass: float = 0.9, filter_value: float = -math.inf, min_tokens_to_keep: int = 1):
        self.mass = check_real(mass, "typical_p", "a number in (0, 1)", lambda v: 0 < v < 1)
        self.filter_value = _filter_value(filter_value)
        self.min_tokens_to_keep = check_min_tokens_to_keep(min_tokens_to_keep)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        normalized = log_softmax(scores)
        with np.errstate(invalid="ignore"):
            p_log_p = normalized * np.exp(normalized)  # -inf * 0 = NaN, skipped by nansum as torch does
            entropy = -np.nansum(p_log_p, axis=-1, keepdims=True)
            shifted = np.abs(-normalized - entropy)
        order = stable_argsort(shifted)
        sorted_shifted = np.take_along_axis(shifted, order, axis=-1)
        cumulative = cumsum(softmax(np.take_along_axis(scores, order, axis=-1)))
        last = np.minimum((cumulative < scores.dtype.type(self.mass)).sum(axis=-1), scores.shape[-1] - 1)
        remove_sorted = sorted_shifted > np.take_along_axis(sorted_shifted, last[:, None], axis=-1)
        remove_sorted[:, : self.min_tokens_to_keep] = False
        return _fill(scores, scatter_back(remove_sorted, order), self.filter_value)


def _check_cutoff(value: Any, name: str) -> float:
    return check_real(value, name, "a number in (0, 1)", lambda v: 0 < v < 1)


class EpsilonLogitsWarper(LogitsProcessor):
    """Removes tokens of probability below ``epsilon``, keeping the ``min_tokens_to_keep`` best."""

    def __init__(self, epsilon: float, filter_value: float = -math.inf, min_tokens_to_keep: int = 1):
        self.epsilon = _check_cutoff(epsilon, "epsilon_cutoff")
        self.filter_value = _filter_value(filter_value)
        self.min_tokens_to_keep = check_min_tokens_to_keep(min_tokens_to_keep)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        remove = softmax(scores) < scores.dtype.type(self.epsilon)
        return _fill(scores, _keep_top(scores, remove, self.min_tokens_to_keep), self.filter_value)


class EtaLogitsWarper(LogitsProcessor):
    """Eta sampling: removes tokens of probability below min(epsilon, sqrt(epsilon) · exp(-entropy))."""

    def __init__(self, epsilon: float, filter_value: float = -math.inf, min_tokens_to_keep: int = 1):
        self.epsilon = _check_cutoff(epsilon, "eta_cutoff")
        self.filter_value = _filter_value(filter_value)
        self.min_tokens_to_keep = check_min_tokens_to_keep(min_tokens_to_keep)

    def __call__(self, input_ids: Array, scores: Array) -> Array:
        scores = check_scores(scores)
        dtype = scores.dtype.type
        eps = dtype(self.epsilon)  # Hugging Face holds it as a float32 tensor
        entropy = _categorical_entropy(scores)
        eta = np.minimum(eps, np.sqrt(eps) * np.exp(-entropy))[:, None]
        remove = softmax(scores) < eta
        return _fill(scores, _keep_top(scores, remove, self.min_tokens_to_keep), self.filter_value)


def _categorical_entropy(scores: Array) -> Array:
    """torch.distributions.Categorical(logits=scores).entropy(): -inf log-probs clamp to the dtype's lowest."""
    info = np.finfo(scores.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        top = scores.max(axis=-1, keepdims=True)
        top = np.where(np.isinf(top), 0, top)
        logits = scores - (np.log(np.exp(scores - top).sum(axis=-1, keepdims=True)) + top)
        p_log_p = np.maximum(logits, info.min) * softmax(logits)
    return -p_log_p.sum(axis=-1)


def _filter_value(value: Any) -> float:
    return check_real(value, "filter_value", "a number (-inf by default)", lambda v: True)
