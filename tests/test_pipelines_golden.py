"""roformer_np's pipelines against Hugging Face's ``transformers.pipeline`` outputs (golden/cases/pipelines)."""

from __future__ import annotations

import functools
import json
import warnings
from typing import Any

import pytest
from conftest import GOLDEN, golden_cases

from roformer_np import RoFormerConfig, RoFormerTokenizerFast, pipeline
from roformer_np.pipelines import TASKS

(ENTRY,) = golden_cases("pipelines")
CASE_DIR = GOLDEN / ENTRY["checkpoint"]
CASES = json.loads((GOLDEN / ENTRY["cases"]).read_text(encoding="utf-8"))
TOL = ENTRY["tolerance"]
WORST = {"score": 0.0, "other": 0.0}  # largest errors seen, for the report


@functools.cache
def _model(task: str, name: str) -> Any:
    cls = TASKS[task].model_class
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the other heads' tensors are unused by design
        return cls.from_pretrained(CASE_DIR, config=RoFormerConfig.from_json_file(CASE_DIR / "configs" /
                                                                                  f"{name}.json"))


def _pipe(case: dict, **overrides: Any) -> Any:
    kwargs = {**case["pipeline_kwargs"], **overrides}
    if case["model"] == "." and not case["tokenizer_kwargs"]:
        return pipeline(case["task"], model=CASE_DIR, **kwargs)  # straight from the directory
    # the tokenizer Hugging Face's pipelines used (their default)
    tokenizer = RoFormerTokenizerFast.from_pretrained(CASE_DIR, **case["tokenizer_kwargs"])
    if case["model"] == ".":
        return pipeline(case["task"], model=CASE_DIR, tokenizer=tokenizer, **kwargs)
    return pipeline(case["task"], model=_model(case["task"], case["model"]), tokenizer=tokenizer, **kwargs)


def assert_same(actual: Any, expected: Any, where: str = "") -> None:
    """Structure, keys, strings and ints exactly; floats within the case tolerance."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a dict, got {type(actual).__name__}"
        assert list(actual) == list(expected), f"{where}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {type(actual).__name__}"
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert isinstance(actual, float), f"{where}: expected a float, got {type(actual).__name__}"
        err = abs(actual - expected)
        kind = "score" if where.endswith(".score") else "other"
        WORST[kind] = max(WORST[kind], err)
        assert err <= TOL["atol"] + TOL["rtol"] * abs(expected), f"{where}: {actual} != {expected} (err {err:.2e})"
    else:
        assert type(actual) is type(expected) and actual == expected, f"{where}: {actual!r} != {expected!r}"


def _run(case: dict, **call_overrides: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fill-mask targets outside the vocabulary warn, as in Hugging Face
        return _pipe(case)(*case["args"], **{**case["kwargs"], **call_overrides})


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_pipeline_matches_hugging_face(case: dict) -> None:
    if "error" in case:
        with pytest.raises(ValueError):
            _run(case)
        return
    assert_same(_run(case), case["expected"], case["name"])


BATCHED = [c for c in CASES if "error" not in c and c["args"] and isinstance(c["args"][0], list)]


@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize("case", BATCHED, ids=[c["name"] for c in BATCHED])
def test_results_do_not_depend_on_batch_size(case: dict, batch_size: int) -> None:
    assert_same(_run(case, batch_size=batch_size), case["expected"], case["name"])


def test_generator_input_gives_results_in_order() -> None:
    case = next(c for c in BATCHED if c["task"] == "text-classification" and "top_k" not in c["kwargs"])
    pipe = _pipe(case)
    results = pipe(iter(case["args"][0]), batch_size=3)
    assert not isinstance(results, list)  # lazy, as Hugging Face returns an iterator
    assert_same(list(results), case["expected"], case["name"])


def test_report_largest_errors() -> None:
    """Not a check: prints the largest differences (run with -s)."""
    print(f"\npipelines: largest |score error| {WORST['score']:.2e}, other floats {WORST['other']:.2e}")
