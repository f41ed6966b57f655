"""RoFormerTokenizer's API: layouts, conversions, __call__ options, pickling, files, and bad input."""

from __future__ import annotations

import copy
import json
import logging
import multiprocessing
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import REAL

from roformer_np import tokenizer_jieba
from roformer_np.tokenizer import BatchEncoding, RoFormerTokenizer

BASE_DIR = REAL / "roformer_chinese_base"
BASE = BASE_DIR / "vocab.txt"
CHAR = REAL / "roformer_chinese_char" / "vocab.txt"
SENTENCE = "永和服装饰品有限公司,今天天气非常好"
SENTENCE_IDS = [22943, 21332, 34431, 45904, 117, 306, 1231, 1231, 2653, 33994, 1266]


@pytest.fixture(scope="module")
def tok() -> RoFormerTokenizer:
    return RoFormerTokenizer(BASE)


def write_vocab(path: Path, tokens: list[str]) -> Path:
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return path


SMALL = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "un",
    "##aff",
    "##able",
    "hello",
    "a",
    "##b",
    "今天",
    "天",
    "今",
    "x" * 120,
    ",",
    ".",
]


@pytest.fixture()
def small(tmp_path) -> RoFormerTokenizer:
    return RoFormerTokenizer(write_vocab(tmp_path / "vocab.txt", SMALL))


# ---------------------------------------------------------------- basics
def test_special_tokens_and_sizes(tok):
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (
        0,
        100,
        101,
        102,
        103,
    )
    assert tok.all_special_tokens == ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]
    assert tok.all_special_ids == [100, 102, 0, 101, 103]
    assert tok.vocab_size == len(tok) == 50000
    vocab = tok.get_vocab()
    vocab["永和"] = -1
    assert tok.vocab["永和"] == 22943  # get_vocab returns a copy
    assert tok.do_lower_case is True
    assert "RoFormerTokenizer(vocab_size=50000" in repr(tok)


def test_layout_helpers(tok):
    assert tok.build_inputs_with_special_tokens([5, 6]) == [101, 5, 6, 102]
    assert tok.build_inputs_with_special_tokens([5], [7, 8]) == [101, 5, 102, 7, 8, 102]
    assert tok.create_token_type_ids_from_sequences([5, 6]) == [0, 0, 0, 0]
    assert tok.create_token_type_ids_from_sequences([5], [7, 8]) == [0, 0, 0, 1, 1, 1]
    assert tok.get_special_tokens_mask([5, 6]) == [1, 0, 0, 1]
    assert tok.get_special_tokens_mask([5], [7]) == [1, 0, 1, 0, 1]
    assert tok.get_special_tokens_mask([101, 5, 102, 0], already_has_special_tokens=True) == [1, 0, 1, 1]
    with pytest.raises(ValueError, match="token_ids_1"):
        tok.get_special_tokens_mask([101], [102], already_has_special_tokens=True)
    assert tok.num_special_tokens_to_add() == 2 and tok.num_special_tokens_to_add(pair=True) == 3


def test_conversions(tok):
    assert tok.convert_tokens_to_ids("永和") == 22943
    assert tok.convert_tokens_to_ids(["永和", "no-such-token"]) == [22943, 100]
    assert tok.convert_ids_to_tokens(22943) == "永和"
    assert tok.convert_ids_to_tokens(np.int64(22943)) == "永和"
    assert tok.convert_ids_to_tokens([101, 22943, 10**9, -1]) == ["[CLS]", "永和", "[UNK]", "[UNK]"]
    assert tok.convert_ids_to_tokens([101, 22943, 102], skip_special_tokens=True) == ["永和"]
    assert tok.convert_tokens_to_string(["un", "##aff", "##able", "今"]) == "unaffable 今"


def test_encode_and_decode(tok):
    assert tok.encode(SENTENCE) == [101, *SENTENCE_IDS, 102]
    assert tok.encode(SENTENCE, add_special_tokens=False) == SENTENCE_IDS
    ids = tok.encode("今天天气非常好。[MASK] Hello, world!")
    assert tok.decode(ids) == "[CLS] 今 天 天 气 非常 好 。 [MASK] hello , world ! [SEP]"
    assert tok.decode(ids, skip_special_tokens=True) == "今 天 天 气 非常 好 。 hello , world !"
    assert tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True) == (
        "今 天 天 气 非常 好 。 hello, world!"
    )
    assert tok.decode(np.asarray(ids)) == tok.decode(ids)
    assert tok.decode(101) == "[CLS]"
    assert tok.batch_decode([ids, ids[:3]], skip_special_tokens=True)[1] == "今 天"
    assert tok.batch_decode(np.asarray([ids, ids])) == [tok.decode(ids)] * 2


def test_wordpiece_rules(small):
    assert small.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert small.tokenize("ab abb") == ["a", "##b", "a", "##b", "##b"]
    assert small.tokenize("unknownword") == ["[UNK]"]
    assert small.tokenize("x" * 120) == ["x" * 120]  # an in-vocab jieba word is kept even over 100 chars
    assert small.tokenize("a" * 101) == ["[UNK]"]  # WordPiece's 100-character limit
    assert small.tokenize("今天天气") == [
        "今",
        "天",
        "天",
        "[UNK]",
    ]  # the jieba word 今天天气 is not in the vocab


def test_special_tokens_in_text(tok):
    tokens, offsets = tok.tokenize_with_offsets("今天[MASK]好[mask] [CLS]")
    assert tokens == ["今天", "[MASK]", "好", "[", "ma", "##sk", "]", "[CLS]"]
    assert offsets == [(0, 2), (2, 8), (8, 9), (9, 10), (10, 12), (12, 14), (14, 15), (16, 21)]


def test_offsets_follow_the_original_text(tok):
    text = "İİ[MASK]İ ÉCOLE\u200bcafé\x00 ΣΟΦΙΑ"  # lowercasing İ adds a character; Σ lowers per character
    tokens, offsets = tok.tokenize_with_offsets(text)
    assert tokens == tok.tokenize(text)
    for token, (start, end) in zip(tokens, offsets):
        assert 0 <= start < end <= len(text)
        if token == "[MASK]":
            assert text[start:end] == "[MASK]"
    assert offsets[:4] == [(0, 1), (1, 2), (2, 8), (8, 9)]


def test_no_lowercasing_without_basic_tokenizer():
    tok = RoFormerTokenizer(BASE, do_basic_tokenize=False)
    assert tok.do_lower_case is False
    assert tok.tokenize("HELLO hello") == ["[UNK]", "hello"]


def test_never_split_and_additional_special_tokens(tmp_path):
    tok = RoFormerTokenizer(BASE, never_split=["c++"], additional_special_tokens=["<S>"])
    assert tok.tokenize("C++ x<S>y") == ["c++", "x", "<S>", "y"]
    assert tok.convert_tokens_to_ids("c++") == tok.unk_token_id  # not in the vocabulary
    assert "<S>" in tok.all_special_tokens
    assert tok.decode(tok.encode("x<S>y"), skip_special_tokens=True) == "x y"
    tok.save_pretrained(tmp_path)
    again = RoFormerTokenizer.from_pretrained(tmp_path)
    assert again.never_split == ["c++"] and again.additional_special_tokens == ["<S>"]
    assert again.tokenize("C++ x<S>y") == tok.tokenize("C++ x<S>y")


# ---------------------------------------------------------------- __call__
def test_call_single_pair_and_batch(tok):
    enc = tok(SENTENCE)
    assert isinstance(enc, BatchEncoding) and isinstance(enc, dict)
    assert list(enc) == ["input_ids", "token_type_ids", "attention_mask"]
    assert enc.input_ids == enc["input_ids"] == [101, *SENTENCE_IDS, 102]
    with pytest.raises(AttributeError):
        _ = enc.no_such_key
    pair = tok("今天", "非常好", return_special_tokens_mask=True, return_length=True)
    assert pair["token_type_ids"] == [0, 0, 0, 1, 1, 1, 1][: len(pair["input_ids"])]
    assert pair["special_tokens_mask"][0] == 1 and pair["special_tokens_mask"][-1] == 1
    assert pair["length"] == len(pair["input_ids"])
    assert pair.sequence_ids() == [None, 0, None, 1, 1, None]
    batch = tok(["今天", "非常好"], ["好", "今天"])
    assert batch["input_ids"] == [tok("今天", "好")["input_ids"], tok("非常好", "今天")["input_ids"]]
    tuples = tok([("今天", "好"), ("非常好", "今天")])
    assert tuples["input_ids"] == batch["input_ids"]


def test_numpy_outputs(tok):
    enc = tok(
        ["今天天气非常好", "好"],
        padding=True,
        return_tensors="np",
        return_offsets_mapping=True,
        return_length=True,
        return_special_tokens_mask=True,
    )
    for key in ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask"):
        assert enc[key].dtype == np.int64 and enc[key].shape == (2, 8)
    assert enc["offset_mapping"].shape == (2, 8, 2)
    assert enc["length"].tolist() == [8, 3]  # unpadded in batches, as the slow tokenizer
    assert enc["attention_mask"][1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    single = tok("好", return_tensors="np", return_length=True)
    assert single["input_ids"].shape == (1, 3) and single["length"].tolist() == [3]
    with pytest.raises(ValueError, match="padding=True"):
        tok(["今天天气非常好", "好"], return_tensors="np")


def test_truncation_strategies(tok):
    a, b = "今天天气非常好" * 3, "非常好"
    ids_a, ids_b = tok.encode(a, add_special_tokens=False), tok.encode(b, add_special_tokens=False)
    out = tok(a, b, truncation="only_first", max_length=10)["input_ids"]
    assert out == [101, *ids_a[:5], 102, *ids_b, 102]
    out = tok(a, b, truncation="longest_first", max_length=10)["input_ids"]
    assert len(out) == 10 and out[-3:-1] == ids_b[:2]
    tok_left = RoFormerTokenizer(BASE, truncation_side="left")
    out = tok_left(a, truncation=True, max_length=5)["input_ids"]
    assert out == [101, *ids_a[-3:], 102]
    # equal lengths, odd removal: the slow tokenizer takes the extra token from the second sequence
    # (the fast one from the first): 6 + 6 tokens into 10 - 3 leaves 4 + 3
    out = tok("今天天气非常好", "今天天气非常好", truncation=True, max_length=10)
    assert out["token_type_ids"].count(1) == 4


def test_overflow_windows(tok):
    text = "今天天气非常好" * 4  # 24 tokens
    ids = tok.encode(text, add_special_tokens=False)
    enc = tok(
        text,
        truncation=True,
        max_length=12,
        stride=4,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    windows = [row[1:-1] for row in enc["input_ids"]]
    assert windows[0] == ids[:10] and windows[1] == ids[6:16] and windows[-1][-1] == ids[-1]
    assert enc["overflow_to_sample_mapping"] == [0] * len(windows)
    assert all(len(row) <= 12 for row in enc["input_ids"])
    starts = [row[1][0] for row in enc["offset_mapping"]]
    assert starts == sorted(starts)
    qa = tok(
        ["问题", "另一个问题"],
        [text, "好"],
        truncation="only_second",
        max_length=10,
        stride=2,
        return_overflowing_tokens=True,
        padding=True,
    )
    mapping = qa["overflow_to_sample_mapping"]
    assert mapping[-1] == 1 and mapping.count(1) == 1 and mapping.count(0) > 1
    assert all(len(row) == 10 for row in qa["input_ids"])
    left = RoFormerTokenizer(BASE, truncation_side="left")(
        text, truncation=True, max_length=12, stride=4, return_overflowing_tokens=True
    )
    assert left["input_ids"][0][1:-1] == ids[-10:]


def test_padding_options(tok):
    enc = tok(["今天", "今天天气非常好"], padding="max_length", max_length=12, padding_side="left")
    assert enc["input_ids"][0][:8] == [0] * 8 and enc["attention_mask"][0][:8] == [0] * 8
    enc = tok("今天", padding=True, pad_to_multiple_of=8)
    assert len(enc["input_ids"]) == 8
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        tok("今天", padding=True, truncation=True, max_length=10, pad_to_multiple_of=8)
    padded = tok.pad([tok("今天"), tok("今天天气非常好")], return_tensors="np")
    assert padded["input_ids"].shape == (2, 8) and padded["attention_mask"][0].tolist() == [1] * 3 + [0] * 5


def test_max_length_defaults(tok, caplog):
    real = RoFormerTokenizer.from_pretrained(BASE_DIR)
    assert real.model_max_length == 1536
    assert len(real("好，" * 1000, truncation=True)["input_ids"]) == 1536
    with caplog.at_level(logging.WARNING, logger="roformer_np.tokenizer"):
        assert len(tok("好，" * 20, max_length=8)["input_ids"]) == 8  # max_length alone truncates
        assert (
            len(tok("好，" * 20, padding="max_length")["input_ids"]) == 42
        )  # no model_max_length: no padding
    assert "truncation" in caplog.text


# ---------------------------------------------------------------- pickle and files
def _encode_in_worker(tokenizer: RoFormerTokenizer) -> list[int]:
    return tokenizer.encode(SENTENCE)


def test_pickle_and_copy(tok):
    tok.tokenize("今天天气非常好 hello")  # fill the cache; it is not pickled
    data = pickle.dumps(tok)
    assert len(data) < 600_000
    clone = pickle.loads(data)
    assert clone.encode(SENTENCE) == tok.encode(SENTENCE)
    assert copy.deepcopy(tok).tokenize("Hello 世界") == tok.tokenize("Hello 世界")
    assert pickle.loads(pickle.dumps(tok(SENTENCE))) == tok(SENTENCE)
    if "fork" in multiprocessing.get_all_start_methods():
        with multiprocessing.get_context("fork").Pool(1) as pool:
            assert pool.map(_encode_in_worker, [tok]) == [[101, *SENTENCE_IDS, 102]]


def test_fast_tokenizer_pickles_and_round_trips(tmp_path):
    """RoFormerTokenizerFast keeps its class and rules through pickle and save_pretrained/from_pretrained."""
    from roformer_np import RoFormerTokenizerFast

    fast = RoFormerTokenizerFast(BASE, strip_accents=False)
    text = "这款C++笔记本 café"
    expected = fast(text, return_offsets_mapping=True)
    clone = pickle.loads(pickle.dumps(fast))
    assert type(clone) is RoFormerTokenizerFast and clone(text, return_offsets_mapping=True) == expected
    fast.save_pretrained(tmp_path)
    loaded = RoFormerTokenizerFast.from_pretrained(tmp_path)
    assert loaded(text, return_offsets_mapping=True) == expected
    assert loaded.tokenize(text)[2] == "[UNK]"  # C++ as one unknown word; the slow rules split it:
    assert RoFormerTokenizer.from_pretrained(tmp_path).tokenize(text)[2:5] == ["c", "+", "+"]


def test_save_and_load_round_trip(tmp_path):
    tok = RoFormerTokenizer(
        CHAR,
        do_lower_case=False,
        strip_accents=True,
        model_max_length=512,
        clean_up_tokenization_spaces=True,
        padding_side="left",
    )
    files = tok.save_pretrained(tmp_path / "saved")
    assert sorted(Path(f).name for f in files) == [
        "special_tokens_map.json",
        "tokenizer_config.json",
        "vocab.txt",
    ]
    assert (tmp_path / "saved" / "vocab.txt").read_bytes() == CHAR.read_bytes()
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert (
        config["tokenizer_class"] == "RoFormerTokenizer"
        and config["added_tokens_decoder"]["103"]["content"] == "[MASK]"
    )
    again = RoFormerTokenizer.from_pretrained(tmp_path / "saved")
    assert again.__getstate__() == tok.__getstate__()
    text = "Héllo WORLD, 今天天气非常好!"
    assert again.tokenize(text) == tok.tokenize(text) and again.decode(again.encode(text)) == tok.decode(
        tok.encode(text)
    )
    assert tok.save_vocabulary(tmp_path, "x") == (str(tmp_path / "x-vocab.txt"),)
    override = RoFormerTokenizer.from_pretrained(tmp_path / "saved", do_lower_case=True)
    assert override.tokenize("ABC") == RoFormerTokenizer(CHAR).tokenize("ABC")


def test_duplicate_vocab_lines_round_trip(tmp_path):
    tokens = SMALL[:5] + ["dup", "mid", "dup"]
    tok = RoFormerTokenizer(write_vocab(tmp_path / "vocab.txt", tokens))
    assert (
        tok.convert_tokens_to_ids("dup") == 7 and tok.convert_ids_to_tokens(5) == "[UNK]"
    )  # as Hugging Face
    tok.save_pretrained(tmp_path / "out")
    assert (tmp_path / "out" / "vocab.txt").read_text() == (tmp_path / "vocab.txt").read_text()


def test_from_pretrained_legacy_and_unsupported_files(tmp_path):
    write_vocab(tmp_path / "vocab.txt", SMALL + ["<mask>"])
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({"mask_token": {"content": "<mask>"}}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "foo": 1}))
    tok = RoFormerTokenizer.from_pretrained(tmp_path)
    assert tok.mask_token == "<mask>" and tok.do_lower_case is False
    (tmp_path / "added_tokens.json").write_text(json.dumps({"<new>": 17}))
    with pytest.raises(ValueError, match="not in vocab.txt"):
        RoFormerTokenizer.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="pretrained_path"):
        RoFormerTokenizer.from_pretrained(tmp_path / "missing")


# ---------------------------------------------------------------- jieba
def test_rjieba_missing_falls_back_to_jieba(monkeypatch):
    pytest.importorskip("jieba")
    monkeypatch.setitem(__import__("sys").modules, "rjieba", None)  # makes `import rjieba` fail
    with pytest.warns(UserWarning, match="falls back to the pure-Python jieba"):
        cut, name = tokenizer_jieba._load("auto")
    assert name == "jieba"
    assert cut("今天天气非常好 hello3.5") == ["今天天气", "非常", "好", " ", "hello3", ".", "5"]


def test_jieba_fallback_gives_the_same_tokens(tok):
    pytest.importorskip("jieba")
    texts = ["永和服装饰品有限公司,今天天气非常好", "C++ café 3.5% ＡＢＣ\u3000", "ab\ud800cd 😀"]
    expected = [tok.tokenize(t) for t in texts]
    try:
        tokenizer_jieba.use_backend("jieba")
        assert tokenizer_jieba.backend_name() == "jieba"
        assert [tok.tokenize(t) for t in texts] == expected
    finally:
        tokenizer_jieba.use_backend("auto")
    assert tokenizer_jieba.backend_name() == "rjieba"


# ---------------------------------------------------------------- bad and odd input
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda t: t.tokenize(None), TypeError, "text"),
        (lambda t: t.tokenize(b"bytes"), TypeError, "text"),
        (lambda t: t.encode(123), TypeError, "text"),
        (lambda t: t(None), TypeError, "text"),
        (lambda t: t(42), TypeError, "text"),
        (lambda t: t(["ok", 3]), TypeError, r"text\[1\]"),
        (lambda t: t("ok", 5), TypeError, "text_pair"),
        (lambda t: t(["a", "b"], ["c"]), ValueError, "text_pair"),
        (lambda t: t("a", padding="bogus"), ValueError, "padding"),
        (lambda t: t("a", truncation="bogus"), ValueError, "truncation"),
        (lambda t: t("a", max_length=-1), ValueError, "max_length"),
        (lambda t: t("a", max_length="8"), TypeError, "max_length"),
        (lambda t: t("a", stride=-2), ValueError, "stride"),
        (lambda t: t("a", return_tensors="pt"), ValueError, "return_tensors"),
        (lambda t: t("a", padding_side="middle"), ValueError, "padding_side"),
        (
            lambda t: t("好" * 9, "好", truncation=True, max_length=6, return_overflowing_tokens=True),
            ValueError,
            "longest_first",
        ),
        (
            lambda t: t("好" * 9, truncation=True, max_length=6, stride=4, return_overflowing_tokens=True),
            ValueError,
            "stride",
        ),
        (
            lambda t: t("好", add_special_tokens=False, return_token_type_ids=True),
            ValueError,
            "add_special_tokens",
        ),
        (lambda t: t.decode("abc"), TypeError, "token_ids"),
        (lambda t: t.decode([1.5]), TypeError, "token_ids"),
        (lambda t: t.decode(np.zeros((2, 2), dtype=np.int64)), TypeError, "batch_decode"),
        (lambda t: t.convert_tokens_to_ids([1]), TypeError, "tokens"),
    ],
)
def test_bad_input(tok, call, error, match):
    with pytest.raises(error, match=match):
        call(tok)


def test_bad_construction(tmp_path):
    with pytest.raises(TypeError, match="vocab_file"):
        RoFormerTokenizer(None)
    with pytest.raises(ValueError, match="vocab_file"):
        RoFormerTokenizer(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="empty"):
        RoFormerTokenizer(write_vocab(tmp_path / "empty.txt", []))
    (tmp_path / "latin1.txt").write_bytes(b"[PAD]\n\xff\xfe\n")
    with pytest.raises(ValueError, match="UTF-8"):
        RoFormerTokenizer(tmp_path / "latin1.txt")
    with pytest.raises(ValueError, match="mask_token"):
        RoFormerTokenizer(write_vocab(tmp_path / "v.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"]))
    with pytest.raises(ValueError, match="unk_token"):
        RoFormerTokenizer(BASE, unk_token="<unk>")
    with pytest.raises(TypeError, match="do_lower_case"):
        RoFormerTokenizer(BASE, do_lower_case="yes")
    with pytest.raises(TypeError, match="never_split"):
        RoFormerTokenizer(BASE, never_split="c++")
    with pytest.raises(ValueError, match="model_max_length"):
        RoFormerTokenizer(BASE, model_max_length=0)


def test_odd_unicode_never_raises(tok):
    texts = {
        "ab\ud800cd": ["ab", "cd"],  # lone surrogates are dropped (Hugging Face's rjieba raises here)
        "x\x00y\ufffdz": ["x", "y", "z"],
        "a\u200bb": ["a", "b"],
        "\u2028\u2029\x0b\x0c \t\r\n": [],
        "😀": ["[UNK]"],
        "\U0010ffff\U000e0001": [],
        "ｈｅｌｌｏ": ["[UNK]"] * 5,
    }
    for text, expected in texts.items():
        assert tok.tokenize(text) == expected, repr(text)
        tok(text, return_offsets_mapping=True)
    long_word = "a" * 100_000
    assert tok.tokenize(long_word) == ["[UNK]"]
    assert tok.tokenize("今天" * 10_000)[:2] == ["今天", "今天"]


def test_word_cache_eviction(tok, monkeypatch):
    import roformer_np.tokenizer_stages as module

    monkeypatch.setattr(module, "CACHE_SIZE", 8)
    fresh = RoFormerTokenizer(BASE)
    words = [f"zq{i}x" for i in range(40)]
    first = [fresh.tokenize(w) for w in words]
    expected_ids = [tok.convert_tokens_to_ids(t) for t in first]
    assert [fresh.encode(w, add_special_tokens=False) for w in words] == expected_ids
    assert len(fresh._cache) <= 8
    assert len(fresh._ids_of) <= fresh.vocab_size + 8 and len(fresh._tokens_of) <= fresh.vocab_size + 8
    assert all(fresh._ids_of[t] == (i,) for t, i in fresh.vocab.items())  # eviction keeps the vocabulary
    fresh.clear_cache()
    assert len(fresh._cache) == 0 and len(fresh._ids_of) == fresh.vocab_size
    assert [fresh.tokenize(w) for w in words] == first
    assert [fresh.tokenize(w) for w in words] == first == [tok.tokenize(w) for w in words]


def test_no_warning_on_plain_use(tok):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tok(["今天", "好"], padding=True, truncation=True, max_length=16, return_tensors="np")


@pytest.mark.parametrize(
    "text, pair, kwargs",
    [
        ("好好好好", None, dict(truncation=True, max_length=1)),  # below the special tokens' room
        ("好好好好", None, dict(truncation=True, max_length=2, return_overflowing_tokens=True)),
        ("好，好，好", None, dict(truncation="only_second", max_length=4)),  # no pair: nothing to cut
        ("好", "好好好好", dict(truncation="only_first", max_length=5)),
        ("好好好好", "好", dict(truncation="only_second", max_length=5)),
    ],
)
def test_truncation_that_cannot_reach_max_length_leaves_the_input_whole(tok, text, pair, kwargs):
    """As Hugging Face's tokenizers (which log an error): the ids come back untruncated, with a warning."""
    whole = tok(text, pair)["input_ids"]
    with pytest.warns(UserWarning, match="truncat"):
        got = tok(text, pair, **kwargs)["input_ids"]
    assert got in (whole, [whole])  # one row, or one overflow row


def test_longest_first_below_the_special_tokens_keeps_only_them(tok):
    """A pair cut to a max_length smaller than its three special tokens: Hugging Face keeps [CLS] [SEP] [SEP]."""
    ids = tok("好", "好好", truncation="longest_first", max_length=2)["input_ids"]
    assert ids == [tok.cls_token_id, tok.sep_token_id, tok.sep_token_id]
