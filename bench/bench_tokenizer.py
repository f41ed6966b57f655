"""Tokens per second of roformer_np's RoFormerTokenizer and RoFormerTokenizerFast against Hugging Face's slow
and fast tokenizers.

    python bench/bench_tokenizer.py [--text FILE] [--mb 1.0] [--vocab base|char] [--repeat 1]

The text is FILE (one document per line) or, by default, golden/corpus/tokenizer_corpus.jsonl repeated
until it reaches ``--mb`` megabytes of UTF-8. When the corpus repeats, roformer_np's per-word cache is
emptied at each repetition so repetition cannot flatter it. Two workloads are timed on the same lines:
``encode`` (one text per call, no special tokens) and ``batch`` (``tokenizer(lines[i:i+32])``, the
default outputs). Hugging Face columns appear when transformers is importable.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from roformer_np.tokenizer import RoFormerTokenizer  # noqa: E402
from roformer_np.tokenizer_fast import RoFormerTokenizerFast  # noqa: E402

VOCABS = {
    "base": REPO / "tests/data/real/roformer_chinese_base/vocab.txt",
    "char": REPO / "tests/data/real/roformer_chinese_char/vocab.txt",
}
BATCH = 32


def load_lines(path: str | None, megabytes: float) -> tuple[list[list[str]], int]:
    """Rounds of lines (each round is one pass over the source) totalling at least ``megabytes``."""
    if path:
        lines = [line for line in Path(path).read_text(encoding="utf-8").split("\n") if line.strip()]
    else:
        corpus = REPO / "golden/corpus/tokenizer_corpus.jsonl"
        lines = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").split("\n") if line]
    target = int(megabytes * 1e6)
    rounds: list[list[str]] = []
    size = 0
    while size < target:
        chunk = []
        for line in lines:
            chunk.append(line)
            size += len(line.encode("utf-8"))
            if size >= target:
                break
        rounds.append(chunk)
    return rounds, size


def run(name: str, tokenizer, rounds: list[list[str]], workload: str, clear_cache) -> tuple[float, int]:
    tokens = 0
    start = time.perf_counter()
    for chunk in rounds:
        clear_cache()
        if workload == "encode":
            for line in chunk:
                tokens += len(tokenizer.encode(line, add_special_tokens=False))
        else:
            for i in range(0, len(chunk), BATCH):
                out = tokenizer(chunk[i : i + BATCH])
                tokens += sum(len(ids) for ids in out["input_ids"])
    return time.perf_counter() - start, tokens


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--text", help="a UTF-8 file, one document per line (default: the golden corpus)")
    parser.add_argument("--mb", type=float, default=1.0, help="megabytes of text to tokenize (default 1)")
    parser.add_argument("--vocab", choices=sorted(VOCABS), default="base")
    parser.add_argument("--repeat", type=int, default=1, help="time each run this many times, keep the best")
    args = parser.parse_args()

    rounds, size = load_lines(args.text, args.mb)
    vocab = str(VOCABS[args.vocab])
    ours, ours_fast = RoFormerTokenizer(vocab), RoFormerTokenizerFast(vocab)
    tokenizers = [("np slow", ours, ours.clear_cache), ("np fast", ours_fast, ours_fast.clear_cache)]
    try:
        from transformers import RoFormerTokenizer as HFSlow
        from transformers import RoFormerTokenizerFast as HFFast
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        tokenizers += [("HF slow", HFSlow(vocab), lambda: None), ("HF fast", HFFast(vocab), lambda: None)]
    except ImportError:
        print("transformers is not importable: only roformer_np is timed")

    lines = sum(len(r) for r in rounds)
    print(
        f"text: {size / 1e6:.2f} MB in {lines} lines ({len(rounds)} pass(es) over the source), "
        f"vocab {args.vocab}"
    )
    results = {}
    for workload in ("encode", "batch"):
        for name, tokenizer, clear in tokenizers:
            best = None
            for _ in range(args.repeat):
                seconds, count = run(name, tokenizer, rounds, workload, clear)
                best = seconds if best is None else min(best, seconds)
            results[(name, workload)] = (count, best)
    header = (
        f"{'tokenizer':<12} {'workload':<8} {'tokens':>10} {'seconds':>9} {'tokens/s':>12} {'vs HF slow':>11}"
    )
    print(header)
    print("-" * len(header))
    for workload in ("encode", "batch"):
        slow = results.get(("HF slow", workload))
        for name, _, _ in tokenizers:
            count, seconds = results[(name, workload)]
            ratio = f"{(count / seconds) / (slow[0] / slow[1]):.2f}x" if slow else "-"
            print(
                f"{name:<12} {workload:<8} {count:>10} {seconds:>9.2f} {count / seconds:>12,.0f} {ratio:>11}"
            )


if __name__ == "__main__":
    main()
