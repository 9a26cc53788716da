"""Benchmark of tagging with a logged model: `predict.py` on BC5CDR's test text, on this machine.

Trains a quick default-model run on BC5CDR (augmenter=none, one short epoch: speed does not
depend on how well it tags) that logs its model, or takes a run you trained (`--run-id`, e.g.
the default `python train.py dataset=bc5cdr`'s, for meaningful F1), then measures, each over
the whole test split:

- reference: the loaded tagger's own predict loop over the corpus's pre-tokenised test
  sentences, in this process (what a training run does to score the test split), in fp32 and
  in bf16, each with its strict test F1 against the gold tags;
- `predict.py` on the test text as plain text (one document a line), in its own process, with
  `precision=fp32` and `precision=bf16`: words/s (tokenising, tagging, writing JSONL; model
  loading excluded) and peak memory;
- `predict.py` on the test PubTator file, whose entities must equal the run's own
  `predictions/test.jsonl` (same sentences, same tags);
- the model's size and the time `load_tagger` takes.

    .venv/bin/python bench/bench_predict.py [--documents N] [--threads N]
        [--run-id ID --tracking-uri URI]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HILGEN_ROOT", str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from hilgen import pipeline  # noqa: E402
from hilgen.data.pubtator import read_pubtator  # noqa: E402
from hilgen.evaluate.metrics import score_tags  # noqa: E402
from hilgen.evaluate.prediction_files import read_predictions_jsonl  # noqa: E402
from hilgen.evaluate.tables import format_table  # noqa: E402
from hilgen.inference.documents import entities_from_tags, tokenise  # noqa: E402
from hilgen.inference.tagger import autocast  # noqa: E402
from hilgen.tracking.tagger_model import directory_size, load_tagger  # noqa: E402

TEST_FILE = ROOT / "data" / "bc5cdr" / "CDR_TestSet.PubTator.txt"
SPEED_LINE = re.compile(r"(\d+) documents, (\d+) words in ([\d.]+) s")


def train_run(workdir: Path, test_sentences: int | None) -> tuple[str, str, Path]:
    """A quick BC5CDR run that logs its model, scored on the first `test_sentences` test
    sentences (all for None): (run id, tracking URI, output directory)."""
    overrides = [
        f"limit_test_sentences={test_sentences or 'null'}",
        "dataset=bc5cdr",
        "augmenter=none",
        "trainer.max_epochs=1",
        "trainer.min_epochs=1",
        "trainer.enable_progress_bar=false",
        "model.examples_per_epoch=16",
        "score_full_dev=false",
        f"tracking.tracking_uri=sqlite:///{workdir}/mlflow.db",
        f"tracking.artifact_root={workdir}/artifacts",
        f"paths.output_dir={workdir}/run",
    ]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    with contextlib.redirect_stdout(io.StringIO()):
        pipeline.train(cfg)
    client = MlflowClient(cfg.tracking.tracking_uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    (run,) = client.search_runs([experiment.experiment_id])
    return run.info.run_id, cfg.tracking.tracking_uri, workdir / "run"


def logged_run(workdir: Path, run_id: str, tracking_uri: str) -> tuple[str, str, Path]:
    """A run trained elsewhere: its test predictions are downloaded into `workdir`."""
    run_dir = workdir / "run"
    mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path="predictions/test.jsonl",
        dst_path=str(run_dir / "predictions"),
        tracking_uri=tracking_uri,
    )
    return run_id, tracking_uri, run_dir


def run_predict(
    run_id: str, tracking_uri: str, source: Path, output: Path, precision: str = "fp32"
) -> tuple[int, float, float]:
    """predict.py in its own process: (words, seconds as it reports them, its own peak RSS in
    MB)."""
    command = [
        sys.executable,
        str(ROOT / "predict.py"),
        f"model_uri=runs:/{run_id}/model",
        f"input={source}",
        f"output={output}",
        f"tracking.tracking_uri={tracking_uri}",
        f"precision={precision}",
        "progress=false",
        f"hydra.run.dir={output.parent}/hydra-{output.stem}",
    ]
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, text=True, cwd=ROOT)
        # wait4 gives this child's own usage (RUSAGE_CHILDREN is the peak over all children)
        _, status, usage = os.wait4(process.pid, 0)
        stdout.seek(0)
        stderr.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"predict.py failed:\n{stderr.read()[-3000:]}")
        out = stdout.read()
    match = SPEED_LINE.search(out)
    assert match, out
    return int(match.group(2)), float(match.group(3)), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=None, help="first N test documents")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default all)")
    parser.add_argument("--run-id", default=None, help="a BC5CDR run with a logged model")
    parser.add_argument("--tracking-uri", default=None, help="where --run-id is tracked")
    args = parser.parse_args()
    if bool(args.run_id) != bool(args.tracking_uri):
        parser.error("--run-id and --tracking-uri go together")
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="hilgen-bench-predict-"))
    blocks = [b for b in TEST_FILE.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    pubtator = workdir / "test.pubtator"
    pubtator.write_text("".join(b.strip("\n") + "\n\n" for b in blocks[: args.documents]))
    documents = read_pubtator(pubtator)
    plain = workdir / "test.txt"
    plain.write_text("".join(d.text + "\n" for d in documents))

    tokenised = [tokenise(d) for d in documents]
    sentences = [s for d in tokenised for s in d.sentences]
    start = time.perf_counter()
    if args.run_id:
        run_id, tracking_uri, run_dir = logged_run(workdir, args.run_id, args.tracking_uri)
    else:
        run_id, tracking_uri, run_dir = train_run(workdir, args.documents and len(sentences))
        print(f"trained and logged run {run_id} in {time.perf_counter() - start:.0f} s")
    run_predictions = {
        p.sentence_id: p for p in read_predictions_jsonl(run_dir / "predictions" / "test.jsonl")
    }
    gold = [run_predictions[s.sentence_id].gold for s in sentences]
    rows: list[list[object]] = []

    start = time.perf_counter()
    tagger = load_tagger(f"runs:/{run_id}/model", tracking_uri)
    load_seconds = time.perf_counter() - start
    model_dir = mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path="model",
        dst_path=str(workdir / "model"),
        tracking_uri=tracking_uri,
    )
    size_mb = directory_size(Path(model_dir)) / 1e6

    words = sum(len(s.tokens) for s in sentences)
    tags: dict[str, list[list[str]]] = {}
    cpu: dict[str, float] = {}
    for precision in ("fp32", "bf16"):
        start, cpu[precision] = time.perf_counter(), time.process_time()
        with autocast(precision):
            tags[precision] = tagger.tagger.predict(sentences)
        seconds, cpu[precision] = time.perf_counter() - start, time.process_time() - cpu[precision]
        f1 = score_tags(gold, tags[precision]).f1
        rows.append([f"reference loop, {precision}", words, seconds, words / seconds, "", f1])
    for precision in ("fp32", "bf16"):
        output = workdir / f"plain-{precision}.jsonl"
        text_words, seconds, rss = run_predict(run_id, tracking_uri, plain, output, precision)
        rows.append(
            [f"predict.py, plain text, {precision}", text_words, seconds, text_words / seconds, rss]
        )
    corpus_words, seconds, rss = run_predict(
        run_id, tracking_uri, pubtator, workdir / "corpus.jsonl"
    )
    rows.append(["predict.py, PubTator, fp32", corpus_words, seconds, corpus_words / seconds, rss])

    records = {
        r["id"]: r["entities"]
        for r in map(json.loads, (workdir / "corpus.jsonl").read_text().splitlines())
    }
    differing = 0
    entities = 0
    for document in tokenised:
        run_tags = [run_predictions[s.sentence_id].predicted for s in document.sentences]
        expected = [e.as_record() for e in entities_from_tags(document, run_tags)]
        entities += len(expected)
        differing += expected != records[document.doc_id]

    print(
        format_table(
            ["what", "words", "seconds", "words/s", "peak RSS MB", "test F1"],
            [
                [
                    r[0],
                    r[1],
                    f"{r[2]:.1f}",
                    f"{r[3]:,.0f}",
                    f"{r[4]:.0f}" if r[4] else "",
                    f"{r[5]:.2f}" if len(r) > 5 else "",
                ]
                for r in rows
            ],
        )
    )
    changed = sum(a != b for a, b in zip(tags["fp32"], tags["bf16"], strict=True))
    print(f"\nbf16 against fp32: {changed} of {len(sentences)} sentences tagged differently")
    print(
        f"\nmodel: {size_mb:.1f} MB, load_tagger {load_seconds:.1f} s; "
        f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}; "
        "the reference loop's words per CPU second: "
        + ", ".join(f"{words / c:,.0f} ({p})" for p, c in cpu.items())
    )
    print(
        f"predict.py on the PubTator test file against the run's predictions/test.jsonl: "
        f"{len(tokenised) - differing} of {len(tokenised)} documents identical "
        f"({entities} entities)"
    )
    if differing:
        raise SystemExit(f"{differing} documents differ from the run's own predictions")


if __name__ == "__main__":
    main()
