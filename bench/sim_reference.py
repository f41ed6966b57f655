"""The PyTorch side of bench/bench_sim.py: JunnyU's ``roformer`` 0.4.3 (run in golden/requirements-junnyu.txt's env).

    python bench/sim_reference.py --out DIR [--n 32] [--max-new-tokens 16] [--threads 2] [--seed 0] [--text T]

Writes (once) a RoFormer-Sim-base checkpoint with seeded random weights into DIR (config from
tests/data/real/roformer_chinese_sim_char_base, the real 12000-char vocab beside it), then times
``gen_synonyms`` two ways and prints one JSON object:

* ``recipe``: JunnyU's README recipe as published: ``model.generate(top_p=0.95, do_sample=True)`` once per
  sentence, n times (with transformers 4.30 its ``prepare_inputs_for_generation`` never receives the cache,
  JunnYu/RoFormer_pytorch#45, so every step re-runs the whole sequence), then one padded batch for the ranking;
* ``batched``: the same model decoded by hand the way the package intends (n rows, one cache, new tokens with
  ``token_type_ids`` 1), top-p 0.95 sampling, the same ranking: the best PyTorch does with this model.

Random weights never sample ``[SEP]`` in practice, so every sentence has ``--max-new-tokens`` tokens on
both sides (counted and reported).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import roformer
import torch
from transformers import BertTokenizer

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / "tests" / "data" / "real"


def build(out: Path, seed: int) -> None:
    if (out / "model.safetensors").is_file():
        return
    config = roformer.RoFormerConfig.from_json_file(str(REAL / "roformer_chinese_sim_char_base" / "config.json"))
    torch.manual_seed(seed)
    model = roformer.RoFormerForCausalLM(config).eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    shutil.copy(REAL / "roformer_chinese_char" / "vocab.txt", out / "vocab.txt")
    (out / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}), encoding="utf-8")


def rank(model, tokenizer, text: str, candidates: list[str], k: int) -> list[str]:
    """The README's ranking: [text] + candidates in one padded batch, pooler vectors, cosine to the text."""
    r = [text] + candidates
    inputs = tokenizer(r, padding=True, return_tensors="pt")
    with torch.no_grad():
        z = model(**inputs).pooler_output.numpy()
    z /= (z ** 2).sum(axis=1, keepdims=True) ** 0.5
    return [r[i + 1] for i in np.dot(z[1:], -z[0]).argsort()[:k]]


def recipe(model, tokenizer, text: str, n: int, k: int, max_new: int) -> tuple[list[str], int]:
    inputs = tokenizer(text, return_tensors="pt")
    length = inputs["input_ids"].shape[1]
    r, tokens = [], 0
    for _ in range(n):
        out = model.generate(**inputs, top_p=0.95, do_sample=True, max_length=length + max_new)
        tokens += out.shape[1] - length
        r.append(tokenizer.batch_decode(out, skip_special_tokens=True)[0].replace(" ", "").replace(text, ""))
    r = [i for i in set(r) if i != text and len(i) > 0]
    return rank(model, tokenizer, text, r, k), tokens


def top_p_sample(logits: torch.Tensor, top_p: float, gen: torch.Generator) -> torch.Tensor:
    probs = torch.softmax(logits.float(), dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    drop = sorted_probs.cumsum(-1) - sorted_probs > top_p  # keep the smallest set reaching top_p
    sorted_probs[drop] = 0
    choice = torch.multinomial(sorted_probs / sorted_probs.sum(-1, keepdim=True), 1, generator=gen)
    return order.gather(-1, choice)[:, 0]


def batched(model, tokenizer, text: str, n: int, k: int, max_new: int, seed: int) -> tuple[list[str], int]:
    gen = torch.Generator().manual_seed(seed)
    ids = tokenizer(text, return_tensors="pt")["input_ids"].repeat(n, 1)
    sep = tokenizer.sep_token_id
    with torch.no_grad():
        out = model(input_ids=ids, token_type_ids=torch.zeros_like(ids), use_cache=True)
        seq, done = ids, torch.zeros(n, dtype=torch.bool)
        for _ in range(max_new):
            nxt = top_p_sample(out.logits[:, -1], 0.95, gen)
            nxt = torch.where(done, torch.full_like(nxt, tokenizer.pad_token_id), nxt)
            seq = torch.cat([seq, nxt[:, None]], 1)
            done |= nxt == sep
            if bool(done.all()):
                break
            out = model(input_ids=nxt[:, None], token_type_ids=torch.ones_like(nxt[:, None]),
                        attention_mask=torch.ones_like(seq), past_key_values=out.past_key_values, use_cache=True)
    new = seq[:, ids.shape[1]:]
    tokens = int(sum(int((row != sep).cumprod(0).sum()) for row in new))
    r = [tokenizer.decode(row, skip_special_tokens=True).replace(" ", "") for row in new]
    r = list(dict.fromkeys(i for i in r if i != text and i))
    return rank(model, tokenizer, text, r, k), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--text", default="广州和深圳哪个好？")
    parser.add_argument("--skip-recipe", action="store_true", help="only build the checkpoint and time 'batched'")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    build(args.out, args.seed)
    tokenizer = BertTokenizer(str(args.out / "vocab.txt"))
    model = roformer.RoFormerForCausalLM.from_pretrained(args.out).eval()
    result = {"torch": torch.__version__, "roformer": "0.4.3", "threads": args.threads}
    recipe(model, tokenizer, args.text, 2, 1, 2)  # warm-up: torch's first calls (kernel selection, allocator)
    batched(model, tokenizer, args.text, 2, 1, 2, args.seed)
    runs = {"batched": lambda: batched(model, tokenizer, args.text, args.n, args.k, args.max_new_tokens, args.seed)}
    if not args.skip_recipe:
        torch.manual_seed(args.seed)
        runs["recipe"] = lambda: recipe(model, tokenizer, args.text, args.n, args.k, args.max_new_tokens)
    for name, run in runs.items():
        start = time.perf_counter()
        _, tokens = run()
        result[name] = {"seconds": time.perf_counter() - start, "sentences": args.n, "tokens": tokens}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
