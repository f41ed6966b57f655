"""Batch inference on Ray Data (and Dask): rows/s with 1 and 2 actors, and each actor's memory against the weights.

    pip install ".[ray,dask]"
    python bench/bench_distributed.py [--model f32|demo|base] [--rows 960] [--dask] [--gemm auto|blas]

Texts: the 60 hand-written reviews of tools/data/clear_reviews.tsv, cycled to ``--rows``; task
text-classification. Models: ``f32`` the demo sentiment model re-saved as float32 (9 MB; the shipped demo
stores float16, which is widened to float32 on load, so nothing of it stays mapped), ``demo`` that float16
file as shipped, ``base`` a seeded random base-size classifier (12 layers, hidden 768, the demo's vocabulary:
380 MB of float32). Everything runs on this machine: a local Ray instance (``init_loopback_ray``) and a Dask
``LocalCluster``, both listening on 127.0.0.1 only, which the script checks during the run.

Rows/s: ``end to end`` is the whole ``map_batches`` run including the actors' start and model load;
``steady`` counts the rows after each actor's first batch over the time from the earliest first batch to the
last one. The single-process rows are the same pipeline in this process with 1 and 2 threads. Memory per
actor, from /proc, with 1 and then 2 actors alive at once (plain Ray actors holding the same
PipelinePredictor, so that all of them are alive when measured; Ray Data retires idle map_batches actors):
RSS and PSS, the private (anonymous) memory before the model is loaded, after it and after a batch, and the
checkpoint file's mapping and the panel files' (the packed weights, when shared through the panel cache):
resident, proportional (PSS: a page shared by n processes counts 1/n) and shared with another process; once
with each actor holding its packed weights privately, once with them mapped from one panel cache; and one
process's time per batch with private and with mapped panels. Bounded by ``--time-limit`` seconds in all.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REVIEWS = REPO / "tools" / "data" / "clear_reviews.tsv"
MB = 1e6


def load_texts(n: int) -> list[str]:
    rows = [line.split("\t") for line in REVIEWS.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    texts = [r[2] for r in rows if len(r) == 3]
    return [texts[i % len(texts)] for i in range(n)]


def make_checkpoint(kind: str, root: Path) -> Path:
    """A checkpoint directory of ``kind`` (see the module docstring) with the demo tokenizer files."""
    from roformer_np import RoFormerConfig, RoFormerForSequenceClassification
    from roformer_np.pipelines import demo_model_dir
    from roformer_np.weights import base_model_shapes, sinusoidal_key

    demo = demo_model_dir("text-classification")
    if kind == "demo":
        return demo
    out = root / kind
    if kind == "f32":
        model = RoFormerForSequenceClassification.from_pretrained(demo, dtype=np.float32)
    else:
        config = RoFormerConfig.from_pretrained(demo)
        for key, value in dict(hidden_size=768, embedding_size=768, num_hidden_layers=12, num_attention_heads=12,
                               intermediate_size=3072).items():
            setattr(config, key, value)
        rng = np.random.default_rng(0)
        weights = {}
        for key, shape in base_model_shapes(config).items():
            if key != sinusoidal_key():
                weights[key] = (rng.normal(0.0, 0.02, shape) + key.endswith("LayerNorm.weight")).astype(np.float32)
        model = RoFormerForSequenceClassification(config, weights, init_seed=0)
    model.save_pretrained(out)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        source = demo / name if (demo / name).is_file() else demo.parent / name
        shutil.copy(source, out / name)
    return out


def timed_predictor_class():
    """PipelinePredictor that stamps each batch it returns with its process id, thread count and the time."""
    from roformer_np.distributed import PipelinePredictor

    class TimedPredictor(PipelinePredictor):
        def __call__(self, batch):
            from roformer_np import threads

            out = super().__call__(batch)
            out["pid"] = os.getpid()
            out["threads"] = threads.get_num_threads()
            out["t_done"] = time.time()
            return out

    return TimedPredictor


class MemoryProbe:
    """One Ray actor's view of its memory: before the model loads, after, and after running a batch."""

    def __init__(self, **predictor_kwargs):
        from roformer_np.distributed import PipelinePredictor
        from roformer_np.distributed.procinfo import process_memory

        self.before = process_memory()
        self.predictor = PipelinePredictor(**predictor_kwargs)
        self.loaded = process_memory()

    def run(self, batch):
        self.predictor(batch)
        return os.getpid()

    def memory(self) -> dict:
        from roformer_np.distributed.procinfo import mapped_files, process_memory

        files, panels = mapped_files(), mapped_files(suffix=".npy")
        now = process_memory()
        return {"pid": os.getpid(), "rss": now["rss"], "pss": now["pss"], "anon_before": self.before["rss_anon"],
                "anon_loaded": self.loaded["rss_anon"], "anon_now": now["rss_anon"],
                **{f"file_{k}": sum(f[k] for f in files.values()) for k in ("rss", "pss", "shared")},
                **{f"panels_{k}": sum(f[k] for f in panels.values()) for k in ("rss", "pss", "shared")}}


def probe_memory(ray, model: Path, texts: list[str], actors: int, batch_size: int, cache: Path | None
                 ) -> list[dict]:
    """Memory of ``actors`` live actors that each loaded the model and ran one batch (all alive when measured),
    sharing the packed weights through the panel cache ``cache`` (None: each holds them privately)."""
    probe = ray.remote(num_cpus=1)(MemoryProbe)
    handles = [probe.remote(task="text-classification", model=str(model), batch_size=batch_size,
                            panel_cache=None if cache is None else str(cache)) for _ in range(actors)]
    batch = {"text": np.array(texts[:64], dtype=object)}
    ray.get([h.run.remote(batch) for h in handles], timeout=300)
    reports = ray.get([h.memory.remote() for h in handles], timeout=60)
    for h in handles:
        ray.kill(h)
    return reports


def single_process(model: Path, texts: list[str], batch_size: int, threads: int) -> float:
    from roformer_np import pipeline

    pipe = pipeline("text-classification", model=str(model), batch_size=batch_size, num_threads=threads)
    pipe(texts[:batch_size])  # warm-up
    start = time.perf_counter()
    pipe(texts)
    return len(texts) / (time.perf_counter() - start)


def mapped_cost(model: Path, texts: list[str], batch_size: int, cache: Path, repeats: int = 9) -> tuple:
    """Median seconds of one batch through a pipeline holding private panels and one mapping them from the
    panel cache (interleaved, 2 threads), and whether the two gave the same scores."""
    from roformer_np import panel_cache, pipeline

    private = pipeline("text-classification", model=str(model), batch_size=batch_size)
    with panel_cache.sharing(cache):
        mapped = pipeline("text-classification", model=str(model), batch_size=batch_size)
    batch = texts[: 4 * batch_size]
    same = [r["score"] for r in private(batch)] == [r["score"] for r in mapped(batch)]
    times: dict[str, list[float]] = {"private": [], "mapped": []}
    for i in range(repeats):
        for name, pipe in (("private", private), ("mapped", mapped))[:: 1 if i % 2 else -1]:
            start = time.perf_counter()
            pipe(batch)
            times[name].append(time.perf_counter() - start)
    return float(np.median(times["private"])), float(np.median(times["mapped"])), same


def check_loopback(label: str) -> str:
    from roformer_np.distributed.procinfo import descendants, non_loopback, sockets

    found = sockets(descendants(os.getpid()))
    bad = non_loopback(found)
    if bad:
        raise SystemExit(f"{label}: sockets off loopback: {bad}")
    listening = [s for s in found if s.state == "LISTEN"]
    names = ", ".join(sorted({s.command for s in listening}))
    return f"{label}: {len(listening)} listening sockets, all on 127.0.0.1 ({names}); {len(found)} sockets in all"


def run_ray(model: Path, texts: list[str], actors: list[int], batch_rows: int, batch_size: int, cache: Path
            ) -> tuple[list, list]:
    from roformer_np.distributed import init_loopback_ray

    init_loopback_ray(num_cpus=2)
    import ray

    rates, memory, notes = [], [], []
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)]).materialize()
        cls = timed_predictor_class()
        for n in actors:
            scored = ds.map_batches(cls, fn_constructor_kwargs={"task": "text-classification", "model": str(model),
                                                                "batch_size": batch_size, "panel_cache": str(cache)},
                                    compute=ray.data.ActorPoolStrategy(size=n), batch_size=batch_rows,
                                    batch_format="pandas", num_cpus=1)
            start = time.time()
            frames, checked = [], False
            for frame in scored.iter_batches(batch_format="pandas", batch_size=None):
                frames.append(frame)
                if not checked:  # the actors are alive now
                    notes.append(check_loopback(f"ray, {n} actor(s)"))
                    checked = True
            total = time.time() - start
            import pandas as pd

            df = pd.concat(frames)
            assert df["id"].tolist() == list(range(len(texts))), "row order changed"
            firsts = df.groupby("pid")["t_done"].min()
            first_rows = df[df["t_done"].isin(set(firsts))].shape[0]
            steady = (len(df) - first_rows) / max(df["t_done"].max() - firsts.min(), 1e-9)
            threads = sorted(set(df["threads"]))
            rates.append((f"Ray Data, {n} actor(s) ({threads} kernel threads each)", len(texts) / total, steady))
        for label, where in (("private panels", None), ("panel cache", cache)):
            for n in actors:
                memory += [(label, n, r) for r in probe_memory(ray, model, texts, n, batch_size, where)]
    finally:
        ray.shutdown()
    return rates, memory, notes


def run_dask(model: Path, texts: list[str], workers: list[int], batch_rows: int, batch_size: int, cache: Path
             ) -> tuple[list, list]:
    import dask.dataframe as dd
    import pandas as pd
    from distributed import Client

    from roformer_np.distributed import PipelineWorkerPlugin, loopback_dask_cluster, predict_dataframe

    rates, notes = [], []
    frame = pd.DataFrame({"id": range(len(texts)), "text": texts})
    for n in workers:
        with loopback_dask_cluster(n_workers=n, threads_per_worker=1) as cluster, Client(cluster) as client:
            plugin = PipelineWorkerPlugin("text-classification", str(model), batch_size=batch_size,
                                          panel_cache=str(cache))
            client.register_plugin(plugin)  # the model loads here, once per worker
            ddf = dd.from_pandas(frame, npartitions=max(1, len(texts) // batch_rows)).persist()
            client.wait_for_workers(n)
            warm = dd.from_pandas(frame.iloc[: n * batch_rows], npartitions=n)
            predict_dataframe(warm, plugin).compute()  # first calls: imports, thread pools, caches
            start = time.time()
            result = predict_dataframe(ddf, plugin).persist()
            notes.append(check_loopback(f"dask, {n} worker(s)"))
            out = result.compute()
            total = time.time() - start
            assert out["id"].tolist() == list(range(len(texts))), "row order changed"
            rates.append((f"Dask map_partitions, {n} worker(s)", len(texts) / total, None))
    return rates, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("f32", "demo", "base"), default="f32")
    parser.add_argument("--rows", type=int, default=960)
    parser.add_argument("--batch-rows", type=int, default=64, help="rows per map_batches batch / Dask partition")
    parser.add_argument("--batch-size", type=int, default=8, help="rows per forward pass in the pipeline")
    parser.add_argument("--dask", action="store_true", help="also time Dask with 1 and 2 workers")
    parser.add_argument("--gemm", choices=("auto", "avx512", "avx2", "blas"), default=None,
                        help="ROFORMER_NP_GEMM for this process and the workers")
    parser.add_argument("--time-limit", type=int, default=900)
    args = parser.parse_args()
    signal.alarm(args.time_limit)  # the whole run is bounded
    if args.gemm:
        os.environ["ROFORMER_NP_GEMM"] = args.gemm
    texts = load_texts(args.rows)
    with tempfile.TemporaryDirectory(prefix="bench_distributed_") as tmp:
        model = make_checkpoint(args.model, Path(tmp))
        weight_bytes = sum(p.stat().st_size for p in model.glob("*.safetensors"))
        from roformer_np import show_config  # noqa: F401  (the kernels in use are printed below)
        from roformer_np.backend import config_info

        info = config_info()
        print(f"model {args.model}: {model} ({weight_bytes / MB:.1f} MB of safetensors); {len(texts)} rows; "
              f"{args.batch_rows} rows per batch, pipeline batch_size {args.batch_size}; backend "
              f"{info['resolved_backend']}, GEMM {os.environ.get('ROFORMER_NP_GEMM', 'auto')}; {os.cpu_count()} cores")
        rates = [(f"single process, {t} thread(s)", single_process(model, texts, args.batch_size, t), None)
                 for t in (1, 2)]
        cache = Path(tmp) / "panels"  # the packed weights' shared files (not ~/.cache)
        cost = mapped_cost(model, texts, args.batch_size, Path(tmp) / "panels-cost")
        more, memory, notes = run_ray(model, texts, [1, 2], args.batch_rows, args.batch_size, cache)
        rates += more
        if args.dask:
            more, dask_notes = run_dask(model, texts, [1, 2], args.batch_rows, args.batch_size, cache)
            rates += more
            notes += dask_notes
    print()
    print("| run | rows/s end to end | rows/s steady |")
    print("| --- | ---: | ---: |")
    for label, total, steady in rates:
        print(f"| {label} | {total:.1f} | {'' if steady is None else f'{steady:.1f}'} |")
    print()
    print(f"weights: {weight_bytes / MB:.1f} MB (model.safetensors)")
    print("| packed weights | live actors | pid | RSS | PSS | private before load | after load | after a batch | "
          "checkpoint mapped / PSS / shared | panels mapped / PSS / shared |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, n, m in memory:
        print(f"| {label} | {n} | {m['pid']} | {m['rss'] / MB:.1f} | {m['pss'] / MB:.1f} | "
              f"{m['anon_before'] / MB:.1f} | {m['anon_loaded'] / MB:.1f} | {m['anon_now'] / MB:.1f} | "
              f"{m['file_rss'] / MB:.1f} / {m['file_pss'] / MB:.1f} / {m['file_shared'] / MB:.1f} | "
              f"{m['panels_rss'] / MB:.1f} / {m['panels_pss'] / MB:.1f} / {m['panels_shared'] / MB:.1f} |")
    print("(MB = 10^6 bytes; private = RssAnon: memory no other process can share)")
    print(f"one process, {4 * args.batch_size} rows: private panels {cost[0] * 1e3:.1f} ms, mapped from the panel "
          f"cache {cost[1] * 1e3:.1f} ms ({cost[1] / cost[0]:.2f}x), same scores: {cost[2]}")
    print()
    for note in notes:
        print(note)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
