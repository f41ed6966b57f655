"""roformer_np: Hugging Face's RoFormer models in plain NumPy, with optional Cython/OpenMP kernels.

>>> from roformer_np import RoFormerModel
>>> model = RoFormerModel.from_pretrained("path/to/checkpoint")  # doctest: +SKIP

The public names are imported on first use (PEP 562), so ``import roformer_np`` and the command line
start quickly; ``from roformer_np import X`` and ``roformer_np.X`` work as with eager imports.
"""

from __future__ import annotations

import importlib
import importlib.util

__version__ = "0.1.0"

# public name -> the submodule defining it; a new export is one more entry here
_EXPORTS = {
    "AutoConfig": "auto",
    "AutoModel": "auto",
    "AutoModelForCausalLM": "auto",
    "AutoModelForMaskedLM": "auto",
    "AutoModelForMultipleChoice": "auto",
    "AutoModelForQuestionAnswering": "auto",
    "AutoModelForSequenceClassification": "auto",
    "AutoModelForTokenClassification": "auto",
    "AutoTokenizer": "auto",
    "BatchEncoding": "tokenizer",
    "BertTokenizer": "tokenizer_bert",
    "BertTokenizerFast": "tokenizer_bert",
    "CausalLMOutputWithCrossAttentions": "outputs",
    "CheckpointError": "weights",
    "CheckpointNotFoundError": "hub",
    "demo_model_dir": "pipelines",
    "ElectraTokenizer": "tokenizer_bert",
    "ElectraTokenizerFast": "tokenizer_bert",
    "EosTokenCriteria": "stopping_criteria",
    "generate": "generation",
    "GenerateBeamDecoderOnlyOutput": "outputs",
    "GenerateDecoderOnlyOutput": "outputs",
    "GenerateOutput": "outputs",
    "GenerationConfig": "generation_config",
    "get_kernels": "backend",
    "get_num_threads": "threads",
    "KVCache": "cache",
    "load_weights": "weights",
    "LogitsProcessor": "logits_process",
    "LogitsProcessorList": "logits_process",
    "MaskedLMOutput": "outputs",
    "MaxLengthCriteria": "stopping_criteria",
    "MaxTimeCriteria": "stopping_criteria",
    "MultipleChoiceModelOutput": "outputs",
    "native_available": "backend",
    "pipeline": "pipelines",
    "QuestionAnsweringModelOutput": "outputs",
    "RoFormerConfig": "config",
    "RoFormerForCausalLM": "heads",
    "RoFormerForMaskedLM": "heads",
    "RoFormerForMultipleChoice": "heads",
    "RoFormerForQuestionAnswering": "heads",
    "RoFormerForSequenceClassification": "heads",
    "RoFormerForTokenClassification": "heads",
    "RoFormerModel": "model",
    "RoFormerTokenizer": "tokenizer",
    "RoFormerTokenizerFast": "tokenizer_fast",
    "save_weights": "weights",
    "SequenceClassifierOutput": "outputs",
    "set_num_threads": "threads",
    "show_config": "backend",
    "sinusoidal_table": "ops",
    "StoppingCriteria": "stopping_criteria",
    "StoppingCriteriaList": "stopping_criteria",
    "StopStringCriteria": "stopping_criteria",
    "TextIteratorStreamer": "streamers",
    "TextStreamer": "streamers",
    "thread_limit": "threads",
    "TokenClassifierOutput": "outputs",
    "use_backend": "backend",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """A public name (imported from its submodule on first access), or a submodule such as ``ops``."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif _is_submodule(name):
        value = importlib.import_module(f".{name}", __name__)  # as when __init__ imported them eagerly
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later accesses are plain lookups
    return value


def _is_submodule(name: str) -> bool:
    if not name.isidentifier() or name.startswith("__"):
        return False
    spec = importlib.util.find_spec(f"{__name__}.{name}")
    return spec is not None and spec.origin is not None  # not a data folder such as demo/


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
