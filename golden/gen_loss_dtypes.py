"""Golden sequence-classification losses with mixed logits / label dtypes, as PyTorch computes them.

Development only. Run through ``golden/generate.py loss_dtypes``. Writes ``cases/loss_dtypes/cases.json``: a
list of ``problem_type``, ``num_labels``, ``logits`` (values and ``logits_dtype``), ``labels`` (values and
``labels_dtype``; ``labels_as_list``: the labels were a Python list, typed by ``torch.tensor``), and the
``loss`` (value, ``loss_dtype``) or ``error`` PyTorch raised. The losses are computed by the lines of
transformers 4.56.2's ``RoFormerForSequenceClassification.forward`` (MSELoss with ``squeeze`` for one label,
CrossEntropyLoss, BCEWithLogitsLoss), so a float64 model given float32 multi-label targets gets the float32
loss PyTorch returns.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss

NAME = "loss_dtypes"
FLOATS = ("float16", "float32", "float64")


def hf_loss(logits: torch.Tensor, labels: torch.Tensor, num_labels: int, problem_type: str) -> torch.Tensor:
    """transformers 4.56.2 modeling_roformer.py, RoFormerForSequenceClassification.forward."""
    if problem_type == "regression":
        loss_fct = MSELoss()
        if num_labels == 1:
            return loss_fct(logits.squeeze(), labels.squeeze())
        return loss_fct(logits, labels)
    if problem_type == "single_label_classification":
        return CrossEntropyLoss()(logits.view(-1, num_labels), labels.view(-1) if labels.dim() == 1 else
                                  labels.view(-1, num_labels))
    return BCEWithLogitsLoss()(logits, labels)


def _cases(rng: np.random.Generator) -> list[dict]:
    out = []
    for logits_dtype in FLOATS:
        for labels_dtype in (*FLOATS, "int64", "bool"):
            for problem_type, n in (("multi_label_classification", 3), ("regression", 1), ("regression", 3),
                                    ("single_label_classification", 3)):
                if problem_type == "single_label_classification" and labels_dtype in ("int64", "bool"):
                    continue  # class indices: the logits' dtype, covered by the heads goldens
                logits = rng.normal(0, 3, (4, n))
                if problem_type == "multi_label_classification" or labels_dtype == "bool":
                    labels = (rng.random((4, n)) < 0.5).astype(np.float64)
                elif problem_type == "regression":
                    labels = np.round(rng.normal(0, 2, (4, n)), 0 if labels_dtype == "int64" else 6)
                else:
                    labels = rng.dirichlet(np.ones(n), 4)  # class probabilities
                out.append(dict(problem_type=problem_type, num_labels=n, logits_dtype=logits_dtype,
                                labels_dtype=labels_dtype, labels_as_list=False,
                                logits=logits.astype(logits_dtype).astype(np.float64).tolist(),
                                labels=labels.astype(labels_dtype).tolist()))
    for problem_type, n in (("multi_label_classification", 3), ("regression", 1)):  # Python lists: float32
        out.append(dict(problem_type=problem_type, num_labels=n, logits_dtype="float64", labels_dtype="list",
                        labels_as_list=True, logits=rng.normal(0, 3, (2, n)).tolist(),
                        labels=(rng.random((2, n)) < 0.5).astype(float).tolist()))
    return out


def main(here: Path) -> None:
    rng = np.random.default_rng(14)
    cases = _cases(rng)
    for case in cases:
        logits = torch.tensor(case["logits"], dtype=getattr(torch, case["logits_dtype"]))
        labels = (torch.tensor(case["labels"]) if case["labels_as_list"] else
                  torch.tensor(case["labels"], dtype=getattr(torch, case["labels_dtype"])))
        try:
            loss = hf_loss(logits, labels, case["num_labels"], case["problem_type"])
            case["loss"], case["loss_dtype"] = float(loss), str(loss.dtype).removeprefix("torch.")
        except RuntimeError as exc:
            case["error"] = str(exc)
    out = here / "cases" / NAME
    out.mkdir(parents=True, exist_ok=True)
    (out / "cases.json").write_text(json.dumps(cases, indent=0) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(__file__).resolve().parent)
