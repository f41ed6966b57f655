"""``GenerationConfig``: generate()'s options as Hugging Face stores them (``generation_config.json``).

Every field of transformers 4.56's ``GenerationConfig`` is here with its default, and each has a status
(:data:`FIELD_STATUS`): *applied* (generate() implements it with Hugging Face's semantics), *no effect*
(a cache or compilation knob of PyTorch's implementation: the tokens do not depend on it), or
*unsupported* (a decoding mode this package does not have: setting it raises ``TypeError`` naming it, from
an argument or from the file — never silently dropped). Unknown keys of a file are kept, as in Hugging Face,
and refused only if generate() is asked to use them as options.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from .jsonio import read_json

GENERATION_CONFIG_NAME = "generation_config.json"

# transformers 4.56.2's GenerationConfig() defaults, in its order
DEFAULTS: dict[str, Any] = {
    # length
    "max_length": 20, "max_new_tokens": None, "min_length": 0, "min_new_tokens": None, "early_stopping": False,
    "max_time": None, "stop_strings": None,
    # strategy
    "do_sample": False, "num_beams": 1, "num_beam_groups": 1,
    # cache
    "use_cache": True, "cache_implementation": None, "cache_config": None, "return_legacy_cache": None,
    "prefill_chunk_size": None,
    # logits manipulation
    "temperature": 1.0, "top_k": 50, "top_p": 1.0, "min_p": None, "typical_p": 1.0, "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0, "diversity_penalty": 0.0, "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0,
    "length_penalty": 1.0, "no_repeat_ngram_size": 0, "bad_words_ids": None, "force_words_ids": None,
    "renormalize_logits": False, "constraints": None, "forced_bos_token_id": None, "forced_eos_token_id": None,
    "remove_invalid_values": False, "exponential_decay_length_penalty": None, "suppress_tokens": None,
    "begin_suppress_tokens": None, "sequence_bias": None, "token_healing": False, "guidance_scale": None,
    "watermarking_config": None,
    # outputs
    "num_return_sequences": 1, "output_attentions": False, "output_hidden_states": False, "output_scores": False,
    "output_logits": None, "return_dict_in_generate": False,
    # special tokens
    "pad_token_id": None, "bos_token_id": None, "eos_token_id": None,
    # encoder-decoder
    "encoder_no_repeat_ngram_size": 0, "decoder_start_token_id": None,
    # assisted generation
    "is_assistant": False, "num_assistant_tokens": 20, "num_assistant_tokens_schedule": "constant",
    "assistant_confidence_threshold": 0.4, "prompt_lookup_num_tokens": None, "max_matching_ngram_size": None,
    "assistant_early_exit": None, "assistant_lookbehind": 10, "target_lookbehind": 10,
    # performance
    "compile_config": None, "disable_compile": False, "low_memory": None,
    # modes moved to the Hub in 4.56
    "penalty_alpha": None, "dola_layers": None,
}

APPLIED = "applied"
NO_EFFECT = "no effect"  # PyTorch cache / compilation / assistant tuning: tokens do not depend on it
UNSUPPORTED = "unsupported"

_UNSUPPORTED = {
    "force_words_ids": "constrained beam search", "constraints": "constrained beam search",
    "token_healing": "token healing", "guidance_scale": "classifier-free guidance",
    "watermarking_config": "watermarking", "prompt_lookup_num_tokens": "prompt-lookup (assisted) decoding",
    "assistant_early_exit": "self-speculative (assisted) decoding", "penalty_alpha": "contrastive search",
    "dola_layers": "DoLa decoding",
}
_NO_EFFECT = (
    "cache_implementation", "cache_config", "return_legacy_cache", "prefill_chunk_size",
    "compile_config", "disable_compile", "low_memory", "decoder_start_token_id", "is_assistant",
    "bos_token_id",  # Hugging Face starts from it only without a prompt; RoFormer generation needs input_ids
    "num_assistant_tokens", "num_assistant_tokens_schedule", "assistant_confidence_threshold",
    "max_matching_ngram_size", "assistant_lookbehind", "target_lookbehind",
)
FIELD_STATUS: dict[str, str] = {
    name: UNSUPPORTED if name in _UNSUPPORTED else NO_EFFECT if name in _NO_EFFECT else APPLIED for name in DEFAULTS
}
_METADATA = ("_from_model_config", "_commit_hash", "transformers_version", "_original_object_hash")


def _is_default(name: str, value: Any) -> bool:
    default = DEFAULTS[name]
    if name == "guidance_scale":
        return value is None or value == 1
    if name == "token_healing":
        return not value
    return value is None if default is None else value == default


def check_supported(values: dict[str, Any], source: str) -> None:
    """``TypeError`` for an unsupported decoding mode that ``values`` turns on (``source`` says where from)."""
    for name, mode in _UNSUPPORTED.items():
        if name in values and not _is_default(name, values[name]):
            raise TypeError(f"{name}={values[name]!r} ({source}) asks for {mode}, which roformer_np does not "
                            "implement; remove it to decode with the other options")


class GenerationConfig:
    """Hugging Face's ``GenerationConfig`` without torch: attributes for every field, JSON in and out.

    ``GenerationConfig(max_new_tokens=8, no_repeat_ngram_size=2)``; ``from_pretrained(directory)`` reads
    ``generation_config.json``; ``save_pretrained(directory)`` writes the fields that differ from the
    defaults, as Hugging Face does. ``update(**kwargs)`` sets known fields and returns the others.
    """

    def __init__(self, **kwargs: Any) -> None:
        for name, default in DEFAULTS.items():
            setattr(self, name, copy.deepcopy(kwargs.pop(name, default)))
        self._from_model_config = bool(kwargs.pop("_from_model_config", False))
        self.transformers_version = kwargs.pop("transformers_version", None)
        kwargs.pop("_commit_hash", None)
        kwargs.pop("_original_object_hash", None)
        for key, value in kwargs.items():  # unknown keys are kept as attributes, as Hugging Face does
            setattr(self, key, value)
        self.validate()

    def validate(self) -> None:
        """The combinations Hugging Face's ``GenerationConfig.validate`` refuses (ValueError, at construction and
        on loading a file). Ranges of single values are checked by generate() and the processors, which name
        the option."""
        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if self.early_stopping not in (True, False, "never"):
            raise ValueError(f"early_stopping must be True, False or 'never', got {self.early_stopping!r}")
        if is_int(self.max_new_tokens) and self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens}")
        beams, groups, n = self.num_beams, self.num_beam_groups, self.num_return_sequences
        if not (is_int(beams) and is_int(groups) and is_int(n)):
            return  # generate() names the wrongly typed option
        if beams > 1 and (self.diversity_penalty != 0.0 or groups != 1):  # group beam search
            if self.do_sample is True:
                raise ValueError("group beam search (num_beam_groups > 1 or diversity_penalty > 0) needs "
                                 "do_sample=False")
            if groups < 1 or beams % groups:
                raise ValueError(f"num_beams ({beams}) must be divisible by num_beam_groups ({groups})")
            if self.diversity_penalty == 0.0:
                raise ValueError("diversity_penalty must be > 0 with num_beam_groups > 1 (otherwise the groups are "
                                 "identical)")
        if n != 1:
            if beams == 1 and self.do_sample is False:
                raise ValueError(f"num_return_sequences > 1 ({n}) needs sampling or beam search (greedy search "
                                 "gives one)")
            if beams > 1 and n > beams:
                raise ValueError(f"num_return_sequences ({n}) must be <= num_beams ({beams})")

    # --- dict-like views ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in vars(self).items() if k not in ("_commit_hash",)}

    def to_diff_dict(self) -> dict[str, Any]:
        """The fields that differ from the defaults (and unknown keys), as ``save_pretrained`` writes them."""
        out = {}
        for key, value in vars(self).items():
            if key in DEFAULTS:
                if value != DEFAULTS[key]:
                    out[key] = copy.deepcopy(value)
            elif key == "_from_model_config":
                if value:
                    out[key] = True
            elif key not in _METADATA:
                out[key] = copy.deepcopy(value)
        return out

    def non_default(self) -> dict[str, Any]:
        """Known fields whose value differs from Hugging Face's default."""
        return {k: getattr(self, k) for k in DEFAULTS if getattr(self, k) != DEFAULTS[k]}

    def extra_keys(self) -> list[str]:
        """Keys that are not GenerationConfig fields (kept from a file; generate() ignores them as HF does)."""
        return [k for k in vars(self) if k not in DEFAULTS and k not in _METADATA]

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def update(self, **kwargs: Any) -> dict[str, Any]:
        """Set the known fields among ``kwargs``; return the rest (Hugging Face's ``update``)."""
        unused = {}
        for key, value in kwargs.items():
            if key in DEFAULTS or hasattr(self, key):
                setattr(self, key, value)
            else:
                unused[key] = value
        return unused

    def copy(self) -> GenerationConfig:
        return copy.deepcopy(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GenerationConfig):
            return NotImplemented
        return self.to_diff_dict() == other.to_diff_dict()

    def __repr__(self) -> str:
        return f"GenerationConfig({json.dumps(self.to_diff_dict(), sort_keys=True, ensure_ascii=False)})"

    # --- files ----------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationConfig:
        if not isinstance(data, dict):
            raise ValueError(f"a generation config must be a JSON object, got {type(data).__name__}")
        return cls(**data)

    @classmethod
    def from_model_config(cls, model_config: Any) -> GenerationConfig:
        """What Hugging Face derives for a checkpoint without ``generation_config.json``: the generation fields
        that its ``config.json`` holds (special tokens, and e.g. ``no_repeat_ngram_size`` written there)."""
        data = model_config.to_dict() if hasattr(model_config, "to_dict") else dict(model_config)
        return cls(_from_model_config=True, **{k: v for k, v in data.items() if k in DEFAULTS and v is not None})

    @classmethod
    def from_pretrained(cls, path: str | Path, config_file_name: str = GENERATION_CONFIG_NAME) -> GenerationConfig:
        file = Path(path)
        if file.is_dir():
            file = file / config_file_name
        data = read_json(file, "generation config")
        if not isinstance(data, dict):
            raise ValueError(f"{file} must hold a JSON object")
        return cls.from_dict(data)

    def save_pretrained(self, directory: str | Path, config_file_name: str = GENERATION_CONFIG_NAME) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = self.to_diff_dict()
        if self.transformers_version:
            data["transformers_version"] = self.transformers_version
        (directory / config_file_name).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n",
                                                  encoding="utf-8")
