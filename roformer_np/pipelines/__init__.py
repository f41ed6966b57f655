"""Task pipelines with Hugging Face's call conventions and output fields.

>>> from roformer_np import pipeline
>>> fill = pipeline("fill-mask")                      # the demo model shipped with roformer_np  # doctest: +SKIP
>>> fill("水在零度时会[MASK]")[0]["token_str"]                                             # doctest: +SKIP

One module per task; ``base`` holds what they share (options, batching by length, threads).
"""

from .base import Pipeline
from .factory import ALIASES, DEMO_ROOT, TASKS, demo_model_dir, pipeline, resolve_task
from .feature_extraction import FeatureExtractionPipeline
from .fill_mask import FillMaskPipeline
from .question_answering import QuestionAnsweringPipeline
from .sentence_similarity import SentenceSimilarityPipeline, similar_sentences
from .text_classification import TextClassificationPipeline
from .text_generation import TextGenerationPipeline
from .token_classification import TokenClassificationPipeline

__all__ = [
    "ALIASES",
    "DEMO_ROOT",
    "TASKS",
    "FeatureExtractionPipeline",
    "FillMaskPipeline",
    "Pipeline",
    "QuestionAnsweringPipeline",
    "SentenceSimilarityPipeline",
    "TextClassificationPipeline",
    "TextGenerationPipeline",
    "TokenClassificationPipeline",
    "demo_model_dir",
    "pipeline",
    "resolve_task",
    "similar_sentences",
]
