"""Benchmark of tagging with a logged model: `predict.py` on BC5CDR's test text, on this machine.

Trains a quick default-model run on BC5CDR (augmenter=none, one short epoch: speed does not
depend on how well it tags) that logs its model, then measures, each over the whole test split:

- reference: the loaded tagger's own predict loop over the corpus's pre-tokenised test
  sentences, in this process (what a training run does to score the test split);
- `predict.py` on the test text as plain text (one document a line), in its own process:
  words/s (tokenising, tagging, writing JSONL; model loading excluded) and peak memory;
- `predict.py` on the test PubTator file, whose entities must equal the run's own
  `predictions/test.jsonl` (same sentences, same tags);
- the model's size and the time `load_tagger` takes.

    .venv/bin/python bench/bench_predict.py [--documents N] [--threads N]
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

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from hilgen import pipeline  # noqa: E402
from hilgen.data.pubtator import read_pubtator  # noqa: E402
from hilgen.evaluate.prediction_files import read_predictions_jsonl  # noqa: E402
from hilgen.evaluate.tables import format_table  # noqa: E402
from hilgen.inference.documents import entities_from_tags, tokenise  # noqa: E402
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


def run_predict(
    run_id: str, tracking_uri: str, source: Path, output: Path
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
    args = parser.parse_args()
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
    run_id, tracking_uri, run_dir = train_run(workdir, args.documents and len(sentences))
    print(f"trained and logged run {run_id} in {time.perf_counter() - start:.0f} s")
    rows: list[list[object]] = []

    start = time.perf_counter()
    tagger = load_tagger(f"runs:/{run_id}/model", tracking_uri)
    load_seconds = time.perf_counter() - start
    model_dir = next((workdir / "artifacts").rglob("hilgen_model.json")).parent
    size_mb = directory_size(model_dir) / 1e6

    words = sum(len(s.tokens) for s in sentences)
    start, cpu = time.perf_counter(), time.process_time()
    tagger.tagger.predict(sentences)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rows.append(["reference: in-process predict loop", words, seconds, words / seconds, ""])

    text_words, seconds, rss = run_predict(run_id, tracking_uri, plain, workdir / "plain.jsonl")
    rows.append(["predict.py, plain text", text_words, seconds, text_words / seconds, rss])
    corpus_words, seconds, rss = run_predict(
        run_id, tracking_uri, pubtator, workdir / "corpus.jsonl"
    )
    rows.append(["predict.py, PubTator", corpus_words, seconds, corpus_words / seconds, rss])

    run_predictions = {
        p.sentence_id: p.predicted
        for p in read_predictions_jsonl(run_dir / "predictions" / "test.jsonl")
    }
    records = {
        r["id"]: r["entities"]
        for r in map(json.loads, (workdir / "corpus.jsonl").read_text().splitlines())
    }
    differing = 0
    entities = 0
    for document in tokenised:
        tags = [run_predictions[s.sentence_id] for s in document.sentences]
        expected = [e.as_record() for e in entities_from_tags(document, tags)]
        entities += len(expected)
        differing += expected != records[document.doc_id]

    print(
        format_table(
            ["what", "words", "seconds", "words/s", "peak RSS MB"],
            [
                [r[0], r[1], f"{r[2]:.1f}", f"{r[3]:,.0f}", f"{r[4]:.0f}" if r[4] else ""]
                for r in rows
            ],
        )
    )
    print(
        f"\nmodel: {size_mb:.1f} MB, load_tagger {load_seconds:.1f} s; "
        f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}; "
        f"the reference loop used {cpu:.1f} CPU s ({words / cpu:,.0f} words per CPU second)"
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
