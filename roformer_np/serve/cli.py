"""``roformer-np serve``: the subcommand's options and the uvicorn start-up.

``add_arguments`` needs only the standard library, so ``roformer_np.cli`` can list the subcommand without
the serve extra installed; :func:`run` imports uvicorn and Starlette and says how to install them if they
are missing.

The server binds 127.0.0.1 unless ``--host`` says otherwise. It prints one line when it listens
(``roformer-np serve: ... on http://HOST:PORT``; ``--port 0`` takes a free port and prints it). On SIGTERM
or Ctrl-C it stops listening, answers every request already received (queued ones too), then exits with
status 0. ``--workers N`` runs N such server processes on the one socket (:mod:`.workers`).
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import os
import signal
import socket
import sys
from typing import Any

from ..cli import _positive_int
from .settings import DEFAULTS, FORWARD_PROCESS, LENGTH_GROUPING, ServeSettings

TASK_CHOICES = ["feature-extraction", "text-classification", "sentiment-analysis", "token-classification", "ner",
                "fill-mask", "question-answering", "text-generation", "sentence-similarity"]
ENV_API_KEY = "ROFORMER_NP_API_KEY"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (a number > 0), got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected seconds (a number > 0), got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=TASK_CHOICES, help="the pipeline to serve (one per server)")
    p.add_argument("-m", "--model", metavar="DIR_OR_HUB_ID",
                   help="checkpoint directory or Hub id (default: the demo model of the task)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0: any free port, printed)")
    p.add_argument("--backend", choices=["auto", "numpy", "native"], help="kernels (default: auto)")
    p.add_argument("--workers", type=_positive_int, default=1,
                   help="server processes on the one port, each with its own model and batcher, sharing the packed "
                        "weights (default 1; one process answers about one core's worth of requests)")
    p.add_argument("--threads", type=_positive_int,
                   help="threads of the native kernels per worker (default: the usable CPUs divided among the "
                        "workers, less one for each worker's HTTP event loop; at least 1)")
    p.add_argument("--dtype", choices=["float32", "float64", "bfloat16", "bf16"],
                   help="compute dtype, or bfloat16 (bf16) weights with float32 compute (default: float32, or the "
                        "precision a low-precision checkpoint was saved in)")
    p.add_argument("--quantize", choices=["int8"], help="int8 weights (float32 compute)")
    p.add_argument("--served-model-name", metavar="NAME", help="the model name /info and /v1/embeddings report")
    p.add_argument("--pooling", choices=["mean", "cls", "pooler"],
                   help="sentence vector of /embed and /similarity (default: mean; pooler for sentence-similarity)")
    p.add_argument("--max-concurrent-requests", type=_positive_int, default=DEFAULTS["max_concurrent_requests"],
                   help="requests in flight before new ones get 429 (default %(default)s)")
    p.add_argument("--max-batch-tokens", type=_positive_int, default=DEFAULTS["max_batch_tokens"],
                   help="tokens per forward pass, padding included (default %(default)s)")
    p.add_argument("--max-batch-requests", type=_positive_int, default=DEFAULTS["max_batch_requests"],
                   help="rows (inputs) per forward pass (default %(default)s; 1: no batching)")
    p.add_argument("--max-client-batch-size", type=_positive_int, default=DEFAULTS["max_client_batch_size"],
                   help="inputs per request (default %(default)s)")
    p.add_argument("--max-input-length", type=_positive_int,
                   help="tokens per input (default: the model's limit); longer ones get 422 unless truncated")
    p.add_argument("--payload-limit", type=_positive_int, default=DEFAULTS["payload_limit"], metavar="BYTES",
                   help="largest request body; larger ones get 413 (default %(default)s)")
    p.add_argument("--auto-truncate", action="store_true",
                   help="truncate long inputs when a request does not say (TEI's `truncate` default)")
    p.add_argument("--length-grouping", choices=LENGTH_GROUPING, default="exact",
                   help="exact (default): inputs of several lengths share a forward pass unpadded (the "
                        "attention per length), so results are those of one pipeline() call per request; "
                        "padded: rows padded to the longest of the pass (results differ in the last float bits)")
    p.add_argument("--forward-process", choices=FORWARD_PROCESS, default="auto",
                   help="run the forward passes in a process of their own, beside the HTTP event loop (auto, the "
                        "default: with 2 or more usable CPUs, for every task but text-generation)")
    p.add_argument("--api-key", help=f"require `Authorization: Bearer KEY` (default: ${ENV_API_KEY} if set)")
    p.add_argument("--graceful-timeout", type=_seconds, default=30.0, metavar="SECONDS",
                   help="on SIGTERM, how long to wait for requests in flight (default %(default)s)")
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"], default="info")
    p.add_argument("--access-log", action="store_true", help="log every request")


def default_threads(workers: int = 1) -> int:
    """Kernel threads of each of ``workers`` server processes: its share of the usable CPUs but one (its event
    loop's), at least one."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // workers - 1)


def settings_from(args: argparse.Namespace) -> ServeSettings:
    api_key = args.api_key if args.api_key is not None else os.environ.get(ENV_API_KEY) or None
    return ServeSettings(
        task=args.task, model=args.model, model_id=args.served_model_name, backend=args.backend,
        threads=args.threads if args.threads is not None else default_threads(args.workers), dtype=args.dtype,
        quantize=args.quantize, pooling=args.pooling,
        max_concurrent_requests=args.max_concurrent_requests,
        max_batch_tokens=args.max_batch_tokens, max_batch_requests=args.max_batch_requests,
        max_client_batch_size=args.max_client_batch_size, max_input_length=args.max_input_length,
        payload_limit=args.payload_limit, auto_truncate=args.auto_truncate, length_grouping=args.length_grouping,
        forward_process=getattr(args, "forward_process", "auto"),
        api_key=api_key)


class MissingExtra(RuntimeError):
    pass


class StartupError(RuntimeError):
    """The server could not start (a worker process failed to)."""


def _imports() -> Any:
    try:
        import uvicorn

        from .app import create_app
    except ImportError as exc:
        raise MissingExtra(f"`roformer-np serve` needs the serve extra ({exc.name or exc} is missing): "
                           'pip install "roformer_np[serve]"') from None
    return uvicorn, create_app


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (IPv4 or IPv6, as the address is)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def answered_requests(server_state: Any) -> int:
    """Requests a server answered, its own probes (/health, /metrics, /info) left out."""
    return int(server_state.metrics.request_success.total(exclude={"route": ("/health", "/metrics", "/info")}))


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    uvicorn, create_app = _imports()
    workers = int(getattr(args, "workers", 1))
    from ..pipelines import resolve_task
    from .forward_process import ForwardError, wanted

    try:
        forwarding = wanted(settings, resolve_task(settings.task))
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    if workers > 1 or forwarding:
        # the workers (and forward processes) share the packed weights through the panel cache, written by the
        # first load (this one)
        from .. import panel_cache

        os.environ.setdefault(panel_cache.ENV, str(panel_cache.default_directory()))
    try:  # loads the model: a bad --model fails before anything listens (each worker starts its own forward process)
        app = create_app(settings, forward_process=workers == 1)
    except ForwardError as exc:
        raise StartupError(str(exc)) from None
    server_state = app.state.server
    info = dict(server_state.info)
    if workers > 1:  # each worker loads its own; this copy is not needed any more
        del app, server_state
        gc.collect()
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if not _is_loopback(host) and settings.api_key is None:
        print(f"roformer-np serve: warning: listening on {host}, which other machines may reach, without "
              "--api-key", file=sys.stderr)
    how_many = f", {workers} workers" if workers > 1 else ""
    if workers == 1 and server_state.forward_process is not None:
        how_many = f", forward process {server_state.forward_process.pid}"
    announce = (f"roformer-np serve: {info['task']} model {info['model_id']} ({info['backend']} backend{how_many}) "
                f"on http://{shown}:{port}")
    if workers > 1:
        from .workers import supervise

        try:
            answered, stopped_on = supervise(sock, settings, args, announce)
        except RuntimeError as exc:
            raise StartupError(str(exc)) from None
        finally:
            sock.close()
    else:
        answered, stopped_on = _serve(uvicorn, app, sock, args, announce)
    how = f" on {signal.Signals(stopped_on).name}" if stopped_on else ""
    print(f"roformer-np serve: stopped{how} after answering {answered} request{'' if answered == 1 else 's'}",
          flush=True)
    return 0


def _serve(uvicorn: Any, app: Any, sock: socket.socket, args: argparse.Namespace,
           announce: str) -> tuple[int, int | None]:
    """One process: uvicorn on ``sock`` until SIGTERM / SIGINT; (requests answered, the signal)."""
    config = uvicorn.Config(app, lifespan="on", log_level=args.log_level, access_log=args.access_log,
                            timeout_graceful_shutdown=args.graceful_timeout, server_header=False)
    server = uvicorn.Server(config)
    stopped_by: list[int] = []
    # uvicorn handles SIGTERM/SIGINT while it runs, then re-raises the signal to the handler it found: this
    # one, so that a graceful stop ends with status 0 instead of the default action (death by the signal)
    previous = {sig: signal.signal(sig, lambda s, f: stopped_by.append(s)) for sig in (signal.SIGTERM, signal.SIGINT)}
    print(announce, flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    return answered_requests(app.state.server), (stopped_by[0] if stopped_by else None)
