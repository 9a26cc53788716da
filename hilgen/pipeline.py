"""The training pipeline behind `train.py`: data -> few-shot sample -> synthetic data -> model
-> predictions -> scores, every step logged to MLflow. Each stage is called through its own
package; this module only wires them together from the composed config."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from hilgen.augment.base import AugmentContext, Augmenter, SyntheticSet
from hilgen.augment.generation import GenerationKey, generate_cached, generator_code_version
from hilgen.data.sampling import KShotSample, sample_kshot
from hilgen.data.types import Corpus, Sentence, TaggedPrediction
from hilgen.evaluate.metrics import Scores, score_tags
from hilgen.evaluate.prediction_files import write_predictions_conll, write_predictions_jsonl
from hilgen.evaluate.tables import format_table, scores_table
from hilgen.io import atomic_write_text
from hilgen.kb.base import KnowledgeBase
from hilgen.kb.label_groups import LabelGroupsError, LabelGroupsSpec, resolve_label_groups
from hilgen.kb.linker import Linker
from hilgen.models.base import Tagger, TrainingData
from hilgen.reporting.teacher_agreement import TeacherAgreement, agreement_table, teacher_agreement
from hilgen.tracking.mlflow_tracking import Tracker, config_as_dict, git_commit

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


# Overrides that name what a run is (its tags: row, column, seed, table) or change nothing about
# its result; every other command-line override (kb=umls, llm=openai, debug=fast, ...) makes the
# run a variant of its row.
NOT_VARIANT_KEYS = ("seed", "augmenter", "model", "dataset", "experiment", "shots")
NOT_VARIANT_PREFIXES = ("hydra.", "tracking.", "paths.", "trainer.enable_progress_bar")
# A dataset named on the command line (`dataset=conll dataset.name=mine dataset.train=...`) is
# defined by its `dataset.*` overrides, so they are not a variant of it; on a shipped dataset
# they are (`dataset=bc5cdr dataset.label_groups=...` is an ablation).
DATASET_NAME_KEY = "dataset.name"
DATASET_PREFIX = "dataset."


def _override_key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def variant_of(overrides: list[str]) -> str:
    """The ablation variant a run's command-line overrides make, e.g.
    `model.gold_upsample=4,model.outside_margins=[0.0]`; empty for a default run."""
    named_dataset = any(_override_key(o) == DATASET_NAME_KEY for o in overrides)
    kept = []
    for override in overrides:
        key = _override_key(override)
        if key in NOT_VARIANT_KEYS or key.startswith(NOT_VARIANT_PREFIXES):
            continue
        if named_dataset and key.startswith(DATASET_PREFIX):
            continue
        kept.append(override)
    return ",".join(sorted(kept))


def run_tags(cfg: DictConfig) -> dict[str, str]:
    hydra = HydraConfig.get() if HydraConfig.initialized() else None
    choices = hydra.runtime.choices if hydra else {}
    return {
        "variant": variant_of(list(hydra.overrides.task)) if hydra else "",
        "dataset": str(cfg.dataset.name),
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


def save_predictions(
    sentences: list[Sentence], predicted: list[list[str]], output_dir: Path, split: str
) -> None:
    """`predictions/<split>.jsonl` and `.conll` under `output_dir`: each sentence's tags next to
    the predicted ones."""
    predictions = [
        TaggedPrediction(s.sentence_id, s.tokens, s.tags, p)
        for s, p in zip(sentences, predicted, strict=True)
    ]
    write_predictions_jsonl(output_dir / "predictions" / f"{split}.jsonl", predictions)
    write_predictions_conll(output_dir / "predictions" / f"{split}.conll", predictions)


def predict(tagger: Tagger, sentences: list[Sentence], output_dir: Path, split: str) -> Scores:
    """Tag `sentences`, write the predictions (JSONL and CoNLL) and score them."""
    predicted = tagger.predict(sentences)
    save_predictions(sentences, predicted, output_dir, split)
    return score_tags([s.tags for s in sentences], predicted)


@dataclass
class FewShotData:
    """What a run learns from and is judged on, before any augmentation."""

    corpus: Corpus
    # As configured (groups, types or "auto") until `generate_synthetic` resolves it.
    label_groups: dict[str, list[str]] | LabelGroupsSpec
    label_relations: dict[str, list[str]]
    relation_labels: dict[str, dict[str, str]]
    sample: KShotSample
    dev: list[Sentence]
    test: list[Sentence]


def first(sentences: list[Sentence], limit: int | None) -> list[Sentence]:
    """The first `limit` sentences (smoke runs); all of them for None."""
    return sentences[:limit] if limit else sentences


def evaluation_splits(cfg: DictConfig, data: FewShotData) -> dict[str, list[Sentence]]:
    """What a trained tagger is scored on: the model-selection dev set, the test split and,
    with `score_full_dev` and a K-shot dev sample, the whole dev split (`full_dev`, for
    comparing configurations without the test set)."""
    splits = {"dev": data.dev, "test": data.test}
    if cfg.score_full_dev and cfg.dev_set.mode == "kshot":
        splits["full_dev"] = first(data.corpus.dev, cfg.limit_test_sentences)
    return splits


def load_few_shot_data(cfg: DictConfig) -> FewShotData:
    dataset = instantiate(cfg.dataset)
    corpus: Corpus = dataset.load()
    sample = sample_kshot(corpus.train, corpus.labels, cfg.shots, cfg.seed)
    test = first(corpus.test, cfg.limit_test_sentences)
    return FewShotData(
        corpus,
        dataset.label_groups,
        dataset.label_relations,
        dataset.relation_labels,
        sample,
        select_dev(corpus, cfg, cfg.seed),
        test,
    )


def unlabelled_train(data: FewShotData) -> list[Sentence]:
    """The train split's sentences outside the sample, with their entities removed: what an
    augmenter that tags text itself may read (never the labels)."""
    in_sample = {s.sentence_id for s in data.sample.sentences}
    return [
        Sentence(s.sentence_id, list(s.tokens), [], s.doc_id)
        for s in data.corpus.train
        if s.sentence_id not in in_sample
    ]


def resolve_labels(data: FewShotData, kb: KnowledgeBase, linker: Linker) -> dict[str, list[str]]:
    """Each label's groups and types, `auto` chosen from the sample; says what it chose. A
    scope that cannot be used stops the run with its one-line message, not a traceback."""
    try:
        resolved = resolve_label_groups(
            data.label_groups, data.corpus.labels, data.sample.sentences, kb, linker
        )
    except LabelGroupsError as error:
        raise SystemExit(f"error: {error}") from None
    for line in resolved.choices:
        log.info(line)
        print(line)
    for line in resolved.warnings:
        log.warning(line)
    return resolved.groups


def generate_synthetic(cfg: DictConfig, data: FewShotData) -> tuple[SyntheticSet, Path | None]:
    """The configured augmenter's synthetic set for the sample, through the on-disk cache.

    The knowledge base, the linker and the LLM client are only built when the augmenter needs
    them, so `augmenter=none` runs start no server and open no database.
    """
    augmenter: Augmenter = instantiate(cfg.augmenter)
    if augmenter.name == "none":
        return SyntheticSet(), None
    uses_llm = bool(getattr(augmenter, "uses_llm", False))
    kb = instantiate(cfg.kb)
    linker = instantiate(cfg.linker, kb=kb)
    data.label_groups = resolve_labels(data, kb, linker)
    context = AugmentContext(
        kb=kb,
        linker=linker,
        labels=data.corpus.labels,
        label_groups=data.label_groups,
        label_relations=data.label_relations,
        relation_labels=data.relation_labels,
        test_sentences=data.corpus.test,
        unlabelled_sentences=unlabelled_train(data),
        seed=cfg.seed,
        llm=instantiate(cfg.llm) if uses_llm else None,
    )
    key = GenerationKey(
        dataset=data.corpus.name,
        seed=cfg.seed,
        shots=cfg.shots,
        augmenter=OmegaConf.to_container(cfg.augmenter, resolve=True),  # type: ignore[arg-type]
        kb_version=kb.version,
        label_policy={
            "groups": data.label_groups,
            "relations": data.label_relations,
            "relation_labels": data.relation_labels,
        },
        sample_ids=tuple(s.sentence_id for s in data.sample.sentences),
        llm=config_as_dict(cfg.llm) if uses_llm else None,
        code_version=generator_code_version(),
        corpus=data.corpus.fingerprint(),
    )
    try:
        synthetic, path, hit = generate_cached(
            augmenter, data.sample.sentences, context, key, Path(cfg.paths.cache_dir)
        )
    finally:
        if context.llm is not None:
            context.llm.close()
    synthetic.stats["cache_hit"] = int(hit)
    return synthetic, path


def log_synthetic(tracker: Tracker, synthetic: SyntheticSet, output_dir: Path) -> None:
    """Synthetic data as JSONL (with provenance) and CoNLL, and its statistics as metrics; an
    empty set logs its statistics too (`synthetic/gold_only`: the KB could augment no label)."""
    tracker.log_metrics({f"synthetic/{k}": float(v) for k, v in synthetic.stats.items()})
    if not len(synthetic):
        return
    synthetic.to_jsonl(output_dir / "synthetic" / "synthetic.jsonl")
    synthetic.to_conll(output_dir / "synthetic" / "synthetic.conll")
    tracker.log_artifact(output_dir / "synthetic")


def log_few_shot_data(tracker: Tracker, data: FewShotData, output_dir: Path) -> None:
    write_sentences_jsonl(output_dir / "data" / "few_shot_sample.jsonl", data.sample.sentences)
    write_sentences_jsonl(output_dir / "data" / "dev_sample.jsonl", data.dev)
    tracker.log_artifact(output_dir / "data")
    tracker.set_tags({"label_groups": json.dumps(data.label_groups, sort_keys=True)})
    tracker.log_metrics(
        {
            "sample_sentences": len(data.sample.sentences),
            "dev_sentences": len(data.dev),
            "test_sentences": len(data.test),
            **{f"sample_mentions_{k}": v for k, v in data.sample.mention_counts.items()},
        }
    )


def open_tracking(cfg: DictConfig, tags: dict[str, str]) -> tuple[Tracker, str | None]:
    """The tracker and, inside a multirun sweep, the id of the sweep's parent run."""
    tracker: Tracker = instantiate(cfg.tracking)
    parent = None
    if tracker.enabled:
        tracker.setup()
        if (sweep := sweep_dir()) is not None:
            parent = tracker.sweep_parent_run(sweep, {"dataset": tags["dataset"]})
    return tracker, parent


def fit_tagger(
    cfg: DictConfig, data: FewShotData, synthetic: SyntheticSet, output_dir: Path
) -> tuple[Tagger, dict[str, Any]]:
    """The configured model fitted on the gold sample plus `synthetic`, and its fit summary."""
    tagger: Tagger = instantiate(cfg.model, labels=data.corpus.labels)
    make_trainer = functools.partial(instantiate, cfg.trainer, default_root_dir=output_dir)
    training = TrainingData(data.sample.sentences, synthetic.to_sentences(), data.dev)
    return tagger, tagger.fit(training, make_trainer)


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one few-shot training job; return its metrics (dev and test scores)."""
    lightning.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    data = load_few_shot_data(cfg)
    synthetic, _ = generate_synthetic(cfg, data)
    tags = run_tags(cfg)
    tracker, parent = open_tracking(cfg, tags)
    run_name = f"{tags['dataset']}/{tags['augmenter']}/{tags['model']}/seed{cfg.seed}"
    with tracker.run(run_name, tags, parent_run_id=parent):
        tracker.log_config(cfg)
        log_few_shot_data(tracker, data, output_dir)
        log_synthetic(tracker, synthetic, output_dir)
        tagger, summary = fit_tagger(cfg, data, synthetic, output_dir)
        tracker.log_metrics({k: float(v) for k, v in summary.items()})
        tracker.log_curves(tagger.learning_curves)

        scores: dict[str, Scores] = {}
        try:
            for split, sentences in evaluation_splits(cfg, data).items():
                scores[split] = predict(tagger, sentences, output_dir, split)
        finally:
            tagger.close()
        tracker.log_metrics(
            {f"prediction/{k}": float(v) for k, v in tagger.prediction_stats.items()}
        )
        tracker.log_artifact(output_dir / "predictions")
        metrics: dict[str, float] = {}
        for split, split_scores in scores.items():
            metrics |= split_scores.as_metrics(split)
        tracker.log_metrics(metrics)
        table = scores_table(scores)
        atomic_write_text(output_dir / "results.md", table + "\n")
        tracker.log_artifact(output_dir / "results.md")
    print(f"\n{run_name}  (synthetic sentences: {len(synthetic)})\n{table}\n")
    return metrics


def check_with_teacher(
    cfg: DictConfig, data: FewShotData, synthetic: SyntheticSet, output_dir: Path
) -> dict[str, TeacherAgreement]:
    """Fit the configured model on the gold sample alone and count where its tags on the
    synthetic sentences agree with theirs (what consistency filtering would act on). Its tags
    are saved beside the synthetic ones in `teacher/predictions/synthetic.{jsonl,conll}`."""
    lightning.seed_everything(cfg.seed, workers=True)
    teacher, _ = fit_tagger(cfg, data, SyntheticSet(), output_dir / "teacher")
    sentences = synthetic.to_sentences()
    try:
        teacher_tags = teacher.predict(sentences)
    finally:
        teacher.close()
    save_predictions(sentences, teacher_tags, output_dir / "teacher", "synthetic")
    return teacher_agreement(synthetic, teacher_tags)


def score_against_train_labels(data: FewShotData, synthetic: SyntheticSet) -> Scores | None:
    """The tags of synthetic sentences that are unchanged train-split sentences (distant
    supervision) against those sentences' own gold labels, which no augmenter reads: how good
    the automatic labels are. None when the set holds no such sentence."""
    in_sample = {s.sentence_id for s in data.sample.sentences}
    train = {s.sentence_id: s for s in data.corpus.train if s.sentence_id not in in_sample}
    pairs = [
        (train[s.source_sentence_id].tags, s.sentence.tags)
        for s in synthetic
        if s.source_sentence_id in train and train[s.source_sentence_id].tokens == s.sentence.tokens
    ]
    if not pairs:
        return None
    return score_tags([gold for gold, _ in pairs], [tagged for _, tagged in pairs])


def generate(cfg: DictConfig) -> SyntheticSet:
    """Write the synthetic set for one (dataset, seed, augmenter) as JSONL and CoNLL and log it."""
    output_dir = Path(cfg.paths.output_dir)
    data = load_few_shot_data(cfg)
    synthetic, cache_file = generate_synthetic(cfg, data)
    tags = run_tags(cfg) | {"hilgen.role": "generate"}
    tracker, parent = open_tracking(cfg, tags)
    with tracker.run(
        f"generate {tags['dataset']}/{tags['augmenter']}/seed{cfg.seed}", tags, parent_run_id=parent
    ):
        tracker.log_config(cfg)
        log_few_shot_data(tracker, data, output_dir)
        log_synthetic(tracker, synthetic, output_dir)
        against_gold = score_against_train_labels(data, synthetic)
        if against_gold is not None:
            tracker.log_metrics(against_gold.as_metrics("train_labels"))
        agreement: dict[str, TeacherAgreement] = {}
        if cfg.teacher_check and not len(synthetic):
            log.warning("teacher_check: the synthetic set is empty, there is nothing to check")
        elif cfg.teacher_check:
            agreement = check_with_teacher(cfg, data, synthetic, output_dir)
            for kind, counts in agreement.items():
                tracker.log_metrics(counts.as_metrics(kind))
            tracker.log_artifact(output_dir / "teacher" / "predictions", "teacher")
    rows = sorted(synthetic.stats.items())
    print(format_table(["statistic", "value"], rows))
    if against_gold is not None:
        print("\nTagged train-split sentences against their own gold labels (never read):")
        print(scores_table({"train_labels": against_gold}))
    if agreement:
        print(f"\n{tags['model']} trained on the gold sample alone, on the synthetic set:")
        print(agreement_table(agreement))
        print(f"its tags beside the synthetic ones: {output_dir / 'teacher' / 'predictions'}")
    print(
        f"\n{len(synthetic)} synthetic sentences -> {output_dir / 'synthetic'} "
        f"(cache: {cache_file})"
    )
    return synthetic
