"""The processor list ``generate()`` applies, built as Hugging Face 4.56.2's ``_get_logits_processor`` builds it.

Same processors, same order, same conditions (an option at its "off" value adds nothing), the user's processors
merged as ``_merge_criteria_processor_list`` merges them, then the sampling warpers, then ``LogitNormalization``.
Every option is checked first and a bad one raises ``ValueError`` naming it — also where Hugging Face would
silently skip a processor for an out-of-range value (``top_p=1.5``, ``no_repeat_ngram_size=-1``, ...).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np

from .config import is_real
from .logits_process import (
    Array,
    EncoderRepetitionPenaltyLogitsProcessor,
    ExponentialDecayLengthPenalty,
    ForcedBOSTokenLogitsProcessor,
    ForcedEOSTokenLogitsProcessor,
    HammingDiversityLogitsProcessor,
    InfNanRemoveLogitsProcessor,
    LogitNormalization,
    LogitsProcessorList,
    MinLengthLogitsProcessor,
    MinNewTokensLengthLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    SuppressTokensAtBeginLogitsProcessor,
    SuppressTokensLogitsProcessor,
    check_decay,
    check_in_vocab,
    check_int,
    check_positive_finite,
    check_real,
    check_token_ids,
    listed_tokens,
)
from .logits_sequences import (
    EncoderNoRepeatNGramLogitsProcessor,
    NoBadWordsLogitsProcessor,
    NoRepeatNGramLogitsProcessor,
    PrefixConstrainedLogitsProcessor,
    SequenceBiasLogitsProcessor,
    check_bad_words,
    check_sequence_bias,
)
from .logits_warpers import (
    EpsilonLogitsWarper,
    EtaLogitsWarper,
    MinPLogitsWarper,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    TypicalLogitsWarper,
)

# GenerationConfig's defaults (transformers 4.56.2) for every option the builder reads
DEFAULTS: dict[str, Any] = dict(
    sequence_bias=None, diversity_penalty=0.0, num_beams=1, num_beam_groups=1, encoder_repetition_penalty=1.0,
    repetition_penalty=1.0, no_repeat_ngram_size=0, encoder_no_repeat_ngram_size=0, bad_words_ids=None,
    min_length=0, min_new_tokens=None, forced_bos_token_id=None, forced_eos_token_id=None, max_length=20,
    remove_invalid_values=False, exponential_decay_length_penalty=None, suppress_tokens=None,
    begin_suppress_tokens=None, do_sample=False, temperature=1.0, top_k=50, top_p=1.0, min_p=None, typical_p=1.0,
    epsilon_cutoff=0.0, eta_cutoff=0.0, renormalize_logits=False, guidance_scale=None, watermarking_config=None,
)


def _flag(value: Any, name: str) -> bool:
    """A boolean option; None is off, as Hugging Face's tests of it read."""
    if value is not None and not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _refuse_unsupported(o: dict[str, Any]) -> None:
    scale = o["guidance_scale"]
    if scale is not None and scale != 1:
        raise TypeError(f"guidance_scale={scale!r} (classifier-free guidance) is not supported by roformer_np: it "
                        "needs a second, unconditional model pass at every step")
    if o["watermarking_config"] is not None:
        raise TypeError("watermarking_config is not supported by roformer_np")


def _encoder_ids(encoder_input_ids: Any, option: str) -> Array | None:
    """The [B, S] prompt ids, or None with Hugging Face's warning when there are none (inputs_embeds)."""
    ids = None if encoder_input_ids is None else np.asarray(encoder_input_ids)
    if ids is not None and ids.ndim == 2:
        return ids
    warnings.warn(f"Passing `{option}` requires some form of `input_ids` to be passed to `generate`, ignoring the "
                  "argument.", UserWarning, stacklevel=3)
    return None


def _value(o: dict[str, Any], name: str, check: Callable[..., Any], *args: Any) -> Any:
    """Option ``name`` checked by ``check(value, name, *args)``; None stays None (Hugging Face then skips it)."""
    return None if o[name] is None else check(o[name], name, *args)


def merge_custom(default: LogitsProcessorList, custom: list | None) -> LogitsProcessorList:
    """``_merge_criteria_processor_list``: a custom processor of a default one's exact type takes its place (with
    a warning); the other custom ones follow the defaults, in their order."""
    if not custom:
        return default
    if not isinstance(custom, (list, tuple)) or not all(callable(c) for c in custom):
        raise ValueError(f"logits_processor must be a list of logits processors (callables), got {custom!r}")
    merged = LogitsProcessorList()
    for proc in default:
        replacement = next((c for c in custom if type(c) is type(proc)), None)
        if replacement is not None:
            kind = type(proc).__name__
            warnings.warn(f"A custom logits processor of type {kind} has been passed to `.generate()`, but it was "
                          f"also created in `.generate()`, given its parameterization. The custom {kind} will take "
                          f"precedence. Please check the docstring of {kind} to see related `.generate()` flags.",
                          UserWarning, stacklevel=3)
        merged.append(replacement if replacement is not None else proc)
    merged.extend(c for c in custom if not any(c is m for m in merged))
    return merged


def build_logits_processors(
    options: dict[str, Any], *, input_ids_seq_length: int, encoder_input_ids: Array | None,
    eos_token_id: list[int] | None, vocab_size: int,
    prefix_allowed_tokens_fn: Callable[[int, Array], list[int]] | None = None, custom: list | None = None,
) -> LogitsProcessorList:
    """The processors of one ``generate()`` call, in Hugging Face's order.

    ``options``: resolved GenerationConfig values by Hugging Face's names (absent = its default, keys the
    builder does not read are ignored). ``input_ids_seq_length``: prompt length S. ``encoder_input_ids``: the
    prompt ids [B, S] before expansion (a decoder-only model's prompt, as Hugging Face passes it), or None.
    ``eos_token_id``: the EOS ids or None. ``custom``: the user's ``logits_processor`` list.
    """
    o = {**DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS}}
    _refuse_unsupported(o)
    vocab = check_int(vocab_size, "vocab_size", 1)
    seq_len = check_int(input_ids_seq_length, "input_ids_seq_length", 0)
    eos = None if eos_token_id is None else check_token_ids(eos_token_id, "eos_token_id", vocab, allow_empty=True)
    num_beams = check_int(o["num_beams"], "num_beams", 1)
    num_beam_groups = check_int(o["num_beam_groups"], "num_beam_groups", 1)
    procs = LogitsProcessorList()

    if o["sequence_bias"] is not None:
        procs.append(SequenceBiasLogitsProcessor(check_sequence_bias(o["sequence_bias"], "sequence_bias", vocab)))
    diversity = _value(o, "diversity_penalty", check_real, "a finite number >= 0", lambda v: 0 <= v < math.inf)
    if diversity:
        procs.append(HammingDiversityLogitsProcessor(diversity, num_beams, num_beam_groups))
    encoder_penalty = _value(o, "encoder_repetition_penalty", check_positive_finite)
    if encoder_penalty not in (None, 1.0):
        enc = _encoder_ids(encoder_input_ids, "encoder_repetition_penalty")
        if enc is not None:
            procs.append(EncoderRepetitionPenaltyLogitsProcessor(encoder_penalty, enc))
    penalty = _value(o, "repetition_penalty", check_positive_finite)
    if penalty not in (None, 1.0):
        procs.append(RepetitionPenaltyLogitsProcessor(penalty))
    ngram = _value(o, "no_repeat_ngram_size", check_int, 0)
    if ngram:
        procs.append(NoRepeatNGramLogitsProcessor(ngram))
    encoder_ngram = _value(o, "encoder_no_repeat_ngram_size", check_int, 0)
    if encoder_ngram:
        enc = _encoder_ids(encoder_input_ids, "encoder_no_repeat_ngram_size")
        if enc is not None:
            procs.append(EncoderNoRepeatNGramLogitsProcessor(encoder_ngram, enc))
    if o["bad_words_ids"] is not None:
        check_bad_words(o["bad_words_ids"], "bad_words_ids", vocab)
        procs.append(NoBadWordsLogitsProcessor(o["bad_words_ids"], eos))
    min_length = _value(o, "min_length", check_int, 0)
    if eos is not None and min_length:
        procs.append(MinLengthLogitsProcessor(min_length, eos))
    min_new = _value(o, "min_new_tokens", check_int, 0)
    if eos is not None and min_new:
        procs.append(MinNewTokensLengthLogitsProcessor(seq_len, min_new, eos))
    if prefix_allowed_tokens_fn is not None:
        procs.append(PrefixConstrainedLogitsProcessor(prefix_allowed_tokens_fn, num_beams // num_beam_groups))
    forced_bos = o["forced_bos_token_id"]
    if forced_bos is not None:
        check_in_vocab([check_int(forced_bos, "forced_bos_token_id", 0)], "forced_bos_token_id", vocab)
        procs.append(ForcedBOSTokenLogitsProcessor(forced_bos))
    if o["forced_eos_token_id"] is not None:
        forced_eos = check_token_ids(o["forced_eos_token_id"], "forced_eos_token_id", vocab)
        procs.append(ForcedEOSTokenLogitsProcessor(check_int(o["max_length"], "max_length", 1), forced_eos))
    if _flag(o["remove_invalid_values"], "remove_invalid_values"):
        procs.append(InfNanRemoveLogitsProcessor())
    decay = o["exponential_decay_length_penalty"]
    if decay is not None:
        check_decay(decay, "exponential_decay_length_penalty")
        if eos is None:
            raise ValueError("exponential_decay_length_penalty needs an eos_token_id (it raises the EOS scores)")
        procs.append(ExponentialDecayLengthPenalty(decay, eos, seq_len))
    if o["suppress_tokens"] is not None:
        tokens = check_token_ids(listed_tokens(o["suppress_tokens"]), "suppress_tokens", vocab, allow_empty=True)
        procs.append(SuppressTokensLogitsProcessor(tokens))
    if o["begin_suppress_tokens"] is not None:
        tokens = check_token_ids(listed_tokens(o["begin_suppress_tokens"]), "begin_suppress_tokens", vocab,
                                 allow_empty=True)
        # a forced BOS token takes the first step when the prompt is a single (start) token
        begin_index = seq_len if (seq_len > 1 or forced_bos is None) else seq_len + 1
        procs.append(SuppressTokensAtBeginLogitsProcessor(tokens, begin_index))

    procs = merge_custom(procs, custom)
    if _flag(o["do_sample"], "do_sample"):
        procs.extend(_warpers(o, _min_tokens_to_keep(num_beams, eos)))
    if _flag(o["renormalize_logits"], "renormalize_logits"):
        procs.append(LogitNormalization())
    return procs


def _min_tokens_to_keep(num_beams: int, eos: list[int] | None) -> int:
    """Beam sampling keeps one non-EOS token besides every EOS id, so that a hypothesis can go on."""
    if num_beams == 1:
        return 1
    return len(eos) + 1 if eos is not None else 2


def _warpers(o: dict[str, Any], keep: int) -> list:
    """The sampling warpers, in Hugging Face's order, each keeping at least ``keep`` tokens."""
    out: list = []
    if is_real(o["temperature"]) and o["temperature"] == 0:
        raise ValueError("temperature must be a finite number > 0 when sampling, got 0.0; for greedy decoding set "
                         "do_sample=False")
    temperature = _value(o, "temperature", check_positive_finite)
    if temperature not in (None, 1.0):
        out.append(TemperatureLogitsWarper(temperature))
    top_k = _value(o, "top_k", check_int, 0)
    if top_k:
        out.append(TopKLogitsWarper(top_k=top_k, min_tokens_to_keep=keep))
    top_p = _value(o, "top_p", check_real, "a number in [0, 1]", lambda v: 0 <= v <= 1)
    if top_p is not None and top_p < 1.0:
        out.append(TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=keep))
    if o["min_p"] is not None:
        out.append(MinPLogitsWarper(min_p=o["min_p"], min_tokens_to_keep=keep))
    typical_p = _value(o, "typical_p", check_real, "a number in (0, 1]", lambda v: 0 < v <= 1)
    if typical_p is not None and typical_p < 1.0:
        out.append(TypicalLogitsWarper(mass=typical_p, min_tokens_to_keep=keep))
    for name, cls in (("epsilon_cutoff", EpsilonLogitsWarper), ("eta_cutoff", EtaLogitsWarper)):
        cutoff = _value(o, name, check_real, "a number in [0, 1) (0 disables it)", lambda v: 0 <= v < 1)
        if cutoff:
            out.append(cls(epsilon=cutoff, min_tokens_to_keep=keep))
    return out
