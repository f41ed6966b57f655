"""Build script: the Cython/OpenMP kernels in ext/ are optional accelerations.

The build tries, in order: with OpenMP, without OpenMP, and finally no extension at all (pure NumPy),
printing one clear warning when it has to fall back. ``ROFORMER_NP_PUREPYTHON=1`` skips compilation.
"""

from __future__ import annotations

import glob
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

PURE = os.environ.get("ROFORMER_NP_PUREPYTHON", "").strip() not in ("", "0")
OPENMP_FLAGS = {"unix": (["-fopenmp"], ["-fopenmp"]), "msvc": (["/openmp"], [])}


def _warn(msg: str) -> None:
    sys.stderr.write(f"\n*** roformer_np: {msg}\n\n")


class OptionalBuildExt(build_ext):
    """Compile with OpenMP, retry without it, and give up gracefully (pure NumPy) as a last resort."""

    def build_extensions(self) -> None:
        ctype = self.compiler.compiler_type
        cflags, lflags = OPENMP_FLAGS.get(ctype, ([], []))
        for ext in self.extensions:
            base_c, base_l = list(ext.extra_compile_args), list(ext.extra_link_args)
            base_m = [m for m in ext.define_macros if m[0] != "ROFORMER_NP_OPENMP"]
            ext.extra_compile_args, ext.extra_link_args = base_c + cflags, base_l + lflags
            ext.define_macros = base_m + [("ROFORMER_NP_OPENMP", "1")]
            try:
                build_ext.build_extension(self, ext)
                continue
            except Exception as exc:  # noqa: BLE001 - any compiler failure means "retry without OpenMP"
                openmp_error = exc
            ext.extra_compile_args, ext.extra_link_args = base_c, base_l
            ext.define_macros = base_m + [("ROFORMER_NP_OPENMP", "0")]
            try:
                build_ext.build_extension(self, ext)
                _warn(f"built {ext.name} without OpenMP (the compiler refused it: {openmp_error}); "
                      "the kernels run on one thread plus BLAS's own threads.")
            except Exception as exc:  # noqa: BLE001
                # one warning for both failed attempts
                _warn(
                    f"could not compile {ext.name} ({exc}); installing the pure-NumPy package. "
                    "Everything works, on the slower reference path."
                )

    def run(self) -> None:
        try:
            build_ext.run(self)
        except Exception as exc:  # noqa: BLE001 - e.g. no compiler at all
            _warn(f"no C compiler usable ({exc}); installing the pure-NumPy package.")


def _extensions() -> list:
    sources = sorted(glob.glob(os.path.join("ext", "*.pyx")))
    if PURE:
        _warn("ROFORMER_NP_PUREPYTHON is set: skipping the native kernels (pure-NumPy install).")
        return []
    if not sources:
        return []
    try:
        import numpy
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError as exc:
        _warn(f"Cython/NumPy unavailable at build time ({exc}); installing the pure-NumPy package.")
        return []
    exts = [
        Extension(
            f"roformer_np._native.{os.path.splitext(os.path.basename(src))[0]}",
            [src],
            include_dirs=[numpy.get_include(), "ext"],
            extra_compile_args=["-O3"] if os.name != "nt" else ["/O2"],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )
        for src in sources
    ]
    try:
        return cythonize(
            exts,
            compiler_directives={
                "language_level": "3",
                "boundscheck": False,
                "wraparound": False,
                "cdivision": True,
                "initializedcheck": False,
            },
            quiet=True,
        )
    except Exception as exc:  # noqa: BLE001
        _warn(f"Cython could not translate the kernels ({exc}); installing the pure-NumPy package.")
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
