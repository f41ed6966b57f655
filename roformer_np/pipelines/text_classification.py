"""text-classification: labels and scores of a text or a text pair (Hugging Face's ``TextClassificationPipeline``)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .base import Batch, Feature, Pipeline, check_positive_int, encode_features, sigmoid, softmax

FUNCTIONS = ("sigmoid", "softmax", "none")
_UNSET = "unset"  # Hugging Face tells "top_k not given" from top_k=None ("all labels")


def default_function(config: Any) -> str:
    """Hugging Face's rule: regression → none; multi-label or one label → sigmoid; several labels → softmax."""
    problem_type = getattr(config, "problem_type", None)
    if problem_type == "regression":
        return "none"
    if problem_type == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    if problem_type == "single_label_classification" or config.num_labels > 1:
        return "softmax"
    return str(getattr(config, "function_to_apply", "none")).lower()


def truncation_length(tokenizer: Any, config: Any, max_length: int | None) -> int:
    """The longest row a model can take: ``max_length``, else the tokenizer's limit capped by the positions."""
    if max_length is not None:
        return int(max_length)
    return int(min(tokenizer.model_max_length, config.max_position_embeddings))


class TextClassificationPipeline(Pipeline):
    """``pipe("这本书很好看")`` → ``[{"label": "positive", "score": 0.98}]``.

    Options: ``top_k`` (not given: the best label, Hugging Face's legacy form; an int: that many labels,
    best first; ``None``: every label), ``function_to_apply`` (``"sigmoid"``, ``"softmax"``, ``"none"``;
    default from ``config.problem_type`` / ``num_labels`` as in Hugging Face), ``truncation`` and
    ``max_length`` (truncation caps at ``max_position_embeddings`` too, so long texts never overflow the
    model). A pair is ``{"text": …, "text_pair": …}``. ``return_all_scores`` (deprecated in Hugging Face, mapped
    as there with a warning when ``top_k`` is not given): ``True`` → every label in label order (a str's
    result still wrapped in a list), ``False`` → the best label.
    """

    task = "text-classification"

    def _parse_options(self, top_k: Any = _UNSET, function_to_apply: str | None = None, truncation: bool = False,
                       max_length: int | None = None, return_all_scores: bool | None = None) -> dict[str, Any]:
        all_in_label_order = False
        if top_k is not _UNSET:
            check_positive_int("top_k", top_k, allow_none=True)
        elif return_all_scores is not None:  # Hugging Face's mapping of the deprecated option
            warnings.warn("`return_all_scores` is deprecated: use top_k=None instead of return_all_scores=True or "
                          "top_k=1 instead of return_all_scores=False", UserWarning, stacklevel=4)
            all_in_label_order = bool(return_all_scores)
        if function_to_apply is not None:
            function_to_apply = str(function_to_apply).lower()
            if function_to_apply == "default":
                function_to_apply = None
            elif function_to_apply not in FUNCTIONS:
                raise ValueError(f"function_to_apply must be one of {FUNCTIONS} or 'default', "
                                 f"got {function_to_apply!r}")
        check_positive_int("max_length", max_length, allow_none=True)
        return {"top_k": top_k, "function_to_apply": function_to_apply, "truncation": bool(truncation),
                "max_length": max_length, "all_in_label_order": all_in_label_order}

    def _is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, (str, dict))

    def _input_doc(self) -> str:
        return 'a str or a {"text", "text_pair"} dict'

    def _check_input(self, item: Any) -> tuple[str, str | None]:
        if isinstance(item, str):
            return item, None
        if isinstance(item, dict) and set(item) <= {"text", "text_pair"} and isinstance(item.get("text"), str) \
                and isinstance(item.get("text_pair", ""), str):
            return item["text"], item.get("text_pair")
        raise ValueError("text-classification: each input must be a str or a dict with a str 'text' and an optional "
                         f"str 'text_pair', got {item!r:.80}")

    def _preprocess(self, item: tuple[str, str | None], opts: dict) -> list[Feature]:
        kwargs: dict[str, Any] = {}
        if opts["truncation"] or opts["max_length"] is not None:
            kwargs = {"truncation": True,
                      "max_length": truncation_length(self.tokenizer, self.model.config, opts["max_length"])}
        return encode_features(self.tokenizer, item[0], item[1], **kwargs)

    def _forward(self, batch: Batch, opts: dict) -> list[np.ndarray]:
        logits = self.model(**batch.model_inputs()).logits  # [B, N]
        return list(logits)

    def _forward_groups(self, batches: list[Batch], opts: dict) -> list[list[np.ndarray]]:
        logits = self._grouped_pass(batches)  # [B_g, N] per batch
        return super()._forward_groups(batches, opts) if logits is None else [list(g) for g in logits]

    def _postprocess(self, item: Any, features: list[Feature], outputs: list[np.ndarray], opts: dict) -> Any:
        logits = outputs[0].astype(np.float32, copy=False)
        function = opts["function_to_apply"] or default_function(self.model.config)
        scores = sigmoid(logits) if function == "sigmoid" else softmax(logits) if function == "softmax" else logits
        id2label = self.model.config.id2label
        top_k = opts["top_k"]
        if opts["all_in_label_order"]:  # return_all_scores=True: Hugging Face's legacy list, unsorted
            return [{"label": id2label[i], "score": float(s)} for i, s in enumerate(scores)]
        if top_k is _UNSET:  # legacy: the single best label as a dict
            best = int(np.argmax(scores))
            return {"label": id2label[best], "score": float(scores[best])}
        ranked = sorted(({"label": id2label[i], "score": float(s)} for i, s in enumerate(scores)),
                        key=lambda d: d["score"], reverse=True)
        return ranked if top_k is None else ranked[:top_k]

    def _wrap_single(self, inputs: Any, result: Any, opts: dict) -> Any:
        # Hugging Face puts a str's result in a list unless the call itself was given top_k (a dict's: never)
        return [result] if isinstance(inputs, str) and "top_k" not in opts["_call"] else result
