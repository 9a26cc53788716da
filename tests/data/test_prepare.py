"""Corpus preparation: verified copies only, idempotent, clear messages for what is missing."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from hilgen.data import prepare
from hilgen.data.errors import ChecksumError, MissingCorpusError
from hilgen.data.prepare import CorpusFile, CorpusPreparer, prepare_corpus, require_user_file

MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_mirror = pytest.mark.skipif(
    not MIRROR.is_dir(), reason=f"corpus mirror {MIRROR} (../shared/data) is not present"
)


def test_shipped_checksums_cover_every_public_file() -> None:
    checksums = prepare.load_checksums()
    for corpus, files in prepare.CORPUS_FILES.items():
        for corpus_file in files:
            assert len(checksums[f"{corpus}/{corpus_file.path}"]) == 64


@needs_mirror
def test_shipped_checksums_equal_the_mirror_sums() -> None:
    assert prepare.load_checksums() == prepare.load_checksums(MIRROR / "SHA256SUMS")


@needs_mirror
def test_prepare_copies_verified_files_and_is_idempotent(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    corpus_dir = prepare_corpus("ncbi_disease", data_dir, MIRROR, download=False)
    checksums = prepare.load_checksums()
    for corpus_file in prepare.CORPUS_FILES["ncbi_disease"]:
        target = corpus_dir / corpus_file.path
        assert prepare.sha256_of(target) == checksums[f"ncbi_disease/{corpus_file.path}"]
    before = {path: path.stat().st_mtime_ns for path in corpus_dir.rglob("*")}
    prepare_corpus("ncbi_disease", data_dir, MIRROR, download=False)
    assert {path: path.stat().st_mtime_ns for path in corpus_dir.rglob("*")} == before
    assert not [path for path in corpus_dir.rglob(".*")], "temporary files left behind"


@needs_mirror
def test_a_damaged_data_file_is_replaced(tmp_path: Path) -> None:
    corpus_dir = prepare_corpus("ncbi_disease", tmp_path, MIRROR, download=False)
    target = corpus_dir / "conll/test.tsv"
    target.write_text("damaged\tO\n")
    prepare_corpus("ncbi_disease", tmp_path, MIRROR, download=False)
    assert target.read_bytes() == (MIRROR / "ncbi_disease/conll/test.tsv").read_bytes()


@needs_mirror
def test_a_tampered_mirror_file_is_refused(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(MIRROR / "ncbi_disease", mirror / "ncbi_disease")
    tampered = mirror / "ncbi_disease/NCBItestset_corpus.txt"
    tampered.write_text(tampered.read_text().replace("cancer", "cancre", 1))
    with pytest.raises(ChecksumError, match="NCBItestset_corpus.txt"):
        prepare_corpus("ncbi_disease", tmp_path / "data", mirror, download=False)
    assert not (tmp_path / "data/ncbi_disease/NCBItestset_corpus.txt").exists()


def _fake_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes) -> Path:
    """A corpus `fake` whose one file is served from a local zip through a file:// URL."""
    archive = tmp_path / "fake.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("inner/corpus.txt", content)
    files = {"fake": (CorpusFile("corpus.txt", archive.as_uri(), "inner/corpus.txt"),)}
    monkeypatch.setattr(prepare, "CORPUS_FILES", files)
    return archive


def test_download_extracts_and_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = b"1|t|A title.\n"
    _fake_corpus(tmp_path, monkeypatch, content)
    good = {"fake/corpus.txt": hashlib.sha256(content).hexdigest()}
    corpus_dir = prepare_corpus("fake", tmp_path / "data", None, checksums=good)
    assert (corpus_dir / "corpus.txt").read_bytes() == content
    assert sorted(path.name for path in corpus_dir.iterdir()) == ["corpus.txt"]

    wrong = {"fake/corpus.txt": "0" * 64}
    (corpus_dir / "corpus.txt").unlink()
    with pytest.raises(ChecksumError, match="differs from the verified"):
        prepare_corpus("fake", tmp_path / "data", None, checksums=wrong)
    assert not (corpus_dir / "corpus.txt").exists()


def test_unreachable_url_says_where_to_put_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _fake_corpus(tmp_path, monkeypatch, b"x")
    archive.unlink()
    with pytest.raises(MissingCorpusError, match="cannot download .*corpus.txt"):
        prepare_corpus(
            "fake", tmp_path / "data", tmp_path / "mirror", checksums={"fake/corpus.txt": "0"}
        )


def test_bring_your_own_file_names_path_and_official_url(tmp_path: Path) -> None:
    with pytest.raises(MissingCorpusError) as raised:
        require_user_file("medmentions", "st21pv/data/corpus_pubtator.txt.gz", tmp_path)
    message = str(raised.value)
    assert str(tmp_path / "medmentions/st21pv/data/corpus_pubtator.txt.gz") in message
    assert "https://github.com/chanzuckerberg/MedMentions" in message
    with pytest.raises(MissingCorpusError, match="PhysioNet"):
        CorpusPreparer("mimic3", str(tmp_path), None, ["brat/train"])()
    placed = tmp_path / "mimic3/brat/train"
    placed.mkdir(parents=True)
    assert require_user_file("mimic3", "brat/train", tmp_path) == placed


@needs_mirror
def test_cli_prepares_and_reports_missing_bring_your_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--data-dir", str(tmp_path), "--mirror-dir", str(MIRROR), "--no-download"]
    assert prepare.main([*arguments, "--corpus", "bc5cdr"]) == 0
    assert (tmp_path / "bc5cdr/conll/train.tsv").is_file()
    assert prepare.main([*arguments, "--corpus", "medmentions"]) == 2
    assert "corpus_pubtator.txt.gz" in capsys.readouterr().err
