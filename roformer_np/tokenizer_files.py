"""Tokenizer files: ``vocab.txt``, ``tokenizer_config.json`` and ``special_tokens_map.json`` as transformers
4.56.2 reads and writes them, for every tokenizer class of this package (``FilesMixin``)."""

from __future__ import annotations

import inspect
import json
import logging
import os
from pathlib import Path
from typing import Any

from .hub import CheckpointFiles, pop_hub_kwargs, resolve_checkpoint
from .jsonio import read_json

__all__ = ["FilesMixin", "load_vocab", "TOKENIZER_FILES", "VOCAB_FILE", "TOKENIZER_CONFIG_FILE"]

logger = logging.getLogger("roformer_np.tokenizer")

VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
# what from_pretrained reads of a Hub repository (tokenizer.json is never read: the rules are coded here)
TOKENIZER_FILES = CheckpointFiles(((VOCAB_FILE,),), (TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE, ADDED_TOKENS_FILE))

# The order of Hugging Face's SPECIAL_TOKENS_ATTRIBUTES (RoFormer has no bos/eos): it decides the order of
# all_special_tokens, which is also the order in which the lowercasing step tries to match them.
_SPECIAL_ATTRIBUTES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# tokenizer_config.json keys that only Hugging Face's loading machinery reads.
_METADATA_KEYS = frozenset(
    {
        "name_or_path",
        "special_tokens_map_file",
        "tokenizer_file",
        "tokenizer_class",
        "added_tokens_decoder",
        "extra_special_tokens",
        "model_input_names",
        "auto_map",
        "processor_class",
        "vocab_file",
        "use_fast",
        "chat_template",
        "split_special_tokens",
        "bos_token",
        "eos_token",
        "verbose",
    }
)


def load_vocab(vocab_file: str | os.PathLike) -> list[str]:
    """The vocabulary's lines; the id of a token is its line index.

    As Hugging Face: the file is read as UTF-8 text with universal newlines and only the trailing ``\\n`` of
    each line is removed (other whitespace is part of the token).
    """
    path = Path(vocab_file)
    if not path.is_file():
        raise ValueError(f"vocab_file: no vocabulary file at {str(vocab_file)!r}")
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.rstrip("\n") for line in handle.readlines()]
    except UnicodeDecodeError as err:
        raise ValueError(f"vocab_file: {str(vocab_file)!r} is not UTF-8 text ({err})") from None
    if not lines:
        raise ValueError(f"vocab_file: {str(vocab_file)!r} is empty")
    return lines



class FilesMixin:
    """``from_pretrained``, ``save_pretrained`` and ``save_vocabulary`` of a tokenizer."""

    @classmethod
    def from_pretrained(cls, pretrained_path: str | os.PathLike, **kwargs: Any) -> Any:
        """Load from a directory with ``vocab.txt`` (and optionally ``tokenizer_config.json`` and
        ``special_tokens_map.json``, as Hugging Face writes them), from a ``vocab.txt`` path, or from a Hub
        repository id (``revision=``, ``cache_dir=``, ``local_files_only=``, ``token=``, ``force_download=``
        as in transformers; see :mod:`roformer_np.hub`). Other keywords override the saved configuration."""
        if not isinstance(pretrained_path, (str, os.PathLike)):
            raise TypeError(f"pretrained_path must be a path, got {type(pretrained_path).__name__}")
        hub = pop_hub_kwargs(kwargs, f"{cls.__name__}.from_pretrained")
        path = resolve_checkpoint(pretrained_path, TOKENIZER_FILES, **hub)
        if path.is_file():
            return cls(path, **kwargs)
        if not path.is_dir():
            raise ValueError(
                f"pretrained_path: {str(pretrained_path)!r} is neither a directory nor a vocab file"
            )
        vocab_file = path / VOCAB_FILE
        if not vocab_file.is_file():
            raise ValueError(f"pretrained_path: no {VOCAB_FILE} in {str(pretrained_path)!r}")
        config: dict[str, Any] = {}
        config_file = path / TOKENIZER_CONFIG_FILE
        if config_file.is_file():
            config = read_json(config_file, "tokenizer config")
            if not isinstance(config, dict):
                raise ValueError(f"{config_file} must hold a JSON object")
        vocab = {t: i for i, t in enumerate(load_vocab(vocab_file))}
        decoder = config.get("added_tokens_decoder")
        if decoder:
            for index, token in decoder.items():
                content = token.get("content") if isinstance(token, dict) else token
                if vocab.get(content) != int(index):
                    raise ValueError(
                        f"{config_file}: added token {content!r} (id {index}) is not the vocabulary's "
                        "token of that "
                        "id; tokens added beyond vocab.txt are not supported"
                    )
        else:  # older layout: special_tokens_map.json overrides the config
            map_file = path / SPECIAL_TOKENS_MAP_FILE
            if map_file.is_file():
                config.update(read_json(map_file, "special tokens map"))
        added_file = path / ADDED_TOKENS_FILE
        if added_file.is_file():
            for content, index in read_json(added_file, "added tokens").items():
                if vocab.get(content) != index:
                    raise ValueError(
                        f"{added_file}: token {content!r} (id {index}) is not in vocab.txt; not supported"
                    )
        named = config.get("tokenizer_class")
        if isinstance(named, str) and named.replace("Fast", "") != cls.__name__.replace("Fast", ""):
            # transformers' warning too: e.g. RoFormerTokenizer on a char checkpoint naming BertTokenizer
            logger.warning(
                "The tokenizer class you load from this checkpoint is not the same type as the class this function "
                "is called from. It may result in unexpected tokenization. The tokenizer class you load from this "
                "checkpoint is %r. The class this function is called from is %r (AutoTokenizer picks the named "
                "one).", named, cls.__name__)
        init: dict[str, Any] = {}
        params = set(inspect.signature(cls.__init__).parameters) - {"self"}
        for key, value in config.items():
            if key in params and key != "vocab_file":
                init[key] = value
            elif key not in _METADATA_KEYS:
                logger.warning("from_pretrained: ignoring unknown tokenizer_config.json key %r", key)
        init.update(kwargs)
        return cls(vocab_file, **init)

    def save_vocabulary(
        self, save_directory: str | os.PathLike, filename_prefix: str | None = None
    ) -> tuple[str]:
        """Write ``vocab.txt`` (with Hugging Face's naming rules); returns its path in a tuple.

        The file is written line for line as it was read, so even a vocabulary with repeated tokens
        round-trips (Hugging Face's own writer drops the repeats and shifts the ids after them).
        """
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        if os.path.isdir(save_directory):
            vocab_file = os.path.join(save_directory, prefix + VOCAB_FILE)
        else:
            vocab_file = prefix + os.fspath(save_directory)
        with open(vocab_file, "w", encoding="utf-8", newline="\n") as handle:
            for token in self._lines:
                handle.write(token + "\n")
        return (vocab_file,)

    def _config(self) -> dict[str, Any]:
        added = {
            str(self.vocab[t]): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for t in sorted(self._specials, key=lambda t: self.vocab[t])
        }
        config: dict[str, Any] = {
            "added_tokens_decoder": added,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "cls_token": self.cls_token,
            "do_basic_tokenize": self.do_basic_tokenize,
            "do_lower_case": self._do_lower_case,
            "extra_special_tokens": {},
            "mask_token": self.mask_token,
            "model_max_length": self.model_max_length,
            "never_split": self.never_split,
            "pad_token": self.pad_token,
            "sep_token": self.sep_token,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "tokenizer_class": type(self).__name__.removesuffix("Fast"),  # as transformers writes it
            "unk_token": self.unk_token,
        }
        if self.additional_special_tokens:
            config["additional_special_tokens"] = list(self.additional_special_tokens)
        if self.padding_side != "right":
            config["padding_side"] = self.padding_side
        if self.truncation_side != "right":
            config["truncation_side"] = self.truncation_side
        return config

    def save_pretrained(self, save_directory: str | os.PathLike) -> tuple[str, ...]:
        """Write ``tokenizer_config.json``, ``special_tokens_map.json`` and ``vocab.txt`` in Hugging Face's
        format (the same class of transformers loads them back)."""
        if os.path.isfile(save_directory):
            raise ValueError(f"save_directory: {os.fspath(save_directory)!r} is a file, not a directory")
        os.makedirs(save_directory, exist_ok=True)
        config_file = os.path.join(save_directory, TOKENIZER_CONFIG_FILE)
        map_file = os.path.join(save_directory, SPECIAL_TOKENS_MAP_FILE)
        for file, content in ((config_file, self._config()), (map_file, self.special_tokens_map)):
            with open(file, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return (config_file, map_file, *self.save_vocabulary(save_directory))
