"""Benchmark of the default job (NCBI-Disease, 5-shot, augmenter=none, MiniLM) on this machine.

Prints wall time and peak memory per stage (data, training, test inference) and inference
throughput in words/s, next to a reference measured in the same run: a bare Hugging Face
forward pass over the same test sentences (no windowing, no decoding, no Lightning), so the
pipeline's own overhead is visible.

    .venv/bin/python bench/bench_train.py [dataset=ncbi_disease_1type ...hydra overrides]
"""

from __future__ import annotations

import functools
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HILGEN_ROOT", str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from hilgen.evaluate.tables import format_table  # noqa: E402
from hilgen.models.base import TrainingData  # noqa: E402
from hilgen.pipeline import load_few_shot_data  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(overrides: list[str]) -> None:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["tracking.enabled=false", "trainer.enable_progress_bar=false", *overrides],
        )
    output_dir = Path("/tmp/hilgen-bench-train")
    rows: list[list[object]] = []

    start = time.perf_counter()
    data = load_few_shot_data(cfg)
    rows.append(["data (read, split, sample)", time.perf_counter() - start, peak_rss_mb(), ""])

    start = time.perf_counter()
    tagger = instantiate(cfg.model, labels=data.corpus.labels)
    make_trainer = functools.partial(instantiate, cfg.trainer, default_root_dir=output_dir)
    summary = tagger.fit(TrainingData(data.sample.sentences, [], data.dev), make_trainer)
    epochs = summary.get("joint_epochs_run", "")
    rows.append([f"training ({epochs} epochs)", time.perf_counter() - start, peak_rss_mb(), ""])

    words = sum(len(s.tokens) for s in data.test)
    start = time.perf_counter()
    tagger.predict(data.test)
    seconds = time.perf_counter() - start
    rows.append(["test inference (pipeline)", seconds, peak_rss_mb(), f"{words / seconds:,.0f}"])

    encoder = tagger.module.encoder
    tokenizer = encoder.tokenizer
    texts = [s.tokens for s in sorted(data.test, key=lambda s: len(s.tokens))]
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(texts), 32):
            batch = tokenizer(
                texts[i : i + 32],
                is_split_into_words=True,
                truncation=True,
                max_length=128,
                padding=True,
                return_tensors="pt",
            )
            encoder.transformer.eval()(**batch)
    seconds = time.perf_counter() - start
    rows.append(["reference: bare HF forward", seconds, peak_rss_mb(), f"{words / seconds:,.0f}"])

    print(
        f"\ndataset {data.corpus.name}, {len(data.test)} test sentences, {words:,} words, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(format_table(["stage", "wall s", "peak RSS MB", "words/s"], rows))


if __name__ == "__main__":
    main(sys.argv[1:])
