"""Readers and tokeniser: the shipped corpora give the verified counts; bad input names its line."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest

from hilgen.data.brat import read_brat, read_brat_annotations
from hilgen.data.conll import read_conll
from hilgen.data.errors import CorpusFormatError
from hilgen.data.pubtator import parse_concept_ids, read_pubtator
from hilgen.data.tokenize import (
    document_to_sentences,
    documents_to_sentences,
    sentence_breaks,
    tokenize,
)
from hilgen.data.types import Document, Mention

MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FIXTURES = MIRROR.parent / "fixtures"
needs_mirror = pytest.mark.skipif(
    not MIRROR.is_dir(), reason=f"corpus mirror {MIRROR} (../shared/data) is not present"
)

# The published counts of these corpora: documents, mentions per type.
PUBTATOR_COUNTS = {
    "ncbi_disease/NCBItrainset_corpus.txt": (
        593,
        {"DiseaseClass": 769, "SpecificDisease": 2972, "CompositeMention": 115, "Modifier": 1289},
    ),
    "ncbi_disease/NCBIdevelopset_corpus.txt": (
        100,
        {"DiseaseClass": 126, "SpecificDisease": 412, "Modifier": 214, "CompositeMention": 35},
    ),
    "ncbi_disease/NCBItestset_corpus.txt": (
        100,
        {"Modifier": 264, "SpecificDisease": 555, "DiseaseClass": 121, "CompositeMention": 20},
    ),
    "bc5cdr/CDR_TrainingSet.PubTator.txt": (500, {"Chemical": 5203, "Disease": 4182}),
    "bc5cdr/CDR_DevelopmentSet.PubTator.txt": (500, {"Chemical": 5347, "Disease": 4244}),
    "bc5cdr/CDR_TestSet.PubTator.txt": (500, {"Chemical": 5385, "Disease": 4424}),
}
# Sentences, tokens, entities.
CONLL_COUNTS = {
    "ncbi_disease/conll/train.tsv": (5424, 135701, 5134),
    "ncbi_disease/conll/devel.tsv": (923, 23969, 787),
    "ncbi_disease/conll/test.tsv": (940, 24497, 960),
    "bc5cdr/conll/train.tsv": (4560, 118170, 9385),
    "bc5cdr/conll/devel.tsv": (4581, 117453, 9593),
    "bc5cdr/conll/test.tsv": (4797, 124750, 9809),
}


@needs_mirror
@pytest.mark.parametrize("relative_path", sorted(PUBTATOR_COUNTS))
def test_pubtator_reader_reproduces_verified_counts(relative_path: str) -> None:
    documents = read_pubtator(MIRROR / relative_path)
    expected_documents, expected_mentions = PUBTATOR_COUNTS[relative_path]
    assert len(documents) == expected_documents
    labels = Counter(mention.label for doc in documents for mention in doc.mentions)
    assert labels == expected_mentions
    for document in documents:
        for mention in document.mentions:
            assert document.text[mention.start : mention.end] == mention.text


@needs_mirror
def test_pubtator_concept_ids_and_composites() -> None:
    document = read_pubtator(MIRROR / "ncbi_disease/NCBItrainset_corpus.txt")[0]
    composite = next(m for m in document.mentions if m.label == "CompositeMention")
    assert composite.text == "colon and some other cancers"
    assert composite.concept_ids == ("D003110", "D009369")
    cdr = read_pubtator(MIRROR / "bc5cdr/CDR_TrainingSet.PubTator.txt")[0]
    assert cdr.text.startswith("Naloxone reverses")
    assert cdr.title_end == len("Naloxone reverses the antihypertensive effect of clonidine.")
    unlinked = next(m for m in cdr.mentions if m.text == "nalozone")
    assert unlinked.concept_ids == ()


def test_parse_concept_ids() -> None:
    assert parse_concept_ids("D001|D002") == ("D001", "D002")
    assert parse_concept_ids("D001+D002") == ("D001", "D002")
    assert parse_concept_ids("-1") == ()
    assert parse_concept_ids("D001|-1") == ("D001",)
    assert parse_concept_ids(" OMIM:1234") == ("OMIM:1234",)


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"fixtures {FIXTURES} are not present")
def test_pubtator_reads_medmentions_semantic_types_and_umls_ids() -> None:
    documents = read_pubtator(FIXTURES / "medmentions_sample.pubtator.txt")
    first = documents[0].mentions[0]
    assert (first.text, first.label, first.concept_ids) == ("DCTN4", "T103", ("UMLS:C4308010",))
    assert len(documents) >= 2


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


GOOD_PUBTATOR = (
    "1|t|Breast cancer genes.\n"
    "1|a|BRCA1 causes breast cancer.\n"
    "1\t0\t13\tBreast cancer\tDisease\tD001943\n"
    "1\t34\t47\tbreast cancer\tDisease\tD001943\n"
    "1\tCID\tD1\tD2\n"
)


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ("1\t34\t99\tbreast cancer\tDisease\tD001943", "outside"),
        ("1\t33\t46\tbreast cancer\tDisease\tD001943", "differs from the document text"),
        ("1\tx\t47\tbreast cancer\tDisease\tD001943", "not integers"),
        ("1\t34\t47\tbreast cancer", "expected at least 5"),
        ("2\t34\t47\tbreast cancer\tDisease\tD001943", "outside its document"),
    ],
)
def test_pubtator_bad_mention_names_file_and_line(
    tmp_path: Path, bad_line: str, expected: str
) -> None:
    lines = GOOD_PUBTATOR.splitlines()
    lines[3] = bad_line
    path = _write(tmp_path, "bad.txt", "\n".join(lines) + "\n")
    with pytest.raises(CorpusFormatError, match=expected) as raised:
        read_pubtator(path)
    assert raised.value.line_number == 4
    assert f"{path}:4" in str(raised.value)


def test_pubtator_good_input_and_relation_lines_skipped(tmp_path: Path) -> None:
    documents = read_pubtator(_write(tmp_path, "good.txt", GOOD_PUBTATOR))
    assert [m.text for m in documents[0].mentions] == ["Breast cancer", "breast cancer"]


def test_empty_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    empty = _write(tmp_path, "empty.txt", "")
    for reader in (read_pubtator, read_conll):
        with pytest.raises(CorpusFormatError, match="empty"):
            reader(empty)
    latin1 = _write(tmp_path, "latin1.txt", "1|t|ok\n1|a|caf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusFormatError, match="not valid UTF-8") as raised:
        read_pubtator(latin1)
    assert raised.value.line_number == 2
    conll = _write(tmp_path, "latin1.tsv", "a\tO\ncaf\xe9\tB-X\n".encode("latin-1"))
    with pytest.raises(CorpusFormatError, match=r"latin1.tsv:2"):
        read_conll(conll)


@needs_mirror
@pytest.mark.parametrize("relative_path", sorted(CONLL_COUNTS))
def test_conll_reader_reproduces_verified_counts(relative_path: str) -> None:
    sentences = read_conll(MIRROR / relative_path)
    counts = (
        len(sentences),
        sum(len(s.tokens) for s in sentences),
        sum(len(s.spans) for s in sentences),
    )
    assert counts == CONLL_COUNTS[relative_path]
    assert len({s.sentence_id for s in sentences}) == len(sentences)


def test_conll_accepts_iob1_bioes_and_spaces(tmp_path: Path) -> None:
    iob1 = _write(tmp_path, "iob1.txt", "lung I-D\ncancer I-D\nand O\nflu I-D\n\nx O\n")
    sentences = read_conll(iob1)
    assert [(s.start, s.end, s.label) for s in sentences[0].spans] == [(0, 2, "D"), (3, 4, "D")]
    assert sentences[0].tags == ["B-D", "I-D", "O", "B-D"]
    bioes = _write(tmp_path, "bioes.tsv", "a\tS-C\nb\tB-D\nc\tI-D\nd\tE-D\ne\tO\n")
    assert read_conll(bioes)[0].tags == ["B-C", "B-D", "I-D", "I-D", "O"]
    three_columns = _write(tmp_path, "pos.tsv", "-DOCSTART-\tX\tO\n\nA\tDT\tO\nflu\tNN\tB-D\n")
    (sentence,) = read_conll(three_columns)
    assert sentence.tokens == ["A", "flu"] and sentence.tags == ["O", "B-D"]


@pytest.mark.parametrize(
    ("content", "line_number", "expected"),
    [
        ("a\tO\nb\tX-D\n", 2, "malformed tag"),
        ("a\tO\nb\tB-\n", 2, "malformed tag"),
        ("a\tO\n\nb\tNN\tO\n", 3, "3 columns; expected 2"),
        ("a\nb\tO\n", 1, "1 column"),
        ("a\tO\n\tO\n", 2, "empty token"),
    ],
)
def test_conll_bad_input_names_file_and_line(
    tmp_path: Path, content: str, line_number: int, expected: str
) -> None:
    path = _write(tmp_path, "bad.tsv", content)
    with pytest.raises(CorpusFormatError, match=expected) as raised:
        read_conll(path)
    assert raised.value.line_number == line_number
    assert str(path) in str(raised.value)


def test_brat_reads_mentions_and_reports_discontinuous(tmp_path: Path) -> None:
    text = "Patient has chest pain and shortness of breath.\nNo fever."
    _write(tmp_path, "note1.txt", text)
    _write(
        tmp_path,
        "note1.ann",
        "T1\tProblem 12 22\tchest pain\n"
        "T2\tProblem 27 46\tshortness of breath\n"
        "T3\tProblem 12 17;23 26\tchest and\n"
        "A1\tNegated T2\n"
        "R1\tRel Arg1:T1 Arg2:T2\n"
        "#1\tAnnotatorNotes T1\tnote\n"
        "N1\tReference T1 UMLS:C0008031\tChest pain\n"
        "T4\tProblem 51 56\tfever\n",
    )
    _write(tmp_path, "note2.txt", "Nothing annotated.")
    reading = read_brat_annotations(tmp_path)
    assert [d.doc_id for d in reading.documents] == ["note1", "note2"]
    mentions = reading.documents[0].mentions
    assert [(m.text, m.concept_ids) for m in mentions] == [
        ("chest pain", ("UMLS:C0008031",)),
        ("shortness of breath", ()),
        ("fever", ()),
    ]
    (skipped,) = reading.discontinuous
    assert (skipped.doc_id, skipped.annotation_id, skipped.fragments) == (
        "note1",
        "T3",
        ((12, 17), (23, 26)),
    )
    assert len(read_brat(tmp_path)[0].mentions) == 3


def test_brat_mismatched_text_names_file_and_line(tmp_path: Path) -> None:
    _write(tmp_path, "n.txt", "chest pain")
    ann = _write(tmp_path, "n.ann", "T1\tProblem 0 5\tchest\nT2\tProblem 0 5\tpain\n")
    with pytest.raises(CorpusFormatError, match="differs") as raised:
        read_brat(tmp_path)
    assert raised.value.path == ann and raised.value.line_number == 2


def test_tokenizer_matches_conll_style() -> None:
    tokens = tokenize("beta-catenin (CTNNB1) 7. 8% Parkinson's 3beta/4")
    assert " ".join(tokens) == "beta - catenin ( CTNNB1 ) 7 . 8 % Parkinson ' s 3beta / 4"


@needs_mirror
def test_tokenizer_reproduces_conll_token_counts() -> None:
    """The BC5CDR CoNLL files were tokenised like ours: same token count from the PubTator text."""
    documents = read_pubtator(MIRROR / "bc5cdr/CDR_TrainingSet.PubTator.txt")
    sentences, stats = documents_to_sentences(documents)
    assert stats.tokens == CONLL_COUNTS["bc5cdr/conll/train.tsv"][1]
    assert stats.boundary_crossing_mentions == 0
    assert stats.mentions == 9385


def test_mention_inside_a_token_splits_the_token() -> None:
    text = "Anti-HIVdrugs work."
    mention = Mention(5, 8, "HIV", "Disease", ("D015658",))
    (sentence,), stats = document_to_sentences(Document("d", text, [mention]))
    assert sentence.tokens == ["Anti", "-", "HIV", "drugs", "work", "."]
    (span,) = sentence.spans
    assert sentence.span_text(span) == "HIV" and span.concept_ids == ("D015658",)
    assert stats.tokens_split_at_mentions == 1


def test_sentence_splitter_never_splits_a_mention_and_counts_it() -> None:
    text = "He had type 2 diab. Mellitus was treated. Then he left."
    crossing = Mention(7, 28, "type 2 diab. Mellitus", "Disease")
    assert text[crossing.start : crossing.end] == crossing.text
    sentences, stats = document_to_sentences(Document("d", text, [crossing]))
    assert [s.text for s in sentences] == [
        "He had type 2 diab . Mellitus was treated .",
        "Then he left .",
    ]
    assert [s.sentence_id for s in sentences] == ["d:0", "d:1"]
    assert sentences[0].span_text(sentences[0].spans[0]) == "type 2 diab . Mellitus"
    assert stats.boundary_crossing_mentions == 1 and stats.mentions == 1


def test_sentence_breaks_skip_abbreviations_and_decimals() -> None:
    text = "Smith et al. Showed it. Dose was 1. 5 mg (e.g. Aspirin). Fine! Yes."
    starts = sentence_breaks(text)
    assert [text[offset:].split()[0] for offset in starts] == ["Dose", "Fine!", "Yes."]


def test_overlapping_mentions_keep_the_longest_and_are_counted() -> None:
    text = "Familial breast cancer is rare."
    outer = Mention(0, 22, "Familial breast cancer", "Disease")
    inner = Mention(9, 22, "breast cancer", "Disease")
    (sentence,), stats = document_to_sentences(Document("d", text, [inner, outer]))
    assert [sentence.span_text(s) for s in sentence.spans] == ["Familial breast cancer"]
    assert stats.overlapping_mentions_dropped == 1


def test_gzip_files_are_read_and_a_broken_one_is_named(tmp_path: Path) -> None:
    good = tmp_path / "corpus.txt.gz"
    with gzip.open(good, "wt", encoding="utf-8") as stream:
        stream.write(GOOD_PUBTATOR)
    assert len(read_pubtator(good)[0].mentions) == 2
    broken = _write(tmp_path, "broken.txt.gz", GOOD_PUBTATOR)
    with pytest.raises(CorpusFormatError, match="broken.txt.gz: not a complete gzip file"):
        read_pubtator(broken)
