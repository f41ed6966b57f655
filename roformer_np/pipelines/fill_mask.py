"""fill-mask: the most likely tokens for each ``[MASK]`` (Hugging Face's ``FillMaskPipeline``)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..sorting import stable_top_k
from .base import Batch, Feature, Pipeline, check_kwargs_dict, check_positive_int, encode_features, softmax


class FillMaskPipeline(Pipeline):
    """``pipe("水在零度时会[MASK]")`` → ``[{"score", "token", "token_str", "sequence"}, …]`` (``top_k`` of them).

    Options: ``top_k`` (default 5) and ``targets`` (a token or list of tokens to score instead of the whole
    vocabulary; a target outside the vocabulary is replaced by its first token, with a warning, as in
    Hugging Face). A text with several masks gives one list per mask. A text without the mask token raises
    ``ValueError`` (Hugging Face raises its ``PipelineException``). ``sequence`` is the tokenizer's ``decode``:
    ``不错, 设施`` with the default :class:`RoFormerTokenizerFast`, ``不错 , 设施`` with the slow one.
    ``tokenizer_kwargs`` (a dict, e.g. ``{"truncation": True, "max_length": 64}``) go to the tokenizer.
    """

    task = "fill-mask"

    def _parse_options(self, top_k: int = 5, targets: str | list[str] | None = None,
                       tokenizer_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        check_positive_int("top_k", top_k)
        return {"top_k": int(top_k), "target_ids": None if targets is None else self._target_ids(targets),
                "tokenizer_kwargs": check_kwargs_dict("tokenizer_kwargs", tokenizer_kwargs)}

    def _target_ids(self, targets: str | list[str]) -> np.ndarray:
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, (list, tuple)) or not all(isinstance(t, str) for t in targets):
            raise ValueError(f"targets must be a str or a list of str, got {targets!r}")
        vocab = self.tokenizer.get_vocab()
        ids: list[int] = []
        for target in targets:
            index = vocab.get(target)
            if index is None:
                pieces = self.tokenizer(target, add_special_tokens=False, return_attention_mask=False,
                                        return_token_type_ids=False)["input_ids"]
                if not pieces:
                    warnings.warn(f"target {target!r} has no token in the vocabulary; ignoring it", stacklevel=4)
                    continue
                index = pieces[0]
                warnings.warn(f"target {target!r} is not in the vocabulary; using its first token "
                              f"{self.tokenizer.convert_ids_to_tokens(index)!r}", stacklevel=4)
            if index not in ids:
                ids.append(index)
        if not ids:
            raise ValueError("targets: at least one target must have a token in the vocabulary")
        return np.asarray(ids, dtype=np.int64)

    def _preprocess(self, text: str, opts: dict) -> list[Feature]:
        (feature,) = encode_features(self.tokenizer, text, **opts["tokenizer_kwargs"])
        mask_id = self.tokenizer.mask_token_id
        positions = [i for i, t in enumerate(feature.ids) if t == mask_id]
        if not positions:
            raise ValueError(f"fill-mask: no mask token {self.tokenizer.mask_token} in the input {text!r}")
        feature.data["mask_positions"] = positions
        return [feature]

    def _forward(self, batch: Batch, opts: dict) -> list[np.ndarray]:
        hidden = self.model.roformer(**batch.model_inputs()).last_hidden_state  # [B, T, C]
        return self._mask_logits([hidden], [batch])[0]

    def _forward_groups(self, batches: list[Batch], opts: dict) -> list[list[np.ndarray]]:
        base = self.model.roformer
        if len(batches) < 2 or base.config.is_decoder:
            return super()._forward_groups(batches, opts)
        hidden = base.forward_length_groups([(batch.input_ids, batch.token_type_ids) for batch in batches])
        return self._mask_logits(hidden, batches)

    def _mask_logits(self, hidden: list[np.ndarray], batches: list[Batch]) -> list[list[np.ndarray]]:
        """Per batch, each feature's logits [masks, V] from its hidden states [B, T, C]: the vocabulary
        projection only where it is needed, one [1, M, C] -> [1, M, V] GEMM over every mask of the batches."""
        picked = [h[r, p] for h, batch in zip(hidden, batches)
                  for r, f in enumerate(batch.features) for p in f.data["mask_positions"]]
        logits = self.model.lm_logits(np.stack(picked)[None])[0]  # [M, V]
        out, start = [], 0
        for batch in batches:
            rows = []
            for f in batch.features:
                n = len(f.data["mask_positions"])
                rows.append(logits[start:start + n])  # [masks, V]
                start += n
            out.append(rows)
        return out

    def _postprocess(self, text: str, features: list[Feature], outputs: list[np.ndarray], opts: dict) -> list:
        (feature,), (logits,) = features, outputs
        probs = softmax(logits.astype(np.float32, copy=False))  # [masks, V]
        target_ids, top_k = opts["target_ids"], opts["top_k"]
        if target_ids is not None:
            probs = probs[:, target_ids]
            top_k = min(top_k, len(target_ids))
        top_k = min(top_k, probs.shape[-1])
        positions = feature.data["mask_positions"]
        single = len(positions) == 1
        ids = np.asarray(feature.ids)
        pad_id = self.tokenizer.pad_token_id
        result = []
        for position, row in zip(positions, probs):
            best = stable_top_k(row, top_k)  # np.argsort(-row, kind="stable")[:top_k], without sorting the vocabulary
            predictions = []
            for index in best:
                token = int(target_ids[index]) if target_ids is not None else int(index)
                filled = ids.copy()
                filled[position] = token
                filled = filled[filled != pad_id]
                # the other masks stay visible in the sequence when there are several (as Hugging Face)
                sequence = self.tokenizer.decode(filled.tolist(), skip_special_tokens=single)
                predictions.append({"score": float(row[index]), "token": token,
                                    "token_str": self.tokenizer.decode([token]), "sequence": sequence})
            result.append(predictions)
        return result[0] if single else result

    def _wrap_list(self, results: list, opts: dict) -> Any:
        return results[0] if len(results) == 1 else results  # Hugging Face unwraps a list of one
