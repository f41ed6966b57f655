"""Auto classes: transformers' ``AutoConfig``, ``AutoTokenizer`` and ``AutoModel*``, over the classes here.

The class is chosen as transformers 4.56.2 chooses it (``models/auto/``): the configuration from
``config.json``'s ``model_type`` (or, without one, from the model type's name inside the checkpoint's name);
the model from the configuration's type (``architectures`` is not consulted: RoFormer has one class per auto
class); the tokenizer from ``tokenizer_config.json``'s ``tokenizer_class``, else the config's
``tokenizer_class``, else the model type's pair, the ``...Fast`` class when ``use_fast`` (the default).
Each choice is a lookup in a table below, so another model family is one more row.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .config import CONFIG_NAME, RoFormerConfig, apply_overrides
from .heads import (
    RoFormerForCausalLM,
    RoFormerForMaskedLM,
    RoFormerForMultipleChoice,
    RoFormerForQuestionAnswering,
    RoFormerForSequenceClassification,
    RoFormerForTokenClassification,
    init_weights,
)
from .hub import (
    CheckpointFiles,
    CheckpointNotFoundError,
    pin_revision,
    pop_hub_kwargs,
    resolve_checkpoint,
)
from .lowp import resolve_precision
from .model import RoFormerModel
from .tokenizer import TOKENIZER_CONFIG_FILE, RoFormerTokenizer
from .tokenizer_bert import BertTokenizer, BertTokenizerFast, ElectraTokenizer, ElectraTokenizerFast
from .tokenizer_fast import RoFormerTokenizerFast
from .weights import WORD_EMBEDDINGS_KEY, base_model_shapes, sinusoidal_key

__all__ = [
    "AutoConfig",
    "AutoModel",
    "AutoModelForCausalLM",
    "AutoModelForMaskedLM",
    "AutoModelForMultipleChoice",
    "AutoModelForQuestionAnswering",
    "AutoModelForSequenceClassification",
    "AutoModelForTokenClassification",
    "AutoTokenizer",
]

# model_type -> configuration class (transformers' CONFIG_MAPPING_NAMES)
CONFIG_MAPPING: dict[str, type] = {"roformer": RoFormerConfig}
# model_type -> (slow, fast) tokenizer class names (transformers' TOKENIZER_MAPPING_NAMES)
TOKENIZER_MAPPING: dict[str, tuple[str | None, str | None]] = {
    "roformer": ("RoFormerTokenizer", "RoFormerTokenizerFast"),
    "bert": ("BertTokenizer", "BertTokenizerFast"),
    "electra": ("ElectraTokenizer", "ElectraTokenizerFast"),
}
# tokenizer class name (as tokenizer_config.json spells it) -> class; the char / Sim / V2 RoFormer checkpoints
# name BertTokenizer (plain WordPiece, no jieba)
TOKENIZER_CLASSES: dict[str, type] = {
    "RoFormerTokenizer": RoFormerTokenizer,
    "RoFormerTokenizerFast": RoFormerTokenizerFast,
    "BertTokenizer": BertTokenizer,
    "BertTokenizerFast": BertTokenizerFast,
    "ElectraTokenizer": ElectraTokenizer,
    "ElectraTokenizerFast": ElectraTokenizerFast,
}


def _not_instantiable(name: str, factories: str) -> OSError:
    """transformers' error for ``AutoX()``: the auto classes are factories."""
    return OSError(f"{name} is designed to be instantiated with {factories}")


def _json_object(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{file} must hold a JSON object")
    return data


def _supported(table: dict) -> str:
    return ", ".join(sorted(table))


def model_type_of(data: dict[str, Any], name_or_path: Any) -> str:
    """``model_type`` of a config.json's dict, or (as transformers, when the key is absent) the longest model
    type found in the checkpoint's name; ValueError for a type this package has no class for."""
    model_type = data.get("model_type")
    if model_type is None:
        found = [t for t in sorted(CONFIG_MAPPING, key=len, reverse=True) if t in os.fspath(name_or_path)]
        if not found:
            raise ValueError(f"Unrecognized model in {os.fspath(name_or_path)}: its {CONFIG_NAME} should have a "
                             f"model_type key, or its name contain one of: {_supported(CONFIG_MAPPING)}")
        return found[0]
    if model_type not in CONFIG_MAPPING:
        raise ValueError(f"{os.fspath(name_or_path)}: model_type {model_type!r} is not supported by roformer_np "
                         f"(supported: {_supported(CONFIG_MAPPING)})")
    return model_type


class AutoConfig:
    """``AutoConfig.from_pretrained(name_or_path)``: the configuration class of ``config.json``'s model type."""

    def __init__(self) -> None:
        raise _not_instantiable("AutoConfig", "AutoConfig.from_pretrained(...) or AutoConfig.for_model(...)")

    @staticmethod
    def for_model(model_type: str, **kwargs: Any) -> Any:
        """A new configuration of ``model_type`` with ``kwargs`` (transformers' ``AutoConfig.for_model``)."""
        if model_type not in CONFIG_MAPPING:
            raise ValueError(f"model_type {model_type!r} is not supported by roformer_np "
                             f"(supported: {_supported(CONFIG_MAPPING)})")
        return CONFIG_MAPPING[model_type](**kwargs)

    @staticmethod
    def from_pretrained(name_or_path: str | os.PathLike, **kwargs: Any) -> Any:
        """Load a checkpoint directory's, a ``config.json`` file's or a Hub id's configuration; Hub keywords as
        in transformers (see :mod:`roformer_np.hub`), other keywords override fields."""
        hub = pop_hub_kwargs(kwargs, "AutoConfig.from_pretrained")
        return _load_config(name_or_path, hub, kwargs)[0]


# the model classes' own from_pretrained keywords; any other (non-Hub) keyword overrides a config field
MODEL_LOADING_KWARGS = ("dtype", "backend", "init_seed", "check_finite", "quantize")


def _load_config(name_or_path: str | os.PathLike, hub: dict[str, Any], overrides: dict[str, Any]) -> tuple[Any, Path]:
    """(the configuration, the local directory or file it was read from)."""
    path = resolve_checkpoint(name_or_path, CheckpointFiles(((CONFIG_NAME,),)), **hub)
    file = path / CONFIG_NAME if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no config file at {file}")
    data = _json_object(file)
    config = CONFIG_MAPPING[model_type_of(data, name_or_path)].from_dict(data, **overrides)
    config.name_or_path = os.fspath(name_or_path)  # as transformers: the name given, a Hub id included
    return config, path


def initial_weights(config: RoFormerConfig, dtype: np.dtype | type = np.float32, seed: int = 0) -> dict[str, Any]:
    """Freshly initialised base-model weights, by Hugging Face's ``_init_weights`` rules (normal(0,
    ``initializer_range``) matrices, zero biases, LayerNorm 1/0, the padding row of the word embeddings zero)
    drawn from NumPy's seeded generator; the sinusoidal table is computed by the model."""
    shapes = {k: v for k, v in base_model_shapes(config).items() if k != sinusoidal_key()}
    weights = init_weights(shapes, config.initializer_range, np.dtype(dtype), seed)
    if config.pad_token_id is not None:
        weights[WORD_EMBEDDINGS_KEY][int(config.pad_token_id)] = 0
    return weights


class _AutoModel:
    """``from_pretrained`` / ``from_config`` choosing the model class from the configuration's type."""

    _model_mapping: ClassVar[dict[str, type]] = {}

    def __init__(self) -> None:
        name = type(self).__name__
        raise _not_instantiable(name, f"{name}.from_pretrained(...) or {name}.from_config(config)")

    @classmethod
    def _model_class(cls, config: Any) -> type:
        model_type = getattr(config, "model_type", None)
        if not isinstance(config, tuple(CONFIG_MAPPING.values())) or model_type not in cls._model_mapping:
            raise ValueError(f"{cls.__name__}: unrecognized configuration {type(config).__name__} "
                             f"(model_type {model_type!r}); supported: {_supported(cls._model_mapping)}")
        return cls._model_mapping[model_type]

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, config: Any = None, **kwargs: Any) -> Any:
        """The model of a checkpoint directory or Hub id, of the class for its configuration; ``kwargs``:
        the Hub keywords and the model class's own (``dtype``, ``quantize``, ``backend``, ``init_seed`` for
        heads)."""
        where = f"{cls.__name__}.from_pretrained"
        hub = pop_hub_kwargs(kwargs, where)
        overrides = {k: kwargs.pop(k) for k in list(kwargs) if k not in MODEL_LOADING_KWARGS}
        if config is None:
            config, directory = _load_config(name_or_path, hub, {})
            if overrides:  # transformers' habit: num_labels=3 and the like override config.json
                config = apply_overrides(config, overrides, where)
            hub = pin_revision(hub, name_or_path, directory)  # the weights of the config's commit
        elif overrides:
            raise TypeError(f"{where}(): pass config= or config overrides ({', '.join(overrides)}), not both")
        return cls._model_class(config).from_pretrained(name_or_path, config=config, **hub, **kwargs)

    @classmethod
    def from_config(cls, config: Any, dtype: np.dtype | type | str = np.float32, backend: str | None = None,
                    seed: int = 0, quantize: str | None = None) -> Any:
        """A new model of ``config``'s class with freshly initialised weights (see :func:`initial_weights`),
        as transformers' ``from_config``; nothing is read from disk. ``dtype="bfloat16"`` / ``quantize="int8"``:
        the weights drawn in float32, then held in bf16 / int8."""
        model_class = cls._model_class(config)
        compute, _ = resolve_precision(dtype, quantize)  # ValueError for a bad pair, before drawing
        weights = initial_weights(config, compute, seed)
        if model_class is RoFormerModel:
            return RoFormerModel(config, weights, dtype=dtype, backend=backend, quantize=quantize)
        with warnings.catch_warnings():  # every weight is new here: the heads' warning would say nothing
            warnings.filterwarnings("ignore", message=".*newly initialized.*")
            # another seed for the head, so its matrices do not repeat the first base matrices' draws
            return model_class(config, weights, dtype=dtype, backend=backend, init_seed=seed + 1,
                               source="from_config", quantize=quantize)


class AutoModel(_AutoModel):
    _model_mapping = {"roformer": RoFormerModel}


class AutoModelForMaskedLM(_AutoModel):
    _model_mapping = {"roformer": RoFormerForMaskedLM}


class AutoModelForCausalLM(_AutoModel):
    _model_mapping = {"roformer": RoFormerForCausalLM}


class AutoModelForSequenceClassification(_AutoModel):
    _model_mapping = {"roformer": RoFormerForSequenceClassification}


class AutoModelForMultipleChoice(_AutoModel):
    _model_mapping = {"roformer": RoFormerForMultipleChoice}


class AutoModelForTokenClassification(_AutoModel):
    _model_mapping = {"roformer": RoFormerForTokenClassification}


class AutoModelForQuestionAnswering(_AutoModel):
    _model_mapping = {"roformer": RoFormerForQuestionAnswering}


def _pair_class(model_type: str, use_fast: bool, source: str) -> type:
    """The slow or fast tokenizer of ``model_type`` (transformers' TOKENIZER_MAPPING rule)."""
    if model_type not in TOKENIZER_MAPPING:
        raise ValueError(f"{source}: model type {model_type!r} has no tokenizer in roformer_np "
                         f"(supported: {_supported(TOKENIZER_MAPPING)})")
    slow, fast = TOKENIZER_MAPPING[model_type]
    return _tokenizer_class(fast if fast and (use_fast or slow is None) else slow, False, source)


def _tokenizer_class(name: str, use_fast: bool, source: str) -> type:
    """transformers' rule: with ``use_fast``, ``<name>Fast`` if it exists, else ``name`` itself."""
    candidates = ([f"{name}Fast"] if use_fast and not name.endswith("Fast") else []) + [name]
    for candidate in candidates:
        if candidate in TOKENIZER_CLASSES:
            return TOKENIZER_CLASSES[candidate]
    raise ValueError(f"tokenizer class {name!r} ({source}) is not supported by roformer_np "
                     f"(supported: {_supported(TOKENIZER_CLASSES)})")


def _named_tokenizer_class(directory: Path) -> tuple[Any, str]:
    """``tokenizer_config.json``'s ``tokenizer_class`` in a local directory (None if absent), and where from."""
    file = directory / TOKENIZER_CONFIG_FILE
    if directory.is_dir() and file.is_file():
        return _json_object(file).get("tokenizer_class"), f"tokenizer_class of {file}"
    return None, ""


def _class_by_name(name: Any, use_fast: bool, source: str) -> type:
    if not isinstance(name, str):
        raise ValueError(f"{source} must be a class name (a str), got {name!r}")
    return _tokenizer_class(name, use_fast, source)


def tokenizer_class_of(path: str | os.PathLike, use_fast: bool = True) -> type:
    """The tokenizer class of a local directory (or ``vocab.txt``) by AutoTokenizer's rules: the
    ``tokenizer_class`` of its ``tokenizer_config.json``, else of its ``config.json``, else its model type's
    pair; a directory naming none of them (a bare ``vocab.txt``) gets RoFormer's pair."""
    directory = Path(path)
    name, source = _named_tokenizer_class(directory)
    if name is not None:
        return _class_by_name(name, use_fast, source)
    file = directory / CONFIG_NAME
    data = _json_object(file) if directory.is_dir() and file.is_file() else {}
    if data.get("tokenizer_class") is not None:
        return _class_by_name(data["tokenizer_class"], use_fast, f"tokenizer_class of {file}")
    return _pair_class(data.get("model_type") or "roformer", use_fast, f"model_type of {file}")


class AutoTokenizer:
    """``AutoTokenizer.from_pretrained(name_or_path)``: the tokenizer class a checkpoint names."""

    def __init__(self) -> None:
        raise _not_instantiable("AutoTokenizer", "AutoTokenizer.from_pretrained(...)")

    @staticmethod
    def from_pretrained(name_or_path: str | os.PathLike, *, use_fast: bool = True, tokenizer_type: str | None = None,
                        config: Any = None, **kwargs: Any) -> Any:
        """Load the tokenizer of a checkpoint directory or Hub id. ``use_fast`` (default True) picks the
        ``...Fast`` class (``RoFormerTokenizerFast``, ``BertTokenizerFast``) as transformers does;
        ``tokenizer_type`` names a model type instead of reading the files; other keywords: the Hub keywords and
        the tokenizer's own options."""
        if not isinstance(use_fast, bool):
            raise ValueError(f"use_fast must be True or False, got {use_fast!r}")
        hub = pop_hub_kwargs(kwargs, "AutoTokenizer.from_pretrained")
        if tokenizer_type is not None:
            cls = _pair_class(tokenizer_type, use_fast, "tokenizer_type")
            return cls.from_pretrained(name_or_path, **hub, **kwargs)
        name, source = None, ""
        try:
            directory = resolve_checkpoint(name_or_path, CheckpointFiles((), (TOKENIZER_CONFIG_FILE,)), **hub)
        except CheckpointNotFoundError:
            directory = None  # no tokenizer_config.json anywhere: the config decides (and names a real miss)
        if directory is not None:
            hub = pin_revision(hub, name_or_path, directory)
            name, source = _named_tokenizer_class(directory)
        if name is None:
            if config is None:
                config = AutoConfig.from_pretrained(name_or_path, **hub)
            name, source = getattr(config, "tokenizer_class", None), "the config's tokenizer_class"
        if name is None:
            cls = _pair_class(getattr(config, "model_type", None), use_fast, "the config")
        else:
            cls = _class_by_name(name, use_fast, source)
        return cls.from_pretrained(name_or_path, **hub, **kwargs)
