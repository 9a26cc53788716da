"""Paper-style results tables: run records in, tables (markdown, CSV) out.

Rows are augmenters, columns are models; a cell is the mean ± sd of a metric over seeds with
the number of seeds, the best mean of each column in bold. A second table gives each row's gain
over `none` (the few-shot sample alone) for the same model, averaged over the seeds both have,
with a paired test over those seeds; a third gives each ablation variant's gain over its own
default row (`hilgen [x=1]` against `hilgen`), which is what an ablation sweep asks. One table
per (dataset, shots, dev set): the dev set that chose the models is in every title, so full-dev
results are never mistaken for few-shot ones.
The logic is pure; `hilgen.reporting.report` reads MLflow and writes the files.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from hilgen.evaluate.tables import format_table, mean_sd

log = logging.getLogger(__name__)

BASELINE = "none"
# Rows in the paper's order; other augmenters follow alphabetically, ensembles last.
AUGMENTER_ORDER = (
    BASELINE,
    "umls_synonyms",
    "umls_related",
    "umls_parents_children",
    "umls_siblings",
    "umls_all",
    "hilgen",
    "gpt_related",
    "gpt_parents_children",
    "gpt_siblings",
    "zerogen",
)
ENSEMBLE_PREFIX = "ensemble_"
DEV_SET_TITLES = {
    "kshot": "dev: K-shot dev sample",
    "full": "dev: FULL dev split (not a few-shot protocol)",
}


@dataclass(frozen=True)
class RunRecord:
    """What a table needs from one finished run (its tags and metrics)."""

    run_id: str
    dataset: str
    augmenter: str
    model: str
    seed: int
    shots: str
    dev_set: str
    metrics: dict[str, float] = field(default_factory=dict)
    start_time: int = 0
    # The run's ablation variant (its non-default overrides); empty for a default run.
    variant: str = ""
    # An ensemble's member augmenters (`a+b`), set only where ensembles of one rule and model
    # were built over different member sets, so that each set keeps its own row.
    member_set: str = ""

    @property
    def row(self) -> str:
        augmenter = f"{self.augmenter} of {self.member_set}" if self.member_set else self.augmenter
        return row_label(augmenter, self.variant)


@dataclass(frozen=True)
class PairedTest:
    """The gain of a row over another (`none`, or a variant's default row) for one model, over
    the seeds both rows have."""

    gain: float
    n_pairs: int
    p_value: float | None
    test: str


@dataclass(frozen=True)
class Cell:
    values_by_seed: dict[int, float]

    @property
    def n(self) -> int:
        return len(self.values_by_seed)

    @property
    def mean(self) -> float:
        return mean_sd(list(self.values_by_seed.values()))[0]

    @property
    def sd(self) -> float | None:
        return mean_sd(list(self.values_by_seed.values()))[1]


@dataclass
class ReportTable:
    """One dataset/shots/dev-set group: cells by (augmenter, model), gains over `none`."""

    dataset: str
    shots: str
    dev_set: str
    metric: str
    augmenters: list[str]
    models: list[str]
    cells: dict[tuple[str, str], Cell]
    gains: dict[tuple[str, str], PairedTest]
    # Each variant row's gain over its default row (`hilgen [x=1]` over `hilgen`).
    variant_gains: dict[tuple[str, str], PairedTest] = field(default_factory=dict)

    @property
    def title(self) -> str:
        dev = DEV_SET_TITLES.get(self.dev_set, f"dev: {self.dev_set or 'unknown'}")
        return f"{self.metric} on {self.dataset}, {self.shots}-shot — {dev}"

    @property
    def slug(self) -> str:
        return f"{self.dataset}_{self.shots}shot_{self.dev_set or 'unknown'}dev"

    def best_augmenters(self, model: str) -> set[str]:
        """The rows with the highest mean in a column (all of them on a tie)."""
        means = {a: self.cells[a, model].mean for a in self.augmenters if (a, model) in self.cells}
        if not means:
            return set()
        top = max(means.values())
        return {a for a, m in means.items() if math.isclose(m, top)}

    def to_markdown(self) -> str:
        best = {model: self.best_augmenters(model) for model in self.models}
        rows = [
            [augmenter]
            + [
                _cell_text(self.cells.get((augmenter, m)), augmenter in best[m])
                for m in self.models
            ]
            for augmenter in self.augmenters
        ]
        parts = [
            f"### {self.title}",
            "",
            "mean ± sd over seeds (number of seeds); best of each column in bold",
            "",
            format_table(["augmenter", *self.models], rows),
        ]
        if self.gains:
            parts += self._gain_table(
                self.gains,
                [augmenter for augmenter in self.augmenters if augmenter != BASELINE],
                f"gain over `{BASELINE}` for the same model",
                "augmenter",
            )
        if self.variant_gains:
            parts += self._gain_table(
                self.variant_gains,
                [
                    augmenter
                    for augmenter in self.augmenters
                    if any((augmenter, m) in self.variant_gains for m in self.models)
                ],
                "gain of each variant over its default row (`hilgen [x=1]` over `hilgen`) "
                "for the same model",
                "variant",
            )
        return "\n".join(parts)

    def _gain_table(
        self,
        gains: dict[tuple[str, str], PairedTest],
        rows: Sequence[str],
        caption: str,
        first_column: str,
    ) -> list[str]:
        """Markdown lines of a table of paired gains: one line per row, one column per model."""
        table_rows = [
            [row] + [_gain_text(gains.get((row, m))) for m in self.models] for row in rows
        ]
        tests = ", ".join(sorted({gain.test for gain in gains.values()}))
        return [
            "",
            f"{caption}, mean over paired seeds (p: {tests}, two-sided; n: paired seeds)",
            "",
            format_table([first_column, *self.models], table_rows),
        ]

    def csv_rows(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for augmenter in self.augmenters:
            for model in self.models:
                cell = self.cells.get((augmenter, model))
                if cell is None:
                    continue
                gain = self.gains.get((augmenter, model))
                over_default = self.variant_gains.get((augmenter, model))
                rows.append(
                    {
                        "dataset": self.dataset,
                        "shots": self.shots,
                        "dev_set": self.dev_set,
                        "metric": self.metric,
                        "augmenter": augmenter,
                        "model": model,
                        "n_seeds": cell.n,
                        "mean": round(cell.mean, 4),
                        "sd": "" if cell.sd is None else round(cell.sd, 4),
                        "best_in_column": augmenter in self.best_augmenters(model),
                        "gain_over_none": "" if gain is None else round(gain.gain, 4),
                        "n_pairs": "" if gain is None else gain.n_pairs,
                        "p_value": "" if gain is None or gain.p_value is None else gain.p_value,
                        "test": "" if gain is None else gain.test,
                        **_default_columns(over_default),
                    }
                )
        return rows


CSV_COLUMNS = [
    "dataset",
    "shots",
    "dev_set",
    "metric",
    "augmenter",
    "model",
    "n_seeds",
    "mean",
    "sd",
    "best_in_column",
    "gain_over_none",
    "n_pairs",
    "p_value",
    "test",
    "gain_over_default",
    "default_n_pairs",
    "default_p_value",
]


def _default_columns(gain: PairedTest | None) -> dict[str, object]:
    """The CSV columns of a variant's gain over its default row (empty for other rows)."""
    if gain is None:
        return {"gain_over_default": "", "default_n_pairs": "", "default_p_value": ""}
    return {
        "gain_over_default": round(gain.gain, 4),
        "default_n_pairs": gain.n_pairs,
        "default_p_value": "" if gain.p_value is None else gain.p_value,
    }


def _cell_text(cell: Cell | None, best: bool) -> str:
    if cell is None:
        return "–"
    text = f"{cell.mean:.2f}" if cell.sd is None else f"{cell.mean:.2f} ± {cell.sd:.2f}"
    text += f" ({cell.n})"
    return f"**{text}**" if best else text


def _gain_text(gain: PairedTest | None) -> str:
    if gain is None:
        return "–"
    p = "n/a" if gain.p_value is None else f"{gain.p_value:.3f}"
    return f"{gain.gain:+.2f} (p={p}, n={gain.n_pairs})"


def sign_test(differences: Sequence[float]) -> float:
    """Two-sided exact sign test; ties (zero differences) are dropped."""
    nonzero = [d for d in differences if d != 0]
    n = len(nonzero)
    if n == 0:
        return 1.0
    smaller = min(sum(d > 0 for d in nonzero), sum(d < 0 for d in nonzero))
    tail = sum(math.comb(n, i) for i in range(smaller + 1)) / 2**n
    return min(1.0, 2 * tail)


def _scipy_ttest_rel() -> Callable[..., Any] | None:
    try:  # SciPy is optional (not a dependency): without it the report uses a sign test
        from scipy.stats import ttest_rel
    except ImportError:
        return None
    return ttest_rel


def paired_test(values: Sequence[float], baseline: Sequence[float]) -> PairedTest:
    """Gain of `values` over `baseline` (paired by seed), with a paired t-test if SciPy is
    installed, otherwise a sign test. The p-value is None where it is undefined."""
    differences = [v - b for v, b in zip(values, baseline, strict=True)]
    gain = statistics.fmean(differences) if differences else float("nan")
    ttest_rel = _scipy_ttest_rel()
    name = "sign test" if ttest_rel is None else "paired t-test"
    if len(differences) < 2:
        return PairedTest(gain, len(differences), None, name)
    if ttest_rel is None:
        return PairedTest(gain, len(differences), sign_test(differences), name)
    if len(set(differences)) == 1:  # no variance: the t statistic is undefined
        return PairedTest(gain, len(differences), None, name)
    p_value = float(ttest_rel(values, baseline).pvalue)
    return PairedTest(gain, len(differences), None if math.isnan(p_value) else p_value, name)


def row_label(augmenter: str, variant: str) -> str:
    """A table row: the augmenter, with its variant when there is one (`hilgen [x=1]`)."""
    return f"{augmenter} [{variant}]" if variant else augmenter


def split_row(row: str) -> tuple[str, str]:
    """(augmenter, variant) of a `row_label`."""
    augmenter, _, variant = row.partition(" [")
    return augmenter, variant.removesuffix("]")


def baseline_row(row: str) -> str:
    """The `none` row a row's gain is measured against: the same variant's where it exists
    (`hilgen [x]` against `none [x]`), else plain `none`."""
    return row_label(BASELINE, split_row(row)[1])


def latest_per_seed(records: Sequence[RunRecord]) -> list[RunRecord]:
    """One record per configuration and seed, the newest (a repeated sweep replaces the old)."""
    kept: dict[tuple[str, ...], RunRecord] = {}
    for record in sorted(records, key=lambda r: r.start_time, reverse=True):
        key = (
            record.dataset,
            record.shots,
            record.dev_set,
            record.row,
            record.model,
            str(record.seed),
        )
        kept.setdefault(key, record)
    return list(kept.values())


def augmenter_sort_key(row: str) -> tuple[int, int, str, str]:
    """Paper order, then other augmenters, then ensembles; variants after their augmenter."""
    augmenter, variant = split_row(row)
    if augmenter.startswith(ENSEMBLE_PREFIX):
        return (2, 0, augmenter, variant)
    if augmenter in AUGMENTER_ORDER:
        return (0, AUGMENTER_ORDER.index(augmenter), augmenter, variant)
    return (1, 0, augmenter, variant)


def build_tables(
    records: Sequence[RunRecord], metric: str = "test_f1", seeds: Collection[int] | None = None
) -> list[ReportTable]:
    """One table per (dataset, shots, dev_set) from the records that have `metric`, only of
    `seeds` when given: a 3-seed ablation is compared with the same seeds of a 5-seed table."""
    if seeds is not None:
        records = [r for r in records if r.seed in seeds]
    usable = [r for r in latest_per_seed(records) if metric in r.metrics]
    if len(usable) < len(records):
        log.info(
            "%d of %d runs are repeats or lack %s", len(records) - len(usable), len(records), metric
        )
    groups: dict[tuple[str, str, str], list[RunRecord]] = defaultdict(list)
    for record in usable:
        groups[record.dataset, record.shots, record.dev_set].append(record)
    tables: list[ReportTable] = []
    for (dataset, shots, dev_set), group in sorted(groups.items()):
        values: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        for record in group:
            values[record.row, record.model][record.seed] = record.metrics[metric]
        cells = {key: Cell(dict(sorted(by_seed.items()))) for key, by_seed in values.items()}
        augmenters = sorted({a for a, _ in cells}, key=augmenter_sort_key)
        models = sorted({m for _, m in cells})
        gains: dict[tuple[str, str], PairedTest] = {}
        variant_gains: dict[tuple[str, str], PairedTest] = {}
        for (augmenter, model), cell in cells.items():
            plain_augmenter, variant = split_row(augmenter)
            baseline = cells.get((baseline_row(augmenter), model)) or cells.get((BASELINE, model))
            if plain_augmenter != BASELINE and baseline is not None:
                _add_paired(gains, (augmenter, model), cell, baseline)
            default = cells.get((plain_augmenter, model))
            if variant and default is not None:
                _add_paired(variant_gains, (augmenter, model), cell, default)
        tables.append(
            ReportTable(
                dataset, shots, dev_set, metric, augmenters, models, cells, gains, variant_gains
            )
        )
    return tables


def _add_paired(
    gains: dict[tuple[str, str], PairedTest], key: tuple[str, str], cell: Cell, baseline: Cell
) -> None:
    """`gains[key]`: `cell` over `baseline` on the seeds both have (nothing if they share none)."""
    seeds = sorted(set(cell.values_by_seed) & set(baseline.values_by_seed))
    if seeds:
        gains[key] = paired_test(
            [cell.values_by_seed[s] for s in seeds], [baseline.values_by_seed[s] for s in seeds]
        )


def tables_markdown(tables: Sequence[ReportTable], experiment: str) -> str:
    body = "\n\n".join(table.to_markdown() for table in tables)
    return f"# Results of experiment `{experiment}`\n\n{body}\n"


def tables_csv(tables: Sequence[ReportTable]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for table in tables:
        writer.writerows(table.csv_rows())
    return buffer.getvalue()
