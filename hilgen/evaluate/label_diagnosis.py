"""Where one entity label's predictions go, and what they cost, per finished run.

A diagnostic read from the test predictions with their gold tags, never a method: it says how
many spans a run predicts with a label, how many of those are exactly a gold mention of another
type, and the run's test F1 with that label's predicted spans set to O. It tells whether a
label's over-prediction is what holds a gain down (README "Results", DANN on NCBI 4-type):

    python -m hilgen.evaluate.label_diagnosis --experiment table2-ncbi_disease \\
        --label CompositeMention --models dann --augmenters none hilgen
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hilgen.data.iob import spans_to_tags, tags_to_spans
from hilgen.data.types import TaggedPrediction
from hilgen.evaluate.metrics import score_predictions, score_tags
from hilgen.evaluate.report import add_tracking_uri_option
from hilgen.evaluate.tables import format_table


@dataclass(frozen=True)
class LabelDiagnosis:
    """One run's predictions of `label` on the test split."""

    label: str
    predicted: int
    gold: int
    # predicted spans of `label` whose boundaries are exactly a gold mention of another type
    exact_other_type: Counter[str] = field(default_factory=Counter)
    f1: float = 0.0
    f1_without_label: float = 0.0


def diagnose_label(predictions: Sequence[TaggedPrediction], label: str) -> LabelDiagnosis:
    predicted = gold = 0
    exact_other_type: Counter[str] = Counter()
    without_label: list[list[str]] = []
    for prediction in predictions:
        gold_spans = tags_to_spans(prediction.gold)
        gold += sum(span.label == label for span in gold_spans)
        gold_types = {(span.start, span.end): span.label for span in gold_spans}
        kept = []
        for span in tags_to_spans(prediction.predicted):
            if span.label != label:
                kept.append(span)
                continue
            predicted += 1
            other = gold_types.get((span.start, span.end), label)
            if other != label:
                exact_other_type[other] += 1
        without_label.append(spans_to_tags(len(prediction.tokens), kept))
    return LabelDiagnosis(
        label,
        predicted,
        gold,
        exact_other_type,
        f1=score_predictions(predictions).f1,
        f1_without_label=score_tags([p.gold for p in predictions], without_label).f1,
    )


def diagnosis_table(rows: Sequence[tuple[str, int, LabelDiagnosis]]) -> str:
    """One line per (run name, seed), then the mean F1 with and without the label per name."""
    body = [
        [
            name,
            str(seed),
            str(d.predicted),
            str(d.gold),
            ", ".join(f"{t} {n}" for t, n in d.exact_other_type.most_common()) or "–",
            f"{d.f1:.2f}",
            f"{d.f1_without_label:.2f}",
        ]
        for name, seed, d in rows
    ]
    by_name: dict[str, list[LabelDiagnosis]] = defaultdict(list)
    for name, _, d in rows:
        by_name[name].append(d)
    for name, diagnoses in sorted(by_name.items()):
        body.append(
            [
                f"**{name}** mean",
                f"{len(diagnoses)} seeds",
                "",
                "",
                "",
                f"{statistics.fmean(d.f1 for d in diagnoses):.2f}",
                f"{statistics.fmean(d.f1_without_label for d in diagnoses):.2f}",
            ]
        )
    label = rows[0][2].label if rows else "label"
    header = [
        "run",
        "seed",
        f"predicted {label}",
        f"gold {label}",
        "exactly a gold mention of",
        "test F1",
        f"test F1 without predicted {label}",
    ]
    return format_table(header, body)


def main(argv: Sequence[str] | None = None) -> int:
    from hilgen.ensemble.selection import Selection, select_members

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", required=True, help="MLflow experiment of the runs")
    parser.add_argument("--label", required=True, help="entity label to follow, e.g. Disease")
    parser.add_argument("--models", nargs="*", default=[], help="run tags (default: all)")
    parser.add_argument("--augmenters", nargs="*", default=[], help="run tags (default: all)")
    add_tracking_uri_option(parser)
    args = parser.parse_args(argv)
    selection = Selection(args.experiment, models=args.models, augmenters=args.augmenters)
    with tempfile.TemporaryDirectory() as downloads:
        by_seed = select_members(args.tracking_uri, selection, Path(downloads))
    rows = [
        (member.name, seed, diagnose_label(member.test, args.label))
        for seed, members in by_seed.items()
        for member in members
    ]
    print(diagnosis_table(sorted(rows, key=lambda row: (row[0], row[1]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
