"""RoFormerTokenizerFast: the token rules of Hugging Face's fast RoFormer tokenizer, in pure Python.

``transformers.pipeline(...)`` loads ``RoFormerTokenizerFast`` unless told otherwise, so this is what the
pipelines use by default. It differs from the slow ``RoFormerTokenizer`` in the order of its steps
(transformers 4.56.2 ``tokenization_roformer_fast.py`` + ``models/roformer/tokenization_utils.py``, and the
``tokenizers`` library's ``BertNormalizer`` and ``WordPiece``):

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

import re
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache

from .tokenizer import RoFormerTokenizer, _clean_up_tokenization
from .tokenizer_text import MAX_INPUT_CHARS_PER_WORD, is_cjk, is_control, wordpiece

__all__ = ["RoFormerTokenizerFast", "wordpiece_decode"]

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


_DROP, _SPACE = "", " "
_PLAIN_BLOCKS = ((0x20, 0x7E), (0x3001, 0x303F), (0x4E00, 0x9FFF), (0xFF01, 0xFFEE))


@cache
def _plain() -> re.Pattern:
    """Text made only of characters of printable ASCII, CJK ideographs, CJK punctuation and full-width forms
    that cleaning and accent stripping leave alone and lowercasing keeps one character long (checked with
    this Python's Unicode database, once): most text, normalised by a single ``str.lower``."""
    ranges = []
    for first, last in _PLAIN_BLOCKS:
        start = None
        for cp in range(first, last + 2):
            ch = chr(cp)
            ok = cp <= last and _plain_char(ch)
            if ok and start is None:
                start = cp
            elif not ok and start is not None:
                ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(cp - 1))}")
                start = None
    return re.compile(f"[{''.join(ranges)}]*")


def _plain_char(ch: str) -> bool:
    """``_normalize_char(ch, True, False) == ch and len(ch.lower()) == 1``, without filling that cache with the
    21k characters ``_plain`` checks (3x faster: 12 ms of start-up instead of 39). Accent stripping keeps
    ``ch`` exactly when ``ch`` is its own NFD and not a mark it would drop."""
    if ch == " ":
        return True
    return (ch not in ("\0", "\ufffd") and not is_control(ch) and not ch.isspace()
            and unicodedata.is_normalized("NFD", ch) and unicodedata.category(ch) != "Mn" and len(ch.lower()) == 1)


@lru_cache(maxsize=1 << 16)
def _normalize_char(ch: str, strip_accents: bool, lowercase: bool) -> str:
    """What ``BertNormalizer(clean_text=True, handle_chinese_chars=False, ...)`` makes of one character."""
    cp = ord(ch)
    if cp == 0 or cp == 0xFFFD or is_control(ch):
        return _DROP
    if ch.isspace():  # what is left of Python's whitespace is Unicode's White_Space, as Rust's
        return _SPACE
    if strip_accents:
        ch = "".join(c for c in unicodedata.normalize("NFD", ch) if unicodedata.category(c) != "Mn")
    return ch.lower() if lowercase else ch


class RoFormerTokenizerFast(RoFormerTokenizer):
    """Hugging Face's ``RoFormerTokenizerFast`` (same tokens, ids and offsets), with the API of
    :class:`~roformer_np.RoFormerTokenizer`. See the module docstring for how the two differ; also as the
    fast one, ``return_length`` gives padded lengths, and a pair without special tokens still has type ids
    1 for its second text. Overflow windows of pairs under ``longest_first`` are not supported (ValueError).
    """

    _fast_layout = True

    def _setup(self) -> None:
        super()._setup()
        self._strip = self._do_lower_case if self.strip_accents is None else self.strip_accents
        # WordPiece refuses any word over 100 characters, even one of the vocabulary
        for table in (self._ids_of, self._tokens_of):
            for token in [t for t in table if len(t) > MAX_INPUT_CHARS_PER_WORD]:
                del table[token]

    def __repr__(self) -> str:
        return super().__repr__().replace("RoFormerTokenizer(", "RoFormerTokenizerFast(", 1)

    @property
    def do_lower_case(self) -> bool:
        return self._do_lower_case

    def _chunks(self, text: str) -> tuple[list[tuple[str, int, bool]], list[int] | None, list[int] | None]:
        """Split on the special tokens (raw text), normalise the rest; positions are in the normalised text
        and ``to_start`` / ``to_end`` map them back to the original (``None``: the identity, when every
        character normalises to exactly one character)."""
        if any(c in text for c in self._special_starts):
            parts = self._split_re.split(text)  # odd indices are the special tokens
        else:
            parts = [text]
        strip, lower = self._strip, self._do_lower_case

        def normalize(part: str) -> str | list[str]:
            if _plain().fullmatch(part):
                return part.lower() if lower else part
            return [_normalize_char(ch, strip, lower) for ch in part]

        mapped = [part if i % 2 else normalize(part) for i, part in enumerate(parts)]
        identity = all(i % 2 or isinstance(chars, str) or all(len(m) == 1 for m in chars)
                       for i, chars in enumerate(mapped))
        chunks: list[tuple[str, int, bool]] = []
        to_start: list[int] | None = None if identity else []
        to_end: list[int] | None = None if identity else []
        base = pos = 0  # in the original text / in the normalised text
        for i, (part, chars) in enumerate(zip(parts, mapped)):
            if i % 2:
                chunks.append((part, pos, True))
                pos += len(part)
                if to_start is not None:
                    to_start.extend(range(base, base + len(part)))
                    to_end.extend(range(base + 1, base + len(part) + 1))
            elif part:
                normalized = "".join(chars)
                if normalized:
                    chunks.append((normalized, pos, False))
                pos += len(normalized)
                if to_start is not None:
                    for j, m in enumerate(chars):
                        to_start.extend([base + j] * len(m))
                        to_end.extend([base + j + 1] * len(m))
            base += len(part)
        return chunks, to_start, to_end

    def _analyze(self, word: str) -> list[tuple[str, int, int]]:
        """A jieba word outside the vocabulary, cut at whitespace and around CJK ideographs (no punctuation
        split), then WordPiece on each part."""
        if word in self.vocab:  # only a word over the WordPiece limit gets here
            return [(self.unk_token, 0, len(word))]
        triples: list[tuple[str, int, int]] = []
        begin = -1
        for i, ch in enumerate(word + " "):
            cjk = is_cjk(ord(ch))
            if (cjk or ch.isspace()) and begin >= 0:
                triples.extend(self._pieces(word[begin:i], begin))
                begin = -1
            if cjk:
                triples.extend(self._pieces(ch, i))
            elif begin < 0 and not ch.isspace():
                begin = i
        return triples

    def _pieces(self, part: str, base: int) -> list[tuple[str, int, int]]:
        pieces = wordpiece(part, self.vocab)
        if pieces is None:
            return [(self.unk_token, base, base + len(part))]
        return [(token, base + a, base + b) for token, a, b in pieces]

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
        return _clean_up_tokenization(text) if clean_up_tokenization_spaces else text
