"""Entity-level scores with seqeval, always strict IOB2 (an entity counts only if exact)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from hilgen.data.iob import tags_to_spans
from hilgen.data.types import TaggedPrediction


@dataclass(frozen=True)
class TypeScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Scores:
    """Micro P/R/F1 (in %, as the paper reports them), per-type scores and mention counts."""

    precision: float
    recall: float
    f1: float
    n_gold: int
    n_predicted: int
    per_type: dict[str, TypeScores] = field(default_factory=dict)

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """Flat metric names for MLflow, e.g. ``test_f1``, ``test_f1_Disease``."""
        metrics = {
            f"{prefix}_precision": self.precision,
            f"{prefix}_recall": self.recall,
            f"{prefix}_f1": self.f1,
            f"{prefix}_n_gold": float(self.n_gold),
            f"{prefix}_n_predicted": float(self.n_predicted),
        }
        for label, scores in self.per_type.items():
            metrics[f"{prefix}_f1_{label}"] = scores.f1
            metrics[f"{prefix}_precision_{label}"] = scores.precision
            metrics[f"{prefix}_recall_{label}"] = scores.recall
        return metrics


def score_tags(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Scores:
    """seqeval strict IOB2 micro and per-type scores, in percent."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
    gold_lists = [list(g) for g in gold]
    pred_lists = [list(p) for p in predicted]
    report = classification_report(
        gold_lists, pred_lists, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    micro = report["micro avg"]
    per_type = {
        label: TypeScores(
            100 * values["precision"],
            100 * values["recall"],
            100 * values["f1-score"],
            int(values["support"]),
        )
        for label, values in report.items()
        if label not in {"micro avg", "macro avg", "weighted avg"}
    }
    return Scores(
        precision=100 * micro["precision"],
        recall=100 * micro["recall"],
        f1=100 * micro["f1-score"],
        n_gold=sum(len(tags_to_spans(g)) for g in gold_lists),
        n_predicted=sum(len(tags_to_spans(p)) for p in pred_lists),
        per_type=per_type,
    )


def score_predictions(predictions: Sequence[TaggedPrediction]) -> Scores:
    return score_tags([p.gold for p in predictions], [p.predicted for p in predictions])
