"""Paper-style results tables from the runs of an MLflow experiment, as markdown, CSV and charts.

    python -m hilgen.reporting.report --experiment table2-ncbi_disease

The table logic is pure (`hilgen.reporting.report_tables`: run records in, tables out); reading
MLflow and writing files happen here.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from hilgen.io import atomic_write_text
from hilgen.reporting.plots import plot_table
from hilgen.reporting.report_tables import (
    ReportTable,
    RunRecord,
    build_tables,
    tables_csv,
    tables_markdown,
)
from hilgen.tracking.mlflow_tracking import Tracker
from hilgen.tracking.selection import finished_runs

if TYPE_CHECKING:
    from hilgen.tracking.selection import Run


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
    return records_from_runs(finished_runs(tracking_uri, experiment))


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
