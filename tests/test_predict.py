"""A tiny real training run logs its tagger as an MLflow model; `predict.py` (and the Python
API) tag with it and repeat the run's own test predictions; bad model URIs are one-line
errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from mlflow.tracking import MlflowClient

from hilgen import load_tagger, pipeline, prediction
from hilgen.data.conll import read_conll
from hilgen.ensemble.runner import run_ensembles
from hilgen.evaluate.prediction_files import read_predictions_jsonl
from hilgen.inference.documents import entities_from_tags, from_sentences
from hilgen.inference.tagger import PrecisionError
from hilgen.tracking.tagger_model import ModelLoadError, download_tagger, log_tagger_model
from tests.conftest import CONF, ROOT, SHARED_DATA

TEST_SENTENCES = 12
TINY = [
    "dataset=ncbi_disease_1type",
    "augmenter=none",
    "debug=fast",
    "trainer.max_epochs=1",
    "trainer.min_epochs=1",
    "model.examples_per_epoch=8",
    f"limit_test_sentences={TEST_SENTENCES}",
]


@dataclass
class TrainedRun:
    run_id: str
    tracking_uri: str
    output_dir: Path
    summary: str


def compose_config(name: str, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(name, overrides=overrides)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the corpora mirror at {SHARED_DATA}")
    root = tmp_path_factory.mktemp("run")
    tracking = [
        f"tracking.tracking_uri=sqlite:///{root}/mlflow.db",
        f"tracking.artifact_root={root}/artifacts",
    ]
    cfg = compose_config(
        "train",
        [*TINY, *tracking, f"paths.output_dir={root}/out", f"paths.data_dir={ROOT / 'data'}"],
    )
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        pipeline.train(cfg)
    client = MlflowClient(cfg.tracking.tracking_uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    (run,) = client.search_runs([experiment.experiment_id])
    return TrainedRun(run.info.run_id, cfg.tracking.tracking_uri, root / "out", printed.getvalue())


def predict_config(run: TrainedRun, tmp_path: Path, *overrides: str):
    return compose_config(
        "predict",
        [
            f"model_uri=runs:/{run.run_id}/model",
            f"tracking.tracking_uri={run.tracking_uri}",
            f"paths.output_dir={tmp_path}/hydra",
            "progress=false",
            *overrides,
        ],
    )


def notes(tmp_path: Path, *texts: str) -> tuple[Path, Path]:
    """A .txt input of `texts` (one document a line), and where the output goes."""
    source = tmp_path / "notes.txt"
    source.write_text("".join(f"{text}\n" for text in texts))
    return source, tmp_path / "out.jsonl"


def test_a_training_run_logs_its_tagger_as_a_model(trained_run: TrainedRun, tmp_path: Path) -> None:
    client = MlflowClient(trained_run.tracking_uri)
    run = client.get_run(trained_run.run_id)
    mlflow.set_tracking_uri(trained_run.tracking_uri)
    (logged,) = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    assert logged.name == "model" and logged.source_run_id == trained_run.run_id
    metrics = run.data.metrics
    assert 80 < metrics["model/size_mb"] < 100  # MiniLM's weights, tokenizer and head
    assert metrics["model/log_seconds"] > 0 and metrics["model/export_seconds"] > 0
    info = mlflow.models.get_model_info(f"runs:/{trained_run.run_id}/model")
    assert info.signature is not None and info.saved_input_example_info is not None
    # the whole logged model stays under 100 MB: the weights are stored once, as artifacts
    local = Path(
        mlflow.artifacts.download_artifacts(
            f"runs:/{trained_run.run_id}/model", dst_path=str(tmp_path)
        )
    )
    assert sum(p.stat().st_size for p in local.rglob("*") if p.is_file()) < 100e6
    assert (local / "python_model.pkl").stat().st_size < 10_000
    # the newcomer's summary names the run and the next two commands
    assert f"python predict.py model_uri=runs:/{trained_run.run_id}/model" in trained_run.summary
    assert "make mlflow-ui" in trained_run.summary and "Test F1:" in trained_run.summary


def test_predict_py_repeats_the_runs_own_test_predictions(
    trained_run: TrainedRun, tmp_path: Path
) -> None:
    """The run's test split (its first sentences, as a CoNLL file) through predict.py gives
    the entities of the run's predictions/test.jsonl."""
    split = read_conll(ROOT / "data" / "ncbi_disease" / "conll" / "test.tsv")[:TEST_SENTENCES]
    conll = tmp_path / "test.conll"
    conll.write_text("\n".join("".join(f"{t}\tO\n" for t in s.tokens) for s in split))
    output = tmp_path / "entities.jsonl"
    cfg = predict_config(trained_run, tmp_path, f"input={conll}", f"output={output}")
    counts = prediction.predict(cfg)
    assert counts["documents"] == 1 and counts["words"] == sum(len(s.tokens) for s in split)
    (record,) = [json.loads(line) for line in output.read_text().splitlines()]

    run_predictions = read_predictions_jsonl(trained_run.output_dir / "predictions" / "test.jsonl")
    assert [p.tokens for p in run_predictions] == [s.tokens for s in split]
    document = from_sentences("test:d0", split)
    expected = entities_from_tags(document, [p.predicted for p in run_predictions])
    assert record["entities"] == [e.as_record() for e in expected]
    assert record["entities"], "the tiny run should predict some entities to compare"


def test_the_python_api_and_predict_py_give_the_same_records(
    trained_run: TrainedRun, tmp_path: Path
) -> None:
    texts = ["Ataxia-telangiectasia is a recessive multi-system disorder.", "Nothing."]
    source, output = notes(tmp_path, *texts)
    prediction.predict(predict_config(trained_run, tmp_path, f"input={source}", f"output={output}"))
    from_cli = [json.loads(line) for line in output.read_text().splitlines()]
    tagger = load_tagger(f"runs:/{trained_run.run_id}/model", trained_run.tracking_uri)
    from_api = tagger.tag(texts)
    assert [r["entities"] for r in from_api] == [r["entities"] for r in from_cli]
    assert [r["text"] for r in from_api] == texts


def test_bf16_precision_tags_through_predict_py_and_an_unknown_one_is_an_error(
    trained_run: TrainedRun, tmp_path: Path
) -> None:
    source, output = notes(tmp_path, "Ataxia-telangiectasia is a recessive multi-system disorder.")
    cfg = predict_config(trained_run, tmp_path, f"input={source}", f"output={output}")
    cfg.precision = "bf16"
    assert prediction.predict(cfg)["documents"] == 1
    (record,) = [json.loads(line) for line in output.read_text().splitlines()]
    assert all(record["text"][e["start"] : e["end"]] == e["text"] for e in record["entities"])
    output.unlink()
    cfg.precision = "fp16"
    with pytest.raises(PrecisionError, match="precision=fp16: expected one of"):
        prediction.predict(cfg)
    assert not output.exists()


def test_a_bad_model_uri_is_a_one_line_error_and_writes_nothing(
    trained_run: TrainedRun, tmp_path: Path
) -> None:
    source, output = notes(tmp_path, "Breast cancer.")
    client = MlflowClient(trained_run.tracking_uri)
    older = client.create_run(client.get_run(trained_run.run_id).info.experiment_id)
    cases = {
        "runs:/0123456789abcdef0123456789abcdef/model": "no run '0123456789abcdef",
        f"runs:/{older.info.run_id}/model": "has no logged model",
        "models:/no-such-model/1": "no such registered model version",
        str(tmp_path / "nowhere"): "no such model directory",
    }
    for uri, message in cases.items():
        cfg = predict_config(
            trained_run, tmp_path, f"model_uri='{uri}'", f"input={source}", f"output={output}"
        )
        with pytest.raises(ModelLoadError, match=message) as error:
            prediction.predict(cfg)
        assert "\n" not in str(error.value)
        assert not output.exists()
    # the command line shows the message, not a traceback
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "predict.py"),
            f"model_uri=runs:/{older.info.run_id}/model",
            f"input={source}",
            f"output={output}",
            f"tracking.tracking_uri={trained_run.tracking_uri}",
            f"hydra.run.dir={tmp_path}/cli",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: runs:/")
    assert "Traceback" not in result.stderr and not output.exists()


def test_an_ensemble_run_logs_a_model_of_its_members_and_rule(
    trained_run: TrainedRun, tmp_path: Path
) -> None:
    """A second member (the trained run's model and predictions logged again under another
    augmenter) and `ensemble.py ensemble=vote`: the seed's ensemble run holds a model that
    loads as the vote of the two members' models."""
    client = MlflowClient(trained_run.tracking_uri)
    run = client.get_run(trained_run.run_id)
    mlflow.set_tracking_uri(trained_run.tracking_uri)
    tagger_dir = download_tagger(trained_run.run_id, tmp_path / "member")
    with mlflow.start_run(
        experiment_id=run.info.experiment_id, tags=run.data.tags | {"augmenter": "clone"}
    ):
        mlflow.log_metrics(run.data.metrics)
        mlflow.log_artifact(str(trained_run.output_dir / "predictions"))
        log_tagger_model(tagger_dir)
    cfg = compose_config(
        "ensemble",
        [
            f"tracking.tracking_uri={trained_run.tracking_uri}",
            f"tracking.artifact_root={Path(trained_run.tracking_uri[10:]).parent}/artifacts",
            f"paths.output_dir={tmp_path}/out",
            "ensemble=vote",
            "select.dataset=ncbi_disease_1type",
        ],
    )
    run_ensembles(cfg)
    (seed_run,) = client.search_runs([run.info.experiment_id], "tags.`hilgen.role` = 'ensemble'")
    assert seed_run.data.metrics["model/size_mb"] > 160  # two members' weights
    ensemble = load_tagger(f"runs:/{seed_run.info.run_id}/model", trained_run.tracking_uri)
    assert ensemble.card.kind == "ensemble" and len(ensemble.tagger.members) == 2
    # the rule and weights chosen on dev come back (equal members: tags alone cannot show it)
    assert ensemble.tagger.rule.describe() == "vote"
    weights = ensemble.tagger.weights
    assert len(weights) == 2 and weights[0] == weights[1]  # dev F1 of two equal members
    single = load_tagger(f"runs:/{trained_run.run_id}/model", trained_run.tracking_uri)
    texts = ["Ataxia-telangiectasia is a recessive multi-system disorder of children."]
    assert ensemble.tag(texts) == single.tag(texts)  # a vote of two equal members


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_mlflow_models_serve_answers_with_the_same_entity_records(
    trained_run: TrainedRun, tmp_path: Path
) -> None:
    """`mlflow models serve -m runs:/<run_id>/model --env-manager local` on a loopback port:
    `POST /invocations {"inputs": [...]}` answers with the records the Python API gives."""
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = os.environ | {
        "MLFLOW_TRACKING_URI": trained_run.tracking_uri,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        # the server execs uvicorn from the PATH: the venv's, as in an activated venv
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
    }
    command = [
        str(bin_dir / "mlflow"),
        "models",
        "serve",
        "-m",
        f"runs:/{trained_run.run_id}/model",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log_file:
        server = subprocess.Popen(
            command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, f"the server stopped:\n{log_path.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no answer:\n{log_path.read_text()[-3000:]}"
            time.sleep(1)
        texts = ["Ataxia-telangiectasia is a recessive multi-system disorder.", "Nothing here."]
        request = urllib.request.Request(
            f"{base}/invocations",
            data=json.dumps({"inputs": texts}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.load(response)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    expected = load_tagger(f"runs:/{trained_run.run_id}/model", trained_run.tracking_uri)
    assert answer == {"predictions": expected.tag(texts)}
