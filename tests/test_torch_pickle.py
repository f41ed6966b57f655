"""Torch-free reading of ``pytorch_model.bin``: golden files written by torch.save, and malicious pickles."""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
import zlib

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


# ---------------------------------------------------------------------------------------------
# Hostile files (issue 12): each built here, byte by byte, by tests/checkpoint_files.py
# ---------------------------------------------------------------------------------------------
def _write(tmp_path, data: bytes, name: str = "pytorch_model.bin"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _floats(n: int) -> bytes:
    return np.arange(n, dtype="<f4").tobytes()


def test_a_tensor_is_never_the_storage_of_another(tmp_path) -> None:
    """Defect 1: B = rebuild(A, offset 1, (127,), (1,)) on A = arange(128).reshape(2, 64) read 62 heap values."""
    from checkpoint_files import get, put, rebuild, state_dict, storage, text, torch_zip

    a = rebuild(storage("0", 128) + put(0), 0, (2, 64), (64, 1)) + put(1)
    b = rebuild(get(1), 1, (127,), (1,))
    path = _write(tmp_path, torch_zip(state_dict([(text("a"), a), (text("b"), b)]), {"0": _floats(128)}))
    with pytest.raises(CheckpointError, match="storage must be a storage record, not a _TensorRecord"):
        read_torch_checkpoint(path)
    # the same view of the real storage is fine and reads exactly the file's bytes
    ok = rebuild(storage("0", 128), 1, (127,), (1,))
    path = _write(tmp_path, torch_zip(state_dict([(text("b"), ok)]), {"0": _floats(128)}))
    np.testing.assert_array_equal(read_torch_checkpoint(path)["b"], np.arange(1, 128, dtype=np.float32))


@pytest.mark.parametrize("offset, size, stride", [
    (1, (128,), (1,)),  # one element past the end
    (0, (2, 65), (64, 1)),  # the last row runs over
    (127, (2,), (1,)),
    (0, (3, 64), (64, 1)),
    (0, (2, 2), (2**62, 1)),  # an extent that wraps int64
])
def test_views_that_leave_their_storage_are_refused(tmp_path, offset, size, stride) -> None:
    from checkpoint_files import rebuild, state_dict, storage, text, torch_zip

    record = rebuild(storage("0", 128), offset, size, stride)
    path = _write(tmp_path, torch_zip(state_dict([(text("w"), record)]), {"0": _floats(128)}))
    with pytest.raises(CheckpointError, match="ends at element"):
        read_torch_checkpoint(path)


@pytest.mark.parametrize("source", ["int", "str", "scalar_tensor", "storage_type"])
def test_storages_that_are_not_storages_are_refused(tmp_path, source) -> None:
    """Defect 7: a non-array storage raised AttributeError, a 0-d one IndexError."""
    from checkpoint_files import glob, integer, rebuild, state_dict, storage, text, torch_zip

    fake = {"int": integer(5), "str": text("0"), "storage_type": glob("torch", "FloatStorage"),
            "scalar_tensor": rebuild(storage("0", 128), 0, (), ())}[source]
    path = _write(tmp_path, torch_zip(state_dict([(text("w"), rebuild(fake, 0, (1,), (1,)))]), {"0": _floats(128)}))
    with pytest.raises(CheckpointError, match="storage must be a storage record"):
        read_torch_checkpoint(path)


@pytest.mark.parametrize("depth", [10**3, 10**5, 10**6])
def test_deeply_nested_keys_are_refused_without_recursion(tmp_path, depth) -> None:
    """Defect 2: a key nested 10^6 deep segfaulted the dict's hash; 10^3..10^5 raised RecursionError."""
    from checkpoint_files import EMPTY_TUPLE, TUPLE1, rebuild, state_dict, storage, torch_zip

    key = EMPTY_TUPLE + TUPLE1 * depth
    path = _write(tmp_path, torch_zip(state_dict([(key, rebuild(storage("0", 1), 0, (1,), (1,)))]),
                                      {"0": _floats(1)}))
    with pytest.raises(CheckpointError, match="nests containers deeper than 64"):
        read_torch_checkpoint(path)


@pytest.mark.parametrize("key, kind", [(b"\x29", "tuple"), (b"]", "list"), (b"}", "dict"), (b"\x88", "bool"),
                                       (b"N", "NoneType")])
def test_keys_must_be_strings_as_they_are_built(tmp_path, key, kind) -> None:
    """Defect 2/7: keys are checked at SETITEM time (a list key raised TypeError: unhashable)."""
    from checkpoint_files import rebuild, state_dict, storage, torch_zip

    path = _write(tmp_path, torch_zip(state_dict([(key, rebuild(storage("0", 1), 0, (1,), (1,)))]),
                                      {"0": _floats(1)}))
    with pytest.raises(CheckpointError, match=f"uses a {kind} as a dict key"):
        read_torch_checkpoint(path)


def test_int_keys_at_the_top_are_not_a_state_dict(tmp_path) -> None:
    from checkpoint_files import integer, rebuild, state_dict, storage, torch_zip

    path = _write(tmp_path, torch_zip(state_dict([(integer(3), rebuild(storage("0", 1), 0, (1,), (1,)))]),
                                      {"0": _floats(1)}))
    with pytest.raises(CheckpointError, match="state-dict keys must be strings, found 3"):
        read_torch_checkpoint(path)


def _peak_load(path) -> dict:
    from checkpoint_files import load_in_subprocess

    report = load_in_subprocess(path, limit_bytes=2 * 2**30)
    assert report["rss_growth_kib"] < 64 * 1024, report  # the load itself stays within 64 MiB
    return report


@pytest.mark.parametrize("numel", [6 * 10**8, 10**12, 10**30])
def test_stride_zero_broadcasts_are_refused_before_allocating(tmp_path, numel) -> None:
    """Defect 3: a 642-byte file with a stride-0 tensor of 6e8 elements took 2.3 GB (1e12: MemoryError;
    1e30: OverflowError)."""
    from checkpoint_files import rebuild, state_dict, storage, text, torch_zip

    path = _write(tmp_path, torch_zip(state_dict([(text("w"), rebuild(storage("0", 1), 0, (numel,), (0,)))]),
                                      {"0": _floats(1)}))
    assert path.stat().st_size < 1024
    with pytest.raises(CheckpointError, match="more than its 1-element storage|too large for any array"):
        read_torch_checkpoint(path)
    assert _peak_load(path)["outcome"].startswith("CheckpointError")


def test_memo_indices_are_bounded_by_the_puts_seen(tmp_path) -> None:
    """Defect 3: ``LONG_BINPUT 2**27+1`` made the C unpickler allocate a 2.1 GB memo."""
    from checkpoint_files import PROTO2, STOP, put, torch_zip

    path = _write(tmp_path, torch_zip(PROTO2 + b"}" + put(2**27 + 1) + STOP))
    with pytest.raises(CheckpointError, match=r"memo index 134217729 is beyond the 0 PUTs seen"):
        read_torch_checkpoint(path)
    assert _peak_load(path)["outcome"].startswith("CheckpointError")


def test_opcode_count_and_mark_depth_are_bounded(tmp_path) -> None:
    from checkpoint_files import MARK, PROTO2, torch_zip

    with pytest.raises(CheckpointError, match="more than 1000000 opcodes"):
        read_torch_checkpoint(_write(tmp_path, torch_zip(PROTO2 + b"N" * 1_100_000)))  # NONE x 1.1M
    with pytest.raises(CheckpointError, match="nested MARKs"):
        read_torch_checkpoint(_write(tmp_path, torch_zip(PROTO2 + MARK * 100)))


@pytest.mark.parametrize("target", ["data/0", "data.pkl", "data/0 with a matching pickle"])
def test_zip_bombs_are_refused_from_the_headers(tmp_path, target) -> None:
    """Defect 3: 3 GiB of zeros in a 3 MB file were inflated whole, twice (6.2 GB)."""
    from checkpoint_files import Member, rebuild, state_dict, storage, text, zeros_deflated, zip_bytes

    bomb, crc = zeros_deflated(3 * 1024)
    gib3 = 3 * 2**30
    small = state_dict([(text("w"), rebuild(storage("0", 4), 0, (4,), (1,)))])
    if target == "data.pkl":
        members = [Member("archive/data.pkl", bomb, method=8, file_size=gib3, crc=crc)]
        message = "data.pkl is 3221225472 bytes, over the 16777216-byte limit"
    elif target == "data/0":
        members = [Member("archive/data.pkl", small), Member("archive/data/0", bomb, 8, gib3, crc)]
        message = "data/0 holds 3221225472 bytes, its tensors' storage needs 16"
    else:
        big = state_dict([(text("w"), rebuild(storage("0", gib3 // 4), 0, (gib3 // 4,), (1,)))])
        members = [Member("archive/data.pkl", big), Member("archive/data/0", bomb, 8, gib3, crc)]
        message = r"data/0 inflates \d+ bytes to 3221225472 \(a zip bomb\?\)"
    path = _write(tmp_path, zip_bytes(members))
    assert path.stat().st_size < 4 * 2**20
    with pytest.raises(CheckpointError, match=message):
        read_torch_checkpoint(path)
    assert _peak_load(path)["outcome"].startswith("CheckpointError")


def test_members_are_streamed_and_bounded_by_their_declared_size(tmp_path) -> None:
    """A deflated member that is honest loads; one whose stream inflates past its declared size is read only
    up to that size (never inflated whole) and must then match its CRC."""
    from checkpoint_files import Member, deflate, deflated, rebuild, state_dict, storage, text, zip_bytes

    values = _floats(64)
    pickled = state_dict([(text("w"), rebuild(storage("0", 64), 0, (8, 8), (8, 1)))])
    ok = [deflated("archive/data.pkl", pickled), deflated("archive/data/0", values)]
    loaded = read_torch_checkpoint(_write(tmp_path, zip_bytes(ok)))
    np.testing.assert_array_equal(loaded["w"], np.arange(64, dtype=np.float32).reshape(8, 8))
    assert not loaded["w"].flags.writeable
    longer = deflate(values + bytes(10**6))
    cut = [ok[0], Member("archive/data/0", longer, 8, len(values), crc=zlib.crc32(values))]
    np.testing.assert_array_equal(read_torch_checkpoint(_write(tmp_path, zip_bytes(cut)))["w"], loaded["w"])
    lying = [ok[0], Member("archive/data/0", longer, 8, len(values), crc=zlib.crc32(values + bytes(10**6)))]
    with pytest.raises(CheckpointError, match="archive/data/0: BadZipFile: Bad CRC-32"):
        read_torch_checkpoint(_write(tmp_path, zip_bytes(lying)))


def test_build_cannot_change_process_state(tmp_path) -> None:
    """Defect 4: BUILD onto the module-level torch.FloatStorage stand-in replaced its dtype for the process."""
    from checkpoint_files import BUILD, EMPTY_DICT, MARK, PROTO2, SETITEMS, STOP, glob, integer, text, torch_zip

    hostile = PROTO2 + glob("torch", "FloatStorage") + EMPTY_DICT + MARK + text("dtype") + integer(7) + SETITEMS \
        + BUILD + STOP
    with pytest.raises(CheckpointError, match="sets the state of a Global"):
        read_torch_checkpoint(_write(tmp_path, torch_zip(hostile)))
    # a later legitimate load in the same process is unaffected
    test_assorted_tensors_match_torch_exactly()


def test_the_metadata_build_of_a_real_state_dict_is_accepted(tmp_path) -> None:
    """``state_dict()._metadata`` is set by BUILD on the OrderedDict itself (every save_pretrained .bin)."""
    from checkpoint_files import (
        BUILD,
        EMPTY_DICT,
        MARK,
        SETITEMS,
        STOP,
        integer,
        rebuild,
        state_dict,
        storage,
        text,
        torch_zip,
    )

    body = state_dict([(text("w"), rebuild(storage("0", 2), 0, (2,), (1,)))])[:-1]
    metadata = EMPTY_DICT + MARK + text("_metadata") + EMPTY_DICT + MARK + text("version") + integer(1) + SETITEMS \
        + SETITEMS
    loaded = read_torch_checkpoint(_write(tmp_path, torch_zip(body + metadata + BUILD + STOP, {"0": _floats(2)})))
    np.testing.assert_array_equal(loaded["w"], [0.0, 1.0])


def _zip_with(tmp_path, **options) -> bytes:
    from checkpoint_files import rebuild, state_dict, storage, text, torch_zip

    return torch_zip(state_dict([(text("w"), rebuild(storage("0", 4), 0, (4,), (1,)))]), {"0": _floats(4)},
                     **options)


@pytest.mark.parametrize("case, message", [
    ("encrypted", "data/0 is encrypted"),  # was RuntimeError
    ("method 99", "compression method 99"),  # was NotImplementedError
    ("method 12", "compression method 12"),  # bzip2: zipfile reads it, torch.load does not
    ("version 6.4", r"corrupt PyTorch checkpoint \(the zip directory: NotImplementedError: zip file version 6.4"),
    ("bad deflate", r"data/0: (error|BadZipFile)"),  # was zlib.error
    ("multi-disk zip64", "zip directory: BadZipFile: zipfiles that span multiple disks"),  # was outside the try
    ("truncated", "corrupt PyTorch checkpoint"),
    ("non-UTF-8 name", "UnicodeDecodeError"),
    ("duplicate member", "lists a member twice"),
    ("beyond the end", "beyond the end of the file"),
])
def test_every_zip_defect_is_a_checkpoint_error(tmp_path, case, message) -> None:
    """Defect 7: each of these raised its own exception type from zipfile/zlib (and one outside the try)."""
    from checkpoint_files import Member, rebuild, state_dict, storage, text, zip_bytes

    pickled = state_dict([(text("w"), rebuild(storage("0", 4), 0, (4,), (1,)))])
    members = [Member("archive/data.pkl", pickled), Member("archive/data/0", _floats(4))]
    locator = b""
    if case == "encrypted":
        members[1].flags = 0x1
    elif case.startswith("method"):
        members[1].method = int(case.split()[1])
    elif case == "version 6.4":
        members[1].version = 64
    elif case == "bad deflate":
        members[1] = Member("archive/data/0", b"\xff" * 16, method=8, file_size=16, crc=zlib.crc32(_floats(4)))
    elif case == "multi-disk zip64":
        locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 2)
    elif case == "non-UTF-8 name":
        members.append(Member("x", b""))
        members[-1].flags = 0x800
    elif case == "duplicate member":
        members.append(Member("archive/data/0", _floats(4)))
    elif case == "beyond the end":
        members[0].file_size = members[0].compress_size = 10**6
    data = zip_bytes(members, locator)
    if case == "truncated":
        data = data[: len(data) - 30]
    elif case == "non-UTF-8 name":
        data = data.replace(b"\x00x", b"\x00\xff")  # the flagged-UTF-8 name becomes invalid UTF-8
    path = _write(tmp_path, data)
    with pytest.raises(CheckpointError, match=message):
        read_torch_checkpoint(path)
    with pytest.raises(CheckpointError, match=message):  # and through the directory loader
        from roformer_np import load_weights

        load_weights(path)


def test_storage_member_sizes_must_match_the_pickle(tmp_path) -> None:
    from checkpoint_files import rebuild, state_dict, storage, text, torch_zip

    pickled = state_dict([(text("w"), rebuild(storage("0", 4), 0, (4,), (1,)))])
    for stored, message in ((_floats(3), "holds 12 bytes, its tensors' storage needs 16"),
                            (_floats(5), "holds 20 bytes, its tensors' storage needs 16")):
        with pytest.raises(CheckpointError, match=message):
            read_torch_checkpoint(_write(tmp_path, torch_zip(pickled, {"0": stored})))
    twice = state_dict([(text("a"), rebuild(storage("0", 4), 0, (4,), (1,))),
                        (text("b"), rebuild(storage("0", 2), 0, (2,), (1,)))])
    with pytest.raises(CheckpointError, match="declared twice"):
        read_torch_checkpoint(_write(tmp_path, torch_zip(twice, {"0": _floats(4)})))


def test_overlapping_views_are_bounded(tmp_path) -> None:
    """Many distinct views of one storage would multiply its bytes (each one converted to float32 is a copy)."""
    from checkpoint_files import rebuild, state_dict, storage, text, torch_zip

    n = 1 << 14
    views = [(text(f"v{i}"), rebuild(storage("0", n, "HalfStorage"), i, (n - 8,), (1,))) for i in range(8)]
    path = _write(tmp_path, torch_zip(state_dict(views), {"0": bytes(2 * n)}))
    with pytest.raises(CheckpointError, match="overlapping views"):
        read_torch_checkpoint(path, np.float32)
    tied = [(text(f"t{i}"), rebuild(storage("0", n, "HalfStorage"), 0, (n,), (1,))) for i in range(8)]
    loaded = read_torch_checkpoint(_write(tmp_path, torch_zip(state_dict(tied), {"0": bytes(2 * n)})), np.float32)
    assert len({id(v) for v in loaded.values()}) == 1  # the same view is one array: tied weights cost nothing


def test_real_torch_files_load_as_views_of_one_read(tmp_path) -> None:
    """The golden torch.save file: contiguous tensors are views of their storage buffer (no copy per tensor)."""
    (case,) = [c for c in CASES if c["kind"] == "torch_pickle"]
    loaded = read_torch_checkpoint(GOLDEN / case["file"])
    assert np.shares_memory(loaded["f32"], loaded["f32_row_view"])
    assert all(not v.flags.writeable for v in loaded.values())
