"""Hugging Face's compatibility options of the pipelines (deprecated or given to the tokenizer) against
transformers 4.56.2 (golden/cases/pipeline_options, made by golden/gen_pipeline_options.py)."""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import GOLDEN
from test_pipelines_golden import _pipe, assert_same

CASES = json.loads((GOLDEN / "cases" / "pipeline_options" / "cases.json").read_text(encoding="utf-8"))
DEPRECATED = ("return_all_scores", "grouped_entities", "ignore_subwords")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_option_matches_hugging_face(case: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a deprecated option at construction warns there
        pipe = _pipe(case)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if "error" in case:
            with pytest.raises(ValueError):
                pipe(*case["args"], **case["kwargs"])
        else:
            assert_same(pipe(*case["args"], **case["kwargs"]), case["expected"], case["name"])
    warned = sorted(o for o in DEPRECATED if any(f"`{o}` is" in str(w.message) for w in caught))
    assert warned == case["warns"], f"deprecation warnings {warned} != Hugging Face's {case['warns']}"


def test_cases_cover_every_option() -> None:
    given = {k for c in CASES for k in (*c["kwargs"], *c["pipeline_kwargs"])}
    assert {*DEPRECATED, "tokenizer_kwargs", "tokenize_kwargs", "padding"} <= given


@pytest.mark.parametrize("task, option, value", [
    ("fill-mask", "tokenizer_kwargs", ["truncation"]),
    ("feature-extraction", "tokenize_kwargs", "truncation=True"),
    ("question-answering", "padding", "maximum"),
])
def test_bad_option_value_names_the_option(task: str, option: str, value: object) -> None:
    case = next(c for c in CASES if c["task"] == task)
    with pytest.raises(ValueError, match=option):
        _pipe(case, **{option: value})
