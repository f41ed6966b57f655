"""The demo models shipped in the package: Hugging Face PyTorch's outputs on a held-out slice, and behaviour.

``tools/check_demo_agreement.py`` ran both stacks on the whole held-out split (agreement recorded in
roformer_np/demo/training.json) and stored the first texts' PyTorch logits in golden/cases/demo/.
Tolerance: the demo weights are float16 widened to float32 on both sides, so float32 round-off: 1e-4 abs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import GOLDEN

import roformer_np as rnp
from roformer_np.pipelines.factory import DEMO_ROOT

SLICES = GOLDEN / "cases" / "demo"
ATOL = 1e-4


def _rows(task: str) -> list[dict]:
    return json.loads((SLICES / f"{task}.json").read_text(encoding="utf-8"))


def test_demo_models_are_shipped_and_small() -> None:
    for name in ("mlm", "sentiment", "ner"):
        weights = DEMO_ROOT / name / "model.safetensors"
        assert weights.is_file(), weights
        assert weights.stat().st_size < 10 * 2**20
    info = json.loads((DEMO_ROOT / "training.json").read_text())
    assert info["agreement_with_pytorch"]["sentiment"]["agreement_rate"] >= 0.999


@pytest.mark.parametrize("task, cls", [("sentiment", rnp.RoFormerForSequenceClassification),
                                       ("ner", rnp.RoFormerForTokenClassification)])
def test_demo_logits_match_pytorch(task, cls) -> None:
    model = cls.from_pretrained(DEMO_ROOT / task)
    tok = rnp.RoFormerTokenizer.from_pretrained(DEMO_ROOT / task)
    for row in _rows(task):
        ids = tok(row["text"], truncation=True, max_length=128)["input_ids"]
        assert ids == row["input_ids"], row["text"]
        logits = model(input_ids=np.array([ids])).logits[0]
        np.testing.assert_allclose(logits, np.array(row["logits"], dtype=np.float32), atol=ATOL, rtol=0)
        assert np.array_equal(logits.argmax(-1), np.array(row["logits"]).argmax(-1))


def test_demo_fill_mask_top_tokens_match_pytorch() -> None:
    model = rnp.RoFormerForMaskedLM.from_pretrained(DEMO_ROOT / "mlm")
    for row in _rows("mlm"):
        logits = model(input_ids=np.array([row["input_ids"]])).logits[0, row["mask_index"]]
        np.testing.assert_allclose(logits[row["top_ids"]], row["top_logits"], atol=ATOL, rtol=0)
        assert int(logits.argmax()) == row["top_ids"][0]


def test_demo_pipelines_behave() -> None:
    # a small model (87.8% held-out accuracy): most, not all, clear reviews are right; this set was written
    # before the model was run on it, and one positive book review is in fact misread as negative
    classify = rnp.pipeline("text-classification")
    positive = ["非常满意，物流很快，质量很好。", "很好用，值得购买，推荐！",
                "这本书很精彩，值得一读。", "东西很好，很喜欢。"]
    negative = ["质量太差了，用了一天就坏了，非常失望。", "很差，不推荐购买。",
                "内容很无聊，浪费钱。", "太失望了，再也不买了。"]
    assert sum(o["label"] == "positive" for o in classify(positive)) >= 3
    assert sum(o["label"] == "negative" for o in classify(negative)) >= 3
    ner = rnp.pipeline("token-classification", aggregation_strategy="simple")
    groups = {(e["entity_group"], e["word"].replace(" ", "")) for e in ner("江泽民主席在北京会见了外国客人。")}
    assert ("PER", "江泽民") in groups and ("LOC", "北京") in groups
    fill = rnp.pipeline("fill-mask")
    out = fill("水在零度时会[MASK]。")
    assert len(out) == 5 and all(o["sequence"].startswith("水 在") for o in out)
    assert out[0]["score"] >= out[-1]["score"] > 0
