"""``roformer-np serve --workers N``: N server processes accepting from one listening socket.

One process answers about one core's worth of HTTP handling: its event loop and tokenizer take turns on one
interpreter lock (its forward passes run in a forward process of its own where there are 2 or more CPUs,
:mod:`.forward_process`). With ``--workers N`` the parent starts N worker
processes, each with its own model, batcher and event loop, and the kernel hands each new connection to one of
them. The parent:

* loads the model once itself first, so that a bad ``--model`` fails before anything listens, and so that the
  packed weights are written to the panel cache: every worker then maps one shared copy of them (README,
  "Memory"); its own copy is released before the workers start;
* binds the socket, starts the workers (``roformer_np.serve.workers FD`` run from this copy of the package, see
  spawn.py; the socket inherited, the settings as one JSON line on stdin) and prints the listening line once
  every worker has started;
* on SIGTERM or Ctrl-C sends every worker SIGTERM, once: each stops accepting, answers the requests it has
  received, reports how many, and exits; the parent then prints the total;
* starts a new worker in place of one that dies while serving (a worker that fails to start stops the server).

A worker whose parent has gone (its stdin closes) stops the same way. ``/metrics``, ``/info`` and the limits
(``--max-concurrent-requests``, the batch bounds) are per worker: a request sees the worker that accepted its
connection, and batches form within a worker.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from .settings import ServeSettings
from .spawn import module_command

STARTED = "roformer-np-worker: started"
ANSWERED = "roformer-np-worker: answered "
START_TIMEOUT = 600.0  # seconds for a worker to load its model and start


class Worker:
    """One ``roformer_np.serve.workers`` process and the lines it reports."""

    def __init__(self, fd: int, payload: str) -> None:
        # a session of its own: Ctrl-C reaches the parent only, which stops every worker once (a second signal
        # would make uvicorn drop the requests in flight)
        # this copy of the package, not whatever `-m` would find first (spawn.py: a source tree in the cwd)
        self.proc = subprocess.Popen(module_command("roformer_np.serve.workers", str(fd)), pass_fds=[fd],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
                                     start_new_session=True)
        self.started = threading.Event()
        self.answered = 0
        self.proc.stdin.write(payload + "\n")
        self.proc.stdin.flush()  # stdin stays open: its end tells the worker that the parent has gone
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line == STARTED:
                self.started.set()
            elif line.startswith(ANSWERED):
                self.answered = int(line[len(ANSWERED):])
            else:  # anything a worker prints goes on to the parent's stdout
                print(line, flush=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float | None) -> int | None:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()


def payload(settings: ServeSettings, args: Any) -> str:
    """What a worker needs, as one JSON line: the settings and the uvicorn options."""
    return json.dumps({"settings": dataclasses.asdict(settings), "log_level": args.log_level,
                       "access_log": bool(args.access_log), "graceful_timeout": float(args.graceful_timeout)})


def supervise(sock: socket.socket, settings: ServeSettings, args: Any, announce: str) -> tuple[int, int | None]:
    """Run ``args.workers`` workers on ``sock`` until SIGTERM / SIGINT; (requests answered, the signal)."""
    stopping: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, f: stopping.append(s)) for sig in (signal.SIGTERM, signal.SIGINT)}
    line = payload(settings, args)
    fd = sock.fileno()
    workers: list[Worker] = []
    answered = 0
    try:
        workers = [Worker(fd, line) for _ in range(args.workers)]
        deadline = time.monotonic() + START_TIMEOUT
        while not all(w.started.is_set() for w in workers):
            failed = [w for w in workers if not w.alive()]
            if failed or time.monotonic() > deadline:
                raise RuntimeError("a worker failed to start (its error is above)" if failed else
                                   f"the workers did not start within {START_TIMEOUT:.0f} s")
            if stopping:
                break
            time.sleep(0.05)
        if not stopping:
            print(announce, flush=True)
        while not stopping:
            for i, worker in enumerate(workers):
                if not worker.alive() and not stopping:  # died while serving: replaced, the server goes on
                    answered += worker.answered
                    print(f"roformer-np serve: worker {worker.proc.pid} exited with status "
                          f"{worker.proc.returncode}; starting another", file=sys.stderr, flush=True)
                    workers[i] = Worker(fd, line)
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:  # each answers what it has received, within its graceful timeout
            if worker.wait(float(args.graceful_timeout) + 30.0) is None:
                worker.kill()
            answered += worker.answered
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return answered, (stopping[0] if stopping else None)


def _watch_parent(server: Any) -> None:
    """Stop the worker when its stdin closes: the parent has exited (or been killed)."""
    try:
        while sys.stdin.readline():
            pass
    except (OSError, ValueError):
        pass
    server.should_exit = True


def _report_start(server: Any) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.02)
    if server.started:
        print(STARTED, flush=True)


def worker_main(argv: list[str]) -> int:
    """A worker: read the settings, load the model, serve on the inherited socket until told to stop."""
    from .cli import _imports, answered_requests

    fd = int(argv[0])
    options = json.loads(sys.stdin.readline())
    settings = ServeSettings(**options["settings"])
    uvicorn, create_app = _imports()
    app = create_app(settings)
    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(app, lifespan="on", log_level=options["log_level"], access_log=options["access_log"],
                            timeout_graceful_shutdown=options["graceful_timeout"], server_header=False)
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal it stopped on to the handler it found: this one, so the worker exits with 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: None)
    threading.Thread(target=_watch_parent, args=(server,), daemon=True).start()
    threading.Thread(target=_report_start, args=(server,), daemon=True).start()
    server.run(sockets=[sock])
    print(f"{ANSWERED}{answered_requests(app.state.server)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
