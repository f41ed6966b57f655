"""sentence-similarity: RoFormer-Sim's sentence vectors and cosine scores, and its similar-sentence generation.

The vector is the recipe of ZhuiyiTechnology's roformer-sim (and JunnyU's README): each text alone as
``[CLS] text [SEP]`` with token types 0, a bidirectional pass (a Sim checkpoint's first pass is, see
``RoFormerModel.unilm``), the pooler's output (``pooler_activation: linear``), L2-normalised; the score of two
texts is the dot product of their vectors, their cosine.

:func:`similar_sentences` is the package's ``gen_synonyms``: n continuations of ``[CLS] text [SEP]`` sampled with
top-p 0.95 (no top-k, temperature 1, as bert4keras' ``random_sample``) until ``[SEP]``, decoded together through
one cache (:func:`roformer_np.generate` with ``num_return_sequences=n``), duplicates and the text itself dropped,
ranked by similarity to the text, the best k kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Batch, Feature, check_positive_int
from .feature_extraction import FeatureExtractionPipeline, normalise, sentence_vectors

INPUT_DOC = 'a dict {"source_sentence": str, "sentences": [str, ...]}'


class SentenceSimilarityPipeline(FeatureExtractionPipeline):
    """``pipe({"source_sentence": "今天天气不错", "sentences": ["今天天气很好", "我想吃饭"]})`` → ``[0.93, 0.12]``:
    the cosine between the source's vector and each sentence's (the Hugging Face Inference API's
    sentence-similarity format). ``pipe(source, sentences=[...])`` is the same call.

    The model is a RoFormer-Sim base model (or the encoder of its causal LM). Options: ``pooling``
    (``"pooler"``, the default, needs a checkpoint with ``roformer.pooler.*``; ``"cls"`` / ``"mean"`` for other
    encoders), ``truncation`` (True: texts are cut to ``max_length``, default the model's limit), ``max_length``.
    """

    task = "sentence-similarity"

    def _parse_options(self, truncation: bool = True, max_length: int | None = None,
                       pooling: str = "pooler") -> dict[str, Any]:
        if pooling is None:
            raise ValueError("sentence-similarity needs one vector per text: pooling must be 'pooler', 'cls' or "
                             "'mean'")
        return super()._parse_options(truncation=truncation, max_length=max_length, pooling=pooling, normalize=True)

    def _is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, (dict, str))

    def _input_doc(self) -> str:
        return INPUT_DOC

    def __call__(self, inputs: Any, batch_size: int | None = None, **options: Any) -> Any:
        sentences = options.pop("sentences", None)
        if isinstance(inputs, str):  # pipe(source, sentences=[...])
            if sentences is None:
                raise ValueError(f"sentence-similarity pipeline: with a str source, pass sentences=[...] (or give "
                                 f"{INPUT_DOC})")
            inputs = {"source_sentence": inputs, "sentences": sentences}
        elif sentences is not None:
            raise ValueError("sentence-similarity pipeline: sentences= goes with a str source, not with dicts")
        return super().__call__(inputs, batch_size, **options)

    def _check_input(self, item: Any) -> dict:
        if not isinstance(item, dict) or set(item) != {"source_sentence", "sentences"}:
            raise ValueError(f"sentence-similarity pipeline: each input must be {INPUT_DOC}, got {item!r:.80}")
        if not isinstance(item["source_sentence"], str):
            raise ValueError("sentence-similarity pipeline: source_sentence must be a str")
        check_sentences(item["sentences"])
        return item

    def _preprocess(self, item: dict, opts: dict) -> list[Feature]:
        encode = super()._preprocess  # zero-argument super() does not work inside a comprehension
        return [f for text in (item["source_sentence"], *item["sentences"]) for f in encode(text, opts)]

    def _forward(self, batch: Batch, opts: dict) -> list[np.ndarray]:
        return list(sentence_vectors(self.model, batch, opts["pooling"]))

    def _postprocess(self, item: dict, features: list[Feature], outputs: list[np.ndarray], opts: dict) -> list[float]:
        vectors = normalise(np.stack(outputs))  # [1 + n, C]
        return [float(s) for s in vectors[1:] @ vectors[0]]


def check_sentences(sentences: Any) -> None:
    if not isinstance(sentences, (list, tuple)) or not all(isinstance(s, str) for s in sentences):
        raise ValueError(f"sentence-similarity pipeline: sentences must be a list of str, got {sentences!r:.80}")


def similar_sentences(
    model: Any, tokenizer: Any, text: str, n: int = 32, k: int = 8, top_p: float = 0.95,
    max_new_tokens: int = 64, seed: int | None = None, generator: np.random.Generator | None = None,
    batch_size: int = 32,
) -> list[dict[str, Any]]:
    """Sentences like ``text`` from a RoFormer-Sim causal LM (with its pooler): ``[{"sentence", "score"}, ...]``,
    at most ``k``, most similar first (score: cosine of the pooler vectors with ``text``'s).

    The ``n`` samples are decoded in one batch through one cache; each stops at ``[SEP]`` (the tokenizer's
    ``sep_token_id``) or after ``max_new_tokens``. ``seed`` / ``generator`` make the sampling reproducible.
    """
    check_positive_int("n", n)
    check_positive_int("k", k)
    check_positive_int("max_new_tokens", max_new_tokens)
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    if getattr(model, "roformer", None) is None or not model.roformer.has_pooler:
        raise ValueError("similar_sentences needs a RoFormer-Sim RoFormerForCausalLM (a checkpoint with "
                         "roformer.pooler.* weights)")
    sep = tokenizer.sep_token_id
    prompt = tokenizer(text, return_token_type_ids=True)["input_ids"]
    room = model.config.max_position_embeddings - len(prompt)
    sequences = model.generate([prompt], do_sample=True, top_p=top_p, top_k=0, num_return_sequences=n,
                               max_new_tokens=min(max_new_tokens, room), eos_token_id=sep, seed=seed,
                               generator=generator)
    candidates: list[str] = []
    for row in sequences[:, len(prompt):]:
        stop = np.flatnonzero(row == sep)
        ids = row[: stop[0]] if stop.size else row
        sentence = tokenizer.decode(ids.tolist(), skip_special_tokens=True).replace(" ", "")
        if sentence and sentence != text and sentence not in candidates:
            candidates.append(sentence)
    if not candidates:
        return []
    scores = SentenceSimilarityPipeline(model.roformer, tokenizer, batch_size=batch_size)(
        {"source_sentence": text, "sentences": candidates})
    order = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return [{"sentence": candidates[i], "score": scores[i]} for i in order]
