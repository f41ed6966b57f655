"""Weights packed at load: the model holds its linear weights only in the micro-kernels' panel layout, and
still gives back Hugging Face's layout (state_dict, save_pretrained) bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_weights, tiny_config

from roformer_np import RoFormerModel, use_backend
from roformer_np.backend import native_available
from roformer_np.weights import POOLER_KEYS, load_weights

pytestmark = pytest.mark.skipif(not native_available(), reason="the native extension is not built")


@pytest.fixture
def micro_kernel():
    """Run the test on a micro-kernel (the CI leg forcing BLAS included), then restore the choice."""
    from roformer_np import threads
    from roformer_np._native import kernels

    choice = next((k for k in ("avx512", "avx2") if kernels._gemm_cpu_supports(k)), None)
    if choice is None:
        pytest.skip("this CPU runs neither micro-kernel")
    previous = threads.gemm_kernel()
    threads.set_gemm_kernel(choice)
    yield choice
    threads.set_gemm_kernel(previous)


def _model(config=None, seed=0, **kw):
    config = config or tiny_config()
    weights = random_weights(config, seed)
    return RoFormerModel(config, dict(weights), backend="native", **kw), weights


def test_linear_weights_are_held_packed_only(micro_kernel) -> None:
    from roformer_np._native.kernels import PackedWeight

    model, weights = _model()
    layer = model.params.layers[0]
    for w in (layer.attention.w_qkv, layer.attention.w_out, layer.w_in, layer.w_out):
        assert isinstance(w, PackedWeight)
    held = model.weights._plain  # what the model holds besides the packed panels
    assert not any(k.endswith(("query.weight", "dense.weight")) for k in held), "a duplicate is kept"
    assert list(model.weights) == list(weights) and len(model.weights) == len(weights)
    for key, value in weights.items():  # packed ones unpacked on access
        assert key in model.weights and np.array_equal(model.weights[key], value), key
    assert model.num_parameters == sum(v.size for v in weights.values())


def test_word_embeddings_are_packed_and_gathered_by_row(micro_kernel) -> None:
    """The word embeddings (the tied LM decoder's weight) are held as panels only; the embedding gathers its
    rows from them (any index shape, negative from the end) and the tied MLM logits match the reference."""
    from roformer_np._native.kernels import PackedWeight

    from roformer_np import RoFormerForMaskedLM

    config = tiny_config(vocab_size=77)  # not a multiple of the 32-row panels: a zero-padded last panel
    model, weights = _model(config)
    table, plain = model.params.word_embeddings, weights["embeddings.word_embeddings.weight"]
    assert isinstance(table, PackedWeight) and "embeddings.word_embeddings.weight" not in model.weights._plain
    ids = np.array([[0, 31, 32, 76], [-1, -77, 5, 5]])
    assert np.array_equal(table[ids], plain[ids]) and np.array_equal(table[40], plain[40])
    assert np.array_equal(table[[3, 70]], plain[[3, 70]])
    for bad in (77, -78, [0, 77]):
        with pytest.raises(IndexError, match="out of range"):
            table[bad]
    assert np.array_equal(table[:, 1], plain[:, 1])  # any other key: the unpacked matrix, indexed
    rng = np.random.default_rng(3)
    full = {f"roformer.{k}": v for k, v in weights.items()}
    c = config.hidden_size
    full.update({f"cls.predictions.{k}": rng.normal(0, 0.2, s).astype(np.float32) for k, s in (
        ("transform.dense.weight", (c, c)), ("transform.dense.bias", (c,)), ("transform.LayerNorm.weight", (c,)),
        ("transform.LayerNorm.bias", (c,)), ("bias", (config.vocab_size,)))})
    mlm = RoFormerForMaskedLM(config, dict(full), backend="native")
    ref = RoFormerForMaskedLM(config, dict(full), backend="numpy")
    assert mlm.decoder_weight is mlm.roformer.params.word_embeddings and isinstance(mlm.decoder_weight, PackedWeight)
    for m in ([[2, 5, 9, 76, 3]], [[7]]):  # a block of rows, and one row (the decoding step's GEMV)
        np.testing.assert_allclose(mlm(input_ids=np.array(m)).logits, ref(input_ids=np.array(m)).logits,
                                   rtol=1e-5, atol=1e-5)


def test_state_dict_and_save_give_hugging_face_layout(micro_kernel, tmp_path) -> None:
    model, weights = _model()
    state = model.state_dict()
    assert list(state)[: len(weights)] == [k for k in weights if k in state]
    for key, value in weights.items():
        assert state[key].shape == value.shape and np.array_equal(state[key], value), key
    model.save_pretrained(tmp_path)
    loaded = load_weights(tmp_path)
    for key, value in weights.items():
        assert np.array_equal(loaded[key], value), key


def test_packed_model_matches_the_reference(micro_kernel) -> None:
    config = tiny_config()
    weights = random_weights(config, 1)
    packed = RoFormerModel(config, dict(weights), backend="native")
    reference = RoFormerModel(config, dict(weights), backend="numpy")
    assert not reference._packed, "the NumPy backend keeps plain arrays"
    ids = np.array([[2, 5, 9, 4, 7, 3], [2, 8, 8, 1, 6, 3]])
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    out = packed(input_ids=ids, attention_mask=mask).last_hidden_state
    ref = reference(input_ids=ids, attention_mask=mask).last_hidden_state
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    with use_backend("numpy"):  # the reference path can still run a packed model (unpacking as it goes)
        np.testing.assert_allclose(packed(input_ids=ids, attention_mask=mask).last_hidden_state, ref, rtol=1e-6,
                                   atol=1e-6)


def test_pooler_and_projection_are_packed_and_restored(micro_kernel) -> None:
    from roformer_np._native.kernels import PackedWeight

    config = tiny_config(embedding_size=24)
    weights = random_weights(config, 2)
    rng = np.random.default_rng(0)
    weights[POOLER_KEYS[0]] = rng.standard_normal((config.hidden_size, config.hidden_size)).astype(np.float32)
    weights[POOLER_KEYS[1]] = rng.standard_normal(config.hidden_size).astype(np.float32)
    model = RoFormerModel(config, dict(weights), backend="native")
    assert isinstance(model.params.project_weight, PackedWeight)
    assert isinstance(model.params.pooler_weight, PackedWeight) and model.has_pooler
    state = model.state_dict()
    for key in ("embeddings_project.weight", POOLER_KEYS[0]):
        assert np.array_equal(state[key], weights[key]), key
    ref = RoFormerModel(config, dict(weights), backend="numpy")
    ids = np.array([[2, 5, 9, 3]])
    np.testing.assert_allclose(model(input_ids=ids).pooler_output, ref(input_ids=ids).pooler_output, rtol=1e-5,
                               atol=1e-5)


def test_float64_and_blas_keep_plain_arrays() -> None:
    from roformer_np import threads

    model64, _ = _model(dtype=np.float64)
    assert not model64._packed and isinstance(model64.params.layers[0].w_in, np.ndarray)
    previous = threads.gemm_kernel()
    try:
        threads.set_gemm_kernel("blas")
        model, _ = _model()
        assert not model._packed and isinstance(model.params.layers[0].w_in, np.ndarray)
    finally:
        threads.set_gemm_kernel(previous)


def test_mapped_checkpoint_pages_released_after_packing(micro_kernel, tmp_path) -> None:
    """From a memory-mapped safetensors file: the packed tensors' file pages are dropped (madvise), and the
    data the model still reads (embeddings, norms) and the saved layout are unchanged."""
    from roformer_np.weights import read_safetensors, release_pages

    model, weights = _model()
    model.save_pretrained(tmp_path)
    mapped = read_safetensors(tmp_path / "model.safetensors")
    key = "encoder.layer.0.intermediate.dense.weight"
    copy = np.array(mapped[key])
    assert release_pages(mapped[key]) and np.array_equal(mapped[key], copy), "released pages read back the same"
    assert not release_pages(np.ones((4, 4), np.float32)), "an ordinary array has no file pages"
    loaded = RoFormerModel.from_pretrained(tmp_path, backend="native")
    ids = np.array([[2, 5, 9, 4]])
    np.testing.assert_array_equal(loaded(input_ids=ids).last_hidden_state, model(input_ids=ids).last_hidden_state)
    for k, v in loaded.state_dict().items():
        if k in weights:
            assert np.array_equal(v, weights[k]), k
