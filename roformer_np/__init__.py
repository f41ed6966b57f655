"""roformer_np: Hugging Face's RoFormer models in plain NumPy, with optional Cython/OpenMP kernels.

>>> from roformer_np import RoFormerModel
>>> model = RoFormerModel.from_pretrained("path/to/checkpoint")  # doctest: +SKIP
"""

from .backend import get_kernels, native_available, show_config, use_backend
from .cache import KVCache
from .config import RoFormerConfig
from .generation import generate
from .heads import (
    RoFormerForCausalLM,
    RoFormerForMaskedLM,
    RoFormerForMultipleChoice,
    RoFormerForQuestionAnswering,
    RoFormerForSequenceClassification,
    RoFormerForTokenClassification,
)
from .model import RoFormerModel
from .ops import sinusoidal_table
from .outputs import (
    CausalLMOutputWithCrossAttentions,
    GenerateOutput,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from .pipelines import pipeline
from .threads import get_num_threads, set_num_threads, thread_limit
from .tokenizer import BatchEncoding, RoFormerTokenizer
from .tokenizer_fast import RoFormerTokenizerFast
from .weights import CheckpointError, load_weights, save_weights

__version__ = "0.1.0"

__all__ = [
    "BatchEncoding",
    "CausalLMOutputWithCrossAttentions",
    "CheckpointError",
    "GenerateOutput",
    "KVCache",
    "MaskedLMOutput",
    "MultipleChoiceModelOutput",
    "QuestionAnsweringModelOutput",
    "RoFormerConfig",
    "RoFormerForCausalLM",
    "RoFormerForMaskedLM",
    "RoFormerForMultipleChoice",
    "RoFormerForQuestionAnswering",
    "RoFormerForSequenceClassification",
    "RoFormerForTokenClassification",
    "RoFormerModel",
    "RoFormerTokenizer",
    "RoFormerTokenizerFast",
    "SequenceClassifierOutput",
    "TokenClassifierOutput",
    "generate",
    "get_kernels",
    "get_num_threads",
    "load_weights",
    "native_available",
    "pipeline",
    "save_weights",
    "set_num_threads",
    "show_config",
    "sinusoidal_table",
    "thread_limit",
    "use_backend",
]
