"""RoFormerTokenizer: jieba words, then BERT's basic tokenizer and WordPiece for words not in the vocabulary.

Token for token and id for id the same as Hugging Face transformers 4.56.2's slow ``RoFormerTokenizer``,
plus what users take from ``RoFormerTokenizerFast``: offsets into the original text, overflow windows with
``overflow_to_sample_mapping``, NumPy outputs. Unlike Hugging Face's fast tokenizer it pickles, and
``save_pretrained`` / ``from_pretrained`` round-trip exactly.

Its stages (:mod:`roformer_np.tokenizer_stages`), as ``PreTrainedTokenizer.tokenize`` + ``RoFormerTokenizer._tokenize``:

1. normaliser: lowercase with ``str.lower`` character by character, except inside special tokens
   (``do_lower_case``), then split on the special tokens, which stay single tokens;
2. pre-tokeniser: cut each other chunk with ``rjieba.cut(chunk, False)``;
3. word model: a jieba word found in the vocabulary is one token; any other word goes through BERT's basic
   tokenizer and WordPiece on its own (``roformer_np.tokenizer_text``), so ``##`` never crosses a jieba word;
4. post-processor: ``[CLS] A [SEP] B [SEP]``.

The shared API (``__call__``, ``decode``, files, ...) is :class:`roformer_np.tokenizer_base.WordPieceTokenizer`.
"""

from __future__ import annotations

from collections.abc import Callable

from . import tokenizer_jieba
from .tokenizer_base import WordPieceTokenizer
from .tokenizer_encoding import BatchEncoding
from .tokenizer_files import TOKENIZER_CONFIG_FILE, TOKENIZER_FILES, VOCAB_FILE, load_vocab

__all__ = ["RoFormerTokenizer", "BatchEncoding", "load_vocab", "TOKENIZER_CONFIG_FILE", "TOKENIZER_FILES",
           "VOCAB_FILE"]


class RoFormerTokenizer(WordPieceTokenizer):
    """The RoFormer tokenizer of Hugging Face transformers 4.56.2 (slow flavour, same ids), in pure Python.

    Arguments as :class:`~roformer_np.tokenizer_base.WordPieceTokenizer`; here ``do_basic_tokenize``,
    ``never_split`` and ``tokenize_chinese_chars`` apply to the jieba words outside the vocabulary.
    """

    _vocab_words_whole = True

    def _pre_tokenizer(self) -> Callable[[str], list[str]]:
        return tokenizer_jieba.get_cut()

    def _repr_extra(self) -> str:
        return f", segmenter={tokenizer_jieba.backend_name()!r}"

