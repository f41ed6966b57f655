"""``roformer-np serve --workers N``: N real worker processes on one loopback port (the harness of
tests/test_serve_process.py): every answer equal to the request's own pipeline() call, the stop on SIGTERM
with requests in flight (none lost, the total reported), a worker that dies replaced, workers that stop when
their parent is killed, and the default kernel threads per worker.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from bounded import extra_module

httpx = extra_module("httpx", "serve")
extra_module("uvicorn", "serve")
extra_module("starlette", "serve")

from test_serve_batching import as_json, reference, reviews  # noqa: E402
from test_serve_process import ServerProcess, post_in_threads  # noqa: E402

WORKER_MODULE = "roformer_np.serve.workers"


def workers_of(pid: int) -> list[int]:
    """The worker processes the server ``pid`` started (its children running the worker module)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat", encoding="utf-8").read()
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and any(WORKER_MODULE.encode() in a for a in cmdline):
            found.append(int(entry))
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def accept_queue_and_clients(port: int) -> tuple[int, int]:
    """From /proc/net/tcp: connections waiting in the listening socket's accept queue (its rx_queue field),
    and established client connections to ``port``."""
    waiting = clients = 0
    with open("/proc/net/tcp", encoding="ascii") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote, state = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16), fields[3]
            if local == port and state == "0A":
                waiting += int(fields[4].split(":")[1], 16)
            elif remote == port and state == "01":
                clients += 1
    return waiting, clients


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.05)


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the worker processes through /proc")


def test_two_workers_answer_as_the_pipeline_and_stop_together():
    texts = reviews()[:24]
    expected = {t: as_json(reference("text-classification")([t], top_k=None)[0]) for t in texts}
    with ServerProcess("--task", "text-classification", "--workers", "2") as server:
        assert "2 workers" in server.stdout[0]
        workers = workers_of(server.proc.pid)
        assert len(workers) == 2, workers
        results: dict = {}

        def send(chunk: list[str]) -> None:
            with server.client() as client:
                for text in chunk:
                    answer = client.post("/predict", json={"inputs": text})
                    results[text] = (answer.status_code, answer.json())

        threads = [threading.Thread(target=send, args=(texts[i::6],)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert {t: r for t, r in results.items() if r != (200, expected[t])} == {}
        assert len(results) == len(texts)
        assert server.terminate() == 0, server.stderr()
        assert f"stopped on SIGTERM after answering {len(texts)} requests" in "".join(server.stdout)
        wait_for(lambda: not any(alive(w) for w in workers), 30, "the workers did not end")


def test_sigterm_answers_every_request_the_workers_have_received():
    long_texts = [text * 40 for text in reviews()[:6]]
    expected = as_json(reference("text-classification")(long_texts, top_k=None, truncation=True, max_length=512))
    results: list = [None] * 12
    with ServerProcess("--task", "text-classification", "--workers", "2", "--max-batch-requests", "1") as server:
        threads = post_in_threads(server, {"inputs": [[t] for t in long_texts], "truncate": True}, results)
        # every client connected and accepted by a worker (a connection still in the kernel's accept queue when
        # the socket closes is reset, as with any server), then a moment for the workers to read the requests:
        # each takes far longer to compute than that
        def all_accepted() -> bool:  # connected now, or already answered (on a busy machine some finish early)
            waiting, connected = accept_queue_and_clients(server.port)
            return waiting == 0 and connected + sum(r is not None for r in results) >= len(results)

        wait_for(all_accepted, 60, "the clients were not all accepted")
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(180)
        assert server.proc.wait(120) == 0, server.stderr()
    assert [r for r in results if r is None or r[0] != 200] == []
    assert all(r[1] == expected for r in results)
    assert f"stopped on SIGTERM after answering {len(results)} requests" in "".join(server.stdout)


def test_a_worker_that_dies_is_replaced_and_the_server_goes_on():
    with ServerProcess("--task", "text-classification", "--workers", "2") as server:
        before = workers_of(server.proc.pid)
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        wait_for(lambda: len(workers_of(server.proc.pid)) == 2 and before[0] not in workers_of(server.proc.pid),
                 90, "no new worker started")
        assert "starting another" in server.stderr()
        with server.client() as client:
            for _ in range(6):  # whichever worker takes the connection answers
                answer = client.post("/predict", json={"inputs": "这本书很好看"})
                assert answer.status_code == 200
        assert server.terminate() == 0


def test_workers_stop_when_their_parent_is_killed():
    with ServerProcess("--task", "text-classification", "--workers", "2") as server:
        workers = workers_of(server.proc.pid)
        assert len(workers) == 2
        server.proc.send_signal(signal.SIGKILL)  # no chance to stop them itself
        server.proc.wait(30)
        wait_for(lambda: not any(alive(w) for w in workers), 60, "orphaned workers kept running")


def test_kernel_threads_are_shared_among_the_workers(monkeypatch):
    import argparse

    from roformer_np.serve import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    for cpus, workers, expected in ((2, 2, 1), (8, 2, 3), (8, 4, 1), (16, 3, 4)):
        monkeypatch.setattr(cli.os, "sched_getaffinity", lambda pid, n=cpus: set(range(n)), raising=False)
        args = parser.parse_args(["--task", "text-classification", "--workers", str(workers)])
        assert cli.default_threads(workers) == expected
        assert cli.settings_from(args).threads == expected
    with pytest.raises(SystemExit):
        parser.parse_args(["--task", "text-classification", "--workers", "0"])
