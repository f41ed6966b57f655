"""roformer_np.panel_cache: packed weights mapped from a shared directory instead of held privately.

The results of a model that maps its panels are bit-identical to one that holds them; a file is used only
when every byte equals what the process packed itself, so stale, corrupt, hostile or truncated files are
replaced, never computed with; an unwritable directory leaves the private panels and warns once. Where
nothing is packed (the NumPy backend, ``ROFORMER_NP_GEMM=blas``, a pure-NumPy install) nothing is written.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import random_weights, tiny_config

from roformer_np import RoFormerModel, panel_cache
from roformer_np.model import runs_lowp_kernels

CONFIG = dict(hidden_size=48, num_attention_heads=4, intermediate_size=80, vocab_size=100)
IDS = np.array([[2, 5, 9, 4, 7, 3, 11, 40], [2, 8, 8, 1, 6, 3, 0, 0]])
MASK = np.array([[1] * 8, [1] * 6 + [0] * 2])
MODES = [{}, {"dtype": "bfloat16"}, {"quantize": "int8"}]
MODE_IDS = ["float32", "bf16", "int8"]


def _model(directory=None, seed: int = 0, **mode) -> RoFormerModel:
    config = tiny_config(**CONFIG)
    with panel_cache.sharing(directory):
        return RoFormerModel(config, random_weights(config, seed=seed), **mode)


def _held(model: RoFormerModel) -> list:
    """The distinct packed weights a model holds (empty where nothing is packed)."""
    out = {id(h): h for h, _, _ in model._packed.values() if hasattr(h, "_rebind_panels")}
    return list(out.values())


def _files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.npy")) if directory.exists() else []


def _forward(model: RoFormerModel) -> np.ndarray:
    return model(input_ids=IDS, attention_mask=MASK).last_hidden_state


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_shared_model_is_bit_identical_and_maps_every_packed_weight(tmp_path: Path, mode: dict) -> None:
    private = _model(None, **mode)
    shared = _model(tmp_path / "panels", **mode)
    held = _held(shared)
    assert not any(panel_cache.is_shared(w) for w in _held(private))
    assert all(panel_cache.is_shared(w) for w in held)
    assert len(_files(tmp_path / "panels")) == len(held)  # one file per packed weight, nothing else
    np.testing.assert_array_equal(_forward(shared), _forward(private))
    for key, value in private.state_dict().items():
        np.testing.assert_array_equal(shared.state_dict()[key], value, err_msg=key)
    if mode and runs_lowp_kernels():
        assert held, "a bf16 / int8 model on the low-precision kernels holds packed weights"


def test_a_second_model_maps_the_same_files(tmp_path: Path) -> None:
    first = _model(tmp_path)
    files = {p: p.stat().st_ino for p in _files(tmp_path)}
    second = _model(tmp_path)
    assert {p: p.stat().st_ino for p in _files(tmp_path)} == files  # nothing rewritten
    for w in _held(second):
        assert Path(_mapped_file(w)) in files
    np.testing.assert_array_equal(_forward(first), _forward(second))


def test_another_model_gets_its_own_files(tmp_path: Path) -> None:
    a = _model(tmp_path, seed=0)
    n = len(_files(tmp_path))
    b = _model(tmp_path, seed=1)
    assert len(_files(tmp_path)) == n + len(_held(b))
    assert not np.array_equal(_forward(a), _forward(b))
    np.testing.assert_array_equal(_forward(b), _forward(_model(None, seed=1)))


def _mapped_file(weight) -> str:
    panels = weight.panels
    while not isinstance(panels, np.memmap):
        panels = panels.base
    return panels.filename


def _corruptions():
    def flip_one_byte(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[-7] ^= 0x01
        path.write_bytes(bytes(data))

    def truncate(path: Path) -> None:
        path.write_bytes(path.read_bytes()[:-100])

    def pickle_file(path: Path) -> None:
        np.save(path, np.array([{"evil": 1}], dtype=object), allow_pickle=True)

    def other_shape(path: Path) -> None:
        arr = np.load(path)
        np.save(path, arr.reshape(-1)[: arr.size // 2].copy())

    def not_npy(path: Path) -> None:
        path.write_bytes(pickle.dumps([1, 2, 3]))

    def empty(path: Path) -> None:
        path.write_bytes(b"")

    return [flip_one_byte, truncate, pickle_file, other_shape, not_npy, empty]


@pytest.mark.parametrize("corrupt", _corruptions(), ids=lambda f: f.__name__)
def test_a_corrupt_file_is_replaced_never_computed_with(tmp_path: Path, corrupt) -> None:
    expected = _forward(_model(None))
    _model(tmp_path)
    files = _files(tmp_path)
    if not files:
        pytest.skip("nothing is packed on this path (see test_nothing_is_written_where_nothing_is_packed)")
    originals = {p: p.read_bytes() for p in files}
    for p in files:
        corrupt(p)
    again = _model(tmp_path)
    assert all(panel_cache.is_shared(w) for w in _held(again))
    np.testing.assert_array_equal(_forward(again), expected)
    assert {p: p.read_bytes() for p in _files(tmp_path)} == originals  # each file rewritten whole


def test_unwritable_directory_keeps_private_panels_and_warns_once(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    panel_cache._warned.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = _model(blocker)
        _model(blocker)
    held = _held(model)
    assert not any(panel_cache.is_shared(w) for w in held)
    said = [w for w in caught if "panel cache" in str(w.message)]
    assert len(said) == (1 if held else 0), [str(w.message) for w in caught]
    np.testing.assert_array_equal(_forward(model), _forward(_model(None)))


def test_nothing_is_written_where_nothing_is_packed(tmp_path: Path) -> None:
    config = tiny_config(**CONFIG)
    with panel_cache.sharing(tmp_path):
        model = RoFormerModel(config, random_weights(config), backend="numpy")
    assert not _held(model) and not _files(tmp_path)
    float64 = _model(tmp_path / "f64", dtype=np.float64)
    assert not _held(float64) and not _files(tmp_path / "f64")


def test_directory_selection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(panel_cache.ENV, raising=False)
    assert panel_cache.active_directory() is None
    monkeypatch.setenv(panel_cache.ENV, str(tmp_path / "env"))
    assert panel_cache.active_directory() == tmp_path / "env"
    assert panel_cache.default_directory() == tmp_path / "env"
    with panel_cache.sharing(None):  # an explicit None wins over the environment
        assert panel_cache.active_directory() is None
        with panel_cache.sharing(tmp_path / "inner"):
            assert panel_cache.active_directory() == tmp_path / "inner"
        assert panel_cache.active_directory() is None
    monkeypatch.delenv(panel_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert panel_cache.default_directory() == tmp_path / "xdg" / "roformer_np" / "panels"
    with pytest.raises(ValueError, match="panel cache directory"):
        with panel_cache.sharing(3):
            pass


def test_environment_variable_turns_sharing_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(panel_cache.ENV, str(tmp_path))
    config = tiny_config(**CONFIG)
    model = RoFormerModel(config, random_weights(config))
    assert len(_files(tmp_path)) == len(_held(model))
    assert all(panel_cache.is_shared(w) for w in _held(model))


def test_rebind_refuses_another_layout() -> None:
    held = _held(_model(None))
    if not held:
        pytest.skip("nothing is packed on this path")
    w = held[0]
    before = np.array(w.panels)
    for bad in (before.reshape(-1), before.astype(np.float64), np.asfortranarray(before)):
        with pytest.raises(ValueError, match="panels must be"):
            w._rebind_panels(bad)
    np.testing.assert_array_equal(w.panels, before)


def test_new_directory_is_private_and_holds_no_temporaries(tmp_path: Path) -> None:
    directory = tmp_path / "new"
    model = _model(directory)
    if not _held(model):
        assert not directory.exists()
        return
    assert directory.stat().st_mode & 0o077 == 0
    assert not list(directory.glob(".tmp-*"))
