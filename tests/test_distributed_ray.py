"""roformer_np.distributed.PipelinePredictor: batches in, result columns out, and on a real local Ray cluster.

* Without extras: the core package and ``roformer_np.distributed`` import none of ray / dask / pandas /
  pyarrow; a missing one raises ImportError naming the extra; NumPy batches need none of them.
* Every task's columns equal the single-process pipeline's results on the same texts, in every batch format.
* On Ray (a local instance, every socket on 127.0.0.1, checked while the actors run): ``map_batches`` with two
  actors gives the single-process results in input order, each actor loads the model once, and two actors
  share the pages of a memory-mapped float32 checkpoint.

The Ray/pandas/pyarrow tests skip when those are not installed, unless ROFORMER_NP_REQUIRE_EXTRAS=1 (CI's
extras leg), where a missing extra fails. Every test is bounded in time (SIGALRM).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from bounded import reviews, time_limit
from conftest import REPO

from roformer_np import pipeline
from roformer_np.distributed import PipelinePredictor
from roformer_np.distributed.columns import plan_columns
from roformer_np.pipelines import DEMO_ROOT, demo_model_dir

REQUIRED = os.environ.get("ROFORMER_NP_REQUIRE_EXTRAS") == "1"
TIME_LIMIT = 240  # seconds per test
HEAVY = ("ray", "dask", "distributed", "pandas", "pyarrow")


def needs(*modules: str) -> pytest.MarkDecorator:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing) and not REQUIRED,
                              reason=f"needs {', '.join(missing)}: pip install \".[ray]\"")


@pytest.fixture(autouse=True)
def _bounded():
    with time_limit(TIME_LIMIT):
        yield


TEXTS = reviews()  # 60 real review texts
NER_TEXTS = ["张三昨天到了北京", "李四在上海工作", "今天天气很好", "王五明天去广州出差", "你好"]
MASK_TEXTS = ["水在零度时会[MASK]", "这本书很[MASK]看", "酒店的服务很[MASK]。"]


# Rows padded to another length (another split of the rows into batches) may differ in the last float32 bit:
# the summation blocking follows the padded length. A batch of the same rows gives the same bits, and so does
# batch_size=1 (no padding) under any split.
SPLIT_ATOL = 1e-6


def assert_same_scores(got: list[float], expected: list[float]) -> None:
    """Equal to float32 rounding: for results of the same rows split into batches differently."""
    assert len(got) == len(expected)
    np.testing.assert_allclose(got, expected, rtol=0, atol=SPLIT_ATOL)
    assert got != [] and np.abs(np.asarray(got)).max() > 100 * SPLIT_ATOL  # not all zero: the check can fail


def assert_same_records(got, expected, path: str = "result") -> None:
    """Nested lists / dicts equal, their floats to float32 rounding."""
    if isinstance(expected, float):
        assert isinstance(got, float) and abs(got - expected) <= SPLIT_ATOL, f"{path}: {got!r} != {expected!r}"
    elif isinstance(expected, dict):
        assert isinstance(got, dict) and list(got) == list(expected), f"{path}: {got!r}"
        for key in expected:
            assert_same_records(got[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, list):
        got = list(got)
        assert len(got) == len(expected), f"{path}: {len(got)} items, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same_records(g, e, f"{path}[{i}]")
    else:
        assert got == expected, f"{path}: {got!r} != {expected!r}"


def reference(task: str, **options):
    """The single-process pipeline with PipelinePredictor's default batch_size."""
    return pipeline(task, batch_size=8, **options)


def run_python(code: str, timeout: int = 120) -> subprocess.CompletedProcess:
    # from tests/: `python -c` puts the working directory first on sys.path, and the source tree's roformer_np
    # (no compiled kernels unless installed in place) must not shadow the installed package
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO / "tests")


def to_numpy_batch(texts: list[str], **more: list) -> dict[str, np.ndarray]:
    batch = {"text": np.array(texts, dtype=object)}
    for name, values in more.items():
        column = np.empty(len(values), dtype=object)
        column[:] = values
        batch[name] = column
    return batch


def as_batch(fmt: str, columns: dict[str, list]):
    if fmt == "pandas":
        import pandas as pd

        return pd.DataFrame(columns, index=[10 * i + 3 for i in range(len(next(iter(columns.values()))))])
    if fmt == "pyarrow":
        import pyarrow as pa

        return pa.table(columns)
    return {k: np.array(v, dtype=object) for k, v in columns.items()}


def column(batch, fmt: str, name: str) -> list:
    if fmt == "pyarrow":
        return batch.column(name).to_pylist()
    return list(batch[name])


# -- packaging: no extra imported, a clear error when one is missing --------------------------------------------
def test_core_and_distributed_import_no_extra() -> None:
    code = ("import sys, numpy as np\n"
            "import roformer_np, roformer_np.pipelines, roformer_np.distributed\n"
            "from roformer_np.distributed import PipelinePredictor, init_loopback_ray, loopback_dask_cluster\n"
            "out = PipelinePredictor('text-classification')({'text': np.array(['这本书很好看'], dtype=object)})\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules], out['label'][0])\n")
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    heavy, label = done.stdout.split("]")
    assert heavy == "[", f"imported: {heavy}]"
    assert label.strip() in ("positive", "negative")


BLOCK = ("import sys\n"
         "class Block:\n"
         "    def find_spec(self, name, path=None, target=None):\n"
         "        if name.split('.')[0] in {blocked!r}:\n"
         "            raise ImportError('blocked ' + name)\n"
         "sys.meta_path.insert(0, Block())\n")


def test_missing_ray_names_the_extra() -> None:
    code = BLOCK.format(blocked=["ray"]) + (
        "from roformer_np.distributed import init_loopback_ray\n"
        "try:\n    init_loopback_ray(num_cpus=1)\nexcept ImportError as exc:\n    print(exc)\n")
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert 'pip install "roformer_np[ray]"' in done.stdout, done.stdout


# -- PipelinePredictor in this process: every task, every format, equal to the pipeline -------------------------
FORMATS = ["numpy", pytest.param("pandas", marks=needs("pandas")), pytest.param("pyarrow", marks=needs("pyarrow"))]


@pytest.fixture(scope="module")
def classifier() -> PipelinePredictor:
    return PipelinePredictor("text-classification")


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_classification_columns_equal_pipeline(classifier, fmt: str) -> None:
    expected = reference("text-classification")(TEXTS)
    out = classifier(as_batch(fmt, {"text": TEXTS, "id": list(range(len(TEXTS)))}))
    assert column(out, fmt, "id") == list(range(len(TEXTS)))  # input columns kept, rows in order
    assert column(out, fmt, "text") == TEXTS
    assert column(out, fmt, "label") == [r["label"] for r in expected]
    assert column(out, fmt, "score") == [r["score"] for r in expected]  # the same bits
    assert len(set(column(out, fmt, "label"))) == 2  # both labels occur: the comparison can tell them apart
    if fmt == "pandas":
        assert list(out.index) == [10 * i + 3 for i in range(len(TEXTS))]
        assert out["score"].dtype == np.float64
    if fmt == "pyarrow":
        assert str(out.schema.field("label").type) == "string"
        assert str(out.schema.field("score").type) == "double"


def test_results_do_not_depend_on_the_batch_split(classifier) -> None:
    whole = classifier(to_numpy_batch(TEXTS))
    parts = [classifier(to_numpy_batch(TEXTS[i:i + 7])) for i in range(0, len(TEXTS), 7)]
    assert_same_scores(list(whole["score"]), [s for p in parts for s in p["score"]])
    one = classifier(to_numpy_batch(TEXTS[:1]))  # a batch of one row stays a batch of one row
    assert list(one["label"]) == [whole["label"][0]] and one["score"].shape == (1,)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("options", [{"top_k": None}, {"top_k": 1}, {"function_to_apply": "sigmoid", "top_k": 2}])
def test_text_classification_ranked(fmt: str, options: dict) -> None:
    expected = reference("text-classification", **options)(TEXTS[:9])  # the predictor's batch_size
    out = PipelinePredictor("text-classification", **options)(as_batch(fmt, {"text": TEXTS[:9]}))
    assert [list(x) for x in column(out, fmt, "labels")] == [[d["label"] for d in r] for r in expected]
    assert [list(x) for x in column(out, fmt, "scores")] == [[d["score"] for d in r] for r in expected]


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_classification_pairs(fmt: str) -> None:
    firsts, seconds = TEXTS[:6], TEXTS[30:36]
    expected = reference("text-classification")([{"text": a, "text_pair": b} for a, b in zip(firsts, seconds)])
    out = PipelinePredictor("text-classification", text_column="a", text_pair_column="b")(
        as_batch(fmt, {"a": firsts, "b": seconds}))
    assert column(out, fmt, "score") == [r["score"] for r in expected]
    alone = reference("text-classification")(firsts)
    assert column(out, fmt, "score") != [r["score"] for r in alone]  # the pair text was used


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("strategy", ["none", "simple", "first"])
def test_token_classification_entities(fmt: str, strategy: str) -> None:
    expected = reference("ner", aggregation_strategy=strategy)(NER_TEXTS)
    out = PipelinePredictor("ner", aggregation_strategy=strategy)(as_batch(fmt, {"text": NER_TEXTS}))
    got = column(out, fmt, "entities")
    assert [list(e) for e in got] == expected
    assert any(expected) and not all(expected)  # some texts have entities, some none
    if fmt == "pyarrow":  # typed structs, also for rows without entities
        assert "struct<entity" in str(out.schema.field("entities").type)


@pytest.mark.parametrize("fmt", FORMATS)
def test_fill_mask_predictions(fmt: str) -> None:
    expected = reference("fill-mask", top_k=3)(MASK_TEXTS)
    out = PipelinePredictor("fill-mask", top_k=3)(as_batch(fmt, {"text": MASK_TEXTS}))
    assert [list(p) for p in column(out, fmt, "predictions")] == expected


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("pooling", [None, "mean", "cls"])
def test_feature_extraction_embeddings(fmt: str, pooling: str | None) -> None:
    expected = reference("feature-extraction", pooling=pooling, return_tensors=True, normalize=True)(TEXTS[:8])
    out = PipelinePredictor("feature-extraction", pooling=pooling, normalize=True)(as_batch(fmt, {"text": TEXTS[:8]}))
    got = column(out, fmt, "embedding")
    for row, (g, e) in enumerate(zip(got, expected)):
        e = e if pooling is not None else e[0]  # [C] pooled, else [T, C]
        g = np.asarray(g.tolist() if hasattr(g, "tolist") else g, dtype=np.float32)
        assert g.shape == e.shape and np.array_equal(g, e), f"row {row}"
    if fmt == "numpy" and pooling is not None:
        assert out["embedding"].shape == (8, expected[0].shape[0]) and out["embedding"].dtype == np.float32


def test_question_answering_columns(qa_dir: Path) -> None:
    questions = ["谁到了北京", "天气怎么样", "书好看吗"]
    contexts = ["张三昨天到了北京", "今天天气很好", "这本书很好看"]
    pipe = reference("question-answering", model=qa_dir)
    expected = pipe(question=questions, context=contexts)
    batch = {"question": np.array(questions, dtype=object), "context": np.array(contexts, dtype=object)}
    out = PipelinePredictor("question-answering", model=qa_dir)(batch)  # default columns: question, context
    assert list(out["answer"]) == [r["answer"] for r in expected]
    assert list(out["score"]) == [r["score"] for r in expected]
    assert list(out["start"]) == [r["start"] for r in expected] and out["start"].dtype == np.int64
    ranked = PipelinePredictor("question-answering", model=qa_dir, top_k=2, text_column="q", text_pair_column="c")(
        {"q": np.array(questions, dtype=object), "c": np.array(contexts, dtype=object)})
    ranked_expected = pipe(question=questions, context=contexts, top_k=2)
    assert list(ranked["answers"]) == [r if isinstance(r, list) else [r] for r in ranked_expected]
    assert any(len(r) == 2 for r in ranked["answers"])


def test_text_generation_columns(lm_dir: Path) -> None:
    prompts = ["今天天气", "北京", "我在上海工作"]
    options = {"do_sample": False, "max_new_tokens": 3}
    expected = reference("text-generation", model=lm_dir, **options)(prompts)
    out = PipelinePredictor("text-generation", model=lm_dir, **options)(to_numpy_batch(prompts))
    assert list(out["generated_text"]) == [r[0]["generated_text"] for r in expected]
    several = PipelinePredictor("text-generation", model=lm_dir, num_beams=2, num_return_sequences=2, **options)(
        to_numpy_batch(prompts))
    beams = reference("text-generation", model=lm_dir, num_beams=2, num_return_sequences=2, **options)(prompts)
    assert list(several["generated_texts"]) == [[d["generated_text"] for d in r] for r in beams]


def test_sentence_similarity_columns() -> None:
    model = DEMO_ROOT / "mlm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MLM head's weights are not used by the encoder
        pipe = reference("sentence-similarity", model=model, pooling="mean")
        predictor = PipelinePredictor("sentence-similarity", model=model, pooling="mean")
    sources, candidates = TEXTS[:3], [TEXTS[3:5], [TEXTS[40]], TEXTS[50:53]]
    expected = pipe([{"source_sentence": s, "sentences": c} for s, c in zip(sources, candidates)])
    out = predictor(to_numpy_batch(sources, sentences=candidates))
    assert [list(s) for s in out["scores"]] == expected
    single = predictor(to_numpy_batch(sources[:1], sentences=[TEXTS[3]]))  # a str compares with one sentence
    assert list(single["scores"][0]) == pipe({"source_sentence": sources[0], "sentences": [TEXTS[3]]})


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_column_holds_the_raw_result(fmt: str) -> None:
    expected = reference("text-classification", top_k=None)(TEXTS[:5])
    out = PipelinePredictor("text-classification", output_column="result", top_k=None)(
        as_batch(fmt, {"text": TEXTS[:5]}))
    assert [list(r) for r in column(out, fmt, "result")] == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_batch_gets_typed_empty_columns(classifier, fmt: str) -> None:
    out = classifier(as_batch(fmt, {"text": []}))
    assert column(out, fmt, "label") == [] and column(out, fmt, "score") == []
    if fmt == "pyarrow":
        assert str(out.schema.field("score").type) == "double"


def test_bad_batches_raise_naming_the_problem(classifier) -> None:
    with pytest.raises(ValueError, match="no column 'text'.*'review'"):
        classifier({"review": np.array(["好"], dtype=object)})
    with pytest.raises(ValueError, match="column 'text', row 1: expected a str, got NoneType"):
        classifier({"text": np.array(["好", None], dtype=object)})
    with pytest.raises(ValueError, match=r"already has column\(s\) \['label'\]"):
        classifier({"text": np.array(["好"], dtype=object), "label": np.array(["x"], dtype=object)})
    with pytest.raises(TypeError, match="a batch must be"):
        classifier(["好"])
    with pytest.raises(ValueError, match="text_pair_column: fill-mask takes one text per row"):
        PipelinePredictor("fill-mask", text_pair_column="b")
    with pytest.raises(ValueError, match="text_column must be a non-empty str"):
        PipelinePredictor("fill-mask", text_column="")
    with pytest.raises(TypeError, match="unknown option"):
        PipelinePredictor("fill-mask", top_kk=3)  # the pipeline's own check, at construction
    with pytest.raises(ValueError, match="unknown task"):
        PipelinePredictor("summarization")


def test_plans_name_the_columns_without_loading_a_model() -> None:
    assert plan_columns("sentiment-analysis", {}).names == ["label", "score"]
    assert plan_columns("text-classification", {"return_all_scores": True}).names == ["labels", "scores"]
    assert plan_columns("question-answering", {"top_k": 3}).names == ["answers"]
    assert plan_columns("feature-extraction", {"pooling": "cls"}).columns[0].kind == "vector"
    assert plan_columns("text-generation", {"generate_kwargs": {"num_return_sequences": 4}}).names == \
        ["generated_texts"]
    assert plan_columns("ner", {}, output_column="out").names == ["out"]


# -- a real local Ray cluster ------------------------------------------------------------------------------------
ray_only = needs("ray", "pandas", "pyarrow")


@ray_only
def test_example_runs_as_written(tmp_path: Path) -> None:
    """examples/ray_batch.py (its own Ray instance; this runs before the module's cluster starts), run from
    outside the source tree (see ray_cluster)."""
    done = subprocess.run([sys.executable, str(REPO / "examples" / "ray_batch.py")], capture_output=True, text=True,
                          timeout=200, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    spec = importlib.util.spec_from_file_location("ray_batch_example", REPO / "examples" / "ray_batch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = reference("text-classification")(module.REVIEWS)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == len(module.REVIEWS)
    for i, (line, text, result) in enumerate(zip(lines, module.REVIEWS, expected)):
        assert line.split() == [str(i), result["label"], f"{result['score']:.2f}", text]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    signal.alarm(120)  # bounded start (the per-test alarm is not armed yet for module fixtures)
    from roformer_np.distributed import init_loopback_ray

    # Ray puts the driver's working directory first on its workers' sys.path: start it outside the source
    # tree, whose roformer_np (without compiled kernels when not installed in place) would shadow the installed one
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("ray-driver"))
    try:
        init_loopback_ray(num_cpus=2)
    finally:
        os.chdir(here)
    signal.alarm(0)
    import ray

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()


def dataset(ray, texts: list[str]):
    return ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)])


@ray_only
@pytest.mark.parametrize("fmt", ["pandas", "numpy", "pyarrow"])
def test_map_batches_matches_single_process_in_order(ray_cluster, fmt: str) -> None:
    ray = ray_cluster
    texts = TEXTS + TEXTS[::-1]  # 120 rows
    rows = dataset(ray, texts).map_batches(
        PipelinePredictor, fn_constructor_kwargs={"task": "text-classification"},
        compute=ray.data.ActorPoolStrategy(size=2), batch_size=9, batch_format=fmt).take_all()
    expected = reference("text-classification")(texts)
    assert [r["id"] for r in rows] == list(range(len(texts)))
    assert [r["text"] for r in rows] == texts
    assert [r["label"] for r in rows] == [e["label"] for e in expected]
    assert_same_scores([r["score"] for r in rows], [e["score"] for e in expected])


@ray_only
def test_map_batches_other_tasks(ray_cluster) -> None:
    ray = ray_cluster
    ner = dataset(ray, NER_TEXTS * 4).map_batches(
        PipelinePredictor, fn_constructor_kwargs={"task": "ner", "aggregation_strategy": "simple"},
        compute=ray.data.ActorPoolStrategy(size=2), batch_size=3, batch_format="pyarrow").take_all()
    expected = reference("ner", aggregation_strategy="simple")(NER_TEXTS * 4)
    assert_same_records([list(r["entities"]) for r in ner], expected)
    vectors = dataset(ray, TEXTS[:20]).map_batches(
        PipelinePredictor, fn_constructor_kwargs={"task": "feature-extraction", "pooling": "mean"},
        compute=ray.data.ActorPoolStrategy(size=2), batch_size=6, batch_format="numpy").take_all()
    vectors_expected = reference("feature-extraction", pooling="mean", return_tensors=True)(TEXTS[:20])
    for r, e in zip(vectors, vectors_expected):
        assert_same_scores(np.asarray(r["embedding"]).tolist(), e.tolist())
    assert [r["id"] for r in vectors] == list(range(20))


@ray_only
def test_actor_loads_once_same_bits_per_batch_sockets_on_loopback(ray_cluster) -> None:
    from roformer_np.distributed.procinfo import descendants, non_loopback, sockets

    ray = ray_cluster

    class Stamped(PipelinePredictor):  # defined here, so Ray ships the class by value
        loads = 0

        def __init__(self, **kwargs):
            type(self).loads += 1
            super().__init__(**kwargs)

        def __call__(self, batch):
            out = super().__call__(batch)
            out["pid"], out["instance"], out["loads"] = os.getpid(), id(self), type(self).loads
            out["batch"] = out["id"].iloc[0]  # which rows shared this batch
            return out

    scored = dataset(ray, TEXTS * 2).map_batches(
        Stamped, fn_constructor_kwargs={"task": "text-classification"}, compute=ray.data.ActorPoolStrategy(size=2),
        batch_size=8, batch_format="pandas")
    frames, seen = [], None
    for frame in scored.iter_batches(batch_format="pandas", batch_size=None):
        frames.append(frame)
        if seen is None:  # the actors are alive now: every socket of this process tree
            seen = sockets(descendants(os.getpid()))
    import pandas as pd

    df = pd.concat(frames)
    assert df["id"].tolist() == list(range(len(TEXTS) * 2))
    per_actor = df.groupby("pid")
    assert 1 <= per_actor.ngroups <= 2
    assert (per_actor["instance"].nunique() == 1).all() and set(df["loads"]) == {1}  # one model per actor
    assert per_actor.size().max() > 8  # an actor ran several batches on its one model
    local = reference("text-classification")
    for _, rows in df.groupby("batch"):  # a batch's rows, run here together: the same bits as in the actor
        expected = local(rows["text"].tolist())
        assert rows["score"].tolist() == [e["score"] for e in expected]
        assert rows["label"].tolist() == [e["label"] for e in expected]

    assert non_loopback(seen) == []
    listening = {s.command for s in seen if s.state == "LISTEN"}
    assert {"gcs_server", "raylet"} <= listening and any(c.startswith("ray::MapWorker") for c in listening), listening
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}


@ray_only
def test_what_actors_keep_mapped_of_a_float32_checkpoint(ray_cluster, tmp_path: Path) -> None:
    from roformer_np import RoFormerForSequenceClassification
    from roformer_np.backend import packs_weights

    ray = ray_cluster
    model = RoFormerForSequenceClassification.from_pretrained(demo_model_dir("text-classification"), dtype=np.float32)
    model.save_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_bytes((DEMO_ROOT / "vocab.txt").read_bytes())
    weights = tmp_path / "model.safetensors"

    class Probe:  # a Ray actor holding a PipelinePredictor (defined here, so Ray ships it by value)
        def __init__(self, model: str) -> None:
            self.predictor = PipelinePredictor("text-classification", model=model)

        def run(self, texts: list[str]) -> list[str]:
            return list(self.predictor({"text": np.array(texts, dtype=object)})["label"])

        def mapping(self, path: str) -> dict:
            from roformer_np.distributed.procinfo import mapped_files

            return mapped_files()[path]

    actors = [ray.remote(num_cpus=1)(Probe).remote(str(tmp_path)) for _ in range(2)]
    try:
        labels = ray.get([a.run.remote(TEXTS[:4]) for a in actors], timeout=120)
        expected = reference("text-classification", model=tmp_path)(TEXTS[:4])
        assert labels[0] == labels[1] == [r["label"] for r in expected]
        maps = ray.get([a.mapping.remote(str(weights)) for a in actors], timeout=60)  # both actors alive
    finally:
        for a in actors:
            ray.kill(a)
    size = weights.stat().st_size
    if packs_weights(np.float32):
        # the linear weights and the word embeddings (64% of this file) are packed at load and shared through
        # the panel cache (see below), their file pages released: what stays mapped is the small tensors used
        # as stored (norms, biases, token types) and the neighbouring pages the kernel maps around them
        for m in maps:
            assert m["rss"] < 0.5 * size, (m, size)
        return
    for m in maps:
        # nothing packed (ROFORMER_NP_GEMM=blas): the embeddings are used as stored, views into the mapping
        assert m["rss"] >= 0.5 * size, (m, size)
        assert m["shared"] >= 0.9 * m["rss"], m  # ... and those pages are the other actor's pages too
        assert m["pss"] <= 0.6 * m["rss"], m


@ray_only
def test_actors_share_the_packed_weights_through_the_panel_cache(ray_cluster, tmp_path: Path) -> None:
    from roformer_np.backend import packs_weights

    ray = ray_cluster
    cache = tmp_path / "panels"
    model = demo_model_dir("text-classification")

    class Probe:  # as above, with the packed weights mapped from ``cache``
        def __init__(self, model: str, cache: str) -> None:
            self.predictor = PipelinePredictor("text-classification", model=model, panel_cache=cache)

        def run(self, texts: list[str]) -> list[float]:
            return list(self.predictor({"text": np.array(texts, dtype=object)})["score"])

        def mapping(self) -> dict:
            from roformer_np.distributed.procinfo import mapped_files

            return mapped_files(suffix=".npy")

    actors = [ray.remote(num_cpus=1)(Probe).remote(str(model), str(cache)) for _ in range(2)]
    try:
        scores = ray.get([a.run.remote(TEXTS[:4]) for a in actors], timeout=120)
        maps = ray.get([a.mapping.remote() for a in actors], timeout=60)  # both actors alive
    finally:
        for a in actors:
            ray.kill(a)
    # bit-identical to a process that holds its panels privately
    assert scores[0] == scores[1] == [r["score"] for r in reference("text-classification", model=model)(TEXTS[:4])]
    files = {str(p): p.stat().st_size for p in cache.glob("*.npy")}
    if not packs_weights(np.float32):  # the NumPy reference path: nothing packed, nothing to share
        assert files == {} and maps == [{}, {}]
        return
    assert files, "the actors wrote no panel files"
    for m in maps:
        assert set(m) == set(files), (sorted(m), sorted(files))  # every packed weight mapped from the cache
        rss = sum(v["rss"] for v in m.values())
        assert rss >= 0.9 * sum(files.values()), (rss, files)  # ... and read (the forward touched every page)
        assert sum(v["shared"] for v in m.values()) >= 0.9 * rss  # ... and those pages are the other actor's
        assert sum(v["pss"] for v in m.values()) <= 0.6 * rss
