"""``roformer-np serve`` as a real process on 127.0.0.1 (a free port it picks and prints), with a real HTTP
client: start-up, its printed address, start-up errors, and the graceful stop on SIGTERM with requests in
flight (none lost, new connections refused, exit status 0).

:class:`ServerProcess` is the harness the other tests/test_serve_*.py files use. Loopback only: the server
is told ``--host 127.0.0.1`` and the harness refuses any other printed address. Every wait has a timeout and
the process is killed in a ``finally`` (the context manager's exit).
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from bounded import extra_module

httpx = extra_module("httpx", "serve")  # the tests' HTTP client (CI installs it beside the extra)
extra_module("uvicorn", "serve")
extra_module("starlette", "serve")

from test_serve_batching import BACKEND, as_json, reference, reviews  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# servers start outside the source tree: `python -m` puts the working directory first on sys.path, and in a clone
# the uncompiled sources there would shadow the installed package (and its kernels)
OUTSIDE = Path(tempfile.mkdtemp(prefix="roformer-np-serve-"))
LISTENING = re.compile(r"on http://(?P<host>[^\s:]+):(?P<port>\d+)$")


class ServerProcess:
    """``python -m roformer_np serve ARGS --host 127.0.0.1 --port 0``; ``url``, ``client()``, ``terminate()``."""

    def __init__(self, *args: str, env: dict | None = None, start_timeout: float = 90.0, wait_healthy: bool = True):
        self.args = list(args)
        if "--backend" not in self.args:
            self.args += ["--backend", BACKEND]
        self.log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "roformer_np", "serve", *self.args, "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE, stderr=self.log, text=True, encoding="utf-8", cwd=OUTSIDE,
            env={**os.environ, **(env or {})})
        self.lines: queue.Queue = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = ""
        try:
            self._wait_listening(start_timeout)
            if wait_healthy:
                self._wait_healthy(start_timeout)
        except BaseException:
            self.kill()
            raise

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the server printed no address within {timeout} s:\n{self.stderr()}") from None
            if line is None:
                raise AssertionError(f"the server exited ({self.proc.wait(10)}) before listening:\n{self.stderr()}")
            found = LISTENING.search(line.strip())
            if found:
                assert found["host"] == "127.0.0.1", f"the server must listen on loopback only, printed {line!r}"
                self.port = int(found["port"])
                self.url = f"http://127.0.0.1:{self.port}"
                return

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                try:
                    if client.get(self.url + "/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise AssertionError(f"/health did not answer 200 within {timeout} s:\n{self.stderr()}")

    def client(self, **kwargs: Any) -> Any:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 60.0), **kwargs)

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, then the exit status (killed and failed if it takes longer than ``timeout``)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the server did not stop within {timeout} s of SIGTERM:\n{self.stderr()}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kill()
        self.log.close()


def post_in_threads(server: ServerProcess, body: dict, results: list, finished: list | None = None) -> list:
    """One started client thread per slot of ``results``, each POSTing ``body`` to /predict on its own
    connection: ``results[i]`` gets (status, JSON) or ("error", repr) for a lost request (failed by the caller),
    ``finished[i]`` the time it ended. The threads are returned for joining."""
    def send(i: int) -> None:
        with server.client() as client:
            try:
                answer = client.post("/predict", json=body)
                results[i] = (answer.status_code, answer.json())
            except Exception as exc:  # a lost request: recorded, then failed by the caller
                results[i] = ("error", repr(exc))
            if finished is not None:
                finished[i] = time.monotonic()

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(len(results))]
    for thread in threads:
        thread.start()
    return threads


def connect_refused(port: int) -> bool:
    """Whether a new TCP connection to 127.0.0.1:``port`` is refused (nobody listening)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0):
            return False
    except ConnectionRefusedError:
        return True


# ---------------------------------------------------------------------------------------------
# Start-up
# ---------------------------------------------------------------------------------------------
def test_prints_its_loopback_address_and_serves_the_demo_model():
    with ServerProcess("--task", "sentiment-analysis") as server, server.client() as client:
        assert server.stdout[0].startswith("roformer-np serve: text-classification model roformer_np/demo:")
        info = client.get("/info").json()
        assert info["task"] == "text-classification" and info["model_type"]["classifier"]["id2label"] == {
            "0": "negative", "1": "positive"}
        assert info["backend"] == BACKEND
        answer = client.post("/predict", json={"inputs": "这本书很好看"})
        assert answer.status_code == 200
        assert answer.json() == as_json(reference("text-classification")(["这本书很好看"], top_k=None)[0])  # alone
        assert server.terminate() == 0
        assert "stopped on SIGTERM after answering 1 request\n" in "".join(server.stdout)


def test_binds_loopback_by_default():
    # without --host: the default must be 127.0.0.1 (the harness passes it, so run the CLI's parser here)
    from roformer_np.cli import build_parser

    args = build_parser().parse_args(["serve", "--task", "fill-mask"])
    assert args.host == "127.0.0.1" and args.api_key is None


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "question-answering"], "question-answering has no demo model"),
    (["--task", "fill-mask", "--model", "/nonexistent/model"], "/nonexistent/model"),
    (["--task", "fill-mask", "--max-input-length", "100000"], "max_input_length (100000) must be at most the "
                                                              "model's limit of 512 tokens"),
    (["--task", "fill-mask", "--max-batch-tokens", "64"], "max_batch_tokens (64) must be at least max_input_length"),
])
def test_startup_errors_exit_2_before_listening(args: list[str], message: str):
    done = subprocess.run([sys.executable, "-m", "roformer_np", "serve", *args, "--port", "0"], capture_output=True,
                          text=True, timeout=120, cwd=OUTSIDE)
    assert done.returncode == 2, done.stderr
    assert "http://" not in done.stdout
    assert message in done.stderr and done.stderr.startswith("roformer-np: error:")


# ---------------------------------------------------------------------------------------------
# Graceful stop
# ---------------------------------------------------------------------------------------------
def test_sigterm_stops_listening_and_answers_every_request_in_flight():
    long_texts = [text * 40 for text in reviews()[:8]]  # ~250-480 tokens each: slow enough to queue up
    expected = as_json(reference("text-classification")(long_texts, top_k=None, function_to_apply="default",
                                                        truncation=True, max_length=512))
    results: list = [None] * 24
    finished: list = [0.0] * 24
    with ServerProcess("--task", "text-classification", "--max-batch-requests", "1") as server:
        threads = post_in_threads(server, {"inputs": [[t] for t in long_texts], "truncate": True}, results, finished)
        # wait until the server has received every request (most are still queued): "in flight" is what it has
        # received; a connection still in the kernel's backlog when the listening socket closes is reset, as
        # with any server (and on a busy machine the last clients may connect late)
        received = re.compile(r'^te_request_count\{method="batch",route="/predict"\} (\d+)', re.M)
        with server.client() as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                metrics = client.get("/metrics").text
                count, in_flight = received.search(metrics), re.search(r"^te_requests_in_flight (\d+)", metrics, re.M)
                if count and int(count[1]) == len(results) and int(in_flight[1]) >= 12:
                    break
                time.sleep(0.01)
            else:
                pytest.fail("the requests never got in flight")
        assert server.proc.poll() is None
        server.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while not connect_refused(server.port):  # the listening socket closes first
            assert time.monotonic() < deadline, "still accepting connections 30 s after SIGTERM"
            time.sleep(0.01)
        refused_at = time.monotonic()
        for thread in threads:
            thread.join(120)
        assert server.proc.wait(60) == 0, server.stderr()
    assert all(r is not None and r[0] == 200 for r in results), [r for r in results if r is None or r[0] != 200]
    assert all(r[1] == expected for r in results)  # one row per pass (--max-batch-requests 1): bit for bit
    assert sum(t > refused_at for t in finished) >= 1  # answered after the server had stopped accepting
    assert f"stopped on SIGTERM after answering {len(results)} requests" in "".join(server.stdout)


# ---------------------------------------------------------------------------------------------
# The README's "Serving over HTTP" examples, as written
# ---------------------------------------------------------------------------------------------
def readme_serve_example() -> tuple[list[str], str]:
    """The section's bash block (its lines) and the text block after it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Serving over HTTP"):]
    found = re.search(r"```bash\n(?P<body>.*?)```\n\s*```text\n(?P<expected>.*?)```", section, re.S)
    assert found, "the README's serving section has no example"
    return found["body"].splitlines(), found["expected"]


def test_the_readmes_curl_examples_answer_as_shown():
    lines, expected = readme_serve_example()
    assert any(re.fullmatch(r"roformer-np serve --task sentiment-analysis &\s+#.*", line) for line in lines)
    requests = [re.fullmatch(r"curl -s 127\.0\.0\.1:8080(?P<path>/\w+) -H 'Content-Type: application/json' "
                             r"-d '(?P<body>.*)'", line) for line in lines if line.startswith("curl")]
    assert requests and all(requests), lines
    with ServerProcess("--task", "sentiment-analysis") as server, server.client() as client:
        answers = [client.post(r["path"], content=r["body"].encode(), headers={"Content-Type": "application/json"})
                   for r in requests]
    assert all(a.status_code == 200 for a in answers)
    # the first answer as the README prints it: the same labels in the same order, the scores to float32
    # round-off: their last digits depend on the instruction set the kernels run on (the README's were printed
    # on an AVX-512 machine; an AVX2 one answers 0.2931279242038727 for 0.2931278944015503)
    shown, got = json.loads(expected.splitlines()[0]), json.loads(answers[0].text)
    assert [a["label"] for a in got] == [a["label"] for a in shown], answers[0].text
    assert all(abs(a["score"] - b["score"]) <= 1e-6 for a, b in zip(got, shown)), answers[0].text


def test_the_readmes_example_client_prints_what_it_shows():
    from test_readme import same_output

    _, expected = readme_serve_example()
    shown = expected[expected.index("server:"):]
    done = subprocess.run([sys.executable, str(REPO / "examples" / "serve_client.py")], capture_output=True,
                          text=True, timeout=180, cwd=OUTSIDE)
    assert done.returncode == 0, done.stderr
    assert same_output(shown, done.stdout.split("roformer-np serve: stopped")[0]), done.stdout
    assert "roformer-np serve: stopped on SIGTERM after answering 2 requests" in done.stdout
