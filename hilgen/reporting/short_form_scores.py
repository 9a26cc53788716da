"""How runs score on mentions written as short forms ("DMD", "5-FU") apart from the rest.

Corpora differ in this: 32% of NCBI-Disease's test mentions are short forms, 5.5% of ADE's.
An augmenter can move the two apart (substitution writes long KB names into the slots, negatives
can put gene symbols there tagged O), and one F1 hides it. A span is a short form when
`looks_like_abbreviation` says so of its tokens, gold and predicted spans alike; a predicted
span counts as correct when a gold span has its extent and label (strict, as seqeval's IOB2).
Reads the `predictions/<split>.jsonl` a run writes; several files (one per seed) give a mean:

    python -m hilgen.reporting.short_form_scores outputs/<run>/predictions/test.jsonl ...

Results: docs/generality.md#gene-symbols-as-negatives
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hilgen.data.iob import tags_to_spans
from hilgen.data.types import TaggedPrediction
from hilgen.evaluate.prediction_files import read_predictions_jsonl
from hilgen.evaluate.tables import format_table, mean_sd
from hilgen.kb.names import looks_like_abbreviation

SHAPES = ("short form", "other")


@dataclass
class ShapeCounts:
    """Exact-match counts of one shape of mention."""

    gold: int = 0
    predicted: int = 0
    correct_gold: int = 0
    correct_predicted: int = 0

    @property
    def recall(self) -> float:
        return 100 * self.correct_gold / self.gold if self.gold else float("nan")

    @property
    def precision(self) -> float:
        return 100 * self.correct_predicted / self.predicted if self.predicted else float("nan")

    @property
    def f1(self) -> float:
        total = self.gold + self.predicted
        return 100 * (self.correct_gold + self.correct_predicted) / total if total else float("nan")


def shape_of(tokens: Sequence[str]) -> str:
    return SHAPES[0] if looks_like_abbreviation(tokens) else SHAPES[1]


def short_form_counts(predictions: Sequence[TaggedPrediction]) -> dict[str, ShapeCounts]:
    """Gold and predicted spans per shape, and how many of each are matched exactly."""
    counts = {shape: ShapeCounts() for shape in SHAPES}
    for prediction in predictions:
        gold = set(tags_to_spans(prediction.gold))
        predicted = set(tags_to_spans(prediction.predicted))
        for span in gold:
            shape = counts[shape_of(prediction.tokens[span.start : span.end])]
            shape.gold += 1
            shape.correct_gold += span in predicted
        for span in predicted:
            shape = counts[shape_of(prediction.tokens[span.start : span.end])]
            shape.predicted += 1
            shape.correct_predicted += span in gold
    return counts


def shape_table(counts_by_file: Sequence[tuple[str, dict[str, ShapeCounts]]]) -> str:
    """One row per file, then mean ± sd over files (when there are several); a file with no
    span of a shape (its precision undefined) is left out of that shape's mean."""
    rows: list[list[object]] = []
    columns = [
        (shape, attribute) for shape in SHAPES for attribute in ("recall", "precision", "f1")
    ]
    for name, counts in counts_by_file:
        share = 100 * counts[SHAPES[0]].gold / max(1, sum(c.gold for c in counts.values()))
        row: list[object] = [name, f"{share:.1f}"]
        row += [f"{getattr(counts[shape], attribute):.2f}" for shape, attribute in columns]
        rows.append(row)
    if len(counts_by_file) > 1:
        mean: list[object] = ["mean", ""]
        for shape, attribute in columns:
            values = [getattr(counts[shape], attribute) for _, counts in counts_by_file]
            defined = [value for value in values if not math.isnan(value)]
            mean.append(_mean_cell(defined))
        rows.append(mean)
    headers = ["predictions", "short-form share of gold %"]
    headers += [f"{shape} {attribute}" for shape, attribute in columns]
    return format_table(headers, rows)


def _mean_cell(values: Sequence[float]) -> str:
    if not values:
        return "nan"
    mean, sd = mean_sd(values)
    return f"{mean:.2f}" if sd is None else f"{mean:.2f} ± {sd:.2f}"


def _run_name(path: Path) -> str:
    """`<run dir>/<split>` for a run's `predictions/<split>.jsonl`, else the path as given."""
    if path.parent.name == "predictions":
        return f"{path.parent.parent.name}/{path.stem}"
    return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the short-form / other table of one or more predictions files."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", type=Path, nargs="+", help="predictions/<split>.jsonl")
    args = parser.parse_args(argv)
    counts_by_file = []
    for path in args.predictions:
        try:
            counts = short_form_counts(read_predictions_jsonl(path))
        except (OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        counts_by_file.append((_run_name(path), counts))
    print(shape_table(counts_by_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
