"""RoFormerModel's arguments: defaults, output objects, and a clear ValueError for every bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_weights, tiny_config

from roformer_np import RoFormerModel


@pytest.fixture(scope="module")
def model() -> RoFormerModel:
    cfg = tiny_config()
    return RoFormerModel(cfg, random_weights(cfg))


def test_defaults_equal_explicit_ones_and_zeros(model) -> None:
    ids = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    a = model(input_ids=ids)[0]
    b = model(input_ids=ids, attention_mask=np.ones((2, 4)), token_type_ids=np.zeros((2, 4), int))[0]
    np.testing.assert_array_equal(a, b)


def test_output_object_order_and_tuple_form(model) -> None:
    out = model(input_ids=[[1, 2, 3]], output_hidden_states=True, output_attentions=True)
    assert out.keys() == ["last_hidden_state", "hidden_states", "attentions"]
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    assert out.attentions[0].shape == (1, 2, 3, 3)
    assert out[0] is out.last_hidden_state and out["attentions"] is out.attentions
    tup = model(input_ids=[[1, 2, 3]], output_hidden_states=True, return_dict=False)
    assert isinstance(tup, tuple) and len(tup) == 2
    np.testing.assert_array_equal(tup[0], out.last_hidden_state)
    np.testing.assert_array_equal(out.hidden_states[-1], out.last_hidden_state)


def test_inputs_embeds_equals_ids_path(model) -> None:
    ids = np.array([[3, 1, 4, 1, 5]])
    embeds = model.params.word_embeddings[ids]
    np.testing.assert_allclose(model(inputs_embeds=embeds)[0], model(input_ids=ids)[0], rtol=1e-6, atol=1e-6)


def test_padding_does_not_change_unpadded_rows(model) -> None:
    ids = np.array([[1, 2, 3, 4, 5]])
    full = model(input_ids=ids)[0]
    padded = model(input_ids=np.array([[1, 2, 3, 4, 5, 0, 0]]), attention_mask=np.array([[1] * 5 + [0, 0]]))[0]
    np.testing.assert_allclose(padded[:, :5], full, rtol=1e-5, atol=1e-5)


def test_float_ids_that_are_integers_are_accepted(model) -> None:
    np.testing.assert_array_equal(model(input_ids=np.array([[1.0, 2.0]]))[0], model(input_ids=[[1, 2]])[0])


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(input_ids=[[1, 64]]), r"input_ids.*64.*\[0, 64\)"),
        (dict(input_ids=[[-1, 2]]), r"input_ids.*-1.*\[0, 64\)"),
        (dict(input_ids=[[1, 2]], token_type_ids=[[0, 2]]), r"token_type_ids.*\[0, 2\)"),
        (dict(input_ids=[[1, 2]], token_type_ids=[[0, 1, 1]]), "token_type_ids has shape"),
        (dict(input_ids=[list(range(33))]), "max_position_embeddings=32"),
        (dict(input_ids=[[1, 2]], attention_mask=[[1, 1, 1]]), "attention_mask has shape"),
        (dict(input_ids=[[1, 2]], attention_mask=[[[[1, 1]]]]), "attention_mask must be"),
        (dict(input_ids=[[1, 2]], attention_mask=[["a", "b"]]), "attention_mask must be numeric"),
        (dict(), "exactly one of input_ids or inputs_embeds"),
        (dict(input_ids=[[1]], inputs_embeds=np.zeros((1, 1, 16))), "exactly one"),
        (dict(input_ids=[1, 2, 3]), r"input_ids must have shape \[batch, seq\]"),
        (dict(input_ids=[[[1, 2]]]), "input_ids must have shape"),
        (dict(input_ids=np.zeros((1, 0), int)), "at least one"),
        (dict(input_ids=[[0.5, 1.0]]), "input_ids must hold integers"),
        (dict(input_ids=[["a"]]), "input_ids must hold integers"),
        (dict(input_ids=np.array([[True, False]])), "input_ids must hold integers"),
        (dict(inputs_embeds=np.zeros((1, 2, 15))), "embedding_size=16"),
        (dict(inputs_embeds=np.zeros((1, 2))), "inputs_embeds must have shape"),
        (dict(inputs_embeds=np.zeros((1, 2, 16), int)), "floating point"),
        (dict(input_ids=[[1, 2]], head_mask=np.ones(3)), "head_mask must have shape"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_argument(model, kwargs, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        model(**kwargs)


def test_unsupported_dtype() -> None:
    cfg = tiny_config()
    with pytest.raises(ValueError, match="float32 or float64"):
        RoFormerModel(cfg, random_weights(cfg), dtype=np.float16)


def test_base_size_model_runs_batch_2_by_128(tmp_path) -> None:
    """A base-size checkpoint (768 hidden, 12 layers, vocab 50000) written here, loaded, run at 2 x 128."""
    from roformer_np import RoFormerConfig, save_weights
    from roformer_np.weights import base_model_shapes, sinusoidal_key

    cfg = RoFormerConfig(max_position_embeddings=512)
    rng = np.random.default_rng(0)
    weights = {}
    for key, shape in base_model_shapes(cfg).items():
        if key == sinusoidal_key():
            continue
        if "LayerNorm" in key:
            weights[key] = (np.ones if key.endswith("weight") else np.zeros)(shape, np.float32)
        else:
            weights[key] = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
    save_weights(weights, tmp_path)
    cfg.save_pretrained(tmp_path)
    del weights
    model = RoFormerModel.from_pretrained(tmp_path)
    assert model.num_parameters > 100_000_000
    ids = rng.integers(0, cfg.vocab_size, (2, 128))
    mask = np.ones((2, 128), np.int64)
    mask[1, 100:] = 0
    out = model(input_ids=ids, attention_mask=mask)
    assert out.last_hidden_state.shape == (2, 128, 768) and out.last_hidden_state.dtype == np.float32
    assert np.all(np.isfinite(out.last_hidden_state))
    # LayerNorm with unit weight and zero bias: every position is normalised
    np.testing.assert_allclose(out.last_hidden_state.mean(-1), 0, atol=1e-4)
    np.testing.assert_allclose(out.last_hidden_state.std(-1), 1, atol=1e-3)
