"""Which columns a task's results fill, and how a batch's rows become the pipeline's inputs.

Pure Python (no pandas, no Arrow): a :class:`Plan` is decided from the task and its options alone, before any
model is loaded, so Dask can be told the result columns (``meta``) up front and an empty batch gets typed
empty columns.

Column kinds: ``str``, ``float`` (float64), ``int`` (int64), ``object`` (JSON-able lists / dicts, with an
Arrow type where the structure is fixed), ``vector`` (one float32 vector per row, all of one length) and
``array`` (one float32 [tokens, hidden] array per row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..pipelines.factory import resolve_task

KINDS = ("str", "float", "int", "object", "vector", "array")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    arrow: Callable[[Any], Any] | None = None  # pyarrow module -> the column's Arrow type ("object" columns)


@dataclass(frozen=True)
class Plan:
    """The result columns of a task and how one row's pipeline result fills them (one value per column)."""

    columns: tuple[Column, ...]
    extract: Callable[[Any], tuple]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def values(self, results: Sequence[Any]) -> dict[str, list]:
        """Column name -> one value per result, in row order."""
        out: dict[str, list] = {c.name: [] for c in self.columns}
        for row, result in enumerate(results):
            try:
                parts = self.extract(result)
            except ValueError as exc:
                raise ValueError(f"row {row}: {exc}") from None
            for column, value in zip(self.columns, parts):
                out[column.name].append(value)
        return out


# -- Arrow types of the structured results (pyarrow is passed in: it is imported only for Arrow batches) ----
def _entity(pa: Any, grouped: bool) -> Any:
    first = [("entity_group", pa.string())] if grouped else [("entity", pa.string())]
    index = [] if grouped else [("index", pa.int64())]
    return pa.struct(first + [("score", pa.float64())] + index +
                     [("word", pa.string()), ("start", pa.int64()), ("end", pa.int64())])


def _candidate(pa: Any) -> Any:
    return pa.struct([("score", pa.float64()), ("token", pa.int64()), ("token_str", pa.string()),
                      ("sequence", pa.string())])


def _answer(pa: Any) -> Any:
    return pa.struct([("score", pa.float64()), ("start", pa.int64()), ("end", pa.int64()), ("answer", pa.string())])


def _fill_mask_type(pa: Any) -> Any:
    return pa.list_(_candidate(pa))


# -- the plans -------------------------------------------------------------------------------------------------
def _text_classification(options: dict) -> Plan:
    if "top_k" in options or options.get("return_all_scores"):  # each result is then a list of labels
        def ranked(result: Any) -> tuple:
            items = [result] if isinstance(result, dict) else result
            return [d["label"] for d in items], [d["score"] for d in items]

        return Plan((Column("labels", "object", lambda pa: pa.list_(pa.string())),
                     Column("scores", "object", lambda pa: pa.list_(pa.float64()))), ranked)
    return Plan((Column("label", "str"), Column("score", "float")), lambda r: (r["label"], r["score"]))


def _token_classification(options: dict) -> Plan:
    strategy = str(options.get("aggregation_strategy") or "none").lower()
    grouped = strategy != "none" or bool(options.get("grouped_entities"))
    return Plan((Column("entities", "object", lambda pa: pa.list_(_entity(pa, grouped))),), lambda r: (r,))


def _question_answering(options: dict) -> Plan:
    if options.get("top_k", 1) == 1:
        def best(result: Any) -> tuple:
            if isinstance(result, list):  # no span at all (an empty list): nothing to put in the columns
                raise ValueError("question-answering found no answer span; use output_column= to keep raw results")
            return result["answer"], result["score"], result["start"], result["end"]

        return Plan((Column("answer", "str"), Column("score", "float"), Column("start", "int"),
                     Column("end", "int")), best)
    return Plan((Column("answers", "object", lambda pa: pa.list_(_answer(pa))),),
                lambda r: ([r] if isinstance(r, dict) else r,))


def _feature_extraction(options: dict) -> Plan:
    kind = "array" if options.get("pooling") is None else "vector"
    return Plan((Column("embedding", kind),), lambda r: (r[0] if kind == "array" else r,))


def _text_generation(options: dict) -> Plan:
    if options.get("return_tensors"):
        return Plan((Column("generated_token_ids", "object", lambda pa: pa.list_(pa.list_(pa.int64()))),),
                    lambda r: ([d["generated_token_ids"] for d in r],))
    n = options.get("num_return_sequences", (options.get("generate_kwargs") or {}).get("num_return_sequences"))
    if n is not None and n != 1:
        return Plan((Column("generated_texts", "object", lambda pa: pa.list_(pa.string())),),
                    lambda r: ([d["generated_text"] for d in r],))

    def one(result: list) -> tuple:
        if len(result) != 1:
            raise ValueError(f"text-generation returned {len(result)} sequences for a prompt; pass "
                             "num_return_sequences= explicitly to get a generated_texts column")
        return (result[0]["generated_text"],)

    return Plan((Column("generated_text", "str"),), one)


PLANS: dict[str, Callable[[dict], Plan]] = {
    "text-classification": _text_classification,
    "token-classification": _token_classification,
    "fill-mask": lambda options: Plan((Column("predictions", "object", _fill_mask_type),), lambda r: (r,)),
    "question-answering": _question_answering,
    "feature-extraction": _feature_extraction,
    "text-generation": _text_generation,
    "sentence-similarity": lambda options: Plan((Column("scores", "object", lambda pa: pa.list_(pa.float64())),),
                                                lambda r: (r,)),
}


def plan_columns(task: str, options: dict[str, Any], output_column: str | None = None) -> Plan:
    """The result columns of ``task`` with pipeline ``options``; ``output_column``: one column holding each
    row's pipeline result as it is (any task, any options)."""
    if output_column is not None:
        if not isinstance(output_column, str) or not output_column:
            raise ValueError(f"output_column must be a non-empty str or None, got {output_column!r}")
        return Plan((Column(output_column, "object"),), lambda r: (r,))
    return PLANS[resolve_task(task)](options)


# -- inputs ----------------------------------------------------------------------------------------------------
# task -> (default text column, default pair column or None, whether a pair column is allowed)
INPUT_COLUMNS = {
    "question-answering": ("question", "context", True),
    "sentence-similarity": ("text", "sentences", True),
    "text-classification": ("text", None, True),
}


def input_columns(task: str, text_column: str | None, text_pair_column: str | None) -> tuple[str, str | None]:
    """The columns a task reads: (text, pair or None), defaults filled in; ValueError for a pair it cannot use."""
    default_text, default_pair, pairs = INPUT_COLUMNS.get(resolve_task(task), ("text", None, False))
    for name, value in (("text_column", text_column), ("text_pair_column", text_pair_column)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{name} must be a non-empty str or None, got {value!r}")
    if text_pair_column is not None and not pairs:
        raise ValueError(f"text_pair_column: {resolve_task(task)} takes one text per row (pairs are for "
                         "text-classification, question-answering and sentence-similarity)")
    return text_column or default_text, text_pair_column or default_pair


def _text(value: Any, column: str, row: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"column {column!r}, row {row}: expected a str, got {type(value).__name__} {value!r:.40}")
    return value


def _texts(value: Any, column: str, row: int) -> list[str]:
    """A str or a sequence of str (lists arrive as lists, NumPy arrays or tuples depending on the format)."""
    if isinstance(value, str):
        return [value]
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"column {column!r}, row {row}: expected a list of str, got {type(value).__name__}")
    return [_text(v, column, row) for v in value]


def build_inputs(task: str, text_column: str, texts: Sequence[Any], pair_column: str | None,
                 pairs: Sequence[Any] | None) -> list[Any]:
    """One pipeline input per row, from the column values."""
    task = resolve_task(task)
    first = [_text(v, text_column, i) for i, v in enumerate(texts)]
    if pairs is None:
        return first
    assert pair_column is not None
    if task == "question-answering":
        return [{"question": q, "context": _text(c, pair_column, i)} for i, (q, c) in enumerate(zip(first, pairs))]
    if task == "sentence-similarity":
        return [{"source_sentence": s, "sentences": _texts(p, pair_column, i)}
                for i, (s, p) in enumerate(zip(first, pairs))]
    return [{"text": t, "text_pair": _text(p, pair_column, i)} for i, (t, p) in enumerate(zip(first, pairs))]
