"""Results tables that people read in the terminal and in MLflow."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from hilgen.evaluate.metrics import Scores


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def scores_table(scores_by_split: dict[str, Scores]) -> str:
    """Micro and per-type strict P/R/F1 for each evaluated split, and the micro IO F1 (the
    paper's scoring) beside them."""
    rows: list[list[object]] = []
    for split, scores in scores_by_split.items():
        rows.append(
            [
                split,
                "micro",
                scores.precision,
                scores.recall,
                scores.f1,
                scores.io_f1,
                scores.n_gold,
                scores.n_predicted,
            ]
        )
        for label, per in sorted(scores.per_type.items()):
            rows.append([split, label, per.precision, per.recall, per.f1, "", per.support, ""])
    return format_table(["split", "type", "P", "R", "F1", "IO F1", "gold", "predicted"], rows)


def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for fewer than two values)."""
    if not values:
        raise ValueError("mean of no values")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None
