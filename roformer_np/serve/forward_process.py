"""The forward process: the model's forward passes in a process of their own, beside the HTTP event loop.

One server process is bound by its interpreter lock: the event loop (HTTP, JSON, tokenization) and the batcher's
forward passes (the Python between the kernels) take turns on it, so the process uses about one core however
many it has (bench/bench_serve.py prints the server's CPU and the machine's busy cores). With a forward process
the server's batcher sends each pass's rows here and waits for their outputs while the event loop goes on: the
two run on two cores. Everything else stays in the server (options, checks, tokenization, batching, the
pipeline's postprocessing), so an answer is what the request's own ``pipeline()`` call gives.

The server starts ``roformer_np.serve.forward_process`` (this copy of it: spawn.py) with the settings as the
first message on its stdin (messages: :mod:`.wire`, no pickle); the process loads the same pipeline, answers
``{"ready": true}`` (or the load's error), then one reply per request, in order: ``{"id", "outputs"}`` or
``{"id", "error"}``. It is in a session of its own (Ctrl-C reaches the server only, which finishes its requests
first) and ends when its stdin closes. A process that dies fails the passes in flight (the batcher then retries
their rows one by one, so a row that kills it fails alone) and is started again for the next pass.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from . import wire
from .settings import ServeSettings
from .spawn import module_command


class ForwardError(Exception):
    """The forward process raised (``type_name``: the type of its exception), or died, while computing a pass."""

    def __init__(self, message: str, type_name: str = "ForwardError") -> None:
        super().__init__(message)
        self.type_name = type_name


def wanted(settings: ServeSettings, task: str) -> bool:
    """Whether ``settings`` ask for a forward process for ``task`` (ValueError if they ask for one it cannot
    have: text-generation streams its tokens from inside the forward pass)."""
    choice = settings.forward_process
    if task == "text-generation":
        if choice == "on":
            raise ValueError("forward_process 'on' is not available for text-generation (its tokens stream from "
                             "inside the forward pass); use 'auto' or 'off'")
        return False
    if choice == "auto":
        return _usable_cpus() >= 2
    return choice == "on"


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class ForwardProcess:
    """A running forward process and the passes in flight in it; ``forward`` may be called from any thread."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        # two locks, so that the reader never waits for a writer: a writer may block on a full pipe while the
        # process is blocked writing a reply the reader must take
        self._lock = threading.Lock()  # the process, starting it, its stdin and the ids
        self._pending_lock = threading.Lock()  # the pending futures
        self._pending: dict[int, Future] = {}
        self._next_id = 0
        self._closed = False
        self.starts = 0  # processes started (restarts after a death included)
        self._proc: subprocess.Popen | None = None
        with self._lock:
            self._start()

    def _start(self) -> None:
        """Start a process and wait for its model (lock held); ForwardError if it cannot load."""
        proc = subprocess.Popen(module_command("roformer_np.serve.forward_process"), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, start_new_session=True)
        try:
            wire.write(proc.stdin, {"settings": dataclasses.asdict(self.settings)})
            reply = wire.read(proc.stdout)
        except (OSError, EOFError, ValueError) as exc:
            reply = {"error": f"it ended while loading the model ({type(exc).__name__}: {exc})"}
        if not isinstance(reply, dict) or reply.get("ready") is not True:
            _end(proc)
            error = reply.get("error") if isinstance(reply, dict) else repr(reply)
            raise ForwardError(f"the forward process could not start: {error}")
        proc.reader_done = threading.Event()  # set when its replies have ended (and its passes have failed)
        self._proc = proc
        self.starts += 1
        threading.Thread(target=self._read, args=(proc,), name="roformer-np-forward-reader", daemon=True).start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def forward(self, features: list, options: dict) -> list:
        """The pipeline's outputs for ``features`` under the request options ``options`` (as the request gave
        them; the process parses them as the server did)."""
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise ForwardError("the forward process has been stopped")
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            ident = self._next_id
            self._next_id += 1
            with self._pending_lock:
                self._pending[ident] = future
            proc = self._proc
            try:
                wire.write(proc.stdin, {"id": ident, "features": features, "options": options})
            except (OSError, ValueError) as exc:
                with self._pending_lock:
                    self._pending.pop(ident, None)
                raise ForwardError(f"the pass could not be sent to the forward process: {exc}") from None
        while True:
            try:
                return future.result(timeout=1.0)
            except FutureTimeout:
                # sent just as the process was ending, after its reader had failed the passes it knew of
                if proc.reader_done.is_set():
                    with self._pending_lock:
                        self._pending.pop(ident, None)
                    if not future.done():
                        raise ForwardError("the forward process ended") from None

    def _read(self, proc: subprocess.Popen) -> None:
        """Replies to their futures, until the process's stdout ends; then every pass still in it fails."""
        error = "the forward process ended"
        try:
            while True:
                reply = wire.read(proc.stdout)
                with self._pending_lock:
                    future = self._pending.pop(reply.get("id"), None) if isinstance(reply, dict) else None
                if future is None:
                    error = f"the forward process sent an unexpected message: {str(reply)[:200]}"
                    break
                if "error" in reply:
                    future.set_exception(ForwardError(str(reply["error"]), str(reply.get("type", "ForwardError"))))
                else:
                    future.set_result(reply["outputs"])
        except (EOFError, OSError, ValueError) as exc:
            if not isinstance(exc, EOFError):
                error = f"the forward process's answer could not be read: {exc}"
        code = proc.poll()
        if code is None:  # it broke the protocol: it cannot be trusted with the next pass
            _end(proc)
            code = proc.returncode
        elif code < 0:
            try:
                error += f" (killed by {signal.Signals(-code).name})"
            except ValueError:
                error += f" (signal {-code})"
        with self._pending_lock:  # the next forward() sees the process has ended and starts another
            failed = list(self._pending.items())
            self._pending.clear()
        for _, future in failed:
            future.set_exception(ForwardError(error))
        proc.reader_done.set()

    def stop(self, timeout: float = 30.0) -> None:
        """No more passes; the process ends (its stdin closed; killed if it has not ended after ``timeout``)."""
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is not None:
            _end(proc, timeout)


def _end(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the process itself ----------------------------------------------------------------------------------------
def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever a library prints must not land between the frames
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops this process (by closing its stdin)
    try:
        first = wire.read(stdin)
        settings = ServeSettings(**first["settings"])
        from .runner import forward_pass, load_pipeline, options_key  # not .app: this process needs no HTTP stack

        pipe = load_pipeline(settings)
    except EOFError:
        return 0
    except Exception as exc:  # the server reports it and does not start
        wire.write(stdout, {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"})
        return 1
    wire.write(stdout, {"ready": True})
    parsed: dict[str, dict] = {}  # the options of recent requests, parsed (a server sees few distinct ones)
    while True:
        try:
            message = wire.read(stdin)
        except EOFError:
            return 0
        ident = message.get("id")
        try:
            features, options = message["features"], message["options"]
            key = options_key(options)
            opts = parsed.get(key)
            if opts is None:
                opts = pipe._options({**pipe._defaults, **options}) if options else dict(pipe._parsed_defaults)
                opts["_call"] = options
                if len(parsed) >= 256:
                    parsed.clear()
                parsed[key] = opts
            outputs = forward_pass(pipe, features, opts, settings.length_grouping == "exact")
            reply = {"id": ident, "outputs": outputs}
            wire.write(stdout, reply)
        except Exception as exc:  # the pass fails, the process goes on
            wire.write(stdout, {"id": ident, "error": " ".join(str(exc).split()), "type": type(exc).__name__})


if __name__ == "__main__":
    sys.exit(main())
