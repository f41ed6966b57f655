"""Logits processors and build_logits_processors: properties (hypothesis) on random scores, the deliberate
differences from Hugging Face, and every bad argument -> ValueError naming it (TypeError for unsupported options).
Agreement with Hugging Face itself is tests/test_logits_process_golden.py."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roformer_np import logits_process as lp
from roformer_np.logits_process import build_logits_processors

SETTINGS = settings(max_examples=40, deadline=None)
V = 32
ENC = np.array([[1, 2, 3, 1, 2], [4, 5, 4, 5, 6]], dtype=np.int64)


def _allowed(batch_id: int, sent: np.ndarray) -> list[int]:
    return [batch_id, int(sent[-1]) % V, 7]


# every processor, as a factory of the batch size B (rows are B prompts x 2 beams where that matters)
FACTORIES = {
    "min_length": lambda: lp.MinLengthLogitsProcessor(50, [2, 3]),
    "min_new_tokens": lambda: lp.MinNewTokensLengthLogitsProcessor(1, 50, 2),
    "temperature": lambda: lp.TemperatureLogitsWarper(0.6),
    "repetition": lambda: lp.RepetitionPenaltyLogitsProcessor(1.4),
    "encoder_repetition": lambda: lp.EncoderRepetitionPenaltyLogitsProcessor(1.4, ENC),
    "top_p": lambda: lp.TopPLogitsWarper(0.7, min_tokens_to_keep=2),
    "top_k": lambda: lp.TopKLogitsWarper(4, min_tokens_to_keep=2),
    "min_p": lambda: lp.MinPLogitsWarper(0.3, min_tokens_to_keep=2),
    "typical": lambda: lp.TypicalLogitsWarper(0.5, min_tokens_to_keep=2),
    "epsilon": lambda: lp.EpsilonLogitsWarper(0.05, min_tokens_to_keep=2),
    "eta": lambda: lp.EtaLogitsWarper(0.05, min_tokens_to_keep=2),
    "no_repeat_ngram": lambda: lp.NoRepeatNGramLogitsProcessor(2),
    "encoder_no_repeat_ngram": lambda: lp.EncoderNoRepeatNGramLogitsProcessor(2, ENC),
    "sequence_bias": lambda: lp.SequenceBiasLogitsProcessor({(1,): -2.0, (1, 2): 3.0, (0, 5, 6): 1.0}),
    "bad_words": lambda: lp.NoBadWordsLogitsProcessor([[3], [1, 4]], eos_token_id=3),
    "prefix": lambda: lp.PrefixConstrainedLogitsProcessor(_allowed, 2),
    "forced_bos": lambda: lp.ForcedBOSTokenLogitsProcessor(5),
    "forced_eos": lambda: lp.ForcedEOSTokenLogitsProcessor(4, [2, 3]),
    "inf_nan": lambda: lp.InfNanRemoveLogitsProcessor(),
    "exp_decay": lambda: lp.ExponentialDecayLengthPenalty((0, 1.7), [2, 3], 1),
    "normalization": lambda: lp.LogitNormalization(),
    "suppress_begin": lambda: lp.SuppressTokensAtBeginLogitsProcessor([0, 9], 3),
    "suppress": lambda: lp.SuppressTokensLogitsProcessor([0, 9]),
}
WARPERS = ("top_p", "top_k", "min_p", "typical", "epsilon", "eta")
# processors that may turn a -inf into something else: by design (InfNan -> finfo.min) or by forcing a token to 0
NOT_INF_PRESERVING = {"inf_nan", "forced_bos", "forced_eos"}


@st.composite
def batches(draw):
    """Rows = 2 prompts x 2 beams; sequences 1-6 long from a 6-token alphabet (so n-grams repeat); float32 scores
    with up to 5 -inf per row (at least 4 finite)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    s_len = draw(st.integers(1, 6))
    scale = draw(st.sampled_from([0.05, 1.0, 6.0]))
    input_ids = rng.integers(0, 6, (4, s_len)).astype(np.int64)
    scores = rng.normal(0, scale, (4, V)).astype(np.float32)
    for r in range(4):
        scores[r, rng.choice(V, draw(st.integers(0, 5)), replace=False)] = -np.inf
    return input_ids, scores


@pytest.mark.parametrize("name", sorted(FACTORIES))
@SETTINGS
@given(batch=batches())
def test_processor_contract(name: str, batch) -> None:
    """New float32 array of the input's shape; the input untouched; -inf stays -inf; no NaN from finite input."""
    input_ids, scores = batch
    ids_before, scores_before = input_ids.copy(), scores.copy()
    out = FACTORIES[name]()(input_ids, scores)
    assert out.dtype == np.float32 and out.shape == scores.shape and out is not scores
    np.testing.assert_array_equal(scores, scores_before)
    np.testing.assert_array_equal(input_ids, ids_before)
    assert not np.isnan(out).any()
    if name not in NOT_INF_PRESERVING:
        assert np.isneginf(out[np.isneginf(scores)]).all()
    out[0, 0] = 123.0  # the result is the caller's to write
    np.testing.assert_array_equal(scores, scores_before)


@pytest.mark.parametrize("name", WARPERS)
@SETTINGS
@given(batch=batches())
def test_warpers_only_filter_and_keep_enough(name: str, batch) -> None:
    """A warper sets tokens to -inf and leaves the others as they were, never keeping fewer than
    min_tokens_to_keep (2) - and, typical decoding aside, always the best-scoring token."""
    input_ids, scores = batch
    out = FACTORIES[name]()(input_ids, scores)
    kept = np.isfinite(out)
    np.testing.assert_array_equal(out[kept], scores[kept])
    assert (kept.sum(axis=1) >= 2).all()
    if name != "typical":  # typical decoding may drop the most likely token (by design)
        assert kept[np.arange(4), scores.argmax(axis=1)].all()


@SETTINGS
@given(batch=batches(), k=st.integers(1, V + 5))
def test_top_k_keeps_the_k_best(batch, k: int) -> None:
    _, scores = batch
    out = lp.TopKLogitsWarper(k)(None, scores)
    for row, kept in zip(scores, np.isfinite(out)):
        finite = np.sort(row[np.isfinite(row)])[::-1]
        expected = finite[: min(k, finite.size)]
        assert kept.sum() == expected.size and set(row[kept]) == set(expected)


@SETTINGS
@given(batch=batches(), top_p=st.floats(0.05, 0.95))
def test_top_p_keeps_the_smallest_nucleus(batch, top_p: float) -> None:
    """The kept tokens are the most likely ones, and they hold at least top_p of the probability."""
    _, scores = batch
    out = lp.TopPLogitsWarper(top_p)(None, scores)
    probs = np.exp(scores.astype(np.float64) - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    for p, kept in zip(probs, np.isfinite(out)):
        assert p[kept].min() >= p[~kept].max(initial=0)
        assert p[kept].sum() >= top_p - 1e-6


@SETTINGS
@given(batch=batches())
def test_sequence_bias_list_and_dict_forms_agree(batch) -> None:
    input_ids, scores = batch
    as_dict = {(1,): -2.0, (1, 2): 3.0, (2, 2, 4): 0.5}
    as_list = [[list(k), v] for k, v in as_dict.items()]
    np.testing.assert_array_equal(lp.SequenceBiasLogitsProcessor(as_dict)(input_ids, scores),
                                  lp.SequenceBiasLogitsProcessor(as_list)(input_ids, scores))


@SETTINGS
@given(batch=batches())
def test_no_repeat_ngram_bans_exactly_the_repeating_completions(batch) -> None:
    """A token is banned iff appending it repeats a 3-gram of the row (brute force)."""
    input_ids, scores = batch
    out = lp.NoRepeatNGramLogitsProcessor(3)(input_ids, scores)
    for row, s, o in zip(input_ids.tolist(), scores, out):
        grams = {tuple(row[i:i + 3]) for i in range(len(row) - 2)}
        banned = {t for t in range(V) if len(row) >= 2 and tuple(row[-2:] + [t]) in grams}
        newly = {t for t in range(V) if np.isneginf(o[t]) and not np.isneginf(s[t])}
        assert newly == banned - {t for t in range(V) if np.isneginf(s[t])}


def test_list_passes_extra_arguments_only_to_processors_taking_them() -> None:
    scores = np.zeros((2, V), np.float32)
    ids = np.zeros((2, 3), np.int64)
    seen = []

    def plain(input_ids, scores):  # would raise TypeError if given the extra keywords
        seen.append("plain")
        return scores + 1

    diversity = lp.HammingDiversityLogitsProcessor(2.0, num_beams=2, num_beam_groups=2)
    procs = lp.LogitsProcessorList([plain, diversity])
    out = procs(ids, scores, current_tokens=np.array([4, 9, 4, 4]), beam_group_idx=1)
    assert seen == ["plain"]
    np.testing.assert_array_equal(out[0, [4, 9]], [-1.0, 1.0])  # batch 0: group 0 chose token 4
    np.testing.assert_array_equal(out[1, 4], -1.0)
    with pytest.raises(ValueError, match=r"HammingDiversityLogitsProcessor.*current_tokens.*beam_group_idx"):
        procs(ids, scores)


def test_exponential_decay_keeps_a_banned_eos_banned() -> None:
    """Deliberate difference: Hugging Face computes -inf + inf = NaN when min_length has banned EOS."""
    scores = np.array([[0.5, -2.0, 1.0]], np.float32)
    ids = np.zeros((1, 4), np.int64)
    chain = lp.LogitsProcessorList([lp.MinLengthLogitsProcessor(10, 1),
                                    lp.ExponentialDecayLengthPenalty((0, 2.0), 1, 1)])
    out = chain(ids, scores)
    assert np.isneginf(out[0, 1]) and not np.isnan(out).any()
    out = lp.ExponentialDecayLengthPenalty((0, 2.0), 1, 1)(ids, scores)  # 3 steps past the start: |s|(2^3 - 1)
    np.testing.assert_array_equal(out, [[0.5, -2.0 + 2.0 * 7, 1.0]])


def test_encoder_processors_map_beams_to_their_prompt() -> None:
    scores = np.ones((4, V), np.float32)
    out = lp.EncoderRepetitionPenaltyLogitsProcessor(2.0, ENC)(np.zeros((4, 1), np.int64), scores)
    for row, prompt in zip(out, (0, 0, 1, 1)):
        assert set(np.flatnonzero(row == 2.0)) == set(ENC[prompt].tolist())
    ids = np.array([[9, 1], [9, 4], [9, 4], [9, 1]])
    out = lp.EncoderNoRepeatNGramLogitsProcessor(2, ENC)(ids, scores)
    assert [set(np.flatnonzero(np.isneginf(r))) for r in out] == [{2}, set(), {5}, set()]


def test_ties_follow_a_stable_sort() -> None:
    """Documented: among equal scores the sort is stable (torch's CPU sort orders ties its own way, so on exact
    ties another of the tied tokens may survive there)."""
    row = np.array([[0, 1, 1, 0, 0]], np.float32)
    kept = lp.MinPLogitsWarper(1.0, min_tokens_to_keep=3)(None, row)  # best first: 1, 2, then 0 of the tied 0, 3, 4
    assert np.flatnonzero(np.isfinite(kept)).tolist() == [0, 1, 2]
    kept = lp.TopPLogitsWarper(0.2)(None, np.zeros((1, 8), np.float32))  # least likely first: 0, 1, ... removed
    assert np.flatnonzero(np.isfinite(kept)).tolist() == [6, 7]


# ---------------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------------
def build(options: dict, **kw):
    args = dict(input_ids_seq_length=3, encoder_input_ids=ENC[:, :3], eos_token_id=[2], vocab_size=V)
    args.update(kw)
    return build_logits_processors(options, **args)


def names(procs) -> list[str]:
    return [type(p).__name__ for p in procs]


def test_defaults_build_nothing_for_greedy_and_top_k_for_sampling() -> None:
    assert names(build({})) == []
    assert names(build({"do_sample": True})) == ["TopKLogitsWarper"]
    assert names(build({"do_sample": True, "top_k": 0, "max_new_tokens": 5, "pad_token_id": 0})) == []
    assert names(build({"top_p": 0.5, "temperature": 0.3})) == []  # warpers only when sampling


def test_none_is_off_as_in_hugging_face() -> None:
    off = dict.fromkeys((
        "diversity_penalty", "encoder_repetition_penalty", "repetition_penalty", "no_repeat_ngram_size",
        "encoder_no_repeat_ngram_size", "min_length", "min_new_tokens", "temperature", "top_k", "top_p", "min_p",
        "typical_p", "epsilon_cutoff", "eta_cutoff", "sequence_bias", "bad_words_ids", "forced_bos_token_id",
        "forced_eos_token_id", "suppress_tokens", "begin_suppress_tokens", "exponential_decay_length_penalty",
        "guidance_scale", "watermarking_config", "remove_invalid_values", "renormalize_logits"))
    assert build({**off, "do_sample": True}) == []
    assert build({**off, "do_sample": None}) == []


def test_numpy_scalars_and_an_empty_eos_list() -> None:
    procs = build({"do_sample": True, "top_k": np.int64(3), "top_p": np.float32(0.5), "min_length": np.int32(9),
                   "bad_words_ids": [[np.int64(3)]]}, eos_token_id=[])
    assert names(procs) == ["NoBadWordsLogitsProcessor", "MinLengthLogitsProcessor", "TopKLogitsWarper",
                            "TopPLogitsWarper"]
    scores = np.arange(V, dtype=np.float32)[None]
    out = procs[1](np.zeros((1, 2), np.int64), scores)  # no EOS id: nothing to ban
    np.testing.assert_array_equal(out, scores)


def test_min_tokens_to_keep() -> None:
    top = dict(do_sample=True, top_k=1, top_p=0.5)
    for kw, keep in ((dict(num_beams=1), 1), (dict(num_beams=2), 3), (dict(num_beams=2, eos=None), 2)):
        eos = kw.pop("eos", [2, 5])
        procs = build({**top, **kw}, eos_token_id=eos)
        assert procs[0].top_k == max(1, keep) and procs[1].min_tokens_to_keep == keep


def test_begin_index_rule() -> None:
    def begin(seq_len: int, forced_bos) -> int:
        opts = {"begin_suppress_tokens": [4], "forced_bos_token_id": forced_bos}
        return build(opts, input_ids_seq_length=seq_len)[-1].begin_index

    assert (begin(1, None), begin(1, 7), begin(3, 7), begin(3, None)) == (1, 2, 3, 3)


def test_encoder_processors_are_skipped_with_a_warning_without_prompt_ids() -> None:
    for option in ("encoder_repetition_penalty", "encoder_no_repeat_ngram_size"):
        with pytest.warns(UserWarning, match=option):
            assert build({option: 2 if "ngram" in option else 1.5}, encoder_input_ids=None) == []


def test_custom_processors_go_before_the_warpers() -> None:
    def custom(input_ids, scores):
        return scores

    procs = build({"do_sample": True, "temperature": 0.5, "repetition_penalty": 1.2}, custom=[custom])
    assert names(procs) == ["RepetitionPenaltyLogitsProcessor", "function", "TemperatureLogitsWarper",
                            "TopKLogitsWarper"]


@pytest.mark.parametrize("options, message", [
    ({"guidance_scale": 1.5}, "guidance_scale"),
    ({"watermarking_config": {"greenlist_ratio": 0.25}}, "watermarking_config"),
])
def test_unsupported_options_raise_type_error(options: dict, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        build(options)
    build({"guidance_scale": 1.0})  # 1 is "off", as in Hugging Face
    build({"guidance_scale": None})


BAD_OPTIONS = [
    ({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size must be an integer >= 0"),
    ({"no_repeat_ngram_size": 2.0}, "no_repeat_ngram_size"),
    ({"encoder_no_repeat_ngram_size": -2}, "encoder_no_repeat_ngram_size"),
    ({"repetition_penalty": 0.0}, "repetition_penalty must be a finite number > 0"),
    ({"repetition_penalty": math.nan}, "repetition_penalty"),
    ({"encoder_repetition_penalty": -1.0}, "encoder_repetition_penalty"),
    ({"diversity_penalty": -0.5}, "diversity_penalty"),
    ({"diversity_penalty": 0.5, "num_beams": 1}, "num_beams"),
    ({"diversity_penalty": 0.5, "num_beams": 4, "num_beam_groups": 1}, "num_beam_groups"),
    ({"num_beams": 0}, "num_beams"),
    ({"num_beam_groups": "2"}, "num_beam_groups"),
    ({"min_length": -1}, "min_length"),
    ({"min_new_tokens": -3}, "min_new_tokens"),
    ({"max_length": 0, "forced_eos_token_id": 2}, "max_length"),
    ({"sequence_bias": {(V,): 1.0}}, r"sequence_bias must hold token ids in \[0, 32\), got \[32\]"),
    ({"sequence_bias": [[[1, -1], 1.0]]}, "sequence_bias"),
    ({"sequence_bias": [[[1], 1.0, 2.0]]}, "sequence_bias"),
    ({"sequence_bias": {(1,): "x"}}, "sequence_bias"),
    ({"sequence_bias": {}}, "sequence_bias"),
    ({"bad_words_ids": [[1], [V + 3]]}, r"bad_words_ids must hold token ids in \[0, 32\)"),
    ({"bad_words_ids": [[-1]]}, "bad_words_ids"),
    ({"bad_words_ids": [[]]}, "bad_words_ids"),
    ({"bad_words_ids": [1, 2]}, "bad_words_ids"),
    ({"forced_bos_token_id": V}, r"forced_bos_token_id must hold token ids in \[0, 32\)"),
    ({"forced_bos_token_id": -1}, "forced_bos_token_id"),
    ({"forced_eos_token_id": [2, -1]}, "forced_eos_token_id"),
    ({"forced_eos_token_id": [2, V]}, r"forced_eos_token_id must hold token ids in \[0, 32\)"),
    ({"suppress_tokens": [1, 40]}, r"suppress_tokens must hold token ids in \[0, 32\)"),
    ({"begin_suppress_tokens": [-2]}, "begin_suppress_tokens"),
    ({"exponential_decay_length_penalty": (5,)}, "exponential_decay_length_penalty"),
    ({"exponential_decay_length_penalty": (-1, 1.5)}, "exponential_decay_length_penalty"),
    ({"exponential_decay_length_penalty": (2, 0.0)}, "exponential_decay_length_penalty"),
    ({"remove_invalid_values": "yes"}, "remove_invalid_values"),
    ({"renormalize_logits": 1}, "renormalize_logits"),
    ({"do_sample": "yes"}, "do_sample"),
    ({"do_sample": True, "temperature": 0.0}, "do_sample=False"),
    ({"do_sample": True, "temperature": -1.0}, "temperature"),
    ({"do_sample": True, "temperature": math.inf}, "temperature"),
    ({"do_sample": True, "top_k": -1}, "top_k"),
    ({"do_sample": True, "top_p": 1.5}, r"top_p must be a number in \[0, 1\]"),
    ({"do_sample": True, "top_p": -0.1}, "top_p"),
    ({"do_sample": True, "min_p": 1.2}, "min_p"),
    ({"do_sample": True, "typical_p": 0.0}, "typical_p"),
    ({"do_sample": True, "typical_p": 1.1}, "typical_p"),
    ({"do_sample": True, "epsilon_cutoff": 1.0}, "epsilon_cutoff"),
    ({"do_sample": True, "eta_cutoff": -0.1}, "eta_cutoff"),
]


@pytest.mark.parametrize("options, message", BAD_OPTIONS, ids=[str(o) for o, _ in BAD_OPTIONS])
def test_bad_option_raises_value_error_naming_it(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(options)


def test_bad_builder_arguments() -> None:
    with pytest.raises(ValueError, match=r"eos_token_id must hold token ids in \[0, 32\)"):
        build({}, eos_token_id=[V])
    with pytest.raises(ValueError, match="eos_token_id"):
        build({}, eos_token_id=[-1])
    with pytest.raises(ValueError, match="exponential_decay_length_penalty needs an eos_token_id"):
        build({"exponential_decay_length_penalty": (1, 1.5)}, eos_token_id=None)
    with pytest.raises(ValueError, match="vocab_size"):
        build({}, vocab_size=0)
    with pytest.raises(ValueError, match="input_ids_seq_length"):
        build({}, input_ids_seq_length=-1)
    with pytest.raises(ValueError, match="logits_processor"):
        build({}, custom=[3])


BAD_CONSTRUCTORS = [
    (lambda: lp.TopPLogitsWarper(1.5), "top_p"),
    (lambda: lp.TopPLogitsWarper(0.5, min_tokens_to_keep=0), "min_tokens_to_keep"),
    (lambda: lp.TopPLogitsWarper(0.5, filter_value=math.nan), "filter_value"),
    (lambda: lp.TopKLogitsWarper(0), "top_k"),
    (lambda: lp.TopKLogitsWarper(3, min_tokens_to_keep=0), "min_tokens_to_keep"),
    (lambda: lp.TemperatureLogitsWarper(0.0), "temperature"),
    (lambda: lp.TemperatureLogitsWarper(True), "temperature"),
    (lambda: lp.MinPLogitsWarper(-0.1), "min_p"),
    (lambda: lp.TypicalLogitsWarper(1.0), "typical_p"),
    (lambda: lp.EpsilonLogitsWarper(0.0), "epsilon_cutoff"),
    (lambda: lp.EtaLogitsWarper(1.0), "eta_cutoff"),
    (lambda: lp.EtaLogitsWarper(0.1, min_tokens_to_keep=-1), "min_tokens_to_keep"),
    (lambda: lp.NoRepeatNGramLogitsProcessor(0), "ngram_size"),
    (lambda: lp.EncoderNoRepeatNGramLogitsProcessor(0, ENC), "encoder_ngram_size"),
    (lambda: lp.EncoderNoRepeatNGramLogitsProcessor(2, ENC.astype(float)), "encoder_input_ids"),
    (lambda: lp.SequenceBiasLogitsProcessor([]), "sequence_bias"),
    (lambda: lp.SequenceBiasLogitsProcessor({(): 1.0}), "sequence_bias"),
    (lambda: lp.SequenceBiasLogitsProcessor({(-1,): 1.0}), "sequence_bias"),
    (lambda: lp.SequenceBiasLogitsProcessor({1: 1.0}), "sequence_bias"),
    (lambda: lp.SequenceBiasLogitsProcessor([[(1, 2), 1.0]]), "sequence_bias"),
    (lambda: lp.SequenceBiasLogitsProcessor([[]]), "sequence_bias"),
    (lambda: lp.NoBadWordsLogitsProcessor([]), "bad_words_ids"),
    (lambda: lp.NoBadWordsLogitsProcessor([[]]), "bad_words_ids"),
    (lambda: lp.NoBadWordsLogitsProcessor([[1, -1]]), "bad_words_ids"),
    (lambda: lp.NoBadWordsLogitsProcessor([[1]], eos_token_id=-2), "eos_token_id"),
    (lambda: lp.HammingDiversityLogitsProcessor(0.0, 4, 2), "diversity_penalty"),
    (lambda: lp.HammingDiversityLogitsProcessor(0.5, 1, 2), "num_beams"),
    (lambda: lp.HammingDiversityLogitsProcessor(0.5, 4, 1), "num_beam_groups"),
    (lambda: lp.HammingDiversityLogitsProcessor(0.5, 4, 5), "num_beam_groups"),
    (lambda: lp.MinLengthLogitsProcessor(-1, 2), "min_length"),
    (lambda: lp.MinLengthLogitsProcessor(5, -2), "eos_token_id"),
    (lambda: lp.MinLengthLogitsProcessor(5, 2.0), "eos_token_id"),
    (lambda: lp.MinNewTokensLengthLogitsProcessor(-1, 2, 2), "prompt_length_to_skip"),
    (lambda: lp.MinNewTokensLengthLogitsProcessor(1, -2, 2), "min_new_tokens"),
    (lambda: lp.ForcedBOSTokenLogitsProcessor(-1), "bos_token_id"),
    (lambda: lp.ForcedEOSTokenLogitsProcessor(10, [-1]), "eos_token_id"),
    (lambda: lp.ForcedEOSTokenLogitsProcessor(10, []), "eos_token_id"),
    (lambda: lp.ExponentialDecayLengthPenalty((1,), 2, 3), "exponential_decay_length_penalty"),
    (lambda: lp.ExponentialDecayLengthPenalty((1, math.inf), 2, 3), "decay_factor"),
    (lambda: lp.ExponentialDecayLengthPenalty((1, 1.5), 2, -3), "input_ids_seq_length"),
    (lambda: lp.RepetitionPenaltyLogitsProcessor(0.0), "penalty"),
    (lambda: lp.RepetitionPenaltyLogitsProcessor(1.2, prompt_ignore_length=-1), "prompt_ignore_length"),
    (lambda: lp.EncoderRepetitionPenaltyLogitsProcessor(-1.0, ENC), "penalty"),
    (lambda: lp.PrefixConstrainedLogitsProcessor("not callable", 1), "prefix_allowed_tokens_fn"),
    (lambda: lp.PrefixConstrainedLogitsProcessor(_allowed, 0), "num_beams"),
    (lambda: lp.SuppressTokensLogitsProcessor([-1]), "suppress_tokens"),
    (lambda: lp.SuppressTokensAtBeginLogitsProcessor([1], -1), "begin_index"),
]


@pytest.mark.parametrize("make, message", BAD_CONSTRUCTORS, ids=[m for _, m in BAD_CONSTRUCTORS])
def test_bad_constructor_argument_raises_value_error_naming_it(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


SCORES = np.zeros((4, V), np.float32)
IDS = np.ones((4, 3), np.int64)
BAD_CALLS = [
    (lambda: lp.RepetitionPenaltyLogitsProcessor(1.2)(IDS - 2, SCORES), r"input_ids must hold token ids in \[0, 32\)"),
    (lambda: lp.RepetitionPenaltyLogitsProcessor(1.2)(IDS + V, SCORES), "input_ids"),
    (lambda: lp.NoRepeatNGramLogitsProcessor(2)(IDS - 5, SCORES), "input_ids"),
    (lambda: lp.EncoderRepetitionPenaltyLogitsProcessor(1.2, ENC + V)(IDS, SCORES), "encoder_input_ids"),
    (lambda: lp.EncoderRepetitionPenaltyLogitsProcessor(1.2, ENC)(IDS[:3], SCORES[:3]), "multiple"),
    (lambda: lp.EncoderNoRepeatNGramLogitsProcessor(2, ENC)(IDS[:3], SCORES[:3]), "multiple"),
    (lambda: lp.SequenceBiasLogitsProcessor({(40,): 1.0})(IDS, SCORES), r"sequence_bias must hold token ids in"),
    (lambda: lp.NoBadWordsLogitsProcessor([[1, 40]])(IDS, SCORES), "bad_words_ids"),
    (lambda: lp.PrefixConstrainedLogitsProcessor(lambda b, s: [-1], 1)(IDS, SCORES), "prefix_allowed_tokens_fn"),
    (lambda: lp.PrefixConstrainedLogitsProcessor(lambda b, s: [V], 1)(IDS, SCORES), "prefix_allowed_tokens_fn"),
    (lambda: lp.PrefixConstrainedLogitsProcessor(lambda b, s: [], 1)(IDS, SCORES), "empty list"),
    (lambda: lp.PrefixConstrainedLogitsProcessor(_allowed, 3)(IDS, SCORES), "num_beams"),
    (lambda: lp.HammingDiversityLogitsProcessor(0.5, 2, 2)(IDS[:2], SCORES[:2], np.array([1, 40, 1, 1]), 1),
     "current_tokens"),
    (lambda: lp.MinLengthLogitsProcessor(9, 40)(IDS, SCORES), "eos_token_id"),
    (lambda: lp.ForcedBOSTokenLogitsProcessor(40)(IDS[:, :1], SCORES), "bos_token_id"),
    (lambda: lp.SuppressTokensLogitsProcessor([40])(IDS, SCORES), "suppress_tokens"),
    (lambda: lp.TopPLogitsWarper(0.5)(IDS, SCORES[0]), "scores"),
    (lambda: lp.TopKLogitsWarper(2)(IDS, SCORES.astype(np.int64)), "scores"),
    (lambda: lp.RepetitionPenaltyLogitsProcessor(1.2)(IDS[:2], SCORES), "rows"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS, ids=[m for _, m in BAD_CALLS])
def test_bad_call_raises_value_error_not_index_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_hugging_face_quirks_kept() -> None:
    """Behaviours of Hugging Face that look odd but are its semantics (and what the goldens show)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # bad_words_ids = [[eos]] bans nothing (EOS single-token entries are dropped)
        out = lp.NoBadWordsLogitsProcessor([[2]], eos_token_id=2)(IDS, SCORES)
    np.testing.assert_array_equal(out, SCORES)
    # a sequence bias longer than the context is skipped; one as long as the context + 1 is skipped too
    proc = lp.SequenceBiasLogitsProcessor({(1, 1, 1, 5): 4.0})
    np.testing.assert_array_equal(proc(IDS, SCORES), SCORES)
    assert proc(np.ones((4, 4), np.int64), SCORES)[0, 5] == 4.0

