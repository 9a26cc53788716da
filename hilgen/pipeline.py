"""The training pipeline behind `train.py`: data -> few-shot sample -> synthetic data -> model
-> predictions -> scores, every step logged to MLflow. Each stage is called through its own
package; this module only wires them together from the composed config."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import asdict
from pathlib import Path

import lightning
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig

from hilgen.data.sampling import KShotSample, sample_kshot
from hilgen.data.types import Corpus, Sentence, TaggedPrediction
from hilgen.evaluate.metrics import Scores, score_tags
from hilgen.evaluate.prediction_files import write_predictions_conll, write_predictions_jsonl
from hilgen.evaluate.tables import scores_table
from hilgen.io import atomic_write_text
from hilgen.models.base import Tagger, TrainingData
from hilgen.tracking.mlflow_tracking import Tracker, git_commit

log = logging.getLogger(__name__)


def write_sentences_jsonl(path: Path, sentences: list[Sentence]) -> None:
    atomic_write_text(
        path,
        "".join(json.dumps(asdict(s), ensure_ascii=False) + "\n" for s in sentences),
    )


def select_dev(corpus: Corpus, cfg: DictConfig, seed: int) -> list[Sentence]:
    """The model-selection sentences: a K-shot dev sample (default) or the full dev split."""
    mode = cfg.dev_set.mode
    if mode == "full":
        return corpus.dev
    if mode == "kshot":
        return sample_kshot(corpus.dev, corpus.labels, cfg.dev_set.shots, seed).sentences
    raise ValueError(f"dev_set.mode must be 'kshot' or 'full', got {mode!r}")


def run_tags(cfg: DictConfig) -> dict[str, str]:
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    return {
        "dataset": str(choices.get("dataset", cfg.dataset.get("name", ""))),
        "augmenter": str(choices.get("augmenter", "")),
        "model": str(choices.get("model", "")),
        "seed": str(cfg.seed),
        "shots": str(cfg.shots),
        "dev_set": str(cfg.dev_set.mode),
        "git_commit": git_commit(Path(cfg.paths.root_dir)),
    }


def sweep_dir() -> str | None:
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return str(Path(HydraConfig.get().sweep.dir).resolve())
    return None


def predict(
    tagger: Tagger, sentences: list[Sentence], output_dir: Path, split: str
) -> tuple[list[TaggedPrediction], Scores]:
    predicted = tagger.predict(sentences)
    predictions = [
        TaggedPrediction(s.sentence_id, s.tokens, s.tags, p)
        for s, p in zip(sentences, predicted, strict=True)
    ]
    write_predictions_jsonl(output_dir / "predictions" / f"{split}.jsonl", predictions)
    write_predictions_conll(output_dir / "predictions" / f"{split}.conll", predictions)
    return predictions, score_tags([p.gold for p in predictions], predicted)


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one few-shot training job; return its metrics (dev and test scores)."""
    lightning.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    dataset = instantiate(cfg.dataset)
    corpus: Corpus = dataset.load()
    sample: KShotSample = sample_kshot(corpus.train, corpus.labels, cfg.shots, cfg.seed)
    dev = select_dev(corpus, cfg, cfg.seed)
    test = corpus.test[: cfg.limit_test_sentences] if cfg.limit_test_sentences else corpus.test
    synthetic = generate_synthetic(cfg, corpus, sample, output_dir)

    tracker: Tracker = instantiate(cfg.tracking)
    tags = run_tags(cfg)
    parent = None
    if tracker.enabled:
        tracker.setup()
        if (sweep := sweep_dir()) is not None:
            parent = tracker.sweep_parent_run(sweep, {"dataset": tags["dataset"]})
    run_name = f"{tags['dataset']}/{tags['augmenter']}/{tags['model']}/seed{cfg.seed}"
    with tracker.run(run_name, tags, parent_run_id=parent):
        tracker.log_config(cfg)
        write_sentences_jsonl(output_dir / "few_shot_sample.jsonl", sample.sentences)
        write_sentences_jsonl(output_dir / "dev_sample.jsonl", dev)
        tracker.log_artifact(output_dir / "few_shot_sample.jsonl", "data")
        tracker.log_artifact(output_dir / "dev_sample.jsonl", "data")
        tracker.log_metrics(
            {
                "sample_sentences": len(sample.sentences),
                "dev_sentences": len(dev),
                "test_sentences": len(test),
                "synthetic_sentences": len(synthetic),
                **{f"sample_mentions_{k}": v for k, v in sample.mention_counts.items()},
            }
        )
        tagger: Tagger = instantiate(cfg.model, labels=corpus.labels)
        make_trainer = functools.partial(instantiate, cfg.trainer, default_root_dir=output_dir)
        summary = tagger.fit(TrainingData(sample.sentences, synthetic, dev), make_trainer)
        tracker.log_metrics({k: float(v) for k, v in summary.items()})

        scores: dict[str, Scores] = {}
        for split, sentences in {"dev": dev, "test": test}.items():
            _, scores[split] = predict(tagger, sentences, output_dir, split)
        tracker.log_artifact(output_dir / "predictions")
        metrics: dict[str, float] = {}
        for split, split_scores in scores.items():
            metrics |= split_scores.as_metrics(split)
        tracker.log_metrics(metrics)
        table = scores_table(scores)
        atomic_write_text(output_dir / "results.md", table + "\n")
        tracker.log_artifact(output_dir / "results.md")
    print(f"\n{run_name}\n{table}\n")
    return metrics


def generate_synthetic(
    cfg: DictConfig, corpus: Corpus, sample: KShotSample, output_dir: Path
) -> list[Sentence]:
    """Synthetic training sentences from the configured augmenter (none for `augmenter=none`)."""
    if cfg.augmenter.get("name", "none") == "none":
        return []
    raise NotImplementedError("augmenters are wired in by the generation stage")
