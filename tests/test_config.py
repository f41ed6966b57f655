"""RoFormerConfig: Hugging Face defaults, validation, (de)serialisation and every real Hub config."""

from __future__ import annotations

import json

import pytest
from conftest import REAL

from roformer_np import RoFormerConfig

# Hub configs (config.json) and ZhuiyiTechnology's original bert_config.json files
REAL_CONFIGS = sorted(REAL.rglob("config.json")) + sorted(REAL.rglob("bert_config.json"))


def test_defaults_match_hugging_face() -> None:
    c = RoFormerConfig()
    assert (c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads) == (50000, 768, 12, 12)
    assert (c.intermediate_size, c.hidden_act, c.max_position_embeddings, c.type_vocab_size) == (3072, "gelu", 1536, 2)
    assert c.embedding_size == 768  # None resolves to hidden_size at construction
    assert c.layer_norm_eps == 1e-12 and c.pad_token_id == 0 and c.rotary_value is False and c.use_cache is True
    assert c.hidden_dropout_prob == 0.1 and c.attention_probs_dropout_prob == 0.1 and c.initializer_range == 0.02
    assert c.is_decoder is False and c.add_cross_attention is False and c.tie_word_embeddings is True
    assert c.num_labels == 2 and c.id2label == {0: "LABEL_0", 1: "LABEL_1"} and c.problem_type is None


def test_embedding_size_is_resolved_once() -> None:
    c = RoFormerConfig(hidden_size=64, num_attention_heads=4)
    assert c.embedding_size == 64
    assert RoFormerConfig(hidden_size=64, num_attention_heads=4, embedding_size=32).embedding_size == 32


def test_round_trip_keeps_unknown_keys(tmp_path) -> None:
    c = RoFormerConfig(hidden_size=64, num_attention_heads=4, id2label={0: "neg", 1: "neu", 2: "pos"},
                       my_custom_field={"a": [1, 2]}, architectures=["RoFormerForSequenceClassification"])
    c.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["my_custom_field"] == {"a": [1, 2]} and data["model_type"] == "roformer"
    assert data["id2label"] == {"0": "neg", "1": "neu", "2": "pos"}
    back = RoFormerConfig.from_pretrained(tmp_path)
    assert back == c and back.num_labels == 3 and back.label2id == {"neg": 0, "neu": 1, "pos": 2}
    assert back.my_custom_field == {"a": [1, 2]}
    assert RoFormerConfig.from_dict(c.to_dict()) == c


def test_num_labels_builds_label_names() -> None:
    c = RoFormerConfig(num_labels=5)
    assert c.num_labels == 5 and c.id2label[4] == "LABEL_4"


@pytest.mark.parametrize("path", REAL_CONFIGS, ids=[f"{p.parent.name}/{p.name}" for p in REAL_CONFIGS])
def test_every_real_hub_config_loads(path) -> None:
    raw = json.loads(path.read_text())
    c = RoFormerConfig.from_pretrained(path)
    for key, value in raw.items():
        if key in ("model_type", "transformers_version"):
            continue
        assert getattr(c, key) == value, key
    assert c.head_size * c.num_attention_heads == c.hidden_size
    assert RoFormerConfig.from_dict(c.to_dict()) == c


def test_real_configs_are_all_present() -> None:
    assert len(REAL_CONFIGS) == 10


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(hidden_size=100, num_attention_heads=12), "hidden_size"),
        (dict(hidden_size=36, num_attention_heads=12), "even"),  # head size 3: rotary needs pairs
        (dict(vocab_size=0), "vocab_size"),
        (dict(num_hidden_layers=-1), "num_hidden_layers"),
        (dict(intermediate_size=0), "intermediate_size"),
        (dict(max_position_embeddings=0), "max_position_embeddings"),
        (dict(embedding_size=-4), "embedding_size"),
        (dict(hidden_act="no_such_act"), "hidden_act"),
        (dict(hidden_act="prelu"), "hidden_act"),  # learnable in HF: unsupported here
        (dict(layer_norm_eps=0), "layer_norm_eps"),
        (dict(add_cross_attention=True), "add_cross_attention"),
        (dict(vocab_size=10, pad_token_id=10), "pad_token_id"),
        (dict(hidden_size=64.0), "hidden_size"),
    ],
)
def test_impossible_values_name_the_field(kwargs, field) -> None:
    with pytest.raises(ValueError, match=field):
        RoFormerConfig(**kwargs)


def test_bad_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        RoFormerConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        RoFormerConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="model_type"):
        RoFormerConfig.from_pretrained(tmp_path)
