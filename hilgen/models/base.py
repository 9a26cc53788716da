"""What every tagger offers the pipeline: fit on gold + synthetic sentences, predict IOB2 tags."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning import Trainer

from hilgen.data.types import Sentence
from hilgen.kb.label_groups import LabelGroupsSpec

TrainerFactory = Callable[..., Trainer]


@dataclass
class TrainingData:
    """Gold few-shot sentences, synthetic sentences, and the development sentences used for
    model selection (never the test split); for taggers that read the KB, each label's
    semantic groups or types (as configured, `auto` included, or as the augmenter resolved
    them) and the KB relations it keeps."""

    gold: list[Sentence]
    synthetic: list[Sentence] = field(default_factory=list)
    dev: list[Sentence] = field(default_factory=list)
    label_groups: LabelGroupsSpec = field(default_factory=dict)
    label_relations: Mapping[str, Sequence[str]] = field(default_factory=dict)


class Tagger(ABC):
    """A sequence tagger over a fixed label set."""

    labels: list[str]
    # Counts a tagger keeps about its predictions (failed requests, dropped entities, ...).
    prediction_stats: Mapping[str, float] = {}
    # Per-epoch values from fit (dev F1 of each epoch, per training stage), logged as MLflow
    # steps so the UI draws the curve behind the chosen epoch.
    learning_curves: Mapping[str, Sequence[float]] = {}
    # Whether fit learns from synthetic sentences; a run makes none for a tagger that does not
    # (the LLM and the dictionary taggers).
    trains: bool = True

    @abstractmethod
    def fit(self, data: TrainingData, make_trainer: TrainerFactory) -> dict[str, Any]:
        """Train; return a summary (epochs run, best dev F1, ...) to log."""

    @abstractmethod
    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        """Valid IOB2 tags for each sentence."""

    def close(self) -> None:
        """Release what the tagger holds beyond memory (a local LLM server, say)."""
        return None

    def export(self, directory: Path) -> None:
        """Write into `directory` everything tagging needs (weights, tokenizer, label set,
        decoding settings), so that the class's `from_export(directory)` tags the same way on
        another machine with no access to the training data. Taggers that hold no weights of
        their own (the LLM tagger) cannot be exported."""
        raise NotImplementedError(f"{type(self).__name__} cannot be exported")
