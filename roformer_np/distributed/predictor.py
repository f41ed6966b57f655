"""``PipelinePredictor``: a pipeline over batches of a dataset, loaded once per process (a Ray actor, a Dask worker)."""

from __future__ import annotations

import os
import threading
from typing import Any

from ..pipelines.factory import resolve_task
from .batches import add_columns, batch_format, check_free, read_column
from .columns import build_inputs, input_columns, plan_columns


class PipelinePredictor:
    """Runs ``pipeline(task, model, **pipeline_options)`` on a text column of each batch it is called with.

    For Ray Data::

        ds.map_batches(PipelinePredictor, fn_constructor_kwargs={"task": "text-classification"},
                       concurrency=2, batch_size=64, batch_format="pandas")

    Ray builds one instance per actor, so the model is loaded once per actor: memory-mapped from its
    safetensors file, its packed weights mapped from the panel cache (see ``panel_cache``), so the actors of one
    node share both. A batch is a pandas
    DataFrame, a dict of NumPy arrays (Ray's ``"numpy"`` format) or a pyarrow Table; the result is the same
    type with the input columns unchanged and the result columns added, rows in the same order. Results are
    exactly those of the single-process pipeline on the same texts.

    Args:
        task: a pipeline task (or alias) of :func:`roformer_np.pipeline`.
        model: as for :func:`roformer_np.pipeline` (None: the demo model of the task).
        text_column: the column of input texts (default ``"text"``; ``"question"`` for question-answering).
        text_pair_column: the second input of a row: a pair text for text-classification, the context for
            question-answering (default ``"context"``), the sentence or list of sentences compared with the
            text for sentence-similarity (default ``"sentences"``).
        output_column: None for the task's result columns (below), or a name: one column holding each row's
            pipeline result exactly as the pipeline returns it (any task, any options).
        batch_size: model rows per forward pass inside a batch (the pipeline's ``batch_size``; results do not
            depend on it).
        panel_cache: where the processes of one machine share the packed weights of the compiled kernels
            (:mod:`roformer_np.panel_cache`: each weight written once as a file, mapped read-only by every actor,
            results unchanged): ``"auto"`` (``$ROFORMER_NP_PANEL_CACHE``, else ``~/.cache/roformer_np/panels``),
            a directory, or None for private copies.
        pipeline_options: everything else :func:`roformer_np.pipeline` takes: the task's options (``top_k``,
            ``aggregation_strategy``, ``pooling`` …) and ``backend``, ``num_threads``, ``dtype``, ….

    Result columns (``output_column=None``):

    * text-classification: ``label`` (str), ``score`` (float); with ``top_k`` given (or
      ``return_all_scores=True``): ``labels``, ``scores`` (lists, best first)
    * token-classification: ``entities`` (the pipeline's list of entity dicts per row)
    * fill-mask: ``predictions`` (the pipeline's list of candidate dicts; a list of lists for several masks)
    * question-answering: ``answer`` (str), ``score``, ``start``, ``end``; with ``top_k`` > 1: ``answers``
    * feature-extraction: ``embedding``: a float32 array per row, [hidden] with ``pooling``, else
      [tokens, hidden] (the pipeline's ``return_tensors=True`` result without its leading axis of 1)
    * text-generation: ``generated_text`` (str); ``generated_texts`` (list) when ``num_return_sequences`` > 1;
      ``generated_token_ids`` with ``return_tensors=True``
    * sentence-similarity: ``scores`` (one cosine per sentence of the pair column)

    A missing text (None, NaN) raises ValueError naming the column and row, as does an output column that the
    batch already has. One call at a time runs the pipeline (a lock), so an instance shared by threads is safe.
    """

    def __init__(
        self,
        task: str,
        model: Any = None,
        text_column: str | None = None,
        text_pair_column: str | None = None,
        output_column: str | None = None,
        batch_size: int = 8,
        panel_cache: str | os.PathLike | None = "auto",
        **pipeline_options: Any,
    ) -> None:
        from .. import panel_cache as panels
        from ..pipelines import pipeline

        self.task = resolve_task(task)
        self.text_column, self.text_pair_column = input_columns(self.task, text_column, text_pair_column)
        self.plan = plan_columns(self.task, pipeline_options, output_column)
        options = dict(pipeline_options)
        if self.task == "feature-extraction" and output_column is None:
            options["return_tensors"] = True  # embedding columns hold arrays, not nested lists
        self.panel_cache = panels.default_directory() if panel_cache == "auto" else panel_cache
        with panels.sharing(self.panel_cache):  # the packed weights: one copy per machine, not per actor
            self.pipeline = pipeline(self.task, model=model, batch_size=batch_size, **options)
        self.pid = os.getpid()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"PipelinePredictor(task={self.task!r}, text_column={self.text_column!r}, "
                f"text_pair_column={self.text_pair_column!r}, columns={self.plan.names})")

    @property
    def output_columns(self) -> list[str]:
        return self.plan.names

    def predict(self, inputs: list[Any]) -> list[Any]:
        """The pipeline's result for each input, in order (a list of one stays a list of one)."""
        if not inputs:
            return []
        with self._lock:
            return list(self.pipeline(iter(inputs)))  # the iterable form: no unwrapping of a single result

    def __call__(self, batch: Any) -> Any:
        fmt = batch_format(batch)
        texts = read_column(batch, fmt, self.text_column)
        pairs = read_column(batch, fmt, self.text_pair_column) if self.text_pair_column is not None else None
        check_free(batch, fmt, self.plan.names)  # before the model runs, not after
        inputs = build_inputs(self.task, self.text_column, texts, self.text_pair_column, pairs)
        results = self.predict(inputs)
        return add_columns(batch, fmt, self.plan.columns, self.plan.values(results))
