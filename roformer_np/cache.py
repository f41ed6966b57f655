"""The key/value cache of decoder mode: an explicit object passed into and out of the model.

Per layer it holds the self-attention keys and values *after* rotary (what Hugging Face caches), in
pre-allocated ``[B, H, capacity, D]`` buffers that grow geometrically, so appending one token does not copy
the whole cache; and, with cross-attention, the encoder's projected keys and values, computed once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Array = np.ndarray


class KVCache:
    """Keys/values of every layer. ``get_seq_length()`` is P, the number of cached positions."""

    def __init__(self, num_layers: int, capacity: int = 0, chunk: int = 64) -> None:
        if num_layers <= 0:
            raise ValueError(f"num_layers must be positive, got {num_layers}")
        self.num_layers = num_layers
        self.capacity_hint = max(0, int(capacity))
        self.chunk = max(1, int(chunk))
        self._keys: list[Array | None] = [None] * num_layers
        self._values: list[Array | None] = [None] * num_layers
        self._lengths = [0] * num_layers
        self.cross_keys: list[Array | None] = [None] * num_layers
        self.cross_values: list[Array | None] = [None] * num_layers

    # -- queries ---------------------------------------------------------------------------------
    def get_seq_length(self, layer: int = 0) -> int:
        return self._lengths[layer]

    def __len__(self) -> int:
        return self.num_layers

    def __getitem__(self, layer: int) -> tuple[Array | None, Array | None, Array | None, Array | None]:
        """``(keys, values, cross_keys, cross_values)`` of a layer (views; None where absent), as Hugging Face's
        ``EncoderDecoderCache``: ``past_key_values[0][0].shape[2]`` is the cached length."""
        if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool):
            raise TypeError(f"cache layer index must be an int, got {type(layer).__name__}")
        if not -self.num_layers <= layer < self.num_layers:
            raise KeyError(f"Cache only has {self.num_layers} layers, attempted to access layer with index {layer}")
        layer = int(layer) % self.num_layers
        return self.keys(layer), self.values(layer), self.cross_keys[layer], self.cross_values[layer]

    def __iter__(self):
        return (self[i] for i in range(self.num_layers))

    @property
    def batch_size(self) -> int | None:
        k = self._keys[0]
        return None if k is None else k.shape[0]

    def keys(self, layer: int) -> Array | None:
        """[B, H, P, D] view of the cached keys of ``layer``."""
        k = self._keys[layer]
        return None if k is None else k[:, :, : self._lengths[layer]]

    def values(self, layer: int) -> Array | None:
        v = self._values[layer]
        return None if v is None else v[:, :, : self._lengths[layer]]

    def check_compatible(self, batch: int, num_heads: int, head_size: int, dtype: np.dtype) -> None:
        """Raise ``ValueError`` if this cache was filled by a model or batch of another shape."""
        for k in self._keys:
            if k is None:
                continue
            b, h, _, d = k.shape
            if (b, h, d) != (batch, num_heads, head_size):
                raise ValueError(
                    f"past_key_values holds [batch={b}, heads={h}, head_size={d}] but the model and inputs need "
                    f"[batch={batch}, heads={num_heads}, head_size={head_size}]"
                )
            if k.dtype != dtype:
                raise ValueError(f"past_key_values has dtype {k.dtype}, the model computes in {dtype}")
            break

    # -- updates ---------------------------------------------------------------------------------
    def update(self, layer: int, k: Array, v: Array) -> tuple[Array, Array]:
        """Append new keys/values [B, H, T, D]; return the full [B, H, P + T, D] views."""
        slot_k, slot_v = self.append_slots(layer, k.shape, k.dtype)
        slot_k[...] = k
        slot_v[...] = v
        return self.keys(layer), self.values(layer)

    def append_slots(self, layer: int, shape: tuple[int, int, int, int], dtype: np.dtype) -> tuple[Array, Array]:
        """Make room for T new positions of ``shape`` [B, H, T, D] and count them as cached; returns the two
        [B, H, T, D] views of the buffers they go into (filled by the caller: a decoding step rotates its
        keys straight into them, :func:`roformer_np.ops.rotary_append`)."""
        b, h, t, d = shape
        p = self._lengths[layer]
        buf_k, buf_v = self._keys[layer], self._values[layer]
        if buf_k is None or p + t > buf_k.shape[2]:
            capacity = max(p + t, self.capacity_hint, int(1.5 * (0 if buf_k is None else buf_k.shape[2])))
            capacity = -(-capacity // self.chunk) * self.chunk
            new_k = np.empty((b, h, capacity, d), dtype=dtype)
            new_v = np.empty((b, h, capacity, d), dtype=dtype)
            if p:
                new_k[:, :, :p] = buf_k[:, :, :p]
                new_v[:, :, :p] = buf_v[:, :, :p]
            self._keys[layer], self._values[layer] = buf_k, buf_v = new_k, new_v
        self._lengths[layer] = p + t
        return buf_k[:, :, p : p + t], buf_v[:, :, p : p + t]

    def set_cross(self, layer: int, k: Array, v: Array) -> None:
        self.cross_keys[layer], self.cross_values[layer] = k, v

    def crop(self, length: int) -> None:
        """Forget every position from ``length`` on."""
        self._lengths = [min(n, max(0, int(length))) for n in self._lengths]

    def reorder(self, index: Sequence[int] | Array) -> None:
        """Select batch rows (beam search): row i becomes old row ``index[i]``."""
        index = np.asarray(index, dtype=np.intp)
        for i in range(self.num_layers):
            if self._keys[i] is not None:
                n = self._lengths[i]
                self._keys[i] = np.ascontiguousarray(self._keys[i][index, :, :])
                self._values[i] = np.ascontiguousarray(self._values[i][index, :, :])
                self._lengths[i] = n
            if self.cross_keys[i] is not None:
                self.cross_keys[i] = self.cross_keys[i][index]
                self.cross_values[i] = self.cross_values[i][index]

    # -- Hugging Face's legacy tuple layout ------------------------------------------------------
    def to_legacy(self) -> tuple[tuple[Array, ...], ...]:
        """``((k, v[, cross_k, cross_v]) per layer)``, each [B, H, P, D] (copies)."""
        out = []
        for i in range(self.num_layers):
            entry = [np.array(self.keys(i)), np.array(self.values(i))] if self._keys[i] is not None else []
            if self.cross_keys[i] is not None:
                entry += [self.cross_keys[i], self.cross_values[i]]
            out.append(tuple(entry))
        return tuple(out)

    def to_legacy_cache(self) -> tuple[tuple[Array, ...], ...]:
        """Hugging Face's name for :meth:`to_legacy`."""
        return self.to_legacy()

    @classmethod
    def from_legacy(cls, legacy: Sequence[Sequence[Array]], num_layers: int | None = None) -> KVCache:
        """Build a cache from Hugging Face's legacy tuple layout (validated)."""
        if not isinstance(legacy, (tuple, list)) or not legacy:
            raise ValueError("past_key_values must be a KVCache or a non-empty tuple of per-layer (k, v) tuples")
        if num_layers is not None and len(legacy) != num_layers:
            raise ValueError(f"past_key_values has {len(legacy)} layers, the model has {num_layers}")
        cache = cls(len(legacy))
        for i, entry in enumerate(legacy):
            if not isinstance(entry, (tuple, list)) or len(entry) not in (2, 4):
                raise ValueError(f"past_key_values[{i}] must hold 2 or 4 arrays, got {entry!r:.80}")
            if len(entry) == 4 and entry[2] is None and entry[3] is None:
                entry = entry[:2]  # Hugging Face's (k, v, None, None): no cross-attention cached
            if any(a is None for a in entry):
                raise ValueError(f"past_key_values[{i}] holds None where arrays are needed")
            k, v = (np.asarray(a) for a in entry[:2])
            if k.ndim != 4 or k.shape != v.shape:
                raise ValueError(
                    f"past_key_values[{i}] keys/values must both be [B, H, P, D], got {k.shape} and {v.shape}"
                )
            if k.shape[2]:
                cache.update(i, k, v)
            else:
                cache._keys[i] = np.empty(k.shape[:2] + (0, k.shape[3]), dtype=k.dtype)
                cache._values[i] = np.empty(k.shape[:2] + (0, k.shape[3]), dtype=k.dtype)
            if len(entry) == 4:
                cache.set_cross(i, np.asarray(entry[2]), np.asarray(entry[3]))
        return cache
