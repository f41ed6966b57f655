"""Golden outputs of Hugging Face pipeline options kept for compatibility (deprecated or tokenizer pass-through).

Development only. Run through ``golden/generate.py pipeline_options`` (after the ``pipelines`` group: it loads
that group's shared checkpoint ``cases/pipelines``, it writes no weights). Writes
``cases/pipeline_options/cases.json`` in the format of ``cases/pipelines/cases.json`` plus ``warns`` (the
names of the deprecated options Hugging Face warned about):

* text-classification ``return_all_scores`` (deprecated: ``True`` → every label in label order, ``False`` →
  the best label; ignored when ``top_k`` is given);
* fill-mask ``tokenizer_kwargs``, feature-extraction ``tokenize_kwargs`` (given to the tokenizer);
* token-classification ``grouped_entities`` / ``ignore_subwords`` (deprecated, mapped to
  ``aggregation_strategy``: both → first, grouped only → simple, otherwise none);
* question-answering ``padding`` (the windows padded; padded tokens are masked, answers unchanged).
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import torch
import transformers
from common import CASES_DIR
from gen_pipelines import MASKED, NEWS, QUESTIONS, REVIEWS, _check_same_tokens, _corpus, _plain, _strings
from transformers import RoFormerConfig, RoFormerTokenizer, RoFormerTokenizerFast

NAME = "pipeline_options"
CHECKPOINT = CASES_DIR / "pipelines"
CLASSES = {"fill-mask": "RoFormerForMaskedLM", "feature-extraction": "RoFormerModel",
           "text-classification": "RoFormerForSequenceClassification",
           "token-classification": "RoFormerForTokenClassification",
           "question-answering": "RoFormerForQuestionAnswering"}


def _cases(texts: list[str]) -> list[dict]:
    reviews = [texts[i] for i in REVIEWS]
    news = [texts[i] for i in NEWS]
    masked = [texts[i] for i in MASKED]
    ner = [news[0], reviews[0], reviews[1]]
    qa = {"question": QUESTIONS[0], "context": texts[REVIEWS[0]]}
    long_qa = {"question": QUESTIONS[4], "context": news[0]}
    tc, tk = "text-classification", "token-classification"
    cases = [
        (tc, "seq_cls", {}, [reviews[0]], {"return_all_scores": True}, "return_all_scores=True: [[all, label order]]"),
        (tc, "seq_cls", {}, [reviews[1]], {"return_all_scores": False}, "return_all_scores=False: [best]"),
        (tc, "seq_cls", {}, [reviews[:3]], {"return_all_scores": True}, "a list with return_all_scores=True"),
        (tc, "seq_cls", {}, [{"text": news[1], "text_pair": news[2]}], {"return_all_scores": True},
         "a pair with return_all_scores=True"),
        (tc, "seq_cls", {}, [reviews[2]], {"return_all_scores": True, "top_k": 2}, "top_k wins, no warning"),
        (tc, "seq_cls", {"return_all_scores": True}, [reviews[3]], {}, "return_all_scores at construction"),
        ("fill-mask", ".", {}, [masked[1]], {"tokenizer_kwargs": {"truncation": True, "max_length": 12},
                                             "top_k": 2}, "tokenizer_kwargs: truncation to 12 tokens"),
        ("fill-mask", ".", {}, [masked[4]], {"tokenizer_kwargs": {}}, "empty tokenizer_kwargs"),
        ("feature-extraction", ".", {}, [news[1]], {"tokenize_kwargs": {"truncation": True, "max_length": 6}},
         "tokenize_kwargs: truncation to 6 tokens"),
        ("feature-extraction", ".", {}, [news[2]], {"tokenize_kwargs": {"max_length": 5}, "truncation": True},
         "truncation= beside tokenize_kwargs' max_length"),
        ("feature-extraction", ".", {}, [news[2]], {"tokenize_kwargs": {"truncation": True}, "truncation": True},
         "truncation given twice: an error"),
        *[(tk, "token_cls", {}, [ner], {**g, "batch_size": 2}, f"{g} mapped to an aggregation strategy")
          for g in ({"grouped_entities": True}, {"grouped_entities": True, "ignore_subwords": True},
                    {"grouped_entities": False}, {"ignore_subwords": True},
                    {"grouped_entities": True, "aggregation_strategy": "max"})],
        (tk, "token_cls", {}, [ner[0]], {"grouped_entities": False, "stride": 4},
         "grouped_entities=False means aggregation none: stride refused"),
        ("question-answering", "qa", {}, [qa], {"padding": "max_length", "max_seq_len": 64, "top_k": 2},
         "padding=max_length (64 tokens)"),
        ("question-answering", "qa", {}, [long_qa], {"padding": True, "max_seq_len": 40, "doc_stride": 12,
                                                      "top_k": 2}, "padding=True over windows"),
        ("question-answering", "qa", {}, [long_qa], {"padding": "do_not_pad", "max_seq_len": 40, "doc_stride": 12},
         "padding=do_not_pad"),
    ]
    return [dict(zip(("task", "model", "pipeline_kwargs", "args", "kwargs", "description"), c), tokenizer_kwargs={})
            for c in cases]


def _model(task: str, name: str) -> transformers.PreTrainedModel:
    config = RoFormerConfig.from_json_file(str(CHECKPOINT / ("config.json" if name == "." else
                                                             f"configs/{name}.json")))
    return getattr(transformers, CLASSES[task]).from_pretrained(CHECKPOINT, config=config).eval()


def main(here: Path) -> None:
    transformers.logging.set_verbosity_error()
    texts = _corpus()
    slow = RoFormerTokenizer.from_pretrained(CHECKPOINT)
    tokenizer = RoFormerTokenizerFast.from_pretrained(CHECKPOINT)
    results = []
    for index, case in enumerate(_cases(texts)):
        _check_same_tokens(slow, tokenizer, _strings(case["args"]))
        pipe = transformers.pipeline(case["task"], model=_model(case["task"], case["model"]), tokenizer=tokenizer,
                                     framework="pt", **case["pipeline_kwargs"])
        entry = {"name": f"{index:02d}_{case['task']}", **case}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with torch.no_grad():
                    # a copy: Hugging Face writes truncation into the caller's tokenize_kwargs
                    entry["expected"] = _plain(pipe(*case["args"], **copy.deepcopy(case["kwargs"])))
            except Exception as exc:  # the error cases: record what Hugging Face raised
                entry["error"] = {"type": type(exc).__name__, "message": str(exc)}
        options = ("return_all_scores", "grouped_entities", "ignore_subwords")
        entry["warns"] = sorted(o for o in options if any(f"`{o}` is" in str(w.message) for w in caught))
        results.append(entry)
    out = here / "cases" / NAME
    out.mkdir(parents=True, exist_ok=True)
    (out / "cases.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    import sys
    sys.exit(main(Path(__file__).resolve().parent))
