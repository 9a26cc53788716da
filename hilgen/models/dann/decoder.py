"""The nearest-neighbour decoder: IOB2 tags for word vectors from their most similar support
words (NNShot), optionally by Viterbi over StructShot transitions, typed several ways."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from hilgen.data.iob import OUTSIDE, normalise_tags
from hilgen.models.dann.transitions import AbstractTransitions
from hilgen.models.decoding import viterbi_decode
from hilgen.models.nn_index import NearestNeighbourIndex

DECODINGS = ("nnshot", "structshot")

# Who chooses an entity word's type: its nearest support words, the fine-tuned linear head,
# its nearest entity words of the gold and synthetic sentences, or its nearest type prototype
# (the mean of each type's entity words of the support, or of the gold and synthetic
# sentences); in all but the first the support neighbours still decide entity or O.
TYPINGS = (
    "nearest_neighbour",
    "classifier",
    "entity_neighbours",
    "prototypes",
    "entity_prototypes",
)
# The typings that search typing vectors of their own (`NearestNeighbourDecoder.typing_indices`).
VECTOR_TYPINGS = ("entity_neighbours", "prototypes", "entity_prototypes")
# The typings that read the entity words of the synthetic sentences too, and those that search
# one prototype per type.
SYNTHETIC_TYPINGS = ("entity_neighbours", "entity_prototypes")
PROTOTYPE_TYPINGS = ("prototypes", "entity_prototypes")
# Floor of the head's type probabilities before their log: a type the head rules out stays
# finite, so Viterbi always has a path.
MIN_TYPE_PROBABILITY = 1e-30
IndexFactory = Callable[..., NearestNeighbourIndex]
# [n_words, hidden] word vectors -> [n_words, n_io_tags] probabilities, `io_tagset` order.
WordClassifier = Callable[[torch.Tensor], torch.Tensor]


def io_tagset(labels: Sequence[str]) -> list[str]:
    return [OUTSIDE] + [f"I-{label}" for label in labels]


class NearestNeighbourDecoder:
    """IOB2 tags for word vectors from their best similarity to each IO label's support words."""

    def __init__(
        self,
        labels: Sequence[str],
        support_vectors: dict[str, np.ndarray],
        make_index: IndexFactory,
        decoding: str = "nnshot",
        temperature: float = 0.05,
        transitions: AbstractTransitions | None = None,
        transition_scale: float = 1.0,
        outside_margin: float = 0.0,
        classifier: WordClassifier | None = None,
        classifier_weight: float = 0.0,
        typing: str = "nearest_neighbour",
        typing_vectors: dict[str, np.ndarray] | None = None,
    ) -> None:
        """`support_vectors` maps IO tags to [n, dim] float32 word vectors; they may be
        normalised in place. `structshot` needs `transitions`. `outside_margin` is added to
        every word's similarity to the O support words: a word must be that much closer to an
        entity's support words before it is tagged as one. Each word's label distribution is
        softmax(similarity / temperature); with `typing="classifier"` its entity mass
        (1 - P(O)) is shared out by the `classifier`'s (the fine-tuned linear head's)
        probabilities of the entity types, with a typing of `VECTOR_TYPINGS` by
        softmax(similarity / temperature) over the types' best similarities among
        `typing_vectors` (entity IO tags to word vectors or prototypes). Then, with
        `classifier_weight` w, it becomes (1 - w) that + w classifier probabilities (kNN-NER's
        interpolation, Wang et al. 2022); NNShot takes the best label of the result."""
        if decoding not in DECODINGS:
            raise ValueError(f"unknown decoding {decoding!r}; expected one of {DECODINGS}")
        if typing not in TYPINGS:
            raise ValueError(f"unknown typing {typing!r}; expected one of {TYPINGS}")
        if decoding == "structshot" and transitions is None:
            raise ValueError("structshot decoding needs transitions estimated from the support")
        if not 0.0 <= classifier_weight <= 1.0:
            raise ValueError(f"model.classifier_weight must be in [0, 1], got {classifier_weight}")
        if classifier_weight and classifier is None:
            raise ValueError("model.classifier_weight > 0 needs a fine-tuned classifier head")
        if typing == "classifier" and classifier is None:
            raise ValueError("model.typing=classifier needs a fine-tuned classifier head")
        if typing in VECTOR_TYPINGS and not any(
            len(vectors) for tag, vectors in (typing_vectors or {}).items() if tag != OUTSIDE
        ):
            raise ValueError(
                f"model.typing={typing} needs entity words to type by: the support (and "
                "synthetic) sentences hold none (use typing=nearest_neighbour)"
            )
        self.tagset = io_tagset(labels)
        unknown = set(support_vectors) - set(self.tagset)
        if unknown:
            raise ValueError(f"support tags {sorted(unknown)} are not IO tags of {list(labels)}")
        if not any(len(v) for v in support_vectors.values()):
            raise ValueError("the support set has no words: nothing to search")
        self.indices = {
            tag: make_index(vectors, copy=False)
            for tag, vectors in support_vectors.items()
            if len(vectors)
        }
        self.typing_indices = (
            {
                tag: make_index(vectors, copy=False)
                for tag, vectors in (typing_vectors or {}).items()
                if tag != OUTSIDE and len(vectors)
            }
            if typing in VECTOR_TYPINGS
            else None
        )
        self.decoding = decoding
        self.temperature = temperature
        self.outside_margin = outside_margin
        self.classifier = classifier if reads_head(classifier_weight, typing) else None
        self.classifier_weight = classifier_weight
        self.typing = typing
        if transitions is not None:
            log_transitions, log_start = transitions.log_scores(len(labels))
            self.transitions = transition_scale * log_transitions
            self.start = transition_scale * log_start

    def similarities(self, vectors: np.ndarray | torch.Tensor) -> torch.Tensor:
        """[n_words, n_io_tags] best cosine similarity per IO tag; -inf for a tag with no
        support words."""
        return best_similarities(vectors, self.tagset, self.indices)

    def type_similarities(self, vectors: np.ndarray | torch.Tensor) -> torch.Tensor | None:
        """[n_words, n_labels] best cosine similarity per entity type among the typing
        vectors; None unless the typing searches its own (`VECTOR_TYPINGS`)."""
        if self.typing_indices is None:
            return None
        return best_similarities(vectors, self.tagset[1:], self.typing_indices)

    def classifier_probabilities(self, vectors: np.ndarray) -> torch.Tensor | None:
        """[n_words, n_io_tags] probabilities of the classifier head; None without one."""
        if self.classifier is None:
            return None
        return self.classifier(torch.from_numpy(vectors)).to("cpu", torch.float32)

    def decode(
        self,
        similarities: torch.Tensor,
        classifier_probabilities: torch.Tensor | None = None,
        type_similarities: torch.Tensor | None = None,
    ) -> list[str]:
        """IOB2 tags for one sentence's [n_words, n_io_tags] similarities (and, with a
        classifier, its probabilities for the same words; with typing words, the words'
        `type_similarities`)."""
        if self.classifier is not None and classifier_probabilities is None:
            raise ValueError(
                "this decoder reads the classifier head (model.typing=classifier or "
                "classifier_weight > 0): pass its probabilities of the same words"
            )
        if self.typing_indices is not None and type_similarities is None:
            raise ValueError(
                f"this decoder types by its own typing vectors (model.typing={self.typing}): "
                "pass the words' type_similarities"
            )
        if self.outside_margin:
            similarities = similarities.clone()
            similarities[:, 0] += self.outside_margin  # column 0 is O (`io_tagset`)
        scores = torch.log_softmax(similarities / self.temperature, dim=-1)
        if self.typing == "classifier":
            assert classifier_probabilities is not None  # checked above
            scores = typed_by_classifier(scores, classifier_probabilities)
        elif self.typing in VECTOR_TYPINGS:
            assert type_similarities is not None  # checked above
            scores = retyped(scores, torch.log_softmax(type_similarities / self.temperature, -1))
        if classifier_probabilities is not None and self.classifier_weight:
            mixture = (
                1 - self.classifier_weight
            ) * scores.exp() + self.classifier_weight * classifier_probabilities
            scores = mixture.log()
        if self.decoding == "nnshot":
            path = scores.argmax(dim=-1).tolist()
        else:
            path = viterbi_decode(scores, self.transitions, self.start)
        return normalise_tags([self.tagset[i] for i in path])

    def decode_batch(self, vectors: Sequence[np.ndarray]) -> list[list[str]]:
        """Tags for several sentences' word vectors, searched in one call."""
        if not vectors:
            return []
        stacked = np.concatenate(vectors)
        return self.decode_similarities(
            self.similarities(stacked),
            [len(v) for v in vectors],
            self.classifier_probabilities(stacked),
            self.type_similarities(stacked),
        )

    def decode_similarities(
        self,
        similarities: torch.Tensor,
        sizes: list[int],
        classifier_probabilities: torch.Tensor | None = None,
        type_similarities: torch.Tensor | None = None,
    ) -> list[list[str]]:
        """Tags for several sentences' stacked scores (`sizes` words each)."""

        def per_sentence(scores: torch.Tensor | None) -> Sequence[torch.Tensor | None]:
            return [None] * len(sizes) if scores is None else torch.split(scores, sizes)

        return [
            self.decode(*scores)
            for scores in zip(
                torch.split(similarities, sizes),
                per_sentence(classifier_probabilities),
                per_sentence(type_similarities),
                strict=True,
            )
        ]


def reads_head(classifier_weight: float, typing: str) -> bool:
    """Whether decoding reads the fine-tuned linear head: to mix it in or to type by it."""
    return bool(classifier_weight) or typing == "classifier"


def best_similarities(
    vectors: np.ndarray | torch.Tensor,
    tags: Sequence[str],
    indices: dict[str, NearestNeighbourIndex],
) -> torch.Tensor:
    """[n_words, len(tags)] best cosine similarity per tag in its index; -inf for a tag with
    no index (no words)."""
    scores = torch.full((len(vectors), len(tags)), -math.inf)
    for column, tag in enumerate(tags):
        if tag in indices:
            best, _ = indices[tag].search(vectors, k=1)
            scores[:, column] = torch.from_numpy(best[:, 0])
    return scores


def retyped(log_probabilities: torch.Tensor, type_log_probabilities: torch.Tensor) -> torch.Tensor:
    """[n_words, n_io_tags] log-probabilities (column 0 O) whose entity mass is shared out over
    the types by [n_words, n_labels] `type_log_probabilities` instead: P(O) stays, P(X) =
    (1 - P(O)) * P_type(X)."""
    entity = torch.logsumexp(log_probabilities[:, 1:], dim=-1, keepdim=True)
    return torch.cat([log_probabilities[:, :1], entity + type_log_probabilities], dim=-1)


def typed_by_classifier(
    log_probabilities: torch.Tensor, classifier_probabilities: torch.Tensor
) -> torch.Tensor:
    """`retyped` by the classifier's probabilities of the types, renormalised over them."""
    types = torch.log_softmax(
        classifier_probabilities[:, 1:].clamp_min(MIN_TYPE_PROBABILITY).log(), dim=-1
    )
    return retyped(log_probabilities, types)
