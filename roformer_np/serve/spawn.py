"""The command that runs a module of this package in a new interpreter, importing this same copy of it.

``python -m roformer_np...`` would import whatever ``roformer_np`` comes first on the new interpreter's path,
and ``-m`` puts the working directory first: run from a source tree (an unpacked sdist, a clone without the
compiled kernels) beside an installed package, the child would import the sources while the parent runs the
installed copy. The command puts the directory holding the parent's ``roformer_np`` first instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])  # the directory that holds this roformer_np


def module_command(module: str, *args: str, prelude: str = "") -> list[str]:
    """``[python, -c, ...]`` that runs ``module`` as ``python -m module args`` would (its ``__main__`` block, with
    ``args`` as ``sys.argv[1:]``) but imports this copy of the package; ``prelude``: Python run first (tests)."""
    code = (f"import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); {prelude}"
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", code, ROOT, *args]
