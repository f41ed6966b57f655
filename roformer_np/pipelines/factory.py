"""``pipeline(task, model=…)``: the task's pipeline around a checkpoint directory, a model object, or the demo."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..auto import tokenizer_class_of
from ..device import check_device
from ..heads import (
    RoFormerForCausalLM,
    RoFormerForMaskedLM,
    RoFormerForQuestionAnswering,
    RoFormerForSequenceClassification,
    RoFormerForTokenClassification,
)
from ..hub import CheckpointFiles, pop_hub_kwargs, resolve_checkpoint
from ..lowp import resolve_precision
from ..model import RoFormerModel, checkpoint_files
from ..tokenizer import TOKENIZER_FILES, VOCAB_FILE
from ..tokenizer_base import WordPieceTokenizer
from .base import Pipeline
from .feature_extraction import FeatureExtractionPipeline
from .fill_mask import FillMaskPipeline
from .question_answering import QuestionAnsweringPipeline
from .sentence_similarity import SentenceSimilarityPipeline
from .text_classification import TextClassificationPipeline
from .text_generation import TextGenerationPipeline
from .token_classification import TokenClassificationPipeline

# The small demo models shipped inside the package (roformer_np/demo/<name>/), with their vocab.txt beside.
DEMO_ROOT = Path(__file__).resolve().parent.parent / "demo"


@dataclass(frozen=True)
class Task:
    pipeline: type[Pipeline]
    model_class: type
    demo: str | None  # sub-directory of DEMO_ROOT, or None: the task has no demo model


TASKS: dict[str, Task] = {
    "fill-mask": Task(FillMaskPipeline, RoFormerForMaskedLM, "mlm"),
    "text-classification": Task(TextClassificationPipeline, RoFormerForSequenceClassification, "sentiment"),
    "token-classification": Task(TokenClassificationPipeline, RoFormerForTokenClassification, "ner"),
    "question-answering": Task(QuestionAnsweringPipeline, RoFormerForQuestionAnswering, None),
    "feature-extraction": Task(FeatureExtractionPipeline, RoFormerModel, "mlm"),
    "text-generation": Task(TextGenerationPipeline, RoFormerForCausalLM, None),
    "sentence-similarity": Task(SentenceSimilarityPipeline, RoFormerModel, None),  # RoFormer-Sim checkpoints
}
_GIVE_MODEL = "give a checkpoint directory (model= in Python, --model DIR on the command line)"
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}  # Hugging Face's too


def resolve_task(task: str) -> str:
    name = ALIASES.get(task, task)
    if name not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS) + sorted(ALIASES)}")
    return name


def demo_model_dir(task: str) -> Path:
    """The demo checkpoint directory of ``task`` (ValueError when the task has none or it is not installed)."""
    name = resolve_task(task)
    demo = TASKS[name].demo
    if demo is None:
        raise ValueError(f"{name} has no demo model in roformer_np; {_GIVE_MODEL}")
    path = DEMO_ROOT / demo
    if not (path / "config.json").is_file():
        raise ValueError(f"the demo model for {name} is not installed (expected {path}); {_GIVE_MODEL}")
    return path


def _load_tokenizer(model_dir: Path, tokenizer: Any, use_fast: bool, hub: dict[str, Any]) -> Any:
    if tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike)):
        return tokenizer
    path = resolve_checkpoint(tokenizer, TOKENIZER_FILES, **hub) if tokenizer is not None else model_dir
    if tokenizer is None and not (path / VOCAB_FILE).is_file() and path.parent == DEMO_ROOT:
        path = DEMO_ROOT  # the demo models share one vocab.txt
    if not path.exists():
        raise FileNotFoundError(f"tokenizer directory not found: {path}")
    if path.is_dir() and not (path / VOCAB_FILE).is_file():
        raise ValueError(f"no {VOCAB_FILE} in {path}: pass tokenizer= (a directory with {VOCAB_FILE})")
    return tokenizer_class_of(path, use_fast).from_pretrained(path)  # AutoTokenizer's table, one place


def _check_precision(model: Any, dtype: Any, quantize: str | None) -> None:
    """A loaded model is used as it is: ``dtype`` / ``quantize``, when given, must be what it holds."""
    if dtype is None and quantize is None:
        return
    compute, precision = resolve_precision(np.float32 if dtype is None else dtype, quantize)
    held = getattr(model, "precision", np.dtype(model.dtype).name)
    if quantize is None and dtype is not None and np.dtype(model.dtype) == compute and precision == "float32":
        return  # dtype=float32: the compute dtype of every model but a float64 one
    if precision != held:
        raise ValueError(f"dtype={dtype!r}, quantize={quantize!r} ask for {precision} weights, but the model object "
                         f"holds {held} weights: load it with that precision (from_pretrained) or pass a directory")


def pipeline(
    task: str,
    model: str | os.PathLike | Any | None = None,
    tokenizer: str | os.PathLike | WordPieceTokenizer | None = None,
    backend: str | None = None,
    num_threads: int | None = None,
    dtype: np.dtype | type | str | None = None,
    batch_size: int = 1,
    use_fast: bool = True,
    revision: str | None = None,
    token: str | bool | None = None,
    device: Any = None,
    model_kwargs: dict[str, Any] | None = None,
    quantize: str | None = None,
    **task_defaults: Any,
) -> Any:
    """A pipeline for ``task`` as in Hugging Face: ``pipeline("fill-mask", model=dir)("水在零度时会[MASK]")``.

    Tasks: ``fill-mask``, ``text-classification`` (alias ``sentiment-analysis``), ``token-classification``
    (alias ``ner``), ``question-answering``, ``feature-extraction``, ``text-generation``,
    ``sentence-similarity`` (RoFormer-Sim: cosine of pooler vectors).

    Args:
        model: a checkpoint directory (``config.json`` + weights, and normally ``vocab.txt``) or a Hub
            repository id (see :mod:`roformer_np.hub`), a loaded model of the task's class, or None for the
            demo model shipped with roformer_np (fill-mask, text-classification, token-classification,
            feature-extraction).
        tokenizer: a directory with ``vocab.txt``, a Hub id, or a :class:`RoFormerTokenizer`; default: the
            model's directory. Needed when ``model`` is an object.
        backend: ``"auto"``, ``"numpy"`` or ``"native"`` for the model's kernels.
        num_threads: threads of the native kernels during the pipeline's forward passes.
        dtype: when loading from a directory: float32 (the default) or float64, or ``"bfloat16"`` (``"bf16"``)
            for bf16 weights (a checkpoint saved in bf16 / int8 loads in its own precision by default).
        quantize: ``"int8"`` for int8 weights when loading from a directory (see the README's "bf16 and int8
            weights"); with a model object, dtype and quantize must describe it (ValueError otherwise).
        batch_size: model rows per forward pass (inputs are grouped by length and padded).
        use_fast: load the tokenizer from a directory as the fast class its ``tokenizer_config.json`` names
            (as AutoTokenizer: :class:`RoFormerTokenizerFast`, or :class:`BertTokenizerFast` for the char / Sim /
            V2 checkpoints; the default of Hugging Face's ``pipeline``, whose rules differ from the slow
            tokenizer's on a few texts) or, if False, as the slow one (:class:`RoFormerTokenizer`, ...).
        revision, token: the Hub revision (branch, tag or commit) and token of ``model`` and ``tokenizer`` ids.
        device: None, -1 or ``"cpu"`` (transformers' names for the CPU); any other device raises ValueError.
        model_kwargs: the other Hub keywords, as transformers takes them (``cache_dir``, ``local_files_only``,
            ``force_download``).
        task_defaults: the task's options (``top_k``, ``aggregation_strategy``, …), defaults of every call.
    """
    name = resolve_task(task)
    spec = TASKS[name]
    check_device(device)
    hub = pop_hub_kwargs(dict(model_kwargs or {}), "pipeline(model_kwargs=...)", strict=True)
    hub.update(revision=revision, token=token)
    if model is None:
        model = demo_model_dir(name)
    if isinstance(model, (str, os.PathLike)):
        files = checkpoint_files(spec.model_class.extra_files)
        # the tokenizer's files come from the same snapshot unless another tokenizer is given
        model_dir = resolve_checkpoint(model, files + (TOKENIZER_FILES if tokenizer is None else CheckpointFiles()),
                                       **hub)
        if not model_dir.is_dir():
            raise FileNotFoundError(f"model directory not found: {model_dir}")
        tok = _load_tokenizer(model_dir, tokenizer, use_fast, hub)
        with warnings.catch_warnings():
            if spec.model_class is RoFormerModel:  # a head checkpoint's unused head weights are expected here
                warnings.filterwarnings("ignore", message=".*unused weights.*")
            loaded = spec.model_class.from_pretrained(model_dir, dtype=dtype, backend=backend, quantize=quantize)
    else:
        if tokenizer is None:
            raise ValueError("pass tokenizer= (a directory with vocab.txt or a RoFormerTokenizer) with a model object")
        loaded = model
        if spec.model_class is RoFormerModel and hasattr(model, "roformer"):
            loaded = model.roformer  # any head's encoder extracts features
        if not isinstance(loaded, spec.model_class):
            raise ValueError(f"{name} needs a {spec.model_class.__name__}, got {type(model).__name__}")
        _check_precision(loaded, dtype, quantize)
        tok = _load_tokenizer(Path("."), tokenizer, use_fast, hub)
    return spec.pipeline(loaded, tok, batch_size=batch_size, backend=backend, num_threads=num_threads,
                         **task_defaults)
