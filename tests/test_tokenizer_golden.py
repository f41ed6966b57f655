"""RoFormerTokenizer against the Hugging Face goldens in golden/tokenizer/ (made by golden/gen_tokenizer.py).

No transformers here: the expected values were recorded with transformers 4.56.2 on the two real
vocabularies in ../shared, over the texts of golden/corpus/tokenizer_corpus.jsonl.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from roformer_np.tokenizer import RoFormerTokenizer

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "golden" / "tokenizer"
REAL = REPO.parent / "shared" / "data" / "real"
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
    for path in VOCABS.values():
        if not path.is_file():
            pytest.fail(f"the shared real vocabulary is missing: {path} (../shared beside the repo)")
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
    """Hugging Face's own test (test_tokenization_roformer.py), see ../shared/README.md."""
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


@pytest.mark.parametrize("case", _call_cases())
def test_call(case, tokenizers, caplog):
    tok = tokenizers[case["vocab"]]
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
    for case in _load("configs.json"):
        key = json.dumps([case["vocab"], case["config"]], sort_keys=True)
        if key not in built:
            built[key] = RoFormerTokenizer(VOCABS[case["vocab"]], **case["config"])
        text = texts[case["i"]] if "i" in case else case["text"]
        expected = case["tokens"].split(" ") if case["tokens"] else []
        got = built[key].tokenize(text)
        if got != expected:
            failures.append((case["config"], text[:30], got[:10], expected[:10]))
    assert not failures, failures[:3]
