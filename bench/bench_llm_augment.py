"""Throughput of LLM augmentation with the local model: requests, generated and accepted
sentences per minute on a 5-shot NCBI-Disease sample, then the same run replayed from the cache.

Usage: .venv/bin/python bench/bench_llm_augment.py [--augmenter gpt_related]
       [--sentences-per-source 3] [--shots 5] [--seed 1] [--n-parallel 2]

The augmenter config is composed through Hydra (conf/augmenter/<name>.yaml) with
``count=fixed`` and ``grounding=none``, so no knowledge base is needed and the number of chats
is bounded: one generation chat per sample sentence plus at most one tagging chat per
generated sentence (5 sentences x (1 + 3) = 20 chats by default). The first run starts from an
empty response cache (llm=local: SmolLM2-135M-Instruct on llama.cpp); the second reuses it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hilgen.augment.base import AugmentContext  # noqa: E402
from hilgen.data.conll import read_conll  # noqa: E402
from hilgen.data.sampling import sample_kshot  # noqa: E402


def conll_path(split: str) -> Path:
    for base in (ROOT / "data", ROOT.parent / "shared" / "data"):
        path = base / "ncbi_disease" / "conll" / f"{split}.tsv"
        if path.exists():
            return path
    raise SystemExit("no NCBI-Disease CoNLL split in data/ or ../shared/data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--augmenter", default="gpt_related")
    parser.add_argument("--sentences-per-source", type=int, default=3)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--n-parallel", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    train, test = read_conll(conll_path("train")), read_conll(conll_path("test"))
    sample = sample_kshot(train, ["Disease"], shots=args.shots, seed=args.seed).sentences
    with tempfile.TemporaryDirectory() as cache_dir:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose(
                "train",
                overrides=[
                    f"augmenter={args.augmenter}",
                    "augmenter.count=fixed",
                    f"augmenter.sentences_per_source={args.sentences_per_source}",
                    *(["augmenter.grounding=none"] if args.augmenter != "zerogen" else []),
                    "llm=local",
                    f"llm.endpoint.n_parallel={args.n_parallel}",
                    f"llm.endpoint.n_ctx={2048 * args.n_parallel}",
                    "llm.show_progress=false",
                    f"paths.cache_dir={cache_dir}",
                ],
            )
        augmenter = instantiate(cfg.augmenter)
        print(
            f"{args.augmenter} on a {args.shots}-shot NCBI-Disease sample (seed {args.seed}, "
            f"{len(sample)} sentences), {args.sentences_per_source} sentences per source, "
            f"local SmolLM2-135M-Instruct, n_parallel={args.n_parallel}\n"
        )
        header = (
            "| run | wall s | chats | requests/min | generated/min | accepted/min | "
            "accepted/requested | cache hits/s |"
        )
        print(header)
        print("|" + "---|" * header.count(" | ") + "---|")
        with instantiate(cfg.llm) as client:
            started = time.perf_counter()
            client.endpoint.server.start()
            startup_s = time.perf_counter() - started
            for run in ("fresh", "cached"):
                context = AugmentContext(
                    labels=["Disease"], test_sentences=test, seed=args.seed, llm=client
                )
                started = time.perf_counter()
                synthetic = augmenter.generate(sample, context)
                wall_s = time.perf_counter() - started
                stats = synthetic.stats
                chats = stats["llm/calls"]
                per_minute = 60.0 / wall_s
                print(
                    f"| {run} | {wall_s:.1f} | {chats:.0f} | "
                    f"{stats['llm/requests'] * per_minute:.1f} | "
                    f"{stats['llm/generated'] * per_minute:.1f} | "
                    f"{stats['llm/accepted'] * per_minute:.1f} | "
                    f"{stats['llm/accepted']}/{stats['llm/requested']} | "
                    f"{stats['llm/cache_hits'] / wall_s:.0f} |"
                )
        print(f"\nserver start-up {startup_s:.1f} s (not in the times above)")
        rejected = {k[9:]: v for k, v in stats.items() if k.startswith("rejected/") and v}
        print(
            f"rejections: {rejected}; answer formats: "
            f"{ {k[7:]: v for k, v in stats.items() if k.startswith('format/')} }"
        )
        for item in list(synthetic)[:3]:
            tagged = " ".join(
                f"[{item.sentence.span_text(s)}]{s.label}" for s in item.sentence.spans
            )
            print(f"  accepted: {item.sentence.text}  ->  {tagged}")


if __name__ == "__main__":
    main()
