"""generate() arguments: every one refused by name and range, sizes whose cache cannot fit refused before
anything is allocated, and a length penalty that cannot overflow."""

from __future__ import annotations

import json
import math
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from test_heads import make_head

from roformer_np import RoFormerForCausalLM
from roformer_np.generation import OPTION_RULES

PROMPT = np.array([[5, 9, 3, 17], [8, 2, 40, 11]])  # vocab_size 64, max_position_embeddings 32


@pytest.fixture(scope="module")
def lm() -> RoFormerForCausalLM:
    return make_head(RoFormerForCausalLM, seed=11, max_position_embeddings=32)


# ---------------------------------------------------------------------------------------------
# pad_token_id
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pad", [-5, 2.5, 64, 10**6, True, "0", [0]])
@pytest.mark.parametrize("num_beams", [1, 2])
def test_pad_token_id_is_checked_and_named(lm, pad, num_beams) -> None:
    """-5 was blamed on input_ids, 2.5 gave float ids, 64 (= vocab_size) appeared in beam outputs."""
    with pytest.raises(ValueError, match=r"pad_token_id must be an integer in \[0, 64\)"):
        lm.generate(PROMPT, max_new_tokens=3, pad_token_id=pad, eos_token_id=1, num_beams=num_beams)


def test_pad_token_id_from_generation_config_json_is_checked(lm, tmp_path) -> None:
    lm.save_pretrained(tmp_path)
    path = tmp_path / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "pad_token_id": -5}))
    again = RoFormerForCausalLM.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="pad_token_id"):
        again.generate(PROMPT, max_new_tokens=2)


def test_valid_pad_token_id_still_pads_finished_rows(lm) -> None:
    first = lm.generate(PROMPT, max_new_tokens=1)[:, -1]
    out = lm.generate(PROMPT, max_new_tokens=4, eos_token_id=int(first[0]), pad_token_id=63)
    assert out.dtype == np.int64 and np.all(out[0, 5:] == 63)


# ---------------------------------------------------------------------------------------------
# Sizes that cannot fit
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    (dict(num_beams=10**9), "num_beams"),
    (dict(num_beams=10**9, num_return_sequences=10**9), "num_beams"),
    (dict(do_sample=True, num_return_sequences=10**9), "num_return_sequences"),
    (dict(do_sample=True, num_return_sequences=2**62), "num_return_sequences"),
])
def test_sizes_whose_cache_cannot_fit_are_refused_before_allocating(lm, kwargs, name) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"{name}=\d+ .*needs about .* bytes"):
        lm.generate(PROMPT, max_new_tokens=3, **kwargs)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 1.0 and peak < 2**20, (elapsed, peak)  # before: allocated until the kernel killed us


def test_a_large_but_possible_beam_count_runs(lm) -> None:
    out = lm.generate(PROMPT[:1], max_new_tokens=2, num_beams=64, num_return_sequences=64)
    assert out.shape[0] == 64


# ---------------------------------------------------------------------------------------------
# length_penalty
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("penalty", [1e16, 1e300, -1e16, -1e300])
def test_huge_length_penalties_do_not_overflow(lm, penalty) -> None:
    """1e16 raised OverflowError (a Python int ** float); the power now saturates to inf / 0 as float math."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow or division warning either
        out = lm.generate(PROMPT, max_new_tokens=4, num_beams=3, length_penalty=penalty, eos_token_id=1,
                          return_dict_in_generate=True)
    assert out.sequences.shape[0] == 2 and out.sequences.min() >= 0 and out.sequences.max() < 64


def test_ordinary_length_penalties_give_the_same_divisor_as_python_pow() -> None:
    from roformer_np.decoding import length_normaliser

    for n in range(1, 200):
        for p in (-2.0, -0.5, 0.0, 0.8, 1.0, 1.3, 2.0, 7.5):
            assert length_normaliser(n, p) == np.float32(n**p), (n, p)


@pytest.mark.parametrize("penalty", [math.inf, -math.inf, math.nan, "1.0", True])
def test_non_finite_length_penalty_is_refused(lm, penalty) -> None:
    with pytest.raises(ValueError, match="length_penalty must be a finite number"):
        lm.generate(PROMPT, max_new_tokens=2, num_beams=2, length_penalty=penalty)


# ---------------------------------------------------------------------------------------------
# Every other argument
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(do_sample=True, temperature=math.inf), r"temperature must be a finite number > 0"),
    (dict(do_sample=True, temperature=math.nan), "temperature"),
    (dict(do_sample=True, temperature=-1.0), "temperature"),
    (dict(temperature="hot"), "temperature"),
    (dict(repetition_penalty=math.inf), r"repetition_penalty must be a finite number > 0"),
    (dict(repetition_penalty=math.nan), "repetition_penalty"),
    (dict(repetition_penalty=-1.0), "repetition_penalty"),
    (dict(top_p=math.nan), r"top_p must be a number in \(0, 1\]"),
    (dict(top_k=2.5), r"top_k must be an integer >= 0"),
    (dict(top_k=True), "top_k"),
    (dict(num_beams=True), r"num_beams must be an integer >= 1"),
    (dict(num_return_sequences=0), r"num_return_sequences must be an integer >= 1"),
    (dict(max_new_tokens=2.0), r"max_new_tokens must be an integer >= 1"),
    (dict(do_sample="yes"), "do_sample must be True or False"),
    (dict(early_stopping="sometimes"), "early_stopping"),
    (dict(seed=-1), r"seed must be None or an integer >= 0"),
    (dict(seed=1.5), "seed"),
    (dict(generator=np.random.RandomState(0)), "generator must be None or a numpy.random.Generator"),
    (dict(return_dict_in_generate="yes"), "return_dict_in_generate must be True or False"),
    (dict(eos_token_id=-1), r"eos_token_id must be token ids in \[0, 64\)"),
    (dict(eos_token_id=1.0), "eos_token_id"),
])
def test_every_argument_is_named_with_its_range(lm, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        lm.generate(PROMPT, **{"max_new_tokens": 2, **kwargs})


def test_every_generation_config_field_has_a_status_and_the_unchecked_ones_a_rule() -> None:
    """Each field of Hugging Face's GenerationConfig is applied, without effect, or refused; the applied ones that
    no processor constructor checks have a range rule here."""
    from roformer_np.generation_config import APPLIED, DEFAULTS, FIELD_STATUS

    assert set(FIELD_STATUS) == set(DEFAULTS)
    for name in ("max_new_tokens", "do_sample", "num_beams", "num_beam_groups", "max_time", "output_scores",
                 "return_dict_in_generate", "num_return_sequences", "length_penalty", "early_stopping"):
        assert FIELD_STATUS[name] == APPLIED and name in OPTION_RULES, name
    for name, rule in OPTION_RULES.items():
        assert rule.allowed and name in DEFAULTS, name


def test_stored_max_length_is_checked(lm, tmp_path) -> None:
    lm.save_pretrained(tmp_path)
    path = tmp_path / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "max_length": "12"}))
    again = RoFormerForCausalLM.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"max_length \(generation_config.json\) must be an integer >= 1"):
        again.generate(PROMPT)


def test_bad_values_in_generation_config_json_are_named(lm, tmp_path) -> None:
    lm.save_pretrained(tmp_path)
    path = tmp_path / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "num_beams": "4"}))
    again = RoFormerForCausalLM.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="num_beams"):
        again.generate(PROMPT, max_new_tokens=2)
