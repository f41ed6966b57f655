"""Input and output of the ``roformer-np`` task commands: texts from arguments, stdin or files; text or JSON lines."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

FEW = 4  # more inputs than this from a file or stdin get a progress bar
_NEWLINE = re.compile(r"\r\n|\r|\n")  # Python's universal newlines
# json.dumps leaves these raw in strings, but str.splitlines (and some JSON-lines readers) break lines there
_JSON_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


class CliError(Exception):
    """A user error: printed as one ``roformer-np: error: …`` line, exit status 2."""


def _decode(data: bytes, source: str) -> list[str]:
    """The lines of UTF-8 ``data`` (a byte-order mark is dropped), or one clear error naming the first bad line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CliError(f"cannot read {source}: not UTF-8 text (line {line})") from None
    lines = _NEWLINE.split(text)  # not splitlines(): U+2028 and friends are part of a text, not line breaks
    if lines[-1] == "":
        lines.pop()  # the newline ending the last line
    return lines


def _read_stream(stream: TextIO, source: str) -> list[str]:
    """The lines of a text stream, decoded strictly as UTF-8 from its bytes where it has them (stdin)."""
    raw = getattr(stream, "buffer", None)
    if raw is not None:
        return _decode(raw.read(), source)
    try:
        return _decode(stream.read().encode("utf-8"), source)
    except UnicodeError:  # a text stream holding lone surrogates: not UTF-8 either
        raise CliError(f"cannot read {source}: not UTF-8 text") from None


def _parse_lines(lines: Iterable[str], source: str, fmt: str) -> list[dict]:
    """Records of a file: one text per line, or JSON objects (``fmt="auto"``: JSON if the first text is one).

    A blank line becomes a record marked ``_blank``: it is not run, but its output line keeps the place, so
    outputs line up with input lines.
    """
    lines = list(lines)
    if fmt == "auto":
        first = next((line for line in lines if line.strip()), "")
        fmt = "jsonl" if first.lstrip().startswith("{") else "text"
    records = []
    for number, line in enumerate(lines, 1):
        where = f"{source}:{number}"
        if not line.strip():
            records.append({"text": line, "_blank": True, "_where": where} if fmt == "text" else
                           {"_blank": True, "_where": where})
            continue
        if fmt == "text":
            records.append({"text": line, "_where": where})
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CliError(f"{where}: not a JSON object ({exc.msg})") from None
        if not isinstance(record, dict):
            raise CliError(f"{where}: expected a JSON object, got {type(record).__name__}")
        record["_where"] = where
        records.append(record)
    return records


def read_records(texts: Sequence[str], input_file: str | None, fmt: str, stdin: TextIO) -> tuple[list[dict], bool]:
    """The inputs as records (dicts with ``text`` or other fields), and whether they came from a file/stdin.

    Positional texts are used as given, except ``-``, which reads stdin. With no text and no ``--input``,
    stdin is read when it is not a terminal. Files and stdin must be UTF-8.
    """
    records: list[dict] = []
    streamed = False
    if input_file is not None:
        path = Path(input_file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
        records.extend(_parse_lines(_decode(data, str(path)), str(path), fmt))
        streamed = True
    for text in texts:
        if text == "-":
            records.extend(_parse_lines(_read_stream(stdin, "<stdin>"), "<stdin>", fmt))
            streamed = True
        else:
            records.append({"text": text})
    if not texts and input_file is None:
        if stdin.isatty():
            raise CliError("no input: give texts as arguments, '-' for stdin, or --input FILE")
        records.extend(_parse_lines(_read_stream(stdin, "<stdin>"), "<stdin>", fmt))
        streamed = True
    if all(r.get("_blank") for r in records):
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


class Progress:
    """A tqdm bar on stderr for more than a few file/stdin inputs, when stderr is a terminal and not ``quiet``.

    The bar is redrawn in place on the terminal's last line. Anything else written to that terminal
    (results on stdout, warnings on stderr) goes through :meth:`above`, which clears the bar first and
    redraws it after, so no line is written over or into the bar.
    """

    def __init__(self, total: int, streamed: bool, quiet: bool, stderr: TextIO, stdout: TextIO) -> None:
        self.bar = None
        self._stdout_shared = _isatty(stdout)  # results land on the bar's terminal too
        if quiet or not streamed or total <= FEW or not _isatty(stderr):
            return
        try:
            from tqdm import tqdm
        except ImportError:  # the bar is a comfort, never a requirement
            return
        self.bar = tqdm(total=total, file=stderr, unit="text", leave=False)

    @contextlib.contextmanager
    def above(self, stream: str = "stderr") -> Iterator[None]:
        """Write to ``stream`` ("stdout" or "stderr") inside this block without garbling the bar."""
        if self.bar is None or (stream == "stdout" and not self._stdout_shared):
            yield
            return
        self.bar.clear()
        try:
            yield
        finally:
            self.bar.refresh()

    def update(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()  # leave=False: the bar's line is erased


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def write_json(record: dict, result: Any, out: TextIO) -> None:
    """One JSON object per input: its fields (the text, an id …) and ``result``, the pipeline's output
    (``null`` for a blank line)."""
    shown = {k: v for k, v in record.items() if not k.startswith("_")}
    out.write(json.dumps({**shown, "result": result}, ensure_ascii=False).translate(_JSON_LINE_BREAKS) + "\n")


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


def format_similarity(record: dict, result: list) -> str:
    lines = [f"S: {short(record['source_sentence'])}"]
    return "\n".join(lines + [f"  {score:.4f}  {text}" for score, text in zip(result, record["sentences"])])


FORMATTERS = {"fill-mask": format_fill_mask, "text-classification": format_classify,
              "token-classification": format_ner, "question-answering": format_qa,
              "feature-extraction": format_embed, "text-generation": format_generate,
              "sentence-similarity": format_similarity}


def write_text(task: str, record: dict, result: Any, out: TextIO) -> None:
    """The readable form of one result; a blank input line stays a blank line."""
    out.write(("" if record.get("_blank") else FORMATTERS[task](record, result)) + "\n")
