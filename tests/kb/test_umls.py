"""The UMLS loader on the shared RRF fixtures, and its refusals of broken releases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hilgen.kb.__main__ import main
from hilgen.kb.store import SqliteKnowledgeBase
from hilgen.kb.umls import UmlsFormatError, load_umls_kb

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
SYNTHETIC = FIXTURES / "umls_synthetic"


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> SqliteKnowledgeBase:
    return load_umls_kb(SYNTHETIC, tmp_path_factory.mktemp("umls"))


def copy_release(tmp_path: Path) -> Path:
    meta = tmp_path / "2099AA" / "META"
    shutil.copytree(SYNTHETIC, meta)
    return meta


def test_english_non_suppressed_names_and_preferred_name(kb: SqliteKnowledgeBase) -> None:
    cisplatin = kb.concept("C0008838")
    assert cisplatin.preferred_name == "Cisplatin"
    assert cisplatin.synonyms == ("cis-Diamminedichloroplatinum",)  # no FRE, no SUPPRESS=O
    assert kb.find_by_name("Platinol-obsolete") == [] and kb.find_by_name("Cisplatine") == []
    type2 = kb.concept("C0011860")
    # TS=P, STT=PF, ISPREF=Y picks the MeSH heading, shown in reading order.
    assert type2.preferred_name == "Type 2 Diabetes Mellitus"
    assert type2.synonyms == ("Type 2 Diabetes",)
    # The first P/PF/Y row wins; the second row only differs in case and is not repeated.
    assert kb.concept("C0011849").names == ("Diabetes Mellitus",)
    # The SNOMED P/PF/Y row names C0011854; the MeSH entry term stays a synonym.
    assert kb.concept("C0011854").names == ("Type 1 diabetes mellitus", "Juvenile-Onset Diabetes")


def test_types_groups_and_cross_references(kb: SqliteKnowledgeBase) -> None:
    cisplatin = kb.concept("C0008838")
    assert cisplatin.semantic_types == ("T121", "T197") and cisplatin.semantic_group == "CHEM"
    assert kb.concept("C0011860").semantic_group == "DISO"
    assert kb.concept("D003924").concept_id == "C0011860"
    assert kb.concept("MESH:D003924").concept_id == "C0011860"
    assert kb.concept("SNOMEDCT_US:44054006").concept_id == "C0011860"
    assert kb.concept("C0011860").xrefs["UMLS"] == ("C0011860",)


def test_par_chd_direction_and_non_isa_relations_ignored(kb: SqliteKnowledgeBase) -> None:
    # PAR: CUI2 is the parent of CUI1; CHD: CUI2 is the child of CUI1. RB, RO, SY are not is-a.
    assert [c.concept_id for c in kb.parents("C0011860")] == ["C0011849"]
    assert [c.concept_id for c in kb.children("C0011849")] == ["C0011854", "C0011860"]
    assert kb.parents("C0011849") == [] and kb.children("C0011860") == []
    assert kb.parents("C0008838") == [] and kb.children("C0008838") == []
    siblings = kb.siblings("C0011860")
    assert [item.concept.concept_id for item in siblings] == ["C0011854"]
    assert siblings[0].score == pytest.approx(1 / 3)


def test_hierarchy_source_is_chosen(tmp_path: Path) -> None:
    # With MSH as the hierarchy source, only the MSH PAR row (and its MRHIER atom) count.
    kb = load_umls_kb(SYNTHETIC, tmp_path, hierarchy_source="MSH")
    assert [c.concept_id for c in kb.parents("C0011860")] == ["C0011849"]
    assert kb.children("C0011849")[0].concept_id == "C0011860"
    assert len(kb.children("C0011849")) == 1


def test_mrhier_alone_gives_edges(tmp_path: Path) -> None:
    meta = copy_release(tmp_path)
    (meta / "MRREL.RRF").unlink()
    kb = load_umls_kb(meta, tmp_path / "data")
    assert [c.concept_id for c in kb.parents("C0011854")] == ["C0011849"]


def test_scispacy_rows_with_definitions(tmp_path: Path) -> None:
    kb = load_umls_kb(FIXTURES / "umls_scispacy", tmp_path)
    concept = kb.concept("C0000039")
    assert concept.definition.startswith("Synthetic phospholipid")
    assert concept.semantic_group == "CHEM"
    assert kb.concept("C0000005").synonyms == ("(131)I-MAA",)


def test_built_once_then_reused(tmp_path: Path) -> None:
    first = load_umls_kb(SYNTHETIC, tmp_path)
    stamp = first.path.stat().st_mtime_ns
    second = load_umls_kb(SYNTHETIC, tmp_path)
    assert second.path == first.path and second.path.stat().st_mtime_ns == stamp
    assert load_umls_kb(SYNTHETIC, tmp_path, hierarchy_source="MSH").path != first.path


@pytest.mark.parametrize(
    ("file_name", "edit", "message"),
    [
        ("MRCONSO.RRF", lambda text: text[: text.index("\n", 200) - 30], r"MRCONSO.RRF, line 2: "),
        (
            "MRSTY.RRF",
            lambda text: text.replace("|256|\n", "|\n", 1),
            r"MRSTY.RRF, line 1: 5 fields, expected 6 \(CUI,TUI,STN,STY,ATUI,CVF\)",
        ),
        (
            "MRREL.RRF",
            lambda text: text.replace("|RO|", "|XX|"),
            r"MRREL.RRF, line 7: REL 'XX' is not a UMLS relation",
        ),
    ],
)
def test_broken_files_stop_with_file_line_and_fix(
    tmp_path: Path, file_name: str, edit, message: str
) -> None:
    meta = copy_release(tmp_path)
    path = meta / file_name
    path.write_text(edit(path.read_text()))
    with pytest.raises(UmlsFormatError, match=message):
        load_umls_kb(meta, tmp_path / "data")
    assert not list((tmp_path / "data").glob("kb/*.sqlite"))


def test_missing_files_are_named(tmp_path: Path) -> None:
    meta = copy_release(tmp_path)
    (meta / "MRCONSO.RRF").unlink()
    with pytest.raises(UmlsFormatError, match="MRCONSO.RRF is missing"):
        load_umls_kb(meta, tmp_path / "data")
    (meta / "MRFILES.RRF").unlink()
    with pytest.raises(UmlsFormatError, match=r"MRFILES.RRF is missing. Set kb.meta_dir"):
        load_umls_kb(meta, tmp_path / "data")
    with pytest.raises(UmlsFormatError, match="does not exist"):
        load_umls_kb(tmp_path / "nowhere", tmp_path / "data")


def test_failed_rebuild_keeps_the_good_kb(tmp_path: Path) -> None:
    meta = copy_release(tmp_path)
    good = load_umls_kb(meta, tmp_path / "data")
    mrrel = meta / "MRREL.RRF"
    mrrel.write_text(mrrel.read_text().replace("|RO|", "|XX|"))
    assert main(["build", "--source", "umls", "--meta-dir", str(meta), "--force",
                 "--data-dir", str(tmp_path / "data")]) == 1  # fmt: skip
    # The changed file gets a new stamp; the good build is still there and readable.
    assert good.path.exists() and SqliteKnowledgeBase(good.path).concept("C0011860")


def test_cli_lookup_and_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["--source", "umls", "--meta-dir", str(SYNTHETIC), "--data-dir", str(tmp_path)]
    assert main(["lookup", "type 2 diabetes", *arguments]) == 0
    printed = capsys.readouterr().out
    assert "C0011860  Type 2 Diabetes Mellitus  [DISO]" in printed
    assert "T047 Disease or Syndrome" in printed
    assert "parents (1):\n    C0011849  Diabetes Mellitus" in printed
    assert "0.33  C0011854" in printed
    assert main(["stats", *arguments]) == 0
    assert "concepts" in capsys.readouterr().out
