"""Benchmark: KB-substitution generation time for a 5-shot sample, after the KB is loaded.

Uses the open KB in data/kb when it has been built (`python -m hilgen.kb build`), else the
hand-built test KB (tests/helpers/kb_fixture.py), on the CoNLL splits of NCBI-Disease and BC5CDR
(data/ or the ../shared/data mirror). Each augmenter config in conf/augmenter is instantiated
through Hydra, then timed on a first (cold) call and as the median of repeated calls.

    .venv/bin/python bench/bench_augment.py [--seeds 1 2 3] [--repeats 5] [--kb auto|open|fixture]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hilgen.augment.base import AugmentContext, MentionLinker  # noqa: E402
from hilgen.data.conll import read_conll  # noqa: E402
from hilgen.data.sampling import sample_kshot  # noqa: E402
from hilgen.kb.base import KnowledgeBase  # noqa: E402

CORPORA = {
    "ncbi_disease": ["Disease"],
    "bc5cdr": ["Chemical", "Disease"],
}
LABEL_GROUPS = {"Disease": ["DISO"], "Chemical": ["CHEM"]}
AUGMENTERS = ["umls_synonyms", "umls_related", "umls_parents_children", "umls_siblings", "umls_all"]


def conll_path(corpus: str, split: str) -> Path:
    for base in (ROOT / "data", ROOT.parent / "shared" / "data"):
        path = base / corpus / "conll" / f"{split}.tsv"
        if path.exists():
            return path
    raise SystemExit(
        f"no {corpus} CoNLL {split} split in data/ or ../shared/data; run "
        f"`python -m hilgen.data.prepare` first"
    )


def load_kb(choice: str) -> tuple[str, KnowledgeBase, MentionLinker, float]:
    """The KB and linker, and how long loading them took (seconds)."""
    from hilgen.kb.open_builder import open_kb_path

    started = time.perf_counter()
    if choice == "open" or (choice == "auto" and open_kb_path(ROOT / "data").exists()):
        from hilgen.kb.linker import Linker
        from hilgen.kb.open_builder import load_open_kb

        kb = load_open_kb(ROOT / "data", build_if_missing=False)
        linker = Linker(kb)
        linker.index  # noqa: B018 - load the approximate-match index now, not inside the timing
        return f"open {kb.version}", kb, linker, time.perf_counter() - started
    from tests.helpers.kb_fixture import FixtureLinker, demo_kb

    fixture = demo_kb()
    return "hand-built fixture", fixture, FixtureLinker(fixture), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--kb", choices=["auto", "open", "fixture"], default="auto")
    arguments = parser.parse_args()

    kb_name, kb, linker, load_seconds = load_kb(arguments.kb)
    print(f"KB: {kb_name}; KB + linker load {load_seconds:.2f} s (not in the times below)\n")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        augmenters = [
            instantiate(compose(overrides=[f"+augmenter={name}"]).augmenter) for name in AUGMENTERS
        ]

    header = (
        "| corpus | augmenter | seed | sentences | mentions | linked | synthetic | "
        "first ms | median ms |"
    )
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    for corpus, labels in CORPORA.items():
        train = read_conll(conll_path(corpus, "train"))
        test = read_conll(conll_path(corpus, "test"))
        for seed in arguments.seeds:
            sample = sample_kshot(train, labels, shots=arguments.shots, seed=seed).sentences
            context = AugmentContext(
                kb=kb,
                linker=linker,
                labels=labels,
                label_groups=LABEL_GROUPS,
                test_sentences=test,
                seed=seed,
            )
            context.test_sentence_keys  # noqa: B018 - built once per corpus in a real run
            for augmenter in augmenters:
                times = []
                for _ in range(1 + arguments.repeats):
                    started = time.perf_counter()
                    synthetic = augmenter.generate(sample, context)
                    times.append(1000 * (time.perf_counter() - started))
                stats = synthetic.stats
                print(
                    f"| {corpus} | {augmenter.name} | {seed} | {len(sample)} | "
                    f"{stats['mentions']} | {stats['mentions_linked']} | {len(synthetic)} | "
                    f"{times[0]:.0f} | {statistics.median(times[1:]):.0f} |"
                )


if __name__ == "__main__":
    main()
