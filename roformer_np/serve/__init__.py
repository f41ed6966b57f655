"""``roformer-np serve``: one pipeline behind an HTTP API that text-embeddings-inference clients speak.

Install with ``pip install "roformer_np[serve]"`` (uvicorn + Starlette). The modules, one job each:

* :mod:`.settings` — the server's options (limits, batching), checked once;
* :mod:`.schemas` — request bodies parsed and validated (422 naming the field), TEI's error shape;
* :mod:`.runner` — a pipeline's documented steps (check, preprocess, forward, postprocess) driven so that
  features of several requests share a forward pass and each result is the request's own ``pipeline()`` result;
* :mod:`.batching` — the bounded queue and the worker threads that coalesce features into batches;
* :mod:`.forward_process` — the forward passes in a process of their own, off the event loop's interpreter lock;
  :mod:`.wire` — its messages (JSON and raw array bytes, no pickle);
* :mod:`.streaming` — token events of text generation (server-sent events);
* :mod:`.metrics` — Prometheus text exposition;
* :mod:`.app` — the Starlette routes; :mod:`.cli` — the ``serve`` subcommand and uvicorn start-up.

Importing this package imports neither uvicorn nor Starlette (``roformer_np.cli`` registers the subcommand
through :mod:`.cli`); :func:`roformer_np.serve.app.create_app` does.
"""
