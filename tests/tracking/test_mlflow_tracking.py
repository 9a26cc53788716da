from __future__ import annotations

import pytest

from hilgen.tracking.mlflow_tracking import REDACTED, flatten, redact


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
