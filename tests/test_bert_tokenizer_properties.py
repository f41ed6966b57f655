"""Property tests of BertTokenizer / BertTokenizerFast (hypothesis) on the real char vocabulary: any string
encodes, the three token paths agree, batching and pickling change nothing, and the fast tokenizer's offsets
are the pieces of text its tokens were made of."""

from __future__ import annotations

import pickle

import pytest
from conftest import REAL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roformer_np import BertTokenizer, BertTokenizerFast

VOCAB = REAL / "roformer_chinese_char" / "vocab.txt"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", params=[BertTokenizer, BertTokenizerFast], ids=["slow", "fast"])
def tok(request):
    return request.param(VOCAB)


any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()), max_size=60)
PIECES = (list("今天天气非常好中国人民北京大学abcdefghijklmnopqrstuvwxyzABCXYZ0123456789.,!?-+#()[]'\"/:;@%&")
          + list(" \t\n\u3000\u00a0") + ["[MASK]", "[SEP]", "😀", "ｈ", "１", "hello", "world", "##"])
plain_text = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


@SETTINGS
@given(text=any_text)
def test_any_string_encodes_the_same_way_on_every_path(tok, text):
    ids = tok.encode(text, add_special_tokens=False)
    assert all(0 <= i < tok.vocab_size for i in ids)
    tokens, offsets = tok.tokenize_with_offsets(text)
    assert tokens == tok.tokenize(text) == tok.convert_ids_to_tokens(ids)
    assert len(offsets) == len(tokens) and all(0 <= s <= e <= len(text) for s, e in offsets)
    assert all(s0 <= s1 for (s0, _), (s1, _) in zip(offsets, offsets[1:]))


@SETTINGS
@given(texts=st.lists(plain_text, min_size=1, max_size=5))
def test_batch_equals_one_by_one_and_pickle_keeps_it(tok, texts):
    batch = tok(texts, return_offsets_mapping=True)
    again = pickle.loads(pickle.dumps(tok))(texts, return_offsets_mapping=True)
    assert batch == again
    for i, text in enumerate(texts):
        assert batch["input_ids"][i] == tok(text)["input_ids"]


@SETTINGS
@given(text=plain_text)
def test_slow_and_fast_agree_on_plain_text(text):
    """Without accents or control characters the two rule sets meet: same ids, same offsets."""
    slow, fast = _pair()
    assert slow(text, return_offsets_mapping=True) == fast(text, return_offsets_mapping=True)


@SETTINGS
@given(text=plain_text)
def test_fast_offsets_cover_their_tokens(text):
    _, fast = _pair()
    for token, (start, end) in zip(*fast.tokenize_with_offsets(text)):
        piece = text[start:end]
        assert piece == token if token in fast.all_special_tokens and token != fast.unk_token else (
            token == fast.unk_token or piece.lower() == token.removeprefix("##")), (text, token, piece)


_PAIR: list = []


def _pair() -> tuple[BertTokenizer, BertTokenizerFast]:
    if not _PAIR:
        _PAIR.extend([BertTokenizer(VOCAB), BertTokenizerFast(VOCAB)])
    return _PAIR[0], _PAIR[1]
