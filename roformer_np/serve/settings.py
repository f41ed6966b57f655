"""The server's options: one frozen object, every value checked once (ValueError naming the option)."""

from __future__ import annotations

from dataclasses import dataclass

LENGTH_GROUPING = ("exact", "padded")
FORWARD_PROCESS = ("auto", "on", "off")

# text-embeddings-inference's defaults where it has the option (max_batch_tokens is lower: a CPU)
DEFAULTS = {
    "max_concurrent_requests": 512,
    "max_batch_tokens": 8192,
    "max_batch_requests": 64,
    "max_client_batch_size": 32,
    "payload_limit": 2_000_000,
}


@dataclass(frozen=True)
class ServeSettings:
    """What the routes and the batcher need to know; built by :mod:`.cli` from the command line.

    ``max_input_length`` None means the model's limit (``min(tokenizer.model_max_length,
    max_position_embeddings)``), resolved when the model is loaded.
    """

    task: str
    model: str | None = None  # a directory or Hub id; None: the demo model of the task
    model_id: str | None = None  # the name /info and /v1/embeddings report (default: from ``model``)
    backend: str | None = None
    threads: int | None = None
    dtype: str | None = None  # float32 / float64 / bfloat16 (bf16 weights); None: the checkpoint's own
    quantize: str | None = None  # "int8": int8 weights
    pooling: str | None = None  # feature-extraction / sentence-similarity: cls, mean or pooler
    max_concurrent_requests: int = DEFAULTS["max_concurrent_requests"]
    max_batch_tokens: int = DEFAULTS["max_batch_tokens"]
    max_batch_requests: int = DEFAULTS["max_batch_requests"]
    max_client_batch_size: int = DEFAULTS["max_client_batch_size"]
    max_input_length: int | None = None
    payload_limit: int = DEFAULTS["payload_limit"]
    auto_truncate: bool = False
    length_grouping: str = "exact"
    forward_process: str = "auto"  # forward passes in a process of their own (auto: with 2+ CPUs, not generation)
    api_key: str | None = None

    def __post_init__(self) -> None:
        for name in ("max_concurrent_requests", "max_batch_tokens", "max_batch_requests", "max_client_batch_size",
                     "payload_limit"):
            _check_positive(name, getattr(self, name))
        for name in ("threads", "max_input_length"):
            if getattr(self, name) is not None:
                _check_positive(name, getattr(self, name))
        if self.length_grouping not in LENGTH_GROUPING:
            raise ValueError(f"length_grouping must be one of {LENGTH_GROUPING}, got {self.length_grouping!r}")
        if self.forward_process not in FORWARD_PROCESS:
            raise ValueError(f"forward_process must be one of {FORWARD_PROCESS}, got {self.forward_process!r}")
        if self.api_key is not None and not self.api_key:
            raise ValueError("api_key must not be empty (leave it out to serve without a key)")


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
