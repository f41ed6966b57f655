"""RoFormerTokenizer: jieba words, then BERT's basic tokenizer and WordPiece for words not in the vocabulary.

Token for token and id for id the same as Hugging Face transformers 4.56.2's slow ``RoFormerTokenizer``,
plus what users take from ``RoFormerTokenizerFast``: offsets into the original text, overflow windows with
``overflow_to_sample_mapping``, NumPy outputs. Unlike Hugging Face's fast tokenizer it pickles, and
``save_pretrained`` / ``from_pretrained`` round-trip exactly.

The pipeline for one text (as ``PreTrainedTokenizer.tokenize`` + ``RoFormerTokenizer._tokenize``):

1. lowercase with ``str.lower`` character by character, except inside special tokens (``do_lower_case``);
2. split on the special tokens, which stay single tokens;
3. cut each other chunk with ``rjieba.cut(chunk, False)``;
4. a jieba word found in the vocabulary is one token; any other word goes through BERT's basic tokenizer
   and WordPiece on its own (``roformer_np.tokenizer_text``), so ``##`` never crosses a jieba word.

Results of step 4 are cached per word, which is where most of the speed over Hugging Face comes from.
"""

from __future__ import annotations

import inspect
import itertools
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from . import tokenizer_jieba
from .hub import CheckpointFiles, pop_hub_kwargs, resolve_checkpoint
from .jsonio import read_json
from .tokenizer_encoding import (
    LARGE_INTEGER,
    PADDING_STRATEGIES,
    TRUNCATION_STRATEGIES,
    VERY_LARGE_INTEGER,
    BatchEncoding,
    EncodeOptions,
    Row,
    SpecialIds,
    build_rows,
    pad_rows,
    pad_target,
    to_output,
)
from .tokenizer_text import WordAnalyzer

__all__ = ["RoFormerTokenizer", "BatchEncoding", "load_vocab"]

logger = logging.getLogger(__name__)

VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
# what from_pretrained reads of a Hub repository (tokenizer.json is never read: the rules are coded here)
TOKENIZER_FILES = CheckpointFiles(((VOCAB_FILE,),), (TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE, ADDED_TOKENS_FILE))

# The order of Hugging Face's SPECIAL_TOKENS_ATTRIBUTES (RoFormer has no bos/eos): it decides the order of
# all_special_tokens, which is also the order in which the lowercasing step tries to match them.
_SPECIAL_ATTRIBUTES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# tokenizer_config.json keys that only Hugging Face's loading machinery reads.
_METADATA_KEYS = frozenset(
    {
        "name_or_path",
        "special_tokens_map_file",
        "tokenizer_file",
        "tokenizer_class",
        "added_tokens_decoder",
        "extra_special_tokens",
        "model_input_names",
        "auto_map",
        "processor_class",
        "vocab_file",
        "use_fast",
        "chat_template",
        "split_special_tokens",
        "bos_token",
        "eos_token",
        "verbose",
    }
)
_CACHE_SIZE = 1 << 17  # jieba words remembered with their WordPiece tokens
_CACHE_MAX_WORD = 64  # longer words are rare and not worth keeping

TextInput = Union[str, Sequence[str], Sequence[Sequence[str]]]


def load_vocab(vocab_file: str | os.PathLike) -> list[str]:
    """The vocabulary's lines; the id of a token is its line index.

    As Hugging Face: the file is read as UTF-8 text with universal newlines and only the trailing ``\\n`` of
    each line is removed (other whitespace is part of the token).
    """
    path = Path(vocab_file)
    if not path.is_file():
        raise ValueError(f"vocab_file: no vocabulary file at {str(vocab_file)!r}")
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.rstrip("\n") for line in handle.readlines()]
    except UnicodeDecodeError as err:
        raise ValueError(f"vocab_file: {str(vocab_file)!r} is not UTF-8 text ({err})") from None
    if not lines:
        raise ValueError(f"vocab_file: {str(vocab_file)!r} is empty")
    return lines


def _clean_up_tokenization(text: str) -> str:
    """Hugging Face's ``clean_up_tokenization``: remove the space before some English punctuation."""
    return (
        text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
    )


def _lower(text: str) -> str:
    # Hugging Face lowercases one character at a time, so a final capital sigma becomes σ, never ς.
    return text.replace("Σ", "σ").lower() if "Σ" in text else text.lower()


def _check_bool(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, (bool, np.bool_)):
        allowed = "a bool or None" if allow_none else "a bool"
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__}")


def _check_int(name: str, value: Any, minimum: int, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be an int{' or None' if allow_none else ''}, got {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _token_content(name: str, value: Any) -> str:
    """A special token given as a string or as a serialised AddedToken dict."""
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


class _WordTable(dict):
    """Jieba word -> tuple of ids (or of tokens), so a chunk's words can be looked up with ``map`` in C.

    Vocabulary words are preloaded; any other word is worked out on first sight (``__missing__``) and
    remembered, up to ``_CACHE_SIZE`` such words (the older half is forgotten when full).
    """

    def __init__(self, preload: Iterable, compute: Callable[[str], tuple]) -> None:
        super().__init__(preload)
        self._preloaded = len(self)
        self._compute = compute

    def __missing__(self, word: str) -> tuple:
        value = self._compute(word)
        if len(word) <= _CACHE_MAX_WORD:
            if len(self) - self._preloaded >= _CACHE_SIZE:
                # learned words follow the preloaded ones in insertion order
                start = self._preloaded
                for key in list(itertools.islice(self, start, start + _CACHE_SIZE // 2)):
                    del self[key]
            self[word] = value
        return value

    def forget(self) -> None:
        """Drop every learned word, keep the preloaded ones."""
        for key in list(itertools.islice(self, self._preloaded, None)):
            del self[key]

    def __reduce__(self):  # never pickled with a tokenizer; plain dict if pickled on its own
        return (dict, (dict(self),))


class RoFormerTokenizer:
    """The RoFormer tokenizer of Hugging Face transformers 4.56.2 (slow flavour, same ids), in pure Python.

    Args:
        vocab_file: path of ``vocab.txt`` (one token per line; the id is the line index).
        do_lower_case: lowercase the text (special tokens excepted) before segmentation.
        do_basic_tokenize: run BERT's basic tokenizer on words outside the vocabulary. When False, Hugging
            Face also skips lowercasing (its ``do_lower_case`` property breaks), and so does this class.
        never_split: tokens the basic tokenizer keeps whole.
        unk_token, sep_token, pad_token, cls_token, mask_token: the special tokens; each must be in the
            vocabulary.
        tokenize_chinese_chars: put spaces around CJK ideographs in words outside the vocabulary.
        strip_accents: strip accents; ``None`` follows ``do_lower_case``.
        model_max_length: the default ``max_length`` for truncation and ``padding="max_length"``.
        additional_special_tokens: more tokens (in the vocabulary) that are never split.
        clean_up_tokenization_spaces: the default of ``decode``'s argument of that name.
        padding_side, truncation_side: ``"right"`` or ``"left"``.
    """

    vocab_files_names = {"vocab_file": VOCAB_FILE}
    _fast_layout = False  # RoFormerTokenizerFast: type ids and lengths as Hugging Face's fast tokenizer
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str | os.PathLike,
        do_lower_case: bool = True,
        do_basic_tokenize: bool = True,
        never_split: Iterable[str] | None = None,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        tokenize_chinese_chars: bool = True,
        strip_accents: bool | None = None,
        model_max_length: int = VERY_LARGE_INTEGER,
        additional_special_tokens: Iterable[str] | None = None,
        clean_up_tokenization_spaces: bool = False,
        padding_side: str = "right",
        truncation_side: str = "right",
    ) -> None:
        if vocab_file is None or not isinstance(vocab_file, (str, os.PathLike)):
            raise TypeError(
                f"vocab_file must be a path (str or os.PathLike), got {type(vocab_file).__name__}"
            )
        for name, value in (
            ("do_lower_case", do_lower_case),
            ("do_basic_tokenize", do_basic_tokenize),
            ("tokenize_chinese_chars", tokenize_chinese_chars),
            ("clean_up_tokenization_spaces", clean_up_tokenization_spaces),
        ):
            _check_bool(name, value)
        _check_bool("strip_accents", strip_accents, allow_none=True)
        _check_int("model_max_length", model_max_length, 1, allow_none=False)
        for name, value in (("padding_side", padding_side), ("truncation_side", truncation_side)):
            if value not in ("right", "left"):
                raise ValueError(f"{name} must be 'right' or 'left', got {value!r}")
        if never_split is not None and (
            isinstance(never_split, str) or not isinstance(never_split, Iterable)
        ):
            raise TypeError("never_split must be an iterable of str (not a single str) or None")
        never_split = None if never_split is None else list(never_split)
        if never_split is not None and not all(isinstance(t, str) for t in never_split):
            raise TypeError("never_split must contain only str")
        if additional_special_tokens is not None and isinstance(additional_special_tokens, str):
            raise TypeError("additional_special_tokens must be a list of str, not a str")

        self._lines = load_vocab(vocab_file)
        self.do_basic_tokenize = bool(do_basic_tokenize)
        self._do_lower_case = bool(do_lower_case)
        self.never_split = never_split
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.strip_accents = None if strip_accents is None else bool(strip_accents)
        self.model_max_length = int(model_max_length)
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.unk_token = _token_content("unk_token", unk_token)
        self.sep_token = _token_content("sep_token", sep_token)
        self.pad_token = _token_content("pad_token", pad_token)
        self.cls_token = _token_content("cls_token", cls_token)
        self.mask_token = _token_content("mask_token", mask_token)
        self.additional_special_tokens = [
            _token_content(f"additional_special_tokens[{i}]", t)
            for i, t in enumerate(additional_special_tokens or [])
        ]
        self._setup()

    # ------------------------------------------------------------------ state
    def _setup(self) -> None:
        """Build everything derived from the configuration (also after unpickling)."""
        self.vocab: dict[str, int] = {}
        for index, token in enumerate(self._lines):
            self.vocab[token] = index  # a repeated token keeps its last line, as Hugging Face
        self.ids_to_tokens: dict[int, str] = {i: t for t, i in self.vocab.items()}
        for name in _SPECIAL_ATTRIBUTES:
            token = getattr(self, name)
            if token not in self.vocab:
                raise ValueError(
                    f"{name} {token!r} is not in the vocabulary file; add it or pass another {name}"
                )
        for i, token in enumerate(self.additional_special_tokens):
            if token not in self.vocab:
                raise ValueError(f"additional_special_tokens[{i}] {token!r} is not in the vocabulary file")
        specials: list[str] = []
        for token in [getattr(self, name) for name in _SPECIAL_ATTRIBUTES] + self.additional_special_tokens:
            if token not in specials:
                specials.append(token)
        self._specials = specials
        self._special_set = frozenset(specials)
        self._special_ids = frozenset(self.vocab[t] for t in specials)
        self._unk_id = self.vocab[self.unk_token]
        self._ids = SpecialIds(
            self.vocab[self.cls_token], self.vocab[self.sep_token], self.vocab[self.pad_token]
        )
        # Lowercasing skips specials matched in list order; splitting then prefers the longest match
        # (Hugging Face's trie). Both only run when a special token's first character occurs in the text.
        self._lower_re = re.compile("(" + "|".join(re.escape(t) for t in specials) + ")")
        by_length = sorted(specials, key=len, reverse=True)
        self._split_re = re.compile("(" + "|".join(re.escape(t) for t in by_length) + ")")
        self._special_starts = tuple(sorted({t[0] for t in specials}))
        never_user = frozenset(self.never_split or ())
        self._analyzer = WordAnalyzer(
            self.vocab,
            self.unk_token,
            do_lower_case=self._do_lower_case,
            do_basic_tokenize=self.do_basic_tokenize,
            tokenize_chinese_chars=self.tokenize_chinese_chars,
            strip_accents=self.strip_accents,
            never_split_basic=never_user | self._special_set,
            never_split_user=never_user,
        )
        self._cache: dict[str, tuple] = {}
        self._ids_of = _WordTable(((t, (i,)) for t, i in self.vocab.items()), self._word_ids)
        self._tokens_of = _WordTable(((t, (t,)) for t in self.vocab), self._word_tokens)
        self._warned: set[str] = set()

    _STATE_KEYS = (
        "_lines",
        "do_basic_tokenize",
        "_do_lower_case",
        "never_split",
        "tokenize_chinese_chars",
        "strip_accents",
        "model_max_length",
        "clean_up_tokenization_spaces",
        "padding_side",
        "truncation_side",
        "unk_token",
        "sep_token",
        "pad_token",
        "cls_token",
        "mask_token",
        "additional_special_tokens",
    )

    def __getstate__(self) -> dict:
        # Only the configuration and the vocabulary lines; caches, regexes and the segmenter are rebuilt.
        return {key: getattr(self, key) for key in self._STATE_KEYS}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._setup()

    def __repr__(self) -> str:
        return (
            f"RoFormerTokenizer(vocab_size={self.vocab_size}, do_lower_case={self._do_lower_case}, "
            f"do_basic_tokenize={self.do_basic_tokenize}, "
            f"tokenize_chinese_chars={self.tokenize_chinese_chars}, "
            f"strip_accents={self.strip_accents}, model_max_length={self.model_max_length}, "
            f"segmenter={tokenizer_jieba.backend_name()!r})"
        )

    # ------------------------------------------------------------------ properties
    @property
    def do_lower_case(self) -> bool:
        """Whether text is lowercased (False whenever ``do_basic_tokenize`` is False, as in Hugging Face)."""
        return self._do_lower_case and self.do_basic_tokenize

    @property
    def vocab_size(self) -> int:
        """Number of distinct tokens in the vocabulary."""
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    @property
    def all_special_tokens(self) -> list[str]:
        return list(self._specials)

    @property
    def all_special_ids(self) -> list[int]:
        return [self.vocab[t] for t in self._specials]

    @property
    def special_tokens_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in _SPECIAL_ATTRIBUTES}
        if self.additional_special_tokens:
            out["additional_special_tokens"] = list(self.additional_special_tokens)
        return out

    unk_token_id = property(lambda self: self.vocab[self.unk_token])
    sep_token_id = property(lambda self: self.vocab[self.sep_token])
    pad_token_id = property(lambda self: self.vocab[self.pad_token])
    cls_token_id = property(lambda self: self.vocab[self.cls_token])
    mask_token_id = property(lambda self: self.vocab[self.mask_token])
    pad_token_type_id = 0

    # ------------------------------------------------------------------ segmentation
    def _chunks(self, text: str) -> tuple[list[tuple[str, int, bool]], list[int] | None, list[int] | None]:
        """Lowercase and split on special tokens.

        Returns ``(chunks, to_start, to_end)``: chunks are ``(text, start, is_special)`` in the lowercased
        text; ``to_start[i]``/``to_end[i]`` map its character ``i`` back to the original text, or are
        ``None`` when lowercasing kept every length (everything but U+0130 does).
        """
        maybe_special = any(c in text for c in self._special_starts)
        lowered = text
        to_start = to_end = None
        if self.do_lower_case:
            if maybe_special:
                parts = self._lower_re.split(text)  # odd indices are the special tokens
                lowered = "".join(p if i % 2 else _lower(p) for i, p in enumerate(parts))
            else:
                parts = [text]
                lowered = _lower(text)
            if len(lowered) != len(text):
                to_start, to_end = [], []
                pos = 0
                for i, part in enumerate(parts):
                    for ch in part:
                        width = 1 if i % 2 else len(_lower(ch))
                        to_start.extend([pos] * width)
                        to_end.extend([pos + 1] * width)
                        pos += 1
            maybe_special = any(c in lowered for c in self._special_starts)
        if not maybe_special:
            return ([(lowered, 0, False)] if lowered else []), to_start, to_end
        chunks = []
        pos = 0
        for i, part in enumerate(self._split_re.split(lowered)):
            if part:
                chunks.append((part, pos, bool(i % 2)))
                pos += len(part)
        return chunks, to_start, to_end

    def clear_cache(self) -> None:
        """Forget the words learned so far (results never depend on the cache; this only frees memory)."""
        self._cache.clear()
        self._ids_of.forget()
        self._tokens_of.forget()

    def _word_entry(self, word: str) -> tuple:
        """``(tokens, ids, spans)`` of a jieba word that is not in the vocabulary (cached)."""
        entry = self._cache.get(word)
        if entry is not None:
            return entry
        triples = self._analyze(word)
        vocab, unk = self.vocab, self._unk_id
        tokens = tuple(t for t, _, _ in triples)
        entry = (tokens, tuple(vocab.get(t, unk) for t in tokens), tuple((s, e) for _, s, e in triples))
        if len(word) <= _CACHE_MAX_WORD:
            cache = self._cache
            if len(cache) >= _CACHE_SIZE:  # forget the older half (dicts keep insertion order)
                for key in list(cache)[: _CACHE_SIZE // 2]:
                    del cache[key]
            cache[word] = entry
        return entry

    def _analyze(self, word: str) -> list[tuple[str, int, int]]:
        """``(token, start, end)`` for each token of a jieba word outside the vocabulary."""
        return self._analyzer.analyze(word)

    def _word_ids(self, word: str) -> tuple:
        return self._word_entry(word)[1]

    def _word_tokens(self, word: str) -> tuple:
        return self._word_entry(word)[0]

    def _encode_ids(self, text: str) -> list[int]:
        ids: list[int] = []
        lookup = self._ids_of.__getitem__
        chain = itertools.chain.from_iterable
        cut = tokenizer_jieba.get_cut()
        for chunk, _, is_special in self._chunks(text)[0]:
            if is_special:
                ids.append(self.vocab[chunk])
            else:
                ids.extend(chain(map(lookup, cut(chunk))))
        return ids

    def _encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]], list[str]]:
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        tokens: list[str] = []
        get = self.vocab.get
        cut = tokenizer_jieba.get_cut()
        chunks, to_start, to_end = self._chunks(text)
        for chunk, pos, is_special in chunks:
            if is_special:
                ids.append(self.vocab[chunk])
                tokens.append(chunk)
                offsets.append((pos, pos + len(chunk)))
                continue
            for word in cut(chunk):
                n = len(word)
                i = get(word)
                if i is not None:
                    ids.append(i)
                    tokens.append(word)
                    offsets.append((pos, pos + n))
                else:
                    entry = self._word_entry(word)
                    tokens.extend(entry[0])
                    ids.extend(entry[1])
                    offsets.extend([(pos + s, pos + e) for s, e in entry[2]])
                pos += n
        if to_start is not None:
            offsets = [
                (to_start[s], to_end[e - 1]) if e > s else (to_start[s], to_start[s]) for s, e in offsets
            ]
        return ids, offsets, tokens

    # ------------------------------------------------------------------ tokens and ids
    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text`` (no special tokens added), as Hugging Face's ``tokenize``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        tokens: list[str] = []
        lookup = self._tokens_of.__getitem__
        chain = itertools.chain.from_iterable
        cut = tokenizer_jieba.get_cut()
        for chunk, _, is_special in self._chunks(text)[0]:
            if is_special:
                tokens.append(chunk)
            else:
                tokens.extend(chain(map(lookup, cut(chunk))))
        return tokens

    def tokenize_with_offsets(self, text: str) -> tuple[list[str], list[tuple[int, int]]]:
        """Tokens of ``text`` with their ``(start, end)`` character spans in ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        _, offsets, tokens = self._encode_with_offsets(text)
        return tokens, offsets

    def convert_tokens_to_ids(self, tokens: str | Iterable[str]) -> int | list[int]:
        if isinstance(tokens, str):
            return self.vocab.get(tokens, self._unk_id)
        if tokens is None:
            raise TypeError("tokens must be a str or a list of str, got None")
        out = []
        for i, token in enumerate(tokens):
            if not isinstance(token, str):
                raise TypeError(f"tokens[{i}] must be a str, got {type(token).__name__}")
            out.append(self.vocab.get(token, self._unk_id))
        return out

    def convert_ids_to_tokens(
        self, ids: int | Iterable[int], skip_special_tokens: bool = False
    ) -> str | list[str]:
        if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
            return self.ids_to_tokens.get(int(ids), self.unk_token)
        out = []
        for i in self._id_list(ids, "ids"):
            if skip_special_tokens and i in self._special_ids:
                continue
            out.append(self.ids_to_tokens.get(i, self.unk_token))
        return out

    def convert_tokens_to_string(self, tokens: Iterable[str]) -> str:
        return " ".join(tokens).replace(" ##", "").strip()

    @staticmethod
    def _id_list(ids: Any, name: str) -> list[int]:
        if isinstance(ids, np.ndarray):
            if ids.ndim != 1:
                raise TypeError(
                    f"{name} must be one-dimensional (use batch_decode for batches), got shape {ids.shape}"
                )
            ids = ids.tolist()
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise TypeError(f"{name} must be an int or a sequence of ints, got {type(ids).__name__}")
        out = []
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                raise TypeError(f"{name} must contain only ints, got {type(i).__name__}")
            out.append(int(i))
        return out

    def decode(
        self,
        token_ids: int | Sequence[int] | np.ndarray,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str:
        """Ids back to text: tokens joined by spaces with ``##`` continuations glued, as Hugging Face's slow
        tokenizer (Chinese comes back with a space between tokens)."""
        if isinstance(token_ids, (int, np.integer)) and not isinstance(token_ids, bool):
            ids = [int(token_ids)]
        else:
            ids = self._id_list(token_ids, "token_ids")
        _check_bool("skip_special_tokens", skip_special_tokens)
        _check_bool("clean_up_tokenization_spaces", clean_up_tokenization_spaces, allow_none=True)
        tokens = []
        for i in ids:
            if skip_special_tokens and i in self._special_ids:
                continue
            token = self.ids_to_tokens.get(i, self.unk_token)
            if (
                skip_special_tokens and token in self._special_set
            ):  # unknown ids decode to [UNK], also skipped
                continue
            tokens.append(token)
        text = self.convert_tokens_to_string(tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return _clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def batch_decode(
        self,
        sequences: Sequence[Sequence[int]] | np.ndarray,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> list[str]:
        if isinstance(sequences, (str, bytes)) or not isinstance(sequences, (Sequence, np.ndarray)):
            raise TypeError(f"sequences must be a sequence of id sequences, got {type(sequences).__name__}")
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces) for s in sequences]

    # ------------------------------------------------------------------ special-token layout
    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 3 if pair else 2

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``."""
        cls, sep = [self._ids.cls], [self._ids.sep]
        if token_ids_1 is None:
            return cls + list(token_ids_0) + sep
        return cls + list(token_ids_0) + sep + list(token_ids_1) + sep

    def create_token_type_ids_from_sequences(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``."""
        first = [0] * (len(token_ids_0) + 2)
        return first if token_ids_1 is None else first + [1] * (len(token_ids_1) + 1)

    def get_special_tokens_mask(
        self,
        token_ids_0: list[int],
        token_ids_1: list[int] | None = None,
        already_has_special_tokens: bool = False,
    ) -> list[int]:
        """1 where ``build_inputs_with_special_tokens`` puts a special token (or where one already is)."""
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError(
                    "token_ids_1 must be None when already_has_special_tokens=True "
                    "(the ids are already formatted)"
                )
            return [1 if i in self._special_ids else 0 for i in token_ids_0]
        if token_ids_1 is None:
            return [1] + [0] * len(token_ids_0) + [1]
        return [1] + [0] * len(token_ids_0) + [1] + [0] * len(token_ids_1) + [1]

    # ------------------------------------------------------------------ __call__
    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message)

    def _resolve(
        self,
        padding: Any,
        truncation: Any,
        max_length: Any,
        stride: Any,
        pad_to_multiple_of: Any,
        padding_side: Any,
        add_special_tokens: Any,
        return_overflowing_tokens: Any,
        want_offsets: bool,
    ) -> EncodeOptions:
        """Hugging Face's ``_get_padding_truncation_strategies``, with its argument checks made strict."""
        _check_int("max_length", max_length, 0)
        _check_int("stride", stride, 0, allow_none=False)
        _check_int("pad_to_multiple_of", pad_to_multiple_of, 1)
        _check_bool("add_special_tokens", add_special_tokens)
        _check_bool("return_overflowing_tokens", return_overflowing_tokens)
        if padding_side is not None and padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right', 'left' or None, got {padding_side!r}")
        if max_length is not None and padding is False and truncation is None:
            self._warn_once(
                "max_length-only",
                "Truncation was not explicitly activated but `max_length` is provided; defaulting to "
                "truncation='longest_first'. Pass `truncation=True` to silence this.",
            )
            truncation = "longest_first"
        if padding is True:
            if max_length is not None and truncation in (None, False, "do_not_truncate"):
                self._warn_once(
                    "padding-true-max-length",
                    "`max_length` is ignored when `padding=True` and there is no truncation strategy; "
                    "use padding='max_length' to pad to max_length.",
                )
            padding = "longest"
        elif padding is False or padding is None:
            padding = "do_not_pad"
        elif padding not in PADDING_STRATEGIES:
            raise ValueError(f"padding must be a bool or one of {PADDING_STRATEGIES}, got {padding!r}")
        if truncation is True:
            truncation = "longest_first"
        elif truncation is False or truncation is None:
            truncation = "do_not_truncate"
        elif truncation not in TRUNCATION_STRATEGIES:
            raise ValueError(
                f"truncation must be a bool, None or one of {TRUNCATION_STRATEGIES}, got {truncation!r}"
            )
        if max_length is None:
            if padding == "max_length":
                if self.model_max_length > LARGE_INTEGER:
                    self._warn_once(
                        "pad-no-max",
                        "Asked to pad to max_length but no max_length is given and the tokenizer has no "
                        "model_max_length; not padding.",
                    )
                    padding = "do_not_pad"
                else:
                    max_length = self.model_max_length
            if truncation != "do_not_truncate":
                if self.model_max_length > LARGE_INTEGER:
                    self._warn_once(
                        "truncate-no-max",
                        "Asked to truncate but no max_length is given and the tokenizer has no "
                        "model_max_length; not truncating.",
                    )
                    truncation = "do_not_truncate"
                else:
                    max_length = self.model_max_length
        if (
            truncation != "do_not_truncate"
            and padding != "do_not_pad"
            and pad_to_multiple_of is not None
            and max_length is not None
            and max_length % pad_to_multiple_of
        ):
            raise ValueError(
                f"max_length ({max_length}) must be a multiple of pad_to_multiple_of ({pad_to_multiple_of}) "
                "when both truncation and padding are on."
            )
        return EncodeOptions(
            add_special_tokens=bool(add_special_tokens),
            padding=padding,
            truncation=truncation,
            max_length=None if max_length is None else int(max_length),
            stride=int(stride),
            pad_to_multiple_of=None if pad_to_multiple_of is None else int(pad_to_multiple_of),
            padding_side=padding_side or self.padding_side,
            truncation_side=self.truncation_side,
            return_overflowing_tokens=bool(return_overflowing_tokens),
            want_offsets=want_offsets,
            fast=self._fast_layout,
        )

    @staticmethod
    def _items(text: Any, text_pair: Any) -> tuple[list[tuple[str, str | None]], bool]:
        """Validate the inputs; return ``(items, batched)`` with items as ``(text, pair or None)``."""
        if isinstance(text, str):
            if text_pair is not None and not isinstance(text_pair, str):
                raise TypeError(f"text_pair must be a str when text is a str, got {type(text_pair).__name__}")
            return [(text, text_pair)], False
        if text is None:
            raise TypeError("text must be a str or a list/tuple of str, got None")
        if not isinstance(text, (list, tuple)):
            raise TypeError(f"text must be a str or a list/tuple of str, got {type(text).__name__}")
        if text_pair is not None:
            if not isinstance(text_pair, (list, tuple)):
                raise TypeError(
                    "text_pair must be a list/tuple of str when text is a batch, "
                    f"got {type(text_pair).__name__}"
                )
            if len(text_pair) != len(text):
                raise ValueError(f"text has {len(text)} items but text_pair has {len(text_pair)}")
        items = []
        for i, item in enumerate(text):
            if text_pair is not None:
                pair = text_pair[i]
                if not isinstance(item, str):
                    raise TypeError(f"text[{i}] must be a str, got {type(item).__name__}")
                if not isinstance(pair, str):
                    raise TypeError(f"text_pair[{i}] must be a str, got {type(pair).__name__}")
                items.append((item, pair))
            elif isinstance(item, str):
                items.append((item, None))
            elif isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(t, str) for t in item):
                items.append((item[0], item[1]))  # a batch of (text, pair) tuples
            else:
                raise TypeError(f"text[{i}] must be a str or a (str, str) pair, got {type(item).__name__}")
        return items, True

    def __call__(
        self,
        text: TextInput,
        text_pair: str | Sequence[str] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
    ) -> BatchEncoding:
        """Encode a text, a pair, or a batch of either, as Hugging Face's tokenizers do.

        Truncation follows the slow tokenizer. With ``return_overflowing_tokens=True`` the overflow becomes
        extra rows (windows overlapping by ``stride``) and ``overflow_to_sample_mapping`` says which input
        each row came from, as the fast tokenizer. ``return_offsets_mapping`` gives ``(start, end)``
        character spans into the original text, ``(0, 0)`` for special and pad tokens.
        ``return_tensors="np"`` gives int64 arrays; otherwise Python lists.
        """
        items, batched = self._items(text, text_pair)
        if self._fast_layout and not batched and items[0][1] == "":
            items = [(items[0][0], None)]  # the fast tokenizer encodes an empty pair as no pair at all
        if return_tensors not in (None, "np"):
            raise ValueError(
                "return_tensors must be None or 'np' (this package has no other backend), "
                f"got {return_tensors!r}"
            )
        for name, value in (
            ("return_token_type_ids", return_token_type_ids),
            ("return_attention_mask", return_attention_mask),
        ):
            _check_bool(name, value, allow_none=True)
        for name, value in (
            ("return_special_tokens_mask", return_special_tokens_mask),
            ("return_offsets_mapping", return_offsets_mapping),
            ("return_length", return_length),
        ):
            _check_bool(name, value)
        if return_token_type_ids and not add_special_tokens and not self._fast_layout:
            raise ValueError(
                "return_token_type_ids=True with add_special_tokens=False is undefined; set "
                "add_special_tokens=True or return_token_type_ids=None"
            )
        opts = self._resolve(
            padding,
            truncation,
            max_length,
            stride,
            pad_to_multiple_of,
            padding_side,
            add_special_tokens,
            return_overflowing_tokens,
            bool(return_offsets_mapping),
        )
        rows: list[Row] = []
        sample_of_row: list[int] = []
        encoded: dict[str, tuple] = {}

        def encode(t: str) -> tuple:
            result = encoded.get(t)
            if result is None:
                if opts.want_offsets:
                    ids, offsets, _ = self._encode_with_offsets(t)
                    result = (ids, offsets)
                else:
                    result = (self._encode_ids(t), None)
                encoded[t] = result
            return result

        for index, (a, b) in enumerate(items):
            a_ids, a_off = encode(a)
            b_ids, b_off = encode(b) if b is not None else (None, None)
            new_rows = build_rows(a_ids, a_off, b_ids, b_off, self._ids, opts)
            rows.extend(new_rows)
            sample_of_row.extend([index] * len(new_rows))
        if opts.truncation == "do_not_truncate" and "too-long" not in self._warned:
            longest = max((len(r.ids) for r in rows), default=0)
            if longest > self.model_max_length:
                self._warn_once(
                    "too-long",
                    f"Token indices sequence length is longer than the specified maximum sequence length for "
                    f"this model ({longest} > {self.model_max_length}). Running this sequence through the "
                    "model will result in indexing errors",
                )
        unpadded = [len(r.ids) for r in rows]
        pad_rows(rows, pad_target(unpadded, opts), self._ids.pad, opts.padding_side)
        return to_output(
            rows,
            unpadded,
            sample_of_row if opts.return_overflowing_tokens else None,
            batched=batched,
            return_token_type_ids=True if return_token_type_ids is None else bool(return_token_type_ids),
            return_attention_mask=True if return_attention_mask is None else bool(return_attention_mask),
            return_special_tokens_mask=bool(return_special_tokens_mask),
            return_offsets_mapping=bool(return_offsets_mapping),
            return_length=bool(return_length),
            return_tensors=return_tensors,
            padding_side=opts.padding_side,
            padded_length=opts.fast,
        )

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        padding_side: str | None = None,
        return_tensors: str | None = None,
    ) -> list[int] | np.ndarray:
        """The ``input_ids`` of one text (or pair)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if (
            text_pair is None
            and padding is False
            and truncation in (None, False)
            and max_length is None
            and return_tensors is None
            and isinstance(add_special_tokens, bool)
        ):  # the common case, without __call__'s bookkeeping
            ids = self._encode_ids(text)
            if add_special_tokens:
                ids = [self._ids.cls, *ids, self._ids.sep]
            if len(ids) > self.model_max_length:
                self._warn_once(
                    "too-long",
                    f"Token indices sequence length is longer than the specified maximum sequence length for "
                    f"this model ({len(ids)} > {self.model_max_length}). Running this sequence through the "
                    "model will result in indexing errors",
                )
            return ids
        return self(
            text,
            text_pair,
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            stride=stride,
            padding_side=padding_side,
            return_tensors=return_tensors,
            return_token_type_ids=False,
            return_attention_mask=False,
        )["input_ids"]

    def encode_plus(self, text: str, text_pair: str | None = None, **kwargs: Any) -> BatchEncoding:
        """``__call__`` for one text or pair (Hugging Face's older name); same keyword arguments."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return self(text, text_pair, **kwargs)

    def batch_encode_plus(self, batch_text_or_text_pairs: Sequence, **kwargs: Any) -> BatchEncoding:
        """``__call__`` for a batch of texts or of ``(text, pair)`` tuples; same keyword arguments."""
        if not isinstance(batch_text_or_text_pairs, (list, tuple)):
            raise TypeError(
                "batch_text_or_text_pairs must be a list/tuple, got "
                + type(batch_text_or_text_pairs).__name__
            )
        return self(list(batch_text_or_text_pairs), **kwargs)

    def pad(
        self,
        encoded_inputs: dict | Sequence[dict],
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchEncoding:
        """Pad already-encoded rows (a dict of lists, or a list of dicts as a data collator receives)."""
        if isinstance(encoded_inputs, (list, tuple)):
            if not encoded_inputs or not all(isinstance(e, dict) for e in encoded_inputs):
                raise TypeError("encoded_inputs must be a dict of lists or a non-empty list of dicts")
            encoded_inputs = {k: [e[k] for e in encoded_inputs] for k in encoded_inputs[0]}
        if not isinstance(encoded_inputs, dict) or "input_ids" not in encoded_inputs:
            raise TypeError("encoded_inputs must contain 'input_ids'")
        if return_tensors not in (None, "np"):
            raise ValueError(f"return_tensors must be None or 'np', got {return_tensors!r}")
        data = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in encoded_inputs.items()}
        single = bool(data["input_ids"]) and not isinstance(data["input_ids"][0], (list, tuple))
        if single:
            data = {k: [v] for k, v in data.items()}
        opts = self._resolve(
            padding, None, max_length, 0, pad_to_multiple_of, padding_side, True, False, False
        )
        rows = []
        for i, ids in enumerate(data["input_ids"]):
            n = len(ids)
            rows.append(
                Row(
                    list(ids),
                    list(data["token_type_ids"][i]) if "token_type_ids" in data else [0] * n,
                    list(data["special_tokens_mask"][i]) if "special_tokens_mask" in data else [0] * n,
                    [tuple(o) for o in data["offset_mapping"][i]] if "offset_mapping" in data else None,
                    [None] * n,
                )
            )
        unpadded = [len(r.ids) for r in rows]
        masks = data.get("attention_mask")
        pad_rows(rows, pad_target(unpadded, opts), self._ids.pad, opts.padding_side)
        out: dict[str, Any] = {"input_ids": [r.ids for r in rows]}
        if "token_type_ids" in data:
            out["token_type_ids"] = [r.type_ids for r in rows]
        if return_attention_mask or (return_attention_mask is None):
            out["attention_mask"] = []
            for i, r in enumerate(rows):
                mask = list(masks[i]) if masks is not None else [1] * unpadded[i]
                extra = len(r.ids) - len(mask)
                if extra > 0:
                    mask = mask + [0] * extra if opts.padding_side == "right" else [0] * extra + mask
                out["attention_mask"].append(mask)
        if "special_tokens_mask" in data:
            out["special_tokens_mask"] = [r.special_mask for r in rows]
        if "offset_mapping" in data:
            out["offset_mapping"] = [r.offsets for r in rows]
        for key, value in data.items():
            out.setdefault(key, value)
        if single:
            out = {k: v[0] for k, v in out.items()}
        if return_tensors == "np":
            out = {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}
        return BatchEncoding(out)

    # ------------------------------------------------------------------ files
    @classmethod
    def from_pretrained(cls, pretrained_path: str | os.PathLike, **kwargs: Any) -> RoFormerTokenizer:
        """Load from a directory with ``vocab.txt`` (and optionally ``tokenizer_config.json`` and
        ``special_tokens_map.json``, as Hugging Face writes them), from a ``vocab.txt`` path, or from a Hub
        repository id (``revision=``, ``cache_dir=``, ``local_files_only=``, ``token=``, ``force_download=``
        as in transformers; see :mod:`roformer_np.hub`). Other keywords override the saved configuration."""
        if not isinstance(pretrained_path, (str, os.PathLike)):
            raise TypeError(f"pretrained_path must be a path, got {type(pretrained_path).__name__}")
        hub = pop_hub_kwargs(kwargs, f"{cls.__name__}.from_pretrained")
        path = resolve_checkpoint(pretrained_path, TOKENIZER_FILES, **hub)
        if path.is_file():
            return cls(path, **kwargs)
        if not path.is_dir():
            raise ValueError(
                f"pretrained_path: {str(pretrained_path)!r} is neither a directory nor a vocab file"
            )
        vocab_file = path / VOCAB_FILE
        if not vocab_file.is_file():
            raise ValueError(f"pretrained_path: no {VOCAB_FILE} in {str(pretrained_path)!r}")
        config: dict[str, Any] = {}
        config_file = path / TOKENIZER_CONFIG_FILE
        if config_file.is_file():
            config = read_json(config_file, "tokenizer config")
            if not isinstance(config, dict):
                raise ValueError(f"{config_file} must hold a JSON object")
        vocab = {t: i for i, t in enumerate(load_vocab(vocab_file))}
        decoder = config.get("added_tokens_decoder")
        if decoder:
            for index, token in decoder.items():
                content = token.get("content") if isinstance(token, dict) else token
                if vocab.get(content) != int(index):
                    raise ValueError(
                        f"{config_file}: added token {content!r} (id {index}) is not the vocabulary's "
                        "token of that "
                        "id; tokens added beyond vocab.txt are not supported"
                    )
        else:  # older layout: special_tokens_map.json overrides the config
            map_file = path / SPECIAL_TOKENS_MAP_FILE
            if map_file.is_file():
                config.update(read_json(map_file, "special tokens map"))
        added_file = path / ADDED_TOKENS_FILE
        if added_file.is_file():
            for content, index in read_json(added_file, "added tokens").items():
                if vocab.get(content) != index:
                    raise ValueError(
                        f"{added_file}: token {content!r} (id {index}) is not in vocab.txt; not supported"
                    )
        init: dict[str, Any] = {}
        params = set(inspect.signature(cls.__init__).parameters) - {"self"}
        for key, value in config.items():
            if key in params and key != "vocab_file":
                init[key] = value
            elif key not in _METADATA_KEYS:
                logger.warning("from_pretrained: ignoring unknown tokenizer_config.json key %r", key)
        init.update(kwargs)
        return cls(vocab_file, **init)

    def save_vocabulary(
        self, save_directory: str | os.PathLike, filename_prefix: str | None = None
    ) -> tuple[str]:
        """Write ``vocab.txt`` (with Hugging Face's naming rules); returns its path in a tuple.

        The file is written line for line as it was read, so even a vocabulary with repeated tokens
        round-trips (Hugging Face's own writer drops the repeats and shifts the ids after them).
        """
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        if os.path.isdir(save_directory):
            vocab_file = os.path.join(save_directory, prefix + VOCAB_FILE)
        else:
            vocab_file = prefix + os.fspath(save_directory)
        with open(vocab_file, "w", encoding="utf-8", newline="\n") as handle:
            for token in self._lines:
                handle.write(token + "\n")
        return (vocab_file,)

    def _config(self) -> dict[str, Any]:
        added = {
            str(self.vocab[t]): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for t in sorted(self._specials, key=lambda t: self.vocab[t])
        }
        config: dict[str, Any] = {
            "added_tokens_decoder": added,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "cls_token": self.cls_token,
            "do_basic_tokenize": self.do_basic_tokenize,
            "do_lower_case": self._do_lower_case,
            "extra_special_tokens": {},
            "mask_token": self.mask_token,
            "model_max_length": self.model_max_length,
            "never_split": self.never_split,
            "pad_token": self.pad_token,
            "sep_token": self.sep_token,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "tokenizer_class": "RoFormerTokenizer",
            "unk_token": self.unk_token,
        }
        if self.additional_special_tokens:
            config["additional_special_tokens"] = list(self.additional_special_tokens)
        if self.padding_side != "right":
            config["padding_side"] = self.padding_side
        if self.truncation_side != "right":
            config["truncation_side"] = self.truncation_side
        return config

    def save_pretrained(self, save_directory: str | os.PathLike) -> tuple[str, ...]:
        """Write ``tokenizer_config.json``, ``special_tokens_map.json`` and ``vocab.txt`` in Hugging Face's
        format (``RoFormerTokenizer.from_pretrained`` of transformers loads them back)."""
        if os.path.isfile(save_directory):
            raise ValueError(f"save_directory: {os.fspath(save_directory)!r} is a file, not a directory")
        os.makedirs(save_directory, exist_ok=True)
        config_file = os.path.join(save_directory, TOKENIZER_CONFIG_FILE)
        map_file = os.path.join(save_directory, SPECIAL_TOKENS_MAP_FILE)
        for file, content in ((config_file, self._config()), (map_file, self.special_tokens_map)):
            with open(file, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return (config_file, map_file, *self.save_vocabulary(save_directory))
