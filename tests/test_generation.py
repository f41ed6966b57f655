"""generate(): processors on crafted logits, seeded sampling, streaming, the cache it uses, bad arguments.

Greedy and beam search are checked token for token against Hugging Face in test_decoder_golden.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_heads import make_head

from roformer_np import GenerateOutput, RoFormerForCausalLM, generate
from roformer_np.decoding import sample_tokens, top_k_indices


@pytest.fixture(scope="module")
def lm() -> RoFormerForCausalLM:
    return make_head(RoFormerForCausalLM, seed=11, max_position_embeddings=32)


PROMPT = np.array([[5, 9, 3, 17], [8, 2, 40, 11]])


# ---------------------------------------------------------------------------------------------
# Search helpers (the processors are checked against Hugging Face in test_logits_process*.py)
# ---------------------------------------------------------------------------------------------
def test_top_k_indices_orders_best_first_with_ties_by_index() -> None:
    x = np.array([[0.0, 5.0, 1.0, 5.0, -np.inf, 3.0]])
    np.testing.assert_array_equal(top_k_indices(x, 3), [[1, 3, 5]])
    np.testing.assert_array_equal(top_k_indices(x, 6), [[1, 3, 5, 2, 0, 4]])


def test_sampling_never_draws_a_zero_probability_token() -> None:
    probs = np.array([[0.0, 0.5, 0.0, 0.5, 0.0]] * 200)
    draws = sample_tokens(probs, np.random.default_rng(0))
    assert set(draws.tolist()) == {1, 3}


# ---------------------------------------------------------------------------------------------
# generate
# ---------------------------------------------------------------------------------------------
def test_sampling_is_reproducible_from_a_seed(lm) -> None:
    kwargs = dict(max_new_tokens=8, do_sample=True, temperature=1.5, top_k=0)
    a = lm.generate(PROMPT, seed=3, **kwargs)
    b = lm.generate(PROMPT, seed=3, **kwargs)
    c = lm.generate(PROMPT, generator=np.random.default_rng(3), **kwargs)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, lm.generate(PROMPT, seed=4, **kwargs))
    np.testing.assert_array_equal(a[:, :4], PROMPT)


def test_top_k_1_sampling_equals_greedy(lm) -> None:
    greedy = lm.generate(PROMPT, max_new_tokens=7)
    sampled = lm.generate(PROMPT, max_new_tokens=7, do_sample=True, top_k=1, temperature=0.7, seed=0)
    np.testing.assert_array_equal(greedy, sampled)


def test_greedy_equals_argmax_of_full_forward_passes(lm) -> None:
    """The cached loop against recomputing everything at each step."""
    seq = lm.generate(PROMPT, max_new_tokens=5)
    ids = PROMPT
    for _ in range(5):
        logits = lm(ids, use_cache=False).logits[:, -1]
        ids = np.concatenate([ids, logits.argmax(-1)[:, None]], axis=1)
    np.testing.assert_array_equal(seq, ids)


def test_beam_search_with_one_beam_of_sampling_and_several_sequences(lm) -> None:
    out = lm.generate(PROMPT, max_new_tokens=5, num_beams=3, num_return_sequences=3, return_dict_in_generate=True,
                      output_scores=True)
    assert isinstance(out, GenerateOutput)
    assert out.sequences.shape == (6, 9) and out.sequences_scores.shape == (6,)
    assert np.all(np.diff(out.sequences_scores.reshape(2, 3), axis=1) <= 0)  # best first
    sampled = lm.generate(PROMPT, max_new_tokens=5, num_beams=2, do_sample=True, seed=1)
    np.testing.assert_array_equal(sampled, lm.generate(PROMPT, max_new_tokens=5, num_beams=2, do_sample=True,
                                                       seed=1))


def test_streamer_callable_and_object(lm) -> None:
    got = []
    seq = lm.generate(PROMPT, max_new_tokens=4, streamer=got.append)
    np.testing.assert_array_equal(np.stack(got, axis=1), seq[:, 4:])

    class Streamer:
        def __init__(self) -> None:
            self.chunks, self.ended = [], False

        def put(self, value) -> None:
            self.chunks.append(np.asarray(value))

        def end(self) -> None:
            self.ended = True

    s = Streamer()
    lm.generate(PROMPT, max_new_tokens=4, streamer=s)
    assert s.ended and np.array_equal(s.chunks[0], PROMPT) and len(s.chunks) == 5


def test_cache_is_preallocated_and_filled_to_the_last_fed_token(lm) -> None:
    out = lm.generate(PROMPT, max_new_tokens=6, return_dict_in_generate=True)
    cache = out.past_key_values
    assert cache.get_seq_length() == 4 + 6 - 1  # the last token is never fed back
    assert cache.keys(0).shape == (2, lm.config.num_attention_heads, 9, lm.config.head_size)


def test_eos_pads_finished_rows(lm) -> None:
    free = lm.generate(PROMPT, max_new_tokens=6)
    eos = int(free[0, 5])
    seq = lm.generate(PROMPT, max_new_tokens=6, eos_token_id=eos, pad_token_id=63)
    row = seq[0, 4:]
    assert row[1] == eos and np.all(row[2:] == 63)


def test_function_and_method_agree(lm) -> None:
    np.testing.assert_array_equal(generate(lm, PROMPT, max_new_tokens=3), lm.generate(PROMPT, max_new_tokens=3))


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_beams=0), "num_beams"),
    (dict(num_beams=1.5), "num_beams"),
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.5), "top_p"),
    (dict(top_k=-1), "top_k"),
    (dict(do_sample=True, temperature=0.0), "temperature"),
    (dict(repetition_penalty=0.0), "repetition_penalty"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_new_tokens=40), "max_position_embeddings"),
    (dict(early_stopping="sometimes"), "early_stopping"),
    (dict(num_return_sequences=2), "num_return_sequences"),
    (dict(num_beams=2, num_return_sequences=3), "num_return_sequences"),
    (dict(num_beams=2, streamer=print), "streamer"),
    (dict(eos_token_id=64), "eos_token_id"),
    (dict(attention_mask=np.ones((2, 3))), "attention_mask"),
    (dict(token_type_ids=np.ones((1, 4), np.int64)), "token_type_ids"),
    (dict(seed=1, generator=np.random.default_rng()), "seed"),
])
def test_bad_arguments_raise_naming_them(lm, kwargs, match) -> None:
    kwargs = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        lm.generate(PROMPT, **kwargs)


@pytest.mark.parametrize("ids, match", [(np.array([[1.5, 2.0]]), "integers"), (np.array([1, 2]), "shape"),
                                        (np.array([[1, 64]]), "vocab_size"), (np.zeros((1, 0), np.int64), "token")])
def test_bad_prompts(lm, ids, match) -> None:
    with pytest.raises(ValueError, match=match):
        lm.generate(ids, max_new_tokens=2)


def test_generation_config_json_supplies_defaults(lm, tmp_path) -> None:
    import json

    lm.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "generation_config.json").read_text())
    assert saved == {"_from_model_config": True, "pad_token_id": 0}  # what Hugging Face writes here
    saved.update(num_beams=2, max_new_tokens=4, repetition_penalty=1.3)
    (tmp_path / "generation_config.json").write_text(json.dumps(saved))
    again = RoFormerForCausalLM.from_pretrained(tmp_path)
    np.testing.assert_array_equal(again.generate(PROMPT),
                                  lm.generate(PROMPT, num_beams=2, max_new_tokens=4, repetition_penalty=1.3))
    # an explicit argument still wins
    np.testing.assert_array_equal(again.generate(PROMPT, num_beams=1), lm.generate(PROMPT, max_new_tokens=4,
                                                                                  repetition_penalty=1.3))
