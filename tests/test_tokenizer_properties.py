"""Property tests of RoFormerTokenizer (hypothesis): robustness, id range, round trips, offsets, batching."""

from __future__ import annotations

import pickle
import unicodedata

import pytest
from conftest import REAL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roformer_np.tokenizer import RoFormerTokenizer
from roformer_np.tokenizer_text import is_control

VOCABS = [REAL / "roformer_chinese_base" / "vocab.txt", REAL / "roformer_chinese_char" / "vocab.txt"]

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", params=["base", "char"])
def tok(request) -> RoFormerTokenizer:
    path = VOCABS[0] if request.param == "base" else VOCABS[1]
    return RoFormerTokenizer(path)


# Every code point, surrogates and unassigned ones included.
any_text = st.text(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()), max_size=60
)

# Text whose offsets can be checked character by character against the tokens.
PIECES = (
    list("今天天气非常好中国人民北京大学的了是我们")
    + list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789")
    + list(".,!?-+#()[]'\"/:;@%&")
    + list("éÉüÖñçàÅøİß")
    + list(" \t\n\u3000\u00a0")
    + ["\u200b", "\x00", "\ufeff", "\x7f", "😀", "ｈ", "１", "[MASK]", "[CLS]", "e\u0301"]
)
offset_text = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


@SETTINGS
@given(text=any_text)
def test_any_string_encodes_with_ids_in_range(tok, text):
    for with_offsets in (False, True):
        enc = tok(text, return_offsets_mapping=with_offsets)
        assert all(0 <= i < tok.vocab_size for i in enc["input_ids"])
    tokens, offsets = tok.tokenize_with_offsets(text)
    assert (
        tokens == tok.tokenize(text) == tok.convert_ids_to_tokens(tok.encode(text, add_special_tokens=False))
    )
    _check_offsets_shape(text, offsets)


def _check_offsets_shape(text: str, offsets: list[tuple[int, int]]) -> None:
    for (s0, e0), (s1, e1) in zip(offsets, offsets[1:]):
        assert s0 <= s1 and e0 <= e1, offsets
    for start, end in offsets:
        assert 0 <= start < end <= len(text), (start, end, len(text))


def _surface(text: str) -> str:
    """What the tokenizer makes of a span: BERT's dropped characters removed, lowercased, accents stripped."""
    kept = "".join(c for c in text if c not in "\x00\ufffd" and not is_control(c) and not c.isspace())
    decomposed = unicodedata.normalize("NFD", kept.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


@SETTINGS
@given(text=offset_text)
def test_offsets_are_monotone_and_slice_to_the_token(tok, text):
    tokens, offsets = tok.tokenize_with_offsets(text)
    _check_offsets_shape(text, offsets)
    for token, (start, end) in zip(tokens, offsets):
        if token == tok.unk_token:
            continue
        if token in tok.all_special_tokens:
            assert text[start:end] == token
        else:
            assert _surface(text[start:end]) == token.removeprefix("##"), (token, text[start:end])


@pytest.fixture(scope="module")
def covered_words(tok) -> list[str]:
    """Vocabulary entries that tokenize, on their own, into pieces that spell them again (no [UNK])."""
    words = []
    for token in list(tok.vocab)[106:]:
        if token.startswith("##") or token != unicodedata.normalize("NFC", token) or not token.isprintable():
            continue
        pieces = tok.tokenize(token)
        if tok.unk_token not in pieces and "".join(p.removeprefix("##") for p in pieces) == token.lower():
            words.append(token)
    return words


@SETTINGS
@given(data=st.data())
def test_decode_recovers_text_covered_by_the_vocabulary(tok, covered_words, data):
    words = data.draw(st.lists(st.sampled_from(covered_words), min_size=1, max_size=12))
    text = " ".join(words)
    decoded = tok.decode(tok.encode(text), skip_special_tokens=True)
    assert decoded.replace(" ", "") == text.lower().replace(" ", "")


@SETTINGS
@given(
    texts=st.lists(offset_text, min_size=1, max_size=5),
    max_length=st.one_of(st.none(), st.integers(min_value=3, max_value=24)),
)
def test_batch_equals_items_plus_padding(tok, texts, max_length):
    truncation = max_length is not None
    batch = tok(
        texts,
        padding=True,
        truncation=truncation,
        max_length=max_length,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    items = [
        tok(
            t,
            truncation=truncation,
            max_length=max_length,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        for t in texts
    ]
    width = max(len(item["input_ids"]) for item in items)
    for row, item in enumerate(items):
        missing = width - len(item["input_ids"])
        assert batch["input_ids"][row] == item["input_ids"] + [tok.pad_token_id] * missing
        assert batch["token_type_ids"][row] == item["token_type_ids"] + [0] * missing
        assert batch["attention_mask"][row] == item["attention_mask"] + [0] * missing
        assert batch["special_tokens_mask"][row] == item["special_tokens_mask"] + [1] * missing
        assert batch["offset_mapping"][row] == item["offset_mapping"] + [(0, 0)] * missing


@settings(max_examples=20, deadline=None)
@given(text=any_text)
def test_pickled_tokenizer_behaves_the_same(tok, text):
    clone = pickle.loads(pickle.dumps(tok))
    assert clone(text, return_offsets_mapping=True) == tok(text, return_offsets_mapping=True)
