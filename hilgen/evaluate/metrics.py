"""Entity-level scores with seqeval: strict IOB2 (an entity counts only if exact), and beside it
the IO score the paper's code reports.

IO scoring, as the official DANN/HILGEN code scores (DANN.py: tags collapsed from BIOES to IO,
then `seqeval.metrics.f1_score` in its default, conlleval-compatible mode): every B-X/I-X
becomes I-X in gold and predicted tags, so a run of same-type tokens is one entity and a
boundary between two adjacent same-type mentions is never judged. It is more lenient than strict
IOB2; both are logged for every run (`<split>_f1`, `<split>_io_f1`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from hilgen.data.iob import io_tags, tags_to_spans
from hilgen.data.types import TaggedPrediction


@dataclass(frozen=True)
class TypeScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Scores:
    """Strict micro P/R/F1 (in %, as the paper reports them), per-type scores, mention counts,
    and the IO micro P/R/F1 (the paper's own, more lenient scoring)."""

    precision: float
    recall: float
    f1: float
    n_gold: int
    n_predicted: int
    per_type: dict[str, TypeScores] = field(default_factory=dict)
    io_precision: float = float("nan")
    io_recall: float = float("nan")
    io_f1: float = float("nan")

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """Flat metric names for MLflow, e.g. ``test_f1``, ``test_f1_Disease``, ``test_io_f1``."""
        metrics = {
            f"{prefix}_precision": self.precision,
            f"{prefix}_recall": self.recall,
            f"{prefix}_f1": self.f1,
            f"{prefix}_io_precision": self.io_precision,
            f"{prefix}_io_recall": self.io_recall,
            f"{prefix}_io_f1": self.io_f1,
            f"{prefix}_n_gold": float(self.n_gold),
            f"{prefix}_n_predicted": float(self.n_predicted),
        }
        for label, scores in self.per_type.items():
            metrics[f"{prefix}_f1_{label}"] = scores.f1
            metrics[f"{prefix}_precision_{label}"] = scores.precision
            metrics[f"{prefix}_recall_{label}"] = scores.recall
        return metrics


def io_scores(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> tuple[float, float, float]:
    """Micro P/R/F1 in percent after collapsing both tag sequences to IO, seqeval's default
    (conlleval) mode: the paper's scoring (see the module docstring)."""
    gold_io = [io_tags(g) for g in gold]
    predicted_io = [io_tags(p) for p in predicted]
    precision, recall, f1 = (
        100 * float(score(gold_io, predicted_io, zero_division=0))
        for score in (precision_score, recall_score, f1_score)
    )
    return precision, recall, f1


def score_tags(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Scores:
    """seqeval strict IOB2 micro and per-type scores, and the IO micro scores, in percent."""
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
    io_precision, io_recall, io_f1 = io_scores(gold_lists, pred_lists)
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
        io_precision=io_precision,
        io_recall=io_recall,
        io_f1=io_f1,
    )


def score_predictions(predictions: Sequence[TaggedPrediction]) -> Scores:
    return score_tags([p.gold for p in predictions], [p.predicted for p in predictions])
