"""Where one entity label's predictions go, and what they cost, per finished run.

A diagnostic read from the test predictions with their gold tags, never a method: it says how
many spans a run predicts with a label, how many of those are exactly a gold mention of another
type, and the run's test F1 with that label's predicted spans set to O. It tells whether a
label's over-prediction is what holds a gain down (README "Results", DANN on NCBI 4-type):

    python -m hilgen.reporting.label_diagnosis --experiment table2-ncbi_disease \\
        --label CompositeMention --models dann --augmenters none hilgen

`--types` instead tells finding from typing: each run's F1 with every label counted as one, and
how many of its spans with a gold mention's exact boundaries carry that mention's type.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hilgen.data.iob import OUTSIDE, spans_to_tags, split_tag, tags_to_spans
from hilgen.data.types import TaggedPrediction
from hilgen.evaluate.metrics import score_predictions, score_tags
from hilgen.evaluate.tables import format_table
from hilgen.reporting.report import add_tracking_uri_option
from hilgen.tracking.selection import Selection, select_members


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


@dataclass(frozen=True)
class TypeDiagnosis:
    """One run's test predictions: the entities it finds against the types it gives them."""

    f1: float
    # every label counted as one: boundaries alone
    untyped_f1: float
    # (gold type, predicted type) of each predicted span with a gold mention's exact boundaries
    confusion: Counter[tuple[str, str]]

    @property
    def matched(self) -> int:
        return sum(self.confusion.values())

    @property
    def right_type(self) -> int:
        return sum(n for (gold, predicted), n in self.confusion.items() if gold == predicted)


def untyped(tags: Sequence[str]) -> list[str]:
    return [tag if tag == OUTSIDE else f"{split_tag(tag)[0]}-ENTITY" for tag in tags]


def diagnose_types(predictions: Sequence[TaggedPrediction]) -> TypeDiagnosis:
    confusion: Counter[tuple[str, str]] = Counter()
    for prediction in predictions:
        gold_types = {(s.start, s.end): s.label for s in tags_to_spans(prediction.gold)}
        for span in tags_to_spans(prediction.predicted):
            if (span.start, span.end) in gold_types:
                confusion[gold_types[span.start, span.end], span.label] += 1
    return TypeDiagnosis(
        score_predictions(predictions).f1,
        score_tags(
            [untyped(p.gold) for p in predictions], [untyped(p.predicted) for p in predictions]
        ).f1,
        confusion,
    )


def types_table(rows: Sequence[tuple[str, int, TypeDiagnosis]]) -> str:
    """One line per (run name, seed), then per name the mean F1s and the seeds' spans summed."""

    def line(name: str, seed: str, d: TypeDiagnosis) -> list[str]:
        wrong = Counter({pair: n for pair, n in d.confusion.items() if pair[0] != pair[1]})
        return [
            name,
            seed,
            f"{d.f1:.2f}",
            f"{d.untyped_f1:.2f}",
            str(d.matched),
            f"{100 * d.right_type / d.matched:.0f}%" if d.matched else "–",
            ", ".join(f"{g} as {p} {n}" for (g, p), n in wrong.most_common(3)) or "–",
        ]

    body = [line(name, str(seed), d) for name, seed, d in rows]
    by_name: dict[str, list[TypeDiagnosis]] = defaultdict(list)
    for name, _, d in rows:
        by_name[name].append(d)
    for name, diagnoses in sorted(by_name.items()):
        mean = TypeDiagnosis(
            statistics.fmean(d.f1 for d in diagnoses),
            statistics.fmean(d.untyped_f1 for d in diagnoses),
            sum((d.confusion for d in diagnoses), Counter()),
        )
        body.append(line(f"**{name}** mean", f"{len(diagnoses)} seeds", mean))
    header = [
        "run",
        "seed",
        "test F1",
        "untyped F1",
        "spans with gold boundaries",
        "with its type",
        "most common wrong types (gold as predicted)",
    ]
    return format_table(header, body)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", required=True, help="MLflow experiment of the runs")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--label", help="entity label to follow, e.g. Disease")
    what.add_argument("--types", action="store_true", help="finding against typing, all labels")
    parser.add_argument("--models", nargs="*", default=[], help="run tags (default: all)")
    parser.add_argument("--augmenters", nargs="*", default=[], help="run tags (default: all)")
    parser.add_argument(
        "--variant", default="", help="ablation variant tag, e.g. model.typing=classifier"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[], help="only runs of these seeds (default: all)"
    )
    add_tracking_uri_option(parser)
    args = parser.parse_args(argv)
    selection = Selection(
        args.experiment,
        models=args.models,
        augmenters=args.augmenters,
        seeds=args.seeds,
        variant=args.variant,
    )
    with tempfile.TemporaryDirectory() as downloads:
        by_seed = select_members(args.tracking_uri, selection, Path(downloads))
    runs = sorted(
        (
            (member.name, seed, member.test)
            for seed, members in by_seed.items()
            for member in members
        ),
        key=lambda run: (run[0], run[1]),
    )
    if args.types:
        print(types_table([(name, seed, diagnose_types(test)) for name, seed, test in runs]))
    else:
        label_rows = [(name, seed, diagnose_label(test, args.label)) for name, seed, test in runs]
        print(diagnosis_table(label_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
