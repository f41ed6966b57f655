"""Stopping criteria against transformers 4.56.2 (golden/cases/stopping, written by golden/gen_stopping.py)."""

from __future__ import annotations

import json
import random
import time
import warnings

import numpy as np
import pytest
from conftest import GOLDEN, REPO

import roformer_np
from roformer_np.stopping_criteria import (
    EosTokenCriteria,
    MaxLengthCriteria,
    MaxTimeCriteria,
    StoppingCriteria,
    StoppingCriteriaList,
    StopStringCriteria,
    build_stopping_criteria,
)

CASES = GOLDEN / "cases" / "stopping"


def _load(name: str) -> dict:
    return json.loads((CASES / name).read_text(encoding="utf-8"))


STOP_CASES = _load("stop_strings.json")["cases"]
CRITERIA = _load("criteria.json")
_TOKENIZERS: dict = {}


def _tokenizer(name: str, vocab: str):
    if (name, vocab) not in _TOKENIZERS:
        _TOKENIZERS[name, vocab] = getattr(roformer_np, name)(str(REPO / vocab))
    return _TOKENIZERS[name, vocab]


def test_golden_covers_every_kind_of_decision():
    """The goldens hold rows that stop, rows that stop and later run on, errors, for all four tokenizers."""
    decided = [c for c in STOP_CASES if "stops" in c]
    assert {c["tokenizer"] for c in decided} == {"RoFormerTokenizer", "RoFormerTokenizerFast", "BertTokenizer",
                                                 "BertTokenizerFast"}
    rows = [s for c in decided for s in c["stops"]]
    assert sum("1" in s for s in rows) > 300 and sum(s.endswith("0") and "1" in s for s in rows) > 100
    assert sum("error" in c for c in STOP_CASES) >= 8


@pytest.mark.parametrize("case", STOP_CASES, ids=[c["name"] for c in STOP_CASES])
def test_stop_string_decisions_match_hugging_face(case):
    tokenizer = _tokenizer(case["tokenizer"], case["vocab"])
    if "error" in case:  # Hugging Face: no token of the vocabulary can end any of the stop strings
        with pytest.raises(ValueError, match="stop_strings"):
            StopStringCriteria(tokenizer, case["stop_strings"])
        return
    criteria = StopStringCriteria(tokenizer, case["stop_strings"])
    ids = np.array(case["ids"], dtype=np.int64)  # [N, S]
    expected = np.array([[ch == "1" for ch in row] for row in case["stops"]])  # [N, S]
    got = np.stack([criteria(ids[:, : t + 1], None) for t in range(ids.shape[1])], axis=1)
    assert got.dtype == bool and got.shape == expected.shape
    bad = np.argwhere(got != expected)
    assert not bad.size, f"(row, step) differing from Hugging Face: {bad[:5].tolist()}"


def test_stop_string_decisions_row_by_row_equal_the_batch():
    case = next(c for c in STOP_CASES if c["name"] == "BertTokenizerFast.several")
    criteria = StopStringCriteria(_tokenizer(case["tokenizer"], case["vocab"]), case["stop_strings"])
    ids = np.array(case["ids"], dtype=np.int64)
    batch = criteria(ids, None)
    assert [bool(criteria(ids[r: r + 1], None)[0]) for r in range(len(ids))] == batch.tolist()


# ---------------------------------------------------------------------------------------------
# StopStringCriteria on a tokenizer whose tokens are plain strings (text = tokens concatenated)
# ---------------------------------------------------------------------------------------------
class PlainTokenizer:
    """Token i is ``tokens[i]``; text is the tokens concatenated. Only what StopStringCriteria needs."""

    def __init__(self, tokens: list[str]):
        self.tokens = ["abc", "def", *tokens]  # the first two spell Hugging Face's prefix "abcdef"

    def get_vocab(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        assert text == "abcdef" and not add_special_tokens
        return {"input_ids": [0, 1]}

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)


def _ids(tok: PlainTokenizer, pieces: list[str]) -> np.ndarray:
    return np.array([[tok.tokens.index(p) for p in pieces]], dtype=np.int64)


DOC_TOKENS = ["st", "op", "stop", "opera", "sto", "pper", "las", "topper", "s", "to", "pped", "at", "tion"]


@pytest.mark.parametrize("pieces, stops", [
    (["st", "op"], True), (["stop"], True), (["st", "opera"], True), (["sto", "pper"], True),
    (["las", "topper"], True), (["s", "to", "pped"], True),
    (["stop", "at"], False), (["st", "op", "at"], False), (["st", "opera", "tion"], False),
])
def test_hugging_face_docstring_examples(pieces, stops):
    """The examples of Hugging Face's StopStringCriteria docstring (stop string "stop")."""
    tok = PlainTokenizer(DOC_TOKENS)
    assert StopStringCriteria(tok, "stop")(_ids(tok, pieces), None).tolist() == [stops]


def _brute_force(tokens: list[str], row: list[int], stops: tuple[str, ...]) -> bool:
    """A stop string occurs in the text of the last max(len(s)) tokens, ending inside the last token."""
    window = [tokens[i] if i < len(tokens) else None for i in row[-max(map(len, stops)):]]
    if window[-1] is None:  # an id outside the vocabulary never completes a string
        return False
    kept = []
    for piece in reversed(window):  # an unknown id cuts the text: nothing before it can take part
        if piece is None:
            break
        kept.append(piece)
    text = "".join(reversed(kept))
    last_start = len(text) - len(kept[0])
    for stop in stops:
        at = text.find(stop)
        while at >= 0:
            if at + len(stop) > last_start:
                return True
            at = text.find(stop, at + 1)
    return False


@pytest.mark.parametrize("seed", range(6))
def test_stop_strings_equal_brute_force_search(seed):
    rng = random.Random(seed)
    alphabet = "abx我们"
    pieces = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))) for _ in range(40)})
    pieces.append("")  # an empty token: it fits anywhere inside a stop string
    tok = PlainTokenizer(pieces)
    stops = tuple(sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 5))) for _ in range(3)}))
    criteria = StopStringCriteria(tok, list(stops))
    n_tokens = len(tok.tokens)
    rows = [[rng.randrange(n_tokens + 2) for _ in range(12)] for _ in range(60)]  # a few unknown ids
    ids = np.array(rows, dtype=np.int64)
    for t in range(1, ids.shape[1] + 1):
        expected = [_brute_force(tok.tokens, row[:t], stops) for row in rows]
        assert criteria(ids[:, :t], None).tolist() == expected


def test_stop_string_tables_are_shared_between_equal_tokenizers():
    from roformer_np import stopping_criteria as module

    tok = PlainTokenizer(DOC_TOKENS)
    first = StopStringCriteria(tok, ["stop", "to"])
    again = StopStringCriteria(PlainTokenizer(DOC_TOKENS), ("stop", "to"))
    assert first._tables is again._tables and len(module._TABLES.items) <= 8


# ---------------------------------------------------------------------------------------------
# max length, EOS, max time, the list generate() builds
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CRITERIA["max_length"], ids=lambda c: f"{c['max_length']}-{c['shape']}")
def test_max_length_golden(case):
    criteria = MaxLengthCriteria(case["max_length"], case["max_position_embeddings"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = criteria(np.zeros(case["shape"], dtype=np.int64), None)
    assert got.dtype == bool and got.tolist() == case["done"]


def test_max_length_warns_once_past_the_model_limit():
    criteria = MaxLengthCriteria(20, max_position_embeddings=8)
    with pytest.warns(UserWarning, match="max_position_embeddings"):
        criteria(np.zeros((1, 8), dtype=np.int64), None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        criteria(np.zeros((1, 9), dtype=np.int64), None)  # once is enough
        MaxLengthCriteria(8, max_position_embeddings=8)(np.zeros((1, 8), dtype=np.int64), None)  # done: no warning


@pytest.mark.parametrize("case", CRITERIA["eos"], ids=lambda c: str(c["eos_token_id"]))
def test_eos_golden(case):
    got = EosTokenCriteria(case["eos_token_id"])(np.array(case["input_ids"], dtype=np.int64), None)
    assert got.dtype == bool and got.tolist() == case["done"]


def test_eos_accepts_arrays():
    ids = np.array([[1, 7], [1, 8], [1, 9]], dtype=np.int64)
    assert EosTokenCriteria(np.array([8, 9]))(ids, None).tolist() == [False, True, True]
    assert EosTokenCriteria(np.int64(7))(ids, None).tolist() == [True, False, False]


def test_max_time_compares_with_the_start():
    ids = np.zeros((3, 2), dtype=np.int64)
    assert MaxTimeCriteria(5.0, initial_timestamp=time.time() - 1000)(ids, None).tolist() == [True] * 3
    assert MaxTimeCriteria(1000.0)(ids, None).tolist() == [False] * 3
    assert MaxTimeCriteria(1, initial_timestamp=0).initial_timestamp == 0.0


class CustomCriteria(StoppingCriteria):
    """The golden generator's user criterion: never stops."""

    def __call__(self, input_ids, scores, **kwargs):
        return np.zeros(input_ids.shape[0], dtype=bool)


def _custom(spec: list) -> list:
    made = {"MaxLengthCriteria": MaxLengthCriteria, "EosTokenCriteria": EosTokenCriteria,
            "MaxTimeCriteria": MaxTimeCriteria}
    return [made[kind](arg) if kind in made else CustomCriteria() for kind, arg in spec]


def _describe(criteria, custom: list) -> dict:
    entry = {"class": type(criteria).__name__}
    for i, c in enumerate(custom):
        if c is criteria:
            entry["custom"] = i
    if isinstance(criteria, MaxLengthCriteria):
        entry.update(max_length=criteria.max_length, max_position_embeddings=criteria.max_position_embeddings)
    elif isinstance(criteria, MaxTimeCriteria):
        entry["max_time"] = criteria.max_time
    elif isinstance(criteria, StopStringCriteria):
        entry["stop_strings"] = list(criteria.stop_strings)
    elif isinstance(criteria, EosTokenCriteria):
        entry["eos_token_id"] = criteria.eos_token_id.tolist()
    return entry


@pytest.mark.parametrize("case", CRITERIA["build"], ids=lambda c: json.dumps([c["options"], c["custom"]]))
def test_build_order_and_merge_match_hugging_face(case):
    tokenizer = _tokenizer("BertTokenizer", "tests/data/real/roformer_chinese_char/vocab.txt")
    custom = _custom(case["custom"])
    built = build_stopping_criteria(**case["options"], tokenizer=tokenizer,
                                    max_position_embeddings=case["max_position_embeddings"], custom=custom)
    assert isinstance(built, StoppingCriteriaList)
    assert [_describe(c, custom) for c in built] == case["built"]
    assert built.max_length == next(e["max_length"] for e in case["built"] if "max_length" in e)


def test_list_ors_its_criteria():
    ids = np.array([[5, 1], [5, 2], [5, 3]], dtype=np.int64)
    both = StoppingCriteriaList([EosTokenCriteria(1), EosTokenCriteria([3])])
    assert both(ids, None).tolist() == [True, False, True]
    assert StoppingCriteriaList()(ids, None).tolist() == [False] * 3
    assert StoppingCriteriaList().max_length is None
    assert StoppingCriteriaList([EosTokenCriteria(1), MaxLengthCriteria(4), MaxLengthCriteria(9)]).max_length == 4
    with_max = StoppingCriteriaList([EosTokenCriteria(2), MaxLengthCriteria(2)])
    assert with_max(ids, None).tolist() == [True] * 3


def test_build_without_custom_keeps_the_defaults():
    built = build_stopping_criteria(max_length=7, eos_token_id=[3, 4])
    assert [type(c) for c in built] == [MaxLengthCriteria, EosTokenCriteria]
    assert built[0].max_position_embeddings is None and built[1].eos_token_id.tolist() == [3, 4]


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, -3, 2.0, True, None, "5"])
def test_max_length_errors(bad):
    with pytest.raises(ValueError, match="max_length"):
        MaxLengthCriteria(bad)
    with pytest.raises(ValueError, match="max_length"):
        build_stopping_criteria(max_length=bad)


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, float("inf"), float("nan"), True, "1"])
def test_max_time_errors(bad):
    with pytest.raises(ValueError, match="max_time"):
        MaxTimeCriteria(bad)
    with pytest.raises(ValueError, match="max_time"):
        build_stopping_criteria(max_length=5, max_time=bad)


@pytest.mark.parametrize("bad", ["", [], [""], ["ok", ""], ["ok", 3], 5, b"stop", {"stop"}])
def test_stop_strings_errors(bad):
    tok = PlainTokenizer(DOC_TOKENS)
    with pytest.raises(ValueError, match="stop_strings"):
        StopStringCriteria(tok, bad)
    with pytest.raises(ValueError, match="stop_strings"):
        build_stopping_criteria(max_length=5, stop_strings=bad, tokenizer=tok)


def test_stop_strings_need_a_tokenizer():
    with pytest.raises(ValueError, match="tokenizer"):
        build_stopping_criteria(max_length=5, stop_strings=["stop"])
    with pytest.raises(ValueError, match="tokenizer"):
        StopStringCriteria(None, ["stop"])


@pytest.mark.parametrize("bad", [[], -1, [3, -2], "2", 1.0, [True], np.array([1.5])])
def test_eos_errors(bad):
    with pytest.raises(ValueError, match="eos_token_id"):
        EosTokenCriteria(bad)


@pytest.mark.parametrize("kwargs, name", [
    ({"max_position_embeddings": 0}, "max_position_embeddings"),
    ({"custom": [3]}, "custom"),
])
def test_build_errors(kwargs, name):
    with pytest.raises(ValueError, match=name):
        build_stopping_criteria(max_length=5, **kwargs)


@pytest.mark.parametrize("bad", [np.zeros(3, dtype=np.int64), np.zeros((2, 2), dtype=np.float32)])
def test_input_ids_must_be_an_integer_matrix(bad):
    for criteria in (MaxLengthCriteria(3), EosTokenCriteria(1), StopStringCriteria(PlainTokenizer(DOC_TOKENS), "op")):
        with pytest.raises(ValueError, match="input_ids"):
            criteria(bad, None)


def test_base_class_must_be_subclassed():
    with pytest.raises(NotImplementedError):
        StoppingCriteria()(np.zeros((1, 1), dtype=np.int64), None)
