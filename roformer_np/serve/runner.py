"""A pipeline's steps, split so that the features of several requests can share one forward pass.

``Pipeline.__call__`` does, for one call: parse the options, check and preprocess each input into features
(model rows), run the features through the model in batches, postprocess each input's outputs, wrap the
results (a single input gives one result, a list a list). The server does the same steps, in two places:

* :meth:`PipelineRunner.prepare` (the request's handler): options, checks, features — a bad request fails
  here, before it is queued, with the pipeline's own message;
* :meth:`PipelineRunner.forward` (the batcher's worker): features of any requests with the same options, in
  one pass; :meth:`PipelineRunner.finish` then builds the request's result exactly as ``__call__`` would.

With the exact length grouping no row is padded: a forward pass holds rows of several lengths, each length
its own group (:meth:`Pipeline._forward_exact`: the token-wise steps of all groups share one pass, the attention
is per group), so each result is bit-identical to the request's own ``pipeline()`` call (on the native kernels,
whose rows do not depend on the rows beside them; tests/test_serve_batching.py and tests/test_length_groups.py
check it).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from .schemas import RequestError

_solo_ids = itertools.count()


@dataclass
class Prepared:
    """One request, ready for the batcher."""

    inputs: Any  # as the pipeline would be called with them
    single: bool  # one input (the pipeline's single-input result shape) or a list
    opts: dict  # the pipeline's parsed options
    items: list  # each input, checked
    features: list  # per input: its features (model rows)
    key: str  # requests with the same key may share a forward pass
    prompt_tokens: int = 0  # tokens of all features (OpenAI's usage, metrics)
    extra: dict = field(default_factory=dict)  # what a route needs after the result (e.g. details)

    @property
    def flat(self) -> list:
        return [f for feats in self.features for f in feats]


def options_key(options: dict) -> str:
    """A canonical text of a request's options: equal options, equal key (JSON values only)."""
    return json.dumps(options, sort_keys=True, ensure_ascii=False, default=repr)


class PipelineRunner:
    """Drives ``pipe``'s steps for the server; ``max_input_length`` bounds every feature (TEI's check)."""

    def __init__(self, pipe: Any, max_input_length: int, remote: Callable[[list, dict], list] | None = None,
                 exact: bool = True) -> None:
        self.pipe = pipe
        self.max_input_length = int(max_input_length)
        self.remote = remote  # a forward process's ``forward(features, request options)``; None: in this process
        self.exact = exact  # the exact length grouping: a pass's lengths are never padded together

    @property
    def task(self) -> str:
        return self.pipe.task

    def prepare(self, inputs: Any, options: dict, solo: bool = False, options_field: str = "parameters") -> Prepared:
        """Options parsed and inputs turned into features as ``pipe(inputs, **options)`` would; RequestError
        (422 with the pipeline's message, naming ``options_field`` or ``inputs``) when the pipeline refuses
        them. ``solo``: the request never shares a forward pass."""
        pipe = self.pipe
        try:
            opts = pipe._options({**pipe._defaults, **options}) if options else dict(pipe._parsed_defaults)
        except (ValueError, TypeError, KeyError) as exc:
            raise RequestError(422, f"`{options_field}`: {_message(exc)}", "validation", options_field) from None
        opts["_call"] = options
        try:
            single = pipe._is_single(inputs)
            listed = [inputs] if single else list(inputs)
            items = [pipe._check_input(x) for x in listed]
            features = [pipe._preprocess(x, opts) for x in items]
        except (ValueError, TypeError, KeyError) as exc:
            raise RequestError(422, f"`inputs`: {_message(exc)}", "validation", "inputs") from None
        lengths = [len(f.ids) for feats in features for f in feats]
        too_long = max(lengths, default=0)
        if too_long > self.max_input_length:
            raise RequestError(422, f"`inputs` must have less than {self.max_input_length} tokens. Given: "
                                    f"{too_long}", "validation", "inputs")
        if pipe.task == "text-generation":
            check_generation(pipe, opts["generate"], lengths, options_field)
            # sampling draws differ with the batch, and pads would show without skip_special_tokens
            solo = solo or bool(opts["generate"].get("do_sample")) or not opts["skip_special_tokens"] \
                or opts["return_tensors"] or opts["generate"].get("streamer") is not None
        key = f"solo:{next(_solo_ids)}" if solo else options_key(options)
        return Prepared(inputs, single, opts, items, features, key, sum(lengths))

    def forward(self, features: list, opts: dict, here: bool = False) -> list:
        """Each feature's model output, all in one pass: with ``exact``, one group per length, nothing padded;
        else padded together, as the pipeline pads. In the forward process if there is one, unless ``here``
        (the same outputs)."""
        if self.remote is not None and not here:
            return self.remote(features, opts["_call"])
        return forward_pass(self.pipe, features, opts, self.exact)

    def finish(self, prepared: Prepared, outputs: list) -> Any:
        """The request's result from its features' outputs (in feature order), as ``pipe(inputs)`` returns it."""
        pipe, opts = self.pipe, prepared.opts
        prepared.extra["outputs"] = outputs
        results, start = [], 0
        for item, feats in zip(prepared.items, prepared.features):
            results.append(pipe._postprocess(item, feats, outputs[start:start + len(feats)], opts))
            start += len(feats)
        if prepared.single:
            return pipe._wrap_single(prepared.inputs, results[0], opts)
        return pipe._wrap_list(results, opts)


def forward_pass(pipe: Any, features: list, opts: dict, exact: bool) -> list:
    """``pipe``'s outputs for one pass over ``features`` (of any requests with the same options)."""
    if exact:
        return pipe._forward_exact(features, opts)
    return pipe._forward_all(features, opts, max(1, len(features)))


def check_generation(pipe: Any, generate_kwargs: dict, prompt_lengths: list[int], field: str) -> None:
    """generate()'s own checks of its options, run now (a bad option is the client's 422, not a model error
    later): ranges and combinations, prompt + new tokens within the model's positions, stop strings the
    vocabulary can spell."""
    from ..generation import DEFAULTS, resolve_config
    from ..generation_args import check_call_args, check_options, resolve_max_length
    from ..generation_config import check_supported
    from ..stopping_criteria import StopStringCriteria

    model = pipe.model
    options = {k: v for k, v in generate_kwargs.items() if k in DEFAULTS}
    try:
        check_supported(options, "argument")
        config, explicit = resolve_config(model, None, None, options)
        opt = {name: getattr(config, name) for name in DEFAULTS}
        if opt["top_k"] is None:
            opt["top_k"] = 0
        check_options(opt)
        check_call_args(generate_kwargs.get("streamer"), int(opt["num_beams"]), generate_kwargs.get("seed"), None)
        if opt["stop_strings"]:
            StopStringCriteria(pipe.tokenizer, opt["stop_strings"])  # the vocabulary's tables are cached
        for n in prompt_lengths:
            resolve_max_length(opt["max_new_tokens"], opt["max_length"], "max_length" in explicit, n,
                               model.config.max_position_embeddings)
    except (ValueError, TypeError) as exc:
        raise RequestError(422, f"`{field}`: {_message(exc)}", "validation", field) from None


def _message(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(text).split()) or type(exc).__name__


def load_pipeline(settings: Any) -> Any:
    """The task's pipeline on ``settings.model`` (the demo model when None)."""
    from ..pipelines import pipeline, resolve_task

    task = resolve_task(settings.task)
    defaults: dict = {}
    if task == "sentence-similarity" and settings.pooling is not None:
        defaults["pooling"] = settings.pooling
    return pipeline(task, model=settings.model, backend=settings.backend, num_threads=settings.threads,
                    dtype=settings.dtype, quantize=settings.quantize, **defaults)
