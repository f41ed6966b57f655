"""Config values: the types Hugging Face's signatures declare, the caps on sizes no real model has, and a
config that promises more than its checkpoint holds — each refused by name before anything large is built."""

from __future__ import annotations

import json
import math
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from conftest import random_weights, tiny_config

from roformer_np import CheckpointError, RoFormerConfig, RoFormerForSequenceClassification, RoFormerModel
from roformer_np.config import SIZE_LIMITS
from roformer_np.ops import sinusoidal_table
from roformer_np.weights import save_weights, sinusoidal_key

TINY = dict(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
            max_position_embeddings=32, type_vocab_size=2)


def _checkpoint(directory, config, weights=None):
    """config.json + model.safetensors (base weights without the sinusoidal table, as many files have)."""
    config.save_pretrained(directory)
    save_weights(random_weights(config) if weights is None else weights, directory)
    return directory


def _edit_config(directory, **fields):
    path = directory / "config.json"
    data = json.loads(path.read_text())
    data.update(fields)
    path.write_text(json.dumps(data))


def _load_measured(load):
    """(exception raised by ``load()``, seconds, peak traced bytes)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        load()
    except Exception as exc:  # the test asserts what it is
        error = exc
    else:
        error = None
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return error, elapsed, peak


# ---------------------------------------------------------------------------------------------
# Defect 5: sizes that cannot be real, refused before anything is built
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value, cls", [
    ("num_hidden_layers", 10**6, RoFormerModel),
    ("num_hidden_layers", 2**31, RoFormerModel),
    ("max_position_embeddings", 10**8, RoFormerModel),
    ("num_labels", 5 * 10**7, RoFormerForSequenceClassification),
    ("vocab_size", 10**12, RoFormerModel),
    ("intermediate_size", 10**9, RoFormerModel),
    ("type_vocab_size", 10**9, RoFormerModel),
])
def test_absurd_config_sizes_fail_fast_naming_the_field(tmp_path, field, value, cls) -> None:
    _checkpoint(tmp_path, tiny_config())
    _edit_config(tmp_path, **{field: value})
    error, elapsed, peak = _load_measured(lambda: cls.from_pretrained(tmp_path))
    assert isinstance(error, ValueError), error
    assert field in str(error) and str(SIZE_LIMITS[field]) in str(error), str(error)
    assert elapsed < 1.0 and peak < 20 * 2**20, (elapsed, peak)  # before: 17 s and 3.2 GB for 10^6 layers


@pytest.mark.parametrize("field", sorted(SIZE_LIMITS))
def test_every_size_cap_names_the_field_and_its_range(field) -> None:
    limit = SIZE_LIMITS[field]
    with pytest.raises(ValueError, match=rf"{field} must be an integer in \[1, {limit}\]"):
        RoFormerConfig(**{**TINY, field: limit + 1})


def test_caps_are_far_above_real_models() -> None:
    """The largest published sizes (vocabularies ~256k, hidden 16k-25k, ~130 layers, 1M-token contexts)."""
    assert SIZE_LIMITS["vocab_size"] >= 16 * 262_144 and SIZE_LIMITS["hidden_size"] >= 2 * 25_600
    assert SIZE_LIMITS["num_hidden_layers"] >= 8 * 128 and SIZE_LIMITS["max_position_embeddings"] >= 2**20
    assert SIZE_LIMITS["num_labels"] >= 21_843  # ImageNet-21k's label set


def test_config_with_more_layers_than_the_checkpoint_fails_fast(tmp_path) -> None:
    _checkpoint(tmp_path, tiny_config())
    _edit_config(tmp_path, num_hidden_layers=SIZE_LIMITS["num_hidden_layers"])
    error, elapsed, peak = _load_measured(lambda: RoFormerModel.from_pretrained(tmp_path))
    assert isinstance(error, CheckpointError), error
    assert "num_hidden_layers" in str(error) and "2 layers" in str(error), str(error)
    assert elapsed < 0.5 and peak < 5 * 2**20, (elapsed, peak)


def test_a_config_with_fewer_layers_than_the_checkpoint_still_loads(tmp_path) -> None:
    """Hugging Face loads the first layers and reports the rest as unused; so do we."""
    _checkpoint(tmp_path, tiny_config())
    _edit_config(tmp_path, num_hidden_layers=1)
    with pytest.warns(UserWarning, match=r"encoder\.layer\.1\."):
        model = RoFormerModel.from_pretrained(tmp_path)
    assert len(model.params.layers) == 1


def test_sinusoidal_table_is_built_only_as_far_as_it_is_used(tmp_path) -> None:
    """A file without the table and a config allowing 2^20 positions: no [2^20, D] table at load or forward."""
    _checkpoint(tmp_path, tiny_config())
    _edit_config(tmp_path, max_position_embeddings=SIZE_LIMITS["max_position_embeddings"])
    ids = [[3, 4, 5, 6, 7]]
    error, elapsed, peak = _load_measured(lambda: RoFormerModel.from_pretrained(tmp_path)(input_ids=ids))
    assert error is None and peak < 5 * 2**20, (error, peak)
    small = RoFormerModel(tiny_config(), random_weights(tiny_config()))
    big = RoFormerModel.from_pretrained(tmp_path)
    np.testing.assert_array_equal(big(input_ids=ids)[0], small(input_ids=ids)[0])  # the same rows, bit for bit


@pytest.mark.parametrize("used", [1, 5, 31, 32])
def test_a_table_grown_on_demand_equals_the_whole_table(used) -> None:
    cfg = tiny_config(num_attention_heads=1)  # D = 16
    model = RoFormerModel(cfg, random_weights(cfg))
    model(input_ids=np.ones((1, used), np.int64))
    whole = sinusoidal_table(cfg.max_position_embeddings, cfg.head_size)
    np.testing.assert_array_equal(model.state_dict()[sinusoidal_key()], whole)


def test_table_rows_do_not_depend_on_how_many_are_computed() -> None:
    whole = sinusoidal_table(1536, 64)
    for n in (*range(1, 70), 127, 128, 129, 511, 1000, 1535):
        np.testing.assert_array_equal(sinusoidal_table(n, 64), whole[:n], err_msg=str(n))


def test_num_labels_for_a_new_head_is_capped_but_real_counts_load(tmp_path) -> None:
    _checkpoint(tmp_path, tiny_config())
    _edit_config(tmp_path, num_labels=1000)  # a large real label set on a base checkpoint: seeded-random head
    with pytest.warns(UserWarning, match="newly initialized"):
        clf = RoFormerForSequenceClassification.from_pretrained(tmp_path)
    assert clf(input_ids=[[1, 2, 3]]).logits.shape == (1, 1000)
    with pytest.raises(ValueError, match=r"num_labels must be an integer in \[1, "):
        RoFormerConfig(num_labels=SIZE_LIMITS["num_labels"] + 1)
    c = RoFormerConfig()
    with pytest.raises(ValueError, match="num_labels"):
        c.num_labels = 10**9  # the setter builds id2label: checked first
    assert c.num_labels == 2


# ---------------------------------------------------------------------------------------------
# Defect 11: types as Hugging Face's signatures declare them
# ---------------------------------------------------------------------------------------------
BOOL_FIELDS = ["rotary_value", "use_cache", "is_decoder", "add_cross_attention", "is_encoder_decoder",
               "tie_word_embeddings", "output_attentions", "output_hidden_states", "return_dict", "torchscript"]


@pytest.mark.parametrize("field", BOOL_FIELDS)
@pytest.mark.parametrize("value", ["false", "true", 0, 1, None, 0.0])
def test_boolean_fields_must_be_booleans(field, value) -> None:
    with pytest.raises(ValueError, match=rf"{field} must be true or false"):
        RoFormerConfig(**{**TINY, field: value})


def test_a_false_string_in_config_json_is_refused(tmp_path) -> None:
    """``"is_decoder": "false"`` was truthy: the model silently became a causal decoder."""
    _checkpoint(tmp_path, tiny_config())
    _edit_config(tmp_path, is_decoder="false")
    with pytest.raises(ValueError, match="is_decoder"):
        RoFormerModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, -1e-12, 0.0, "1e-12", True, None])
def test_layer_norm_eps_must_be_finite_and_positive(value) -> None:
    with pytest.raises(ValueError, match="layer_norm_eps must be a finite number > 0"):
        RoFormerConfig(**{**TINY, "layer_norm_eps": value})


@pytest.mark.parametrize("value", ["0", 2.5, 0.0, True, -1, 64, [0]])
def test_pad_token_id_must_be_an_id_of_the_vocabulary(value) -> None:
    with pytest.raises(ValueError, match=r"pad_token_id must be None or an integer in \[0, vocab_size=64\)"):
        RoFormerConfig(**{**TINY, "pad_token_id": value})


def test_pad_token_id_as_a_string_in_config_json_is_refused(tmp_path) -> None:
    _checkpoint(tmp_path, tiny_config())
    _edit_config(tmp_path, pad_token_id="0")
    with pytest.raises(ValueError, match="pad_token_id"):
        RoFormerModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("value", [-5, 0, "3", 2.5, True])
def test_num_labels_must_be_a_positive_integer(value) -> None:
    with pytest.raises(ValueError, match="num_labels must be an integer in"):
        RoFormerConfig(**{**TINY, "num_labels": value})


def test_negative_num_labels_in_config_json_is_refused(tmp_path) -> None:
    """``num_labels: -5`` used to give a classifier with no outputs."""
    _checkpoint(tmp_path, tiny_config())
    _edit_config(tmp_path, num_labels=-5)
    with pytest.raises(ValueError, match="num_labels"):
        RoFormerForSequenceClassification.from_pretrained(tmp_path)


@pytest.mark.parametrize("label2id", [{"neg": 2e308, "pos": 1}, {"neg": math.inf}, {"neg": -math.inf},
                                      {"neg": math.nan}])
def test_a_label_id_beyond_any_integer_is_a_value_error(tmp_path, label2id) -> None:
    """Found by the config fuzzer: JSON's 2e+308 reads as inf, and int(inf) raised OverflowError."""
    id2label = {"0": "neg", "1": "pos"}  # label2id is read only beside id2label, as in transformers
    (tmp_path / "config.json").write_text(json.dumps({**TINY, "id2label": id2label, "label2id": label2id}))
    with pytest.raises(ValueError, match="config label2id holds an entry that is not str -> int"):
        RoFormerConfig.from_pretrained(tmp_path)


def test_an_empty_id2label_is_refused() -> None:
    with pytest.raises(ValueError, match="num_labels"):
        RoFormerConfig(**{**TINY, "id2label": {}})


@pytest.mark.parametrize("kwargs, message", [
    (dict(hidden_dropout_prob=1.5), r"hidden_dropout_prob must be a number in \[0, 1\]"),
    (dict(hidden_dropout_prob=math.nan), "hidden_dropout_prob"),
    (dict(attention_probs_dropout_prob=-0.1), "attention_probs_dropout_prob"),
    (dict(attention_probs_dropout_prob="0.1"), "attention_probs_dropout_prob"),
    (dict(initializer_range=-0.02), r"initializer_range must be a finite number >= 0"),
    (dict(initializer_range=math.inf), "initializer_range"),
    (dict(chunk_size_feed_forward=-1), r"chunk_size_feed_forward must be an integer >= 0"),
    (dict(chunk_size_feed_forward=1.5), "chunk_size_feed_forward"),
    (dict(problem_type="classification"), "problem_type"),
    (dict(eos_token_id="2"), "eos_token_id"),
    (dict(eos_token_id=[2, "3"]), "eos_token_id"),
    (dict(bos_token_id=-1), "bos_token_id"),
    (dict(sep_token_id=1.0), "sep_token_id"),
    (dict(decoder_start_token_id=True), "decoder_start_token_id"),
    (dict(architectures="RoFormerForMaskedLM"), "architectures"),
    (dict(tokenizer_class=3), "tokenizer_class"),
    (dict(finetuning_task=["a"]), "finetuning_task"),
    (dict(prefix=0), "prefix"),
    (dict(task_specific_params=[1]), "task_specific_params"),
    (dict(hidden_size=True), "hidden_size"),
    (dict(vocab_size="64"), "vocab_size"),
    (dict(summary_use_proj="false"), "summary_use_proj"),
])
def test_other_fields_are_checked_against_their_declared_types(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        RoFormerConfig(**{**TINY, **kwargs})


def test_valid_values_of_every_checked_field_still_load() -> None:
    c = RoFormerConfig(**TINY, layer_norm_eps=1, hidden_dropout_prob=0, attention_probs_dropout_prob=1.0,
                       initializer_range=0, chunk_size_feed_forward=0, problem_type="regression", eos_token_id=[2, 3],
                       bos_token_id=1, sep_token_id=np.int64(3), pad_token_id=None, architectures=["X"],
                       tokenizer_class="RoFormerTokenizer", prefix="p", task_specific_params={"a": {}},
                       num_labels=np.int64(3), summary_use_proj=True)
    assert c.num_labels == 3 and c.eos_token_id == [2, 3]
    assert type(c.sep_token_id) is int and json.loads(c.to_json_string())["sep_token_id"] == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RoFormerConfig.from_dict(c.to_dict())
