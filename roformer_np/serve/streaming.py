"""Text generation as server-sent events, in text-generation-inference's format.

Each new token is one event ``data: {"index": i, "token": {"id", "text", "logprob", "special"},
"generated_text": null, "details": null}``; the last token's event carries the whole ``generated_text``
(the pipeline's result, so it equals the non-streamed answer) and, when asked for, ``details``. A failure
after the stream has started is an event ``data: {"error": ..., "error_type": ...}`` (TGI's too).

:class:`TokenStreamer` is what ``generate(streamer=...)`` calls (``put`` with the prompt, then each new token,
then ``end``), on the batcher's thread; it hands events to the event loop through ``emit``. A token's
``text`` is what it adds to the decoded continuation (decoded as the pipeline decodes), so the texts of all
events add up to the continuation. ``logprob`` is null: the scores are not kept.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np

from ..stopping_criteria import StoppingCriteria
from ..streamers import BaseStreamer


def sse(data: Any) -> bytes:
    """One server-sent event holding ``data`` as JSON."""
    return b"data: " + json.dumps(data, ensure_ascii=False, default=jsonable).encode("utf-8") + b"\n\n"


def jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class Cancelled(StoppingCriteria):
    """Every row is done once ``flag["cancelled"]`` is set: generation stops when its client has gone away."""

    def __init__(self, flag: dict) -> None:
        self.flag = flag

    def __call__(self, input_ids: np.ndarray, scores: Any, **kwargs: Any) -> np.ndarray:
        return np.full(np.asarray(input_ids).shape[0], bool(self.flag.get("cancelled")), dtype=bool)


class TokenStreamer(BaseStreamer):
    """Token events of one prompt; the last one is held back until :meth:`finish` gives the final text."""

    def __init__(self, tokenizer: Any, emit: Callable[[dict], None], skip_special_tokens: bool = True,
                 clean_up_tokenization_spaces: bool = True) -> None:
        self.tokenizer = tokenizer
        self.emit = emit
        self.decode_kwargs = {"skip_special_tokens": skip_special_tokens,
                              "clean_up_tokenization_spaces": clean_up_tokenization_spaces}
        self.special = set(tokenizer.all_special_ids)
        self.prompt_ids: list[int] | None = None  # from the first put()
        self.prompt_length = 0
        self.new_ids: list[int] = []
        self.sent = ""  # continuation text already sent
        self.held: dict | None = None

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, **self.decode_kwargs)

    def put(self, value: Any) -> None:
        tokens = np.asarray(value).reshape(-1)
        if self.prompt_ids is None:  # the first call is the prompt
            self.prompt_ids = [int(t) for t in tokens.tolist()]
            self.prompt_length = len(self._decode(self.prompt_ids))
            return
        for token in tokens.tolist():
            self.new_ids.append(int(token))
            text = self._decode(self.prompt_ids + self.new_ids)[self.prompt_length:]
            piece = text[len(self.sent):] if text.startswith(self.sent) else ""
            if text.startswith(self.sent):
                self.sent = text
            if self.held is not None:
                self.emit(self.held)
            self.held = {"index": len(self.new_ids), "token": {"id": int(token), "text": piece, "logprob": None,
                                                               "special": int(token) in self.special},
                         "generated_text": None, "details": None}

    def end(self) -> None:
        """Nothing yet: the last event waits for the pipeline's text (:meth:`finish`)."""

    def finish(self, generated_text: str, details: dict | None) -> None:
        last = self.held or {"index": 0, "token": None, "generated_text": None, "details": None}
        self.held = None
        self.emit({**last, "generated_text": generated_text, "details": details})
