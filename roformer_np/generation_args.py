"""Checks of generate()'s arguments: option ranges, token ids, masks, and sizes that must fit in memory.

Every check runs before anything large is allocated and raises ``ValueError`` naming the argument and its
allowed range.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .config import as_int, is_real

Array = np.ndarray
DEFAULT_MAX_LENGTH = 20  # GenerationConfig().max_length


def int_matrix(x: Any, name: str, shape: tuple[int, int] | None = None) -> Array:
    arr = np.asarray(x)
    if arr.dtype == np.bool_ and name == "attention_mask":
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and name == "attention_mask" and np.all((arr == 0) | (arr == 1)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.ndim != 2 or (shape is not None and arr.shape != shape):
        want = "[batch, seq]" if shape is None else str(shape)
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    return arr.astype(np.int64, copy=False)


def eos_list(eos_token_id: Any, vocab_size: int) -> list[int] | None:
    if eos_token_id is None:
        return None
    ids = [eos_token_id] if np.ndim(eos_token_id) == 0 else list(np.asarray(eos_token_id).reshape(-1))
    if not ids:
        return None
    out = []
    for i in ids:
        if not _is_int(i) or not 0 <= i < vocab_size:
            raise ValueError(f"eos_token_id must be token ids in [0, {vocab_size}), got {eos_token_id!r}")
        out.append(int(i))
    return out


def _is_int(v: Any) -> bool:
    return as_int(v) is not None


def _is_finite_real(v: Any) -> bool:
    return is_real(v) and math.isfinite(v)


@dataclass(frozen=True)
class Rule:
    """What one option may hold: ``ok(value, options)`` (given the other resolved options, for ranges that
    depend on them) and the range as the error states it."""

    allowed: str
    ok: Callable[[Any, dict], bool]


def _bool(v: Any, o: dict) -> bool:
    return isinstance(v, (bool, np.bool_))


def _opt_bool(v: Any, o: dict) -> bool:
    return v is None or isinstance(v, (bool, np.bool_))


# The options of generate() that no logits processor or stopping criterion checks, tested once resolved (the
# argument, else generation_config, else Hugging Face's default). Ranges are Hugging Face's where it raises,
# and finite where an infinity or NaN would silently decide every token. The processors' own options are
# checked by their constructors (roformer_np.logits_process), with the same kind of message.
OPTION_RULES: dict[str, Rule] = {
    "max_new_tokens": Rule("an integer >= 1", lambda v, o: v is None or (_is_int(v) and v >= 1)),
    "max_length": Rule("an integer >= 1", lambda v, o: v is None or (_is_int(v) and v >= 1)),
    "min_length": Rule("an integer >= 0", lambda v, o: v is None or (_is_int(v) and v >= 0)),
    "min_new_tokens": Rule("an integer >= 0", lambda v, o: v is None or (_is_int(v) and v >= 0)),
    "do_sample": Rule("True or False", _bool),
    "temperature": Rule("a finite number > 0 when sampling (any number otherwise, as in Hugging Face)",
                        lambda v, o: v is None or (is_real(v) and (not o["do_sample"] or (_is_finite_real(v)
                                                                                           and v > 0)))),
    "top_k": Rule("an integer >= 0 (0 disables it)", lambda v, o: v is None or (_is_int(v) and v >= 0)),
    "top_p": Rule("a number in (0, 1]", lambda v, o: v is None or (is_real(v) and 0 < v <= 1)),
    "num_beams": Rule("an integer >= 1", lambda v, o: _is_int(v) and v >= 1),
    "num_beam_groups": Rule("an integer >= 1 that divides num_beams",
                            lambda v, o: _is_int(v) and v >= 1 and _is_int(o["num_beams"]) and o["num_beams"] % v == 0),
    "diversity_penalty": Rule("a finite number >= 0", lambda v, o: _is_finite_real(v) and v >= 0),
    "length_penalty": Rule("a finite number", lambda v, o: _is_finite_real(v)),
    "early_stopping": Rule("True, False or 'never'", lambda v, o: v in (True, False, "never")),
    "repetition_penalty": Rule("a finite number > 0", lambda v, o: v is None or (_is_finite_real(v) and v > 0)),
    "num_return_sequences": Rule("an integer >= 1", lambda v, o: _is_int(v) and v >= 1),
    "max_time": Rule("None or a finite number of seconds > 0",
                     lambda v, o: v is None or (_is_finite_real(v) and v > 0)),
    "output_scores": Rule("True or False", _bool),
    "output_logits": Rule("None, True or False", _opt_bool),
    "output_attentions": Rule("True or False", _bool),
    "output_hidden_states": Rule("True or False", _bool),
    "return_dict_in_generate": Rule("True or False", _bool),
    "renormalize_logits": Rule("True or False", _bool),
    "remove_invalid_values": Rule("True or False", _bool),
    "use_cache": Rule("True or False", _bool),
}


def check_options(options: dict[str, Any], from_file: Collection[str] = ()) -> None:
    """Raise ``ValueError`` naming the first option outside its :data:`OPTION_RULES` range, then for the
    combinations Hugging Face refuses."""
    for name, rule in OPTION_RULES.items():
        if name in options and not rule.ok(options[name], options):
            where = " (generation_config.json)" if name in from_file else ""
            raise ValueError(f"{name}{where} must be {rule.allowed}, got {options[name]!r}")
    num_beams, n = options["num_beams"], options["num_return_sequences"]
    if num_beams == 1 and not options["do_sample"] and n != 1:
        raise ValueError("num_return_sequences > 1 needs sampling or beam search (greedy search gives one)")
    if num_beams > 1 and n > num_beams:
        raise ValueError(f"num_return_sequences ({n}) must be <= num_beams ({num_beams})")
    groups, diversity = options["num_beam_groups"], options["diversity_penalty"]
    if num_beams > 1 and (groups != 1 or diversity != 0.0):  # Hugging Face's group beam search checks
        if options["do_sample"]:
            raise ValueError("group beam search (num_beam_groups > 1 or diversity_penalty > 0) needs "
                             "do_sample=False")
        if diversity == 0.0:
            raise ValueError("diversity_penalty must be > 0 with num_beam_groups > 1 (otherwise the groups are "
                             "identical)")
        if groups == 1:
            raise ValueError("diversity_penalty > 0 needs num_beam_groups > 1 (it penalises tokens chosen by the "
                             "groups before)")
    if options.get("low_memory") and num_beams > 1:
        raise ValueError("low_memory=True is not supported with beam search (as in Hugging Face 4.56)")


def check_call_args(streamer: Any, num_beams: int, seed: Any, generator: Any) -> None:
    """The arguments of generate() that are not generation options."""
    if streamer is not None and num_beams > 1:
        raise ValueError("streamer cannot be used with beam search (num_beams > 1), as in Hugging Face")
    if streamer is not None and not (hasattr(streamer, "put") or callable(streamer)):
        raise ValueError("streamer must be a callable or an object with put()/end() methods")
    if seed is not None and not (_is_int(seed) and seed >= 0):
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise ValueError(f"generator must be None or a numpy.random.Generator, got {type(generator).__name__}")
    if seed is not None and generator is not None:
        raise ValueError("pass either seed or generator, not both")


def pad_id(pad_token_id: Any, vocab_size: int) -> int | None:
    if pad_token_id is not None and not (_is_int(pad_token_id) and 0 <= pad_token_id < vocab_size):
        raise ValueError(f"pad_token_id must be an integer in [0, {vocab_size}) (vocab_size), got {pad_token_id!r}")
    return None if pad_token_id is None else int(pad_token_id)


def memory_bytes() -> int | None:
    """This machine's physical memory, where the OS tells it (elsewhere None: sizes are then not capped)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def generation_bytes(config: Any, rows: int, max_length: int, encoder_length: int, itemsize: int) -> int:
    """A lower bound on what generating ``rows`` sequences of up to ``max_length`` tokens holds at once: the
    key/value cache of every layer (max_length positions rounded up to the cache's 64-position chunks, plus the
    cross-attention keys/values of the encoder states), one step's float32 scores and log-probabilities
    [rows, V], and a few [rows, max_length] int64 token arrays."""
    positions = -(-max_length // 64) * 64
    cache = 2 * config.num_hidden_layers * rows * (positions + encoder_length) * config.hidden_size * itemsize
    return cache + 2 * rows * config.vocab_size * 4 + 4 * rows * max_length * 8


def check_fits(config: Any, batch: int, expand: int, max_length: int, encoder_length: int, itemsize: int,
                blame: str, value: int) -> None:
    """Refuse, before anything is allocated, sizes whose cache and scores cannot fit in this machine's memory."""
    limit = memory_bytes()
    need = generation_bytes(config, batch * expand, max_length, encoder_length, itemsize)
    if limit is not None and need > limit:
        raise ValueError(
            f"{blame}={value} (x batch {batch} = {batch * expand} sequences of up to {max_length} tokens) needs "
            f"about {need:.3g} bytes for the key/value cache and scores, more than this machine's "
            f"{limit:.3g} bytes of memory"
        )


def resolve_max_length(max_new_tokens: Any, max_length: Any, explicit_max_length: bool, prompt_len: int,
                       max_positions: int) -> int:
    """Total length (prompt + new tokens) as Hugging Face derives it, checked against the position table.

    ``max_new_tokens`` wins; else a ``max_length`` given to this call or stored with a non-default value is the
    total; else (the default 20) 20 new tokens, capped at ``max_position_embeddings``.
    """
    if max_new_tokens is None:
        if max_length is None or (max_length == DEFAULT_MAX_LENGTH and not explicit_max_length):
            max_length = min(DEFAULT_MAX_LENGTH + prompt_len, max_positions)  # 20 new tokens, within the table
        else:  # checked by OPTION_RULES
            max_length = int(max_length)
    else:
        max_length = prompt_len + int(max_new_tokens)
    if prompt_len >= max_length:
        raise ValueError(f"input_ids has {prompt_len} tokens, leaving no room under max_length={max_length}")
    # the last token is never fed back, so the model sees max_length - 1 positions
    if max_length - 1 > max_positions:
        raise ValueError(
            f"prompt ({prompt_len}) + max_new_tokens ({max_length - prompt_len}) - 1 exceeds "
            f"max_position_embeddings={max_positions}"
        )
    return max_length
