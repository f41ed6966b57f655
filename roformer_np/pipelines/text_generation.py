"""text-generation: continue a prompt with a causal LM (Hugging Face's ``TextGenerationPipeline``)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..generation import model_generation_config
from ..generation_config import DEFAULTS as GENERATION_FIELDS
from .base import Batch, Feature, Pipeline

# The pipeline's own generation defaults (Hugging Face's ``_default_generation_config``): they win over the
# model's generation_config.json except that a stored non-default ``max_length`` replaces max_new_tokens.
PIPELINE_DEFAULTS = {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7}
HF_DEFAULT_MAX_LENGTH = 20
# generate()'s arguments besides the GenerationConfig fields
GENERATE_ARGUMENTS = ("seed", "generator", "streamer", "generation_config", "logits_processor", "stopping_criteria",
                      "prefix_allowed_tokens_fn", "use_model_defaults")


class TextGenerationPipeline(Pipeline):
    """``pipe("今天天气")`` → ``[{"generated_text": "今天天气 很 好 …"}]`` (one dict per returned sequence).

    Options: every option of :func:`roformer_np.generate` — the GenerationConfig fields (``max_new_tokens``,
    ``do_sample``, ``temperature``, ``top_k``, ``top_p``, ``num_beams``, ``no_repeat_ngram_size``,
    ``stop_strings`` …), ``seed``, ``streamer``, ``generation_config``, ``logits_processor``,
    ``stopping_criteria``, also nested as ``generate_kwargs={...}``; as in Hugging Face the pipeline samples by
    default: ``max_new_tokens=256, do_sample=True, temperature=0.7``),
    ``return_full_text`` (True: prompt + continuation; False: the continuation only), ``return_tensors``
    (``generated_token_ids`` instead of text), ``clean_up_tokenization_spaces`` (True),
    ``skip_special_tokens`` (True), ``prefix`` (text put before every prompt), ``add_special_tokens``
    (True: the prompt is encoded as ``[CLS] prompt [SEP]``, the tokenizer's default, as Hugging Face does).
    The continuation is decoded text, so Chinese comes back with spaces between tokens (the tokenizer's
    ``decode``). Batches only hold prompts of one length: padding would shift RoFormer's positions.
    """

    task = "text-generation"
    pad_batches = False

    def _parse_options(self, return_full_text: bool | None = None, return_tensors: bool | None = None,
                       clean_up_tokenization_spaces: bool = True, skip_special_tokens: bool = True,
                       prefix: str = "", add_special_tokens: bool = True, return_text: bool | None = None,
                       stop_sequence: str | None = None, handle_long_generation: str | None = None,
                       generate_kwargs: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        if not isinstance(prefix, str):
            raise ValueError(f"prefix must be a str, got {type(prefix).__name__}")
        if return_full_text is not None and return_tensors is not None:  # even False, as Hugging Face
            raise ValueError("`return_full_text` is mutually exclusive with `return_tensors`")
        if return_text is not None and (return_full_text is not None or return_tensors is not None):
            other = "return_full_text" if return_full_text is not None else "return_tensors"
            raise ValueError(f"`return_text` is mutually exclusive with `{other}`")  # as Hugging Face
        if handle_long_generation not in (None, "hole"):
            raise ValueError(f"handle_long_generation must be None or 'hole', got {handle_long_generation!r}")
        if generate_kwargs is not None and not isinstance(generate_kwargs, dict):
            raise ValueError(f"generate_kwargs must be a dict, got {type(generate_kwargs).__name__}")
        given = {**(generate_kwargs or {}), **options}
        unknown = sorted(k for k in given if k not in GENERATION_FIELDS and k not in GENERATE_ARGUMENTS)
        if unknown:
            raise TypeError(f"{self.task} pipeline: unknown option(s) {unknown}: not pipeline options nor "
                            "generate() options (GenerationConfig fields, seed, streamer, ...)")
        generate_kwargs = {k: v for k, v in given.items() if v is not None}
        for key, value in PIPELINE_DEFAULTS.items():
            generate_kwargs.setdefault(key, value)
        stored = model_generation_config(self.model)
        if (given.get("max_new_tokens") is None and given.get("max_length") is None
                and stored.max_length not in (None, HF_DEFAULT_MAX_LENGTH)):
            del generate_kwargs["max_new_tokens"]  # the checkpoint's max_length rules, as in Hugging Face
        if stop_sequence is not None:  # Hugging Face: the first token of the text becomes the EOS id
            if not isinstance(stop_sequence, str) or not stop_sequence:
                raise ValueError(f"stop_sequence must be a non-empty str, got {stop_sequence!r}")
            stop_ids = self.tokenizer.encode(stop_sequence, add_special_tokens=False)
            if not stop_ids:
                raise ValueError(f"stop_sequence {stop_sequence!r} has no tokens")
            if len(stop_ids) > 1:
                warnings.warn(f"stop_sequence {stop_sequence!r} is {len(stop_ids)} tokens; as in Hugging Face only "
                              "the first one stops generation (use stop_strings= for the whole text)", stacklevel=4)
            generate_kwargs["eos_token_id"] = stop_ids[0]
        if generate_kwargs.get("stop_strings") is not None:
            # stop strings need the tokenizer (Hugging Face 4.56's pipeline does not pass it, and then fails)
            generate_kwargs["tokenizer"] = self.tokenizer
        return {"return_full_text": return_full_text is None or bool(return_full_text),
                "return_tensors": bool(return_tensors),
                "clean_up_tokenization_spaces": bool(clean_up_tokenization_spaces),
                "skip_special_tokens": bool(skip_special_tokens), "prefix": prefix,
                "add_special_tokens": bool(add_special_tokens), "hole": handle_long_generation == "hole",
                "generate": generate_kwargs}

    def _preprocess(self, prompt: str, opts: dict) -> list[Feature]:
        ids = self.tokenizer(opts["prefix"] + prompt, add_special_tokens=opts["add_special_tokens"])["input_ids"]
        if not ids:
            raise ValueError(f"text-generation: the prompt {prompt!r} has no tokens (RoFormer has no start token "
                             "to generate from)")
        if opts["hole"]:
            ids = self._keep_room(list(ids), opts["generate"])
        return [Feature(list(ids), [0] * len(ids))]

    def _keep_room(self, ids: list[int], generate_kwargs: dict[str, Any]) -> list[int]:
        """``handle_long_generation="hole"``: cut the prompt from the left so that it and the new tokens fit the
        model's length (Hugging Face's rule, with the model's position table as the limit)."""
        limit = min(self.model.config.max_position_embeddings, self.tokenizer.model_max_length)
        if "max_new_tokens" in generate_kwargs:
            new_tokens = int(generate_kwargs["max_new_tokens"])
        else:
            max_length = generate_kwargs.get("max_length", model_generation_config(self.model).max_length)
            new_tokens = int(max_length) - len(ids)
            if new_tokens < 0:
                raise ValueError("handle_long_generation='hole': cannot infer how many new tokens are expected")
        if len(ids) + new_tokens > limit:
            keep = limit - new_tokens
            if keep <= 0:
                raise ValueError(f"handle_long_generation='hole': {new_tokens} new tokens exceed the model's length "
                                 f"({limit})")
            ids = ids[-keep:]
        return ids

    def _forward(self, batch: Batch, opts: dict) -> list[np.ndarray]:
        sequences = self.model.generate(batch.input_ids, attention_mask=batch.attention_mask, **opts["generate"])
        per_prompt = sequences.shape[0] // len(batch.features)
        return list(sequences.reshape(len(batch.features), per_prompt, -1))  # [B, n, S + new] -> B x [n, S+new]

    def _postprocess(self, prompt: str, features: list[Feature], outputs: list[np.ndarray], opts: dict) -> list:
        (feature,), (sequences,) = features, outputs
        if opts["return_tensors"]:
            return [{"generated_token_ids": s.tolist()} for s in sequences]

        def decode(ids: Any) -> str:
            return self.tokenizer.decode(list(ids), skip_special_tokens=opts["skip_special_tokens"],
                                         clean_up_tokenization_spaces=opts["clean_up_tokenization_spaces"])

        prompt_length = len(decode(feature.ids))
        records = []
        for s in sequences:
            new_text = decode(s.tolist())[prompt_length:]
            records.append({"generated_text": prompt + new_text if opts["return_full_text"] else new_text})
        return records
