"""The ``roformer-np`` command line (also ``python -m roformer_np``)."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Sequence

import numpy as np


def _cmd_info(args: argparse.Namespace) -> int:
    from . import __version__, backend
    from .config import RoFormerConfig
    from .model import RoFormerModel
    from .weights import base_model_shapes, sinusoidal_key

    print(f"roformer_np {__version__} (python {platform.python_version()}, numpy {np.__version__})")
    kernels = backend.get_kernels(args.backend)
    print(f"backend: {kernels.name} (native extension built: {backend.native_available()})")
    # A self-check on a small seeded model: proves the install computes, without any download.
    cfg = RoFormerConfig(vocab_size=1000, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=256, max_position_embeddings=128)
    rng = np.random.default_rng(0)
    weights = {k: (rng.normal(0, 0.05, s) + (k.endswith("LayerNorm.weight"))).astype(np.float32)
               for k, s in base_model_shapes(cfg).items() if k != sinusoidal_key()}
    model = RoFormerModel(cfg, weights, backend=args.backend)
    ids = rng.integers(0, cfg.vocab_size, (2, 64))
    start = time.perf_counter()
    out = model(input_ids=ids).last_hidden_state
    elapsed = (time.perf_counter() - start) * 1e3
    ok = bool(np.all(np.isfinite(out)))
    print(f"self-check: forward of a 2-layer model on (2, 64) tokens -> {out.shape} in {elapsed:.1f} ms: "
          f"{'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roformer-np", description="RoFormer models in NumPy.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="version, backend, and a quick self-check")
    info.add_argument("--backend", choices=["auto", "numpy", "native"], default=None)
    info.set_defaults(func=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"roformer-np: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
