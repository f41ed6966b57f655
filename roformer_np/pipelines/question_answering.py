"""question-answering: the span of the context that answers a question (Hugging Face's ``QuestionAnsweringPipeline``).

Hugging Face's fast-tokenizer path: ``[CLS] question [SEP] context [SEP]`` windows of ``max_seq_len`` tokens
overlapping by ``doc_stride``; in each window start and end probabilities (softmax over the context tokens and
``[CLS]``), span scores ``p_start · p_end`` for ``start <= end < start + max_answer_len``; the best spans are
widened to whole words and read from the context by character offsets. Answers with the same text
(case-insensitively) add their scores; ``handle_impossible_answer`` adds the empty answer scored by the lowest
``[CLS]`` span score of the windows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Batch, Feature, Pipeline, check_positive_int, encode_features

PADDINGS = (True, False, "longest", "max_length", "do_not_pad")  # the tokenizer's padding strategies
_UNALLOWED = -10000.0  # Hugging Face's logit for tokens that cannot be part of an answer


def span_candidates(start: np.ndarray, end: np.ndarray, top_k: int, max_answer_len: int,
                    allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``top_k`` best (start, end, score) spans from probabilities [T]; spans must start and end on
    ``allowed`` tokens (Hugging Face's ``decode_spans``, same selection and order)."""
    outer = start[:, None] * end[None, :]  # [T, T]
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    flat = candidates.ravel()
    if top_k == 1:
        order = np.array([np.argmax(flat)])
    elif len(flat) < top_k:
        order = np.argsort(-flat)
    else:
        best = np.argpartition(-flat, top_k)[:top_k]
        order = best[np.argsort(-flat[best])]
    starts, ends = np.unravel_index(order, candidates.shape)
    ok = np.isin(starts, allowed.nonzero()) & np.isin(ends, allowed.nonzero())
    starts, ends = starts[ok], ends[ok]
    return starts, ends, candidates[starts, ends]


def word_ids(tokens: list[str], sequence_ids: list[int | None]) -> list[int | None]:
    """A word number per token (None for the added special tokens), counted from 0 in each sequence as the
    fast tokenizer's ``word_ids``: a ``##`` piece continues the word before it (jieba words of the
    vocabulary, WordPiece words of the others)."""
    out: list[int | None] = []
    words: dict[int, int] = {}  # words so far per sequence
    previous_seq = None
    for token, seq in zip(tokens, sequence_ids):
        if seq is None:
            out.append(None)
            continue
        if not (token.startswith("##") and seq == previous_seq and out and out[-1] is not None):
            words[seq] = words.get(seq, -1) + 1
        out.append(words[seq])
        previous_seq = seq
    return out


class QuestionAnsweringPipeline(Pipeline):
    """``pipe(question="…", context="…")`` → ``{"score", "start", "end", "answer"}`` (a list when ``top_k`` > 1).

    Inputs: ``question=`` / ``context=`` (strings or equal-length lists; a list of questions with one context
    asks each), a ``{"question", "context"}`` dict, a list or iterable of dicts, or ``pipe(question, context)``.
    Options: ``top_k`` (1), ``max_answer_len`` (15 tokens), ``max_seq_len`` (384, capped by the model),
    ``doc_stride`` (min(max_seq_len // 2, 128)), ``handle_impossible_answer`` (False), ``align_to_words`` (True),
    ``max_question_len`` (accepted for compatibility; like Hugging Face's fast path, unused), ``padding``
    (Hugging Face pads the windows with ``True``/``"longest"`` or ``"max_length"``; the padded tokens are masked
    and can be no answer, so answers are the same unpadded: checked, then batches pad as they need).
    """

    task = "question-answering"

    def _parse_options(self, top_k: int = 1, max_answer_len: int = 15, max_seq_len: int | None = None,
                       doc_stride: int | None = None, handle_impossible_answer: bool = False,
                       align_to_words: bool = True, max_question_len: int = 64,
                       padding: bool | str | None = None) -> dict[str, Any]:
        if padding is not None and padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        for name, value in (("top_k", top_k), ("max_answer_len", max_answer_len), ("max_question_len",
                                                                                    max_question_len)):
            check_positive_int(name, value)
        check_positive_int("max_seq_len", max_seq_len, allow_none=True)
        if doc_stride is not None and (isinstance(doc_stride, bool) or not isinstance(doc_stride, int)
                                       or doc_stride < 0):
            raise ValueError(f"doc_stride must be a non-negative integer, got {doc_stride!r}")
        if max_seq_len is None:
            max_seq_len = int(min(self.tokenizer.model_max_length, 384, self.model.config.max_position_embeddings))
        if doc_stride is None:
            doc_stride = min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise ValueError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len})")
        return {"top_k": int(top_k), "max_answer_len": int(max_answer_len), "max_seq_len": int(max_seq_len),
                "doc_stride": int(doc_stride), "handle_impossible_answer": bool(handle_impossible_answer),
                "align_to_words": bool(align_to_words)}

    def __call__(self, *args: Any, question: Any = None, context: Any = None, batch_size: int | None = None,
                 **options: Any) -> Any:
        if args and (question is not None or context is not None):
            raise ValueError("question-answering: give the inputs either positionally or as question=/context=")
        if len(args) == 2 and all(isinstance(a, str) for a in args):
            inputs: Any = {"question": args[0], "context": args[1]}
        elif len(args) == 1:
            inputs = args[0]
        elif args:
            inputs = list(args)
        elif question is None or context is None:
            raise ValueError("question-answering needs both question= and context= (or dicts with both)")
        elif isinstance(question, str) and isinstance(context, str):
            inputs = {"question": question, "context": context}
        elif isinstance(question, list) and isinstance(context, str):
            inputs = [{"question": q, "context": context} for q in question]
        elif isinstance(question, list) and isinstance(context, list):
            if len(question) != len(context):
                raise ValueError(f"question-answering: {len(question)} questions but {len(context)} contexts")
            inputs = [{"question": q, "context": c} for q, c in zip(question, context)]
        else:
            raise ValueError("question-answering: question and context must be strs or lists of str")
        return super().__call__(inputs, batch_size=batch_size, **options)

    def _is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, dict)

    def _input_doc(self) -> str:
        return 'a {"question", "context"} dict'

    def _wrap_list(self, results: list, opts: dict) -> Any:
        return results[0] if len(results) == 1 else results  # Hugging Face unwraps a list of one

    def _check_input(self, item: Any) -> tuple[str, str]:
        if not isinstance(item, dict):
            raise ValueError(f"question-answering: each input must be a dict with 'question' and 'context', got "
                             f"{type(item).__name__}")
        for key in ("question", "context"):
            value = item.get(key)
            if value is None:
                raise ValueError(f"question-answering: the input has no {key!r}")
            if not isinstance(value, str):
                raise ValueError(f"question-answering: {key!r} must be a str, got {type(value).__name__}")
            if not value:
                raise ValueError(f"question-answering: {key!r} cannot be empty")
        return item["question"], item["context"]

    def _preprocess(self, item: tuple[str, str], opts: dict) -> list[Feature]:
        question, context = item
        features = encode_features(self.tokenizer, question, context, truncation="only_second",
                                   max_length=opts["max_seq_len"], stride=opts["doc_stride"],
                                   return_overflowing_tokens=True, return_offsets_mapping=True)
        cls_id = self.tokenizer.cls_token_id
        for f in features:
            # 1 where a token cannot be in an answer: everything but the context, and [CLS] stays allowed
            f.data["p_mask"] = np.array([s != 1 and t != cls_id for s, t in zip(f.data["sequence_ids"], f.ids)])
        return features

    def _forward(self, batch: Batch, opts: dict) -> list[tuple[np.ndarray, np.ndarray]]:
        out = self.model(**batch.model_inputs())
        return [(out.start_logits[r, :n], out.end_logits[r, :n]) for r, n in enumerate(batch.lengths)]

    def _forward_groups(self, batches: list[Batch], opts: dict) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        spans = self._grouped_pass(batches)  # (start, end) [B_g, T_g] each, per batch (unpadded)
        if spans is None:
            return super()._forward_groups(batches, opts)
        return [list(zip(start, end)) for start, end in spans]

    def _postprocess(self, item: tuple[str, str], features: list[Feature], outputs: list, opts: dict) -> Any:
        context = item[1]
        top_k, impossible = opts["top_k"], opts["handle_impossible_answer"]
        pre_top_k = top_k * 2 + 10 if opts["align_to_words"] else top_k  # word alignment may merge candidates
        min_null_score = 1000000.0
        answers: list[dict] = []
        for feature, (start_logits, end_logits) in zip(features, outputs):
            allowed = (~feature.data["p_mask"]).astype(np.int64)
            start = self._probabilities(start_logits, allowed)
            end = self._probabilities(end_logits, allowed)
            if impossible:
                min_null_score = min(min_null_score, float(start[0] * end[0]))
            start[0] = end[0] = 0.0  # [CLS] never starts a span
            starts, ends, scores = span_candidates(start, end, pre_top_k, opts["max_answer_len"], allowed)
            tokens = self.tokenizer.convert_ids_to_tokens(feature.ids)
            words = word_ids(tokens, feature.data["sequence_ids"])
            offsets = feature.data["offset_mapping"]
            for s, e, score in zip(starts, ends, scores):
                lo, hi = self._char_span(int(s), int(e), words, offsets, feature.data["sequence_ids"],
                                         opts["align_to_words"])
                text = context[lo:hi]
                same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
                if same is not None:
                    same["score"] += float(score)
                else:
                    answers.append({"score": float(score), "start": lo, "end": hi, "answer": text})
        if impossible:
            answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers

    @staticmethod
    def _probabilities(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        x = np.where(allowed == 0, np.float32(_UNALLOWED), logits.astype(np.float32, copy=False))
        x = np.exp(x - x.max())
        return x / x.sum()

    @staticmethod
    def _char_span(s: int, e: int, words: list[int | None], offsets: list[tuple[int, int]],
                   sequence_ids: list[int | None], align: bool) -> tuple[int, int]:
        """Token span → character span in the context; with ``align``, widened to the words' edges (inside
        this window, as the fast tokenizer's ``word_to_chars(word, sequence_index=1)``: a span that starts on
        a ``[CLS]`` written inside the question takes the context word of the same number). A span from the
        added [CLS], or from a word number the context does not have, keeps the raw offsets (as Hugging
        Face, whose ``word_to_chars`` then fails)."""
        if align and words[s] is not None and words[e] is not None:
            in_context = [i for i, q in enumerate(sequence_ids) if q == 1]
            lo = [offsets[i][0] for i in in_context if words[i] == words[s]]
            hi = [offsets[i][1] for i in in_context if words[i] == words[e]]
            if lo and hi:
                return int(min(lo)), int(max(hi))
        return int(offsets[s][0]), int(offsets[e][1])
