"""Pipelines beyond the golden cases: default demo models, input forms, options, clear errors, helpers."""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest
from fake_models import make_model_dir

from roformer_np import RoFormerConfig, RoFormerModel, RoFormerTokenizer, pipeline
from roformer_np.pipelines import base, factory
from roformer_np.pipelines.question_answering import word_ids
from roformer_np.pipelines.text_classification import default_function
from roformer_np.pipelines.token_classification import tag_of, tokens_to_string


@pytest.fixture
def demo(monkeypatch, demo_root):
    monkeypatch.setattr(factory, "DEMO_ROOT", demo_root)
    return demo_root


# -- default models ------------------------------------------------------------------------------
@pytest.mark.parametrize("task, demo_dir", [("fill-mask", "mlm"), ("text-classification", "sentiment"),
                                            ("sentiment-analysis", "sentiment"), ("token-classification", "ner"),
                                            ("ner", "ner"), ("feature-extraction", "mlm")])
def test_default_model_is_the_demo(demo, task, demo_dir):
    assert factory.demo_model_dir(task) == demo / demo_dir
    pipe = pipeline(task)
    text = "今天天气[MASK]" if task == "fill-mask" else "张三在北京工作"
    assert pipe(text)  # runs, with the vocab.txt shared at the demo root


def test_demo_labels_come_from_the_checkpoint(demo):
    (result,) = pipeline("text-classification")("这本书很好看")
    assert result["label"] in ("negative", "positive") and 0 < result["score"] <= 1


@pytest.mark.parametrize("task", ["question-answering", "text-generation"])
def test_tasks_without_a_demo_ask_for_a_model(demo, task):
    with pytest.raises(ValueError, match="no demo model.*model="):
        pipeline(task)


def test_missing_demo_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(factory, "DEMO_ROOT", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="not installed"):
        pipeline("fill-mask")


def test_demo_root_is_inside_the_package():
    import roformer_np

    assert factory.DEMO_ROOT.parent == type(factory.DEMO_ROOT)(roformer_np.__file__).parent


# -- loading errors ----------------------------------------------------------------------------------
def test_bad_task_model_and_tokenizer(demo, tmp_path):
    with pytest.raises(ValueError, match="unknown task"):
        pipeline("summarization")
    with pytest.raises(FileNotFoundError, match="not found"):
        pipeline("fill-mask", model=tmp_path / "missing")
    bare = make_model_dir(tmp_path / "bare", "mlm", with_vocab=False)
    with pytest.raises(ValueError, match="vocab.txt"):
        pipeline("fill-mask", model=bare)
    tokenizer = RoFormerTokenizer.from_pretrained(demo)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the head weights are unused by the bare encoder
        model = RoFormerModel.from_pretrained(demo / "mlm")
    with pytest.raises(ValueError, match="tokenizer="):
        pipeline("feature-extraction", model=model)
    with pytest.raises(ValueError, match="needs a RoFormerForMaskedLM"):
        pipeline("fill-mask", model=model, tokenizer=tokenizer)
    with pytest.raises(ValueError, match="backend"):
        pipeline("fill-mask", backend="gpu")
    with pytest.raises(ValueError, match="num_threads"):
        pipeline("fill-mask", num_threads=0)


def test_model_objects_and_head_encoders(demo):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from roformer_np import RoFormerForMaskedLM

        mlm = RoFormerForMaskedLM.from_pretrained(demo / "mlm")
    pipe = pipeline("feature-extraction", model=mlm, tokenizer=demo)  # any head's encoder extracts features
    direct = pipeline("feature-extraction", model=demo / "mlm", tokenizer=demo / "vocab.txt")
    assert np.array_equal(pipe("今天天气很好", return_tensors=True), direct("今天天气很好", return_tensors=True))


# -- options -----------------------------------------------------------------------------------------
def test_unknown_and_bad_options(demo):
    fill = pipeline("fill-mask")
    with pytest.raises(TypeError, match="unknown option.*topk"):
        fill("今天[MASK]", topk=3)
    with pytest.raises(TypeError, match="unknown option"):
        pipeline("fill-mask", aggregation_strategy="simple")
    with pytest.raises(ValueError, match="top_k"):
        fill("今天[MASK]", top_k=0)
    with pytest.raises(ValueError, match="batch_size"):
        fill("今天[MASK]", batch_size=0)
    with pytest.raises(ValueError, match="aggregation_strategy"):
        pipeline("ner", aggregation_strategy="longest")
    with pytest.raises(ValueError, match="function_to_apply"):
        pipeline("text-classification")("好", function_to_apply="relu")
    with pytest.raises(ValueError, match="pooling"):
        pipeline("feature-extraction", pooling="max")
    with pytest.raises(ValueError, match="stride"):
        pipeline("ner", aggregation_strategy="none", stride=2)


def test_call_options_override_construction_defaults(demo):
    fill = pipeline("fill-mask", top_k=2)
    assert len(fill("今天[MASK]")) == 2
    assert len(fill("今天[MASK]", top_k=4)) == 4
    assert len(fill("今天[MASK]")) == 2  # the call did not change the default


def test_default_function_rule():
    def cfg(**kw):
        return RoFormerConfig(vocab_size=10, hidden_size=8, num_attention_heads=2, **kw)

    assert default_function(cfg(num_labels=3)) == "softmax"
    assert default_function(cfg(num_labels=1)) == "sigmoid"
    assert default_function(cfg(num_labels=3, problem_type="multi_label_classification")) == "sigmoid"
    assert default_function(cfg(num_labels=1, problem_type="regression")) == "none"
    assert default_function(cfg(num_labels=2, problem_type="single_label_classification")) == "softmax"


# -- inputs ------------------------------------------------------------------------------------------
def test_input_forms(demo):
    clf = pipeline("text-classification", batch_size=2)
    texts = ["这本书很好看", "不好", "今天天气很好", "电影"]
    as_list = clf(texts)
    assert clf(tuple(texts)) == as_list
    lazy = clf(t for t in texts)
    assert isinstance(lazy, types.GeneratorType) and list(lazy) == as_list
    one_by_one = [clf(t)[0] for t in texts]  # other batch shapes: the same up to float32 round-off
    assert [r["label"] for r in one_by_one] == [r["label"] for r in as_list]
    np.testing.assert_allclose([r["score"] for r in one_by_one], [r["score"] for r in as_list], rtol=1e-5)
    with pytest.raises(ValueError, match="must be a str"):
        clf(["好", 3])
    with pytest.raises(ValueError, match="inputs must be"):
        clf(3.5)


def test_fill_mask_errors(demo):
    fill = pipeline("fill-mask")
    with pytest.raises(ValueError, match=r"no mask token \[MASK\]"):
        fill("今天天气很好")
    with pytest.raises(ValueError, match="no mask token"):
        fill(["今天[MASK]", "没有"])
    with pytest.warns(UserWarning, match="not in the vocabulary"):
        result = fill("今天[MASK]", targets=["好", "天气很好"])
    assert {r["token_str"] for r in result} == {"好", "天气"}
    with pytest.raises(ValueError, match="at least one target"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fill("今天[MASK]", targets=[" "])


def test_question_answering_inputs_and_errors(demo, qa_dir):
    qa = pipeline("question-answering", model=qa_dir)
    one = qa(question="谁在北京工作？", context="张三在北京工作。")
    assert set(one) == {"score", "start", "end", "answer"}
    assert one["answer"] == "张三在北京工作。"[one["start"]:one["end"]]
    assert qa("谁在北京工作？", "张三在北京工作。") == one
    assert qa({"question": "谁在北京工作？", "context": "张三在北京工作。"}) == one
    assert qa([{"question": "谁在北京工作？", "context": "张三在北京工作。"}]) == one  # a list of one: unwrapped
    assert len(qa(question=["谁？", "哪里？"], context="张三在北京工作。")) == 2
    with pytest.raises(ValueError, match="cannot be empty"):
        qa(question="", context="张三")
    with pytest.raises(ValueError, match="no 'context'"):
        qa({"question": "谁？"})
    with pytest.raises(ValueError, match="2 questions but 1 contexts"):
        qa(question=["谁？", "哪里？"], context=["张三"])
    with pytest.raises(ValueError, match="both question= and context="):
        qa(question="谁？")
    with pytest.raises(ValueError, match="doc_stride"):
        qa(question="谁？", context="张三", max_seq_len=8, doc_stride=9)


def test_text_generation(lm_dir):
    gen = pipeline("text-generation", model=lm_dir, do_sample=False, max_new_tokens=3)
    (full,) = gen("今天天气")
    (new,) = gen("今天天气", return_full_text=False)
    assert full["generated_text"] == "今天天气" + new["generated_text"]
    (ids,) = gen("今天天气", return_tensors=True)
    prompt = gen.tokenizer("今天天气")["input_ids"]  # [CLS] … [SEP], as Hugging Face's pipeline encodes it
    assert ids["generated_token_ids"][:len(prompt)] == prompt and len(ids["generated_token_ids"]) == len(prompt) + 3
    with pytest.raises(ValueError, match="mutually exclusive"):  # both given, even as False (Hugging Face)
        gen("今天天气", return_full_text=True, return_tensors=False)
    assert gen(["今天天气", "北京", "上海"], batch_size=3) == [gen("今天天气"), gen("北京"), gen("上海")]
    sampled = gen("北京", do_sample=True, seed=3, num_return_sequences=2)
    assert len(sampled) == 2 and sampled == gen("北京", do_sample=True, seed=3, num_return_sequences=2)
    with pytest.raises(ValueError, match="no tokens"):
        gen("", add_special_tokens=False)


def test_feature_extraction_extension(demo):
    fe = pipeline("feature-extraction")
    states = fe("今天天气很好", return_tensors=True)
    assert states.shape[0] == 1 and states.ndim == 3 and states.dtype == np.float32
    nested = fe("今天天气很好")
    assert np.array_equal(np.asarray(nested, dtype=np.float32), states)
    cls = fe("今天天气很好", pooling="cls", return_tensors=True)
    mean = fe("今天天气很好", pooling="mean", return_tensors=True)
    np.testing.assert_array_equal(cls, states[0, 0])
    np.testing.assert_allclose(mean, states[0].mean(axis=0), rtol=1e-6, atol=1e-6)
    unit = fe(["今天天气很好", "北京"], pooling="mean", normalize=True)
    assert [round(float(np.linalg.norm(v)), 5) for v in unit] == [1.0, 1.0]
    per_token = fe("北京", normalize=True, return_tensors=True)
    np.testing.assert_allclose(np.linalg.norm(per_token[0], axis=-1), 1.0, rtol=1e-5)


def test_threads_and_backend_options_run(demo):
    fill = pipeline("fill-mask", backend="numpy", num_threads=1)
    ref, default = fill("今天[MASK]"), pipeline("fill-mask")("今天[MASK]")
    # the default backend may be the compiled one: same tokens, scores to float32 round-off
    assert [r["token"] for r in ref] == [d["token"] for d in default]
    np.testing.assert_allclose([r["score"] for r in ref], [d["score"] for d in default], rtol=1e-5)


# -- helpers -----------------------------------------------------------------------------------------
def test_length_groups():
    assert base.length_groups([3, 1, 2, 1, 3], 2, pad=True) == [[1, 3], [2, 0], [4]]
    assert base.length_groups([3, 1, 2, 1, 3], 5, pad=False) == [[1, 3], [2], [0, 4]]


def test_fast_decoder_spelling_of_entity_words():
    # as transformers' RoFormerTokenizerFast.convert_tokens_to_string (tokenizers' WordPiece decoder, cleanup)
    assert tokens_to_string(["北京", "，", ",", "市", "##ab", ".", "x", "!", "'", "s"]) == "北京 ，, 市ab. x! ' s"
    assert tag_of("B-PER") == ("B", "PER") and tag_of("I-LOC") == ("I", "LOC") and tag_of("MISC") == ("I", "MISC")


def test_word_ids_follow_wordpiece_continuations():
    tokens = ["[CLS]", "谁", "[SEP]", "##x", "ab", "##c", "北京", "[SEP]"]
    seqs = [None, 0, None, 1, 1, 1, 1, None]
    # counted from 0 in each sequence, as the fast tokenizer's word_ids (a ## piece opening a sequence is a word)
    assert word_ids(tokens, seqs) == [None, 0, None, 0, 1, 1, 2, None]
