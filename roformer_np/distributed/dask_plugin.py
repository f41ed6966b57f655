"""Dask: the pipeline loaded once per worker by a worker plugin, applied to a DataFrame with ``map_partitions``.

>>> plugin = PipelineWorkerPlugin("text-classification")           # doctest: +SKIP
>>> client.register_plugin(plugin)                                 # every worker loads the model once
>>> scored = predict_dataframe(ddf, plugin)                        # label / score columns added, lazily
"""

from __future__ import annotations

from typing import Any

from ._extras import require
from .batches import add_columns
from .columns import input_columns, plan_columns

distributed = require("distributed")

DEFAULT_NAME = "roformer_np-pipeline"


class PipelineWorkerPlugin(distributed.WorkerPlugin):
    """Builds a :class:`PipelinePredictor` (same arguments) on each worker when registered with
    ``client.register_plugin`` (and on workers that join later); :func:`predict_partition` uses it.

    ``name`` tells several plugins apart (one per model); registering a plugin of the same name again
    replaces it. Only the arguments travel to the workers, never a loaded model.
    """

    def __init__(self, task: str, model: Any = None, *, name: str = DEFAULT_NAME, **predictor_kwargs: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        if model is not None and not isinstance(model, (str, bytes)) and not hasattr(model, "__fspath__"):
            raise ValueError("model must be a checkpoint directory or Hub id (str or path) here: each worker "
                             f"loads it itself; got {type(model).__name__}")
        self.name = name
        self.task = task
        self.model = None if model is None else str(model)
        self.kwargs = predictor_kwargs
        # checked here, in the client, so a typo fails at once rather than on every worker
        input_columns(task, predictor_kwargs.get("text_column"), predictor_kwargs.get("text_pair_column"))
        self.plan = plan_columns(task, _pipeline_options(predictor_kwargs), predictor_kwargs.get("output_column"))
        self.predictor = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["predictor"] = None  # a worker builds its own
        return state

    def setup(self, worker: Any) -> None:
        from .predictor import PipelinePredictor

        self.predictor = PipelinePredictor(self.task, self.model, **self.kwargs)

    def teardown(self, worker: Any) -> None:
        self.predictor = None

    def meta(self, partition_meta: Any) -> Any:
        """The empty result frame of a partition like ``partition_meta`` (what ``map_partitions`` needs)."""
        return add_columns(partition_meta, "pandas", self.plan.columns, {c: [] for c in self.plan.names})


def _pipeline_options(kwargs: dict) -> dict:
    own = {"text_column", "text_pair_column", "output_column", "batch_size"}
    return {k: v for k, v in kwargs.items() if k not in own}


def predict_partition(partition: Any, name: str = DEFAULT_NAME) -> Any:
    """One partition (pandas DataFrame) with the result columns added, by the worker's loaded pipeline."""
    worker = distributed.get_worker()
    plugin = worker.plugins.get(name)
    if plugin is None or getattr(plugin, "predictor", None) is None:
        raise RuntimeError(f"worker {worker.address} has no roformer_np pipeline named {name!r}: "
                           "client.register_plugin(PipelineWorkerPlugin(...)) first")
    return plugin.predictor(partition)


def predict_dataframe(ddf: Any, plugin: PipelineWorkerPlugin) -> Any:
    """``ddf.map_partitions(predict_partition, ...)`` with the result columns declared (lazy, as map_partitions)."""
    require("dask.dataframe")
    return ddf.map_partitions(predict_partition, plugin.name, meta=plugin.meta(ddf._meta))
