"""Milliseconds per generated sentence of RoFormer-Sim's ``gen_synonyms`` (n = 32): roformer_np beside PyTorch.

    python bench/bench_sim.py --torch-python /tmp/junnyu-env/bin/python [--n 32] [--max-new-tokens 16]
                              [--repeats 2] [--threads 2]

The PyTorch side is bench/sim_reference.py, run with ``--torch-python`` (an environment from
golden/requirements-junnyu.txt); it writes the RoFormer-Sim-base checkpoint (real config, real 12000-char vocab,
seeded random weights) that roformer_np loads here. Rows, each the whole ``gen_synonyms`` (n samples with top-p
0.95 until [SEP] or ``--max-new-tokens``, deduplicated, ranked by pooler similarity, best k):

* PyTorch, JunnyU's recipe: ``generate()`` once per sentence (no cache on transformers 4.30: #45);
* PyTorch, batched by hand: n rows through one cache (what the package intends; the best PyTorch does here);
* roformer_np ``similar_sentences``: n rows through one cache, native kernels (and the NumPy backend).

Random weights never sample [SEP], so every sentence has ``--max-new-tokens`` tokens in every row (checked).
Both libraries use ``--threads`` threads (the script re-executes itself to pin BLAS, as bench_generation.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
from bench_generation import best_of  # importing it pins the BLAS environment (it re-executes the script)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import bench_dir  # noqa: E402

from roformer_np import BertTokenizer, RoFormerForCausalLM, use_backend  # noqa: E402
from roformer_np.backend import native_available  # noqa: E402
from roformer_np.pipelines import similar_sentences  # noqa: E402

HERE = Path(__file__).resolve().parent


def reference(python: str, out: Path, args: argparse.Namespace) -> dict:
    """Run sim_reference.py in the PyTorch environment (a warm-up call first, then the timed one)."""
    cmd = [python, str(HERE / "sim_reference.py"), "--out", str(out), "--n", str(args.n), "--k", str(args.k),
           "--max-new-tokens", str(args.max_new_tokens), "--threads", str(args.threads), "--text", args.text]
    subprocess.run(cmd[:4] + ["--n", "2", "--max-new-tokens", "2", "--skip-recipe"], check=True,
                   capture_output=True)  # builds the checkpoint
    runs = [json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            for _ in range(args.repeats)]
    return runs[0] | {k: min((r[k] for r in runs), key=lambda x: x["seconds"]) for k in ("recipe", "batched")}


def ours(out: Path, backend: str, args: argparse.Namespace) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm = RoFormerForCausalLM.from_pretrained(out, backend=backend)
    tok = BertTokenizer.from_pretrained(out)
    generate, counts = lm.generate, []

    def counting(*a, **kw):  # the tokens generated before [SEP], as the reference counts them
        seq = generate(*a, **kw)
        new = seq[:, len(tok(args.text)["input_ids"]):]
        counts.append(int(np.cumprod(new != tok.sep_token_id, axis=1).sum()))
        return seq

    lm.generate = counting
    with use_backend(backend, num_threads=args.threads):
        generate([tok(args.text)["input_ids"]], max_new_tokens=2)  # warm-up: page the weights in
        seconds = best_of(lambda: similar_sentences(lm, tok, args.text, n=args.n, k=args.k,
                                                    max_new_tokens=args.max_new_tokens, seed=0), args.repeats)
    return {"seconds": seconds, "sentences": args.n, "tokens": counts[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", required=True, help="python of the golden/requirements-junnyu.txt env")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--text", default="广州和深圳哪个好？")
    args = parser.parse_args()
    out = bench_dir() / "sim_base"
    ref = reference(args.torch_python, out, args)
    rows = [("PyTorch, JunnyU's recipe (generate() per sentence, no cache)", ref["recipe"]),
            ("PyTorch, batched by hand (one cache)", ref["batched"])]
    for backend in (["native"] if native_available() else []) + ["numpy"]:
        rows.append((f"roformer_np similar_sentences ({backend})", ours(out, backend, args)))
    print(f"gen_synonyms, n={args.n}, {args.max_new_tokens} new tokens per sentence, RoFormer-Sim-base "
          f"(random weights), {args.threads} threads, torch {ref['torch']}")
    print("| implementation | ms / sentence | generated tokens |")
    print("| --- | ---: | ---: |")
    for name, r in rows:
        print(f"| {name} | {1e3 * r['seconds'] / r['sentences']:.0f} | {r['tokens']} |")


if __name__ == "__main__":
    main()
