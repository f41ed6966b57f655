"""Text generation for :class:`~roformer_np.heads.RoFormerForCausalLM`: greedy, sampling and beam search.

The prompt is run once (prefill) into a :class:`~roformer_np.cache.KVCache` pre-allocated for
prompt + ``max_new_tokens`` positions; every later step feeds only the newest token. The decoding rules are
those of Hugging Face's ``GenerationMixin`` (transformers 4.56), so greedy and beam search give the same
tokens:

* special tokens default to the config's ``pad_token_id`` / ``eos_token_id``; without a pad id, the first
  EOS id pads; without an ``attention_mask``, one is inferred from the pad id when the prompt holds it
  (and it is not an EOS id);
* the attention mask gains a 1 and ``token_type_ids`` repeat their last column at every step;
* logits are taken in float32; processors run in Hugging Face's order (repetition penalty, then for
  sampling temperature, top-k, top-p); rows that hit EOS are padded with the pad id;
* beam search is Hugging Face's vectorised algorithm (2·num_beams candidates, length penalty on finished
  hypotheses, ``early_stopping`` True / False / "never" with the same heuristic).

With ``is_decoder=False`` the cache is still used and the mask is not causal, so the prompt attends both
ways and each new token to everything before it: Hugging Face's prefix-LM behaviour, reproduced.

RoFormer-Sim (a decoder whose checkpoint has a pooler, see ``RoFormerModel.unilm``) decodes as UniLM, as
JunnyU's ``prepare_inputs_for_generation`` intends: the prompt pass is bidirectional with its token types (0 by
default), and every generated token has ``token_type_ids`` 1 and attends to the whole prompt and causally to the
tokens generated before it, through the cache.
Sampling uses NumPy's generator (``seed`` or ``generator``), so it is reproducible but does not
reproduce PyTorch's random stream.

Dimension legend: B batch, K beams, N = B·K (or B·num_return_sequences) rows, S sequence length so far,
V vocab size.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .cache import KVCache
from .config import as_int, is_real
from .model import check_unit_interval
from .outputs import GenerateOutput

Array = np.ndarray
NEG = np.float32(-1.0e9)  # Hugging Face's "impossible" beam score
_F32 = np.finfo(np.float32)
GENERATION_CONFIG_NAME = "generation_config.json"
DEFAULT_MAX_LENGTH = 20  # GenerationConfig().max_length
# Hugging Face's GenerationConfig defaults for the options generate() takes
DEFAULTS: dict[str, Any] = dict(
    max_new_tokens=None, do_sample=False, temperature=1.0, top_k=50, top_p=1.0, num_beams=1, length_penalty=1.0,
    early_stopping=False, repetition_penalty=1.0, num_return_sequences=1,
)


# ---------------------------------------------------------------------------------------------
# Logits processors (pure functions on float32 scores [N, V])
# ---------------------------------------------------------------------------------------------
def log_softmax(x: Array) -> Array:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def repetition_penalty_processor(scores: Array, input_ids: Array, penalty: float) -> Array:
    """CTRL's penalty on every token already in the row: negative scores times ``penalty``, others divided."""
    rows = np.arange(scores.shape[0])[:, None]
    seen = scores[rows, input_ids]  # [N, S]
    p = scores.dtype.type(penalty)
    out = scores.copy()
    out[rows, input_ids] = np.where(seen < 0, seen * p, seen / p)
    return out


def temperature_processor(scores: Array, temperature: float) -> Array:
    return scores / scores.dtype.type(temperature)


def top_k_processor(scores: Array, top_k: int, min_tokens_to_keep: int = 1) -> Array:
    """Keep the tokens scoring at least the k-th best score (ties at the threshold are kept)."""
    k = min(max(top_k, min_tokens_to_keep), scores.shape[-1])
    kth = np.partition(scores, scores.shape[-1] - k, axis=-1)[:, scores.shape[-1] - k, None]  # [N, 1]
    return np.where(scores < kth, scores.dtype.type(-np.inf), scores)


def top_p_processor(scores: Array, top_p: float, min_tokens_to_keep: int = 1) -> Array:
    """Nucleus filtering: drop the least likely tokens whose cumulative probability is at most 1 - top_p."""
    order = np.argsort(scores, axis=-1, kind="stable")  # ascending
    cumulative = np.cumsum(softmax(np.take_along_axis(scores, order, axis=-1)), axis=-1)
    remove_sorted = cumulative <= scores.dtype.type(1.0 - top_p)
    remove_sorted[:, -min_tokens_to_keep:] = False
    remove = np.zeros_like(remove_sorted)
    np.put_along_axis(remove, order, remove_sorted, axis=-1)
    return np.where(remove, scores.dtype.type(-np.inf), scores)


def process_scores(
    scores: Array, input_ids: Array, *, repetition_penalty: float, do_sample: bool, temperature: float,
    top_k: int, top_p: float, min_tokens_to_keep: int,
) -> Array:
    """Hugging Face's processor list, in its order. scores [N, V] float32; input_ids [N, S]."""
    if repetition_penalty != 1.0:
        scores = repetition_penalty_processor(scores, input_ids, repetition_penalty)
    if do_sample:
        if temperature != 1.0:
            scores = temperature_processor(scores, temperature)
        if top_k:
            scores = top_k_processor(scores, top_k, min_tokens_to_keep)
        if top_p < 1.0:
            scores = top_p_processor(scores, top_p, min_tokens_to_keep)
    return scores


def sample_tokens(probs: Array, rng: np.random.Generator) -> Array:
    """One draw per row from ``probs`` [N, V] by inverse CDF (zero-probability tokens are never drawn)."""
    cdf = np.cumsum(probs.astype(np.float64), axis=-1)  # [N, V]
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    return np.array([np.searchsorted(c, x, side="right") for c, x in zip(cdf, u)], dtype=np.int64)


def top_k_indices(x: Array, k: int) -> Array:
    """Indices of the k largest entries of each row, best first (ties: lower index first). x [R, M] -> [R, k]."""
    if k < x.shape[-1]:
        part = np.argpartition(-x, k - 1, axis=-1)[:, :k]
        part.sort(axis=-1)  # index order, so the stable sort below breaks ties by index
    else:
        part = np.broadcast_to(np.arange(x.shape[-1]), x.shape).copy()
    order = np.argsort(-np.take_along_axis(x, part, axis=-1), axis=-1, kind="stable")
    return np.take_along_axis(part, order, axis=-1)


# ---------------------------------------------------------------------------------------------
# Model stepping
# ---------------------------------------------------------------------------------------------
class _Decoder:
    """Runs the model over new tokens with the cache, growing the mask and token types as Hugging Face does."""

    def __init__(
        self, model: Any, attention_mask: Array, token_type_ids: Array | None, encoder_hidden_states: Any,
        encoder_attention_mask: Any, capacity: int,
    ) -> None:
        self.model = model
        self.unilm = model.roformer.unilm  # generated tokens are segment 1
        if self.unilm and token_type_ids is None:
            token_type_ids = np.zeros(attention_mask.shape, dtype=np.int64)
        self.cache = KVCache(model.config.num_hidden_layers, capacity=capacity)
        self.attention_mask = attention_mask
        self.token_type_ids = token_type_ids
        self.encoder_hidden_states = encoder_hidden_states
        self.encoder_attention_mask = encoder_attention_mask

    def logits(self, new_ids: Array) -> Array:
        """Next-token logits [N, V] (float32) after feeding ``new_ids`` [N, T]."""
        t = new_ids.shape[1]
        out = self.model.roformer(
            new_ids,
            attention_mask=self.attention_mask,
            token_type_ids=None if self.token_type_ids is None else self.token_type_ids[:, -t:],
            encoder_hidden_states=self.encoder_hidden_states,
            encoder_attention_mask=self.encoder_attention_mask,
            past_key_values=self.cache,
            use_cache=True,
            return_dict=True,
        )
        # only the last position is needed: the LM head is per position
        return self.model.lm_logits(out.last_hidden_state[:, -1:])[:, 0].astype(np.float32, copy=False)

    def advance(self) -> None:
        """One more position: the mask gains a 1, token types repeat their last column (UniLM: are 1)."""
        n = self.attention_mask.shape[0]
        self.attention_mask = np.concatenate(
            [self.attention_mask, np.ones((n, 1), dtype=self.attention_mask.dtype)], axis=1
        )
        if self.token_type_ids is not None:
            new = np.ones((n, 1), dtype=self.token_type_ids.dtype) if self.unilm else self.token_type_ids[:, -1:]
            self.token_type_ids = np.concatenate([self.token_type_ids, new], axis=1)


# ---------------------------------------------------------------------------------------------
# Argument handling
# ---------------------------------------------------------------------------------------------
def _int_matrix(x: Any, name: str, shape: tuple[int, int] | None = None) -> Array:
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


def _eos_list(eos_token_id: Any, vocab_size: int) -> list[int] | None:
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


# Every option of generate(), checked once its value is resolved (the argument, else generation_config.json,
# else Hugging Face's default). Ranges are Hugging Face's where its processors or GenerationConfig.validate
# raise, and finite where an infinity or NaN would silently decide every token. A new option is one more entry.
OPTION_RULES: dict[str, Rule] = {
    "max_new_tokens": Rule("an integer >= 1", lambda v, o: v is None or (_is_int(v) and v >= 1)),
    "do_sample": Rule("True or False", lambda v, o: isinstance(v, (bool, np.bool_))),
    "temperature": Rule("a finite number > 0 when sampling (any number otherwise, as in Hugging Face)",
                        lambda v, o: is_real(v) and (not o["do_sample"] or (_is_finite_real(v) and v > 0))),
    "top_k": Rule("an integer >= 0 (0 disables it)", lambda v, o: _is_int(v) and v >= 0),
    "top_p": Rule("a number in (0, 1]", lambda v, o: is_real(v) and 0 < v <= 1),
    "num_beams": Rule("an integer >= 1", lambda v, o: _is_int(v) and v >= 1),
    "length_penalty": Rule("a finite number", lambda v, o: _is_finite_real(v)),
    "early_stopping": Rule("True, False or 'never'", lambda v, o: v in (True, False, "never")),
    "repetition_penalty": Rule("a finite number > 0", lambda v, o: _is_finite_real(v) and v > 0),
    "num_return_sequences": Rule("an integer >= 1", lambda v, o: _is_int(v) and v >= 1),
}


def check_options(options: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the first option outside its :data:`OPTION_RULES` range, then for the
    combinations Hugging Face refuses."""
    for name, rule in OPTION_RULES.items():
        if name in options and not rule.ok(options[name], options):
            raise ValueError(f"{name} must be {rule.allowed}, got {options[name]!r}")
    num_beams, n = options["num_beams"], options["num_return_sequences"]
    if num_beams == 1 and not options["do_sample"] and n != 1:
        raise ValueError("num_return_sequences > 1 needs sampling or beam search (greedy search gives one)")
    if num_beams > 1 and n > num_beams:
        raise ValueError(f"num_return_sequences ({n}) must be <= num_beams ({num_beams})")


def _check_call_args(streamer: Any, num_beams: int, seed: Any, generator: Any, return_dict_in_generate: Any) -> None:
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
    if not isinstance(return_dict_in_generate, (bool, np.bool_)):
        raise ValueError(f"return_dict_in_generate must be True or False, got {return_dict_in_generate!r}")


def _pad_id(pad_token_id: Any, vocab_size: int) -> int | None:
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


def _check_fits(config: Any, batch: int, expand: int, max_length: int, encoder_length: int, itemsize: int,
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


def _max_length(max_new_tokens: Any, stored_max_length: Any, prompt_len: int, max_positions: int) -> int:
    """Total length (prompt + new tokens) as Hugging Face derives it, checked against the position table."""
    if max_new_tokens is None:
        if stored_max_length is not None and not (_is_int(stored_max_length) and stored_max_length >= 1):
            raise ValueError(f"max_length (generation_config.json) must be an integer >= 1, got {stored_max_length!r}")
        if stored_max_length is None or stored_max_length == DEFAULT_MAX_LENGTH:
            max_length = min(DEFAULT_MAX_LENGTH + prompt_len, max_positions)  # 20 new tokens, within the table
        else:
            max_length = int(stored_max_length)
    else:  # checked by OPTION_RULES
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


# ---------------------------------------------------------------------------------------------
# generate
# ---------------------------------------------------------------------------------------------
def generate(
    model: Any,
    input_ids: Any,
    max_new_tokens: int | None = None,
    do_sample: bool | None = None,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    num_beams: int | None = None,
    length_penalty: float | None = None,
    early_stopping: bool | str | None = None,
    repetition_penalty: float | None = None,
    eos_token_id: int | list[int] | None = None,
    pad_token_id: int | None = None,
    attention_mask: Any = None,
    token_type_ids: Any = None,
    encoder_hidden_states: Any = None,
    encoder_attention_mask: Any = None,
    seed: int | None = None,
    generator: np.random.Generator | None = None,
    streamer: Any = None,
    num_return_sequences: int | None = None,
    return_dict_in_generate: bool = False,
) -> Array | GenerateOutput:
    """Continue ``input_ids`` [B, S] with up to ``max_new_tokens`` tokens; returns [B·n, S + generated] ids.

    An option left at None takes the value of the checkpoint's ``generation_config.json`` (when loaded
    with one), else Hugging Face's ``GenerationConfig`` default: greedy (``do_sample=False``,
    ``num_beams=1``), temperature 1, top_k 50 and top_p 1 (used only when sampling), length_penalty 1,
    ``early_stopping=False``, no repetition penalty, and 20 new tokens capped at
    ``max_position_embeddings``. ``eos_token_id`` / ``pad_token_id`` default to the generation config's,
    then the model config's. Prompts of a batch must be LEFT-padded, with an ``attention_mask``. ``seed``
    (or a NumPy ``generator``) makes sampling reproducible. ``streamer`` is a callable receiving each step's
    new tokens [B], or an object with Hugging Face's ``put`` / ``end``. ``encoder_hidden_states`` feed
    cross-attention (Hugging Face 4.56 itself fails on that path).
    """
    cfg = model.config
    gen_cfg = getattr(model, "generation_config", None) or {}
    given = dict(max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature, top_k=top_k,
                 top_p=top_p, num_beams=num_beams, length_penalty=length_penalty, early_stopping=early_stopping,
                 repetition_penalty=repetition_penalty, num_return_sequences=num_return_sequences)
    opt = {name: given[name] if given[name] is not None else gen_cfg.get(name, default)
           for name, default in DEFAULTS.items()}
    if opt["top_k"] is None:
        opt["top_k"] = 0  # a stored null disables it, as in Hugging Face
    check_options(opt)
    _check_call_args(streamer, opt["num_beams"], seed, generator, return_dict_in_generate)
    input_ids = _int_matrix(input_ids, "input_ids")
    batch, prompt_len = input_ids.shape
    if batch == 0 or prompt_len == 0:
        raise ValueError(f"input_ids must hold at least one token per row, got shape {input_ids.shape}")
    if input_ids.min() < 0 or input_ids.max() >= cfg.vocab_size:
        raise ValueError(f"input_ids must be token ids in [0, vocab_size={cfg.vocab_size})")
    max_length = _max_length(opt["max_new_tokens"], gen_cfg.get("max_length"), prompt_len,
                             cfg.max_position_embeddings)

    if eos_token_id is None:
        eos_token_id = gen_cfg.get("eos_token_id", cfg.eos_token_id)
    if pad_token_id is None:
        pad_token_id = gen_cfg.get("pad_token_id", cfg.pad_token_id)
    eos, pad = _eos_list(eos_token_id, cfg.vocab_size), _pad_id(pad_token_id, cfg.vocab_size)
    if pad is None and eos is not None:
        pad = eos[0]  # Hugging Face pads finished rows with the first EOS id then
    if attention_mask is None:
        # Hugging Face infers the mask from pad ids in the prompt, unless the pad id is also an EOS id
        can_infer = pad is not None and bool(np.any(input_ids == pad)) and (eos is None or pad not in eos)
        attention_mask = (input_ids != pad).astype(np.int64) if can_infer else np.ones_like(input_ids)
    else:
        attention_mask = _int_matrix(attention_mask, "attention_mask", (batch, prompt_len))
        check_unit_interval(attention_mask, "attention_mask")
    if token_type_ids is not None:
        token_type_ids = _int_matrix(token_type_ids, "token_type_ids", (batch, prompt_len))
    rng = generator if generator is not None else np.random.default_rng(seed)
    num_beams, num_return_sequences = int(opt["num_beams"]), int(opt["num_return_sequences"])

    # every row is repeated for its beams / returned samples (Hugging Face's repeat_interleave)
    expand = max(num_beams, num_return_sequences)
    blame = "num_beams" if num_beams >= num_return_sequences and num_beams > 1 else "num_return_sequences"
    encoder_length = np.shape(encoder_hidden_states)[1] if np.ndim(encoder_hidden_states) == 3 else 0
    _check_fits(cfg, batch, expand, max_length, encoder_length, model.dtype.itemsize, blame, max(expand, 1))

    def rep(x: Any) -> Any:
        return None if x is None else np.repeat(np.asarray(x), expand, axis=0)

    decoder = _Decoder(model, rep(attention_mask), rep(token_type_ids), rep(encoder_hidden_states),
                       rep(encoder_attention_mask), capacity=max_length)
    ids = rep(input_ids)
    options = dict(repetition_penalty=float(opt["repetition_penalty"]), do_sample=bool(opt["do_sample"]),
                   temperature=float(opt["temperature"]), top_k=int(opt["top_k"]), top_p=float(opt["top_p"]))
    if num_beams == 1:
        sequences = _sample(decoder, ids, max_length, eos, pad, rng, streamer, options)
        scores = None
    else:
        sequences, scores = _beam_search(decoder, ids, batch, num_beams, max_length, eos, pad, rng,
                                         float(opt["length_penalty"]), opt["early_stopping"],
                                         num_return_sequences, options)
    if return_dict_in_generate:
        return GenerateOutput(sequences=sequences, sequences_scores=scores, past_key_values=decoder.cache)
    return sequences


def _stream(streamer: Any, tokens: Array, first: bool = False) -> None:
    if streamer is None:
        return
    if hasattr(streamer, "put"):
        streamer.put(tokens)
    elif not first:
        streamer(tokens)


def _sample(
    decoder: _Decoder, ids: Array, max_length: int, eos: list[int] | None, pad: int | None,
    rng: np.random.Generator, streamer: Any, options: dict,
) -> Array:
    """Greedy search or multinomial sampling, one token per step (Hugging Face's ``_sample``)."""
    _stream(streamer, ids, first=True)
    unfinished = np.ones(ids.shape[0], dtype=bool)
    logits = decoder.logits(ids)  # prefill: [N, V]
    while True:
        scores = process_scores(logits, ids, min_tokens_to_keep=1, **options)
        if options["do_sample"]:
            next_tokens = sample_tokens(softmax(scores), rng)
        else:
            next_tokens = np.argmax(scores, axis=-1)
        if eos is not None:  # finished rows only grow padding
            next_tokens = np.where(unfinished, next_tokens, pad)
        ids = np.concatenate([ids, next_tokens[:, None]], axis=1)
        _stream(streamer, next_tokens)
        done = ids.shape[1] >= max_length
        if eos is not None:
            unfinished &= ~np.isin(next_tokens, eos)
        if done or not unfinished.any():
            break
        decoder.advance()
        logits = decoder.logits(ids[:, -1:])
    if streamer is not None and hasattr(streamer, "end"):
        streamer.end()
    return ids


def length_normaliser(length: int, length_penalty: float) -> np.float32:
    """``length ** length_penalty``, the divisor of a finished hypothesis' score, as a float32.

    Hugging Face computes it as a Python ``int ** float``, which raises OverflowError for large penalties. The
    same power in float64 (the same C ``pow``: the same value for ordinary penalties) is kept within float32's
    positive normal range instead, so the scores it divides go to -0.0 or -inf, the limit of the ordinary
    behaviour, and never to NaN (0 / 0).
    """
    with np.errstate(over="ignore", under="ignore"):
        power = np.power(np.float64(length), np.float64(length_penalty))
    return np.float32(min(max(power, _F32.tiny), _F32.max))


def _beam_search(
    decoder: _Decoder, ids: Array, batch: int, num_beams: int, max_length: int, eos: list[int] | None,
    pad: int | None, rng: np.random.Generator, length_penalty: float, early_stopping: bool | str,
    num_return_sequences: int, options: dict,
) -> tuple[Array, Array]:
    """Hugging Face's vectorised beam search (and beam sampling when ``do_sample``).

    Running hypotheses, finished hypotheses and their scores live in fixed [B, K, max_length] arrays; each
    step keeps the best 2K (more with several EOS ids) continuations, moves the ones that hit a stopping
    criterion into the finished set (score / generated_length ** length_penalty), and continues the best K
    others. Scores are float32 as in Hugging Face.
    """
    B, K, prompt_len = batch, num_beams, ids.shape[1]
    cur_len = prompt_len
    n_eos = 0 if eos is None else len(eos)
    keep = max(2, 1 + n_eos) * K  # candidates per example
    top_k_mask = np.arange(keep) < K  # [2K]: only the best K candidates may finish
    fill = (pad if pad else eos[0]) if eos is not None else -1  # HF's `pad or eos[0]` (a pad id of 0 is falsy)
    running = np.full((B, K, max_length), fill, dtype=np.int64)
    running[:, :, :cur_len] = ids.reshape(B, K, cur_len)
    finished_seqs = running.copy()
    running_scores = np.zeros((B, K), dtype=np.float32)
    running_scores[:, 1:] = NEG  # only the first beam is live at the start
    finished_scores = np.full((B, K), NEG, dtype=np.float32)
    is_finished = np.zeros((B, K), dtype=bool)
    can_improve = np.ones((B, 1), dtype=bool)
    running_idx = np.full((B, K, max_length - cur_len), -1, dtype=np.int64)
    finished_idx = running_idx.copy()
    rows = np.arange(B)[:, None]
    min_keep = n_eos + 1 if eos is not None else 2
    logits = decoder.logits(ids)
    while True:
        flat = running[:, :, :cur_len].reshape(B * K, cur_len)
        log_probs = process_scores(log_softmax(logits), flat, min_tokens_to_keep=min_keep, **options)
        V = log_probs.shape[-1]
        acc = (log_probs.reshape(B, K, V) + running_scores[:, :, None]).reshape(B, K * V)
        if options["do_sample"]:
            probs = softmax(acc).astype(np.float64)
            top = np.stack([rng.choice(K * V, size=keep, replace=False, p=p / p.sum()) for p in probs])
        else:
            top = top_k_indices(acc, keep)  # [B, 2K]
        top_scores = acc[rows, top]
        beam, token = top // V, top % V
        cand = running[rows, beam]  # [B, 2K, max_length]
        cand[:, :, cur_len] = token
        cand_idx = running_idx[rows, beam]
        cand_idx[:, :, cur_len - prompt_len] = beam + rows * K

        # which candidates stop here (max length reached or EOS)
        hits = np.full((B, keep), cur_len + 1 >= max_length)
        if eos is not None:
            hits |= np.isin(token, eos)

        # the best K candidates that go on
        live_scores = top_scores + hits.astype(np.float32) * NEG
        nxt = top_k_indices(live_scores, K)
        running, running_scores, running_idx = cand[rows, nxt], live_scores[rows, nxt], cand_idx[rows, nxt]

        # finished hypotheses: merge the new ones among the best K candidates into the kept K
        just_done = hits & top_k_mask[None, :]
        with np.errstate(over="ignore"):  # a huge penalty's score saturates to -inf
            done_scores = top_scores / length_normaliser(cur_len + 1 - prompt_len, length_penalty)
        batch_full = is_finished.all(axis=-1, keepdims=True) & (early_stopping is True)
        done_scores += batch_full.astype(np.float32) * NEG
        done_scores += (~can_improve).astype(np.float32) * NEG
        done_scores += (~just_done).astype(np.float32) * NEG
        merged_scores = np.concatenate([finished_scores, done_scores], axis=1)
        best = top_k_indices(merged_scores, K)
        finished_seqs = np.concatenate([finished_seqs, cand], axis=1)[rows, best]
        finished_scores = merged_scores[rows, best]
        finished_idx = np.concatenate([finished_idx, cand_idx], axis=1)[rows, best]
        is_finished = np.concatenate([is_finished, just_done], axis=1)[rows, best]

        cur_len += 1
        # can a running beam still beat the worst finished one? (HF's early-stop heuristic)
        if early_stopping == "never" and length_penalty > 0.0:
            best_len = max_length - prompt_len
        else:
            best_len = cur_len - prompt_len
        with np.errstate(over="ignore"):
            best_running = running_scores[:, :1] / length_normaliser(best_len, length_penalty)
        worst_done = np.where(is_finished, finished_scores.min(axis=1, keepdims=True), NEG)
        can_improve = can_improve & np.any(best_running > worst_done, axis=-1, keepdims=True)
        go_on = can_improve.any() and not (is_finished.all() and early_stopping is True) and not hits.all()
        if not go_on:
            break
        decoder.cache.reorder(running_idx[:, :, cur_len - 1 - prompt_len].reshape(-1))
        decoder.advance()
        logits = decoder.logits(running[:, :, cur_len - 1].reshape(B * K, 1))

    n = num_return_sequences
    sequences = finished_seqs[:, :n].reshape(B * n, max_length)
    scores = finished_scores[:, :n].reshape(B * n)
    generated = int((finished_idx[:, :n] >= 0).reshape(B * n, -1).sum(axis=1).max())
    return sequences[:, : prompt_len + generated], scores

