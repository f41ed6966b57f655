"""Backend selection (argument, context manager, environment, strict mode) and the thread settings."""

from __future__ import annotations

import io

import numpy as np
import pytest

import roformer_np
from roformer_np import backend, ops, threads


@pytest.fixture
def no_native(monkeypatch):
    """Pretend the extension is not built."""
    monkeypatch.setattr(backend, "_native_cache", {"module": None, "error": "simulated: not built"})
    monkeypatch.setattr(backend, "_warned", False)


def test_numpy_backend_is_the_reference():
    k = backend.get_kernels("numpy")
    assert k.name == "numpy"
    for name in ops.KERNELS:
        assert getattr(k, name) is getattr(ops, name)


def test_invalid_backend_name():
    with pytest.raises(ValueError, match="backend must be one of"):
        backend.get_kernels("cuda")
    with pytest.raises(ValueError):
        with backend.use_backend("fast"):
            pass


def test_precedence_argument_context_environment(monkeypatch):
    monkeypatch.setenv(backend.ENV_BACKEND, "numpy")
    assert backend.current_backend() == "numpy"
    with backend.use_backend("auto"):
        assert backend.current_backend() == "auto"
        assert backend.current_backend("numpy") == "numpy"  # the argument wins
    assert backend.current_backend() == "numpy"
    monkeypatch.delenv(backend.ENV_BACKEND)
    assert backend.current_backend() == "auto"


def test_context_manager_selects_numpy_kernels():
    with backend.use_backend("numpy"):
        assert backend.get_kernels().name == "numpy"


def test_environment_variable_selects_numpy(monkeypatch):
    monkeypatch.setenv(backend.ENV_BACKEND, "NumPy")
    assert backend.get_kernels().name == "numpy"


def test_missing_extension_strict_raises(no_native, monkeypatch):
    monkeypatch.setenv(backend.ENV_STRICT, "1")
    with pytest.raises(RuntimeError, match="not built"):
        backend.get_kernels("auto")


def test_missing_extension_native_always_raises(no_native, monkeypatch):
    monkeypatch.setenv(backend.ENV_STRICT, "0")
    with pytest.raises(RuntimeError, match="native backend was requested"):
        backend.get_kernels("native")


def test_missing_extension_auto_warns_once_and_falls_back(no_native, monkeypatch):
    monkeypatch.setenv(backend.ENV_STRICT, "0")
    with pytest.warns(RuntimeWarning, match="compiled kernels not available"):
        assert backend.get_kernels("auto").name == "numpy"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert backend.get_kernels().name == "numpy"  # no second warning


def test_model_runs_on_numpy_when_extension_missing(no_native, monkeypatch):
    monkeypatch.setenv(backend.ENV_STRICT, "0")
    from roformer_np import RoFormerConfig, RoFormerModel
    from roformer_np.weights import base_model_shapes

    config = RoFormerConfig(
        vocab_size=11,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=12,
        max_position_embeddings=16,
    )
    rng = np.random.default_rng(0)
    weights = {
        k: rng.standard_normal(s).astype(np.float32) * 0.1 for k, s in base_model_shapes(config).items()
    }
    with pytest.warns(RuntimeWarning):
        out = RoFormerModel(config, weights, backend="auto")(input_ids=[[1, 2, 3]])
    assert out.last_hidden_state.shape == (1, 3, 8)


def test_show_config_reports_everything(capsys):
    info = roformer_np.show_config()
    text = capsys.readouterr().out
    for key in ("backend", "native extension", "OpenMP", "kernel threads"):
        assert key in text
    assert info["native_built"] == backend.native_available()
    assert info["num_threads"] == threads.get_num_threads()
    buf = io.StringIO()
    roformer_np.show_config(file=buf)
    assert "OpenMP" in buf.getvalue()


def test_show_config_without_extension(no_native, capsys):
    info = roformer_np.show_config()
    assert not info["native_built"]
    assert "not built" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------------------------
def test_num_threads_honours_omp_num_threads(monkeypatch):
    monkeypatch.setattr(threads, "_setting", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.get_num_threads() == 3
    assert threads.num_threads_source() == "OMP_NUM_THREADS"
    monkeypatch.setenv("OMP_NUM_THREADS", "5,2")  # nested lists: the outer level
    assert threads.get_num_threads() == 5
    monkeypatch.setenv("OMP_NUM_THREADS", "garbage")
    assert threads.get_num_threads() == threads.available_cores()
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.get_num_threads() == threads.available_cores()


def test_set_num_threads_and_thread_limit(monkeypatch):
    monkeypatch.setattr(threads, "_setting", None)
    with pytest.raises(ValueError):
        roformer_np.set_num_threads(0)
    with roformer_np.thread_limit(1):
        assert roformer_np.get_num_threads() == 1
        if backend.native_available():
            assert backend._native_module()._get_num_threads() == 1
        with backend.use_backend("numpy", num_threads=3):
            assert roformer_np.get_num_threads() == 3
        assert roformer_np.get_num_threads() == 1
    assert threads._setting is None


@pytest.mark.skipif(not backend.native_available(), reason="the native extension is not built")
def test_blas_is_single_threaded_inside_kernels_and_restored():
    """No oversubscription: our OpenMP threads each call a 1-thread BLAS; the user's setting survives."""
    from threadpoolctl import threadpool_info, threadpool_limits

    module = backend._native_module()
    kernels_libs = {lib["filepath"] for lib in threads.scipy_blas_libraries()}
    assert module._get_gemm_mode() == ("omp" if module.OPENMP else "blas")
    with threadpool_limits(2, user_api="blas"):
        x = np.ones((4, 300), np.float32)
        module.linear(x, np.ones((500, 300), np.float32))
        for lib in threadpool_info():
            if lib["filepath"] in kernels_libs:
                assert lib["num_threads"] == 2  # restored after the call


@pytest.mark.skipif(not backend.native_available(), reason="the native extension is not built")
@pytest.mark.parametrize(
    "env, expected",
    [({}, "GOMP_SPINCOUNT=3000 (roformer_np's default"), ({"OMP_WAIT_POLICY": "passive"}, "OMP_WAIT_POLICY=passive")],
)
def test_openmp_wait_policy_in_a_fresh_process(env, expected, tmp_path):
    """roformer_np sets a bounded spin only while loading the extension, and never over the user's choice."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, os, roformer_np\n"
        "from roformer_np.backend import config_info\n"
        "info = config_info()\n"
        "print(json.dumps([info['openmp_wait_policy'], os.environ.get('GOMP_SPINCOUNT')]))\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    # the same roformer_np as this process (installed or in-place build), whatever the working directory
    clean["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(roformer_np.__file__)), clean.get("PYTHONPATH", "")]
    )
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    policy, left_in_env = json.loads(out.strip().splitlines()[-1])
    assert expected in policy
    assert left_in_env is None  # the process environment is as it was
