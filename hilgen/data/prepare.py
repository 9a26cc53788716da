"""Fill `data_dir/<corpus>/` with verified corpus files, from a local mirror or the official URL.

Every public file has a known SHA-256 (`hilgen/data/SHA256SUMS`, a copy of the sums of the
verified mirror), so a damaged mirror copy or a changed upstream file is refused instead of
silently changing results. Files already in place with the right hash are left alone, and
every write goes to a temporary file that replaces the target only once it is verified.
Corpora that cannot be shipped (MedMentions' annotation file here, MIMIC-III notes) are
bring-your-own: a missing one stops with a message that says what to put where.

CLI: `python -m hilgen.data.prepare [--corpus ncbi_disease bc5cdr ...]`.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tqdm import tqdm

from hilgen.data.errors import ChecksumError, MissingCorpusError
from hilgen.io import atomic_path

log = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 20
_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class CorpusFile:
    """A public corpus file: where it lives under the corpus folder and where it comes from.

    `path` is relative to `<corpus>/` and identical in the mirror and in `data_dir`; `member`
    is the file's path inside the zip archive at `url` (None when `url` is the file itself).
    `note` is told to the user when a download does not match the verified hash.
    """

    path: str
    url: str
    member: str | None = None
    note: str = ""


@dataclass(frozen=True)
class UserFile:
    """A file the user must bring (licence or access terms forbid shipping it)."""

    path: str
    instructions: str


_NCBI = "https://www.ncbi.nlm.nih.gov/CBBresearch/Dogan/DISEASE"
_CDR_ZIP = "https://biocreative.bioinformatics.udel.edu/media/store/files/2016/CDR_Data.zip"
_CDR_MEMBER = "CDR_Data/CDR.Corpus.v010516"
_MTL_IOB = "https://raw.githubusercontent.com/cambridgeltl/MTL-Bioinformatics-2016/master/data"
_MEDMENTIONS = "https://raw.githubusercontent.com/chanzuckerberg/MedMentions/master"
_MEDMENTIONS_HOME = "https://github.com/chanzuckerberg/MedMentions"
# The corpus's original home (sites.google.com/site/adecorpus) is gone; this public copy of
# ADE-Corpus-V2 is the one the verified sums were taken from.
_ADE = "https://raw.githubusercontent.com/trunghlt/AdverseDrugReaction/master/ADE-Corpus-V2"

CORPUS_FILES: dict[str, tuple[CorpusFile, ...]] = {
    "ncbi_disease": (
        CorpusFile(
            "NCBItrainset_corpus.txt", f"{_NCBI}/NCBItrainset_corpus.zip", "NCBItrainset_corpus.txt"
        ),
        CorpusFile(
            "NCBIdevelopset_corpus.txt",
            f"{_NCBI}/NCBIdevelopset_corpus.zip",
            "NCBIdevelopset_corpus.txt",
        ),
        CorpusFile(
            "NCBItestset_corpus.txt", f"{_NCBI}/NCBItestset_corpus.zip", "NCBItestset_corpus.txt"
        ),
        CorpusFile(
            "conll/train.tsv",
            f"{_MTL_IOB}/NCBI-disease-IOB/train.tsv",
            note="the verified copy drops the duplicate document PMID 8528200 from the upstream "
            "file, so a fresh download cannot match it; use the project's mirror (../shared/data)",
        ),
        CorpusFile("conll/devel.tsv", f"{_MTL_IOB}/NCBI-disease-IOB/devel.tsv"),
        CorpusFile("conll/test.tsv", f"{_MTL_IOB}/NCBI-disease-IOB/test.tsv"),
    ),
    "bc5cdr": (
        CorpusFile(
            "CDR_TrainingSet.PubTator.txt", _CDR_ZIP, f"{_CDR_MEMBER}/CDR_TrainingSet.PubTator.txt"
        ),
        CorpusFile(
            "CDR_DevelopmentSet.PubTator.txt",
            _CDR_ZIP,
            f"{_CDR_MEMBER}/CDR_DevelopmentSet.PubTator.txt",
        ),
        CorpusFile("CDR_TestSet.PubTator.txt", _CDR_ZIP, f"{_CDR_MEMBER}/CDR_TestSet.PubTator.txt"),
        CorpusFile("conll/train.tsv", f"{_MTL_IOB}/BC5CDR-IOB/train.tsv"),
        CorpusFile("conll/devel.tsv", f"{_MTL_IOB}/BC5CDR-IOB/devel.tsv"),
        CorpusFile("conll/test.tsv", f"{_MTL_IOB}/BC5CDR-IOB/test.tsv"),
    ),
    "medmentions": tuple(
        CorpusFile(
            f"full/data/corpus_pubtator_pmids_{split}.txt",
            f"{_MEDMENTIONS}/full/data/corpus_pubtator_pmids_{split}.txt",
        )
        for split in ("trng", "dev", "test", "all")
    ),
    "ade_corpus_v2": (CorpusFile("DRUG-AE.rel", f"{_ADE}/DRUG-AE.rel"),),
    "mimic3": (),
}


def _medmentions_instructions(subset: str) -> str:
    return (
        f"MedMentions ({subset}) is bring-your-own here: download {subset}/data/"
        f"corpus_pubtator.txt.gz from {_MEDMENTIONS_HOME} "
        f"({_MEDMENTIONS_HOME}/raw/master/{subset}/data/corpus_pubtator.txt.gz, CC0) "
        "and put it at the path above (keep it gzip-ed)"
    )


_MIMIC_INSTRUCTIONS = (
    "MIMIC-III notes are credentialed data (PhysioNet data use agreement) and are never shipped: "
    "put your annotated notes there yourself, as BRAT .txt/.ann pairs in one folder per split "
    "(dataset=mimic3) or as CoNLL token<TAB>tag files (dataset=mimic3_conll)"
)

USER_FILES: dict[str, tuple[UserFile, ...]] = {
    "ncbi_disease": (),
    "bc5cdr": (),
    "ade_corpus_v2": (),
    "medmentions": tuple(
        UserFile(f"{subset}/data/corpus_pubtator.txt.gz", _medmentions_instructions(subset))
        for subset in ("st21pv", "full")
    ),
    "mimic3": tuple(
        UserFile(f"brat/{split}", _MIMIC_INSTRUCTIONS) for split in ("train", "dev", "test")
    ),
}
# Said about a bring-your-own path that USER_FILES does not list (e.g. MIMIC-III CoNLL files).
_CORPUS_INSTRUCTIONS = {"mimic3": _MIMIC_INSTRUCTIONS}


def load_checksums(path: str | Path | None = None) -> dict[str, str]:
    """`{"ncbi_disease/conll/train.tsv": sha256}` from a `sha256sum`-style file.

    Defaults to the copy shipped in the package, so a checkout without the mirror still
    verifies what it downloads.
    """
    if path is None:
        text = resources.files("hilgen.data").joinpath("SHA256SUMS").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    checksums = {}
    for line in text.splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            checksums[name.strip().removeprefix("./")] = digest
    return checksums


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _install_verified(source: Path, target: Path, expected_sha256: str, origin: str) -> None:
    """Copy `source` to `target` atomically, only if its content has the expected hash."""
    with atomic_path(target) as temporary:
        with open(temporary, "wb") as out, open(source, "rb") as stream:
            shutil.copyfileobj(stream, out, _CHUNK_BYTES)
        actual = sha256_of(temporary)
        if actual != expected_sha256:
            raise ChecksumError(
                f"{origin}: SHA-256 {actual} differs from the verified {expected_sha256}; "
                "the file is damaged or was changed, so it is refused. Restore the original "
                "file (or remove it so the official URL is used)"
            )


def _download(url: str, target_dir: Path) -> Path:
    """Download `url` into a temporary file under `target_dir` with a progress bar."""
    target_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(dir=target_dir, prefix=".download.")
    try:
        with (
            urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response,
            os.fdopen(handle, "wb") as out,
            tqdm(
                total=int(response.headers.get("Content-Length") or 0) or None,
                unit="B",
                unit_scale=True,
                desc=url.rsplit("/", 1)[-1],
                disable=None,
            ) as progress,
        ):
            while chunk := response.read(_CHUNK_BYTES):
                out.write(chunk)
                progress.update(len(chunk))
    except BaseException:
        Path(temporary_name).unlink(missing_ok=True)
        raise
    return Path(temporary_name)


class _Downloads:
    """Downloads shared by the files of one corpus (BC5CDR's three files are in one zip)."""

    def __init__(self, target_dir: Path) -> None:
        self.target_dir = target_dir
        self.downloaded: dict[str, Path] = {}

    def fetch(self, corpus_file: CorpusFile, target: Path, mirror_path: Path | None) -> Path:
        if corpus_file.url not in self.downloaded:
            log.info("downloading %s", corpus_file.url)
            try:
                self.downloaded[corpus_file.url] = _download(corpus_file.url, self.target_dir)
            except (urllib.error.URLError, OSError) as error:
                no_mirror = f"at {mirror_path}" if mirror_path else "(no mirror folder given)"
                raise MissingCorpusError(
                    f"cannot download {corpus_file.url} ({error}) and there is no mirror copy "
                    f"{no_mirror}. Check the network (or proxy), or put a verified copy "
                    f"of {corpus_file.path} at {target} (or in the mirror) and run again"
                ) from None
        archive = self.downloaded[corpus_file.url]
        if corpus_file.member is None:
            return archive
        member_path = self.target_dir / f".member.{Path(corpus_file.member).name}"
        try:
            with (
                zipfile.ZipFile(archive) as zipped,
                zipped.open(corpus_file.member) as stream,
                open(member_path, "wb") as out,
            ):
                shutil.copyfileobj(stream, out, _CHUNK_BYTES)
        except (zipfile.BadZipFile, KeyError) as error:
            member_path.unlink(missing_ok=True)
            raise MissingCorpusError(
                f"{corpus_file.url} is not the expected archive ({error}); expected it to "
                f"contain {corpus_file.member}. Put a verified copy at {target}"
            ) from None
        return member_path

    def clean(self) -> None:
        for path in self.downloaded.values():
            path.unlink(missing_ok=True)
        for member_path in self.target_dir.glob(".member.*"):
            member_path.unlink()


def prepare_corpus(
    corpus: str,
    data_dir: str | Path,
    mirror_dir: str | Path | None = None,
    *,
    download: bool = True,
    checksums: Mapping[str, str] | None = None,
) -> Path:
    """Make `data_dir/<corpus>/` hold every verified public file of `corpus`; return that folder.

    For each file: keep it if its hash is right; else copy it from `mirror_dir/<corpus>/`
    if there; else download it from the official URL (when `download`). Every copy is
    verified before it lands. Bring-your-own files are checked by `require_user_file`.
    """
    if corpus not in CORPUS_FILES:
        raise ValueError(f"unknown corpus {corpus!r}; expected one of {sorted(CORPUS_FILES)}")
    checksums = load_checksums() if checksums is None else checksums
    corpus_dir = Path(data_dir) / corpus
    downloads = _Downloads(corpus_dir)
    try:
        for corpus_file in tqdm(CORPUS_FILES[corpus], desc=corpus, unit="file", disable=None):
            key = f"{corpus}/{corpus_file.path}"
            expected = checksums[key]
            target = corpus_dir / corpus_file.path
            if target.is_file():
                if sha256_of(target) == expected:
                    continue
                log.warning("%s has the wrong SHA-256; fetching it again", target)
            mirror_path = Path(mirror_dir) / key if mirror_dir is not None else None
            if mirror_path is not None and mirror_path.is_file():
                _install_verified(mirror_path, target, expected, f"mirror file {mirror_path}")
                log.info("copied %s from the mirror", key)
                continue
            if not download:
                raise MissingCorpusError(
                    f"{target} is missing and there is no mirror copy "
                    f"{f'at {mirror_path}' if mirror_path else '(no mirror folder given)'}; "
                    f"allow downloads or put the file there (official source: {corpus_file.url})"
                )
            fetched = downloads.fetch(corpus_file, target, mirror_path)
            origin = f"{corpus_file.url}" + (
                f" ({corpus_file.member})" if corpus_file.member else ""
            )
            try:
                _install_verified(fetched, target, expected, f"download {origin}")
            except ChecksumError as error:
                if corpus_file.note:
                    raise ChecksumError(f"{error}. Note: {corpus_file.note}") from None
                raise
    finally:
        downloads.clean()
    return corpus_dir


def require_user_file(
    corpus: str, path: str, data_dir: str | Path, mirror_dir: str | Path | None = None
) -> Path:
    """The bring-your-own file (or folder) `data_dir/<corpus>/<path>`, or a message saying how.

    A copy in the mirror is used when the user put one there (no hash is known for it, so
    it is copied as is).
    """
    target = Path(data_dir) / corpus / path
    if target.exists():
        return target
    mirror_path = Path(mirror_dir) / corpus / path if mirror_dir is not None else None
    if mirror_path is not None and mirror_path.is_file():
        with atomic_path(target) as temporary:
            shutil.copyfile(mirror_path, temporary)
        return target
    known = {user_file.path: user_file.instructions for user_file in USER_FILES.get(corpus, ())}
    instructions = known.get(path) or _CORPUS_INSTRUCTIONS.get(corpus, "Put the file there")
    raise MissingCorpusError(f"{target} is missing. {instructions}")


@dataclass
class CorpusPreparer:
    """What a dataset needs on disk before it is read; built from the dataset's config.

    Calling it prepares the public files of `corpus` and checks the bring-your-own
    `user_files` (paths under `data_dir/<corpus>/`), stopping with instructions if one is
    missing.
    """

    corpus: str
    data_dir: str
    mirror_dir: str | None = None
    user_files: Sequence[str] = ()
    download: bool = True

    def __call__(self) -> Path:
        corpus_dir = prepare_corpus(
            self.corpus, self.data_dir, self.mirror_dir, download=self.download
        )
        for path in self.user_files:
            require_user_file(self.corpus, path, self.data_dir, self.mirror_dir)
        return corpus_dir


def prepare(
    corpora: Iterable[str],
    data_dir: str | Path,
    mirror_dir: str | Path | None,
    *,
    download: bool = True,
) -> list[str]:
    """Prepare several corpora; return one message per missing bring-your-own file."""
    missing = []
    for corpus in corpora:
        prepare_corpus(corpus, data_dir, mirror_dir, download=download)
        for user_file in USER_FILES[corpus]:
            try:
                require_user_file(corpus, user_file.path, data_dir, mirror_dir)
            except MissingCorpusError as error:
                missing.append(str(error))
    return missing


def main(argv: list[str] | None = None) -> int:
    root = Path(os.environ.get("HILGEN_ROOT", "."))
    parser = argparse.ArgumentParser(
        prog="python -m hilgen.data.prepare",
        description="Fill the data folder with verified corpus files (mirror first, then URL).",
    )
    parser.add_argument(
        "--corpus",
        nargs="+",
        default=["ncbi_disease", "bc5cdr"],
        choices=sorted(CORPUS_FILES),
        help="corpora to prepare (default: ncbi_disease bc5cdr)",
    )
    parser.add_argument("--data-dir", type=Path, default=root / "data")
    parser.add_argument("--mirror-dir", type=Path, default=root / ".." / "shared" / "data")
    parser.add_argument("--no-download", action="store_true", help="use the mirror only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        missing = prepare(
            args.corpus, args.data_dir, args.mirror_dir, download=not args.no_download
        )
    except (MissingCorpusError, ChecksumError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for corpus in args.corpus:
        files = CORPUS_FILES[corpus]
        print(f"{corpus:14s} {len(files)} verified files in {args.data_dir / corpus}")
    for message in missing:
        print(f"missing: {message}", file=sys.stderr)
    return 2 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
