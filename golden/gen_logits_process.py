"""Golden logits-processor outputs from transformers 4.56.2 (development only).

Run through ``golden/generate.py logits_process``. Writes ``cases/logits_process/``:

* ``io.safetensors``: per case ``<name>.input_ids`` (int64 [N, S]), ``<name>.scores`` (float32 [N, V]) and
  ``<name>.output`` (Hugging Face's float32 result), plus ``<name>.encoder_input_ids`` / ``<name>.current_tokens``
  where the case takes them;
* ``cases.json``: a list of cases. ``kind: "processor"`` — ``class`` (Hugging Face's name) and ``args`` (its
  constructor's keyword arguments; ``"tensor"`` marks one stored in ``io``; ``prefix_allowed_tokens_fn`` is
  ``{"rule": "table_plus_next", "table": {...}}``, see :func:`prefix_fn`), ``call`` (extra call arguments).
  ``kind: "chain"`` — ``options`` (GenerationConfig fields), ``eos_token_id``, ``vocab_size``,
  ``input_ids_seq_length``, ``custom`` (user processors as ``{"class", "args"}``), ``classes`` (the class names
  ``_get_logits_processor`` built, in order), ``call``. ``kind: "cumsum"`` — torch's float32 ``cumsum`` of
  ``cumsum.input`` (``cumsum.output``), which roformer_np must reproduce bit for bit.

Chains are built by a tiny ``RoFormerForCausalLM``'s own ``_get_logits_processor`` after
``_prepare_special_tokens``, with ``encoder_input_ids`` = the prompt, as ``generate()`` passes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import transformers.generation.logits_process as lp
from common import save_case_io, versions
from transformers import GenerationConfig, RoFormerConfig, RoFormerForCausalLM

NAME = "logits_process"
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}  # -inf positions must match exactly


def prefix_fn(spec: dict, vocab: int):
    """Allowed tokens: the batch's table entry plus the two ids after the row's last token (mod vocab)."""
    table = {int(k): v for k, v in spec["table"].items()}

    def fn(batch_id: int, sent: torch.Tensor) -> list[int]:
        last = int(sent[-1])
        return list(table[batch_id]) + [(last + 1) % vocab, (last + 2) % vocab]

    return fn


class Cases:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.tensors: dict[str, np.ndarray] = {}
        self.cases: list[dict] = []

    # ---- inputs ---------------------------------------------------------------------------
    def scores(self, n: int, v: int, kind: str = "normal", neg_inf: int = 0) -> np.ndarray:
        if kind == "peaked":  # one or two dominant tokens per row
            s = self.rng.normal(0, 1.5, (n, v))
            for r in range(n):
                s[r, self.rng.choice(v, 2, replace=False)] += (9.0, 6.5)
        elif kind == "flat":  # near-uniform, distinct values
            s = self.rng.normal(0, 0.05, (n, v))
        else:
            s = self.rng.normal(0, 3, (n, v))
        s = s.astype(np.float32)
        for r in range(n):
            s[r, self.rng.choice(v, neg_inf, replace=False)] = -np.inf
        return s

    def ids(self, n: int, s: int, v: int, alphabet: int | None = None) -> np.ndarray:
        return self.rng.integers(0, alphabet or v, (n, s)).astype(np.int64)

    # ---- cases ----------------------------------------------------------------------------
    def add(self, name: str, cls: str, args: dict, input_ids: np.ndarray, scores: np.ndarray, call: dict | None = None,
            extra: dict | None = None, description: str = "", dict_form: bool = False) -> None:
        hf_args = dict(args)
        for key, value in (extra or {}).items():
            self.tensors[f"{name}.{key}"] = value
            if key in hf_args:
                hf_args[key] = torch.from_numpy(value)
        if "prefix_allowed_tokens_fn" in args:
            hf_args["prefix_allowed_tokens_fn"] = prefix_fn(args["prefix_allowed_tokens_fn"], scores.shape[-1])
        if dict_form:  # JSON has no tuple keys: the dict is stored as [key, bias] pairs
            hf_args["sequence_bias"] = {tuple(k): b for k, b in args["sequence_bias"]}
        proc = getattr(lp, cls)(**hf_args)
        hf_call = {k: torch.from_numpy(extra[k]) if v == "tensor" else v for k, v in (call or {}).items()}
        out = proc(torch.from_numpy(input_ids), torch.from_numpy(scores.copy()), **hf_call)
        self.tensors[f"{name}.input_ids"] = input_ids
        self.tensors[f"{name}.scores"] = scores
        self.tensors[f"{name}.output"] = out.numpy().copy()
        self.cases.append(dict(name=name, kind="processor", **{"class": cls}, args=args, call=call or {},
                               description=description, **({"sequence_bias_form": "dict"} if dict_form else {})))


def processor_cases(c: Cases) -> None:
    V = 64
    # length / forced tokens
    c.add("min_length_active", "MinLengthLogitsProcessor", {"min_length": 5, "eos_token_id": 2},
          c.ids(3, 3, V), c.scores(3, V))
    c.add("min_length_eos_list_reached", "MinLengthLogitsProcessor", {"min_length": 5, "eos_token_id": [2, 7]},
          c.ids(3, 5, V), c.scores(3, V))
    c.add("min_length_eos_list_active", "MinLengthLogitsProcessor", {"min_length": 6, "eos_token_id": [2, 7]},
          c.ids(3, 5, V), c.scores(3, V))
    c.add("min_new_tokens_active", "MinNewTokensLengthLogitsProcessor",
          {"prompt_length_to_skip": 3, "min_new_tokens": 2, "eos_token_id": [4, 9]}, c.ids(3, 4, V), c.scores(3, V))
    c.add("min_new_tokens_reached", "MinNewTokensLengthLogitsProcessor",
          {"prompt_length_to_skip": 3, "min_new_tokens": 2, "eos_token_id": 4}, c.ids(3, 5, V), c.scores(3, V))
    c.add("forced_bos_first_step", "ForcedBOSTokenLogitsProcessor", {"bos_token_id": 11}, c.ids(3, 1, V),
          c.scores(3, V))
    c.add("forced_bos_later", "ForcedBOSTokenLogitsProcessor", {"bos_token_id": 11}, c.ids(3, 2, V), c.scores(3, V))
    c.add("forced_eos_at_max_length_minus_1", "ForcedEOSTokenLogitsProcessor",
          {"max_length": 8, "eos_token_id": [3, 5]}, c.ids(4, 7, V), c.scores(4, V))
    c.add("forced_eos_before", "ForcedEOSTokenLogitsProcessor", {"max_length": 8, "eos_token_id": 3},
          c.ids(4, 6, V), c.scores(4, V))
    c.add("forced_eos_at_max_length", "ForcedEOSTokenLogitsProcessor", {"max_length": 8, "eos_token_id": 3},
          c.ids(4, 8, V), c.scores(4, V))
    for cur_len, factor in ((5, 1.5), (6, 1.5), (9, 1.5), (9, 0.8)):
        s = c.scores(3, V)
        s[0, 2], s[1, 2] = -3.5, 4.25  # a negative and a positive EOS score
        c.add(f"exp_decay_len{cur_len}_factor{factor}", "ExponentialDecayLengthPenalty",
              {"exponential_decay_length_penalty": [2, factor], "eos_token_id": [2, 6], "input_ids_seq_length": 3},
              c.ids(3, cur_len, V), s, description="start = 2 + prompt 3: inactive up to length 5")
    # penalties
    ids = c.ids(4, 10, V, alphabet=12)  # repeated ids
    for penalty in (1.3, 0.7):
        c.add(f"repetition_penalty_{penalty}", "RepetitionPenaltyLogitsProcessor", {"penalty": penalty}, ids,
              c.scores(4, V, neg_inf=3))
    c.add("repetition_penalty_prompt_ignore", "RepetitionPenaltyLogitsProcessor",
          {"penalty": 1.6, "prompt_ignore_length": 4}, ids, c.scores(4, V))
    enc = c.ids(3, 6, V, alphabet=20)
    for penalty in (1.5, 0.8):
        c.add(f"encoder_repetition_penalty_{penalty}", "EncoderRepetitionPenaltyLogitsProcessor",
              {"penalty": penalty, "encoder_input_ids": "tensor"}, c.ids(3, 8, V), c.scores(3, V, neg_inf=2),
              extra={"encoder_input_ids": enc})
    for scale in (0.7, 3.5):
        c.add(f"temperature_{scale}", "TemperatureLogitsWarper", {"temperature": scale}, c.ids(3, 4, V),
              c.scores(3, V, neg_inf=2))
    # warpers: (short name, class, parameter, [(value, min_tokens_to_keep), ...])
    warpers = [("top_p", "TopPLogitsWarper", "top_p", [(0.9, 1), (0.5, 1), (0.3, 3)]),
               ("min_p", "MinPLogitsWarper", "min_p", [(0.1, 1), (0.5, 3), (0.9, 1)]),
               ("typical", "TypicalLogitsWarper", "mass", [(0.9, 1), (0.2, 2)]),
               ("epsilon", "EpsilonLogitsWarper", "epsilon", [(1e-2, 1), (3e-4, 3), (0.05, 2), (0.016, 1)]),
               ("eta", "EtaLogitsWarper", "epsilon", [(1e-3, 1), (0.1, 3), (0.95, 1)])]
    for kind in ("peaked", "flat", "normal"):
        for short, cls, param, settings in warpers:
            for value, keep in settings:
                c.add(f"{short}_{kind}_{value}_keep{keep}", cls, {param: value, "min_tokens_to_keep": keep},
                      c.ids(3, 2, V), c.scores(3, V, kind, neg_inf=4 if kind == "normal" else 0))
    for top_k, keep in ((5, 1), (1, 1), (3, 10), (200, 1)):
        c.add(f"top_k_{top_k}_keep{keep}", "TopKLogitsWarper", {"top_k": top_k, "min_tokens_to_keep": keep},
              c.ids(3, 2, V), c.scores(3, V, neg_inf=3))
    c.add("top_k_fewer_finite", "TopKLogitsWarper", {"top_k": 10}, c.ids(3, 2, V), c.scores(3, V, neg_inf=58),
          description="only 6 finite scores per row: the 10th best is -inf, nothing more is removed")
    # n-grams
    for n, s_len in ((1, 6), (2, 1), (2, 2), (2, 9), (3, 2), (3, 3), (3, 12), (4, 12)):
        c.add(f"no_repeat_ngram_{n}_len{s_len}", "NoRepeatNGramLogitsProcessor", {"ngram_size": n},
              c.ids(4, s_len, V, alphabet=4 if n < 4 else 2), c.scores(4, V),
              description="ids from 4 (2) tokens, so n-grams repeat")
    enc = c.ids(2, 10, V, alphabet=5)
    for n, s_len, rows in ((1, 1, 2), (2, 1, 2), (2, 4, 4), (3, 1, 4), (3, 2, 4), (3, 7, 6)):
        c.add(f"encoder_no_repeat_ngram_{n}_len{s_len}_rows{rows}", "EncoderNoRepeatNGramLogitsProcessor",
              {"encoder_ngram_size": n, "encoder_input_ids": "tensor"}, c.ids(rows, s_len, V, alphabet=5),
              c.scores(rows, V), extra={"encoder_input_ids": enc},
              description=f"2 prompts, {rows // 2} rows (beams) each")
    # sequence bias / bad words
    ids = c.ids(4, 6, V, alphabet=6)
    ids[0, -2:] = (1, 2)
    ids[1, -3:] = (3, 1, 2)
    ids[2, -1] = 4
    bias_list = [[[9], -2.5], [[1, 2, 7], 3.0], [[2, 7], 1.25], [[4, 5], -4.0], [[3, 1, 2, 8], 2.0],
                 [[1, 2, 3, 4, 5, 6, 7, 8], 9.0], [[5], 0.5], [[5], 1.5]]
    c.add("sequence_bias_list", "SequenceBiasLogitsProcessor", {"sequence_bias": bias_list}, ids,
          c.scores(4, V, neg_inf=2), description="lengths 1-4, two sequences ending in 7, a duplicate [5] (the later "
          "wins), one longer than the context")
    bias_dict = [[[9], -2.5], [[1, 2, 7], 3.0], [[2, 7], 1.25], [[4, 5], -4.0], [[0], 2.0]]
    c.add("sequence_bias_dict", "SequenceBiasLogitsProcessor", {"sequence_bias": bias_dict}, ids,
          c.scores(4, V), dict_form=True,
          description="dict form {tuple: bias}, stored as [key, bias] pairs; token 0 biased")
    bad = [[9], [1, 2], [3, 1, 5], [2], [6, 0]]
    ids = c.ids(4, 6, V, alphabet=6)
    ids[0, -1], ids[1, -2:], ids[2, -1], ids[3, -1] = 1, (3, 1), 6, 5  # rows 0-2 end with a bad word's prefix
    c.add("bad_words", "NoBadWordsLogitsProcessor", {"bad_words_ids": bad, "eos_token_id": None}, ids, c.scores(4, V))
    c.add("bad_words_eos_filtered", "NoBadWordsLogitsProcessor", {"bad_words_ids": bad, "eos_token_id": [2, 9]}, ids,
          c.scores(4, V), description="[9] and [2] are EOS ids: dropped")
    c.add("bad_words_only_eos", "NoBadWordsLogitsProcessor", {"bad_words_ids": [[2]], "eos_token_id": 2}, ids,
          c.scores(4, V), description="nothing left to ban")
    c.add("bad_words_at_start", "NoBadWordsLogitsProcessor", {"bad_words_ids": bad}, ids[:, :1], c.scores(4, V))
    # constraints, diversity
    table = {"0": [5, 6], "1": [7], "2": [60, 5]}
    c.add("prefix_allowed_beams1", "PrefixConstrainedLogitsProcessor",
          {"prefix_allowed_tokens_fn": {"rule": "table_plus_next", "table": table}, "num_beams": 1},
          c.ids(3, 4, V), c.scores(3, V))
    c.add("prefix_allowed_beams2", "PrefixConstrainedLogitsProcessor",
          {"prefix_allowed_tokens_fn": {"rule": "table_plus_next", "table": table}, "num_beams": 2},
          c.ids(4, 3, V), c.scores(4, V))
    for beams, groups, idx in ((6, 3, 0), (6, 3, 1), (6, 3, 2), (5, 2, 1)):
        sub = beams // groups
        size = min(idx * sub + sub, beams) - idx * sub
        current = c.rng.integers(0, 6, 2 * beams).astype(np.int64)
        c.add(f"hamming_{beams}beams_{groups}groups_g{idx}", "HammingDiversityLogitsProcessor",
              {"diversity_penalty": 0.75, "num_beams": beams, "num_beam_groups": groups}, c.ids(2 * size, 3, V),
              c.scores(2 * size, V), call={"current_tokens": "tensor", "beam_group_idx": idx},
              extra={"current_tokens": current}, description="batch 2; current tokens from a 6-token alphabet")
    # suppression, cleaning, normalisation
    c.add("suppress_tokens", "SuppressTokensLogitsProcessor", {"suppress_tokens": [0, 5, 63]}, c.ids(3, 3, V),
          c.scores(3, V))
    c.add("begin_suppress_at_begin", "SuppressTokensAtBeginLogitsProcessor",
          {"begin_suppress_tokens": [1, 8], "begin_index": 4}, c.ids(3, 4, V), c.scores(3, V))
    c.add("begin_suppress_later", "SuppressTokensAtBeginLogitsProcessor",
          {"begin_suppress_tokens": [1, 8], "begin_index": 4}, c.ids(3, 5, V), c.scores(3, V))
    s = c.scores(3, V, neg_inf=2)
    s[0, 3], s[1, 4], s[2, 5], s[0, 9] = np.nan, np.inf, np.nan, np.inf
    c.add("inf_nan_remove", "InfNanRemoveLogitsProcessor", {}, c.ids(3, 2, V), s)
    c.add("logit_normalization", "LogitNormalization", {}, c.ids(3, 2, V), c.scores(3, V, neg_inf=5))
    s = c.scores(3, V)
    s[:, :20] -= 150.0  # probabilities that underflow to exactly 0 in float32
    c.add("top_p_1.0_underflow", "TopPLogitsWarper", {"top_p": 1.0}, c.ids(3, 2, V), s,
          description="top_p = 1 still removes tokens whose probability is 0 (cumulative 0 <= 1 - top_p)")
    V2 = 97
    c.add("top_p_v97", "TopPLogitsWarper", {"top_p": 0.8}, c.ids(4, 2, V2), c.scores(4, V2, neg_inf=1))
    c.add("typical_v97", "TypicalLogitsWarper", {"mass": 0.7}, c.ids(4, 2, V2), c.scores(4, V2, neg_inf=1))


def encoder_penalty_beams(c: Cases) -> None:
    """Beams: Hugging Face's raw processor gathers the B prompt rows against the first B score rows; the golden
    output is Hugging Face's processor given each score row its own prompt (repeat_interleave), which is what
    roformer_np computes from the unexpanded prompt. ``<name>.hf_raw_output`` is the raw result, for the record."""
    V, enc = 64, c.ids(2, 6, 64, alphabet=20)
    ids, scores = c.ids(6, 8, V), c.scores(6, V)
    expanded = torch.from_numpy(enc).repeat_interleave(3, dim=0)
    hf = lp.EncoderRepetitionPenaltyLogitsProcessor(1.5, expanded)(torch.from_numpy(ids), torch.from_numpy(scores))
    raw = lp.EncoderRepetitionPenaltyLogitsProcessor(1.5, torch.from_numpy(enc))(torch.from_numpy(ids),
                                                                                 torch.from_numpy(scores))
    name = "encoder_repetition_penalty_beams3"
    c.tensors.update({f"{name}.input_ids": ids, f"{name}.scores": scores, f"{name}.output": hf.numpy().copy(),
                      f"{name}.encoder_input_ids": enc, f"{name}.hf_raw_output": raw.numpy().copy()})
    c.cases.append(dict(name=name, kind="processor", **{"class": "EncoderRepetitionPenaltyLogitsProcessor"},
                        args={"penalty": 1.5, "encoder_input_ids": "tensor"}, call={},
                        description="2 prompts x 3 beams; output = Hugging Face with the prompt repeated per beam "
                        "(its raw processor, hf_raw_output, penalises rows 0-1 with prompts 0 and 1)"))


def cumsum_case(c: Cases) -> None:
    """torch's CPU cumsum of float32 accumulates in float64 (each partial sum rounded to float32), which decides
    top-p / typical cut-offs near their threshold: ``cumsum.input`` / ``cumsum.output``, compared exactly."""
    x = np.ones((2, 97), np.float32)
    x[0, 0] = 1e8  # float32 accumulation would stay at 1e8
    x[1] = torch.softmax(torch.from_numpy(c.scores(1, 97)), -1).numpy()
    c.tensors["cumsum.input"], c.tensors["cumsum.output"] = x, torch.from_numpy(x).cumsum(-1).numpy()
    c.cases.append(dict(name="cumsum", kind="cumsum", description=cumsum_case.__doc__.split(": ")[0]))


def _custom(spec: dict):
    return getattr(lp, spec["class"])(**spec["args"])


def chain_cases(c: Cases) -> None:
    V = 64
    cfg = RoFormerConfig(vocab_size=V, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, max_position_embeddings=64, is_decoder=True)
    torch.manual_seed(0)
    model = RoFormerForCausalLM(cfg).eval()
    table = {"0": [5, 6], "1": [7, 8]}
    chains = [
        dict(name="chain_greedy", prompt=(3, 5), steps=3, eos=[2], options=dict(
            repetition_penalty=1.3, no_repeat_ngram_size=2, bad_words_ids=[[7], [3, 4], [2]], min_length=12,
            sequence_bias=[[[9], -2.5], [[1, 2], 3.0]], encoder_repetition_penalty=1.2,
            encoder_no_repeat_ngram_size=3, forced_eos_token_id=2, max_length=30, suppress_tokens=[0, 1],
            begin_suppress_tokens=[4], remove_invalid_values=True)),
        dict(name="chain_greedy_begin", prompt=(3, 5), steps=0, eos=[2], options=dict(
            begin_suppress_tokens=[4, 10], min_new_tokens=2, exponential_decay_length_penalty=[1, 1.5],
            forced_eos_token_id=[2, 3], max_length=6, renormalize_logits=True),
            description="step at the prompt length: begin suppression active, forced EOS at max_length - 1"),
        dict(name="chain_sample", prompt=(3, 5), steps=4, eos=[2, 6], options=dict(
            do_sample=True, temperature=0.7, top_k=20, top_p=0.9, min_p=0.05, typical_p=0.95, epsilon_cutoff=3e-4,
            eta_cutoff=1e-3, renormalize_logits=True, repetition_penalty=1.1, encoder_repetition_penalty=1.2,
            encoder_no_repeat_ngram_size=3, exponential_decay_length_penalty=[1, 1.5], min_new_tokens=2,
            remove_invalid_values=True)),
        dict(name="chain_sample_defaults", prompt=(4, 3), steps=1, eos=None, options=dict(do_sample=True),
             description="sampling with every default: top_k 50 only"),
        dict(name="chain_beam_sample", prompt=(2, 4), steps=2, beams=2, eos=[2, 5], options=dict(
            do_sample=True, num_beams=2, top_k=2, top_p=0.3, temperature=1.3, no_repeat_ngram_size=2,
            encoder_no_repeat_ngram_size=2), description="beam sampling: min_tokens_to_keep = len(eos) + 1 = 3"),
        dict(name="chain_beam_sample_no_eos", prompt=(2, 4), steps=2, beams=3, eos=None, options=dict(
            do_sample=True, num_beams=3, top_k=1, typical_p=0.2, min_p=0.9, min_length=10),
            description="no EOS: min_tokens_to_keep = 2, min_length not built"),
        dict(name="chain_custom", prompt=(3, 5), steps=2, eos=[2], options=dict(
            repetition_penalty=1.2, do_sample=True, temperature=0.5, top_k=0),
            custom=[{"class": "RepetitionPenaltyLogitsProcessor", "args": {"penalty": 2.5}},
                    {"class": "SuppressTokensLogitsProcessor", "args": {"suppress_tokens": [5, 6]}},
                    {"class": "MinLengthLogitsProcessor", "args": {"min_length": 50, "eos_token_id": 3}}],
            description="custom repetition penalty replaces the default one; the others go before the warpers"),
        dict(name="chain_forced_bos_begin", prompt=(3, 1), steps=1, eos=[2], options=dict(
            forced_bos_token_id=7, begin_suppress_tokens=[8, 9]),
            description="prompt of 1 token + forced BOS: begin_index = 2, so suppression acts at length 2"),
        dict(name="chain_prefix_beams", prompt=(2, 3), steps=1, beams=2, eos=[2], prefix=table, options=dict(
            num_beams=2, repetition_penalty=1.5)),
        dict(name="chain_diversity", prompt=(2, 3), steps=1, beams=4, eos=[2], options=dict(
            num_beams=4, num_beam_groups=2, diversity_penalty=0.5, repetition_penalty=1.5),
            call={"beam_group_idx": 1}, description="group 1 of 2 (2 beams each): rows are the group's"),
    ]
    for spec in chains:
        name, (b, p_len), beams = spec["name"], spec["prompt"], spec.get("beams", 1)
        prompt = c.ids(b, p_len, V, alphabet=8)
        gen = c.ids(b * beams, spec["steps"], V, alphabet=8)
        input_ids = np.concatenate([prompt.repeat(beams, axis=0), gen], axis=1)
        gc = GenerationConfig(eos_token_id=spec["eos"], pad_token_id=0, **spec["options"])
        model._prepare_special_tokens(gc, True, device="cpu")
        custom = lp.LogitsProcessorList(_custom(s) for s in spec.get("custom", []))
        prefix = prefix_fn({"table": spec["prefix"]}, V) if "prefix" in spec else None
        procs = model._get_logits_processor(generation_config=gc, input_ids_seq_length=p_len,
                                            encoder_input_ids=torch.from_numpy(prompt),
                                            prefix_allowed_tokens_fn=prefix, logits_processor=custom, device="cpu")
        call = dict(spec.get("call", {}))
        rows = input_ids.shape[0]
        if "beam_group_idx" in call:
            sub = beams // spec["options"]["num_beam_groups"]
            rows = b * sub
            current = c.rng.integers(0, 6, b * beams).astype(np.int64)
            c.tensors[f"{name}.current_tokens"] = current
            call["current_tokens"] = "tensor"
            input_ids = input_ids[:rows]
        scores = c.scores(rows, V, neg_inf=2)
        hf_call = {k: torch.from_numpy(c.tensors[f"{name}.{k}"]) if v == "tensor" else v for k, v in call.items()}
        out = procs(torch.from_numpy(input_ids), torch.from_numpy(scores.copy()), **hf_call)
        c.tensors.update({f"{name}.input_ids": input_ids, f"{name}.scores": scores,
                          f"{name}.output": out.numpy().copy(), f"{name}.encoder_input_ids": prompt})
        c.cases.append(dict(name=name, kind="chain", options=spec["options"], eos_token_id=spec["eos"], vocab_size=V,
                            input_ids_seq_length=p_len, custom=spec.get("custom", []),
                            prefix_allowed_tokens_fn=({"rule": "table_plus_next", "table": spec["prefix"]}
                                                      if "prefix" in spec else None),
                            classes=[type(x).__name__ for x in procs], call=call,
                            description=spec.get("description", "")))


def main(here: Path) -> None:
    torch.manual_seed(0)
    c = Cases(seed=2024)
    processor_cases(c)
    encoder_penalty_beams(c)
    chain_cases(c)
    cumsum_case(c)
    out = here / "cases" / NAME
    save_case_io(out / "io.safetensors", c.tensors)
    meta = {"generator": versions(), "tolerance": TOLERANCE, "io": f"cases/{NAME}/io.safetensors", "cases": c.cases}
    (out / "cases.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(f"{NAME}: {len(c.cases)} cases, {(out / 'io.safetensors').stat().st_size / 1e3:.0f} KB")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    torch.set_num_threads(1)
    main(Path(__file__).resolve().parent)
