"""Checkpoint reading/writing: dtypes, memory mapping, shards, prefixes, and every way a file can be bad."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from conftest import random_weights, tiny_config
from safetensors.numpy import load_file, save_file

from roformer_np import CheckpointError, RoFormerModel, load_weights, save_weights
from roformer_np.weights import sinusoidal_key


def _checkpoint(tmp_path, config, weights, name="model.safetensors"):
    config.save_pretrained(tmp_path)
    save_file(weights, str(tmp_path / name), metadata={"format": "pt"})
    return tmp_path


def _f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)  # truncation: exact for the test


def test_float32_weights_are_memory_mapped_without_copy(tmp_path) -> None:
    cfg = tiny_config()
    w = random_weights(cfg)
    _checkpoint(tmp_path, cfg, w)
    loaded = load_weights(tmp_path, np.float32)
    assert set(loaded) == set(w)
    for key, arr in loaded.items():
        np.testing.assert_array_equal(arr, w[key])
        assert not arr.flags.writeable and not arr.flags.owndata, key
        assert isinstance(arr.base, np.memmap) or isinstance(getattr(arr.base, "base", None), np.memmap), key


@pytest.mark.parametrize("stored", ["F16", "BF16", "F64"])
def test_half_bfloat_and_double_storage_load(tmp_path, stored) -> None:
    cfg = tiny_config()
    w32 = random_weights(cfg)
    if stored == "F16":
        w = {k: v.astype(np.float16) for k, v in w32.items()}
        expect = {k: v.astype(np.float32) for k, v in w.items()}
    elif stored == "F64":
        w = {k: v.astype(np.float64) for k, v in w32.items()}
        expect = w32
    else:
        expect = {k: (_f32_to_bf16_bits(v).astype(np.uint32) << 16).view(np.float32) for k, v in w32.items()}
        w = None
    if w is not None:
        _checkpoint(tmp_path, cfg, w)
    else:
        raw = {k: ("BF16", _f32_to_bf16_bits(v)) for k, v in w32.items()}
        _write_raw_safetensors(tmp_path / "model.safetensors", raw)
        cfg.save_pretrained(tmp_path)
    loaded = load_weights(tmp_path, np.float32)
    for key in expect:
        assert loaded[key].dtype == np.float32
        np.testing.assert_array_equal(loaded[key], expect[key])
    model = RoFormerModel.from_pretrained(tmp_path)
    assert model(input_ids=[[1, 2, 3]]).last_hidden_state.dtype == np.float32


def _write_raw_safetensors(path, tensors: dict[str, tuple[str, np.ndarray]]) -> None:
    header, blobs, offset = {}, [], 0
    for name, (tag, arr) in tensors.items():
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": tag, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def test_sharded_checkpoint(tmp_path) -> None:
    cfg = tiny_config()
    w = random_weights(cfg)
    keys = sorted(w)
    shards = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2 :]}
    weight_map = {}
    for shard, names in shards.items():
        save_file({k: w[k] for k in names}, str(tmp_path / shard), metadata={"format": "pt"})
        weight_map.update({k: shard for k in names})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    cfg.save_pretrained(tmp_path)
    sharded = RoFormerModel.from_pretrained(tmp_path)
    direct = RoFormerModel(cfg, w)
    ids = [[5, 6, 7, 8]]
    np.testing.assert_array_equal(sharded(input_ids=ids)[0], direct(input_ids=ids)[0])


def test_head_checkpoint_with_prefix_loads_into_base_model(tmp_path) -> None:
    cfg = tiny_config()
    w = random_weights(cfg)
    prefixed = {f"roformer.{k}": v for k, v in w.items()}
    prefixed["cls.predictions.bias"] = np.zeros(cfg.vocab_size, np.float32)
    _checkpoint(tmp_path, cfg, prefixed)
    with pytest.warns(UserWarning, match="cls.predictions.bias"):
        model = RoFormerModel.from_pretrained(tmp_path)
    assert model.unexpected_keys == ["cls.predictions.bias"]
    np.testing.assert_array_equal(model(input_ids=[[1, 2]])[0], RoFormerModel(cfg, w)(input_ids=[[1, 2]])[0])


def test_stored_sinusoidal_table_is_used_and_missing_one_recomputed(tmp_path) -> None:
    cfg = tiny_config()
    w = random_weights(cfg)
    model = RoFormerModel(cfg, w)
    assert model.missing_keys == [sinusoidal_key()]
    odd_table = np.full((cfg.max_position_embeddings, cfg.head_size), 0.5, np.float32)
    with_table = RoFormerModel(cfg, {**w, sinusoidal_key(): odd_table})
    np.testing.assert_array_equal(with_table.params.positions, odd_table)
    assert not np.array_equal(model(input_ids=[[1, 2, 3]])[0], with_table(input_ids=[[1, 2, 3]])[0])


def test_save_pretrained_round_trip(tmp_path) -> None:
    cfg = tiny_config(embedding_size=8)
    model = RoFormerModel(cfg, random_weights(cfg))
    model.save_pretrained(tmp_path)
    stored = load_file(str(tmp_path / "model.safetensors"))  # the safetensors package reads it
    assert sinusoidal_key() in stored and stored["embeddings_project.weight"].shape == (16, 8)
    back = RoFormerModel.from_pretrained(tmp_path)
    np.testing.assert_array_equal(back(input_ids=[[3, 4]])[0], model(input_ids=[[3, 4]])[0])


def test_float64_model_from_float32_file(tmp_path) -> None:
    cfg = tiny_config()
    w = random_weights(cfg)
    _checkpoint(tmp_path, cfg, w)
    m64 = RoFormerModel.from_pretrained(tmp_path, dtype=np.float64)
    m32 = RoFormerModel.from_pretrained(tmp_path)
    out64, out32 = m64(input_ids=[[1, 2, 3, 4]])[0], m32(input_ids=[[1, 2, 3, 4]])[0]
    assert out64.dtype == np.float64
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)


# --- bad files ---------------------------------------------------------------------------------
def test_missing_directory_and_missing_weights(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        RoFormerModel.from_pretrained(tmp_path / "nope")
    tiny_config().save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="no weights"):
        RoFormerModel.from_pretrained(tmp_path)


def test_missing_required_tensor_is_named(tmp_path) -> None:
    cfg = tiny_config()
    w = random_weights(cfg)
    del w["encoder.layer.1.output.dense.bias"]
    with pytest.raises(CheckpointError, match=r"encoder\.layer\.1\.output\.dense\.bias"):
        RoFormerModel(cfg, w)


def test_wrong_shape_names_key_and_both_shapes() -> None:
    cfg = tiny_config()
    w = random_weights(cfg)
    w["embeddings.word_embeddings.weight"] = np.zeros((63, 16), np.float32)
    with pytest.raises(CheckpointError, match=r"word_embeddings.*\(63, 16\).*\(64, 16\)"):
        RoFormerModel(cfg, w)


@pytest.mark.parametrize("cut", [0, 4, 20, -1, -100])
def test_truncated_file_is_a_clear_error(tmp_path, cut) -> None:
    cfg = tiny_config()
    _checkpoint(tmp_path, cfg, random_weights(cfg))
    path = tmp_path / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut >= 0 else data[:cut])
    with pytest.raises(CheckpointError):
        load_weights(path)


@pytest.mark.parametrize("garbage", [b"\x00" * 64, b"\xff" * 64, b"not a safetensors file at all" * 3])
def test_corrupt_file_is_a_clear_error(tmp_path, garbage) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(garbage)
    with pytest.raises(CheckpointError):
        load_weights(path)


def test_corrupt_header_offsets(tmp_path) -> None:
    path = tmp_path / "model.safetensors"
    _write_raw_safetensors(path, {"a": ("F32", np.zeros(4, np.float32))})
    data = bytearray(path.read_bytes())
    data = data.replace(b"[0, 16]", b"[0, 99]")
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        load_weights(path)


def test_corrupt_shard_index(tmp_path) -> None:
    (tmp_path / "model.safetensors.index.json").write_text("{")
    with pytest.raises(CheckpointError, match="index"):
        load_weights(tmp_path)


def test_save_weights_rejects_unsupported_dtypes(tmp_path) -> None:
    with pytest.raises(ValueError, match="complex"):
        save_weights({"x": np.zeros(2, np.complex64)}, tmp_path)


def test_v2_config_runs_and_an_unknown_norm_type_is_refused(real_dir) -> None:
    from roformer_np import RoFormerConfig

    cfg = RoFormerConfig.from_pretrained(real_dir / "roformer_v2_chinese_char_base")
    small = cfg.copy(vocab_size=32, hidden_size=16, embedding_size=16, num_attention_heads=2, num_hidden_layers=1,
                     intermediate_size=8)
    weights = random_weights(small)
    assert not any("LayerNorm" in k or k.endswith(".bias") for k in weights)  # V2 has neither
    assert RoFormerModel(small, weights)([[1, 2, 3]]).last_hidden_state.shape == (1, 3, 16)
    with pytest.raises(ValueError, match="norm_type"):
        cfg.copy(norm_type="batch_norm")


# ---------------------------------------------------------------------------------------------
# Hostile files (issue 12): safetensors headers, shard indexes and JSON, each built here
# ---------------------------------------------------------------------------------------------
def _safetensors(tmp_path, header, data=b"", name="model.safetensors"):
    from checkpoint_files import safetensors_bytes

    path = tmp_path / name
    path.write_bytes(safetensors_bytes(header, data))
    return path


def test_zero_element_tensors_load_with_their_shapes(tmp_path) -> None:
    """Defect 10: a file whose only tensors have zero elements loaded as {} (an empty data section)."""
    path = tmp_path / "model.safetensors"
    save_file({"empty": np.zeros((0, 3), np.float32), "none": np.zeros((4, 0, 2), np.int64)}, str(path))
    loaded = load_weights(path)
    assert {k: (v.shape, v.dtype) for k, v in loaded.items()} == {
        "empty": ((0, 3), np.dtype(np.float32)), "none": ((4, 0, 2), np.dtype(np.int64))}
    mixed = tmp_path / "mixed.safetensors"
    save_file({"empty": np.zeros((0,), np.float16), "one": np.ones(2, np.float32)}, str(mixed))
    loaded = load_weights(mixed, np.float32)
    assert loaded["empty"].shape == (0,) and loaded["empty"].dtype == np.float32
    np.testing.assert_array_equal(loaded["one"], [1, 1])


@pytest.mark.parametrize("shape, message", [
    ([0, 2**64], "too large for any array"),  # was OverflowError (and a CLI traceback)
    ([2**64], "too large for any array"),
    ([0, 2**63 // 4], "too large for any array"),  # NumPy's limit counts the non-zero dimensions
    ([2**30, 2**30], "needs 4611686018427387904 bytes but spans 4"),  # sizes are Python ints
    ([True], "invalid shape"),
    ([-1], "invalid shape"),
    ([1.0], "invalid shape"),
    ("12", "invalid shape"),
    ([1] * 65, "invalid shape"),
])
def test_bad_shapes_are_checkpoint_errors_with_true_sizes(tmp_path, shape, message) -> None:
    path = _safetensors(tmp_path, {"a": {"dtype": "F32", "shape": shape, "data_offsets": [0, 4]}}, bytes(4))
    with pytest.raises(CheckpointError, match=message):
        load_weights(path)


def test_sizes_never_wrap_int64(tmp_path) -> None:
    """Defect 7: a U8 tensor of shape [2**32, 2**31] was said to need -9223372036854775808 bytes."""
    path = _safetensors(tmp_path, {"a": {"dtype": "U8", "shape": [2**32, 2**31], "data_offsets": [0, 4]}}, bytes(4))
    with pytest.raises(CheckpointError, match=r"shape \[4294967296, 2147483648\] too large for any array") as info:
        load_weights(path)
    assert "-" not in str(info.value).rsplit(":", 1)[-1]


@pytest.mark.parametrize("dtype", [["F32"], {"x": 1}, None, 3, "F8_E4M3"])
def test_bad_dtypes_are_checkpoint_errors(tmp_path, dtype) -> None:
    """Defect 7: a dtype given as a list raised TypeError (unhashable)."""
    path = _safetensors(tmp_path, {"a": {"dtype": dtype, "shape": [1], "data_offsets": [0, 4]}}, bytes(4))
    with pytest.raises(CheckpointError, match="unsupported dtype"):
        load_weights(path)


@pytest.mark.parametrize("header, data, message", [
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8), "starts at byte 4, expected 0"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, bytes(8), "4 bytes after the last tensor"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}, bytes(8), "overlap or leave a gap"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}}, bytes(4), "invalid data_offsets"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}, bytes(4), "invalid data_offsets"),
    ({"a": {"dtype": "F32", "shape": [1]}}, bytes(4), "needs dtype, shape, data_offsets"),
    ({"a": [1, 2]}, b"", "corrupt entry"),
    ({"__metadata__": {"format": 1}}, b"", "must map strings to strings"),
    ([1, 2], b"", "not a JSON object"),
    (b"\xff\xfe{}", b"", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, b"", "nested deeper than 64"),  # was RecursionError
    (b"{" + b'"a":' * 1, b"", "not valid JSON"),
    (b'{"a": 1' + b"0" * 5000 + b"}", b"", "not valid JSON"),  # an int past Python's 4300-digit limit
])
def test_bad_headers_are_checkpoint_errors(tmp_path, header, data, message) -> None:
    path = _safetensors(tmp_path, header, data)
    with pytest.raises(CheckpointError, match=message):
        load_weights(path)


def test_shape_overflow_is_one_line_in_the_cli(tmp_path, capsys) -> None:
    """Defect 7: ``roformer-np fill-mask --model DIR`` on a safetensors shape [0, 2**64] printed a traceback."""
    from fake_models import make_model_dir

    from roformer_np.cli import main

    directory = make_model_dir(tmp_path / "m", "mlm")
    _safetensors(directory, {"a": {"dtype": "F32", "shape": [0, 2**64], "data_offsets": [0, 0]}})
    assert main(["fill-mask", "--model", str(directory), "今天[MASK]"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("roformer-np: error: ") and "too large for any array" in err


def _index(tmp_path, content: bytes | dict, name="model.safetensors.index.json"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


@pytest.mark.parametrize("content, message", [
    (b'{"weight_map": ' + b"[" * 10**5 + b"]" * 10**5 + b"}", "nested deeper than 64"),  # was RecursionError
    (b'{"weight_map": {"a": "\xff.safetensors"}}', "not UTF-8"),  # was UnicodeDecodeError
    ({"weight_map": {"a": "x" * 5000}}, "at most 255 bytes"),  # was OSError: File name too long
    ({"weight_map": {"a": "\udc80.safetensors"}}, "must be a file name"),  # not encodable
    ({"weight_map": {"a": "a\x00.safetensors"}}, "must be a file name"),
    ({"weight_map": {"a": ""}}, "must be a file name"),
    ({"weight_map": ["a"]}, "weight_map must map names"),
    ([1], "weight_map must map names"),
])
def test_bad_shard_indexes_are_checkpoint_errors(tmp_path, content, message) -> None:
    path = _index(tmp_path, content)
    with pytest.raises(CheckpointError, match=message):
        load_weights(path)
    for pt in (True,):  # the .bin index goes through the same reader
        bin_index = _index(tmp_path, content, "pytorch_model.bin.index.json")
        with pytest.raises(CheckpointError, match=message):
            load_weights(bin_index)
        assert pt


def test_json_files_over_the_size_limit_are_refused_before_reading(tmp_path, monkeypatch) -> None:
    from roformer_np import jsonio

    monkeypatch.setattr(jsonio, "MAX_JSON_BYTES", 1000)
    path = _index(tmp_path, {"weight_map": {f"t{i}": "model.safetensors" for i in range(100)}})
    with pytest.raises(CheckpointError, match="larger than the 1000-byte limit"):
        jsonio.read_json(path, "shard index", max_bytes=jsonio.MAX_JSON_BYTES)


def test_json_depth_matches_the_parser() -> None:
    """The depth pre-scan is exact for valid JSON (brackets in strings and escaped quotes do not count) and
    counts unclosed brackets, which json.loads would recurse into before finding the error."""
    from roformer_np.jsonio import json_extent

    def json_depth(raw: bytes) -> int:
        return json_extent(raw)[0]

    cases = {0: ["x", 3, None], 1: [[], {}, {"a": "[[[{{"}, ["]]]", "\\", '"[']], 2: [[[]], {"a": [1, "[["]}],
             4: [{"a": [{"\\": [1]}]}, [[[["\\\"[["]]]]]}
    for depth, docs in cases.items():
        for doc in docs:
            assert json_depth(json.dumps(doc).encode()) == depth, doc
    assert json_depth(b"[" * 10**6) == 10**6
    assert json_depth(b'"\\\\" [[ "]]]"') == 2
    # values: 4 containers + 3 separating commas (the one inside "x,y" is text)
    assert json_extent(json.dumps({"a": [1, 2, {"b": "x,y"}], "c": []}).encode())[1] == 7


@pytest.mark.parametrize("content, message", [
    (b'{"id2label": ' + b"[" * 10**5 + b"]" * 10**5 + b"}", "nested deeper than 64"),  # was RecursionError
    (b'{"vocab_size": 64, "model_type": "roformer\xff"}', "not UTF-8"),  # was UnicodeDecodeError
    (b'{"vocab_size": 64', "not valid JSON"),
])
def test_config_and_tokenizer_json_defects_are_checkpoint_errors(tmp_path, content, message) -> None:
    """Defect 7: config.json (and tokenizer_config.json, read by the same helper) deep or not UTF-8."""
    from fake_models import make_model_dir

    from roformer_np import RoFormerConfig, RoFormerTokenizer

    directory = make_model_dir(tmp_path / "m", "mlm")
    good_config = (directory / "config.json").read_bytes()
    (directory / "config.json").write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        RoFormerConfig.from_pretrained(directory)
    with pytest.raises(CheckpointError, match=message):
        RoFormerModel.from_pretrained(directory)
    (directory / "config.json").write_bytes(good_config)
    (directory / "tokenizer_config.json").write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        RoFormerTokenizer.from_pretrained(directory)


def test_json_value_count_is_bounded_before_parsing(tmp_path) -> None:
    """16 MiB of ``[[],[],…]`` parses into ~440 MB of lists: refused from the scan, before json.loads."""
    from roformer_np.jsonio import MAX_JSON_VALUES

    n = MAX_JSON_VALUES + 10
    path = _index(tmp_path, b'{"weight_map": {}, "x": [' + b"[]," * n + b"[]]}")
    with pytest.raises(CheckpointError, match=f"more than {MAX_JSON_VALUES} values"):
        load_weights(path)


@pytest.mark.parametrize("content, message", [
    (b"null", "must hold a JSON object, not NoneType"),  # was TypeError (found by tests/fuzz)
    (b"[1, 2]", "must hold a JSON object, not list"),
    (b'{"id2label": {"0": "a", "1": "b"}, "label2id": {"a": null, "b": 1}}', "label2id holds an entry"),
    (b'{"id2label": {"0": "a", "1": "b"}, "label2id": {"a": [0], "b": 1}}', "label2id holds an entry"),
    (b'{"id2label": [[0, "a"]]}', "id2label should be a dictionary, got list"),
    (b'{"id2label": {"x": "a"}}', "id2label holds an entry that is not int"),
])
def test_config_structure_found_by_the_fuzzer_is_a_value_error(tmp_path, content, message) -> None:
    """Findings of the config.json fuzzer: a non-object file and label maps of the wrong types raised TypeError."""
    from roformer_np import RoFormerConfig

    (tmp_path / "config.json").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        RoFormerConfig.from_pretrained(tmp_path)


def test_fifos_and_directories_are_refused_without_blocking(tmp_path) -> None:
    """open() on a FIFO blocks until a writer comes: a hostile directory must not hang the loader."""
    import os

    from roformer_np import RoFormerConfig
    from roformer_np.torch_pickle import read_torch_checkpoint

    os.mkfifo(tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="not a regular file"):
        read_torch_checkpoint(tmp_path / "pytorch_model.bin")
    os.mkfifo(tmp_path / "config.json")
    with pytest.raises(CheckpointError, match="config is not a regular file"):
        RoFormerConfig.from_pretrained(tmp_path)
    (tmp_path / "x.index.json").mkdir()
    with pytest.raises(CheckpointError, match="not a regular file"):
        from roformer_np.weights import read_shard_index

        read_shard_index(tmp_path / "x.index.json")
