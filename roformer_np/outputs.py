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
    """last_hidden_state [B, T, C]; hidden_states: L+1 arrays [B, T, C]; attentions: L arrays [B, H, T, S]."""

    last_hidden_state: np.ndarray | None = None
    past_key_values: Any = None
    hidden_states: tuple[np.ndarray, ...] | None = None
    attentions: tuple[np.ndarray, ...] | None = None
    cross_attentions: tuple[np.ndarray, ...] | None = None
