"""Every route of ``roformer-np serve`` and every error status, on real server processes (127.0.0.1, a free
port) with a real HTTP client; answers are compared with the same pipeline called in this process.

Servers (one per module fixture): feature-extraction with an API key and small limits; text-classification;
token-classification; fill-mask; question-answering and sentence-similarity on small seeded models; a
classifier whose model fails on text pairs (500); one with two request slots (429). Text generation is in
tests/test_serve_generation.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import warnings

import numpy as np
import pytest
from bounded import extra_module
from conftest import random_weights, tiny_config
from fake_models import VOCAB, make_model_dir, write_vocab

httpx = extra_module("httpx", "serve")  # the tests' HTTP client (CI installs it beside the extra)
extra_module("uvicorn", "serve")
extra_module("starlette", "serve")

from test_serve_batching import BACKEND, as_json, matches, reference, reviews  # noqa: E402
from test_serve_process import ServerProcess  # noqa: E402

from roformer_np import RoFormerForSequenceClassification  # noqa: E402
from roformer_np.pipelines import demo_model_dir  # noqa: E402

KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def metric(text: str, name: str, **labels: str) -> float:
    """A sample's value in Prometheus text (0 if absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(want) + r"\}" if labels else "") + r" (\S+)$"
    found = re.search(pattern, text, re.M)
    return float(found[1]) if found else 0.0


def check_error(answer, status: int, error_type: str, field: str | None = None, words: str = "") -> dict:
    assert answer.status_code == status, (answer.status_code, answer.text)
    body = answer.json()
    assert body["error_type"] == error_type, body
    if field is not None:
        assert body["field"] == field and field in body["error"], body
    assert words in body["error"], body
    return body


# ---------------------------------------------------------------------------------------------
# feature-extraction: TEI's /embed, /embed_all, /tokenize, /decode, OpenAI's /v1/embeddings; key and limits
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def embed_server():
    with ServerProcess("--task", "feature-extraction", "--api-key", KEY, "--max-client-batch-size", "4",
                       "--payload-limit", "4000", "--max-input-length", "64", "--served-model-name", "demo-mlm") as s:
        yield s


@pytest.fixture(scope="module")
def embed_client(embed_server):
    with embed_server.client(headers=AUTH) as client:
        yield client


@pytest.fixture(scope="module")
def encoder():
    return reference("feature-extraction")


def test_embed_is_the_pipelines_mean_pooled_unit_vector(embed_client, encoder):
    texts = ["今天天气很好", "这本书很好看", "服务很好"]
    answer = embed_client.post("/embed", json={"inputs": texts})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == as_json(encoder(texts, pooling="mean", normalize=True))
    single = embed_client.post("/embed", json={"inputs": "今天天气很好", "normalize": False}).json()
    assert single == as_json([encoder("今天天气很好", pooling="mean", normalize=False)])
    assert abs(np.linalg.norm(answer.json()[0]) - 1.0) < 1e-6 and abs(np.linalg.norm(single[0]) - 1.0) > 1e-3
    assert embed_client.post("/", json={"inputs": "今天天气很好"}).json() == answer.json()[:1]  # POST / is /embed


def test_embed_all_gives_every_tokens_vector(embed_client, encoder):
    answer = embed_client.post("/embed_all", json={"inputs": ["今天天气很好", "好"]})
    assert answer.json() == as_json([r[0] for r in encoder(["今天天气很好", "好"])])


def test_long_inputs_get_teis_422_unless_truncated(embed_client, encoder):
    long_text = "今天天气很好" * 40
    check_error(embed_client.post("/embed", json={"inputs": long_text}), 422, "validation", "inputs",
                "`inputs` must have less than 64 tokens. Given: ")
    answer = embed_client.post("/embed", json={"inputs": long_text, "truncate": True})
    assert answer.json() == as_json([encoder(long_text, pooling="mean", normalize=True, truncation=True,
                                             max_length=64)])


def test_openai_embeddings(embed_client, encoder):
    texts = ["今天天气很好", "服务很好"]
    body = embed_client.post("/v1/embeddings", json={"input": texts, "model": "demo-mlm"}).json()
    assert body["object"] == "list" and body["model"] == "demo-mlm"
    expected = as_json(encoder(texts, pooling="mean", normalize=True))
    assert [d["embedding"] for d in body["data"]] == expected
    assert [(d["object"], d["index"]) for d in body["data"]] == [("embedding", 0), ("embedding", 1)]
    tokens = sum(len(encoder.tokenizer(t)["input_ids"]) for t in texts)
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    packed = embed_client.post("/embeddings", json={"input": "服务很好", "encoding_format": "base64"}).json()
    vector = np.frombuffer(base64.b64decode(packed["data"][0]["embedding"]), dtype="<f4")
    assert vector.tolist() == expected[1]  # float32 values, bit for bit
    error = embed_client.post("/v1/embeddings", json={"input": []})
    assert error.status_code == 400 and error.json() == {"message": "`input` cannot be empty", "code": 400,
                                                         "type": "empty"}


def test_tokenize_and_decode(embed_client, encoder):
    text = "张三在北京工作hello"
    (tokens,) = embed_client.post("/tokenize", json={"inputs": text}).json()
    ids = encoder.tokenizer(text)["input_ids"]
    assert [t["id"] for t in tokens] == ids
    assert tokens[0] == {"id": ids[0], "text": "[CLS]", "special": True, "start": None, "stop": None}
    raw = text.encode("utf-8")
    for token in tokens[1:-1]:  # UTF-8 byte offsets, as TEI gives them
        assert raw[token["start"]:token["stop"]].decode("utf-8") == token["text"] and not token["special"]
    plain = embed_client.post("/tokenize", json={"inputs": [text, "好"], "add_special_tokens": False}).json()
    assert [t["id"] for t in plain[0]] == ids[1:-1] and len(plain) == 2
    decoded = embed_client.post("/decode", json={"ids": ids}).json()
    assert decoded == [encoder.tokenizer.decode(ids, skip_special_tokens=True)]
    both = embed_client.post("/decode", json={"ids": [ids, ids[:3]], "skip_special_tokens": False}).json()
    assert both == [encoder.tokenizer.decode(ids), encoder.tokenizer.decode(ids[:3])]
    check_error(embed_client.post("/decode", json={"ids": [1, -5]}), 422, "validation", "ids")


def test_feature_extraction_task_route_is_hugging_faces(embed_client, encoder):
    answer = embed_client.post("/feature-extraction", json={"inputs": "今天天气很好"})
    assert answer.json() == as_json(encoder("今天天气很好"))  # [1, tokens, hidden], not pooled
    pooled = embed_client.post("/feature-extraction", json={"inputs": ["好", "服务很好"],
                                                            "parameters": {"pooling": "cls", "normalize": True}})
    assert pooled.json() == as_json(encoder(["好", "服务很好"], pooling="cls", normalize=True))


def test_info_health_metrics(embed_server, embed_client):
    info = embed_client.get("/info").json()
    assert info["model_id"] == "demo-mlm" and info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert (info["max_input_length"], info["max_client_batch_size"], info["payload_limit"]) == (64, 4, 4000)
    for field in ("model_dtype", "max_concurrent_requests", "max_batch_tokens", "max_batch_requests", "version",
                  "auto_truncate"):
        assert field in info
    with embed_server.client() as anonymous:  # /health and /metrics need no key, as in TEI
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/").status_code == 200
        before = metric(anonymous.get("/metrics").text, "te_request_success", method="batch", route="/embed")
        embed_client.post("/embed", json={"inputs": ["好", "好"]})
        text = anonymous.get("/metrics").text
    assert metric(text, "te_request_success", method="batch", route="/embed") == before + 1
    assert "# TYPE te_batch_next_size histogram" in text and metric(text, "te_batch_next_size_count") >= 1
    assert metric(text, "te_queue_size") == 0 and metric(text, "te_requests_in_flight") == 0


def test_api_key(embed_server):
    with embed_server.client() as client:
        check_error(client.post("/embed", json={"inputs": "好"}), 401, "unauthorized")
        check_error(client.get("/info"), 401, "unauthorized")
        check_error(client.post("/embed", json={"inputs": "好"}, headers={"Authorization": "Bearer wrong"}), 401,
                    "unauthorized")
        check_error(client.post("/embed", json={"inputs": "好"}, headers={"Authorization": KEY}), 401, "unauthorized")
        assert client.post("/embed", json={"inputs": "好"}, headers=AUTH).status_code == 200


def test_request_errors(embed_client):
    check_error(embed_client.post("/embed", content=b'{"inputs": '), 422, "validation", "body", "not valid JSON")
    check_error(embed_client.post("/embed", content=b'["x"]'), 422, "validation", "body", "JSON object")
    check_error(embed_client.post("/embed", json={"input": "x"}), 422, "validation", "input", "unknown field")
    check_error(embed_client.post("/embed", json={"inputs": 5}), 422, "validation", "inputs")
    check_error(embed_client.post("/embed", json={"inputs": ["a", None]}), 422, "validation", "inputs[1]")
    check_error(embed_client.post("/embed", json={"inputs": "a", "normalize": "no"}), 422, "validation", "normalize")
    check_error(embed_client.post("/embed", json={"inputs": []}), 400, "empty", "inputs", "cannot be empty")
    check_error(embed_client.post("/embed", json={"inputs": ["a"] * 5}), 422, "validation", "inputs",
                "batch size 5 > maximum allowed batch size 4")
    check_error(embed_client.post("/feature-extraction", json={"inputs": "a", "parameters": {"pooling": "max"}}),
                422, "validation", "parameters.pooling")
    check_error(embed_client.post("/predict", json={"inputs": "a"}), 404, "not_found", words="POST /embed")
    check_error(embed_client.get("/embed"), 405, "method_not_allowed")


def test_oversized_bodies_get_413(embed_client):
    big = {"inputs": "好" * 3000}  # 9 kB of UTF-8 against a 4000-byte limit
    check_error(embed_client.post("/embed", json=big), 413, "payload_too_large", words="4000 bytes")

    def chunks():  # no Content-Length: the limit is applied while reading
        yield b'{"inputs": "'
        for _ in range(10):
            yield "好".encode() * 200
        yield b'"}'

    check_error(embed_client.post("/embed", content=chunks()), 413, "payload_too_large")
    assert embed_client.post("/embed", json={"inputs": "好"}).status_code == 200  # still serving


def test_concurrent_clients_get_the_pipelines_embeddings(embed_server, encoder):
    texts = reviews()
    results: dict = {}

    def client_thread(k: int) -> None:
        with embed_server.client(headers=AUTH) as client:
            for i in range(k, len(texts), 8):
                results[i] = client.post("/embed", json={"inputs": texts[i]}).json()

    threads = [threading.Thread(target=client_thread, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results) == list(range(len(texts)))
    assert all(results[i] == as_json([encoder(texts[i], pooling="mean", normalize=True)]) for i in results)


# ---------------------------------------------------------------------------------------------
# text-classification: TEI's /predict, the task route, concurrency and batching
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def classify_server():
    with ServerProcess("--task", "text-classification") as s:
        yield s


@pytest.fixture(scope="module")
def classifier():
    return reference("text-classification")


def test_predict_shapes_are_teis(classify_server, classifier):
    every = {"top_k": None}
    with classify_server.client() as client:
        single = client.post("/predict", json={"inputs": "这本书很好看"}).json()
        assert single == as_json(classifier(["这本书很好看"], **every)[0])
        assert [p["label"] for p in single] == ["positive", "negative"] and single[0]["score"] > single[1]["score"]
        pair = client.post("/predict", json={"inputs": ["这本书", "很好看"]}).json()
        assert pair == as_json(classifier([{"text": "这本书", "text_pair": "很好看"}], **every)[0])
        batch = client.post("/predict", json={"inputs": [["好评"], ["太差了", "不推荐"]]}).json()
        assert batch == as_json(classifier(["好评", {"text": "太差了", "text_pair": "不推荐"}], **every))
        raw = client.post("/predict", json={"inputs": "好评", "raw_scores": True}).json()
        assert raw == as_json(classifier(["好评"], top_k=None, function_to_apply="none")[0])
        main = client.post("/", json={"inputs": "好评"}).json()
        assert main == client.post("/predict", json={"inputs": "好评"}).json()
        check_error(client.post("/predict", json={"inputs": ["a", "b", "c"]}), 422, "validation", "inputs")
        check_error(client.post("/predict", json={"inputs": "a", "raw_scores": 1}), 422, "validation", "raw_scores")


def test_text_classification_task_route_is_hugging_faces(classify_server, classifier):
    with classify_server.client() as client:
        assert client.post("/text-classification", json={"inputs": "好评"}).json() == as_json(classifier("好评"))
        answer = client.post("/text-classification", json={"inputs": ["好评", {"text": "太差", "text_pair": "了"}],
                                                           "parameters": {"top_k": None}}).json()
        assert answer == as_json(classifier(["好评", {"text": "太差", "text_pair": "了"}], top_k=None))
        fn = client.post("/text-classification", json={"inputs": "好评", "parameters": {"function_to_apply": "sigmoid",
                                                                                         "top_k": 1}})
        assert fn.json() == as_json(classifier("好评", function_to_apply="sigmoid", top_k=1))
        check_error(client.post("/text-classification", json={"inputs": "好评", "parameters": {"top_k": -1}}), 422,
                    "validation", "parameters.top_k")
        check_error(client.post("/text-classification", json={"inputs": {"text": "a", "pair": "b"}}), 422,
                    "validation", "inputs.pair")
        check_error(client.post("/text-classification", json={"inputs": "好", "options": {"wait_for_model": 1}}), 422,
                    "validation", "options.wait_for_model")


def test_sixteen_concurrent_clients_are_batched_and_get_their_own_results(classify_server, classifier):
    texts = reviews()
    expected = {t: as_json(classifier([t], top_k=None)[0]) for t in texts}
    answers: list = []
    with classify_server.client() as client:
        before = client.get("/metrics").text

    def client_thread(k: int) -> None:
        with classify_server.client() as client:
            for j in range(15):
                text = texts[(k * 15 + j) % len(texts)]
                answer = client.post("/predict", json={"inputs": text})
                answers.append((text, answer.status_code, answer.json()))

    threads = [threading.Thread(target=client_thread, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert len(answers) == 16 * 15 and all(status == 200 for _, status, _ in answers)
    assert all(matches(body, expected[text], "text-classification") for text, _, body in answers)
    with classify_server.client() as client:
        after = client.get("/metrics").text
    passes = metric(after, "te_batch_next_size_count") - metric(before, "te_batch_next_size_count")
    rows = metric(after, "te_batch_next_size_sum") - metric(before, "te_batch_next_size_sum")
    assert rows == 16 * 15 and passes < rows  # some passes held several requests


# ---------------------------------------------------------------------------------------------
# A model error: 500 for that request, the server goes on
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pairless_model(tmp_path_factory):
    """A classifier with one token type: a text pair (token type 1) makes its forward pass raise."""
    directory = tmp_path_factory.mktemp("pairless")
    config = tiny_config(vocab_size=len(VOCAB), max_position_embeddings=64, type_vocab_size=1,
                         id2label={0: "negative", 1: "positive"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RoFormerForSequenceClassification(config, random_weights(config, 3), init_seed=3)
    model.save_pretrained(directory)
    write_vocab(directory)
    return directory


def test_a_model_error_is_a_500_and_the_server_keeps_serving(pairless_model):
    model = str(pairless_model)
    classifier = reference("text-classification", model)
    tok = classifier.tokenizer
    pair, single = ["这本书", "好看"], "这本书很好看"
    assert len(tok(*pair)["input_ids"]) == len(tok(single)["input_ids"])  # same length: they may share a pass
    with ServerProcess("--task", "text-classification", "--model", model) as server:
        results: list = []

        def send(inputs) -> None:
            with server.client() as client:
                answer = client.post("/predict", json={"inputs": inputs})
                results.append((inputs, answer.status_code, answer.json()))

        threads = [threading.Thread(target=send, args=(pair if i % 4 == 0 else single,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(results) == 16
        for inputs, status, body in results:
            if inputs is pair:
                assert status == 500 and body["error_type"] == "backend", body
                assert "token_type_ids" in body["error"] and body["error"].startswith("model error: ValueError")
            else:
                assert status == 200 and matches(body, as_json(classifier([single], top_k=None)[0]),
                                                 "text-classification")
        with server.client() as client:
            assert client.get("/health").status_code == 200
            assert client.post("/predict", json={"inputs": single}).status_code == 200
            assert metric(client.get("/metrics").text, "te_request_failure", err="backend", route="/predict") == 4
        assert server.terminate() == 0


# ---------------------------------------------------------------------------------------------
# A full server: 429
# ---------------------------------------------------------------------------------------------
def test_requests_beyond_max_concurrent_requests_get_429():
    slow = ["这本书很好看" * 60] * 8  # ~80 ms each: the twelve requests overlap
    with ServerProcess("--task", "text-classification", "--max-concurrent-requests", "2",
                       "--max-batch-requests", "1") as server:
        statuses: list = []

        def send() -> None:
            with server.client() as client:
                answer = client.post("/predict", json={"inputs": [[t] for t in slow], "truncate": True})
                statuses.append((answer.status_code, answer.json()))

        threads = [threading.Thread(target=send) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        codes = sorted(code for code, _ in statuses)
        assert len(codes) == 12 and 200 in codes and 429 in codes and set(codes) == {200, 429}
        assert all(body == {"error": "Model is overloaded", "error_type": "overloaded"}
                   for code, body in statuses if code == 429)
        with server.client() as client:  # the queue never grew beyond two requests; now it is free again
            assert client.post("/predict", json={"inputs": "好评"}).status_code == 200
            assert metric(client.get("/metrics").text, "te_request_failure", err="overloaded",
                          route="/predict") == codes.count(429)


# ---------------------------------------------------------------------------------------------
# token-classification, fill-mask, question-answering, sentence-similarity: Inference-API task routes
# ---------------------------------------------------------------------------------------------
def test_token_classification_route():
    ner = reference("token-classification")
    texts = ["张三在北京工作", "李四是上海人"]
    with ServerProcess("--task", "ner") as server, server.client() as client:
        assert client.post("/token-classification", json={"inputs": texts[0]}).json() == as_json(ner(texts[0]))
        params = {"aggregation_strategy": "simple", "ignore_labels": []}
        answer = client.post("/", json={"inputs": texts, "parameters": params}).json()
        assert answer == as_json(ner(texts, **params))
        check_error(client.post("/token-classification", json={"inputs": "x", "parameters": {"stride": -1}}), 422,
                    "validation", "parameters.stride")
        assert client.get("/info").json()["model_type"]["token_classifier"]["id2label"]["0"] == "O"


def test_fill_mask_route():
    fill = reference("fill-mask")
    with ServerProcess("--task", "fill-mask") as server, server.client() as client:
        text = "水在零度时会[MASK]。"
        assert matches(client.post("/fill-mask", json={"inputs": text}).json(), as_json(fill(text)), "fill-mask")
        params = {"top_k": 3, "targets": ["冰", "结", "好"]}
        two = client.post("/", json={"inputs": [text, "这本书很[MASK]看"], "parameters": params}).json()
        assert matches(two, as_json(fill([text, "这本书很[MASK]看"], **params)), "fill-mask")
        check_error(client.post("/fill-mask", json={"inputs": "没有掩码"}), 422, "validation", "inputs",
                    "no mask token")
        check_error(client.post("/fill-mask", json={"inputs": text, "parameters": {"top_k": 0}}), 422, "validation",
                    "parameters.top_k")
        check_error(client.post("/fill-mask", json={"inputs": text, "stream": True}), 422, "validation", "stream")


def test_question_answering_route(tmp_path):
    model = str(make_model_dir(tmp_path / "qa", "qa"))
    qa = reference("question-answering", model)
    one = {"question": "谁在北京工作", "context": "张三在北京工作。今天天气很好。" * 3}
    two = [one, {"question": "天气", "context": "今天天气很好"}]
    with ServerProcess("--task", "question-answering", "--model", model) as server, server.client() as client:
        assert client.post("/question-answering", json={"inputs": one}).json() == as_json(qa(one))
        params = {"top_k": 2, "max_seq_len": 24, "doc_stride": 8}
        answer = client.post("/", json={"inputs": two, "parameters": params}).json()
        assert matches(answer, as_json(qa(two, **params)), "question-answering")
        check_error(client.post("/question-answering", json={"inputs": {"question": "x"}}), 422, "validation",
                    "inputs.context")
        check_error(client.post("/question-answering", json={"inputs": {"question": "x", "context": ""}}), 422,
                    "validation", "inputs", "cannot be empty")


def test_sentence_similarity_routes():
    model = str(demo_model_dir("feature-extraction"))
    sim = reference("sentence-similarity", model, pooling="mean")
    query = {"source_sentence": "这本书很好看", "sentences": ["这本书不错", "今天天气很好", "电影很无聊"]}
    with ServerProcess("--task", "sentence-similarity", "--model", model, "--pooling", "mean") as server, \
            server.client() as client:
        scores = client.post("/similarity", json={"inputs": query}).json()
        assert scores == as_json(sim(query)) and len(scores) == 3
        assert client.post("/sentence-similarity", json={"inputs": [query, query]}).json() == as_json(sim([query] * 2))
        check_error(client.post("/similarity", json={"inputs": {"source_sentence": "a", "sentences": "b"}}), 422,
                    "validation", "inputs.sentences")
        check_error(client.post("/similarity", json={"inputs": {"source_sentence": "a", "sentences": ["b"] * 33}}),
                    422, "validation", "inputs.sentences", "maximum allowed batch size 32")


def asgi(app, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
    """One request straight into the ASGI application (no server): (status, JSON body)."""
    async def call() -> tuple[int, dict | None]:
        messages = [{"type": "http.request", "body": json.dumps(body).encode() if body else b"", "more_body": False}]
        sent: list = []

        async def receive() -> dict:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
                 "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http",
                 "headers": [(b"content-type", b"application/json")], "server": ("127.0.0.1", 0),
                 "client": ("127.0.0.1", 1)}
        await app(scope, receive, send)
        data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return sent[0]["status"], json.loads(data) if data else None

    return asyncio.run(call())


def test_service_unavailable_while_stopping():
    """503 once the batcher no longer takes work (the short window of a stop), in process."""
    from roformer_np.serve.app import create_app
    from roformer_np.serve.settings import ServeSettings

    app = create_app(ServeSettings(task="text-classification", backend=BACKEND))
    batcher = app.state.server.batcher
    batcher.start()
    assert asgi(app, "GET", "/health") == (200, None)
    status, body = asgi(app, "POST", "/predict", {"inputs": "这本书很好看"})
    assert status == 200 and [p["label"] for p in body] == ["positive", "negative"]
    assert batcher.stop(30)
    assert asgi(app, "GET", "/health") == (503, {"error": "unhealthy", "error_type": "unhealthy"})
    assert asgi(app, "POST", "/predict", {"inputs": "好评"}) == (503, {"error": "the server is shutting down",
                                                                       "error_type": "unhealthy"})


def test_low_precision_weights_are_served():
    """``--quantize int8`` / ``--dtype bf16`` load the model so, /info names the weights' precision, and the
    answers are the low-precision pipeline's."""
    text = "这家店的面条非常好吃"
    for flags, precision, options in ((("--quantize", "int8"), "int8", {"quantize": "int8"}),
                                      (("--dtype", "bf16"), "bfloat16", {"dtype": "bfloat16"})):
        expected = reference("text-classification", **options)
        with ServerProcess("--task", "text-classification", *flags) as server, server.client() as client:
            assert client.get("/info").json()["model_dtype"] == precision
            answer = client.post("/predict", json={"inputs": text}).json()
            assert matches(answer, as_json(expected(text, top_k=None)), "text-classification")
