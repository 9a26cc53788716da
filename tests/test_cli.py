"""The command line as a user meets it: a fast, descriptive --help; user errors in one line
without a traceback; a folder per run even for runs started together; a sweep that lists its
failed jobs; SIGTERM that stops a sweep; no third-party noise; no BrokenPipe traceback."""

from __future__ import annotations

import logging
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from hilgen.app import quiet_third_party
from hilgen.tracking.mlflow_tracking import Tracker
from tests.conftest import ROOT
from tests.helpers.fake_openai import FakeReply, serve

PYTHON = sys.executable
ENV = os.environ | {"HF_HUB_OFFLINE": "1", "HILGEN_ROOT": str(ROOT)}


def run(*args: str, timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("env", ENV)
    return subprocess.run(
        [PYTHON, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def test_help_describes_the_app_quickly() -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = run(str(ROOT / "train.py"), "--help")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds, not wall-clock: the same on a busy machine (it took 16.5 s importing torch)
    cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert done.returncode == 0
    assert "few-shot biomedical NER" in done.stdout
    assert "augmenter: " in done.stdout and "llm: " in done.stdout  # the groups
    assert "python train.py -m seed=1,2,3,4,5" in done.stdout  # examples
    assert cpu_s < 3.0, cpu_s


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("seed=abc", "seed='abc': expected an integer"),
        ("shots=0", "shots=0: expected an integer >= 1"),
        ("limit_test_sentences=-3", "limit_test_sentences=-3: expected an integer >= 1"),
    ],
)
def test_a_bad_setting_is_one_line_before_any_work(
    tmp_path: Path, override: str, expected: str
) -> None:
    done = run(str(ROOT / "train.py"), override, f"hydra.run.dir={tmp_path}", timeout=60)
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert expected in output
    assert "Traceback" not in output and "Seed set" not in output
    assert len(output.strip().splitlines()) == 1
    verbose = run(str(ROOT / "train.py"), override, "--verbose", f"hydra.run.dir={tmp_path}")
    assert verbose.returncode != 0 and "Traceback" in verbose.stderr


def test_an_impossible_augmenter_setting_is_one_line(tmp_path: Path, needs_shared_data) -> None:
    done = run(
        str(ROOT / "train.py"),
        "augmenter=hilgen",
        "augmenter.top_k=0",
        "tracking.enabled=false",
        f"hydra.run.dir={tmp_path}",
    )
    assert done.returncode == 1
    assert "error: augmenter hilgen: top_k, pool_size and names_per_concept must be >= 1" in (
        done.stderr
    )
    assert "Traceback" not in done.stdout + done.stderr


def test_a_missing_input_file_or_api_key_is_one_line(tmp_path: Path, needs_shared_data) -> None:
    missing = run(
        str(ROOT / "train.py"),
        "dataset=conll",
        "dataset.name=mine",
        *(f"dataset.{split}={tmp_path}/no/{split}.tsv" for split in ("train", "dev", "test")),
        f"hydra.run.dir={tmp_path}/a",
        "tracking.enabled=false",
    )
    assert missing.returncode == 1
    assert f"{tmp_path}/no/train.tsv: no such file" in missing.stderr
    assert "Traceback" not in missing.stdout + missing.stderr

    env = {k: v for k, v in ENV.items() if k != "OPENAI_API_KEY"}
    no_key = run(
        str(ROOT / "train.py"),
        "augmenter=gpt_related",
        "augmenter.count=fixed",
        "augmenter.sentences_per_source=1",
        "llm=openai",
        "dataset=ncbi_disease_1type",
        f"paths.cache_dir={tmp_path}/cache",
        f"hydra.run.dir={tmp_path}/b",
        "tracking.enabled=false",
        env=env,
    )
    assert no_key.returncode == 1
    assert "OPENAI_API_KEY is not set" in no_key.stderr
    assert "Traceback" not in no_key.stdout + no_key.stderr


def test_runs_started_together_get_their_own_folders(tmp_path: Path) -> None:
    """Three runs started in the same instant: three folders, each with its own log."""
    command = [PYTHON, str(ROOT / "train.py"), "shots=0", f"paths.root_dir={tmp_path}"]
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=ENV, stderr=subprocess.DEVNULL) for _ in range(3)
    ]
    assert [p.wait(timeout=120) for p in processes] == [1, 1, 1]
    folders = sorted((tmp_path / "outputs" / "train" / "runs").iterdir())
    assert len(folders) == 3
    for folder in folders:
        log = (folder / "train.log").read_text()
        assert log.count("invalid setting") == 1


def test_a_sweep_runs_every_job_and_lists_the_failed_ones(tmp_path: Path) -> None:
    done = run(str(ROOT / "train.py"), "-m", "shots=0,-1", f"paths.root_dir={tmp_path}")
    assert done.returncode == 1
    assert "2 sweep job(s) failed" in done.stderr
    assert re.search(r"#0 shots=0 \S+: invalid setting", done.stderr)
    assert re.search(r"#1 shots=-1 \S+: invalid setting", done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    (sweep,) = (tmp_path / "outputs" / "train" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]


def test_sigterm_stops_a_sweep(tmp_path: Path, needs_shared_data) -> None:
    """SIGTERM during the first job's LLM requests ends the whole sweep, promptly."""
    asked = threading.Event()

    def hold(body: dict[str, Any], attempt: int) -> FakeReply:
        asked.set()
        return FakeReply("1. A sentence .", delay_s=30)

    with serve(hold) as server:
        sweep = subprocess.Popen(
            [
                PYTHON,
                str(ROOT / "train.py"),
                "-m",
                "seed=1,2",
                "dataset=ncbi_disease_1type",
                "augmenter=gpt_related",
                "augmenter.count=fixed",
                "augmenter.sentences_per_source=1",
                "llm=openai_compatible",
                f"llm.endpoint.base_url={server.base_url}",
                "llm.model=fake",
                "llm.show_progress=false",
                f"paths.cache_dir={tmp_path}/cache",
                f"hydra.sweep.dir={tmp_path}/sweep",
                "tracking.enabled=false",
            ],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert asked.wait(timeout=240), "the first job never reached the LLM"
        sweep.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, stderr = sweep.communicate(timeout=60)
    assert time.monotonic() - started < 30
    assert sweep.returncode == 128 + signal.SIGTERM
    assert "stopped (SIGTERM)" in stderr
    assert not (tmp_path / "sweep" / "1").exists(), "the second job never started"


def test_kb_lookup_into_a_closed_pipe_prints_no_traceback(needs_shared_data) -> None:
    if not list((ROOT / "data" / "kb").glob("open-*.sqlite")):
        pytest.skip("needs the open KB built (python -m hilgen.kb build)")
    process = subprocess.Popen(
        [PYTHON, "-m", "hilgen.kb", "lookup", "breast cancer"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader is gone before the first line, as `| head -0`
    _, stderr = process.communicate(timeout=120)
    assert b"Traceback" not in stderr and b"BrokenPipeError" not in stderr
    assert process.returncode == 141


def test_third_party_tips_and_deprecations_are_silenced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    quiet_third_party()
    caplog.set_level(logging.INFO)
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    rank_zero.addHandler(caplog.handler)  # Lightning's records stop at its own handler
    rank_zero.info("💡 Tip: For seamless cloud logging ... litlogger")
    rank_zero.info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_third_party()
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, 2)
    assert not caught
    Tracker(f"sqlite:///{tmp_path}/mlflow.db", "quiet", str(tmp_path / "artifacts")).setup()
    out, err = capfd.readouterr()
    assert "Creating initial MLflow database tables" not in out + err
