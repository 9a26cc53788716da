"""CUDA paths of the taggers: `trainer=gpu` (bf16 mixed precision) fits and predicts with the
real composed configs, on a tiny randomly initialised BERT written to disk (so the check needs
no downloaded weights and runs on a bare GPU machine). Skipped where CUDA is missing."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from transformers import BertConfig, BertModel, BertTokenizerFast

from hilgen.data.iob import normalise_tags
from hilgen.models.base import Tagger, TrainingData
from tests.models.test_dann import DEV, GOLD, LABELS, SYNTHETIC

ROOT = Path(__file__).resolve().parents[2]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with a word-level vocabulary of the test sentences."""
    directory = tmp_path_factory.mktemp("tiny-bert")
    words = sorted({t.lower() for s in [*GOLD, *SYNTHETIC, *DEV] for t in s.tokens})
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL_TOKENS + words) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True).save_pretrained(directory)
    config = BertConfig(
        vocab_size=len(SPECIAL_TOKENS) + len(words),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(directory)
    return directory


def compose_gpu(model: str, encoder_dir: Path, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"model={model}",
                "trainer=gpu",
                f"model.encoder.name={encoder_dir}",
                "trainer.max_epochs=3",
                "trainer.min_epochs=1",
                "trainer.enable_progress_bar=false",
                "model.examples_per_epoch=4",
                "model.batch_size=2",
                *overrides,
            ],
        )


def fit_on_gpu(
    model: str, encoder_dir: Path, tmp_path: Path, overrides: list[str] | None = None
) -> tuple[Tagger, dict[str, object], DictConfig]:
    cfg = compose_gpu(model, encoder_dir, overrides or [])
    tagger: Tagger = instantiate(cfg.model, labels=LABELS)
    make_trainer = functools.partial(instantiate, cfg.trainer, default_root_dir=tmp_path)
    summary = tagger.fit(TrainingData(GOLD, SYNTHETIC, DEV), make_trainer)
    return tagger, summary, cfg


def assert_valid_predictions(tagger: Tagger) -> None:
    predicted = tagger.predict([*DEV, *GOLD])
    assert [len(tags) for tags in predicted] == [len(s.tokens) for s in [*DEV, *GOLD]]
    for tags in predicted:
        assert normalise_tags(tags) == tags  # valid IOB2, nothing to repair


def test_bert_tagger_trains_in_bf16_on_the_gpu(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    tagger, summary, cfg = fit_on_gpu("bert", tiny_encoder_dir, tmp_path)
    assert cfg.trainer.precision == "bf16-mixed"
    trainer = tagger._trainer  # type: ignore[attr-defined]
    assert trainer.strategy.root_device.type == "cuda"
    assert 0.0 <= summary["joint_best_dev_f1"] <= 100.0
    assert_valid_predictions(tagger)


def test_two_stage_training_runs_both_stages_on_the_gpu(
    tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    _, summary, _ = fit_on_gpu("bert", tiny_encoder_dir, tmp_path, ["model.gold_only_epochs=1"])
    assert summary["gold_epochs_run"] == 1


@pytest.mark.parametrize("decoding", ["nnshot", "structshot"])
def test_dann_embeds_on_the_gpu_and_tags_its_support(
    tiny_encoder_dir: Path, tmp_path: Path, decoding: str
) -> None:
    tagger, summary, _ = fit_on_gpu(
        "dann", tiny_encoder_dir, tmp_path, [f"model.decoding={decoding}", "model.support=all"]
    )
    assert tagger.device.type == "cuda"  # type: ignore[attr-defined]
    assert summary["support_sentences"] == len(GOLD) + len(SYNTHETIC)
    assert_valid_predictions(tagger)
    if decoding == "nnshot":  # every support word is its own nearest neighbour
        assert tagger.predict(GOLD) == [s.tags for s in GOLD]
