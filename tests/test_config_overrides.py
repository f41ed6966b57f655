"""from_pretrained(path, num_labels=3, ...): keyword overrides of config.json, as transformers applies them."""

from __future__ import annotations

import warnings

import pytest

from roformer_np import AutoModelForSequenceClassification, RoFormerForSequenceClassification, demo_model_dir
from roformer_np.errors import CheckpointError


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a newly initialised head is announced
        return fn(*args, **kwargs)


def test_num_labels_and_problem_type_override_the_file() -> None:
    model = _quiet(RoFormerForSequenceClassification.from_pretrained, demo_model_dir("fill-mask"), num_labels=3,
                   problem_type="multi_label_classification")
    assert model.config.num_labels == 3 and model.config.problem_type == "multi_label_classification"
    assert model.config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}  # regenerated, as transformers
    assert model.head_weights["classifier.out_proj.weight"].shape == (3, model.config.hidden_size)
    auto = _quiet(AutoModelForSequenceClassification.from_pretrained, demo_model_dir("fill-mask"), num_labels=5)
    assert auto.config.num_labels == 5


def test_an_override_that_contradicts_the_weights_is_refused() -> None:
    with pytest.raises(CheckpointError, match=r"classifier.out_proj.weight.*\(2, 128\).*\(3, 128\)"):
        _quiet(RoFormerForSequenceClassification.from_pretrained, demo_model_dir("text-classification"),
               num_labels=3)


def test_unknown_keywords_and_config_plus_overrides_raise_type_error() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'num_lables'"):
        RoFormerForSequenceClassification.from_pretrained(demo_model_dir("fill-mask"), num_lables=3)
    model = _quiet(RoFormerForSequenceClassification.from_pretrained, demo_model_dir("text-classification"))
    with pytest.raises(TypeError, match="not both"):
        RoFormerForSequenceClassification.from_pretrained(demo_model_dir("text-classification"),
                                                          config=model.config, num_labels=2)


def test_the_base_model_takes_overrides_too() -> None:
    from roformer_np import RoFormerModel

    model = _quiet(RoFormerModel.from_pretrained, demo_model_dir("fill-mask"), output_hidden_states=True)
    out = model(input_ids=[[101, 460, 102]])
    assert model.config.output_hidden_states and len(out.hidden_states) == model.config.num_hidden_layers + 1
    with pytest.raises(TypeError, match="unexpected keyword argument 'output_hidden_state'"):
        RoFormerModel.from_pretrained(demo_model_dir("fill-mask"), output_hidden_state=True)
