"""Request bodies: parsed, checked, and turned into a pipeline call; errors in TEI's shape naming the field.

text-embeddings-inference answers ``{"error": ..., "error_type": ...}`` (``validation`` and ``tokenizer`` 422,
``empty`` 400, ``overloaded`` 429, ``unhealthy`` 503, ``backend`` 424 — here 500, as the model runs in this
process). A field that is absent or ``null`` takes its default (as TEI's optional fields); a field the route
does not know is an error (422 naming it), so a typo never passes unseen. No third-party imports here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

Json = Any


class RequestError(Exception):
    """An HTTP error answer: ``status``, a message, TEI's ``error_type`` and the field it is about."""

    def __init__(self, status: int, message: str, error_type: str = "validation", field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.field = field

    def body(self) -> dict:
        out = {"error": self.message, "error_type": self.error_type}
        if self.field is not None:
            out["field"] = self.field
        return out

    def openai_body(self) -> dict:
        """TEI's error shape on its OpenAI-compatible route."""
        return {"message": self.message, "code": self.status, "type": self.error_type}


def invalid(field: str, expected: str, value: Any) -> RequestError:
    shown = json.dumps(value, ensure_ascii=False, default=repr)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return RequestError(422, f"`{field}`: expected {expected}, got {shown}", "validation", field)


def parse_json(raw: bytes) -> dict:
    """The body as a JSON object (422 otherwise)."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RequestError(422, f"the body is not UTF-8: {exc}", "validation", "body") from None
    except json.JSONDecodeError as exc:
        raise RequestError(422, f"the body is not valid JSON: {exc}", "validation", "body") from None
    if not isinstance(body, dict):
        raise RequestError(422, f"the body must be a JSON object, got {type(body).__name__}", "validation", "body")
    return body


def check_known(body: dict, known: tuple[str, ...], where: str = "") -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        name = f"{where}{unknown[0]}"
        raise RequestError(422, f"unknown field `{name}` (this route takes {', '.join(known)})", "validation", name)


def present(body: dict, name: str) -> bool:
    return body.get(name) is not None


# ---------------------------------------------------------------------------------------------
# Field kinds: each returns the checked value or raises invalid(field, ...)
# ---------------------------------------------------------------------------------------------
def _bool(field: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise invalid(field, "true or false", v)
    return v


def _int(field: str, v: Any, low: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or (low is not None and v < low):
        raise invalid(field, "an integer" + (f" >= {low}" if low is not None else ""), v)
    return v


def _number(field: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
        raise invalid(field, "a finite number", v)
    return v


def _str(field: str, v: Any) -> str:
    if not isinstance(v, str):
        raise invalid(field, "a string", v)
    return v


def _str_list(field: str, v: Any) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise invalid(field, "a list of strings", v)
    return v


def _str_or_list(field: str, v: Any) -> str | list[str]:
    return v if isinstance(v, str) else _str_list(field, v)


def _choice(*allowed: str) -> Callable[[str, Any], str]:
    def check(field: str, v: Any) -> str:
        if v not in allowed:
            raise invalid(field, "one of " + ", ".join(allowed), v)
        return v

    return check


def pos_int(field: str, v: Any) -> int:
    return _int(field, v, 1)


def nonneg_int(field: str, v: Any) -> int:
    return _int(field, v, 0)


def any_int(field: str, v: Any) -> int:
    return _int(field, v)


def get(body: dict, name: str, kind: Callable[[str, Any], Any], default: Any = None, where: str = "") -> Any:
    """``body[name]`` checked by ``kind``; absent or null → ``default``."""
    value = body.get(name)
    return default if value is None else kind(f"{where}{name}", value)


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------
def text_inputs(body: dict, name: str, max_batch: int) -> tuple[list[str], bool]:
    """``name`` as a string or a non-empty list of strings: (texts, single)."""
    value = body.get(name)
    if value is None:
        raise RequestError(422, f"missing field `{name}`", "validation", name)
    if isinstance(value, str):
        return [value], True
    if not isinstance(value, list):
        raise invalid(name, "a string or a list of strings", value)
    check_batch(name, value, max_batch)
    for i, x in enumerate(value):
        if not isinstance(x, str):
            raise invalid(f"{name}[{i}]", "a string", x)
    return list(value), False


def check_batch(name: str, value: list, max_batch: int) -> None:
    if not value:
        raise RequestError(400, f"`{name}` cannot be empty", "empty", name)
    if len(value) > max_batch:
        raise RequestError(422, f"`{name}`: batch size {len(value)} > maximum allowed batch size {max_batch}",
                           "validation", name)


def predict_inputs(body: dict, max_batch: int) -> tuple[list[Any], bool]:
    """TEI's /predict ``inputs``: a string, a pair ``[a, b]``, or a batch ``[[a], [a, b], ...]`` (a list whose
    first element is a string is one input, as TEI reads it). Items become the pipeline's str or
    ``{"text", "text_pair"}``."""
    value = body.get("inputs")
    if value is None:
        raise RequestError(422, "missing field `inputs`", "validation", "inputs")
    if isinstance(value, str):
        return [value], True
    if not isinstance(value, list):
        raise invalid("inputs", "a string, a pair [string, string] or a batch [[string], [string, string], ...]",
                      value)
    if not value:
        raise RequestError(400, "`inputs` cannot be empty", "empty", "inputs")
    if isinstance(value[0], str):
        return [_sequence("inputs", value)], True
    check_batch("inputs", value, max_batch)
    return [_sequence(f"inputs[{i}]", x) for i, x in enumerate(value)], False


def _sequence(field: str, value: Any) -> Any:
    if not isinstance(value, list) or len(value) not in (1, 2) or not all(isinstance(x, str) for x in value):
        raise invalid(field, "[string] or a pair [string, string]", value)
    return value[0] if len(value) == 1 else {"text": value[0], "text_pair": value[1]}


def object_inputs(body: dict, keys: dict[str, Callable[[str, Any], Any]], max_batch: int) -> tuple[list[dict], bool]:
    """``inputs`` as one object with exactly ``keys`` (each checked by its kind) or a non-empty list of them."""
    value = body.get("inputs")
    if value is None:
        raise RequestError(422, "missing field `inputs`", "validation", "inputs")
    single = isinstance(value, dict)
    listed = [value] if single else value
    if not isinstance(listed, list):
        raise invalid("inputs", "an object with " + ", ".join(keys) + " (or a list of them)", value)
    if not single:
        check_batch("inputs", listed, max_batch)
    out = []
    for i, item in enumerate(listed):
        where = "inputs." if single else f"inputs[{i}]."
        if not isinstance(item, dict):
            raise invalid(where[:-1], "an object with " + ", ".join(keys), item)
        check_known(item, tuple(keys), where)
        for key, kind in keys.items():
            if item.get(key) is None:
                raise RequestError(422, f"missing field `{where}{key}`", "validation", f"{where}{key}")
            kind(f"{where}{key}", item[key])
        out.append({key: item[key] for key in keys})
    return out, single


# ---------------------------------------------------------------------------------------------
# Task parameters (the Inference-API routes): name -> kind; the pipeline checks ranges and combinations
# ---------------------------------------------------------------------------------------------
GENERATION_PARAMETERS: dict[str, Callable[[str, Any], Any]] = {
    "max_new_tokens": pos_int, "min_new_tokens": nonneg_int, "max_length": pos_int, "min_length": nonneg_int,
    "do_sample": _bool, "temperature": _number, "top_k": nonneg_int, "top_p": _number, "min_p": _number,
    "typical_p": _number, "epsilon_cutoff": _number, "eta_cutoff": _number, "repetition_penalty": _number,
    "no_repeat_ngram_size": nonneg_int, "num_beams": pos_int, "num_beam_groups": pos_int,
    "diversity_penalty": _number, "length_penalty": _number, "early_stopping": _bool,
    "num_return_sequences": pos_int, "seed": nonneg_int, "stop_strings": _str_or_list, "max_time": _number,
    "renormalize_logits": _bool, "return_full_text": _bool, "clean_up_tokenization_spaces": _bool,
    "skip_special_tokens": _bool, "prefix": _str,
}

TASK_PARAMETERS: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "fill-mask": {"top_k": pos_int, "targets": _str_or_list},
    "text-classification": {"top_k": pos_int, "function_to_apply": _choice("default", "sigmoid", "softmax", "none"),
                            "truncation": _bool, "max_length": pos_int},
    "token-classification": {"aggregation_strategy": _choice("none", "simple", "first", "average", "max"),
                             "ignore_labels": _str_list, "stride": nonneg_int},
    "question-answering": {"top_k": pos_int, "max_answer_len": pos_int, "max_seq_len": pos_int,
                           "doc_stride": nonneg_int, "handle_impossible_answer": _bool, "align_to_words": _bool,
                           "max_question_len": pos_int},
    "feature-extraction": {"truncation": _bool, "max_length": pos_int, "normalize": _bool,
                           "pooling": _choice("cls", "mean", "pooler", "none")},
    "sentence-similarity": {"truncation": _bool, "max_length": pos_int},
    "text-generation": GENERATION_PARAMETERS,
}
# parameters whose null is a value: text-classification's top_k=None is "every label"
NULL_MEANS_VALUE = {("text-classification", "top_k")}


def task_parameters(body: dict, task: str) -> dict[str, Any]:
    """``parameters`` of an Inference-API request as pipeline options (nulls dropped unless they mean a value)."""
    params = body.get("parameters")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise invalid("parameters", "an object", params)
    spec = TASK_PARAMETERS[task]
    check_known(params, tuple(spec), "parameters.")
    out = {}
    for name, value in params.items():
        if value is None:
            if (task, name) in NULL_MEANS_VALUE:
                out[name] = None
            continue
        out[name] = spec[name](f"parameters.{name}", value)
    if out.get("pooling") == "none":
        out["pooling"] = None
    return out


def hf_options(body: dict) -> None:
    """The Inference API's ``options`` (``use_cache``, ``wait_for_model``): accepted, nothing to do here."""
    options = body.get("options")
    if options is not None:
        if not isinstance(options, dict):
            raise invalid("options", "an object", options)
        check_known(options, ("use_cache", "wait_for_model"), "options.")
        for name in options:
            get(options, name, _bool, where="options.")


# text-generation-inference's parameters, mapped onto generate()'s; those it has and this server does not honour
# are accepted at their neutral value only
TGI_PARAMETERS: dict[str, Callable[[str, Any], Any]] = {
    "max_new_tokens": pos_int, "do_sample": _bool, "temperature": _number, "top_k": nonneg_int, "top_p": _number,
    "typical_p": _number, "repetition_penalty": _number, "seed": nonneg_int, "stop": _str_list,
    "return_full_text": _bool, "details": _bool,
}
TGI_NEUTRAL = {"decoder_input_details": (False,), "watermark": (False,), "best_of": (1,), "top_n_tokens": (0,),
               "truncate": (), "grammar": (), "adapter_id": (), "frequency_penalty": (0, 0.0)}


def tgi_parameters(body: dict) -> tuple[dict[str, Any], bool]:
    """TGI's ``parameters`` as text-generation pipeline options (TGI's defaults: greedy, new text only), and
    whether ``details`` were asked for."""
    params = body.get("parameters")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise invalid("parameters", "an object", params)
    check_known(params, tuple(TGI_PARAMETERS) + tuple(TGI_NEUTRAL), "parameters.")
    out: dict[str, Any] = {"do_sample": False, "return_full_text": False}
    details = False
    for name, value in params.items():
        if value is None:
            continue
        if name in TGI_NEUTRAL:
            if value not in TGI_NEUTRAL[name]:
                neutral = " or ".join(json.dumps(v) for v in TGI_NEUTRAL[name]) or "null"
                raise RequestError(422, f"`parameters.{name}` is not supported by this server (give {neutral})",
                                   "validation", f"parameters.{name}")
            continue
        value = TGI_PARAMETERS[name](f"parameters.{name}", value)
        if name == "details":
            details = value
        elif name == "stop":
            if value:
                out["stop_strings"] = value
        else:
            out[name] = value
    return out, details


# ---------------------------------------------------------------------------------------------
# TEI's request shapes
# ---------------------------------------------------------------------------------------------
@dataclass
class TextRequest:
    texts: list
    single: bool
    truncate: bool = False
    normalize: bool = True
    raw_scores: bool = False
    add_special_tokens: bool = True
    encoding_format: str = "float"


def _no_prompt_name(body: dict) -> None:
    if present(body, "prompt_name"):
        raise RequestError(422, "`prompt_name` is set but the model has no prompts", "validation", "prompt_name")


def _right_truncation(body: dict) -> None:
    get(body, "truncation_direction", _choice("right", "Right", "left", "Left"))
    if str(body.get("truncation_direction", "right")).lower() == "left":
        raise RequestError(422, "`truncation_direction`: only \"right\" is supported", "validation",
                           "truncation_direction")


def _dimensions(body: dict, hidden: int) -> None:
    dims = get(body, "dimensions", pos_int)
    if dims is not None and dims != hidden:
        raise RequestError(422, f"`dimensions`: this model's embeddings have {hidden} dimensions and it cannot "
                                f"give {dims}", "validation", "dimensions")


def embed_request(body: dict, max_batch: int, auto_truncate: bool, hidden: int, pooled: bool = True) -> TextRequest:
    known = ("inputs", "truncate", "truncation_direction", "prompt_name") + (("normalize", "dimensions") if pooled
                                                                              else ())
    check_known(body, known)
    texts, single = text_inputs(body, "inputs", max_batch)
    _no_prompt_name(body)
    _right_truncation(body)
    if pooled:
        _dimensions(body, hidden)
    return TextRequest(texts, single, truncate=get(body, "truncate", _bool, auto_truncate),
                       normalize=get(body, "normalize", _bool, True) if pooled else False)


def predict_request(body: dict, max_batch: int, auto_truncate: bool) -> TextRequest:
    check_known(body, ("inputs", "truncate", "truncation_direction", "raw_scores"))
    texts, single = predict_inputs(body, max_batch)
    _right_truncation(body)
    return TextRequest(texts, single, truncate=get(body, "truncate", _bool, auto_truncate),
                       raw_scores=get(body, "raw_scores", _bool, False))


def tokenize_request(body: dict, max_batch: int) -> TextRequest:
    check_known(body, ("inputs", "add_special_tokens", "prompt_name"))
    texts, single = text_inputs(body, "inputs", max_batch)
    _no_prompt_name(body)
    return TextRequest(texts, single, add_special_tokens=get(body, "add_special_tokens", _bool, True))


def decode_request(body: dict, max_batch: int, vocab_size: int) -> tuple[list[list[int]], bool]:
    check_known(body, ("ids", "skip_special_tokens"))
    value = body.get("ids")
    if value is None:
        raise RequestError(422, "missing field `ids`", "validation", "ids")
    if not isinstance(value, list):
        raise invalid("ids", "a list of token ids or a list of such lists", value)
    single = not value or not isinstance(value[0], list)
    rows = [value] if single else value
    if not single:
        check_batch("ids", rows, max_batch)
    for i, row in enumerate(rows):
        where = "ids" if single else f"ids[{i}]"
        if not isinstance(row, list) or not all(not isinstance(t, bool) and isinstance(t, int) and 0 <= t < vocab_size
                                                for t in row):
            raise invalid(where, f"a list of token ids in [0, {vocab_size})", row)
    return rows, single


def openai_request(body: dict, max_batch: int, hidden: int) -> TextRequest:
    check_known(body, ("input", "model", "user", "encoding_format", "dimensions"))
    texts, single = text_inputs(body, "input", max_batch)
    get(body, "model", _str)
    get(body, "user", _str)
    _dimensions(body, hidden)
    return TextRequest(texts, single, encoding_format=get(body, "encoding_format", _choice("float", "base64"),
                                                          "float"))
