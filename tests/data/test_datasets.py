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

from hilgen.data.datasets import BratDataset, ConllDataset, MedMentionsDataset, NerDataset
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
