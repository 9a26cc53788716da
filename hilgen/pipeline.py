"""The training pipeline behind `train.py`: data -> few-shot sample -> synthetic data -> model
-> predictions -> scores, every step logged to MLflow. Each stage is called through its own
package; this module only wires them together from the composed config."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from hilgen.augment.base import (
    AugmentContext,
    Augmenter,
    AugmenterFailedError,
    SyntheticSet,
)
from hilgen.augment.generation import GenerationKey, generate_cached, generator_code_version
from hilgen.data.sampling import KShotSample, sample_kshot
from hilgen.data.types import Corpus, Sentence, TaggedPrediction
from hilgen.evaluate.label_errors import LabelErrors, errors_table, label_errors
from hilgen.evaluate.metrics import Scores, score_predictions, score_tags
from hilgen.evaluate.prediction_files import write_predictions_conll, write_predictions_jsonl
from hilgen.evaluate.tables import format_table, scores_table
from hilgen.inference.export import export_tagger, kind_of
from hilgen.inference.inputs import read_input
from hilgen.io import CONLL_SUFFIX, atomic_write_text
from hilgen.kb.base import KnowledgeBase
from hilgen.kb.label_groups import LabelGroupsSpec, configured_scopes, resolve_label_groups
from hilgen.kb.linker import Linker
from hilgen.models.base import Tagger, TrainingData
from hilgen.reporting.teacher_agreement import TeacherAgreement, agreement_table, teacher_agreement
from hilgen.tracking.mlflow_tracking import Tracker, config_as_dict, git_commit
from hilgen.tracking.tagger_model import log_tagger_model

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
        "augmenter": str(choices.get("augmenter", cfg.augmenter.get("name", ""))),
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
) -> list[TaggedPrediction]:
    """`predictions/<split>.jsonl` and `.conll.txt` under `output_dir`: each sentence's tags next to
    the predicted ones (returned)."""
    predictions = [
        TaggedPrediction(s.sentence_id, s.tokens, s.tags, p)
        for s, p in zip(sentences, predicted, strict=True)
    ]
    write_predictions_jsonl(output_dir / "predictions" / f"{split}.jsonl", predictions)
    write_predictions_conll(output_dir / "predictions" / f"{split}{CONLL_SUFFIX}", predictions)
    return predictions


def predict(
    tagger: Tagger, sentences: list[Sentence], output_dir: Path, split: str
) -> tuple[Scores, list[TaggedPrediction]]:
    """Tag `sentences`, write the predictions (JSONL and CoNLL) and score them."""
    predicted = tagger.predict(sentences)
    predictions = save_predictions(sentences, predicted, output_dir, split)
    return score_tags([s.tags for s in sentences], predicted), predictions


def log_label_errors(
    tracker: Tracker, predictions: list[TaggedPrediction], path: Path, prefix: str, top: int
) -> LabelErrors:
    """Count `predictions`' errors by kind, log the counts as `<prefix>_errors/<kind>` and, for
    `top` > 0, write and log the commonest mentions of each kind to `path`."""
    errors = label_errors(predictions)
    tracker.log_metrics(errors.as_metrics(prefix))
    if top:
        atomic_write_text(path, errors_table(errors, top) + "\n")
        tracker.log_artifact(path)
    return errors


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
    return without_labels(s for s in data.corpus.train if s.sentence_id not in in_sample)


def without_labels(sentences: Iterable[Sentence]) -> list[Sentence]:
    """The sentences with their entities removed: text an augmenter may tag."""
    return [Sentence(s.sentence_id, list(s.tokens), [], s.doc_id) for s in sentences]


def augment_context(
    data: FewShotData,
    kb: KnowledgeBase,
    linker: Linker,
    seed: int,
    unlabelled: list[Sentence],
    test_sentences: Sequence[Sentence] = (),
    llm: Any = None,
) -> AugmentContext:
    """What an augmenter reads beside the sample: the labels and their resolved scopes, the
    KB, and `unlabelled` text to tag (`test_sentences`: what no synthetic sentence may equal)."""
    return AugmentContext(
        kb=kb,
        linker=linker,
        labels=data.corpus.labels,
        label_groups=data.label_groups,
        label_relations=data.label_relations,
        relation_labels=data.relation_labels,
        test_sentences=test_sentences,
        unlabelled_sentences=unlabelled,
        seed=seed,
        llm=llm,
    )


def unlabelled_text(cfg: DictConfig) -> list[Sentence]:
    """The sentences of `unlabelled_text` (a user's raw in-domain text, read as predict.py
    reads its input), their ids and documents prefixed `text:` so none meets a corpus's."""
    if cfg.unlabelled_text is None:
        return []
    documents = read_input(cfg.unlabelled_text, setting="unlabelled_text")
    return [
        Sentence(f"text:{s.sentence_id}", list(s.tokens), [], f"text:{document.doc_id}")
        for document in documents
        for s in document.sentences
    ]


def text_digest(sentences: list[Sentence]) -> str:
    """What a cached synthetic set must not outlive: the extra text's words ("" for none)."""
    if not sentences:
        return ""
    text = "\n".join(" ".join(s.tokens) for s in sentences)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def resolve_labels(data: FewShotData, kb: KnowledgeBase, linker: Linker) -> dict[str, list[str]]:
    """Each label's groups and types, `auto` chosen from the sample; says what it chose. A
    scope that cannot be used raises `LabelGroupsError`, a one-line user error."""
    resolved = resolve_label_groups(
        data.label_groups, data.corpus.labels, data.sample.sentences, kb, linker
    )
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
    extra_text = unlabelled_text(cfg) if augmenter.tags_unlabelled_text else []
    if cfg.unlabelled_text is not None and not augmenter.tags_unlabelled_text:
        log.warning(
            "unlabelled_text=%s is not read: augmenter %s does not tag text (kb_dictionary and "
            "hilgen_dictionary do; experiment=best_distant)",
            cfg.unlabelled_text,
            augmenter.name,
        )
    context = augment_context(
        data,
        kb,
        linker,
        cfg.seed,
        unlabelled_train(data) + extra_text,
        data.corpus.test,
        instantiate(cfg.llm) if uses_llm else None,
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
        unlabelled_text=text_digest(extra_text),
    )
    try:
        synthetic, path, hit = generate_cached(
            augmenter, data.sample.sentences, context, key, Path(cfg.paths.cache_dir)
        )
    finally:
        if context.llm is not None:
            context.llm.close()
    synthetic.stats["cache_hit"] = int(hit)
    synthetic.stats["unlabelled_text_sentences"] = len(extra_text)
    return synthetic, path


def logged_synthetic(
    cfg: DictConfig, data: FewShotData, tracker: Tracker, output_dir: Path
) -> tuple[SyntheticSet, Path | None]:
    """`generate_synthetic` inside the open run, logged with the label scopes it used (`auto`
    resolved); a failed augmenter's partial counts are logged before its error fails the run."""
    try:
        synthetic, cache_file = generate_synthetic(cfg, data)
    except AugmenterFailedError as error:
        tracker.log_metrics({f"synthetic/{k}": float(v) for k, v in error.stats.items()})
        raise
    tracker.set_tags({"label_groups": json.dumps(data.label_groups, sort_keys=True)})
    log_synthetic(tracker, synthetic, output_dir)
    return synthetic, cache_file


def log_synthetic(tracker: Tracker, synthetic: SyntheticSet, output_dir: Path) -> None:
    """Synthetic data as JSONL (with provenance) and CoNLL, and its statistics as metrics; an
    empty set logs its statistics too (`synthetic/gold_only`: the KB could augment no label)."""
    tracker.log_metrics({f"synthetic/{k}": float(v) for k, v in synthetic.stats.items()})
    if not len(synthetic):
        return
    synthetic.to_jsonl(output_dir / "synthetic" / "synthetic.jsonl")
    synthetic.to_conll(output_dir / "synthetic" / f"synthetic{CONLL_SUFFIX}")
    tracker.log_artifact(output_dir / "synthetic")


def sentence_rows(sentences: list[Sentence]) -> list[dict[str, str]]:
    """Sentences as table rows (id, text, IOB tags) for an MLflow dataset input."""
    return [
        {"sentence_id": s.sentence_id, "tokens": " ".join(s.tokens), "tags": " ".join(s.tags)}
        for s in sentences
    ]


def log_few_shot_data(
    cfg: DictConfig, tracker: Tracker, data: FewShotData, output_dir: Path
) -> None:
    sample_file = output_dir / "data" / "few_shot_sample.jsonl"
    write_sentences_jsonl(sample_file, data.sample.sentences)
    write_sentences_jsonl(output_dir / "data" / "dev_sample.jsonl", data.dev)
    tracker.log_artifact(output_dir / "data")
    corpus = data.corpus
    tracker.log_input(
        corpus.name,
        source=str(Path(cfg.paths.data_dir).resolve()),
        context="corpus",
        digest=corpus.fingerprint()[:8],
    )
    tracker.log_input(
        f"{corpus.name} {cfg.shots}-shot seed {cfg.seed}",
        source=str(sample_file.resolve()),
        context="training",
        rows=sentence_rows(data.sample.sentences),
    )
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


def new_tagger(cfg: DictConfig, data: FewShotData) -> Tagger:
    """The configured model, unfitted: built before any other work, so that a model setting
    that cannot work fails first."""
    return instantiate(cfg.model, labels=data.corpus.labels)


def fit_tagger(
    cfg: DictConfig, tagger: Tagger, data: FewShotData, synthetic: SyntheticSet, output_dir: Path
) -> dict[str, Any]:
    """Fit `tagger` on the gold sample plus `synthetic`; its fit summary."""
    make_trainer = functools.partial(instantiate, cfg.trainer, default_root_dir=output_dir)
    training = TrainingData(
        data.sample.sentences,
        synthetic.to_sentences(),
        data.dev,
        data.label_groups,
        data.label_relations,
    )
    return tagger.fit(training, make_trainer)


def log_trained_model(
    tracker: Tracker,
    tagger: Tagger,
    data: FewShotData,
    output_dir: Path,
    source: dict[str, str],
) -> bool:
    """Log the fitted tagger as the active run's MLflow model (`tracking.log_model`), with
    the seconds its export and logging took and its size; False when no model was logged."""
    if not (tracker.enabled and tracker.log_model):
        return False
    if kind_of(tagger) is None:
        log.info("%s holds no weights of its own: no model is logged", type(tagger).__name__)
        return False
    output_dir.mkdir(parents=True, exist_ok=True)
    # a temporary export: MLflow copies it into the artifact store
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".model-") as temp:
        started = time.perf_counter()
        directory = Path(temp) / "tagger"
        # an augmenter that reads no KB leaves `auto` unresolved: those labels link to nothing
        scopes = configured_scopes(data.label_groups, data.corpus.labels)
        export_tagger(tagger, directory, scopes, data.corpus.name, source)
        metrics = {"model/export_seconds": time.perf_counter() - started}
        metrics |= log_tagger_model(directory, tracker.register_model)
    tracker.log_metrics(metrics)
    return True


def print_summary(
    run_name: str,
    table: str,
    metrics: dict[str, float],
    synthetic_sentences: int,
    trains: bool,
    run_id: str | None,
    model_logged: bool,
    ui_link: str | None = None,
) -> None:
    """What a run did and what to do next, for someone who just ran `python train.py`."""
    lines = [
        f"\n{run_name}  (synthetic sentences: {synthetic_sentences})",
        table,
        "",
        f"Test F1: {metrics['test_f1']:.2f}, trained on {synthetic_sentences} synthetic "
        "sentences beside the few-shot sample."
        if trains
        else f"Test F1: {metrics['test_f1']:.2f}; this model trains on no synthetic sentences, "
        "so none were made.",
    ]
    if run_id is not None:
        lines.append(f"MLflow run: {run_id}")
    if run_id is not None and model_logged:
        lines.append(
            "Tag a file with this model:\n"
            f"  python predict.py model_uri=runs:/{run_id}/model input=<file.txt> "
            "output=entities.jsonl"
        )
    if run_id is not None:
        lines.append(
            f"Open the MLflow UI:\n  make mlflow-ui   # then http://127.0.0.1:5000/{ui_link}"
        )
    print("\n".join(lines) + "\n")


def run_name(tags: dict[str, str], role: str = "") -> str:
    """`seed1 bert none ncbi_disease`: what tells runs apart comes first, so a narrow runs-list
    column still shows the seed, the model and the augmenter."""
    parts = (role, f"seed{tags['seed']}", tags["model"], tags["augmenter"], tags["dataset"])
    return " ".join(part for part in parts if part)


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one few-shot training job; return its metrics (dev and test scores)."""
    lightning.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    data = load_few_shot_data(cfg)
    tags = run_tags(cfg)
    tracker, parent = open_tracking(cfg, tags)
    name = run_name(tags)
    with tracker.run(name, tags, parent_run_id=parent) as active:
        run_id = active.info.run_id if active is not None else None
        tracker.log_config(cfg)
        tagger = new_tagger(cfg, data)
        log_few_shot_data(cfg, tracker, data, output_dir)
        synthetic = SyntheticSet()
        if tagger.trains:
            synthetic, _ = logged_synthetic(cfg, data, tracker, output_dir)
        else:
            log.info("model %s trains on no synthetic sentences: none are made", tags["model"])
        summary = fit_tagger(cfg, tagger, data, synthetic, output_dir)
        tracker.log_metrics({k: float(v) for k, v in summary.items()})
        tracker.log_curves(tagger.learning_curves)

        scores: dict[str, Scores] = {}
        try:
            for split, sentences in evaluation_splits(cfg, data).items():
                scores[split], predictions = predict(tagger, sentences, output_dir, split)
                if split == "full_dev":  # what to improve, read off dev (never test)
                    path = output_dir / "full_dev_errors.md"
                    log_label_errors(tracker, predictions, path, split, cfg.label_errors)
            source = {"run_id": run_id or "", "git_commit": tags["git_commit"]}
            model_logged = log_trained_model(tracker, tagger, data, output_dir, source)
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
    ui_link = tracker.ui_link(run_id) if run_id is not None else None
    print_summary(
        name, table, metrics, len(synthetic), tagger.trains, run_id, model_logged, ui_link
    )
    return metrics


def check_with_teacher(
    cfg: DictConfig, data: FewShotData, synthetic: SyntheticSet, output_dir: Path
) -> dict[str, TeacherAgreement]:
    """Fit the configured model on the gold sample alone and count where its tags on the
    synthetic sentences agree with theirs (what consistency filtering would act on). Its tags
    are saved beside the synthetic ones in `teacher/predictions/synthetic.{jsonl,conll}`."""
    lightning.seed_everything(cfg.seed, workers=True)
    teacher = new_tagger(cfg, data)
    fit_tagger(cfg, teacher, data, SyntheticSet(), output_dir / "teacher")
    sentences = synthetic.to_sentences()
    try:
        teacher_tags = teacher.predict(sentences)
    finally:
        teacher.close()
    save_predictions(sentences, teacher_tags, output_dir / "teacher", "synthetic")
    return teacher_agreement(synthetic, teacher_tags)


def tagged_train_sentences(data: FewShotData, synthetic: SyntheticSet) -> list[TaggedPrediction]:
    """The synthetic sentences that are unchanged train-split sentences (distant supervision),
    their automatic tags next to those sentences' own gold tags, which no augmenter reads."""
    in_sample = {s.sentence_id for s in data.sample.sentences}
    train = {s.sentence_id: s for s in data.corpus.train if s.sentence_id not in in_sample}
    return [
        TaggedPrediction(
            s.source_sentence_id,
            s.sentence.tokens,
            train[s.source_sentence_id].tags,
            s.sentence.tags,
        )
        for s in synthetic
        if s.source_sentence_id in train and train[s.source_sentence_id].tokens == s.sentence.tokens
    ]


def generate(cfg: DictConfig) -> SyntheticSet:
    """Write the synthetic set for one (dataset, seed, augmenter) as JSONL and CoNLL and log it."""
    output_dir = Path(cfg.paths.output_dir)
    data = load_few_shot_data(cfg)
    tags = run_tags(cfg) | {"hilgen.role": "generate"}
    tracker, parent = open_tracking(cfg, tags)
    with tracker.run(run_name(tags, "generate"), tags, parent_run_id=parent):
        tracker.log_config(cfg)
        log_few_shot_data(cfg, tracker, data, output_dir)
        synthetic, cache_file = logged_synthetic(cfg, data, tracker, output_dir)
        # how good automatic labels are: tagged train sentences against their own gold tags
        pairs = tagged_train_sentences(data, synthetic)
        against_gold = score_predictions(pairs) if pairs else None
        errors = None
        if against_gold is not None:
            tracker.log_metrics(against_gold.as_metrics("train_labels"))
            path = output_dir / "label_errors.md"
            errors = log_label_errors(tracker, pairs, path, "train_labels", cfg.label_errors)
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
        if errors is not None and cfg.label_errors:
            print(f"\nTheir commonest errors ({output_dir / 'label_errors.md'}):")
            print(errors_table(errors, cfg.label_errors))
    if agreement:
        print(f"\n{tags['model']} trained on the gold sample alone, on the synthetic set:")
        print(agreement_table(agreement))
        print(f"its tags beside the synthetic ones: {output_dir / 'teacher' / 'predictions'}")
    print(
        f"\n{len(synthetic)} synthetic sentences -> {output_dir / 'synthetic'} "
        f"(cache: {cache_file})"
    )
    return synthetic
