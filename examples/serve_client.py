"""A client of ``roformer-np serve`` using only the standard library (any HTTP client works the same way).

    python examples/serve_client.py                               # starts a sentiment server, then stops it
    python examples/serve_client.py --url http://127.0.0.1:8080   # a server you started yourself

Without ``--url`` it starts ``roformer-np serve --task sentiment-analysis`` on 127.0.0.1 (a free port),
asks it for its ``/info``, classifies a few reviews with TEI's ``POST /predict``, shows the tokens of one with
``POST /tokenize``, then stops it with SIGTERM (which lets it finish what it was doing).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

REVIEWS = ["这本书很好看", "质量太差了，不推荐", "房间干净，早餐丰富"]


def call(url: str, path: str, body: object = None, api_key: str | None = None) -> object:
    """GET (no body) or POST JSON to ``url + path``; the decoded JSON answer (or None for an empty one)."""
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            text = answer.read()
    except urllib.error.HTTPError as error:  # the server's JSON error: {"error", "error_type", ...}
        raise SystemExit(f"{path}: HTTP {error.code}: {error.read().decode('utf-8', 'replace')}") from None
    return json.loads(text) if text else None


def start_server() -> tuple[subprocess.Popen, str]:
    """``roformer-np serve`` on 127.0.0.1 and a free port; (process, url) once it answers /health."""
    proc = subprocess.Popen([sys.executable, "-m", "roformer_np", "serve", "--task", "sentiment-analysis",
                             "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # "roformer-np serve: ... on http://127.0.0.1:PORT"
    found = re.search(r"(http://127\.0\.0\.1:\d+)$", line.strip())
    if not found:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    url = found[1]
    for _ in range(600):
        try:
            call(url, "/health")
            return proc, url
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the server did not become healthy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (default: start one for this example)")
    parser.add_argument("--api-key", help="the server's --api-key, if it has one")
    args = parser.parse_args()
    proc, url = (None, args.url.rstrip("/")) if args.url else start_server()
    try:
        info = call(url, "/info", api_key=args.api_key)
        print(f"server: {info['task']}, model {info['model_id']}, up to {info['max_client_batch_size']} inputs "
              "per request")
        predictions = call(url, "/predict", {"inputs": [[text] for text in REVIEWS]}, args.api_key)
        for text, labels in zip(REVIEWS, predictions):  # every label, best first
            print(f"{labels[0]['label']:<9} {labels[0]['score']:.2f}  {text}")
        (tokens,) = call(url, "/tokenize", {"inputs": REVIEWS[0]}, args.api_key)
        print("tokens:", " ".join(t["text"] for t in tokens))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
            print(proc.stdout.read().strip())  # "roformer-np serve: stopped on SIGTERM after answering 3 requests"


if __name__ == "__main__":
    main()
