"""Which finished runs an ensemble combines: an MLflow query, their prediction files, by seed.

Train runs carry the tags `dataset`, `augmenter`, `model`, `seed`, `shots` and `dev_set`; sweep
parents, ensembles and reports carry `hilgen.role` and are never inputs. MLflow's filter language
has no `IN` for tags, so lists of models, augmenters and seeds are matched here.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mlflow.entities import Run
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
from mlflow.tracking import MlflowClient
from tqdm import tqdm

from hilgen.data.types import TaggedPrediction
from hilgen.evaluate.prediction_files import read_predictions_jsonl

log = logging.getLogger(__name__)

ROLE_TAG = "hilgen.role"
# The tags that make one run comparable to another (same data, same protocol).
PROTOCOL_TAGS = ("dataset", "shots", "dev_set")


@dataclass(frozen=True)
class Selection:
    """The query behind an ensemble; empty lists match everything.

    `models` x `augmenters` is a grid; `members` names exact `augmenter/model` pairs where a
    grid would take too much (e.g. the LLM tagger without augmentation and DANN with it).
    `variant` picks the ablation variant (the `variant` tag; empty = runs with default settings),
    so that an ablation in the same experiment never joins an ensemble unasked. A member may
    name its own variant, `augmenter/model[variant]` (e.g. `hilgen/dann[model.head=crf]`
    beside `hilgen/bert`), to combine runs of different settings.
    """

    experiment: str
    dataset: str | None = None
    models: Sequence[str] = ()
    augmenters: Sequence[str] = ()
    members: Sequence[str] = ()
    seeds: Sequence[int] = ()
    shots: int | None = None
    filter: str | None = None
    variant: str = ""

    def filter_string(self) -> str:
        """The part of the query MLflow can evaluate (equality on single values)."""
        clauses = ["attributes.status = 'FINISHED'"]
        if self.dataset:
            clauses.append(f"tags.dataset = '{self.dataset}'")
        if self.shots is not None:
            clauses.append(f"tags.shots = '{self.shots}'")
        if self.filter:
            clauses.append(self.filter)
        return " and ".join(clauses)

    def member_names(self) -> set[str]:
        """`members` as `member_name`s: a pair without a variant of its own takes `variant`."""
        suffix = f"[{self.variant}]" if self.variant else ""
        return {m if m.endswith("]") else m + suffix for m in self.members}

    def mixes_variants(self) -> bool:
        """Whether members name variants of their own (the ensemble is then no one variant's)."""
        return any(m.endswith("]") for m in self.members)

    def matches(self, tags: dict[str, str]) -> bool:
        """The list conditions, and that the run is a train run (not a sweep or ensemble)."""
        return (
            ROLE_TAG not in tags
            and "seed" in tags
            and (not self.models or tags.get("model") in set(self.models))
            and (not self.augmenters or tags.get("augmenter") in set(self.augmenters))
            and (not self.seeds or tags.get("seed") in {str(s) for s in self.seeds})
            and (
                member_name(tags) in self.member_names()
                if self.members
                else tags.get("variant", "") == self.variant
            )
        )


def member_name(tags: dict[str, str]) -> str:
    """`augmenter/model`, with `[variant]` after it for a run of an ablation variant."""
    variant = tags.get("variant", "")
    return f"{tags.get('augmenter', '?')}/{tags.get('model', '?')}" + (
        f"[{variant}]" if variant else ""
    )


@dataclass
class MemberRun:
    """One finished train run with its saved predictions on dev and test (and on the whole dev
    split, `full_dev`, where the run scored it)."""

    run_id: str
    tags: dict[str, str]
    metrics: dict[str, float]
    dev: list[TaggedPrediction] = field(default_factory=list)
    test: list[TaggedPrediction] = field(default_factory=list)
    full_dev: list[TaggedPrediction] | None = None

    @property
    def name(self) -> str:
        return member_name(self.tags)

    @property
    def seed(self) -> int:
        return int(self.tags["seed"])


def find_runs(client: MlflowClient, selection: Selection) -> list[Run]:
    """The selected finished train runs, newest first."""
    experiment = client.get_experiment_by_name(selection.experiment)
    if experiment is None:
        raise ValueError(
            f"MLflow experiment {selection.experiment!r} does not exist at "
            f"{client.tracking_uri}; set select.experiment to one that holds finished train runs"
        )
    runs: list[Run] = []
    page_token: str | None = None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            filter_string=selection.filter_string(),
            order_by=["attributes.start_time DESC"],
            page_token=page_token,
        )
        runs.extend(run for run in page if selection.matches(run.data.tags))
        page_token = page.token
        if not page_token:
            return runs


def finished_runs(tracking_uri: str, experiment: str) -> list[Run]:
    """Every finished run of an MLflow experiment (any role), for the report."""
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
            return runs


def latest_per_configuration(runs: Sequence[Run]) -> list[Run]:
    """One run per (dataset, shots, dev_set, augmenter, model, variant, seed): the newest.

    A configuration run twice (a repeated sweep) would otherwise vote twice.
    """
    kept: dict[tuple[str, ...], Run] = {}
    for run in sorted(runs, key=lambda r: r.info.start_time or 0, reverse=True):
        key = tuple(
            run.data.tags.get(t, "") for t in (*PROTOCOL_TAGS, "augmenter", "model", "variant")
        )
        key += (run.data.tags["seed"],)
        if key in kept:
            log.info(
                "run %s repeats %s; using the newer %s", run.info.run_id, key, kept[key].info.run_id
            )
            continue
        kept[key] = run
    return list(kept.values())


def check_comparable(runs: Sequence[Run]) -> dict[str, str]:
    """The protocol tags shared by all runs; mixed datasets, shots or dev sets are an error."""
    shared: dict[str, str] = {}
    for tag in PROTOCOL_TAGS:
        values = sorted({run.data.tags.get(tag, "") for run in runs})
        if len(values) > 1:
            raise ValueError(
                f"the selected runs mix {tag} values {values}; an ensemble combines runs of one "
                f"protocol: narrow the selection (select.dataset, select.shots or select.filter "
                f"\"tags.{tag} = '...'\")"
            )
        shared[tag] = values[0] if values else ""
    return shared


@contextmanager
def one_progress_bar() -> Iterator[None]:
    """MLflow's own progress bar per downloaded file off (the caller shows one over runs); the
    user's setting is restored afterwards."""
    name = MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name
    previous = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def download_member(client: MlflowClient, run: Run, destination: Path) -> MemberRun:
    """The run's `predictions/dev.jsonl` and `predictions/test.jsonl`, downloaded and read, and
    `predictions/full_dev.jsonl` where the run has one (runs before `score_full_dev` do not)."""
    run_dir = destination / run.info.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    member = MemberRun(run.info.run_id, dict(run.data.tags), dict(run.data.metrics))
    present = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "predictions")}
    for split in ("dev", "test"):
        if f"{split}.jsonl" not in present:
            raise ValueError(
                f"run {run.info.run_id} ({member.name}, seed {member.tags.get('seed')}) has no "
                f"artifact predictions/{split}.jsonl; was it trained by this version of "
                "train.py? Exclude it with select.filter"
            )
    for split in ("dev", "test", "full_dev"):
        if f"{split}.jsonl" in present:
            local = client.download_artifacts(
                run.info.run_id, f"predictions/{split}.jsonl", str(run_dir)
            )
            setattr(member, split, read_predictions_jsonl(Path(local)))
    return member


def select_members(
    tracking_uri: str, selection: Selection, destination: Path
) -> dict[int, list[MemberRun]]:
    """The selected runs with their predictions, grouped by seed (one ensemble per seed)."""
    client = MlflowClient(tracking_uri)
    runs = latest_per_configuration(find_runs(client, selection))
    if not runs:
        raise ValueError(
            f"no finished train runs in experiment {selection.experiment!r} match {selection}; "
            "check the names of models and augmenters (the run tags) and the dataset"
        )
    check_comparable(runs)
    by_seed: dict[int, list[MemberRun]] = defaultdict(list)
    ordered = sorted(runs, key=lambda r: member_name(r.data.tags))
    with one_progress_bar():
        for run in tqdm(ordered, desc="downloading predictions", unit="run"):
            member = download_member(client, run, destination)
            by_seed[member.seed].append(member)
    for seed, members in by_seed.items():
        log.info("seed %d: %d runs: %s", seed, len(members), ", ".join(m.name for m in members))
    return dict(sorted(by_seed.items()))
