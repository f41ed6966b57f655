"""Output containers with Hugging Face's field names: attribute access, dict access and tuple indexing.

As in Hugging Face, fields that are ``None`` are skipped by tuple indexing, iteration and ``to_tuple``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np


class ModelOutput:
    """Base class: a dataclass whose non-None fields also behave as a tuple, in declaration order."""

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __iter__(self):
        return iter(self.to_tuple())

    def __len__(self) -> int:
        return len(self.to_tuple())


@dataclass
class BaseModelOutputWithPastAndCrossAttentions(ModelOutput):
    """last_hidden_state [B, T, C]; pooler_output [B, C] (only for a checkpoint with a pooler, JunnyU's field);
    hidden_states: L+1 arrays [B, T, C]; attentions: L arrays [B, H, T, S]."""

    last_hidden_state: np.ndarray | None = None
    pooler_output: np.ndarray | None = None
    past_key_values: Any = None
    hidden_states: tuple[np.ndarray, ...] | None = None
    attentions: tuple[np.ndarray, ...] | None = None
    cross_attentions: tuple[np.ndarray, ...] | None = None


# ---------------------------------------------------------------------------------------------
# Task heads (Hugging Face's field names and order; loss first, None fields skipped as tuples)
# ---------------------------------------------------------------------------------------------
@dataclass
class MaskedLMOutput(ModelOutput):
    """loss: scalar; logits [B, T, V]."""

    loss: np.ndarray | None = None
    logits: np.ndarray | None = None
    hidden_states: tuple[np.ndarray, ...] | None = None
    attentions: tuple[np.ndarray, ...] | None = None


@dataclass
class CausalLMOutputWithCrossAttentions(ModelOutput):
    """loss: scalar (float32, as Hugging Face upcasts); logits [B, T, V]; pooler_output [B, C] (a checkpoint with
    a pooler: RoFormer-Sim, in JunnyU's CausalLMOutputWithPoolingAndCrossAttentions order); past_key_values: a
    KVCache."""

    loss: np.ndarray | None = None
    logits: np.ndarray | None = None
    pooler_output: np.ndarray | None = None
    past_key_values: Any = None
    hidden_states: tuple[np.ndarray, ...] | None = None
    attentions: tuple[np.ndarray, ...] | None = None
    cross_attentions: tuple[np.ndarray, ...] | None = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    """loss: scalar; logits [B, N]."""

    loss: np.ndarray | None = None
    logits: np.ndarray | None = None
    hidden_states: tuple[np.ndarray, ...] | None = None
    attentions: tuple[np.ndarray, ...] | None = None


@dataclass
class MultipleChoiceModelOutput(ModelOutput):
    """loss: scalar; logits [B, num_choices]; hidden states/attentions are over the B * num_choices rows."""

    loss: np.ndarray | None = None
    logits: np.ndarray | None = None
    hidden_states: tuple[np.ndarray, ...] | None = None
    attentions: tuple[np.ndarray, ...] | None = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    """loss: scalar; logits [B, T, N]."""

    loss: np.ndarray | None = None
    logits: np.ndarray | None = None
    hidden_states: tuple[np.ndarray, ...] | None = None
    attentions: tuple[np.ndarray, ...] | None = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    """loss: scalar; start_logits, end_logits [B, T]."""

    loss: np.ndarray | None = None
    start_logits: np.ndarray | None = None
    end_logits: np.ndarray | None = None
    hidden_states: tuple[np.ndarray, ...] | None = None
    attentions: tuple[np.ndarray, ...] | None = None


class GenerateOutput(ModelOutput):
    """Base of what :func:`roformer_np.generation.generate` returns with ``return_dict_in_generate=True``."""


@dataclass
class GenerateDecoderOnlyOutput(GenerateOutput):
    """Greedy search and sampling (Hugging Face's ``GenerateDecoderOnlyOutput``).

    sequences [N, prompt + generated] (N = B * num_return_sequences); scores / logits (``output_scores`` /
    ``output_logits``): one [N, V] float32 array per generated token, processed / raw; attentions /
    hidden_states: per step, the model's per-layer tuples; past_key_values: the final KVCache.
    """

    sequences: np.ndarray | None = None
    scores: tuple[np.ndarray, ...] | None = None
    logits: tuple[np.ndarray, ...] | None = None
    attentions: tuple[tuple[np.ndarray, ...], ...] | None = None
    hidden_states: tuple[tuple[np.ndarray, ...], ...] | None = None
    past_key_values: Any = None


@dataclass
class GenerateBeamDecoderOnlyOutput(GenerateOutput):
    """Beam search, beam sampling and group beam search (Hugging Face's ``GenerateBeamDecoderOnlyOutput``).

    sequences_scores [N] (with ``output_scores``): each returned hypothesis' length-normalised score;
    scores: per step the processed log-probabilities [B * num_beams, V]; beam_indices [N, generated]: the
    beam (row of the [B * num_beams] batch) each token was chosen from, -1 past the end.
    """

    sequences: np.ndarray | None = None
    sequences_scores: np.ndarray | None = None
    scores: tuple[np.ndarray, ...] | None = None
    logits: tuple[np.ndarray, ...] | None = None
    beam_indices: np.ndarray | None = None
    attentions: tuple[tuple[np.ndarray, ...], ...] | None = None
    hidden_states: tuple[tuple[np.ndarray, ...], ...] | None = None
    past_key_values: Any = None
