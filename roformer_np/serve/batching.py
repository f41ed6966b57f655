"""The dynamic batcher: requests' rows wait in one queue; a worker thread takes a group of waiting rows
that may share a forward pass, runs them, and answers each request when its last row is done.

Rows may share a pass when their requests have the same options (the same key). With the ``exact`` length
grouping, the default, the worker takes the waiting rows of the oldest row's key in arrival order (first
come, first served: none waits behind later ones), and the pass runs them one group per length, nothing
padded (the token-wise steps of all the groups shared, the attention per group), so each result is the
request's own ``pipeline()`` result; its tokens are the rows' own. With ``padded``, the oldest row goes first
and rows of other lengths join it, nearest lengths first, padded to the longest (tokens: rows × the longest
row). A pass holds at most ``max_batch_requests`` rows and ``max_batch_tokens`` tokens; its first row always
goes, so a long row runs alone.

A pass that raises is retried row by row, so one bad request fails alone (its answer: the exception) and the
others get their results; the worker itself never stops on an error. The queue is bounded by the routes
(``max_concurrent_requests`` requests of at most ``max_client_batch_size`` inputs each), so it cannot grow
without limit. :meth:`Batcher.stop` lets the worker finish every queued row first.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable

from .metrics import Metrics
from .runner import PipelineRunner, Prepared
from .schemas import RequestError

logger = logging.getLogger("roformer_np.serve")
Callback = Callable[[Any, "BaseException | None"], None]


class ModelError(Exception):
    """The model (or the pipeline's postprocessing) raised while computing an accepted request."""

    def __init__(self, cause: BaseException) -> None:
        text = " ".join(str(cause).split())
        kind = getattr(cause, "type_name", None) or type(cause).__name__  # a forward process's: its exception's
        super().__init__(f"{kind}: {text}" if text else kind)
        self.cause = cause


class _Job:
    __slots__ = ("prepared", "flat", "callback", "outputs", "remaining", "enqueued", "started", "failed")

    def __init__(self, prepared: Prepared, callback: Callback) -> None:
        self.prepared = prepared
        self.flat = prepared.flat
        self.callback = callback
        self.outputs: list[Any] = [None] * len(self.flat)
        self.remaining = len(self.flat)
        self.enqueued = time.perf_counter()
        self.started: float | None = None
        self.failed = False


class _Row:
    __slots__ = ("job", "index", "length", "key")

    def __init__(self, job: _Job, index: int) -> None:
        self.job = job
        self.index = index
        self.length = len(job.flat[index].ids)
        self.key = job.prepared.key


class Batcher:
    """Worker threads (one unless told) running ``runner``'s forward passes over coalesced rows."""

    def __init__(self, runner: PipelineRunner, max_batch_tokens: int, max_batch_requests: int,
                 length_grouping: str = "exact", metrics: Metrics | None = None, workers: int = 1) -> None:
        self.runner = runner
        self.max_batch_tokens = int(max_batch_tokens)
        self.max_batch_requests = int(max_batch_requests)
        self.exact = length_grouping == "exact"
        self.metrics = metrics or Metrics()
        self._pending: list[_Row] = []
        self._passes = 0  # passes being computed
        self._cond = threading.Condition()
        self._stopping = False
        # more than one worker only where the passes run elsewhere (a forward process): one pass computes while the
        # next is formed and sent, so the model never waits for the batcher
        self._threads = [threading.Thread(target=self._work, name=f"roformer-np-batcher-{i}", daemon=True)
                         for i in range(max(1, int(workers)))]

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """No new rows; the worker finishes the queued ones, then ends. True if it ended within ``timeout``."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    @property
    def healthy(self) -> bool:
        return all(thread.is_alive() for thread in self._threads) and not self._stopping

    @property
    def queued_rows(self) -> int:
        with self._cond:
            return len(self._pending)

    # -- submitting -------------------------------------------------------------------------------
    def submit(self, prepared: Prepared, callback: Callback) -> None:
        """Queue ``prepared``'s rows; ``callback(result, None)`` or ``callback(None, error)`` is called once, on
        the worker's thread."""
        job = _Job(prepared, callback)
        if not job.flat:  # nothing for the model to do
            self._finish(job)
            return
        rows = [_Row(job, i) for i in range(len(job.flat))]
        with self._cond:
            if self._stopping:
                raise RequestError(503, "the server is shutting down", "unhealthy")
            self._pending.extend(rows)
            self.metrics.queue_size.set(len(self._pending))
            self._cond.notify()

    async def run(self, prepared: Prepared) -> Any:
        """``prepared``'s result, awaited on the event loop (the exception if it failed)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)

        def done(result: Any, error: BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(settle, result, error)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                pass

        self.submit(prepared, done)
        return await future

    # -- the worker -------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending:
                    return  # stopping, and nothing left
                rows = self._take()
                self.metrics.queue_size.set(len(self._pending))
                # alone (nothing waiting, no other pass): in this process, saving the round trip to a forward
                # process; under load the passes go there, off the event loop's interpreter lock
                here = not self._pending and self._passes == 0
                self._passes += 1
            try:
                self._run(rows, here)
            finally:
                with self._cond:
                    self._passes -= 1

    def _take(self) -> list[_Row]:
        """The rows of the next pass (called with the lock held)."""
        if self.exact:  # the oldest row's key in arrival order, each row's own tokens (nothing padded)
            first = self._pending[0]
            taken, tokens = [first], first.length
            for row in self._pending[1:]:
                if row.key != first.key:
                    continue
                if len(taken) >= self.max_batch_requests or tokens + row.length > self.max_batch_tokens:
                    break
                taken.append(row)
                tokens += row.length
        else:  # the oldest row, then the nearest lengths; equal distances in arrival order
            first = self._pending[0]
            taken, longest = [first], first.length
            for row in sorted((r for r in self._pending[1:] if r.key == first.key),
                              key=lambda r: abs(r.length - first.length)):
                if len(taken) >= self.max_batch_requests:
                    break
                width = max(longest, row.length)
                if (len(taken) + 1) * width <= self.max_batch_tokens:
                    taken.append(row)
                    longest = width
        chosen = {id(r) for r in taken}
        self._pending = [r for r in self._pending if id(r) not in chosen]
        return taken

    def _run(self, rows: list[_Row], here: bool = False) -> None:
        rows = [r for r in rows if not r.job.failed]
        if not rows:
            return
        now = time.perf_counter()
        for row in rows:
            if row.job.started is None:
                row.job.started = now
                self.metrics.queue_duration.observe(now - row.job.enqueued)
        features = [row.job.flat[row.index] for row in rows]
        try:
            outputs = self.runner.forward(features, rows[0].job.prepared.opts, here)
        except Exception as exc:  # a model error: never the worker's end
            self.metrics.batch_failures.inc()
            if len(rows) == 1:
                self._fail(rows[0].job, ModelError(exc))
            else:  # find the culprit: each row alone
                for row in rows:
                    self._run([row])
            return
        self.metrics.batch_size.observe(len(rows))
        self.metrics.batch_tokens.observe(self._pass_tokens(rows))
        self.metrics.batch_duration.observe(time.perf_counter() - now)
        done = []
        with self._cond:  # a request's rows may be in passes of two workers at once
            for row, output in zip(rows, outputs):
                job = row.job
                if job.failed:
                    continue
                job.outputs[row.index] = output
                job.remaining -= 1
                if job.remaining == 0:
                    done.append(job)
        for job in done:
            self._finish(job)

    def _pass_tokens(self, rows: list[_Row]) -> int:
        """The tokens a pass over ``rows`` computes: their own (exact), or rows × the longest (padded)."""
        return sum(r.length for r in rows) if self.exact else len(rows) * max(r.length for r in rows)

    def _finish(self, job: _Job) -> None:
        try:
            result = self.runner.finish(job.prepared, job.outputs)
        except Exception as exc:
            self._fail(job, ModelError(exc))
            return
        if job.started is not None:
            self.metrics.inference_duration.observe(time.perf_counter() - job.started)
        _deliver(job, result, None)

    def _fail(self, job: _Job, error: BaseException) -> None:
        with self._cond:  # its other rows need no pass any more
            if job.failed:  # its rows in another worker's pass failed too: answered once
                return
            job.failed = True
            self._pending = [r for r in self._pending if r.job is not job]
            self.metrics.queue_size.set(len(self._pending))
        _deliver(job, None, error)


def _deliver(job: _Job, result: Any, error: BaseException | None) -> None:
    try:
        job.callback(result, error)
    except Exception:  # a callback's own failure must not stop the worker
        logger.exception("roformer-np serve: a result could not be delivered")
