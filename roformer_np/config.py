"""RoFormerConfig: Hugging Face's configuration fields, defaults and ``config.json`` format.

Field names are Hugging Face's so that any ``config.json`` from the Hub loads without renaming. Keys this
class does not know are kept verbatim and written back by :meth:`RoFormerConfig.save_pretrained`.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .activations import ACTIVATIONS
from .errors import CheckpointError
from .jsonio import read_json  # size, UTF-8 and depth limits; a bad file is a CheckpointError (a ValueError)
from .losses import PROBLEM_TYPES

CONFIG_NAME = "config.json"

# RoFormerConfig's own fields, in Hugging Face's order and with its defaults.
ROFORMER_DEFAULTS: dict[str, Any] = {
    "vocab_size": 50000,
    "embedding_size": None,  # None -> hidden_size, resolved at construction (as Hugging Face stores it)
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 1536,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "rotary_value": False,
    "use_cache": True,
}

# Generic PretrainedConfig fields that a RoFormer checkpoint can carry and that change behaviour.
GENERIC_DEFAULTS: dict[str, Any] = {
    "architectures": None,
    "finetuning_task": None,
    "problem_type": None,
    "tokenizer_class": None,
    "is_decoder": False,
    "add_cross_attention": False,
    "is_encoder_decoder": False,
    "tie_word_embeddings": True,
    "chunk_size_feed_forward": 0,
    "output_attentions": False,
    "output_hidden_states": False,
    "return_dict": True,
    "torchscript": False,
    "bos_token_id": None,
    "eos_token_id": None,
    "sep_token_id": None,
    "decoder_start_token_id": None,
    "prefix": None,
    "task_specific_params": None,
}

# Fields that may be written into a config.json but are derived or bookkeeping here.
_IGNORED_ON_SAVE = {"num_labels", "_name_or_path", "transformers_version", "model_type"}

# Upper bounds on sizes, far above every published model (vocabularies reach ~256k, hidden sizes 16k-25k,
# depths ~130 layers, contexts 1M tokens; label sets: ImageNet-21k's 21,843). A config beyond them is corrupt
# or hostile and is refused before anything is built from it: num_labels alone makes a label dict of that size,
# num_hidden_layers a table of 16 weight names per layer, max_position_embeddings a sinusoidal table.
SIZE_LIMITS: dict[str, int] = {
    "vocab_size": 2**24,
    "hidden_size": 2**16,
    "embedding_size": 2**16,  # after hidden_size, which it defaults to
    "num_hidden_layers": 2**12,
    "num_attention_heads": 2**15,
    "intermediate_size": 2**18,
    "max_position_embeddings": 2**20,
    "type_vocab_size": 2**16,
    "num_labels": 2**17,
}

# The declared types (transformers' RoFormerConfig / PretrainedConfig signatures) of the fields this package
# reads; JSON can hold anything, and a string "false" is truthy.
BOOL_FIELDS = ("rotary_value", "use_cache", "is_decoder", "add_cross_attention", "is_encoder_decoder",
               "tie_word_embeddings", "output_attentions", "output_hidden_states", "return_dict", "torchscript")
OPTIONAL_BOOL_FIELDS = ("summary_use_proj", "summary_proj_to_labels")  # read when present (multiple choice)
TOKEN_ID_FIELDS = ("bos_token_id", "eos_token_id", "sep_token_id", "decoder_start_token_id")  # None or ids >= 0
STRING_FIELDS = ("finetuning_task", "tokenizer_class", "prefix")  # None or a string
PROBABILITY_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob")

# Fields of JunnyU's ``roformer`` package (0.4.x), which the RoFormer-V2 and RoFormer-Sim checkpoints carry.
# Hugging Face keeps and ignores them; here they choose the graph. They stay ordinary extra keys (written
# back only when present); :func:`junnyu_field` reads them with the package's defaults.
NORM_TYPES = ("layer_norm", "rms_norm")  # LayerNorm with weight and bias / RoFormer-V2's parameter-free norm
JUNNYU_DEFAULTS: dict[str, Any] = {"norm_type": "layer_norm", "use_bias": True, "pooler_activation": "tanh"}


def junnyu_field(config: Any, name: str) -> Any:
    """``norm_type``, ``use_bias`` or ``pooler_activation`` of a config, or the roformer package's default."""
    return getattr(config, name, JUNNYU_DEFAULTS[name])


def _label_map(value: Any, name: str, key: type, item: type) -> dict:
    """``id2label`` / ``label2id`` with keys and values converted as Hugging Face reads them; a value that is
    not a dict of convertible entries is a ValueError naming the field (as transformers' "should be a dictionary")."""
    if not isinstance(value, dict):
        raise ValueError(f"config {name} should be a dictionary, got {type(value).__name__}")
    try:
        return {key(k): item(v) for k, v in value.items()}
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: int() of 2e308 (JSON's inf)
        raise ValueError(f"config {name} holds an entry that is not {key.__name__} -> {item.__name__}: {exc}") from None


def _default_id2label(num_labels: int) -> dict[int, str]:
    return {i: f"LABEL_{i}" for i in range(num_labels)}


def as_int(value: Any) -> int | None:
    """``value`` as a Python int when it is an integer (a NumPy one too, never a bool), else None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def is_real(value: Any) -> bool:
    """A real number (a NumPy one too), not a bool."""
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))


def check_num_labels(value: Any) -> int:
    """num_labels as an int in [1, SIZE_LIMITS["num_labels"]], checked before a label dict is built from it."""
    n, limit = as_int(value), SIZE_LIMITS["num_labels"]
    if n is None or not 1 <= n <= limit:
        raise ValueError(f"RoFormerConfig.num_labels must be an integer in [1, {limit}], got {value!r}")
    return n


class RoFormerConfig:
    """Configuration of a RoFormer model, field-compatible with ``transformers.RoFormerConfig``.

    Construct with keyword arguments (Hugging Face names), :meth:`from_dict` or :meth:`from_pretrained`.
    Unknown keys are kept as attributes and in :attr:`extra` so they round-trip through ``config.json``.
    Impossible values, values of another type than Hugging Face declares (a string ``"false"`` for a boolean) and
    sizes beyond :data:`SIZE_LIMITS` raise :class:`ValueError` naming the field and the allowed range.
    """

    model_type = "roformer"

    def __init__(self, **kwargs: Any) -> None:
        values = {**ROFORMER_DEFAULTS, **GENERIC_DEFAULTS}
        num_labels = kwargs.pop("num_labels", None)
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        kwargs.pop("model_type", None)
        kwargs.pop("transformers_version", None)
        self.name_or_path = kwargs.pop("_name_or_path", kwargs.pop("name_or_path", ""))
        self.extra: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key in values:
                values[key] = value
            else:
                self.extra[key] = value
        for key, value in values.items():
            setattr(self, key, value)
        for key, value in self.extra.items():
            setattr(self, key, value)
        if self.embedding_size is None:
            self.embedding_size = self.hidden_size

        # Labels follow Hugging Face: id2label wins, else num_labels builds LABEL_i names, else 2 labels.
        if num_labels is not None:
            num_labels = check_num_labels(num_labels)
        if id2label is not None:
            self.id2label = _label_map(id2label, "id2label", int, str)
        else:
            self.id2label = _default_id2label(2 if num_labels is None else num_labels)
        if num_labels is not None and id2label is not None and num_labels != len(self.id2label):
            self.id2label = _default_id2label(num_labels)
        if label2id is not None and id2label is not None:
            self.label2id = _label_map(label2id, "label2id", str, int)
        else:
            self.label2id = {v: k for k, v in self.id2label.items()}
        self.validate()

    # -- derived values --------------------------------------------------------------------------
    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, value: int) -> None:
        value = check_num_labels(value)
        if value != len(self.id2label):
            self.id2label = _default_id2label(value)
            self.label2id = {v: k for k, v in self.id2label.items()}

    @property
    def head_size(self) -> int:
        """Per-head width D = hidden_size / num_attention_heads."""
        return self.hidden_size // self.num_attention_heads

    # -- validation ------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ``ValueError`` naming the field for values no RoFormer model can run with, or of another type than
        Hugging Face declares (integer fields given as NumPy integers are stored as Python ints)."""
        for name, limit in SIZE_LIMITS.items():
            if name == "num_labels":
                continue
            given = getattr(self, name)
            value = as_int(given)
            if value is None or not 1 <= value <= limit:
                raise ValueError(f"RoFormerConfig.{name} must be an integer in [1, {limit}], got {given!r}")
            setattr(self, name, value)
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"RoFormerConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.head_size % 2 != 0:
            raise ValueError(
                f"RoFormerConfig.hidden_size / num_attention_heads = {self.head_size} must be even: "
                "rotary position embedding rotates pairs of features"
            )
        if not isinstance(self.hidden_act, str) or self.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"RoFormerConfig.hidden_act {self.hidden_act!r} is not supported; "
                f"choose one of {sorted(ACTIVATIONS)}"
            )
        self._validate_numbers()
        for name in BOOL_FIELDS + tuple(n for n in OPTIONAL_BOOL_FIELDS if n in self.extra):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"RoFormerConfig.{name} must be true or false, got {getattr(self, name)!r}")
        if self.add_cross_attention and not self.is_decoder:
            raise ValueError(
                "RoFormerConfig.add_cross_attention=True requires is_decoder=True "
                "(cross-attention only exists in decoder mode)"
            )
        self._validate_token_ids()
        self._validate_other_types()
        self._validate_junnyu_fields()
        check_num_labels(len(self.id2label))

    def _validate_junnyu_fields(self) -> None:
        norm_type = junnyu_field(self, "norm_type")
        if norm_type not in NORM_TYPES:
            raise ValueError(
                f"RoFormerConfig.norm_type must be one of {NORM_TYPES} (LayerNorm, or RoFormer-V2's parameter-free "
                f"RMS norm), got {norm_type!r}: no RoFormer graph here runs another norm"
            )
        if not isinstance(junnyu_field(self, "use_bias"), bool):
            raise ValueError(f"RoFormerConfig.use_bias must be true or false, got {self.use_bias!r}")
        act = junnyu_field(self, "pooler_activation")
        if not isinstance(act, str) or act not in ACTIVATIONS:
            raise ValueError(
                f"RoFormerConfig.pooler_activation {act!r} is not supported; choose one of {sorted(ACTIVATIONS)}"
            )

    def _validate_numbers(self) -> None:
        eps = self.layer_norm_eps
        if not (is_real(eps) and 0 < eps < float("inf")):
            raise ValueError(f"RoFormerConfig.layer_norm_eps must be a finite number > 0, got {eps!r}")
        for name in PROBABILITY_FIELDS:
            value = getattr(self, name)
            if not (is_real(value) and 0 <= value <= 1):
                raise ValueError(f"RoFormerConfig.{name} must be a number in [0, 1], got {value!r}")
        std = self.initializer_range
        if not (is_real(std) and 0 <= std < float("inf")):
            raise ValueError(f"RoFormerConfig.initializer_range must be a finite number >= 0, got {std!r}")
        chunk = as_int(self.chunk_size_feed_forward)
        if chunk is None or chunk < 0:
            raise ValueError(
                f"RoFormerConfig.chunk_size_feed_forward must be an integer >= 0, got {self.chunk_size_feed_forward!r}"
            )
        self.chunk_size_feed_forward = chunk

    def _validate_token_ids(self) -> None:
        pad = self.pad_token_id
        if pad is not None:
            if as_int(pad) is None or not 0 <= pad < self.vocab_size:
                raise ValueError(
                    f"RoFormerConfig.pad_token_id must be None or an integer in [0, vocab_size={self.vocab_size}), "
                    f"got {pad!r}"
                )
            self.pad_token_id = int(pad)
        for name in TOKEN_ID_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            many = name == "eos_token_id" and isinstance(value, list)  # Hugging Face allows several EOS ids
            ids = [as_int(v) for v in (value if many else [value])]
            if not ids or any(i is None or i < 0 for i in ids):
                kinds = "an integer >= 0 or a list of them" if name == "eos_token_id" else "an integer >= 0"
                raise ValueError(f"RoFormerConfig.{name} must be None or {kinds}, got {value!r}")
            setattr(self, name, ids if many else ids[0])

    def _validate_other_types(self) -> None:
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"RoFormerConfig.problem_type must be None or one of {PROBLEM_TYPES}, got {self.problem_type!r}"
            )
        for name in STRING_FIELDS:
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ValueError(f"RoFormerConfig.{name} must be None or a string, got {getattr(self, name)!r}")
        archs = self.architectures
        if archs is not None and not (isinstance(archs, list) and all(isinstance(a, str) for a in archs)):
            raise ValueError(f"RoFormerConfig.architectures must be None or a list of class names, got {archs!r}")
        if self.task_specific_params is not None and not isinstance(self.task_specific_params, dict):
            raise ValueError(
                f"RoFormerConfig.task_specific_params must be None or a dict, got {self.task_specific_params!r}"
            )

    # -- (de)serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every field (known and unknown) as a JSON-ready dict, Hugging Face's key names."""
        out: dict[str, Any] = {}
        for key in (*ROFORMER_DEFAULTS, *GENERIC_DEFAULTS):
            out[key] = copy.deepcopy(getattr(self, key))
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["label2id"] = dict(self.label2id)
        for key, value in self.extra.items():
            out[key] = copy.deepcopy(getattr(self, key, value))
        out["model_type"] = self.model_type
        return out

    def to_diff_dict(self) -> dict[str, Any]:
        """Like Hugging Face's ``to_diff_dict``: RoFormer fields always, generic ones only when changed."""
        full = self.to_dict()
        out = {k: full[k] for k in ROFORMER_DEFAULTS}
        for key, default in GENERIC_DEFAULTS.items():
            if full[key] != default:
                out[key] = full[key]
        if self.id2label != _default_id2label(2):
            out["id2label"] = full["id2label"]
            out["label2id"] = full["label2id"]
        for key in self.extra:
            out[key] = full[key]
        out["model_type"] = self.model_type
        return dict(sorted(out.items()))

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> RoFormerConfig:
        if not isinstance(data, dict):
            raise TypeError(f"config must be a dict, got {type(data).__name__}")
        model_type = data.get("model_type", "roformer")
        if model_type not in ("roformer", None):
            raise ValueError(f"config model_type is {model_type!r}, expected 'roformer'")
        return cls(**{**data, **overrides})

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> RoFormerConfig:
        path = Path(path)
        try:
            data = read_json(path, "config")
        except FileNotFoundError:
            raise FileNotFoundError(f"no config file at {path}") from None
        if not isinstance(data, dict):
            raise CheckpointError(f"{path} must hold a JSON object, not {type(data).__name__}")
        return cls.from_dict(data)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides: Any) -> RoFormerConfig:
        """Load ``config.json`` from a checkpoint directory (or a path to the JSON file itself), or from a Hub
        repository id (``revision=``, ``cache_dir=``, ``local_files_only=``, ``token=``, ``force_download=``
        as in transformers; see :mod:`roformer_np.hub`). Other keywords override the saved fields."""
        from .hub import CheckpointFiles, pop_hub_kwargs, resolve_checkpoint  # hub imports weights, which imports us

        hub = pop_hub_kwargs(overrides, "RoFormerConfig.from_pretrained")
        name = path
        path = resolve_checkpoint(path, CheckpointFiles(((CONFIG_NAME,),)), **hub)
        file = path / CONFIG_NAME if path.is_dir() else path
        config = cls.from_json_file(file)
        if overrides:
            config = cls.from_dict({**config.to_dict(), **overrides})
        config.name_or_path = str(path) if path == Path(name) else os.fspath(name)  # a Hub id stays the id
        return config

    def to_json_string(self, use_diff: bool = True) -> str:
        data = self.to_diff_dict() if use_diff else dict(sorted(self.to_dict().items()))
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` into ``directory`` (created if needed); Hugging Face can load it."""
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise ValueError(f"save_pretrained: {directory} exists and is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        out = directory / CONFIG_NAME
        out.write_text(self.to_json_string(), encoding="utf-8")
        return out

    def copy(self, **overrides: Any) -> RoFormerConfig:
        return type(self).from_dict({**self.to_dict(), **overrides})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RoFormerConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"RoFormerConfig {self.to_json_string()}"


def apply_overrides(config: Any, overrides: dict[str, Any], where: str) -> Any:
    """``config`` with keyword overrides of its fields, as transformers' ``from_pretrained(path, num_labels=3)``
    applies them (``num_labels`` regenerates ``id2label``); a keyword that is no field of the config is an
    unexpected keyword (TypeError), as in transformers' model constructor."""
    unknown = [k for k in overrides if not hasattr(type(config)(), k)]
    if unknown:
        raise TypeError(f"{where}() got an unexpected keyword argument {unknown[0]!r} (neither a config field nor "
                        "a loading option)")
    name = config.name_or_path
    config = type(config).from_dict({**config.to_dict(), **overrides})
    config.name_or_path = name
    return config


def config_for_loading(path: Any, config: RoFormerConfig | None, overrides: dict[str, Any], hub: dict[str, Any],
                       where: str) -> RoFormerConfig | None:
    """The config a model's ``from_pretrained`` uses: ``config`` (None: read with the checkpoint) unless keyword
    ``overrides`` are given, then config.json with them applied (``config=`` and overrides together: TypeError)."""
    if not overrides:
        return config
    if config is not None:
        raise TypeError(f"{where}(): pass config= or config overrides ({', '.join(overrides)}), not both")
    return apply_overrides(RoFormerConfig.from_pretrained(path, **hub), overrides, where)
