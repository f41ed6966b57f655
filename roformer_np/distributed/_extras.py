"""Optional dependencies of :mod:`roformer_np.distributed`, imported only when used."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

# module -> the extra of roformer_np that installs it
EXTRAS = {"ray": "ray", "pyarrow": "ray", "dask": "dask", "distributed": "dask", "pandas": "ray,dask"}


def require(module: str) -> ModuleType:
    """``import module``, or an ImportError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(module.split(".")[0], "ray,dask")
        raise ImportError(f"roformer_np.distributed needs {module.split('.')[0]} here: pip install "
                          f"\"roformer_np[{extra}]\" (from a source tree: pip install \".[{extra}]\")") from exc


def loaded(module: str) -> ModuleType | None:
    """The module if something already imported it (a batch of its type can only exist then), else None."""
    return sys.modules.get(module)
