"""Small seeded checkpoints for pipeline and command-line tests: a fake demo tree and task model directories."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from conftest import random_weights, tiny_config

from roformer_np import (
    RoFormerForCausalLM,
    RoFormerForMaskedLM,
    RoFormerForQuestionAnswering,
    RoFormerForSequenceClassification,
    RoFormerForTokenClassification,
)

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["北京", "上海", "今天", "天气", "很好", "电影", "好看", "张三", "工作", "首都", "这", "本", "书", "不",
         "好", "是", "的", "在", "我", "很", "水", "冰", "会", "时", "零", "度", "中", "国", "hello", "world", "##s"]
CHARS = sorted(set("".join(w for w in WORDS if not w.isascii())) | set("，。？！abcdefghijklmnopqrstuvwxyz0123456789"))
VOCAB = SPECIAL + WORDS + [c for c in CHARS if c not in WORDS]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]

KINDS = {
    "mlm": (RoFormerForMaskedLM, {}),
    "sentiment": (RoFormerForSequenceClassification, {"id2label": {0: "negative", 1: "positive"}}),
    "ner": (RoFormerForTokenClassification, {"id2label": dict(enumerate(NER_LABELS))}),
    "qa": (RoFormerForQuestionAnswering, {}),
    "causal_lm": (RoFormerForCausalLM, {"is_decoder": True}),
}


def write_vocab(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return path


def make_model_dir(directory: Path, kind: str, seed: int = 0, with_vocab: bool = True) -> Path:
    """A checkpoint directory of ``kind`` (a key of KINDS) with seeded random weights (head weights too)."""
    cls, extra = KINDS[kind]
    config = tiny_config(vocab_size=len(VOCAB), max_position_embeddings=64, **extra)
    rng = np.random.default_rng(seed + 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the head is newly initialised: redrawn below
        model = cls(config, random_weights(config, seed), init_seed=seed)
    for key, value in model.head_weights.items():  # larger than the 0.02 init, so predictions differ
        model.head_weights[key] = rng.normal(0.0, 0.5, value.shape).astype(value.dtype)
    model.save_pretrained(directory)
    if with_vocab:
        write_vocab(directory)
    return directory


def make_demo_root(root: Path) -> Path:
    """A tree like roformer_np/demo/: vocab.txt at the top, mlm/, sentiment/, ner/ without their own vocab."""
    write_vocab(root)
    for kind in ("mlm", "sentiment", "ner"):
        make_model_dir(root / kind, kind, with_vocab=False)
    return root
