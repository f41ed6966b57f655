"""Milliseconds per generated token for a base-size RoFormerForCausalLM, roformer_np beside Hugging Face.

    python bench/bench_generation.py [--contexts 32 128 512] [--new-tokens 16] [--repeats 2] [--no-torch]

The model is RoFormer-base shaped (hidden 768, 12 layers, 12 heads, intermediate 3072, vocab 50000,
is_decoder=True) with seeded random weights, saved to a temporary safetensors checkpoint that both
libraries load. For each context length the prompt is prefilled once and then ``--new-tokens`` tokens are
decoded greedily, a streamer timestamping each token: "ms/token" is the median time between successive
tokens (the prefill excluded), "prefill" the time to the first token; best of ``--repeats`` runs.
"full forward" is one uncached forward over the whole context, the cost every step would have without
the cache. Both libraries use 2 threads; OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are
removed from this process's environment (the script re-executes itself to do so before NumPy loads).
"""

from __future__ import annotations

import os
import sys

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
DROP_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _reexec_with_clean_env() -> None:
    """BLAS reads its environment when it loads: fix it first, in this process only."""
    if any(v in os.environ for v in DROP_VARS) or any(os.environ.get(v) != "2" for v in THREAD_VARS):
        env = {k: v for k, v in os.environ.items() if k not in DROP_VARS}
        env.update({v: "2" for v in THREAD_VARS})
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


_reexec_with_clean_env()

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roformer_np import RoFormerConfig, RoFormerForCausalLM  # noqa: E402
from roformer_np.backend import current_backend, native_available  # noqa: E402
from roformer_np.weights import add_prefix, base_model_shapes, head_shapes, sinusoidal_key, tied_aliases  # noqa: E402

BASE = dict(vocab_size=50000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, max_position_embeddings=1536, is_decoder=True)


def build_checkpoint(directory: Path, seed: int) -> RoFormerConfig:
    """Random base-size weights (normal(0, 0.02), LayerNorm 1/0), saved as a Hugging Face checkpoint."""
    config = RoFormerConfig(**BASE)
    rng = np.random.default_rng(seed)
    shapes = {**add_prefix(base_model_shapes(config)), **head_shapes("causal_lm", config)}
    skip = set(tied_aliases("causal_lm", config)) | {"roformer." + sinusoidal_key()}
    weights = {}
    for key, shape in shapes.items():
        if key in skip:
            continue
        if key.endswith("LayerNorm.weight"):
            weights[key] = np.ones(shape, np.float32)
        elif key.endswith("bias"):
            weights[key] = np.zeros(shape, np.float32)
        else:
            weights[key] = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
    RoFormerForCausalLM(config, weights).save_pretrained(directory)
    return config


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


class StepClock:
    """A streamer (callable, or Hugging Face's put/end) that timestamps every generated token."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.skip_prompt = True

    def put(self, value) -> None:
        if self.skip_prompt:  # Hugging Face first puts the prompt
            self.skip_prompt = False
            return
        self.stamps.append(time.perf_counter())

    def __call__(self, tokens) -> None:
        self.stamps.append(time.perf_counter())

    def end(self) -> None:
        pass


def step_times(generate, prompt: np.ndarray, new_tokens: int, repeats: int) -> tuple[float, float]:
    """(prefill ms = time to the first token, median ms between later tokens), best of ``repeats``."""
    prefill, per_token = [], []
    for _ in range(repeats):
        clock = StepClock()
        start = time.perf_counter()
        generate(prompt, new_tokens, clock)
        stamps = np.array([start, *clock.stamps])
        prefill.append(stamps[1] - stamps[0])
        per_token.append(np.median(np.diff(stamps[1:])))
    return min(prefill) * 1e3, min(per_token) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-torch", action="store_true", help="skip Hugging Face even when installed")
    args = parser.parse_args()

    torch = hf_model = None
    if not args.no_torch:
        try:
            import torch
            from transformers import RoFormerForCausalLM as HFCausalLM
            from transformers.utils import logging as hf_logging

            torch.set_num_threads(2)
            hf_logging.set_verbosity_error()
        except ImportError:
            torch = None

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build_checkpoint(Path(tmp), args.seed)
        model = RoFormerForCausalLM.from_pretrained(tmp)
        if torch is not None:
            hf_model = HFCausalLM.from_pretrained(tmp).eval()
        print(f"checkpoint built and loaded in {time.perf_counter() - start:.1f}s")

    backend = current_backend()
    print(f"roformer_np backend: {backend} (native kernels available: {native_available()}); threads: 2; "
          f"OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset")
    rng = np.random.default_rng(args.seed)

    def ours(prompt: np.ndarray, n: int, clock: StepClock) -> None:
        model.generate(prompt, max_new_tokens=n, streamer=clock)

    def theirs(prompt: np.ndarray, n: int, clock: StepClock) -> None:
        with torch.no_grad():
            hf_model.generate(torch.from_numpy(prompt), attention_mask=torch.ones(prompt.shape, dtype=torch.long),
                              max_new_tokens=n, do_sample=False, pad_token_id=0, streamer=clock)

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for context in args.contexts:
            prompt = rng.integers(1, BASE["vocab_size"], (1, context))
            pre, tok = step_times(ours, prompt, args.new_tokens, args.repeats)
            full = best_of(lambda p=prompt: model(p, use_cache=False), args.repeats) * 1e3
            row = [context, tok, pre, full]
            if hf_model is not None:
                hf_pre, hf_tok = step_times(theirs, prompt, args.new_tokens, args.repeats)
                row += [hf_tok, hf_pre]
            rows.append(row)
            print("  done context", context, flush=True)

    head = ["context", "np ms/token", "np prefill ms", "np full fwd ms"]
    if hf_model is not None:
        head += ["HF ms/token", "HF prefill ms"]
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" for _ in head) + "|")
    for row in rows:
        print("| " + " | ".join([str(row[0])] + [f"{x:.1f}" for x in row[1:]]) + " |")
    print(f"\nms/token: median step time over {args.new_tokens} greedy tokens after the prefill, best of "
          f"{args.repeats} runs; batch 1; float32; load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
