"""The fast tokenizers' Unicode decisions against Hugging Face ``tokenizers``' own tables, on every code point
(golden/cases/unicode_hf, made by golden/gen_unicode_hf.py): code points this Python's ``unicodedata`` does
not know (Unicode 15 ones for Python 3.11) are kept as Hugging Face keeps them, whatever the Python version."""

from __future__ import annotations

import json
import types
import unicodedata
import warnings
from pathlib import Path

import pytest
from conftest import GOLDEN

from roformer_np import RoFormerTokenizerFast
from roformer_np import tokenizer_stages as stages
from roformer_np.tokenizer_text import is_cjk

DEMO_MLM = Path(stages.__file__).parent / "demo" / "mlm"
GOLD = json.loads((GOLDEN / "cases" / "unicode_hf" / "classes.json").read_text(encoding="utf-8"))


def _members(name: str) -> set[int]:
    return {cp for first, last in GOLD["classes"][name] for cp in range(first, last + 1)}


def _code_points() -> range:
    return range(0x110000)


def test_every_code_point_is_cleaned_stripped_and_cut_as_hugging_face() -> None:
    drop, space, punct, mark = (_members(n) for n in ("drop", "space", "punctuation", "mark"))
    wrong: dict[str, list[int]] = {"drop": [], "space": [], "strip": [], "punctuation": []}
    for cp in _code_points():
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        kept = stages._normalize_char.__wrapped__(ch, False, False)
        if (kept == "") != (cp in drop):
            wrong["drop"].append(cp)
        if (kept == " ") != (cp in space):
            wrong["space"].append(cp)
        if (stages._normalize_char.__wrapped__(ch, True, False) == "") != (cp in drop or cp in mark):
            wrong["strip"].append(cp)
        if cp not in space and not is_cjk(cp) and (stages._cut_class.__wrapped__(ch) == 3) != (cp in punct):
            wrong["punctuation"].append(cp)
    assert not any(wrong.values()), {k: [hex(c) for c in v[:10]] for k, v in wrong.items() if v}


@pytest.mark.parametrize("setting", sorted(GOLD["changed"]))
def test_every_code_point_normalises_as_hugging_face(setting: str) -> None:
    """``BertNormalizer``'s result with accent stripping and/or lowercasing, on every code point but the
    (algorithmic) Hangul syllables: the changed ones as recorded, every other one dropped (or stripped),
    spaced or kept."""
    strip, lower = (part.split("=")[1] == "True" for part in setting.split(","))
    changed = {int(cp): result for cp, result in GOLD["changed"][setting].items()}
    drop, space = _members("drop"), _members("space")
    if strip:
        drop |= _members("mark")  # removed whole by accent stripping
    wrong = []
    for cp in _code_points():
        if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3:
            continue
        want = "" if cp in drop else " " if cp in space else changed.get(cp, chr(cp))
        if stages._normalize_char.__wrapped__(chr(cp), strip, lower) != want:
            wrong.append(hex(cp))
    assert not wrong, f"{len(wrong)} code points differ, e.g. {wrong[:10]}"


def test_the_plain_fast_path_agrees_with_the_tables() -> None:
    """``_plain`` (text normalised by one ``str.lower``) holds no character Hugging Face drops, spaces, strips or
    decomposes, and lowercases none differently."""
    plain = stages._plain()
    lowered = {int(cp) for cp in GOLD["changed"]["strip_accents=False,lowercase=True"]}
    special = _members("drop") | _members("mark") | _members("decompose") | (_members("space") - {0x20})
    assert not [hex(cp) for cp in range(0x20, 0xFFEF) if cp in special and plain.fullmatch(chr(cp))]
    # where plain text is lowercased by one str.lower, that gives Hugging Face's result
    assert not [hex(cp) for cp in lowered if plain.fullmatch(chr(cp)) and chr(cp).lower() != GOLD["changed"][
        "strip_accents=False,lowercase=True"][str(cp)]]


@pytest.fixture(scope="module")
def fast() -> RoFormerTokenizerFast:
    return RoFormerTokenizerFast.from_pretrained(GOLDEN / "cases" / "pipelines")


@pytest.mark.parametrize("case", GOLD["texts"], ids=[repr(c["text"]) for c in GOLD["texts"]])
def test_texts_with_new_code_points_tokenize_as_hugging_face(fast: RoFormerTokenizerFast, case: dict) -> None:
    assert fast.tokenize(case["text"]) == case["tokens"]
    offsets = fast(case["text"], return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"]
    assert [list(o) for o in offsets] == case["offsets"]


def test_fast_stages_do_not_ask_unicodedata_for_categories(monkeypatch: pytest.MonkeyPatch,
                                                            fast: RoFormerTokenizerFast) -> None:
    """Another Python's tables cannot change the result: the categories never come from ``unicodedata``."""
    def refuse(ch: str) -> str:
        raise AssertionError(f"unicodedata.category({ch!r}) asked")

    fake = types.SimpleNamespace(**{k: getattr(unicodedata, k) for k in ("normalize", "is_normalized")},
                                 category=refuse)
    monkeypatch.setattr(stages, "unicodedata", fake)
    for f in (stages._normalize_char, stages._cut_class):
        f.cache_clear()
    stages._plain.cache_clear()
    try:
        for case in GOLD["texts"]:
            assert stages.fast_normalize(case["text"], fast._splitter, True, True) is not None
            assert [w for w in stages.split_wordpiece(case["text"], {}, "[UNK]", True, True)]
    finally:
        for f in (stages._normalize_char, stages._cut_class):
            f.cache_clear()
        stages._plain.cache_clear()


@pytest.mark.parametrize("case", GOLD["bert_texts"], ids=[f"{c['kwargs']}-{c['text']!r}" for c in GOLD["bert_texts"]])
def test_bert_fast_tokenizer_on_new_code_points_as_hugging_face(case: dict) -> None:
    from roformer_np import BertTokenizerFast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the demo checkpoint names RoFormerTokenizer
        tok = BertTokenizerFast.from_pretrained(DEMO_MLM, **case["kwargs"])
    enc = tok(case["text"], return_offsets_mapping=True)
    assert enc["input_ids"] == case["input_ids"]
    assert [list(o) for o in enc["offset_mapping"]] == case["offsets"]
