"""Write the fuzzers' seed corpora (tests/fuzz/corpus/<area>/): real ``torch.save`` and ``save_file`` outputs.

Development only — run with the reference environment (torch, safetensors, transformers):

    python tests/fuzz/make_corpus.py

Seeds are small (a few KB each) so that mutations reach every branch quickly; together they use every opcode
torch.save writes for a state dict, both zip layouts, and every safetensors dtype roformer_np reads.
"""

from __future__ import annotations

import collections
import io
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from safetensors.torch import save_file as save_torch_file

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
REAL = HERE.parent / "data" / "real"


def _torch_seeds(out: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(4, 3, generator=gen)
    torch.save({"w": base, "b": torch.zeros(3)}, out / "plain.bin")
    torch.save({  # every storage type, views of one storage, non-contiguous, 0-d and empty tensors
        "f32": base, "t": base.t(), "row": base[1], "strided": base[::2, ::2],
        "f16": torch.randn(2, 2, generator=gen).half(), "bf16": torch.randn(3, generator=gen).bfloat16(),
        "f64": torch.randn(2, generator=gen).double(), "i64": torch.arange(-2, 3), "i32": torch.arange(3).int(),
        "i16": torch.arange(2).short(), "i8": torch.arange(2).char(), "u8": torch.arange(2).byte(),
        "bool": torch.tensor([True, False]), "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 2),
    }, out / "dtypes.bin")
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    torch.save(module.state_dict(), out / "module_metadata.bin")  # an OrderedDict with _metadata (BUILD)
    torch.save(module.state_dict(keep_vars=True), out / "parameters.bin")  # _rebuild_parameter
    opt = torch.optim.Adam(module.parameters(), lr=0.1)
    module(torch.randn(1, 3, generator=gen)).sum().backward()
    opt.step()
    torch.save({"state_dict": module.state_dict(), "epoch": 3, "best": 0.25, "optimizer": opt.state_dict(),
                "tags": ["a", None, True]}, out / "training_checkpoint.bin")  # lists, floats, int keys, None
    tied = collections.OrderedDict(a=base, b=base.detach(), c=base)  # one storage, the same view three times
    torch.save(tied, out / "tied.bin")
    buf = io.BytesIO()
    torch.save({"x": torch.ones(2)}, buf)
    (out / "bytesio_root.bin").write_bytes(buf.getvalue())  # the "archive/" root of an unnamed file


def _safetensors_seeds(out: Path) -> None:
    rng = np.random.default_rng(0)
    save_file({"w": rng.standard_normal((4, 3)).astype(np.float32), "b": np.zeros(3, np.float16),
               "ids": np.arange(4, dtype=np.int64)}, str(out / "mixed.safetensors"), metadata={"format": "pt"})
    save_file({"empty": np.zeros((0, 3), np.float32), "none": np.zeros((2, 0), np.int32)},
              str(out / "zero_elements.safetensors"))
    save_file({"f64": np.ones(2), "i8": np.arange(3, dtype=np.int8), "u8": np.arange(2, dtype=np.uint8),
               "i16": np.arange(2, dtype=np.int16), "bool": np.array([True, False]),
               "scalar": np.array(1.5, np.float32)},
              str(out / "dtypes.safetensors"))
    save_torch_file({"bf16": torch.randn(5).bfloat16()}, str(out / "bf16.safetensors"), metadata={"format": "pt"})


def _config_seeds(out: Path) -> None:
    for name in ("roformer_chinese_base", "roformer_chinese_char_small", "roformer_v2_chinese_char_base"):
        if (REAL / name / "config.json").is_file():
            shutil.copy(REAL / name / "config.json", out / f"{name}.json")
    tiny = dict(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
                max_position_embeddings=32, type_vocab_size=2, model_type="roformer",
                id2label={"0": "neg", "1": "pos"}, label2id={"neg": 0, "pos": 1}, is_decoder=True)
    (out / "tiny.json").write_text(json.dumps(tiny, indent=2), encoding="utf-8")


def _vocab_seeds(out: Path) -> None:
    lines = (REAL / "roformer_chinese_base" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    (out / "real_head.txt").write_text("\n".join(lines[:120] + lines[670:760]) + "\n", encoding="utf-8")
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = ["北京", "今天", "天气", "很", "好", "hello", "##s", "world", "##ing", "，", "。", "a", "b"]
    (out / "tiny.txt").write_text("\n".join(special + words) + "\n", encoding="utf-8")


def main() -> None:
    for area, make in (("torch", _torch_seeds), ("safetensors", _safetensors_seeds), ("config", _config_seeds),
                       ("vocab", _vocab_seeds)):
        out = CORPUS / area
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        make(out)
        print(area, sorted((p.name, p.stat().st_size) for p in out.iterdir()))


if __name__ == "__main__":
    main()
