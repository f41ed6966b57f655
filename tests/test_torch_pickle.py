"""Torch-free reading of ``pytorch_model.bin``: golden files written by torch.save, and malicious pickles."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest
from conftest import GOLDEN, assert_close, golden_cases, load_io

from roformer_np import CheckpointError, RoFormerModel
from roformer_np.torch_pickle import UnsafeCheckpointError, read_torch_checkpoint

CASES = golden_cases("bin")
MODEL_CASES = [c for c in CASES if c["kind"] == "model"]


def test_assorted_tensors_match_torch_exactly() -> None:
    (case,) = [c for c in CASES if c["kind"] == "torch_pickle"]
    loaded = read_torch_checkpoint(GOLDEN / case["file"])
    _, expected = load_io(case)
    assert sorted(loaded) == sorted(expected)
    for name, value in expected.items():
        assert loaded[name].dtype == value.dtype, name
        np.testing.assert_array_equal(loaded[name], value, err_msg=name)


@pytest.mark.parametrize("case", MODEL_CASES, ids=[c["name"] for c in MODEL_CASES])
def test_bin_checkpoints_give_hugging_face_outputs(case) -> None:
    model = RoFormerModel.from_pretrained(GOLDEN / case["checkpoint"])
    inputs, expected = load_io(case)
    tol = case["tolerance"]
    assert_close(model(**inputs).last_hidden_state, expected["last_hidden_state"], tol["rtol"], tol["atol"],
                 case["name"])


def test_bin_and_safetensors_of_one_model_agree(tmp_path) -> None:
    case = next(c for c in MODEL_CASES if c["stored_dtype"] == "float32")
    from_bin = RoFormerModel.from_pretrained(GOLDEN / case["checkpoint"])
    from_bin.save_pretrained(tmp_path)
    from_st = RoFormerModel.from_pretrained(tmp_path)
    inputs, _ = load_io(case)
    np.testing.assert_array_equal(from_bin(**inputs)[0], from_st(**inputs)[0])


def test_sharded_bin_checkpoint(tmp_path) -> None:
    """``pytorch_model.bin.index.json`` + shards (``save_pretrained(safe_serialization=False, max_shard_size=…)``);
    each shard contributes only the tensors the index assigns to it, and shard names cannot leave the folder."""
    import json
    import shutil

    case = next(c for c in MODEL_CASES if c["stored_dtype"] == "float32")
    source = GOLDEN / case["checkpoint"]
    names = sorted(read_torch_checkpoint(source / "pytorch_model.bin"))
    weight_map = {}
    for i, shard in enumerate(("pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin")):
        shutil.copy(source / "pytorch_model.bin", tmp_path / shard)  # whole files: the index picks the halves
        weight_map.update({n: shard for n in names[i::2]})
    shutil.copy(source / "config.json", tmp_path / "config.json")
    index = tmp_path / "pytorch_model.bin.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    inputs, _ = load_io(case)
    whole = RoFormerModel.from_pretrained(source)
    np.testing.assert_array_equal(RoFormerModel.from_pretrained(tmp_path)(**inputs)[0], whole(**inputs)[0])
    for bad in ("../pytorch_model.bin", "..", "pytorch_model.bin.index.json"):
        index.write_text(json.dumps({"weight_map": {names[0]: bad}}))
        with pytest.raises(CheckpointError, match="beside the index"):
            RoFormerModel.from_pretrained(tmp_path)


def _zip_checkpoint(path, payload: bytes) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/byteorder", "little")


class _CreatesAFile:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_raises_before_anything_executes(tmp_path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"weight": _CreatesAFile(str(marker))}, protocol=2)
    bad = tmp_path / "pytorch_model.bin"
    _zip_checkpoint(bad, payload)
    # sanity: a plain pickle.load of this payload would really run the command
    assert b"system" in payload
    with pytest.raises(UnsafeCheckpointError, match="system"):
        read_torch_checkpoint(bad)
    assert not marker.exists()
    from conftest import tiny_config

    tiny_config().save_pretrained(tmp_path)
    with pytest.raises(UnsafeCheckpointError):
        RoFormerModel.from_pretrained(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [("builtins", "eval"), ("subprocess", "Popen"), ("torch", "load"),
                                          ("numpy", "load"), ("collections", "deque")])
def test_every_other_global_is_refused(tmp_path, module, name) -> None:
    payload = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R."
    bad = tmp_path / "x.bin"
    _zip_checkpoint(bad, payload)
    with pytest.raises(UnsafeCheckpointError, match=name):
        read_torch_checkpoint(bad)


def test_corrupt_and_legacy_files(tmp_path) -> None:
    not_zip = tmp_path / "a.bin"
    not_zip.write_bytes(b"hello world")
    with pytest.raises(CheckpointError, match="not a PyTorch zip"):
        read_torch_checkpoint(not_zip)
    legacy = tmp_path / "b.bin"
    legacy.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
    with pytest.raises(CheckpointError, match="legacy"):
        read_torch_checkpoint(legacy)
    case = next(c for c in MODEL_CASES if c["stored_dtype"] == "float16")
    data = (GOLDEN / case["checkpoint"] / "pytorch_model.bin").read_bytes()
    truncated = tmp_path / "c.bin"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        read_torch_checkpoint(truncated)
    missing_storage = tmp_path / "d.bin"
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(missing_storage, "w") as dst:
        for item in src.namelist():
            if "/data/" not in item:
                dst.writestr(item, src.read(item))
    with pytest.raises(CheckpointError, match="missing"):
        read_torch_checkpoint(missing_storage)
