"""Cosine-similarity nearest-neighbour search over word vectors, backed by FAISS.

The DANN tagger asks, for every test word, which support word is most similar. A 5-shot support
set is a few hundred words, but synthetic sets reach hundreds of thousands, so the search is a
FAISS index: exact inner product (`flat`, the default), or approximate `ivf` (inverted lists,
k-means cells) and `hnsw` (graph) for very large supports. Vectors are L2-normalised on the way
in, so every score is a cosine similarity in [-1, 1].

FAISS runs on the GPU when one is visible and `use_gpu` is set (the `faiss-gpu` build); HNSW has
no FAISS GPU implementation and always stays on the CPU.
"""

from __future__ import annotations

import functools
import logging
import math
from types import ModuleType
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

INDEX_KINDS = ("flat", "ivf", "hnsw")
# FAISS warns below ~39 training points per k-means cell; IVF never uses more cells than that.
MIN_POINTS_PER_CELL = 39


def import_faiss() -> ModuleType:
    """FAISS, imported on first use so that the rest of the package works without it."""
    try:
        import faiss
    except ImportError as error:
        raise RuntimeError(
            "the DANN tagger needs FAISS: run `.venv/bin/pip install faiss-cpu` "
            "(or `faiss-gpu-cu12` on a CUDA machine)"
        ) from error
    return faiss


@functools.cache
def gpu_resources() -> Any:
    """One FAISS GPU resource pool per process: each pool reserves scratch memory, and the
    tagger builds one index per label."""
    return import_faiss().StandardGpuResources()


def as_normalised_float32(vectors: np.ndarray | torch.Tensor, copy: bool = True) -> np.ndarray:
    """A C-contiguous float32 matrix with unit-length rows (zero rows stay zero).

    `copy=False` normalises a float32 C-contiguous array in place instead of copying it, which
    saves one copy of a large support set."""
    if isinstance(vectors, torch.Tensor):
        vectors = vectors.detach().to("cpu", torch.float32).numpy()
    if vectors.ndim != 2:
        raise ValueError(f"expected a [n, dim] matrix of vectors, got shape {vectors.shape}")
    if copy:
        matrix = np.array(vectors, dtype=np.float32, order="C", copy=True)
    else:
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    import_faiss().normalize_L2(matrix)
    return matrix


def ivf_cells(n_vectors: int, wanted: int | None) -> int:
    """k-means cells for an IVF index: `wanted`, else ~4·sqrt(n), capped so that every cell
    gets enough training points."""
    cells = wanted if wanted is not None else int(4 * math.sqrt(n_vectors))
    return max(1, min(cells, n_vectors // MIN_POINTS_PER_CELL))


class NearestNeighbourIndex:
    """Top-k cosine-similarity search over a fixed set of vectors.

    kind: `flat` exact; `ivf` searches `nprobe` of `nlist` k-means cells (default nlist
    ~4·sqrt(n)); `hnsw` walks a graph with `hnsw_m` links per node, `ef_search` candidates.
    `copy=False` lets the index normalise `vectors` in place (FAISS keeps its own copy anyway).
    """

    def __init__(
        self,
        vectors: np.ndarray | torch.Tensor,
        kind: str = "flat",
        use_gpu: bool = True,
        nlist: int | None = None,
        nprobe: int = 16,
        hnsw_m: int = 32,
        ef_construction: int = 64,
        ef_search: int = 128,
        seed: int = 1,
        copy: bool = True,
    ) -> None:
        if kind not in INDEX_KINDS:
            raise ValueError(f"unknown index kind {kind!r}; expected one of {INDEX_KINDS}")
        faiss = import_faiss()
        data = as_normalised_float32(vectors, copy=copy)
        if data.shape[0] == 0:
            raise ValueError("cannot build a nearest-neighbour index over zero vectors")
        self.kind = kind
        self.dim = int(data.shape[1])
        self.nlist = ivf_cells(len(data), nlist) if kind == "ivf" else 0
        self.on_gpu = use_gpu and kind != "hnsw" and faiss.get_num_gpus() > 0
        if use_gpu and kind == "hnsw" and faiss.get_num_gpus() > 0:
            log.info("FAISS has no GPU HNSW index; the hnsw index runs on the CPU")
        if kind == "flat":
            index = faiss.IndexFlatIP(self.dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            index.hnsw.efSearch = ef_search
        else:
            # the IVF index does not own its quantizer: keep a Python reference alive
            self._quantizer = faiss.IndexFlatIP(self.dim)
            index = faiss.IndexIVFFlat(
                self._quantizer, self.dim, self.nlist, faiss.METRIC_INNER_PRODUCT
            )
            index.nprobe = min(nprobe, self.nlist)  # set before a GPU clone, which copies it
            index.cp.seed = seed
        if self.on_gpu:
            index = faiss.index_cpu_to_gpu(gpu_resources(), 0, index)
        if not index.is_trained:
            index.train(data)
        index.add(data)
        self.index = index

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(
        self, queries: np.ndarray | torch.Tensor, k: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cosine similarities and row ids of the `k` nearest vectors, best first:
        ([n, k] float32, [n, k] int64). Where fewer than `k` are found, ids are -1 and
        scores -inf."""
        query_matrix = as_normalised_float32(queries)
        if query_matrix.shape[1] != self.dim:
            raise ValueError(
                f"queries have dimension {query_matrix.shape[1]}, the index {self.dim}"
            )
        if len(query_matrix) == 0:
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
        scores, ids = self.index.search(query_matrix, k)
        scores[ids < 0] = -np.inf
        return scores, ids
