"""Golden decisions of Hugging Face's stopping criteria and text streamers (transformers 4.56.2).

Development only. Run through ``golden/generate.py stopping`` (or ``python golden/gen_stopping.py``) with the
reference environment (transformers, tokenizers, rjieba). Writes JSON to ``cases/stopping/``:

* ``stop_strings.json``: ``StopStringCriteria`` of ``RoFormerTokenizer`` / ``RoFormerTokenizerFast`` (base
  vocab, jieba words + chars) and ``BertTokenizer`` / ``BertTokenizerFast`` (char vocab) on sets of stop
  strings (Chinese, ASCII words, punctuation, strings spanning tokens or starting inside one, longer than any
  token, several at once). Each case holds ``ids`` ``[N][S]`` and ``stops``: per row a string of ``0``/``1``,
  character ``t`` the criterion's decision on ``ids[:, :t + 1]``. Rows are random ids (some outside the
  vocabulary) or random spellings of texts holding a stop string with random token boundaries taken from the
  clean vocabulary, left-padded with random ids. Sets no token can end have ``error`` instead.
* ``streamers.json``: the chunks ``TextStreamer.on_finalized_text`` receives (``[text, stream_end]``), and
  what it prints, for token streams of the real tokenizers (Chinese, English, digits, newlines, ``[UNK]``,
  special tokens) and of a piece-table tokenizer (``decode`` = the pieces joined; it reaches the newline rule,
  which the WordPiece vocabularies cannot), under ``skip_prompt`` and ``decode_kwargs`` settings.
* ``criteria.json``: ``MaxLengthCriteria`` and ``EosTokenCriteria`` results, and the list
  ``GenerationMixin._get_stopping_criteria`` builds (classes, arguments, which custom criterion replaced a
  default one) for combinations of ``max_length``, ``max_time``, ``stop_strings``, ``eos_token_id`` and
  custom criteria.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import types
from importlib.metadata import version
from pathlib import Path

import torch
from transformers import (
    BertTokenizer,
    BertTokenizerFast,
    GenerationConfig,
    RoFormerTokenizer,
    RoFormerTokenizerFast,
)
from transformers.generation import stopping_criteria as sc
from transformers.generation.streamers import TextStreamer
from transformers.generation.utils import GenerationMixin

NAME = "stopping"
REPO = Path(__file__).resolve().parents[1]
VOCABS = {"base": "tests/data/real/roformer_chinese_base/vocab.txt",
          "char": "tests/data/real/roformer_chinese_char/vocab.txt"}
TOKENIZERS = [("RoFormerTokenizer", RoFormerTokenizer, "base"),
              ("RoFormerTokenizerFast", RoFormerTokenizerFast, "base"),
              ("BertTokenizer", BertTokenizer, "char"),
              ("BertTokenizerFast", BertTokenizerFast, "char")]
LONG = "the quick brown fox jumps over the lazy dog again and again"  # longer than any token
# stop-string sets and the texts their spelled rows are built around (filler words around each stop string)
STOP_SETS = [
    ("chinese", ["我们"]),
    ("chinese_spaced", ["我 们"]),  # as word-start tokens read: " 我 们"
    ("chinese_multi_token", ["中国人民"]),
    ("chinese_mid_token", ["国人民银"]),  # starts inside 中国 and ends inside 银行
    ("chinese_spaced_multi_token", ["北京 欢迎"]),
    ("chinese_spaced_mid_token", ["京 欢"]),  # starts inside " 北京", ends inside " 欢迎"
    ("ascii_word", ["stop"]),
    ("ascii_words_spaced", ["hello world"]),
    ("punctuation_ascii", ["."]),
    ("punctuation_cjk", ["。"]),
    ("punctuation_cjk_spaced", [" 。"]),
    ("exclamation", ["!!"]),
    ("wordpiece_spanning", ["roformer"]),
    ("mid_token_ascii", ["ssipp"]),
    ("digits", ["2021"]),
    ("longer_than_any_token", [LONG]),
    ("several", ["stop", "。", "北京", " 了"]),
    ("unk", ["[UNK]"]),
    ("no_token_can_end", ["\u2603"]),  # a snowman: no token of either vocabulary holds it
]
FILLERS = ["今天天气很好", "北京 欢迎 你们", "欢迎", "中国人民银行", "我们", "北京欢迎你", "hello world", "stop",
           "mississippi", "roformer模型", "2021年", "。", "!!", "the lazy dog", "了", "stopper", "unstoppable",
           "[UNK]", "我们的", "中国人", "a.b"]
ROWS_RANDOM, ROWS_SPELLED, WIDTH = 4, 12, 20

# streamer texts (Chinese, English, digits, newlines, characters the vocabularies lack -> [UNK])
STREAM_TEXTS = [
    "今天天气很好，我们去公园散步吧。",
    "RoFormer模型在2021年提出，效果很好。hello world 123",
    "中文English混合mixed文本123abc ok",
    "我\u2764北京 \U0001F600 天安门 \u2603 end",
    "the quick brown fox jumps over the lazy dog.",
    "2021年12月31日 3.14 100% don't",
    "第一行\n第二行\nthird line",
]
DECODE_KWARGS = [{}, {"skip_special_tokens": True},
                 {"skip_special_tokens": True, "clean_up_tokenization_spaces": False}]
# the piece-table tokenizer: decode(ids) = "".join(PIECES[i] for i in ids), id 0 special
PIECES = ["<s>", "Hello", " world", "\n", "你", "好", " ", "foo", "bar\n", "x y", "", "数", "123", " ab\nc", "한",
          "カ", "。", "ok ", "\u3400", "\U00020000", "\uf900", " \n", "end"]


# ---------------------------------------------------------------------------------------------
# stop strings
# ---------------------------------------------------------------------------------------------
def _spell(text: str, by_text: dict[str, list[int]], longest: int, rng: random.Random, unk: int) -> list[int]:
    """Random token ids whose clean strings spell ``text`` (a random piece at each position; [UNK] for a
    character no piece starts with)."""
    ids, pos = [], 0
    while pos < len(text):
        options = [(k, by_text[text[pos:pos + k]]) for k in range(1, longest + 1) if text[pos:pos + k] in by_text]
        if not options:
            ids.append(unk)
            pos += 1
            continue
        k, choices = rng.choice(options)
        ids.append(rng.choice(choices))
        pos += k
    return ids


def _stop_rows(tokenizer, clean: dict[int, str], stops: list[str], width: int, rng: random.Random) -> list[list[int]]:
    vocab_size = max(clean) + 1
    by_text: dict[str, list[int]] = {}
    for i, s in clean.items():
        if s:
            by_text.setdefault(s, []).append(i)
    longest = max(map(len, by_text))
    unk = tokenizer.convert_tokens_to_ids("[UNK]")
    def random_id() -> int:  # now and then an id outside the vocabulary (a model's vocab may be larger)
        return rng.randrange(vocab_size, vocab_size + 4) if rng.random() < 0.1 else rng.randrange(vocab_size)

    rows = [[random_id() for _ in range(width)] for _ in range(ROWS_RANDOM)]
    while len(rows) < ROWS_RANDOM + ROWS_SPELLED:
        stop = rng.choice(stops)
        before = rng.choice(["", " ", rng.choice(FILLERS), " " + rng.choice(FILLERS)])
        after = rng.choice(["", "", "", rng.choice("sx的们 ."), " " + rng.choice(FILLERS), rng.choice(FILLERS)])
        if rng.random() < 0.25:  # the tokenizer's own tokens for the text, read back
            ids = tokenizer(before + stop + after, add_special_tokens=False)["input_ids"]
        else:
            ids = _spell(before + stop + after, by_text, longest, rng, unk)
        if ids and rng.random() < 0.2:  # an id outside the vocabulary inside or at the end of the spelling
            ids[rng.randrange(len(ids))] = vocab_size + rng.randrange(3)
        ids = ids[-width:]
        rows.append([rng.randrange(vocab_size) for _ in range(width - len(ids))] + ids)
    return rows


def stop_string_cases(rng: random.Random) -> list[dict]:
    cases = []
    for name, cls, vocab in TOKENIZERS:
        tokenizer = cls(str(REPO / VOCABS[vocab]))
        clean_list, clean_ids = sc.StopStringCriteria.clean_tokenizer_vocab(tokenizer)
        clean = dict(zip(clean_ids, clean_list))
        for set_name, stops in STOP_SETS:
            case = {"name": f"{name}.{set_name}", "tokenizer": name, "vocab": VOCABS[vocab], "stop_strings": stops}
            try:
                criteria = sc.StopStringCriteria(tokenizer, stops)
            except ValueError as exc:
                case["error"] = str(exc)
                cases.append(case)
                continue
            width = max(WIDTH, max(map(len, stops)) + 6)  # room for one token per character
            rows = _stop_rows(tokenizer, clean, stops, width, rng)
            ids = torch.tensor(rows, dtype=torch.long)
            steps = [criteria(ids[:, : t + 1], None).tolist() for t in range(width)]
            case["ids"] = rows
            case["stops"] = ["".join("1" if steps[t][r] else "0" for t in range(width)) for r in range(len(rows))]
            cases.append(case)
    return cases


# ---------------------------------------------------------------------------------------------
# streamers
# ---------------------------------------------------------------------------------------------
class _Recorder(TextStreamer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.chunks: list[list] = []

    def on_finalized_text(self, text: str, stream_end: bool = False):
        self.chunks.append([text, stream_end])
        super().on_finalized_text(text, stream_end)


class PieceTokenizer:
    """decode(ids) = the pieces joined; ``skip_special_tokens`` drops id 0 (tests/test_streamers.py has the
    same three lines)."""

    def decode(self, ids, skip_special_tokens: bool = False, **kwargs) -> str:
        return "".join(PIECES[i] for i in ids if not (skip_special_tokens and i == 0))


def _record(tokenizer, streams: list[tuple[list[int], list[int]]], prompt_2d: bool, skip_prompt: bool,
            kwargs: dict) -> dict:
    streamer = _Recorder(tokenizer, skip_prompt=skip_prompt, **kwargs)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for prompt, new in streams:
            p = torch.tensor([prompt] if prompt_2d else prompt)
            streamer.put(p)
            for token in new:
                streamer.put(torch.tensor([token]))
            streamer.end()
    return {"streams": [[p, n] for p, n in streams], "prompt_2d": prompt_2d, "skip_prompt": skip_prompt,
            "decode_kwargs": kwargs, "chunks": streamer.chunks, "stdout": out.getvalue()}


def streamer_cases(rng: random.Random) -> list[dict]:
    cases = []
    for name, cls, vocab in TOKENIZERS:
        tokenizer = cls(str(REPO / VOCABS[vocab]))
        for i, text in enumerate(STREAM_TEXTS):
            ids = tokenizer(text)["input_ids"]  # with [CLS] ... [SEP]
            k = 1 + i % 3
            streams = [(ids[:k], ids[k:])]
            if i == 0:  # the same streamer again for a second generation
                other = tokenizer(STREAM_TEXTS[1])["input_ids"]
                streams.append((other[:2], other[2:]))
            combos = [(kwargs, skip) for kwargs in DECODE_KWARGS[:2] for skip in (False, True)]
            combos.append((DECODE_KWARGS[2], i % 2 == 0))
            for j, (kwargs, skip_prompt) in enumerate(combos):
                case = _record(tokenizer, streams, (i + j) % 2 == 0, skip_prompt, kwargs)
                cases.append({"tokenizer": name, "vocab": VOCABS[vocab], "text": text, **case})
    piece = PieceTokenizer()
    for i in range(12):
        n = rng.randrange(8, 30)
        ids = [rng.randrange(len(PIECES)) for _ in range(n)]
        k = rng.randrange(0, 4)
        streams = [(ids[:k], ids[k:])]
        for kwargs, skip_prompt in [({}, False), ({}, True), ({"skip_special_tokens": True}, i % 2 == 0)]:
            cases.append({"tokenizer": "PieceTokenizer", "pieces": PIECES,
                          **_record(piece, streams, i % 2 == 1, skip_prompt, kwargs)})
    return cases


# ---------------------------------------------------------------------------------------------
# max length, EOS, the list generate() builds
# ---------------------------------------------------------------------------------------------
class CustomCriteria(sc.StoppingCriteria):
    """A user's criterion (the tests define their own of the same name)."""

    def __call__(self, input_ids, scores, **kwargs):
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)


def _describe(criteria, custom: list) -> dict:
    entry = {"class": type(criteria).__name__}
    for i, c in enumerate(custom):
        if c is criteria:
            entry["custom"] = i
    if isinstance(criteria, sc.MaxLengthCriteria):
        entry.update(max_length=criteria.max_length, max_position_embeddings=criteria.max_position_embeddings)
    elif isinstance(criteria, sc.MaxTimeCriteria):
        entry["max_time"] = criteria.max_time
    elif isinstance(criteria, sc.StopStringCriteria):
        entry["stop_strings"] = list(criteria.stop_strings)
    elif isinstance(criteria, sc.EosTokenCriteria):
        entry["eos_token_id"] = criteria.eos_token_id.reshape(-1).tolist()
    return entry


def _custom(spec: list) -> list:
    made = []
    for kind, arg in spec:
        if kind == "MaxLengthCriteria":
            made.append(sc.MaxLengthCriteria(arg))
        elif kind == "EosTokenCriteria":
            made.append(sc.EosTokenCriteria(arg))
        elif kind == "MaxTimeCriteria":
            made.append(sc.MaxTimeCriteria(arg))
        else:
            made.append(CustomCriteria())
    return made


def criteria_cases() -> dict:
    max_length = []
    for limit, mpe, cur_len, n in [(5, None, 4, 2), (5, None, 5, 2), (5, None, 6, 1), (1, None, 1, 3),
                                   (20, 8, 10, 2), (8, 8, 8, 1), (3, 48, 2, 4)]:
        ids = torch.zeros((n, cur_len), dtype=torch.long)
        done = sc.MaxLengthCriteria(limit, mpe)(ids, None).tolist()
        max_length.append({"max_length": limit, "max_position_embeddings": mpe, "shape": [n, cur_len], "done": done})
    eos = []
    rows = [[101, 5, 102], [101, 7, 8], [3, 4, 0], [102, 102, 5], [9, 9, 9]]
    for eos_id in [102, [102], [8, 0], [5, 102, 9], [11]]:
        done = sc.EosTokenCriteria(eos_id)(torch.tensor(rows), None).tolist()
        eos.append({"eos_token_id": eos_id, "input_ids": rows, "done": done})

    tokenizer = BertTokenizer(str(REPO / VOCABS["char"]))
    model = types.SimpleNamespace(config=types.SimpleNamespace(max_position_embeddings=48))
    model._merge_criteria_processor_list = types.MethodType(GenerationMixin._merge_criteria_processor_list, model)
    builds = []
    configs = [
        ({"max_length": 20}, []),
        ({"max_length": 9, "max_time": 2.5}, []),
        ({"max_length": 9, "eos_token_id": 102}, []),
        ({"max_length": 9, "eos_token_id": [102, 5]}, []),
        ({"max_length": 12, "max_time": 1.0, "stop_strings": ["我们", "stop"], "eos_token_id": 102}, []),
        ({"max_length": 12, "stop_strings": "。"}, []),
        ({"max_length": 9, "eos_token_id": 102}, [("MaxLengthCriteria", 7)]),
        ({"max_length": 9, "eos_token_id": 102}, [("EosTokenCriteria", 5), ("Custom", None)]),
        ({"max_length": 9}, [("Custom", None), ("EosTokenCriteria", [1, 2])]),
        ({"max_length": 9, "max_time": 3.0}, [("MaxLengthCriteria", 7), ("MaxLengthCriteria", 11)]),
        ({"max_length": 9, "eos_token_id": 102, "max_time": 3.0},
         [("Custom", None), ("MaxTimeCriteria", 9.0), ("Custom", None), ("MaxLengthCriteria", 4)]),
    ]
    for options, spec in configs:
        config = GenerationConfig(**{k: v for k, v in options.items() if k != "eos_token_id"})
        eos_id = options.get("eos_token_id")
        config._eos_token_tensor = None if eos_id is None else torch.tensor(eos_id)
        custom = _custom(spec)
        built = GenerationMixin._get_stopping_criteria(model, generation_config=config,
                                                       stopping_criteria=sc.StoppingCriteriaList(custom),
                                                       tokenizer=tokenizer)
        builds.append({"options": options, "max_position_embeddings": 48, "custom": [list(s) for s in spec],
                       "built": [_describe(c, custom) for c in built]})
    return {"max_length": max_length, "eos": eos, "build": builds}


def main(here: Path) -> None:
    out = here / "cases" / NAME
    out.mkdir(parents=True, exist_ok=True)
    versions = {p: version(p) for p in ("transformers", "tokenizers", "torch", "rjieba")}
    payloads = {"stop_strings.json": {"cases": stop_string_cases(random.Random(2024))},
                "streamers.json": {"cases": streamer_cases(random.Random(7))},
                "criteria.json": criteria_cases()}
    for file, payload in payloads.items():
        text = json.dumps({"generator": versions, **payload}, ensure_ascii=True, separators=(",", ":"))
        (out / file).write_text(text + "\n", encoding="utf-8")
        print(f"{file}: {len(text) / 1e3:.0f} kB")


if __name__ == "__main__":
    main(Path(__file__).resolve().parent)
