"""setup.py's outcomes: pure-NumPy by request, a loud failure without a usable compiler or without the
kernel sources, and serial kernels from a compiler without OpenMP.

Each case builds a copy of the sources in a temporary directory (``setup.py build_ext``), so nothing
here touches the package under test. pyproject.toml is not copied: these cases are about setup.py, and its
metadata needs a newer setuptools than the test environment may have (pip's isolated build gets one; .ci/run
checks the failure message through pip). The no-OpenMP case really compiles the kernels (at -O0: about 15 s)
and checks the result runs and agrees with the reference.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WARNING = "*** roformer_np:"

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="no C compiler on this machine to build with",
)


def _copy_sources(dst: Path) -> None:
    shutil.copy2(REPO / "setup.py", dst / "setup.py")
    # copy2 keeps mtimes: an up-to-date .c is not re-translated
    shutil.copytree(REPO / "ext", dst / "ext", ignore=shutil.ignore_patterns("*.so", "*.o"))
    shutil.copytree(REPO / "csrc", dst / "csrc")
    shutil.copytree(
        REPO / "roformer_np",
        dst / "roformer_np",
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"),
    )


def _build(tmp_path: Path, drop_pyx: bool = False, copy: bool = True, **env: str) -> subprocess.CompletedProcess:
    if copy:
        _copy_sources(tmp_path)
    if drop_pyx:  # what the old, incomplete sdist held
        for pyx in (tmp_path / "ext").glob("*.pyx"):
            pyx.unlink()
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", "out", "--build-temp", "tmp"],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _built(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "out").rglob("kernels*.so")) + sorted((tmp_path / "out").rglob("kernels*.pyd"))


def test_pure_python_requested(tmp_path):
    proc = _build(tmp_path, ROFORMER_NP_PUREPYTHON="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(WARNING) == 1 and "ROFORMER_NP_PUREPYTHON" in proc.stderr
    assert not _built(tmp_path)


def _assert_fails_with_instructions(proc: subprocess.CompletedProcess, reason: str) -> None:
    assert proc.returncode != 0, proc.stderr
    assert proc.stderr.count(WARNING) == 1, proc.stderr  # one message, with the reason and both ways forward
    assert reason in proc.stderr, proc.stderr
    assert "ROFORMER_NP_PUREPYTHON=1 pip install" in proc.stderr and "C compiler" in proc.stderr, proc.stderr


def _cc_wrapper(tmp_path: Path, refuse: str) -> Path:
    """A compiler that fails when an argument matches the shell pattern ``refuse`` and otherwise runs the real
    one at -O0: these cases are about setup.py's paths, not the optimiser (-O3 would take most of a minute)."""
    wrapper = tmp_path / "cc-wrapper"
    real_cc = shutil.which("gcc") or shutil.which("cc")
    wrapper.write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        for a in "$@"; do case "$a" in {refuse}) echo "cc: refusing $a" >&2; exit 1;; esac; done
        for a in "$@"; do shift; case "$a" in -O2|-O3) set -- "$@" -O0;; *) set -- "$@" "$a";; esac; done
        exec {real_cc} "$@"
        """)
    )
    wrapper.chmod(0o755)
    return wrapper


def test_no_compiler_fails_with_instructions(tmp_path):
    pytest.importorskip("Cython", reason="Cython is needed to reach the compile step (pip install '.[test]')")
    _copy_sources(tmp_path)
    (tmp_path / "ext" / "kernels.c").unlink(missing_ok=True)
    proc = _build(tmp_path, copy=False, CC="/bin/false", LDSHARED="/bin/false")
    _assert_fails_with_instructions(proc, "the C compiler does not work")
    assert not _built(tmp_path)
    assert not (tmp_path / "ext" / "kernels.c").exists()  # it failed at once, before Cython's translation


def test_a_compiler_that_fails_on_the_kernels_fails_with_instructions(tmp_path):
    pytest.importorskip("Cython", reason="Cython is needed to reach the compile step (pip install '.[test]')")
    cc = _cc_wrapper(tmp_path, refuse="*kernels.c")
    proc = _build(tmp_path, CC=str(cc), LDSHARED=f"{cc} -shared")
    _assert_fails_with_instructions(proc, "the compiler failed on roformer_np._native.kernels with OpenMP")
    assert "and without it" in proc.stderr
    assert not _built(tmp_path)


def test_missing_kernel_sources_fail(tmp_path):
    proc = _build(tmp_path, drop_pyx=True)
    _assert_fails_with_instructions(proc, "no ext/*.pyx")
    assert not _built(tmp_path)


def test_missing_kernel_sources_with_pure_python_requested(tmp_path):
    proc = _build(tmp_path, drop_pyx=True, ROFORMER_NP_PUREPYTHON="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(WARNING) == 1 and "ROFORMER_NP_PUREPYTHON" in proc.stderr
    assert not _built(tmp_path)


def test_compiler_without_openmp_builds_serial_kernels(tmp_path):
    pytest.importorskip("Cython", reason="Cython is needed to build the kernels (pip install '.[test]')")
    pytest.importorskip("scipy.linalg.cython_blas")
    wrapper = _cc_wrapper(tmp_path, refuse="-fopenmp")
    proc = _build(tmp_path, CC=str(wrapper), LDSHARED=f"{wrapper} -shared")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(WARNING) == 1 and "without OpenMP" in proc.stderr
    built = _built(tmp_path)
    assert built, proc.stderr
    check = textwrap.dedent("""\
        import importlib.util, sys
        import numpy as np
        spec = importlib.util.spec_from_file_location("roformer_np._native.kernels", sys.argv[1])
        k = importlib.util.module_from_spec(spec); spec.loader.exec_module(k)
        from roformer_np import ops
        assert not k.OPENMP
        x = np.random.default_rng(0).standard_normal((3, 5, 16)).astype(np.float32)
        w = np.random.default_rng(1).standard_normal((40, 16)).astype(np.float32)
        np.testing.assert_allclose(k.linear(x, w), ops.linear(x, w), rtol=1e-5, atol=1e-5)
        print("ok")
        """)
    run = subprocess.run(
        [sys.executable, "-c", check, str(built[0])], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr
