"""Golden outputs of Hugging Face's own ``transformers.pipeline(...)`` for every task roformer_np implements.

Development only. Run through ``golden/generate.py pipelines``. One tiny seeded model family shares a single
checkpoint, so the group stays small although the vocabulary is the demo model's 11.6k words
(``roformer_np/demo/vocab.txt``, copied into the case directory):

* ``cases/pipelines/model.safetensors`` (float16): one RoFormer encoder (embedding 16, hidden 32, 2 layers)
  with every head on it — ``cls.predictions`` (masked and causal LM, tied), ``classifier.dense`` /
  ``classifier.out_proj`` (3 sentence labels), ``classifier`` (7 BIO tags), ``qa_outputs``;
* ``config.json``: the masked-LM configuration, so the directory itself is a fill-mask checkpoint;
* ``configs/<name>.json``: the configuration of each other model (load the directory with it:
  ``RoFormerForX.from_pretrained(dir, config=RoFormerConfig.from_json_file(...))``; the other heads' tensors
  are then unused);
* ``cases.json``: a list of calls: ``task``, ``model`` (``"."`` or a ``configs`` name), ``tokenizer_kwargs``
  (for ``from_pretrained`` of the tokenizer), ``pipeline_kwargs`` (given to ``pipeline(...)``),
  ``call`` (``args`` and ``kwargs`` of the pipeline call), and ``expected`` (the output, NumPy/torch numbers
  made plain) or ``error`` (the exception Hugging Face raised).

Every pipeline gets the tokenizer ``transformers.pipeline`` loads by default, the fast
``RoFormerTokenizerFast`` (it alone gives the offsets of token-classification and question-answering, and its
decoder spells fill-mask sequences and generated text: ``不错, 设施`` where the slow one's ``decode`` gives
``不错 , 设施``). Every text of every call is checked to tokenize identically with the slow
``RoFormerTokenizer``, which roformer_np's tokenizer follows (the texts are real ones from
``golden/corpus/tokenizer_corpus.jsonl``, plus a few written here).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from common import CASES_DIR, GOLDEN_DIR, redraw_weights
from safetensors.torch import save_file
from transformers import RoFormerConfig, RoFormerTokenizer, RoFormerTokenizerFast

NAME = "pipelines"
VOCAB = GOLDEN_DIR.parent / "roformer_np" / "demo" / "vocab.txt"
CORPUS = GOLDEN_DIR / "corpus" / "tokenizer_corpus.jsonl"
SEED = 2024
BASE = dict(embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
            max_position_embeddings=256, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
SENTENCE_LABELS = {0: "负面", 1: "正面", 2: "中性"}
BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
# Scores: float32 round-off of two different forward implementations, through softmax and products.
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}

# Corpus lines (by index), chosen for variety: news, reviews with digits and Latin words (## pieces, [UNK]).
NEWS = [0, 1, 2, 3]
REVIEWS = [162, 185, 197, 206, 221, 228, 252, 275, 289, 303]
MIXED = [744, 758]
MASKED = [713, 715, 717, 719, 721, 722, 725, 729]
NO_MASK = [714, 726]
QUESTIONS = ["值班经理是谁？", "标准间多少钱一晚？", "什么时候降价？", "酒店离购物中心远吗？", "谁举行了选举？"]


def _corpus() -> list[str]:
    return [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def _plain(x: Any) -> Any:
    """Hugging Face's outputs with NumPy / torch numbers as Python numbers (JSON-ready)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, torch.Tensor):
        return _plain(x.tolist())
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    return x


def _build_models(case_dir: Path) -> dict[str, transformers.PreTrainedModel]:
    """The shared encoder with each head; writes the shared checkpoint and the configurations."""
    vocab_size = len(VOCAB.read_text(encoding="utf-8").splitlines())
    base = dict(BASE, vocab_size=vocab_size)
    configs = {
        "mlm": RoFormerConfig(**base),
        "causal_lm": RoFormerConfig(**base, is_decoder=True),
        "seq_cls": RoFormerConfig(**base, id2label=SENTENCE_LABELS),
        "seq_cls_multi_label": RoFormerConfig(**base, id2label=SENTENCE_LABELS,
                                              problem_type="multi_label_classification"),
        "seq_cls_regression": RoFormerConfig(**base, id2label=SENTENCE_LABELS, problem_type="regression"),
        "token_cls": RoFormerConfig(**base, id2label=dict(enumerate(BIO))),
        "qa": RoFormerConfig(**base),
    }
    classes = {"mlm": "RoFormerForMaskedLM", "causal_lm": "RoFormerForCausalLM",
               "seq_cls": "RoFormerForSequenceClassification",
               "seq_cls_multi_label": "RoFormerForSequenceClassification",
               "seq_cls_regression": "RoFormerForSequenceClassification",
               "token_cls": "RoFormerForTokenClassification", "qa": "RoFormerForQuestionAnswering"}
    torch.manual_seed(SEED)
    mlm = transformers.RoFormerForMaskedLM(configs["mlm"]).eval()
    redraw_weights(mlm, SEED)
    state: dict[str, torch.Tensor] = {}
    models = {}
    for index, (name, cfg) in enumerate(configs.items()):
        model = mlm if name == "mlm" else getattr(transformers, classes[name])(cfg).eval()
        if name != "mlm":
            own = model.state_dict()
            shared = {k: v for k, v in mlm.state_dict().items() if k in own}
            model.load_state_dict(shared, strict=False)
            heads = [m for n, m in model.named_children() if n != "roformer" and n not in ("cls",)]
            for head in heads:  # the task's own head, seeded per model
                redraw_weights(head, SEED + index)
            if name.startswith("seq_cls") and name != "seq_cls":  # variants share seq_cls's classifier
                model.load_state_dict({k: v for k, v in models["seq_cls"].state_dict().items()}, strict=False)
        models[name] = model
        for key, value in model.state_dict().items():
            if key.endswith("embed_positions.weight") or key.startswith("cls.predictions.decoder."):
                continue  # recomputed / tied to the word embeddings on load
            if key in state:
                assert torch.equal(state[key], value.half()), f"{name}: {key} differs between heads"
            state[key] = value.detach().half().contiguous()
    # the fp16-rounded weights are the model: put them back so every pipeline runs exactly what is stored
    for model in models.values():
        own = model.state_dict()
        model.load_state_dict({k: v.float() for k, v in state.items() if k in own}, strict=False)
        if hasattr(model, "tie_weights"):
            model.tie_weights()
    if case_dir.exists():
        shutil.rmtree(case_dir)
    (case_dir / "configs").mkdir(parents=True)
    save_file(state, str(case_dir / "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(VOCAB, case_dir / "vocab.txt")
    for name, cfg in configs.items():
        cfg.architectures = [classes[name]]
        cfg.torch_dtype = "float32"
        target = case_dir / "config.json" if name == "mlm" else case_dir / "configs" / f"{name}.json"
        cfg.to_json_file(str(target))
    return models


def _strings(x: Any) -> list[str]:
    """Every string inside a pipeline call's arguments (texts, pairs, QA dicts)."""
    if isinstance(x, str):
        return [x]
    if isinstance(x, dict):
        return [s for v in x.values() for s in _strings(v)]
    if isinstance(x, (list, tuple)):
        return [s for v in x for s in _strings(v)]
    return []


def _check_same_tokens(slow: RoFormerTokenizer, fast: RoFormerTokenizerFast, texts: list[str]) -> None:
    for text in texts:
        assert slow.tokenize(text) == fast.tokenize(text), f"slow and fast tokenizers differ on {text!r}"


def _cases(texts: list[str]) -> list[dict]:
    """(task, model, tokenizer_kwargs, pipeline_kwargs, args, kwargs, description)."""
    masked = [texts[i] for i in MASKED]
    reviews = [texts[i] for i in REVIEWS]
    news = [texts[i] for i in NEWS]
    ner = [texts[i] for i in NEWS[:2] + REVIEWS[:6] + MIXED]
    seed = "水在零度时会[MASK]"
    contexts = [texts[i] for i in (162, 185, 206, 0)]
    qa_pairs = [{"question": q, "context": c} for q, c in zip(QUESTIONS, contexts + [texts[0]])]
    cases = [
        # fill-mask
        ("fill-mask", ".", {}, {}, [seed], {}, "the seed example, default top_k=5"),
        ("fill-mask", ".", {}, {}, [masked[1]], {"top_k": 3}, "one mask, top_k=3 at the call"),
        ("fill-mask", ".", {}, {"top_k": 2}, [masked[0]], {}, "three masks: one list per mask"),
        ("fill-mask", ".", {}, {}, [masked], {"top_k": 2, "batch_size": 3},
         "a list of texts (one, several masks, [SEP]/[PAD] inside), batched by 3"),
        ("fill-mask", ".", {}, {}, [[masked[4]]], {}, "a list of one text is unwrapped"),
        ("fill-mask", ".", {}, {}, [seed], {"targets": ["冰", "的", "是", "结冰"], "top_k": 10},
         "targets (one outside the vocabulary: its first token), top_k capped by the targets"),
        ("fill-mask", ".", {}, {}, [masked[2]], {"top_k": 1, "targets": "的"}, "a single target string"),
        ("fill-mask", ".", {}, {}, ["房间不错,设施也过得[MASK].服务态度好吗?真的!"], {"top_k": 3},
         "ASCII punctuation: the fast decoder glues , . ? ! to the token before"),
        ("fill-mask", ".", {}, {}, [texts[NO_MASK[0]]], {}, "no mask token: an error"),
        # text-classification
        ("text-classification", "seq_cls", {}, {}, [reviews[0]], {}, "one text, legacy: [best]"),
        ("text-classification", "seq_cls", {}, {}, [reviews[1]], {"top_k": 2}, "top_k=2 at the call: a list"),
        ("text-classification", "seq_cls", {}, {}, [reviews[2]], {"top_k": None}, "top_k=None: every label"),
        ("text-classification", "seq_cls", {}, {"top_k": 2}, [reviews[3]], {},
         "top_k at construction: the single text's list is wrapped in a list"),
        ("text-classification", "seq_cls", {}, {}, [reviews], {"batch_size": 4}, "a list, batched by 4"),
        ("text-classification", "seq_cls", {}, {}, [reviews[:4]], {"top_k": None, "batch_size": 2},
         "a list with every label"),
        ("text-classification", "seq_cls", {}, {}, [reviews[4]], {"function_to_apply": "sigmoid", "top_k": None},
         "function_to_apply=sigmoid"),
        ("text-classification", "seq_cls", {}, {}, [reviews[5]], {"function_to_apply": "none", "top_k": None},
         "function_to_apply=none: the logits"),
        ("text-classification", "seq_cls", {}, {}, [{"text": news[1], "text_pair": news[2]}], {},
         "a text pair as a dict: a dict back"),
        ("text-classification", "seq_cls_multi_label", {}, {}, [reviews[:3]], {"top_k": None},
         "problem_type multi_label_classification: sigmoid by default"),
        ("text-classification", "seq_cls_regression", {}, {}, [reviews[3]], {"top_k": None},
         "problem_type regression: no function by default"),
        # token-classification
        *[("token-classification", "token_cls", {}, {}, [ner], {"aggregation_strategy": s, "batch_size": 3},
           f"aggregation_strategy={s} on news, reviews and mixed text (## pieces, [UNK])")
          for s in ("none", "simple", "first", "average", "max")],
        ("token-classification", "token_cls", {}, {}, [ner[2]], {}, "one text, default options"),
        ("token-classification", "token_cls", {}, {}, [ner[3]], {"ignore_labels": [], "aggregation_strategy":
                                                                  "simple"}, "ignore_labels=[]: O kept"),
        ("token-classification", "token_cls", {"model_max_length": 24}, {"aggregation_strategy": "first"},
         [[ner[0], ner[4]]], {"stride": 8}, "windows of 24 tokens with stride 8, overlapping entities merged"),
        ("token-classification", "token_cls", {"model_max_length": 20}, {}, [ner[0]], {"stride": 4},
         "stride without a strategy: allowed (Hugging Face only refuses an explicit none)"),
        ("token-classification", "token_cls", {}, {}, [ner[0]], {"stride": 4, "aggregation_strategy": "none"},
         "stride with aggregation_strategy=none: an error"),
        # question-answering
        ("question-answering", "qa", {}, {}, [], dict(qa_pairs[0]), "question=, context= strings"),
        ("question-answering", "qa", {}, {}, [qa_pairs[1]], {"top_k": 3}, "a dict, top_k=3"),
        ("question-answering", "qa", {}, {}, [qa_pairs], {"batch_size": 3}, "a list of dicts, batched"),
        ("question-answering", "qa", {}, {}, [qa_pairs[4]], {"max_seq_len": 40, "doc_stride": 12, "top_k": 2},
         "a long context in windows of 40 tokens, stride 12"),
        ("question-answering", "qa", {}, {}, [qa_pairs[3]], {"max_seq_len": 32, "doc_stride": 16,
                                                              "handle_impossible_answer": True, "top_k": 4},
         "windows and handle_impossible_answer"),
        ("question-answering", "qa", {}, {}, [qa_pairs[2]], {"max_answer_len": 3, "top_k": 5},
         "max_answer_len=3"),
        ("question-answering", "qa", {}, {}, [qa_pairs[0]], {"align_to_words": False, "top_k": 3},
         "align_to_words=False: raw token offsets"),
        ("question-answering", "qa", {}, {}, [], {"question": QUESTIONS[:3], "context": contexts[0]},
         "a list of questions on one context"),
        ("question-answering", "qa", {}, {}, [], {"question": "", "context": contexts[0]},
         "an empty question: an error"),
        # feature-extraction (the bare encoder of the masked-LM checkpoint)
        ("feature-extraction", ".", {}, {}, [news[1]], {}, "one text: [1, tokens, hidden]"),
        ("feature-extraction", ".", {}, {}, [[news[2], reviews[4]]], {}, "a list of two texts"),
        # text-generation (greedy and beam search)
        ("text-generation", "causal_lm", {}, {}, [news[1]], {"do_sample": False, "max_new_tokens": 6},
         "greedy, full text"),
        ("text-generation", "causal_lm", {}, {}, [[news[2], reviews[4][:12]]],
         {"do_sample": False, "max_new_tokens": 5, "return_full_text": False}, "greedy, new text only, a list"),
        ("text-generation", "causal_lm", {}, {}, [news[1]], {"do_sample": False, "max_new_tokens": 4,
                                                              "num_beams": 3, "num_return_sequences": 2},
         "beam search, two sequences"),
        ("text-generation", "causal_lm", {}, {}, [news[1]], {"do_sample": False, "max_new_tokens": 3,
                                                              "return_tensors": True}, "token ids"),
    ]
    return [dict(zip(("task", "model", "tokenizer_kwargs", "pipeline_kwargs", "args", "kwargs", "description"), c))
            for c in cases]


def _pooled(hidden: list, pooling: str, normalize: bool) -> list[float]:
    """The roformer_np extension's expected values, computed from Hugging Face's hidden states."""
    h = np.asarray(hidden, dtype=np.float64)[0]  # [T, C]
    v = h[0] if pooling == "cls" else h.mean(axis=0)
    if normalize:
        v = v / np.linalg.norm(v)
    return v.tolist()


def generate() -> list[dict]:
    warnings.simplefilter("ignore")
    transformers.logging.set_verbosity_error()
    case_dir = CASES_DIR / NAME
    models = _build_models(case_dir)
    texts = _corpus()
    cases = _cases(texts)
    results = []
    for index, case in enumerate(cases):
        slow = RoFormerTokenizer.from_pretrained(case_dir, **case["tokenizer_kwargs"])
        tokenizer = RoFormerTokenizerFast.from_pretrained(case_dir, **case["tokenizer_kwargs"])
        _check_same_tokens(slow, tokenizer, _strings(case["args"]))
        model = models["mlm" if case["model"] == "." else case["model"]]
        if case["task"] == "feature-extraction":
            model = model.roformer
        pipe = transformers.pipeline(case["task"], model=model, tokenizer=tokenizer, framework="pt",
                                     **case["pipeline_kwargs"])
        entry = {"name": f"{index:02d}_{case['task']}", **case}
        try:
            with torch.no_grad():
                entry["expected"] = _plain(pipe(*case["args"], **case["kwargs"]))
        except Exception as exc:  # the error cases: record what Hugging Face raised
            entry["error"] = {"type": type(exc).__name__, "message": str(exc)}
        results.append(entry)
    # roformer_np's feature-extraction extension: pooled (and normalised) vectors of the same hidden states
    for case in [c for c in results if c["task"] == "feature-extraction" and "expected" in c]:
        single = isinstance(case["args"][0], str)
        outputs = [case["expected"]] if single else case["expected"]
        for pooling in ("cls", "mean"):
            for normalize in (False, True):
                vectors = [_pooled(o, pooling, normalize) for o in outputs]
                results.append({**case, "name": f"{case['name']}_{pooling}{'_normalized' if normalize else ''}",
                                "kwargs": {**case["kwargs"], "pooling": pooling, "normalize": normalize},
                                "expected": vectors[0] if single else vectors, "extension": True,
                                "description": f"roformer_np extension: {pooling} pooling"
                                               f"{', normalised' if normalize else ''} of Hugging Face's states"})
    (case_dir / "cases.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return [{
        "name": NAME,
        "kind": "pipelines",
        "checkpoint": f"cases/{NAME}",
        "cases": f"cases/{NAME}/cases.json",
        "configs": sorted(p.stem for p in (case_dir / "configs").glob("*.json")),
        "tolerance": TOLERANCE,
        "description": f"{len(results)} calls of transformers.pipeline on one shared tiny checkpoint "
                       "(demo vocabulary): fill-mask, text-classification, token-classification, "
                       "question-answering, feature-extraction, text-generation; labels, tokens, words, spans "
                       "and answers must match exactly, scores within tolerance",
    }]
