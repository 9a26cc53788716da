"""Scale-out configs: the project's launcher presets compose onto the plugins' launchers, and
every job of the paper-table sweeps composes with the intended model and augmenter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from tests.conftest import CONF, ROOT

SEEDS = [1, 2, 3, 4, 5]


def compose_train(overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


def test_local_parallel_is_joblib() -> None:
    launcher = compose_train(["hydra/launcher=local_parallel"]).hydra.launcher
    assert launcher._target_.endswith("joblib_launcher.JoblibLauncher")
    assert (launcher.n_jobs, launcher.backend) == (2, "loky")
    more = compose_train(["hydra/launcher=local_parallel", "hydra.launcher.n_jobs=4"])
    assert more.hydra.launcher.n_jobs == 4


def test_slurm_is_submitit() -> None:
    cfg = compose_train(["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "trainer=gpu"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min) == ("gpu", 1, 120)
    assert OmegaConf.to_container(launcher, resolve=True)["submitit_folder"].endswith(
        "/.submitit/%j"
    )
    assert cfg.trainer.accelerator == "gpu"


def sweep_jobs(experiment: str) -> list[list[str]]:
    """The jobs of an experiment's sweep (one seed: the other seeds compose alike)."""
    params = compose_train([f"experiment={experiment}"]).hydra.sweeper.params
    assert sorted(str(s) for s in str(params.seed).split(",")) == [str(s) for s in SEEDS]
    overrides = [f"{key}={value}" for key, value in params.items() if key != "seed"]
    parsed = OverridesParser.create().parse_overrides(overrides)
    (batch,) = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    return batch


def missing_option(overrides: list[str]) -> str | None:
    """An option written by another part of the project that is not in this checkout yet."""
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        group = key.split("@")[0]
        if not (CONF / group / f"{value}.yaml").is_file():
            return f"{group}/{value}"
        if group == "experiment/table4_arm":
            text = (CONF / group / f"{value}.yaml").read_text()
            for line in text.splitlines():
                if "override /" in line:
                    sub_group, _, option = line.split("override /")[1].partition(":")
                    if not (CONF / sub_group / f"{option.strip()}.yaml").is_file():
                        return f"{sub_group}/{option.strip()}"
    return None


EXPECTED = {
    "table2": {
        (augmenter, model)
        for augmenter in (
            "none",
            "umls_synonyms",
            "umls_related",
            "umls_parents_children",
            "umls_siblings",
            "umls_all",
            "hilgen",
            "gpt_related",
            "gpt_parents_children",
            "gpt_siblings",
        )
        for model in ("bert", "dann")
    },
    "table3": {
        (augmenter, model)
        for augmenter in ("none", "zerogen", "umls_all", "gpt_related")
        for model in ("bert", "dann")
    },
    "distant": {
        (augmenter, "bert") for augmenter in ("none", "kb_dictionary", "hilgen_dictionary")
    },
    "generality": {
        (augmenter, model) for augmenter in ("none", "hilgen") for model in ("bert", "dann")
    },
    "table4": {
        ("none", "llm_tagger"),
        ("none", "dann"),
        ("umls_all", "dann"),
        ("gpt_related", "dann"),
    },
}


@pytest.mark.parametrize("experiment", sorted(EXPECTED))
def test_table_sweeps_compose(experiment: str) -> None:
    jobs = sweep_jobs(experiment)
    found: set[tuple[str, str]] = set()
    skipped: list[str] = []
    for job in jobs:
        if (missing := missing_option(job)) is not None:
            skipped.append(missing)
            continue
        cfg = compose_train([f"experiment={experiment}", *job, "seed=3", "dataset=bc5cdr"])
        choices = cfg.hydra.runtime.choices
        found.add((choices.augmenter, choices.model))
        assert cfg.tracking.experiment == f"{experiment}-bc5cdr"
        assert cfg.seed == 3
    assert len(jobs) == len(EXPECTED[experiment])
    assert found <= EXPECTED[experiment]
    if skipped:
        pytest.skip(f"options not in this checkout yet: {sorted(set(skipped))}")
    assert found == EXPECTED[experiment]


@pytest.mark.slow
def test_local_parallel_sweep_runs_two_jobs(tmp_path: Path) -> None:
    """Two jobs in parallel processes share one MLflow store and one sweep parent."""
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "hydra/launcher=local_parallel",
        "seed=1,2",
        "debug=fast",
        "dataset=ncbi_disease_1type",
        "augmenter=none",
        "trainer.max_epochs=1",
        "limit_test_sentences=10",
        f"tracking.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        f"tracking.artifact_root={tmp_path}/artifacts",
        "tracking.experiment=parallel",
        f"hydra.sweep.dir={tmp_path}/sweep",
    ]
    subprocess.run(command, check=True, cwd=ROOT, timeout=900)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("parallel")
    runs = client.search_runs([experiment.experiment_id])
    train_runs = [r for r in runs if "hilgen.role" not in r.data.tags]
    parents = [r for r in runs if r.data.tags.get("hilgen.role") == "sweep"]
    assert sorted(r.data.tags["seed"] for r in train_runs) == ["1", "2"]
    assert all(r.info.status == "FINISHED" for r in train_runs)
    assert len(parents) == 1
    assert {r.data.tags["mlflow.parentRunId"] for r in train_runs} == {parents[0].info.run_id}
