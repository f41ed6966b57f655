"""feature-extraction: the encoder's last hidden state (Hugging Face's ``FeatureExtractionPipeline``), plus
sentence vectors by pooling — an extension of roformer_np."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Batch, Feature, Pipeline, check_kwargs_dict, check_positive_int, encode_features
from .text_classification import truncation_length

POOLINGS = ("cls", "mean", "pooler")


def sentence_vectors(model: Any, batch: Batch, pooling: str) -> np.ndarray:
    """One vector per row [B, C]: the [CLS] state, the mean over the real tokens (special tokens included,
    padding excluded) or the pooler's output (RoFormer-Sim). The pass needs no cache; a Sim model's first pass
    is bidirectional (``RoFormerModel.unilm``)."""
    out = model(**batch.model_inputs(), use_cache=False if model.config.is_decoder else None)
    if pooling == "pooler":
        return out.pooler_output
    return pool_tokens(out.last_hidden_state, batch.lengths, pooling)


def pool_tokens(hidden: np.ndarray, lengths: list[int], pooling: str) -> np.ndarray:
    """[B, T, C] -> [B, C]: the first ([CLS]) state, or the mean over each row's ``lengths`` real tokens
    (summed in float64)."""
    if pooling == "cls":
        return hidden[:, 0]
    return np.stack([hidden[r, :n].mean(axis=0, dtype=np.float64).astype(hidden.dtype)
                     for r, n in enumerate(lengths)])


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Vectors (last axis) scaled to unit L2 length, norms computed in float64; a zero vector stays zero."""
    norms = np.linalg.norm(vectors.astype(np.float64), axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(vectors.dtype)


class FeatureExtractionPipeline(Pipeline):
    """``pipe("今天天气很好")`` → ``[[[h_0…], [h_1…], …]]``: nested lists [1, tokens, hidden] as Hugging Face.

    Options: ``truncation`` / ``max_length``; ``tokenize_kwargs`` (a dict given to the tokenizer, as in Hugging
    Face: ``truncation`` there and as an option is an error); ``return_tensors=True`` gives NumPy arrays
    instead of lists.
    Extension (not in Hugging Face): ``pooling="cls"`` (the [CLS] vector), ``"mean"`` (mean over the real
    tokens, special tokens included, padding excluded) or ``"pooler"`` (the pooler's output of a checkpoint
    with ``roformer.pooler.*``: RoFormer-Sim's sentence vector) gives one vector [hidden] per text;
    ``normalize=True`` scales every returned vector to unit L2 length (each token's when not pooled).
    Results never depend on ``batch_size`` (Hugging Face returns padded rows when batching).
    """

    task = "feature-extraction"

    def _parse_options(self, truncation: bool | None = None, max_length: int | None = None,
                       return_tensors: bool = False, pooling: str | None = None, normalize: bool = False,
                       tokenize_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        check_positive_int("max_length", max_length, allow_none=True)
        tokenize_kwargs = check_kwargs_dict("tokenize_kwargs", tokenize_kwargs)
        if truncation is not None:
            if "truncation" in tokenize_kwargs:
                raise ValueError("truncation given twice: as an option and in tokenize_kwargs")
            tokenize_kwargs["truncation"] = truncation
        if pooling is not None and pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS} or None, got {pooling!r}")
        if pooling == "pooler" and not self.model.has_pooler:
            raise ValueError("pooling='pooler' needs a checkpoint with a pooler (roformer.pooler.*: RoFormer-Sim); "
                             "this model has none: use pooling='cls' or 'mean'")
        return {"tokenize_kwargs": tokenize_kwargs, "max_length": max_length,
                "return_tensors": bool(return_tensors), "pooling": pooling, "normalize": bool(normalize)}

    def _preprocess(self, text: str, opts: dict) -> list[Feature]:
        kwargs = dict(opts["tokenize_kwargs"])
        if kwargs.get("truncation") or opts["max_length"] is not None:
            limit = opts["max_length"] if opts["max_length"] is not None else kwargs.get("max_length")
            kwargs.update(truncation=True, max_length=truncation_length(self.tokenizer, self.model.config, limit))
        return encode_features(self.tokenizer, text, **kwargs)

    def _forward(self, batch: Batch, opts: dict) -> list[np.ndarray]:
        if opts["pooling"] is not None:
            return list(sentence_vectors(self.model, batch, opts["pooling"]))
        hidden = self.model(**batch.model_inputs()).last_hidden_state  # [B, T, C]
        return [hidden[r, :n] for r, n in enumerate(batch.lengths)]

    def _forward_groups(self, batches: list[Batch], opts: dict) -> list[list[np.ndarray]]:
        pooling = opts["pooling"]
        hidden = None if pooling == "pooler" else self._grouped_pass(batches)  # [B_g, T_g, C] per batch
        if hidden is None:
            return super()._forward_groups(batches, opts)
        if pooling is None:
            return [list(h) for h in hidden]
        return [list(pool_tokens(h, batch.lengths, pooling)) for h, batch in zip(hidden, batches)]

    def _postprocess(self, text: str, features: list[Feature], outputs: list[np.ndarray], opts: dict) -> Any:
        vectors = outputs[0]  # [C] pooled or [T, C]
        if opts["normalize"]:
            vectors = normalise(vectors)
        if opts["pooling"] is None:
            vectors = vectors[None]  # [1, T, C], Hugging Face's shape
        return vectors if opts["return_tensors"] else vectors.tolist()
