"""The char / Sim / V2 checkpoints name BertTokenizer: AutoTokenizer, the pipelines and the command line load
BERT's WordPiece tokenizer (fast by default, slow with use_fast=False) from tokenizer_config.json's
tokenizer_class, through AutoTokenizer's one table; an unknown class is a clear error."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
from conftest import REAL, random_weights, tiny_config

from roformer_np import (
    AutoTokenizer,
    BertTokenizer,
    BertTokenizerFast,
    ElectraTokenizer,
    ElectraTokenizerFast,
    RoFormerForMaskedLM,
    RoFormerTokenizer,
    RoFormerTokenizerFast,
    pipeline,
)
from roformer_np.cli import main

CHAR_VOCAB = REAL / "roformer_chinese_char" / "vocab.txt"
TEXT = "RoFormer模型在C++里，Café"


def _tokenizer_dir(tmp_path, source: str = "roformer_chinese_char_base", **config) -> object:
    """A real checkpoint's config.json and tokenizer_config.json (edited by ``config``) with the char vocab."""
    directory = shutil.copytree(REAL / source, tmp_path / source)
    shutil.copy(CHAR_VOCAB, directory / "vocab.txt")
    if config:
        file = directory / "tokenizer_config.json"
        file.write_text(json.dumps({**json.loads(file.read_text(encoding="utf-8")), **config}), encoding="utf-8")
    return directory


@pytest.mark.parametrize("source", ["roformer_chinese_char_base", "roformer_v2_chinese_char_base"])
def test_auto_tokenizer_loads_bert_for_the_char_checkpoints(tmp_path, source):
    directory = _tokenizer_dir(tmp_path, source)
    fast, slow = AutoTokenizer.from_pretrained(directory), AutoTokenizer.from_pretrained(directory, use_fast=False)
    assert type(fast) is BertTokenizerFast and type(slow) is BertTokenizer
    assert fast(TEXT, return_offsets_mapping=True) == BertTokenizerFast(CHAR_VOCAB)(TEXT, return_offsets_mapping=True)
    assert slow(TEXT) == BertTokenizer(CHAR_VOCAB)(TEXT)
    # not RoFormer's fast rules: C++ is split at its punctuation, not one unknown jieba word
    assert fast.tokenize("这款C++笔记本") == ["这", "款", "c", "+", "+", "笔", "记", "本"]
    assert RoFormerTokenizerFast(CHAR_VOCAB).tokenize("这款C++笔记本") == ["这", "款", "[UNK]", "笔", "记", "本"]


def test_auto_tokenizer_follows_every_name_and_use_fast(tmp_path):
    expected = {
        ("BertTokenizer", True): BertTokenizerFast, ("BertTokenizer", False): BertTokenizer,
        ("BertTokenizerFast", False): BertTokenizerFast,  # transformers too: a Fast name stays fast
        ("ElectraTokenizer", True): ElectraTokenizerFast, ("ElectraTokenizer", False): ElectraTokenizer,
        ("ElectraTokenizerFast", True): ElectraTokenizerFast,
    }
    for (name, use_fast), cls in expected.items():
        directory = _tokenizer_dir(tmp_path / f"{name}-{use_fast}", tokenizer_class=name)
        assert type(AutoTokenizer.from_pretrained(directory, use_fast=use_fast)) is cls, (name, use_fast)
    assert type(AutoTokenizer.from_pretrained(directory, tokenizer_type="bert")) is BertTokenizerFast


def test_an_unknown_tokenizer_class_is_a_clear_error(tmp_path):
    directory = _tokenizer_dir(tmp_path, tokenizer_class="XLNetTokenizer")
    with pytest.raises(ValueError, match="tokenizer class 'XLNetTokenizer'.*not supported.*BertTokenizerFast"):
        AutoTokenizer.from_pretrained(directory)
    with pytest.raises(ValueError, match="XLNetTokenizer"):
        pipeline("fill-mask", model=_masked_lm_dir(tmp_path / "model", tokenizer_class="XLNetTokenizer"))


def test_save_and_load_round_trip(tmp_path):
    tok = BertTokenizerFast(CHAR_VOCAB, do_lower_case=False, model_max_length=512)
    tok.save_pretrained(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "BertTokenizer" and config["clean_up_tokenization_spaces"] is True
    loaded = AutoTokenizer.from_pretrained(tmp_path / "saved")
    assert type(loaded) is BertTokenizerFast and loaded.model_max_length == 512 and not loaded.do_lower_case
    assert loaded(TEXT, return_offsets_mapping=True) == tok(TEXT, return_offsets_mapping=True)
    assert BertTokenizer(CHAR_VOCAB).decode(tok.encode("hello , world .")) == "[CLS] hello, world. [SEP]"


def _masked_lm_dir(directory, **tokenizer_config) -> object:
    """A tiny seeded masked-LM checkpoint sized for the real char vocab, with the char_base tokenizer files."""
    config = tiny_config(vocab_size=12000, max_position_embeddings=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the head is newly initialised
        RoFormerForMaskedLM(config, random_weights(config, 3), init_seed=3).save_pretrained(directory)
    shutil.copy(CHAR_VOCAB, directory / "vocab.txt")
    source = json.loads((REAL / "roformer_chinese_char_base" / "tokenizer_config.json").read_text(encoding="utf-8"))
    (directory / "tokenizer_config.json").write_text(json.dumps({**source, **tokenizer_config}), encoding="utf-8")
    return directory


def test_pipelines_load_the_tokenizer_the_checkpoint_names(tmp_path):
    directory = _masked_lm_dir(tmp_path / "mlm")
    fill = pipeline("fill-mask", model=directory)
    assert type(fill.tokenizer) is BertTokenizerFast
    assert type(pipeline("fill-mask", model=directory, use_fast=False).tokenizer) is BertTokenizer
    assert type(pipeline("feature-extraction", model=directory).tokenizer) is BertTokenizerFast
    results = fill("今天天气[MASK]好", top_k=3)
    assert len(results) == 3
    assert fill.tokenizer.tokenize("今天天气[MASK]好") == ["今", "天", "天", "气", "[MASK]", "好"]
    assert all(0 <= r["token"] < 12000 and r["sequence"].startswith("今 天 天 气") for r in results)
    roformer = _masked_lm_dir(tmp_path / "roformer", tokenizer_class="RoFormerTokenizer")
    assert type(pipeline("fill-mask", model=roformer).tokenizer) is RoFormerTokenizerFast


def test_the_command_line_picks_it_up(tmp_path, capsys):
    directory = _masked_lm_dir(tmp_path / "mlm")
    assert main(["fill-mask", "--model", str(directory), "--top-k", "2", "--json", "-q", "今天[MASK]气很好"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = pipeline("fill-mask", model=directory)("今天[MASK]气很好", top_k=2)
    assert [r["token"] for r in out[0]["result"]] == [r["token"] for r in expected]


def test_loading_another_class_than_the_named_one_warns_as_transformers(tmp_path, caplog):
    directory = _tokenizer_dir(tmp_path)  # names BertTokenizer
    with caplog.at_level("WARNING", logger="roformer_np.tokenizer"):
        RoFormerTokenizer.from_pretrained(directory)
    assert "is 'BertTokenizer'. The class this function is called from is 'RoFormerTokenizer'" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="roformer_np.tokenizer"):
        BertTokenizerFast.from_pretrained(directory), BertTokenizer.from_pretrained(directory)
    assert "not the same type" not in caplog.text
