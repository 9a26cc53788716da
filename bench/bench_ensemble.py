"""Benchmark: each ensemble rule against its best single member, over the seeds of an experiment.

Reads the finished train runs of an MLflow experiment (a sweep of train.py), combines each
seed's runs with every config in conf/ensemble (through Hydra, as ensemble.py does; nothing is
logged), and compares the ensemble's test F1 with that of the member a single-model selection
on dev would pick, and with the best member on test (an oracle, for reference only: no honest
protocol can pick it).

    .venv/bin/python bench/bench_ensemble.py --experiment table2-ncbi_disease \
        [--tracking-uri sqlite:///mlruns/mlflow.db] [--dataset D] [--models bert dann]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from hilgen.ensemble.runner import SeedEnsemble, ensemble_seed  # noqa: E402
from hilgen.evaluate.tables import format_table, mean_sd  # noqa: E402
from hilgen.models.combine import Ensembler  # noqa: E402
from hilgen.tracking.selection import Selection, select_members  # noqa: E402


def ensemblers() -> dict[str, Ensembler]:
    """Every conf/ensemble option, instantiated from the real configs."""
    conf = ROOT / "conf"
    built: dict[str, Ensembler] = {}
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        for path in sorted((conf / "ensemble").glob("*.yaml")):
            cfg = compose("ensemble", overrides=[f"ensemble={path.stem}"])
            built[path.stem] = instantiate(cfg.ensemble)
    return built


def pm(values: list[float]) -> str:
    mean, sd = mean_sd(values)
    return f"{mean:.2f}" if sd is None else f"{mean:.2f} ± {sd:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--tracking-uri", default=f"sqlite:///{ROOT / 'mlruns' / 'mlflow.db'}")
    parser.add_argument("--dataset")
    parser.add_argument("--models", nargs="*", default=[])
    parser.add_argument("--augmenters", nargs="*", default=[])
    args = parser.parse_args()

    selection = Selection(
        args.experiment, dataset=args.dataset, models=args.models, augmenters=args.augmenters
    )
    with tempfile.TemporaryDirectory() as downloads:
        by_seed = select_members(args.tracking_uri, selection, Path(downloads))
    n_members = sorted({len(members) for members in by_seed.values()})
    print(
        f"\n{args.experiment}: {len(by_seed)} seeds, {'/'.join(map(str, n_members))} runs per "
        f"seed; test F1 (%), mean ± sd over seeds\n"
    )
    rows: list[list[object]] = []
    for name, ensembler in ensemblers().items():
        started = time.perf_counter()
        try:
            results: list[SeedEnsemble] = [
                ensemble_seed(seed, members, ensembler) for seed, members in by_seed.items()
            ]
        except ValueError as error:  # e.g. best needs at least two runs per seed
            rows.append([name, f"n/a: {error}", "", "", "", "", ""])
            continue
        seconds = time.perf_counter() - started
        ensemble_f1 = [r.test_scores.f1 for r in results]
        chosen_member_f1 = [
            r.members[r.best_member_by_dev()].metrics.get("test_f1", float("nan")) for r in results
        ]
        oracle_f1 = [
            max(m.metrics.get("test_f1", float("nan")) for m in r.members) for r in results
        ]
        gains = [e - m for e, m in zip(ensemble_f1, chosen_member_f1, strict=True)]
        wins = sum(g > 0 for g in gains)
        rows.append(
            [
                name,
                pm(ensemble_f1),
                pm(chosen_member_f1),
                pm(gains),
                f"{wins}/{len(gains)}",
                pm(oracle_f1),
                f"{seconds:.2f}",
            ]
        )
    headers = [
        "ensemble",
        "ensemble test F1",
        "best member on dev: test F1",
        "gain",
        "seeds won",
        "oracle member (test)",
        "combine s",
    ]
    print(format_table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
