"""The run behind `ensemble.py`: select finished runs, combine them per seed, log the results.

Per seed: align the members' dev and test predictions, weight each member by its dev F1, let
the ensembler choose on dev, apply the choice to dev and test (and to the whole dev split, where
every member scored it: `full_dev_f1`, for comparing without the test set, as train runs do).
Then one MLflow run summarises the seeds (mean ± sd) and one child run per seed holds its
predictions and the IDs of its inputs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from hilgen.data.types import TaggedPrediction
from hilgen.evaluate.metrics import Scores, score_predictions
from hilgen.evaluate.prediction_files import write_predictions_conll, write_predictions_jsonl
from hilgen.evaluate.tables import format_table, mean_sd, scores_table
from hilgen.io import CONLL_SUFFIX, atomic_write_text
from hilgen.models.combine import Choice, Ensembler, align, dev_f1_weights
from hilgen.tracking.mlflow_tracking import Tracker, git_commit
from hilgen.tracking.selection import MemberRun, Selection, select_members
from hilgen.tracking.tagger_model import ModelLoadError, log_ensemble_model

log = logging.getLogger(__name__)


@dataclass
class SeedEnsemble:
    """One seed's ensemble: its members, the dev-chosen combination and its predictions."""

    seed: int
    members: list[MemberRun]
    weights: list[float]
    choice: Choice
    dev: list[TaggedPrediction]
    test: list[TaggedPrediction]
    dev_scores: Scores
    test_scores: Scores
    full_dev: list[TaggedPrediction] | None = None
    full_dev_scores: Scores | None = None

    @property
    def member_names(self) -> list[str]:
        return [m.name for m in self.members]

    def predictions_by_split(self) -> dict[str, list[TaggedPrediction]]:
        splits = {"dev": self.dev, "test": self.test}
        if self.full_dev is not None:
            splits["full_dev"] = self.full_dev
        return splits

    def scores_by_split(self) -> dict[str, Scores]:
        scores = {"dev": self.dev_scores, "test": self.test_scores}
        if self.full_dev_scores is not None:
            scores["full_dev"] = self.full_dev_scores
        return scores

    def best_member_by_dev(self) -> int:
        """The member a single-model selection on dev would pick (first of equals)."""
        return max(range(len(self.weights)), key=lambda i: (self.weights[i], -i))


def ensemble_seed(seed: int, members: Sequence[MemberRun], ensembler: Ensembler) -> SeedEnsemble:
    names = [f"{m.name} ({m.run_id[:8]})" for m in members]
    dev_members = align([m.dev for m in members], names)
    test_members = align([m.test for m in members], names)
    weights = dev_f1_weights(dev_members)
    if not any(weights):
        log.warning("seed %d: every member has dev F1 0; their votes count equally", seed)
    choice = ensembler.choose(dev_members, weights)
    dev = choice.apply(dev_members, weights)
    test = choice.apply(test_members, weights)
    full_dev = None
    full_dev_members = [m.full_dev for m in members if m.full_dev is not None]
    if len(full_dev_members) == len(members):
        full_dev = choice.apply(align(full_dev_members, names), weights)
    elif full_dev_members:
        log.info("seed %d: not every member scored the whole dev split: no full_dev F1", seed)
    return SeedEnsemble(
        seed,
        list(members),
        weights,
        choice,
        dev,
        test,
        score_predictions(dev),
        score_predictions(test),
        full_dev,
        score_predictions(full_dev) if full_dev is not None else None,
    )


def summary_table(results: Sequence[SeedEnsemble]) -> str:
    """Per seed: the chosen combination, its dev and test F1 (strict, and IO as the paper scores),
    and the best member on dev."""
    rows: list[list[object]] = []
    member_f1: list[float] = []
    for result in results:
        best = result.best_member_by_dev()
        member_f1.append(result.members[best].metrics.get("test_f1", float("nan")))
        rows.append(
            [
                result.seed,
                result.choice.describe(result.member_names),
                result.dev_scores.f1,
                result.test_scores.f1,
                result.test_scores.io_f1,
                result.member_names[best],
                member_f1[-1],
            ]
        )
    test_mean, test_sd = mean_sd([r.test_scores.f1 for r in results])
    io_mean, io_sd = mean_sd([r.test_scores.io_f1 for r in results])
    member_mean, member_sd = mean_sd(member_f1)
    rows.append(
        [
            "mean ± sd",
            f"{len(results)} seeds",
            "",
            _pm(test_mean, test_sd),
            _pm(io_mean, io_sd),
            "",
            _pm(member_mean, member_sd),
        ]
    )
    headers = [
        "seed",
        "combination (chosen on dev)",
        "dev F1",
        "test F1",
        "test IO F1",
        "best member on dev",
        "its test F1",
    ]
    return format_table(headers, rows)


def _pm(mean: float, sd: float | None) -> str:
    return f"{mean:.2f} ± {sd:.2f}" if sd is not None else f"{mean:.2f}"


def write_seed_outputs(result: SeedEnsemble, directory: Path) -> None:
    for split, predictions in result.predictions_by_split().items():
        write_predictions_jsonl(directory / "predictions" / f"{split}.jsonl", predictions)
        write_predictions_conll(directory / "predictions" / f"{split}{CONLL_SUFFIX}", predictions)
    inputs = [
        {
            "run_id": member.run_id,
            "name": member.name,
            "dev_f1_weight": weight,
            "chosen": i in result.choice.member_indices,
            "test_f1": member.metrics.get("test_f1"),
        }
        for i, (member, weight) in enumerate(zip(result.members, result.weights, strict=True))
    ]
    atomic_write_text(directory / "inputs.json", json.dumps(inputs, indent=2) + "\n")
    table = scores_table(result.scores_by_split())
    atomic_write_text(directory / "results.md", table + "\n")


def log_seed_model(tracker: Tracker, result: SeedEnsemble) -> None:
    """The seed's ensemble as the active run's model: the chosen members' logged models and
    the rule chosen on dev (`tracking.log_model`); skipped, with a warning, when a member has
    no logged model (a run older than model logging, or one with tracking.log_model=false)."""
    if not (tracker.enabled and tracker.log_model):
        return
    chosen = result.choice.member_indices
    try:
        metrics = log_ensemble_model(
            [result.members[i].run_id for i in chosen],
            [result.members[i].name for i in chosen],
            result.choice.rule,
            [result.weights[i] for i in chosen],
            tracker.register_model,
        )
    except ModelLoadError as error:
        log.warning("seed %d: no ensemble model is logged: %s", result.seed, error)
        return
    tracker.log_metrics(metrics)


def run_ensembles(cfg: DictConfig) -> dict[str, float]:
    """Combine the selected runs seed by seed; return the summary metrics."""
    output_dir = Path(cfg.paths.output_dir)
    selection: Selection = instantiate(cfg.select)
    ensembler: Ensembler = instantiate(cfg.ensemble)
    tracker: Tracker = instantiate(cfg.tracking)
    by_seed = select_members(tracker.tracking_uri, selection, output_dir / "inputs")
    results = [ensemble_seed(seed, members, ensembler) for seed, members in by_seed.items()]
    for result in results:
        write_seed_outputs(result, output_dir / f"seed{result.seed}")
    table = summary_table(results)
    atomic_write_text(output_dir / "summary.md", table + "\n")

    first = results[0].members[0].tags
    models = sorted({m.tags.get("model", "") for r in results for m in r.members})
    augmenters = sorted({m.tags.get("augmenter", "") for r in results for m in r.members})
    tags = {
        "dataset": first.get("dataset", ""),
        "shots": first.get("shots", ""),
        "dev_set": first.get("dev_set", ""),
        # In the report an ensemble is a row (like the paper's Best-Ensemble) under the column of
        # its members' model.
        "augmenter": f"ensemble_{ensembler.name}",
        "model": "+".join(models),
        "hilgen.ensemble.augmenters": "+".join(augmenters),
        "git_commit": git_commit(Path(cfg.paths.root_dir)),
    }
    if selection.mixes_variants():
        # members of different settings: a row of its own, named by them
        tags["variant"] = "members=" + "+".join(sorted(selection.member_names()))
    elif selection.variant:
        # the members' ablation variant: the ensemble's row sits beside theirs, not the default's
        tags["variant"] = selection.variant
    test_mean, test_sd = mean_sd([r.test_scores.f1 for r in results])
    io_mean, io_sd = mean_sd([r.test_scores.io_f1 for r in results])
    summary = {
        "test_f1_mean": test_mean,
        "test_io_f1_mean": io_mean,
        "n_seeds": float(len(results)),
    }
    if test_sd is not None and io_sd is not None:
        summary["test_f1_sd"] = test_sd
        summary["test_io_f1_sd"] = io_sd

    if tracker.enabled:
        tracker.setup()
    name = f"{tags['dataset']}/ensemble_{ensembler.name}"
    summary_tags = tags | {
        "hilgen.role": "ensemble_summary",
        "hilgen.ensemble.inputs": ",".join(m.run_id for r in results for m in r.members),
    }
    with tracker.run(name, summary_tags) as active:
        tracker.log_config(cfg)
        tracker.log_metrics(summary)
        tracker.log_artifact(output_dir / "summary.md")
        parent_id = active.info.run_id if active is not None else None
    for result in results:
        seed_tags = tags | {
            "seed": str(result.seed),
            "hilgen.role": "ensemble",
            "hilgen.ensemble.inputs": ",".join(m.run_id for m in result.members),
            "hilgen.ensemble.chosen": result.choice.describe(result.member_names)[:5000],
        }
        with tracker.run(f"{name}/seed{result.seed}", seed_tags, parent_run_id=parent_id):
            tracker.log_config(cfg)
            seed_dir = output_dir / f"seed{result.seed}"
            split_metrics = {
                key: value
                for split, scores in result.scores_by_split().items()
                for key, value in scores.as_metrics(split).items()
            }
            tracker.log_metrics(
                split_metrics
                | {"n_members": len(result.members), "n_chosen": len(result.choice.member_indices)}
            )
            tracker.log_artifact(seed_dir / "predictions")
            tracker.log_artifact(seed_dir / "inputs.json")
            tracker.log_artifact(seed_dir / "results.md")
            log_seed_model(tracker, result)
    print(f"\n{name} ({tags['dev_set']} dev)\n{table}\n")
    return summary
