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
Sampling uses NumPy's generator (``seed`` or ``generator``), so it is reproducible but does not
reproduce PyTorch's random stream.

Dimension legend: B batch, K beams, N = B·K (or B·num_return_sequences) rows, S sequence length so far,
V vocab size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .cache import KVCache
from .outputs import GenerateOutput

Array = np.ndarray
NEG = np.float32(-1.0e9)  # Hugging Face's "impossible" beam score
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
        """One more position: the mask gains a 1, token types repeat their last column."""
        n = self.attention_mask.shape[0]
        self.attention_mask = np.concatenate(
            [self.attention_mask, np.ones((n, 1), dtype=self.attention_mask.dtype)], axis=1
        )
        if self.token_type_ids is not None:
            self.token_type_ids = np.concatenate([self.token_type_ids, self.token_type_ids[:, -1:]], axis=1)


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
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) or not 0 <= i < vocab_size:
            raise ValueError(f"eos_token_id must be token ids in [0, {vocab_size}), got {eos_token_id!r}")
        out.append(int(i))
    return out


def _check_generation_args(
    do_sample: bool, temperature: float, top_k: int, top_p: float, num_beams: int, length_penalty: float,
    early_stopping: bool | str, repetition_penalty: float, num_return_sequences: int, streamer: Any,
) -> None:
    def number(value: Any, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        return float(value)

    if isinstance(num_beams, bool) or not isinstance(num_beams, (int, np.integer)) or num_beams < 1:
        raise ValueError(f"num_beams must be an integer >= 1, got {num_beams!r}")
    if not isinstance(do_sample, (bool, np.bool_)):
        raise ValueError(f"do_sample must be True or False, got {do_sample!r}")
    if do_sample and not number(temperature, "temperature") > 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0:
        raise ValueError(f"top_k must be an integer >= 0 (0 disables it), got {top_k!r}")
    if not 0.0 < number(top_p, "top_p") <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    if not number(repetition_penalty, "repetition_penalty") > 0:
        raise ValueError(f"repetition_penalty must be > 0, got {repetition_penalty!r}")
    number(length_penalty, "length_penalty")
    if early_stopping not in (True, False, "never"):
        raise ValueError(f"early_stopping must be True, False or 'never', got {early_stopping!r}")
    if (isinstance(num_return_sequences, bool) or not isinstance(num_return_sequences, (int, np.integer))
            or num_return_sequences < 1):
        raise ValueError(f"num_return_sequences must be an integer >= 1, got {num_return_sequences!r}")
    if num_beams == 1 and not do_sample and num_return_sequences != 1:
        raise ValueError("num_return_sequences > 1 needs sampling or beam search (greedy search gives one)")
    if num_beams > 1 and num_return_sequences > num_beams:
        raise ValueError(f"num_return_sequences ({num_return_sequences}) must be <= num_beams ({num_beams})")
    if streamer is not None and num_beams > 1:
        raise ValueError("streamer cannot be used with beam search (num_beams > 1), as in Hugging Face")
    if streamer is not None and not (hasattr(streamer, "put") or callable(streamer)):
        raise ValueError("streamer must be a callable or an object with put()/end() methods")


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
    gen_cfg = getattr(model, "generation_config", None) or {}

    def pick(name: str, value: Any) -> Any:
        return value if value is not None else gen_cfg.get(name, DEFAULTS[name])

    do_sample, temperature, top_k, top_p = (pick("do_sample", do_sample), pick("temperature", temperature),
                                            pick("top_k", top_k), pick("top_p", top_p))
    num_beams, length_penalty = pick("num_beams", num_beams), pick("length_penalty", length_penalty)
    early_stopping, repetition_penalty = pick("early_stopping", early_stopping), pick("repetition_penalty",
                                                                                      repetition_penalty)
    num_return_sequences, max_new_tokens = (pick("num_return_sequences", num_return_sequences),
                                            pick("max_new_tokens", max_new_tokens))
    top_k = 0 if top_k is None else top_k  # a stored null disables it, as in Hugging Face
    cfg = model.config
    _check_generation_args(do_sample, temperature, top_k, top_p, num_beams, length_penalty, early_stopping,
                           repetition_penalty, num_return_sequences, streamer)
    input_ids = _int_matrix(input_ids, "input_ids")
    batch, prompt_len = input_ids.shape
    if batch == 0 or prompt_len == 0:
        raise ValueError(f"input_ids must hold at least one token per row, got shape {input_ids.shape}")
    if input_ids.min() < 0 or input_ids.max() >= cfg.vocab_size:
        raise ValueError(f"input_ids must be token ids in [0, vocab_size={cfg.vocab_size})")
    if max_new_tokens is None:
        stored = gen_cfg.get("max_length")
        if stored is None or stored == DEFAULT_MAX_LENGTH:  # HF's default: 20 new tokens, within the positions
            max_length = min(DEFAULT_MAX_LENGTH + prompt_len, cfg.max_position_embeddings)
        else:
            max_length = int(stored)
    elif isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    else:
        max_length = prompt_len + int(max_new_tokens)
    if prompt_len >= max_length:
        raise ValueError(f"input_ids has {prompt_len} tokens, leaving no room under max_length={max_length}")
    # the last token is never fed back, so the model sees max_length - 1 positions
    if max_length - 1 > cfg.max_position_embeddings:
        raise ValueError(
            f"prompt ({prompt_len}) + max_new_tokens ({max_length - prompt_len}) - 1 exceeds "
            f"max_position_embeddings={cfg.max_position_embeddings}"
        )

    if eos_token_id is None:
        eos_token_id = gen_cfg.get("eos_token_id", cfg.eos_token_id)
    if pad_token_id is None:
        pad_token_id = gen_cfg.get("pad_token_id", cfg.pad_token_id)
    eos, pad = _eos_list(eos_token_id, cfg.vocab_size), pad_token_id
    if pad is None and eos is not None:
        pad = eos[0]
    if attention_mask is None:
        can_infer = pad is not None and bool(np.any(input_ids == pad)) and (eos is None or pad not in eos)
        attention_mask = (input_ids != pad).astype(np.int64) if can_infer else np.ones_like(input_ids)
    else:
        attention_mask = _int_matrix(attention_mask, "attention_mask", (batch, prompt_len))
    if token_type_ids is not None:
        token_type_ids = _int_matrix(token_type_ids, "token_type_ids", (batch, prompt_len))
    if (seed is not None) and (generator is not None):
        raise ValueError("pass either seed or generator, not both")
    rng = generator if generator is not None else np.random.default_rng(seed)

    # every row is repeated for its beams / returned samples (Hugging Face's repeat_interleave)
    expand = max(num_beams, num_return_sequences)

    def rep(x: Any) -> Any:
        return None if x is None else np.repeat(np.asarray(x), expand, axis=0)

    decoder = _Decoder(model, rep(attention_mask), rep(token_type_ids), rep(encoder_hidden_states),
                       rep(encoder_attention_mask), capacity=max_length)
    ids = rep(input_ids)
    options = dict(repetition_penalty=float(repetition_penalty), do_sample=bool(do_sample),
                   temperature=float(temperature), top_k=int(top_k), top_p=float(top_p))
    if num_beams == 1:
        sequences = _sample(decoder, ids, max_length, eos, pad, rng, streamer, options)
        scores = None
    else:
        sequences, scores = _beam_search(decoder, ids, batch, int(num_beams), max_length, eos, pad, rng,
                                         float(length_penalty), early_stopping, int(num_return_sequences),
                                         options)
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
        done_scores = top_scores / np.float32((cur_len + 1 - prompt_len) ** length_penalty)
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
        best_running = running_scores[:, :1] / np.float32(best_len**length_penalty)
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

