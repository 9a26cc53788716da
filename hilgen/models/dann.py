"""The DANN nearest-neighbour tagger (`model=dann`), as HILGEN uses the classifier of Ge et al.

The encoder is fine-tuned exactly like `model=bert` (same optimiser, synthetic weighting, early
stopping); then every test word takes the label of its most similar support word (NNShot):
vectors are L2-normalised, labels are IO (B-X and I-X both count as X), and each label scores its
best cosine similarity among the support words that carry it. Consecutive words with the same
label form one entity. Nearest-neighbour decoding beat the linear head on the same encoder
(BASELINE.md, trap 6).

`decoding: structshot` adds what the original DANN lacks: Viterbi search with StructShot's
abstract transitions (O->O, O->I, I->O, I->same I, I->other I), estimated from the support tags.
`typing: classifier` splits the decision as decomposed few-shot NER does: the neighbours say
whether a word is an entity, the fine-tuned head (trained on the synthetic sentences too) says
which type. `typing: entity_neighbours` splits it the same way, but the type comes from the
nearest entity words of the gold *and* synthetic sentences: hundreds of synthetic mentions per
type instead of five gold ones, while the entity-or-O decision keeps the gold support (synthetic
O words are KB negatives that pull real mentions to O). Without synthetic sentences it is
nearest-neighbour typing exactly. `typing: prototypes` types by the nearest type prototype
instead, the mean of each type's support entity words (ProtoBERT's class prototype): one
vector per type from all of its words, against the single best of five mentions.
`typing: entity_prototypes` averages the entity words of the gold and synthetic sentences: a
synthetic mention is a KB name in a gold mention's context, so over hundreds of names the
mean keeps what a type's contexts share and averages the names themselves out.

Each IO label has its own FAISS index searched for k=1, so a label's best similarity is exact
(for the flat index) however rare the label: one shared index searched top-k would miss a label
absent from a query's k neighbours, and `O` words dominate every neighbourhood.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from hilgen.data.iob import OUTSIDE, io_tags, normalise_tags
from hilgen.data.types import Sentence
from hilgen.evaluate.metrics import score_tags
from hilgen.models.base import Tagger, TrainerFactory, TrainingData
from hilgen.models.bert_tagger import BertTagger, TaggingBatch, TokenClassifierModule
from hilgen.models.decoding import viterbi_decode
from hilgen.models.encoder import WordEncoder
from hilgen.models.nn_index import NearestNeighbourIndex, as_normalised_float32

log = logging.getLogger(__name__)

DECODINGS = ("nnshot", "structshot")
# Which sentences' words the nearest-neighbour search runs over: gold + synthetic, gold only
# (the synthetic sentences then only fine-tune the encoder), or gold + the entity words of the
# synthetic sentences (their O words are copies of gold contexts and KB negatives: names of
# other concepts tagged O, which pull real mentions to O).
SUPPORT_SETS = ("all", "gold", "synthetic_entities")
SELECTIONS = ("nearest_neighbour", "classifier")
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
# Test words searched per FAISS call (32k words x 1,024 dims float32 = 128 MiB of queries).
SEARCH_CHUNK_WORDS = 32_768


def io_tagset(labels: Sequence[str]) -> list[str]:
    return [OUTSIDE] + [f"I-{label}" for label in labels]


@dataclass(frozen=True)
class AbstractTransitions:
    """StructShot's label-agnostic transition probabilities between IO tags.

    Rows sum to one: (o_to_o, o_to_i), (i_to_o, i_to_same, i_to_other), (start_o, start_i).
    O->I and start->I mass is shared evenly among labels, I->other among the other labels.
    """

    start_o: float
    start_i: float
    o_to_o: float
    o_to_i: float
    i_to_o: float
    i_to_same: float
    i_to_other: float

    @classmethod
    def estimate(
        cls, io_sequences: Sequence[Sequence[str]], n_labels: int, smoothing: float = 1.0
    ) -> AbstractTransitions:
        """Counts over IO-tagged sentences plus `smoothing` per possible event; with one label
        there is no "other" label, so I->other gets no mass."""
        counts: Counter[str] = Counter()
        for tags in io_sequences:
            if not tags:
                continue
            counts["start_o" if tags[0] == OUTSIDE else "start_i"] += 1
            for previous, current in zip(tags, tags[1:], strict=False):
                if previous == OUTSIDE:
                    counts["o_to_o" if current == OUTSIDE else "o_to_i"] += 1
                elif current == OUTSIDE:
                    counts["i_to_o"] += 1
                else:
                    counts["i_to_same" if current == previous else "i_to_other"] += 1

        def normalised(events: list[str]) -> dict[str, float]:
            smoothed = {event: counts[event] + smoothing for event in events}
            total = sum(smoothed.values())
            return {event: value / total for event, value in smoothed.items()}

        from_i = ["i_to_o", "i_to_same"] + (["i_to_other"] if n_labels > 1 else [])
        probabilities = (
            normalised(["start_o", "start_i"])
            | normalised(["o_to_o", "o_to_i"])
            | {"i_to_other": 0.0}
            | normalised(from_i)
        )
        return cls(**probabilities)

    def log_scores(self, n_labels: int) -> tuple[torch.Tensor, torch.Tensor]:
        """([from, to] transition, [to] start) log-probabilities over `io_tagset` order."""
        n_tags = n_labels + 1
        transitions = torch.empty((n_tags, n_tags))
        transitions[0, 0] = self.o_to_o
        transitions[0, 1:] = self.o_to_i / n_labels
        transitions[1:, 0] = self.i_to_o
        transitions[1:, 1:] = self.i_to_other / max(n_labels - 1, 1)
        transitions[1:, 1:].fill_diagonal_(self.i_to_same)
        start = torch.tensor([self.start_o] + [self.start_i / n_labels] * n_labels)
        return transitions.log(), start.log()


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


def type_prototypes(support: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each entity tag's prototype, [1, dim]: the mean of its unit-length support word vectors
    (the index normalises it again, so it is scored by cosine)."""
    return {
        tag: as_normalised_float32(words).mean(axis=0, keepdims=True)
        for tag, words in support.items()
        if tag != OUTSIDE and len(words)
    }


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


@contextmanager
def eval_mode(encoder: WordEncoder, device: torch.device) -> Iterator[WordEncoder]:
    """The encoder on `device` without dropout; its train/eval mode is restored afterwards."""
    was_training = encoder.training
    encoder.to(device).eval()
    try:
        yield encoder
    finally:
        encoder.train(was_training)


def embed_words(
    encoder: WordEncoder,
    sentences: Sequence[Sequence[str]],
    batch_size: int,
    description: str,
) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """(sentence indices, [n_words, hidden] float32 vectors) per batch, shortest sentences
    first so that batches pad little. The caller chooses device and mode (`eval_mode`)."""
    empty = [i for i, words in enumerate(sentences) if not words]
    if empty:
        yield empty, [np.zeros((0, encoder.hidden_size), np.float32) for _ in empty]
    order = sorted(
        (i for i, words in enumerate(sentences) if words), key=lambda i: len(sentences[i])
    )
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc=description, unit="batch", leave=False, disable=None):
        words = [sentences[i] for i in batch]
        with torch.inference_mode():
            vectors = encoder.word_vectors(encoder.windows(words), [len(w) for w in words])
        yield batch, [v.to("cpu", torch.float32).numpy() for v in vectors]


def support_vectors(
    encoder: WordEncoder,
    support: Sequence[Sentence],
    batch_size: int,
    entities_only_from: int | None = None,
) -> dict[str, np.ndarray]:
    """Word vectors of the support sentences grouped by IO tag, filled into preallocated arrays
    (a synthetic support set can hold hundreds of thousands of words). Sentences from index
    `entities_only_from` on give only their entity words (embedded in their whole sentence)."""
    tags_per_sentence = [np.array(io_tags(s.tags)) for s in support]
    if entities_only_from is not None:
        for tags in tags_per_sentence[entities_only_from:]:
            tags[tags == OUTSIDE] = ""
    counts = Counter(tag for tags in tags_per_sentence for tag in tags.tolist() if tag)
    arrays = {tag: np.empty((n, encoder.hidden_size), np.float32) for tag, n in counts.items()}
    filled: Counter[str] = Counter()
    tokens = [s.tokens for s in support]
    for indices, vectors in embed_words(encoder, tokens, batch_size, "embedding support words"):
        for index, sentence_vectors in zip(indices, vectors, strict=True):
            tags = tags_per_sentence[index]
            for tag in set(tags.tolist()) - {""}:
                rows = sentence_vectors[tags == tag]
                arrays[tag][filled[tag] : filled[tag] + len(rows)] = rows
                filled[tag] += len(rows)
    return arrays


class NearestNeighbourSelectedModule(TokenClassifierModule):
    """The fine-tuning module with dev F1 (`val_f1`) measured by the nearest-neighbour decoder,
    so early stopping and the best-epoch choice judge the encoder the way it is used. Each
    validation re-embeds the support set with the current encoder."""

    def __init__(
        self,
        base: TokenClassifierModule,
        build_decoder: Callable[[WordEncoder], NearestNeighbourDecoder],
    ) -> None:
        super().__init__(
            base.encoder,
            base.tagset,
            base.make_optimizer,
            dropout=base.dropout.p,
            selection_window=base.selection_window,
            contrastive_weight=base.contrastive_weight,
            contrastive_temperature=base.contrastive_temperature,
            head=base.head,
            crf_lr=base.crf_lr,
        )
        self.build_decoder = build_decoder
        self._dev_vectors: list[np.ndarray] = []

    def validation_step(self, batch: TaggingBatch, batch_idx: int) -> None:
        vectors = self.word_vectors(batch.tokens)
        self._dev_vectors += [v.to("cpu", torch.float32).numpy() for v in vectors]
        self._dev_gold += [[self.tagset[i] for i in tags.tolist()] for tags in batch.tag_ids]

    def on_validation_epoch_end(self) -> None:
        if self._dev_gold:
            with torch.inference_mode():
                decoder = self.build_decoder(self.encoder)
            predicted = decoder.decode_batch(self._dev_vectors)
            self.log_dev_f1(score_tags(self._dev_gold, predicted).f1)
        self._dev_gold, self._dev_vectors = [], []


class DannTagger(Tagger):
    """Fine-tuned encoder + nearest-neighbour decoding over gold and synthetic support words.

    `finetuning` holds the `model=bert` settings (batch size, dropout, synthetic weight, early
    stopping, ...) and goes to the `BertTagger` that fine-tunes the encoder. `finetune=False`
    skips training: nearest neighbour over the raw encoder (B-raw). `selection` picks the dev
    F1 used for early stopping: `nearest_neighbour` (the test-time decoder) or `classifier`
    (the linear head's, cheaper with a large synthetic support set). `typing` picks who types
    an entity word: its nearest support words, that head, or its nearest entity words of the
    gold and synthetic sentences (`entity_neighbours`), or its nearest type prototype, made
    from the support (`prototypes`) or from the gold and synthetic sentences
    (`entity_prototypes`). The defaults are conf/model/dann.yaml's, so that a tagger built in
    Python is the measured DANN (StructShot, gold support, 3-epoch window, 128 examples).
    """

    def __init__(
        self,
        labels: list[str],
        encoder: Callable[[], WordEncoder],
        optimizer: Callable[..., torch.optim.Optimizer],
        index: IndexFactory,
        finetune: bool = True,
        selection: str = "nearest_neighbour",
        decoding: str = "structshot",
        temperature: float = 0.05,
        transition_scale: float = 1.0,
        embed_batch_size: int = 64,
        support: str = "gold",
        outside_margins: Sequence[float] = (0.0,),
        classifier_weight: float = 0.0,
        typing: str = "nearest_neighbour",
        selection_window: int = 3,
        examples_per_epoch: int = 128,
        **finetuning: Any,
    ) -> None:
        if support not in SUPPORT_SETS:
            raise ValueError(f"model.support must be one of {SUPPORT_SETS}, got {support!r}")
        if decoding not in DECODINGS:
            raise ValueError(f"model.decoding must be one of {DECODINGS}, got {decoding!r}")
        if selection not in SELECTIONS:
            raise ValueError(f"model.selection must be one of {SELECTIONS}, got {selection!r}")
        if not outside_margins:
            raise ValueError("model.outside_margins needs at least one value (e.g. [0.0])")
        if classifier_weight and not finetune:
            raise ValueError("model.classifier_weight > 0 needs model.finetune=true (a head)")
        if typing not in TYPINGS:
            raise ValueError(f"model.typing must be one of {TYPINGS}, got {typing!r}")
        if typing == "classifier" and not finetune:
            raise ValueError("model.typing=classifier needs model.finetune=true (a head)")
        self.labels = list(labels)
        self.support = support
        self.outside_margins = sorted(outside_margins, key=abs)
        self.make_index = index
        self.decoding = decoding
        self.temperature = temperature
        self.transition_scale = transition_scale
        self.embed_batch_size = embed_batch_size
        self.classifier_weight = classifier_weight
        self.typing = typing
        self.finetuner: BertTagger | None = None
        if finetune:
            self.finetuner = BertTagger(
                self.labels,
                encoder,
                optimizer,
                selection_window=selection_window,
                examples_per_epoch=examples_per_epoch,
                **finetuning,
            )
            if selection == "nearest_neighbour":
                self.finetuner.module = NearestNeighbourSelectedModule(
                    self.finetuner.module, self._decoder_on_module_device
                )
            self.encoder = self.finetuner.module.encoder
        else:
            self.encoder = encoder()
        self.support_sentences: list[Sentence] = []
        self.typing_sentences: list[Sentence] = []
        self.entities_only_from: int | None = None
        self.transitions: AbstractTransitions | None = None
        self.device = torch.device("cpu")
        self.decoder: NearestNeighbourDecoder | None = None

    def build_decoder(self, device: torch.device) -> NearestNeighbourDecoder:
        """Embed the support set with the current encoder and index it."""
        with eval_mode(self.encoder, device):
            vectors = support_vectors(
                self.encoder,
                self.support_sentences,
                self.embed_batch_size,
                self.entities_only_from,
            )
            typing_vectors = self.typing_words(vectors)
        return NearestNeighbourDecoder(
            self.labels,
            vectors,
            self.make_index,
            self.decoding,
            self.temperature,
            self.transitions,
            self.transition_scale,
            classifier=self.head_io_probabilities if self.uses_head else None,
            classifier_weight=self.classifier_weight,
            typing=self.typing,
            typing_vectors=typing_vectors,
        )

    def typing_words(self, support: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """What the typing searches, from the support's word vectors: nothing of its own (None:
        the support itself), the entity words of the support and the synthetic sentences, or
        the type prototypes of either (`TYPINGS`)."""
        if self.typing not in VECTOR_TYPINGS:
            return None
        words = (
            self.with_synthetic_entity_words(support)
            if self.typing in SYNTHETIC_TYPINGS
            else support
        )
        return type_prototypes(words) if self.typing in PROTOTYPE_TYPINGS else words

    def with_synthetic_entity_words(self, support: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The support's entity words plus those of `typing_sentences` (the synthetic sentences
        the support leaves out), which alone are embedded again."""
        extra = (
            support_vectors(self.encoder, self.typing_sentences, self.embed_batch_size, 0)
            if self.typing_sentences
            else {}
        )
        return {
            tag: np.concatenate([part[tag] for part in (support, extra) if tag in part])
            for tag in (set(support) | set(extra)) - {OUTSIDE}
        }

    @property
    def uses_head(self) -> bool:
        """Whether decoding reads the fine-tuned linear head (not only the neighbours)."""
        return reads_head(self.classifier_weight, self.typing)

    def head_io_probabilities(self, vectors: torch.Tensor) -> torch.Tensor:
        """The fine-tuned head's IO probabilities of CPU word vectors, in `io_tagset` order."""
        assert self.finetuner is not None  # `uses_head` requires fine-tuning
        module = self.finetuner.module
        device = next(module.classifier.parameters()).device
        columns = [module.io_tagset.index(tag) for tag in io_tagset(self.labels)]
        with torch.inference_mode():
            return module.io_probabilities(vectors.to(device))[:, columns]

    def _decoder_on_module_device(self, encoder: WordEncoder) -> NearestNeighbourDecoder:
        return self.build_decoder(next(encoder.parameters()).device)

    def fit(self, data: TrainingData, make_trainer: TrainerFactory) -> dict[str, Any]:
        support = list(data.gold) if self.support == "gold" else [*data.gold, *data.synthetic]
        self.entities_only_from = len(data.gold) if self.support == "synthetic_entities" else None
        # typing by the synthetic entity words adds those that the support lacks
        typing_sentences = (
            list(data.synthetic)
            if self.typing in SYNTHETIC_TYPINGS and self.support == "gold"
            else []
        )
        labelled = [*support, *typing_sentences]
        unknown = {span.label for s in labelled for span in s.spans} - set(self.labels)
        if unknown:
            raise ValueError(
                f"support sentences carry labels {sorted(unknown)} outside {self.labels}"
            )
        self.support_sentences = support
        self.typing_sentences = typing_sentences
        if self.decoding == "structshot":
            whole_sentences = support[: self.entities_only_from]
            self.transitions = AbstractTransitions.estimate(
                [io_tags(s.tags) for s in whole_sentences], len(self.labels)
            )
            log.info("abstract transitions from the support set: %s", self.transitions)
        summary: dict[str, Any] = {}
        if self.finetuner is not None:
            summary |= self.finetuner.fit(data, make_trainer)
            self.learning_curves = self.finetuner.learning_curves
        # Lightning moves the module back to the CPU after fit; embed where the trainer runs
        self.device = make_trainer().strategy.root_device
        self.decoder = self.build_decoder(self.device)
        self.decoder.outside_margin = self.choose_outside_margin(self.decoder, data.dev)
        return summary | {
            "support_sentences": len(support),
            "support_words": sum(len(index) for index in self.decoder.indices.values()),
            "outside_margin": self.decoder.outside_margin,
        }

    def choose_outside_margin(
        self, decoder: NearestNeighbourDecoder, dev: Sequence[Sentence]
    ) -> float:
        """The O margin with the best dev F1 (ties: the smallest); the only value when one is
        configured. Few-shot support words rarely cover all of O, so plain nearest neighbour
        over-predicts entities; the dev sample (never the test set) says by how much."""
        if len(self.outside_margins) == 1 or not dev:
            return self.outside_margins[0]
        vectors: list[np.ndarray] = [np.empty(0)] * len(dev)
        with eval_mode(self.encoder, self.device):
            for indices, batch in embed_words(
                self.encoder, [s.tokens for s in dev], self.embed_batch_size, "dev words"
            ):
                for index, sentence_vectors in zip(indices, batch, strict=True):
                    vectors[index] = sentence_vectors
        stacked = np.concatenate(vectors)
        similarities = decoder.similarities(stacked)
        probabilities = decoder.classifier_probabilities(stacked)
        type_similarities = decoder.type_similarities(stacked)
        sizes = [len(s.tokens) for s in dev]
        gold = [s.tags for s in dev]
        f1_by_margin: dict[float, float] = {}
        for margin in self.outside_margins:
            decoder.outside_margin = margin
            f1_by_margin[margin] = score_tags(
                gold,
                decoder.decode_similarities(similarities, sizes, probabilities, type_similarities),
            ).f1
        best = max(self.outside_margins, key=lambda m: f1_by_margin[m])
        log.info("O margin by dev F1: %s -> %.3f", f1_by_margin, best)
        return best

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        """Embed test words batch by batch, but search in chunks of `SEARCH_CHUNK_WORDS`: FAISS
        is fastest on many queries at once, and every call starts an OpenMP team (costly on a
        busy machine), while the chunk bounds the memory of pending query vectors."""
        if self.decoder is None:
            raise RuntimeError("predict() needs a fitted tagger: call fit() first")
        result: list[list[str]] = [[] for _ in sentences]
        pending_indices: list[int] = []
        pending_vectors: list[np.ndarray] = []

        def flush(decoder: NearestNeighbourDecoder) -> None:
            tags_per_sentence = decoder.decode_batch(pending_vectors)
            for index, tags in zip(pending_indices, tags_per_sentence, strict=True):
                result[index] = tags
            pending_indices.clear()
            pending_vectors.clear()

        tokens = [s.tokens for s in sentences]
        with eval_mode(self.encoder, self.device):
            for indices, vectors in embed_words(
                self.encoder, tokens, self.embed_batch_size, "nearest-neighbour tagging"
            ):
                pending_indices += indices
                pending_vectors += vectors
                if sum(len(v) for v in pending_vectors) >= SEARCH_CHUNK_WORDS:
                    flush(self.decoder)
        flush(self.decoder)
        return result

    # Saving and loading a fitted tagger (the model that `hilgen.inference` logs and loads).
    EXPORT_SETTINGS = "dann_tagger.json"
    EXPORT_VECTORS = "support_vectors.npz"

    def export(self, directory: Path) -> None:
        """The encoder (and the fine-tuned head) as `BertTagger.export` writes them, the
        support words' vectors by IO tag, and the typing vectors, in `support_vectors.npz`
        (the FAISS indices are built from them at load time), and the decoder's settings,
        its dev-chosen O margin included."""
        if self.decoder is None:
            raise RuntimeError("export() needs a fitted tagger: call fit() first")
        if self.finetuner is not None:
            self.finetuner.export(directory)
        else:
            self.encoder.transformer.save_pretrained(directory / "encoder")
            self.encoder.tokenizer.save_pretrained(directory / "encoder")
        with eval_mode(self.encoder, self.device):
            vectors = support_vectors(
                self.encoder, self.support_sentences, self.embed_batch_size, self.entities_only_from
            )
            typing_vectors = self.typing_words(vectors) or {}
        arrays = {f"support:{tag}": v for tag, v in vectors.items()}
        arrays |= {f"typing:{tag}": v for tag, v in typing_vectors.items()}
        np.savez(directory / self.EXPORT_VECTORS, **arrays)  # type: ignore[arg-type]
        index_settings = getattr(self.make_index, "keywords", {})
        settings = {
            "labels": self.labels,
            "finetuned": self.finetuner is not None,
            "max_length": self.encoder.max_length,
            "decoding": self.decoding,
            "temperature": self.temperature,
            "transitions": dataclasses.asdict(self.transitions) if self.transitions else None,
            "transition_scale": self.transition_scale,
            "outside_margin": self.decoder.outside_margin,
            "classifier_weight": self.classifier_weight,
            "typing": self.typing,
            "embed_batch_size": self.embed_batch_size,
            "index": {k: v for k, v in index_settings.items() if k != "copy"},
        }
        (directory / self.EXPORT_SETTINGS).write_text(json.dumps(settings, indent=2) + "\n")

    @classmethod
    def from_export(cls, directory: Path) -> DannTagger:
        """The tagger `export` wrote, its support indexed again, on the GPU if there is one."""
        settings = json.loads((directory / cls.EXPORT_SETTINGS).read_text())
        finetuner = BertTagger.from_export(directory) if settings["finetuned"] else None
        encoder: Callable[[], WordEncoder] = (
            (lambda: finetuner.module.encoder)
            if finetuner is not None
            else functools.partial(WordEncoder, str(directory / "encoder"), settings["max_length"])
        )
        tagger = cls(
            settings["labels"],
            encoder,
            torch.optim.AdamW,  # never stepped: an exported tagger only predicts
            functools.partial(NearestNeighbourIndex, **settings["index"]),
            finetune=False,
            decoding=settings["decoding"],
            temperature=settings["temperature"],
            transition_scale=settings["transition_scale"],
            embed_batch_size=settings["embed_batch_size"],
        )
        tagger.finetuner = finetuner
        tagger.classifier_weight = settings["classifier_weight"]
        tagger.typing = settings["typing"]
        if settings["transitions"] is not None:
            tagger.transitions = AbstractTransitions(**settings["transitions"])
        tagger.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        with np.load(directory / cls.EXPORT_VECTORS) as arrays:
            by_kind: dict[str, dict[str, np.ndarray]] = {"support": {}, "typing": {}}
            for key in arrays.files:
                kind, tag = key.split(":", 1)
                by_kind[kind][tag] = arrays[key]
        tagger.decoder = NearestNeighbourDecoder(
            tagger.labels,
            by_kind["support"],
            tagger.make_index,
            tagger.decoding,
            tagger.temperature,
            tagger.transitions,
            tagger.transition_scale,
            settings["outside_margin"],
            classifier=tagger.head_io_probabilities if tagger.uses_head else None,
            classifier_weight=tagger.classifier_weight,
            typing=tagger.typing,
            typing_vectors=by_kind["typing"] or None,
        )
        return tagger
