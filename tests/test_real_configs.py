"""Every published config in tests/data/real loads and runs on its graph, at its real size (random weights, 2 layers).

* Hub ``config.json`` files: ``norm_type: rms_norm`` (RoFormer-V2) runs the RMS-norm, bias-free graph; a
  ``pooler_activation: linear`` decoder (RoFormer-Sim, whose checkpoints carry ``roformer.pooler.*``) gets the
  pooler and runs as UniLM; the others are v1. Each runs through the class of its ``architectures``.
* ZhuiyiTechnology's ``bert_config.json`` files have the sizes only (bert4keras picks the model in code, e.g.
  ``model="roformer_v2"``), so a V2 one is given ``norm_type="rms_norm", use_bias=False`` as its user would.

The native backend (when built) must agree with the NumPy reference at float32 round-off on the real sizes; the
graph itself is checked by properties that only the right one has.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REAL

import roformer_np
from roformer_np import RoFormerConfig, RoFormerModel
from roformer_np.config import junnyu_field
from roformer_np.weights import add_prefix, base_model_shapes, head_shapes, sinusoidal_key, tied_aliases

CONFIGS = sorted(REAL.rglob("config.json")) + sorted(REAL.rglob("bert_config.json"))
V2_DIRS = ("roformer_v2", "roformer-v2")


def _config(path) -> RoFormerConfig:
    extra = {}
    if path.name == "bert_config.json" and any(d in path.parent.name for d in V2_DIRS):
        extra = dict(norm_type="rms_norm", use_bias=False)
    return RoFormerConfig.from_json_file(path).copy(num_hidden_layers=2, **extra)


def _is_sim(cfg: RoFormerConfig) -> bool:
    return cfg.is_decoder and junnyu_field(cfg, "pooler_activation") == "linear"


def _model(cfg: RoFormerConfig, backend: str):
    """The class of ``architectures`` (else RoFormerModel) with seeded random weights at the config's size."""
    name = (cfg.architectures or ["RoFormerModel"])[0]
    cls = getattr(roformer_np, name)
    rng = np.random.default_rng(0)
    shapes = base_model_shapes(cfg, pooler=_is_sim(cfg))
    kind = getattr(cls, "head_kind", None)
    if kind:
        aliases = tied_aliases(kind, cfg)
        shapes = {**add_prefix(shapes), **{k: s for k, s in head_shapes(kind, cfg).items() if k not in aliases}}
    weights = {k: (rng.standard_normal(s, dtype=np.float32) * 0.05 + (1.0 if "LayerNorm.weight" in k else 0.0))
               .astype(np.float32) for k, s in shapes.items() if not k.endswith(sinusoidal_key())}
    return cls(cfg, weights, backend=backend)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.parent.name for p in CONFIGS])
def test_real_config_runs_on_its_graph(path) -> None:
    cfg = _config(path)
    backends = ["numpy"] + (["native"] if roformer_np.native_available() else [])
    ids = np.random.default_rng(1).integers(106, cfg.vocab_size, (2, 9))
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    outputs = {}
    for backend in backends:
        model = _model(cfg, backend)
        base = model if isinstance(model, RoFormerModel) else model.roformer
        out = base(ids, output_hidden_states=True)
        outputs[backend] = out
        emb = out.hidden_states[0]
        if junnyu_field(cfg, "norm_type") == "rms_norm":  # V2: RMS-normalised rows, no biases, no norm weights
            assert not any("LayerNorm" in k or k.endswith(".bias") for k in base.weights)
            np.testing.assert_allclose(np.mean(emb.astype(np.float64) ** 2, axis=-1), 1.0, rtol=1e-4)
        else:
            assert any("LayerNorm" in k for k in base.weights)
        assert (out.pooler_output is not None) == _is_sim(cfg) == base.unilm
        if _is_sim(cfg):
            assert out.pooler_output.shape == (2, cfg.hidden_size)
        # the first pass is bidirectional on every real config (v1/V2 encoders, Sim's UniLM prompt): [CLS]
        # sees a later token
        changed = ids.copy()
        changed[:, -2] = 106
        assert not np.allclose(base(changed).last_hidden_state[:, 0], out.last_hidden_state[:, 0])
        if not isinstance(model, RoFormerModel):
            assert model(ids).logits.shape[:2] == (2, 9)
    if "native" in outputs:
        for a, b in zip(outputs["native"].hidden_states, outputs["numpy"].hidden_states):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
