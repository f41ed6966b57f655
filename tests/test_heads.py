"""Task heads beyond the goldens: losses, problem types, tuple outputs, tying, saving, loading, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import GOLDEN, golden_cases, random_weights, tiny_config

from roformer_np import (
    RoFormerForCausalLM,
    RoFormerForMaskedLM,
    RoFormerForMultipleChoice,
    RoFormerForQuestionAnswering,
    RoFormerForSequenceClassification,
    RoFormerForTokenClassification,
    RoFormerModel,
)
from roformer_np.losses import (
    bce_with_logits,
    causal_lm_loss,
    cross_entropy,
    infer_problem_type,
    question_answering_loss,
)
from roformer_np.weights import add_prefix, head_shapes, load_weights, read_safetensors, tied_aliases

ALL_HEADS = [RoFormerForMaskedLM, RoFormerForCausalLM, RoFormerForSequenceClassification, RoFormerForMultipleChoice,
             RoFormerForTokenClassification, RoFormerForQuestionAnswering]


def make_head(cls, seed: int = 0, dtype=np.float32, **overrides):
    """A head with random backbone and head weights (no newly initialised parameters)."""
    if cls is RoFormerForCausalLM:
        overrides.setdefault("is_decoder", True)
    config = tiny_config(**overrides)
    if cls is RoFormerForQuestionAnswering:
        config.num_labels = 2
    weights = add_prefix(random_weights(config, seed, dtype))
    rng = np.random.default_rng(seed + 1)
    aliases = tied_aliases(cls.head_kind, config)
    for key, shape in head_shapes(cls.head_kind, config).items():
        if key not in aliases:
            weights[key] = rng.normal(0, 0.3, shape).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may be newly initialised or unused
        return cls(config, weights, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------
def test_cross_entropy_matches_the_formula_and_ignores_minus_100() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (6, 5)).astype(np.float32)
    labels = np.array([0, 4, -100, 2, -100, 1])
    keep = labels != -100
    logp = logits.astype(np.float64) - np.log(np.exp(logits.astype(np.float64)).sum(-1, keepdims=True))
    want = -logp[np.nonzero(keep)[0], labels[keep]].mean()
    got = cross_entropy(logits, labels)
    assert got.dtype == np.float32 and got.shape == ()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(cross_entropy(logits, labels, reduction="sum"), want * keep.sum(), rtol=1e-6)


def test_cross_entropy_is_nan_when_every_label_is_ignored() -> None:
    assert np.isnan(cross_entropy(np.zeros((3, 4), np.float32), np.full(3, -100)))


@pytest.mark.parametrize("labels, match", [([0, 5], r"labels holds 5"), ([0, -1], r"labels holds -1"),
                                           ([[0, 1]], r"shape"), ([0.0, 1.0], "integer")])
def test_cross_entropy_rejects_bad_labels(labels, match) -> None:
    with pytest.raises(ValueError, match=match):
        cross_entropy(np.zeros((2, 5), np.float32), np.asarray(labels))


def test_bce_with_logits_is_stable_for_huge_logits() -> None:
    logits = np.array([[-1e4, -30.0, 0.0, 30.0, 1e4]], dtype=np.float32)
    y = np.array([[1.0, 0.0, 1.0, 1.0, 0.0]], dtype=np.float32)
    got = bce_with_logits(logits, y)
    x = logits.astype(np.float64)
    want = np.mean(np.logaddexp(0, x) - x * y)
    assert np.isfinite(got)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_causal_lm_loss_shifts_labels_and_honours_num_items_and_shift_labels() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 1, (2, 5, 7)).astype(np.float64)
    labels = rng.integers(0, 7, (2, 5))
    labels[0, 2] = -100
    shifted = np.full_like(labels, -100)
    shifted[:, :-1] = labels[:, 1:]
    loss = causal_lm_loss(logits, labels, 7)
    assert loss.dtype == np.float32  # upcast to float32 like Hugging Face, even from float64 logits
    np.testing.assert_allclose(loss, cross_entropy(logits.reshape(-1, 7), shifted.reshape(-1)), rtol=1e-6)
    total = cross_entropy(logits.astype(np.float32).reshape(-1, 7), shifted.reshape(-1), reduction="sum")
    np.testing.assert_allclose(causal_lm_loss(logits, labels, 7, num_items_in_batch=3), total / 3, rtol=1e-6)
    np.testing.assert_allclose(causal_lm_loss(logits, labels, 7, shift_labels=labels),
                               cross_entropy(logits.reshape(-1, 7), labels.reshape(-1)), rtol=1e-6)


def test_question_answering_loss_clamps_and_ignores_out_of_range_positions() -> None:
    rng = np.random.default_rng(2)
    start, end = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)
    got = question_answering_loss(start, end, [[1], [9], [-3]], [2, 3, 4])
    # 9 -> 4 = ignored; -3 -> 0; end 4 -> ignored
    want = (cross_entropy(start, np.array([1, 4, 0]), ignore_index=4)
            + cross_entropy(end, np.array([2, 3, 4]), ignore_index=4)) / 2
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.isnan(question_answering_loss(start, end, [7, 8, 9], [7, 8, 9]))


def test_problem_type_inference_rule() -> None:
    assert infer_problem_type(1, np.array([1, 2])) == "regression"
    assert infer_problem_type(3, np.array([1, 2])) == "single_label_classification"
    assert infer_problem_type(3, np.array([[1.0, 0.0, 1.0]])) == "multi_label_classification"


# ---------------------------------------------------------------------------------------------
# Heads
# ---------------------------------------------------------------------------------------------
def test_sequence_classification_writes_the_problem_type_back() -> None:
    model = make_head(RoFormerForSequenceClassification, num_labels=3)
    ids = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert model.config.problem_type is None
    out = model(ids, labels=np.array([0, 2]))
    assert model.config.problem_type == "single_label_classification" and out.loss.shape == ()
    with pytest.raises(ValueError, match="labels"):
        model(ids, labels=np.array([0, 3]))  # out of range for 3 labels
    model.config.problem_type = None
    model(ids, labels=np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    assert model.config.problem_type == "multi_label_classification"
    model.config.problem_type = "bogus"
    with pytest.raises(ValueError, match="problem_type"):
        model(ids, labels=np.array([0, 1]))


def test_regression_head() -> None:
    model = make_head(RoFormerForSequenceClassification, num_labels=1)
    out = model([[1, 2, 3]], labels=[0.5])
    np.testing.assert_allclose(out.loss, (out.logits[0, 0] - 0.5) ** 2, rtol=1e-6)
    assert model.config.problem_type == "regression"


def test_question_answering_sets_two_labels() -> None:
    config = tiny_config(num_labels=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RoFormerForQuestionAnswering(config, random_weights(config))
    assert config.num_labels == 2 and model.head_weights["qa_outputs.weight"].shape == (2, 16)
    out = model([[1, 2, 3]])
    assert out.loss is None and out.start_logits.shape == (1, 3) and out.end_logits.shape == (1, 3)
    assert model([[1, 2, 3]], start_positions=[1]).loss is None  # both positions are needed, as in HF


def test_multiple_choice_pools_the_last_token_by_default() -> None:
    model = make_head(RoFormerForMultipleChoice)
    ids = np.random.default_rng(3).integers(0, 64, (2, 3, 5))
    out = model(ids, labels=[2, 0], output_hidden_states=True)
    last = out.hidden_states[-1][:, -1]  # [B*K, C]
    w, b = model.head_weights["classifier.weight"], model.head_weights["classifier.bias"]
    np.testing.assert_allclose(out.logits, (last @ w.T + b).reshape(2, 3), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="labels holds 3"):
        model(ids, labels=[3, 0])
    with pytest.raises(ValueError, match="num_choices"):
        model(ids[0])
    with pytest.raises(ValueError, match="attention_mask"):
        model(ids, attention_mask=np.ones((2, 5)))


def test_multiple_choice_summary_options_are_validated() -> None:
    config = tiny_config(summary_type="attn")
    with pytest.raises(NotImplementedError):
        RoFormerForMultipleChoice(config, random_weights(config))
    config = tiny_config(summary_type="middle")
    with pytest.raises(ValueError, match="summary_type"):
        RoFormerForMultipleChoice(config, random_weights(config))


@pytest.mark.parametrize("cls", ALL_HEADS, ids=lambda c: c.__name__)
def test_tuple_outputs_follow_hugging_face_order(cls) -> None:
    model = make_head(cls)
    shape = (1, 2, 4) if cls is RoFormerForMultipleChoice else (2, 4)
    ids = np.random.default_rng(4).integers(0, 64, shape)
    as_dict = model(ids, output_hidden_states=True, output_attentions=True)
    as_tuple = model(ids, output_hidden_states=True, output_attentions=True, return_dict=False)
    expected = [v for v in as_dict.to_tuple()]
    assert len(as_tuple) == len(expected)
    for a, b in zip(as_tuple, expected):
        if isinstance(a, tuple):
            assert all(np.array_equal(x, y) for x, y in zip(a, b))
        elif isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
    assert as_dict["hidden_states"] is as_dict.hidden_states


def test_causal_lm_tuple_output_keeps_the_cache() -> None:
    model = make_head(RoFormerForCausalLM, is_decoder=True)
    logits, past = model([[1, 2, 3]], return_dict=False)
    assert logits.shape == (1, 3, 64) and past.get_seq_length() == 3


@pytest.mark.parametrize("cls", ALL_HEADS, ids=lambda c: c.__name__)
def test_save_and_reload_round_trip(cls, tmp_path) -> None:
    model = make_head(cls, seed=5)
    model.save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = cls.from_pretrained(tmp_path)
    saved = read_safetensors(tmp_path / "model.safetensors")
    assert "cls.predictions.decoder.weight" not in saved and "cls.predictions.decoder.bias" not in saved
    assert "roformer.encoder.embed_positions.weight" in saved  # Hugging Face saves the table too
    shape = (1, 2, 4) if cls is RoFormerForMultipleChoice else (1, 4)
    ids = np.arange(np.prod(shape)).reshape(shape) % 64
    for a, b in zip(model(ids).to_tuple(), again(ids).to_tuple()):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
    assert again.config.architectures == [cls.__name__]


def test_saved_head_has_the_keys_hugging_face_writes(tmp_path) -> None:
    for case in ("mlm", "mlm_untied", "seq_cls", "multiple_choice_first_proj"):
        entry = next(c for c in golden_cases("heads") if c["name"] == case)
        cls = RoFormerForMaskedLM if "mlm" in case else (
            RoFormerForSequenceClassification if case == "seq_cls" else RoFormerForMultipleChoice)
        model = cls.from_pretrained(GOLDEN / entry["checkpoint"])
        model.save_pretrained(tmp_path / case)
        ours, theirs = load_weights(tmp_path / case), load_weights(GOLDEN / entry["checkpoint"])
        assert sorted(ours) == sorted(theirs), case
        for key in theirs:
            np.testing.assert_array_equal(ours[key], theirs[key])


def test_tying_and_untying() -> None:
    tied = make_head(RoFormerForMaskedLM)
    assert tied.decoder_weight is tied.roformer.params.word_embeddings
    untied = make_head(RoFormerForMaskedLM, tie_word_embeddings=False)
    assert untied.decoder_weight is untied.head_weights["cls.predictions.decoder.weight"]
    assert not np.array_equal(untied.decoder_weight, untied.roformer.params.word_embeddings)


def test_old_checkpoint_with_only_the_decoder_bias_alias_still_fills_the_bias() -> None:
    model = make_head(RoFormerForMaskedLM)
    weights = model.state_dict()
    weights["cls.predictions.decoder.bias"] = weights.pop("cls.predictions.bias") + 1
    weights["cls.predictions.decoder.weight"] = weights["roformer.embeddings.word_embeddings.weight"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = RoFormerForMaskedLM(model.config, weights)
    np.testing.assert_array_equal(again.head_weights["cls.predictions.bias"], model.head_weights[
        "cls.predictions.bias"] + 1)


def test_base_checkpoint_into_a_head_initialises_it_reproducibly() -> None:
    config = tiny_config(num_labels=3)
    weights = random_weights(config)
    with pytest.warns(UserWarning, match="newly initialized"):
        a = RoFormerForSequenceClassification(config, weights, init_seed=7)
    with pytest.warns(UserWarning, match="classifier.dense.weight"):
        b = RoFormerForSequenceClassification(config, weights, init_seed=7)
    for key in a.head_weights:
        np.testing.assert_array_equal(a.head_weights[key], b.head_weights[key])
    w = a.head_weights
    assert np.all(w["classifier.dense.bias"] == 0) and abs(w["classifier.dense.weight"].std() - 0.02) < 0.01
    assert a.newly_initialized_keys == sorted(head_shapes("sequence_classification", config))


def test_head_checkpoint_into_the_base_model_reports_unused_weights(tmp_path) -> None:
    make_head(RoFormerForTokenClassification).save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="classifier"):
        base = RoFormerModel.from_pretrained(tmp_path)
    assert base.unexpected_keys == ["classifier.bias", "classifier.weight"]


def test_float64_heads_compute_in_float64() -> None:
    model = make_head(RoFormerForTokenClassification, dtype=np.float64)
    out = model([[1, 2, 3]], labels=[[0, 1, -100]])
    assert out.logits.dtype == np.float64 and out.loss.dtype == np.float64


@pytest.mark.parametrize("cls, kwargs, match", [
    (RoFormerForMaskedLM, dict(labels=np.zeros((2, 3), np.int64)), r"labels has shape"),
    (RoFormerForMaskedLM, dict(labels=np.full((2, 4), 64)), r"labels holds 64"),
    (RoFormerForMaskedLM, dict(labels=np.zeros((2, 4))), "integer"),
    (RoFormerForCausalLM, dict(labels=np.full((2, 4), -5)), r"labels holds -5"),
    (RoFormerForTokenClassification, dict(labels=np.full((2, 4), 2)), r"labels holds 2"),
    (RoFormerForSequenceClassification, dict(labels=np.zeros((3,), np.int64)), r"labels have shape"),
    (RoFormerForQuestionAnswering, dict(start_positions=[0, 1, 2], end_positions=[0, 1]), "start_positions"),
    (RoFormerForQuestionAnswering, dict(start_positions=[0.5, 1], end_positions=[0, 1]), "start_positions"),
])
def test_bad_labels_raise_naming_the_argument(cls, kwargs, match) -> None:
    model = make_head(cls)
    with pytest.raises(ValueError, match=match):
        model(np.ones((2, 4), np.int64), **kwargs)


def test_bad_labels_leave_the_cache_untouched() -> None:
    model = make_head(RoFormerForCausalLM, is_decoder=True)
    cache = model([[1, 2, 3]]).past_key_values
    with pytest.raises(ValueError, match="labels"):
        model([[4]], past_key_values=cache, labels=[[99]])
    assert cache.get_seq_length() == 3
