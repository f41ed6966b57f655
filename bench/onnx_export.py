"""Export the benchmark checkpoint to ONNX with torch.onnx.export (TorchScript exporter, dynamo=False).

Three graphs of the base checkpoint, all with dynamic batch / sequence axes, opset 17:
- encoder.onnx: RoFormerModel(input_ids, attention_mask, token_type_ids) -> last_hidden_state;
- mlm.onnx: RoFormerForMaskedLM(...) -> logits;
- decoder_step.onnx: RoFormerForCausalLM (is_decoder) one cached step: (input_ids, attention_mask,
  past k/v per layer) -> (logits of the new token, new k/v per layer).
For bench_lowp.py also: the demo models of roformer_np/demo (export_demo) and ONNX Runtime's
``quantize_dynamic`` int8 model of any graph (quantize_int8).
"""

from __future__ import annotations

import warnings
from pathlib import Path

OPSET = 17


def _export(module, args, path: Path, input_names, output_names, dynamic_axes) -> None:
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )


def export_all(checkpoint: Path, out_dir: Path) -> dict[str, Path]:
    import torch
    from transformers import RoFormerConfig, RoFormerForCausalLM, RoFormerForMaskedLM, RoFormerModel

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / f"{k}.onnx" for k in ("encoder", "mlm", "decoder_step")}
    ids = torch.ones((1, 8), dtype=torch.long)
    mask = torch.ones((1, 8), dtype=torch.long)
    types = torch.zeros((1, 8), dtype=torch.long)
    axes = {n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids")}

    inputs = ["input_ids", "attention_mask", "token_type_ids"]
    for name, cls, output in (("encoder", RoFormerModel, "last_hidden_state"), ("mlm", RoFormerForMaskedLM, "logits")):
        if paths[name].is_file():
            continue
        model = cls.from_pretrained(checkpoint).eval()
        model.config.return_dict = False
        _export(model, (ids, mask, types), paths[name], inputs, [output], {**axes, output: {0: "batch", 1: "seq"}})
    if not paths["decoder_step"].is_file():
        config = RoFormerConfig.from_pretrained(checkpoint)
        config.is_decoder = True
        lm = RoFormerForCausalLM.from_pretrained(checkpoint, config=config).eval()
        layers, heads = config.num_hidden_layers, config.num_attention_heads
        d = config.hidden_size // heads

        class Step(torch.nn.Module):
            def __init__(self, lm):
                super().__init__()
                self.lm = lm

            def forward(self, input_ids, attention_mask, *past):
                from transformers import DynamicCache

                cache = DynamicCache()
                for i in range(layers):
                    cache.update(past[2 * i], past[2 * i + 1], i)
                out = self.lm(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    past_key_values=cache,
                    use_cache=True,
                    return_dict=True,
                )
                new = out.past_key_values
                flat = []
                for i in range(layers):
                    flat += [new.layers[i].keys, new.layers[i].values]
                return (out.logits[:, -1], *flat)

        past = []
        for _ in range(layers):
            past += [torch.zeros((1, heads, 4, d)), torch.zeros((1, heads, 4, d))]
        names_in = ["input_ids", "attention_mask"] + [f"past.{i}.{kv}" for i in range(layers) for kv in "kv"]
        names_out = ["logits"] + [f"present.{i}.{kv}" for i in range(layers) for kv in "kv"]
        dyn = {
            "input_ids": {0: "batch", 1: "seq"},
            "attention_mask": {0: "batch", 1: "total"},
            "logits": {0: "batch"},
        }
        for n in names_in[2:]:
            dyn[n] = {0: "batch", 2: "past"}
        for n in names_out[1:]:
            dyn[n] = {0: "batch", 2: "total"}
        _export(
            Step(lm),
            (ids[:, :1], torch.ones((1, 5), dtype=torch.long), *past),
            paths["decoder_step"],
            names_in,
            names_out,
            dyn,
        )
    return paths


DEMO_CLASSES = {
    "sentiment": "RoFormerForSequenceClassification",
    "ner": "RoFormerForTokenClassification",
    "mlm": "RoFormerForMaskedLM",
}


def _fresh(out: Path, *sources: Path) -> bool:
    return out.is_file() and all(out.stat().st_mtime >= s.stat().st_mtime for s in sources)


def export_demo(model_dir: Path, task: str, out: Path) -> Path:
    """One demo model of roformer_np/demo (float16 safetensors, run in float32) -> ``out``:
    (input_ids, attention_mask, token_type_ids) -> (logits [batch, labels] or [batch, seq, labels],
    last_hidden_state [batch, seq, hidden])."""
    import torch
    import transformers

    if _fresh(out, model_dir / "model.safetensors"):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    model = getattr(transformers, DEMO_CLASSES[task]).from_pretrained(model_dir).float().eval()

    class Both(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            o = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                           output_hidden_states=True, return_dict=True)
            return o.logits, o.hidden_states[-1]

    ids = torch.ones((1, 8), dtype=torch.long)
    axes = {n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids", "hidden")}
    axes["logits"] = {0: "batch"} if task == "sentiment" else {0: "batch", 1: "seq"}
    _export(Both(model), (ids, ids, 0 * ids), out, list(axes)[:3], ["logits", "hidden"], axes)
    return out


def quantize_int8(src: Path, out: Path) -> Path:
    """ONNX Runtime's own int8 mode of an exported graph: ``quantize_dynamic`` with symmetric per-channel int8
    weights (its default op types: MatMul and the embedding Gather among them), dynamic uint8 activations."""
    if _fresh(out, src):
        return out
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # its "consider pre-processing" notice
    quantize_dynamic(src, out, per_channel=True, weight_type=QuantType.QInt8)
    return out


if __name__ == "__main__":
    import common

    print(export_all(common.checkpoint(), common.bench_dir() / "onnx"))
