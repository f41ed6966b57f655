"""TextStreamer / TextIteratorStreamer against transformers 4.56.2 (golden/cases/stopping/streamers.json)."""

from __future__ import annotations

import json
import queue
import threading

import numpy as np
import pytest
from conftest import GOLDEN, REPO

import roformer_np
from roformer_np import streamers
from roformer_np.streamers import BaseStreamer, TextIteratorStreamer, TextStreamer

GOLDEN_CASES = json.loads((GOLDEN / "cases" / "stopping" / "streamers.json").read_text(encoding="utf-8"))["cases"]
_TOKENIZERS: dict = {}


class PieceTokenizer:
    """The golden generator's piece-table tokenizer: decode = the pieces joined, id 0 special."""

    def __init__(self, pieces: list[str]):
        self.pieces = pieces

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return "".join(self.pieces[i] for i in ids if not (skip_special_tokens and i == 0))


def _tokenizer(case: dict):
    if case["tokenizer"] == "PieceTokenizer":
        return PieceTokenizer(case["pieces"])
    key = (case["tokenizer"], case["vocab"])
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = getattr(roformer_np, case["tokenizer"])(str(REPO / case["vocab"]))
    return _TOKENIZERS[key]


class Recorder(TextStreamer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.chunks: list[list] = []

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        self.chunks.append([text, stream_end])
        super().on_finalized_text(text, stream_end)


def _feed(streamer: BaseStreamer, case: dict) -> None:
    """What generate() does: the prompt, then each new token as an array [1], then end()."""
    for prompt, new in case["streams"]:
        streamer.put(np.array([prompt] if case["prompt_2d"] else prompt, dtype=np.int64))
        for token in new:
            streamer.put(np.array([token], dtype=np.int64))
        streamer.end()


def _name(case: dict) -> str:
    return f"{case['tokenizer']}-{case.get('text', '')[:8]}-{case['skip_prompt']}-{sorted(case['decode_kwargs'])}"


def test_golden_reaches_every_printing_rule():
    chunks = [c for case in GOLDEN_CASES for c, _ in case["chunks"]]
    assert any(c.endswith("\n") for c in chunks)  # the newline flush (piece tokenizer)
    assert any("\u4e00" <= c[-1:] <= "\u9fff" for c in chunks)  # CJK printed at once
    assert any(c.endswith(" ") and len(c) > 1 for c in chunks)  # up to the last space
    assert any("[UNK]" in c for c in chunks) and any("[CLS]" in c for c in chunks)
    assert {c["tokenizer"] for c in GOLDEN_CASES} == {"RoFormerTokenizer", "RoFormerTokenizerFast", "BertTokenizer",
                                                      "BertTokenizerFast", "PieceTokenizer"}


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=[_name(c) for c in GOLDEN_CASES])
def test_text_streamer_chunks_match_hugging_face(case, capsys, monkeypatch):
    printed = []
    real_print = print

    def spy(*args, **kwargs):
        printed.append((args, kwargs))
        real_print(*args, **kwargs)

    monkeypatch.setattr(streamers, "print", spy, raising=False)
    streamer = Recorder(_tokenizer(case), skip_prompt=case["skip_prompt"], **case["decode_kwargs"])
    _feed(streamer, case)
    assert streamer.chunks == case["chunks"]
    assert printed == [((text, ), {"flush": True, "end": None if end else ""}) for text, end in case["chunks"]]
    assert capsys.readouterr().out == case["stdout"]


def _per_generation(chunks: list[list]) -> list[list[str]]:
    out, current = [], []
    for text, end in chunks:
        current.append(text)
        if end:
            out.append(current)
            current = []
    return out


@pytest.mark.parametrize("case", GOLDEN_CASES[::5], ids=[_name(c) for c in GOLDEN_CASES[::5]])
def test_iterator_streamer_in_another_thread_gives_the_same_text(case):
    streamer = TextIteratorStreamer(_tokenizer(case), skip_prompt=case["skip_prompt"], timeout=60,
                                    **case["decode_kwargs"])
    producer = threading.Thread(target=_feed, args=(streamer, case))
    producer.start()
    received = [list(streamer) for _ in case["streams"]]  # the stop signal ends each generation's iteration
    producer.join()
    assert received == _per_generation(case["chunks"])


def test_prompt_as_1d_or_2d_gives_the_same_chunks():
    tok = roformer_np.BertTokenizer(str(REPO / "tests" / "data" / "real" / "roformer_chinese_char" / "vocab.txt"))
    ids = tok("北京欢迎你 hello world 2021")["input_ids"]
    outs = []
    for prompt in (np.array(ids[:3]), np.array([ids[:3]])):
        streamer = Recorder(tok)
        streamer.put(prompt)
        for t in ids[3:]:
            streamer.put(np.array([t]))
        streamer.end()
        outs.append(streamer.chunks)
    assert outs[0] == outs[1]
    assert "".join(c for c, _ in outs[0]) == tok.decode(ids)  # no newline in WordPiece text: nothing is lost


def test_timeout_raises_queue_empty():
    case = next(c for c in GOLDEN_CASES if c["tokenizer"] == "PieceTokenizer")
    streamer = TextIteratorStreamer(_tokenizer(case), timeout=0.01, **case["decode_kwargs"])
    with pytest.raises(queue.Empty):
        next(iter(streamer))  # nothing was generated
    _feed(streamer, {**case, "skip_prompt": False})
    assert list(streamer) == _per_generation(case["chunks"])[0]  # the queue still works afterwards
    with pytest.raises(queue.Empty):
        next(streamer)


def test_batch_of_two_is_refused():
    streamer = TextStreamer(PieceTokenizer(["a"]))
    with pytest.raises(ValueError, match="batch size 1"):
        streamer.put(np.zeros((2, 3), dtype=np.int64))


@pytest.mark.parametrize("bad", [np.zeros((1, 2, 2), dtype=np.int64), np.array([0.5])])
def test_bad_token_arrays(bad):
    with pytest.raises(ValueError, match="value"):
        TextStreamer(PieceTokenizer(["a"])).put(bad)


def test_constructor_errors():
    tok = PieceTokenizer(["a"])
    with pytest.raises(ValueError, match="skip_prompt"):
        TextStreamer(tok, skip_prompt="yes")
    for bad in (-1, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="timeout"):
            TextIteratorStreamer(tok, timeout=bad)
    with pytest.raises(TypeError, match="skip_special"):
        TextStreamer(tok, skip_special=True)  # a typo of skip_special_tokens
    with pytest.raises(ValueError, match="tokenizer"):
        TextStreamer(object())
    real = roformer_np.BertTokenizer(str(REPO / "tests" / "data" / "real" / "roformer_chinese_char" / "vocab.txt"))
    with pytest.raises(TypeError, match="spaces_between_special_tokens"):
        TextStreamer(real, spaces_between_special_tokens=False)


def test_base_streamer_must_be_subclassed():
    with pytest.raises(NotImplementedError):
        BaseStreamer().put(np.array([1]))
    with pytest.raises(NotImplementedError):
        BaseStreamer().end()
