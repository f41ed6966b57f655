"""The stages a WordPiece tokenizer is made of, as in Hugging Face's ``tokenizers`` library.

normaliser -> pre-tokeniser -> word model (WordPiece) -> post-processor. A tokenizer class of this package is a
choice of one function per stage (see :class:`roformer_np.tokenizer_base.WordPieceTokenizer`):

- normalisers (text -> chunks, special tokens split off): ``slow_normalize`` (transformers' slow
  ``PreTrainedTokenizer.tokenize``: lowercase outside the special tokens, then split on them) and
  ``fast_normalize`` (the ``tokenizers`` order: split on the special tokens, then ``BertNormalizer``);
- pre-tokenisers (chunk -> words whose concatenation is the chunk, so offsets follow): jieba's cut
  (RoFormer, :mod:`roformer_np.tokenizer_jieba`) and ``bert_words`` (BERT's basic split at whitespace and
  ideographs; the rest of it is done per word by the word model);
- word models (word -> ``(token, start, end)`` triples): ``WordAnalyzer`` of :mod:`roformer_np.tokenizer_text`
  (slow BERT basic tokenizer + WordPiece) and ``split_wordpiece`` (the fast pre-tokeniser's cuts + WordPiece),
  with ``WordTable`` remembering the results per word;
- post-processor: ``BertPostProcessor`` (``[CLS] A [SEP] B [SEP]``, type ids, special-token mask).
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from . import unicode_hf
from .tokenizer_encoding import SpecialIds
from .tokenizer_text import CJK_RANGES, is_cjk, is_control, wordpiece

__all__ = [
    "SpecialSplitter",
    "slow_normalize",
    "fast_normalize",
    "bert_words",
    "split_wordpiece",
    "WordTable",
    "BertPostProcessor",
]

# (text, start in the normalised text, is a special token); to_start / to_end map normalised positions back
Chunks = tuple[list[tuple[str, int, bool]], "list[int] | None", "list[int] | None"]
Triple = tuple[str, int, int]

CACHE_SIZE = 1 << 17  # words remembered with their WordPiece tokens
CACHE_MAX_WORD = 64  # longer words are rare and not worth keeping


# ---------------------------------------------------------------------------------------------- normalisers
@dataclass(frozen=True)
class SpecialSplitter:
    """The special tokens as the normalisers look for them.

    Lowercasing skips them matched in list order (transformers' regex); splitting prefers the longest match
    (transformers' trie). Both only run when a special token's first character occurs in the text.
    """

    lower_re: re.Pattern
    split_re: re.Pattern
    starts: tuple[str, ...]

    @classmethod
    def of(cls, specials: Sequence[str]) -> SpecialSplitter:
        by_length = sorted(specials, key=len, reverse=True)
        return cls(re.compile("(" + "|".join(re.escape(t) for t in specials) + ")"),
                   re.compile("(" + "|".join(re.escape(t) for t in by_length) + ")"),
                   tuple(sorted({t[0] for t in specials})))

    def occurs_in(self, text: str) -> bool:
        return any(c in text for c in self.starts)


def lower(text: str) -> str:
    # transformers lowercases one character at a time, so a final capital sigma becomes σ, never ς.
    return text.replace("Σ", "σ").lower() if "Σ" in text else text.lower()


def slow_normalize(text: str, specials: SpecialSplitter, lowercase: bool) -> Chunks:
    """Lowercase outside the special tokens (``lowercase``), then split on them.

    ``to_start`` / ``to_end`` are ``None`` when lowercasing kept every length (everything but U+0130 does).
    """
    maybe_special = specials.occurs_in(text)
    lowered = text
    to_start = to_end = None
    if lowercase:
        if maybe_special:
            parts = specials.lower_re.split(text)  # odd indices are the special tokens
            lowered = "".join(p if i % 2 else lower(p) for i, p in enumerate(parts))
        else:
            parts = [text]
            lowered = lower(text)
        if len(lowered) != len(text):
            to_start, to_end = [], []
            pos = 0
            for i, part in enumerate(parts):
                for ch in part:
                    width = 1 if i % 2 else len(lower(ch))
                    to_start.extend([pos] * width)
                    to_end.extend([pos + 1] * width)
                    pos += 1
        maybe_special = specials.occurs_in(lowered)
    if not maybe_special:
        return ([(lowered, 0, False)] if lowered else []), to_start, to_end
    chunks = []
    pos = 0
    for i, part in enumerate(specials.split_re.split(lowered)):
        if part:
            chunks.append((part, pos, bool(i % 2)))
            pos += len(part)
    return chunks, to_start, to_end


_DROP, _SPACE = "", " "


@cache
def _starts(name: str) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    ranges = getattr(unicode_hf, name)
    return tuple(first for first, _ in ranges), ranges


def hf_has(name: str, ch: str) -> bool:
    """Whether ``ch`` is in Hugging Face ``tokenizers``' class ``name`` (``DROP``, ``SPACE``, ``PUNCTUATION``,
    ``MARK`` of :mod:`roformer_np.unicode_hf`): the fast stages decide by those tables, as the Rust library
    does, so code points this Python's ``unicodedata`` does not know (or knows differently) match it."""
    starts, ranges = _starts(name)
    i = bisect.bisect_right(starts, ord(ch)) - 1
    return i >= 0 and ord(ch) <= ranges[i][1]


@cache
def _lower_map() -> dict[str, str]:
    """Hugging Face's per-character lowercasing (Rust's tables), only where it changes the character."""
    out = {chr(cp): chr(cp + delta) for first, last, step, delta in unicode_hf.LOWER_RUNS
           for cp in range(first, last + 1, step)}
    out.update({chr(cp): low for cp, low in unicode_hf.LOWER_MULTI.items()})
    return out


def hf_strip_accents(ch: str) -> str:
    """Hugging Face's accent stripping of one character: its NFD (only where Hugging Face decomposes: the
    ``DECOMPOSE`` table, so a newer or older Python's decompositions do not matter) without the ``MARK`` code
    points."""
    if ord(ch) in unicode_hf.STRIP_EXCEPTIONS:
        return unicode_hf.STRIP_EXCEPTIONS[ord(ch)]
    parts = unicodedata.normalize("NFD", ch) if hf_has("DECOMPOSE", ch) or "\uac00" <= ch <= "\ud7a3" else ch
    return "".join(c for c in parts if not hf_has("MARK", c))

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
    """``_normalize_char(ch, True, False) == ch`` and lowercasing to one character, the same by ``str.lower``,
    without filling that cache with the 21k characters ``_plain`` checks. Accent stripping keeps ``ch``
    exactly when Hugging Face does not decompose it and it is not a mark it would drop."""
    if ch == " ":
        return True
    lowered = _lower_map().get(ch, ch)
    return (not hf_has("DROP", ch) and not hf_has("SPACE", ch) and not hf_has("DECOMPOSE", ch)
            and not "\uac00" <= ch <= "\ud7a3" and not hf_has("MARK", ch) and len(lowered) == 1
            and lowered == ch.lower())


@lru_cache(maxsize=1 << 16)
def _normalize_char(ch: str, strip_accents: bool, lowercase: bool) -> str:
    """What ``BertNormalizer(clean_text=True, handle_chinese_chars=False, ...)`` makes of one character
    (``handle_chinese_chars`` only adds spaces, which the pre-tokeniser's cuts around ideographs replace)."""
    if hf_has("DROP", ch):
        return _DROP
    if hf_has("SPACE", ch):
        return _SPACE
    if strip_accents:
        ch = hf_strip_accents(ch)
    return "".join(_lower_map().get(c, c) for c in ch) if lowercase else ch


def fast_normalize(text: str, specials: SpecialSplitter, strip_accents: bool, lowercase: bool) -> Chunks:
    """Split on the special tokens (raw text), then ``BertNormalizer`` on the rest; ``to_start`` / ``to_end``
    are ``None`` (the identity) when every character normalises to exactly one character."""
    parts = specials.split_re.split(text) if specials.occurs_in(text) else [text]  # odd indices: specials

    def normalize(part: str) -> str | list[str]:
        if _plain().fullmatch(part):
            return part.lower() if lowercase else part
        return [_normalize_char(ch, strip_accents, lowercase) for ch in part]

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


# ------------------------------------------------------------------------------------------- pre-tokenisers
@cache
def bert_words(split_cjk: bool) -> Callable[[str], list[str]]:
    """BERT's pre-tokeniser, first steps: runs of whitespace, CJK ideographs one by one (``split_cjk``, the
    ``tokenize_chinese_chars`` spacing), and runs of other characters, in order (so the words concatenate to
    the text). The word model does the rest (cleaning, accents, punctuation), word by word.

    The characters BERT's cleaning drops (\x0b, \x1c..\x1f, \x85) stay inside words; Python's other
    whitespace (all below U+3001) cuts, as the basic tokenizer's ``str.split`` after cleaning.
    """
    spaces = "".join(re.escape(chr(cp)) for cp in range(0x3001) if chr(cp).isspace() and not is_control(chr(cp)))
    if not split_cjk:
        return re.compile(f"[{spaces}]+|[^{spaces}]+").findall
    cjk = "".join(f"{chr(first)}-{chr(last)}" for first, last in CJK_RANGES)
    return re.compile(f"[{spaces}]+|[{cjk}]|[^{spaces}{cjk}]+").findall


# ---------------------------------------------------------------------------------------------- word models
@lru_cache(maxsize=1 << 16)
def _cut_class(ch: str) -> int:
    """0: part of a word, 1: whitespace (cut, dropped), 2: CJK ideograph, 3: punctuation (cut, kept alone)."""
    if hf_has("SPACE", ch):
        return 1
    if is_cjk(ord(ch)):
        return 2
    return 3 if hf_has("PUNCTUATION", ch) else 0


def split_wordpiece(word: str, vocab: dict, unk_token: str, split_punctuation: bool, split_cjk: bool) -> list[Triple]:
    """The fast tokenizers' cuts of a normalised word -- at whitespace, around CJK ideographs (``split_cjk``,
    ``BertNormalizer``'s ``handle_chinese_chars``) and punctuation (``split_punctuation``, ``BertPreTokenizer``)
    -- then WordPiece on each part (over 100 characters: the unknown token)."""
    triples: list[Triple] = []
    begin = -1
    for i, ch in enumerate(word):
        kind = _cut_class(ch)
        alone = (kind == 2 and split_cjk) or (kind == 3 and split_punctuation)
        if (alone or kind == 1) and begin >= 0:
            triples.extend(_wordpiece_or_unk(word[begin:i], begin, vocab, unk_token))
            begin = -1
        if alone:
            triples.extend(_wordpiece_or_unk(ch, i, vocab, unk_token))
        elif begin < 0 and kind != 1:
            begin = i
    if begin >= 0:
        triples.extend(_wordpiece_or_unk(word[begin:], begin, vocab, unk_token))
    return triples


def _wordpiece_or_unk(part: str, base: int, vocab: dict, unk_token: str) -> list[Triple]:
    pieces = wordpiece(part, vocab)
    if pieces is None:
        return [(unk_token, base, base + len(part))]
    return [(token, base + a, base + b) for token, a, b in pieces]


class WordTable(dict):
    """Word -> tuple of ids (or of tokens, or ``(tokens, ids, spans)``), so a chunk's words can be looked up
    with ``map`` in C.

    Preloaded words (RoFormer: the vocabulary, each jieba word of it being one token) stay; any other word is
    worked out on first sight (``__missing__``) and remembered, up to ``CACHE_SIZE`` such words (the older
    half is forgotten when full).
    """

    def __init__(self, preload: Iterable, compute: Callable[[str], tuple]) -> None:
        super().__init__(preload)
        self._preloaded = len(self)
        self._compute = compute

    def __missing__(self, word: str) -> tuple:
        value = self._compute(word)
        if len(word) <= CACHE_MAX_WORD:
            if len(self) - self._preloaded >= CACHE_SIZE:
                # learned words follow the preloaded ones in insertion order
                start = self._preloaded
                for key in list(itertools.islice(self, start, start + CACHE_SIZE // 2)):
                    del self[key]
            self[word] = value
        return value

    def forget(self) -> None:
        """Drop every learned word, keep the preloaded ones."""
        for key in list(itertools.islice(self, self._preloaded, None)):
            del self[key]

    def __reduce__(self):  # never pickled with a tokenizer; plain dict if pickled on its own
        return (dict, (dict(self),))


# ------------------------------------------------------------------------------------------- post-processor
@dataclass(frozen=True)
class BertPostProcessor:
    """BERT's template: ``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``, type ids 0 then 1."""

    ids: SpecialIds

    def build(self, a: list[int], b: list[int] | None = None) -> list[int]:
        cls, sep = [self.ids.cls], [self.ids.sep]
        return cls + list(a) + sep if b is None else cls + list(a) + sep + list(b) + sep

    def type_ids(self, a: list[int], b: list[int] | None = None) -> list[int]:
        first = [0] * (len(a) + 2)
        return first if b is None else first + [1] * (len(b) + 1)

    def special_mask(self, a: list[int], b: list[int] | None = None) -> list[int]:
        first = [1] + [0] * len(a) + [1]
        return first if b is None else first + [0] * len(b) + [1]

    @staticmethod
    def added(pair: bool) -> int:
        return 3 if pair else 2
