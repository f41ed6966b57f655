"""The shared machinery of the WordPiece tokenizers (RoFormer's and BERT's): ``WordPieceTokenizer``.

A tokenizer class is a choice of stages (:mod:`roformer_np.tokenizer_stages`), set by a few class attributes
and hooks, on top of one API (the configuration and its checks, the vocabulary and special tokens, tokens <->
ids, ``decode``, the post-processor's layout, ``__call__`` from :mod:`roformer_np.tokenizer_call` and the files
from :mod:`roformer_np.tokenizer_files`):

- ``_normalize(text)``: the normaliser (``slow_normalize`` or ``fast_normalize``);
- ``_pre_tokenizer()``: the function cutting a chunk into words (jieba, or BERT's cuts at whitespace and ideographs);
- ``_vocab_words_whole``: a word of the vocabulary is one token without going through the word model (jieba's
  words, for RoFormer);
- ``_analyze(word)``: the word model, ``(token, start, end)`` per token of a word;
- ``_fast_layout``: type ids and lengths as transformers' fast tokenizers lay them out.

Results of the word model are cached per word, which is where most of the speed over transformers comes from.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .tokenizer_call import EncodingMixin, check_bool, check_int
from .tokenizer_encoding import VERY_LARGE_INTEGER, SpecialIds
from .tokenizer_files import _SPECIAL_ATTRIBUTES, VOCAB_FILE, FilesMixin, load_vocab
from .tokenizer_stages import BertPostProcessor, Chunks, SpecialSplitter, WordTable, slow_normalize
from .tokenizer_text import WordAnalyzer

__all__ = ["WordPieceTokenizer", "clean_up_tokenization"]


def clean_up_tokenization(text: str) -> str:
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


def _token_content(name: str, value: Any) -> str:
    """A special token given as a string or as a serialised AddedToken dict."""
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


class WordPieceTokenizer(EncodingMixin, FilesMixin):
    """A WordPiece tokenizer with transformers 4.56.2's API; subclasses choose the stages (module docstring).

    Args:
        vocab_file: path of ``vocab.txt`` (one token per line; the id is the line index).
        do_lower_case: lowercase the text (special tokens excepted).
        do_basic_tokenize: run BERT's basic tokenizer (slow tokenizers). When False, transformers also skips
            lowercasing (its ``do_lower_case`` property breaks), and so does this class.
        never_split: tokens the basic tokenizer keeps whole (slow tokenizers).
        unk_token, sep_token, pad_token, cls_token, mask_token: the special tokens; each must be in the
            vocabulary.
        tokenize_chinese_chars: put spaces around CJK ideographs.
        strip_accents: strip accents; ``None`` follows ``do_lower_case``.
        model_max_length: the default ``max_length`` for truncation and ``padding="max_length"``.
        additional_special_tokens: more tokens (in the vocabulary) that are never split.
        clean_up_tokenization_spaces: the default of ``decode``'s argument of that name; ``None``: the class's
            default in transformers (False for RoFormer, True for BERT).
        padding_side, truncation_side: ``"right"`` or ``"left"``.
    """

    vocab_files_names = {"vocab_file": VOCAB_FILE}
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    _fast_layout = False  # type ids and lengths as transformers' fast tokenizers
    _vocab_words_whole = False  # a pre-tokenised word of the vocabulary is one token (RoFormer's jieba words)
    _clean_up_default = False  # transformers' default of clean_up_tokenization_spaces for the class

    def _normalize(self, text: str) -> Chunks:
        """The normaliser: ``(chunks, to_start, to_end)`` (see :mod:`roformer_np.tokenizer_stages`)."""
        return slow_normalize(text, self._splitter, self.do_lower_case)

    def _pre_tokenizer(self) -> Callable[[str], list[str]]:
        """The pre-tokeniser: a chunk -> its words, concatenating to the chunk."""
        raise NotImplementedError

    def _analyze(self, word: str) -> list[tuple[str, int, int]]:
        """The word model: ``(token, start, end)`` for each token of a word (spans inside the word)."""
        return self._analyzer.analyze(word)

    def _whole_words(self) -> dict[str, int]:
        """The words that are one token as they are (``_vocab_words_whole``): the vocabulary, or nothing."""
        return self.vocab if self._vocab_words_whole else {}

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
        clean_up_tokenization_spaces: bool | None = None,
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
        ):
            check_bool(name, value)
        check_bool("strip_accents", strip_accents, allow_none=True)
        check_bool("clean_up_tokenization_spaces", clean_up_tokenization_spaces, allow_none=True)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self._clean_up_default
        check_int("model_max_length", model_max_length, 1, allow_none=False)
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
        self._splitter = SpecialSplitter.of(specials)
        self._post = BertPostProcessor(self._ids)
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
        self._whole = self._whole_words()
        self._cache = WordTable((), self._word_entry)  # word -> (tokens, ids, spans)
        self._ids_of = WordTable(((t, (i,)) for t, i in self._whole.items()), lambda w: self._cache[w][1])
        self._tokens_of = WordTable(((t, (t,)) for t in self._whole), lambda w: self._cache[w][0])
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
            f"{type(self).__name__}(vocab_size={self.vocab_size}, do_lower_case={self._do_lower_case}, "
            f"do_basic_tokenize={self.do_basic_tokenize}, "
            f"tokenize_chinese_chars={self.tokenize_chinese_chars}, "
            f"strip_accents={self.strip_accents}, model_max_length={self.model_max_length}{self._repr_extra()})"
        )

    def _repr_extra(self) -> str:
        return ""

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
    def clear_cache(self) -> None:
        """Forget the words learned so far (results never depend on the cache; this only frees memory)."""
        self._cache.clear()
        self._ids_of.forget()
        self._tokens_of.forget()

    def _word_entry(self, word: str) -> tuple:
        """``(tokens, ids, spans)`` of a word that is not one token as it is (``self._cache`` keeps them)."""
        triples = self._analyze(word)
        vocab, unk = self.vocab, self._unk_id
        tokens = tuple(t for t, _, _ in triples)
        return tokens, tuple(vocab.get(t, unk) for t in tokens), tuple((s, e) for _, s, e in triples)

    def _per_word(self, text: str, table: WordTable, special: Callable[[str], Any]) -> list:
        """Every word's entry in ``table`` (ids or tokens), ``special(token)`` for the special tokens."""
        out: list = []
        lookup = table.__getitem__
        chain = itertools.chain.from_iterable
        cut = self._pre_tokenizer()
        for chunk, _, is_special in self._normalize(text)[0]:
            if is_special:
                out.append(special(chunk))
            else:
                out.extend(chain(map(lookup, cut(chunk))))
        return out

    def _encode_ids(self, text: str) -> list[int]:
        return self._per_word(text, self._ids_of, self.vocab.__getitem__)

    def _encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]], list[str]]:
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        tokens: list[str] = []
        get = self._whole.get
        entry_of = self._cache.__getitem__
        cut = self._pre_tokenizer()
        chunks, to_start, to_end = self._normalize(text)
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
                    entry = entry_of(word)
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
        return self._per_word(text, self._tokens_of, str)

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
        check_bool("skip_special_tokens", skip_special_tokens)
        check_bool("clean_up_tokenization_spaces", clean_up_tokenization_spaces, allow_none=True)
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
        return clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def batch_decode(
        self,
        sequences: Sequence[Sequence[int]] | np.ndarray,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> list[str]:
        if isinstance(sequences, (str, bytes)) or not isinstance(sequences, (Sequence, np.ndarray)):
            raise TypeError(f"sequences must be a sequence of id sequences, got {type(sequences).__name__}")
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces) for s in sequences]

    # ------------------------------------------------------------------ special-token layout (post-processor)
    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self._post.added(pair)

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``."""
        return self._post.build(token_ids_0, token_ids_1)

    def create_token_type_ids_from_sequences(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``."""
        return self._post.type_ids(token_ids_0, token_ids_1)

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
        return self._post.special_mask(token_ids_0, token_ids_1)

