"""Every real config of tests/data/real, at its real size (2 layers, random weights), against its reference.

Development only. Run it with the environment that has roformer_np (it starts the references itself):

    /work/venv-dev/bin/python golden/check_real_configs.py [--train-python P] [--junnyu-python P]

The configs are the ones tests/test_real_configs.py runs (Hub ``config.json`` files and ZhuiyiTechnology's
``bert_config.json``, V2 ones given ``norm_type="rms_norm", use_bias=False``), with ``num_hidden_layers=2``.
The reference builds each model — Hugging Face transformers 4.56.2 for v1, JunnyU's ``roformer`` 0.4.3 for
RoFormer-V2 (``norm_type: rms_norm``) and RoFormer-Sim (decoder + linear pooler) — redraws its weights with a fixed
seed, writes it with ``save_pretrained`` (safetensors) into a temporary directory and stores its outputs there;
roformer_np then loads those checkpoints on each backend and is compared with them. Nothing is kept.

Per config: ``RoFormerModel`` (with the pooler for Sim) -> ``last_hidden_state``, ``pooler_output``;
the LM head of its ``architectures`` (``RoFormerForMaskedLM`` when it has
none; ``--head`` overrides) -> ``logits``. Error per field: max |Δ| and relative = max |Δ| / max |reference|;
a config passes when every field's relative error is <= 1e-5 in float32.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parent
REAL = GOLDEN_DIR.parent / "tests" / "data" / "real"
V2_DIRS = ("roformer_v2", "roformer-v2")
RTOL = 1e-5
STD = 0.05  # weight scale at real sizes (0.2, the tiny cases' scale, saturates 768-wide layers)
BATCH, SEQ = 3, 12


def _jobs(head: str | None) -> list[dict]:
    """The configs as tests/test_real_configs.py reads them, with the graph and real-vocab inputs of each."""
    paths = sorted(REAL.rglob("config.json")) + sorted(REAL.rglob("bert_config.json"))
    jobs = []
    for index, path in enumerate(paths):
        cfg = json.loads(path.read_text(encoding="utf-8"))
        if path.name == "bert_config.json" and any(d in path.parent.name for d in V2_DIRS):
            cfg.update(norm_type="rms_norm", use_bias=False)
        cfg["num_hidden_layers"] = 2
        sim = bool(cfg.get("is_decoder")) and cfg.get("pooler_activation") == "linear"
        graph = "v2" if cfg.get("norm_type") == "rms_norm" else "sim" if sim else "v1"
        rng = np.random.default_rng(index)
        ids = rng.integers(106, cfg["vocab_size"], (BATCH, SEQ))
        ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
        mask = np.ones((BATCH, SEQ), dtype=np.int64)
        mask[-1, SEQ - 4:] = 0  # one right-padded row
        ids[-1, SEQ - 4:] = 0
        head_cls = head or (cfg.get("architectures") or ["RoFormerForMaskedLM"])[0]
        jobs.append(dict(name=path.parent.name, graph=graph, pooler=sim, seed=1300 + index, config=cfg,
                         head=head_cls,
                         input_ids=ids.tolist(), attention_mask=mask.tolist()))
    return jobs


# ---------------------------------------------------------------- reference side (torch venvs)

def _reference(job_file: Path, out_dir: Path) -> None:
    """Build, save and run every job of ``job_file`` with this interpreter's reference package."""
    sys.path.insert(0, str(GOLDEN_DIR))
    from importlib.metadata import version

    import torch
    from common import redraw_weights, save_case_io, to_numpy

    torch.set_num_threads(1)
    for job in json.loads(job_file.read_text(encoding="utf-8")):
        if job["graph"] == "v1":
            import transformers as lib
        else:
            import roformer as lib
        cfg = lib.RoFormerConfig(**{**job["config"], "hidden_dropout_prob": 0.0,
                                    "attention_probs_dropout_prob": 0.0})
        kwargs = {k: torch.tensor(job[k]) for k in ("input_ids", "attention_mask")}
        kwargs["token_type_ids"] = torch.zeros_like(kwargs["input_ids"])
        outputs = {}
        for part, cls in (("base", lib.RoFormerModel), ("head", getattr(lib, job["head"]))):
            torch.manual_seed(job["seed"])
            model = (cls(cfg, add_pooling_layer=True) if part == "base" and job["pooler"] else cls(cfg)).eval()
            redraw_weights(model, job["seed"], std=STD)
            model.save_pretrained(out_dir / job["name"] / part, safe_serialization=True)
            with torch.no_grad():
                out = model(**kwargs, return_dict=True)
            if part == "base":
                outputs["last_hidden_state"] = to_numpy(out.last_hidden_state)
                if getattr(out, "pooler_output", None) is not None:
                    outputs["pooler_output"] = to_numpy(out.pooler_output)
            else:
                outputs["logits"] = to_numpy(out.logits)
            del model
        save_case_io(out_dir / job["name"] / "reference.safetensors", outputs)
        print(f"reference {job['name']} ({lib.__name__} {version(lib.__name__)}): {sorted(outputs)}", flush=True)


# ---------------------------------------------------------------- roformer_np side

def _compare(job: dict, out_dir: Path, backend: str) -> dict:
    from safetensors.numpy import load_file

    import roformer_np

    ref = load_file(str(out_dir / job["name"] / "reference.safetensors"))
    ids = np.array(job["input_ids"], dtype=np.int64)
    kwargs = dict(attention_mask=np.array(job["attention_mask"], dtype=np.int64), token_type_ids=np.zeros_like(ids))
    base = roformer_np.RoFormerModel.from_pretrained(out_dir / job["name"] / "base", backend=backend)
    out = base(ids, **kwargs)
    mine = {"last_hidden_state": out.last_hidden_state, "pooler_output": out.pooler_output}
    head = getattr(roformer_np, job["head"]).from_pretrained(out_dir / job["name"] / "head", backend=backend)
    mine["logits"] = head(ids, **kwargs).logits
    fields = {}
    for field in ("last_hidden_state", "pooler_output", "logits"):
        if (field in ref) != (mine[field] is not None):
            raise AssertionError(f"{job['name']}: {field} present in reference {field in ref}, roformer_np "
                                 f"{mine[field] is not None}")
        if field in ref:
            diff = float(np.max(np.abs(mine[field].astype(np.float64) - ref[field])))
            fields[field] = (diff, diff / float(np.max(np.abs(ref[field]))))
    return fields


def _sizes(cfg: dict) -> str:
    return (f"V={cfg['vocab_size']} H={cfg['hidden_size']} A={cfg['num_attention_heads']} "
            f"I={cfg['intermediate_size']} L={cfg['num_hidden_layers']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-python", default="/work/venv-train/bin/python", help="transformers 4.56.2")
    parser.add_argument("--junnyu-python", default="/work/venv-junnyu/bin/python", help="roformer 0.4.3")
    parser.add_argument("--head", help="the LM head class of every config (default: its architectures, else "
                        "RoFormerForMaskedLM)")
    parser.add_argument("--reference", nargs=2, metavar=("JOBS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        _reference(Path(args.reference[0]), Path(args.reference[1]))
        return
    import roformer_np

    jobs = _jobs(args.head)
    backends = ["numpy"] + (["native"] if roformer_np.native_available() else [])
    rows, failed = [], False
    with tempfile.TemporaryDirectory(prefix="real_configs_") as tmp:
        out_dir = Path(tmp)
        for python, graphs in ((args.train_python, ("v1",)), (args.junnyu_python, ("v2", "sim"))):
            job_file = out_dir / f"jobs_{graphs[0]}.json"
            job_file.write_text(json.dumps([j for j in jobs if j["graph"] in graphs]), encoding="utf-8")
            subprocess.run([python, __file__, "--reference", str(job_file), str(out_dir)], check=True)
        for job in jobs:
            for backend in backends:
                fields = _compare(job, out_dir, backend)
                diff = max(d for d, _ in fields.values())
                rel = max(r for _, r in fields.values())
                per_field = ", ".join(f"{f} {r:.1e}" for f, (_, r) in fields.items())
                ok = rel <= RTOL
                failed |= not ok
                rows.append(f"| {job['name']} | {job['graph']} | {_sizes(job['config'])} | {backend} | "
                            f"{job['head']} | {per_field} | {diff:.2e} | {rel:.2e} | {'pass' if ok else 'FAIL'} |")
    print("| config | graph | sizes | backend | logits of | relative diff per field | max abs diff | max rel diff "
          "| float32 1e-5 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
