"""Hub ids: ``from_pretrained("owner/name")`` through Hugging Face cache layouts built by hand, offline and with a
stand-in ``huggingface_hub`` for the download path (the real package is optional and never needed here)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import random_weights, tiny_config
from fake_models import VOCAB, write_vocab
from hub_cache import (
    COMMIT,
    OTHER_COMMIT,
    FakeHub,
    add_snapshot,
    forbid_downloads,
    no_hub_package,
    repo_dir,
    use_cache,
)

from roformer_np import (
    RoFormerConfig,
    RoFormerForCausalLM,
    RoFormerForMaskedLM,
    RoFormerForMultipleChoice,
    RoFormerForQuestionAnswering,
    RoFormerForSequenceClassification,
    RoFormerForTokenClassification,
    RoFormerModel,
    RoFormerTokenizer,
    RoFormerTokenizerFast,
    pipeline,
)
from roformer_np.hub import (
    CheckpointFiles,
    CheckpointNotFoundError,
    hub_cache_dir,
    is_repo_id,
    offline_mode,
    resolve_checkpoint,
)
from roformer_np.model import checkpoint_files
from roformer_np.weights import CheckpointError, load_weights, save_weights

TOKENIZER = CheckpointFiles((("vocab.txt",),), ("tokenizer_config.json",))
MODEL = CheckpointFiles((("config.json",), ("model.safetensors", "pytorch_model.bin")))


@pytest.fixture(scope="session")
def sources(tmp_path_factory, demo_root, qa_dir, lm_dir) -> dict[str, Path]:
    """A checkpoint directory (with vocab.txt) per head kind."""
    root = tmp_path_factory.mktemp("sources")
    out = {"qa": qa_dir, "causal_lm": lm_dir}
    for kind in ("mlm", "sentiment", "ner"):
        out[kind] = shutil.copytree(demo_root / kind, root / kind)
        write_vocab(out[kind])
    config = tiny_config(vocab_size=len(VOCAB), max_position_embeddings=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the new head
        RoFormerForMultipleChoice(config, random_weights(config, 3), init_seed=3).save_pretrained(root / "mc")
    write_vocab(root / "mc")
    out["mc"] = root / "mc"
    return out


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache as the only one in the environment, offline, huggingface_hub refusing any download."""
    forbid_downloads(monkeypatch)
    return use_cache(monkeypatch, tmp_path / "hub")


# -- pure rules ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["foo", "foo/bar", "123", "Foo-BAR_foo.bar123", "junnyu/roformer_chinese_base",
                                  "a" * 96, "org/" + "b" * 96])
def test_repo_ids_accepted_as_huggingface_hub_does(name):
    assert is_repo_id(name)


@pytest.mark.parametrize("name", ["datasets/foo/bar", ".repo_id", "foo--bar", "foo.git", "../x", "x/..", "a/../b",
                                  "/abs/path", "./model", "a/b/c", "", "a" * 97, "foo/.bar", "foo/bar-", "foo\\bar",
                                  "foo bar", "C:\\models\\x"])
def test_other_names_are_not_repo_ids(name):
    assert not is_repo_id(name)


def test_cache_location_precedence(tmp_path, monkeypatch):
    home = str(tmp_path / "home")
    monkeypatch.setenv("HOME", home)  # what expanduser reads
    env = {"HOME": home}
    assert hub_cache_dir(env) == Path(home) / ".cache" / "huggingface" / "hub"
    env["XDG_CACHE_HOME"] = "/xdg"
    assert hub_cache_dir(env) == Path("/xdg/huggingface/hub")
    env["HF_HOME"] = "/hf_home"
    assert hub_cache_dir(env) == Path("/hf_home/hub")
    env["HUGGINGFACE_HUB_CACHE"] = "/legacy_hub"
    assert hub_cache_dir(env) == Path("/legacy_hub")
    env["HF_HUB_CACHE"] = "/hub_cache"
    assert hub_cache_dir(env) == Path("/hub_cache")
    env["TRANSFORMERS_CACHE"] = "/transformers_cache"  # transformers' own (deprecated) variable wins
    assert hub_cache_dir(env) == Path("/transformers_cache")


def test_cache_location_expands_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hub_cache_dir({"HF_HOME": "~/hf"}) == tmp_path / "hf" / "hub"


@pytest.mark.parametrize("env, offline", [
    ({}, False), ({"HF_HUB_OFFLINE": "1"}, True), ({"HF_HUB_OFFLINE": "yes"}, True), ({"HF_HUB_OFFLINE": "On"}, True),
    ({"HF_HUB_OFFLINE": "true"}, True), ({"HF_HUB_OFFLINE": "0"}, False), ({"HF_HUB_OFFLINE": "no"}, False),
    ({"TRANSFORMERS_OFFLINE": "1"}, True), ({"HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": "1"}, True),
    ({"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"}, False),  # huggingface_hub reads HF_HUB_OFFLINE first
])
def test_offline_switch_parsed_as_huggingface_hub_does(env, offline):
    assert offline_mode(env) is offline


def test_a_miss_is_both_a_value_error_and_a_file_not_found_error():
    assert issubclass(CheckpointNotFoundError, CheckpointError)
    assert issubclass(CheckpointNotFoundError, ValueError) and issubclass(CheckpointNotFoundError, FileNotFoundError)


# -- resolving from the cache --------------------------------------------------------------------
def test_refs_main_resolves_to_its_snapshot(cache, sources):
    snapshot = add_snapshot(cache, "owner/mlm", sources["mlm"])
    assert resolve_checkpoint("owner/mlm", MODEL + TOKENIZER) == snapshot
    assert (snapshot / "model.safetensors").is_symlink()  # the blob layout, as huggingface_hub writes it


def test_branch_tag_and_commit_hash_revisions(cache, sources):
    main_snapshot = add_snapshot(cache, "owner/m", sources["mlm"], COMMIT, refs=("main", "v1.0"))
    dev_snapshot = add_snapshot(cache, "owner/m", sources["sentiment"], OTHER_COMMIT, refs=("dev", "refs/pr/1"))
    assert resolve_checkpoint("owner/m", MODEL) == main_snapshot
    assert resolve_checkpoint("owner/m", MODEL, revision="v1.0") == main_snapshot
    assert resolve_checkpoint("owner/m", MODEL, revision="dev") == dev_snapshot
    assert resolve_checkpoint("owner/m", MODEL, revision="refs/pr/1") == dev_snapshot
    assert resolve_checkpoint("owner/m", MODEL, revision=OTHER_COMMIT) == dev_snapshot
    dev = RoFormerForSequenceClassification.from_pretrained("owner/m", revision="dev")
    assert dev.config.id2label == {0: "negative", 1: "positive"}
    assert RoFormerConfig.from_pretrained("owner/m").architectures == ["RoFormerForMaskedLM"]
    with pytest.raises(CheckpointNotFoundError, match=r"refs/v2 \(no such branch or tag.*snapshots/v2 \(missing\)"):
        resolve_checkpoint("owner/m", MODEL, revision="v2")


def test_a_local_directory_wins_over_the_cache(cache, sources, tmp_path, monkeypatch):
    add_snapshot(cache, "owner/mlm", sources["mlm"])
    local = tmp_path / "work"
    shutil.copytree(sources["sentiment"], local / "owner" / "mlm")
    monkeypatch.chdir(local)
    assert resolve_checkpoint("owner/mlm", MODEL) == Path("owner/mlm")
    assert RoFormerConfig.from_pretrained("owner/mlm").architectures == ["RoFormerForSequenceClassification"]


def test_hf_hub_cache_beats_hf_home_and_cache_dir_beats_both(tmp_path, monkeypatch, sources):
    forbid_downloads(monkeypatch)
    use_cache(monkeypatch, tmp_path / "hub_cache")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    add_snapshot(tmp_path / "hub_cache", "owner/x", sources["sentiment"])
    add_snapshot(tmp_path / "hf_home" / "hub", "owner/x", sources["ner"])
    add_snapshot(tmp_path / "explicit", "owner/x", sources["qa"])
    assert RoFormerConfig.from_pretrained("owner/x").architectures == ["RoFormerForSequenceClassification"]
    monkeypatch.delenv("HF_HUB_CACHE")
    assert RoFormerConfig.from_pretrained("owner/x").architectures == ["RoFormerForTokenClassification"]
    explicit = RoFormerConfig.from_pretrained("owner/x", cache_dir=tmp_path / "explicit")
    assert explicit.architectures == ["RoFormerForQuestionAnswering"]


def test_a_snapshot_lacking_a_needed_file_is_a_miss_for_it(cache, sources):
    add_snapshot(cache, "owner/noweights", sources["mlm"], skip=("model.safetensors",))
    assert RoFormerConfig.from_pretrained("owner/noweights").architectures == ["RoFormerForMaskedLM"]
    with pytest.raises(CheckpointNotFoundError) as info:
        RoFormerModel.from_pretrained("owner/noweights")
    message = str(info.value)
    assert "model.safetensors or model.safetensors.index.json or pytorch_model.bin" in message
    assert COMMIT in message and "HF_HUB_OFFLINE" in message and "pass the path of a checkpoint directory" in message


def test_a_miss_names_every_place_looked_at(cache):
    with pytest.raises(CheckpointNotFoundError) as info:
        RoFormerModel.from_pretrained("owner/absent")
    message = str(info.value)
    assert "'owner/absent' is neither a local path nor a checkpoint in the Hugging Face cache" in message
    assert str(Path("owner/absent").resolve()) in message and str(repo_dir(cache, "owner/absent")) in message


def test_missing_plain_paths_keep_todays_errors(cache, tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint directory not found") as info:
        RoFormerModel.from_pretrained(tmp_path / "nope")
    assert not isinstance(info.value, CheckpointNotFoundError)
    with pytest.raises(ValueError, match="neither a directory nor a vocab file"):
        RoFormerTokenizer.from_pretrained(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="model directory not found"):
        pipeline("fill-mask", model=tmp_path / "nope")


def test_sharded_weights_need_every_shard(cache, sources, tmp_path):
    sharded = shutil.copytree(sources["mlm"], tmp_path / "sharded")
    weights = load_weights(sharded / "model.safetensors")
    (sharded / "model.safetensors").unlink()
    names = sorted(weights)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    for shard, keys in shards.items():
        save_weights({k: weights[k] for k in keys}, sharded / shard)
    index = {"metadata": {}, "weight_map": {k: s for s, keys in shards.items() for k in keys}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    add_snapshot(cache, "owner/sharded", sharded)
    model = RoFormerForMaskedLM.from_pretrained("owner/sharded")
    reference = RoFormerForMaskedLM.from_pretrained(sources["mlm"])
    assert all(np.array_equal(v, reference.state_dict()[k]) for k, v in model.state_dict().items())
    add_snapshot(cache, "owner/half", sharded, skip=("model-00002-of-00002.safetensors",))
    with pytest.raises(CheckpointNotFoundError, match="model-00002-of-00002.safetensors"):
        RoFormerForMaskedLM.from_pretrained("owner/half")


# -- hostile names stay inside the cache ---------------------------------------------------------
def test_hostile_names_never_leave_the_cache(cache, sources, tmp_path):
    outside = shutil.copytree(sources["mlm"], tmp_path / "outside")
    for name in ("../outside", "owner/../../outside", "owner/..", "..", "owner/../x"):
        with pytest.raises((CheckpointNotFoundError, FileNotFoundError, ValueError)):
            RoFormerConfig.from_pretrained(name, cache_dir=cache)
    # a ref pointing out of snapshots/ is not followed
    repo = repo_dir(cache, "owner/evil")
    (repo / "refs").mkdir(parents=True)
    (repo / "snapshots").mkdir()
    (repo / "refs" / "main").write_text(f"../../../{outside.name}")
    with pytest.raises(CheckpointNotFoundError, match="missing"):
        RoFormerConfig.from_pretrained("owner/evil")
    for revision in ("../../../outside", "/etc", "a\\b", ""):
        with pytest.raises(ValueError, match="revision"):
            RoFormerConfig.from_pretrained("owner/evil", revision=revision)


# -- downloads (huggingface_hub stand-in) --------------------------------------------------------
def test_offline_never_downloads_even_for_optional_files(cache, sources):
    snapshot = add_snapshot(cache, "owner/tok", sources["mlm"])  # no tokenizer_config.json in it
    assert resolve_checkpoint("owner/tok", TOKENIZER) == snapshot  # forbid_downloads would fail the test
    tokens = RoFormerTokenizerFast.from_pretrained("owner/tok").tokenize("今天天气很好")
    assert tokens == RoFormerTokenizerFast.from_pretrained(sources["mlm"]).tokenize("今天天气很好")


def test_local_files_only_never_downloads(tmp_path, monkeypatch, sources):
    forbid_downloads(monkeypatch)
    use_cache(monkeypatch, tmp_path / "hub", offline=False)
    with pytest.raises(CheckpointNotFoundError, match="local_files_only=True forbids downloading"):
        RoFormerModel.from_pretrained("owner/mlm", local_files_only=True)


def test_without_huggingface_hub_a_miss_names_the_extra(tmp_path, monkeypatch):
    no_hub_package(monkeypatch)
    use_cache(monkeypatch, tmp_path / "hub", offline=False)
    with pytest.raises(CheckpointNotFoundError, match=r"needs huggingface_hub \(pip install 'roformer_np\[hub\]'\)"):
        RoFormerTokenizer.from_pretrained("owner/mlm")


def test_online_downloads_only_the_needed_files(tmp_path, monkeypatch, sources):
    use_cache(monkeypatch, tmp_path / "hub", offline=False)
    extra = {"pytorch_model.bin": b"never read", "README.md": b"#", "tf_model.h5": b"x"}
    hub = FakeHub.from_directory("owner/lm", sources["causal_lm"], **extra).install(monkeypatch)
    model = RoFormerForCausalLM.from_pretrained("owner/lm", token="secret")
    requested = [c["filename"] for c in hub.calls]
    assert requested == ["config.json", "model.safetensors", "generation_config.json"]  # safetensors first
    assert hub.calls[0]["revision"] == "main" and all(c["revision"] == COMMIT for c in hub.calls[1:])
    assert all(c["token"] == "secret" and c["cache_dir"] == str(tmp_path / "hub") for c in hub.calls)
    reference = RoFormerForCausalLM.from_pretrained(sources["causal_lm"])
    assert model.generation_config == reference.generation_config
    assert all(np.array_equal(v, reference.state_dict()[k]) for k, v in model.state_dict().items())
    hub.calls.clear()  # now cached, with every optional file: no second download
    RoFormerForCausalLM.from_pretrained("owner/lm")
    assert hub.calls == []


def test_online_falls_back_to_pytorch_model_bin(tmp_path, monkeypatch, sources):
    use_cache(monkeypatch, tmp_path / "hub", offline=False)
    files = {"config.json": (sources["mlm"] / "config.json").read_bytes(), "pytorch_model.bin": b"\0"}
    hub = FakeHub("owner/bin", files).install(monkeypatch)
    directory = resolve_checkpoint("owner/bin", checkpoint_files())
    assert [c["filename"] for c in hub.calls] == ["config.json", "model.safetensors", "model.safetensors.index.json",
                                                  "pytorch_model.bin"]
    assert (directory / "pytorch_model.bin").read_bytes() == b"\0"


def test_online_fills_in_what_the_snapshot_lacks(tmp_path, monkeypatch, sources):
    cache = use_cache(monkeypatch, tmp_path / "hub", offline=False)
    add_snapshot(cache, "owner/mlm", sources["mlm"], skip=("model.safetensors",))
    hub = FakeHub.from_directory("owner/mlm", sources["mlm"]).install(monkeypatch)
    model = RoFormerForMaskedLM.from_pretrained("owner/mlm")
    assert "model.safetensors" in [c["filename"] for c in hub.calls]
    assert model.config.name_or_path == "owner/mlm"


def test_optional_files_known_absent_are_not_asked_for(tmp_path, monkeypatch, sources):
    cache = use_cache(monkeypatch, tmp_path / "hub", offline=False)
    snapshot = add_snapshot(cache, "owner/tok", sources["mlm"])
    forbid_downloads(monkeypatch)
    with pytest.raises(AssertionError, match="hf_hub_download was called"):
        resolve_checkpoint("owner/tok", TOKENIZER)  # tokenizer_config.json: neither cached nor known absent
    no_exist = repo_dir(cache, "owner/tok") / ".no_exist" / COMMIT
    no_exist.mkdir(parents=True)
    (no_exist / "tokenizer_config.json").touch()  # what huggingface_hub records after a 404
    assert resolve_checkpoint("owner/tok", TOKENIZER) == snapshot


def test_force_download_fetches_again(tmp_path, monkeypatch, sources):
    cache = use_cache(monkeypatch, tmp_path / "hub", offline=False)
    add_snapshot(cache, "owner/mlm", sources["mlm"])
    hub = FakeHub.from_directory("owner/mlm", sources["mlm"]).install(monkeypatch)
    RoFormerConfig.from_pretrained("owner/mlm")
    assert hub.calls == []
    RoFormerConfig.from_pretrained("owner/mlm", force_download=True)
    assert [(c["filename"], c["force_download"]) for c in hub.calls] == [("config.json", True)]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointNotFoundError, match="force_download=True, but HF_HUB_OFFLINE"):
        RoFormerConfig.from_pretrained("owner/mlm", force_download=True)


def test_download_errors_are_checkpoint_misses(tmp_path, monkeypatch, sources):
    use_cache(monkeypatch, tmp_path / "hub", offline=False)
    FakeHub.from_directory("owner/mlm", sources["mlm"]).install(monkeypatch)
    with pytest.raises(CheckpointNotFoundError, match="cannot download config.json of 'owner/other'.*Not Found"):
        RoFormerModel.from_pretrained("owner/other")
    with pytest.raises(CheckpointNotFoundError, match="has none of vocab.txt on the Hub"):
        FakeHub("owner/novocab", {}).install(monkeypatch)
        RoFormerTokenizer.from_pretrained("owner/novocab")


def test_no_connection_skips_optional_files_and_names_a_required_one(tmp_path, monkeypatch, sources):
    cache = use_cache(monkeypatch, tmp_path / "hub", offline=False)
    snapshot = add_snapshot(cache, "owner/tok", sources["mlm"])
    hub = FakeHub.from_directory("owner/tok", sources["mlm"]).install(monkeypatch)
    hub.online = False
    assert resolve_checkpoint("owner/tok", TOKENIZER) == snapshot  # tokenizer_config.json unreachable: skipped
    assert [c["filename"] for c in hub.calls] == ["vocab.txt", "tokenizer_config.json"]
    with pytest.raises(CheckpointNotFoundError, match="cannot download config.json of 'owner/none'.*local cache"):
        RoFormerModel.from_pretrained("owner/none")


# -- hub keywords --------------------------------------------------------------------------------
@pytest.mark.parametrize("keyword", ["subfolder", "proxies", "resume_download", "use_auth_token", "trust_remote_code"])
def test_unsupported_hub_keywords_are_refused(cache, sources, keyword):
    add_snapshot(cache, "owner/mlm", sources["mlm"])
    for load in (RoFormerConfig.from_pretrained, RoFormerTokenizer.from_pretrained, RoFormerModel.from_pretrained,
                 RoFormerForMaskedLM.from_pretrained):
        with pytest.raises(TypeError, match=f"{keyword}= is not supported"):
            load("owner/mlm", **{keyword: None})
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        RoFormerModel.from_pretrained("owner/mlm", colour="red")


def test_bad_hub_flags(cache):
    with pytest.raises(ValueError, match="local_files_only must be True or False"):
        RoFormerConfig.from_pretrained("owner/x", local_files_only="yes")
    with pytest.raises(TypeError, match="path or a Hub repository id"):
        resolve_checkpoint(3, MODEL)


# -- every entry point ---------------------------------------------------------------------------
@pytest.mark.parametrize("cls, kind", [
    (RoFormerModel, "mlm"), (RoFormerForMaskedLM, "mlm"), (RoFormerForCausalLM, "causal_lm"),
    (RoFormerForSequenceClassification, "sentiment"), (RoFormerForMultipleChoice, "mc"),
    (RoFormerForTokenClassification, "ner"), (RoFormerForQuestionAnswering, "qa"),
])
@pytest.mark.filterwarnings("ignore:.*unused weights")
def test_every_model_class_loads_a_hub_id(cache, sources, cls, kind):
    add_snapshot(cache, f"owner/{kind}", sources[kind])
    model = cls.from_pretrained(f"owner/{kind}")
    reference = cls.from_pretrained(sources[kind])
    assert type(model) is cls and model.config.name_or_path == f"owner/{kind}"
    state, expected = model.state_dict(), reference.state_dict()
    assert state.keys() == expected.keys() and all(np.array_equal(state[k], expected[k]) for k in state)


@pytest.mark.parametrize("cls", [RoFormerTokenizer, RoFormerTokenizerFast])
def test_both_tokenizers_load_a_hub_id(cache, cls, tmp_path):
    saved = tmp_path / "saved"
    cls(write_vocab(tmp_path / "vocab"), model_max_length=7).save_pretrained(saved)
    add_snapshot(cache, "owner/tok", saved)
    tok = cls.from_pretrained("owner/tok")
    assert type(tok) is cls and tok.model_max_length == 7
    assert tok("今天天气很好")["input_ids"] == cls.from_pretrained(saved)("今天天气很好")["input_ids"]


@pytest.mark.parametrize("task, kind, text", [
    ("fill-mask", "mlm", "今天天气[MASK]"), ("text-classification", "sentiment", "这本书很好"),
    ("token-classification", "ner", "张三在北京工作"), ("feature-extraction", "mlm", "今天"),
    ("question-answering", "qa", {"question": "谁在北京？", "context": "张三在北京工作"}),
    ("text-generation", "causal_lm", "今天"),
])
def test_pipeline_loads_a_hub_id(cache, sources, task, kind, text):
    add_snapshot(cache, f"owner/{kind}", sources[kind])
    options = {"max_new_tokens": 3, "do_sample": False} if task == "text-generation" else {}
    from_id = pipeline(task, model=f"owner/{kind}", **options)(text)
    assert from_id == pipeline(task, model=sources[kind], **options)(text)


def test_pipeline_tokenizer_id_and_model_kwargs(cache, sources, tmp_path):
    add_snapshot(cache, "owner/weights", sources["mlm"], skip=("vocab.txt",))
    add_snapshot(cache, "owner/vocab", sources["mlm"])
    with pytest.raises(CheckpointNotFoundError, match="vocab.txt"):
        pipeline("fill-mask", model="owner/weights")
    fill = pipeline("fill-mask", model="owner/weights", tokenizer="owner/vocab")
    assert fill("今天[MASK]") == pipeline("fill-mask", model=sources["mlm"])("今天[MASK]")
    elsewhere = tmp_path / "elsewhere"
    add_snapshot(elsewhere, "owner/elsewhere", sources["mlm"])
    assert pipeline("fill-mask", model="owner/elsewhere", model_kwargs={"cache_dir": elsewhere})("今天[MASK]")
    with pytest.raises(TypeError, match="unexpected keyword argument 'low_cpu_mem_usage'"):
        pipeline("fill-mask", model="owner/elsewhere", model_kwargs={"low_cpu_mem_usage": True})


def test_cli_model_option_takes_a_hub_id(cache, sources, capsys):
    from roformer_np.cli import main

    add_snapshot(cache, "owner/mlm", sources["mlm"])
    assert main(["fill-mask", "--json", "--top-k", "2", "--model", "owner/mlm", "今天[MASK]"]) == 0
    from_id = capsys.readouterr().out
    assert main(["fill-mask", "--json", "--top-k", "2", "--model", str(sources["mlm"]), "今天[MASK]"]) == 0
    assert from_id == capsys.readouterr().out and json.loads(from_id)["result"]
    assert main(["fill-mask", "--model", "owner/absent", "今天[MASK]"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("roformer-np: error: 'owner/absent' is neither a local path") and err.count("\n") == 1
