"""RoFormer-V2 through the pipelines and the command line (the golden JunnyU V2 checkpoints, a char vocabulary).

Each pipeline's result is checked against the model's own outputs, which tests/test_junnyu_golden.py holds to the
reference.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_sim import checkpoint_with_vocab

from roformer_np import RoFormerForMaskedLM, RoFormerForSequenceClassification, RoFormerModel, pipeline
from roformer_np.cli import main
from roformer_np.pipelines.base import softmax


@pytest.fixture(scope="module")
def v2(tmp_path_factory):
    return {case: checkpoint_with_vocab(case, tmp_path_factory.mktemp(case))
            for case in ("junnyu_v2_mlm", "junnyu_v2_mlm_bin", "junnyu_v2_seq_cls", "junnyu_v2_token_cls",
                         "junnyu_v2_qa", "junnyu_v2_base")}


@pytest.mark.parametrize("case", ["junnyu_v2_mlm", "junnyu_v2_mlm_bin"])
def test_fill_mask_on_v2(v2, case) -> None:
    fill = pipeline("fill-mask", model=v2[case], top_k=3)
    text = "今天[MASK]气很好"
    got = fill(text)
    enc = fill.tokenizer(text)
    logits = RoFormerForMaskedLM.from_pretrained(v2[case])([enc["input_ids"]]).logits[0]
    probs = softmax(logits[enc["input_ids"].index(fill.tokenizer.mask_token_id)])
    best = np.argsort(-probs)[:3]
    assert [g["token"] for g in got] == best.tolist()
    np.testing.assert_allclose([g["score"] for g in got], probs[best], rtol=1e-5)


def test_classification_ner_qa_features_on_v2(v2) -> None:
    text = "我想去公园玩"
    clf = pipeline("text-classification", model=v2["junnyu_v2_seq_cls"])
    enc = clf.tokenizer(text)
    logits = RoFormerForSequenceClassification.from_pretrained(v2["junnyu_v2_seq_cls"])([enc["input_ids"]]).logits
    scores = sorted(d["score"] for d in clf(text, top_k=None))
    np.testing.assert_allclose(scores, np.sort(softmax(logits[0])), rtol=1e-5)
    tokens = pipeline("ner", model=v2["junnyu_v2_token_cls"], aggregation_strategy="none", ignore_labels=[])(text)
    assert len(tokens) == len(text)  # one char a token, no special tokens shown
    answer = pipeline("question-answering", model=v2["junnyu_v2_qa"])(question="去哪里", context=text)
    assert set(answer) == {"score", "start", "end", "answer"}
    assert answer["answer"] == text[answer["start"]:answer["end"]]
    feats = pipeline("feature-extraction", model=v2["junnyu_v2_base"], return_tensors=True)(text)
    base = RoFormerModel.from_pretrained(v2["junnyu_v2_base"])([enc["input_ids"]]).last_hidden_state
    np.testing.assert_allclose(feats, base, rtol=1e-5, atol=1e-6)


def test_cli_fill_mask_on_v2(v2, capsys) -> None:
    assert main(["fill-mask", "-q", "--json", "--model", str(v2["junnyu_v2_mlm"]), "今天[MASK]气很好"]) == 0
    result = json.loads(capsys.readouterr().out)["result"]
    assert result == pipeline("fill-mask", model=v2["junnyu_v2_mlm"])("今天[MASK]气很好")
