"""Documents in, character-offset entities out: input formats, tokenisation offsets, entity
records, linking, output formats, and the errors a user sees for bad input (fast: a stub
tagger stands in for a trained one)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hilgen.data.brat import read_brat_annotations
from hilgen.data.pubtator import read_pubtator
from hilgen.data.types import Document, Sentence
from hilgen.inference.documents import TaggedDocument, tokenise
from hilgen.inference.export import ModelCard
from hilgen.inference.inputs import InputError, read_input
from hilgen.inference.outputs import write_output
from hilgen.inference.tagger import DocumentTagger, PrecisionError
from hilgen.models.base import Tagger, TrainerFactory, TrainingData
from tests.helpers.kb_fixture import FixtureLinker, demo_kb

DISEASE_WORDS = {"cancer", "neoplasms", "tremor"}


class WordListTagger(Tagger):
    """Tags `DISEASE_WORDS` (after a B- word, its following disease word continues it)."""

    labels = ["Disease"]

    def __init__(self) -> None:
        self.calls: list[int] = []

    def fit(self, data: TrainingData, make_trainer: TrainerFactory) -> dict:
        return {}

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        self.calls.append(len(sentences))
        tagged = []
        for sentence in sentences:
            tags = []
            for i, token in enumerate(sentence.tokens):
                word = token.lower()
                if word == "breast" and i + 1 < len(sentence.tokens):
                    tags.append("B-Disease")
                elif word in DISEASE_WORDS:
                    tags.append("I-Disease" if tags and tags[-1] != "O" else "B-Disease")
                else:
                    tags.append("O")
            tagged.append(tags)
        return tagged


def document_tagger(chunk_sentences: int = 1000) -> DocumentTagger:
    card = ModelCard("bert", ["Disease"], {"Disease": ["DISO"]})
    return DocumentTagger(WordListTagger(), card, chunk_sentences)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab .,-\n\t(é)CD1"), max_size=80))
def test_every_token_and_entity_points_at_its_own_text(text: str) -> None:
    document = tokenise(Document("d", text))
    for sentence, offsets in zip(document.sentences, document.offsets, strict=True):
        assert [text[start:end] for start, end in offsets] == sentence.tokens
    # the tokens cover the text: in order, and nothing but whitespace between or around them
    spans = [span for offsets in document.offsets for span in offsets]
    ends = [0, *(end for _, end in spans)]
    starts = [*(start for start, _ in spans), len(text)]
    assert all(not text[end:start].strip() for end, start in zip(ends, starts, strict=True))


def test_entities_are_character_offsets_into_each_text() -> None:
    texts = ["Breast cancer and tremor.", "No entity here.", "  Neoplasms of the breast cancer"]
    records = document_tagger().tag(texts)
    assert [r["id"] for r in records] == ["0", "1", "2"]
    assert records[0]["entities"] == [
        {"start": 0, "end": 13, "text": "Breast cancer", "label": "Disease"},
        {"start": 18, "end": 24, "text": "tremor", "label": "Disease"},
    ]
    assert records[1]["entities"] == []


def test_documents_are_tagged_in_chunks_and_come_back_in_order() -> None:
    tagger = document_tagger(chunk_sentences=2)
    documents = [tokenise(Document(str(i), "Tremor. Cancer. Tremor.")) for i in range(3)]
    tagged = list(tagger.tag_documents(documents))
    assert [t.document.doc_id for t in tagged] == ["0", "1", "2"]
    assert tagger.tagger.calls == [3, 3, 3]  # each document is a chunk (3 >= 2 sentences)
    assert all(len(t.entities) == 3 for t in tagged)


def test_linking_finds_concepts_within_the_labels_groups() -> None:
    linker = FixtureLinker(demo_kb())
    (record,) = document_tagger().tag(["Breast cancer and tremor."], linker=linker)
    breast, tremor = record["entities"]
    assert breast["concept_id"] == "MESH:D001943"
    assert breast["concept_name"] == "Breast Neoplasms"
    assert breast["score"] == 1.0
    assert "concept_id" not in tremor  # not in the KB: left unlinked
    # a label whose groups hold no such concept links nothing
    tagger = DocumentTagger(WordListTagger(), ModelCard("bert", ["Disease"], {"Disease": ["CHEM"]}))
    (record,) = tagger.tag(["Breast cancer."], linker=linker)
    assert "concept_id" not in record["entities"][0]


class AutocastRecorder(WordListTagger):
    """Notes the CPU autocast dtype each predict call runs under (None when off)."""

    def __init__(self) -> None:
        super().__init__()
        self.dtypes: list[torch.dtype | None] = []

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        on = torch.is_autocast_enabled("cpu")
        self.dtypes.append(torch.get_autocast_dtype("cpu") if on else None)
        return super().predict(sentences)


def test_bf16_precision_runs_the_tagger_under_autocast_and_fp32_does_not() -> None:
    card = ModelCard("bert", ["Disease"], {"Disease": ["DISO"]})
    recorder = AutocastRecorder()
    tagger = DocumentTagger(recorder, card)
    fp32 = tagger.tag(["Breast cancer."])
    tagger.precision = "bf16"
    assert tagger.tag(["Breast cancer."]) == fp32  # the stub's tags do not depend on it
    assert recorder.dtypes == [None, torch.bfloat16]
    assert not torch.is_autocast_enabled("cpu")  # and nothing is left switched on
    with pytest.raises(PrecisionError, match=r"precision=fp16: expected one of \['fp32', 'bf16'\]"):
        DocumentTagger(recorder, card, precision="fp16")


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_each_input_format_gives_documents(tmp_path: Path) -> None:
    text = read_input(write(tmp_path / "notes.txt", "Breast cancer.\n\n  \nTremor here.\n"))
    assert [d.doc_id for d in text] == ["notes:1", "notes:4"]
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    write(folder / "a.txt", "One line.\nTwo lines.")
    write(folder / "sub" / "b.txt", "Tremor.")
    write(folder / "ignored.md", "not a document")
    directory = read_input(folder)
    assert [(d.doc_id, d.text) for d in directory] == [
        ("a", "One line.\nTwo lines."),
        ("sub/b", "Tremor."),
    ]
    pubtator = read_input(
        write(tmp_path / "x.pubtator", "123|t|Breast cancer\n123|a|It spreads. Often.\n\n")
    )
    (document,) = pubtator
    assert document.text == "Breast cancer It spreads. Often." and document.title_end == 13
    assert [s.tokens for s in document.sentences][0] == ["Breast", "cancer"]  # title alone
    conll = read_input(write(tmp_path / "x.conll", "Breast\tO\ncancer\tO\n\nTremor\tO\n"))
    (document,) = conll
    assert document.text == "Breast cancer\nTremor"
    assert [s.tokens for s in document.sentences] == [["Breast", "cancer"], ["Tremor"]]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", "", "the file is empty"),
        ("blank.txt", "\n  \n", "no text to tag"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "a binary file"),
        ("latin1.txt", "caf\xe9 au lait\n".encode("latin-1"), r"latin1.txt:1: byte 0xe9"),
        ("bad.conll", "Breast\tO\ncancer\tB-Disease\textra\n", r"bad.conll:2: 3 columns"),
        ("missing.txt", None, "no such file or directory"),
    ],
)
def test_bad_input_is_one_line_naming_the_file(
    tmp_path: Path, name: str, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / name if content is None else write(tmp_path / name, content)
    with pytest.raises(InputError, match=message) as error:
        read_input(path)
    assert "\n" not in str(error.value) and name in str(error.value)


def tagged_documents(tmp_path: Path) -> list[TaggedDocument]:
    documents = read_input(
        write(tmp_path / "in.pubtator", "7|t|Breast cancer\n7|a|Then tremor.\n\n")
    )
    documents += read_input(write(tmp_path / "in.txt", "Tremor\tand breast cancer.\n"))
    return list(document_tagger().tag_documents(documents))


def test_outputs_in_every_format_read_back(tmp_path: Path) -> None:
    tagged = tagged_documents(tmp_path)
    write_output(tagged, tmp_path / "out.jsonl", "jsonl")
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["7", "in:1"]
    assert [e["text"] for e in records[0]["entities"]] == ["Breast cancer", "tremor"]
    # PubTator: the reader checks every entity's offsets against the text
    write_output(tagged, tmp_path / "out.pubtator", "pubtator")
    read_back = read_pubtator(tmp_path / "out.pubtator")
    assert [(m.start, m.end, m.text) for m in read_back[0].mentions] == [
        (0, 13, "Breast cancer"),
        (19, 25, "tremor"),
    ]
    assert read_back[0].text == records[0]["text"]
    write_output(tagged, tmp_path / "brat", "brat")
    brat = read_brat_annotations(tmp_path / "brat")
    assert sorted(d.doc_id for d in brat.documents) == ["7", "in:1"]
    assert sum(len(d.mentions) for d in brat.documents) == 4
    write_output(tagged, tmp_path / "out.conll", "conll")
    lines = (tmp_path / "out.conll").read_text().splitlines()
    assert "Breast\tB-Disease" in lines and "cancer\tI-Disease" in lines


def test_a_failure_part_way_leaves_nothing_at_the_output(tmp_path: Path) -> None:
    def failing():
        yield from tagged_documents(tmp_path)
        raise RuntimeError("disk full")

    for name, output_format in [("out.jsonl", "jsonl"), ("brat", "brat")]:
        with pytest.raises(RuntimeError):
            write_output(failing(), tmp_path / name, output_format)
        assert not (tmp_path / name).exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
