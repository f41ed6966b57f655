"""Auto classes (the class chosen from config.json / tokenizer_config.json as transformers chooses it) and the
torch habits around a model: ``device=`` in pipelines, ``eval()``, ``train()``, ``to()``."""

from __future__ import annotations

import json
import shutil
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, random_weights, tiny_config
from fake_models import VOCAB, write_vocab
from hub_cache import add_snapshot, forbid_downloads, use_cache

from roformer_np import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    RoFormerConfig,
    RoFormerForCausalLM,
    RoFormerForMaskedLM,
    RoFormerForMultipleChoice,
    RoFormerForQuestionAnswering,
    RoFormerForSequenceClassification,
    RoFormerForTokenClassification,
    RoFormerModel,
    RoFormerTokenizer,
    RoFormerTokenizerFast,
    pipeline,
)
from roformer_np.auto import initial_weights
from roformer_np.weights import WORD_EMBEDDINGS_KEY

REAL_BASE = REPO / "tests" / "data" / "real" / "roformer_chinese_base"  # junnyu/roformer_chinese_base's files

AUTO_CLASSES = [
    (AutoModel, RoFormerModel), (AutoModelForMaskedLM, RoFormerForMaskedLM),
    (AutoModelForCausalLM, RoFormerForCausalLM),
    (AutoModelForSequenceClassification, RoFormerForSequenceClassification),
    (AutoModelForMultipleChoice, RoFormerForMultipleChoice),
    (AutoModelForTokenClassification, RoFormerForTokenClassification),
    (AutoModelForQuestionAnswering, RoFormerForQuestionAnswering),
]


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, demo_root) -> Path:
    """A masked-LM checkpoint directory with its vocab.txt (no tokenizer_config.json)."""
    path = shutil.copytree(demo_root / "mlm", tmp_path_factory.mktemp("auto") / "mlm")
    write_vocab(path)
    return path


def edited(source: Path, target: Path, **files: dict | None) -> Path:
    """A copy of ``source`` with JSON files replaced (a dict) or removed (None)."""
    shutil.copytree(source, target)
    for name, data in files.items():
        file = target / name.replace("__", ".")
        file.unlink(missing_ok=True)
        if data is not None:
            file.write_text(json.dumps(data), encoding="utf-8")
    return target


def config_dict(path: Path) -> dict:
    return json.loads((path / "config.json").read_text(encoding="utf-8"))


# -- AutoConfig ----------------------------------------------------------------------------------
def test_auto_config_reads_the_model_type(checkpoint):
    config = AutoConfig.from_pretrained(checkpoint, num_labels=4)
    assert type(config) is RoFormerConfig and config.num_labels == 4
    assert config.name_or_path == str(checkpoint)
    assert AutoConfig.from_pretrained(checkpoint / "config.json").vocab_size == len(VOCAB)
    assert AutoConfig.for_model("roformer", hidden_size=48).hidden_size == 48


def test_auto_config_refuses_another_model_type(checkpoint, tmp_path):
    bert = edited(checkpoint, tmp_path / "bert", config__json={**config_dict(checkpoint), "model_type": "bert"})
    with pytest.raises(ValueError, match="model_type 'bert' is not supported by roformer_np.*supported: roformer"):
        AutoConfig.from_pretrained(bert)
    with pytest.raises(ValueError, match="model_type 'bert' is not supported"):
        AutoModel.from_pretrained(bert)
    with pytest.raises(ValueError, match="model_type 'gpt2' is not supported"):
        AutoConfig.for_model("gpt2")


def test_without_model_type_the_name_decides_as_in_transformers(checkpoint, tmp_path):
    data = {k: v for k, v in config_dict(checkpoint).items() if k != "model_type"}
    plain = edited(checkpoint, tmp_path / "plain", config__json=data)
    with pytest.raises(ValueError, match="Unrecognized model in .*plain.*model_type key.*roformer"):
        AutoConfig.from_pretrained(plain)
    named = edited(checkpoint, tmp_path / "my-roformer-ckpt", config__json=data)
    assert type(AutoConfig.from_pretrained(named)) is RoFormerConfig


# -- AutoModel* ----------------------------------------------------------------------------------
@pytest.mark.parametrize("auto, cls", AUTO_CLASSES)
@pytest.mark.filterwarnings("ignore:.*(unused weights|newly initialized|were not used|is_decoder=False)")
def test_auto_models_pick_their_class_whatever_the_architectures(checkpoint, auto, cls):
    model = auto.from_pretrained(checkpoint, dtype=np.float64)
    assert type(model) is cls and model.dtype == np.float64  # architectures says RoFormerForMaskedLM
    reference = cls.from_pretrained(checkpoint, dtype=np.float64)
    state, expected = model.state_dict(), reference.state_dict()
    assert state.keys() == expected.keys() and all(np.array_equal(state[k], expected[k]) for k in state)


@pytest.mark.parametrize("auto, cls", AUTO_CLASSES)
@pytest.mark.filterwarnings("ignore:.*is_decoder=False")
def test_from_config_initialises_as_hugging_face(auto, cls):
    config = tiny_config(vocab_size=len(VOCAB), initializer_range=0.05, pad_token_id=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # transformers' from_config warns about nothing
        warnings.filterwarnings("ignore", message=".*is_decoder=False")
        model = auto.from_config(config, seed=7)
    assert type(model) is cls
    base = model if cls is RoFormerModel else model.roformer
    embeddings = base.weights[WORD_EMBEDDINGS_KEY]
    assert np.all(embeddings[3] == 0) and np.all(embeddings[:3] != 0)  # the padding row
    assert np.all(base.weights["embeddings.LayerNorm.weight"] == 1)
    assert np.all(base.weights["encoder.layer.0.attention.self.query.bias"] == 0)
    std = base.weights["encoder.layer.0.intermediate.dense.weight"].std()
    assert 0.04 < std < 0.06  # normal(0, initializer_range)
    again = auto.from_config(config, seed=7).state_dict()
    other = auto.from_config(config, seed=8).state_dict()
    assert all(np.array_equal(v, again[k]) for k, v in model.state_dict().items())
    key = WORD_EMBEDDINGS_KEY if cls is RoFormerModel else "roformer." + WORD_EMBEDDINGS_KEY
    assert not np.array_equal(other[key], again[key])


def test_initial_weights_fit_the_model():
    config = tiny_config()
    weights = initial_weights(config, np.float64, seed=0)
    assert weights.keys() == random_weights(config).keys()
    out = RoFormerModel(config, weights, dtype=np.float64)(input_ids=[[1, 2, 3]]).last_hidden_state
    assert out.shape == (1, 3, config.hidden_size) and np.isfinite(out).all()


def test_auto_model_refuses_a_foreign_config():
    with pytest.raises(ValueError, match="unrecognized configuration SimpleNamespace.*supported: roformer"):
        AutoModel.from_config(types.SimpleNamespace(model_type="bert"))


@pytest.mark.parametrize("auto", [AutoConfig, AutoTokenizer, AutoModel, AutoModelForMaskedLM])
def test_auto_classes_are_factories(auto):
    with pytest.raises(OSError, match="is designed to be instantiated"):
        auto()


# -- AutoTokenizer -------------------------------------------------------------------------------
def test_auto_tokenizer_follows_tokenizer_class_and_use_fast(tmp_path):
    real = shutil.copytree(REAL_BASE, tmp_path / "real")  # tokenizer_class: RoFormerTokenizer
    fast = AutoTokenizer.from_pretrained(real)
    slow = AutoTokenizer.from_pretrained(real, use_fast=False)
    assert type(fast) is RoFormerTokenizerFast and type(slow) is RoFormerTokenizer
    assert fast.model_max_length == 1536  # read from tokenizer_config.json
    text = "这款C++笔记本很好"
    assert fast(text)["input_ids"] == RoFormerTokenizerFast.from_pretrained(real)(text)["input_ids"]
    assert slow(text)["input_ids"] == RoFormerTokenizer.from_pretrained(real)(text)["input_ids"]
    assert fast(text)["input_ids"] != slow(text)["input_ids"]  # C++: [UNK] for the fast one, c + + for the slow


def test_auto_tokenizer_names_an_unsupported_class(tmp_path):
    xlnet = edited(REAL_BASE, tmp_path / "xlnet", tokenizer_config__json={"tokenizer_class": "XLNetTokenizer"})
    with pytest.raises(ValueError, match="tokenizer class 'XLNetTokenizer'.*not supported.*RoFormerTokenizerFast"):
        AutoTokenizer.from_pretrained(xlnet)


def test_auto_tokenizer_falls_back_to_the_config(checkpoint, tmp_path):
    # no tokenizer_config.json: the config's tokenizer_class, then the model type's pair
    assert type(AutoTokenizer.from_pretrained(checkpoint)) is RoFormerTokenizerFast
    assert type(AutoTokenizer.from_pretrained(checkpoint, use_fast=False)) is RoFormerTokenizer
    named = edited(checkpoint, tmp_path / "named",
                   config__json={**config_dict(checkpoint), "tokenizer_class": "RoFormerTokenizerFast"})
    assert type(AutoTokenizer.from_pretrained(named, use_fast=False)) is RoFormerTokenizerFast  # as transformers
    foreign = edited(checkpoint, tmp_path / "foreign",
                     config__json={**config_dict(checkpoint), "tokenizer_class": "XLNetTokenizer"})
    with pytest.raises(ValueError, match="'XLNetTokenizer' \\(the config's tokenizer_class\\) is not supported"):
        AutoTokenizer.from_pretrained(foreign)


def test_auto_tokenizer_type_and_options(checkpoint):
    tok = AutoTokenizer.from_pretrained(checkpoint, tokenizer_type="roformer", use_fast=False, model_max_length=9)
    assert type(tok) is RoFormerTokenizer and tok.model_max_length == 9
    with pytest.raises(ValueError, match="model type 'gpt2' has no tokenizer in roformer_np"):
        AutoTokenizer.from_pretrained(checkpoint, tokenizer_type="gpt2")
    with pytest.raises(ValueError, match="use_fast must be True or False"):
        AutoTokenizer.from_pretrained(checkpoint, use_fast="yes")


# -- through the Hub cache -----------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*unused weights")
def test_auto_classes_load_hub_ids(checkpoint, tmp_path, monkeypatch):
    forbid_downloads(monkeypatch)
    cache = use_cache(monkeypatch, tmp_path / "hub")
    real = edited(REAL_BASE, tmp_path / "tok", vocab__txt=None)
    shutil.copy(checkpoint / "vocab.txt", real / "vocab.txt")  # the small vocabulary of the fake model
    shutil.copy(checkpoint / "model.safetensors", real / "model.safetensors")
    (real / "config.json").write_text((checkpoint / "config.json").read_text(encoding="utf-8"), encoding="utf-8")
    add_snapshot(cache, "junnyu/roformer_chinese_base", real)
    config = AutoConfig.from_pretrained("junnyu/roformer_chinese_base")
    assert config.name_or_path == "junnyu/roformer_chinese_base"
    model = AutoModelForMaskedLM.from_pretrained("junnyu/roformer_chinese_base", revision="main")
    tok = AutoTokenizer.from_pretrained("junnyu/roformer_chinese_base")
    assert type(model) is RoFormerForMaskedLM and type(tok) is RoFormerTokenizerFast
    enc = tok(["今天天气很好"], return_tensors="np")
    expected = RoFormerForMaskedLM.from_pretrained(checkpoint)(**enc).logits
    assert np.array_equal(model(**enc).logits, expected)
    assert type(AutoModel.from_pretrained("junnyu/roformer_chinese_base")) is RoFormerModel
    with pytest.raises(FileNotFoundError, match="junnyu/absent"):
        AutoTokenizer.from_pretrained("junnyu/absent")


# -- torch habits --------------------------------------------------------------------------------
CPU_DEVICES = [None, -1, -2, "cpu", "CPU", types.SimpleNamespace(type="cpu", index=None)]  # the last: torch.device
OTHER_DEVICES = [0, 1, "cuda", "cuda:0", "mps", True, types.SimpleNamespace(type="cuda", index=0), 0.0]


@pytest.mark.parametrize("device", CPU_DEVICES)
def test_pipeline_accepts_the_cpu(checkpoint, device):
    fill = pipeline("fill-mask", model=checkpoint, device=device)
    assert fill("今天[MASK]") == pipeline("fill-mask", model=checkpoint)("今天[MASK]")


@pytest.mark.parametrize("device", OTHER_DEVICES)
def test_pipeline_refuses_other_devices(checkpoint, device):
    with pytest.raises(ValueError, match="runs on the CPU only"):
        pipeline("fill-mask", model=checkpoint, device=device)


@pytest.mark.filterwarnings("ignore:.*unused weights")
@pytest.mark.parametrize("cls", [RoFormerModel, RoFormerForMaskedLM])
def test_eval_train_and_to(checkpoint, cls):
    model = cls.from_pretrained(checkpoint)
    assert model.eval() is model and model.train(False) is model and model.training is False
    for device in CPU_DEVICES[1:]:
        assert model.to(device) is model
    with pytest.raises(ValueError, match="runs on the CPU only"):
        model.to("cuda")
    with pytest.raises(NotImplementedError, match="inference-only"):
        model.train()
    with pytest.raises(ValueError, match="mode must be True or False"):
        model.train(0)
