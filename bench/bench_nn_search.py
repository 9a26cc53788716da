"""Nearest-neighbour search for the DANN tagger: FAISS (flat, IVF, HNSW) against plain torch
all-pairs search (one matmul + max, whole and in query chunks), on one large support set.

    .venv/bin/python bench/bench_nn_search.py [--support 100000] [--queries 5000] [--dim 384]

The DANN support set is every gold and synthetic word (a synthetic set of 8,000 sentences of 25
words is 200,000 vectors); the queries are the test words. Vectors are synthetic but shaped like
contextual embeddings: unit-length points around `--clusters` random centres (on isotropic noise
every approximate index looks far worse than on real data). Each method runs in its own
subprocess, so that its peak memory is measured alone: the kernel's resident-set high-water mark
is reset after the data is built (/proc/self/clear_refs) and read after the search, so the
column is the memory the method needs on top of the support and query matrices. Recall@1 is
the share of queries whose top hit matches the exact torch search (ties count as hits).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hilgen.evaluate.tables import format_table
from hilgen.models.nn_index import NearestNeighbourIndex

METHODS = ("torch-allpairs", "torch-chunked", "faiss-flat", "faiss-ivf", "faiss-hnsw")
REFERENCE = "torch-allpairs"


def make_vectors(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-length support and query vectors around shared centres (same for every worker)."""
    generator = torch.Generator().manual_seed(args.seed)
    centres = torch.randn((args.clusters, args.dim), generator=generator)

    def around_centres(n: int) -> torch.Tensor:
        which = torch.randint(0, args.clusters, (n,), generator=generator)
        points = centres[which]
        points += args.spread * torch.randn((n, args.dim), generator=generator)
        return torch.nn.functional.normalize(points, dim=1, out=points)

    return around_centres(args.support), around_centres(args.queries)


def memory_kib(field: str) -> int:
    """A `VmRSS` / `VmHWM` line of /proc/self/status, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line (this benchmark needs Linux)")


def reset_peak_memory() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def run_method(
    method: str, support: torch.Tensor, queries: torch.Tensor, args: argparse.Namespace
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(build seconds, search seconds, top-1 scores, top-1 ids)."""
    started = time.perf_counter()
    if method == "torch-allpairs":
        similarities = queries @ support.T
        best, ids = similarities.max(dim=1)
        return 0.0, time.perf_counter() - started, best.numpy(), ids.numpy()
    if method == "torch-chunked":
        rows = max(1, args.chunk_mib * 2**20 // (4 * len(support)))
        parts = [(chunk @ support.T).max(dim=1) for chunk in torch.split(queries, rows)]
        best = torch.cat([p.values for p in parts])
        ids = torch.cat([p.indices for p in parts])
        return 0.0, time.perf_counter() - started, best.numpy(), ids.numpy()
    kind = method.removeprefix("faiss-")
    index = NearestNeighbourIndex(
        support.numpy(), kind=kind, use_gpu=args.gpu, nprobe=args.nprobe, copy=False
    )
    built = time.perf_counter()
    scores, ids = index.search(queries.numpy(), k=1)
    return built - started, time.perf_counter() - built, scores[:, 0], ids[:, 0]


def worker(args: argparse.Namespace) -> None:
    support, queries = make_vectors(args)
    data_kib = memory_kib("VmRSS")
    reset_peak_memory()
    build_s, search_s, scores, ids = run_method(args.worker, support, queries, args)
    peak_extra_kib = memory_kib("VmHWM") - data_kib
    np.save(args.result, np.stack([scores.astype(np.float64), ids.astype(np.float64)]))
    print(
        json.dumps(
            {
                "build_s": build_s,
                "search_s": search_s,
                "peak_extra_mib": peak_extra_kib / 1024,
                "data_mib": data_kib / 1024,
            }
        )
    )


def allpairs_gib(args: argparse.Namespace) -> float:
    return args.queries * args.support * 4 / 2**30


def main(args: argparse.Namespace) -> None:
    print(
        f"support {args.support:,} x {args.dim}, queries {args.queries:,}, {args.clusters:,} "
        f"clusters; torch threads {torch.get_num_threads()}, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    measured: dict[str, dict[str, Any]] = {}
    hits: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for method in args.methods:
            if method == "torch-allpairs" and allpairs_gib(args) > args.max_allpairs_gib:
                print(
                    f"{method}: skipped, its {allpairs_gib(args):.1f} GiB similarity matrix "
                    f"exceeds --max-allpairs-gib {args.max_allpairs_gib}"
                )
                continue
            result = Path(scratch) / f"{method}.npy"
            command = [sys.executable, __file__, *sys.argv[1:], "--worker", method]
            completed = subprocess.run(
                [*command, "--result", str(result)], capture_output=True, text=True
            )
            if completed.returncode != 0:
                print(f"{method}: failed\n{completed.stderr[-2000:]}")
                continue
            measured[method] = json.loads(completed.stdout.strip().splitlines()[-1])
            hits[method] = np.load(result)
    reference = REFERENCE if REFERENCE in hits else "torch-chunked"
    rows: list[list[object]] = []
    for method, numbers in measured.items():
        exact_scores = hits[reference][0]
        recall = float(np.mean(hits[method][0] >= exact_scores - 1e-5))
        total = numbers["build_s"] + numbers["search_s"]
        rows.append(
            [
                method + (" (reference)" if method == reference else ""),
                numbers["build_s"],
                numbers["search_s"],
                total,
                f"{args.queries / numbers['search_s']:,.0f}",
                f"{numbers['peak_extra_mib']:,.0f}",
                f"{recall:.4f}",
            ]
        )
    print(
        format_table(
            [
                "method",
                "build s",
                "search s",
                "total s",
                "queries/s",
                "peak extra MiB",
                "recall@1",
            ],
            rows,
        )
    )
    if measured:
        data_mib = next(iter(measured.values()))["data_mib"]
        print(f"(support + query matrices and the interpreter: {data_mib:,.0f} MiB resident)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--support", type=int, default=100_000, help="support vectors")
    parser.add_argument("--queries", type=int, default=5_000, help="query vectors")
    parser.add_argument("--dim", type=int, default=384, help="dimension (MiniLM: 384)")
    parser.add_argument("--clusters", type=int, default=2_000)
    parser.add_argument("--spread", type=float, default=1.0, help="noise around a centre")
    parser.add_argument("--nprobe", type=int, default=16, help="IVF cells searched")
    parser.add_argument("--chunk-mib", type=int, default=256, help="torch-chunked block")
    parser.add_argument("--max-allpairs-gib", type=float, default=8.0)
    parser.add_argument("--gpu", action="store_true", help="FAISS on the GPU (faiss-gpu)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.worker:
        worker(arguments)
    else:
        main(arguments)
