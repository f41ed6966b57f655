"""Text streamers for ``generate(streamer=...)``, as Hugging Face transformers 4.56's ``TextStreamer`` and
``TextIteratorStreamer``.

``generate()`` calls ``put`` with the prompt first (``[1, S]`` or ``[S]``), then with every new token
(``[1]``), and ``end()`` once. The streamer decodes all tokens since the last flush with the tokenizer's
``decode(ids, **decode_kwargs)`` and hands on only text that later tokens cannot change: everything when the
text ends with a newline (then it starts afresh) or with a CJK ideograph, else up to the last space (a word
may still grow). Chinese text therefore streams character by character.
"""

from __future__ import annotations

import inspect
import math
from queue import Queue
from typing import Any

import numpy as np

__all__ = ["BaseStreamer", "TextStreamer", "TextIteratorStreamer"]

# Hugging Face's CJK blocks for "print right away" (the same as BERT's, roformer_np.tokenizer_text.CJK_RANGES;
# kept here so that importing the streamers stays light)
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


class BaseStreamer:
    """What ``generate()`` calls: ``put(tokens)`` for the prompt and each new token, ``end()`` at the end."""

    def put(self, value: Any) -> None:
        raise NotImplementedError()

    def end(self) -> None:
        raise NotImplementedError()


def _check_decode_kwargs(tokenizer: Any, decode_kwargs: dict) -> None:
    """TypeError now, not at the first token, for a keyword the tokenizer's ``decode`` does not take."""
    decode = getattr(tokenizer, "decode", None)
    if not callable(decode):
        raise ValueError(f"tokenizer must have a decode() method, got {type(tokenizer).__name__}")
    try:
        params = list(inspect.signature(decode).parameters.values())
    except (TypeError, ValueError):  # no signature to check: decode will complain itself
        return
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    names = {p.name for p in params[1:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(decode_kwargs) - names)
    if unknown:
        raise TypeError(f"{type(tokenizer).__name__}.decode() got unexpected keyword(s) {', '.join(unknown)} "
                        f"(it takes {', '.join(sorted(names)) or 'none'})")


class TextStreamer(BaseStreamer):
    """Prints the generated text to stdout (``print(..., flush=True, end="")``) as soon as it is final, and a
    newline at the end. Batch size 1 only. ``skip_prompt=True`` leaves out the first ``put`` (the prompt);
    ``decode_kwargs`` go to ``tokenizer.decode`` (``skip_special_tokens``, ``clean_up_tokenization_spaces``).
    Override :meth:`on_finalized_text` to send the text elsewhere."""

    def __init__(self, tokenizer: Any, skip_prompt: bool = False, **decode_kwargs: Any):
        if not isinstance(skip_prompt, (bool, np.bool_)):
            raise ValueError(f"skip_prompt must be True or False, got {skip_prompt!r}")
        _check_decode_kwargs(tokenizer, decode_kwargs)
        self.tokenizer = tokenizer
        self.skip_prompt = bool(skip_prompt)
        self.decode_kwargs = decode_kwargs
        self.token_cache: list[int] = []  # ids since the last newline
        self.print_len = 0  # characters of their text already handed on
        self.next_tokens_are_prompt = True

    def put(self, value: Any) -> None:
        """Take the prompt ([1, S] or [S]) or a new token ([1]); hand on the text that is now final."""
        tokens = np.asarray(value)
        if tokens.ndim > 1 and tokens.shape[0] > 1:
            raise ValueError("TextStreamer only supports batch size 1")
        if tokens.ndim == 2:
            tokens = tokens[0]
        if tokens.ndim > 1 or (tokens.size and not np.issubdtype(tokens.dtype, np.integer)):
            raise ValueError(f"value must be token ids of shape [1, S], [S] or [1], got {tokens.dtype} {tokens.shape}")
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        self.token_cache.extend(int(t) for t in tokens.reshape(-1))
        text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
        if text.endswith("\n"):  # a finished line: flush and start a new cache
            printable = text[self.print_len:]
            self.token_cache = []
            self.print_len = 0
        elif text and self._is_chinese_char(ord(text[-1])):  # an ideograph is a whole word
            printable = text[self.print_len:]
            self.print_len += len(printable)
        else:  # up to the last space: the last word may still change
            printable = text[self.print_len:text.rfind(" ") + 1]
            self.print_len += len(printable)
        self.on_finalized_text(printable)

    def end(self) -> None:
        """Hand on what is left, then signal the end (TextStreamer prints a newline)."""
        if self.token_cache:
            printable = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)[self.print_len:]
            self.token_cache = []
            self.print_len = 0
        else:
            printable = ""
        self.next_tokens_are_prompt = True
        self.on_finalized_text(printable, stream_end=True)

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        """Print ``text`` (with a newline after it at the end of the stream)."""
        print(text, flush=True, end="" if not stream_end else None)

    @staticmethod
    def _is_chinese_char(cp: int) -> bool:
        """Whether code point ``cp`` is a CJK ideograph (Hangul and kana are not)."""
        return any(first <= cp <= last for first, last in _CJK_RANGES)


class TextIteratorStreamer(TextStreamer):
    """Puts the final pieces of text in a queue instead of printing them; iterate over the streamer (usually
    in another thread than ``generate()``) to get them. ``timeout`` (seconds, None = wait forever) bounds each
    wait: ``queue.Empty`` when nothing arrives in time."""

    def __init__(self, tokenizer: Any, skip_prompt: bool = False, timeout: float | None = None,
                 **decode_kwargs: Any):
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        if timeout is not None and (isinstance(timeout, (bool, np.bool_))
                                    or not isinstance(timeout, (int, float, np.integer, np.floating))
                                    or not math.isfinite(timeout) or timeout < 0):
            raise ValueError(f"timeout must be None or a finite number of seconds >= 0, got {timeout!r}")
        self.text_queue: Queue = Queue()
        self.stop_signal = None
        self.timeout = None if timeout is None else float(timeout)

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        """Queue ``text``; at the end of the stream also the stop signal."""
        self.text_queue.put(text, timeout=self.timeout)
        if stream_end:
            self.text_queue.put(self.stop_signal, timeout=self.timeout)

    def __iter__(self) -> TextIteratorStreamer:
        return self

    def __next__(self) -> str:
        value = self.text_queue.get(timeout=self.timeout)
        if value is self.stop_signal:
            raise StopIteration()
        return value
