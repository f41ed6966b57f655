"""RoFormerTokenizerFast: the token rules of Hugging Face's fast RoFormer tokenizer, in pure Python.

``transformers.pipeline(...)`` loads ``RoFormerTokenizerFast`` unless told otherwise, so this is what the
pipelines use by default. It differs from the slow ``RoFormerTokenizer`` in its stages (transformers 4.56.2
``tokenization_roformer_fast.py`` + ``models/roformer/tokenization_utils.py``, and the ``tokenizers``
library's ``BertNormalizer`` and ``WordPiece``):

1. special tokens are split off the raw text first;
2. every other part is normalised as a whole *before* jieba sees it: control characters dropped, whitespace
   made a space, accents stripped (NFD, then no non-spacing marks; when lowercasing, or ``strip_accents``),
   lowercased character by character;
3. jieba cuts the normalised text; a word in the vocabulary is one token, any other word is cut only at
   whitespace and around CJK ideographs -- **not** at punctuation -- and each part goes through WordPiece
   (over 100 characters: the unknown token, even for a word of the vocabulary).

So ``C++`` is one unknown word here (the slow tokenizer gives ``c + +``), ``café`` reaches jieba as
``cafe``, and Hangul syllables are split into jamo by the NFD. Offsets point into the original text.
``decode`` spells text as the fast WordPiece decoder: ``##`` glued, no space before ``.`` ``,`` ``?`` ``!``.
``do_basic_tokenize``, ``never_split`` and ``tokenize_chinese_chars`` are accepted and, as in Hugging Face's
fast tokenizer, have no effect.
"""

from __future__ import annotations

from collections.abc import Iterable

from .tokenizer import RoFormerTokenizer
from .tokenizer_base import clean_up_tokenization
from .tokenizer_stages import Chunks, fast_normalize, split_wordpiece
from .tokenizer_text import MAX_INPUT_CHARS_PER_WORD

__all__ = ["RoFormerTokenizerFast", "FastTokenizerMixin", "wordpiece_decode"]

# the fast WordPiece decoder's cleanup (tokenizers' decoders::wordpiece::cleanup), applied token by token
_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def wordpiece_decode(tokens: Iterable[str]) -> str:
    """Tokens back to text as the fast tokenizer's WordPiece decoder (``cleanup=True``): spaces between
    tokens, ``##`` glued to the token before, no space before ``.`` ``,`` ``?`` ``!``."""
    pieces = []
    for i, token in enumerate(tokens):
        if i:
            token = token[2:] if token.startswith("##") else " " + token
        for dirty, clean in _CLEANUP:
            token = token.replace(dirty, clean)
        pieces.append(token)
    return "".join(pieces)


class FastTokenizerMixin:
    """What every fast WordPiece tokenizer shares: the ``tokenizers`` normaliser (special tokens split off the
    raw text, then ``BertNormalizer``), the fast layout of type ids and lengths, and the WordPiece decoder."""

    _fast_layout = True

    def _setup(self) -> None:
        super()._setup()
        self._strip = self._do_lower_case if self.strip_accents is None else self.strip_accents

    @property
    def do_lower_case(self) -> bool:
        return self._do_lower_case

    def _normalize(self, text: str) -> Chunks:
        return fast_normalize(text, self._splitter, self._strip, self._do_lower_case)

    def convert_tokens_to_string(self, tokens: Iterable[str]) -> str:
        return wordpiece_decode(tokens)

    def decode(self, token_ids, skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: bool | None = None) -> str:
        """Ids back to text as the fast tokenizer: its WordPiece decoder always removes the space before
        ``.`` ``,`` ``?`` ``!``; ``clean_up_tokenization_spaces`` then also applies Hugging Face's
        ``clean_up_tokenization``."""
        text = super().decode(token_ids, skip_special_tokens, clean_up_tokenization_spaces=False)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return clean_up_tokenization(text) if clean_up_tokenization_spaces else text


class RoFormerTokenizerFast(FastTokenizerMixin, RoFormerTokenizer):
    """Hugging Face's ``RoFormerTokenizerFast`` (same tokens, ids and offsets), with the API of
    :class:`~roformer_np.RoFormerTokenizer`. See the module docstring for how the two differ; also as the
    fast one, ``return_length`` gives padded lengths, and a pair without special tokens still has type ids
    1 for its second text. Overflow windows of pairs under ``longest_first`` are not supported (ValueError).
    """

    def _whole_words(self) -> dict[str, int]:
        # WordPiece refuses any word over 100 characters, even one of the vocabulary
        if all(len(t) <= MAX_INPUT_CHARS_PER_WORD for t in self.vocab):
            return self.vocab
        return {t: i for t, i in self.vocab.items() if len(t) <= MAX_INPUT_CHARS_PER_WORD}

    def _analyze(self, word: str) -> list[tuple[str, int, int]]:
        """A jieba word outside the vocabulary, cut at whitespace and around CJK ideographs (no punctuation
        split), then WordPiece on each part."""
        if word in self.vocab:  # only a word over the WordPiece limit gets here
            return [(self.unk_token, 0, len(word))]
        return split_wordpiece(word, self.vocab, self.unk_token, split_punctuation=False, split_cjk=True)
