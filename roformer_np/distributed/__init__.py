"""Batch inference over datasets with Ray Data or Dask (optional extras: ``pip install "roformer_np[ray]"`` /
``"roformer_np[dask]"``).

* :class:`PipelinePredictor` -- a callable class for ``ray.data.Dataset.map_batches``: the model is loaded
  once per actor, each batch (pandas, NumPy or Arrow) comes back with the task's result columns.
* :class:`PipelineWorkerPlugin`, :func:`predict_partition`, :func:`predict_dataframe` -- the same on Dask:
  a worker plugin loads the model once per worker, ``map_partitions`` runs it.
* :func:`init_loopback_ray`, :func:`loopback_dask_cluster` -- one-machine clusters listening on 127.0.0.1.
* :mod:`.procinfo` -- RSS / PSS per process and per mapped weight file, sockets of a process tree.

Importing this package imports none of ray, dask or pandas; each is imported when first needed, and a
missing one raises ImportError naming the extra to install.
"""

from __future__ import annotations

from typing import Any

from .columns import plan_columns
from .local import init_loopback_ray, loopback_dask_cluster
from .predictor import PipelinePredictor

_DASK = ("PipelineWorkerPlugin", "predict_partition", "predict_dataframe")

__all__ = ["PipelinePredictor", "init_loopback_ray", "loopback_dask_cluster", "plan_columns", *_DASK]


def __getattr__(name: str) -> Any:
    if name in _DASK:  # defined on distributed.WorkerPlugin: imports dask's distributed
        from . import dask_plugin

        return getattr(dask_plugin, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
