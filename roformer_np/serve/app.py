"""The Starlette application: text-embeddings-inference's routes, OpenAI's /v1/embeddings, Inference-API task
routes and text-generation-inference's /generate and /generate_stream, over one pipeline and one batcher.

Routes by task (every server also has ``GET /health``, ``GET /info``, ``GET /metrics``, ``POST /tokenize``,
``POST /decode``; ``POST /`` is the task's main route):

* feature-extraction: ``/embed``, ``/embed_all``, ``/v1/embeddings`` (and ``/embeddings``), ``/feature-extraction``
* text-classification: ``/predict``, ``/text-classification``
* token-classification, fill-mask, question-answering: ``/token-classification``, ``/fill-mask``,
  ``/question-answering``
* text-generation: ``/text-generation`` (``"stream": true`` for events), ``/generate``, ``/generate_stream``
* sentence-similarity: ``/similarity``, ``/sentence-similarity``

Every request is admitted (or refused with 429 when ``max_concurrent_requests`` are in flight), its body read
within ``payload_limit`` (413), parsed (422 naming the field), prepared on the event loop (tokenized: a bad
input fails here) and queued; the batcher's thread computes it. ``/health`` and ``/metrics`` need no key, as
in TEI; with an API key every other route wants ``Authorization: Bearer KEY`` (401).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable
from typing import Any, Callable

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .. import __version__
from ..pipelines.text_classification import truncation_length
from . import schemas
from .batching import Batcher, ModelError
from .forward_process import ForwardProcess, wanted
from .metrics import CONTENT_TYPE, Metrics
from .runner import PipelineRunner, Prepared, load_pipeline
from .schemas import RequestError
from .settings import ServeSettings
from .streaming import Cancelled, TokenStreamer, jsonable, sse

PUBLIC = ("/health", "/metrics")
logger = logging.getLogger("roformer_np.serve")


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=jsonable)
    except ValueError:  # NaN or infinity in a result: not JSON
        raise ModelError(ValueError("the result holds NaN or infinity")) from None
    return Response(text.encode("utf-8"), status, headers=headers, media_type="application/json")


class Server:
    """The loaded pipeline and what every route shares (settings, batcher, metrics, admission count)."""

    def __init__(self, settings: ServeSettings, pipe: Any, forward_process: Any = None) -> None:
        self.settings = settings
        self.forward_process = forward_process  # a ForwardProcess computing the passes, or None: this process
        self.pipe = pipe
        self.task = pipe.task
        config, tokenizer = pipe.model.config, pipe.tokenizer
        model_limit = truncation_length(tokenizer, config, None)
        limit = settings.max_input_length or model_limit
        if limit > model_limit:
            raise ValueError(f"max_input_length ({limit}) must be at most the model's limit of {model_limit} tokens")
        if settings.max_batch_tokens < limit:
            raise ValueError(f"max_batch_tokens ({settings.max_batch_tokens}) must be at least max_input_length "
                             f"({limit}), so that any input fits a forward pass")
        self.max_input_length = limit
        self.model_name = settings.model_id or settings.model or f"roformer_np/demo:{self.task}"
        self.hidden_size = int(config.hidden_size)
        self.pooling = settings.pooling or ("pooler" if self.task == "sentence-similarity" else "mean")
        self.metrics = Metrics()
        self.runner = PipelineRunner(pipe, limit, forward_process.forward if forward_process is not None else None,
                                     exact=settings.length_grouping == "exact")
        self.batcher = Batcher(self.runner, settings.max_batch_tokens, settings.max_batch_requests,
                               settings.length_grouping, self.metrics, workers=2 if forward_process else 1)
        self.in_flight = 0
        self.info = self._info()

    def _info(self) -> dict:
        s, config = self.settings, self.pipe.model.config
        if self.task == "feature-extraction":
            model_type = {"embedding": {"pooling": self.pooling}}
        elif self.task in ("text-classification", "token-classification"):
            labels = {str(k): v for k, v in config.id2label.items()}
            kind = "classifier" if self.task == "text-classification" else "token_classifier"
            model_type = {kind: {"id2label": labels, "label2id": {v: int(k) for k, v in labels.items()}}}
        else:
            model_type = {self.task.replace("-", "_"): {}}
        from ..backend import get_kernels

        return {
            "model_id": self.model_name, "model_sha": None,
            # the weights' precision (bfloat16 / int8 weights compute in float32), as TEI names its dtype
            "model_dtype": getattr(self.pipe.model, "precision", None)
            or str(np.dtype(getattr(self.pipe.model, "dtype", np.float32))),
            "served_model_name": self.model_name, "model_type": model_type,
            "max_concurrent_requests": s.max_concurrent_requests, "max_input_length": self.max_input_length,
            "max_batch_tokens": s.max_batch_tokens, "max_batch_requests": s.max_batch_requests,
            "max_client_batch_size": s.max_client_batch_size, "auto_truncate": s.auto_truncate,
            "tokenization_workers": 1, "version": __version__, "sha": None, "docker_label": None,
            # beyond TEI's fields
            "task": self.task, "backend": get_kernels(s.backend).name,
            "length_grouping": s.length_grouping, "payload_limit": s.payload_limit,
        }

    # -- admission and bodies ---------------------------------------------------------------------
    def authorise(self, request: Request) -> None:
        key = self.settings.api_key
        if key is None or request.url.path in PUBLIC or (request.url.path == "/" and request.method == "GET"):
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), f"Bearer {key}".encode()):
            raise RequestError(401, "missing or wrong API key: send `Authorization: Bearer <key>`", "unauthorized")

    async def read_body(self, request: Request) -> dict:
        limit = self.settings.payload_limit
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestError(413, f"the body ({declared} bytes) is larger than the limit of {limit} bytes",
                               "payload_too_large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"the body is larger than the limit of {limit} bytes", "payload_too_large")
            chunks.append(chunk)
        return schemas.parse_json(b"".join(chunks))

    async def compute(self, prepared: Prepared) -> Any:
        self.metrics.input_length.observe(prepared.prompt_tokens)
        return await self.batcher.run(prepared)


Handler = Callable[[Server, Request, dict], Awaitable[Response]]


def endpoint(server: Server, route: str, handler: Handler, needs_body: bool = True, admitted: bool = True,
             openai: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """A route: auth, admission (429), body (413/422), the handler, errors as TEI answers them, metrics."""

    async def run(request: Request) -> Response:
        start = time.perf_counter()
        metrics = server.metrics
        admission = _Admission(server)
        streaming = False
        try:
            server.authorise(request)
            if admitted:
                admission.admit()
            body = await server.read_body(request) if needs_body else {}
            method = "batch" if isinstance(body.get("inputs", body.get("input")), list) else "single"
            metrics.request_count.inc(method=method, route=route)
            response = await handler(server, request, body)
            if isinstance(response, StreamingResponse):
                streaming = True
                _release_after_stream(server, response, admission, route, start)
            else:
                metrics.request_duration.observe(time.perf_counter() - start, route=route)
            metrics.request_success.inc(method=method, route=route)
            return response
        except RequestError as exc:
            metrics.request_failure.inc(err=exc.error_type, route=route)
            return json_response(exc.openai_body() if openai else exc.body(), exc.status)
        except ModelError as exc:
            metrics.request_failure.inc(err="backend", route=route)
            error = RequestError(500, f"model error: {exc}", "backend")
            return json_response(error.openai_body() if openai else error.body(), 500)
        except Exception as exc:  # a bug of this server: still a JSON answer, and the server goes on
            logger.exception("roformer-np serve: %s %s failed", request.method, request.url.path)
            metrics.request_failure.inc(err="internal", route=route)
            error = RequestError(500, f"internal error: {type(exc).__name__}: {exc}", "internal")
            return json_response(error.openai_body() if openai else error.body(), 500)
        finally:
            if not streaming:
                admission.release()

    return run


class _Admission:
    """One request's slot among ``max_concurrent_requests`` (429 when none is free); released once."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.held = False

    def admit(self) -> None:
        server = self.server
        if server.in_flight >= server.settings.max_concurrent_requests:
            raise RequestError(429, "Model is overloaded", "overloaded")
        server.in_flight += 1
        server.metrics.in_flight.set(server.in_flight)
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.server.in_flight -= 1
            self.server.metrics.in_flight.set(self.server.in_flight)


def _release_after_stream(server: Server, response: StreamingResponse, admission: _Admission, route: str,
                          start: float) -> None:
    """The slot of a streamed request is freed when its computation is over (also if the stream is never
    read) or when the stream ends, whichever comes first."""
    iterator = response.body_iterator
    task = getattr(response, "compute_task", None)
    if task is not None:
        task.add_done_callback(lambda _: admission.release())

    async def wrapped() -> Any:
        try:
            async for chunk in iterator:
                yield chunk
        finally:
            admission.release()
            server.metrics.request_duration.observe(time.perf_counter() - start, route=route)

    response.body_iterator = wrapped()


# ---------------------------------------------------------------------------------------------
# TEI routes
# ---------------------------------------------------------------------------------------------
async def health(server: Server, request: Request, body: dict) -> Response:
    if not server.batcher.healthy:
        raise RequestError(503, "unhealthy", "unhealthy")
    return Response(b"", 200)


async def info(server: Server, request: Request, body: dict) -> Response:
    return json_response(server.info)


async def metrics_route(server: Server, request: Request, body: dict) -> Response:
    return Response(server.metrics.render().encode("utf-8"), 200, media_type=CONTENT_TYPE)


def _truncation(server: Server, truncate: bool) -> dict:
    return {"truncation": True, "max_length": server.max_input_length} if truncate else {}


async def embed(server: Server, request: Request, body: dict) -> Response:
    req = schemas.embed_request(body, server.settings.max_client_batch_size, server.settings.auto_truncate,
                                server.hidden_size)
    options = {"pooling": server.pooling, "normalize": req.normalize, **_truncation(server, req.truncate)}
    prepared = server.runner.prepare(req.texts, options, options_field="inputs")
    return json_response(await server.compute(prepared), headers=_token_header(prepared))


async def embed_all(server: Server, request: Request, body: dict) -> Response:
    req = schemas.embed_request(body, server.settings.max_client_batch_size, server.settings.auto_truncate,
                                server.hidden_size, pooled=False)
    prepared = server.runner.prepare(req.texts, {"pooling": None, **_truncation(server, req.truncate)},
                                     options_field="inputs")
    result = await server.compute(prepared)
    return json_response([r[0] for r in result], headers=_token_header(prepared))  # [1, T, C] -> [T, C] each


async def openai_embeddings(server: Server, request: Request, body: dict) -> Response:
    req = schemas.openai_request(body, server.settings.max_client_batch_size, server.hidden_size)
    options = {"pooling": server.pooling, "normalize": True, **_truncation(server, server.settings.auto_truncate)}
    prepared = server.runner.prepare(req.texts, options, options_field="input")
    vectors = await server.compute(prepared)
    if req.encoding_format == "base64":  # little-endian float32 bytes, as OpenAI and TEI send them
        vectors = [base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode("ascii") for v in vectors]
    data = [{"object": "embedding", "embedding": v, "index": i} for i, v in enumerate(vectors)]
    usage = {"prompt_tokens": prepared.prompt_tokens, "total_tokens": prepared.prompt_tokens}
    return json_response({"object": "list", "data": data, "model": server.model_name,
                          "usage": usage})


async def predict(server: Server, request: Request, body: dict) -> Response:
    req = schemas.predict_request(body, server.settings.max_client_batch_size, server.settings.auto_truncate)
    options = {"top_k": None, "function_to_apply": "none" if req.raw_scores else "default",
               **_truncation(server, req.truncate)}
    prepared = server.runner.prepare(req.texts, options, options_field="inputs")
    result = await server.compute(prepared)  # every label, best first, per input
    return json_response(result[0] if req.single else result, headers=_token_header(prepared))


async def tokenize(server: Server, request: Request, body: dict) -> Response:
    req = schemas.tokenize_request(body, server.settings.max_client_batch_size)
    return json_response([_tokens(server.pipe.tokenizer, text, req.add_special_tokens) for text in req.texts])


def _tokens(tokenizer: Any, text: str, add_special_tokens: bool) -> list[dict]:
    """TEI's tokens: id, text, special, and start/stop as UTF-8 byte offsets (null for special tokens)."""
    enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True,
                    return_special_tokens_mask=True)
    ids, offsets, special = enc["input_ids"], enc["offset_mapping"], enc["special_tokens_mask"]
    byte_at = np.concatenate([[0], np.cumsum([len(c.encode("utf-8")) for c in text], dtype=np.int64)])
    names = tokenizer.convert_ids_to_tokens(list(ids))
    out = []
    for token_id, (start, stop), is_special, name in zip(ids, offsets, special, names):
        if is_special:
            out.append({"id": int(token_id), "text": name, "special": True, "start": None, "stop": None})
        else:
            out.append({"id": int(token_id), "text": text[start:stop], "special": False,
                        "start": int(byte_at[start]), "stop": int(byte_at[stop])})
    return out


async def decode(server: Server, request: Request, body: dict) -> Response:
    rows, single = schemas.decode_request(body, server.settings.max_client_batch_size,
                                          int(server.pipe.model.config.vocab_size))
    skip = schemas.get(body, "skip_special_tokens", schemas._bool, True)
    return json_response([server.pipe.tokenizer.decode(row, skip_special_tokens=skip) for row in rows])


def _token_header(prepared: Prepared) -> dict:
    return {"x-compute-tokens": str(prepared.prompt_tokens), "x-compute-type": "cpu"}


# ---------------------------------------------------------------------------------------------
# Inference-API task routes: {"inputs": ..., "parameters": {...}} -> the pipeline's own result
# ---------------------------------------------------------------------------------------------
def _task_inputs(server: Server, body: dict) -> tuple[Any, bool]:
    limit, task = server.settings.max_client_batch_size, server.task
    if task == "question-answering":
        items, single = schemas.object_inputs(body, {"question": schemas._str, "context": schemas._str}, limit)
    elif task == "sentence-similarity":
        items, single = schemas.object_inputs(body, {"source_sentence": schemas._str,
                                                     "sentences": schemas._str_list}, limit)
        for i, item in enumerate(items):  # each sentence is a row too
            if len(item["sentences"]) > limit:
                where = "inputs.sentences" if single else f"inputs[{i}].sentences"
                raise RequestError(422, f"`{where}`: {len(item['sentences'])} sentences > maximum allowed batch "
                                        f"size {limit}", "validation", where)
    elif task == "text-classification" and isinstance(body.get("inputs"), (dict, list)) and (
            isinstance(body["inputs"], dict) or any(isinstance(x, dict) for x in body["inputs"])):
        items, single = _classification_objects(body, limit)
    else:
        items, single = schemas.text_inputs(body, "inputs", limit)
    return (items[0] if single else items), single


def _classification_objects(body: dict, limit: int) -> tuple[list, bool]:
    value = body["inputs"]
    single = isinstance(value, dict)
    listed = [value] if single else value
    if not single:
        schemas.check_batch("inputs", listed, limit)
    out = []
    for i, item in enumerate(listed):
        where = "inputs" if single else f"inputs[{i}]"
        if isinstance(item, str):
            out.append(item)
            continue
        if not isinstance(item, dict):
            raise schemas.invalid(where, 'a string or an object {"text", "text_pair"}', item)
        schemas.check_known(item, ("text", "text_pair"), where + ".")
        schemas._str(where + ".text", item.get("text"))
        schemas.get(item, "text_pair", schemas._str, where=where + ".")
        out.append({k: v for k, v in item.items() if v is not None})
    return out, single


async def task_route(server: Server, request: Request, body: dict) -> Response:
    known = ("inputs", "parameters", "options") + (("stream",) if server.task == "text-generation" else ())
    schemas.check_known(body, known)
    schemas.hf_options(body)
    inputs, _ = _task_inputs(server, body)
    params = schemas.task_parameters(body, server.task)
    if server.task == "text-generation" and schemas.get(body, "stream", schemas._bool, False):
        return _stream(server, inputs, params, details=False)
    prepared = server.runner.prepare(inputs, params)
    return json_response(await server.compute(prepared))


async def similarity(server: Server, request: Request, body: dict) -> Response:
    """TEI's /similarity: ``{"inputs": {"source_sentence", "sentences"}, "parameters": ...}`` -> scores."""
    return await task_route(server, request, body)


# ---------------------------------------------------------------------------------------------
# text-generation-inference's routes
# ---------------------------------------------------------------------------------------------
def _tgi_inputs(body: dict) -> tuple[str, dict, bool]:
    schemas.check_known(body, ("inputs", "parameters", "stream"))
    prompt = body.get("inputs")
    if prompt is None:
        raise RequestError(422, "missing field `inputs`", "validation", "inputs")
    schemas._str("inputs", prompt)
    params, details = schemas.tgi_parameters(body)
    return prompt, params, details


async def generate(server: Server, request: Request, body: dict) -> Response:
    prompt, params, details = _tgi_inputs(body)
    if schemas.get(body, "stream", schemas._bool, False):
        return _stream(server, prompt, params, details)
    prepared = server.runner.prepare(prompt, params)
    result = await server.compute(prepared)
    out = {"generated_text": result[0]["generated_text"]}
    if details:
        out["details"] = generation_details(server, prepared, params)
    return json_response(out)


async def generate_stream(server: Server, request: Request, body: dict) -> Response:
    prompt, params, details = _tgi_inputs(body)
    return _stream(server, prompt, params, details)


def generation_details(server: Server, prepared: Prepared, params: dict) -> dict:
    """TGI's ``details``: why generation stopped, how many tokens it made, the seed."""
    (sequences,) = prepared.extra["outputs"]  # [n, S + new] of the one prompt
    prompt_len = len(prepared.features[0][0].ids)
    config = server.pipe.model.config
    eos = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
    pad = config.pad_token_id
    new = [int(t) for t in np.asarray(sequences)[0, prompt_len:]]
    hit = next((i for i, t in enumerate(new) if t in eos), None)
    if hit is not None:
        count, reason = hit + 1, "eos_token"
    else:
        while new and pad is not None and new[-1] == pad:
            new.pop()
        count, reason = len(new), "length"
        stops = prepared.opts["generate"].get("stop_strings") or []
        stops = [stops] if isinstance(stops, str) else stops
        text = server.pipe.tokenizer.decode(new, skip_special_tokens=True)
        if any(text.replace(" ", "").endswith(s.replace(" ", "")) for s in stops):
            reason = "stop_sequence"
    return {"finish_reason": reason, "generated_tokens": count, "seed": params.get("seed")}


def _stream(server: Server, prompt: Any, params: dict, details: bool) -> Response:
    if not isinstance(prompt, str):
        raise RequestError(422, "`inputs`: a stream takes one prompt (a string)", "validation", "inputs")
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    flag: dict = {"cancelled": False}

    def emit(event: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(queue.put_nowait, event)

    streamer = TokenStreamer(server.pipe.tokenizer, emit, params.get("skip_special_tokens", True),
                             params.get("clean_up_tokenization_spaces", True))
    if params.get("num_beams", 1) > 1:
        raise RequestError(422, "`parameters.num_beams`: a stream needs num_beams=1", "validation",
                           "parameters.num_beams")
    options = {**params, "streamer": streamer, "stopping_criteria": [Cancelled(flag)]}
    prepared = server.runner.prepare(prompt, options, solo=True)

    async def compute() -> None:
        try:
            result = await server.compute(prepared)
            streamer.finish(result[0]["generated_text"], generation_details(server, prepared, params) if details
                            else None)
        except ModelError as exc:
            emit({"error": f"model error: {exc}", "error_type": "backend"})
        except RequestError as exc:
            emit(exc.body())
        emit(None)

    task = asyncio.ensure_future(compute())

    async def events() -> Any:
        try:
            while True:
                event = await queue.get()
                if event is None:
                    break
                yield sse(event)
        finally:
            flag["cancelled"] = True  # a client that left stops the generation; a finished one changes nothing
            await asyncio.shield(task)

    response = StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
    response.compute_task = task  # frees the request's slot when it is done (see endpoint)
    return response


# ---------------------------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------------------------
TASK_ROUTES: dict[str, list[tuple[str, Handler, dict]]] = {
    "feature-extraction": [("/embed", embed, {}), ("/embed_all", embed_all, {}),
                           ("/v1/embeddings", openai_embeddings, {"openai": True}),
                           ("/embeddings", openai_embeddings, {"openai": True}),
                           ("/feature-extraction", task_route, {})],
    "text-classification": [("/predict", predict, {}), ("/text-classification", task_route, {})],
    "token-classification": [("/token-classification", task_route, {})],
    "fill-mask": [("/fill-mask", task_route, {})],
    "question-answering": [("/question-answering", task_route, {})],
    "text-generation": [("/text-generation", task_route, {}), ("/generate", generate, {}),
                        ("/generate_stream", generate_stream, {})],
    "sentence-similarity": [("/similarity", similarity, {}), ("/sentence-similarity", task_route, {})],
}


def create_app(settings: ServeSettings, pipe: Any = None, forward_process: bool = True) -> Starlette:
    """The application for ``settings`` (the pipeline loaded from ``settings.model`` unless given). The passes
    run in a forward process when ``settings.forward_process`` asks for one (never for a given ``pipe``, nor with
    ``forward_process=False``)."""
    process = None
    if pipe is None:
        pipe = load_pipeline(settings)
        if forward_process and wanted(settings, pipe.task):
            process = ForwardProcess(settings)
    try:
        server = Server(settings, pipe, process)
    except BaseException:
        if process is not None:
            process.stop()
        raise
    routes = [
        Route("/health", endpoint(server, "/health", health, needs_body=False, admitted=False), methods=["GET"]),
        Route("/", endpoint(server, "/", health, needs_body=False, admitted=False), methods=["GET"]),
        Route("/info", endpoint(server, "/info", info, needs_body=False, admitted=False), methods=["GET"]),
        Route("/metrics", endpoint(server, "/metrics", metrics_route, needs_body=False, admitted=False),
              methods=["GET"]),
        Route("/tokenize", endpoint(server, "/tokenize", tokenize), methods=["POST"]),
        Route("/decode", endpoint(server, "/decode", decode), methods=["POST"]),
    ]
    task_routes = TASK_ROUTES[server.task]
    for path, handler, extra in task_routes:
        routes.append(Route(path, endpoint(server, path, handler, **extra), methods=["POST"]))
    main_path, main_handler, main_extra = task_routes[0]
    routes.append(Route("/", endpoint(server, main_path, main_handler, **main_extra), methods=["POST"]))
    available = ", ".join(sorted({f"POST {p}" for p, _, _ in task_routes} | {"POST /tokenize", "POST /decode"}))

    async def not_found(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = f"no route {request.method} {request.url.path} on this {server.task} server ({available})"
        return json_response({"error": message, "error_type": "not_found" if exc.status_code == 404 else
                              "method_not_allowed"}, exc.status_code)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        server.batcher.start()
        try:
            yield
        finally:  # uvicorn has waited for the requests in flight; the queue is empty unless it gave up
            await asyncio.get_running_loop().run_in_executor(None, server.batcher.stop, 30.0)
            if server.forward_process is not None:
                server.forward_process.stop()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found, 405: not_found})
    app.state.server = server
    return app
