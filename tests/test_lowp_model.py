"""Models with bf16 / int8 weights: what is held in which precision, forward passes against the float32 model
(the demo models and every head class, both backends), the no-widening guarantee, bad combinations, and the
pipeline / CLI / auto-class switches."""

from __future__ import annotations

import json
import tracemalloc
import warnings

import numpy as np
import pytest
from conftest import random_weights, tiny_config

from roformer_np import (
    AutoModel,
    AutoModelForSequenceClassification,
    RoFormerForCausalLM,
    RoFormerForMaskedLM,
    RoFormerForMultipleChoice,
    RoFormerForQuestionAnswering,
    RoFormerForSequenceClassification,
    RoFormerForTokenClassification,
    RoFormerModel,
    lowp,
    ops,
    pipeline,
    use_backend,
)
from roformer_np.backend import native_available
from roformer_np.cli import main
from roformer_np.model import runs_lowp_kernels
from roformer_np.pipelines.factory import DEMO_ROOT

BACKENDS = ["numpy"] + (["native"] if native_available() else [])
MODES = [{"dtype": "bfloat16"}, {"dtype": "bf16"}, {"quantize": "int8"}]
IDS = np.array([[2, 5, 9, 4, 7, 3, 11, 40], [2, 8, 8, 1, 6, 3, 0, 0]])
MASK = np.array([[1] * 8, [1] * 6 + [0] * 2])
SENTENCES = ["这部电影很好看，演员也很棒。", "质量太差了，再也不买了。", "张三在北京大学工作。", "今天天气很好。",
             "服务态度非常恶劣，等了一个小时。", "李四去上海参观了博物馆。"]


def _precision(kw: dict) -> str:
    return "int8" if kw.get("quantize") else "bfloat16"


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def _held_precisions(model) -> dict[str, str]:
    """Every tensor the model holds, by Hugging Face name: "bfloat16" / "int8" or its float dtype."""
    base = model.roformer if hasattr(model, "roformer") else model
    out = {}
    for key, (held, _, _) in base._packed.items():
        out[key] = held.precision
    for key, value in base.weights._plain.items():
        out[key] = np.asarray(value).dtype.name
    for key, value in getattr(model, "head_weights", {}).items():
        out["head:" + key] = getattr(value, "precision", None) or value.dtype.name
    return out


@pytest.mark.parametrize("kw", MODES)
def test_linear_weights_and_embeddings_are_low_precision_the_rest_float32(kw) -> None:
    config = tiny_config(embedding_size=8)  # with embeddings_project
    weights = random_weights(config)
    model = RoFormerModel(config, dict(weights), **kw)
    assert model.precision == _precision(kw) and model.dtype == np.float32
    held = _held_precisions(model)
    assert set(held) == set(weights)
    for key, precision in held.items():
        linear = key.endswith(("query.weight", "key.weight", "value.weight", "dense.weight", "project.weight",
                               "word_embeddings.weight"))
        assert precision == (model.precision if linear else "float32"), key
    p = model.params
    assert lowp.is_lowp(p.word_embeddings) and lowp.is_lowp(p.project_weight)
    for layer in p.layers:
        for w in (layer.attention.w_qkv, layer.attention.w_out, layer.w_in, layer.w_out):
            assert w.precision == model.precision
        assert isinstance(layer.ln_weight, np.ndarray) and layer.ln_weight.dtype == np.float32
    assert model.num_parameters == sum(v.size for v in weights.values())
    assert not any(isinstance(v, np.ndarray) and v.ndim == 2 and "dense" in k for k, v in model.weights._plain.items())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kw", MODES[1:])
def test_forward_close_to_float32_on_every_backend(backend, kw) -> None:
    config = tiny_config(hidden_size=64, num_attention_heads=4, intermediate_size=128)
    weights = random_weights(config, 3, std=0.05)
    ref = RoFormerModel(config, dict(weights), backend="numpy")(input_ids=IDS, attention_mask=MASK)
    model = RoFormerModel(config, dict(weights), backend=backend, **kw)
    out = model(input_ids=IDS, attention_mask=MASK)
    cos = _cosine(out.last_hidden_state, ref.last_hidden_state)[MASK == 1]
    assert cos.min() > (0.9999 if model.precision == "bfloat16" else 0.999)
    assert out.last_hidden_state.dtype == np.float32
    assert not np.array_equal(out.last_hidden_state, ref.last_hidden_state)  # the low precision is applied


@pytest.mark.skipif(not native_available(), reason="the native extension is not built")
@pytest.mark.parametrize("kw", MODES[1:])
def test_numpy_and_native_backends_agree(kw) -> None:
    config = tiny_config(hidden_size=64, num_attention_heads=4, intermediate_size=128)
    weights = random_weights(config, 4, std=0.05)
    numpy_out = RoFormerModel(config, dict(weights), backend="numpy", **kw)(input_ids=IDS, attention_mask=MASK)
    model = RoFormerModel(config, dict(weights), backend="native", **kw)
    native_out = model(input_ids=IDS, attention_mask=MASK)
    a, b = native_out.last_hidden_state[MASK == 1], numpy_out.last_hidden_state[MASK == 1]
    if model.precision == "bfloat16":  # the same roundings; only the order of float32 sums differs
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    else:  # the integer sums are exact; an activation on a rint tie may round one step apart
        assert _cosine(a, b).min() > 0.99999 and np.abs(a - b).max() < 1e-2
    with use_backend("numpy"):  # the reference runs the native model's (maybe packed) weights too
        again = model(input_ids=IDS, attention_mask=MASK).last_hidden_state[MASK == 1]
    np.testing.assert_allclose(again, b, rtol=1e-5, atol=1e-5)
    if runs_lowp_kernels("native"):
        assert type(model.params.layers[0].w_in).__name__.startswith("Packed")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kw", MODES[1:])
def test_no_forward_widens_a_weight_matrix(monkeypatch, backend, kw) -> None:
    """The word embeddings are gathered row by row and the tied LM head reads the container through linear:
    neither the containers' widening (unpack / __array__) runs, and the traced peak stays below one float32
    copy of the embedding matrix."""
    config = tiny_config(vocab_size=V_BIG, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                         is_decoder=True)
    weights = random_weights(config, 5, std=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RoFormerForCausalLM(config, dict(weights), backend=backend, **kw)
    assert model.decoder_weight is model.roformer.params.word_embeddings  # one copy, tied
    ids = IDS[:1, :6]
    model(input_ids=ids)  # warm-up: imports and scratch buffers
    for cls in (lowp.BF16Weight, lowp.Int8Weight):
        monkeypatch.setattr(cls, "unpack", _never)
    tracemalloc.start()
    try:
        logits = model(input_ids=ids).logits
        generated = model.generate(input_ids=ids, max_new_tokens=3, do_sample=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert logits.shape == (1, 6, V_BIG) and generated.shape == (1, 9)
    assert peak < V_BIG * 64 * 4 / 2, f"traced peak {peak} bytes: a weight matrix was widened"


V_BIG = 30_000  # the embedding matrix (7.7 MB as float32) is many of the reference's blocks (lowp.BLOCK_ELEMENTS)


def _never(self):
    raise AssertionError("a whole weight matrix was widened")


def _head_weights(cls, config, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cls(config, random_weights(config, seed, std=0.05), init_seed=seed)
    rng = np.random.default_rng(seed)
    for key, value in model.head_weights.items():
        model.head_weights[key] = rng.normal(0.0, 0.3, value.shape).astype(np.float32)
    return model.state_dict()


HEADS = [
    (RoFormerForMaskedLM, {}, "logits"),
    (RoFormerForCausalLM, {"is_decoder": True}, "logits"),
    (RoFormerForSequenceClassification, {"num_labels": 3}, "logits"),
    (RoFormerForTokenClassification, {"num_labels": 5}, "logits"),
    (RoFormerForQuestionAnswering, {}, "start_logits"),
    (RoFormerForMultipleChoice, {}, "logits"),
]


@pytest.mark.parametrize("cls, extra, field", HEADS, ids=[h[0].__name__ for h in HEADS])
@pytest.mark.parametrize("kw", MODES[1:])
def test_every_head_class(tmp_path, cls, extra, field, kw) -> None:
    config = tiny_config(hidden_size=32, intermediate_size=64, **extra)
    cls(config, _head_weights(cls, config), dtype=np.float32).save_pretrained(tmp_path)
    ref = cls.from_pretrained(tmp_path)
    model = cls.from_pretrained(tmp_path, **kw)
    assert model.precision == _precision(kw) and model.roformer.precision == model.precision
    for key, value in model.head_weights.items():
        matrix = key.endswith(".weight") and np.ndim(np.asarray(ref.head_weights[key])) == 2 and "LayerNorm" not in key
        assert (getattr(value, "precision", None) == model.precision) == matrix, key
    ids = IDS[:, None, :].repeat(2, axis=1) if cls is RoFormerForMultipleChoice else IDS
    a, b = getattr(model(input_ids=ids), field), getattr(ref(input_ids=ids), field)
    assert _cosine(a.reshape(-1), b.reshape(-1)) > 0.999
    state, float_state = model.state_dict(), ref.state_dict()
    assert set(state) == set(float_state)
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in state.values())


@pytest.mark.parametrize("kw", MODES[1:])
def test_cross_attention_decoder(kw) -> None:
    config = tiny_config(is_decoder=True, add_cross_attention=True, hidden_size=32, intermediate_size=64)
    weights = random_weights(config, 6, std=0.05)
    enc = np.random.default_rng(0).normal(size=(2, 5, 32)).astype(np.float32)
    ref = RoFormerModel(config, dict(weights))
    model = RoFormerModel(config, dict(weights), **kw)
    assert model.params.layers[0].crossattention.w_qkv.precision == model.precision
    a = model(input_ids=IDS, encoder_hidden_states=enc, use_cache=True)
    b = ref(input_ids=IDS, encoder_hidden_states=enc)
    assert _cosine(a.last_hidden_state, b.last_hidden_state).min() > 0.999
    step = model(input_ids=IDS[:, -1:], past_key_values=a.past_key_values, encoder_hidden_states=enc)
    assert step.last_hidden_state.shape == (2, 1, 32)


# ---------------------------------------------------------------------------------------------
# The demo models
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_float():
    return {"fill-mask": pipeline("fill-mask"), "text-classification": pipeline("text-classification"),
            "token-classification": pipeline("token-classification", aggregation_strategy="none", ignore_labels=[])}


@pytest.mark.parametrize("kw", MODES[1:])
def test_demo_models_agree_with_float32(demo_float, kw) -> None:
    sentiment = pipeline("text-classification", **kw)
    assert sentiment.model.precision == _precision(kw)
    ref = demo_float["text-classification"]
    got, want = sentiment(SENTENCES), ref(SENTENCES)
    assert [g["label"] for g in got] == [w["label"] for w in want]
    assert max(abs(g["score"] - w["score"]) for g, w in zip(got, want)) < 0.05

    ner = pipeline("token-classification", aggregation_strategy="none", ignore_labels=[], **kw)
    tags = np.array([t["entity"] for s in ner(SENTENCES) for t in s])
    ref_tags = np.array([t["entity"] for s in demo_float["token-classification"](SENTENCES) for t in s])
    assert len(tags) == len(ref_tags) > 40 and np.mean(tags == ref_tags) >= 0.95

    # fill-mask top-1 with every token of every sentence masked in turn
    fill = pipeline("fill-mask", **kw)
    tokenizer = fill.tokenizer
    rows = []
    for text in SENTENCES:
        ids = tokenizer(text)["input_ids"]
        for i in range(1, len(ids) - 1):
            rows.append((ids[:i] + [tokenizer.mask_token_id] + ids[i + 1 :], i))
    width = max(len(r) for r, _ in rows)
    batch = np.array([r + [0] * (width - len(r)) for r, _ in rows])
    mask = (np.arange(width)[None, :] < np.array([len(r) for r, _ in rows])[:, None]).astype(np.int64)
    where = np.array([i for _, i in rows])
    top = fill.model(input_ids=batch, attention_mask=mask).logits[np.arange(len(rows)), where].argmax(-1)
    ref_logits = demo_float["fill-mask"].model(input_ids=batch, attention_mask=mask).logits
    ref_top = ref_logits[np.arange(len(rows)), where].argmax(-1)
    assert len(rows) > 40 and np.mean(top == ref_top) >= (0.97 if fill.model.precision == "bfloat16" else 0.9)

    encoder = RoFormerModel.from_pretrained(DEMO_ROOT / "mlm", **kw)
    float_encoder = demo_float["fill-mask"].model.roformer
    enc = demo_float["fill-mask"].tokenizer(SENTENCES, padding=True, return_tensors="np")
    a = encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    b = float_encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    cos = _cosine(a, b)[enc["attention_mask"] == 1]
    assert cos.mean() > (0.999 if encoder.precision == "bfloat16" else 0.99)


# ---------------------------------------------------------------------------------------------
# Bad combinations, auto classes, pipelines, the command line
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw, message",
    [
        ({"dtype": np.float64, "quantize": "int8"}, "quantize='int8' computes in float32"),
        ({"dtype": "bfloat16", "quantize": "int8"}, "exclude each other"),
        ({"dtype": "float16"}, "dtype must be"),
        ({"dtype": "fp8"}, "dtype must be"),
        ({"quantize": "int4"}, "quantize must be None or one of"),
    ],
)
def test_bad_combinations_are_refused(kw, message) -> None:
    config = tiny_config()
    with pytest.raises(ValueError, match=message):
        RoFormerModel(config, random_weights(config), **kw)
    with pytest.raises(ValueError, match=message):
        RoFormerForSequenceClassification.from_pretrained(DEMO_ROOT / "sentiment", **kw)
    with pytest.raises(ValueError, match=message):
        pipeline("text-classification", **kw)


def test_auto_classes_take_the_switches() -> None:
    model = AutoModelForSequenceClassification.from_pretrained(DEMO_ROOT / "sentiment", quantize="int8")
    assert model.precision == "int8" and "quantize" not in model.config.to_dict()
    assert AutoModel.from_pretrained(DEMO_ROOT / "mlm", dtype="bf16").precision == "bfloat16"
    config = tiny_config()
    fresh = AutoModel.from_config(config, dtype="bfloat16")
    assert fresh.precision == "bfloat16" and fresh.params.layers[0].w_in.precision == "bfloat16"
    assert AutoModelForSequenceClassification.from_config(config, quantize="int8").precision == "int8"
    with pytest.raises(ValueError, match="exclude each other"):
        AutoModel.from_config(config, dtype="bf16", quantize="int8")


def test_pipeline_with_a_model_object_checks_its_precision() -> None:
    model = RoFormerForSequenceClassification.from_pretrained(DEMO_ROOT / "sentiment", quantize="int8")
    tokenizer = DEMO_ROOT
    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, quantize="int8")
    assert pipe.model is model
    pipeline("text-classification", model=model, tokenizer=tokenizer, dtype=np.float32)  # the compute dtype
    with pytest.raises(ValueError, match="holds int8 weights"):
        pipeline("text-classification", model=model, tokenizer=tokenizer, dtype="bfloat16")


def test_feature_extraction_pipeline_bf16() -> None:
    vectors = pipeline("feature-extraction", dtype="bf16", pooling="mean")(SENTENCES[:2])
    ref = pipeline("feature-extraction", pooling="mean")(SENTENCES[:2])
    assert _cosine(np.array(vectors).reshape(2, -1), np.array(ref).reshape(2, -1)).min() > 0.999


@pytest.mark.parametrize("switch", [["--quantize", "int8"], ["--dtype", "bf16"], ["--dtype", "bfloat16"]])
def test_cli_switches(capsys, monkeypatch, switch) -> None:
    from roformer_np.pipelines import factory

    seen = {}
    real = factory.TASKS["text-classification"].model_class.from_pretrained

    def spy(*args, **kwargs):
        model = real(*args, **kwargs)
        seen["precision"] = model.precision
        return model

    monkeypatch.setattr(factory.TASKS["text-classification"].model_class, "from_pretrained", spy)
    code = main(["classify", "-q", "--json", *switch, SENTENCES[0], SENTENCES[1]])
    out, _ = capsys.readouterr()
    assert code == 0
    labels = [json.loads(line)["result"]["label"] for line in out.splitlines()]
    assert labels == ["positive", "negative"] and seen["precision"] == ("int8" if "int8" in switch else "bfloat16")


def test_cli_refuses_bad_combinations(capsys) -> None:
    code = main(["classify", "-q", "--dtype", "float64", "--quantize", "int8", "好"])
    _, err = capsys.readouterr()
    assert code == 2 and "quantize='int8' computes in float32" in err
    assert main(["info", "--quantize", "int8", "--backend", "numpy"]) == 0
    assert "int8 weights" in capsys.readouterr().out


@pytest.mark.skipif(not native_available(), reason="the native extension is not built")
@pytest.mark.parametrize("kw", MODES[1:])
def test_blas_gemm_runs_the_reference_emulation(kw) -> None:
    """ROFORMER_NP_GEMM=blas: bf16 / int8 weights stay plain and run roformer_np.lowp's GEMMs (never a plain
    float GEMM), the other kernels native; the result is the NumPy backend's to float32 round-off."""
    from roformer_np import threads

    config = tiny_config(hidden_size=64, num_attention_heads=4, intermediate_size=128)
    weights = random_weights(config, 9, std=0.05)
    reference = RoFormerModel(config, dict(weights), backend="numpy", **kw)(input_ids=IDS).last_hidden_state
    previous = threads.gemm_kernel()
    threads.set_gemm_kernel("blas")
    try:
        model = RoFormerModel(config, dict(weights), backend="native", **kw)
        assert isinstance(model.params.layers[0].w_in, (lowp.BF16Weight, lowp.Int8Weight))
        assert model.kernels().linear is ops.linear
        out = model(input_ids=IDS).last_hidden_state
    finally:
        threads.set_gemm_kernel(previous)
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)
