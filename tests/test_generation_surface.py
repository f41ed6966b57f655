"""generate()'s Hugging Face surface beyond the goldens: GenerationConfig objects and files, user processors and
criteria, streamers (generate, pipeline, CLI), max_time, extra outputs, and what is refused (TypeError)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from test_heads import make_head

from roformer_np import (
    GenerateBeamDecoderOnlyOutput,
    GenerateDecoderOnlyOutput,
    GenerationConfig,
    LogitsProcessor,
    RoFormerForCausalLM,
    StoppingCriteria,
    TextIteratorStreamer,
    TextStreamer,
)
from roformer_np.generation_config import DEFAULTS, FIELD_STATUS, UNSUPPORTED

PROMPT = np.array([[5, 9, 3, 17], [8, 2, 40, 11]])


@pytest.fixture(scope="module")
def lm() -> RoFormerForCausalLM:
    return make_head(RoFormerForCausalLM, seed=11, max_position_embeddings=32)


class ToyTokenizer:
    """Decodes id i as one CJK character (so TextStreamer prints each token at once)."""

    def decode(self, ids, skip_special_tokens: bool = False, **kwargs) -> str:
        return "".join(chr(0x4E00 + int(i)) for i in np.asarray(ids).reshape(-1))


# ---------------------------------------------------------------------------------------------
# GenerationConfig
# ---------------------------------------------------------------------------------------------
def test_generation_config_round_trips_and_writes_only_what_differs(tmp_path) -> None:
    gc = GenerationConfig(max_new_tokens=7, no_repeat_ngram_size=2, bad_words_ids=[[3], [4, 5]], custom_key="x")
    gc.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "generation_config.json").read_text())
    assert data == {"max_new_tokens": 7, "no_repeat_ngram_size": 2, "bad_words_ids": [[3], [4, 5]],
                    "custom_key": "x"}
    again = GenerationConfig.from_pretrained(tmp_path)
    assert again == gc and again.no_repeat_ngram_size == 2 and again.top_k == 50
    assert again.update(top_k=3, nonsense=1) == {"nonsense": 1} and again.top_k == 3


def test_every_hugging_face_field_has_a_status() -> None:
    assert set(FIELD_STATUS) == set(DEFAULTS) and len(DEFAULTS) == 66  # transformers 4.56.2, metadata aside
    assert {k for k, v in FIELD_STATUS.items() if v == UNSUPPORTED} == {
        "force_words_ids", "constraints", "token_healing", "guidance_scale", "watermarking_config",
        "prompt_lookup_num_tokens", "assistant_early_exit", "penalty_alpha", "dola_layers"}


def test_a_setting_on_the_model_is_applied_and_saved(lm, tmp_path) -> None:
    """The issue's case: m.generation_config.no_repeat_ngram_size = 2, saved, reloaded, used."""
    model = make_head(RoFormerForCausalLM, seed=11, max_position_embeddings=32)
    plain = model.generate(PROMPT, max_new_tokens=12)
    model.generation_config.no_repeat_ngram_size = 2
    changed = model.generate(PROMPT, max_new_tokens=12)
    model.save_pretrained(tmp_path)
    reloaded = RoFormerForCausalLM.from_pretrained(tmp_path)
    assert reloaded.generation_config.no_repeat_ngram_size == 2
    np.testing.assert_array_equal(reloaded.generate(PROMPT, max_new_tokens=12), changed)
    assert not np.array_equal(changed, plain)
    for row in changed:
        pairs = list(zip(row[:-1], row[1:]))
        assert len(pairs) == len(set(pairs))


def test_generation_config_argument_and_model_defaults(lm) -> None:
    lm.generation_config.no_repeat_ngram_size = 2
    try:
        with_stored = lm.generate(PROMPT, generation_config=GenerationConfig(max_new_tokens=10))
        without = lm.generate(PROMPT, generation_config=GenerationConfig(max_new_tokens=10), use_model_defaults=False)
        explicit = lm.generate(PROMPT, max_new_tokens=10)
    finally:
        lm.generation_config.no_repeat_ngram_size = 0
    np.testing.assert_array_equal(with_stored, explicit)  # the model's non-default fills the default field
    np.testing.assert_array_equal(without, lm.generate(PROMPT, max_new_tokens=10))
    with pytest.raises(ValueError, match="generation_config must be a roformer_np.GenerationConfig"):
        lm.generate(PROMPT, generation_config={"max_new_tokens": 3})


@pytest.mark.parametrize("option", sorted(k for k, v in FIELD_STATUS.items() if v == UNSUPPORTED))
def test_unsupported_options_are_refused_by_name(lm, option, tmp_path) -> None:
    value = {"token_healing": True, "guidance_scale": 1.5}.get(option, [[1]] if option == "force_words_ids" else 2)
    with pytest.raises(TypeError, match=option):
        lm.generate(PROMPT, max_new_tokens=2, **{option: value})
    # the same in generation_config.json: refused, never dropped
    lm.save_pretrained(tmp_path)
    path = tmp_path / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), option: value}))
    with pytest.raises(TypeError, match=rf"{option}=.*generation_config.json"):
        RoFormerForCausalLM.from_pretrained(tmp_path).generate(PROMPT, max_new_tokens=2)


@pytest.mark.parametrize("kwargs", [dict(assistant_model=object()), dict(negative_prompt_ids=PROMPT),
                                    dict(custom_generate="x/y"), dict(synced_gpus=True), dict(top_kk=3)])
def test_unknown_or_unsupported_arguments_raise_type_error(lm, kwargs) -> None:
    with pytest.raises(TypeError, match=next(iter(kwargs))):
        lm.generate(PROMPT, max_new_tokens=2, **kwargs)


def test_no_effect_options_leave_the_tokens_unchanged(lm) -> None:
    base = lm.generate(PROMPT, max_new_tokens=6)
    same = lm.generate(PROMPT, max_new_tokens=6, use_cache=False, cache_implementation="static",
                       prefill_chunk_size=2, trust_remote_code=True, synced_gpus=False)
    np.testing.assert_array_equal(base, same)


# ---------------------------------------------------------------------------------------------
# User processors and criteria
# ---------------------------------------------------------------------------------------------
def test_user_logits_processor_and_stopping_criteria(lm) -> None:
    class Ban(LogitsProcessor):
        def __call__(self, input_ids, scores):
            out = scores.copy()
            out[:, :32] = -np.inf  # only ids >= 32 may follow
            return out

    seq = lm.generate(PROMPT, max_new_tokens=6, logits_processor=[Ban()])
    assert (seq[:, 4:] >= 32).all()

    class StopAtSeven(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return np.full(input_ids.shape[0], input_ids.shape[1] >= 7)

    seq = lm.generate(PROMPT, max_new_tokens=10, stopping_criteria=[StopAtSeven()])
    assert seq.shape == (2, 7)
    plain_callable = lm.generate(PROMPT, max_new_tokens=10, stopping_criteria=[
        lambda ids, scores, **kw: np.full(ids.shape[0], ids.shape[1] >= 6)])
    assert plain_callable.shape == (2, 6)


def test_max_time_stops_early(lm) -> None:
    slow = []

    def crawl(input_ids, scores):
        slow.append(1)
        threading.Event().wait(0.02)
        return scores

    seq = lm.generate(PROMPT, max_new_tokens=25, max_time=0.05, logits_processor=[crawl])
    assert 4 < seq.shape[1] < 4 + 25 and len(slow) < 25
    with pytest.raises(ValueError, match="max_time"):
        lm.generate(PROMPT, max_new_tokens=2, max_time=-1)


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------
def test_return_dict_fields_greedy_and_beam(lm) -> None:
    out = lm.generate(PROMPT, max_new_tokens=3, return_dict_in_generate=True, output_scores=True,
                      output_logits=True, output_attentions=True, output_hidden_states=True)
    assert isinstance(out, GenerateDecoderOnlyOutput)
    assert len(out.scores) == len(out.logits) == len(out.attentions) == len(out.hidden_states) == 3
    L, H = lm.config.num_hidden_layers, lm.config.num_attention_heads
    assert len(out.attentions[0]) == L and out.attentions[0][0].shape == (2, H, 4, 4)  # prefill
    assert out.attentions[1][0].shape == (2, H, 1, 5)  # one new token over 5 positions
    assert len(out.hidden_states[2]) == L + 1 and out.hidden_states[2][0].shape == (2, 1, lm.config.hidden_size)
    np.testing.assert_array_equal(np.stack([s.argmax(-1) for s in out.scores], 1), out.sequences[:, 4:])
    beam = lm.generate(PROMPT, max_new_tokens=3, num_beams=3, return_dict_in_generate=True)
    assert isinstance(beam, GenerateBeamDecoderOnlyOutput)
    assert beam.sequences_scores is None and beam.scores is None  # as Hugging Face: only with output_scores
    assert beam.beam_indices.shape == (2, 3) and beam.beam_indices.min() >= 0


# ---------------------------------------------------------------------------------------------
# Streamers
# ---------------------------------------------------------------------------------------------
def test_text_streamer_prints_the_generated_text(lm, capsys) -> None:
    tok = ToyTokenizer()
    seq = lm.generate(PROMPT[:1], max_new_tokens=5, streamer=TextStreamer(tok, skip_prompt=True))
    assert capsys.readouterr().out == tok.decode(seq[0, 4:]) + "\n"
    with pytest.raises(ValueError, match="batch size 1"):
        lm.generate(PROMPT, max_new_tokens=2, streamer=TextStreamer(tok))


def test_text_iterator_streamer_from_another_thread(lm) -> None:
    tok = ToyTokenizer()
    streamer = TextIteratorStreamer(tok, skip_prompt=False, timeout=30)
    result = {}
    worker = threading.Thread(target=lambda: result.update(seq=lm.generate(PROMPT[:1], max_new_tokens=6,
                                                                            streamer=streamer)))
    worker.start()
    text = "".join(streamer)
    worker.join(30)
    assert text == tok.decode(result["seq"][0])


def test_pipeline_streams_and_takes_every_generate_option(lm_dir, capsys) -> None:
    from roformer_np import pipeline

    gen = pipeline("text-generation", model=lm_dir, do_sample=False, max_new_tokens=6)
    (plain,) = gen("今天天气", return_full_text=False)
    (streamed,) = gen("今天天气", return_full_text=False, streamer=TextStreamer(gen.tokenizer, skip_prompt=True))
    assert streamed == plain
    printed = capsys.readouterr().out
    assert printed.strip() and printed.replace(" ", "").strip() == plain["generated_text"].replace(" ", "").strip()
    (ngram,) = gen("今天天气", no_repeat_ngram_size=1, return_tensors=True)
    new = ngram["generated_token_ids"][len(gen.tokenizer("今天天气")["input_ids"]):]
    assert len(set(new)) == len(new)  # no token twice
    assert gen("今天天气", generate_kwargs={"no_repeat_ngram_size": 1}, return_tensors=True) == [ngram]
    with pytest.raises(TypeError, match="no_repeat_ngram"):
        gen("今天天气", no_repeat_ngram=1)
    with pytest.raises(TypeError, match="penalty_alpha"):
        gen("今天天气", penalty_alpha=0.6)


def test_cli_generate_stream(lm_dir, capsys) -> None:
    from roformer_np.cli import main

    args = ["generate", "--model", str(lm_dir), "--no-do-sample", "--max-new-tokens", "5", "-q"]
    assert main([*args, "今天天气"]) == 0
    plain = capsys.readouterr().out
    assert main([*args, "--stream", "今天天气"]) == 0
    streamed = capsys.readouterr().out
    assert streamed.startswith("今天天气") and streamed.endswith("\n")
    assert streamed.replace(" ", "") == plain.replace(" ", "")
    assert main([*args, "--stream", "--json", "今天天气"]) == 2
    assert "--stream" in capsys.readouterr().err


def test_streaming_is_refused_with_beams(lm) -> None:
    with pytest.raises(ValueError, match="streamer cannot be used with beam search"):
        lm.generate(PROMPT[:1], max_new_tokens=2, num_beams=2, streamer=TextStreamer(ToyTokenizer()))


def test_pipeline_stop_sequence_return_text_and_hole(lm_dir) -> None:
    from roformer_np import pipeline

    gen = pipeline("text-generation", model=lm_dir, do_sample=False, max_new_tokens=8)
    (free,) = gen("今天天气", return_tensors=True)
    prompt_len = len(gen.tokenizer("今天天气")["input_ids"])
    stop_id = free["generated_token_ids"][prompt_len + 2]
    stop_text = gen.tokenizer.decode([stop_id])
    assert gen.tokenizer.encode(stop_text, add_special_tokens=False) == [stop_id]  # a one-token text here
    (cut,) = gen("今天天气", stop_sequence=stop_text, return_tensors=True)
    first = free["generated_token_ids"].index(stop_id, prompt_len)
    assert cut["generated_token_ids"][: first + 1] == free["generated_token_ids"][: first + 1]
    assert len(cut["generated_token_ids"]) == first + 1  # the stop token ends the row
    assert gen("今天天气", return_text=True) == gen("今天天气")  # alone it changes nothing, as Hugging Face
    with pytest.raises(ValueError, match="mutually exclusive"):
        gen("今天天气", return_text=True, return_full_text=False)
    long_prompt = "今天天气很好" * 20
    limit = gen.model.config.max_position_embeddings
    with pytest.raises(ValueError):
        gen(long_prompt, max_new_tokens=limit // 2)  # too long without a rule
    (holed,) = gen(long_prompt, max_new_tokens=limit // 2, handle_long_generation="hole", return_tensors=True)
    assert len(holed["generated_token_ids"]) == limit
    with pytest.raises(ValueError, match="handle_long_generation"):
        gen("今天", handle_long_generation="middle")


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_return_sequences=2), "num_return_sequences"),
    (dict(num_beams=2, num_beam_groups=2), "diversity_penalty"),
    (dict(num_beams=3, num_beam_groups=2, diversity_penalty=1.0), "divisible"),
    (dict(num_beams=2, num_beam_groups=2, diversity_penalty=1.0, do_sample=True), "do_sample=False"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(early_stopping="x"), "early_stopping"),
])
def test_generation_config_refuses_what_hugging_face_refuses(kwargs, match, tmp_path) -> None:
    with pytest.raises(ValueError, match=match):
        GenerationConfig(**kwargs)
    (tmp_path / "generation_config.json").write_text(json.dumps(kwargs))
    with pytest.raises(ValueError, match=match):
        GenerationConfig.from_pretrained(tmp_path)


def test_an_infinite_positive_sequence_bias_is_refused(lm) -> None:
    with pytest.raises(ValueError, match=r"sequence_bias biases must be numbers below \+inf"):
        lm.generate(PROMPT, max_new_tokens=2, sequence_bias={(3,): float("inf")})
    banned = lm.generate(PROMPT, max_new_tokens=4, sequence_bias={(7,): float("-inf")})
    assert (banned[:, 4:] != 7).all()
