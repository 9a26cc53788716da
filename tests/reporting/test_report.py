"""Paper-style tables from fake run records: mean ± sd, best in bold, gain over none, files."""

from __future__ import annotations

import csv
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from hilgen.reporting import report_tables
from hilgen.reporting.report import records_from_runs, write_report
from hilgen.reporting.report_tables import (
    RunRecord,
    build_tables,
    paired_test,
    sign_test,
    tables_markdown,
)

F1 = {
    # (augmenter, model): F1 by seed 1..3
    ("none", "bert"): [10.0, 12.0, 14.0],
    ("umls_synonyms", "bert"): [20.0, 21.0, 25.0],
    ("gpt_related", "bert"): [11.0, 11.0, 16.0],
    ("none", "dann"): [30.0, 31.0, 35.0],
    ("umls_synonyms", "dann"): [29.0, 30.0, 34.0],
    ("ensemble_best", "dann"): [40.0, 41.0],
}


def records(dev_set: str = "kshot") -> list[RunRecord]:
    return [
        RunRecord(
            f"{augmenter}-{model}-{seed}",
            "ncbi",
            augmenter,
            model,
            seed,
            "5",
            dev_set,
            {"test_f1": value},
            start_time=seed,
        )
        for (augmenter, model), values in F1.items()
        for seed, value in enumerate(values, start=1)
    ]


def test_table_cells_best_and_gains() -> None:
    (table,) = build_tables(records())
    assert table.augmenters == ["none", "umls_synonyms", "gpt_related", "ensemble_best"]
    assert table.models == ["bert", "dann"]
    cell = table.cells["umls_synonyms", "bert"]
    assert cell.n == 3
    assert cell.mean == pytest.approx(22.0)
    assert cell.sd == pytest.approx(statistics.stdev([20.0, 21.0, 25.0]))
    assert table.best_augmenters("bert") == {"umls_synonyms"}
    assert table.best_augmenters("dann") == {"ensemble_best"}
    gain = table.gains["umls_synonyms", "bert"]
    assert (gain.gain, gain.n_pairs, gain.test) == (pytest.approx(10.0), 3, "paired t-test")
    assert 0 < gain.p_value < 0.05
    # The ensemble has seeds 1 and 2 only: its gain is over those seeds.
    assert table.gains["ensemble_best", "dann"].gain == pytest.approx(10.0)
    assert table.gains["ensemble_best", "dann"].n_pairs == 2
    # Constant differences: the t statistic is undefined, no p-value is made up.
    assert table.gains["umls_synonyms", "dann"].p_value is None
    assert ("gpt_related", "dann") not in table.cells

    markdown = table.to_markdown()
    assert "test_f1 on ncbi, 5-shot — dev: K-shot dev sample" in markdown
    assert "| **22.00 ± 2.65 (3)**" in markdown
    assert "| 12.00 ± 2.00 (3)" in markdown and "**12.00" not in markdown
    assert "**40.50 ± 0.71 (2)**" in markdown
    assert "+10.00 (p=0.0" in markdown


def test_io_f1_tables_are_made_from_the_io_metric() -> None:
    """`--metric test_io_f1` (the paper's IO scoring) reads that metric and names it."""
    io_records = [
        replace(r, metrics=r.metrics | {"test_io_f1": r.metrics["test_f1"] + 5}) for r in records()
    ]
    (table,) = build_tables(io_records, "test_io_f1")
    assert table.cells["umls_synonyms", "bert"].mean == pytest.approx(27.0)
    assert "test_io_f1 on ncbi, 5-shot" in table.to_markdown()
    assert build_tables(records(), "test_io_f1") == []


def test_full_dev_runs_get_their_own_marked_table() -> None:
    tables = build_tables(records("kshot") + records("full"))
    assert [t.dev_set for t in tables] == ["full", "kshot"]
    assert "FULL dev split (not a few-shot protocol)" in tables[0].title
    assert "K-shot dev sample" in tables[1].title


def test_repeated_runs_keep_the_newest() -> None:
    repeated = RunRecord("new", "ncbi", "none", "bert", 1, "5", "kshot", {"test_f1": 50.0}, 99)
    (table,) = build_tables([*records(), repeated])
    assert table.cells["none", "bert"].values_by_seed[1] == 50.0
    assert table.cells["none", "bert"].n == 3


def test_seeds_restrict_cells_and_gains_to_those_seeds() -> None:
    (table,) = build_tables(records(), seeds={1, 2})
    cell = table.cells["umls_synonyms", "bert"]
    assert cell.values_by_seed == {1: 20.0, 2: 21.0}
    assert table.gains["umls_synonyms", "bert"].n_pairs == 2
    assert build_tables(records(), seeds={9}) == []


def test_variants_get_their_own_rows_and_their_own_baseline() -> None:
    def run(augmenter: str, seed: int, f1: float, variant: str = "") -> RunRecord:
        return RunRecord(
            f"{augmenter}{variant}{seed}", "ncbi", augmenter, "dann", seed, "5", "kshot",
            {"test_f1": f1}, seed, variant,
        )  # fmt: skip

    margin0 = "model.outside_margins=[0.0]"
    runs = [
        *(run("none", s, 10.0 + s) for s in (1, 2)),
        *(run("hilgen", s, 30.0 + s) for s in (1, 2)),
        *(run("none", s, 5.0 + s, margin0) for s in (1, 2)),
        *(run("hilgen", s, 20.0 + s, margin0) for s in (1, 2)),
        *(run("hilgen", s, 25.0 + s, "model.gold_upsample=4") for s in (1, 2)),
    ]
    (table,) = build_tables(runs)
    assert table.augmenters == [
        "none",
        f"none [{margin0}]",
        "hilgen",
        "hilgen [model.gold_upsample=4]",
        f"hilgen [{margin0}]",
    ]
    assert table.gains["hilgen", "dann"].gain == pytest.approx(20.0)
    # against the same variant's none where there is one, else the default none
    assert table.gains[f"hilgen [{margin0}]", "dann"].gain == pytest.approx(15.0)
    assert table.gains["hilgen [model.gold_upsample=4]", "dann"].gain == pytest.approx(15.0)
    assert (f"none [{margin0}]", "dann") not in table.gains
    # and each variant against its own default row, the question an ablation asks
    assert table.variant_gains[f"hilgen [{margin0}]", "dann"].gain == pytest.approx(-10.0)
    assert table.variant_gains[f"none [{margin0}]", "dann"].gain == pytest.approx(-5.0)
    assert table.variant_gains["hilgen [model.gold_upsample=4]", "dann"].gain == pytest.approx(-5.0)
    assert ("hilgen", "dann") not in table.variant_gains
    variant_table = table.to_markdown().split("gain of each variant over its default row")[1]
    assert [line.split("|")[2].strip() for line in variant_table.splitlines()[4:]] == [
        "-5.00 (p=n/a, n=2)",  # none [margin0]
        "-5.00 (p=n/a, n=2)",  # hilgen [model.gold_upsample=4]
        "-10.00 (p=n/a, n=2)",  # hilgen [margin0]
    ]
    (row,) = [r for r in table.csv_rows() if r["augmenter"] == "hilgen [model.gold_upsample=4]"]
    assert row["gain_over_default"] == -5.0 and row["default_n_pairs"] == 2


def test_no_variant_table_without_variants() -> None:
    (table,) = build_tables(records())
    assert table.variant_gains == {}
    assert "default row" not in table.to_markdown()
    assert all(row["gain_over_default"] == "" for row in table.csv_rows())


def test_sign_test_when_scipy_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sign_test([1, 2, 3, 4, 5]) == pytest.approx(2 / 32)
    assert sign_test([1, -1, 0]) == 1.0
    assert sign_test([]) == 1.0
    monkeypatch.setattr(report_tables, "_scipy_ttest_rel", lambda: None)
    result = paired_test([2, 3, 4, 5, 6, 7], [1, 1, 1, 1, 1, 1])
    assert (result.test, result.p_value, result.gain) == ("sign test", 2 / 64, 3.5)
    (table,) = build_tables(records())
    assert "p: sign test" in table.to_markdown()


def test_report_files_are_written(tmp_path: Path) -> None:
    tables = build_tables(records() + records("full"))
    written = write_report(tables, "table2-ncbi", tmp_path)
    names = sorted(p.name for p in written)
    assert names == [
        "ncbi_5shot_fulldev_test_f1.png",
        "ncbi_5shot_kshotdev_test_f1.png",
        "report.csv",
        "report.md",
    ]
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert (tmp_path / "report.md").read_text() == tables_markdown(tables, "table2-ncbi")
    with open(tmp_path / "report.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * len(F1)
    row = next(
        r
        for r in rows
        if (r["dev_set"], r["augmenter"], r["model"]) == ("kshot", "umls_synonyms", "bert")
    )
    assert row["mean"] == "22.0" and row["n_seeds"] == "3" and row["best_in_column"] == "True"
    assert row["gain_over_none"] == "10.0" and row["test"] == "paired t-test"


class FakeRun:
    """The attributes of an MLflow Run that records_from_runs reads."""

    def __init__(self, run_id: str, tags: dict[str, str], metrics: dict[str, float]) -> None:
        self.info = type("Info", (), {"run_id": run_id, "start_time": 1})()
        self.data = type("Data", (), {"tags": tags, "metrics": metrics})()


def test_ensembles_over_different_member_sets_keep_a_row_each() -> None:
    tags = {"dataset": "d", "augmenter": "ensemble_vote", "model": "dann", "seed": "1"}
    ensemble = tags | {"hilgen.role": "ensemble", "shots": "5"}
    runs = [
        FakeRun("none", tags | {"augmenter": "none", "shots": "5"}, {"test_f1": 1.0}),
        FakeRun("of-hilgen", ensemble | {"hilgen.ensemble.augmenters": "hilgen"}, {"test_f1": 2.0}),
        FakeRun("of-kb", ensemble | {"hilgen.ensemble.augmenters": "a+b"}, {"test_f1": 3.0}),
        FakeRun("bert", ensemble | {"model": "bert", "hilgen.ensemble.augmenters": "a"}, {}),
    ]
    rows = {r.run_id: r.row for r in records_from_runs(runs)}
    # the BERT ensemble and the baseline have no other member set to tell apart
    assert rows == {
        "none": "none",
        "of-hilgen": "ensemble_vote of hilgen",
        "of-kb": "ensemble_vote of a+b",
        "bert": "ensemble_vote",
    }
    (table,) = build_tables(records_from_runs(runs))
    assert table.cells["ensemble_vote of a+b", "dann"].mean == 3.0
    assert table.cells["ensemble_vote of hilgen", "dann"].mean == 2.0
    assert table.gains["ensemble_vote of a+b", "dann"].gain == 2.0


def test_records_skip_sweeps_summaries_and_reports() -> None:
    tags = {"dataset": "d", "augmenter": "none", "model": "bert", "seed": "1", "shots": "5"}
    runs = [
        FakeRun("train", tags, {"test_f1": 1.0}),
        FakeRun("ensemble", tags | {"hilgen.role": "ensemble"}, {"test_f1": 2.0}),
        FakeRun("sweep", {"hilgen.role": "sweep"}, {}),
        FakeRun("summary", tags | {"hilgen.role": "ensemble_summary"}, {"test_f1_mean": 2.0}),
        FakeRun("report", {"hilgen.role": "report"}, {}),
    ]
    assert [r.run_id for r in records_from_runs(runs)] == ["train", "ensemble"]
