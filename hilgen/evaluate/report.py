"""Paper-style results tables from the runs of an MLflow experiment.

Rows are augmenters, columns are models; a cell is the mean ± sd of a metric over seeds with
the number of seeds, the best mean of each column in bold. A second table gives each row's gain
over `none` (the few-shot sample alone) for the same model, averaged over the seeds both have,
with a paired test over those seeds. One table per (dataset, shots, dev set): the dev set that
chose the models is in every title, so full-dev results are never mistaken for few-shot ones.

    python -m hilgen.evaluate.report --experiment table2-ncbi_disease

The table logic is pure (run records in, tables out); reading MLflow and writing files happen in
`main` only.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import os
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hilgen.evaluate.plots import plot_table
from hilgen.evaluate.tables import format_table
from hilgen.io import atomic_write_text

if TYPE_CHECKING:
    from mlflow.entities import Run

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
    """The gain of a row over `none` for one model, over the seeds both rows have."""

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
            gain_rows = [
                [augmenter] + [_gain_text(self.gains.get((augmenter, m))) for m in self.models]
                for augmenter in self.augmenters
                if augmenter != BASELINE
            ]
            tests = sorted({g.test for g in self.gains.values()})
            parts += [
                "",
                f"gain over `{BASELINE}` for the same model, mean over paired seeds "
                f"(p: {', '.join(tests)}, two-sided; n: paired seeds)",
                "",
                format_table(["augmenter", *self.models], gain_rows),
            ]
        return "\n".join(parts)

    def csv_rows(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for augmenter in self.augmenters:
            for model in self.models:
                cell = self.cells.get((augmenter, model))
                if cell is None:
                    continue
                gain = self.gains.get((augmenter, model))
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
]


def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for fewer than two values)."""
    if not values:
        raise ValueError("mean of no values")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


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
    try:
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
        for (augmenter, model), cell in cells.items():
            baseline = cells.get((baseline_row(augmenter), model)) or cells.get((BASELINE, model))
            if split_row(augmenter)[0] == BASELINE or baseline is None:
                continue
            seeds = sorted(set(cell.values_by_seed) & set(baseline.values_by_seed))
            if seeds:
                gains[augmenter, model] = paired_test(
                    [cell.values_by_seed[s] for s in seeds],
                    [baseline.values_by_seed[s] for s in seeds],
                )
        tables.append(
            ReportTable(dataset, shots, dev_set, metric, augmenters, models, cells, gains)
        )
    return tables


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


def write_report(tables: Sequence[ReportTable], experiment: str, out_dir: Path) -> list[Path]:
    """report.md, report.csv and one chart per table; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.md", out_dir / "report.csv"]
    atomic_write_text(written[0], tables_markdown(tables, experiment))
    atomic_write_text(written[1], tables_csv(tables))
    for table in tables:
        chart = out_dir / f"{table.slug}_{table.metric}.png"
        plot_table(table, chart)
        written.append(chart)
    return written


def records_from_runs(runs: Sequence[Run]) -> list[RunRecord]:
    """Records of finished train and ensemble runs; sweep parents, summaries and reports are
    skipped (they carry another `hilgen.role`). Ensembles of one rule and model built over
    different member augmenters (e.g. over hilgen BERT + DANN, and over the five KB augmenters'
    DANN runs) get a row per member set instead of the newest replacing the others."""
    records: list[RunRecord] = []
    members_of_run: dict[str, str] = {}
    for run in runs:
        tags = run.data.tags
        if tags.get("hilgen.role", "ensemble") != "ensemble" or "seed" not in tags:
            continue
        if tags.get("hilgen.role") == "ensemble":
            members_of_run[run.info.run_id] = tags.get("hilgen.ensemble.augmenters", "")
        records.append(
            RunRecord(
                run_id=run.info.run_id,
                dataset=tags.get("dataset", ""),
                augmenter=tags.get("augmenter", ""),
                model=tags.get("model", ""),
                seed=int(tags["seed"]),
                shots=tags.get("shots", ""),
                dev_set=tags.get("dev_set", ""),
                metrics=dict(run.data.metrics),
                start_time=run.info.start_time or 0,
                variant=tags.get("variant", ""),
            )
        )
    member_sets: defaultdict[tuple[str, ...], set[str]] = defaultdict(set)
    for record in records:
        if record.run_id in members_of_run:
            member_sets[ensemble_kind(record)].add(members_of_run[record.run_id])
    return [
        replace(record, member_set=members_of_run[record.run_id])
        if record.run_id in members_of_run and len(member_sets[ensemble_kind(record)]) > 1
        else record
        for record in records
    ]


def ensemble_kind(record: RunRecord) -> tuple[str, ...]:
    """What makes two ensemble runs the same table row but for their members."""
    return (
        record.dataset,
        record.shots,
        record.dev_set,
        record.augmenter,
        record.model,
        record.variant,
    )


def fetch_records(tracking_uri: str, experiment: str) -> list[RunRecord]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise SystemExit(f"error: no MLflow experiment {experiment!r} at {tracking_uri}")
    runs: list[Run] = []
    page_token: str | None = None
    while True:
        page = client.search_runs(
            [found.experiment_id], "attributes.status = 'FINISHED'", page_token=page_token
        )
        runs.extend(page)
        page_token = page.token
        if not page_token:
            return records_from_runs(runs)


def project_root() -> Path:
    return Path(os.environ.get("HILGEN_ROOT", "."))


def add_tracking_uri_option(parser: argparse.ArgumentParser) -> None:
    """`--tracking-uri`, by default the project's own store (`mlruns/mlflow.db`), for the
    command-line readers of finished runs."""
    parser.add_argument(
        "--tracking-uri",
        default=f"sqlite:///{(project_root() / 'mlruns' / 'mlflow.db').resolve()}",
    )


def main(argv: Sequence[str] | None = None) -> int:
    root = project_root()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", required=True, help="MLflow experiment to report on")
    add_tracking_uri_option(parser)
    parser.add_argument(
        "--artifact-root",
        default=str(root / "mlruns" / "artifacts"),
        help="where MLflow stores artifacts of a new experiment (as tracking.artifact_root)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default outputs/report/<exp>)")
    parser.add_argument(
        "--metric",
        default="test_f1",
        help="metric of a cell: test_f1 (strict IOB2), test_io_f1 (IO, the paper's scoring), ...",
    )
    parser.add_argument("--no-log", action="store_true", help="do not log a report run")
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="only runs of these seeds (default: every seed)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    records = fetch_records(args.tracking_uri, args.experiment)
    tables = build_tables(records, args.metric, args.seeds)
    if not tables:
        of_seeds = f" of seeds {args.seeds}" if args.seeds else ""
        print(
            f"error: no finished runs{of_seeds} with {args.metric} in {args.experiment}",
            file=sys.stderr,
        )
        return 1
    out_dir = args.out or root / "outputs" / "report" / args.experiment
    written = write_report(tables, args.experiment, out_dir)
    print(tables_markdown(tables, args.experiment))
    if not args.no_log:
        from hilgen.tracking.mlflow_tracking import Tracker

        tracker = Tracker(args.tracking_uri, args.experiment, args.artifact_root)
        tracker.setup()
        with tracker.run(f"report {args.metric}", {"hilgen.role": "report"}):
            tracker.log_metrics({"n_tables": len(tables)})
            for path in written:
                tracker.log_artifact(path, "report")
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
