"""Properties of decoder mode and the cache (hypothesis), and its bad-input errors.

Tolerances: float64 results must agree to 1e-9 (the computations are the same up to summation order);
float32 ones to rtol/atol 2e-5. Left padding shifts rotary positions, and the sinusoidal table holds
float32-rounded sin/cos (as Hugging Face's), so shift invariance holds to ~1e-7 only: 1e-6 there.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_weights, tiny_config
from hypothesis import given, settings
from hypothesis import strategies as st

from roformer_np import KVCache, RoFormerModel

F64 = dict(rtol=1e-9, atol=1e-9)
F32 = dict(rtol=2e-5, atol=2e-5)
SHIFTED = dict(rtol=1e-6, atol=1e-6)
SETTINGS = settings(max_examples=40, deadline=None)


def _model(dtype=np.float64, seed: int = 0, **overrides) -> RoFormerModel:
    config = tiny_config(is_decoder=True, **overrides)
    return RoFormerModel(config, random_weights(config, seed, dtype), dtype=dtype)


DECODERS = {
    "f64": _model(np.float64),
    "f64_rotary_value": _model(np.float64, 1, rotary_value=True),
    "f64_cross": _model(np.float64, 2, add_cross_attention=True),
    "f32": _model(np.float32, 3),
}


@SETTINGS
@given(
    name=st.sampled_from(sorted(DECODERS)),
    prompt=st.integers(1, 10),
    chunks=st.lists(st.integers(1, 4), min_size=1, max_size=5),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_prefill_then_cached_steps_equal_one_full_forward(name, prompt, chunks, batch, seed) -> None:
    model = DECODERS[name]
    rng = np.random.default_rng(seed)
    total = prompt + sum(chunks)
    ids = rng.integers(0, 64, (batch, total))
    types = rng.integers(0, 2, (batch, total))
    enc = {}
    if model.config.add_cross_attention:
        enc = dict(encoder_hidden_states=rng.normal(size=(batch, 3, 16)),
                   encoder_attention_mask=np.array([[1, 1, 0]] * batch))
    full = model(ids, token_type_ids=types, use_cache=False, **enc).last_hidden_state
    cache, start = None, 0
    for n in [prompt, *chunks]:
        out = model(ids[:, start:start + n], token_type_ids=types[:, start:start + n], past_key_values=cache,
                    **enc)
        cache = out.past_key_values
        tol = F32 if model.dtype == np.float32 else F64
        np.testing.assert_allclose(out.last_hidden_state, full[:, start:start + n], **tol)
        start += n
    assert cache.get_seq_length() == total


@SETTINGS
@given(
    name=st.sampled_from(["f64", "f64_cross"]),
    length=st.integers(1, 8),
    pad=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_left_padded_row_equals_the_unpadded_sequence(name, length, pad, seed) -> None:
    """Left padding shifts absolute positions; rotary q·k only sees relative ones (rotary_value is off)."""
    model = DECODERS[name]
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 64, (1, length))
    enc = {}
    if model.config.add_cross_attention:
        enc = dict(encoder_hidden_states=np.repeat(rng.normal(size=(1, 3, 16)), 2, axis=0))
    padded = np.concatenate([rng.integers(0, 64, (1, pad)), ids], axis=1)
    batch = np.concatenate([padded, np.concatenate([ids, rng.integers(0, 64, (1, pad))], axis=1)])
    mask = np.ones_like(batch)
    mask[0, :pad] = 0
    mask[1, length:] = 0  # right padding: later positions, invisible under the causal mask anyway
    out = model(batch, attention_mask=mask, **enc).last_hidden_state
    alone = model(ids, **{k: v[:1] for k, v in enc.items()}).last_hidden_state
    np.testing.assert_allclose(out[0, pad:], alone[0], **SHIFTED)
    np.testing.assert_allclose(out[1, :length], alone[0], **F64)


@SETTINGS
@given(length=st.integers(1, 8), pad=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_right_padded_row_equals_the_unpadded_sequence_in_an_encoder(length, pad, seed) -> None:
    config = tiny_config(rotary_value=True)
    model = RoFormerModel(config, random_weights(config, 5, np.float64), dtype=np.float64)
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 64, (1, length))
    padded = np.concatenate([ids, rng.integers(0, 64, (1, pad))], axis=1)
    mask = np.ones_like(padded)
    mask[0, length:] = 0
    out = model(padded, attention_mask=mask).last_hidden_state
    np.testing.assert_allclose(out[0, :length], model(ids).last_hidden_state[0], **F64)


@SETTINGS
@given(name=st.sampled_from(sorted(DECODERS)), length=st.integers(1, 8), extra=st.integers(1, 8),
       seed=st.integers(0, 2**16))
def test_appending_tokens_never_changes_earlier_outputs(name, length, extra, seed) -> None:
    model = DECODERS[name]
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 64, (2, length + extra))
    enc = {}
    if model.config.add_cross_attention:
        enc = dict(encoder_hidden_states=rng.normal(size=(2, 3, 16)))
    short = model(ids[:, :length], **enc).last_hidden_state
    long = model(ids, **enc).last_hidden_state
    tol = F32 if model.dtype == np.float32 else F64
    np.testing.assert_allclose(long[:, :length], short, **tol)


# ---------------------------------------------------------------------------------------------
# Cache behaviour and errors
# ---------------------------------------------------------------------------------------------
def test_cache_grows_in_chunks_without_copying_each_step() -> None:
    model = DECODERS["f32"]
    cache = KVCache(model.config.num_hidden_layers, capacity=20)
    model([[1, 2, 3]], past_key_values=cache)
    buffer = cache._keys[0]
    for token in range(10):
        model([[token]], past_key_values=cache)
    assert cache._keys[0] is buffer  # still the pre-allocated buffer
    assert cache.get_seq_length() == 13


def test_cache_reorder_and_crop() -> None:
    model = DECODERS["f64"]
    out = model(np.array([[1, 2, 3], [4, 5, 6]]))
    cache = out.past_key_values
    k0 = cache.keys(0).copy()
    cache.reorder([1, 1, 0])
    np.testing.assert_array_equal(cache.keys(0), k0[[1, 1, 0]])
    cache.crop(2)
    assert cache.get_seq_length() == 2 and cache.keys(0).shape[2] == 2


def test_cache_indexing_like_hugging_faces_encoder_decoder_cache() -> None:
    """``pkv[i]`` is (k, v, cross_k, cross_v), ``for x in pkv`` walks the layers, ``to_legacy_cache()`` exists;
    Hugging Face's own legacy tuples with ``None`` cross entries load as a plain self-attention cache."""
    model = DECODERS["f64"]
    out = model(np.array([[1, 2, 3]]))
    cache = out.past_key_values
    assert len(cache) == model.config.num_hidden_layers
    k, v, ck, cv = cache[0]
    assert k.shape[2] == 3 and ck is None and cv is None
    np.testing.assert_array_equal(cache[-1][1], cache.values(len(cache) - 1))
    assert [len(entry) for entry in cache] == [4] * len(cache)
    legacy = cache.to_legacy_cache()
    assert all(len(entry) == 2 for entry in legacy)
    with pytest.raises(KeyError, match="only has"):
        cache[len(cache)]
    step = model(np.array([[4]]), past_key_values=tuple((k, v, None, None) for k, v in legacy))
    np.testing.assert_allclose(step.last_hidden_state, model(np.array([[1, 2, 3, 4]])).last_hidden_state[:, -1:],
                               **F64)
    assert all(len(entry) == 2 for entry in step.past_key_values.to_legacy_cache())
    with pytest.raises(ValueError, match="None"):
        KVCache.from_legacy(((legacy[0][0], None),) * len(legacy))
    cross = DECODERS["f64_cross"](np.array([[1, 2]]), encoder_hidden_states=np.ones((1, 3, 16))).past_key_values
    assert cross[0][2].shape[2] == 3 and len(cross.to_legacy_cache()[0]) == 4


def test_going_past_max_position_embeddings_raises() -> None:
    model = DECODERS["f64"]  # 32 positions
    out = model(np.ones((1, 30), np.int64))
    model(np.ones((1, 2), np.int64), past_key_values=out.past_key_values)  # exactly 32: fine
    with pytest.raises(ValueError, match="max_position_embeddings=32"):
        model(np.ones((1, 1), np.int64), past_key_values=out.past_key_values)


def test_cache_from_another_model_shape_raises() -> None:
    config = tiny_config(is_decoder=True, num_attention_heads=4)  # head size 4 instead of 8
    other = RoFormerModel(config, random_weights(config), dtype=np.float64)
    cache = other([[1, 2]]).past_key_values
    with pytest.raises(ValueError, match="past_key_values"):
        DECODERS["f64"]([[3]], past_key_values=cache)
    with pytest.raises(ValueError, match="past_key_values"):
        DECODERS["f32"]([[3]], past_key_values=DECODERS["f64"]([[1]]).past_key_values)  # another dtype
    with pytest.raises(ValueError, match="past_key_values"):
        DECODERS["f64"]([[3]], past_key_values=KVCache(5))  # another number of layers
    with pytest.raises(ValueError, match="past_key_values"):
        DECODERS["f64"]([[3]], past_key_values=((np.zeros((1, 2, 3, 8)),),) * 2)


def test_encoder_states_of_the_wrong_width_raise() -> None:
    with pytest.raises(ValueError, match="hidden_size=16"):
        DECODERS["f64_cross"]([[1, 2]], encoder_hidden_states=np.zeros((1, 3, 12)))
    with pytest.raises(ValueError, match="encoder_attention_mask"):
        DECODERS["f64_cross"]([[1, 2]], encoder_hidden_states=np.zeros((1, 3, 16)),
                              encoder_attention_mask=np.ones((1, 4)))


def test_attention_mask_must_cover_the_cached_positions() -> None:
    model = DECODERS["f64"]
    cache = model([[1, 2, 3]]).past_key_values
    with pytest.raises(ValueError, match="attention_mask"):
        model([[4]], past_key_values=cache, attention_mask=np.ones((1, 1)))
