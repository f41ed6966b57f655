"""RoFormer-Sim: the sentence-similarity pipeline, pooler features, similar-sentence generation, the CLI command.

The checkpoint is the golden JunnyU Sim causal LM (tests/test_junnyu_golden.py holds its pooler and logits to
the reference) with a 64-token char vocabulary written beside it. The similarity vector is checked against its
definition (pooler output of ``[CLS] text [SEP]`` alone, bidirectional, L2-normalised); cached UniLM decoding
against a full recompute with bert4keras' segment mask.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import GOLDEN

from roformer_np import RoFormerForCausalLM, RoFormerForMaskedLM, RoFormerModel, pipeline
from roformer_np.cli import main
from roformer_np.pipelines import similar_sentences

CHARS = ("今天气很好我想去公园玩明也不错的是人们在家里吃饭看书写字学校老师同朋友"
         "工作时间地方东西山水花草树木猫狗春夏秋冬风雨雪云")
TEXTS = ["今天天气很好", "今天天气不错", "我想去公园玩", "老师在学校看书", "猫"]


def checkpoint_with_vocab(case: str, path: Path) -> Path:
    """A copy of golden case ``case``'s checkpoint with a 64-token char vocabulary (BertTokenizer) beside it."""
    source = GOLDEN / "cases" / case
    for file in source.iterdir():
        if file.name in ("config.json", "model.safetensors", "pytorch_model.bin"):
            shutil.copy(file, path / file.name)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *CHARS]
    assert len(vocab) == json.loads((path / "config.json").read_text())["vocab_size"] == len(set(vocab))
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    return checkpoint_with_vocab("junnyu_sim_causal_lm", tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="module")
def lm(sim_dir):
    return RoFormerForCausalLM.from_pretrained(sim_dir)


def _vector(model: RoFormerModel, tokenizer, text: str) -> np.ndarray:
    """The definition: [CLS] text [SEP] alone, token types 0, the pooler's output, unit length."""
    ids = tokenizer(text)["input_ids"]
    z = model([ids], token_type_ids=np.zeros((1, len(ids)), np.int64), use_cache=False).pooler_output[0]
    return z / np.linalg.norm(z.astype(np.float64))


def test_similarity_scores_are_cosines_of_pooler_vectors(sim_dir, lm) -> None:
    pipe = pipeline("sentence-similarity", model=sim_dir, batch_size=3)
    scores = pipe({"source_sentence": TEXTS[0], "sentences": TEXTS[1:]})
    source = _vector(lm.roformer, pipe.tokenizer, TEXTS[0])
    expected = [float(_vector(lm.roformer, pipe.tokenizer, t) @ source) for t in TEXTS[1:]]
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    # padding does not change a vector (beyond float32 round-off of another batch shape)
    np.testing.assert_allclose(pipe(TEXTS[0], sentences=TEXTS[1:], batch_size=1), scores, rtol=1e-6, atol=1e-6)
    assert pipe([{"source_sentence": t, "sentences": [t]} for t in TEXTS[:2]]) == [
        [pytest.approx(1.0, abs=1e-6)], [pytest.approx(1.0, abs=1e-6)]]


def test_the_vector_comes_from_a_bidirectional_pass(sim_dir, lm) -> None:
    """Hugging Face's causal decoder mask (is_decoder: true) would give [CLS] only itself: another vector."""
    tok = pipeline("sentence-similarity", model=sim_dir).tokenizer
    ids = tok(TEXTS[0])["input_ids"]
    t = len(ids)
    causal = np.tril(np.ones((1, t, t)))
    z_causal = lm.roformer([ids], attention_mask=causal, use_cache=False).pooler_output[0]
    z = lm.roformer([ids], use_cache=False).pooler_output[0]
    assert not np.allclose(z, z_causal, atol=1e-3)
    other = tok(TEXTS[0][:-1] + "猫")["input_ids"]
    assert not np.allclose(lm.roformer([other], use_cache=False).pooler_output[0], z, atol=1e-3)


def test_feature_extraction_pooler(sim_dir, lm) -> None:
    pipe = pipeline("feature-extraction", model=sim_dir, pooling="pooler", normalize=True, return_tensors=True)
    np.testing.assert_allclose(pipe(TEXTS[2]), _vector(lm.roformer, pipe.tokenizer, TEXTS[2]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="pooler"):
        pipeline("feature-extraction", pooling="pooler")  # the demo encoder has no pooler


def test_bad_similarity_inputs_are_named(sim_dir) -> None:
    pipe = pipeline("sentence-similarity", model=sim_dir)
    with pytest.raises(ValueError, match="sentences="):
        pipe(TEXTS[0])
    with pytest.raises(ValueError, match="source_sentence"):
        pipe({"source": TEXTS[0], "sentences": TEXTS})
    with pytest.raises(ValueError, match="list of str"):
        pipe({"source_sentence": TEXTS[0], "sentences": TEXTS[1]})
    with pytest.raises(ValueError, match="pooling"):
        pipeline("sentence-similarity", model=sim_dir, pooling=None)


def test_cached_unilm_decoding_equals_a_full_recompute_with_the_segment_mask(lm) -> None:
    """bert4keras' UniLM: query q sees key k iff cumsum(segments)[k] <= cumsum(segments)[q]; no cache."""
    prompt = np.array([[2, 10, 11, 12, 13, 3], [2, 20, 21, 22, 23, 3]])
    seq = lm.generate(prompt, max_new_tokens=6, eos_token_id=None)
    segments = np.concatenate([np.zeros_like(prompt), np.ones((2, seq.shape[1] - prompt.shape[1]), np.int64)], 1)
    idx = np.cumsum(segments, axis=1)
    mask = (idx[:, None, :] <= idx[:, :, None]).astype(np.float32)  # [B, q, k]
    logits = lm(seq, attention_mask=mask, token_type_ids=segments, use_cache=False).logits
    np.testing.assert_array_equal(logits[:, prompt.shape[1] - 1:-1].argmax(-1), seq[:, prompt.shape[1]:])


def test_similar_sentences(sim_dir, lm) -> None:
    tok = pipeline("sentence-similarity", model=sim_dir).tokenizer
    out = similar_sentences(lm, tok, TEXTS[0], n=16, k=5, max_new_tokens=8, seed=7)
    assert out == similar_sentences(lm, tok, TEXTS[0], n=16, k=5, max_new_tokens=8, seed=7)  # seeded
    sentences = [o["sentence"] for o in out]
    assert 0 < len(out) <= 5 and len(set(sentences)) == len(sentences) and TEXTS[0] not in sentences
    scores = [o["score"] for o in out]
    assert scores == sorted(scores, reverse=True)
    again = pipeline("sentence-similarity", model=sim_dir)(TEXTS[0], sentences=sentences)
    np.testing.assert_allclose(scores, again, rtol=1e-6)
    with pytest.raises(ValueError, match="pooler"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            similar_sentences(RoFormerForCausalLM.from_pretrained(GOLDEN / "cases" / "decoder"), tok, "x")


def test_cli_similarity(sim_dir, capsys) -> None:
    assert main(["similarity", "-q", "--model", str(sim_dir), "--source", TEXTS[0], "--json", *TEXTS[1:3]]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = pipeline("sentence-similarity", model=sim_dir)(TEXTS[0], sentences=TEXTS[1:3])
    assert [r["sentences"][0] for r in lines] == TEXTS[1:3]
    np.testing.assert_allclose([r["result"][0] for r in lines], expected, rtol=1e-6)
    assert main(["similarity", "-q", "--model", str(sim_dir), "--source", TEXTS[0], TEXTS[1]]) == 0
    assert f"{expected[0]:.4f}  {TEXTS[1]}" in capsys.readouterr().out
    assert main(["similarity", "-q", "--model", str(sim_dir), TEXTS[1]]) == 2
    assert "--source" in capsys.readouterr().err


def test_tuple_outputs_in_junnyu_order(sim_dir, lm) -> None:
    """(logits, pooler_output, past) for the causal LM and (last_hidden_state, pooler_output, past) for the base
    model, as JunnyU's classes return them; a head JunnyU builds without a pooler leaves it out."""
    ids = [[2, 10, 11, 3]]
    out = lm(ids)
    logits, pooled, past = lm(ids, return_dict=False)
    np.testing.assert_array_equal(logits, out.logits)
    np.testing.assert_array_equal(pooled, out.pooler_output)
    assert past.get_seq_length() == 4
    hidden, pooled_base, _ = lm.roformer(ids, return_dict=False)
    np.testing.assert_array_equal(pooled_base, pooled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlm = RoFormerForMaskedLM.from_pretrained(sim_dir)
    assert not any(isinstance(x, np.ndarray) and x.shape == pooled.shape for x in mlm(ids, return_dict=False))
