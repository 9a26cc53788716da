"""Linking entity mentions to knowledge-base concepts, recording how each link was made.

Augmenters need a concept for each mention before they can look up synonyms or neighbours.
Three steps, most trustworthy first: the corpus's own gold IDs (NCBI-Disease and BC5CDR carry
MeSH/OMIM IDs), then an exact match of the normalised name, then an approximate match by
character 3-gram TF-IDF cosine with a threshold. The approximate index covers the names of
headings and ontology terms, not MeSH supplementary records (about two thirds of all names,
mostly proteins and brand names), which keeps it at about 100 MB; it is built once per KB
version and cached beside the KB file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from hilgen.io import atomic_path, atomic_write_bytes
from hilgen.kb.base import Concept
from hilgen.kb.names import normalise_name
from hilgen.kb.semantic_groups import concept_in_scope, is_semantic_type
from hilgen.kb.store import SqliteKnowledgeBase

log = logging.getLogger(__name__)

LinkMethod = Literal["gold", "exact", "approximate"]
_ID_SEPARATORS = re.compile(r"[|+,;]")
_NO_ID = {"", "-", "-1"}


@dataclass(frozen=True)
class Link:
    """A mention linked to a concept; `method` and `score` say how far to trust it."""

    mention: str
    concept: Concept
    method: LinkMethod
    score: float


def split_gold_ids(field: str) -> list[str]:
    """Gold IDs of a PubTator mention: composite ``D001|D002`` or ``D001+D002``, ``-1`` none."""
    return [part.strip() for part in _ID_SEPARATORS.split(field) if part.strip() not in _NO_ID]


class Linker:
    """Gold ID, then exact name, then approximate name; `groups` keeps links within labels."""

    def __init__(
        self,
        kb: SqliteKnowledgeBase,
        threshold: float = 0.8,
        cache_dir: str | Path | None = None,
        max_name_length: int = 80,
    ) -> None:
        self.kb = kb
        self.threshold = threshold
        self.max_name_length = max_name_length
        self.cache_dir = Path(cache_dir) if cache_dir else kb.path.parent
        self._index: _NameIndex | None = None

    def link(
        self, mention: str, gold_ids: Sequence[str] = (), groups: Iterable[str] | None = None
    ) -> list[Link]:
        """Links for one mention: one per resolvable gold ID, else the best name match, else
        nothing. `groups` (e.g. ``{"DISO"}``, or TUIs such as ``{"T204"}``) restricts name
        matches to semantic groups and types."""
        wanted = set(groups) if groups else None
        gold = [
            Link(mention, concept, "gold", 1.0)
            for identifier in gold_ids
            if (concept := self.kb.concept(identifier)) is not None
        ]
        if gold:
            return gold
        exact = [
            concept
            for concept in self.kb.find_by_name(mention)
            if wanted is None or concept_in_scope(concept, wanted)
        ]
        if exact:
            return [Link(mention, exact[0], "exact", 1.0)]
        match = self.index.best(normalise_name(mention), wanted, self.kb)
        if match is None or match[1] < self.threshold:
            return []
        concept = self.kb.concept(match[0])
        return [] if concept is None else [Link(mention, concept, "approximate", match[1])]

    @property
    def index(self) -> _NameIndex:
        if self._index is None:
            self._index = _NameIndex.load_or_build(self.kb, self.cache_dir, self.max_name_length)
        return self._index


class _NameIndex:
    """Character 3-gram TF-IDF vectors of names, stored column-wise so that a query only
    touches the postings of its own n-grams."""

    def __init__(
        self,
        vectorizer: TfidfVectorizer,
        matrix: scipy.sparse.csc_matrix,
        concept_ids: list[str],
        groups: list[str],
    ) -> None:
        self.vectorizer = vectorizer
        self.matrix = matrix
        self.concept_ids = concept_ids
        self.groups = np.array(groups)
        self._masks: dict[frozenset[str], np.ndarray] = {}

    def best(
        self, query: str, groups: set[str] | None, kb: SqliteKnowledgeBase
    ) -> tuple[str, float] | None:
        if not query:
            return None
        vector = self.vectorizer.transform([query])
        if vector.nnz == 0:
            return None
        scores = np.asarray(self.matrix[:, vector.indices] @ vector.data).ravel()
        if groups is not None:
            key = frozenset(groups)
            if key not in self._masks:
                self._masks[key] = np.isin(self.groups, list(key))
                types = [name for name in key if is_semantic_type(name)]
                if types:  # the index keeps groups only; ask the KB which concepts qualify
                    typed = kb.concept_ids_in(types)
                    self._masks[key] |= np.fromiter(
                        (concept_id in typed for concept_id in self.concept_ids), bool
                    )
            scores = np.where(self._masks[key], scores, 0.0)
        best = int(scores.argmax())
        return (self.concept_ids[best], float(scores[best])) if scores[best] > 0 else None

    @classmethod
    def load_or_build(cls, kb: SqliteKnowledgeBase, cache_dir: Path, max_length: int) -> _NameIndex:
        key = hashlib.sha256(f"{kb.version}|{kb.path.name}|{max_length}|v1".encode()).hexdigest()
        stem = cache_dir / f"{kb.path.stem}.names-{key[:12]}"
        matrix_path, meta_path = Path(f"{stem}.npz"), Path(f"{stem}.json")
        if matrix_path.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            vectorizer = _vectorizer()
            vectorizer.vocabulary_ = meta["vocabulary"]
            vectorizer.idf_ = np.array(meta["idf"], dtype=np.float32)
            matrix = scipy.sparse.load_npz(matrix_path).tocsc()
            return cls(vectorizer, matrix, meta["concept_ids"], meta["groups"])
        log.info("Building the approximate-match name index for %s (once).", kb.path)
        seen: dict[tuple[str, str], str] = {}
        for norm, concept_id, group in kb.iter_names(include_supplementary=False):
            if norm and len(norm) <= max_length:
                seen.setdefault((norm, concept_id), group)
        names = [norm for norm, _ in seen]
        vectorizer = _vectorizer()
        matrix = vectorizer.fit_transform(names).astype(np.float32)
        concept_ids = [concept_id for _, concept_id in seen]
        groups = list(seen.values())
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(
            meta_path,
            json.dumps(
                {
                    "vocabulary": {gram: int(i) for gram, i in vectorizer.vocabulary_.items()},
                    "idf": vectorizer.idf_.tolist(),
                    "concept_ids": concept_ids,
                    "groups": groups,
                }
            ).encode(),
        )
        # a file object, not a name: save_npz would append ".npz" to the temporary name
        with atomic_path(matrix_path) as temp, open(temp, "wb") as out:
            scipy.sparse.save_npz(out, matrix.tocsr())
        return cls(vectorizer, matrix.tocsc(), concept_ids, groups)


def _vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), dtype=np.float32)
