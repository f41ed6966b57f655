"""Golden cases of generate()'s options: Hugging Face transformers 4.56.2's tokens, scores and beam indices.

Development only. Run through ``golden/generate.py generate_options``. Writes ``cases/generate_options/``:

* ``decoder/``: a tiny ``RoFormerForCausalLM`` (``save_pretrained``, float32) and ``vocab.txt`` + tokenizer files
  of a 64-token WordPiece vocabulary made for it (so ``stop_strings`` can be decoded);
* ``stored_ngram/``, ``stored_mixed/``: the same weights saved with options in ``generation_config.json``
  (``m.generation_config.no_repeat_ngram_size = 2`` …), generated with no keyword arguments;
* ``cases.json``: one entry per case: ``checkpoint``, ``call`` (generate()'s keyword arguments, JSON),
  ``io`` (safetensors: ``input.*``, ``output.sequences`` and, with ``return_dict_in_generate``,
  ``output.scores.<step>``, ``output.logits.<step>``, ``output.sequences_scores``, ``output.beam_indices``),
  ``compare``: ``"all"`` (deterministic search: every output), or ``"first_scores"`` (sampling: Hugging Face's
  random stream cannot be reproduced, so only the processed scores of the first step — which no draw has
  influenced yet — are compared: the filtering chain, exactly), ``tolerance``.

``prefix_allowed_tokens_fn`` cases use ``allowed(batch_id, ids) = [(sum(ids) + 3 * k) % 64 for k in range(6)]``,
written the same way on both sides.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from common import CASES_DIR, TOL_F32, TOL_F64, redraw_weights, save_case_io, to_numpy
from common import TINY_HEADS as TINY
from transformers import BertTokenizerFast, GenerationConfig, RoFormerConfig, RoFormerForCausalLM

OUT = CASES_DIR / "generate_options"
# a WordPiece vocabulary of exactly vocab_size (64) tokens
VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
         + list("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年")
         + list("abcdefghij") + ["##a", "##b", "##c", "##d", "##e", "##f", "好", "很", "。", "，", "!", "?",
                                 "the", "end", "stop", "##op", "st", "停", "止"])
assert len(VOCAB) == TINY["vocab_size"], len(VOCAB)


def prefix_allowed(batch_id: int, ids: torch.Tensor) -> list[int]:
    return [(int(ids.sum()) + 3 * k) % TINY["vocab_size"] for k in range(6)]


def _model(seed: int) -> RoFormerForCausalLM:
    cfg = RoFormerConfig(**{**TINY, "is_decoder": True})
    torch.manual_seed(seed)
    model = RoFormerForCausalLM(cfg).eval()
    redraw_weights(model, seed)
    return model


def _save(model: RoFormerForCausalLM, name: str, tokenizer: BertTokenizerFast, **stored) -> Path:
    path = OUT / name
    if path.exists():
        shutil.rmtree(path)
    for key, value in stored.items():
        setattr(model.generation_config, key, value)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    for key in stored:  # back to the defaults for the next checkpoint
        setattr(model.generation_config, key, type(model.generation_config)().__dict__[key])
    return path


def _prompt(rng: np.random.Generator, b: int, t: int, left_pad: int = 0) -> dict[str, np.ndarray]:
    ids = rng.integers(5, TINY["vocab_size"], (b, t), dtype=np.int64)
    out = {"input_ids": ids, "attention_mask": np.ones((b, t), dtype=np.int64)}
    if left_pad:
        out["attention_mask"][-1, :left_pad] = 0
        ids[-1, :left_pad] = 0
    return out


def _run(model, inputs: dict, call: dict, tokenizer=None) -> dict[str, np.ndarray]:
    kwargs = dict(call)
    if kwargs.pop("prefix_allowed_tokens_fn", False):
        kwargs["prefix_allowed_tokens_fn"] = prefix_allowed
    if "stop_strings" in kwargs:
        kwargs["tokenizer"] = tokenizer
    with torch.no_grad():
        out = model.generate(**{k: torch.from_numpy(v) for k, v in inputs.items()}, **kwargs)
    if not kwargs.get("return_dict_in_generate"):
        return {"output.sequences": to_numpy(out)}
    tensors = {"output.sequences": to_numpy(out.sequences)}
    for field in ("scores", "logits"):
        for step, value in enumerate(getattr(out, field) or ()):
            tensors[f"output.{field}.{step}"] = to_numpy(value)
    for field in ("attentions", "hidden_states"):
        for step, layers in enumerate(getattr(out, field, None) or ()):
            for layer, value in enumerate(layers):
                tensors[f"output.{field}.{step}.{layer}"] = to_numpy(value)
    for field in ("sequences_scores", "beam_indices"):
        value = getattr(out, field, None)
        if value is not None:
            tensors[f"output.{field}"] = to_numpy(value)
    return tensors


def main(here: Path) -> None:
    rng = np.random.default_rng(97531)
    model = _model(seed=8642)
    OUT.mkdir(parents=True, exist_ok=True)
    vocab_file = OUT / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)
    _save(model, "decoder", tokenizer)
    vocab_file.unlink()
    cases: list[dict] = []

    def free_tokens(inputs: dict, n: int = 12) -> np.ndarray:
        return _run(model, inputs, dict(max_new_tokens=n, do_sample=False))["output.sequences"]

    def add(name: str, inputs: dict, call: dict, compare: str = "all", checkpoint: str = "decoder",
            dtype: str = "float32", run_model=None, note: str = "") -> None:
        m = run_model or model
        m = m.to(torch.float64 if dtype == "float64" else torch.float32)
        tensors = _run(m, inputs, call, tokenizer)
        io = f"{name}.safetensors"
        save_case_io(OUT / io, {**{f"input.{k}": v for k, v in inputs.items()}, **tensors})
        cases.append({"name": name, "checkpoint": checkpoint, "io": io, "call": call, "compare": compare,
                      "dtype": dtype, "inputs": sorted(inputs), "outputs": sorted(k[7:] for k in tensors),
                      "tolerance": TOL_F64 if dtype == "float64" else TOL_F32,
                      "description": note or ", ".join(f"{k}={v}" for k, v in call.items())})
        model.float()

    scores = dict(return_dict_in_generate=True, output_scores=True, output_logits=True)
    # ---- greedy: every processor of the list, alone and combined ----
    p = _prompt(rng, 2, 5)
    add("ngram2", p, dict(max_new_tokens=14, do_sample=False, no_repeat_ngram_size=2))
    add("ngram3_scores", p, dict(max_new_tokens=10, do_sample=False, no_repeat_ngram_size=3, **scores))
    free = free_tokens(p)
    eos = int(free[0, 5 + 2])
    add("min_new_tokens", p, dict(max_new_tokens=10, do_sample=False, eos_token_id=eos, min_new_tokens=5))
    add("min_length", p, dict(max_new_tokens=10, do_sample=False, eos_token_id=eos, min_length=9))
    bad = [[int(free[0, 6])], [int(free[1, 7]), int(free[1, 8])]]
    add("bad_words", p, dict(max_new_tokens=10, do_sample=False, bad_words_ids=bad))
    add("sequence_bias", p, dict(max_new_tokens=10, do_sample=False,
                                 sequence_bias=[[[int(free[0, 5])], -5.0], [[7], 3.0],
                                                [[int(free[1, 6]), int(free[1, 7])], -20.0]]))
    add("forced_bos_eos", p, dict(max_new_tokens=8, do_sample=False, forced_bos_token_id=9, forced_eos_token_id=3))
    add("forced_eos_list", p, dict(max_new_tokens=6, do_sample=False, forced_eos_token_id=[3, 11],
                                   eos_token_id=[3, 11]))
    add("suppress", p, dict(max_new_tokens=8, do_sample=False, suppress_tokens=[int(free[0, 5]), int(free[1, 5]), 4],
                            begin_suppress_tokens=[int(free[0, 6]), 2]))
    add("exp_decay", p, dict(max_new_tokens=12, do_sample=False, eos_token_id=eos,
                             exponential_decay_length_penalty=[3, 1.6]))
    add("encoder_ngram_rep", p, dict(max_new_tokens=10, do_sample=False, encoder_no_repeat_ngram_size=1,
                                     encoder_repetition_penalty=1.8))
    add("renormalize_scores", p, dict(max_new_tokens=6, do_sample=False, renormalize_logits=True,
                                      remove_invalid_values=True, repetition_penalty=1.3, **scores))
    add("max_length", p, dict(max_length=11, do_sample=False))
    add("prefix_fn", p, dict(max_new_tokens=8, do_sample=False, prefix_allowed_tokens_fn=True))
    add("stop_strings", p, dict(max_new_tokens=12, do_sample=False, stop_strings=[tokenizer.decode(free[0, 8:10])]),
        note="stop string = the text of two tokens the free run emits, so row 0 stops there")
    q = _prompt(rng, 3, 6, left_pad=2)
    free_q = free_tokens(q)
    add("combined_left_padded", q, dict(max_new_tokens=12, do_sample=False, no_repeat_ngram_size=2,
                                        eos_token_id=int(free_q[1, 8]), min_new_tokens=3,
                                        bad_words_ids=[[int(free_q[0, 7])]], repetition_penalty=1.2,
                                        suppress_tokens=[1], **scores))
    add("ngram2_float64", p, dict(max_new_tokens=10, do_sample=False, no_repeat_ngram_size=2, **scores),
        dtype="float64")

    # ---- beam search, group beam search ----
    b = _prompt(rng, 2, 5, left_pad=1)
    free_b = free_tokens(b)
    eos_b = int(free_b[0, 6])
    add("beam_ngram_scores", b, dict(max_new_tokens=8, num_beams=3, do_sample=False, no_repeat_ngram_size=2,
                                     num_return_sequences=2, **scores))
    add("beam_eos_min_bad", b, dict(max_new_tokens=9, num_beams=4, do_sample=False, eos_token_id=eos_b,
                                    min_new_tokens=3, bad_words_ids=[[int(free_b[1, 6])]], length_penalty=0.7,
                                    **scores))
    add("beam_forced_eos_stop", b, dict(max_new_tokens=7, num_beams=2, do_sample=False, forced_eos_token_id=eos_b,
                                        eos_token_id=eos_b, stop_strings=[tokenizer.decode(free_b[1, 7:8])],
                                        **scores))
    add("group_beam", b, dict(max_new_tokens=7, num_beams=4, num_beam_groups=2, diversity_penalty=1.5,
                              do_sample=False, num_return_sequences=2, **scores))
    add("group_beam_eos", b, dict(max_new_tokens=8, num_beams=6, num_beam_groups=3, diversity_penalty=0.8,
                                  do_sample=False, eos_token_id=eos_b, length_penalty=1.3, **scores))
    add("group_beam_plain", _prompt(rng, 1, 4), dict(max_new_tokens=6, num_beams=4, num_beam_groups=4,
                                                     diversity_penalty=2.0, do_sample=False))

    # ---- use_cache=False (the whole sequence recomputed each step), a prefix LM, encoder processors in groups ----
    add("no_cache_outputs", p, dict(max_new_tokens=4, do_sample=False, use_cache=False, return_dict_in_generate=True,
                                    output_attentions=True, output_hidden_states=True, output_scores=True),
        note="use_cache=False: attentions / hidden states cover the whole sequence at every step")
    add("cache_outputs", p, dict(max_new_tokens=4, do_sample=False, return_dict_in_generate=True,
                                 output_attentions=True, output_hidden_states=True))
    prefix = _model(seed=8642)
    prefix.config.is_decoder = False
    for layer in prefix.roformer.encoder.layer:
        layer.attention.self.is_decoder = False
    ppath = _save(prefix, "prefix_lm", tokenizer)
    prefix = RoFormerForCausalLM.from_pretrained(ppath).eval()
    add("prefix_lm_no_cache", p, dict(max_new_tokens=6, do_sample=False, use_cache=False), checkpoint="prefix_lm",
        run_model=prefix, note="is_decoder=False without a cache: every step attends both ways over everything")
    add("prefix_lm_cached", p, dict(max_new_tokens=6, do_sample=False), checkpoint="prefix_lm", run_model=prefix)
    add("group_beam_encoder", b, dict(max_new_tokens=5, num_beams=4, num_beam_groups=2, diversity_penalty=0.5,
                                      do_sample=False, encoder_no_repeat_ngram_size=1, **scores))

    # ---- sampling: the first step's filtered scores ----
    add("sample_warpers", p, dict(max_new_tokens=3, do_sample=True, temperature=0.8, top_k=20, top_p=0.9,
                                  min_p=0.05, typical_p=0.95, repetition_penalty=1.1, **scores),
        compare="first_scores")
    add("sample_epsilon_eta", p, dict(max_new_tokens=3, do_sample=True, epsilon_cutoff=0.02, eta_cutoff=0.01,
                                      top_k=0, renormalize_logits=True, **scores), compare="first_scores")
    add("beam_sample", b, dict(max_new_tokens=3, num_beams=2, do_sample=True, top_k=5, top_p=0.8,
                               eos_token_id=[eos_b, 3], **scores), compare="first_scores",
        note="beam sampling: min_tokens_to_keep = len(eos) + 1 in the warpers")

    # ---- options stored in generation_config.json (no keyword arguments) ----
    # Hugging Face itself reloads each checkpoint, so the options come from the file alone
    path = _save(model, "stored_ngram", tokenizer, no_repeat_ngram_size=2, max_new_tokens=12)
    add("stored_ngram", p, {}, checkpoint="stored_ngram", run_model=RoFormerForCausalLM.from_pretrained(path).eval(),
        note="generation_config.json holds no_repeat_ngram_size=2 (the issue's example)")
    path = _save(model, "stored_mixed", tokenizer, min_new_tokens=4, eos_token_id=eos, bad_words_ids=bad,
          suppress_tokens=[int(free[1, 5])], forced_eos_token_id=eos, max_new_tokens=9, num_beams=2,
          min_length=3)
    add("stored_mixed", p, {}, checkpoint="stored_mixed", run_model=RoFormerForCausalLM.from_pretrained(path).eval(),
        note="generation_config.json holds min_new_tokens, eos, bad_words_ids, suppress_tokens, forced_eos, beams")

    # every GenerationConfig field with its default, so the port's table can be checked against Hugging Face's
    defaults = {k: v for k, v in GenerationConfig().__dict__.items() if not k.startswith("_")
                and k != "transformers_version"}
    # generation options written in config.json of a checkpoint without generation_config.json
    cpath = _save(model, "config_only", tokenizer)
    (cpath / "generation_config.json").unlink()
    data = json.loads((cpath / "config.json").read_text())
    data.update(no_repeat_ngram_size=1, max_length=9, num_beams=2)
    (cpath / "config.json").write_text(json.dumps(data, indent=2))
    add("config_only", p, {}, checkpoint="config_only", run_model=RoFormerForCausalLM.from_pretrained(cpath).eval(),
        note="no generation_config.json: the generation fields of config.json apply, as Hugging Face derives them")

    (OUT / "cases.json").write_text(json.dumps({"generation_config_defaults": defaults, "cases": cases}, indent=1)
                                    + "\n", encoding="utf-8")
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"generate_options: {len(cases)} cases, {total / 1e3:.0f} kB")


if __name__ == "__main__":
    main(Path(__file__).resolve().parent)
