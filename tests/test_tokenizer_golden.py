"""RoFormerTokenizer against the Hugging Face goldens in golden/tokenizer/ (made by golden/gen_tokenizer.py).

No transformers here: the expected values were recorded with transformers 4.56.2 on the two real
vocabularies in tests/data/real, over the texts of golden/corpus/tokenizer_corpus.jsonl.
"""

from __future__ import annotations

import json
import logging
import unicodedata

import numpy as np
import pytest
from conftest import REAL, REPO

from roformer_np.tokenizer import RoFormerTokenizer
from roformer_np.tokenizer_fast import RoFormerTokenizerFast

GOLDEN = REPO / "golden" / "tokenizer"
VOCABS = {
    "base": REAL / "roformer_chinese_base" / "vocab.txt",
    "char": REAL / "roformer_chinese_char" / "vocab.txt",
}


def _load(name: str):
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def texts() -> list[str]:
    lines = (REPO / "golden" / "corpus" / "tokenizer_corpus.jsonl").read_text(encoding="utf-8").split("\n")
    return [json.loads(line)["text"] for line in lines if line.strip()]


@pytest.fixture(scope="module")
def tokenizers() -> dict[str, RoFormerTokenizer]:
    return {name: RoFormerTokenizer(path) for name, path in VOCABS.items()}


def test_manifest_matches_corpus_and_vocabs(texts):
    import hashlib

    manifest = _load("manifest.json")
    corpus = REPO / "golden" / "corpus" / "tokenizer_corpus.jsonl"
    assert manifest["corpus"]["sha256"] == hashlib.sha256(corpus.read_bytes()).hexdigest()
    assert manifest["corpus"]["texts"] == len(texts) >= 500
    for name, path in VOCABS.items():
        assert manifest["vocabs"][name]["vocab_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["versions"]["transformers"] == "4.56.2"
    if manifest["versions"]["unicodedata"] != unicodedata.unidata_version:
        pytest.skip("goldens were made with another Unicode database; character classes may differ")


def test_hugging_face_doc_sentence(tokenizers):
    """Hugging Face's own test (test_tokenization_roformer.py), see tests/data/real/SOURCES.md."""
    tok = tokenizers["base"]
    tokens = tok.tokenize("永和服装饰品有限公司,今天天气非常好")
    assert tokens == ["永和", "服装", "饰品", "有限公司", ",", "今", "天", "天", "气", "非常", "好"]
    ids = tok.convert_tokens_to_ids([*tokens, tok.unk_token])
    assert ids == [22943, 21332, 34431, 45904, 117, 306, 1231, 1231, 2653, 33994, 1266, 100]
    assert tok.tokenize("今天天气非常好。") == ["今", "天", "天", "气", "非常", "好", "。"]


@pytest.mark.parametrize("name", list(VOCABS))
def test_corpus_ids_tokens_offsets(name, tokenizers, texts):
    tok = tokenizers[name]
    id_to_token = tok.ids_to_tokens
    failures = []
    with_offsets = 0
    for case in _load(f"corpus_{name}.json"):
        text = texts[case["i"]]
        ids, offsets, tokens = tok._encode_with_offsets(text)
        expected_tokens = (
            case["tokens"].split(" ") if case.get("tokens") else [id_to_token[i] for i in case["ids"]]
        )
        if ids != case["ids"] or tokens != expected_tokens or tok.tokenize(text) != expected_tokens:
            failures.append((case["i"], text[:40], tokens[:12], expected_tokens[:12]))
            continue
        if case["offsets"] is not None:
            with_offsets += 1
            flat = [x for span in offsets for x in span]
            if flat != case["offsets"]:
                failures.append((case["i"], text[:40], "offsets", offsets[:8], case["offsets"][:16]))
    assert not failures, f"{len(failures)} texts differ from Hugging Face, first: {failures[:3]}"
    assert with_offsets > 0.8 * len(texts)


def test_disagreements_follow_the_slow_tokenizer(tokenizers):
    cases = _load("slow_fast_disagreements.json")
    assert cases, "the generator found no slow/fast disagreement at all (accented Latin should give some)"
    for case in cases:
        tokens = tokenizers[case["vocab"]].tokenize(case["text"])
        assert tokens == (case["slow"].split(" ") if case["slow"] else [])
        assert tokens != (case["fast"].split(" ") if case["fast"] else [])
    causes = {cause.split(":")[0] for case in cases for cause in case["causes"]}
    assert "accents" in causes


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _call_cases():
    return [
        pytest.param(c, id=f"{i}-{c['vocab']}-{c['kind']}-{c['source']}")
        for i, c in enumerate(_load("calls.json"))
    ]


@pytest.fixture(scope="module")
def fast_tokenizers() -> dict[str, RoFormerTokenizerFast]:
    return {name: RoFormerTokenizerFast(path) for name, path in VOCABS.items()}


@pytest.mark.parametrize("case", _call_cases())
def test_call(case, tokenizers, fast_tokenizers, caplog):
    """Slow and fast cases on texts where both tokenizers agree: the slow class reproduces both; the
    ``fast_layout`` cases (the fast tokenizer's own rules and layout) need RoFormerTokenizerFast."""
    tok = (fast_tokenizers if case["kind"] == "fast_layout" else tokenizers)[case["vocab"]]
    args = [case["text"]] if case["text_pair"] is None else [case["text"], case["text_pair"]]
    with caplog.at_level(logging.ERROR):
        out = tok(*args, **case["kwargs"])
    expected = case["expected"]
    assert sorted(out) == sorted(expected)
    for key, value in expected.items():
        got = out[key]
        if case["kwargs"].get("return_tensors") == "np":
            assert isinstance(got, np.ndarray) and got.dtype == np.int64, key
        assert _plain(got) == value, key


def test_decode(tokenizers):
    for case in _load("decode.json"):
        tok = tokenizers[case["vocab"]]
        assert tok.decode(case["ids"]) == case["plain"]
        assert tok.decode(case["ids"], skip_special_tokens=True) == case["skip"]
        if "clean" in case:
            assert tok.decode(case["ids"], clean_up_tokenization_spaces=True) == case["clean"]
            assert tok.decode(case["ids"], True, True) == case["skip_clean"]


def test_configurations(texts):
    built: dict[str, RoFormerTokenizer] = {}
    failures = []
    cases = _load("configs.json")
    assert sum(1 for c in cases if c.get("fast")) >= 100
    for case in cases:
        fast = bool(case.get("fast"))
        key = json.dumps([case["vocab"], case["config"], fast], sort_keys=True)
        if key not in built:
            cls = RoFormerTokenizerFast if fast else RoFormerTokenizer
            built[key] = cls(VOCABS[case["vocab"]], **case["config"])
        tok = built[key]
        text = texts[case["i"]] if "i" in case else case["text"]
        expected = case["tokens"].split(" ") if case["tokens"] else []
        got = tok.tokenize(text)
        if got != expected:
            failures.append((case["config"], fast, text[:30], got[:10], expected[:10]))
        if fast:
            flat = [x for span in tok.tokenize_with_offsets(text)[1] for x in span]
            if flat != case["offsets"] or tok.decode(tok.encode(text)) != case["decode"]:
                failures.append((case["config"], "fast offsets/decode", text[:30]))
    assert not failures, failures[:3]


@pytest.mark.parametrize("name", list(VOCABS))
def test_fast_tokenizer_on_the_whole_corpus(name, fast_tokenizers, texts):
    """RoFormerTokenizerFast gives Hugging Face's fast ids and offsets on every text: the slow ones where
    the two agree (corpus_*.json), the recorded fast ones where they do not."""
    tok = fast_tokenizers[name]
    fast_only = {c["i"]: c for c in _load("slow_fast_disagreements.json") if c["vocab"] == name}
    assert fast_only
    failures = []
    for case in _load(f"corpus_{name}.json"):
        text = texts[case["i"]]
        other = fast_only.get(case["i"])
        want_ids = other["fast_ids"] if other else case["ids"]
        want_offsets = other["fast_offsets"] if other else case["offsets"]
        ids, offsets, tokens = tok._encode_with_offsets(text)
        if ids != want_ids or tok.tokenize(text) != tokens:
            failures.append((case["i"], text[:40], tokens[:12]))
        elif want_offsets is not None and [x for span in offsets for x in span] != want_offsets:
            failures.append((case["i"], text[:40], "offsets", offsets[:8]))
    assert not failures, f"{len(failures)} texts differ from Hugging Face's fast tokenizer: {failures[:3]}"


def test_fast_tokenizer_known_differences(fast_tokenizers):
    """The documented slow/fast differences, spelled out (transformers 4.56.2 outputs)."""
    tok = fast_tokenizers["base"]
    assert tok.tokenize("这款C++笔记本很好") == ["这", "款", "[UNK]", "笔记本", "很", "好"]
    assert tok.decode(tok.encode("房间不错,设施也过得去.")) == "[CLS] 房间 不错, 设施 也 过 得 去. [SEP]"
    assert tok.decode(tok.encode("hello , world ."), skip_special_tokens=True) == "hello, world."
    ids = tok.encode("I do not know, isn't it?")
    assert tok.decode(ids, skip_special_tokens=True) == "i do not know, isn ' t it?"
    assert tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True) == "i do not know, isn't it?"


def test_fast_truncation_grid(fast_tokenizers):
    """Every truncation strategy x lengths x max_length (incl. below the special tokens) as the fast tokenizer:
    how many tokens of each text survive, or an error where Hugging Face's fast tokenizer raises."""
    tok = fast_tokenizers["base"]
    cases = _load("fast_truncation.json")
    assert len(cases) > 1000 and any(c[5] == "error" for c in cases)
    failures = []
    for len_a, len_b, max_length, strategy, special, *kept in cases:
        args = [" ".join(["今"] * len_a)] + ([] if len_b is None else [" ".join(["天"] * len_b)])
        try:
            ids = tok(*args, truncation=strategy, max_length=max_length, add_special_tokens=special)["input_ids"]
            got = [ids.count(306), ids.count(1231)]
        except ValueError:
            got = ["error"]
        if got != kept:
            failures.append((len_a, len_b, max_length, strategy, special, kept, got))
    assert not failures, failures[:5]
