"""The torch habits around a model that make sense on a CPU-only, inference-only NumPy port.

``pipeline(..., device="cpu")``, ``model.eval()``, ``model.to("cpu")`` work as in transformers; anything that
asks for another device, or for training mode, raises instead of silently doing something else.
"""

from __future__ import annotations

from typing import Any, TypeVar

_Model = TypeVar("_Model", bound="InferenceModeMixin")


def check_device(device: Any, name: str = "device") -> None:
    """Accept what means the CPU in transformers: None, a negative index (-1), ``"cpu"`` or a
    ``torch.device("cpu")``-like object (``.type == "cpu"``); raise ValueError for anything else."""
    if device is None:
        return
    if isinstance(device, int) and not isinstance(device, bool):
        if device < 0:  # transformers' pipelines: a negative index is the CPU
            return
    elif isinstance(device, str):
        if device.strip().lower() == "cpu":
            return
    elif getattr(device, "type", None) == "cpu" and getattr(device, "index", None) in (None, 0, -1):
        return
    raise ValueError(f"{name}={device!r}: roformer_np runs on the CPU only (use None, -1 or 'cpu')")


class InferenceModeMixin:
    """``eval()``, ``train(False)`` and ``to("cpu")`` return the model; the model never trains here."""

    training = False  # as torch.nn.Module.training after eval(): no dropout is ever applied

    def eval(self: _Model) -> _Model:
        """Evaluation mode, which is the only mode (dropout is never applied); returns the model."""
        return self

    def train(self: _Model, mode: bool = True) -> _Model:
        """``train(False)`` is ``eval()``; training mode is refused: there is no dropout and no gradient here."""
        if not isinstance(mode, bool):
            raise ValueError(f"mode must be True or False, got {mode!r}")
        if mode:
            raise NotImplementedError(
                f"{type(self).__name__}.train(): roformer_np is inference-only (no dropout, no gradients); "
                "train with Hugging Face transformers and load the checkpoint here"
            )
        return self

    def to(self: _Model, device: Any) -> _Model:
        """``to("cpu")`` (or -1, or a CPU ``torch.device``) returns the model; another device raises ValueError."""
        check_device(device)
        return self
