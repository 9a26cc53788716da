"""The generality suite (`make table-generality`): every dataset it runs composes with
experiment=generality and loads, and a tiny run of each works with the default augmenter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from mlflow.tracking import MlflowClient

from hilgen import pipeline
from tests.conftest import CONF, ROOT


def suite_datasets() -> list[str]:
    """The datasets `make table-generality` sweeps, read from the Makefile."""
    makefile = (ROOT / "Makefile").read_text()
    names = re.findall(r"^GENERALITY_(?:DATASETS|FEW_SHOTS) := (.+)$", makefile, re.MULTILINE)
    return [name for line in names for name in line.split()]


def compose_suite(dataset: str, *overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "train", overrides=["experiment=generality", f"dataset={dataset}", *overrides]
        )


def test_the_suite_is_the_documented_one() -> None:
    assert suite_datasets() == ["ade", "bc5cdr_chemical", "bc5cdr_disease", "ncbi_disease_1type"]


@pytest.mark.parametrize("dataset", suite_datasets())
def test_suite_dataset_composes_and_loads(
    dataset: str, tmp_path: Path, needs_shared_data: Path
) -> None:
    cfg = compose_suite(dataset, f"paths.data_dir={tmp_path}")
    assert cfg.tracking.experiment == f"generality-{dataset}"
    assert (cfg.limit_test_sentences, cfg.score_full_dev) == (2000, False)
    corpus = instantiate(cfg.dataset).load()
    assert corpus.name == dataset and corpus.train and corpus.dev and corpus.test
    # every label can be augmented from the KB
    assert set(cfg.dataset.label_groups) == set(corpus.labels)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", suite_datasets())
def test_tiny_suite_run_with_the_default_augmenter(
    dataset: str, tmp_path: Path, tmp_tracking: list[str], needs_shared_data: Path
) -> None:
    cfg = compose_suite(
        dataset,
        "augmenter=hilgen",
        "shots=1",
        "debug=fast",
        "trainer.max_epochs=1",
        "model.examples_per_epoch=8",
        "limit_test_sentences=12",
        f"paths.data_dir={ROOT / 'data'}",
        f"paths.output_dir={tmp_path}/out",
        *tmp_tracking,
    )
    metrics = pipeline.train(cfg)
    assert 0.0 <= metrics["test_f1"] <= 100.0
    client = MlflowClient(cfg.tracking.tracking_uri)
    (run,) = client.search_runs(
        [client.get_experiment_by_name(f"generality-{dataset}").experiment_id]
    )
    assert run.data.tags["dataset"] == dataset
    assert run.data.metrics["synthetic/sentences"] > 0
