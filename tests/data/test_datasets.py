"""Datasets built from the real conf/dataset/*.yaml load the corpora with the verified counts."""

from __future__ import annotations

import gzip
import logging
import shutil
from collections import Counter
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from hilgen.data.ade import pmid_split, read_ade
from hilgen.data.datasets import BratDataset, ConllDataset, MedMentionsDataset, NerDataset
from hilgen.data.errors import CorpusFormatError
from hilgen.data.types import Corpus

ROOT = Path(__file__).resolve().parents[2]
MIRROR = ROOT.parent / "shared" / "data"
FIXTURES = MIRROR.parent / "fixtures"
needs_mirror = pytest.mark.skipif(
    not MIRROR.is_dir(), reason=f"corpus mirror {MIRROR} (../shared/data) is not present"
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def _dataset_from_config(name: str, data_dir: Path, **overrides: object) -> NerDataset:
    config = OmegaConf.create(
        {
            "paths": {"data_dir": str(data_dir), "mirror_dir": str(MIRROR)},
            "dataset": OmegaConf.load(ROOT / "conf" / "dataset" / f"{name}.yaml"),
        }
    )
    for key, value in overrides.items():
        OmegaConf.update(config, f"dataset.{key}", value, merge=False)
    return instantiate(config.dataset)


def _mentions(corpus: Corpus, split: str) -> Counter[str]:
    return Counter(span.label for sentence in corpus.split(split) for span in sentence.spans)


@needs_mirror
def test_ncbi_disease_four_types(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    dataset = _dataset_from_config("ncbi_disease", data_dir)
    assert (dataset.name, dataset.sensitive) == ("ncbi_disease", False)
    with caplog.at_level(logging.INFO, logger="hilgen.data"):
        corpus = dataset.load()
    assert corpus.labels == ["SpecificDisease", "DiseaseClass", "Modifier", "CompositeMention"]
    # The repeated PMID 8528200 (11 mentions) is kept once, as in the CoNLL split.
    assert sum(_mentions(corpus, "train").values()) == 5134
    assert _mentions(corpus, "test") == {
        "Modifier": 264,
        "SpecificDisease": 555,
        "DiseaseClass": 121,
        "CompositeMention": 20,
    }
    assert sum(len(s.tokens) for s in corpus.test) == 24497  # same as the CoNLL test file
    assert "8528200 appears again" in caplog.text
    ids = [s.sentence_id for split in ("train", "dev", "test") for s in corpus.split(split)]
    assert len(ids) == len(set(ids))
    composite = next(
        span for s in corpus.train for span in s.spans if span.label == "CompositeMention"
    )
    assert len(composite.concept_ids) >= 1


@needs_mirror
def test_ncbi_disease_1type_conll(data_dir: Path) -> None:
    corpus = _dataset_from_config("ncbi_disease_1type", data_dir).load()
    assert corpus.labels == ["Disease"]
    assert [len(corpus.split(split)) for split in ("train", "dev", "test")] == [5424, 923, 940]
    assert [sum(_mentions(corpus, split).values()) for split in ("train", "dev", "test")] == [
        5134,
        787,
        960,
    ]


@needs_mirror
def test_bc5cdr_and_label_map(data_dir: Path) -> None:
    corpus = _dataset_from_config("bc5cdr", data_dir).load()
    assert corpus.labels == ["Chemical", "Disease"]
    assert _mentions(corpus, "dev") == {"Chemical": 5347, "Disease": 4244}
    assert sum(len(s.tokens) for s in corpus.train) == 118170  # same as the CoNLL train file

    chemicals_dropped = _dataset_from_config(
        "bc5cdr", data_dir, label_map={"Chemical": None}, labels=["Disease"]
    ).load()
    assert _mentions(chemicals_dropped, "test") == {"Disease": 4424}

    with pytest.raises(ValueError, match=r"entity types \['Chemical'\] are not in labels"):
        _dataset_from_config("bc5cdr", data_dir, labels=["Disease"]).load()


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"fixtures {FIXTURES} are not present")
def test_medmentions_split_by_pmid_lists_and_collapsed(tmp_path: Path) -> None:
    corpus_file = tmp_path / "corpus_pubtator.txt.gz"
    with (
        open(FIXTURES / "medmentions_sample.pubtator.txt", "rb") as source,
        gzip.open(corpus_file, "wb") as target,
    ):
        shutil.copyfileobj(source, target)
    pmids = [
        line.split("|")[0]
        for line in (FIXTURES / "medmentions_sample.pubtator.txt").read_text().splitlines()
        if "|t|" in line
    ]
    lists = {}
    for split, chosen in (("train", pmids[:-1]), ("dev", pmids[-1:]), ("test", pmids[-1:])):
        lists[split] = str(tmp_path / f"{split}.txt")
        Path(lists[split]).write_text("\n".join(chosen) + "\n")
    dataset = MedMentionsDataset(
        "medmentions_st21pv",
        subset="st21pv",
        corpus_file=str(corpus_file),
        pmid_lists=lists,
        labels=["Entity"],
        label_map={"*": "Entity"},
    )
    corpus = dataset.load()
    assert {s.doc_id for s in corpus.train} == set(pmids[:-1])
    assert set(_mentions(corpus, "train")) == {"Entity"}
    first = corpus.train[0].spans[0]
    assert (corpus.train[0].span_text(first), first.concept_ids) == ("DCTN4", ("UMLS:C4308010",))

    Path(lists["test"]).write_text("99999999\n")
    with pytest.raises(FileNotFoundError, match="lacks 1 of the 1 documents"):
        dataset.load()


def test_brat_dataset_infers_labels_and_is_sensitive(tmp_path: Path) -> None:
    for split in ("train", "dev", "test"):
        folder = tmp_path / split
        folder.mkdir()
        (folder / "note.txt").write_text("Pain in chest. Took aspirin.")
        (folder / "note.ann").write_text(
            "T1\tProblem 0 4\tPain\nT2\tDrug 20 27\taspirin\nT3\tProblem 0 4;8 13\tPain chest\n"
        )
    dataset = BratDataset(
        "mimic3", *(str(tmp_path / s) for s in ("train", "dev", "test")), sensitive=True
    )
    assert dataset.labels == ["Drug", "Problem"]
    corpus = dataset.load()
    assert corpus.sensitive
    assert [s.text for s in corpus.test] == ["Pain in chest .", "Took aspirin ."]
    assert [s.tags for s in corpus.test] == [["B-Problem", "O", "O", "O"], ["O", "B-Drug", "O"]]


def test_conll_dataset_any_files(tmp_path: Path) -> None:
    paths = []
    for split in ("train", "dev", "test"):
        path = tmp_path / f"{split}.tsv"
        path.write_text("Lung\tB-Disease\ncancer\tI-Disease\ngene\tB-Gene\n")
        paths.append(str(path))
    corpus = ConllDataset("conll", *paths, label_map={"Gene": None}).load()
    assert corpus.labels == ["Disease"]
    assert corpus.dev[0].sentence_id == "dev:0"
    assert corpus.dev[0].tags == ["B-Disease", "I-Disease", "O"]


@needs_mirror
def test_ade_merges_relations_and_splits_by_pmid(data_dir: Path) -> None:
    corpus = _dataset_from_config("ade", data_dir).load()
    assert corpus.labels == ["Drug", "AdverseEffect"]
    counts = {split: len(corpus.split(split)) for split in ("train", "dev", "test")}
    assert counts == {"train": 3047, "dev": 438, "test": 795}
    assert _mentions(corpus, "test") == {"AdverseEffect": 1108, "Drug": 923}
    docs = {split: {s.doc_id for s in corpus.split(split)} for split in ("train", "dev", "test")}
    assert [len(d) for d in docs.values()] == [1160, 158, 326]
    assert not (docs["train"] & docs["test"] or docs["train"] & docs["dev"])
    # PMID 10048291 has two sentences on three relation lines; its first sentence comes first.
    pmid = next(split for split, ids in docs.items() if "10048291" in ids)
    first, second = [s for s in corpus.split(pmid) if s.doc_id == "10048291"]
    assert [(first.span_text(x), x.label) for x in first.spans] == [
        ("hypercalcemia", "AdverseEffect"),
        ("dihydrotachysterol", "Drug"),
    ]
    assert [(second.span_text(x), x.label) for x in second.spans] == [
        ("dihydrotachysterol", "Drug"),
        ("increased calcium - release", "AdverseEffect"),
    ]


def test_ade_reader_checks_offsets(tmp_path: Path) -> None:
    rel = tmp_path / "DRUG-AE.rel"
    rel.write_text(
        "1|Aspirin caused rash and rash.|rash|15|19|Aspirin|0|7\n"
        "1|Aspirin caused rash and rash.|rash|24|28|Aspirin|0|7\n"
        "1|Heparin gave bleeding.|bleeding|113|121|Heparin|100|107\n"
    )
    (document,) = read_ade(rel)
    assert document.text == "Aspirin caused rash and rash.\n\nHeparin gave bleeding."
    assert [(m.start, m.end, m.label) for m in document.mentions] == [
        (0, 7, "Drug"),
        (15, 19, "AdverseEffect"),
        (24, 28, "AdverseEffect"),
        (31, 38, "Drug"),
        (44, 52, "AdverseEffect"),
    ]
    # The second line puts the sentence's start elsewhere than the first.
    rel.write_text(
        "1|Aspirin caused rash.|rash|15|19|Aspirin|0|7\n"
        "1|Aspirin caused rash.|rash|16|20|Aspirin|1|8\n"
    )
    with pytest.raises(CorpusFormatError, match=r"DRUG-AE.rel:2: the mentions' document offsets"):
        read_ade(rel)


def test_pmid_split_is_stable_and_follows_the_fractions() -> None:
    fractions = {"train": 0.7, "dev": 0.1, "test": 0.2}
    splits = Counter(pmid_split(str(pmid), fractions) for pmid in range(10_000_000, 10_020_000))
    assert abs(splits["train"] / 20_000 - 0.7) < 0.01
    assert abs(splits["test"] / 20_000 - 0.2) < 0.01
    # A hash of the PMID's text alone: these documents are where they were when the split
    # counts in docs/generality.md were measured.
    assert [pmid_split(pmid, fractions) for pmid in ("10048291", "10030778")] == ["train", "test"]
    assert pmid_split("10048291", {"train": 0.0, "dev": 0.0, "test": 1.0}) == "test"


@needs_mirror
@pytest.mark.parametrize(
    ("name", "kept", "test_mentions"),
    [("chemical", "Chemical", 5385), ("disease", "Disease", 4424)],
)
def test_bc5cdr_single_type(data_dir: Path, name: str, kept: str, test_mentions: int) -> None:
    """The other type's mentions are dropped, so its words are O, not a second label."""
    corpus = _dataset_from_config(f"bc5cdr_{name}", data_dir).load()
    assert (corpus.name, corpus.labels) == (f"bc5cdr_{name}", [kept])
    assert _mentions(corpus, "test") == {kept: test_mentions}
    assert {tag for s in corpus.test for tag in s.tags} == {"O", f"B-{kept}", f"I-{kept}"}
