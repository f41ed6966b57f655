"""BERT tokenizer goldens: transformers 4.56.2's ``BertTokenizer`` (slow) and ``BertTokenizerFast`` on the real
char vocabulary (tests/data/real/roformer_chinese_char/vocab.txt, the vocabulary of the char / Sim / V2
checkpoints, whose tokenizer_config.json names ``BertTokenizer``).

Run with the reference environment's Python (transformers 4.56.2 and tokenizers)::

    /work/venv-train/bin/python golden/gen_bert_tokenizer.py [OUTDIR]    # default: golden/tokenizer_bert/

Texts: every text of golden/corpus/tokenizer_corpus.jsonl plus the hand-written ``TRICKY`` ones below (accents,
CJK, punctuation, control characters, emoji, words over 100 characters, Hangul, mixed scripts, whitespace).
Files, JSON lines: ``corpus.jsonl`` (per text: slow ids, fast ids where they differ, fast offsets),
``configs.jsonl`` (non-default options on a subset of texts), ``calls.jsonl`` (``__call__`` with pairs,
padding, truncation, overflow windows, offsets), ``decode.jsonl``, ``manifest.json``. The script also checks
that ``ElectraTokenizer`` / ``ElectraTokenizerFast`` give exactly what the BERT classes give.
"""

from __future__ import annotations

import hashlib
import json
import platform
import random
import sys
import tempfile
import unicodedata
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "golden"))
from corpus.build_corpus import json_line  # noqa: E402 - the corpus's escaping: no raw line separators

VOCAB = REPO / "tests" / "data" / "real" / "roformer_chinese_char" / "vocab.txt"
CORPUS = REPO / "golden" / "corpus" / "tokenizer_corpus.jsonl"
SEED = 4321

TRICKY = [
    "", " ", "   \t\n  ", "Café Déjà vu, naïve ÉCOLE façade", "İstanbul ΣΑΣ ὈΔΥΣΣΕΎΣ straße ß",
    "e\u0301 a\u0308 n\u0303", "a \u0301b \u0301", "ﬁ ligature Ⅻ ㎏ ①", "a\x00b\x01c\x7fd \u200be\ufeff f\u00adg",
    "x\x0by\x0cz\x1cw\x85v", "\ufffd replacement \ufffd", "👍🏽 👨\u200d👩\u200d👧 ❤️ 🇨🇳 😀😃", "a" * 101, "a" * 100,
    "超" * 120, "abc" * 40 + " short", "un" + "believable" * 12, "안녕하세요 세계 한국어",
    "カタカナ ひらがな 漢字です。", "RoFormer模型在2021年提出，效果很好。", "中文English混合mixed文本123abc",
    "\u3000全角\u3000空格\u00a0nbsp\u2028ls\u2029ps", "tab\there\r\nnewline\rcr",
    "C++ & C# (test) [x] {y} <z> «quote» —dash— ¿qué? ¡sí!", "hello...world!!! ???",
    "$100.00 @user #tag 50% a/b\\c ~`^_|", "[MASK] [CLS] [UNK] [SEP] [PAD] [unused1]", "hello[MASK]world[SEP]",
    "[mask] [cls] [Mask]", "##abc ## #", "ＡＢＣ１２３ｘｙｚ！？", "ภาษาไทย مرحبا नमस्ते Привет мир",
    "Z\u0351\u0358a\u0302\u0307l\u0300g\u0333o\u0361", "don't can't I'm it's we've they're", "1,234,567.89 3.14e-10",
    "𠀀𠀁𪚥 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ǅungla ǈ ǋ", "HELLO World MiXeD", "email@example.com https://example.com/a?b=c&d=e",
    "２０２１年１２月３１日", "…。，、；：？！“”‘’（）【】《》", "\u2060word\u2061joiner\u180e", "ヴィ ｶﾞ ﾊﾟ",
]

CONFIGS = [
    {"do_lower_case": False},
    {"strip_accents": False},
    {"do_lower_case": False, "strip_accents": True},
    {"tokenize_chinese_chars": False},
    {"never_split": ["hello", "[x]", "WORLD"]},
    {"do_lower_case": False, "never_split": ["HELLO", "world"]},
    {"do_basic_tokenize": False},
]


def _write(path: Path, items: list) -> int:
    path.write_text("".join(json_line(item) + "\n" for item in items), encoding="utf-8")
    return path.stat().st_size


def _plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _flat(offsets) -> list[int]:
    return [x for pair in offsets for x in pair]


def _row(slow, fast, text: str) -> dict:
    ids = slow.convert_tokens_to_ids(slow.tokenize(text))
    enc = fast(text, add_special_tokens=False, return_offsets_mapping=True)
    row = {"slow": ids, "offsets": _flat(enc["offset_mapping"])}
    if enc["input_ids"] != ids:
        row["fast"] = enc["input_ids"]
    return row


def corpus_cases(slow, fast, texts: list[str], n_corpus: int) -> list[dict]:
    cases = []
    for i, text in enumerate(texts):
        case = {"i": i} if i < n_corpus else {"i": i, "text": text}
        case.update(_row(slow, fast, text))
        cases.append(case)
    return cases


def config_cases(texts: list[str], n_corpus: int) -> list[dict]:
    from transformers import BertTokenizer, BertTokenizerFast

    rng = random.Random(SEED)
    chosen = sorted(rng.sample(range(n_corpus), 60)) + list(range(n_corpus, len(texts)))
    cases = []
    for config in CONFIGS:
        slow = BertTokenizer(str(VOCAB), **config)
        fast = BertTokenizerFast(str(VOCAB), **config)
        for i in chosen:
            cases.append({"config": config, "i": i, **_row(slow, fast, texts[i])})
    return cases


def call_cases(slow, fast, texts: list[str], n_corpus: int) -> list[dict]:
    rng = random.Random(SEED + 1)
    cases: list[dict] = []

    def add(source: str, text, text_pair=None, **kwargs) -> None:
        tok = slow if source == "slow" else fast
        enc = tok(text, text_pair, **kwargs)
        cases.append({"source": source, "text": text, "text_pair": text_pair, "kwargs": kwargs,
                      "expected": {k: _plain(v) for k, v in enc.items()}})

    pool = texts[:n_corpus]
    singles = rng.sample(pool, 6) + rng.sample(texts[n_corpus:], 4)
    pairs = list(zip(rng.sample(pool, 8), rng.sample(pool, 8)))
    batch = rng.sample(pool, 6) + rng.sample(texts[n_corpus:], 2)
    for source in ("slow", "fast"):
        for t in singles[:4]:
            add(source, t)
        add(source, singles[4], return_special_tokens_mask=True, return_length=True)
        add(source, singles[5], padding="max_length", max_length=64, truncation=True, return_tensors="np")
        add(source, singles[6], max_length=10, truncation=True, return_special_tokens_mask=True)
        add(source, singles[7], add_special_tokens=False)
        add(source, singles[8], padding=True, pad_to_multiple_of=8)
        for a, b in pairs[:2]:
            add(source, a, b, return_special_tokens_mask=True)
        for k, strategy in enumerate(("longest_first", "only_first", "only_second")):
            a, b = pairs[2 + k]
            n_a, n_b = len(slow.tokenize(a)), len(slow.tokenize(b))
            cut = (n_b if strategy == "only_second" else n_a) // 2  # feasible for every strategy
            add(source, a, b, truncation=strategy, max_length=n_a + n_b + 3 - cut)
        add(source, batch)
        add(source, batch, padding=True, return_length=source == "slow", return_special_tokens_mask=True)
        add(source, batch, padding=True, truncation=True, max_length=30, padding_side="left")
        add(source, [t[:12] for t in batch[:4]], batch[4:], padding=True, truncation="only_second", max_length=48)
    # what only the fast tokenizer returns: offsets with special tokens, overflow windows with a stride
    add("fast", singles[0], pairs[5][1], return_offsets_mapping=True, return_special_tokens_mask=True)
    add("fast", batch, padding=True, return_offsets_mapping=True)
    long_text = max(pool, key=len)
    add("fast", long_text, truncation=True, max_length=32, stride=5, return_overflowing_tokens=True,
        return_offsets_mapping=True)
    add("fast", [long_text, singles[1]], truncation=True, max_length=24, stride=3, return_overflowing_tokens=True,
        padding=True)
    add("fast", pairs[6][0][:10], long_text, truncation="only_second", max_length=40, stride=6,
        return_overflowing_tokens=True, return_offsets_mapping=True)
    return cases


def decode_cases(slow, fast, texts: list[str], n_corpus: int) -> list[dict]:
    rng = random.Random(SEED + 2)
    chosen = rng.sample(texts[:n_corpus], 12) + texts[n_corpus:] + ["hello , world . isn't it ? [MASK] 's do not"]
    cases = []
    for text in chosen:
        ids = slow.encode(text)
        case = {"ids": ids}
        for source, tok in (("slow", slow), ("fast", fast)):
            case[source] = [tok.decode(ids, skip_special_tokens=skip, clean_up_tokenization_spaces=clean)
                            for skip in (False, True) for clean in (False, True)]
            case[source].append(tok.decode(ids))
        cases.append(case)
    return cases


def electra_agrees(texts: list[str]) -> dict:
    """ElectraTokenizer(Fast) is BertTokenizer(Fast) under another name: the same ids and offsets."""
    from transformers import BertTokenizer, BertTokenizerFast, ElectraTokenizer, ElectraTokenizerFast

    checked = 0
    for bert_class, electra_class in ((BertTokenizer, ElectraTokenizer), (BertTokenizerFast, ElectraTokenizerFast)):
        bert, electra = bert_class(str(VOCAB)), electra_class(str(VOCAB))
        for text in texts:
            a = bert(text, return_offsets_mapping=bert_class is BertTokenizerFast)
            b = electra(text, return_offsets_mapping=bert_class is BertTokenizerFast)
            if dict(a) != dict(b):
                raise AssertionError(f"{electra_class.__name__} differs from {bert_class.__name__} on {text!r}")
            checked += 1
    return {"texts": len(texts), "identical": True, "checked": checked}


def check_save_load(texts: list[str]) -> dict:
    """roformer_np saves -> transformers loads, and the reverse, with the same ids (and offsets for the fast
    classes), options and vocabulary; what roformer_np saves names BertTokenizer, which AutoTokenizer follows."""
    from gen_tokenizer import _our_tokenizer_class
    from transformers import AutoTokenizer as HFAuto
    from transformers import BertTokenizer, BertTokenizerFast

    _our_tokenizer_class()  # roformer_np importable (without its other dependencies if need be)
    from roformer_np.tokenizer_bert import BertTokenizer as OurSlow
    from roformer_np.tokenizer_bert import BertTokenizerFast as OurFast

    options = {"do_lower_case": False, "model_max_length": 512, "tokenize_chinese_chars": False}
    checked = {}
    with tempfile.TemporaryDirectory() as tmp:
        ours_dir, hf_dir = Path(tmp) / "ours", Path(tmp) / "hf"
        OurFast(VOCAB, **options).save_pretrained(ours_dir)
        BertTokenizerFast(str(VOCAB), **options).save_pretrained(hf_dir)
        fresh = (BertTokenizer(str(VOCAB), **options), BertTokenizerFast(str(VOCAB), **options))
        for name, (ours, theirs) in {
            "hf_loads_roformer_np_save": ((OurSlow(VOCAB, **options), OurFast(VOCAB, **options)),
                                          (BertTokenizer.from_pretrained(ours_dir), HFAuto.from_pretrained(ours_dir))),
            "roformer_np_loads_hf_save": ((OurSlow.from_pretrained(hf_dir), OurFast.from_pretrained(hf_dir)), fresh),
        }.items():
            if type(theirs[1]).__name__ != "BertTokenizerFast" or theirs[1].model_max_length != 512:
                raise AssertionError(f"{name}: {type(theirs[1]).__name__}, {theirs[1].model_max_length}")
            for text in texts:
                if ours[0].encode(text) != theirs[0].encode(text):
                    raise AssertionError(f"{name}: slow ids differ on {text!r}")
                a = ours[1](text, return_offsets_mapping=True)
                b = theirs[1](text, return_offsets_mapping=True)
                if a["input_ids"] != b["input_ids"] or [tuple(o) for o in a["offset_mapping"]] != b["offset_mapping"]:
                    raise AssertionError(f"{name}: fast ids or offsets differ on {text!r}")
            checked[name] = True
    return {**checked, "texts_checked": len(texts), "options": options}


def main(outdir: str | Path | None = None) -> dict:
    from transformers import BertTokenizer, BertTokenizerFast

    out = Path(outdir) if outdir else REPO / "golden" / "tokenizer_bert"
    out.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [r["text"] for r in rows] + TRICKY
    n_corpus = len(rows)
    slow, fast = BertTokenizer(str(VOCAB)), BertTokenizerFast(str(VOCAB))
    corpus = corpus_cases(slow, fast, texts, n_corpus)
    files = {
        "corpus.jsonl": corpus,
        "configs.jsonl": config_cases(texts, n_corpus),
        "calls.jsonl": call_cases(slow, fast, texts, n_corpus),
        "decode.jsonl": decode_cases(slow, fast, texts, n_corpus),
    }
    sizes = {name: _write(out / name, items) for name, items in files.items()}
    manifest = {
        "generator": "golden/gen_bert_tokenizer.py",
        "reference": "transformers BertTokenizer (slow) and BertTokenizerFast, default options unless a case says",
        "versions": {"transformers": version("transformers"), "tokenizers": version("tokenizers"),
                     "python": platform.python_version(), "unicodedata": unicodedata.unidata_version},
        "corpus": {"file": "golden/corpus/tokenizer_corpus.jsonl",
                   "sha256": hashlib.sha256(CORPUS.read_bytes()).hexdigest(), "texts": n_corpus},
        "tricky_texts": len(TRICKY),
        "vocab": {"file": "tests/data/real/roformer_chinese_char/vocab.txt",
                  "sha256": hashlib.sha256(VOCAB.read_bytes()).hexdigest()},
        "counts": {name: len(items) for name, items in files.items()},
        "slow_fast_differ": sum("fast" in c for c in corpus),
        "electra": electra_agrees(texts[::7] + TRICKY),
        "save_load": check_save_load(texts[::5] + TRICKY),
        "files": sizes,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else None), indent=1))
