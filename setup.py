"""Build script: the Cython/OpenMP kernels in ext/ become ``roformer_np._native.kernels``.

The kernels compile with OpenMP, or without it (with a warning) when the compiler refuses OpenMP. When they
cannot be built at all, the build fails with the reason and the two ways forward: install a C compiler, or
ask for the NumPy-only package with ``ROFORMER_NP_PUREPYTHON=1``. A silent fallback would hide the problem,
because pip shows a successful build's output only with ``-v``: the user would get the slow reference path
without being told why. A source tree without ext/*.pyx (an incomplete sdist) is an error for the same reason.
"""

from __future__ import annotations

import glob
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

PURE = os.environ.get("ROFORMER_NP_PUREPYTHON", "").strip() not in ("", "0")
OPENMP_FLAGS = {"unix": (["-fopenmp"], ["-fopenmp"]), "msvc": (["/openmp"], [])}
CYTHON_DIRECTIVES = {
    "language_level": "3",
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}
HOW_TO_FIX = """\
    roformer_np's compiled kernels need a C compiler: on Debian/Ubuntu `apt install build-essential`,
    on Fedora `dnf install gcc`, on macOS `xcode-select --install`, on Windows the Microsoft C++ Build Tools.
    To install the NumPy-only package instead (same results, slower), ask for it explicitly:
        ROFORMER_NP_PUREPYTHON=1 pip install roformer_np      (or a path / sdist instead of the name;
        on Windows: set ROFORMER_NP_PUREPYTHON=1, then pip install ...)"""


def _note(msg: str) -> None:
    sys.stderr.write(f"\n*** roformer_np: {msg}\n\n")


def _short(exc: Exception) -> str:
    """An exception as one short line: the compiler's own output, printed above, has the details."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _compile_in_parallel(compiler) -> None:
    """Compile an extension's C files side by side (setuptools compiles them one after another): the Cython
    output alone takes most of a minute, the hand-written kernels in csrc/ build beside it on the other cores.
    Objects come back in source order, so the link line is the same as a serial build's."""
    serial = compiler.compile
    jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    def compile(sources, *args, **kwargs):
        if jobs < 2 or len(sources) < 2:
            return serial(sources, *args, **kwargs)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(jobs, len(sources))) as pool:
            parts = list(pool.map(lambda src: serial([src], *args, **kwargs), sources))
        return [obj for objs in parts for obj in objs]

    compiler.compile = compile


def _fail(reason: str) -> None:
    """Stop the build; pip prints the build's output when it fails, so the user sees this."""
    _note(f"cannot build the compiled kernels: {reason}\n{HOW_TO_FIX}")
    raise SystemExit(1)


def _probe(compiler) -> None:
    """One line of C through the compiler before Cython's translation (most of a minute): a missing or broken
    compiler then fails at once, not after the wait."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "roformer_np_probe.c")
        with open(src, "w", encoding="ascii") as f:
            f.write("int roformer_np_probe(void) { return 0; }\n")
        try:
            compiler.compile([src], output_dir=tmp)
        except Exception as exc:  # noqa: BLE001 - CompileError, or the OS's when the program is missing
            _fail(f"the C compiler does not work ({_short(exc)}); is a C compiler installed?")


class KernelBuildExt(build_ext):
    """Translate the .pyx files here (not when setup.py merely writes metadata or an sdist), then compile
    with OpenMP, else without it."""

    def run(self) -> None:
        try:
            build_ext.run(self)
        except SystemExit:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. no compiler at all: the reason goes into the message
            _fail(f"the build failed outside the compiler runs ({_short(exc)}); is a C compiler installed?")

    def build_extensions(self) -> None:
        from Cython.Build import cythonize

        _probe(self.compiler)
        try:
            translated = cythonize(self.extensions, compiler_directives=CYTHON_DIRECTIVES, quiet=True)
        except Exception as exc:  # noqa: BLE001
            _fail(f"Cython could not translate the kernels ({_short(exc)})")
        for ext, c_ext in zip(self.extensions, translated):
            ext.sources = c_ext.sources  # setuptools' own Extension objects carry its build state: keep them
        cflags, lflags = OPENMP_FLAGS.get(self.compiler.compiler_type, ([], []))
        if self.compiler.compiler_type == "unix":  # (MSVC initialises itself on first use: not thread-safe)
            _compile_in_parallel(self.compiler)
        for ext in self.extensions:
            base_c, base_l = list(ext.extra_compile_args), list(ext.extra_link_args)
            base_m = [m for m in ext.define_macros if m[0] != "ROFORMER_NP_OPENMP"]
            ext.extra_compile_args, ext.extra_link_args = base_c + cflags, base_l + lflags
            ext.define_macros = base_m + [("ROFORMER_NP_OPENMP", "1")]
            try:
                build_ext.build_extension(self, ext)
                continue
            except Exception as exc:  # noqa: BLE001 - any compiler failure means "retry without OpenMP"
                openmp_error = _short(exc)
            ext.extra_compile_args, ext.extra_link_args = base_c, base_l
            ext.define_macros = base_m + [("ROFORMER_NP_OPENMP", "0")]
            try:
                build_ext.build_extension(self, ext)
            except Exception as exc:  # noqa: BLE001
                _fail(f"the compiler failed on {ext.name} with OpenMP ({openmp_error}) and without it ({_short(exc)})")
            # a working extension on one thread: worth a note, not a failure
            _note(f"built {ext.name} without OpenMP (the compiler refused it: {openmp_error}); "
                  "the kernels run on one thread plus BLAS's own threads.")


def _extensions() -> list:
    if PURE:
        _note("ROFORMER_NP_PUREPYTHON is set: skipping the native kernels (NumPy-only install).")
        return []
    sources = sorted(glob.glob(os.path.join("ext", "*.pyx")))
    if not sources:
        _fail(f"no ext/*.pyx in {os.getcwd()}: this source tree is incomplete")
    try:
        import Cython.Build  # noqa: F401 - needed by build_ext; checked here for a clear message
        import numpy
        from setuptools import Extension
    except ImportError as exc:
        _fail(f"Cython and NumPy are needed at build time ({exc}); pip's default build isolation installs them")
    # our GEMM micro-kernels and their driver: plain C, compiled into every extension module
    c_sources = sorted(glob.glob(os.path.join("csrc", "*.c")))
    return [
        Extension(
            f"roformer_np._native.{os.path.splitext(os.path.basename(src))[0]}",
            [src, *c_sources],
            include_dirs=[numpy.get_include(), "."],
            # -fno-trapping-math: we never unmask floating-point exceptions, so GCC may if-convert the clamps
            # and selects of exp / erf / tanh (rnp_vmath.h) and vectorise them on AVX2, which has no masked
            # stores to fall back on; the values computed are unchanged (no -ffast-math: no reassociation)
            extra_compile_args=["-O3", "-fno-trapping-math"] if os.name != "nt" else ["/O2"],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )
        for src in sources
    ]


setup(ext_modules=_extensions(), cmdclass={"build_ext": KernelBuildExt})
