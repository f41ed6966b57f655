"""Mask values: attention, encoder and head masks must be finite and in [0, 1] (a mask of 3 overflowed the
additive mask to +inf and every output to NaN); the error names the argument and the range."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_weights, tiny_config
from test_heads import make_head

from roformer_np import RoFormerForCausalLM, RoFormerModel

IDS = np.array([[3, 4, 5], [6, 7, 8]])
BAD = [3, -1, 2.0, -0.5, 1.0001, np.nan, np.inf, -np.inf]


@pytest.fixture(scope="module")
def encoder() -> RoFormerModel:
    cfg = tiny_config()
    return RoFormerModel(cfg, random_weights(cfg))


@pytest.fixture(scope="module")
def cross_decoder() -> RoFormerModel:
    cfg = tiny_config(is_decoder=True, add_cross_attention=True)
    return RoFormerModel(cfg, random_weights(cfg))


def _with(mask: np.ndarray, value) -> np.ndarray:
    out = mask.astype(np.float64 if isinstance(value, float) else np.int64)
    out[1, 1] = value
    return out


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize("backend", ["numpy", None])
def test_attention_mask_outside_0_1_is_refused(encoder, value, backend) -> None:
    model = RoFormerModel(encoder.config, encoder.weights, backend=backend)
    with pytest.raises(ValueError, match=r"attention_mask must hold values in \[0, 1\]"):
        model(input_ids=IDS, attention_mask=_with(np.ones(IDS.shape), value))


def test_a_3d_attention_mask_is_checked_too(encoder) -> None:
    mask = np.ones((2, 3, 3))
    mask[0, 2, 1] = np.nan
    with pytest.raises(ValueError, match="attention_mask"):
        encoder(input_ids=IDS, attention_mask=mask)


@pytest.mark.parametrize("mask", [np.ones((2, 3), bool), np.array([[1, 1, 0], [1, 0, 0]]),
                                  np.array([[1.0, 0.5, 0.0], [0.25, 1.0, 1.0]], np.float32)])
def test_masks_in_0_1_are_accepted_and_finite(encoder, mask) -> None:
    """Integer, boolean and fractional masks (Hugging Face scales by 1 - mask) all stay valid."""
    out = encoder(input_ids=IDS, attention_mask=mask)[0]
    assert np.isfinite(out).all()


@pytest.mark.parametrize("value", BAD)
def test_head_mask_outside_0_1_is_refused(encoder, value) -> None:
    L, H = encoder.config.num_hidden_layers, encoder.config.num_attention_heads
    for shape in ((H,), (L, H)):
        head_mask = np.ones(shape)
        head_mask.flat[-1] = value
        with pytest.raises(ValueError, match=r"head_mask must hold values in \[0, 1\]"):
            encoder(input_ids=IDS, head_mask=head_mask)
    encoder(input_ids=IDS, head_mask=np.full((H,), 0.5))  # a fractional head weight is fine


@pytest.mark.parametrize("value", [3, np.nan])
def test_encoder_attention_mask_outside_0_1_is_refused(cross_decoder, value) -> None:
    states = np.zeros((2, 4, cross_decoder.config.hidden_size), np.float32)
    mask = np.ones((2, 4))
    mask[0, 0] = value
    with pytest.raises(ValueError, match=r"encoder_attention_mask must hold values in \[0, 1\]"):
        cross_decoder(input_ids=IDS, encoder_hidden_states=states, encoder_attention_mask=mask)


@pytest.mark.parametrize("value", [3, -1])
def test_generate_refuses_a_bad_attention_mask_before_running(value) -> None:
    lm = make_head(RoFormerForCausalLM, seed=3, max_position_embeddings=32)
    mask = np.ones(IDS.shape, np.int64)
    mask[0, 0] = value
    with pytest.raises(ValueError, match=r"attention_mask must hold values in \[0, 1\]"):
        lm.generate(IDS, attention_mask=mask, max_new_tokens=2)
