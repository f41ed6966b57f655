"""Saved bf16 / int8 checkpoints: the file layout and its markers, reloading without converting again (the
weights bit-identical), requests contradicting a checkpoint, a float checkpoint never overwritten, and hostile
low-precision files."""

from __future__ import annotations

import json
import struct
import warnings

import numpy as np
import pytest
from conftest import random_weights, tiny_config
from safetensors import safe_open

from roformer_np import CheckpointError, RoFormerForMaskedLM, RoFormerForSequenceClassification, RoFormerModel, lowp
from roformer_np.weights import (
    INT8_QUANT_METHOD,
    PRECISION_KEY,
    SCALE_SUFFIX,
    checkpoint_precision,
    load_weights,
    safetensors_metadata,
    write_safetensors,
)

MODES = [{"dtype": "bfloat16"}, {"quantize": "int8"}]
IDS = np.array([[2, 5, 9, 4, 7, 3], [2, 8, 8, 1, 6, 3]])


def _precision(kw: dict) -> str:
    return "int8" if kw.get("quantize") else "bfloat16"


def _same(a, b) -> bool:
    """Bit-identical tensors: containers by their bits / (q, scale), arrays by value and dtype."""
    if getattr(a, "precision", None) != getattr(b, "precision", None):
        return False
    if isinstance(a, lowp.BF16Weight):
        return np.array_equal(a.bits, b.bits)
    if isinstance(a, lowp.Int8Weight):
        return np.array_equal(a.q, b.q) and np.array_equal(a.scale.view(np.uint32), b.scale.view(np.uint32))
    return a.dtype == b.dtype and np.array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8))


def _float_checkpoint(path, cls=RoFormerForMaskedLM, **extra):
    config = tiny_config(hidden_size=32, intermediate_size=64, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a head is newly initialised
        model = cls(config, random_weights(config, 7, std=0.05))
    model.save_pretrained(path)
    return path


def _lowp_dir(tmp_path, **kw):
    """A bare RoFormerModel checkpoint saved in bf16 / int8 (from a float one)."""
    return RoFormerModel.from_pretrained(_float_checkpoint(tmp_path / "f", RoFormerModel), **kw).save_pretrained(
        tmp_path / "low")


@pytest.mark.parametrize("kw", MODES)
def test_saved_layout_and_markers(tmp_path, kw) -> None:
    source = _float_checkpoint(tmp_path / "float")
    model = RoFormerForMaskedLM.from_pretrained(source, **kw)
    out = model.save_pretrained(tmp_path / "low")
    file = out / "model.safetensors"
    meta = safetensors_metadata(file)
    assert meta["format"] == "pt" and meta[PRECISION_KEY] == model.precision
    config = json.loads((out / "config.json").read_text())
    with safe_open(str(file), framework="numpy") as fh:  # the format's reference reader accepts it
        names = set(fh.keys())
    header = _header(file)
    state = model.state_dict()
    for name, shape in ((k, v.shape) for k, v in state.items()):
        tag = header[name]["dtype"]
        lowp_tensor = lowp.is_lowp(model.low_precision_state()[name])
        if model.precision == "bfloat16":
            assert tag == ("BF16" if lowp_tensor else "F32"), name
        else:
            assert tag == ("I8" if lowp_tensor else "F32"), name
            if lowp_tensor:
                scale = header[name + SCALE_SUFFIX]
                assert scale["dtype"] == "F32" and scale["shape"] == [shape[0]], name
        assert header[name]["shape"] == list(shape)
    expected = set(state) | {k + SCALE_SUFFIX for k, v in model.low_precision_state().items()
                             if isinstance(v, lowp.Int8Weight)}
    assert names == expected
    assert header["roformer.encoder.layer.0.attention.self.query.weight"]["dtype"] in ("BF16", "I8")
    assert header["roformer.encoder.layer.0.output.LayerNorm.weight"]["dtype"] == "F32"
    if model.precision == "bfloat16":
        assert config["dtype"] == "bfloat16" and "quantization_config" not in config
    else:
        assert config["quantization_config"]["quant_method"] == INT8_QUANT_METHOD
    assert checkpoint_precision(out) == model.precision and checkpoint_precision(source) is None
    ratio = file.stat().st_size / (source / "model.safetensors").stat().st_size
    assert ratio < (0.6 if model.precision == "bfloat16" else 0.4)  # norms and biases: a large share here


def _header(file) -> dict:
    raw = file.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n])


@pytest.mark.parametrize("cls", [RoFormerModel, RoFormerForMaskedLM, RoFormerForSequenceClassification])
@pytest.mark.parametrize("kw", MODES)
def test_round_trip_is_bit_identical_without_converting_again(tmp_path, monkeypatch, cls, kw) -> None:
    source = _float_checkpoint(tmp_path / "float", cls if cls is not RoFormerModel else RoFormerForMaskedLM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a bare RoFormerModel leaves the MLM head unused
        model = cls.from_pretrained(source, **kw)
    saved = model.save_pretrained(tmp_path / "low")
    with monkeypatch.context() as patch:  # loading must not round or quantize anything again
        for name in ("to_bf16_bits", "quantize_rows", "quantize_weight"):
            patch.setattr(lowp, name, _never)
        reloaded = cls.from_pretrained(saved)  # no dtype / quantize: the checkpoint's own precision
    assert reloaded.precision == model.precision
    a, b = model.low_precision_state(), reloaded.low_precision_state()
    assert set(a) == set(b)
    for key in a:
        assert _same(a[key], b[key]), key
    out_a, out_b = model(input_ids=IDS), reloaded(input_ids=IDS)
    np.testing.assert_array_equal(out_a[0], out_b[0])
    again = reloaded.save_pretrained(tmp_path / "again")  # and saving the reloaded model gives the same bytes
    assert (again / "model.safetensors").read_bytes() == (saved / "model.safetensors").read_bytes()


def _never(*args, **kwargs):
    raise AssertionError("a saved low-precision checkpoint was converted again")


@pytest.mark.parametrize("kw", MODES)
def test_saving_over_the_checkpoint_it_was_loaded_from(tmp_path, kw) -> None:
    """The loaded weights map the old file: the new one replaces it whole (moved into place), so the model
    keeps reading its own weights and the file reloads the same."""
    low = _lowp_dir(tmp_path, **kw)
    model = RoFormerModel.from_pretrained(low)
    before = model(input_ids=IDS).last_hidden_state
    model.save_pretrained(low)
    np.testing.assert_array_equal(model(input_ids=IDS).last_hidden_state, before)
    np.testing.assert_array_equal(RoFormerModel.from_pretrained(low)(input_ids=IDS).last_hidden_state, before)


def test_requests_contradicting_an_int8_checkpoint(tmp_path) -> None:
    saved = _lowp_dir(tmp_path, quantize="int8")
    for dtype in ("bfloat16", "bf16", np.float64):
        with pytest.raises(ValueError, match="holds int8 weights"):
            RoFormerModel.from_pretrained(saved, dtype=dtype)
    with pytest.raises(ValueError, match="exclude each other"):
        RoFormerModel.from_pretrained(saved, dtype="bf16", quantize="int8")
    assert RoFormerModel.from_pretrained(saved, dtype=np.float32).precision == "int8"  # the compute dtype
    assert RoFormerModel.from_pretrained(saved, quantize="int8").precision == "int8"
    config = tiny_config(hidden_size=32, intermediate_size=64)
    with pytest.raises(ValueError, match="quantize='int8'"):  # int8 tensors are never dequantized silently
        RoFormerModel(config, load_weights_paired(saved), dtype=np.float32)


def load_weights_paired(path):
    from roformer_np.weights import pair_int8, strip_prefix

    return strip_prefix(pair_int8(load_weights(path), str(path)))


def test_a_bf16_checkpoint_loads_in_any_float_precision(tmp_path) -> None:
    saved = _lowp_dir(tmp_path, dtype="bf16")
    bf16 = RoFormerModel.from_pretrained(saved)
    f32 = RoFormerModel.from_pretrained(saved, dtype=np.float32)
    f64 = RoFormerModel.from_pretrained(saved, dtype=np.float64)
    assert (bf16.precision, f32.precision, f64.precision) == ("bfloat16", "float32", "float64")
    state = bf16.state_dict()
    for key, value in f32.state_dict().items():  # the bf16 values are exact in float32
        np.testing.assert_array_equal(value, state[key])
    assert RoFormerModel.from_pretrained(saved, quantize="int8").precision == "int8"  # quantizes the bf16 values


@pytest.mark.parametrize("kw", MODES)
def test_a_float_checkpoint_is_never_overwritten(tmp_path, kw) -> None:
    source = _float_checkpoint(tmp_path)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    model = RoFormerForMaskedLM.from_pretrained(source, **kw)
    with pytest.raises(ValueError, match="holds a float checkpoint"):
        model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="never overwritten"):
        model.roformer.save_pretrained(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files, "the float checkpoint was touched"
    other = model.save_pretrained(tmp_path / "elsewhere")
    model.save_pretrained(other)  # its own low-precision checkpoint may be replaced
    assert checkpoint_precision(other) == model.precision


def test_a_float_save_drops_the_int8_marker(tmp_path) -> None:
    saved = _lowp_dir(tmp_path, quantize="int8")
    model = RoFormerModel.from_pretrained(saved)
    float_model = RoFormerModel(model.config, model.state_dict())  # the dequantized values, float32
    out = float_model.save_pretrained(tmp_path / "back")
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    assert "quantization_config" in json.loads((saved / "config.json").read_text())
    assert RoFormerModel.from_pretrained(out).precision == "float32"


# ---------------------------------------------------------------------------------------------
# Hostile low-precision files
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def int8_dir(tmp_path):
    return _lowp_dir(tmp_path, quantize="int8")


def _rewrite(directory, edit, metadata=None) -> None:
    """Rewrite model.safetensors with ``edit(entries)`` applied to its [(name, tag, array)] list."""
    file = directory / "model.safetensors"
    header = _header(file)
    meta = metadata if metadata is not None else header.pop("__metadata__")
    header.pop("__metadata__", None)
    raw = file.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    start = 8 + n
    dtypes = {"F32": np.float32, "I8": np.int8, "BF16": np.uint16}
    entries = []
    for name, info in header.items():
        b, e = info["data_offsets"]
        arr = np.frombuffer(raw[start + b : start + e], dtype=dtypes[info["dtype"]]).reshape(info["shape"]).copy()
        entries.append((name, info["dtype"], arr))
    write_safetensors(edit(entries), file, meta)


SCALE = "encoder.layer.0.intermediate.dense.weight" + SCALE_SUFFIX
WEIGHT = "encoder.layer.0.intermediate.dense.weight"


def _set(name, fn):
    def edit(entries):
        return [(n, t, fn(a) if n == name else a) for n, t, a in entries]
    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda e: [x for x in e if x[0] != SCALE], "has no scales"),
        (lambda e: [x for x in e if x[0] != WEIGHT], "has no int8 weight"),
        (_set(SCALE, lambda a: np.where(np.arange(a.size) == 3, np.nan, a).astype(np.float32)), "finite scales"),
        (_set(SCALE, lambda a: -a), "finite scales >= 0"),
        (_set(SCALE, lambda a: a[:-1]), "must be float32 of shape"),
        (_set(WEIGHT, lambda a: np.full_like(a, -128)), "holds -128"),
        (lambda e: [(n, "F16" if n == SCALE else t, a.astype(np.float16) if n == SCALE else a) for n, t, a in e],
         "must be float32"),
    ],
)
def test_hostile_int8_files_are_refused(int8_dir, edit, message) -> None:
    _rewrite(int8_dir, edit)
    with pytest.raises(CheckpointError, match=message):
        RoFormerModel.from_pretrained(int8_dir, check_finite=False)


def test_markers_must_agree(int8_dir) -> None:
    _rewrite(int8_dir, lambda e: e, metadata={"format": "pt"})  # the file no longer says int8
    with pytest.raises(CheckpointError, match="disagree"):
        RoFormerModel.from_pretrained(int8_dir)
    _rewrite(int8_dir, lambda e: e, metadata={"format": "pt", PRECISION_KEY: "int4"})
    with pytest.raises(CheckpointError, match="expected one of"):
        RoFormerModel.from_pretrained(int8_dir)


def test_bf16_nan_in_a_kept_weight_is_found(tmp_path) -> None:
    saved = _lowp_dir(tmp_path, dtype="bf16")
    _rewrite(saved, _set(WEIGHT, lambda a: np.where(np.arange(a.size).reshape(a.shape) == 5, 0x7FC0, a)
                         .astype(np.uint16)))
    with pytest.raises(CheckpointError, match=f"{WEIGHT}.*non-finite"):
        RoFormerModel.from_pretrained(saved)
    weights = load_weights(saved, keep_bf16=True, check_finite=False)
    assert isinstance(weights[WEIGHT], lowp.BF16Weight) and not weights[WEIGHT].bits.flags.owndata  # mapped


@pytest.mark.parametrize("kw, bound", [({"dtype": "bfloat16"}, 0.6), ({"quantize": "int8"}, 0.35)])
def test_loading_converts_tensor_by_tensor(tmp_path, monkeypatch, kw, bound) -> None:
    """The allocations while loading a float32 checkpoint into a bf16 / int8 model stay near the low-precision
    weights' size (each tensor converted a block at a time, each packed before the next): never a float32
    copy of the weights, nor the whole model in two forms. (Blocks and finiteness chunks made small, as they
    are against a real model's weights.)"""
    import tracemalloc

    from roformer_np import weights as weights_module

    monkeypatch.setattr(lowp, "BLOCK_ELEMENTS", 1 << 14)
    monkeypatch.setattr(weights_module, "FINITE_CHUNK", 1 << 14)

    config = tiny_config(vocab_size=20_000, hidden_size=64, num_attention_heads=4, intermediate_size=256,
                         num_hidden_layers=3)
    weights = random_weights(config, 8, std=0.05)
    float_bytes = sum(v.nbytes for v in weights.values())
    RoFormerModel(config, weights).save_pretrained(tmp_path)
    del weights
    tracemalloc.start()
    try:
        model = RoFormerModel.from_pretrained(tmp_path, **kw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    held = sum(v.nbytes for v in model.low_precision_state().values())
    assert held < (0.52 if model.precision == "bfloat16" else 0.27) * float_bytes
    assert peak < bound * float_bytes, f"peak {peak / float_bytes:.2f}x the float32 weights while loading"
