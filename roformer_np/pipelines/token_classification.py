"""token-classification (NER): a label per token, optionally grouped into entities with character spans.

Hugging Face's ``TokenClassificationPipeline`` with its *fast* tokenizer, which is the only one that gives
offsets there. Its rules, kept here:

* a token is a **subword** (glued to the previous word by ``first`` / ``average`` / ``max``) when its token
  text is not as long as the text it covers: ``len(token) != len(text[start:end])``. For RoFormer's WordPiece
  that means exactly the ``##`` pieces (``##ab`` covers ``ab``), so a word is a jieba word of the
  vocabulary, or one WordPiece word of a jieba word outside it (each CJK character of such a word is a word
  of its own). Lowercasing keeps lengths; a ``[UNK]`` token is never a subword and shows its original text.
  (Texts whose accents the tokenizer strips through NFD change length and may split wrongly — as in Hugging
  Face.)
* entity words are joined as the fast tokenizer's decoder does: tokens separated by spaces, ``##`` glued,
  no space before ``.`` ``,`` ``!`` ``?`` (so Chinese entities read ``北京 市``, token by token).
* ``simple`` groups neighbouring tokens of the same tag (``B-X`` starts a new group, ``I-X`` or a bare ``X``
  continues one); the score of a group is the mean of its tokens'.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..tokenizer_fast import wordpiece_decode as tokens_to_string
from .base import Batch, Feature, Pipeline, encode_features, softmax
from .text_classification import truncation_length

STRATEGIES = ("none", "simple", "first", "average", "max")
def tag_of(label: str) -> tuple[str, str]:
    """``B-PER`` → (B, PER); ``I-PER`` → (I, PER); anything else → (I, label): a bare label continues."""
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label


class TokenClassificationPipeline(Pipeline):
    """``pipe("张三在北京工作")`` → entities: ``{"entity", "score", "index", "word", "start", "end"}`` per token
    (``aggregation_strategy="none"``, the default), or ``{"entity_group", "score", "word", "start", "end"}``
    (``simple`` / ``first`` / ``average`` / ``max``).

    Options: ``aggregation_strategy``, ``ignore_labels`` (default ``["O"]``), ``stride`` (long texts are cut
    into windows of the model's length overlapping by ``stride`` tokens and the entities merged, as Hugging
    Face does; an explicit ``aggregation_strategy="none"`` refuses it, the default does not — Hugging Face's
    rule). Texts are truncated to the model's length otherwise. The deprecated ``grouped_entities`` /
    ``ignore_subwords`` are mapped as in Hugging Face, with a warning: both → ``"first"``, ``grouped_entities``
    alone → ``"simple"``, otherwise ``"none"`` (overriding ``aggregation_strategy``).
    """

    task = "token-classification"

    def _parse_options(self, aggregation_strategy: str | None = None, ignore_labels: list[str] | None = None,
                       stride: int | None = None, grouped_entities: bool | None = None,
                       ignore_subwords: bool | None = None) -> dict[str, Any]:
        if grouped_entities is not None or ignore_subwords is not None:  # deprecated: Hugging Face's mapping
            aggregation_strategy = ("first" if grouped_entities and ignore_subwords else
                                    "simple" if grouped_entities else "none")
            for name, value in (("grouped_entities", grouped_entities), ("ignore_subwords", ignore_subwords)):
                if value is not None:
                    warnings.warn(f"`{name}` is deprecated; using aggregation_strategy={aggregation_strategy!r}",
                                  UserWarning, stacklevel=4)
        strategy = "none" if aggregation_strategy is None else str(aggregation_strategy).lower()
        if strategy not in STRATEGIES:
            raise ValueError(f"aggregation_strategy must be one of {STRATEGIES}, got {aggregation_strategy!r}")
        if ignore_labels is None:
            ignore_labels = ["O"]
        if isinstance(ignore_labels, str) or not all(isinstance(x, str) for x in ignore_labels):
            raise ValueError(f"ignore_labels must be a list of str, got {ignore_labels!r}")
        if stride is not None:
            if isinstance(stride, bool) or not isinstance(stride, int) or stride < 0:
                raise ValueError(f"stride must be a non-negative integer, got {stride!r}")
            if aggregation_strategy is not None and strategy == "none":  # only when asked for (as Hugging Face)
                raise ValueError('stride was given to process the whole text, but aggregation_strategy="none"; '
                                 "choose another strategy")
        return {"aggregation_strategy": strategy, "ignore_labels": list(ignore_labels), "stride": stride}

    def _preprocess(self, text: str, opts: dict) -> list[Feature]:
        limit = truncation_length(self.tokenizer, self.model.config, None)
        kwargs: dict[str, Any] = {"truncation": True, "max_length": limit}
        if opts["stride"] is not None:
            if opts["stride"] >= limit - 2:
                raise ValueError(f"stride ({opts['stride']}) must be smaller than the window ({limit} tokens "
                                 "with the 2 special tokens)")
            kwargs.update(return_overflowing_tokens=True, stride=opts["stride"])
        return encode_features(self.tokenizer, text, return_offsets_mapping=True, return_special_tokens_mask=True,
                               **kwargs)

    def _forward(self, batch: Batch, opts: dict) -> list[np.ndarray]:
        logits = self.model(**batch.model_inputs()).logits  # [B, T, N]
        return [logits[r, :n] for r, n in enumerate(batch.lengths)]

    def _forward_groups(self, batches: list[Batch], opts: dict) -> list[list[np.ndarray]]:
        logits = self._grouped_pass(batches)  # [B_g, T_g, N] per batch (unpadded)
        return super()._forward_groups(batches, opts) if logits is None else [list(g) for g in logits]

    def _postprocess(self, text: str, features: list[Feature], outputs: list[np.ndarray], opts: dict) -> list:
        strategy = opts["aggregation_strategy"]
        entities = []
        for feature, logits in zip(features, outputs):
            scores = softmax(logits.astype(np.float32, copy=False))  # [T, N]
            tokens = self._tokens(text, feature, scores)
            grouped = self._aggregate(tokens, strategy)
            ignore = opts["ignore_labels"]
            entities.extend(e for e in grouped if e.get("entity", e.get("entity_group")) not in ignore)
        if len(features) > 1:
            entities = merge_overlapping(entities)
        return [_plain(e) for e in entities]

    def _tokens(self, text: str, feature: Feature, scores: np.ndarray) -> list[dict]:
        """Hugging Face's ``gather_pre_entities``: the non-special tokens with their spans and subword flag."""
        unk = self.tokenizer.unk_token_id
        out = []
        for index, (token_id, (start, end), special) in enumerate(
                zip(feature.ids, feature.data["offset_mapping"], feature.data["special_tokens_mask"])):
            if special:
                continue
            word = self.tokenizer.convert_ids_to_tokens(token_id)
            original = text[start:end]
            is_subword = len(word) != len(original)
            if token_id == unk:
                word, is_subword = original, False
            out.append({"word": word, "scores": scores[index], "start": start, "end": end, "index": index,
                        "is_subword": is_subword})
        return out

    def _label(self, index: int) -> str:
        return self.model.config.id2label[int(index)]

    def _aggregate(self, tokens: list[dict], strategy: str) -> list[dict]:
        if strategy in ("none", "simple"):
            entities = []
            for t in tokens:
                best = int(t["scores"].argmax())
                entities.append({"entity": self._label(best), "score": t["scores"][best], "index": t["index"],
                                 "word": t["word"], "start": t["start"], "end": t["end"]})
        else:
            entities = self._aggregate_words(tokens, strategy)
        return entities if strategy == "none" else self._group(entities)

    def _aggregate_words(self, tokens: list[dict], strategy: str) -> list[dict]:
        """One entity per word (a token and the subwords after it), labelled by ``strategy``."""
        words: list[list[dict]] = []
        for t in tokens:
            if words and t["is_subword"]:
                words[-1].append(t)
            else:
                words.append([t])
        out = []
        for word in words:
            if strategy == "first":
                scores = word[0]["scores"]
            elif strategy == "max":
                scores = max(word, key=lambda t: t["scores"].max())["scores"]
            else:  # average
                scores = np.nanmean(np.stack([t["scores"] for t in word]), axis=0)
            best = int(scores.argmax())
            out.append({"entity": self._label(best), "score": scores[best],
                        "word": tokens_to_string([t["word"] for t in word]),
                        "start": word[0]["start"], "end": word[-1]["end"]})
        return out

    def _group(self, entities: list[dict]) -> list[dict]:
        """Neighbouring entities of one tag become an ``entity_group`` (a ``B-`` starts a new one)."""
        groups: list[list[dict]] = []
        for e in entities:
            bi, tag = tag_of(e["entity"])
            if groups and bi != "B" and tag == tag_of(groups[-1][-1]["entity"])[1]:
                groups[-1].append(e)
            else:
                groups.append([e])
        return [{"entity_group": tag_of(g[0]["entity"])[1],
                 "score": np.mean(np.nanmean([e["score"] for e in g])),
                 "word": tokens_to_string([e["word"] for e in g]),
                 "start": g[0]["start"], "end": g[-1]["end"]} for g in groups]


def merge_overlapping(entities: list[dict]) -> list[dict]:
    """Entities of overlapping windows: of those starting inside another, keep the longer (then the likelier)."""
    if not entities:
        return entities
    entities = sorted(entities, key=lambda e: e["start"])
    merged = []
    previous = entities[0]
    for e in entities:
        if previous["start"] <= e["start"] < previous["end"]:
            length, previous_length = e["end"] - e["start"], previous["end"] - previous["start"]
            if length > previous_length or (length == previous_length and e["score"] > previous["score"]):
                previous = e
        else:
            merged.append(previous)
            previous = e
    merged.append(previous)
    return merged


def _plain(entity: dict) -> dict:
    """Python numbers (Hugging Face leaves NumPy float32 scores; plain floats serialise to JSON)."""
    return {k: (float(v) if k == "score" else int(v) if k in ("index", "start", "end") else v)
            for k, v in entity.items()}
