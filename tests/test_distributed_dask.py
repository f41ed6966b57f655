"""roformer_np.distributed on Dask: a worker plugin loads the pipeline once per worker, map_partitions runs it.

On a real ``LocalCluster`` of two worker processes, all on 127.0.0.1 (checked while they run): results equal
the single-process pipeline on the same partitions, rows and index in order, the declared ``meta`` matches
what the workers return, and each worker keeps its one model across tasks. The example runs as written.
Skipped without dask / pandas unless ROFORMER_NP_REQUIRE_EXTRAS=1 (CI's extras leg), where that fails.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from bounded import reviews, time_limit
from conftest import REPO

from roformer_np import pipeline

REQUIRED = os.environ.get("ROFORMER_NP_REQUIRE_EXTRAS") == "1"
TIME_LIMIT = 180  # seconds per test
MISSING = [m for m in ("dask", "distributed", "pandas") if importlib.util.find_spec(m) is None]
dask_only = pytest.mark.skipif(bool(MISSING) and not REQUIRED,
                               reason=f"needs {', '.join(MISSING)}: pip install \".[dask]\"")


@pytest.fixture(autouse=True)
def _bounded():
    with time_limit(TIME_LIMIT):
        yield


TEXTS = reviews()


def test_missing_distributed_names_the_extra() -> None:
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('dask', 'distributed'):\n"
            "            raise ImportError('blocked ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "import roformer_np.distributed as d\n"
            "try:\n    d.PipelineWorkerPlugin\nexcept ImportError as exc:\n    print(exc)\n"
            "try:\n    d.loopback_dask_cluster()\nexcept ImportError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=REPO / "tests")  # not the source tree: see test_distributed_ray.run_python
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and all('pip install "roformer_np[dask]"' in line for line in lines), done.stdout


@dask_only
def test_example_runs_as_written(tmp_path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "examples" / "dask_batch.py")], capture_output=True, text=True,
                          timeout=150, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    spec = importlib.util.spec_from_file_location("dask_batch_example", REPO / "examples" / "dask_batch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = pipeline("ner", aggregation_strategy="simple", batch_size=8)(module.TEXTS)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == len(module.TEXTS)
    for line, text, entities in zip(lines, module.TEXTS, expected):
        found = ", ".join(f"{e['entity_group']}:{e['word'].replace(' ', '')}" for e in entities)
        assert line == f"{text}  ->  {found or '-'}"
    assert any(expected) and not all(expected)


@pytest.fixture(scope="module")
def client():
    signal.alarm(120)  # bounded start (the per-test alarm is not armed yet for module fixtures)
    from distributed import Client

    from roformer_np.distributed import loopback_dask_cluster

    cluster = loopback_dask_cluster(n_workers=2, threads_per_worker=1)
    try:
        with Client(cluster) as c:
            c.wait_for_workers(2, timeout=60)
            signal.alarm(0)
            yield c
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def sentiment(client):
    from roformer_np.distributed import PipelineWorkerPlugin

    plugin = PipelineWorkerPlugin("text-classification", name="sentiment")
    client.register_plugin(plugin)
    return plugin


def frame(texts: list[str]):
    import pandas as pd

    return pd.DataFrame({"id": range(len(texts)), "text": texts}, index=[5 * i + 1 for i in range(len(texts))])


@dask_only
def test_predict_dataframe_matches_single_process_in_order(client, sentiment) -> None:
    import dask.dataframe as dd

    from roformer_np.distributed import predict_dataframe

    texts = TEXTS + TEXTS[::-1]
    df = frame(texts)
    ddf = dd.from_pandas(df, npartitions=6)
    out = predict_dataframe(ddf, sentiment).compute()
    assert out["id"].tolist() == list(range(len(texts))) and list(out.index) == list(df.index)
    assert out["text"].tolist() == texts
    local = pipeline("text-classification", batch_size=8)
    expected = [r for part in ddf.partitions for r in local(part.compute()["text"].tolist())]  # same partitions
    assert out["label"].tolist() == [r["label"] for r in expected]
    assert out["score"].tolist() == [r["score"] for r in expected]  # the same rows per call: the same bits
    assert set(out["label"]) == {"positive", "negative"}


@dask_only
def test_meta_is_what_the_workers_return(client, sentiment) -> None:
    import dask.dataframe as dd

    from roformer_np.distributed import predict_dataframe

    result = predict_dataframe(dd.from_pandas(frame(TEXTS[:10]), npartitions=2), sentiment)
    computed = result.compute()
    assert list(result.columns) == list(computed.columns) == ["id", "text", "label", "score"]
    assert dict(result.dtypes) == dict(computed.dtypes)


@dask_only
def test_other_task_and_options_through_a_second_plugin(client) -> None:
    import dask.dataframe as dd

    from roformer_np.distributed import PipelineWorkerPlugin, predict_dataframe

    plugin = PipelineWorkerPlugin("feature-extraction", name="vectors", pooling="mean", text_column="review")
    client.register_plugin(plugin)
    import pandas as pd

    ddf = dd.from_pandas(pd.DataFrame({"review": TEXTS[:12]}), npartitions=3)
    out = predict_dataframe(ddf, plugin).compute()
    local = pipeline("feature-extraction", pooling="mean", return_tensors=True, batch_size=8)
    expected = [v for part in ddf.partitions for v in local(part.compute()["review"].tolist())]
    assert len(out) == 12 and all(np.array_equal(g, e) for g, e in zip(out["embedding"], expected))
    assert expected[0].shape == (128,)


@dask_only
def test_model_loaded_once_per_worker_and_sockets_on_loopback(client, sentiment) -> None:
    import dask.dataframe as dd

    from roformer_np.distributed import predict_dataframe
    from roformer_np.distributed.procinfo import descendants, non_loopback, sockets

    def loaded(dask_worker) -> tuple:
        predictor = dask_worker.plugins["sentiment"].predictor
        return os.getpid(), id(predictor), id(predictor.pipeline.model), os.environ.get("OMP_NUM_THREADS")

    before = client.run(loaded)
    assert len(before) == 2 and len({pid for pid, *_ in before.values()}) == 2  # two worker processes
    result = predict_dataframe(dd.from_pandas(frame(TEXTS), npartitions=10), sentiment).persist()
    seen = sockets(descendants(os.getpid()))  # scheduler here, nannies and workers below: all alive now
    assert len(result.compute()) == len(TEXTS)
    assert client.run(loaded) == before  # the same predictor and model objects: loaded once, at registration
    assert {omp for *_, omp in before.values()} == {"1"}  # Dask's nanny gives each worker one OpenMP thread

    assert non_loopback(seen) == []
    listening = [s for s in seen if s.state == "LISTEN"]
    worker_pids = {pid for pid, *_ in before.values()}
    assert worker_pids <= {s.pid for s in listening}, listening  # the check saw the workers' own listeners


@dask_only
def test_unregistered_plugin_name_raises(client) -> None:
    import dask.dataframe as dd

    from roformer_np.distributed import predict_partition

    ddf = dd.from_pandas(frame(TEXTS[:4]), npartitions=1)
    with pytest.raises(RuntimeError, match="no roformer_np pipeline named 'nothing'.*register_plugin"):
        ddf.map_partitions(predict_partition, "nothing", meta=ddf._meta).compute()


@dask_only
def test_plugin_checks_its_arguments_in_the_client() -> None:
    from roformer_np.distributed import PipelineWorkerPlugin

    with pytest.raises(ValueError, match="text_pair_column: fill-mask takes one text per row"):
        PipelineWorkerPlugin("fill-mask", text_pair_column="b")
    with pytest.raises(ValueError, match="model must be a checkpoint directory"):
        PipelineWorkerPlugin("fill-mask", model=object())
    with pytest.raises(ValueError, match="unknown task"):
        PipelineWorkerPlugin("summarization")
