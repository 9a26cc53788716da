"""Ensembles: combination rules on hand-made predictions, dev-only choice, the MLflow round trip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
from mlflow.tracking import MlflowClient

from hilgen.data.types import TaggedPrediction
from hilgen.ensemble.runner import ensemble_seed, run_ensembles
from hilgen.evaluate.metrics import score_predictions
from hilgen.evaluate.prediction_files import write_predictions_jsonl
from hilgen.models.combine import (
    AllMembers,
    BestCombination,
    Ensembler,
    Intersection,
    Union,
    Vote,
    align,
    dev_f1_weights,
)
from hilgen.tracking.mlflow_tracking import Tracker
from hilgen.tracking.selection import MemberRun, Selection, download_member, one_progress_bar
from tests.conftest import CONF
from tests.helpers.iob import is_valid_iob2


def member(
    *sentence_tags: list[str], gold: list[list[str]] | None = None
) -> list[TaggedPrediction]:
    """One run's predictions; sentence i is `s<i>` with gold tags all O unless given."""
    return [
        TaggedPrediction(
            f"s{i}",
            [f"w{j}" for j in range(len(tags))],
            gold[i] if gold else ["O"] * len(tags),
            tags,
        )
        for i, tags in enumerate(sentence_tags)
    ]


def predicted(predictions: list[TaggedPrediction]) -> list[list[str]]:
    return [p.predicted for p in predictions]


def test_vote_accepts_a_weighted_majority() -> None:
    members = [
        member(["B-D", "I-D", "O", "B-C"]),
        member(["B-D", "I-D", "O", "O"]),
        member(["O", "O", "O", "B-C"]),
    ]
    # Equal weights: both spans have 2 of 3 votes.
    assert predicted(Vote().combine(members, [1, 1, 1])) == [["B-D", "I-D", "O", "B-C"]]
    # The first run outweighs the two others together: its spans alone pass...
    assert predicted(Vote().combine(members, [10, 1, 1])) == [["B-D", "I-D", "O", "B-C"]]
    # ...and a heavy dissenting run vetoes a span that two light runs agree on.
    assert predicted(Vote().combine(members, [1, 1, 5])) == [["O", "O", "O", "B-C"]]
    # Exactly half is not a majority.
    assert predicted(Vote().combine(members[:2], [1, 1])) == [["B-D", "I-D", "O", "O"]]
    assert predicted(Vote().combine([members[0], members[2]], [1, 1])) == [["O", "O", "O", "B-C"]]


def test_intersection_counts_members_not_weights() -> None:
    members = [
        member(["B-D", "O", "B-D", "O"]),
        member(["B-D", "O", "O", "B-D"]),
        member(["B-D", "O", "B-D", "B-D"]),
    ]
    assert predicted(Intersection().combine(members, [9, 1, 1])) == [["B-D", "O", "O", "O"]]
    two = Intersection(min_agree=2).combine(members, [9, 1, 1])
    assert predicted(two) == [["B-D", "O", "B-D", "B-D"]]
    with pytest.raises(ValueError, match="cannot combine 2 members"):
        Intersection(min_agree=3).combine(members[:2], [1, 1])


def test_union_resolves_overlaps_by_support_then_length() -> None:
    members = [
        member(["B-D", "I-D", "O", "O"]),
        member(["O", "B-D", "I-D", "O"]),
        member(["O", "B-D", "I-D", "O"]),
    ]
    # (1,3) has two votes, (0,2) one: (1,3) wins the overlap.
    assert predicted(Union().combine(members, [1, 1, 1])) == [["O", "B-D", "I-D", "O"]]
    # With the first run weighted higher, its span wins instead.
    assert predicted(Union().combine(members, [3, 1, 1])) == [["B-D", "I-D", "O", "O"]]
    # Equal support: the longer span wins.
    longer = [member(["B-D", "O", "O", "O"]), member(["B-D", "I-D", "I-D", "O"])]
    assert predicted(Union().combine(longer, [1, 1])) == [["B-D", "I-D", "I-D", "O"]]
    # Same tokens, two labels: the better-supported label.
    labels = [member(["B-A", "I-A"]), member(["B-B", "I-B"]), member(["B-B", "I-B"])]
    assert predicted(Union().combine(labels, [1, 1, 1])) == [["B-B", "I-B"]]


def test_invalid_inputs_give_valid_iob2() -> None:
    """I- without B- (strictly no entity, as seqeval scores it) and label switches inside a
    span never leak into the output, whatever the rule."""
    members = [
        member(["I-D", "I-D", "O", "B-D", "I-C", "I-C"], ["O", "I-D", "B-C", "I-D", "B-D", "O"]),
        member(["B-D", "I-D", "O", "B-D", "I-D", "I-D"], ["I-C", "B-D", "I-D", "I-D", "O", "B-C"]),
        member(["O", "I-C", "B-D", "I-D", "I-D", "B-C"], ["B-D", "O", "B-D", "O", "B-C", "I-C"]),
    ]
    for rule in (Vote(), Intersection(), Intersection(min_agree=2), Union()):
        for weights in ([1, 1, 1], [5, 1, 2], [0, 0, 0]):
            for prediction in rule.combine(members, weights):
                assert is_valid_iob2(prediction.predicted), (rule.describe(), prediction)
    # I- without B- is no entity (as seqeval scores it): only the B-D survives.
    assert Union().combine(members[:1], [1])[0].predicted == ["O", "O", "O", "B-D", "O", "O"]


def test_align_reorders_by_sentence_and_names_a_mismatch() -> None:
    first = member(["B-D"], ["O"])
    second = list(reversed(member(["O"], ["B-D"])))
    aligned = align([first, second], ["a", "b"])
    assert [p.sentence_id for p in aligned[1]] == ["s0", "s1"]
    with pytest.raises(ValueError, match=r"run-b: its sentences differ .*missing \['s1'\]"):
        align([first, member(["O"])], ["run-a", "run-b"])
    other_tokens = [TaggedPrediction("s0", ["x"], ["O"], ["O"]), first[1]]
    with pytest.raises(ValueError, match="run-b: sentence s0 has other tokens"):
        align([first, other_tokens], ["run-a", "run-b"])


def test_weights_are_dev_f1() -> None:
    gold = [["B-D", "O", "B-D", "O"]]
    perfect = member(["B-D", "O", "B-D", "O"], gold=gold)
    half = member(["B-D", "O", "O", "O"], gold=gold)
    assert dev_f1_weights([perfect, half]) == pytest.approx([100.0, 100 * 2 / 3])


# Three single-token entities per sentence; see test_best_is_chosen_on_dev_only.
GOLD = [["B-D", "O", "B-D", "O", "B-D", "O"]]
RIGHT = ["B-D", "O", "B-D", "O", "B-D", "O"]
WRONG = ["O", "B-D", "O", "B-D", "O", "O"]


def dev_and_test_members() -> tuple[list[list[TaggedPrediction]], list[list[TaggedPrediction]]]:
    """On dev, runs 0 and 1 agree and are right (run 2 half right); on test, run 1 is wrong and
    runs 0 and 2 are right: the dev-best pair is (0, 1), the test-best pair is (0, 2)."""
    dev = [
        member(RIGHT, gold=GOLD),
        member(RIGHT, gold=GOLD),
        member(["B-D", "B-D", "O", "O", "O", "O"], gold=GOLD),
    ]
    test = [member(RIGHT, gold=GOLD), member(WRONG, gold=GOLD), member(RIGHT, gold=GOLD)]
    return dev, test


def test_best_is_chosen_on_dev_only() -> None:
    dev, test = dev_and_test_members()
    best = BestCombination([Intersection()], min_members=2, max_members=2)
    weights = dev_f1_weights(dev)
    test_f1 = {
        subset: score_predictions(Intersection().combine([test[i] for i in subset], [1, 1])).f1
        for _, subset in best.candidates(3)
    }
    assert max(test_f1, key=test_f1.__getitem__) == (0, 2)  # the case is not trivial
    choice = best.choose(dev, weights)
    assert choice.member_indices == (0, 1)
    assert choice.dev_f1 == pytest.approx(100.0)
    assert score_predictions(choice.apply(test, weights)).f1 == pytest.approx(test_f1[0, 1])
    assert test_f1[0, 1] == 0.0

    members = [
        MemberRun(f"run{i}", {"augmenter": f"a{i}", "model": "bert", "seed": "1"}, {}, d, t)
        for i, (d, t) in enumerate(zip(dev, test, strict=True))
    ]
    result = ensemble_seed(1, members, best)
    assert result.choice.member_indices == (0, 1)
    assert (result.dev_scores.f1, result.test_scores.f1) == (100.0, 0.0)
    assert result.best_member_by_dev() == 0


def test_best_prefers_fewer_members_and_searches_rules() -> None:
    dev, _ = dev_and_test_members()
    rules = [Vote(), Intersection(), Union()]
    choice = BestCombination(rules, min_members=2).choose(dev, dev_f1_weights(dev))
    assert choice.member_indices == (0, 1) and choice.rule is rules[0]
    assert len(BestCombination(rules, min_members=1, max_members=2).candidates(3)) == 3 * (3 + 3)
    with pytest.raises(ValueError, match="no combination of 1 runs"):
        BestCombination(rules).choose(dev[:1], [1.0])


def test_all_members_uses_every_run() -> None:
    dev, _ = dev_and_test_members()
    choice = AllMembers(Vote()).choose(dev, dev_f1_weights(dev))
    assert choice.member_indices == (0, 1, 2)


def compose_ensemble(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("ensemble", overrides=overrides)


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "ensemble").glob("*.yaml")))
def test_ensemble_configs_instantiate(option: str) -> None:
    cfg = compose_ensemble([f"ensemble={option}", "select.models=[bert,dann]", "select.seeds=[1]"])
    assert cfg.task_name == "ensemble"
    ensembler = instantiate(cfg.ensemble)
    assert isinstance(ensembler, Ensembler) and ensembler.name == option
    selection = instantiate(cfg.select)
    expected = Selection(
        cfg.tracking.experiment, models=["bert", "dann"], augmenters=[], members=[], seeds=[1]
    )
    assert selection == expected


def test_selection_matches_train_runs_only() -> None:
    selection = Selection("x", models=["bert"], seeds=[1, 2])
    train_run = {"model": "bert", "augmenter": "none", "seed": "2"}
    assert selection.matches(train_run)
    assert not selection.matches(train_run | {"seed": "3"})
    assert not selection.matches(train_run | {"model": "dann"})
    assert not selection.matches(train_run | {"hilgen.role": "ensemble"})
    ablation = train_run | {"variant": "model.gold_upsample=4"}
    assert not selection.matches(ablation)  # default settings only, unless asked
    assert Selection("x", variant="model.gold_upsample=4").matches(ablation)
    pairs = Selection("x", members=["none/llm_tagger", "umls_all/dann"])
    assert pairs.matches({"model": "dann", "augmenter": "umls_all", "seed": "1"})
    assert not pairs.matches({"model": "dann", "augmenter": "none", "seed": "1"})
    assert not pairs.matches({"model": "dann", "augmenter": "umls_all", "seed": "1"} | ablation)
    # a pair may name its own variant; the others keep the selection's (here the default)
    mixed = Selection("x", members=["hilgen/bert", "hilgen/dann[model.head=crf]"])
    crf_dann = {"model": "dann", "augmenter": "hilgen", "seed": "1", "variant": "model.head=crf"}
    assert mixed.matches(crf_dann)
    assert not mixed.matches(crf_dann | {"variant": ""})
    assert mixed.matches(crf_dann | {"model": "bert", "variant": ""})
    assert not mixed.matches(crf_dann | {"model": "bert"})
    assert MemberRun("id", crf_dann, {}).name == "hilgen/dann[model.head=crf]"
    assert mixed.mixes_variants() and not pairs.mixes_variants()
    in_variant = Selection("x", variant="v=1", members=["a/bert", "b/dann[v=2]"])
    assert in_variant.member_names() == {"a/bert[v=1]", "b/dann[v=2]"}
    assert Selection("x", dataset="ncbi", filter="metrics.dev_f1 > 1").filter_string() == (
        "attributes.status = 'FINISHED' and tags.dataset = 'ncbi' and metrics.dev_f1 > 1"
    )


def log_fake_run(
    tracker: Tracker,
    tmp_path: Path,
    tags: dict[str, str],
    dev: list,
    test: list,
    full_dev: list | None = None,
) -> str:
    folder = tmp_path / "fake" / "-".join(tags.values()) / "predictions"
    write_predictions_jsonl(folder / "dev.jsonl", dev)
    write_predictions_jsonl(folder / "test.jsonl", test)
    if full_dev is not None:
        write_predictions_jsonl(folder / "full_dev.jsonl", full_dev)
    with tracker.run("fake", tags) as active:
        tracker.log_metrics({"test_f1": score_predictions(test).f1})
        tracker.log_artifact(folder)
        return active.info.run_id


def test_mlflow_download_bars_are_off_only_inside_one_progress_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name, "true")
    with one_progress_bar():
        assert MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.get() is False
    assert MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.get() is True
    monkeypatch.delenv(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name)
    with one_progress_bar():
        assert MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.get() is False
    assert MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name not in os.environ


def test_ensemble_runs_through_mlflow(tmp_path: Path, tmp_tracking: list[str]) -> None:
    """Runs logged like train.py's are found, combined per seed and logged with their inputs."""
    cfg = compose_ensemble(
        [*tmp_tracking, "tracking.experiment=fake", f"paths.output_dir={tmp_path}/out"]
        + ["ensemble=best", "ensemble.rules=[{_target_: hilgen.models.combine.Intersection}]"]
        + ["select.models=[bert]"]
    )
    tracker = instantiate(cfg.tracking)
    tracker.setup()
    dev, test = dev_and_test_members()
    protocol = {"dataset": "toy", "shots": "5", "dev_set": "kshot", "model": "bert"}
    inputs: dict[str, list[str]] = {"1": [], "2": []}
    for seed in inputs:
        for i in range(3):
            tags = protocol | {"augmenter": f"a{i}", "seed": seed}
            # every seed-1 run scored the whole dev split, one seed-2 run did not
            full_dev = member(RIGHT, gold=GOLD) if seed == "1" or i < 2 else None
            inputs[seed].append(log_fake_run(tracker, tmp_path, tags, dev[i], test[i], full_dev))
    # Not inputs: a sweep parent, and a run of a model that is not selected.
    client = MlflowClient(cfg.tracking.tracking_uri)
    sweep = client.create_run(tracker.experiment_id, tags={"hilgen.role": "sweep", "seed": "1"})
    client.set_terminated(sweep.info.run_id, "FINISHED")
    other_model = protocol | {"augmenter": "a0", "seed": "1", "model": "x"}
    log_fake_run(tracker, tmp_path, other_model, dev[0], test[0])

    summary = run_ensembles(cfg)
    assert summary == {
        "test_f1_mean": 0.0,
        "test_f1_sd": 0.0,
        "test_io_f1_mean": 0.0,
        "test_io_f1_sd": 0.0,
        "n_seeds": 2.0,
    }

    seed_runs = client.search_runs([tracker.experiment_id], "tags.`hilgen.role` = 'ensemble'")
    assert sorted(r.data.tags["seed"] for r in seed_runs) == ["1", "2"]
    for run in seed_runs:
        seed = run.data.tags["seed"]
        assert run.data.tags["hilgen.ensemble.inputs"].split(",") == inputs[seed]
        assert run.data.tags["augmenter"] == "ensemble_best"
        assert run.data.tags["model"] == "bert"
        assert "variant" not in run.data.tags  # default-settings members
        assert run.data.metrics["dev_f1"] == 100.0 and run.data.metrics["test_f1"] == 0.0
        assert run.data.metrics["dev_io_f1"] == 100.0 and run.data.metrics["test_io_f1"] == 0.0
        # the dev-chosen combination applied to the whole dev split, where every member has it
        assert run.data.metrics.get("full_dev_f1") == (100.0 if seed == "1" else None)
        assert "intersection(a0/bert" in run.data.tags["hilgen.ensemble.chosen"]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "predictions")}
        assert {"predictions/dev.jsonl", "predictions/test.jsonl"} <= artifacts
        assert ("predictions/full_dev.jsonl" in artifacts) == (seed == "1")
        parent = client.get_run(run.data.tags["mlflow.parentRunId"])
        assert parent.data.tags["hilgen.role"] == "ensemble_summary"
    assert (tmp_path / "out" / "summary.md").is_file()


def test_an_ensemble_of_ablation_runs_carries_their_variant(
    tmp_path: Path, tmp_tracking: list[str]
) -> None:
    """Its report row then sits beside its members' (`ensemble_vote [x=1]`), apart from the
    ensemble of default-settings runs."""
    variant = "model.gold_upsample=4"
    cfg = compose_ensemble(
        [*tmp_tracking, "tracking.experiment=fake", f"paths.output_dir={tmp_path}/out"]
        + [f"select.variant='{variant}'"]
    )
    tracker = instantiate(cfg.tracking)
    tracker.setup()
    dev, test = dev_and_test_members()
    protocol = {"dataset": "toy", "shots": "5", "dev_set": "kshot", "model": "bert", "seed": "1"}
    for i in range(2):
        tags = protocol | {"augmenter": f"a{i}", "variant": variant}
        log_fake_run(tracker, tmp_path, tags, dev[i], test[i])
    run_ensembles(cfg)
    client = MlflowClient(cfg.tracking.tracking_uri)
    (seed_run,) = client.search_runs([tracker.experiment_id], "tags.`hilgen.role` = 'ensemble'")
    assert seed_run.data.tags["variant"] == variant


def test_an_ensemble_of_members_of_different_variants_names_them(
    tmp_path: Path, tmp_tracking: list[str]
) -> None:
    """Members that name their own variants combine runs of different settings; the ensemble's
    row is named by its members, apart from the default ensemble and each variant's."""
    cfg = compose_ensemble(
        [*tmp_tracking, "tracking.experiment=fake", f"paths.output_dir={tmp_path}/out"]
        + ['select.members=[a0/bert,"a1/bert[model.head=crf]"]']
    )
    tracker = instantiate(cfg.tracking)
    tracker.setup()
    dev, test = dev_and_test_members()
    protocol = {"dataset": "toy", "shots": "5", "dev_set": "kshot", "model": "bert", "seed": "1"}
    crf = {"variant": "model.head=crf"}
    inputs = [
        log_fake_run(tracker, tmp_path, protocol | {"augmenter": "a0"}, dev[0], test[0]),
        log_fake_run(tracker, tmp_path, protocol | {"augmenter": "a1"} | crf, dev[1], test[1]),
    ]
    # not inputs: a1/bert with default settings, a0/bert of the variant
    log_fake_run(tracker, tmp_path, protocol | {"augmenter": "a1"}, dev[2], test[2])
    log_fake_run(tracker, tmp_path, protocol | {"augmenter": "a0"} | crf, dev[2], test[2])
    run_ensembles(cfg)
    client = MlflowClient(cfg.tracking.tracking_uri)
    (seed_run,) = client.search_runs([tracker.experiment_id], "tags.`hilgen.role` = 'ensemble'")
    assert seed_run.data.tags["hilgen.ensemble.inputs"].split(",") == inputs
    assert seed_run.data.tags["variant"] == "members=a0/bert+a1/bert[model.head=crf]"


def test_a_member_without_predictions_is_named(tmp_path: Path, tmp_tracking: list[str]) -> None:
    """A run logged without `predictions/test.jsonl` (e.g. by an older train.py) stops the
    ensemble with its id and how to leave it out, not a bare MLflow error."""
    cfg = compose_ensemble([*tmp_tracking, "tracking.experiment=fake"])
    tracker = instantiate(cfg.tracking)
    tracker.setup()
    folder = tmp_path / "old" / "predictions"
    write_predictions_jsonl(folder / "dev.jsonl", member(["O"]))
    tags = {"model": "bert", "augmenter": "none", "seed": "1"}
    with tracker.run("old", tags) as active:
        tracker.log_artifact(folder)
        run_id = active.info.run_id
    client = MlflowClient(cfg.tracking.tracking_uri)
    with pytest.raises(ValueError, match=rf"{run_id}.*predictions/test.jsonl.*select.filter"):
        download_member(client, client.get_run(run_id), tmp_path / "members")
