"""Load benchmark of ``roformer-np serve``: concurrent clients against the same texts sent one by one, and
against a server that does not batch.

    pip install ".[serve]"
    python bench/bench_serve.py [--clients 16] [--requests 40] [--task text-classification] [--time-limit 300]

Texts: the 60 hand-written reviews of tools/data/clear_reviews.tsv (real review texts, 3-12 tokens), one per
request (TEI's ``POST /predict {"inputs": text}``), cycled. Each server is a real ``roformer-np serve``
process on 127.0.0.1 (a free port; loopback only), the demo sentiment model by default. Rows:

* ``one by one``: one client, the next request sent when the answer to the last one has come;
* ``N clients``: N client processes, each with its own keep-alive connection, sending ``--requests``
  requests each (processes, not threads: a thread waiting for the client's GIL would count as latency);
* ``N clients, no forward process``: a server whose forward passes run in its own process, beside the event loop
  (``--forward-process off``; the default runs them in a forward process where there are 2 or more CPUs);
* ``N clients, unbatched``: the same against a server started with ``--max-batch-requests 1``;
* ``N clients, padded``: a server with ``--length-grouping padded`` (lengths mixed in a pass);
* ``N clients, W workers``: a server with ``--workers W`` (W processes on the port, each its own model and
  batcher; default W = the CPUs, 0 leaves the row out).

The first two rows run ``--rounds`` times (3), alternately, on the same server, and give the round with the
median requests/s; their ratio is the median of each round's ratio (two rows measured back to back, so a
machine that slows down for a while slows both). Requests/s is the requests over the wall time of the row;
latency is each request's, at the client. Every
answer must be 200 with the same labels as the one-by-one answers for the same text (scores within 1e-5):
any error makes the script exit with status 1. Bounded: at most ``--clients x --requests`` requests per row
and ``--time-limit`` seconds in all (a row past its share of the limit stops and is reported as such). The
clients run on the same machine as the server: they share its cores. Each client is a minimal HTTP/1.1
keep-alive client on a socket (the request's bytes built once, the answer read by its Content-Length) so that it
takes as little of those cores as it can (~0.13 ms of CPU per request here, against ~0.45 ms with Python's
http.client). On Linux each row also gives the server's CPU time per request (its process and descendants:
``--workers``, forward processes) and how many cores the whole machine kept busy during the row: a server near
one core of CPU on a machine with idle cores is bound by its interpreter lock, not by the CPUs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REVIEWS = REPO / "tools" / "data" / "clear_reviews.tsv"
LISTENING = re.compile(r"on http://127\.0\.0\.1:(\d+)$")


def reviews() -> list[str]:
    rows = [line.split("\t") for line in REVIEWS.read_text(encoding="utf-8").splitlines()]
    return [r[2] for r in rows if len(r) == 3 and not r[0].startswith("#")]


class Server:
    """``roformer-np serve`` on 127.0.0.1, a free port; stopped with SIGTERM (killed if it hangs)."""

    def __init__(self, task: str, extra: list[str], timeout: float = 120.0) -> None:
        cmd = [sys.executable, "-m", "roformer_np", "serve", "--task", task, "--host", "127.0.0.1", "--port", "0",
               *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
        deadline = time.monotonic() + timeout
        self.port = None
        while self.port is None:
            line = self.proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start: {' '.join(cmd)}")
            found = LISTENING.search(line.strip())
            if found:
                self.port = int(found[1])
        while True:  # until /health answers
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the server never became healthy")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


class _Connection:
    """A minimal HTTP/1.1 keep-alive client on one socket: the request's bytes built once, the answer read by its
    Content-Length. The clients share the server's cores, so their own CPU per request is kept small (Python's
    http.client parses every response's headers with the email package: ~0.2 ms per request here)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.sock.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body))
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next((int(v) for k, _, v in (h.partition(":") for h in lines[1:])
                       if k.strip().lower() == "content-length"), None)
        if length is None:
            raise http.client.HTTPException(f"no Content-Length in the answer: {lines[0]}")
        while len(self.buffer) < length:
            self._fill()
        data, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, data

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise http.client.HTTPException("the server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def client(port: int, texts: list[str], deadline: float, out: list) -> None:
    """Send each text in turn on one keep-alive connection; append (text, status, body, seconds)."""
    conn = _Connection(port)
    bodies = {text: json.dumps({"inputs": text}, ensure_ascii=False).encode("utf-8") for text in set(texts)}
    try:
        for text in texts:
            if time.monotonic() > deadline:
                out.append((text, "time limit", None, 0.0))
                return
            start = time.perf_counter()
            try:
                status, data = conn.post("/predict", bodies[text])
                out.append((text, status, json.loads(data), time.perf_counter() - start))
            except (OSError, http.client.HTTPException, ValueError) as exc:
                out.append((text, f"{type(exc).__name__}: {exc}", None, time.perf_counter() - start))
                conn.close()
                conn = _Connection(port)
    finally:
        conn.close()


def _client_job(job: tuple[int, list[str], float]) -> list:
    out: list = []
    client(*job, out)
    return out


def _ticks(path: str, first: int) -> int:
    """utime + stime (clock ticks) from a /proc stat file; ``first``: the field after the command's ")"."""
    with open(path, encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[first]) + int(fields[first + 1])


def cpu_seconds(server_pid: int) -> tuple[float, float] | None:
    """(CPU seconds of the server process and its descendants (``--workers``, forward processes), CPU seconds
    of the whole machine) so far; None without Linux's /proc."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        parents = {int(p): _parent(int(p)) for p in os.listdir("/proc") if p.isdigit()}
        pids, frontier = [server_pid], [server_pid]
        while frontier:  # the server's descendants: workers, forward processes
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            pids += frontier
        server = 0
        for pid in pids:
            try:
                server += _ticks(f"/proc/{pid}/stat", 11)
            except OSError:  # it has just ended
                pass
        with open("/proc/stat", encoding="ascii") as f:
            total = [int(v) for v in f.readline().split()[1:]]
        return server / tick, (sum(total) - total[3] - total[4]) / tick  # less idle and iowait
    except (OSError, ValueError):
        return None


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def run(port: int, clients: int, per_client: int, texts: list[str], deadline: float,
        server_pid: int | None = None) -> dict:
    """``clients`` client processes (each its own interpreter, so that no client waits for another's GIL and
    the latencies are the server's), ``per_client`` requests each, after a warm-up round. With ``server_pid``
    the row also has the CPU the server and the whole machine used while it ran (Linux)."""
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        pool.map(_client_job, [(port, texts[:20], deadline)] * clients)  # warm-up: processes and passes
        jobs = [(port, [texts[(k * per_client + j) % len(texts)] for j in range(per_client)], deadline)
                for k in range(clients)]
        cpu0 = cpu_seconds(server_pid) if server_pid else None
        start = time.perf_counter()
        out = [answer for answers in pool.map(_client_job, jobs) for answer in answers]
        wall = time.perf_counter() - start
        cpu1 = cpu_seconds(server_pid) if server_pid else None
    latencies = sorted(s for _, status, _, s in out if status == 200)
    return {"clients": clients, "requests": len(out), "errors": sum(status != 200 for _, status, _, _ in out),
            "seconds": wall, "rps": len(latencies) / wall if wall else 0.0,
            "p50_ms": 1e3 * statistics.median(latencies) if latencies else None,
            "p99_ms": 1e3 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else None,
            "server_cpu_ms": 1e3 * (cpu1[0] - cpu0[0]) / len(out) if cpu0 and cpu1 and out else None,
            "machine_cores": (cpu1[1] - cpu0[1]) / wall if cpu0 and cpu1 and wall else None,
            "answers": out}


def agree(answers: list, reference: dict) -> int:
    """Answers that differ from the one-by-one answer for the same text (labels, or scores beyond 1e-5)."""
    bad = 0
    for text, status, body, _ in answers:
        if status != 200:
            continue
        ref = reference[text]
        same = [p["label"] for p in body] == [p["label"] for p in ref] and all(
            abs(a["score"] - b["score"]) <= 1e-5 for a, b in zip(body, ref))
        bad += not same
    return bad


def median_round(runs: list[dict]) -> dict:
    """The run with the median requests/s (the upper one of an even count)."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=40, help="requests per client (default 40)")
    parser.add_argument("--task", default="text-classification")
    parser.add_argument("--model", help="checkpoint directory (default: the demo model)")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds in all (default 300)")
    parser.add_argument("--no-padded", action="store_true", help="leave out the padded-grouping row")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="server processes of the last row (default: the CPUs; 0 or 1: no such row)")
    parser.add_argument("--server-args", default="", help="more options for every server, e.g. \"--threads 1\"")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate rounds of the first two rows (default 3; their medians are reported)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.task not in ("text-classification", "sentiment-analysis"):
        parser.error("the benchmark sends TEI /predict requests: --task text-classification")
    texts = reviews()
    total = args.clients * args.requests
    started = time.monotonic()
    variants = [("no forward process (--forward-process off)", ["--forward-process", "off"]),
                ("unbatched (--max-batch-requests 1)", ["--max-batch-requests", "1"])]
    if not args.no_padded:
        variants.append(("padded (--length-grouping padded)", ["--length-grouping", "padded"]))
    if args.workers > 1:
        variants.append((f"{args.workers} workers (--workers {args.workers})", ["--workers", str(args.workers)]))
    rows_planned = 2 * args.rounds + len(variants)
    base = (["--model", args.model] if args.model else []) + args.server_args.split()
    rows: list[tuple[str, dict]] = []

    def deadline(done_rows: int) -> float:
        share = (args.time_limit - (time.monotonic() - started)) / max(1, rows_planned - done_rows)
        return time.monotonic() + share

    rounds: list[tuple[dict, dict]] = []  # (one by one, N clients) of each round
    server = Server(args.task, base)
    try:
        for k in range(args.rounds):
            alone = run(server.port, 1, total, texts, deadline(2 * k), server.proc.pid)
            rounds.append((alone, run(server.port, args.clients, args.requests, texts, deadline(2 * k + 1),
                                      server.proc.pid)))
    finally:
        server.stop()
    rows.append(("one by one", median_round([a for a, _ in rounds])))
    rows.append((f"{args.clients} clients", median_round([b for _, b in rounds])))
    done_rows = 2 * args.rounds
    for label, extra in variants:
        server = Server(args.task, base + extra)
        try:
            rows.append((f"{args.clients} clients, {label}", run(server.port, args.clients, args.requests, texts,
                                                                 deadline(done_rows), server.proc.pid)))
            done_rows += 1
        finally:
            server.stop()

    reference = {}
    for text, status, body, _ in rows[0][1]["answers"]:
        if status == 200:
            reference.setdefault(text, body)
    one_by_one = rows[0][1]["rps"]
    ratio = statistics.median(b["rps"] / a["rps"] for a, b in rounds if a["rps"])
    print(f"roformer-np serve, {args.task} ({args.model or 'demo model'}), {len(texts)} review texts, "
          f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    print()
    print("| run | clients | requests | errors | requests/s | p50 ms | p99 ms | vs one by one | server CPU ms/request "
          "| machine busy (cores) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    failed = False
    for row in [row for _, row in rows[2:]] + [row for pair in rounds for row in pair]:  # every round's answers
        disagree = agree(row["answers"], reference)
        row["bad"] = row["errors"] + disagree
        failed |= bool(row["bad"] or row["requests"] < total)
    for i, (label, row) in enumerate(rows):
        bad = sum(r["bad"] for pair in rounds for r in pair) if i < 2 else row["bad"]
        times = ratio if i == 1 else row["rps"] / one_by_one
        print(f"| {label} | {row['clients']} | {row['requests']} | {bad} | {row['rps']:.0f} | "
              f"{row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {times:.2f}x | "
              f"{_number(row['server_cpu_ms'], 3)} | {_number(row['machine_cores'], 2)} |")
    print()
    print(f"{args.rounds} rounds, one by one / {args.clients} clients (requests/s): "
          + ", ".join(f"{a['rps']:.0f} / {b['rps']:.0f} ({b['rps'] / a['rps']:.2f}x)" for a, b in rounds)
          + f"; the first two rows: the median round, and the median ratio {ratio:.2f}x")
    if args.json:
        every = rows + [(f"round {k + 1}: {label}", row) for k, pair in enumerate(rounds)
                        for label, row in zip(("one by one", f"{args.clients} clients"), pair)]
        Path(args.json).write_text(json.dumps([{"run": label, **{k: v for k, v in row.items() if k != "answers"}}
                                               for label, row in every], indent=2) + "\n", encoding="utf-8")
    if failed:
        print("FAILED: errors, answers that differ from the one-by-one ones, or rows cut by the time limit")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
