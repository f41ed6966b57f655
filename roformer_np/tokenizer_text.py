"""BERT's basic tokenizer and WordPiece on one word: the word model of the slow tokenizers (a jieba word for
RoFormerTokenizer, a word of BERT's whitespace / ideograph split for BertTokenizer).

Each step reproduces the *strings* of transformers 4.56.2 exactly (``BasicTokenizer`` then
``WordpieceTokenizer``) and carries, for every output character, the span of input characters it came
from, so the caller can report offsets into the original text. Alignment is best effort only where
Unicode normalisation reorders or merges characters; the strings themselves never depend on it.

A "piece" below is ``(text, starts, ends)``: ``starts[i]:ends[i]`` is the input span of ``text[i]``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["WordAnalyzer", "is_control", "is_punctuation", "is_whitespace", "is_cjk"]

MAX_INPUT_CHARS_PER_WORD = 100

Piece = tuple[str, list[int], list[int]]

# Character classes used by the cleaning step.
_KEEP, _DROP, _SPACE, _CJK = 0, 1, 2, 3


def is_whitespace(ch: str) -> bool:
    """BERT's whitespace: space, tab, newline, carriage return, or any Zs character."""
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch: str) -> bool:
    """BERT's control characters: every category C* character except tab, newline and carriage return."""
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch: str) -> bool:
    """BERT's punctuation: all non-alphanumeric printable ASCII plus every Unicode P* character."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


# The CJK ideograph blocks BERT surrounds with spaces (Hangul and kana are not among them).
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
              (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def is_cjk(cp: int) -> bool:
    """Whether code point ``cp`` is in one of BERT's CJK ideograph blocks (``CJK_RANGES``)."""
    return any(first <= cp <= last for first, last in CJK_RANGES)


@lru_cache(maxsize=1 << 16)
def _char_class(ch: str) -> int:
    cp = ord(ch)
    # The order matters: \x0b, \x1c..\x1f and \x85 are whitespace to Python but control to BERT (dropped).
    if cp == 0 or cp == 0xFFFD or is_control(ch):
        return _DROP
    if is_whitespace(ch):
        return _SPACE
    if is_cjk(cp):
        return _CJK
    return _KEEP


@lru_cache(maxsize=1 << 16)
def _is_punct_cached(ch: str) -> bool:
    return is_punctuation(ch)


@lru_cache(maxsize=1 << 14)
def _nfd_char(ch: str) -> str:
    return unicodedata.normalize("NFD", ch)


def _assigned_ranges(first: int, last: int) -> str:
    """A regex character class body for the assigned (category Lo) code points of a block."""
    out = []
    start = None
    for cp in range(first, last + 2):
        assigned = cp <= last and unicodedata.category(chr(cp)) == "Lo"
        if assigned and start is None:
            start = cp
        elif not assigned and start is not None:
            out.append(f"{chr(start)}-{chr(cp - 1)}")
            start = None
    return "".join(out)


# Words made only of (assigned) CJK unified ideographs: BERT turns each character into its own token, and
# no other step (cleaning, NFC, case, accents, punctuation) changes them. Unassigned code points in these
# blocks are category Cn, which BERT drops, so they are left out.
_CJK_WORD = re.compile(f"[{_assigned_ranges(0x3400, 0x4DBF)}{_assigned_ranges(0x4E00, 0x9FFF)}]+")
# Printable ASCII separated by ASCII whitespace: nothing to clean or normalise, only case and punctuation.
_ASCII_WORD = re.compile(r"[\t\n\r\x20-\x7e]+")
_ASCII_CHUNK = re.compile(r"[!-~]+")
_ASCII_PIECE = re.compile(r"[A-Za-z0-9]+|[!-/:-@\[-`{-~]")

_SECOND_OF_PAIR: frozenset | None = None


def _second_of_pair() -> frozenset:
    """Characters that canonical composition can merge into the character before them.

    Built once, on the first non-NFC word (about 20 ms): the second character of every two-character
    canonical decomposition, plus Hangul medial vowels and final consonants.
    """
    global _SECOND_OF_PAIR
    if _SECOND_OF_PAIR is None:
        seconds = set()
        for cp in range(0x30000):
            decomposition = unicodedata.decomposition(chr(cp))
            if decomposition and not decomposition.startswith("<"):
                parts = decomposition.split()
                if len(parts) == 2:
                    seconds.add(chr(int(parts[1], 16)))
        seconds.update(chr(cp) for cp in range(0x1161, 0x1176))
        seconds.update(chr(cp) for cp in range(0x11A8, 0x11C3))
        _SECOND_OF_PAIR = frozenset(seconds)
    return _SECOND_OF_PAIR


def _coarse(text: str, starts: list[int], ends: list[int]) -> Piece:
    """Every output character maps to the whole input span (used when alignment cannot be tracked)."""
    if not starts:
        return text, [0] * len(text), [0] * len(text)
    lo, hi = min(starts), max(ends)
    return text, [lo] * len(text), [hi] * len(text)


def _nfc(text: str, starts: list[int], ends: list[int]) -> Piece:
    """NFC with alignment: cut the text before stable starters, normalise each segment on its own."""
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text, starts, ends
    target = unicodedata.normalize("NFC", text)
    seconds = _second_of_pair()
    out: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []

    def flush(a: int, b: int) -> None:
        segment = text[a:b]
        normalised = unicodedata.normalize("NFC", segment)
        if normalised == segment:
            out.append(segment)
            out_starts.extend(starts[a:b])
            out_ends.extend(ends[a:b])
        else:  # a base merged with its marks: each output char covers the whole segment
            lo, hi = min(starts[a:b]), max(ends[a:b])
            out.append(normalised)
            out_starts.extend([lo] * len(normalised))
            out_ends.extend([hi] * len(normalised))

    seg_start = 0
    for i in range(1, len(text)):
        ch = text[i]
        first = _nfd_char(ch)[0]
        if (
            unicodedata.combining(ch) == 0
            and ch not in seconds
            and unicodedata.combining(first) == 0
            and first not in seconds
        ):
            flush(seg_start, i)
            seg_start = i
    flush(seg_start, len(text))
    if "".join(out) != target:
        return _coarse(target, starts, ends)
    return target, out_starts, out_ends


def _lower(text: str, starts: list[int], ends: list[int]) -> Piece:
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered, starts, ends
    out_starts: list[int] = []
    out_ends: list[int] = []
    pieces = []
    for ch, s, e in zip(text, starts, ends):
        low = ch.lower()
        pieces.append(low)
        out_starts.extend([s] * len(low))
        out_ends.extend([e] * len(low))
    if "".join(pieces) != lowered:
        return _coarse(lowered, starts, ends)
    return lowered, out_starts, out_ends


def _strip_accents(text: str, starts: list[int], ends: list[int]) -> Piece:
    """NFD, then drop the Mn (non-spacing mark) characters, as BERT's ``_run_strip_accents``."""
    if text.isascii():
        return text, starts, ends
    nfd = unicodedata.normalize("NFD", text)
    if nfd == text:
        chars, src_starts, src_ends = text, starts, ends
    else:
        expanded_starts: list[int] = []
        expanded_ends: list[int] = []
        parts = []
        for ch, s, e in zip(text, starts, ends):
            d = _nfd_char(ch)
            parts.append(d)
            expanded_starts.extend([s] * len(d))
            expanded_ends.extend([e] * len(d))
        if "".join(parts) == nfd:
            chars, src_starts, src_ends = nfd, expanded_starts, expanded_ends
        else:  # canonical reordering moved marks across characters
            chars, src_starts, src_ends = _coarse(nfd, starts, ends)
    out = []
    out_starts = []
    out_ends = []
    for ch, s, e in zip(chars, src_starts, src_ends):
        if unicodedata.category(ch) != "Mn":
            out.append(ch)
            out_starts.append(s)
            out_ends.append(e)
    return "".join(out), out_starts, out_ends


def _split_whitespace(text: str, starts: list[int], ends: list[int]) -> list[Piece]:
    """``str.split()`` with alignment (Python's notion of whitespace, as BERT's ``whitespace_tokenize``)."""
    pieces = []
    begin = -1
    for i, ch in enumerate(text):
        if ch.isspace():
            if begin >= 0:
                pieces.append((text[begin:i], starts[begin:i], ends[begin:i]))
                begin = -1
        elif begin < 0:
            begin = i
    if begin >= 0:
        pieces.append((text[begin:], starts[begin:], ends[begin:]))
    return pieces


def _split_punctuation(text: str, starts: list[int], ends: list[int]) -> list[Piece]:
    pieces = []
    begin = 0
    for i, ch in enumerate(text):
        if _is_punct_cached(ch):
            if begin < i:
                pieces.append((text[begin:i], starts[begin:i], ends[begin:i]))
            pieces.append((ch, starts[i : i + 1], ends[i : i + 1]))
            begin = i + 1
    if begin < len(text):
        pieces.append((text[begin:], starts[begin:], ends[begin:]))
    return pieces


def wordpiece(
    text: str, vocab: dict, max_chars: int = MAX_INPUT_CHARS_PER_WORD
) -> list[tuple[str, int, int]] | None:
    """Greedy longest-match-first WordPiece; ``None`` when the word must become the unknown token."""
    n = len(text)
    if n > max_chars:
        return None
    if text in vocab:  # the common case, checked once instead of through the loop
        return [(text, 0, n)]
    out = []
    start = 0
    while start < n:
        end = n
        found = None
        while start < end:
            candidate = text[start:end] if start == 0 else "##" + text[start:end]
            if candidate in vocab:
                found = candidate
                break
            end -= 1
        if found is None:
            return None
        out.append((found, start, end))
        start = end
    return out


class WordAnalyzer:
    """Turns one word (for RoFormer: a jieba word not in the vocabulary) into WordPiece tokens with spans.

    Mirrors ``RoFormerTokenizer._tokenize(word, use_jieba=False)`` = ``BertTokenizer._tokenize(word)`` of
    transformers 4.56.2: BERT's basic tokenizer (when ``do_basic_tokenize``) then WordPiece on each basic token.
    """

    def __init__(
        self,
        vocab: dict,
        unk_token: str,
        do_lower_case: bool,
        do_basic_tokenize: bool,
        tokenize_chinese_chars: bool,
        strip_accents: bool | None,
        never_split_basic: frozenset,
        never_split_user: frozenset,
    ) -> None:
        self.vocab = vocab
        self.unk_token = unk_token
        self.do_lower_case = do_lower_case
        self.do_basic_tokenize = do_basic_tokenize
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents
        self.never_split_basic = never_split_basic
        self.never_split_user = never_split_user

    def analyze(self, word: str) -> list[tuple[str, int, int]]:
        """Tokens of ``word`` with their ``[start, end)`` character spans inside ``word``."""
        if not self.do_basic_tokenize:
            basic = _split_whitespace(word, list(range(len(word))), list(range(1, len(word) + 1)))
            return self._wordpieces(basic, frozenset())
        if self.tokenize_chinese_chars and _CJK_WORD.fullmatch(word):
            vocab, unk, keep = self.vocab, self.unk_token, self.never_split_user
            return [(ch if ch in vocab or ch in keep else unk, i, i + 1) for i, ch in enumerate(word)]
        if _ASCII_WORD.fullmatch(word):
            return self._wordpieces_plain(self._basic_ascii(word), self.never_split_user)
        return self._wordpieces(self._basic(word), self.never_split_user)

    def _basic_ascii(self, word: str) -> list[tuple[str, int]]:
        """``_basic`` for printable ASCII and ASCII whitespace: ``(token, start)`` pairs."""
        out = []
        never = self.never_split_basic
        for chunk_match in _ASCII_CHUNK.finditer(word):
            chunk = chunk_match.group()
            base = chunk_match.start()
            if chunk not in never:
                if self.do_lower_case:
                    chunk = chunk.lower()
                if chunk not in never:
                    out.extend((m.group(), base + m.start()) for m in _ASCII_PIECE.finditer(chunk))
                    continue
            out.append((chunk, base))
        return out

    def _wordpieces_plain(
        self, basic: list[tuple[str, int]], keep_whole: frozenset
    ) -> list[tuple[str, int, int]]:
        out = []
        for token, base in basic:
            if token in keep_whole:
                out.append((token, base, base + len(token)))
                continue
            pieces = wordpiece(token, self.vocab)
            if pieces is None:
                out.append((self.unk_token, base, base + len(token)))
            else:
                out.extend((piece, base + a, base + b) for piece, a, b in pieces)
        return out

    def _basic(self, word: str) -> list[Piece]:
        chars: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        split_cjk = self.tokenize_chinese_chars
        for i, ch in enumerate(word):
            cls = _char_class(ch)
            if cls == _DROP:
                continue
            if cls == _CJK and split_cjk:
                # the padding spaces only separate tokens; their spans are never reported
                chars.extend((" ", ch, " "))
                starts.extend((i, i, i + 1))
                ends.extend((i, i + 1, i + 1))
                continue
            chars.append(" " if cls == _SPACE else ch)
            starts.append(i)
            ends.append(i + 1)
        text, starts, ends = _nfc("".join(chars), starts, ends)

        out: list[Piece] = []
        for token, t_starts, t_ends in _split_whitespace(text, starts, ends):
            if token in self.never_split_basic:
                out.append((token, t_starts, t_ends))
                continue
            if self.do_lower_case:
                token, t_starts, t_ends = _lower(token, t_starts, t_ends)
                if self.strip_accents is not False:
                    token, t_starts, t_ends = _strip_accents(token, t_starts, t_ends)
            elif self.strip_accents:
                token, t_starts, t_ends = _strip_accents(token, t_starts, t_ends)
            if token in self.never_split_basic:  # BERT checks again after case folding
                out.append((token, t_starts, t_ends))
            else:
                out.extend(_split_punctuation(token, t_starts, t_ends))
        # BERT re-joins with spaces and splits again; this also drops tokens emptied by accent stripping.
        result: list[Piece] = []
        for piece in out:
            if piece[0] and not any(c.isspace() for c in piece[0]):
                result.append(piece)
            else:
                result.extend(_split_whitespace(*piece))
        return result

    def _wordpieces(self, basic: list[Piece], keep_whole: frozenset) -> list[tuple[str, int, int]]:
        out = []
        for token, starts, ends in basic:
            if token in keep_whole:
                out.append((token, min(starts), max(ends)))
                continue
            pieces = wordpiece(token, self.vocab)
            if pieces is None:
                out.append((self.unk_token, min(starts), max(ends)))
                continue
            for piece, a, b in pieces:
                out.append((piece, min(starts[a:b]), max(ends[a:b])))
        return out
