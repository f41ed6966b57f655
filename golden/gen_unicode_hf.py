"""The Unicode decisions of Hugging Face's ``tokenizers`` (its own Rust tables, not Python's ``unicodedata``).

Development only. Run through ``golden/generate.py unicode_hf``. Probes every code point (surrogates excluded)
with the fast BERT stages and writes, as sorted inclusive ranges ``[first, last]``:

* ``drop``: removed by ``BertNormalizer(clean_text=True)`` (NUL, U+FFFD, Cc/Cf/Co and the like; Hugging Face
  keeps unassigned code points, which Python's ``unicodedata`` calls ``Cn``);
* ``space``: made a space by it; ``punctuation``: split off alone by ``BertPreTokenizer`` (``a?a``);
* ``mark``: removed by ``BertNormalizer(strip_accents=True)`` when alone (the marks accent stripping drops);
* ``decompose``: changed, not removed, by accent stripping (Hugging Face's NFD decomposes them); Hangul
  syllables are left out (their NFD is algorithmic and the same everywhere);
* ``strip_exceptions``: ``{code point: result}`` where that stripping differs from this Python's NFD without
  the ``mark`` code points (none with Python 3.11's tables but U+11938, which Hugging Face keeps);
* ``lower``: ``BertNormalizer(lowercase=True)`` of each code point it changes, as runs
  ``[first, last, step, delta]`` (every ``step``-th code point maps to code point + ``delta``) and
  ``lower_multi`` ``{code point: result}`` for the results longer than one character.

Outputs: ``cases/unicode_hf/classes.json`` (the golden: these ranges, the tokenizers version, ``changed``:
the normaliser's result for every code point it changes with accent stripping and/or lowercasing, and the
fast tokenizer's tokens of a few texts with code points Python 3.11 does not know) and
``roformer_np/unicode_hf.py`` (the same ranges as the package's table).
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import tokenizers
from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer

NAME = "unicode_hf"
CLASSES = ("drop", "space", "punctuation", "mark", "decompose")
HANGUL = range(0xAC00, 0xD7A4)
# texts with code points of Unicode 15 (U+1F6DC wireless, U+1E4EC a Nag Mundari mark), unassigned ones, a
# private-use one and an old mark, tokenized by RoFormerTokenizerFast on the pipelines' vocabulary
TEXTS = ["无线\U0001F6DC网络很快", "房间\U0001E4EC不错", "价格\u0378合理\U0010FFFF", "服务\uE000好", "cafe\u0301很好",
         "好\U0001F6DC\U0001F6DC。", "\U00011F00\U00011F41测试"]


def _ranges(flags: list[bool]) -> list[list[int]]:
    out: list[list[int]] = []
    for cp, flag in enumerate(flags):
        if flag:
            if out and out[-1][1] == cp - 1:
                out[-1][1] = cp
            else:
                out.append([cp, cp])
    return out


def _runs(single: dict[int, int]) -> list[list[int]]:
    """``{cp: lowered cp}`` as runs [first, last, step, delta] (greedy, in code point order)."""
    runs: list[list[int]] = []
    for cp in sorted(single):
        delta = single[cp] - cp
        if runs and runs[-1][3] == delta and cp - runs[-1][1] == runs[-1][2]:
            runs[-1][1] = cp
        elif runs and runs[-1][3] == delta and runs[-1][0] == runs[-1][1] and cp - runs[-1][1] <= 2:
            runs[-1][1], runs[-1][2] = cp, cp - runs[-1][0]
        else:
            runs.append([cp, cp, 1, delta])
    return runs


def probe() -> dict:
    clean = BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    strip = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    lower = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True)
    pre = BertPreTokenizer()
    stripped: dict[int, str] = {}
    single: dict[int, int] = {}
    multi: dict[str, str] = {}
    flags = {name: [False] * 0x110000 for name in CLASSES}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        cleaned = clean.normalize_str(ch)
        flags["drop"][cp] = cleaned == ""
        flags["space"][cp] = cleaned == " " and ch != " " or ch == " "
        flags["mark"][cp] = (result := strip.normalize_str(ch)) == ""
        if result not in ("", ch) and cp not in HANGUL:
            flags["decompose"][cp] = True
            stripped[cp] = result
        lowered = lower.normalize_str(ch)
        if lowered != ch:
            if len(lowered) == 1:
                single[cp] = ord(lowered)
            else:
                multi[str(cp)] = lowered
        words = [w for w, _ in pre.pre_tokenize_str(f"a{ch}a")]
        flags["punctuation"][cp] = words == ["a", ch, "a"]
    out: dict = {name: _ranges(f) for name, f in flags.items()}
    marks = {cp for first, last in out["mark"] for cp in range(first, last + 1)}
    out["strip_exceptions"] = {str(cp): r for cp, r in stripped.items()
                               if "".join(c for c in unicodedata.normalize("NFD", chr(cp)) if ord(c) not in marks) != r}
    out["lower"] = _runs(single)
    out["lower_multi"] = multi
    return out


def _module(classes: dict[str, list[list[int]]]) -> str:
    lines = ['"""Hugging Face ``tokenizers``\' Unicode decisions for the fast BERT stages (generated by',
             f"golden/gen_unicode_hf.py from tokenizers {tokenizers.__version__}; do not edit).",
             "",
             "Inclusive code point ranges: ``DROP`` (removed by ``BertNormalizer``'s cleaning), ``SPACE`` (made a",
             "space), ``PUNCTUATION`` (split off by ``BertPreTokenizer``), ``MARK`` (removed by accent stripping).",
             "The fast tokenizers decide with these, not with this Python's ``unicodedata`` (whose version differs).",
             '"""', "", "from __future__ import annotations", ""]
    for name in CLASSES:
        ranges = classes[name]
        flat = ", ".join(f"({a:#x}, {b:#x})" for a, b in ranges)
        body, line = [], "    "
        for item in flat.split(", ("):
            item = item if item.startswith("(") else "(" + item
            if len(line) + len(item) + 2 > 118:
                body.append(line.rstrip())
                line = "    "
            line += item + ", "
        body.append(line.rstrip())
        lines += [f"{name.upper()}: tuple[tuple[int, int], ...] = (", *body, ")", ""]
    lines += ["# (first, last, step, delta): every step-th code point from first to last lowercases to cp + delta",
              "LOWER_RUNS: tuple[tuple[int, int, int, int], ...] = ("]
    line = "    "
    for run in classes["lower"]:
        item = "(" + ", ".join(f"{v:#x}" if i < 2 else str(v) for i, v in enumerate(run)) + "), "
        if len(line) + len(item) > 118:
            lines.append(line.rstrip())
            line = "    "
        line += item
    lines += [line.rstrip(), ")", ""]
    for name in ("lower_multi", "strip_exceptions"):
        items = ", ".join(f"{int(k):#x}: {v.encode('unicode_escape').decode()!r}".replace("\\\\", "\\")
                          for k, v in classes[name].items())
        lines += [f"{name.upper()}: dict[int, str] = {{{items}}}", ""]
    return "\n".join(lines)


def changed() -> dict[str, dict[str, str]]:
    """Golden only: ``BertNormalizer(clean_text=True)``'s result for every code point it changes (dropped and
    spaced ones and the algorithmic Hangul syllables aside) with each of ``strip_accents`` / ``lowercase``."""
    out = {}
    for strip, low in ((True, False), (False, True), (True, True)):
        norm = BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=strip, lowercase=low)
        results = {}
        for cp in range(0x110000):
            if 0xD800 <= cp <= 0xDFFF or cp in HANGUL:
                continue
            result = norm.normalize_str(chr(cp))
            if result not in (chr(cp), "", " "):
                results[str(cp)] = result
        out[f"strip_accents={strip},lowercase={low}"] = results
    return out


BERT_TEXTS = ["无线\U0001F6DC网络很快", "\u0130stanbul \u1C89\uA7CB café \U00011938!", "Ab\u0378c\u00AD。\u2028好",
              "\u00C0\u0301\U0001E4EC\u1E9E"]
BERT_SETTINGS = [{}, {"do_lower_case": False}, {"do_lower_case": False, "strip_accents": True}]


def main(here: Path) -> None:
    from transformers import BertTokenizerFast, RoFormerTokenizerFast
    classes = probe()
    fast = RoFormerTokenizerFast.from_pretrained(here / "cases" / "pipelines")
    texts = [{"text": t, "tokens": fast.tokenize(t), "offsets": fast(t, return_offsets_mapping=True,
                                                                      add_special_tokens=False)["offset_mapping"]}
             for t in TEXTS]
    # BertTokenizerFast (its own pre-tokeniser) on the demo vocabulary, with each normaliser setting
    vocab_dir = here.parent / "roformer_np" / "demo" / "mlm"
    bert = []
    for kwargs in BERT_SETTINGS:
        tok = BertTokenizerFast.from_pretrained(vocab_dir, **kwargs)
        for text in BERT_TEXTS:
            enc = tok(text, return_offsets_mapping=True)
            bert.append({"kwargs": kwargs, "text": text, "input_ids": enc["input_ids"],
                         "offsets": [list(o) for o in enc["offset_mapping"]]})
    out = here / "cases" / NAME
    out.mkdir(parents=True, exist_ok=True)
    golden = {"tokenizers": tokenizers.__version__, "classes": classes, "changed": changed(), "texts": texts,
              "bert_texts": bert}
    (out / "classes.json").write_text(json.dumps(golden, ensure_ascii=False) + "\n", encoding="utf-8")
    (here.parent / "roformer_np" / "unicode_hf.py").write_text(_module(classes), encoding="utf-8")


if __name__ == "__main__":
    main(Path(__file__).resolve().parent)
