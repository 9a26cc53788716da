"""MLflow tracking for every run of every sweep.

The SQLite store is created once under a file lock, so parallel sweep jobs never race on
creating the database or the experiment. Configs are redacted before they are logged: any key
that looks like a secret is replaced, whatever its nesting. A run that raises ends FAILED (or
KILLED on Ctrl-C/SIGTERM) with the reason in its `failure` tag. Experiments are marked as
classic model development, so MLflow 3's UI opens them on their runs, not on its GenAI pages.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.sources import LocalArtifactDatasetSource
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

SECRET_KEY = re.compile(r"(api[_-]?key|secret|token|password|passwd|credential)", re.IGNORECASE)
# Names of environment variables are not secrets; their values are never in the config.
NOT_SECRET_KEY = re.compile(r"(_env|_tokens?_?(per|limit|count)|max_tokens|tokens_per)", re.I)
REDACTED = "***"
# MLflow's limit on metrics in one log_batch call.
MAX_METRICS_PER_BATCH = 1000
# The experiment tag MLflow 3's UI reads to choose between its GenAI pages and the runs table.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
CLASSIC_ML_KIND = "custom_model_development"
# MLflow 3.17's UI chooses between its GenAI pages and the runs by a browser-wide switch that
# defaults to GenAI; the experiment kind does not override it, a link's query does.
UI_QUERY = "?workflowType=machine_learning"
# MLflow's tag values are limited; a failure reason is cut to this.
MAX_REASON_CHARS = 4000


def quiet_mlflow_logs() -> None:
    """Keep MLflow's store set-up messages (creating and upgrading database tables) off the
    console; MLflow resets its own logger's level when it configures logging, not a child's."""
    for name in ("mlflow.store.db.utils", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)


def failure_reason(error: BaseException) -> str:
    """One line saying why a run ended early, for its `failure` tag."""
    if isinstance(error, KeyboardInterrupt | SystemExit):
        return "stopped by Ctrl-C or SIGTERM"
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:MAX_REASON_CHARS]


def redact(value: Any) -> Any:
    """A copy of a nested mapping/list with secret-looking keys' values replaced."""
    if isinstance(value, Mapping):
        return {
            k: (
                REDACTED
                if SECRET_KEY.search(str(k))
                and not NOT_SECRET_KEY.search(str(k))
                and not isinstance(v, Mapping | list)
                and v not in (None, "")
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def config_as_dict(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain data, secrets redacted (what is safe to log)."""
    container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert isinstance(container, dict)
    return redact(container)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """`{"model": {"lr": 1e-4}}` -> `{"model.lr": "0.0001"}` for MLflow params."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = str(value)[:6000]
    return flat


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_path(tracking_uri: str, artifact_root: str) -> Path:
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///")).with_suffix(".lock")
    return Path(artifact_root) / ".tracking.lock"


def git_commit(root: Path) -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Tracker:
    """Opens MLflow runs in one experiment; built from the `tracking` config group."""

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        artifact_root: str,
        enabled: bool = True,
        log_model: bool = True,
        register_model: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.artifact_root = artifact_root
        self.enabled = enabled
        # whether a run logs its fitted tagger as an MLflow model, and the registry name
        # (`hilgen.tracking.tagger_model`) it is registered under
        self.log_model = log_model
        self.register_model = register_model
        self.experiment_id: str | None = None

    def setup(self) -> str:
        """Create (once, under a lock) the store and the experiment; return its id."""
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        quiet_mlflow_logs()
        mlflow.set_tracking_uri(self.tracking_uri)
        with file_lock(_lock_path(self.tracking_uri, self.artifact_root)):
            client = MlflowClient(self.tracking_uri)
            existing = client.get_experiment_by_name(self.experiment)
            if existing is None:
                self.experiment_id = client.create_experiment(
                    self.experiment,
                    artifact_location=self._artifact_location(),
                    tags={EXPERIMENT_KIND_TAG: CLASSIC_ML_KIND},
                )
            else:
                self.experiment_id = existing.experiment_id
                if EXPERIMENT_KIND_TAG not in existing.tags:  # made by an older version
                    client.set_experiment_tag(
                        self.experiment_id, EXPERIMENT_KIND_TAG, CLASSIC_ML_KIND
                    )
        mlflow.set_experiment(experiment_id=self.experiment_id)
        return self.experiment_id

    def _artifact_location(self) -> str | None:
        """Where a new experiment keeps artifacts: a local folder for a local store; for a
        tracking server, the server's own artifact store unless `artifact_root` is a URI."""
        if "://" in self.artifact_root:
            return f"{self.artifact_root.rstrip('/')}/{self.experiment}"
        if self.tracking_uri.startswith(("http://", "https://", "databricks")):
            return None
        return f"{Path(self.artifact_root).resolve().as_uri()}/{self.experiment}"

    def sweep_parent_run(self, sweep_dir: str, tags: Mapping[str, str]) -> str:
        """The id of the parent run that groups one multirun sweep, created by its first job."""
        assert self.experiment_id is not None
        client = MlflowClient(self.tracking_uri)
        with file_lock(_lock_path(self.tracking_uri, self.artifact_root)):
            found = client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`hilgen.sweep_dir` = '{sweep_dir}' "
                "and tags.`hilgen.role` = 'sweep'",
                max_results=1,
            )
            if found:
                return found[0].info.run_id
            run = client.create_run(
                self.experiment_id,
                run_name=f"sweep {Path(sweep_dir).name}",
                tags={**tags, "hilgen.sweep_dir": sweep_dir, "hilgen.role": "sweep"},
            )
            client.set_terminated(run.info.run_id, "FINISHED")
            return run.info.run_id

    @contextlib.contextmanager
    def run(
        self,
        run_name: str,
        tags: Mapping[str, str],
        parent_run_id: str | None = None,
    ) -> Iterator[mlflow.ActiveRun | None]:
        if not self.enabled:
            yield None
            return
        if self.experiment_id is None:
            self.setup()
        all_tags = dict(tags)
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        with mlflow.start_run(
            experiment_id=self.experiment_id, run_name=run_name, tags=all_tags
        ) as active:
            try:
                yield active
            except BaseException as error:
                mlflow.set_tag("failure", failure_reason(error))
                if isinstance(error, KeyboardInterrupt | SystemExit):
                    mlflow.end_run("KILLED")
                raise

    def log_config(self, cfg: DictConfig) -> None:
        if not self.enabled:
            return
        safe = config_as_dict(cfg)
        mlflow.log_dict(safe, "config.yaml")
        params = flatten({k: v for k, v in safe.items() if k != "hydra"})
        items = list(params.items())
        for start in range(0, len(items), 100):
            mlflow.log_params(dict(items[start : start + 100]))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self.enabled:
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_curves(self, curves: Mapping[str, Sequence[float]]) -> None:
        """Per-epoch values as metric histories (step = epoch), in batched calls rather than
        one store write per point."""
        active = mlflow.active_run()
        if not self.enabled or active is None:
            return
        timestamp = int(time.time() * 1000)
        points = [
            Metric(name, float(value), timestamp, step)
            for name, values in curves.items()
            for step, value in enumerate(values)
        ]
        client = MlflowClient(self.tracking_uri)
        for start in range(0, len(points), MAX_METRICS_PER_BATCH):
            client.log_batch(
                active.info.run_id, metrics=points[start : start + MAX_METRICS_PER_BATCH]
            )

    def ui_link(self, run_id: str | None = None) -> str:
        """The MLflow UI route (after the UI's address) that opens this experiment's runs, or
        one run, on the runs pages rather than MLflow 3's GenAI pages."""
        route = f"#/experiments/{self.experiment_id}/runs" + (f"/{run_id}" if run_id else "")
        return route + UI_QUERY

    def log_input(
        self,
        name: str,
        source: str,
        context: str,
        rows: Sequence[Mapping[str, Any]] | None = None,
        digest: str | None = None,
    ) -> None:
        """A dataset in the run's inputs (the runs list's Dataset column): `rows` as a table
        MLflow profiles, or, without rows, a reference to `source` with `digest`."""
        if not self.enabled:
            return
        where = LocalArtifactDatasetSource(source)
        if rows is None:
            dataset = MetaDataset(where, name=name, digest=digest)
        else:
            dataset = mlflow.data.from_pandas(
                pd.DataFrame(list(rows)), source=where, name=name, digest=digest
            )
        mlflow.log_input(dataset, context=context)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        if self.enabled:
            mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        if self.enabled:
            mlflow.set_tags(dict(tags))
