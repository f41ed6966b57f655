"""Non-finite weights: a NaN or an infinity anywhere in a checkpoint made every output NaN without a word;
loading now refuses it, naming the tensor and how many values are bad (``check_finite=False`` skips it)."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest
from conftest import GOLDEN, golden_cases, random_weights, tiny_config
from safetensors.numpy import save_file
from test_weights import _write_raw_safetensors

from roformer_np import (
    CheckpointError,
    RoFormerForSequenceClassification,
    RoFormerModel,
    load_weights,
)
from roformer_np.weights import add_prefix, require_finite

KEY = "encoder.layer.1.intermediate.dense.weight"


def _save(directory, weights, config=None, name="model.safetensors"):
    (config or tiny_config()).save_pretrained(directory)
    save_file(weights, str(directory / name), metadata={"format": "pt"})
    return directory


def _poisoned(value, count=1, dtype=np.float32):
    cfg = tiny_config()
    w = random_weights(cfg)
    w[KEY] = w[KEY].astype(dtype)
    w[KEY].flat[:count] = value
    return w


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_a_non_finite_weight_is_named_at_load(tmp_path, value, dtype) -> None:
    _save(tmp_path, _poisoned(value, count=3, dtype=dtype))
    with pytest.raises(CheckpointError, match=rf"{KEY}.*3 non-finite values"):
        RoFormerModel.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match=KEY):
        load_weights(tmp_path)


def test_bfloat16_nan_is_found(tmp_path) -> None:
    w = {k: (v.view(np.uint32) >> 16).astype(np.uint16) for k, v in random_weights(tiny_config()).items()}
    w[KEY].flat[5] = 0x7FC0  # a bfloat16 quiet NaN
    _write_raw_safetensors(tmp_path / "model.safetensors", {k: ("BF16", v) for k, v in w.items()})
    tiny_config().save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match=rf"{KEY}.*1 non-finite value"):
        RoFormerModel.from_pretrained(tmp_path)


def test_a_head_weight_is_checked_too(tmp_path) -> None:
    cfg = tiny_config()
    w = add_prefix(random_weights(cfg))
    w["classifier.dense.weight"] = np.zeros((16, 16), np.float32)
    w["classifier.dense.bias"] = np.zeros(16, np.float32)
    w["classifier.out_proj.weight"] = np.full((2, 16), np.nan, np.float32)
    w["classifier.out_proj.bias"] = np.zeros(2, np.float32)
    _save(tmp_path, w, cfg)
    with pytest.raises(CheckpointError, match=r"classifier\.out_proj\.weight.*32 non-finite values"):
        RoFormerForSequenceClassification.from_pretrained(tmp_path)


def test_sharded_checkpoint_names_the_shard_and_tensor(tmp_path) -> None:
    cfg = tiny_config()
    w = _poisoned(np.nan)
    names = sorted(w)
    half = len(names) // 2
    parts = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    for shard, keys in parts.items():
        save_file({k: w[k] for k in keys}, str(tmp_path / shard), metadata={"format": "pt"})
    index = {"metadata": {}, "weight_map": {k: s for s, keys in parts.items() for k in keys}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    cfg.save_pretrained(tmp_path)
    shard = index["weight_map"][KEY]
    with pytest.raises(CheckpointError, match=rf"{shard}.*{KEY}"):
        RoFormerModel.from_pretrained(tmp_path)


def test_pytorch_bin_is_checked(tmp_path) -> None:
    """A golden pytorch_model.bin with one stored tensor's bytes overwritten by NaNs."""
    case = next(c for c in golden_cases("bin") if c["kind"] == "model" and c["stored_dtype"] == "float32")
    source = GOLDEN / case["checkpoint"]
    shutil.copy(source / "config.json", tmp_path / "config.json")
    with zipfile.ZipFile(source / "pytorch_model.bin") as zin, \
            zipfile.ZipFile(tmp_path / "pytorch_model.bin", "w", zipfile.ZIP_STORED) as zout:
        poisoned = None
        for info in zin.infolist():
            data = zin.read(info)
            if poisoned is None and "/data/" in info.filename and len(data) >= 64:
                data = np.full(len(data) // 4, np.nan, np.float32).tobytes() + data[len(data) // 4 * 4:]
                poisoned = info.filename
            zout.writestr(info, data)
    assert poisoned is not None
    with pytest.raises(CheckpointError, match="non-finite values"):
        RoFormerModel.from_pretrained(tmp_path)


def test_check_finite_false_skips_the_check(tmp_path) -> None:
    _save(tmp_path, _poisoned(np.nan))
    model = RoFormerModel.from_pretrained(tmp_path, check_finite=False)
    assert np.isnan(model(input_ids=[[1, 2, 3]])[0]).all()  # what the check protects against
    assert np.isnan(load_weights(tmp_path, check_finite=False)[KEY]).any()
    with pytest.warns(UserWarning, match="newly initialized"):
        clf = RoFormerForSequenceClassification.from_pretrained(tmp_path, check_finite=False)
    assert clf.config.num_labels == 2
    with pytest.raises(ValueError, match="check_finite must be True or False"):
        RoFormerModel.from_pretrained(tmp_path, check_finite="no")


def test_finite_checkpoints_load_unchanged_and_without_copies(tmp_path) -> None:
    cfg = tiny_config()
    w = random_weights(cfg)
    w[KEY].flat[0] = np.finfo(np.float32).max  # large but finite: a float32 sum would overflow
    w[KEY].flat[1] = np.finfo(np.float32).max
    _save(tmp_path, w)
    loaded = load_weights(tmp_path)
    assert isinstance(loaded[KEY].base, np.memmap) or not loaded[KEY].flags.owndata  # still a view of the file
    np.testing.assert_array_equal(loaded[KEY], w[KEY])


def test_require_finite_counts_every_bad_value_and_ignores_integers() -> None:
    good = {"a": np.ones(10, np.float32), "ids": np.arange(4), "flags": np.ones(3, bool)}
    require_finite(good, "x")
    big = np.zeros(3 * 2**20 + 5, np.float32)  # more than one chunk
    big[[0, 2**20, 3 * 2**20 + 4]] = [np.nan, np.inf, -np.inf]
    with pytest.raises(CheckpointError, match=r"x: tensor 'big' holds 3 non-finite values \(NaN or ±inf\)"):
        require_finite({**good, "big": big}, "x")


def test_require_finite_counts_the_same_with_and_without_the_native_counter(monkeypatch) -> None:
    """The compiled counter (larger chunks) and NumPy's isfinite (smaller ones) name the same tensor and count."""
    import roformer_np.weights as weights_mod

    big = np.zeros(5 * 2**10 + 3, np.float64)
    big[[1, 2**10, 5 * 2**10 + 2]] = [np.nan, -np.inf, np.nan]
    bits = np.full(3000, 0x3F80, np.uint16)  # bfloat16 1.0
    bits[[7, 2999]] = [0x7FC0, 0xFF80]  # NaN, -inf
    monkeypatch.setattr(weights_mod, "NATIVE_FINITE_CHUNK", 2**10)
    monkeypatch.setattr(weights_mod, "FINITE_CHUNK", 2**9)
    for counter in (weights_mod._native_nonfinite_counter(), None):
        monkeypatch.setattr(weights_mod, "_native_nonfinite_counter", lambda c=counter: c)
        with pytest.raises(CheckpointError, match=r"x: tensor 'big' holds 3 non-finite values"):
            require_finite({"ok": np.ones(3, np.float16), "big": big}, "x")
        with pytest.raises(CheckpointError, match=r"x: tensor 'w' holds 2 non-finite values"):
            require_finite({"w": weights_mod.BF16Weight(bits.reshape(30, 100))}, "x")
        require_finite({"strided": np.ones((40, 40), np.float32)[:, ::3]}, "x")


def test_native_count_nonfinite_against_numpy() -> None:
    from roformer_np.backend import native_available

    if not native_available():
        pytest.skip("the native extension is not built")
    from roformer_np._native import kernels

    rng = np.random.default_rng(0)
    for dtype in (np.float16, np.float32, np.float64):
        for n in (0, 1, 7, 1000, 70001):
            x = rng.standard_normal(n).astype(dtype)
            if n:
                where = rng.integers(0, n, size=min(n, 9))
                x[where] = rng.choice(np.array([np.nan, np.inf, -np.inf], dtype), size=where.size)
                x[-1] = np.finfo(dtype).max  # the largest finite value is finite
            assert kernels.count_nonfinite(x) == np.count_nonzero(~np.isfinite(x)), (dtype, n)
            assert kernels.count_nonfinite(x.reshape(-1, 1)) == np.count_nonzero(~np.isfinite(x))
    bits = rng.integers(0, 2**16, size=50000).astype(np.uint16)
    assert kernels.count_nonfinite(bits, True) == np.count_nonzero((bits & 0x7F80) == 0x7F80)
    with pytest.raises(ValueError, match="C-contiguous"):
        kernels.count_nonfinite(np.ones((4, 4), np.float32)[:, ::2])
    with pytest.raises(ValueError, match="float16, float32 or float64"):
        kernels.count_nonfinite(np.ones(4, np.int32))
    with pytest.raises(ValueError, match="bfloat16 bits come as uint16"):
        kernels.count_nonfinite(np.ones(4, np.float32), True)
