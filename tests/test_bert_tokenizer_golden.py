"""BertTokenizer / BertTokenizerFast (and the ELECTRA names) against transformers 4.56.2's, on the real char
vocabulary of the char / Sim / V2 checkpoints. The goldens in golden/tokenizer_bert/ are made by
golden/gen_bert_tokenizer.py; no transformers here."""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata

import numpy as np
import pytest
from conftest import REAL, REPO

from roformer_np import BertTokenizer, BertTokenizerFast, ElectraTokenizer, ElectraTokenizerFast

GOLDEN = REPO / "golden" / "tokenizer_bert"
VOCAB = REAL / "roformer_chinese_char" / "vocab.txt"
CORPUS = REPO / "golden" / "corpus" / "tokenizer_corpus.jsonl"


def _cases(name: str) -> list[dict]:
    return [json.loads(line) for line in (GOLDEN / name).read_text(encoding="utf-8").splitlines()]


def _flat(offsets) -> list[int]:
    return [x for span in offsets for x in span]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """The corpus texts, then the generator's tricky ones (recorded with their text)."""
    corpus = [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return corpus + [c["text"] for c in _cases("corpus.jsonl") if "text" in c]


@pytest.fixture(scope="module")
def slow() -> BertTokenizer:
    return BertTokenizer(VOCAB)


@pytest.fixture(scope="module")
def fast() -> BertTokenizerFast:
    return BertTokenizerFast(VOCAB)


def test_manifest_matches_corpus_and_vocab(texts):
    manifest = json.loads((GOLDEN / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["versions"]["transformers"] == "4.56.2"
    assert manifest["corpus"]["sha256"] == hashlib.sha256(CORPUS.read_bytes()).hexdigest()
    assert manifest["vocab"]["sha256"] == hashlib.sha256(VOCAB.read_bytes()).hexdigest()
    assert len(texts) == manifest["corpus"]["texts"] + manifest["tricky_texts"] > 800
    assert manifest["electra"]["identical"] is True
    # the generator loaded roformer_np's saved files with transformers (and the reverse): same ids and offsets
    assert manifest["save_load"]["hf_loads_roformer_np_save"] and manifest["save_load"]["roformer_np_loads_hf_save"]
    if manifest["versions"]["unicodedata"] != unicodedata.unidata_version:
        pytest.skip("goldens were made with another Unicode database; character classes may differ")


def _check(slow_tok, fast_tok, case: dict, text: str) -> list:
    """The differences of one text from the golden: slow ids, fast ids and offsets."""
    failures = []
    tokens = slow_tok.tokenize(text)
    ids = slow_tok.encode(text, add_special_tokens=False)
    if slow_tok.convert_tokens_to_ids(tokens) != case["slow"] or ids != case["slow"]:
        failures.append(("slow", text[:40], tokens[:10]))
    ids, offsets, fast_tokens = fast_tok._encode_with_offsets(text)
    if ids != case.get("fast", case["slow"]) or fast_tok.tokenize(text) != fast_tokens:
        failures.append(("fast", text[:40], fast_tokens[:10]))
    elif _flat(offsets) != case["offsets"]:
        failures.append(("fast offsets", text[:40], offsets[:8]))
    return failures


def test_corpus_and_tricky_texts(slow, fast, texts):
    cases = _cases("corpus.jsonl")
    assert len(cases) == len(texts)
    failures = [f for case in cases for f in _check(slow, fast, case, texts[case["i"]])]
    assert not failures, f"{len(failures)} differences from transformers, first: {failures[:3]}"


def _marks(text: str) -> bool:
    return all(unicodedata.category(ch) == "Mn" for ch in text)


def test_slow_offsets_are_the_fast_ones_where_the_ids_agree(slow, texts):
    """transformers' slow tokenizer has no offsets; ours points each token where the fast one does, except that
    a token of a base letter and its combining marks (NFC merges them, the fast NFD drops the marks) also
    spans the marks."""
    agree = [c for c in _cases("corpus.jsonl") if "fast" not in c]
    assert len(agree) > 0.9 * len(texts)
    failures, with_marks = [], 0
    for case in agree:
        text = texts[case["i"]]
        got = _flat(slow.tokenize_with_offsets(text)[1])
        if got == case["offsets"]:
            continue
        with_marks += 1
        pairs = zip(zip(got[::2], got[1::2]), zip(case["offsets"][::2], case["offsets"][1::2]))
        if not all(a == b or (a[0] == b[0] and a[1] > b[1] and _marks(text[b[1]:a[1]])) for a, b in pairs):
            failures.append(text[:40])
    assert not failures, f"{len(failures)} texts, first: {failures[:3]}"
    assert with_marks < 20


def test_configurations(texts):
    cases = _cases("configs.jsonl")
    assert sum("fast" in c for c in cases) > 50  # do_basic_tokenize=False and never_split only act on the slow one
    built: dict[str, tuple] = {}
    failures = []
    for case in cases:
        key = json.dumps(case["config"], sort_keys=True)
        if key not in built:
            built[key] = (BertTokenizer(VOCAB, **case["config"]), BertTokenizerFast(VOCAB, **case["config"]))
        failures += [(case["config"], *f) for f in _check(*built[key], case, texts[case["i"]])]
    assert not failures, f"{len(failures)} differences, first: {failures[:3]}"


def _plain(value):
    """Arrays and tuples as the JSON lists of the goldens."""
    return json.loads(json.dumps(value, default=np.ndarray.tolist))


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{i}-{c['source']}")
                                  for i, c in enumerate(_cases("calls.jsonl"))])
def test_call(case, slow, fast, caplog):
    tok = slow if case["source"] == "slow" else fast
    with caplog.at_level(logging.ERROR):
        out = tok(case["text"], case["text_pair"], **case["kwargs"])
    expected = case["expected"]
    assert sorted(out) == sorted(expected)
    for key, value in expected.items():
        if case["kwargs"].get("return_tensors") == "np":
            assert isinstance(out[key], np.ndarray) and out[key].dtype == np.int64, key
        assert _plain(out[key]) == value, key


def test_decode(slow, fast):
    cases = _cases("decode.jsonl")
    assert any(c["slow"][0] != c["fast"][0] for c in cases)  # the two decoders differ somewhere
    for case in cases:
        for name, tok in (("slow", slow), ("fast", fast)):
            got = [tok.decode(case["ids"], skip_special_tokens=skip, clean_up_tokenization_spaces=clean)
                   for skip in (False, True) for clean in (False, True)]
            assert got + [tok.decode(case["ids"])] == case[name], (name, case["ids"][:10])


@pytest.mark.parametrize("bert, electra",
                         [(BertTokenizer, ElectraTokenizer), (BertTokenizerFast, ElectraTokenizerFast)])
def test_electra_is_bert_under_another_name(bert, electra, texts, tmp_path):
    a, b = bert(VOCAB), electra(VOCAB)
    for text in texts[::9]:
        assert a(text, return_offsets_mapping=True) == b(text, return_offsets_mapping=True)
    b.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "ElectraTokenizer"  # transformers writes the slow name for both


def test_bert_is_not_jieba(slow, fast):
    """The char checkpoints' tokenizer cuts every ideograph: no jieba words even where the vocabulary has none
    to offer, and English words split at punctuation by both (RoFormerTokenizerFast keeps C++ whole)."""
    assert slow.tokenize("今天天气非常好") == list("今天天气非常好") == fast.tokenize("今天天气非常好")
    expected = ["这", "款", "c", "+", "+", "笔", "记", "本"]
    assert slow.tokenize("这款C++笔记本") == fast.tokenize("这款C++笔记本") == expected
    assert repr(slow).startswith("BertTokenizer(vocab_size=12000") and "segmenter" not in repr(slow)
