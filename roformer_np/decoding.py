"""The decoding loops of generate(): greedy search / sampling, beam search (and beam sampling), group beam search.

Each loop is Hugging Face's (transformers 4.56 ``GenerationMixin._sample``, ``_beam_search``,
``_group_beam_search`` with ``BeamSearchScorer``), written over NumPy arrays: the model is stepped through
:class:`Decoder` (prefill once, then one token per row through the key/value cache), the scores go through a
:class:`~roformer_np.logits_process.LogitsProcessorList` and the stopping decision through a
:class:`~roformer_np.stopping_criteria.StoppingCriteriaList`, both built by :mod:`roformer_np.generation`.

Dimension legend: B batch, K beams, G beam groups, N rows (B·K or B·n), S sequence length so far, V vocab.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .cache import KVCache

Array = np.ndarray
NEG = np.float32(-1.0e9)  # Hugging Face's "impossible" beam score
_F32 = np.finfo(np.float32)


# ---------------------------------------------------------------------------------------------
# Small numerical helpers (float32 as torch computes them)
# ---------------------------------------------------------------------------------------------
def log_softmax(x: Array) -> Array:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sample_tokens(probs: Array, rng: np.random.Generator) -> Array:
    """One draw per row from ``probs`` [N, V] by inverse CDF (zero-probability tokens are never drawn)."""
    cdf = np.cumsum(probs.astype(np.float64), axis=-1)  # [N, V]
    if not np.all(cdf[:, -1] > 0) or not np.all(np.isfinite(cdf[:, -1])):
        raise ValueError("sampling: a row's probabilities are all zero or not finite (every token was filtered "
                         "out, or the scores hold NaN / inf); check the logits processors' options")
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    return np.array([min(np.searchsorted(c, x, side="right"), len(c) - 1) for c, x in zip(cdf, u)],
                    dtype=np.int64)


def sample_without_replacement(probs: Array, k: int, rng: np.random.Generator) -> Array:
    """k draws without replacement per row of ``probs`` [R, M], in draw order, as ``torch.multinomial`` makes
    them: the k largest ``p / Exp(1)`` keys (Efraimidis–Spirakis). When fewer than k tokens have a non-zero
    probability (beam sampling's first step, where only one beam is live), the remaining places are filled
    with zero-probability tokens — torch does the same — here lowest index first."""
    keys = probs.astype(np.float64) / rng.exponential(size=probs.shape)
    return top_k_indices(keys, k)


def top_k_indices(x: Array, k: int) -> Array:
    """Indices of the k largest entries of each row, best first (ties: lower index first, also at the k-th
    place). x [R, M] -> [R, k]."""
    m = x.shape[-1]
    if k < m:
        kth = np.partition(x, m - k, axis=-1)[:, m - k, None]  # [R, 1]: the k-th largest value
        above = x > kth
        at = x == kth
        need = k - above.sum(axis=-1, keepdims=True)  # how many of the tied entries still fit
        keep = above | (at & (np.cumsum(at, axis=-1) <= need))  # the lowest-index ties first
        part = np.nonzero(keep)[1].reshape(x.shape[0], k)  # index order within each row
    else:
        part = np.broadcast_to(np.arange(m), x.shape).copy()
    order = np.argsort(-np.take_along_axis(x, part, axis=-1), axis=-1, kind="stable")
    return np.take_along_axis(part, order, axis=-1)


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


# ---------------------------------------------------------------------------------------------
# Model stepping
# ---------------------------------------------------------------------------------------------
class Decoder:
    """Runs the model over new tokens with the cache, growing the mask and token types as Hugging Face does."""

    def __init__(
        self, model: Any, attention_mask: Array, token_type_ids: Array | None, encoder_hidden_states: Any,
        encoder_attention_mask: Any, capacity: int, output_attentions: bool = False,
        output_hidden_states: bool = False, use_cache: bool = True,
    ) -> None:
        self.model = model
        self.unilm = model.roformer.unilm  # generated tokens are segment 1
        if self.unilm and token_type_ids is None:
            token_type_ids = np.zeros(attention_mask.shape, dtype=np.int64)
        # use_cache=False recomputes the whole sequence at every step, as Hugging Face does: the same tokens for a
        # causal decoder, but a prefix LM (is_decoder=False) then lets every token attend both ways
        self.use_cache = use_cache
        self.cache = KVCache(model.config.num_hidden_layers, capacity=capacity) if use_cache else None
        self.seq: Array | None = None  # without a cache: every token fed so far [N, S]
        self.attention_mask = attention_mask
        self.token_type_ids = token_type_ids
        self.encoder_hidden_states = encoder_hidden_states
        self.encoder_attention_mask = encoder_attention_mask
        self.output_attentions = output_attentions
        self.output_hidden_states = output_hidden_states
        self.attentions: list[tuple[Array, ...]] = []  # per step, when asked for
        self.hidden_states: list[tuple[Array, ...]] = []

    def logits(self, new_ids: Array) -> Array:
        """Next-token logits [N, V] (float32) after feeding ``new_ids`` [N, T]."""
        if not self.use_cache:
            self.seq = new_ids if self.seq is None else np.concatenate([self.seq, new_ids], axis=1)
            new_ids = self.seq
        t = new_ids.shape[1]
        out = self.model.roformer(
            new_ids,
            attention_mask=self.attention_mask,
            token_type_ids=None if self.token_type_ids is None else self.token_type_ids[:, -t:],
            encoder_hidden_states=self.encoder_hidden_states,
            encoder_attention_mask=self.encoder_attention_mask,
            past_key_values=self.cache,
            use_cache=self.use_cache,
            output_attentions=self.output_attentions,
            output_hidden_states=self.output_hidden_states,
            return_dict=True,
        )
        if self.output_attentions:
            self.attentions.append(tuple(out.attentions))
        if self.output_hidden_states:
            self.hidden_states.append(tuple(out.hidden_states))
        # only the last position is needed: the LM head is per position
        return self.model.lm_logits(out.last_hidden_state[:, -1:])[:, 0].astype(np.float32, copy=True)

    def reorder(self, rows: Array) -> None:
        """Beam search: the cached rows (or, without a cache, the fed sequences) follow the chosen beams."""
        if self.cache is not None:
            self.cache.reorder(rows)
        else:
            self.seq = self.seq[rows]

    def advance(self) -> None:
        """One more position: the mask gains a 1, token types repeat their last column (UniLM: are 1)."""
        n = self.attention_mask.shape[0]
        self.attention_mask = np.concatenate(
            [self.attention_mask, np.ones((n, 1), dtype=self.attention_mask.dtype)], axis=1
        )
        if self.token_type_ids is not None:
            new = np.ones((n, 1), dtype=self.token_type_ids.dtype) if self.unilm else self.token_type_ids[:, -1:]
            self.token_type_ids = np.concatenate([self.token_type_ids, new], axis=1)


@dataclass
class Recorder:
    """What ``return_dict_in_generate`` collects per step (``output_scores`` / ``output_logits``)."""

    scores: list[Array] | None = None
    logits: list[Array] | None = None

    @classmethod
    def make(cls, return_dict: bool, output_scores: bool, output_logits: bool) -> Recorder:
        return cls(scores=[] if return_dict and output_scores else None,
                   logits=[] if return_dict and output_logits else None)

    def add(self, scores: Array, logits: Array) -> None:
        if self.scores is not None:
            self.scores.append(scores.copy())
        if self.logits is not None:
            self.logits.append(logits.copy())

    def scores_arg(self) -> tuple | None:
        """What Hugging Face hands stopping criteria as ``scores``: the collected tuple, or None."""
        return None if self.scores is None else tuple(self.scores)


def _stream(streamer: Any, tokens: Array, first: bool = False) -> None:
    if streamer is None:
        return
    if hasattr(streamer, "put"):
        streamer.put(tokens)
    elif not first:
        streamer(tokens)


def _has_eos_criterion(criteria: Any) -> bool:
    return any(hasattr(c, "eos_token_id") for c in criteria)


# ---------------------------------------------------------------------------------------------
# Greedy search and sampling
# ---------------------------------------------------------------------------------------------
def sample(
    decoder: Decoder, ids: Array, processors: Any, criteria: Any, pad: int | None, do_sample: bool,
    rng: np.random.Generator, streamer: Any, record: Recorder,
) -> Array:
    """Greedy search or multinomial sampling, one token per step (Hugging Face's ``_sample``)."""
    _stream(streamer, ids, first=True)
    unfinished = np.ones(ids.shape[0], dtype=bool)
    pad_finished = _has_eos_criterion(criteria)
    logits = decoder.logits(ids)  # prefill: [N, V]
    while True:
        scores = processors(ids, logits.copy())
        record.add(scores, logits)
        next_tokens = sample_tokens(softmax(scores), rng) if do_sample else np.argmax(scores, axis=-1)
        if pad_finished:  # finished rows only grow padding
            next_tokens = np.where(unfinished, next_tokens, pad)
        ids = np.concatenate([ids, next_tokens[:, None]], axis=1)
        _stream(streamer, next_tokens)
        unfinished &= ~np.asarray(criteria(ids, record.scores_arg()), dtype=bool)
        if not unfinished.any():
            break
        decoder.advance()
        logits = decoder.logits(ids[:, -1:])
    if streamer is not None and hasattr(streamer, "end"):
        streamer.end()
    return ids


# ---------------------------------------------------------------------------------------------
# Beam search and beam sampling (Hugging Face's vectorised algorithm)
# ---------------------------------------------------------------------------------------------
@dataclass
class BeamOptions:
    num_beams: int
    max_length: int
    length_penalty: float
    early_stopping: bool | str
    num_return_sequences: int
    do_sample: bool


def beam_search(
    decoder: Decoder, ids: Array, batch: int, opt: BeamOptions, eos: list[int] | None, pad: int | None,
    processors: Any, criteria: Any, rng: np.random.Generator, record: Recorder,
) -> tuple[Array, Array, Array]:
    """Returns sequences [B·n, S'], their scores [B·n] and beam_indices [B·n, generated].

    Running hypotheses, finished hypotheses and their scores live in fixed [B, K, max_length] arrays; each
    step keeps the best 2K (more with several EOS ids) continuations, moves the ones that meet a stopping
    criterion into the finished set (score / generated_length ** length_penalty), and continues the best K
    others. Scores are float32 as in Hugging Face.
    """
    B, K, prompt_len, max_length = batch, opt.num_beams, ids.shape[1], opt.max_length
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
    lp, early = opt.length_penalty, opt.early_stopping
    logits = decoder.logits(ids)
    while True:
        flat = running[:, :, :cur_len].reshape(B * K, cur_len)
        log_probs = processors(flat, log_softmax(logits))
        record.add(log_probs, logits)
        V = log_probs.shape[-1]
        acc = (log_probs.reshape(B, K, V) + running_scores[:, :, None]).reshape(B, K * V)
        if opt.do_sample:
            top = sample_without_replacement(softmax(acc), keep, rng)
        else:
            top = top_k_indices(acc, keep)  # [B, 2K]
        top_scores = acc[rows, top]
        beam, token = top // V, top % V
        cand = running[rows, beam]  # [B, 2K, max_length]
        cand[:, :, cur_len] = token
        cand_idx = running_idx[rows, beam]
        cand_idx[:, :, cur_len - prompt_len] = beam + rows * K

        # which candidates stop here (the stopping criteria on every candidate sequence)
        hits = np.asarray(criteria(cand[:, :, : cur_len + 1].reshape(B * keep, cur_len + 1), record.scores_arg()),
                          dtype=bool).reshape(B, keep)

        # the best K candidates that go on
        live_scores = top_scores + hits.astype(np.float32) * NEG
        nxt = top_k_indices(live_scores, K)
        running, running_scores, running_idx = cand[rows, nxt], live_scores[rows, nxt], cand_idx[rows, nxt]

        # finished hypotheses: merge the new ones among the best K candidates into the kept K
        just_done = hits & top_k_mask[None, :]
        with np.errstate(over="ignore"):  # a huge penalty's score saturates to -inf
            done_scores = top_scores / length_normaliser(cur_len + 1 - prompt_len, lp)
        batch_full = is_finished.all(axis=-1, keepdims=True) & (early is True)
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
        best_len = max_length - prompt_len if early == "never" and lp > 0.0 else cur_len - prompt_len
        with np.errstate(over="ignore"):
            best_running = running_scores[:, :1] / length_normaliser(best_len, lp)
        worst_done = np.where(is_finished, finished_scores.min(axis=1, keepdims=True), NEG)
        can_improve = can_improve & np.any(best_running > worst_done, axis=-1, keepdims=True)
        go_on = can_improve.any() and not (is_finished.all() and early is True) and not hits.all()
        if not go_on:
            break
        decoder.reorder(running_idx[:, :, cur_len - 1 - prompt_len].reshape(-1))
        decoder.advance()
        logits = decoder.logits(running[:, :, cur_len - 1].reshape(B * K, 1))

    n = opt.num_return_sequences
    sequences = finished_seqs[:, :n].reshape(B * n, max_length)
    scores = finished_scores[:, :n].reshape(B * n)
    beam_indices = finished_idx[:, :n].reshape(B * n, -1)
    generated = int((beam_indices >= 0).sum(axis=1).max())
    return sequences[:, : prompt_len + generated], scores, beam_indices[:, :generated]


# ---------------------------------------------------------------------------------------------
# Group (diverse) beam search: Hugging Face's ``_group_beam_search`` with ``BeamSearchScorer``
# ---------------------------------------------------------------------------------------------
class _Hypotheses:
    """The best ``size`` finished hypotheses of one (example, group) — Hugging Face's ``BeamHypotheses``.

    Scores are Python floats (float64), as Hugging Face's ``.item()`` arithmetic gives.
    """

    def __init__(self, size: int, length_penalty: float, early_stopping: bool | str, max_length: int) -> None:
        self.size, self.length_penalty, self.early_stopping, self.max_length = (
            size, length_penalty, early_stopping, max_length)
        self.beams: list[tuple[float, Array, tuple]] = []
        self.worst_score = 1e9

    def add(self, hyp: Array, sum_logprobs: float, beam_indices: tuple, generated_len: int) -> None:
        score = sum_logprobs / (generated_len ** self.length_penalty)
        if len(self.beams) < self.size or score > self.worst_score:
            self.beams.append((score, hyp, beam_indices))
            if len(self.beams) > self.size:
                ranked = sorted((s, i) for i, (s, _, _) in enumerate(self.beams))
                del self.beams[ranked[0][1]]
                self.worst_score = ranked[1][0]
            else:
                self.worst_score = min(score, self.worst_score)

    def is_done(self, best_sum_logprobs: float, cur_len: int, prompt_len: int) -> bool:
        if len(self.beams) < self.size:
            return False
        if self.early_stopping is True:
            return True
        if self.early_stopping is False or self.length_penalty <= 0.0:
            best = best_sum_logprobs / (cur_len - prompt_len) ** self.length_penalty
        else:  # "never" with a positive penalty: the longest possible hypothesis is the best case
            best = best_sum_logprobs / (self.max_length - prompt_len) ** self.length_penalty
        return self.worst_score >= best


def group_beam_search(
    decoder: Decoder, ids: Array, batch: int, opt: BeamOptions, num_beam_groups: int, eos: list[int] | None,
    pad: int | None, processors: Any, criteria: Any, record: Recorder,
) -> tuple[Array, Array, Array | None]:
    """Diverse beam search: K beams in G groups of K/G; each group's step sees the tokens the groups before
    it chose at this step (``HammingDiversityLogitsProcessor`` penalises them). Returns sequences, scores and
    beam_indices (None unless scores are recorded, as in Hugging Face)."""
    B, K, G = batch, opt.num_beams, num_beam_groups
    sub = K // G
    prompt_len = ids.shape[1]
    V = decoder.model.config.vocab_size
    hyps = [_Hypotheses(sub, opt.length_penalty, opt.early_stopping, opt.max_length) for _ in range(B * G)]
    done = np.zeros(B * G, dtype=bool)
    track = record.scores is not None  # Hugging Face keeps beam indices only with output_scores
    beam_indices: list[list[tuple]] = [[() for _ in range(sub * B)] for _ in range(G)]
    beam_scores = np.full((B, K), NEG, dtype=np.float32)
    beam_scores[:, ::sub] = 0
    beam_scores = beam_scores.reshape(B * K)
    n_eos = 0 if eos is None else len(eos)
    eos_set = set(eos or ())
    next_tokens = next_indices = None
    logits = decoder.logits(ids)
    while True:
        current = np.zeros(B * K, dtype=np.int64)
        reorder = np.zeros(B * K, dtype=np.int64)
        processed = np.zeros_like(logits) if record.scores is not None else None
        for g in range(G):
            start, end = g * sub, min(g * sub + sub, K)
            size = end - start
            rows = np.array([b * K + i for b in range(B) for i in range(start, end)])
            group_ids = ids[rows]
            scores = processors(group_ids, log_softmax(logits[rows]), current_tokens=current, beam_group_idx=g)
            if processed is not None:
                processed[rows] = scores
            acc = (scores + beam_scores[rows][:, None]).reshape(B, size * V)
            top = top_k_indices(acc, max(2, 1 + n_eos) * size)
            next_scores = np.take_along_axis(acc, top, axis=1)
            next_indices, next_tokens = top // V, top % V
            flat_indices = [t for grp in beam_indices for t in grp] if track else None
            new_scores = np.zeros((B, size), dtype=np.float32)
            new_tokens = np.zeros((B, size), dtype=np.int64)
            new_rows = np.zeros((B, size), dtype=np.int64)
            cur_len = ids.shape[1] + 1
            for b in range(B):
                h = b * G + g
                if done[h]:
                    if eos is None or pad is None:
                        raise ValueError("group beam search: a finished batch needs eos_token_id and pad_token_id")
                    new_tokens[b, :] = pad
                    continue
                k = 0
                for rank in range(top.shape[1]):
                    token, score, index = int(next_tokens[b, rank]), next_scores[b, rank], int(next_indices[b, rank])
                    row = b * size + index  # row within the group
                    if token in eos_set:
                        if rank >= size:
                            continue
                        # Hugging Face looks the path up in all groups' concatenated tuples by the row
                        # within this group (so groups after the first read the first group's paths)
                        path = flat_indices[row] + (row,) if track else ()
                        hyps[h].add(group_ids[row].copy(), float(score), path, cur_len - prompt_len)
                    else:
                        new_scores[b, k], new_tokens[b, k], new_rows[b, k] = score, token, row
                        k += 1
                    if k == size:
                        break
                done[h] = done[h] or hyps[h].is_done(float(next_scores[b].max()), cur_len, prompt_len)
            new_rows = new_rows.reshape(-1)
            beam_scores[rows] = new_scores.reshape(-1)
            if track:
                beam_indices[g] = [beam_indices[g][r] + (int(r),) for r in new_rows]
            ids[rows] = group_ids[new_rows]
            current[rows] = new_tokens.reshape(-1)
            reorder[rows] = K * (new_rows // size) + start + new_rows % size
        if processed is not None:
            record.scores.append(processed)
        if record.logits is not None:
            record.logits.append(logits.copy())
        ids = np.concatenate([ids, current[:, None]], axis=1)
        decoder.reorder(reorder)
        stop = np.asarray(criteria(ids, record.scores_arg()), dtype=bool)
        if done.all() or stop.all():
            break
        decoder.advance()
        logits = decoder.logits(ids[:, -1:])
    # Hugging Face concatenates the groups' index tuples ((g, b, i) order) and reads them by (b, g, i) rows
    flat = [t for group in beam_indices for t in group] if track else None
    return _finalize_groups(hyps, done, ids, beam_scores, B, G, sub, prompt_len, opt, eos, pad, flat)


def _finalize_groups(
    hyps: list[_Hypotheses], done: Array, ids: Array, beam_scores: Array, B: int, G: int, sub: int,
    prompt_len: int, opt: BeamOptions, eos: list[int] | None, pad: int | None, flat_indices: list | None,
) -> tuple[Array, Array, Array | None]:
    """``BeamSearchScorer.finalize``: unfinished groups add their running beams; the best n of each example
    (over all its groups) are returned, padded with pad and one EOS after a shorter hypothesis."""
    for h, hyp in enumerate(hyps):
        if done[h]:
            continue
        for i in range(sub):
            row = h * sub + i  # h = b * G + g, so this is the running beam (b, g, i)
            path = flat_indices[row] if flat_indices is not None else ()
            hyp.add(ids[row].copy(), float(beam_scores[row]), path, ids.shape[1] - prompt_len)
    n = opt.num_return_sequences
    best: list[tuple[float, Array, tuple]] = []
    for b in range(B):
        ranked = sorted((beam for hyp in hyps[b * G:(b + 1) * G] for beam in hyp.beams), key=lambda x: x[0])
        best.extend(ranked.pop() for _ in range(n))
    lengths = [len(hyp) for _, hyp, _ in best]
    width = max(lengths) + 1 if eos is not None else max(lengths)
    width = min(width, opt.max_length)
    if min(lengths) != max(lengths) and pad is None:
        raise ValueError("group beam search: hypotheses of different lengths need a pad_token_id")
    sequences = np.full((len(best), width), pad if pad is not None else 0, dtype=np.int64)
    indices = np.full((len(best), width), -1, dtype=np.int64) if flat_indices is not None else None
    for r, (_, hyp, path) in enumerate(best):
        sequences[r, : len(hyp)] = hyp
        if indices is not None:
            indices[r, : len(path)] = path
        if len(hyp) < width:
            sequences[r, len(hyp)] = eos[0]
    scores = np.array([s for s, _, _ in best], dtype=np.float32)
    return sequences, scores, indices
