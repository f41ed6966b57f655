"""RoFormer base forward: roformer_np native vs roformer_np numpy vs PyTorch eager vs ONNX Runtime.

One command (from the repository root, after building the extension):

    python bench/bench_forward.py            # full table (a few minutes on 2 cores)
    python bench/bench_forward.py --quick    # fewer repeats
    python bench/bench_forward.py --profile  # where the native forward spends its time
    python bench/bench_forward.py --busy     # the same with one busy-looping process beside the run

Base-size RoFormer (768 hidden, 12 layers, 12 heads, 3072 intermediate, vocab 50000, random weights from a
seed), float32, 2 threads for every contender. Rows are timed round-robin across contenders (interleaved),
repeated; the table shows median [min, max] ms. Decoding is timed one step per call (after an idle pause)
and, in the "in a row" rows, as the mean of 8 steps run back to back, as generation runs them.
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the environment for every contender (this script
re-executes itself with a cleaned environment) and the BLAS kernel in use is printed. ONNX Runtime runs with
intra-op spinning disabled so it does not steal the cores from whatever is timed next. Peak RSS and load time
are measured in a fresh subprocess per contender. Development-only requirements: bench/requirements.txt.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import common  # noqa: E402
import numpy as np  # noqa: E402

THREADS = 2
CLEAN_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
CONTENDERS = ("native", "numpy", "torch", "ort")
ENCODER_ROWS = [(1, 128), (1, 512), (8, 128)]
DECODE_CONTEXTS = [128, 512]
DECODE_RUN = 8  # steps per timed call in the back-to-back decode rows (one step each in the others)


# ---------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------
def reexec_clean() -> None:
    """Re-run this script without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, with OMP_NUM_THREADS=2.

    OPENBLAS_THREAD_TIMEOUT=4 makes idle OpenBLAS workers (NumPy's, in the numpy contender) go to sleep
    almost at once instead of spinning for ~2^28 cycles into the next contender's timing: the same
    courtesy as ONNX Runtime's allow_spinning=0.
    """
    want = {"OMP_NUM_THREADS": str(THREADS), "OPENBLAS_THREAD_TIMEOUT": "4"}
    if any(k in os.environ for k in CLEAN_ENV) or any(os.environ.get(k) != v for k, v in want.items()):
        env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
        env.update(want)
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def fma_peak(threads: int) -> float:
    """GFLOP/s of a register-resident FMA loop (bench/fma_peak.c, compiled here with -march=native).

    Run in a subprocess, so that no contender shares an OpenMP runtime (or its threads) with it.
    """
    cmd = [sys.executable, __file__, "--fma-child", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def _fma_peak_here(threads: int) -> float:
    out = Path(tempfile.gettempdir()) / "roformer_np_fma_peak.so"
    subprocess.run(
        [
            "cc",
            "-O2",
            "-march=native",
            "-fopenmp",
            "-shared",
            "-fPIC",
            str(HERE / "fma_peak.c"),
            "-o",
            str(out),
        ],
        check=True,
    )
    lib = ctypes.CDLL(str(out))
    lib.fma_peak.restype = ctypes.c_double
    lib.fma_peak.argtypes = [ctypes.c_int, ctypes.c_long]
    return max(lib.fma_peak(threads, 30_000_000) for _ in range(5))


def blas_report() -> list[str]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["(threadpoolctl not installed)"]
    return [
        f"{i['internal_api']} {i.get('version')} arch={i.get('architecture')} threads={i['num_threads']} "
        f"{Path(i['filepath']).name}"
        for i in threadpool_info()
    ]


# ---------------------------------------------------------------------------------------------
# Contenders: each returns callables for the rows it supports
# ---------------------------------------------------------------------------------------------
def make_roformer_np(backend: str, ckpt: Path):
    from roformer_np import RoFormerModel, set_num_threads
    from roformer_np.backend import get_kernels
    from roformer_np.cache import KVCache
    from roformer_np.config import RoFormerConfig
    from roformer_np.weights import load_weights

    if backend == "native":
        set_num_threads(THREADS)
    else:
        from threadpoolctl import threadpool_limits

        threadpool_limits(THREADS, user_api="blas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = RoFormerModel.from_pretrained(ckpt, backend=backend)
        weights = load_weights(ckpt)
        dec_config = RoFormerConfig.from_pretrained(ckpt)
        dec_config.is_decoder = True
        dec = RoFormerModel(dec_config, weights, backend=backend)
    head = common.MLMHead(weights, enc.config.layer_norm_eps, enc.config.hidden_act)
    kernels = get_kernels(backend)
    word = enc.params.word_embeddings

    def encoder(ids, mask):
        return enc(input_ids=ids, attention_mask=mask).last_hidden_state

    def mlm(ids, mask):
        return head(encoder(ids, mask), word, kernels)

    def prefill(ids):
        cache = KVCache(dec_config.num_hidden_layers, capacity=ids.shape[1] + 8)
        dec(input_ids=ids, past_key_values=cache)
        return cache

    def step(state, tok, ctx):
        state.crop(ctx)
        h = dec(input_ids=tok, past_key_values=state).last_hidden_state
        return head(h[:, -1:], word, kernels)

    return {"encoder": encoder, "mlm": mlm, "prefill": prefill, "step": step}


def make_torch(ckpt: Path):
    import torch
    from transformers import RoFormerConfig, RoFormerForCausalLM, RoFormerForMaskedLM, RoFormerModel

    torch.set_num_threads(THREADS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = RoFormerModel.from_pretrained(ckpt).eval()
        mlm_model = RoFormerForMaskedLM.from_pretrained(ckpt).eval()
        config = RoFormerConfig.from_pretrained(ckpt)
        config.is_decoder = True
        lm = RoFormerForCausalLM.from_pretrained(ckpt, config=config).eval()

    def encoder(ids, mask):
        with torch.inference_mode():
            return enc(
                input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
            ).last_hidden_state.numpy()

    def mlm(ids, mask):
        with torch.inference_mode():
            return mlm_model(
                input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
            ).logits.numpy()

    def prefill(ids):
        with torch.inference_mode():
            return lm(input_ids=torch.from_numpy(ids), use_cache=True).past_key_values

    def step(state, tok, ctx):
        with torch.inference_mode():
            state.crop(ctx)
            return lm(input_ids=torch.from_numpy(tok), past_key_values=state, use_cache=True).logits.numpy()

    return {"encoder": encoder, "mlm": mlm, "prefill": prefill, "step": step}


def make_ort(ckpt: Path):
    import onnxruntime as ort
    from onnx_export import export_all

    paths = export_all(ckpt, common.bench_dir() / "onnx")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = {
        k: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for k, p in paths.items()
    }
    layers = common.BASE["num_hidden_layers"]

    def feeds(ids, mask):
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    def encoder(ids, mask):
        return sess["encoder"].run(None, feeds(ids, mask))[0]

    def mlm(ids, mask):
        return sess["mlm"].run(None, feeds(ids, mask))[0]

    def prefill(ids):
        b, t = ids.shape
        h, d = (
            common.BASE["num_attention_heads"],
            common.BASE["hidden_size"] // common.BASE["num_attention_heads"],
        )
        past = {f"past.{i}.{kv}": np.zeros((b, h, 0, d), np.float32) for i in range(layers) for kv in "kv"}
        out = sess["decoder_step"].run(
            None, {"input_ids": ids, "attention_mask": np.ones((b, t), np.int64), **past}
        )
        return {f"past.{i}.{kv}": out[1 + 2 * i + j] for i in range(layers) for j, kv in enumerate("kv")}

    def step(state, tok, ctx):
        past = {k: v[:, :, :ctx] for k, v in state.items()}
        b = tok.shape[0]
        out = sess["decoder_step"].run(
            None, {"input_ids": tok, "attention_mask": np.ones((b, ctx + 1), np.int64), **past}
        )
        return out[0]

    return {"encoder": encoder, "mlm": mlm, "prefill": prefill, "step": step}


def make(name: str, ckpt: Path):
    if name in ("native", "numpy"):
        return make_roformer_np(name, ckpt)
    if name == "torch":
        return make_torch(ckpt)
    return make_ort(ckpt)


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
def inputs(batch: int, seq: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, common.BASE["vocab_size"], (batch, seq)).astype(np.int64), np.ones(
        (batch, seq), np.int64
    )


def worker(name: str, factory=None) -> None:
    """One contender in its own process (its own OpenMP / BLAS runtimes and their settings), driven by
    JSON commands on stdin; answers one JSON line per command on stdout. ``factory(name, ckpt)`` builds the
    contender's callables (default: :func:`make`; bench_lowp.py passes its own)."""
    model = (factory or make)(name, common.checkpoint())
    state = {}
    tok = np.array([[7]], dtype=np.int64)
    config = None
    if name == "native":
        from roformer_np.backend import config_info

        config = config_info()
    print(json.dumps({"ready": True, "blas": blas_report(), "config": config}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "quit":
            break
        if op == "check":
            ids, mask = inputs(1, 128, seed=3)
            np.save(cmd["path"], model["encoder"](ids, mask))
            print(json.dumps({"ok": True}), flush=True)
            continue
        if op == "prefill":
            ids, _ = inputs(1, cmd["ctx"], seed=1)
            state[cmd["ctx"]] = model["prefill"](ids)
            print(json.dumps({"ok": True}), flush=True)
            continue
        if op == "step":
            steps = cmd.get("steps", 1)  # back to back, each at the same context (the step crops the cache)
            t0 = time.perf_counter()
            for _ in range(steps):
                model["step"](state[cmd["ctx"]], tok, cmd["ctx"])
            print(json.dumps({"seconds": (time.perf_counter() - t0) / steps}), flush=True)
            continue
        else:
            ids, mask = inputs(cmd["b"], cmd["s"])
            t0 = time.perf_counter()
            model[op](ids, mask)
        print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)
    print(json.dumps({"peak_rss_mb": _status_mb("VmHWM")}), flush=True)


class Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.info = self._read()

    def _read(self) -> dict:
        while True:  # skip anything a library printed on stdout
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"contender {self.name} died")
            if line.startswith("{"):
                return json.loads(line)

    def __call__(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> dict:
        out = self(op="quit")
        self.proc.wait()
        return out


SETTLE = 0.012  # s of idle time after every timed call: longer than any contender's spin-then-sleep tail


def run_timings(workers: dict, repeats: int, decode_steps: int) -> dict:
    """{row: {contender: [seconds, ...]}}, contenders interleaved (round-robin) within every repeat.

    After each timed call the machine idles for SETTLE seconds, so the next contender never shares the
    cores with threads still spinning from the previous one (libgomp's default spin, which PyTorch's
    bundled libgomp keeps, measured about 8 ms here; roformer_np's task pool spins 0.2 ms then yields for 2 ms;
    ONNX Runtime is told not to spin). So a single decoding step starts with every contender's threads
    asleep; the "in a row" rows time DECODE_RUN steps back to back, as generation runs them.
    """
    times: dict = {}
    rows = [("encoder", b, s) for b, s in ENCODER_ROWS] + [("mlm", 1, 128)]
    for kind, b, s in rows:
        for w in workers.values():  # warm-up
            w(op=kind, b=b, s=s)
        for _ in range(repeats):
            for name, w in workers.items():
                sec = w(op=kind, b=b, s=s)["seconds"]
                time.sleep(SETTLE)
                times.setdefault(f"{kind} ({b}, {s})", {}).setdefault(name, []).append(sec)
    for ctx in DECODE_CONTEXTS:
        for w in workers.values():
            w(op="prefill", ctx=ctx)
            w(op="step", ctx=ctx)  # warm-up
        for _ in range(decode_steps):
            for name, w in workers.items():
                sec = w(op="step", ctx=ctx)["seconds"]
                time.sleep(SETTLE)
                times.setdefault(f"decode ms/token @ {ctx}", {}).setdefault(name, []).append(sec)
        # as generate() runs: steps back to back, no idle time between them (threads still awake)
        for _ in range(max(1, decode_steps // 2)):
            for name, w in workers.items():
                sec = w(op="step", ctx=ctx, steps=DECODE_RUN)["seconds"]
                time.sleep(SETTLE)
                times.setdefault(f"decode ms/token @ {ctx}, {DECODE_RUN} in a row", {}).setdefault(name, []).append(sec)
    return times


def start_busy() -> subprocess.Popen:
    """One process spinning on a core for the whole timing run (started after loading, killed after)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True:\n    pass"])
    time.sleep(0.5)  # let it settle onto a core
    return proc


def check_agreement(workers: dict) -> dict:
    out_dir = Path(tempfile.mkdtemp(prefix="roformer_np_bench_"))
    outs = {}
    for name, w in workers.items():
        w(op="check", path=str(out_dir / f"{name}.npy"))
        outs[name] = np.load(out_dir / f"{name}.npy")
    shutil.rmtree(out_dir, ignore_errors=True)
    if "torch" not in outs:
        return {}
    return {n: float(np.abs(o - outs["torch"]).max()) for n, o in outs.items() if n != "torch"}


def _status_mb(field: str) -> float:
    """VmRSS / VmHWM of this process in MB (10^6 bytes). Unlike ru_maxrss, VmHWM starts afresh at exec,
    so a child does not inherit its parent's high-water mark."""
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def rss_child(name: str) -> None:
    """Subprocess body: load time, then peak RSS over a (1, 512) and (8, 128) forward.

    ``base_mb`` is the high-water mark after the contender's libraries are imported (interpreter, NumPy,
    SciPy / torch / onnxruntime, the compiled kernels), so ``peak - base`` is weights + activations +
    library buffers.
    """
    ckpt = common.checkpoint()
    if name in ("native", "numpy"):
        from roformer_np import RoFormerModel, set_num_threads
        from roformer_np.backend import get_kernels

        set_num_threads(THREADS)
        get_kernels(name)  # load the extension (and SciPy's BLAS) before the baseline
        base = _status_mb("VmHWM")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = RoFormerModel.from_pretrained(ckpt, backend=name)
        load = time.perf_counter() - t0

        def fwd(ids, mask):
            return model(input_ids=ids, attention_mask=mask)
    elif name == "torch":
        import torch
        from transformers import RoFormerModel

        torch.set_num_threads(THREADS)
        base = _status_mb("VmHWM")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = RoFormerModel.from_pretrained(ckpt).eval()
        load = time.perf_counter() - t0

        def fwd(ids, mask):
            with torch.inference_mode():
                return model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    else:
        import onnxruntime as ort

        base = _status_mb("VmHWM")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = THREADS
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        t0 = time.perf_counter()
        sess = ort.InferenceSession(
            str(common.bench_dir() / "onnx" / "encoder.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        load = time.perf_counter() - t0

        def fwd(ids, mask):
            return sess.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )

    after_load = _status_mb("VmHWM")
    for b, s in ((1, 512), (8, 128)):
        fwd(*inputs(b, s))
    peak = _status_mb("VmHWM")
    print(json.dumps({"load_s": load, "base_mb": base, "after_load_mb": after_load, "peak_mb": peak}))


def rss_all(names) -> dict:
    out = {}
    for name in names:
        proc = subprocess.run([sys.executable, __file__, "--rss-child", name], capture_output=True, text=True)
        try:
            out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            out[name] = {"error": proc.stderr.strip().splitlines()[-1:] or ["?"]}
    return out


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def flops_of(row: str) -> float | None:
    if row.startswith("encoder"):
        b, s = (int(v) for v in row[row.index("(") + 1 : -1].split(","))
        return common.encoder_flops(b, s)
    if row.startswith("mlm"):
        return common.encoder_flops(1, 128) + common.mlm_head_flops(1, 128)
    return None


def report(times: dict, peak: float, rss: dict, agreement: dict, weight_mb: float, bandwidth: float) -> None:
    names = [n for n in CONTENDERS if any(n in v for v in times.values())]
    floor = weight_mb / 1e3 / bandwidth  # s: a decoding step is memory-bound
    label = {"native": "np native", "numpy": "np numpy", "torch": "PyTorch", "ort": "ONNX RT"}
    print(f"\nFMA peak (measured, {THREADS} threads): {peak:.0f} GFLOP/s")
    print(
        "\nmedian [min, max] ms; ratio = median / median of ONNX Runtime and of PyTorch;"
        " GFLOP/s (% of FMA peak)"
    )
    for row, per in times.items():
        print(f"\n{row}")
        fl = flops_of(row)
        ort_med = statistics.median(per["ort"]) if "ort" in per else None
        pt_med = statistics.median(per["torch"]) if "torch" in per else None
        for n in names:
            if n not in per:
                continue
            ts = per[n]
            med = statistics.median(ts)
            line = f"  {label[n]:10s} {1e3 * med:8.1f} [{1e3 * min(ts):7.1f}, {1e3 * max(ts):7.1f}]"
            line += f"  x{med / ort_med:5.2f} ORT" if ort_med else "            "
            line += f"  x{med / pt_med:5.2f} PyTorch" if pt_med else ""
            if fl:
                gf = fl / med / 1e9
                line += f"  {gf:6.0f} GFLOP/s ({100 * gf / peak:4.1f}%)"
            elif row.startswith("decode"):
                line += f"  x{med / floor:5.2f} floor"
            print(line)
        if row.startswith("decode"):
            print(f"  floor      {1e3 * floor:8.1f} ms: every weight read once ({weight_mb:.0f} MB, the tied LM head "
                  f"included) at {bandwidth:.1f} GB/s")
    if agreement:
        print(
            "\nmax |last_hidden_state - PyTorch| at (1, 128): "
            + ", ".join(f"{label[k]} {v:.2e}" for k, v in agreement.items())
        )
    if rss:
        print(
            f"\nLoad from safetensors and peak RSS (fresh process each; weights {weight_mb:.0f} MB;"
            " forward at (1, 512) then (8, 128); libs = high-water mark once the libraries are imported):"
        )
        for n, r in rss.items():
            if "error" in r:
                print(f"  {label[n]:10s} error: {r['error']}")
                continue
            extra = r["peak_mb"] - r["base_mb"]
            print(
                f"  {label[n]:10s} load {r['load_s']:6.3f} s   peak RSS {r['peak_mb']:7.0f} MB "
                f"(libs {r['base_mb']:.0f} MB, +{extra:.0f} MB = {extra / weight_mb:.2f}x weights)"
            )


PROFILE_MODES = {"fp32": {}, "bf16": {"dtype": "bfloat16"}, "int8": {"quantize": "int8"}}


def profile_native(repeats: int, mode: str = "fp32") -> None:
    """Time per kernel of the native forward, and the share of pure GEMM time inside each (``mode``: the
    weights' precision, as from_pretrained loads them)."""
    from roformer_np import RoFormerModel, set_num_threads, thread_limit
    from roformer_np import backend as be

    set_num_threads(THREADS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RoFormerModel.from_pretrained(common.checkpoint(), backend="native", **PROFILE_MODES[mode])
    print(f"weights: {mode}")
    kernels = be.get_kernels("native")
    acc: dict[str, float] = {}

    class Timed:
        def __init__(self, k):
            self.k = k

        def __getattr__(self, name):
            fn = getattr(self.k, name)
            if not callable(fn):
                return fn

            def wrapped(*a, **kw):
                t0 = time.perf_counter()
                r = fn(*a, **kw)
                acc[name] = acc.get(name, 0.0) + time.perf_counter() - t0
                return r

            return wrapped

    orig = be.get_kernels
    be_model = sys.modules["roformer_np.model"]
    c, f, layers = 768, 3072, 12
    lw = model.params.layers[0]
    for b, s in ENCODER_ROWS:
        ids, mask = inputs(b, s)
        be_model.get_kernels = lambda backend=None: Timed(orig(backend))
        model(input_ids=ids, attention_mask=mask)
        acc.clear()
        t0 = time.perf_counter()
        for _ in range(repeats):
            model(input_ids=ids, attention_mask=mask)
        total = (time.perf_counter() - t0) / repeats
        be_model.get_kernels = orig
        x = np.random.default_rng(0).standard_normal((b, s, c)).astype(np.float32)
        hid = np.random.default_rng(0).standard_normal((b, s, f)).astype(np.float32)
        gemm = 0.0
        for xin, w in ((x, lw.attention.w_qkv), (x, lw.attention.w_out), (x, lw.w_in), (hid, lw.w_out)):
            kernels.linear(xin, w)
            t1 = time.perf_counter()
            for _ in range(repeats):
                kernels.linear(xin, w)
            gemm += layers * (time.perf_counter() - t1) / repeats
        print(
            f"\nnative forward ({b}, {s}): {1e3 * total:.1f} ms total; pure GEMM (same shapes, no epilogue) "
            f"{1e3 * gemm:.1f} ms = {100 * gemm / total:.0f}%"
        )
        for name, t in sorted(acc.items(), key=lambda kv: -kv[1]):
            print(f"  {name:18s} {1e3 * t / repeats:7.1f} ms  {100 * t / repeats / total:4.0f}%")
        rest = total - sum(acc.values()) / repeats
        print(f"  {'(python, masks)':18s} {1e3 * rest:7.1f} ms  {100 * rest / total:4.0f}%")
        # Where the feed-forward time goes: the block with one layer's weights kept warm in cache (repeated),
        # against the same block inside the forward, whose weights stream from DRAM each time.
        ffn_args = (x, lw.w_in, lw.b_in, lw.w_out, lw.b_out, lw.ln_weight, lw.ln_bias, 1e-12, "gelu")
        kernels.feed_forward(*ffn_args)
        t1 = time.perf_counter()
        for _ in range(repeats):
            kernels.feed_forward(*ffn_args)
        warm = (time.perf_counter() - t1) / repeats
        flops = 4 * b * s * c * f
        print(f"  feed_forward per layer: {1e3 * acc['feed_forward'] / repeats / layers:.2f} ms in the forward, "
              f"{1e3 * warm:.2f} ms with warm weights ({flops / warm / 1e9:.0f} GFLOP/s)")
    x = np.random.default_rng(0).standard_normal((1, 128, c)).astype(np.float32)
    with thread_limit(1):
        kernels.linear(x, lw.w_in)
        t1 = time.perf_counter()
        for _ in range(repeats):
            kernels.linear(x, lw.w_in)
        one = (time.perf_counter() - t1) / repeats
    print(f"\none thread, x[128, {c}] @ w_in.T (warm weights): {2 * 128 * c * f / one / 1e9:.0f} GFLOP/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile the native forward only")
    parser.add_argument("--profile-mode", choices=sorted(PROFILE_MODES), default="fp32",
                        help="with --profile: the weights' precision (fp32, bf16 or int8)")
    parser.add_argument("--busy", action="store_true",
                        help="run one busy-looping process beside the timings (a neighbour taking a core)")
    parser.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--fma-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    reexec_clean()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    if args.worker:
        worker(args.worker)
        return
    if args.fma_child:
        print(_fma_peak_here(args.fma_child))
        return
    repeats = args.repeats or (5 if args.quick else 15)
    if args.profile:
        profile_native(repeats, args.profile_mode)
        return
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    ckpt = common.checkpoint()
    if "ort" in names:
        from onnx_export import export_all

        export_all(ckpt, common.bench_dir() / "onnx")
    print(f"load average before: {os.getloadavg()}")
    peak = fma_peak(THREADS)
    workers = {}
    for n in names:
        try:
            workers[n] = Worker(n)
        except RuntimeError as exc:
            print(f"skipping {n}: {exc}")
    print("BLAS / thread pools per contender (threadpoolctl):")
    for n, w in workers.items():
        for line in w.info["blas"]:
            print(f"  {n:7s} {line}")
    if "native" in workers:
        cfg = workers["native"].info["config"]
        omp = "on" if cfg["openmp"] else "off"
        print(
            f"native worker: OpenMP {omp} (wait policy {cfg['openmp_wait_policy']}),"
            f" {cfg['num_threads']} threads, GEMM kernel {cfg.get('gemm_kernel')}, GEMM threading {cfg['gemm_mode']}"
        )
    agreement = check_agreement(workers)
    busy = start_busy() if args.busy else None
    try:
        times = run_timings(workers, repeats, decode_steps=2 * repeats)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    if busy is not None:
        print("timed with one busy-looping process beside the run (--busy)")
    print(f"load average after: {os.getloadavg()}")
    for n, w in workers.items():
        print(f"  {n:7s} peak RSS over the whole timing run: {w.close()['peak_rss_mb']:.0f} MB")
    rss = {} if args.no_rss else rss_all(names)
    weight_mb = (ckpt / "model.safetensors").stat().st_size / 1e6
    bandwidth = common.read_bandwidth(THREADS)
    print(f"read bandwidth ({THREADS} threads, best of 4): {bandwidth:.1f} GB/s")
    report(times, peak, rss, agreement, weight_mb, bandwidth)


if __name__ == "__main__":
    main()
