"""rerank-bundle: serve cross-encoder rerankers, classifiers and embedders fast.

    from rerank_bundle import Reranker
    ranker = Reranker.load("all-minilm-l6-v2")
    ranker.rerank("What is Deep Learning?", ["Deep learning is ...", "I like pizza"])
"""
from .errors import RerankBundleError
from .types import LabelScore, ModelKind, RankedDocument

__version__ = "0.1.0"
__all__ = ["LabelScore", "ModelKind", "RankedDocument", "RerankBundleError", "Reranker", "__version__"]


def __getattr__(name: str):  # torch & co. load only when the runtime is actually used
    if name == "Reranker":
        from .service import Reranker

        return Reranker
    raise AttributeError(name)
