"""Text generation for :class:`~roformer_np.heads.RoFormerForCausalLM`: Hugging Face's ``generate()`` surface.

The prompt is run once (prefill) into a :class:`~roformer_np.cache.KVCache` pre-allocated for the whole
length; every later step feeds only the newest token. Options resolve as in transformers 4.56: the call's
keyword arguments, over a ``generation_config=`` object (whose default-valued fields take the model's stored
values), over the model's ``generation_config`` (``generation_config.json``), over ``GenerationConfig()``'s
defaults. Then, as Hugging Face does:

* special tokens default to the generation config's, then the model config's ``pad_token_id`` /
  ``eos_token_id``; without a pad id the first EOS id pads; without an ``attention_mask`` one is inferred
  from the pad id when the prompt holds it (and it is not an EOS id);
* the attention mask gains a 1 and ``token_type_ids`` repeat their last column at every step;
* logits are taken in float32 and go through Hugging Face's logits processors in its order (built by
  :func:`roformer_np.logits_process.build_logits_processors`, user ``logits_processor`` merged in), and the
  stopping criteria (max length, ``max_time``, ``stop_strings`` with the ``tokenizer``, EOS, user
  ``stopping_criteria``) decide which rows are done; finished rows are padded with the pad id;
* greedy search, sampling, beam search (Hugging Face's vectorised algorithm), beam sampling and group beam
  search (``num_beam_groups`` with ``diversity_penalty``) live in :mod:`roformer_np.decoding`.

With ``is_decoder=False`` the cache is still used and the mask is not causal, so the prompt attends both
ways and each new token to everything before it: Hugging Face's prefix-LM behaviour, reproduced.
RoFormer-Sim (a decoder whose checkpoint has a pooler, see ``RoFormerModel.unilm``) decodes as UniLM, as
JunnyU's ``prepare_inputs_for_generation`` intends: generated tokens are segment 1.

Sampling uses NumPy's generator (``seed`` or ``generator``): reproducible, but not PyTorch's random stream.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import decoding
from .generation_args import (
    OPTION_RULES,
    check_call_args,
    check_fits,
    check_options,
    eos_list,
    int_matrix,
    pad_id,
    resolve_max_length,
)
from .generation_config import DEFAULTS, GENERATION_CONFIG_NAME, GenerationConfig, check_supported
from .logits_process import build_logits_processors
from .model import check_unit_interval
from .outputs import GenerateBeamDecoderOnlyOutput, GenerateDecoderOnlyOutput
from .stopping_criteria import build_stopping_criteria

Array = np.ndarray
__all__ = ["GENERATION_CONFIG_NAME", "GenerationConfig", "OPTION_RULES", "generate"]

# keyword arguments that are model inputs rather than generation options
MODEL_INPUTS = ("attention_mask", "token_type_ids", "encoder_hidden_states", "encoder_attention_mask")
# generate() arguments of Hugging Face's for features this package does not have: refused unless None / False
_UNSUPPORTED_ARGS = {
    "assistant_model": "assisted generation", "assistant_tokenizer": "assisted generation",
    "negative_prompt_ids": "classifier-free guidance", "negative_prompt_attention_mask": "classifier-free guidance",
    "custom_generate": "Hub decoding methods", "synced_gpus": "multi-GPU synchronisation",
}
# accepted and without effect on the tokens (Hugging Face uses it only to load Hub decoding methods)
_HARMLESS_ARGS = ("trust_remote_code",)


def _split_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(generation options, model inputs); anything else is a TypeError naming it, as Hugging Face raises."""
    options, inputs = {}, {}
    for key, value in kwargs.items():
        if key in MODEL_INPUTS:
            inputs[key] = value
        elif key in DEFAULTS:
            options[key] = value
        elif key in _UNSUPPORTED_ARGS:
            if value is not None and value is not False:
                raise TypeError(f"generate() got {key}={value!r}: {_UNSUPPORTED_ARGS[key]} is not implemented "
                                "in roformer_np")
        elif key in _HARMLESS_ARGS:
            continue
        else:
            raise TypeError(f"generate() got an unexpected keyword argument {key!r} (not a generation option of "
                            "transformers 4.56 nor a model input: attention_mask, token_type_ids, "
                            "encoder_hidden_states, encoder_attention_mask)")
    return options, inputs


def model_generation_config(model: Any) -> GenerationConfig:
    """The model's stored defaults (``generation_config.json``), or those Hugging Face derives from the config."""
    stored = getattr(model, "generation_config", None)
    if isinstance(stored, GenerationConfig):
        return stored
    if isinstance(stored, dict) and stored:
        return GenerationConfig.from_dict(stored)
    return GenerationConfig.from_model_config(model.config)


def resolve_config(model: Any, generation_config: GenerationConfig | None, use_model_defaults: bool | None,
                   options: dict[str, Any]) -> tuple[GenerationConfig, set[str]]:
    """Hugging Face's ``_prepare_generation_config``: (the config generate() runs with, the options the call
    set explicitly). A keyword set to None counts as not given."""
    stored = model_generation_config(model)
    if generation_config is None:
        config = stored.copy()
    else:
        if not isinstance(generation_config, GenerationConfig):
            raise ValueError(f"generation_config must be a roformer_np.GenerationConfig, got "
                             f"{type(generation_config).__name__}")
        config = generation_config.copy()
        if use_model_defaults is None or use_model_defaults:  # the model's non-defaults fill default fields
            for key, default in DEFAULTS.items():
                if getattr(config, key) == default and getattr(stored, key) != default:
                    setattr(config, key, stored.get(key))
            if config.temperature == 0.0:
                config.do_sample = False
        else:
            for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
                if getattr(config, key) is None:
                    setattr(config, key, getattr(stored, key))
    given = {k: v for k, v in options.items() if v is not None}
    config.update(**given)
    return config, set(given)


def generate(
    model: Any,
    input_ids: Any = None,
    generation_config: GenerationConfig | None = None,
    logits_processor: list | None = None,
    stopping_criteria: list | None = None,
    prefix_allowed_tokens_fn: Callable[[int, Array], list[int]] | None = None,
    streamer: Any = None,
    seed: int | None = None,
    generator: np.random.Generator | None = None,
    tokenizer: Any = None,
    use_model_defaults: bool | None = None,
    inputs: Any = None,
    **kwargs: Any,
) -> Array | GenerateDecoderOnlyOutput | GenerateBeamDecoderOnlyOutput:
    """Continue ``input_ids`` [B, S] (left-padded, with an ``attention_mask``, for a batch of lengths).

    ``kwargs`` are the fields of :class:`~roformer_np.GenerationConfig` (Hugging Face's names and semantics:
    ``max_new_tokens``, ``do_sample``, ``num_beams``, ``no_repeat_ngram_size``, ``bad_words_ids``, ``top_p``,
    ``min_p``, …; a field the package cannot honour raises ``TypeError`` naming it) and the model inputs
    ``attention_mask``, ``token_type_ids``, ``encoder_hidden_states``, ``encoder_attention_mask``. Options
    left unset come from ``generation_config``, then the model's ``generation_config.json``, then Hugging
    Face's defaults (greedy, 20 new tokens capped at ``max_position_embeddings``). ``seed`` / ``generator``
    make sampling reproducible. ``streamer`` gets the prompt, then each step's tokens (``put`` / ``end``, e.g.
    :class:`~roformer_np.streamers.TextStreamer`), or is a callable receiving each step's tokens [B].
    ``tokenizer`` is needed for ``stop_strings``. Returns the ids [B·n, S + generated], or with
    ``return_dict_in_generate=True`` Hugging Face's output classes (``scores``, ``logits``,
    ``sequences_scores``, ``beam_indices``, ``attentions``, ``hidden_states``, ``past_key_values``).
    """
    cfg = model.config
    if inputs is not None:
        if input_ids is not None:
            raise ValueError("pass the prompt as input_ids or inputs, not both")
        input_ids = inputs
    if input_ids is None:
        raise ValueError("generate() needs input_ids [batch, seq]: RoFormer has no start token to generate from")
    options, model_inputs = _split_kwargs(kwargs)
    stored = model_generation_config(model)
    check_supported(stored.to_dict(), GENERATION_CONFIG_NAME)
    if generation_config is not None and isinstance(generation_config, GenerationConfig):
        check_supported(generation_config.to_dict(), "generation_config")
    check_supported(options, "argument")
    gc, explicit = resolve_config(model, generation_config, use_model_defaults, options)
    opt = {name: getattr(gc, name) for name in DEFAULTS}
    if opt["top_k"] is None:
        opt["top_k"] = 0  # a stored null disables it, as in Hugging Face
    check_options(opt, from_file=set(stored.non_default()) - explicit if generation_config is None else ())
    num_beams, groups = int(opt["num_beams"]), int(opt["num_beam_groups"])
    check_call_args(streamer, num_beams, seed, generator)

    input_ids = int_matrix(input_ids, "input_ids")
    batch, prompt_len = input_ids.shape
    if batch == 0 or prompt_len == 0:
        raise ValueError(f"input_ids must hold at least one token per row, got shape {input_ids.shape}")
    if input_ids.min() < 0 or input_ids.max() >= cfg.vocab_size:
        raise ValueError(f"input_ids must be token ids in [0, vocab_size={cfg.vocab_size})")
    max_length = resolve_max_length(opt["max_new_tokens"], opt["max_length"], "max_length" in explicit,
                                    prompt_len, cfg.max_position_embeddings)
    min_length = opt["min_length"]
    if opt["min_new_tokens"] is not None:
        min_length = prompt_len + int(opt["min_new_tokens"])

    eos_token_id = opt["eos_token_id"] if opt["eos_token_id"] is not None else cfg.eos_token_id
    pad_token_id = opt["pad_token_id"] if opt["pad_token_id"] is not None else cfg.pad_token_id
    eos, pad = eos_list(eos_token_id, cfg.vocab_size), pad_id(pad_token_id, cfg.vocab_size)
    if pad is None and eos is not None:
        pad = eos[0]  # Hugging Face pads finished rows with the first EOS id then
    attention_mask = model_inputs.get("attention_mask")
    if attention_mask is None:
        # Hugging Face infers the mask from pad ids in the prompt, unless the pad id is also an EOS id
        can_infer = pad is not None and bool(np.any(input_ids == pad)) and (eos is None or pad not in eos)
        attention_mask = (input_ids != pad).astype(np.int64) if can_infer else np.ones_like(input_ids)
    else:
        attention_mask = int_matrix(attention_mask, "attention_mask", (batch, prompt_len))
        check_unit_interval(attention_mask, "attention_mask")
    token_type_ids = model_inputs.get("token_type_ids")
    if token_type_ids is not None:
        token_type_ids = int_matrix(token_type_ids, "token_type_ids", (batch, prompt_len))
    encoder_hidden_states = model_inputs.get("encoder_hidden_states")
    rng = generator if generator is not None else np.random.default_rng(seed)
    n_return = int(opt["num_return_sequences"])

    # every row is repeated for its beams / returned samples (Hugging Face's repeat_interleave)
    expand = max(num_beams, n_return)
    blame = "num_beams" if num_beams >= n_return and num_beams > 1 else "num_return_sequences"
    encoder_length = np.shape(encoder_hidden_states)[1] if np.ndim(encoder_hidden_states) == 3 else 0
    check_fits(cfg, batch, expand, max_length, encoder_length, model.dtype.itemsize, blame, max(expand, 1))

    def rep(x: Any) -> Any:
        return None if x is None else np.repeat(np.asarray(x), expand, axis=0)

    resolved = {**opt, "max_length": max_length, "min_length": min_length}
    processors = build_logits_processors(
        resolved, input_ids_seq_length=prompt_len, encoder_input_ids=input_ids, eos_token_id=eos,
        vocab_size=cfg.vocab_size, prefix_allowed_tokens_fn=prefix_allowed_tokens_fn,
        custom=list(logits_processor or []))
    criteria = build_stopping_criteria(
        max_length=max_length, max_time=opt["max_time"], stop_strings=opt["stop_strings"], eos_token_id=eos,
        tokenizer=tokenizer, max_position_embeddings=cfg.max_position_embeddings,
        custom=list(stopping_criteria or []))
    return_dict = bool(opt["return_dict_in_generate"])
    output_logits = bool(opt["output_logits"])
    record = decoding.Recorder.make(return_dict, bool(opt["output_scores"]), output_logits)
    decoder = decoding.Decoder(
        model, rep(attention_mask), rep(token_type_ids), rep(encoder_hidden_states),
        rep(model_inputs.get("encoder_attention_mask")), capacity=max_length,
        output_attentions=return_dict and bool(opt["output_attentions"]),
        output_hidden_states=return_dict and bool(opt["output_hidden_states"]), use_cache=bool(opt["use_cache"]))
    ids = rep(input_ids)

    beam_opt = decoding.BeamOptions(num_beams, max_length, float(opt["length_penalty"]), opt["early_stopping"],
                                    n_return, bool(opt["do_sample"]))
    scores = beam_indices = None
    if num_beams == 1:
        sequences = decoding.sample(decoder, ids, processors, criteria, pad, bool(opt["do_sample"]), rng, streamer,
                                    record)
    elif groups > 1:
        sequences, scores, beam_indices = decoding.group_beam_search(decoder, ids, batch, beam_opt, groups, eos,
                                                                     pad, processors, criteria, record)
    else:
        sequences, scores, beam_indices = decoding.beam_search(decoder, ids, batch, beam_opt, eos, pad, processors,
                                                               criteria, rng, record)
    if not return_dict:
        return sequences
    common = dict(
        sequences=sequences,
        scores=None if record.scores is None else tuple(record.scores),
        logits=None if record.logits is None else tuple(record.logits),
        attentions=tuple(decoder.attentions) if decoder.output_attentions else None,
        hidden_states=tuple(decoder.hidden_states) if decoder.output_hidden_states else None,
        past_key_values=decoder.cache,
    )
    if num_beams == 1:
        return GenerateDecoderOnlyOutput(**common)
    return GenerateBeamDecoderOnlyOutput(
        sequences_scores=scores if opt["output_scores"] else None, beam_indices=beam_indices, **common)
