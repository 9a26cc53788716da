"""The synthetic-set data model (JSONL/CoNLL), the `none` augmenter and the augmenter configs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from hilgen.augment.base import (
    AugmentContext,
    Augmenter,
    MentionLinker,
    SyntheticSet,
    describe_sentences,
)
from hilgen.augment.generation import GenerationKey, generator_code_version
from hilgen.augment.none import NoAugmenter
from hilgen.augment.substitution import KBSubstitutionAugmenter, ReplacementFilter
from hilgen.data.conll import read_conll
from hilgen.data.tokenize import tokenize
from hilgen.data.types import Corpus, Sentence, Span
from tests.helpers.kb_fixture import LABEL_GROUPS, FixtureLinker, demo_kb

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
AUGMENTER_CONFIGS = sorted(p.stem for p in (CONF_DIR / "augmenter").glob("*.yaml"))


def synthetic_set() -> SyntheticSet:
    kb = demo_kb()
    sample = [
        Sentence(
            "d1:0",
            tokenize("Women with breast cancer were treated with lithium ."),
            [Span(2, 4, "Disease", ("MESH:D001943",)), Span(7, 8, "Chemical")],
            "d1",
        )
    ]
    context = AugmentContext(kb=kb, linker=FixtureLinker(kb), label_groups=LABEL_GROUPS)
    return KBSubstitutionAugmenter(["synonym", "child"]).generate(sample, context)


def test_jsonl_round_trip_keeps_sentences_provenance_and_stats(tmp_path: Path) -> None:
    original = synthetic_set()
    path = tmp_path / "out" / "synthetic.jsonl"
    original.to_jsonl(path)
    loaded = SyntheticSet.from_jsonl(path)
    assert loaded == original
    assert loaded.stats["sentences"] == len(original) > 0
    assert [p.name for p in path.parent.iterdir()] == ["synthetic.jsonl"]  # no temp files left


def test_from_jsonl_names_the_file_and_line_of_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    synthetic_set().to_jsonl(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines[:2], "{not json", *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: invalid JSON"):
        SyntheticSet.from_jsonl(path)
    path.write_text(lines[0] + '\n{"tokens": []}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not a synthetic sentence record"):
        SyntheticSet.from_jsonl(path)
    path.write_text('{"format": "other"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: expected a header"):
        SyntheticSet.from_jsonl(path)


def test_conll_export_reads_back_as_the_same_tagged_sentences(tmp_path: Path) -> None:
    synthetic = synthetic_set()
    path = tmp_path / "synthetic.conll"
    synthetic.to_conll(path)
    text = path.read_text(encoding="utf-8")
    assert text.split("\n\n")[0].splitlines()[2] == "breast\tB-Disease"
    assert text.endswith("\n\n")
    read_back = read_conll(path)
    assert [(s.tokens, s.tags) for s in read_back] == [
        (s.tokens, s.tags) for s in synthetic.to_sentences()
    ]


def test_no_augmenter_returns_an_empty_set() -> None:
    sample = [Sentence("a", ["x"], [Span(0, 1, "Disease")])]
    synthetic = NoAugmenter().generate(sample, AugmentContext())
    assert len(synthetic) == 0
    assert synthetic.stats == {
        "sentences": 0,
        "distinct_new_surface_forms": 0,
        "source_sentences": 1,
        "leaked_dropped": 0,
    }


def test_context_compares_test_sentences_case_insensitively() -> None:
    context = AugmentContext(test_sentences=[Sentence("t", ["Breast", "cancer", "."])])
    assert context.is_test_sentence(["breast", "CANCER", "."])
    assert not context.is_test_sentence(["breast", "cancer"])


def test_describe_sentences_counts_layers_relations_labels_and_new_forms() -> None:
    synthetic = synthetic_set()
    stats = describe_sentences(synthetic.sentences)
    assert stats["sentences"] == len(synthetic)
    assert stats["relation/synonym"] + stats["relation/child"] == len(synthetic)
    assert stats["layer/1"] == stats["relation/synonym"]
    assert stats["label/Disease"] == stats["label/Chemical"] == len(synthetic)


def test_fixture_linker_satisfies_the_linker_protocol() -> None:
    assert isinstance(FixtureLinker(demo_kb()), MentionLinker)


@pytest.mark.parametrize("config_name", AUGMENTER_CONFIGS)
def test_every_augmenter_config_instantiates(config_name: str) -> None:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose(overrides=[f"+augmenter={config_name}"])
    augmenter = instantiate(cfg.augmenter)
    assert isinstance(augmenter, Augmenter)
    assert augmenter.name == config_name
    if config_name.startswith("umls_"):
        assert isinstance(augmenter, KBSubstitutionAugmenter)
        assert augmenter.top_k == 10
        assert augmenter.filters == ReplacementFilter()


def test_layer_configs_pick_the_papers_relations() -> None:
    expected = {
        "umls_synonyms": ["synonym"],
        "umls_related": ["synonym", "same_type"],
        "umls_parents_children": ["parent", "child"],
        "umls_siblings": ["sibling"],
        "umls_all": ["synonym", "same_type", "parent", "child", "sibling"],
        "hilgen": ["synonym", "same_type", "parent", "child", "sibling"],
    }
    not_substitution = {"none", "kb_dictionary", "hilgen_dictionary"}
    assert set(expected) | not_substitution == {
        n for n in AUGMENTER_CONFIGS if not n.startswith(("gpt_", "zerogen"))
    }
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        for name, relations in expected.items():
            cfg = compose(overrides=[f"+augmenter={name}", "augmenter/filters=off"])
            augmenter = instantiate(cfg.augmenter)
            assert augmenter.relations == relations
            assert augmenter.filters.inverted_headings == "keep"


def test_the_synthetic_cache_key_follows_the_generating_code(tmp_path: Path) -> None:
    def version(text: str) -> str:
        (tmp_path / "augment").mkdir(exist_ok=True)
        (tmp_path / "augment" / "substitution.py").write_text(text)
        generator_code_version.cache_clear()
        return generator_code_version(tmp_path)

    old, new = version("SWAP = 'one'\n"), version("SWAP = 'all'\n")
    assert old != new and version("SWAP = 'one'\n") == old
    generator_code_version.cache_clear()
    key = GenerationKey("toy", 1, 5, {"name": "hilgen"}, "kb1", ("s1",), {}, None, old)
    assert dataclasses.replace(key, code_version=new).digest() != key.digest()
    # The installed package's own digest covers its augmenters.
    assert len(generator_code_version()) == 16


def test_the_synthetic_cache_key_follows_the_corpus_text_not_only_its_name() -> None:
    """A user who edits their corpus files under the same dataset name gets fresh synthetic
    sets: the key holds a fingerprint of the train split (sample and unlabelled pool) and the
    test split (leak checks); the dev split, which no augmenter reads, is not in it."""

    def corpus(train_token: str, dev_token: str = "x", label: str = "Disease") -> Corpus:
        train = [Sentence("t1", ["a", train_token], [Span(1, 2, label)], "d1")]
        dev = [Sentence("v1", [dev_token])]
        return Corpus("toy", ["Disease", "Chemical"], train, dev, [Sentence("e1", ["b"])])

    base = corpus("cancer").fingerprint()
    assert corpus("cancer").fingerprint() == base
    assert corpus("tumour").fingerprint() != base
    assert corpus("cancer", label="Chemical").fingerprint() != base
    assert corpus("cancer", dev_token="y").fingerprint() == base
    key = GenerationKey("toy", 1, 5, {"name": "kb_dictionary"}, "kb1", ("t1",), {}, corpus=base)
    edited = dataclasses.replace(key, corpus=corpus("tumour").fingerprint())
    assert edited.digest() != key.digest()
