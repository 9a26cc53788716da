"""Charts of report tables: a metric by augmenter, one bar per model, sd over seeds as error bars.

Rendered with matplotlib's Agg backend, so it works on servers and in CI without a display.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from hilgen.io import atomic_write_bytes  # noqa: E402

if TYPE_CHECKING:
    from hilgen.reporting.report_tables import ReportTable


def plot_table(table: ReportTable, path: Path) -> None:
    """A grouped bar chart of `table` written (atomically) as PNG to `path`."""
    n_models = max(len(table.models), 1)
    width = 0.8 / n_models
    figure, axes = plt.subplots(figsize=(max(6.0, 1.2 * len(table.augmenters) + 2), 4.5))
    try:
        for index, model in enumerate(table.models):
            positions, means, errors = [], [], []
            for row, augmenter in enumerate(table.augmenters):
                cell = table.cells.get((augmenter, model))
                if cell is None:
                    continue
                positions.append(row - 0.4 + width * (index + 0.5))
                means.append(cell.mean)
                errors.append(cell.sd or 0.0)
            axes.bar(positions, means, width, yerr=errors, capsize=3, label=model)
        axes.set_xticks(range(len(table.augmenters)))
        axes.set_xticklabels(table.augmenters, rotation=30, ha="right")
        axes.set_ylabel(f"{table.metric} (%)")
        axes.set_title(table.title, fontsize=10)
        axes.legend(title="model")
        axes.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=120)
    finally:
        plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
