"""Regenerate the golden files from Hugging Face transformers 4.56.2 + torch 2.13.0 (development only).

    python -m venv /tmp/golden-env && /tmp/golden-env/bin/pip install -r golden/requirements.txt
    /tmp/golden-env/bin/python golden/generate.py            # every group
    /tmp/golden-env/bin/python golden/generate.py model      # one group

Groups are the ``gen_<group>.py`` modules beside this file. Each model-like group's ``generate()`` returns
its manifest entries; they are merged into ``manifest.json`` (entries of other groups are kept). The
tokenizer group writes its own files (see golden/README.md). This directory is the only place that
imports torch or transformers.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODEL_GROUPS = ["model", "heads", "decoder", "bin", "pipelines"]  # merged into manifest.json, in this order
OTHER_GROUPS = ["tokenizer", "pipeline_options", "loss_dtypes", "unicode_hf", "stopping",
                "logits_process", "generate_options"]  # write their own outputs


def available(group: str) -> bool:
    return (HERE / f"gen_{group}.py").is_file()


def main(argv: list[str]) -> None:
    import torch

    torch.set_num_threads(1)  # reproducible reductions
    groups = argv or [g for g in MODEL_GROUPS + OTHER_GROUPS if available(g)]
    from common import write_manifest

    manifest_path = HERE / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"cases": []}
    cases = [c for c in old.get("cases", []) if c.get("group") not in groups]
    for group in groups:
        if not available(group):
            raise SystemExit(f"unknown group {group!r}: no golden/gen_{group}.py")
        start = time.time()
        module = importlib.import_module(f"gen_{group}")
        if group in OTHER_GROUPS:
            module.main(HERE)
            print(f"{group}: done in {time.time() - start:.1f}s")
            continue
        new = module.generate()
        for case in new:
            case["group"] = group
        cases.extend(new)
        print(f"{group}: {len(new)} cases in {time.time() - start:.1f}s")
    order = {g: i for i, g in enumerate(MODEL_GROUPS)}
    cases.sort(key=lambda c: order.get(c.get("group"), 99))
    write_manifest(cases)
    total = sum(f.stat().st_size for f in HERE.rglob("*") if f.is_file())
    print(f"golden/ now holds {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
