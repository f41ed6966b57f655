"""Several length groups in one forward pass (``forward_length_groups``, ``Pipeline._forward_exact``): every
group's result is the one it gets in a call of its own — bit for bit on the native kernels, whose rows do not
depend on the rows beside them; within float32 round-off on BLAS (the NumPy backend)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_weights, tiny_config
from fake_models import make_model_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roformer_np import RoFormerModel, pipeline
from roformer_np.backend import config_info
from roformer_np.heads import RoFormerForQuestionAnswering, RoFormerForSequenceClassification

# roformer_np's own GEMM micro-kernels give a row the same bits whatever the rows beside it; BLAS does not
NATIVE = config_info()["resolved_backend"] == "native" and config_info()["gemm_kernel"] != "blas"
TEXTS = ["这本书很好看", "物流很快", "好评", "质量一般，不推荐", "非常满意，下次还来", "差", "还行吧",
         "包装破损，客服态度也不好", "很好", "不错不错"]


def same(a, b) -> bool:
    """Bit for bit on the native kernels, float32 round-off (relative to the array's scale) on BLAS."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    scale = float(np.abs(b).max(initial=1.0))
    return np.array_equal(a, b) if NATIVE else np.allclose(a, b, rtol=1e-5, atol=1e-5 * scale)


CONFIGS = {
    "roformer": {},
    "rotary value, embedding projection": {"rotary_value": True, "embedding_size": 8},
    "v2 (rms norm, no biases)": {"norm_type": "rms_norm", "use_bias": False},
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def model(request) -> RoFormerModel:
    config = tiny_config(**CONFIGS[request.param])
    return RoFormerModel(config, random_weights(config, seed=3))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 20)), min_size=1, max_size=5),
       seed=st.integers(0, 2**31 - 1))
def test_each_group_gets_the_hidden_state_of_its_own_call(model, shapes, seed) -> None:
    rng = np.random.default_rng(seed)
    cfg = model.config
    groups = [(rng.integers(0, cfg.vocab_size, (b, t)), rng.integers(0, cfg.type_vocab_size, (b, t)))
              for b, t in shapes]
    hidden = model.forward_length_groups(groups)
    assert len(hidden) == len(groups)
    for (ids, types), h in zip(groups, hidden):
        alone = model(ids, attention_mask=np.ones_like(ids), token_type_ids=types).last_hidden_state
        assert h.shape == alone.shape and same(h, alone)


def test_bad_ids_and_lengths_are_refused_with_the_argument_named(model) -> None:
    good = (np.ones((1, 3), np.int64), None)
    with pytest.raises(ValueError, match="input_ids"):
        model.forward_length_groups([good, (np.array([[1, model.config.vocab_size]]), None)])
    with pytest.raises(ValueError, match="token_type_ids"):
        model.forward_length_groups([good, (np.ones((1, 2), np.int64), np.full((1, 2), 7))])
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model.forward_length_groups([good, (np.ones((1, model.config.max_position_embeddings + 1), np.int64), None)])
    assert model.forward_length_groups([]) == []


def test_a_decoder_runs_each_group_as_its_own_call() -> None:
    config = tiny_config(is_decoder=True)
    model = RoFormerModel(config, random_weights(config, seed=5))
    groups = [(np.array([[1, 2, 3]]), None), (np.array([[4, 5], [6, 7]]), None)]
    for (ids, _), h in zip(groups, model.forward_length_groups(groups)):
        assert np.array_equal(h, model(ids).last_hidden_state)  # the same call: the same bits on any backend


@pytest.mark.filterwarnings("ignore:Some weights")  # the heads are drawn from init_seed: that is the point
@pytest.mark.parametrize("head", [RoFormerForSequenceClassification, RoFormerForQuestionAnswering])
def test_heads_give_each_group_its_own_logits(head) -> None:
    config = tiny_config(num_labels=3)
    model = head(config, random_weights(config, seed=7), init_seed=7)
    rng = np.random.default_rng(0)
    groups = [(rng.integers(0, 64, (b, t)), None) for b, t in [(2, 5), (1, 9), (3, 2)]]
    for (ids, _), got in zip(groups, model.forward_length_groups(groups)):
        out = model(ids)
        expected = out.logits if head is RoFormerForSequenceClassification else (out.start_logits, out.end_logits)
        assert same(got, expected)


def _per_feature(pipe, inputs, options: dict):
    """(outputs of one ``_forward_exact`` over all the inputs' features, each feature's own pass, lengths)."""
    opts = pipe._options({**pipe._defaults, **options})
    features = [f for x in inputs for f in pipe._preprocess(pipe._check_input(x), opts)]
    grouped = pipe._forward_exact(features, opts)
    alone = [pipe._forward_all([f], opts, 1)[0] for f in features]
    return grouped, alone, {len(f.ids) for f in features}


def _flat(output) -> list[np.ndarray]:
    return [np.asarray(x) for x in output] if isinstance(output, tuple) else [np.asarray(output)]


@pytest.mark.parametrize(("task", "options"), [
    ("text-classification", {}),
    ("token-classification", {}),
    ("feature-extraction", {}),
    ("feature-extraction", {"pooling": "mean"}),
    ("feature-extraction", {"pooling": "cls"}),
    ("fill-mask", {}),
    ("question-answering", {}),
])
def test_every_task_gets_each_features_own_output(task, options, tmp_path) -> None:
    model = str(make_model_dir(tmp_path / "qa", "qa")) if task == "question-answering" else None
    pipe = pipeline(task, model=model)
    inputs = {"fill-mask": [t[:2] + "[MASK]" + t[3:] for t in TEXTS if len(t) > 3] + ["[MASK]评"],
              "question-answering": [{"question": "什么很快", "context": t + "，" + TEXTS[0]} for t in TEXTS]}
    grouped, alone, lengths = _per_feature(pipe, inputs.get(task, TEXTS), options)
    assert len(lengths) > 2  # several groups share the pass
    for g, a in zip(grouped, alone):
        assert all(same(x, y) for x, y in zip(_flat(g), _flat(a)))
