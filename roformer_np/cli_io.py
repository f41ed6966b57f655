"""Input and output of the ``roformer-np`` task commands: texts from arguments, stdin or files; text or JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

FEW = 4  # more inputs than this from a file or stdin get a progress bar


class CliError(Exception):
    """A user error: printed as one ``roformer-np: error: …`` line, exit status 2."""


def _parse_lines(lines: Iterable[str], source: str, fmt: str) -> list[dict]:
    """Records of a file: one text per line, or JSON objects (``fmt="auto"``: JSON if the first line is one)."""
    records = []
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue  # blank lines carry no text
        if fmt == "auto":
            fmt = "jsonl" if line.lstrip().startswith("{") else "text"
        if fmt == "text":
            records.append({"text": line})
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CliError(f"{source}:{number}: not a JSON object ({exc.msg})") from None
        if not isinstance(record, dict):
            raise CliError(f"{source}:{number}: expected a JSON object, got {type(record).__name__}")
        record["_where"] = f"{source}:{number}"
        records.append(record)
    return records


def read_records(texts: Sequence[str], input_file: str | None, fmt: str, stdin: TextIO) -> tuple[list[dict], bool]:
    """The inputs as records (dicts with ``text`` or other fields), and whether they came from a file/stdin.

    Positional texts are used as given, except ``-``, which reads stdin. With no text and no ``--input``,
    stdin is read when it is not a terminal.
    """
    records: list[dict] = []
    streamed = False
    if input_file is not None:
        path = Path(input_file)
        try:
            with path.open(encoding="utf-8") as handle:
                records.extend(_parse_lines(handle, str(path), fmt))
        except UnicodeDecodeError:
            raise CliError(f"cannot read {path}: not UTF-8 text") from None
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
        streamed = True
    for text in texts:
        if text == "-":
            records.extend(_parse_lines(stdin, "<stdin>", fmt))
            streamed = True
        else:
            records.append({"text": text})
    if not texts and input_file is None:
        if stdin.isatty():
            raise CliError("no input: give texts as arguments, '-' for stdin, or --input FILE")
        records.extend(_parse_lines(stdin, "<stdin>", fmt))
        streamed = True
    if not records:
        raise CliError("no input: the given input holds no text")
    return records, streamed


def field(record: dict, name: str) -> str:
    """A string field of a record, or a clear error naming where the record came from."""
    value = record.get(name)
    if not isinstance(value, str):
        where = record.get("_where", "input")
        raise CliError(f"{where}: needs a string {name!r} field" + ("" if value is None else
                                                                   f", got {type(value).__name__}"))
    return value


def progress(results: Iterator[Any], total: int, streamed: bool, quiet: bool, stderr: TextIO) -> Iterator[Any]:
    """``results`` with a tqdm bar on stderr for more than a few file/stdin inputs, when stderr is a terminal."""
    if quiet or not streamed or total <= FEW or not stderr.isatty():
        return results
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a comfort, never a requirement
        return results
    return iter(tqdm(results, total=total, file=stderr, unit="text", leave=False))


def write_json(record: dict, result: Any, out: TextIO) -> None:
    """One JSON object per input: its fields (the text, an id …) and ``result``, the pipeline's output."""
    shown = {k: v for k, v in record.items() if not k.startswith("_")}
    out.write(json.dumps({**shown, "result": result}, ensure_ascii=False) + "\n")


def short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_fill_mask(record: dict, result: list) -> str:
    lists = result if result and isinstance(result[0], list) else [result]
    lines = [record["text"]]
    for n, predictions in enumerate(lists, 1):
        if len(lists) > 1:
            lines.append(f"  mask {n}:")
        lines += [f"  {p['score']:.4f}  {p['token_str']}  {p['sequence']}" for p in predictions]
    return "\n".join(lines)


def format_classify(record: dict, result: Any) -> str:
    labels = result if isinstance(result, list) else [result]
    if labels and isinstance(labels[0], list):  # a single text with top_k from the constructor
        labels = labels[0]
    shown = ", ".join(f"{d['label']} {d['score']:.4f}" for d in labels)
    return f"{shown}\t{record['text']}"


def format_ner(record: dict, result: list) -> str:
    lines = [record["text"]]
    for e in result:
        label = e.get("entity_group", e.get("entity"))
        lines.append(f"  {label:<8} {e['word']}  [{e['start']}:{e['end']}]  {e['score']:.4f}")
    if not result:
        lines.append("  (no entities)")
    return "\n".join(lines)


def format_qa(record: dict, result: Any) -> str:
    answers = result if isinstance(result, list) else [result]
    lines = [f"Q: {record['question']}", f"C: {short(record['context'])}"]
    lines += [f"  {a['score']:.4f}  {a['answer'] or '(no answer)'}  [{a['start']}:{a['end']}]" for a in answers]
    return "\n".join(lines)


def format_embed(record: dict, result: list) -> str:
    if result and isinstance(result[0], list):  # per token: [1, T, C]
        tokens = result[0]
        return f"{len(tokens)} tokens x {len(tokens[0]) if tokens else 0}\t{record['text']}"
    head = ", ".join(f"{x:.4f}" for x in result[:4])
    return f"[{head}, … ] ({len(result)} floats)\t{record['text']}"


def format_generate(record: dict, result: list) -> str:
    return "\n".join(r.get("generated_text", str(r.get("generated_token_ids"))) for r in result)


FORMATTERS = {"fill-mask": format_fill_mask, "text-classification": format_classify,
              "token-classification": format_ner, "question-answering": format_qa,
              "feature-extraction": format_embed, "text-generation": format_generate}


def write_text(task: str, record: dict, result: Any, out: TextIO) -> None:
    out.write(FORMATTERS[task](record, result) + "\n")
