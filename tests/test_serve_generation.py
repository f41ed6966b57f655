"""Text generation over HTTP on a small seeded causal LM: the Inference-API route (``/text-generation``,
``"stream": true`` for server-sent events), text-generation-inference's ``/generate`` and ``/generate_stream``
(token events, the final text, ``details``), their errors, a client leaving mid-stream, and a stream in flight
across SIGTERM. Answers are compared with the same pipeline called in this process.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from bounded import extra_module
from conftest import random_weights, tiny_config

httpx = extra_module("httpx", "serve")  # the tests' HTTP client (CI installs it beside the extra)
extra_module("uvicorn", "serve")
extra_module("starlette", "serve")

from test_serve_batching import reference, reviews  # noqa: E402
from test_serve_process import ServerProcess  # noqa: E402

from roformer_np import RoFormerForCausalLM  # noqa: E402
from roformer_np.pipelines import DEMO_ROOT  # noqa: E402

PROMPT = "今天天气"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small seeded causal LM on the demo models' vocabulary (which can spell stop strings back)."""
    directory = tmp_path_factory.mktemp("lm")
    vocab = (DEMO_ROOT / "vocab.txt").read_text(encoding="utf-8")
    config = tiny_config(vocab_size=len(vocab.splitlines()), max_position_embeddings=64, is_decoder=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RoFormerForCausalLM(config, random_weights(config, 5), init_seed=5)
    rng = np.random.default_rng(5)
    for key, value in model.head_weights.items():  # larger than the init, so that tokens differ
        model.head_weights[key] = rng.normal(0.0, 0.5, value.shape).astype(value.dtype)
    model.save_pretrained(directory)
    (directory / "vocab.txt").write_text(vocab, encoding="utf-8")
    return str(directory)


@pytest.fixture(scope="module")
def generator(model_dir):
    return reference("text-generation", model_dir)


@pytest.fixture(scope="module")
def server(model_dir):
    with ServerProcess("--task", "text-generation", "--model", model_dir) as s:
        yield s


def events(answer) -> list[dict]:
    """The JSON of each server-sent event of a streamed answer."""
    assert answer.headers["content-type"].startswith("text/event-stream")
    chunks = [c for c in answer.text.split("\n\n") if c.strip()]
    assert all(c.startswith("data: ") for c in chunks), chunks
    return [json.loads(c[len("data: "):]) for c in chunks]


def test_inference_api_route_is_the_pipelines_result(server, generator):
    with server.client() as client:
        greedy = {"do_sample": False, "max_new_tokens": 8}
        answer = client.post("/text-generation", json={"inputs": PROMPT, "parameters": greedy})
        assert answer.status_code == 200 and answer.json() == generator(PROMPT, **greedy)
        sampled = {"do_sample": True, "seed": 7, "max_new_tokens": 8, "temperature": 0.9, "top_k": 20}
        assert client.post("/", json={"inputs": PROMPT, "parameters": sampled}).json() == generator(PROMPT, **sampled)
        two = client.post("/text-generation", json={"inputs": [PROMPT, "北京上海"], "parameters": greedy}).json()
        assert two == generator([PROMPT, "北京上海"], **greedy)
        beams = {"do_sample": False, "num_beams": 3, "num_return_sequences": 2, "max_new_tokens": 5}
        assert client.post("/text-generation", json={"inputs": PROMPT, "parameters": beams}).json() == generator(
            PROMPT, **beams)


def test_concurrent_greedy_requests_share_passes_and_keep_their_results(server, generator):
    by_length: dict = {}
    for text in reviews():
        by_length.setdefault(len(generator.tokenizer(text)["input_ids"]), []).append(text)
    prompts = max(by_length.values(), key=len)[:5]  # one length: they may share a pass
    assert len(prompts) == 5
    greedy = {"do_sample": False, "max_new_tokens": 12}
    answers: dict = {}

    def send(i: int) -> None:
        with server.client() as client:
            prompt = prompts[i % len(prompts)]
            answers[i] = (prompt, client.post("/text-generation", json={"inputs": prompt, "parameters": greedy}))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(15)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == 15
    assert all(a.status_code == 200 and a.json() == generator(p, **greedy) for p, a in answers.values())


def test_tgi_generate_and_details(server, generator):
    with server.client() as client:
        answer = client.post("/generate", json={"inputs": PROMPT, "parameters": {"max_new_tokens": 6,
                                                                               "details": True}}).json()
        expected = generator(PROMPT, do_sample=False, max_new_tokens=6, return_full_text=False)[0]["generated_text"]
        assert answer["generated_text"] == expected  # TGI's defaults: greedy, the new text only
        assert answer["details"] == {"finish_reason": "length", "generated_tokens": 6, "seed": None}
        full = client.post("/generate", json={"inputs": PROMPT, "parameters": {"max_new_tokens": 6, "seed": 3,
                                                                             "do_sample": True,
                                                                             "return_full_text": True}}).json()
        assert full == {"generated_text": generator(PROMPT, do_sample=True, seed=3, max_new_tokens=6)[0][
            "generated_text"]}
        stop = expected.split()[1]
        stopped = client.post("/generate", json={"inputs": PROMPT, "parameters": {
            "max_new_tokens": 6, "stop": [stop], "details": True}}).json()
        assert stopped["generated_text"] == generator(PROMPT, do_sample=False, max_new_tokens=6, stop_strings=[stop],
                                                      return_full_text=False)[0]["generated_text"]
        assert stopped["details"]["finish_reason"] == "stop_sequence"
        assert stopped["details"]["generated_tokens"] < 6


@pytest.mark.parametrize("route", ["/generate_stream", "/generate"])
def test_tgi_stream_events(server, generator, route: str):
    body = {"inputs": PROMPT, "parameters": {"max_new_tokens": 7, "details": True}}
    if route == "/generate":
        body["stream"] = True
    with server.client() as client:
        got = events(client.post(route, json=body))
    expected = generator(PROMPT, do_sample=False, max_new_tokens=7, return_full_text=False)[0]["generated_text"]
    assert [e["index"] for e in got] == list(range(1, 8))
    assert all(e["generated_text"] is None and e["details"] is None for e in got[:-1])
    assert got[-1]["generated_text"] == expected
    assert got[-1]["details"] == {"finish_reason": "length", "generated_tokens": 7, "seed": None}
    assert "".join(e["token"]["text"] for e in got) == expected  # the pieces add up to the text
    ids = generator.tokenizer(PROMPT)["input_ids"]
    tokens = [e["token"]["id"] for e in got]
    assert generator.tokenizer.decode(ids + tokens, skip_special_tokens=True).endswith(expected.strip())
    assert all(set(e["token"]) == {"id", "text", "logprob", "special"} for e in got)


def test_inference_api_stream_equals_the_unstreamed_answer(server, generator):
    params = {"do_sample": True, "seed": 11, "max_new_tokens": 9}
    with server.client() as client:
        got = events(client.post("/text-generation", json={"inputs": PROMPT, "parameters": params, "stream": True}))
    (expected,) = generator(PROMPT, **params)
    assert len(got) == 9 and got[-1]["generated_text"] == expected["generated_text"]  # prompt + continuation
    assert PROMPT + "".join(e["token"]["text"] for e in got) == expected["generated_text"]


def test_generation_errors_are_422_naming_the_field(server):
    with server.client() as client:
        cases = [
            ("/text-generation", {"inputs": [PROMPT, PROMPT], "stream": True}, "inputs"),
            ("/text-generation", {"inputs": PROMPT, "stream": True, "parameters": {"num_beams": 2}},
             "parameters.num_beams"),
            ("/text-generation", {"inputs": PROMPT, "parameters": {"do_sample": True, "temperature": -1.0}},
             "parameters"),
            ("/text-generation", {"inputs": PROMPT, "parameters": {"max_new_tokens": 500}}, "parameters"),
            ("/text-generation", {"inputs": PROMPT, "parameters": {"streamer": "x"}}, "parameters.streamer"),
            ("/text-generation", {"inputs": PROMPT, "stream": "yes"}, "stream"),
            ("/generate", {"inputs": [PROMPT]}, "inputs"),
            ("/generate", {"inputs": PROMPT, "parameters": {"best_of": 2}}, "parameters.best_of"),
            ("/generate", {"inputs": PROMPT, "parameters": {"num_beams": 2}}, "parameters.num_beams"),
            ("/generate_stream", {"inputs": PROMPT, "parameters": {"max_new_tokens": 0}}, "parameters.max_new_tokens"),
        ]
        for route, body, field in cases:
            answer = client.post(route, json=body)
            assert answer.status_code == 422, (route, body, answer.text)
            assert answer.json()["field"] == field and field in answer.json()["error"], answer.json()
        assert client.get("/health").status_code == 200


def test_a_client_leaving_mid_stream_frees_its_slot(server):
    with server.client() as client:
        with client.stream("POST", "/generate_stream", json={"inputs": PROMPT, "parameters": {
                "max_new_tokens": 50}}) as answer:
            first = next(answer.iter_lines())
            assert first.startswith("data: ")
        # the connection is closed; the server notices, stops generating and releases the request
        deadline = time.monotonic() + 30
        while True:
            text = client.get("/metrics").text
            if re.search(r"^te_requests_in_flight 0$", text, re.M):
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
        assert client.post("/generate", json={"inputs": PROMPT, "parameters": {"max_new_tokens": 2}}).status_code == 200


def test_a_stream_in_flight_is_finished_across_sigterm(model_dir, generator):
    with ServerProcess("--task", "text-generation", "--model", model_dir) as server, server.client() as client:
        with client.stream("POST", "/generate_stream", json={"inputs": PROMPT, "parameters": {
                "max_new_tokens": 40}}) as answer:
            lines = answer.iter_lines()
            first = next(lines)
            server.proc.send_signal(signal.SIGTERM)
            rest = [line for line in lines if line]
        assert server.proc.wait(60) == 0, server.stderr()
    got = [json.loads(line[len("data: "):]) for line in [first, *rest]]
    assert len(got) == 40 and got[-1]["generated_text"] == generator(
        PROMPT, do_sample=False, max_new_tokens=40, return_full_text=False)[0]["generated_text"]
