"""The demo models shipped in the package: Hugging Face PyTorch's outputs on a held-out slice, and behaviour.

``tools/check_demo_agreement.py`` ran both stacks on the whole held-out split (agreement recorded in
roformer_np/demo/training.json) and stored the first texts' PyTorch logits in golden/cases/demo/.
Tolerance: the demo weights are float16 widened to float32 on both sides, so float32 round-off: 1e-4 abs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import GOLDEN, REPO

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


def _clear_reviews() -> list[tuple[str, str]]:
    lines = (REPO / "tools" / "data" / "clear_reviews.tsv").read_text(encoding="utf-8").splitlines()
    return [(row[0], row[2]) for row in (line.split("\t") for line in lines if line and not line.startswith("#"))]


def test_clear_reviews_as_pytorch_judged_them() -> None:
    # 60 hand-written reviews, never trained on: the pipeline gets exactly the ones PyTorch got (recorded by
    # tools/train_demo.py) right, and that is most of them
    rows = _clear_reviews()
    recorded = json.loads((DEMO_ROOT / "training.json").read_text())["sentiment"]["clear_reviews"]
    results = rnp.pipeline("text-classification")([text for _, text in rows])
    wrong = [text for (label, text), out in zip(rows, results) if out["label"] != label]
    assert len(rows) == recorded["total"] == 60
    assert wrong == recorded["wrong"]
    assert len(rows) - len(wrong) == recorded["right"] >= 0.85 * len(rows)


# the README's examples (tests/test_readme.py runs the README itself; these pin the models' side of it)
CLASSIFY_EXAMPLES = ["这本书很好看", "我很喜欢这本书", "服务太差了，再也不来了", "质量太差了"]
CLASSIFY_LABELS = ["positive", "positive", "negative", "negative"]
NER_EXAMPLES = [("李鹏总理昨天在上海考察了浦东新区。", ("PER", "李鹏")),
                ("李鹏总理昨天在上海考察了浦东新区。", ("LOC", "浦东新区")),
                ("中国人民银行在上海浦东新区召开会议。", ("ORG", "中国人民银行"))]
FILL_EXAMPLE, FILL_TOP = "酒店的服务很[MASK]。", "不错"


def test_demo_pipelines_behave() -> None:
    classify = rnp.pipeline("text-classification")
    assert [o["label"] for o in classify(CLASSIFY_EXAMPLES)] == CLASSIFY_LABELS
    ner = rnp.pipeline("token-classification", aggregation_strategy="simple")
    for text, entity in NER_EXAMPLES:
        groups = {(e["entity_group"], e["word"].replace(" ", "")) for e in ner(text)}
        assert entity in groups, (text, groups)
    fill = rnp.pipeline("fill-mask")
    out = fill(FILL_EXAMPLE)
    assert len(out) == 5 and out[0]["score"] >= out[-1]["score"] > 0
    assert out[0]["token_str"] == FILL_TOP
