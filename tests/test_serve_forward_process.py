"""The forward process (roformer_np.serve.forward_process) and its messages (roformer_np.serve.wire): outputs
bit-identical to the pipeline's own, errors that name the pipeline's exception, a process that dies replaced,
frames that cannot be trusted refused before anything large is allocated."""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import threading

import numpy as np
import pytest
from fake_models import make_model_dir
from hypothesis import given, settings
from hypothesis import strategies as st
from test_serve_batching import same

from roformer_np import pipeline
from roformer_np.backend import config_info
from roformer_np.pipelines.base import Feature
from roformer_np.pipelines.factory import demo_model_dir
from roformer_np.serve import wire
from roformer_np.serve.batching import Batcher, ModelError
from roformer_np.serve.forward_process import ForwardError, ForwardProcess, wanted
from roformer_np.serve.runner import PipelineRunner
from roformer_np.serve.settings import ServeSettings
from roformer_np.serve.spawn import ROOT, module_command

TEXTS = ["这本书很好看", "太差了，不推荐", "服务很好", "质量一般", "物流很快，包装也很好", "完全不值这个价", "好评",
         "一般般吧", "非常满意"]


def roundtrip(value):
    buf = io.BytesIO()
    wire.write(buf, value)
    buf.seek(0)
    out = wire.read(buf)
    assert buf.read() == b"", "a frame was not read whole"
    return out


def same_tree(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(a, np.generic):
        return type(a) is type(b) and a.dtype == b.dtype and np.shape(a) == np.shape(b) and \
            np.asarray(a).tobytes() == np.asarray(b).tobytes()
    if isinstance(a, Feature):
        return isinstance(b, Feature) and same_tree((a.ids, a.type_ids, a.data), (b.ids, b.type_ids, b.data))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_tree(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    return type(a) is type(b) and a == b


DTYPES = sorted(wire.DTYPES)
arrays = st.builds(lambda dtype, shape, seed: np.random.default_rng(seed).standard_normal(shape).astype(dtype),
                   st.sampled_from(DTYPES), st.lists(st.integers(0, 4), max_size=3).map(tuple), st.integers(0, 99))
leaves = (st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=True) | st.text()
          | arrays | arrays.map(lambda a: a.reshape(-1)[0] if a.size else np.float32(0.5)))
trees = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.lists(inner, max_size=3).map(tuple)
                     | st.dictionaries(st.text().filter(lambda k: not k.startswith("__")), inner, max_size=3)
                     | st.builds(Feature, st.lists(st.integers(0, 9999), max_size=6),
                                 st.lists(st.integers(0, 1), max_size=6),
                                 st.dictionaries(st.sampled_from(["offset_mapping", "sequence_ids"]), inner)),
                     max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(trees)
def test_every_value_comes_back_with_its_types_and_bits(value) -> None:
    assert same_tree(value, roundtrip(value))


def test_a_strided_array_arrives_whole_and_writable() -> None:
    a = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    out = roundtrip({"a": a})["a"]
    np.testing.assert_array_equal(out, a)
    out[0, 0] = 7  # the pipeline may write into what it is given


@pytest.mark.parametrize("value, message", [
    ({"__nd__": 1}, "starting with '__'"),
    ({1: "x"}, "dict keys must be strings"),
    (object(), "cannot be sent"),
    (np.array(["a"]), "dtype"),
    (np.zeros(2, dtype=complex), "dtype"),
])
def test_values_the_protocol_cannot_carry_are_refused_before_writing(value, message) -> None:
    buf = io.BytesIO()
    with pytest.raises(wire.WireError, match=message):
        wire.write(buf, value)
    assert buf.getvalue() == b""


def frame(tree, tail: bytes = b"") -> io.BytesIO:
    text = json.dumps(tree).encode()
    return io.BytesIO(struct.pack("<I", len(text)) + text + tail)


@pytest.mark.parametrize("stream, error", [
    (io.BytesIO(b""), EOFError),
    (io.BytesIO(b"\x05\x00"), EOFError),
    (io.BytesIO(struct.pack("<I", 10) + b"{}"), EOFError),
    (io.BytesIO(struct.pack("<I", wire.MAX_JSON + 1)), wire.WireError),
    (io.BytesIO(struct.pack("<I", 3) + b"{x}"), wire.WireError),
    (frame({"__nd__": ["float32", [2]]}, b"\x00" * 4), EOFError),  # 8 bytes announced, 4 sent
    (frame({"__nd__": ["float32", [1 << 20, 1 << 20]]}), wire.WireError),  # 4 TiB: refused, not allocated
    (frame({"__nd__": ["object", [1]]}), wire.WireError),
    (frame({"__nd__": ["float32", [-1]]}), wire.WireError),
    (frame({"__nd__": "x"}), wire.WireError),
    (frame({"__pickle__": "x"}), wire.WireError),
])
def test_frames_that_cannot_be_trusted_are_refused(stream, error) -> None:
    with pytest.raises(error):
        wire.read(stream)


def test_settings_choose_the_forward_process() -> None:
    with pytest.raises(ValueError, match="forward_process must be one of"):
        ServeSettings(task="text-classification", forward_process="yes")
    with pytest.raises(ValueError, match="not available for text-generation"):
        wanted(ServeSettings(task="text-generation", forward_process="on"), "text-generation")
    assert not wanted(ServeSettings(task="text-generation"), "text-generation")
    assert wanted(ServeSettings(task="text-classification", forward_process="on"), "text-classification")
    assert not wanted(ServeSettings(task="text-classification", forward_process="off"), "text-classification")
    cpus = len(os.sched_getaffinity(0))
    assert wanted(ServeSettings(task="text-classification"), "text-classification") == (cpus >= 2)


@pytest.fixture(scope="module")
def sentiment_process():
    config = ServeSettings(task="text-classification", threads=1, forward_process="on")
    process = ForwardProcess(config)
    yield process
    process.stop()


@pytest.mark.parametrize("task, inputs", [
    ("text-classification", TEXTS),
    ("token-classification", TEXTS[:4]),
    ("feature-extraction", TEXTS[:4]),
    ("fill-mask", ["这本书很[MASK]看", "[MASK]评"]),
    ("question-answering", [{"question": "什么很好看", "context": "这本书很好看，物流也很快"},
                            {"question": "哪里快", "context": "物流很快" * 20}]),  # a long context: several rows
    ("sentence-similarity", [{"source_sentence": "这本书很好看", "sentences": ["物流很快", "好评"]}]),
])
def test_outputs_are_the_pipelines_own_bit_for_bit(task, inputs, tmp_path) -> None:
    # question answering has no demo model: a small seeded checkpoint; similarity uses the demo encoder
    model = {"question-answering": lambda: str(make_model_dir(tmp_path / "qa", "qa")),
             "sentence-similarity": lambda: str(demo_model_dir("feature-extraction"))}.get(task, lambda: None)()
    pooling = "mean" if task == "sentence-similarity" else None
    process = ForwardProcess(ServeSettings(task=task, model=model, threads=1, pooling=pooling, forward_process="on"))
    try:
        pipe = pipeline(task, model=model, num_threads=1, **({"pooling": pooling} if pooling else {}))
        runner = PipelineRunner(pipe, 512)
        prepared = [runner.prepare(text, {}) for text in inputs]
        features = [f for p in prepared for f in p.flat]
        local = runner.forward(features, prepared[0].opts)
        remote = process.forward(features, {})
        assert same_tree(local, remote)
    finally:
        process.stop()


def test_a_failing_pass_names_the_pipelines_exception_and_the_process_goes_on(sentiment_process) -> None:
    bad = Feature([101, 99999999, 102], [0, 0, 0], {})
    with pytest.raises(ForwardError) as caught:
        sentiment_process.forward([bad], {})
    assert caught.value.type_name in ("ValueError", "IndexError") and "99999999" in str(caught.value)
    assert str(ModelError(caught.value)).startswith(caught.value.type_name + ": ")
    good = Feature([101, 800, 102], [0, 0, 0], {})
    assert len(sentiment_process.forward([good], {})) == 1
    with pytest.raises(ForwardError, match="top_k"):
        sentiment_process.forward([good], {"top_k": -3})


def test_a_process_that_dies_fails_its_pass_and_is_replaced(sentiment_process) -> None:
    good = Feature([101, 800, 102], [0, 0, 0], {})
    expected = sentiment_process.forward([good], {})
    starts = sentiment_process.starts
    os.kill(sentiment_process.pid, signal.SIGKILL)
    answers, errors = [], []

    def call() -> None:
        try:
            answers.append(sentiment_process.forward([good], {}))
        except ForwardError as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "a pass to a dead process never ended"
    if errors:  # sent before the death was seen: it fails, and the next pass gets a new process
        assert "ended" in str(errors[0]) or "sent" in str(errors[0])
        answers.append(sentiment_process.forward([good], {}))
    assert same_tree(answers[-1], expected)
    assert sentiment_process.starts == starts + 1


def test_two_batcher_workers_answer_every_request_as_its_own_pipeline_call(sentiment_process) -> None:
    pipe = pipeline("text-classification", num_threads=1)
    runner = PipelineRunner(pipe, 512, sentiment_process.forward)
    requests = [runner.prepare(TEXTS[i % len(TEXTS)] if i % 3 else TEXTS[: 1 + i % 5], {}) for i in range(40)]
    batcher = Batcher(runner, 8192, 4, workers=2)
    results: list = [None] * len(requests)
    done = [threading.Event() for _ in requests]
    for i, prepared in enumerate(requests):
        def call(result, error, i=i):
            results[i] = (result, error)
            done[i].set()
        batcher.submit(prepared, call)
    batcher.start()
    for event in done:
        assert event.wait(120)
    assert batcher.stop(30)
    for prepared, (result, error) in zip(requests, results):
        assert error is None
        expected = pipe(prepared.inputs)
        if config_info()["resolved_backend"] == "native":  # each row's bits do not depend on its pass
            assert json.dumps(result) == json.dumps(expected)
        else:  # BLAS's GEMV for one row, its GEMM for several: float32 round-off
            assert same(result, expected) or all(
                a["label"] == b["label"] and abs(a["score"] - b["score"]) <= 1e-5 for a, b in zip(
                    result if isinstance(result, list) else [result], expected if isinstance(expected, list)
                    else [expected]))


def test_a_model_that_cannot_load_stops_the_start(tmp_path) -> None:
    with pytest.raises(ForwardError, match="could not start"):
        ForwardProcess(ServeSettings(task="text-classification", model=str(tmp_path), forward_process="on"))


def test_the_forward_process_needs_no_http_stack() -> None:
    """It runs where uvicorn and Starlette cannot be imported (the core package's own environment)."""
    import dataclasses
    import subprocess

    buf = io.BytesIO()
    wire.write(buf, {"settings": dataclasses.asdict(ServeSettings(task="text-classification", threads=1))})
    wire.write(buf, {"id": 7, "features": [Feature([101, 800, 102], [0, 0, 0], {})], "options": {}})
    command = module_command("roformer_np.serve.forward_process",
                             prelude="sys.modules['starlette'] = sys.modules['uvicorn'] = None; ")
    done = subprocess.run(command, input=buf.getvalue(), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    replies = io.BytesIO(done.stdout)
    assert wire.read(replies) == {"ready": True}
    reply = wire.read(replies)
    assert reply["id"] == 7 and reply["outputs"][0].shape == (2,) and reply["outputs"][0].dtype == np.float32


def test_child_processes_import_the_parents_copy_of_the_package(tmp_path) -> None:
    """Run from a directory holding another ``roformer_np`` (an unpacked sdist beside the installed package), the
    command still imports this one."""
    import subprocess

    decoy = tmp_path / "roformer_np"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy was imported')\n")
    (tmp_path / "probe.py").write_text("import roformer_np, sys\ndef main():\n    print(roformer_np.__file__)\n"
                                      "if __name__ == '__main__':\n    main()\n")
    command = module_command("probe", prelude="sys.path.insert(1, '');")
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().startswith(ROOT)
