"""Training losses of the task heads, as pure NumPy functions with PyTorch's semantics.

Every loss returns a 0-d array in the dtype PyTorch gives it: the logits' dtype for class-index labels (the
causal-LM loss upcasts to float32 first, as Hugging Face does); with floating-point targets, MSE and soft-target
cross-entropy follow type promotion of logits and targets, and BCE-with-logits the targets' dtype (a float64
model with float32 multi-label targets gives a float32 loss, as in PyTorch). Labels given as Python lists (not
arrays) are typed as ``torch.tensor`` types them: floats are float32. Labels are validated here: a wrong
shape or a class index out of range (other than the ignore index) raises ``ValueError`` naming the argument,
where PyTorch would fail with an index error.

Dimension legend: B batch, T tokens, V vocab size, N labels (classes), R rows of a flattened batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray
IGNORE_INDEX = -100

REGRESSION = "regression"
SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
PROBLEM_TYPES = (REGRESSION, SINGLE_LABEL, MULTI_LABEL)


def float_result_type(logits: Array, targets: Array) -> np.dtype:
    """PyTorch's result dtype of an elementwise op of logits and targets: promotion if the targets are
    floating-point, else the logits' dtype (an integer tensor never widens a floating one)."""
    return np.result_type(logits.dtype, targets.dtype) if targets.dtype.kind == "f" else logits.dtype


def as_target_array(labels: Any) -> Array:
    """Labels as an array typed like ``torch.tensor(labels)``: a Python list or number of floats is float32."""
    if isinstance(labels, np.ndarray):
        return labels
    arr = np.asarray(labels)
    return arr.astype(np.float32) if arr.dtype.kind == "f" else arr


def log_softmax(x: Array, axis: int = -1) -> Array:
    """``x - logsumexp(x)`` with the row maximum subtracted first."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


# ---------------------------------------------------------------------------------------------
# Label validation
# ---------------------------------------------------------------------------------------------
def as_labels(labels: Any, name: str = "labels") -> Array:
    """An integer label array (int64); floats holding whole numbers are not silently accepted."""
    arr = np.asarray(labels)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def check_class_labels(
    labels: Array, shape: tuple[int, ...], num_classes: int, name: str = "labels", ignore_index: int = IGNORE_INDEX
) -> Array:
    """Integer labels of exactly ``shape`` with values in ``[0, num_classes)`` or ``ignore_index``."""
    labels = as_labels(labels, name)
    if labels.shape != tuple(shape):
        raise ValueError(f"{name} has shape {labels.shape}, expected {tuple(shape)}")
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        value = int(labels[bad].flat[0])
        raise ValueError(
            f"{name} holds {value}, outside [0, {num_classes}) and not the ignore index {ignore_index}"
        )
    return labels


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------
def cross_entropy(
    logits: Array,
    labels: Array,
    ignore_index: int = IGNORE_INDEX,
    reduction: str = "mean",
    name: str = "labels",
) -> Array:
    """``torch.nn.functional.cross_entropy`` over rows: logits [R, N], labels [R] (or soft targets [R, N]).

    ``mean`` averages over the rows whose label is not ``ignore_index`` and is NaN when every row is
    ignored (0/0, as in PyTorch); ``sum`` adds them.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    logp = log_softmax(logits, axis=-1)  # [R, N]
    labels_arr = np.asarray(labels)
    if labels_arr.dtype.kind == "f" and labels_arr.shape == logits.shape:
        # class probabilities as targets (PyTorch accepts them; no ignore index then)
        # log-softmax in the logits' dtype, the product in the promoted one (PyTorch's order)
        dtype = float_result_type(logits, labels_arr)
        per_row = -(labels_arr.astype(dtype) * logp.astype(dtype)).sum(axis=-1)  # [R]
        total = per_row.sum(dtype=dtype)
        return np.asarray(total / dtype.type(len(per_row)) if reduction == "mean" else total)
    labels_arr = check_class_labels(labels_arr, logits.shape[:1], logits.shape[-1], name, ignore_index)
    keep = labels_arr != ignore_index
    picked = logp[np.nonzero(keep)[0], labels_arr[keep]]  # [R']
    total = -picked.sum(dtype=logits.dtype)
    if reduction == "sum":
        return np.asarray(total)
    count = int(keep.sum())
    if count == 0:
        return np.asarray(np.nan, dtype=logits.dtype)
    return np.asarray(total / logits.dtype.type(count))


def masked_lm_loss(logits: Array, labels: Array, vocab_size: int, ignore_index: int = IGNORE_INDEX) -> Array:
    """Token-level cross-entropy: logits [B, T, V], labels [B, T] (``ignore_index`` = unscored)."""
    labels = check_class_labels(labels, logits.shape[:-1], vocab_size, "labels", ignore_index)
    return cross_entropy(logits.reshape(-1, vocab_size), labels.reshape(-1), ignore_index)


def causal_lm_loss(
    logits: Array,
    labels: Array | None,
    vocab_size: int,
    num_items_in_batch: int | Array | None = None,
    ignore_index: int = IGNORE_INDEX,
    shift_labels: Array | None = None,
) -> Array:
    """Hugging Face's ``ForCausalLMLoss``: position t predicts label t + 1.

    logits [B, T, V] are upcast to float32 (whatever the model dtype); labels [B, T] are shifted left by
    one and padded with ``ignore_index``, unless pre-shifted ``shift_labels`` [B, T] are given. With
    ``num_items_in_batch`` the summed loss is divided by it instead of by the number of scored tokens.
    """
    logits = logits.astype(np.float32, copy=False)
    if shift_labels is None:
        labels = check_class_labels(labels, logits.shape[:-1], vocab_size, "labels", ignore_index)
        shift_labels = np.full_like(labels, ignore_index)
        shift_labels[..., :-1] = labels[..., 1:]  # [B, T]
    else:
        shift_labels = check_class_labels(shift_labels, logits.shape[:-1], vocab_size, "shift_labels", ignore_index)
    flat_logits = logits.reshape(-1, vocab_size)
    flat_labels = shift_labels.reshape(-1)
    if num_items_in_batch is None:
        return cross_entropy(flat_logits, flat_labels, ignore_index)
    total = cross_entropy(flat_logits, flat_labels, ignore_index, reduction="sum")
    return np.asarray(total / np.float32(np.asarray(num_items_in_batch)))


def mse_loss(predictions: Array, targets: Array) -> Array:
    """Mean squared error in PyTorch's result dtype (promotion with floating targets); shapes must match."""
    targets = np.asarray(targets)
    if targets.shape != predictions.shape:
        raise ValueError(f"labels have shape {targets.shape}, expected {predictions.shape} for a regression loss")
    dtype = float_result_type(predictions, targets)
    diff = predictions.astype(dtype) - targets.astype(dtype)
    return np.asarray(np.mean(diff * diff, dtype=dtype))


def bce_with_logits(logits: Array, targets: Array) -> Array:
    """``BCEWithLogitsLoss`` (mean) as PyTorch computes it: ``(1 - y) * x - log_sigmoid(x)``, built in place
    on ``1 - y``, so each step is rounded to the targets' dtype, which is the loss's dtype; log_sigmoid (in the
    logits' dtype) is ``min(x, 0) - log1p(exp(-|x|))``, which never exponentiates a positive number.
    """
    targets = np.asarray(targets)
    if targets.shape != logits.shape:
        raise ValueError(
            f"labels have shape {targets.shape}, expected {logits.shape} for multi-label classification"
        )
    if targets.dtype.kind != "f":  # PyTorch refuses them too (its result could not be stored in the targets)
        raise ValueError(f"labels must be floating-point for multi-label classification, got dtype {targets.dtype}")
    out = targets.dtype
    log_sigmoid = np.minimum(logits, logits.dtype.type(0)) - np.log1p(np.exp(-np.abs(logits)))
    loss = ((out.type(1) - targets) * logits).astype(out)
    loss = (loss - log_sigmoid).astype(out)
    return np.asarray(np.mean(loss, dtype=out))


def infer_problem_type(num_labels: int, labels: Array) -> str:
    """Hugging Face's rule: one label -> regression; integer labels -> single-label; else multi-label."""
    if num_labels == 1:
        return REGRESSION
    if num_labels > 1 and np.asarray(labels).dtype.kind in "iu":
        return SINGLE_LABEL
    return MULTI_LABEL


def sequence_classification_loss(
    logits: Array, labels: Any, num_labels: int, problem_type: str | None
) -> tuple[Array, str]:
    """The loss of RoFormerForSequenceClassification, and the problem type used (inferred when None).

    logits [B, N]. Regression: MSE (squeezed when N == 1); single-label: cross-entropy against [B] class
    indices (-100 ignored); multi-label: BCE-with-logits against [B, N] targets.
    """
    labels = as_target_array(labels)
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"labels must be numeric, got dtype {labels.dtype}")
    problem_type = problem_type or infer_problem_type(num_labels, labels)
    b = logits.shape[0]
    if problem_type == REGRESSION:
        if num_labels == 1:
            if labels.size != b:
                raise ValueError(f"labels have shape {labels.shape}, expected ({b},) for regression")
            return mse_loss(logits.reshape(-1), labels.reshape(-1)), problem_type
        return mse_loss(logits, labels), problem_type
    if problem_type == SINGLE_LABEL:
        if labels.dtype.kind == "f" and labels.shape == logits.shape:
            return cross_entropy(logits, labels), problem_type
        if labels.size != b:
            raise ValueError(f"labels have shape {labels.shape}, expected ({b},) for single-label classification")
        return cross_entropy(logits, as_labels(labels).reshape(-1)), problem_type
    if problem_type == MULTI_LABEL:
        return bce_with_logits(logits, labels), problem_type
    raise ValueError(f"config.problem_type must be one of {PROBLEM_TYPES} or None, got {problem_type!r}")


def question_answering_loss(
    start_logits: Array, end_logits: Array, start_positions: Any, end_positions: Any
) -> Array:
    """Mean of the start and end cross-entropies. logits [B, T]; positions [B] (or [B, 1]).

    Positions are clamped to [0, T] and T is the ignore index, so a span outside the input is not scored
    (the loss is NaN if every position is ignored, as in PyTorch).
    """
    b, t = start_logits.shape
    losses = []
    for name, logits, positions in (("start_positions", start_logits, start_positions),
                                    ("end_positions", end_logits, end_positions)):
        positions = as_labels(positions, name)
        if positions.ndim > 1:
            positions = positions.squeeze(-1)
        if positions.shape != (b,):
            raise ValueError(f"{name} has shape {np.shape(positions)}, expected ({b},) or ({b}, 1)")
        losses.append(cross_entropy(logits, np.clip(positions, 0, t), ignore_index=t, name=name))
    return np.asarray((losses[0] + losses[1]) / start_logits.dtype.type(2))
