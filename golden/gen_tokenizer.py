"""Tokenizer goldens from Hugging Face transformers, whose slow RoFormerTokenizer is the reference.

Run from anywhere with the dev environment's Python (needs transformers 4.56.2, tokenizers, rjieba)::

    /work/devenv/bin/python golden/gen_tokenizer.py [OUTDIR]    # default OUTDIR: golden/

``main(outdir)`` is what ``golden/generate.py`` calls; it writes into ``OUTDIR/tokenizer/`` (or into
OUTDIR itself when that folder is already named ``tokenizer``). The goldens cover, on both real
vocabularies and every text of ``golden/corpus/tokenizer_corpus.jsonl``: ids and tokens (slow tokenizer),
offsets (fast tokenizer, where its tokens equal the slow ones), the texts where slow and fast disagree,
pair and batch encodings with padding / truncation / overflow, decoding, and non-default configurations.
The script also checks that Hugging Face loads what ``roformer_np`` saves (and the reverse) with
unchanged behaviour. Outputs are JSON only, one case per line.
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
from corpus.build_corpus import json_line  # noqa: E402 - the corpus's own escaping, one definition

REAL = REPO / "tests" / "data" / "real"  # the published vocabularies (tests/data/real/SOURCES.md)
VOCABS = {
    "base": REAL / "roformer_chinese_base" / "vocab.txt",
    "char": REAL / "roformer_chinese_char" / "vocab.txt",
}
CORPUS = REPO / "golden" / "corpus" / "tokenizer_corpus.jsonl"
SEED = 1234


def _dump_lines(path: Path, items: list) -> int:
    """A JSON list with one compact item per line (small diffs, easy to grep)."""
    body = ",\n".join(json_line(item) for item in items)
    path.write_text("[\n" + body + "\n]\n", encoding="utf-8")
    return path.stat().st_size


def _plain(value):
    """BatchEncoding values as plain JSON-able lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _encoding(enc) -> dict:
    return {key: _plain(value) for key, value in enc.items()}


def classify(text: str, slow_tokens: list[str], fast_tokens: list[str]) -> list[str]:
    """Name the known causes of a slow/fast difference present in ``text`` (see ROFORMER_SPEC.md §11.2)."""
    causes = []
    if any(unicodedata.category(c) == "Mn" for c in unicodedata.normalize("NFD", text)):
        causes.append("accents: fast strips them before jieba and the vocab check, slow after")
    if any(unicodedata.category(c).startswith("C") and c not in "\t\n\r" for c in text) or "\ufffd" in text:
        causes.append("control/format chars: fast removes them before jieba, slow cuts around them")
    if any(t.startswith("##") and not t[2:].isalnum() for t in fast_tokens) or any(
        len(t) > 1 and not t.startswith("##") and any(not c.isalnum() for c in t) and t not in slow_tokens
        for t in fast_tokens
    ):
        causes.append(
            "punctuation inside an out-of-vocab jieba word: slow splits it, fast keeps it in the word"
        )
    if any(t == "[UNK]" for t in fast_tokens) and not any(t == "[UNK]" for t in slow_tokens):
        causes.append("fast maps a whole out-of-vocab span to [UNK] where slow splits it")
    if any(0xAC00 <= ord(c) <= 0xD7A3 for c in text):
        causes.append("Hangul syllables: fast's NFD (accent stripping) splits them into jamo before jieba")
    if any(len(t) > 100 for t in slow_tokens):
        causes.append("in-vocab word over 100 characters: slow keeps it, fast gives [UNK]")
    if not causes:
        causes.append("other (jieba sees different text after fast's normalisation)")
    return causes


def corpus_cases(name: str, slow, fast, texts: list[dict]) -> tuple[list, list]:
    """Per text: slow ids (and tokens for the word vocab), fast offsets where fast agrees with slow."""
    cases, disagreements = [], []
    id_to_token = {i: t for t, i in slow.get_vocab().items()}
    for index, row in enumerate(texts):
        text = row["text"]
        tokens = slow.tokenize(text)
        ids = slow.convert_tokens_to_ids(tokens)
        enc = fast(text, add_special_tokens=False, return_offsets_mapping=True)
        fast_tokens = fast.convert_ids_to_tokens(enc["input_ids"])
        case = {"i": index, "ids": ids}
        assert all(" " not in t for t in tokens)
        if name == "base" or tokens != [id_to_token[i] for i in ids]:
            case["tokens"] = " ".join(tokens)
        if fast_tokens == tokens and enc["input_ids"] == ids:
            case["offsets"] = [x for pair in enc["offset_mapping"] for x in pair]
        else:
            case["offsets"] = None
            disagreements.append(
                {
                    "vocab": name,
                    "i": index,
                    "cat": row["cat"],
                    "text": text,
                    "slow": " ".join(tokens),
                    "fast": " ".join(fast_tokens),
                    "fast_ids": enc["input_ids"],
                    "fast_offsets": [x for pair in enc["offset_mapping"] for x in pair],
                    "causes": classify(text, tokens, fast_tokens),
                }
            )
        cases.append(case)
    return cases, disagreements


def pick(texts: list[dict], rng: random.Random, cats: tuple[str, ...], k: int) -> list[str]:
    pool = [r["text"] for r in texts if r["cat"] in cats]
    return rng.sample(pool, k)


def call_cases(name: str, slow, fast, texts: list[dict]) -> list[dict]:
    """``__call__`` results: pairs, batches, padding, truncation (slow) and overflow windows (fast)."""
    rng = random.Random(SEED + len(name))
    prose = ("news", "review", "classical", "mixed", "web")
    cases: list[dict] = []

    def add(kind: str, source: str, text, text_pair=None, **kwargs) -> None:
        tok = slow if source == "slow" else fast
        enc = tok(text, text_pair, **kwargs) if text_pair is not None else tok(text, **kwargs)
        cases.append(
            {
                "vocab": name,
                "kind": kind,
                "source": source,
                "text": text,
                "text_pair": text_pair,
                "kwargs": kwargs,
                "expected": _encoding(enc),
            }
        )

    singles = pick(texts, rng, prose, 6)
    for t in singles[:3]:
        add("single", "slow", t)
    add("single", "slow", singles[3], return_special_tokens_mask=True, return_length=True)
    add("single", "slow", singles[4], return_tensors="np", return_length=True)
    add("single", "slow", singles[5], padding="max_length", max_length=96, truncation=True)
    add("single", "slow", singles[5], max_length=12, truncation=True, return_special_tokens_mask=True)
    add("single", "slow", singles[0], add_special_tokens=False)
    add("single", "slow", singles[1], padding=True, pad_to_multiple_of=8, return_length=True)

    pairs = list(zip(pick(texts, rng, prose, 8), pick(texts, rng, prose, 8)))
    for a, b in pairs[:2]:
        add("pair", "slow", a, b, return_special_tokens_mask=True)
    add("pair", "slow", pairs[2][0], pairs[2][1], add_special_tokens=False)
    strategies = (("longest_first", 24), ("longest_first", 41), ("only_first", 40), ("only_second", 40))
    for k, (strategy, max_length) in enumerate(strategies):
        a, b = pairs[3 + k]
        add("pair", "slow", a, b, truncation=strategy, max_length=max_length, return_special_tokens_mask=True)
    # equal lengths: slow and fast split the removals differently, the slow way is the reference
    add("pair", "slow", "今天天气非常好", "今天天气非常好", truncation="longest_first", max_length=10)

    batch = pick(texts, rng, prose + ("english", "accented", "ja_ko", "emoji"), 8)
    add("batch", "slow", batch)
    add("batch", "slow", batch, padding=True, return_length=True, return_special_tokens_mask=True)
    add("batch", "slow", batch, padding="max_length", max_length=48, truncation=True, return_tensors="np")
    add("batch", "slow", batch, padding=True, truncation=True, max_length=30, padding_side="left")
    add("batch", "slow", batch, padding="longest", pad_to_multiple_of=16, return_tensors="np")
    add(
        "batch",
        "slow",
        [t[:12] for t in batch[:4]],
        batch[4:],
        padding=True,
        truncation="only_second",
        max_length=40,
    )
    add(
        "batch",
        "slow",
        batch[:4],
        batch[4:],
        padding=True,
        truncation=True,
        max_length=50,
        return_length=True,
    )
    add("batch", "slow", batch[:3], max_length=20)  # max_length alone turns on longest_first truncation

    # overflow windows and offsets come from the fast tokenizer, on texts where it agrees with the slow one
    agree = [
        r["text"]
        for r in texts
        if r["cat"] in ("news", "review", "classical")
        and slow.tokenize(r["text"]) == fast.tokenize(r["text"])
    ]
    long_docs = sorted(agree, key=len)[-6:]
    questions = rng.sample(agree, 4)
    common = {"return_overflowing_tokens": True, "return_offsets_mapping": True}
    add("overflow", "fast", long_docs[0], max_length=32, stride=8, truncation=True, **common)
    add("overflow", "fast", long_docs[1:4], max_length=40, stride=10, truncation=True, padding=True, **common)
    add("overflow", "fast", [long_docs[4]], max_length=24, stride=0, truncation="only_first", **common)
    add(
        "overflow",
        "fast",
        [q[:20] for q in questions[:2]],
        long_docs[4:6],
        max_length=48,
        stride=12,
        truncation="only_second",
        padding="max_length",
        return_special_tokens_mask=True,
        **common,
    )
    add(
        "overflow",
        "fast",
        questions[2][:15],
        long_docs[5],
        max_length=36,
        stride=6,
        truncation="only_second",
        **common,
    )
    add(
        "overflow",
        "fast",
        long_docs[5],
        questions[3][:12],
        max_length=30,
        stride=5,
        truncation="only_first",
        **common,
    )
    add("offsets", "fast", agree[:6], padding=True, return_offsets_mapping=True)
    add("offsets", "fast", agree[6], agree[7], return_offsets_mapping=True, return_tensors="np")
    # RoFormerTokenizerFast's own layout and rules ("fast_layout": roformer_np's fast class must match these)
    add("fast_layout", "fast", agree[:4], padding=True, return_length=True, return_special_tokens_mask=True)
    add("fast_layout", "fast", agree[0], agree[1], add_special_tokens=False, return_token_type_ids=True)
    add("fast_layout", "fast", agree[2:4], agree[4:6], truncation=True, max_length=20, padding="max_length",
        return_length=True)
    differ = [r["text"] for r in texts if slow.tokenize(r["text"]) != fast.tokenize(r["text"])]
    add("fast_layout", "fast", differ[:8], padding=True, return_offsets_mapping=True)
    long_differ = max(differ, key=lambda t: len(fast.tokenize(t)))
    add("fast_layout", "fast", long_differ, agree[0][:8], truncation="only_first",
        max_length=len(fast.tokenize(agree[0][:8])) + 3 + len(fast.tokenize(long_differ)) // 2,
        return_overflowing_tokens=True, stride=4, return_offsets_mapping=True)
    return cases


def fast_truncation_cases(fast) -> list[list]:
    """RoFormerTokenizerFast's truncation on a grid of lengths: ``[len_a, len_b or None, max_length, strategy,
    add_special_tokens, kept_a, kept_b]`` (texts of single-token words), or ``"error"`` in place of kept_a,
    kept_b where the fast tokenizer raises."""
    cases = []
    for len_a in range(1, 6):
        for len_b in [None, 1, 2, 3, 4, 5]:
            for max_length in range(0, 13):
                for strategy in ("longest_first", "only_first", "only_second"):
                    for special in (True, False):
                        args = [" ".join(["今"] * len_a)] + ([] if len_b is None else [" ".join(["天"] * len_b)])
                        try:
                            ids = fast(*args, truncation=strategy, max_length=max_length,
                                       add_special_tokens=special)["input_ids"]
                            kept = [ids.count(306), ids.count(1231)]
                        except Exception:
                            kept = ["error"]
                        cases.append([len_a, len_b, max_length, strategy, special, *kept])
    return cases


def decode_cases(name: str, slow, texts: list[dict]) -> list[dict]:
    rng = random.Random(SEED + 7)
    chosen = rng.sample(texts, 25) + [{"text": "hello , world . isn't it ? [MASK] 's"}]
    cases = []
    for row in chosen:
        ids = slow.encode(row["text"])
        cases.append(
            {
                "vocab": name,
                "ids": ids,
                "plain": slow.decode(ids),
                "skip": slow.decode(ids, skip_special_tokens=True),
                "clean": slow.decode(ids, clean_up_tokenization_spaces=True),
                "skip_clean": slow.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True),
            }
        )
    odd = [0, 1, 100, 101, 102, 103, 104, 49999, 50000, 123456, -1]
    cases.append(
        {
            "vocab": name,
            "ids": odd,
            "plain": slow.decode(odd),
            "skip": slow.decode(odd, skip_special_tokens=True),
        }
    )
    return cases


CONFIGS = [
    {"do_lower_case": False},
    {"do_lower_case": False, "strip_accents": True},
    {"do_lower_case": True, "strip_accents": False},
    {"tokenize_chinese_chars": False},
    {"do_basic_tokenize": False},
    {"never_split": ["c++", "ÉCOLE", "e-mail"]},
]


# the options RoFormerTokenizerFast has (the others only exist in the slow tokenizer)
FAST_CONFIGS = [
    {},
    {"do_lower_case": False},
    {"do_lower_case": False, "strip_accents": True},
    {"do_lower_case": True, "strip_accents": False},
]


def config_cases(name: str, vocab: Path, texts: list[dict]) -> list[dict]:
    from transformers import RoFormerTokenizer, RoFormerTokenizerFast

    rng = random.Random(SEED + 11)
    chosen: list = rng.sample(range(len(texts)), 45)  # corpus indices
    chosen += ["C++ café ÉCOLE e-mail E-MAIL", "ΟΔΟΣ İstanbul Straße ﬁ", "今天天气非常好 Hello WORLD"]
    cases = []
    for config in CONFIGS:
        slow = RoFormerTokenizer(str(vocab), **config)
        for item in chosen:
            text = texts[item]["text"] if isinstance(item, int) else item
            tokens = slow.tokenize(text)
            assert all(" " not in t for t in tokens)
            key = "i" if isinstance(item, int) else "text"
            cases.append({"vocab": name, "config": config, key: item, "tokens": " ".join(tokens)})
    for config in FAST_CONFIGS:
        fast = RoFormerTokenizerFast(str(vocab), **config)
        for item in chosen:
            text = texts[item]["text"] if isinstance(item, int) else item
            enc = fast(text, add_special_tokens=False, return_offsets_mapping=True)
            key = "i" if isinstance(item, int) else "text"
            cases.append({"vocab": name, "config": config, "fast": True, key: item,
                          "tokens": " ".join(fast.convert_ids_to_tokens(enc["input_ids"])),
                          "offsets": [x for pair in enc["offset_mapping"] for x in pair],
                          "decode": fast.decode(fast.encode(text))})
    return cases


def _our_tokenizer_class():
    """roformer_np's RoFormerTokenizer, even where the package's other dependencies (scipy) are missing."""
    sys.path.insert(0, str(REPO))
    try:
        from roformer_np.tokenizer import RoFormerTokenizer
    except ImportError:  # load only the tokenizer modules, skipping roformer_np/__init__.py
        import types

        package = types.ModuleType("roformer_np")
        package.__path__ = [str(REPO / "roformer_np")]
        sys.modules["roformer_np"] = package
        from roformer_np.tokenizer import RoFormerTokenizer
    return RoFormerTokenizer


def check_save_load(vocab: Path, texts: list[str]) -> dict:
    """roformer_np saves -> Hugging Face loads (and the reverse) with identical tokens and config."""
    from transformers import RoFormerTokenizer as HFTokenizer

    RoFormerTokenizer = _our_tokenizer_class()
    ours = RoFormerTokenizer(vocab, model_max_length=512, strip_accents=False)
    reference = HFTokenizer(str(vocab), model_max_length=512, strip_accents=False)
    with tempfile.TemporaryDirectory() as ours_dir, tempfile.TemporaryDirectory() as hf_dir:
        ours.save_pretrained(ours_dir)
        hf_loaded = HFTokenizer.from_pretrained(ours_dir)
        reference.save_pretrained(hf_dir)
        ours_loaded = RoFormerTokenizer.from_pretrained(hf_dir)
        same_tokens = all(
            hf_loaded.tokenize(t) == reference.tokenize(t) == ours_loaded.tokenize(t) for t in texts
        )
        same_config = (
            hf_loaded.model_max_length == 512
            and hf_loaded.basic_tokenizer.strip_accents is False
            and ours_loaded.model_max_length == 512
            and ours_loaded.strip_accents is False
        )
        same_vocab = hf_loaded.get_vocab() == ours.get_vocab() == ours_loaded.get_vocab()
    if not (same_tokens and same_config and same_vocab):
        raise AssertionError(f"save/load round trip differs: {same_tokens=} {same_config=} {same_vocab=}")
    return {"hf_loads_roformer_np_save": True, "roformer_np_loads_hf_save": True, "texts_checked": len(texts)}


def jieba_agreement(texts: list[str]) -> dict:
    """How often Python jieba (HMM off), the fallback segmenter, cuts exactly as rjieba."""
    import jieba
    import rjieba

    jieba.setLogLevel(60)
    differ = [t for t in texts if list(jieba.cut(t, HMM=False)) != rjieba.cut(t, False)]
    return {"texts": len(texts), "identical": len(texts) - len(differ), "differing_texts": differ}


def main(outdir: str | Path | None = None) -> dict:
    from transformers import RoFormerTokenizer, RoFormerTokenizerFast

    # golden/generate.py passes the golden/ directory; the tokenizer files live in its tokenizer/ folder.
    outdir = Path(outdir) if outdir is not None else REPO / "golden"
    if outdir.name != "tokenizer":
        outdir = outdir / "tokenizer"
    outdir.mkdir(parents=True, exist_ok=True)
    texts = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").split("\n") if line.strip()]
    sizes: dict[str, int] = {}
    all_calls: list[dict] = []
    all_decodes: list[dict] = []
    all_configs: list[dict] = []
    all_disagreements: list[dict] = []
    summary: dict[str, dict] = {}
    for name, vocab in VOCABS.items():
        slow = RoFormerTokenizer(str(vocab))
        fast = RoFormerTokenizerFast(str(vocab))
        cases, disagreements = corpus_cases(name, slow, fast, texts)
        sizes[f"corpus_{name}.json"] = _dump_lines(outdir / f"corpus_{name}.json", cases)
        all_disagreements += disagreements
        all_calls += call_cases(name, slow, fast, texts)
        all_decodes += decode_cases(name, slow, texts)
        all_configs += config_cases(name, vocab, texts)
        if name == "base":
            sizes["fast_truncation.json"] = _dump_lines(outdir / "fast_truncation.json", fast_truncation_cases(fast))
        summary[name] = {
            "vocab_sha256": hashlib.sha256(vocab.read_bytes()).hexdigest(),
            "texts": len(cases),
            "tokens": sum(len(c["ids"]) for c in cases),
            "slow_fast_disagree": len(disagreements),
        }
    sizes["calls.json"] = _dump_lines(outdir / "calls.json", all_calls)
    sizes["decode.json"] = _dump_lines(outdir / "decode.json", all_decodes)
    sizes["configs.json"] = _dump_lines(outdir / "configs.json", all_configs)
    sizes["slow_fast_disagreements.json"] = _dump_lines(
        outdir / "slow_fast_disagreements.json", all_disagreements
    )
    plain_texts = [r["text"] for r in texts]
    manifest = {
        "generator": "golden/gen_tokenizer.py",
        "reference": "transformers RoFormerTokenizer (slow); offsets and overflow from RoFormerTokenizerFast",
        "versions": {
            "transformers": version("transformers"),
            "tokenizers": version("tokenizers"),
            "rjieba": version("rjieba"),
            "jieba": version("jieba"),
            "python": platform.python_version(),
            "unicodedata": unicodedata.unidata_version,
        },
        "corpus": {
            "file": str(CORPUS.relative_to(REPO)),
            "sha256": hashlib.sha256(CORPUS.read_bytes()).hexdigest(),
            "texts": len(texts),
        },
        "vocabs": summary,
        "save_load": {name: check_save_load(vocab, plain_texts[::5]) for name, vocab in VOCABS.items()},
        "jieba_fallback": jieba_agreement(plain_texts),
        "files": sizes,
    }
    (outdir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return manifest


if __name__ == "__main__":
    result = main(sys.argv[1] if len(sys.argv) > 1 else None)
    print(json.dumps({k: result[k] for k in ("vocabs", "files")}, indent=1))
    print(
        "jieba fallback identical on",
        result["jieba_fallback"]["identical"],
        "of",
        result["jieba_fallback"]["texts"],
    )
