"""The server's core without HTTP (no uvicorn or Starlette needed): the runner's split of a pipeline call, the
dynamic batcher (grouping, limits, error isolation, draining on stop), the request schemas and the metrics text.

Requests are queued before the worker starts, so the batches it forms are known in advance: no timing.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_models import make_model_dir

from roformer_np import native_available, pipeline
from roformer_np.serve import schemas
from roformer_np.serve.batching import Batcher, ModelError
from roformer_np.serve.metrics import Counter, Histogram, Metrics
from roformer_np.serve.runner import PipelineRunner
from roformer_np.serve.schemas import RequestError

REPO = Path(__file__).resolve().parents[1]
BACKEND = "native" if native_available() else "numpy"  # servers and references run on the same backend
TEXTS = ["这本书很好看", "太差了，不推荐", "服务很好", "质量一般", "物流很快，包装也很好", "完全不值这个价", "好评",
         "房间干净，早餐丰富", "电影很无聊", "音质不错，续航一般", "这家店的面条非常好吃", "客服态度差"]


def reviews() -> list[str]:
    """The 60 hand-written reviews of tools/data/clear_reviews.tsv."""
    path = REPO / "tools" / "data" / "clear_reviews.tsv"
    rows = [line.rstrip("\n").split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    return [r[2] for r in rows if len(r) == 3 and not r[0].startswith("#")]


def reference(task: str, model: Any = None, **kwargs: Any) -> Any:
    """The pipeline the server runs, in this process (same model, same backend)."""
    return pipeline(task, model=model, backend=BACKEND, **kwargs)


def matches(actual: Any, expected: Any, task: str) -> bool:
    """``actual`` (a server's answer) against ``expected`` (the pipeline's): on the native kernels equal bit for
    bit for every task -- each row's products do not depend on the other rows of its pass (a single row with
    a plain head weight runs the same kernels as a block of rows). On the NumPy backend (BLAS's GEMV for one
    row, its GEMM for several) floats within float32 round-off (relative 1e-5); strings, labels, tokens and
    the order of results always equal. A vector (a list of floats: hidden states, embeddings) is judged against
    its largest entry: round-off in a dot product is relative to its terms, not to a result near zero."""
    if BACKEND == "native":
        return actual == expected
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(matches(actual[k], expected[k], task) for k in actual)
    if isinstance(actual, list) and isinstance(expected, list):
        if len(actual) != len(expected):
            return False
        if expected and all(isinstance(x, float) for x in actual + expected):
            scale = max(max(abs(e) for e in expected), 1e-3)
            return all(abs(a - e) <= 1e-5 * max(abs(e), scale) for a, e in zip(actual, expected))
        return all(matches(a, e, task) for a, e in zip(actual, expected))
    if isinstance(actual, float) and isinstance(expected, float):
        return abs(actual - expected) <= 1e-5 * max(abs(expected), 1e-3)
    return type(actual) is type(expected) and actual == expected


def as_json(value: Any) -> Any:
    """``value`` as it comes back from JSON (tuples become lists, floats stay exact)."""
    return json.loads(json.dumps(value, ensure_ascii=False))


def same(a: Any, b: Any, task: str = "text-classification") -> bool:
    """A result of a batched pass against the request's own pipeline() call (see :func:`matches`)."""
    return matches(as_json(a), as_json(b), task)


class RecordingRunner(PipelineRunner):
    """A runner that records each forward pass: (row lengths, option keys)."""

    def __init__(self, pipe: Any, max_input_length: int = 512, poison: Any = None) -> None:
        super().__init__(pipe, max_input_length)
        self.batches: list[tuple[list[int], set]] = []
        self.poison = poison  # a feature whose presence makes the pass raise
        self.keys: dict[int, str] = {}

    def forward(self, features: list, opts: dict, here: bool = False) -> list:
        self.batches.append(([len(f.ids) for f in features], {self.keys.get(id(f)) for f in features}))
        if self.poison is not None and any(f is self.poison for f in features):
            raise FloatingPointError("poisoned row")
        return super().forward(features, opts, here)


def run_all(batcher: Batcher, prepared: list) -> list[tuple[Any, BaseException | None]]:
    """Queue every request, then start the worker; each request's (result, error)."""
    results: list = [None] * len(prepared)
    done = [threading.Event() for _ in prepared]

    def callback(i: int):
        def call(result: Any, error: BaseException | None) -> None:
            results[i] = (result, error)
            done[i].set()
        return call

    for i, p in enumerate(prepared):
        batcher.submit(p, callback(i))
    batcher.start()
    for event in done:
        assert event.wait(120), "a request was never answered"
    assert batcher.stop(30)
    return results


@pytest.fixture(scope="module")
def sentiment():
    return pipeline("text-classification", backend=BACKEND)


def test_coalesced_rows_give_each_request_its_own_pipeline_result(sentiment):
    runner = RecordingRunner(sentiment)
    prepared = [runner.prepare(text, {}) for text in TEXTS * 3]
    results = run_all(Batcher(runner, 8192, 64), prepared)
    assert all(error is None for _, error in results)
    assert all(same(result, sentiment(text)) for (result, _), text in zip(results, TEXTS * 3))
    # every row in one pass, of several lengths (one group per length, nothing padded)
    lengths = [len(sentiment.tokenizer(t)["input_ids"]) for t in TEXTS * 3]
    assert [batch for batch, _ in runner.batches] == [lengths]
    assert len(set(lengths)) > 2


@pytest.mark.parametrize(("task", "options"), [
    ("feature-extraction", {"pooling": "mean", "normalize": True}), ("feature-extraction", {}),
    ("token-classification", {"aggregation_strategy": "simple"}), ("token-classification", {}),
])
def test_token_level_tasks_are_bit_identical_when_batched(task: str, options: dict):
    pipe = pipeline(task, backend=BACKEND)
    runner = RecordingRunner(pipe)
    results = run_all(Batcher(runner, 8192, 64), [runner.prepare(t, options) for t in TEXTS * 2])
    assert max(len(b) for b, _ in runner.batches) > 1
    assert all(same(r, pipe(t, **options), task) for (r, _), t in zip(results, TEXTS * 2))


def test_a_request_of_many_inputs_is_split_across_passes_and_put_back_in_order(sentiment):
    runner = RecordingRunner(sentiment)
    options = {"top_k": None, "function_to_apply": "default"}
    prepared = [runner.prepare(TEXTS, options), runner.prepare(TEXTS[::-1], options)]
    (first, e1), (second, e2) = run_all(Batcher(runner, 8192, 4), prepared)
    assert e1 is None and e2 is None
    assert same(first, sentiment(TEXTS, **options)) and same(second, sentiment(TEXTS[::-1], **options))
    assert len(runner.batches) == -(-2 * len(TEXTS) // 4)  # passes of 4 rows, one of them rows of both requests


def test_limits_bound_every_pass(sentiment):
    runner = RecordingRunner(sentiment)
    prepared = [runner.prepare(text, {}) for text in TEXTS * 4]
    results = run_all(Batcher(runner, max_batch_tokens=40, max_batch_requests=3), prepared)
    assert all(error is None for _, error in results)
    assert len(runner.batches) > 1
    for batch, _ in runner.batches:  # exact grouping: a pass's tokens are its rows' own
        assert len(batch) <= 3 and sum(batch) <= 40 or len(batch) == 1


def test_a_row_longer_than_the_token_budget_still_runs_alone(sentiment):
    runner = RecordingRunner(sentiment)
    long_text = "这本书很好看" * 20
    prepared = [runner.prepare(long_text, {}), runner.prepare(long_text, {})]
    results = run_all(Batcher(runner, max_batch_tokens=16, max_batch_requests=64), prepared)
    assert [same(r, sentiment(long_text)) for r, _ in results] == [True, True]
    assert [len(b) for b, _ in runner.batches] == [1, 1]


def test_requests_with_other_options_never_share_a_pass(sentiment):
    runner = RecordingRunner(sentiment)
    prepared = []
    for i, text in enumerate(TEXTS * 2):
        options = {"top_k": 2} if i % 2 else {}
        p = runner.prepare(text, options)
        for f in p.flat:
            runner.keys[id(f)] = p.key
        prepared.append(p)
    results = run_all(Batcher(runner, 8192, 64), prepared)
    assert all(len(keys) == 1 for _, keys in runner.batches)
    for (result, _), i, text in zip(results, range(len(prepared)), TEXTS * 2):
        assert same(result, sentiment(text, top_k=2) if i % 2 else sentiment(text))


def test_exact_grouping_takes_the_oldest_rows_key_first_come_first_served(sentiment):
    runner = RecordingRunner(sentiment)
    words = {n: " ".join(["a"] * n) for n in range(1, 7)}  # n + 2 tokens each
    queue = [(words[n], {"top_k": 2} if k % 3 == 2 else {}) for k, n in enumerate([1, 4, 2, 6, 3, 5, 2, 1, 6])]
    prepared = []
    for text, options in queue:
        p = runner.prepare(text, options)
        for f in p.flat:
            runner.keys[id(f)] = p.key
        prepared.append(p)
    results = run_all(Batcher(runner, max_batch_tokens=20, max_batch_requests=3), prepared)
    assert all(same(r, sentiment(t, **o)) for (r, _), (t, o) in zip(results, queue))
    # the oldest row's key, its rows in arrival order, at most 3 rows and 20 tokens a pass: the default options'
    # first three rows, then (the oldest now) the three with top_k, then the default's last three
    assert [b for b, _ in runner.batches] == [[3, 6, 8], [4, 7, 8], [5, 4, 3]]
    assert [len(keys) for _, keys in runner.batches] == [1, 1, 1]


def test_without_batching_rows_go_first_come_first_served(sentiment):
    runner = RecordingRunner(sentiment)
    queue = ["a", "a a a", "a a", "a a a", "a", "a a"]
    run_all(Batcher(runner, 8192, 1), [runner.prepare(t, {}) for t in queue])
    assert [b for b, _ in runner.batches] == [[len(t.split()) + 2] for t in queue]


def test_padded_grouping_mixes_lengths_and_stays_within_round_off(sentiment):
    runner = RecordingRunner(sentiment)
    prepared = [runner.prepare(text, {"top_k": None}) for text in TEXTS]
    results = run_all(Batcher(runner, 8192, 64, length_grouping="padded"), prepared)
    assert len(runner.batches) == 1 and len(set(runner.batches[0][0])) > 1  # one padded pass
    for (result, _), text in zip(results, TEXTS):
        expected = sentiment(text, top_k=None)
        assert [r["label"] for r in result] == [e["label"] for e in expected]
        np.testing.assert_allclose([r["score"] for r in result], [e["score"] for e in expected], rtol=1e-5)


def test_padded_grouping_takes_the_nearest_lengths_first(sentiment):
    runner = RecordingRunner(sentiment)
    texts = ["好评", "好评" * 30, "好评好评", "好评" * 29]
    prepared = [runner.prepare(text, {}) for text in texts]
    lengths = [p.flat[0].ids.__len__() for p in prepared]
    run_all(Batcher(runner, max_batch_tokens=2 * max(lengths), max_batch_requests=2, length_grouping="padded"),
            prepared)
    assert [sorted(b) for b, _ in runner.batches] == [sorted(lengths[0::2]), sorted(lengths[1::2])]


def test_a_failing_row_fails_alone_and_the_worker_goes_on(sentiment):
    same_length = [t for t in TEXTS if len(sentiment.tokenizer(t)["input_ids"]) == 6]
    assert len(same_length) >= 2, same_length
    runner = RecordingRunner(sentiment)
    prepared = [runner.prepare(text, {}) for text in same_length]
    runner.poison = prepared[1].flat[0]
    batcher = Batcher(runner, 8192, 64)
    results = run_all(batcher, prepared)
    assert isinstance(results[1][1], ModelError) and "FloatingPointError: poisoned row" in str(results[1][1])
    for i, ((result, error), text) in enumerate(zip(results, same_length)):
        if i != 1:
            assert error is None and same(result, sentiment(text))
    assert runner.batches[0][0] == [6] * len(same_length)  # the shared pass, then each row alone
    assert len(runner.batches) == 1 + len(same_length)
    assert batcher.metrics.batch_failures.value() == 2  # the shared pass and the poisoned row's own


def test_a_postprocessing_error_fails_only_its_request(sentiment):
    class Failing(RecordingRunner):
        def finish(self, prepared, outputs):
            if prepared.inputs == "好评":
                raise KeyError("label 7")
            return super().finish(prepared, outputs)

    runner = Failing(sentiment)
    results = run_all(Batcher(runner, 8192, 64), [runner.prepare(t, {}) for t in ("好评", "服务很好")])
    assert isinstance(results[0][1], ModelError) and results[1][1] is None


def test_stop_answers_every_queued_request_then_refuses_new_ones(sentiment):
    runner = PipelineRunner(sentiment, 512)
    batcher = Batcher(runner, 8192, 1)  # one row per pass: the queue drains slowly
    results = run_all(batcher, [runner.prepare(t, {}) for t in TEXTS])  # run_all stops the batcher
    assert all(error is None for _, error in results) and not batcher.healthy
    with pytest.raises(RequestError) as refused:
        batcher.submit(runner.prepare("好评", {}), lambda r, e: None)
    assert refused.value.status == 503


def test_question_answering_windows_of_several_lengths(tmp_path):
    qa = pipeline("question-answering", model=make_model_dir(tmp_path / "qa", "qa"), backend=BACKEND)
    options = {"max_seq_len": 24, "doc_stride": 8, "top_k": 2}
    inputs = [{"question": "谁在北京工作", "context": "张三在北京工作。" * 6},
              {"question": "天气", "context": "今天天气很好"}]
    runner = RecordingRunner(qa)
    prepared = [runner.prepare(x, options) for x in inputs] + [runner.prepare(inputs, options)]
    assert len(prepared[0].flat) > 2  # a long context: several windows
    results = run_all(Batcher(runner, 8192, 64), prepared)
    task = "question-answering"
    assert same(results[0][0], qa(inputs[0], **options), task) and same(results[1][0], qa(inputs[1], **options), task)
    assert same(results[2][0], qa(inputs, **options), task)
    assert len(runner.batches) == 1 and len(set(runner.batches[0][0])) > 1  # windows of several lengths, one pass


# ---------------------------------------------------------------------------------------------
# The runner's checks
# ---------------------------------------------------------------------------------------------
def test_prepare_refuses_with_the_pipelines_message_and_the_field(sentiment):
    runner = PipelineRunner(sentiment, 16)
    with pytest.raises(RequestError) as bad_option:
        runner.prepare("好评", {"top_k": 0})
    assert bad_option.value.status == 422 and bad_option.value.field == "parameters"
    assert "top_k must be a positive integer" in bad_option.value.message
    with pytest.raises(RequestError) as too_long:
        runner.prepare(["好评", "这本书很好看" * 10], {})
    assert too_long.value.message.startswith("`inputs` must have less than 16 tokens. Given: ")
    fill = PipelineRunner(pipeline("fill-mask", backend=BACKEND), 512)
    with pytest.raises(RequestError) as no_mask:
        fill.prepare("没有掩码", {})
    assert no_mask.value.field == "inputs" and "no mask token" in no_mask.value.message


def test_generation_options_are_checked_before_queueing(tmp_path):
    gen = pipeline("text-generation", model=make_model_dir(tmp_path / "lm", "causal_lm"), backend=BACKEND)
    runner = PipelineRunner(gen, 64)
    for options, words in [({"temperature": -1.0, "do_sample": True}, "temperature"),
                           ({"max_new_tokens": 200}, "max_position_embeddings"),
                           ({"num_return_sequences": 2, "do_sample": False}, "num_return_sequences")]:
        with pytest.raises(RequestError) as refused:
            runner.prepare("今天天气", options)
        assert refused.value.status == 422 and words in refused.value.message, refused.value.message
    assert runner.prepare("今天天气", {"do_sample": True, "seed": 1, "max_new_tokens": 4}).key.startswith("solo:")
    assert not runner.prepare("今天天气", {"do_sample": False, "max_new_tokens": 4}).key.startswith("solo:")


# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "status", "field"), [
    ({}, 422, "inputs"),
    ({"inputs": 3}, 422, "inputs"),
    ({"inputs": ["a", 3]}, 422, "inputs[1]"),
    ({"inputs": []}, 400, "inputs"),
    ({"inputs": ["a"] * 5}, 422, "inputs"),
    ({"inputs": "a", "normalize": "yes"}, 422, "normalize"),
    ({"inputs": "a", "truncate": 1}, 422, "truncate"),
    ({"inputs": "a", "prompt_name": "query"}, 422, "prompt_name"),
    ({"inputs": "a", "truncation_direction": "left"}, 422, "truncation_direction"),
    ({"inputs": "a", "dimensions": 7}, 422, "dimensions"),
    ({"inputs": "a", "colour": "red"}, 422, "colour"),
])
def test_embed_request_errors_name_the_field(body: dict, status: int, field: str):
    with pytest.raises(RequestError) as error:
        schemas.embed_request(body, max_batch=4, auto_truncate=False, hidden=128)
    assert (error.value.status, error.value.field) == (status, field)
    assert field in error.value.message


def test_embed_request_defaults_are_teis():
    req = schemas.embed_request({"inputs": "a", "normalize": None, "dimensions": 128}, 4, False, 128)
    assert (req.texts, req.single, req.normalize, req.truncate) == (["a"], True, True, False)
    assert schemas.embed_request({"inputs": ["a", "b"]}, 4, True, 128).truncate is True  # --auto-truncate


def test_predict_inputs_read_as_tei_reads_them():
    assert schemas.predict_inputs({"inputs": "a"}, 4) == (["a"], True)
    assert schemas.predict_inputs({"inputs": ["a", "b"]}, 4) == ([{"text": "a", "text_pair": "b"}], True)
    assert schemas.predict_inputs({"inputs": ["a"]}, 4) == (["a"], True)
    assert schemas.predict_inputs({"inputs": [["a"], ["b", "c"]]}, 4) == (["a", {"text": "b", "text_pair": "c"}],
                                                                          False)
    for bad, field in [(["a", "b", "c"], "inputs"), ([["a", "b", "c"]], "inputs[0]"), ([["a"], "b"], "inputs[1]")]:
        with pytest.raises(RequestError) as error:
            schemas.predict_inputs({"inputs": bad}, 4)
        assert error.value.field == field


def test_task_parameters_are_checked_by_name_and_kind():
    assert schemas.task_parameters({"parameters": {"top_k": 3, "targets": None}}, "fill-mask") == {"top_k": 3}
    assert schemas.task_parameters({"parameters": {"top_k": None}}, "text-classification") == {"top_k": None}
    for params, field in [({"top_k": 0}, "parameters.top_k"), ({"topk": 3}, "parameters.topk"),
                          ({"top_k": True}, "parameters.top_k"), ({"targets": [1]}, "parameters.targets")]:
        with pytest.raises(RequestError) as error:
            schemas.task_parameters({"parameters": params}, "fill-mask")
        assert error.value.field == field and error.value.status == 422
    assert schemas.tgi_parameters({"parameters": {"stop": ["。"], "details": True, "watermark": False}}) == (
        {"do_sample": False, "return_full_text": False, "stop_strings": ["。"]}, True)
    with pytest.raises(RequestError) as error:
        schemas.tgi_parameters({"parameters": {"best_of": 2}})
    assert error.value.field == "parameters.best_of"


@pytest.mark.parametrize(("raw", "message"), [(b"{", "not valid JSON"), (b"[1]", "must be a JSON object"),
                                              (b"\xff", "not UTF-8")])
def test_bodies_that_are_not_json_objects(raw: bytes, message: str):
    with pytest.raises(RequestError) as error:
        schemas.parse_json(raw)
    assert error.value.status == 422 and message in error.value.message and error.value.field == "body"


# ---------------------------------------------------------------------------------------------
# Metrics text
# ---------------------------------------------------------------------------------------------
def test_metrics_exposition_format():
    counter = Counter("x_total", "things", ("route",))
    counter.inc(route='/a"b')
    counter.inc(2, route="/c")
    assert counter.lines() == ['x_total{route="/a\\"b"} 1', 'x_total{route="/c"} 2']
    assert counter.total(exclude={"route": ("/c",)}) == 1
    hist = Histogram("y_seconds", "durations", (0.1, 1.0))
    for value in (0.05, 0.5, 0.5, 3.0):
        hist.observe(value)
    assert hist.lines() == ['y_seconds_bucket{le="0.1"} 1', 'y_seconds_bucket{le="1"} 3',
                            'y_seconds_bucket{le="+Inf"} 4', "y_seconds_sum 4.05", "y_seconds_count 4"]
    text = Metrics().render()
    assert "# TYPE te_request_duration histogram" in text and "te_queue_size 0" in text
    sample = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eInf]+$')
    assert all(line.startswith("# ") or sample.match(line) for line in text.splitlines())
