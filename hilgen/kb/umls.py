"""A user's own UMLS release (`kb=umls`), read from its ``META/`` RRF files into the KB store.

UMLS is licensed, so the project never ships it; a user points `kb.meta_dir` at the ``META``
folder of their release. Column order comes from MRFILES.RRF rather than being hard-coded, so
a release that adds columns still reads. Kept: English, non-suppressed names (MRCONSO), types
(MRSTY), is-a edges from one source vocabulary (MRREL PAR/CHD, plus MRHIER where present),
definitions (MRDEF, optional). SNOMED CT is the default hierarchy, as in the HILGEN paper.

REL direction (UMLS Reference Manual, MRREL): a row ``CUI1 ... REL ... CUI2`` states what CUI2
is to CUI1, so ``PAR`` means CUI2 is a parent of CUI1 and ``CHD`` means CUI2 is a child of
CUI1. RB/RN (broader/narrower), RO, SY and the rest are not is-a and are not used.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from hilgen.errors import UserError
from hilgen.kb.semantic_groups import choose_group
from hilgen.kb.store import (
    SCHEMA_VERSION,
    ConceptRecord,
    SqliteKnowledgeBase,
    normalise_vocab,
    write_store,
)

log = logging.getLogger(__name__)

REQUIRED_FILES = ("MRCONSO.RRF", "MRSTY.RRF")
OPTIONAL_FILES = ("MRREL.RRF", "MRHIER.RRF", "MRDEF.RRF")
# Every REL value of the UMLS Reference Manual; anything else means a corrupt or foreign file.
KNOWN_RELS = frozenset(
    {"AQ", "CHD", "DEL", "PAR", "QB", "RB", "RL", "RN", "RO", "RQ", "RU", "SIB", "SY", "XR", ""}
)
# Source vocabularies whose codes become cross-references, under the store's vocabulary names.
XREF_SOURCES = ("MSH", "SNOMEDCT_US", "OMIM", "HPO", "NCI", "MDR", "ICD10CM", "ORPHANET")


class UmlsFormatError(UserError, RuntimeError):
    """A UMLS release that is missing files or does not match its own MRFILES.RRF."""


def read_layout(meta_dir: Path) -> dict[str, list[str]]:
    """File name -> column names, from MRFILES.RRF."""
    mrfiles = meta_dir / "MRFILES.RRF"
    if not mrfiles.is_file():
        raise UmlsFormatError(
            f"{mrfiles} is missing. Set kb.meta_dir to the META folder of a UMLS release "
            "(it holds MRFILES.RRF, MRCONSO.RRF, MRSTY.RRF and usually MRREL.RRF)."
        )
    layout = {}
    for line_number, line in enumerate(mrfiles.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("|")
        if len(fields) < 4:
            raise UmlsFormatError(
                f"{mrfiles}, line {line_number}: expected FIL|DES|FMT|CLS|..., got {line!r}."
            )
        layout[fields[0]] = fields[2].split(",")
    for name in REQUIRED_FILES:
        if name not in layout:
            raise UmlsFormatError(f"{mrfiles} does not describe {name}; is this a UMLS release?")
    return layout


def read_rrf(path: Path, columns: list[str]) -> Iterator[dict[str, str]]:
    """Rows of an RRF file as dicts, checking each line against the MRFILES column count."""
    expected = len(columns)
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, 1):
            fields = line.rstrip("\r\n").split("|")
            if len(fields) != expected + 1 or fields[-1] != "":
                raise UmlsFormatError(
                    f"{path}, line {line_number}: {len(fields) - 1} fields, expected {expected} "
                    f"({','.join(columns)}) as MRFILES.RRF says, each ending in '|'. The file is "
                    "truncated or from another release; copy it again."
                )
            yield dict(zip(columns, fields, strict=False))


def release_stamp(meta_dir: Path, hierarchy_source: str) -> str:
    """A short hash of the release files' sizes and times and the hierarchy source, so that a
    changed release or setting builds a new KB file instead of reusing a stale one."""
    digest = hashlib.sha256(f"{SCHEMA_VERSION}|{hierarchy_source}".encode())
    for name in ("MRFILES.RRF", *REQUIRED_FILES, *OPTIONAL_FILES):
        path = meta_dir / name
        if path.is_file():
            status = path.stat()
            digest.update(f"{name}|{status.st_size}|{status.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def umls_kb_path(meta_dir: Path, data_dir: Path, hierarchy_source: str) -> Path:
    release = meta_dir.resolve().parent.name or "umls"
    stamp = release_stamp(meta_dir, hierarchy_source)
    return data_dir / "kb" / f"umls-{release}-{hierarchy_source}-{stamp}.sqlite"


def build_umls_records(meta_dir: Path, hierarchy_source: str) -> list[ConceptRecord]:
    """Concept records from a release: names, types, definitions and is-a edges."""
    layout = read_layout(meta_dir)
    for name in REQUIRED_FILES:
        if not (meta_dir / name).is_file():
            raise UmlsFormatError(f"{meta_dir / name} is missing; the UMLS KB needs {name}.")
    records: dict[str, ConceptRecord] = {}
    preferred_found: set[str] = set()
    has_hierarchy_file = (meta_dir / "MRHIER.RRF").is_file()
    seen_names: dict[str, set[str]] = {}
    hierarchy_atoms: dict[str, str] = {}
    mrconso = meta_dir / "MRCONSO.RRF"
    for row in tqdm(read_rrf(mrconso, layout["MRCONSO.RRF"]), desc="MRCONSO", unit=" rows"):
        if row["SAB"] == hierarchy_source and has_hierarchy_file:
            hierarchy_atoms[row["AUI"]] = row["CUI"]
        if row["LAT"] != "ENG" or row["SUPPRESS"] != "N":
            continue
        cui, name = row["CUI"], row["STR"]
        record = records.get(cui)
        if record is None:
            record = records[cui] = ConceptRecord(
                concept_id=cui, preferred_name=name, source="UMLS", xrefs=[("UMLS", cui)]
            )
            seen_names[cui] = {name.casefold()}
        # UMLS's preferred name: the atom with TS=P, STT=PF and ISPREF=Y; the first English
        # row stands in until one is seen.
        is_preferred = row["TS"] == "P" and row["STT"] == "PF" and row["ISPREF"] == "Y"
        if is_preferred and cui not in preferred_found:
            preferred_found.add(cui)
            if record.preferred_name != name:
                record.synonyms.insert(0, record.preferred_name)
                record.preferred_name = name
        elif name.casefold() not in seen_names[cui]:
            record.synonyms.append(name)
        seen_names[cui].add(name.casefold())
        if row["SAB"] in XREF_SOURCES and row["CODE"]:
            record.xrefs.append((normalise_vocab(row["SAB"]), row["CODE"]))
    for record in records.values():
        record.synonyms = [name for name in record.synonyms if name != record.preferred_name]

    types: dict[str, list[str]] = {}
    for row in read_rrf(meta_dir / "MRSTY.RRF", layout["MRSTY.RRF"]):
        types.setdefault(row["CUI"], []).append(row["TUI"])
    for cui, record in records.items():
        record.semantic_types = tuple(dict.fromkeys(types.get(cui, ())))
        record.semantic_group = choose_group(record.semantic_types)

    edges: set[tuple[str, str]] = set()
    if (meta_dir / "MRREL.RRF").is_file() and "MRREL.RRF" in layout:
        edges |= set(_mrrel_edges(meta_dir / "MRREL.RRF", layout["MRREL.RRF"], hierarchy_source))
    if (meta_dir / "MRHIER.RRF").is_file() and "MRHIER.RRF" in layout:
        edges |= set(
            _mrhier_edges(
                meta_dir / "MRHIER.RRF", layout["MRHIER.RRF"], hierarchy_source, hierarchy_atoms
            )
        )
    if not edges:
        log.warning(
            "%s gives no %s is-a edges (MRREL.RRF PAR/CHD or MRHIER.RRF): parents, children "
            "and siblings will be empty.",
            meta_dir,
            hierarchy_source,
        )
    for child, parent in sorted(edges):
        if child in records and child != parent:
            records[child].parents.append(parent)

    if (meta_dir / "MRDEF.RRF").is_file() and "MRDEF.RRF" in layout:
        for row in read_rrf(meta_dir / "MRDEF.RRF", layout["MRDEF.RRF"]):
            record = records.get(row["CUI"])
            if record is not None and not record.definition and row["SUPPRESS"] == "N":
                record.definition = row["DEF"]
    return list(records.values())


def _mrrel_edges(path: Path, columns: list[str], source: str) -> Iterator[tuple[str, str]]:
    """(child CUI, parent CUI) from PAR/CHD rows of one source vocabulary."""
    for line_number, row in enumerate(read_rrf(path, columns), 1):
        relation = row["REL"]
        if relation not in KNOWN_RELS:
            raise UmlsFormatError(
                f"{path}, line {line_number}: REL {relation!r} is not a UMLS relation "
                f"({', '.join(sorted(KNOWN_RELS - {''}))}). The file is corrupt or its columns "
                "do not match MRFILES.RRF."
            )
        if row["SAB"] != source or row["SUPPRESS"] not in ("N", ""):
            continue
        if relation == "PAR":
            yield row["CUI1"], row["CUI2"]
        elif relation == "CHD":
            yield row["CUI2"], row["CUI1"]


def _mrhier_edges(
    path: Path, columns: list[str], source: str, atoms: dict[str, str]
) -> Iterator[tuple[str, str]]:
    """(child CUI, parent CUI) from MRHIER's parent atom (PAUI) in one source's hierarchy."""
    for row in read_rrf(path, columns):
        if row["SAB"] == source and row["PAUI"] in atoms:
            yield row["CUI"], atoms[row["PAUI"]]


def build_umls_kb(meta_dir: str | Path, path: Path, hierarchy_source: str) -> dict[str, int]:
    """Build the UMLS KB into `path` atomically."""
    meta = Path(meta_dir)
    records = build_umls_records(meta, hierarchy_source)
    metadata = {
        "version": f"umls-{meta.resolve().parent.name}-{hierarchy_source}-schema{SCHEMA_VERSION}",
        "source_priority": "UMLS",
        "origin": str(meta.resolve()),
        "hierarchy_source": hierarchy_source,
    }
    return write_store(path, records, metadata, total=len(records))


def load_umls_kb(
    meta_dir: str | Path,
    data_dir: str | Path,
    hierarchy_source: str = "SNOMEDCT_US",
    build_if_missing: bool = True,
) -> SqliteKnowledgeBase:
    """The KB for `kb=umls`: built from `meta_dir` on first use, then reused while the
    release files and `hierarchy_source` stay the same."""
    meta = Path(meta_dir)
    if not meta.is_dir():
        raise UmlsFormatError(
            f"UMLS META folder {meta} does not exist. Set kb.meta_dir=/path/to/<release>/META."
        )
    path = umls_kb_path(meta, Path(data_dir), hierarchy_source)
    if not path.exists():
        if not build_if_missing:
            raise UmlsFormatError(
                f"The UMLS knowledge base {path} is not built: run `python -m hilgen.kb build "
                f"--source umls --meta-dir {meta} --data-dir {data_dir}`."
            )
        build_umls_kb(meta, path, hierarchy_source)
    return SqliteKnowledgeBase(path)
