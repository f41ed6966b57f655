"""BERT's WordPiece tokenizers (transformers 4.56.2 ``BertTokenizer`` / ``BertTokenizerFast``), and ELECTRA's,
which are the same classes under another name.

The char, Sim and V2 RoFormer checkpoints name ``BertTokenizer`` in their ``tokenizer_config.json``: plain BERT
WordPiece, no jieba. These are the RoFormer tokenizers' machinery with BERT's pre-tokeniser in place of jieba
(:mod:`roformer_np.tokenizer_stages`):

- slow: the same normaliser as ``RoFormerTokenizer`` (lowercase outside the special tokens, split on them);
  split at whitespace and around CJK ideographs (``tokenize_chinese_chars``); each word through BERT's basic
  tokenizer (clean text, NFC, lowercase and strip accents, punctuation split, ``never_split``) and WordPiece;
- fast: the ``tokenizers`` pipeline, ``BertNormalizer`` + ``BertPreTokenizer`` (whitespace, punctuation, and
  CJK ideographs when ``tokenize_chinese_chars``) + WordPiece, with offsets into the original text;
  ``do_basic_tokenize`` and ``never_split`` are accepted and, as in transformers, have no effect.

Both default to ``clean_up_tokenization_spaces=True`` in ``decode``, as transformers' BERT classes do.
"""

from __future__ import annotations

from collections.abc import Callable

from .tokenizer_base import WordPieceTokenizer
from .tokenizer_fast import FastTokenizerMixin
from .tokenizer_stages import bert_words, split_wordpiece

__all__ = ["BertTokenizer", "BertTokenizerFast", "ElectraTokenizer", "ElectraTokenizerFast"]


class BertTokenizer(WordPieceTokenizer):
    """transformers' slow ``BertTokenizer``: the same tokens and ids, with offsets and the API of
    :class:`~roformer_np.RoFormerTokenizer` (arguments as :class:`~roformer_np.tokenizer_base.WordPieceTokenizer`)."""

    _clean_up_default = True

    def _pre_tokenizer(self) -> Callable[[str], list[str]]:
        # without the basic tokenizer, transformers only splits at whitespace (no spacing of ideographs)
        return bert_words(self.do_basic_tokenize and self.tokenize_chinese_chars)


class BertTokenizerFast(FastTokenizerMixin, BertTokenizer):
    """transformers' ``BertTokenizerFast`` (the pipelines' default): the same tokens, ids and offsets."""

    def _pre_tokenizer(self) -> Callable[[str], list[str]]:
        return bert_words(self.tokenize_chinese_chars)  # BertNormalizer's handle_chinese_chars

    def _analyze(self, word: str) -> list[tuple[str, int, int]]:
        return split_wordpiece(word, self.vocab, self.unk_token, split_punctuation=True,
                               split_cjk=self.tokenize_chinese_chars)


class ElectraTokenizer(BertTokenizer):
    """transformers' ``ElectraTokenizer``: ``BertTokenizer`` under ELECTRA's name."""


class ElectraTokenizerFast(BertTokenizerFast):
    """transformers' ``ElectraTokenizerFast``: ``BertTokenizerFast`` under ELECTRA's name."""
