"""Adversarial comparison of roformer_np's generate() with Hugging Face transformers 4.56.2 (development only).

Run with the reference venv (torch + transformers)::

    ROFORMER_NP_BACKEND=numpy /work/venv-train/bin/python tools/compare_generate_hf.py --minutes 20 --seed 1

Each model trial draws a tiny random ``RoFormerForCausalLM`` (vocab 40-120, hidden 16-48, 1-3 layers, sometimes a
prefix LM, ``rotary_value``, ``embedding_size`` != hidden, 1-3 token types), redraws its weights N(0, 0.2) as
``golden/common.py`` does, saves it with a tokenizer vocabulary of exactly ``vocab_size`` WordPiece tokens and
loads it on both sides. Several option trials follow per model: random prompts (left padding, masks, token
types), random GenerationConfig combinations (greedy, beam, group beam, sampling, beam sampling), passed as
keyword arguments, as a ``generation_config=`` object, or stored in ``generation_config.json`` (both sides then
reload the directory); float32 and float64. Deterministic searches compare sequences exactly, per-step scores /
logits and sequences_scores at rtol = atol = 1e-5 (float64: 1e-10), beam_indices exactly; sampling compares the
first step's scores and logits only. Which side raises is compared too. A few trials run the text-generation
pipelines (greedy) and ``stop_strings``. Every discrepancy is written to ``--out`` (JSON) with a reproducer and,
for the first ones of each kind, the options reduced to a minimal set that still shows it.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("ROFORMER_NP_BACKEND", "numpy")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
try:  # roformer_np's GELU needs scipy, which the reference venv lacks: borrow the dev venv's (same numpy)
    import scipy.special  # noqa: F401
except ImportError:
    sys.path.append("/work/venv-dev/lib/python3.11/site-packages")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import BertTokenizerFast as HFTokenizer  # noqa: E402
from transformers import GenerationConfig as HFGenerationConfig  # noqa: E402
from transformers import RoFormerConfig  # noqa: E402
from transformers import RoFormerForCausalLM as HFCausalLM  # noqa: E402

import roformer_np as rnp  # noqa: E402

torch.set_num_threads(1)
transformers.logging.set_verbosity_error()
warnings.filterwarnings("ignore")

TOL = {"float32": dict(rtol=1e-5, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-10)}
CHINESE = list("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年好很天气今明水火山石风雨日月")
# "##b".."##f" early: Hugging Face's stop-string tables need a vocabulary that spells "abcdef" back
TOKEN_POOL = (list("abcdefghijklmnopqrstuvwxyz") + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + CHINESE
              + list("0123456789") + ["the", "end", "stop", "##op", "st", "。", "，", "!", "?", "停", "止"])


def redraw_weights(model: torch.nn.Module, seed: int, std: float = 0.2) -> None:
    """golden/common.py's redraw: every weight N(0, std), LayerNorm weights 1 + N(0, std); positions kept."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("embed_positions.weight"):
                continue
            noise = torch.randn(param.shape, generator=gen, dtype=torch.float64) * std
            if "LayerNorm.weight" in name:
                noise += 1.0
            param.copy_(noise.to(param.dtype))


def vocabulary(size: int) -> list[str]:
    pool = list(dict.fromkeys(TOKEN_POOL))
    out = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + pool
    assert len(out) >= size, len(out)
    return out[:size]


# ---------------------------------------------------------------------------------------------------------------
# random models and prompts
# ---------------------------------------------------------------------------------------------------------------
def random_config(rng: np.random.Generator) -> dict[str, Any]:
    hidden = int(rng.choice([16, 24, 32, 48]))
    heads = int(rng.choice([h for h in (1, 2, 3, 4, 6, 8) if hidden % h == 0 and (hidden // h) % 2 == 0]))
    cfg = dict(
        vocab_size=int(rng.integers(40, 121)), hidden_size=hidden, num_hidden_layers=int(rng.integers(1, 4)),
        num_attention_heads=heads, intermediate_size=int(rng.integers(16, 65)),
        max_position_embeddings=int(rng.choice([24, 32, 48, 64])), type_vocab_size=int(rng.integers(1, 4)),
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        is_decoder=bool(rng.random() < 0.85), rotary_value=bool(rng.random() < 0.25),
        hidden_act=str(rng.choice(["gelu", "gelu", "relu", "gelu_new", "silu"])),
    )
    if rng.random() < 0.3:
        cfg["embedding_size"] = int(rng.choice([e for e in (8, 12, 16, 20, 40) if e != hidden]))
    if rng.random() < 0.15:  # special tokens in config.json: the generation config derived from it
        cfg["pad_token_id"] = int(rng.integers(0, cfg["vocab_size"]))
    if rng.random() < 0.1:
        cfg["eos_token_id"] = int(rng.integers(5, cfg["vocab_size"]))
    return cfg


def make_prompt(rng: np.random.Generator, V: int, types: int) -> dict[str, np.ndarray]:
    b, t = int(rng.integers(1, 5)), int(rng.integers(1, 11))
    ids = rng.integers(0 if rng.random() < 0.3 else 1, V, (b, t)).astype(np.int64)
    out: dict[str, np.ndarray] = {"input_ids": ids}
    r = rng.random()
    if r < 0.35 and t > 1:  # left padding with a mask
        mask = np.ones((b, t), dtype=np.int64)
        for row in range(b):
            if rng.random() < 0.6:
                k = int(rng.integers(1, t))
                mask[row, :k] = 0
                ids[row, :k] = 0
        out["attention_mask"] = mask
    elif r < 0.55:
        out["attention_mask"] = np.ones((b, t), dtype=np.int64)
    # else: no mask (Hugging Face infers one when the prompt holds the pad id)
    if b > 1 and "attention_mask" not in out and rng.random() < 0.1:
        ids[0] = 0  # a row of pad ids only, no mask: Hugging Face infers an all-zero mask row
    if types > 1 and rng.random() < 0.3:
        out["token_type_ids"] = rng.integers(0, types, (b, t)).astype(np.int64)
    return out


# ---------------------------------------------------------------------------------------------------------------
# random options
# ---------------------------------------------------------------------------------------------------------------
def _pick(rng, seq, k=1):
    seq = list(seq)
    return [int(x) for x in rng.choice(seq, size=min(k, len(seq)), replace=False)]


def random_options(rng: np.random.Generator, V: int, prompt_len: int, emitted: list[int], mode: str,
                   max_pos: int) -> dict[str, Any]:
    o: dict[str, Any] = {}
    emitted = emitted or [int(rng.integers(0, V))]
    r = rng.random()
    if r < 0.7:
        o["max_new_tokens"] = int(rng.integers(1, 13))
    elif r < 0.88:
        o["max_length"] = prompt_len + int(rng.integers(1, 13))
    elif r < 0.93:
        o["max_new_tokens"] = int(rng.integers(1, 10))
        o["max_length"] = prompt_len + int(rng.integers(1, 10))
    # else: the default (20 new tokens, capped at max_position_embeddings)
    if rng.random() < 0.7:
        o["do_sample"] = mode in ("sample", "beam_sample")
    elif mode in ("sample", "beam_sample"):
        o["do_sample"] = True
    if rng.random() < 0.6:
        k = int(rng.choice([1, 1, 2, 3]))
        eos = _pick(rng, emitted, k)
        o["eos_token_id"] = eos[0] if (k == 1 and rng.random() < 0.6) else eos
    if rng.random() < 0.3:
        o["pad_token_id"] = int(rng.integers(0, V))
    if rng.random() < 0.15:
        o["min_length"] = int(rng.integers(0, prompt_len + 10))
    if rng.random() < 0.15:
        o["min_new_tokens"] = int(rng.integers(0, 8))
    if rng.random() < 0.2:
        o["no_repeat_ngram_size"] = int(rng.integers(1, 5))
    if rng.random() < 0.1:
        o["encoder_no_repeat_ngram_size"] = int(rng.integers(1, 4))
    if rng.random() < 0.2:
        o["repetition_penalty"] = round(float(rng.uniform(0.5, 2.0)), 3)
    if rng.random() < 0.1:
        o["encoder_repetition_penalty"] = round(float(rng.uniform(0.5, 2.0)), 3)
    if rng.random() < 0.15:
        o["bad_words_ids"] = [_pick(rng, emitted + list(range(1, V)), int(rng.integers(1, 4)))
                              for _ in range(int(rng.integers(1, 4)))]
    if rng.random() < 0.15:
        o["sequence_bias"] = [[_pick(rng, emitted + list(range(1, V)), int(rng.integers(1, 3))),
                               round(float(rng.uniform(-8, 8)), 3)] for _ in range(int(rng.integers(1, 4)))]
        if rng.random() < 0.3:  # the dict form (keyword arguments only: JSON cannot hold tuple keys)
            o["sequence_bias_dict"] = True
    if rng.random() < 0.1:
        o["forced_bos_token_id"] = int(rng.integers(0, V))
    if rng.random() < 0.1:
        o["forced_eos_token_id"] = int(rng.integers(0, V)) if rng.random() < 0.6 else _pick(rng, range(V), 2)
    if rng.random() < 0.15:
        o["suppress_tokens"] = _pick(rng, emitted + list(range(V)), int(rng.integers(1, 4)))
    if rng.random() < 0.15:
        o["begin_suppress_tokens"] = _pick(rng, emitted + list(range(V)), int(rng.integers(1, 4)))
    if rng.random() < 0.1:
        o["exponential_decay_length_penalty"] = [int(rng.integers(0, 7)), round(float(rng.uniform(0.8, 2.0)), 3)]
    if rng.random() < 0.15:
        o["renormalize_logits"] = True
    if rng.random() < 0.1:
        o["remove_invalid_values"] = True
    if rng.random() < 0.05:
        o["use_cache"] = False
    if mode in ("beam", "beam_sample"):
        o["num_beams"] = int(rng.integers(2, 6))
    if mode == "group":
        groups, sub = int(rng.integers(2, 4)), int(rng.integers(1, 4))
        o["num_beams"], o["num_beam_groups"] = groups * sub, groups
        o["diversity_penalty"] = round(float(rng.uniform(0.1, 2.5)), 3)
    if mode in ("beam", "group", "beam_sample"):
        if rng.random() < 0.4:
            o["length_penalty"] = round(float(rng.uniform(-1.5, 2.5)), 3)
        if rng.random() < 0.5:
            o["early_stopping"] = [True, False, "never"][int(rng.integers(0, 3))]
        if rng.random() < 0.4:
            o["num_return_sequences"] = int(rng.integers(1, o["num_beams"] + 1))
    if mode in ("sample", "beam_sample"):
        if rng.random() < 0.5:
            o["temperature"] = round(float(rng.uniform(0.3, 2.0)), 3)
        if rng.random() < 0.5:
            o["top_k"] = int(rng.integers(0, 30))
        if rng.random() < 0.4:
            o["top_p"] = round(float(rng.uniform(0.3, 1.0)), 3)
        if rng.random() < 0.2:
            o["min_p"] = round(float(rng.uniform(0.01, 0.3)), 3)
        if rng.random() < 0.2:
            o["typical_p"] = round(float(rng.uniform(0.3, 1.0)), 3)
        if rng.random() < 0.15:
            o["epsilon_cutoff"] = round(float(rng.uniform(1e-4, 0.05)), 4)
        if rng.random() < 0.15:
            o["eta_cutoff"] = round(float(rng.uniform(1e-4, 0.05)), 4)
        if mode == "sample" and rng.random() < 0.3:
            o["num_return_sequences"] = int(rng.integers(1, 4))
        if mode == "sample" and rng.random() < 0.3:  # one token survives: sampling is deterministic, compare all
            o["top_k"] = 1
            o.pop("top_p", None)
    if mode in ("sample", "beam_sample") or rng.random() < 0.6:
        o["return_dict_in_generate"] = True
        if mode in ("sample", "beam_sample") or rng.random() < 0.75:
            o["output_scores"] = True
        if mode in ("sample", "beam_sample") or rng.random() < 0.5:
            o["output_logits"] = True
        if mode not in ("sample", "beam_sample") and rng.random() < 0.08:
            o["output_hidden_states"] = True
        if mode not in ("sample", "beam_sample") and rng.random() < 0.08:
            o["output_attentions"] = True
    if rng.random() < 0.05:  # out-of-range / inconsistent values: which side raises?
        bad = [("no_repeat_ngram_size", -1), ("top_p", 1.5), ("num_return_sequences", 7), ("temperature", 0.0),
               ("repetition_penalty", 0.0), ("num_beam_groups", 3), ("diversity_penalty", 1.0),
               ("max_new_tokens", 0), ("min_new_tokens", -2), ("eos_token_id", V + 3), ("pad_token_id", -1),
               ("top_k", -3), ("length_penalty", float("nan")), ("max_new_tokens", max_pos + 5),
               ("bad_words_ids", [[]]), ("suppress_tokens", [V + 1]), ("forced_bos_token_id", V),
               ("eos_token_id", []), ("num_beams", 0), ("early_stopping", "sometimes"), ("stop_strings", [""]),
               ("sequence_bias", [[[1], float("inf")]]), ("num_return_sequences", 0), ("max_length", 1)]
        k, v = bad[int(rng.integers(0, len(bad)))]
        o[k] = v
    return o


# ---------------------------------------------------------------------------------------------------------------
# Hugging Face with its known bugs fixed the way roformer_np fixes them: a discrepancy that vanishes under one of
# these patches is one of the documented, deliberate differences (or a torch tie-breaking order)
# ---------------------------------------------------------------------------------------------------------------
_ORIG: dict[str, Any] = {}


def _patch_encoder_rows(on: bool) -> None:
    cls = transformers.generation.logits_process.EncoderRepetitionPenaltyLogitsProcessor
    if on:
        orig = _ORIG.setdefault("enc", cls.__call__)

        def call(self, input_ids, scores):  # each expanded row penalised with its own prompt
            enc = self.encoder_input_ids
            if enc.shape[0] != scores.shape[0] and scores.shape[0] % enc.shape[0] == 0:
                self.encoder_input_ids = enc.repeat_interleave(scores.shape[0] // enc.shape[0], dim=0)
                try:
                    return orig(self, input_ids, scores)
                finally:
                    self.encoder_input_ids = enc
            return orig(self, input_ids, scores)

        cls.__call__ = call
    elif "enc" in _ORIG:
        cls.__call__ = _ORIG["enc"]


def _patch_decay_nan(on: bool) -> None:
    cls = transformers.generation.logits_process.ExponentialDecayLengthPenalty
    if on:
        orig = _ORIG.setdefault("decay", cls.__call__)

        def call(self, input_ids, scores):  # a -inf EOS score stays -inf (HF: -inf + inf = NaN)
            out = orig(self, input_ids, scores)
            return torch.where(torch.isinf(scores) & torch.isnan(out), scores, out)

        cls.__call__ = call
    elif "decay" in _ORIG:
        cls.__call__ = _ORIG["decay"]


def _patch_stable_ties(on: bool) -> None:
    if on:
        sort, _ = _ORIG.setdefault("sort", torch.sort), _ORIG.setdefault("topk", torch.topk)
        argsort = _ORIG.setdefault("argsort", torch.argsort)

        def topk(input, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - torch's names
            v, i = sort(input, dim=dim, descending=largest, stable=True)
            return torch.return_types.topk((v.narrow(dim, 0, k), i.narrow(dim, 0, k)))

        torch.topk = topk
        torch.sort = lambda input, dim=-1, descending=False, stable=None: sort(  # noqa: A002
            input, dim=dim, descending=descending, stable=True)
        torch.argsort = lambda input, dim=-1, descending=False, stable=None: argsort(  # noqa: A002
            input, dim=dim, descending=descending, stable=True)
    elif "sort" in _ORIG:
        torch.sort, torch.topk, torch.argsort = _ORIG["sort"], _ORIG["topk"], _ORIG["argsort"]


def _patch_np_topk(on: bool) -> None:
    import roformer_np.decoding as dec

    if on:
        orig = _ORIG.setdefault("np_topk", dec.top_k_indices)

        def top_k_indices(x, k):  # ties broken by index everywhere, also at the k-th place
            return np.argsort(-x, axis=-1, kind="stable")[:, :k]

        dec.top_k_indices = top_k_indices
        assert orig is not None
    elif "np_topk" in _ORIG:
        dec.top_k_indices = _ORIG["np_topk"]


# patches of roformer_np's side (its own bugs, to classify what they cause)
NP_PATCHES = {
    "roformer_np bug: decoding.top_k_indices breaks ties at the k-th place arbitrarily (argpartition)": _patch_np_topk,
}

PATCHES = {
    "HF bug: encoder_repetition_penalty gathers the unexpanded prompts against the first rows": _patch_encoder_rows,
    "HF bug: exponential_decay_length_penalty turns a -inf EOS score into NaN": _patch_decay_nan,
    "exact ties: torch.topk/sort order ties its own way (roformer_np: lower index first)": _patch_stable_ties,
    "use_cache=False: HF recomputes the whole sequence (prefix LM: bidirectional), roformer_np ignores it": None,
}


# ---------------------------------------------------------------------------------------------------------------
# running both sides
# ---------------------------------------------------------------------------------------------------------------
def _np(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def normalise(out: Any) -> dict[str, Any]:
    """Either implementation's result as plain arrays."""
    if isinstance(out, (torch.Tensor, np.ndarray)):
        return {"kind": "tensor", "sequences": _np(out)}
    res: dict[str, Any] = {"kind": type(out).__name__, "sequences": _np(out.sequences)}
    for field in ("scores", "logits"):
        v = getattr(out, field, None)
        res[field] = None if v is None else [_np(s) for s in v]
    for field in ("sequences_scores", "beam_indices"):
        res[field] = _np(getattr(out, field, None))
    hs = getattr(out, "hidden_states", None)
    res["hidden_states"] = None if hs is None else [[_np(h) for h in step] for step in hs]
    at = getattr(out, "attentions", None)
    res["attentions"] = None if at is None else [[_np(a) for a in step] for step in at]
    return res


def run_side(side: str, model: Any, inputs: dict[str, np.ndarray], call: dict[str, Any], tok: Any,
             patches: tuple[str, ...] = ()) -> dict:
    table = PATCHES if side == "hf" else NP_PATCHES
    active = [n for n in patches if table.get(n) is not None]
    for name in active:
        table[name](True)
    try:
        return _run_side(side, model, inputs, call, tok, side == "hf" and any(
            n in PATCHES and PATCHES[n] is None for n in patches))
    finally:
        for name in active:
            table[name](False)


def _run_side(side: str, model: Any, inputs: dict[str, np.ndarray], call: dict[str, Any], tok: Any,
              force_cache: bool) -> dict:
    kwargs = copy.deepcopy(call.get("kwargs", {}))
    if force_cache:
        kwargs["use_cache"] = True
    if call.get("sequence_bias_dict") and isinstance(kwargs.get("sequence_bias"), list):
        kwargs["sequence_bias"] = {tuple(ids): bias for ids, bias in kwargs["sequence_bias"]}
    if call.get("gc") is not None:
        gc_cls = HFGenerationConfig if side == "hf" else rnp.GenerationConfig
        try:
            kwargs["generation_config"] = gc_cls(**copy.deepcopy(call["gc"]))
        except Exception as exc:  # noqa: BLE001
            return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}", "where": "GenerationConfig()"}
    if "use_model_defaults" in call:
        kwargs["use_model_defaults"] = call["use_model_defaults"]
    if call.get("tokenizer"):
        kwargs["tokenizer"] = tok
    if side == "hf":
        feed = {k: torch.from_numpy(v.copy()) for k, v in inputs.items()}
    else:
        feed = {k: v.copy() for k, v in inputs.items()}
        if kwargs.get("do_sample") or (call.get("gc") or {}).get("do_sample") or call.get("sampling"):
            kwargs["seed"] = 0
    try:
        if side == "hf":
            with torch.no_grad():
                torch.manual_seed(0)
                out = model.generate(**feed, **kwargs)
        else:
            out = model.generate(**feed, **kwargs)
    except Exception as exc:  # noqa: BLE001
        msg = str(exc).splitlines()[0][:300] if str(exc) else ""
        return {"error": f"{type(exc).__name__}: {msg}", "where": traceback.extract_tb(exc.__traceback__)[-1].name}
    return normalise(out)


class Checker:
    def __init__(self, tol: dict[str, float]) -> None:
        self.tol, self.problems, self.checks = tol, [], 0

    def same(self, what: str, a: Any, b: Any) -> None:
        self.checks += 1
        if a is None or b is None:
            if (a is None) != (b is None):
                self.problems.append((what, f"presence: hf={'None' if a is None else 'set'} "
                                            f"np={'None' if b is None else 'set'}"))
            return
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            self.problems.append((what, f"shape hf={a.shape} np={b.shape}"))
        elif not np.array_equal(a, b):
            diff = np.argwhere(a != b)
            self.problems.append((what, f"first diff at {diff[0].tolist()} ({len(diff)} entries)"))

    def close(self, what: str, a: Any, b: Any) -> None:
        self.checks += 1
        if a is None or b is None:
            if (a is None) != (b is None):
                self.problems.append((what, f"presence: hf={'None' if a is None else 'set'} "
                                            f"np={'None' if b is None else 'set'}"))
            return
        a, b = np.asarray(a), np.asarray(b)
        tol = self.tol
        if a.dtype != b.dtype:
            self.problems.append((what.split("[")[0] + " dtype", f"hf={a.dtype} np={b.dtype}"))
        if np.float32 in (a.dtype, b.dtype):  # float32 values (scores of a float64 model too): float32 round-off
            tol = TOL["float32"]
        a, b = a.astype(np.float64), b.astype(np.float64)
        if a.shape != b.shape:
            self.problems.append((what, f"shape hf={a.shape} np={b.shape}"))
            return
        fa, fb = np.isfinite(a), np.isfinite(b)
        if not np.array_equal(fa, fb) or not np.array_equal(a[~fa], b[~fb]):
            bad = np.argwhere((fa != fb) | (~fa & (a != b) & ~(np.isnan(a) & np.isnan(b))))
            if len(bad):
                i = tuple(bad[0])
                self.problems.append((what, f"non-finite entries differ at {list(i)}: hf={a[i]} np={b[i]}"))
                return
        ok = np.isclose(b[fa], a[fa], **tol)
        if not ok.all():
            err = np.abs(a[fa] - b[fa])
            self.problems.append((what, f"max abs err {err.max():.3g} ({(~ok).sum()} entries)"))


def compare(hf: dict, ours: dict, tol: dict, sampling: bool) -> tuple[list, int]:
    ck = Checker(tol)
    if "error" in hf or "error" in ours:
        ck.checks += 1
        if "error" in hf and "error" not in ours:
            ck.problems.append(("error", f"HF raises, ours runs: {hf['error']}"))
        elif "error" in ours and "error" not in hf:
            ck.problems.append(("error", f"ours raises, HF runs: {ours['error']}"))
        return ck.problems, ck.checks
    ck.checks += 1
    if (hf["kind"] == "tensor") != (ours["kind"] == "tensor") or hf["kind"].replace("Beam", "") != \
            ours["kind"].replace("Beam", "") or ("Beam" in hf["kind"]) != ("Beam" in ours["kind"]):
        ck.problems.append(("output type", f"hf={hf['kind']} np={ours['kind']}"))
    if sampling:
        ck.same("sequences.shape[0]", hf["sequences"].shape[0], ours["sequences"].shape[0])
        for field in ("scores", "logits"):
            a, b = hf.get(field), ours.get(field)
            ck.close(f"{field}[0]", None if not a else a[0], None if not b else b[0])
        return ck.problems, ck.checks
    ck.same("sequences", hf["sequences"], ours["sequences"])
    if hf["kind"] == "tensor" or ours["kind"] == "tensor":
        return ck.problems, ck.checks
    for field in ("scores", "logits"):
        a, b = hf.get(field), ours.get(field)
        if a is None or b is None:
            ck.close(field, a, b)
            continue
        if len(a) != len(b):
            ck.problems.append((field, f"steps hf={len(a)} np={len(b)}"))
        for step in range(min(len(a), len(b))):
            ck.close(f"{field}[step]", a[step], b[step])
            if ck.problems and ck.problems[-1][0] == f"{field}[step]":
                ck.problems[-1] = (f"{field}[step]", f"step {step}: {ck.problems[-1][1]}")
                break
    ck.close("sequences_scores", hf.get("sequences_scores"), ours.get("sequences_scores"))
    ck.same("beam_indices", hf.get("beam_indices"), ours.get("beam_indices"))
    for field in ("hidden_states", "attentions"):
        a, b = hf.get(field), ours.get(field)
        if a is None or b is None:
            ck.close(field, a, b)
            continue
        if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b)):
            ck.problems.append((field, f"steps/layers hf={[len(x) for x in a]} np={[len(x) for x in b]}"))
            continue
        for step, (x, y) in enumerate(zip(a, b)):
            for layer, (u, v) in enumerate(zip(x, y)):
                before = len(ck.problems)
                ck.close(f"{field}[step][layer]", u, v)
                if len(ck.problems) > before:
                    ck.problems[-1] = (ck.problems[-1][0], f"step {step} layer {layer}: {ck.problems[-1][1]}")
                    break
            else:
                continue
            break
    return ck.problems, ck.checks


# ---------------------------------------------------------------------------------------------------------------
# the trials
# ---------------------------------------------------------------------------------------------------------------
class Models:
    """One random checkpoint directory, with both sides loaded (float32 and, on demand, float64)."""

    def __init__(self, seed: int, cfg: dict[str, Any], root: Path, stored: dict[str, Any] | None = None) -> None:
        self.seed, self.cfg, self.stored = seed, cfg, stored or {}
        self.dir = root / f"m{seed}" / ("stored" if stored else "plain")
        torch.manual_seed(seed)
        model = HFCausalLM(RoFormerConfig(**cfg)).eval()
        redraw_weights(model, seed)
        for key, value in self.stored.items():
            setattr(model.generation_config, key, copy.deepcopy(value))
        model.save_pretrained(self.dir, safe_serialization=True)  # may raise (HF validates stored options)
        vocab_file = self.dir / "vocab.txt"
        vocab_file.write_text("\n".join(vocabulary(cfg["vocab_size"])) + "\n", encoding="utf-8")
        self.hf_tok = HFTokenizer(vocab_file=str(vocab_file), do_lower_case=True)
        self.hf_tok.save_pretrained(self.dir)
        self.np_tok = rnp.BertTokenizerFast.from_pretrained(self.dir)
        self._hf: dict[str, Any] = {}
        self._np: dict[str, Any] = {}

    def hf(self, dtype: str) -> Any:
        if dtype not in self._hf:
            m = HFCausalLM.from_pretrained(self.dir).eval()
            self._hf[dtype] = m.double() if dtype == "float64" else m
        return self._hf[dtype]

    def ours(self, dtype: str) -> Any:
        if dtype not in self._np:
            self._np[dtype] = rnp.RoFormerForCausalLM.from_pretrained(self.dir, dtype=dtype)
        return self._np[dtype]


def free_run(models: Models, inputs: dict[str, np.ndarray], n: int = 10) -> list[int]:
    """The tokens Hugging Face's greedy run emits (so EOS and bad-word choices matter)."""
    try:
        with torch.no_grad():
            out = models.hf("float32").generate(**{k: torch.from_numpy(v) for k, v in inputs.items()},
                                                max_new_tokens=n, do_sample=False, pad_token_id=0)
        new = out[:, inputs["input_ids"].shape[1]:].reshape(-1).tolist()
        return list(dict.fromkeys(new))
    except Exception:  # noqa: BLE001
        return []


def stop_string_from(models: Models, rng: np.random.Generator, emitted: list[int]) -> list[str]:
    toks = [t for t in emitted if t >= 5] or [5]
    picks = _pick(rng, toks, int(rng.integers(1, 3)))
    out = []
    for t in picks:
        text = models.hf_tok.decode([t])
        if rng.random() < 0.3 and len(text) > 1:
            text = text[: int(rng.integers(1, len(text)))]
        out.append(text)
    if rng.random() < 0.3 and len(toks) >= 2:  # the text of two tokens, as decode() spells it
        out.append(models.hf_tok.decode(_pick(rng, toks, 2)))
    return [s for s in out if s]


def split_call(rng: np.random.Generator, opts: dict[str, Any], how: str) -> dict[str, Any]:
    if how == "kwargs":
        return {"kwargs": opts}
    if how == "gc":
        keys = [k for k in opts if rng.random() < 0.7]
        call = {"gc": {k: opts[k] for k in keys}, "kwargs": {k: v for k, v in opts.items() if k not in keys}}
        if rng.random() < 0.15:
            call["use_model_defaults"] = bool(rng.random() < 0.5)
        return call
    raise ValueError(how)


def trial_record(models: Models, dtype: str, inputs: dict, call: dict, hf: dict, ours: dict, problems: list,
                 mode: str) -> dict:
    def summary(res: dict) -> Any:
        if "error" in res:
            return res["error"]
        s = {"sequences": res["sequences"].tolist()}
        if res.get("sequences_scores") is not None:
            s["sequences_scores"] = np.round(res["sequences_scores"].astype(float), 6).tolist()
        if res.get("beam_indices") is not None:
            s["beam_indices"] = res["beam_indices"].tolist()
        return s

    return {"seed": models.seed, "config": models.cfg, "stored": models.stored, "dtype": dtype, "mode": mode,
            "inputs": {k: v.tolist() for k, v in inputs.items()}, "call": call, "problems": problems,
            "hf": summary(hf), "ours": summary(ours)}


def problem_key(problems: list) -> str:
    import re

    what, detail = problems[0]
    if what == "error":
        return re.sub(r"-?\d+(\.\d+)?", "N", detail)[:110]
    return what


def minimise(models: Models, dtype: str, inputs: dict, call: dict, tok_needed: bool, sampling: bool,
             key: str) -> dict:
    """Drop options one at a time while the same kind of discrepancy remains."""
    keep = {"return_dict_in_generate", "output_scores", "output_logits"} if key != "sequences" else set()
    current = copy.deepcopy(call)
    for part in ("kwargs", "gc"):
        for name in list((current.get(part) or {}).keys()):
            if name in keep:
                continue
            trial = copy.deepcopy(current)
            del trial[part][name]
            hf = run_side("hf", models.hf(dtype), inputs, trial, models.hf_tok)
            ours = run_side("np", models.ours(dtype), inputs, trial, models.np_tok)
            problems, _ = compare(hf, ours, TOL[dtype], sampling)
            if problems and problem_key(problems) == key:
                current = trial
    return current


def explain(models: Models, dtype: str, inputs: dict, call: dict, ours: dict, sampling: bool) -> str | None:
    """The smallest set of PATCHES under which Hugging Face agrees with roformer_np, named; None if none."""
    import itertools

    names = list(PATCHES) + list(NP_PATCHES)
    for size in (1, 2, 3):
        for combo in itertools.combinations(names, size):
            hf = run_side("hf", models.hf(dtype), inputs, call, models.hf_tok, patches=combo)
            mine = ours
            if any(n in NP_PATCHES for n in combo):
                mine = run_side("np", models.ours(dtype), inputs, call, models.np_tok, patches=combo)
            problems, _ = compare(hf, mine, TOL[dtype], sampling)
            if not problems:
                return " + ".join(combo)
    return None


def option_trial(models: Models, rng: np.random.Generator, mode: str, how: str, stats: dict, found: list,
                 seen: Counter, stored_opts: dict | None = None) -> None:
    cfg = models.cfg
    dtype = "float64" if rng.random() < 0.2 else "float32"
    inputs = make_prompt(rng, cfg["vocab_size"], cfg["type_vocab_size"])
    emitted = free_run(models, inputs)
    opts = random_options(rng, cfg["vocab_size"], inputs["input_ids"].shape[1], emitted, mode,
                          cfg["max_position_embeddings"])
    tok_needed = False
    bias_dict = opts.pop("sequence_bias_dict", False) and how == "kwargs"
    if rng.random() < 0.2:
        opts["stop_strings"] = stop_string_from(models, rng, emitted)
        if len(opts["stop_strings"]) == 1 and rng.random() < 0.4:
            opts["stop_strings"] = opts["stop_strings"][0]  # a str, not a list
        tok_needed = True
    if how == "stored":
        call = {"kwargs": {k: v for k, v in opts.items() if rng.random() < 0.3}}
    else:
        call = split_call(rng, opts, how)
    if tok_needed:
        call["tokenizer"] = True
    if bias_dict:
        call["sequence_bias_dict"] = True
    merged = {**(stored_opts or {}), **(call.get("gc") or {}), **call["kwargs"]}
    sampling = mode in ("sample", "beam_sample") or bool((stored_opts or {}).get("do_sample"))
    for name in merged:
        stats[f"opt:{name}"] += 1
    forced = merged.get("forced_eos_token_id")
    tied = isinstance(forced, list) and len(forced) > 1  # forced EOS ids tie: the draw between them is random
    if sampling and merged.get("top_k") == 1 and int(merged.get("num_beams", 1)) == 1 and not tied:
        sampling = False  # deterministic: compare everything
    if sampling or merged.get("do_sample"):
        call["sampling"] = True  # seeds our generator
    if sampling:
        call["compare_first_scores"] = True
    hf = run_side("hf", models.hf(dtype), inputs, call, models.hf_tok)
    ours = run_side("np", models.ours(dtype), inputs, call, models.np_tok)
    problems, checks = compare(hf, ours, TOL[dtype], sampling)
    stats["trials"] += 1
    stats["checks"] += checks
    stats[f"mode:{mode}"] += 1
    stats[f"how:{how}"] += 1
    stats["both_raise"] += int("error" in hf and "error" in ours)
    if not problems:
        return
    rec = trial_record(models, dtype, inputs, call, hf, ours, problems, mode)
    why = explain(models, dtype, inputs, call, ours, sampling)
    key = f"explained: {why}" if why else problem_key(problems)
    if why:
        stats["explained"] += 1
        seen[key] += 1
        rec["key"] = key
        found.append(rec)
        return
    if "where" in hf and hf["where"] == "GenerationConfig()":
        key = "HF's GenerationConfig() refuses the object, ours accepts it (the merged options are valid)"
    seen[key] += 1
    if seen[key] <= 3:
        rec["minimal_call"] = minimise(models, dtype, inputs, call, tok_needed, sampling, key)
    rec["key"] = key
    found.append(rec)


def pipeline_trial(models: Models, rng: np.random.Generator, stats: dict, found: list, seen: Counter) -> None:
    from transformers import pipeline as hf_pipeline

    V = models.cfg["vocab_size"]
    words = [w for w in vocabulary(V)[5:] if not w.startswith("##")]
    prompt = "".join(_pick_str(rng, words, int(rng.integers(1, 5))))
    opts: dict[str, Any] = {"do_sample": False}
    if rng.random() < 0.85:
        opts["max_new_tokens"] = int(rng.integers(1, 10))
    emitted = list(range(5, V))
    for name, value in random_options(rng, V, 4, emitted, str(rng.choice(["greedy", "beam", "group"])),
                                      models.cfg["max_position_embeddings"]).items():
        if name in ("return_dict_in_generate", "output_scores", "output_logits", "output_hidden_states",
                    "output_attentions", "max_length", "sequence_bias_dict") or (
                        name == "max_new_tokens" and "max_new_tokens" in opts):
            continue
        if rng.random() < 0.5:
            opts[name] = value
    if rng.random() < 0.2:
        opts["stop_strings"] = [models.hf_tok.decode([int(rng.integers(5, V))])]
    if rng.random() < 0.25:
        opts["return_full_text"] = bool(rng.random() < 0.5)
    elif rng.random() < 0.15:
        opts["return_tensors"] = True
    if rng.random() < 0.15:
        opts["prefix"] = "".join(_pick_str(rng, words, 2))
    if rng.random() < 0.1:
        opts["add_special_tokens"] = False
    if rng.random() < 0.1:
        opts["clean_up_tokenization_spaces"] = False
    if rng.random() < 0.08:
        opts["skip_special_tokens"] = False
    if rng.random() < 0.08:
        opts["stop_sequence"] = models.hf_tok.decode([int(rng.integers(5, V))])
    if rng.random() < 0.05:
        opts["return_text"] = True
    if rng.random() < 0.05:
        opts["handle_long_generation"] = "hole"
    if rng.random() < 0.05:
        opts.pop("max_new_tokens", None)
        opts["max_length"] = int(rng.integers(4, 16))
    if rng.random() < 0.2:
        opts = {"generate_kwargs": {k: v for k, v in opts.items() if k not in PIPELINE_OWN},
                **{k: v for k, v in opts.items() if k in PIPELINE_OWN}}

    def run(side: str) -> Any:
        try:
            if side == "hf":
                pipe = hf_pipeline("text-generation", model=models.hf("float32"), tokenizer=models.hf_tok,
                                   device="cpu")
                with torch.no_grad():
                    out = pipe(prompt, **copy.deepcopy(opts))
                return [{k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in d.items()} for d in out]
            pipe = rnp.pipeline("text-generation", model=str(models.dir))
            return pipe(prompt, **copy.deepcopy(opts))
        except Exception as exc:  # noqa: BLE001
            return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}

    hf, ours = run("hf"), run("np")
    for name in {**opts, **opts.get("generate_kwargs", {})}:
        stats[f"pipe_opt:{name}"] += 1
    stats["trials"] += 1
    stats["pipeline_trials"] += 1
    stats["checks"] += 1
    if isinstance(hf, dict) and isinstance(ours, dict):
        stats["both_raise"] += 1
        return
    if hf == ours:
        return
    if isinstance(hf, dict):
        key = "pipeline error: HF raises, ours runs"
    elif isinstance(ours, dict):
        key = "pipeline error: ours raises, HF runs"
    else:
        key = "pipeline output"
    seen[key] += 1
    found.append({"key": key, "seed": models.seed, "config": models.cfg, "stored": models.stored, "mode": "pipeline",
                  "prompt": prompt, "options": opts, "hf": hf, "ours": ours, "problems": [(key, "")]})


PIPELINE_OWN = ("return_full_text", "return_tensors", "prefix", "add_special_tokens", "clean_up_tokenization_spaces",
                "skip_special_tokens", "stop_sequence", "return_text", "handle_long_generation", "max_length")


def _pick_str(rng: np.random.Generator, words: list[str], k: int) -> list[str]:
    return [words[int(i)] for i in rng.integers(0, len(words), k)]


def stored_options(rng: np.random.Generator, cfg: dict, emitted: list[int], mode: str) -> dict[str, Any]:
    opts = random_options(rng, cfg["vocab_size"], 5, emitted, mode, cfg["max_position_embeddings"])
    opts.pop("sequence_bias_dict", None)
    for k in ("max_length",):  # a stored max_length is a total length: keep it well above the prompt
        if k in opts:
            opts[k] = 10 + int(rng.integers(1, 12))
    return {k: v for k, v in opts.items() if rng.random() < 0.8 or k in ("do_sample", "num_beams")}


def replay(path: str, which: list[int]) -> None:
    """Re-run recorded discrepancies (``--replay out.json 3 7``): minimise options, print both sides' outputs."""
    found = json.loads(Path(path).read_text(encoding="utf-8"))["found"]
    with tempfile.TemporaryDirectory() as tmp:
        for i in which:
            rec = found[i]
            if "inputs" not in rec:
                print(i, json.dumps(rec, default=str)[:3000])
                continue
            models = Models(rec["seed"], rec["config"], Path(tmp) / str(i), stored=rec["stored"] or None)
            inputs = {k: np.asarray(v, dtype=np.int64) for k, v in rec["inputs"].items()}
            sampling = bool(rec["call"].get("compare_first_scores"))
            call = minimise(models, rec["dtype"], inputs, rec["call"], False, sampling, rec["key"])
            hf = run_side("hf", models.hf(rec["dtype"]), inputs, call, models.hf_tok)
            ours = run_side("np", models.ours(rec["dtype"]), inputs, call, models.np_tok)
            problems, _ = compare(hf, ours, TOL[rec["dtype"]], sampling)
            short = trial_record(models, rec["dtype"], inputs, call, hf, ours, problems, rec["mode"])
            print(f"--- #{i} {rec['key']}\n{json.dumps(short, default=str)}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replay", nargs="+", help="a JSON written by --out, then the indices of records to re-run")
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-model", type=int, default=4)
    ap.add_argument("--out", default="/tmp/compare_generate_hf.json")
    args = ap.parse_args()
    if args.replay:
        replay(args.replay[0], [int(i) for i in args.replay[1:]])
        return
    rng = np.random.default_rng(args.seed)
    stats: Counter = Counter()
    found: list[dict] = []
    seen: Counter = Counter()
    deadline = time.time() + 60 * args.minutes
    modes = ["greedy"] * 8 + ["beam"] * 6 + ["group"] * 3 + ["sample"] * 2 + ["beam_sample"] * 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n_model = 0
        while time.time() < deadline:
            seed = args.seed * 100_000 + n_model
            n_model += 1
            cfg = random_config(rng)
            models = Models(seed, cfg, root)
            stats["models"] += 1
            for _ in range(args.per_model):
                mode = modes[int(rng.integers(0, len(modes)))]
                how = "gc" if rng.random() < 0.2 else "kwargs"
                try:
                    option_trial(models, rng, mode, how, stats, found, seen)
                except Exception:  # noqa: BLE001 - a bug of this script, not of either side
                    stats["script_errors"] += 1
                    traceback.print_exc()
            if rng.random() < 0.3:  # options stored in generation_config.json: both sides reload the directory
                mode = modes[int(rng.integers(0, len(modes)))]
                inputs = make_prompt(rng, cfg["vocab_size"], cfg["type_vocab_size"])
                stored = stored_options(rng, cfg, free_run(models, inputs), mode)
                try:
                    smodels = Models(seed, cfg, root, stored=stored)
                except Exception as exc:  # noqa: BLE001 - HF refuses to save it: what do we say at generate?
                    stats["stored_refused_by_hf_save"] += 1
                    try:
                        np_model = models.ours("float32")
                        np_model.generation_config = rnp.GenerationConfig(**stored)
                        np_model.generate(inputs["input_ids"], attention_mask=inputs.get("attention_mask"))
                        seen["stored options HF refuses to save, ours generates with"] += 1
                        found.append({"key": "stored options HF refuses to save, ours generates with",
                                      "seed": seed, "config": cfg, "stored": stored,
                                      "problems": [("save", " ".join(str(exc).split())[:400])]})
                    except Exception:  # noqa: BLE001
                        pass
                    finally:
                        models._np.pop("float32", None)
                else:
                    for _ in range(2):
                        try:
                            option_trial(smodels, rng, mode, "stored", stats, found, seen, stored_opts=stored)
                        except Exception:  # noqa: BLE001
                            stats["script_errors"] += 1
                            traceback.print_exc()
            if rng.random() < 0.35:
                try:
                    pipeline_trial(models, rng, stats, found, seen)
                except Exception:  # noqa: BLE001
                    stats["script_errors"] += 1
                    traceback.print_exc()
            if n_model % 10 == 0:
                print(f"[{time.strftime('%H:%M:%S')}] models={stats['models']} trials={stats['trials']} "
                      f"checks={stats['checks']} discrepancies={len(found)} kinds={len(seen)}", flush=True)
    Path(args.out).write_text(json.dumps({"stats": stats, "kinds": seen, "found": found}, indent=1, default=str)
                              + "\n", encoding="utf-8")
    print(json.dumps(stats, indent=1))
    by_key: dict[str, list] = defaultdict(list)
    for rec in found:
        by_key[rec["key"]].append(rec)
    for key, recs in sorted(by_key.items(), key=lambda kv: -len(kv[1])):
        print(f"\n== {key}: {len(recs)} trials")
        for rec in recs[:2]:
            print("   ", rec["problems"][:2], "minimal:", json.dumps(rec.get("minimal_call", rec.get("options")),
                                                                     default=str)[:300])


if __name__ == "__main__":
    main()
