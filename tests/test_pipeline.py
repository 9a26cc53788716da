"""Tiny real jobs through the pipeline: train a few steps, log to a temporary MLflow store, and
read the run back; generation through the cache."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mlflow
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from mlflow.tracking import MlflowClient

from hilgen import pipeline
from hilgen.augment.base import SyntheticSet
from hilgen.data.sampling import KShotSample
from hilgen.data.types import Corpus, Sentence, Span
from hilgen.errors import UserError
from hilgen.evaluate.metrics import score_predictions
from hilgen.evaluate.prediction_files import read_predictions_jsonl
from tests.conftest import CONF

TINY = [
    "dataset=ncbi_disease_1type",
    "augmenter=none",
    "tracking.log_model=false",  # tests/test_predict.py covers the logged model
    "debug=fast",
    "trainer.max_epochs=1",
    "trainer.min_epochs=1",
    "model.examples_per_epoch=8",
    "limit_test_sentences=12",
]


def compose_train(overrides: list[str], config_name: str = "train"):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name, overrides=overrides)


def all_artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            found |= all_artifacts(client, run_id, item.path)
        else:
            found.add(item.path)
    return found


def test_tiny_training_run_is_logged_and_read_back(
    tmp_path: Path, tmp_tracking: list[str], needs_shared_data: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-value-that-must-not-leak-000")
    cfg = compose_train(
        [
            *TINY,
            *tmp_tracking,
            f"paths.output_dir={tmp_path}/out",
            f"paths.data_dir={Path(__file__).parents[1] / 'data'}",
        ]
    )
    metrics = pipeline.train(cfg)
    assert 0.0 <= metrics["test_f1"] <= 100.0

    client = MlflowClient(cfg.tracking.tracking_uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["dataset"] == "ncbi_disease_1type"
    assert run.data.tags["seed"] == "1"
    # the seed first: a narrow runs-list column still tells runs apart
    # (composed without Hydra's runtime, the model has no group choice to name it by)
    assert run.info.run_name == "seed1 none ncbi_disease_1type"
    # the corpus and the K-shot sample are the run's dataset inputs (the UI's Dataset column)
    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    assert inputs["corpus"].name == "ncbi_disease_1type"
    assert inputs["training"].name == "ncbi_disease_1type 5-shot seed 1"
    assert json.loads(inputs["training"].profile)["num_rows"] > 0
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert run.data.metrics["test_f1"] == metrics["test_f1"]
    assert run.data.params["model.optimizer.lr"] == "0.0001"
    # the dev F1 of every epoch, as steps (the one epoch here), is the learning curve in the UI
    (epoch_0,) = client.get_metric_history(run.info.run_id, "joint_dev_f1")
    assert epoch_0.step == 0
    # the best dev F1 passed through Lightning as a float32 tensor, the curve did not
    assert epoch_0.value == pytest.approx(run.data.metrics["joint_best_dev_f1"])
    artifacts = all_artifacts(client, run.info.run_id)
    assert {
        "config.yaml",
        "data/few_shot_sample.jsonl",
        "predictions/test.jsonl",
        "predictions/test.conll.txt",
        "results.md",
    } <= artifacts
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id,
            tracking_uri=cfg.tracking.tracking_uri,
            dst_path=str(tmp_path / "dl"),
        )
    )
    lines = (local / "predictions" / "test.jsonl").read_text().splitlines()
    assert len(lines) == 12
    # the whole dev split (here its first 12 sentences) is scored too, for choosing between
    # configurations without the test set; the run's own dev F1 is the K-shot sample's
    assert len((local / "predictions" / "full_dev.jsonl").read_text().splitlines()) == 12
    assert 0.0 <= run.data.metrics["full_dev_f1"] <= 100.0
    assert "full_dev_f1" in metrics and "dev_f1" in metrics
    # the paper's IO scoring beside strict IOB2
    for split in ("test", "full_dev"):
        assert 0.0 <= run.data.metrics[f"{split}_io_f1"] <= 100.0
    assert "| IO F1 |" in (local / "results.md").read_text()
    # the whole dev split's errors by kind (never the test split's): every tagged span that is
    # not exactly right is spurious, a wrong type or a wrong boundary
    m = run.data.metrics
    wrong = sum(m[f"full_dev_errors/{kind}"] for kind in ("spurious", "wrong_type", "boundary"))
    right = m["full_dev_precision"] / 100 * m["full_dev_n_predicted"]
    assert wrong == pytest.approx(m["full_dev_n_predicted"] - right)
    assert (local / "full_dev_errors.md").read_text().startswith("| kind ")
    assert not [key for key in m if key.startswith("test_errors")]
    assert set(json.loads(lines[0])) == {"sentence_id", "tokens", "gold", "predicted"}
    for path in local.rglob("*"):
        if path.is_file():
            assert "sk-test-secret" not in path.read_text(errors="ignore")


def test_full_dev_is_scored_only_beside_a_k_shot_dev_sample() -> None:
    data = pipeline.FewShotData(
        Corpus("toy", ["Disease"], [], [Sentence(f"d{i}", ["x"]) for i in range(5)], []),
        {},
        {},
        {},
        KShotSample([], {}, shots=5, seed=1),
        dev=[Sentence("d0", ["x"])],
        test=[],
    )

    def splits(*overrides: str) -> dict[str, int]:
        cfg = compose_train(["limit_test_sentences=3", *overrides])
        return {k: len(v) for k, v in pipeline.evaluation_splits(cfg, data).items()}

    assert splits() == {"dev": 1, "test": 0, "full_dev": 3}
    assert splits("dev_set.mode=full") == {"dev": 1, "test": 0}
    assert splits("score_full_dev=false") == {"dev": 1, "test": 0}
    assert compose_train(["experiment=table4", "dataset=ncbi_disease"]).score_full_dev is False


def test_variant_is_made_of_the_overrides_that_change_a_run() -> None:
    overrides = [
        "seed=3",
        "augmenter=hilgen",
        "model=dann",
        "experiment=main",
        "hydra.sweeper.params.seed='4,5'",
        "tracking.experiment=x",
        "trainer.enable_progress_bar=false",
        "model.outside_margins=[0.0]",
        "augmenter.negatives.per_mention=3",
        "kb=umls",
    ]
    assert pipeline.variant_of(overrides) == (
        "augmenter.negatives.per_mention=3,kb=umls,model.outside_margins=[0.0]"
    )
    assert pipeline.variant_of(overrides[:7]) == ""


def test_variant_leaves_out_what_defines_a_named_dataset_and_the_shots() -> None:
    user = ["dataset=conll", "dataset.name=mine", "dataset.train=/x/t.tsv", "shots=2"]
    assert pipeline.variant_of([*user, "+dataset.label_groups={A:[DISO]}", "kb=umls"]) == "kb=umls"
    # On a shipped dataset a changed policy is an ablation, and its path overrides show too.
    shipped = ["dataset=ncbi_disease", "+dataset.relation_labels={A:{parent:B}}"]
    assert pipeline.variant_of(shipped) == "+dataset.relation_labels={A:{parent:B}}"


def test_a_named_user_corpus_names_its_experiment_and_runs(
    tmp_path: Path, tmp_tracking: list[str], needs_shared_data: Path
) -> None:
    """`dataset=conll dataset.name=mine` runs as the dataset `mine` (experiment, run name,
    tags), and the overrides that define it are not taken for an ablation variant."""
    conll = needs_shared_data / "ncbi_disease" / "conll"
    files = {}
    for split, source in (("train", "train"), ("dev", "devel"), ("test", "test")):
        blocks = (conll / f"{source}.tsv").read_text().split("\n\n")[:60]
        files[split] = tmp_path / f"{split}.tsv"
        files[split].write_text("\n\n".join(blocks) + "\n")
    smoke = [o for o in TINY if not o.startswith("dataset=")]
    overrides = [
        "dataset=conll",
        "dataset.name=mine",
        *(f"dataset.{split}={path}" for split, path in files.items()),
        "dataset.labels=[Disease]",
        "dataset.label_groups={Disease:[DISO]}",
        "experiment=main",
        "shots=2",
        *smoke,
        *tmp_tracking,
        f"paths.output_dir={tmp_path}/out",
    ]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        # What the app sees: the Hydra settings (its overrides) aside, the job's config.
        HydraConfig.instance().set_config(
            compose("train", overrides=overrides, return_hydra_config=True)
        )
        cfg = compose("train", overrides=overrides)
    try:
        pipeline.train(cfg)
    finally:
        HydraConfig.instance().cfg = None

    client = MlflowClient(cfg.tracking.tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("main-mine").experiment_id])
    assert run.info.run_name == "seed1 bert none mine"
    assert (run.data.tags["dataset"], run.data.tags["shots"]) == ("mine", "2")
    # the augmenter names the row and tracking settings change no result: neither is a variant
    kept = [o for o in smoke if not o.startswith(("augmenter=", "tracking."))]
    assert run.data.tags["variant"] == ",".join(sorted(kept))


def fixture_kb_generation(
    tmp_path: Path,
    tmp_tracking: list[str],
    augmenter: str = "umls_synonyms",
    min_linked_share: float = 0.0,
) -> list[str]:
    """Overrides for a tiny generation run from the fixture KB into `tmp_path`. The fixture KB
    knows few of NCBI-Disease's concepts, so the link gate (`min_linked_share`) is off unless
    the test is about it."""
    key = "parts.substitution." if augmenter == "hilgen_dictionary" else ""
    gate = f"augmenter.{key}min_linked_share={min_linked_share}"
    return [
        *TINY,
        *tmp_tracking,
        f"augmenter={augmenter}",
        gate,
        "kb._target_=tests.helpers.kb_fixture.demo_kb",
        "~kb.data_dir",
        "~kb.build_if_missing",
        "linker._target_=tests.helpers.kb_fixture.FixtureLinker",
        "~linker.threshold",
        f"paths.output_dir={tmp_path}/out",
        f"paths.cache_dir={tmp_path}/cache",
        f"paths.data_dir={Path(__file__).parents[1] / 'data'}",
    ]


def test_generation_is_cached_and_shared_with_training(
    tmp_path: Path, tmp_tracking: list[str], needs_shared_data: Path
) -> None:
    """Second generation of the same (dataset, seed, augmenter, KB) is a cache hit."""
    cfg = compose_train(fixture_kb_generation(tmp_path, tmp_tracking), config_name="generate")
    first = pipeline.generate(cfg)
    second = pipeline.generate(cfg)
    assert first.stats["cache_hit"] == 0
    assert second.stats["cache_hit"] == 1
    assert [s.sentence.tokens for s in first] == [s.sentence.tokens for s in second]
    assert (tmp_path / "out" / "synthetic" / "synthetic.conll.txt").exists()
    assert len(list((tmp_path / "cache" / "synthetic").rglob("*.jsonl"))) == 1


def test_teacher_check_counts_every_synthetic_sentence_and_logs_them(
    tmp_path: Path, tmp_tracking: list[str], needs_shared_data: Path, capsys
) -> None:
    """`generate.py teacher_check=true` fits the model on gold alone and logs its agreement."""
    overrides = [*fixture_kb_generation(tmp_path, tmp_tracking), "teacher_check=true"]
    cfg = compose_train(overrides, config_name="generate")
    synthetic = pipeline.generate(cfg)
    assert len(synthetic) > 0
    assert "trained on the gold sample alone" in capsys.readouterr().out

    client = MlflowClient(cfg.tracking.tracking_uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    (run,) = client.search_runs([experiment.experiment_id])
    metrics = run.data.metrics
    counted = metrics["teacher/positive/sentences"] + metrics["teacher/negative/sentences"]
    assert counted == len(synthetic)
    assert 0 <= metrics["teacher/positive/agree"] <= metrics["teacher/positive/sentences"]
    # the teacher's tags, next to the synthetic ones, as files and as artifacts
    saved = read_predictions_jsonl(tmp_path / "out" / "teacher" / "predictions" / "synthetic.jsonl")
    assert [p.gold for p in saved] == [s.tags for s in synthetic.to_sentences()]
    assert all(len(p.predicted) == len(p.tokens) for p in saved)
    assert {
        "teacher/predictions/synthetic.jsonl",
        "teacher/predictions/synthetic.conll.txt",
    } <= all_artifacts(client, run.info.run_id)


def test_unlabelled_train_is_the_train_split_outside_the_sample_without_labels() -> None:
    spans = [Span(0, 1, "Disease")]
    train = [Sentence(f"t{i}", ["cancer", "."], list(spans), f"doc{i}") for i in range(3)]
    data = pipeline.FewShotData(
        Corpus("toy", ["Disease"], train, [], []),
        {},
        {},
        {},
        KShotSample([train[1]], {"Disease": 1}, shots=1, seed=1),
        dev=[],
        test=[],
    )
    pool = pipeline.unlabelled_train(data)
    assert [(s.sentence_id, s.doc_id, s.tokens, s.spans) for s in pool] == [
        ("t0", "doc0", ["cancer", "."], []),
        ("t2", "doc2", ["cancer", "."], []),
    ]
    assert train[0].spans == spans  # the corpus keeps its labels


def test_dictionary_generation_tags_train_sentences_outside_the_sample(
    tmp_path: Path, tmp_tracking: list[str], needs_shared_data: Path, capsys
) -> None:
    """augmenter=hilgen_dictionary pools substitution of the sample with KB names found in the
    rest of the train split (the fixture KB knows tumours and breast, lung, ovarian cancer)."""
    overrides = fixture_kb_generation(tmp_path, tmp_tracking, "hilgen_dictionary")
    cfg = compose_train(overrides, config_name="generate")
    synthetic = pipeline.generate(cfg)
    data = pipeline.load_few_shot_data(cfg)
    train = {s.sentence_id: s for s in data.corpus.train}
    sample_ids = {s.sentence_id for s in data.sample.sentences}
    found = [s for s in synthetic if s.augmenter == "kb_dictionary"]
    substituted = [s for s in synthetic if s.augmenter == "hilgen"]
    assert found and substituted
    assert synthetic.stats["dictionary/tagged_sentences"] >= len(found)
    for tagged in found:
        assert tagged.source_sentence_id in train
        assert tagged.source_sentence_id not in sample_ids
        assert tagged.sentence.tokens == train[tagged.source_sentence_id].tokens
        assert {span.label for span in tagged.sentence.spans} == {"Disease"}
    assert {s.source_sentence_id for s in substituted} <= sample_ids
    # the automatic labels, scored against the same sentences' gold labels, printed and logged
    expected = score_predictions(pipeline.tagged_train_sentences(data, synthetic))
    assert expected.n_predicted == sum(len(s.sentence.spans) for s in found)
    assert "against their own gold labels" in capsys.readouterr().out
    client = MlflowClient(cfg.tracking.tracking_uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.metrics["train_labels_f1"] == pytest.approx(expected.f1)


def test_the_dictionary_model_tags_as_the_distant_labels_were_made(
    tmp_path: Path, tmp_tracking: list[str], needs_shared_data: Path, capsys
) -> None:
    """model=dictionary is kb_dictionary's labeller as a train.py model: on the train sentences
    the distant labels came from it gives exactly those labels; its run logs its predictions
    and dictionary statistics; without kb_dictionary's settings it fails before any synthetic
    set is made, naming the fix."""
    overrides = [
        o
        for o in fixture_kb_generation(tmp_path, tmp_tracking, "kb_dictionary")
        if "min_linked_share" not in o  # a substitution setting
    ] + ["limit_test_sentences=300"]  # enough test text for names to occur
    synthetic = pipeline.generate(compose_train(overrides, config_name="generate"))
    cfg = compose_train([*overrides, "model=dictionary"])
    metrics = pipeline.train(cfg)
    assert "this model trains on no synthetic sentences, so none were made" in (
        capsys.readouterr().out
    )
    assert metrics["test_n_predicted"] > 0

    data = pipeline.load_few_shot_data(cfg)
    tagger = pipeline.new_tagger(cfg, data)
    pipeline.fit_tagger(cfg, tagger, data, SyntheticSet(), tmp_path / "fit")
    test_text = {tuple(t.casefold() for t in s.tokens) for s in data.corpus.test}
    pool = [
        s
        for s in pipeline.unlabelled_train(data)
        if tuple(t.casefold() for t in s.tokens) not in test_text  # as the augmenter drops them
    ]
    distant = {s.source_sentence_id: s.sentence.tags for s in synthetic}
    predicted = dict(zip([s.sentence_id for s in pool], tagger.predict(pool), strict=True))
    assert distant and {i: predicted[i] for i in distant} == distant
    assert all(
        "B-" not in " ".join(predicted[s.sentence_id]) for s in pool if s.sentence_id not in distant
    )

    client = MlflowClient(cfg.tracking.tracking_uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    (run,) = [
        r
        for r in client.search_runs([experiment.experiment_id])
        if r.data.tags.get("hilgen.role") != "generate"
    ]
    assert run.data.metrics["dictionary/names"] > 0
    assert not [key for key in run.data.metrics if key.startswith("synthetic/")]
    assert "synthetic" not in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "predictions/test.jsonl" in {
        a.path for a in client.list_artifacts(run.info.run_id, "predictions")
    }
    substitution = fixture_kb_generation(tmp_path, tmp_tracking, "umls_synonyms")
    with pytest.raises(InstantiationException, match="use augmenter=kb_dictionary"):
        pipeline.train(compose_train([*substitution, "model=dictionary"]))
    assert not list((tmp_path / "cache" / "synthetic" / "ncbi_disease_1type").glob("umls*"))


def test_unlabelled_text_joins_the_pool_and_the_cache_key(
    tmp_path: Path, tmp_tracking: list[str], needs_shared_data: Path, caplog
) -> None:
    """unlabelled_text: a user's raw text is tagged beside the train split (ids prefixed
    `text:`), a new text is a new synthetic set, a missing file names the setting, and an
    augmenter that tags no text says it does not read it."""
    overrides = [
        o
        for o in fixture_kb_generation(tmp_path, tmp_tracking, "kb_dictionary")
        if "min_linked_share" not in o
    ]
    text = tmp_path / "abstracts.txt"
    text.write_text("Ovarian cancer was rare . Nothing was named .\n\nBreast cancer recurred .\n")
    cfg = compose_train([*overrides, f"unlabelled_text={text}"], config_name="generate")
    synthetic = pipeline.generate(cfg)
    from_text = {
        s.source_sentence_id: s for s in synthetic if s.source_sentence_id.startswith("text:")
    }
    assert [
        (s.sentence.span_text(x), x.label) for s in from_text.values() for x in s.sentence.spans
    ] == [
        ("Ovarian cancer", "Disease"),
        ("Breast cancer", "Disease"),
    ]
    assert synthetic.stats["unlabelled_text_sentences"] == 3
    assert synthetic.stats["cache_hit"] == 0
    text.write_text("Lung cancer was rare .\n")
    changed = pipeline.generate(cfg)
    assert changed.stats["cache_hit"] == 0
    assert [s.sentence.tokens[:2] for s in changed if s.source_sentence_id.startswith("text:")] == [
        ["Lung", "cancer"]
    ]
    cfg = compose_train([*overrides, f"unlabelled_text={tmp_path / 'missing.txt'}"], "generate")
    with pytest.raises(UserError, match="check the unlabelled_text= path"):
        pipeline.generate(cfg)
    substitution = fixture_kb_generation(tmp_path, tmp_tracking, "umls_synonyms")
    cfg = compose_train([*substitution, f"unlabelled_text={text}"], config_name="generate")
    with caplog.at_level(logging.WARNING, logger="hilgen.pipeline"):
        ignored = pipeline.generate(cfg)
    assert ignored.stats["unlabelled_text_sentences"] == 0
    assert "unlabelled_text=" in caplog.text and "does not tag text" in caplog.text


def test_a_sample_the_kb_cannot_augment_trains_on_gold_and_says_so(
    tmp_path: Path, tmp_tracking: list[str], needs_shared_data: Path, caplog
) -> None:
    """No sample mention links into the (narrow) scopes: the default augmenter makes no
    negatives-only set, warns, and logs `synthetic/gold_only` (docs/generality_safety.md)."""
    overrides = [
        *fixture_kb_generation(tmp_path, tmp_tracking, "hilgen", min_linked_share=0.5),
        "dataset.label_groups={Disease:[T019]}",
    ]
    cfg = compose_train(overrides, config_name="generate")
    with caplog.at_level(logging.WARNING):
        synthetic = pipeline.generate(cfg)
    assert len(synthetic) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("trains on the gold sample alone" in line for line in warned)
    assert any("'Disease'" in line and "min_linked_share" in line for line in warned)
    client = MlflowClient(cfg.tracking.tracking_uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.metrics["synthetic/gold_only"] == 1
    assert run.data.metrics["synthetic/labels_fallback"] == 1
