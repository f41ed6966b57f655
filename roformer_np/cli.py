"""The ``roformer-np`` command line (also ``python -m roformer_np``).

Task commands (``fill-mask``, ``classify``, ``ner``, ``qa``, ``embed``, ``generate``, ``similarity``) run a
pipeline on texts given as arguments, ``-`` (stdin) or ``--input FILE`` (one text per line, or JSON lines), and
print readable text or, with ``--json``, one JSON object per input. ``convert`` writes ``model.safetensors``
beside a ``pytorch_model.bin``; ``info`` reports the version and backend and runs a self-check. A user error
prints one ``roformer-np: error: …`` line and exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .cli_io import CliError, Progress, field, read_records, write_json, write_text

BACKEND_CHOICES = ["auto", "numpy", "native"]
DTYPE_CHOICES = ["float32", "float64", "bfloat16", "bf16"]
QUANTIZE_CHOICES = ["int8"]


# ---------------------------------------------------------------------------------------------
# Argument types
# ---------------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else _positive_int(text)


def _top_k_or_all(text: str) -> int | None:
    return None if text == "all" else _positive_int(text)


# ---------------------------------------------------------------------------------------------
# Task commands: options of each
# ---------------------------------------------------------------------------------------------
def _fill_mask_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--top-k", type=_positive_int, default=5, help="predictions per mask (default 5)")
    p.add_argument("--targets", nargs="+", metavar="TOKEN",
                   help="score only these tokens; a value holding the mask token is a text, so "
                        "`--targets 了 好 \"水在零度时会[MASK]。\"` scores 了 and 好 in that text")


def _fill_mask_options(a: argparse.Namespace) -> dict:
    return {"top_k": a.top_k}  # targets: given at the call, once the texts among them are known


def _fill_mask_call(a: argparse.Namespace, pipe: Any) -> dict:
    """``--targets`` (nargs='+') also takes the texts after it: those holding the mask token go back to the
    texts (no token of the vocabulary holds it)."""
    if not a.targets:
        return {}
    mask = pipe.tokenizer.mask_token
    a.texts = [*a.texts, *(t for t in a.targets if mask in t)]
    targets = [t for t in a.targets if mask not in t]
    if not targets:
        raise CliError(f"--targets: no target token given (every value holds {mask}, so each is a text)")
    return {"targets": targets}


def _classify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--top-k", type=_top_k_or_all, metavar="K|all", default=argparse.SUPPRESS,
                   help="labels to show (default: the best one)")
    p.add_argument("--function", choices=["default", "softmax", "sigmoid", "none"], default="default",
                   help="scores from the logits (default: by the model's problem type)")


def _classify_options(a: argparse.Namespace) -> dict:
    options: dict[str, Any] = {"function_to_apply": a.function, "truncation": True}
    if hasattr(a, "top_k"):  # absent: Hugging Face's single best label (its "legacy" form)
        options["top_k"] = a.top_k
    return options


def _ner_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--aggregation", choices=["none", "simple", "first", "average", "max"], default="simple",
                   help="group tokens into entities (default simple; none: one line per token)")
    p.add_argument("--ignore-labels", nargs="*", metavar="LABEL", help="labels not shown (default: O)")
    p.add_argument("--stride", type=_non_negative_int, metavar="N",
                   help="read texts longer than the model's limit in windows overlapping by N tokens "
                        "(default: such texts are truncated, with a warning)")


def _ner_options(a: argparse.Namespace) -> dict:
    return {"aggregation_strategy": a.aggregation, "ignore_labels": a.ignore_labels, "stride": a.stride}


def _qa_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-Q", "--question", help="the question, asked of every context (JSON lines may carry their own)")
    p.add_argument("--top-k", type=_positive_int, default=1, help="answers per question (default 1)")
    p.add_argument("--max-answer-len", type=_positive_int, default=15, help="longest answer in tokens (15)")
    p.add_argument("--max-seq-len", type=_positive_int, help="window length in tokens (default 384)")
    p.add_argument("--doc-stride", type=_non_negative_int, help="overlap of the windows (default 128)")
    p.add_argument("--handle-impossible-answer", action="store_true", help="allow the empty answer")


def _qa_options(a: argparse.Namespace) -> dict:
    return {"top_k": a.top_k, "max_answer_len": a.max_answer_len, "max_seq_len": a.max_seq_len,
            "doc_stride": a.doc_stride, "handle_impossible_answer": a.handle_impossible_answer}


def _qa_input(record: dict, a: argparse.Namespace) -> dict:
    """A record as ``{"question", "context"}``: its own fields, else ``--question`` and the line as context."""
    if "context" not in record and "text" in record:
        record["context"] = record.pop("text")
    if "question" not in record:
        if a.question is None:
            raise CliError(f"{record.get('_where', 'input')}: no question: give --question or JSON lines with "
                           "'question' and 'context'")
        record["question"] = a.question
    return {"question": field(record, "question"), "context": field(record, "context")}


def _embed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pooling", choices=["mean", "cls", "none"], default="mean",
                   help="one vector per text (default mean); none: one per token, as Hugging Face")
    p.add_argument("--normalize", action="store_true", help="unit-length vectors")


def _embed_options(a: argparse.Namespace) -> dict:
    return {"pooling": None if a.pooling == "none" else a.pooling, "normalize": a.normalize, "truncation": True}


def _similarity_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--source", help="the sentence each text is compared with (JSON lines may carry their own "
                                          "\"source_sentence\" and a \"sentences\" list)")
    p.add_argument("--pooling", choices=["pooler", "cls", "mean"], default="pooler",
                   help="the sentence vector (default pooler: RoFormer-Sim's; cls / mean for other encoders)")


def _similarity_options(a: argparse.Namespace) -> dict:
    return {"pooling": a.pooling}


def _similarity_input(record: dict, a: argparse.Namespace) -> dict:
    """``{"source_sentence", "sentences"}``: a record's own fields, else ``--source`` and the line as the sentence."""
    source = record.get("source_sentence", a.source)
    if source is None:
        raise CliError(f"{record.get('_where', 'input')}: no source sentence: give --source or JSON lines with "
                       "'source_sentence' and 'sentences'")
    sentences = record["sentences"] if "sentences" in record else [field(record, "text")]
    record["source_sentence"], record["sentences"] = source, sentences
    record.pop("text", None)
    return {"source_sentence": source, "sentences": sentences}


def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-new-tokens", type=_positive_int, help="tokens to add (default 256, as Hugging Face)")
    p.add_argument("--min-new-tokens", type=_positive_int, help="no EOS before this many new tokens")
    p.add_argument("--do-sample", action=argparse.BooleanOptionalAction, default=None,
                   help="sample (the default, as Hugging Face's pipeline) or --no-do-sample for greedy/beam")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--min-p", type=float)
    p.add_argument("--typical-p", type=float)
    p.add_argument("--num-beams", type=_positive_int)
    p.add_argument("--num-beam-groups", type=_positive_int, help="diverse beam search (with --diversity-penalty)")
    p.add_argument("--diversity-penalty", type=float)
    p.add_argument("--length-penalty", type=float)
    p.add_argument("--repetition-penalty", type=float)
    p.add_argument("--no-repeat-ngram-size", type=_positive_int, help="never repeat an n-gram of this size")
    p.add_argument("--stop-string", action="append", dest="stop_strings", metavar="TEXT",
                   help="stop when the text ends with TEXT (repeatable)")
    p.add_argument("--num-return-sequences", type=_positive_int)
    p.add_argument("--seed", type=int, help="make sampling reproducible")
    p.add_argument("--new-text-only", action="store_true", help="print the continuation without the prompt")
    p.add_argument("--stream", action="store_true",
                   help="print the text as it is generated (one prompt at a time; no beams, one sequence)")


_GENERATE_FLAGS = ("max_new_tokens", "min_new_tokens", "do_sample", "temperature", "top_k", "top_p", "min_p",
                   "typical_p", "num_beams", "num_beam_groups", "diversity_penalty", "length_penalty",
                   "repetition_penalty", "no_repeat_ngram_size", "stop_strings", "num_return_sequences", "seed")


def _generate_options(a: argparse.Namespace) -> dict:
    return {**{k: getattr(a, k) for k in _GENERATE_FLAGS}, "return_full_text": not a.new_text_only}


class _CliStreamer:
    """A TextStreamer writing to this process's stdout, the prompt as typed (not re-decoded) first."""

    def __init__(self, tokenizer: Any, prompt: str, new_text_only: bool) -> None:
        from .streamers import TextStreamer

        class Writer(TextStreamer):
            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                sys.stdout.write(text + ("\n" if stream_end else ""))
                sys.stdout.flush()

        self.streamer = Writer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.prefix = "" if new_text_only else prompt

    def start(self) -> Any:
        sys.stdout.write(self.prefix)
        sys.stdout.flush()
        return self.streamer


def _stream_generate(args: argparse.Namespace, pipe: Any, records: list[dict]) -> int:
    """``generate --stream``: each prompt's text appears token by token; a blank line stays a blank line."""
    if args.json:
        raise CliError("--stream prints text as it comes; it cannot be combined with --json")
    for record in records:
        if record.get("_blank"):
            print()
            continue
        prompt = field(record, "text")
        streamer = _CliStreamer(pipe.tokenizer, prompt, args.new_text_only).start()
        pipe(prompt, streamer=streamer)
    return 0


def _text_input(record: dict, a: argparse.Namespace) -> str:
    return field(record, "text")


def _no_call_options(a: argparse.Namespace, pipe: Any) -> dict:
    return {}


# Does the pipeline cut a text longer than the model's limit? None: no; else what the warning adds.
def _never_truncates(a: argparse.Namespace) -> str | None:
    return None  # fill-mask and generate refuse a long text; qa reads its context in windows


def _truncates(a: argparse.Namespace) -> str | None:
    return ""  # classify and embed: the CLI asks for truncation


def _ner_truncates(a: argparse.Namespace) -> str | None:
    return None if a.stride is not None else "; --stride N reads a long text whole, in overlapping windows"


@dataclass(frozen=True)
class Command:
    task: str
    help: str
    add_args: Callable[[argparse.ArgumentParser], None]
    options: Callable[[argparse.Namespace], dict]
    to_input: Callable[[dict, argparse.Namespace], Any] = _text_input
    call_options: Callable[[argparse.Namespace, Any], dict] = _no_call_options  # needs the loaded pipeline
    truncation: Callable[[argparse.Namespace], str | None] = _never_truncates


COMMANDS = {
    "fill-mask": Command("fill-mask", "predict the [MASK] tokens", _fill_mask_args, _fill_mask_options,
                         call_options=_fill_mask_call),
    "classify": Command("text-classification", "label texts (the demo model: review sentiment)", _classify_args,
                        _classify_options, truncation=_truncates),
    "ner": Command("token-classification", "find named entities (the demo model: person, place, organisation)",
                   _ner_args, _ner_options, truncation=_ner_truncates),
    "qa": Command("question-answering", "extract answers from contexts (needs --model)", _qa_args, _qa_options,
                  _qa_input),
    "embed": Command("feature-extraction", "sentence or token vectors", _embed_args, _embed_options,
                     truncation=_truncates),
    "generate": Command("text-generation", "continue prompts with a causal LM (needs --model)", _generate_args,
                        _generate_options),
    "similarity": Command("sentence-similarity", "cosine similarity of sentence vectors (RoFormer-Sim; needs "
                          "--model)", _similarity_args, _similarity_options, _similarity_input),
}


def _run_task(args: argparse.Namespace) -> int:
    from .pipelines import pipeline

    command = COMMANDS[args.command]
    options = {k: v for k, v in command.options(args).items() if v is not None or k == "top_k"}
    pipe = pipeline(command.task, model=args.model, backend=args.backend, num_threads=args.threads,
                    batch_size=args.batch_size, dtype=args.dtype, quantize=args.quantize, **options)
    call_options = command.call_options(args, pipe)
    records, streamed = read_records(args.texts, args.input, args.format, sys.stdin)
    if getattr(args, "stream", False):
        return _stream_generate(args, pipe, records)
    work = [r for r in records if not r.get("_blank")]  # a blank line is not run; its output keeps the place
    inputs = [command.to_input(record, args) for record in work]  # every input checked before any work
    _warn_truncation(command.truncation(args), pipe, inputs)
    results = iter(pipe(iter(inputs), **call_options))
    display = Progress(len(work), streamed, args.quiet, sys.stderr, sys.stdout)
    with warnings.catch_warnings(), contextlib.closing(display):
        warnings.showwarning = _warning_printer(display)  # warnings, too, are written above the bar
        for record in records:
            result = None
            if not record.get("_blank"):
                result = next(results)
                display.update()
            with display.above("stdout"):
                if args.json:
                    write_json(record, result, sys.stdout)
                else:
                    write_text(command.task, record, result, sys.stdout)
                sys.stdout.flush()
    return 0


def _warn_truncation(remedy: str | None, pipe: Any, inputs: list[str]) -> None:
    """One warning for the texts the pipeline will cut at the model's length (Hugging Face cuts them silently)."""
    if remedy is None:
        return
    from .pipelines.text_classification import truncation_length

    limit = truncation_length(pipe.tokenizer, pipe.model.config, None)
    room = limit - pipe.tokenizer.num_special_tokens_to_add()
    long = sum(1 for text in inputs if len(pipe.tokenizer.tokenize(text)) > room)  # ~2% of a demo-model run
    if long:
        which = "1 text is" if long == 1 else f"{long} texts are"
        warnings.warn(f"{which} longer than the model's limit of {limit} tokens and will be truncated to it"
                      f"{remedy}", UserWarning, stacklevel=2)


# ---------------------------------------------------------------------------------------------
# convert, info
# ---------------------------------------------------------------------------------------------
def _cmd_convert(args: argparse.Namespace) -> int:
    from .weights import PT_WEIGHTS_NAME, SAFE_WEIGHTS_NAME, load_weights, save_weights

    directory = Path(args.directory)
    source = directory / PT_WEIGHTS_NAME if directory.is_dir() else directory
    if not source.is_file():
        raise CliError(f"no {PT_WEIGHTS_NAME} in {directory}" if directory.is_dir() else f"not found: {directory}")
    target = source.parent / SAFE_WEIGHTS_NAME
    if target.exists() and not args.force:
        raise CliError(f"{target} exists; use --force to overwrite it")
    weights = load_weights(source)  # torch-free reader; bfloat16 is widened to float32
    temporary = source.parent / f".{SAFE_WEIGHTS_NAME}.{os.getpid()}.tmp.safetensors"
    try:
        save_weights(weights, temporary)
        written = load_weights(temporary)
        if set(written) != set(weights) or any(not np.array_equal(written[k], weights[k]) for k in weights):
            raise CliError("the written file does not read back identically; nothing replaced")
        os.replace(temporary, target)  # never a half-written model.safetensors
    finally:
        temporary.unlink(missing_ok=True)
    size = target.stat().st_size / 1e6
    if not args.quiet:
        print(f"wrote {target} ({len(weights)} tensors, {size:.1f} MB) from {source}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from . import backend
    from .config import RoFormerConfig
    from .model import RoFormerModel
    from .weights import base_model_shapes, sinusoidal_key

    print(f"roformer_np {__version__} (python {platform.python_version()}, numpy {np.__version__})")
    # One backend for every line below: --backend, else ROFORMER_NP_BACKEND, else auto.
    with backend.use_backend(args.backend):
        info = backend.show_config()
        # A self-check on a small seeded model: proves the install computes, without any download.
        cfg = RoFormerConfig(vocab_size=1000, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                             intermediate_size=256, max_position_embeddings=128)
        rng = np.random.default_rng(0)
        weights = {k: (rng.normal(0, 0.05, s) + (k.endswith("LayerNorm.weight"))).astype(np.float32)
                   for k, s in base_model_shapes(cfg).items() if k != sinusoidal_key()}
        model = RoFormerModel(cfg, weights, dtype=args.dtype or np.float32, quantize=args.quantize)
        ids = rng.integers(0, cfg.vocab_size, (2, 64))
        model(input_ids=ids)  # the first call also loads what the backend needs; the second is timed
        start = time.perf_counter()
        out = model(input_ids=ids).last_hidden_state
        elapsed = (time.perf_counter() - start) * 1e3
    ok = bool(np.all(np.isfinite(out)))
    weights_note = "" if model.precision in ("float32", "float64") else f", {model.precision} weights"
    print(f"self-check: {info['resolved_backend']} forward of a 2-layer model{weights_note} on (2, 64) tokens -> "
          f"{out.shape} in {elapsed:.1f} ms: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def _cmd_serve(args: argparse.Namespace) -> int:
    from .serve.cli import MissingExtra, StartupError, run

    try:
        return run(args)
    except (MissingExtra, StartupError) as exc:
        raise CliError(str(exc)) from None


# ---------------------------------------------------------------------------------------------
# Parser and main
# ---------------------------------------------------------------------------------------------
def _common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("texts", nargs="*", metavar="TEXT", help="input texts; '-' reads stdin (one text per line)")
    p.add_argument("-i", "--input", metavar="FILE", help="read inputs from FILE: one text per line, or JSON lines "
                                                           "with a \"text\" field")
    p.add_argument("--format", choices=["auto", "text", "jsonl"], default="auto",
                   help="input line format (auto: JSON lines when the first line starts with '{')")
    p.add_argument("--json", action="store_true", help="print one JSON object per input")
    p.add_argument("-m", "--model", metavar="DIR", help="checkpoint directory (default: the demo model)")
    p.add_argument("--backend", choices=BACKEND_CHOICES, help="kernels (default: auto)")
    p.add_argument("--threads", type=_positive_int, help="threads of the native kernels")
    _precision_args(p)
    p.add_argument("--batch-size", type=_positive_int, default=8, help="texts per forward pass (default 8)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no warnings")


def _precision_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dtype", choices=DTYPE_CHOICES,
                   help="float32 (default) or float64 compute, or bfloat16 (bf16) weights with float32 compute "
                        "(default: float32, or the precision a low-precision checkpoint was saved in)")
    p.add_argument("--quantize", choices=QUANTIZE_CHOICES, help="int8 weights (activations quantized per token, "
                                                                "float32 compute)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roformer-np", description="RoFormer models in NumPy.")
    parser.add_argument("--version", action="version", version=f"roformer-np {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        _common_args(p)
        command.add_args(p)
        p.set_defaults(func=_run_task)
    convert = sub.add_parser("convert", help="write model.safetensors beside a pytorch_model.bin (no torch)")
    convert.add_argument("directory", metavar="DIR", help="checkpoint directory (or the .bin file)")
    convert.add_argument("--force", action="store_true", help="overwrite an existing model.safetensors")
    convert.add_argument("-q", "--quiet", action="store_true")
    convert.set_defaults(func=_cmd_convert)
    info = sub.add_parser("info", help="version, backend, and a quick self-check")
    info.add_argument("--backend", choices=BACKEND_CHOICES, default=None)
    _precision_args(info)
    info.set_defaults(func=_cmd_info, quiet=False)
    from .serve.cli import add_arguments as serve_arguments  # the standard library only: no uvicorn here

    serve = sub.add_parser("serve", help="serve one task's model over HTTP (text-embeddings-inference's API; "
                           'needs pip install "roformer_np[serve]")', description="serve one task's model over "
                           "HTTP: text-embeddings-inference's routes, OpenAI's /v1/embeddings, task routes")
    serve_arguments(serve)
    serve.set_defaults(func=_cmd_serve, quiet=False)
    return parser


def _warning_printer(display: Progress | None = None) -> Callable[..., None]:
    """A ``warnings.showwarning`` printing one ``roformer-np: warning: …`` line (above the bar, if shown)."""

    def show(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        text = " ".join(str(message).split())
        with display.above("stderr") if display is not None else contextlib.nullcontext():
            print(f"roformer-np: warning: {text}", file=sys.stderr)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        if args.quiet:
            warnings.simplefilter("ignore")
        warnings.showwarning = _warning_printer()
        try:
            return args.func(args)
        except BrokenPipeError:  # e.g. `roformer-np … | head -1`: stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1
        except (CliError, ValueError, OSError, RuntimeError, TypeError, KeyError) as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            print(f"roformer-np: error: {message}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("roformer-np: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
