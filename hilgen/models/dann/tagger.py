"""The DANN nearest-neighbour tagger (`model=dann`), as HILGEN uses the classifier of Ge et al.

The encoder is fine-tuned exactly like `model=bert` (same optimiser, synthetic weighting, early
stopping); then every test word takes the label of its most similar support word (NNShot):
vectors are L2-normalised, labels are IO (B-X and I-X both count as X), and each label scores its
best cosine similarity among the support words that carry it. Consecutive words with the same
label form one entity. With a handful of gold mentions per type, the labels of a word's nearest
support words are a steadier guide than a linear head trained on those few words.

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hilgen.data.iob import OUTSIDE, io_tags
from hilgen.data.types import Sentence
from hilgen.evaluate.metrics import score_tags
from hilgen.models.base import Tagger, TrainerFactory, TrainingData
from hilgen.models.bert_tagger import BertTagger
from hilgen.models.dann.decoder import (
    DECODINGS,
    PROTOTYPE_TYPINGS,
    SYNTHETIC_TYPINGS,
    TYPINGS,
    VECTOR_TYPINGS,
    IndexFactory,
    NearestNeighbourDecoder,
    io_tagset,
    reads_head,
)
from hilgen.models.dann.embedding import embed_words, eval_mode
from hilgen.models.dann.support import SUPPORT_SETS, SupportSet, support_vectors, type_prototypes
from hilgen.models.dann.transitions import AbstractTransitions
from hilgen.models.encoder import WordEncoder
from hilgen.models.nn_index import NearestNeighbourIndex

log = logging.getLogger(__name__)

SELECTIONS = ("nearest_neighbour", "classifier")
# Test words searched per FAISS call (32k words x 1,024 dims float32 = 128 MiB of queries).
SEARCH_CHUNK_WORDS = 32_768


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
    Python is the measured DANN (StructShot, gold support, 3-epoch window); `examples_per_epoch`
    (in `finetuning`) is set by conf/model/dann.yaml alone.
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
                dev_decoder=self.dev_tags if selection == "nearest_neighbour" else None,
                **finetuning,
            )
            self.encoder = self.finetuner.module.encoder
        else:
            self.encoder = encoder()
        self.support_set = SupportSet()
        self.transitions: AbstractTransitions | None = None
        self.device = torch.device("cpu")
        self.decoder: NearestNeighbourDecoder | None = None

    def build_decoder(self, device: torch.device) -> NearestNeighbourDecoder:
        """Embed the support set with the current encoder and index it."""
        with eval_mode(self.encoder, device):
            vectors = support_vectors(
                self.encoder,
                self.support_set.sentences,
                self.embed_batch_size,
                self.support_set.entities_only_from,
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
        typing_sentences = self.support_set.typing_sentences
        extra = (
            support_vectors(self.encoder, typing_sentences, self.embed_batch_size, 0)
            if typing_sentences
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

    def dev_tags(self, encoder: WordEncoder, vectors: Sequence[np.ndarray]) -> list[list[str]]:
        """The fine-tuning's dev tags (`BertTagger`'s `dev_decoder`) by the nearest-neighbour
        decoder, so early stopping and the best-epoch choice judge the encoder the way it is
        used. Each validation re-embeds the support set with the current encoder."""
        with torch.inference_mode():
            decoder = self.build_decoder(next(encoder.parameters()).device)
        return decoder.decode_batch(vectors)

    def fit(self, data: TrainingData, make_trainer: TrainerFactory) -> dict[str, Any]:
        support = SupportSet.choose(data.gold, data.synthetic, self.support, self.typing)
        labelled = [*support.sentences, *support.typing_sentences]
        unknown = {span.label for s in labelled for span in s.spans} - set(self.labels)
        if unknown:
            raise ValueError(
                f"support sentences carry labels {sorted(unknown)} outside {self.labels}"
            )
        self.support_set = support
        if self.decoding == "structshot":
            self.transitions = AbstractTransitions.estimate(
                [io_tags(s.tags) for s in support.whole_sentences], len(self.labels)
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
            "support_sentences": len(support.sentences),
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
                self.encoder,
                self.support_set.sentences,
                self.embed_batch_size,
                self.support_set.entities_only_from,
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
