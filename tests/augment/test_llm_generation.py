"""LLM augmenters (gpt_*, zerogen) and their parsing, against a scripted fake OpenAI server on
127.0.0.1 (tests/helpers/fake_openai.py) and the hand-built KB (tests/helpers/kb_fixture.py);
one slow test runs the real local SmolLM2 server end to end."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from hilgen.augment.base import AugmentContext, SyntheticSet
from hilgen.augment.llm_generation import REJECTION_REASONS, GPTAugmenter
from hilgen.augment.substitution import KBSubstitutionAugmenter
from hilgen.augment.zerogen import ZeroGenAugmenter
from hilgen.data.iob import tags_to_spans
from hilgen.data.tokenize import tokenize
from hilgen.data.types import Sentence, Span
from hilgen.llm.client import LLMClient
from hilgen.llm.endpoints import OpenAIEndpoint
from hilgen.llm.parsing import (
    locate_entities,
    parse_entities,
    parse_sentence_list,
    render_inline,
    strip_inline_tags,
)
from hilgen.llm.prompts import ChatPrompt
from hilgen.llm.sensitive import SensitiveDataError
from tests.helpers.fake_openai import FakeOpenAIServer, FakeReply, serve, user_text
from tests.helpers.kb_fixture import LABEL_GROUPS, FixtureLinker, demo_kb

ROOT = Path(__file__).resolve().parents[2]
FAKE_KEY = "sk-test-augment-DO-NOT-LEAK-7731"
KB = demo_kb()
LABELS = ["Disease", "Chemical"]

GENERATE = ChatPrompt(user="GEN n={n} | {sentence} | {entities}", name="test_gen")
GROUNDED = ChatPrompt(user="GROUNDED n={n} | {sentence} |\n{replacements}", name="test_grounded")
TAG = ChatPrompt(
    user="TAG labels={labels}\n{examples}SENTENCE: {sentence}",
    example="EXAMPLE: {tagged}\n",
    name="test_tag",
)
ZEROGEN = ChatPrompt(user="ZERO n={n} label={label}", name="test_zerogen")

VOCABULARY = {
    "Disease": [
        "breast cancer", "lung cancer", "ovarian cancer", "prostate cancer", "pancreatic cancer",
        "hypotension", "hypertension", "gastric ulcer", "nephrotoxicity", "migraine",
        "thrombosis", "breast neoplasms", "breast tumors",
    ],
    "Chemical": [
        "lithium", "sodium", "potassium", "selegiline", "valproate", "aspirin", "cisplatin",
        "tamoxifen", "heparin", "unobtainium", "li",
    ],
}  # fmt: skip


def sentence(sentence_id: str, text: str, *entities: tuple[str, str, str]) -> Sentence:
    """A sample sentence; entities are (text, label, gold id) located in the tokens."""
    tokens = tokenize(text)
    spans = []
    for entity, label, gold in entities:
        located = locate_entities(tokens, [(entity, label)], LABELS).spans[0]
        spans.append(Span(located.start, located.end, label, (gold,) if gold else ()))
    return Sentence(sentence_id, tokens, spans, sentence_id.split(":")[0])


BREAST = sentence(
    "d1:0",
    "Women with breast cancer were treated with lithium .",
    ("breast cancer", "Disease", "MESH:D001943"),
    ("lithium", "Chemical", ""),
)
SELEGILINE = sentence(
    "d2:0",
    "Selegiline induced hypotension in older patients .",
    ("Selegiline", "Chemical", ""),
    ("hypotension", "Disease", ""),
)


def vocabulary_tags(text: str) -> str:
    """The fake tagger: every vocabulary entry in `text` wrapped in inline tags."""
    entities = [(name, label) for label, names in VOCABULARY.items() for name in names]
    located = locate_entities(tokenize(text), entities, LABELS, require_all=False)
    return render_inline(Sentence("x", tokenize(text), located.spans))


def sentence_of(prompt: str) -> str:
    """The source sentence in a GEN or GROUNDED test prompt."""
    return prompt.split(" | ")[1].split(" |")[0]


def default_tagging(prompt: str) -> FakeReply:
    text = prompt.rsplit("SENTENCE: ", 1)[1]
    return FakeReply(vocabulary_tags(text))


def make_client(
    server: FakeOpenAIServer, cache_dir: Path, api_key_env: str | None = None, **overrides: Any
) -> LLMClient:
    settings: dict[str, Any] = {
        "endpoint": OpenAIEndpoint(base_url=server.base_url, api_key_env=api_key_env),
        "model": "fake-model",
        "cache_dir": cache_dir,
        "max_retries": 2,
        "timeout_s": 0.3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "seed": 13,
        "show_progress": False,
    }
    settings.update(overrides)
    return LLMClient(**settings)


def context(llm: LLMClient, **overrides: Any) -> AugmentContext:
    values: dict[str, Any] = {
        "kb": KB,
        "linker": FixtureLinker(KB),
        "labels": LABELS,
        "label_groups": LABEL_GROUPS,
        "seed": 1,
        "llm": llm,
    }
    values.update(overrides)
    return AugmentContext(**values)


def gpt(control_relations: tuple[str, ...] = ("synonym", "same_type"), **options: Any):
    control = KBSubstitutionAugmenter(list(control_relations), name="umls_control", top_k=2)
    settings: dict[str, Any] = {
        "name": "gpt_test",
        "control": control,
        "generation_prompt": GENERATE,
        "grounded_generation_prompt": GROUNDED,
        "tagging_prompt": TAG,
    }
    settings.update(options)
    return GPTAugmenter(**settings)


def accounted(stats: dict[str, float | int]) -> float:
    """Accepted + every rejection + leaks: must equal the requested sentences."""
    rejected = sum(v for k, v in stats.items() if k.startswith("rejected/"))
    return stats["llm/accepted"] + rejected + stats["leaked_dropped"]


def assert_valid(synthetic: SyntheticSet) -> None:
    for item in synthetic:
        tags = item.sentence.tags
        assert tags_to_spans(tags) == [Span(s.start, s.end, s.label) for s in item.sentence.spans]
        assert item.sentence.spans, "every accepted sentence has an entity"


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('["First one here .", "Second one here ."]', ["First one here .", "Second one here ."]),
        ("Here are 2 sentences:\n1. First one.\n2) Second one.", ["First one.", "Second one."]),
        ("- First one.\n* <Disease>Second</Disease> one.", ["First one.", "Second one."]),
        ('1. "First one." 2. "Second one."', ["First one.", "Second one."]),
        ("```\nSentence 1: First one.\n\n```", ["First one."]),
        ("", []),
    ],
)
def test_sentence_lists_parse_in_every_shape(answer: str, expected: list[str]) -> None:
    assert parse_sentence_list(answer) == expected


@pytest.mark.parametrize(
    ("answer", "answer_format", "entities"),
    [
        (
            "Women with <Disease>breast cancer</Disease> took < Chemical >Li</ Chemical >.",
            "inline",
            [("breast cancer", "Disease"), ("Li", "Chemical")],
        ),
        (
            'Sure: [{"text": "lithium", "label": "Chemical"}, {"entity": "x", "type": "Disease"}]',
            "json",
            [("lithium", "Chemical"), ("x", "Disease")],
        ),
        ('{"entities": [["lithium", "Chemical"]]}', "json", [("lithium", "Chemical")]),
        ('{"Disease": ["a", "b"], "Chemical": "c"}', "json", [("a", "Disease"), ("b", "Disease"),
                                                             ("c", "Chemical")]),
        (
            "breast B-Disease\ncancer I-Disease\nand O\nlithium S-Chemical",
            "iob",
            [("breast cancer", "Disease"), ("lithium", "Chemical")],
        ),
        ("I am sorry, I cannot tag this.", "none", []),
        ('[{"text": "lithium"}]', "none", []),
    ],
)  # fmt: skip
def test_entities_parse_from_inline_json_and_iob(
    answer: str, answer_format: str, entities: list[tuple[str, str]]
) -> None:
    parsed = parse_entities(answer)
    assert (parsed.answer_format, parsed.entities) == (answer_format, entities)


def test_entities_are_located_in_every_occurrence_longest_first() -> None:
    tokens = tokenize("Breast cancer and lung cancer ; breast cancer again .")
    located = locate_entities(tokens, [("cancer", "Disease"), ("breast cancer", "disease")], LABELS)
    texts = [" ".join(tokens[s.start : s.end]) for s in located.spans]
    assert texts == ["Breast cancer", "cancer", "breast cancer"] and not located.problems
    strict = locate_entities(tokens, [("cancer", "Disease"), ("x y", "Disease")], LABELS)
    assert strict.problems == {"entity_not_in_text": 1} and strict.spans == []
    lenient = locate_entities(
        tokens, [("cancer", "Gene"), ("lung cancer", "Disease")], LABELS, require_all=False
    )
    assert lenient.problems == {"unknown_label": 1} and len(lenient.spans) == 1


def test_inline_rendering_round_trips_through_the_parser() -> None:
    rendered = render_inline(BREAST)
    assert rendered == "Women with <Disease>breast cancer</Disease> were treated with " + (
        "<Chemical>lithium</Chemical> ."
    )
    assert strip_inline_tags(rendered) == BREAST.text
    located = locate_entities(BREAST.tokens, parse_entities(rendered).entities, LABELS)
    assert [(s.start, s.end, s.label) for s in located.spans] == [
        (s.start, s.end, s.label) for s in BREAST.spans
    ]


def test_prompt_placeholders_are_checked() -> None:
    with pytest.raises(ValueError, match="test_gen.*user template"):
        GENERATE.messages(n=1)


# -- the scripted run -------------------------------------------------------------------------

SOURCES = [
    BREAST,
    SELEGILINE,
    sentence(
        "d3:0", "Aspirin overdose caused gastric ulcer in rats .", ("Aspirin", "Chemical", "")
    ),
    sentence(
        "d4:0", "Cisplatin causes nephrotoxicity in children .", ("Cisplatin", "Chemical", "")
    ),
    sentence("d5:0", "Valproate worsened migraine in adults .", ("migraine", "Disease", "")),
    sentence("d6:0", "Sodium intake worsened hypertension in mice .", ("Sodium", "Chemical", "")),
    sentence("d7:0", "Tamoxifen reduced breast cancer recurrence .", ("Tamoxifen", "Chemical", "")),
    sentence("d8:0", "Heparin prevented thrombosis after surgery .", ("Heparin", "Chemical", "")),
]
LEAKED = "Women with lung cancer were treated with sodium ."
GENERATED = {
    "Women": [LEAKED, "Women with ovarian cancer were treated with potassium .",
              "Women with prostate cancer were treated with lithium ."],
    "Selegiline": [SELEGILINE.text, "Valproate induced hypertension in older patients .",
                   "valproate induced hypertension in older patients ."],
    "Sodium": ["Potassium intake worsened hypertension in dogs .",
               "Lithium intake worsened hypertension in sheep .",
               "Sodium intake worsened hypotension in goats ."],
    "Tamoxifen": ["Tamoxifen reduced lung cancer recurrence in rats .",
                  "Tamoxifen reduced prostate cancer recurrence in cows .", "Short ."],
    "Heparin": ["Here are the sentences:", "Heparin prevented thrombosis in tagfail patients ."],
}  # fmt: skip


def scripted(body: dict[str, Any], attempt: int) -> FakeReply:
    """Every outcome the augmenter must survive, chosen by the source or generated sentence."""
    prompt = user_text(body)
    if prompt.startswith("GEN"):
        first_word = sentence_of(prompt).split()[0]
        if first_word == "Aspirin":
            return FakeReply("")
        if first_word == "Cisplatin":
            return FakeReply(body=b"this is not json")
        if first_word == "Valproate":
            return FakeReply("1. too late", delay_s=1.0)
        if first_word == "Sodium" and attempt <= 2:
            return FakeReply(status=429 if attempt == 1 else 500)
        lines = GENERATED[first_word]
        return FakeReply("\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1)))
    text = prompt.rsplit("SENTENCE: ", 1)[1]
    if "rats" in text:
        return FakeReply(vocabulary_tags(text) + " <Disease>unicorn fever</Disease>")
    if "dogs" in text:
        return FakeReply(vocabulary_tags(text).replace("Chemical>", "Gene>"))
    if "cows" in text:
        return FakeReply("I cannot help with that.")
    if "tagfail" in text:
        return FakeReply(status=500)
    if "sheep" in text:
        return FakeReply(
            json.dumps([{"text": "Lithium", "label": "chemical"}, ["hypertension", "Disease"]])
        )
    if "goats" in text:
        tokens = tokenize(text)
        entities = parse_entities(vocabulary_tags(text)).entities
        tags = Sentence("x", tokens, locate_entities(tokens, entities, LABELS).spans).tags
        return FakeReply("\n".join(f"{t}\t{g}" for t, g in zip(tokens, tags, strict=True)))
    return FakeReply(vocabulary_tags(text))


@pytest.fixture
def scripted_server() -> Iterator[FakeOpenAIServer]:
    with serve(scripted) as server:
        yield server


def test_scripted_run_counts_every_outcome_and_replays_from_cache(
    tmp_path: Path,
    scripted_server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("HILGEN_TEST_API_KEY", FAKE_KEY)
    caplog.set_level(logging.DEBUG)
    # 3 of 17 chats fail on purpose: above the default max_failed_share, which would fail the run
    augmenter = gpt(count="fixed", sentences_per_source=3, max_failed_share=0.5)
    test_split = [Sentence("t:0", tokenize(LEAKED))]
    with make_client(scripted_server, tmp_path / "cache", "HILGEN_TEST_API_KEY") as client:
        synthetic = augmenter.generate(SOURCES, context(client, test_sentences=test_split))
        first_requests = scripted_server.request_count
        cached = len(client.cache)
    stats = synthetic.stats

    expected_rejections = {
        "copy": 1, "duplicate": 1, "empty_answer": 3, "generation_failed": 6,
        "unknown_label": 1, "entity_not_in_text": 1, "no_entities": 1, "too_short": 1,
        "not_generated": 2, "tagging_failed": 1,
    }  # fmt: skip
    for reason in REJECTION_REASONS:
        assert stats[f"rejected/{reason}"] == expected_rejections.get(reason, 0), reason
    assert stats["llm/requested"] == 24 and stats["leaked_dropped"] == 1
    assert stats["llm/accepted"] == len(synthetic) == 5 and accounted(stats) == 24
    assert stats["llm/acceptance_rate"] == pytest.approx(5 / 24)
    assert stats["format/json"] == stats["format/iob"] == 1
    assert stats["llm/generation_requests"] == 8 and stats["llm/tagging_requests"] == 9
    assert stats["llm/failures"] == 3 and stats["llm/retries"] >= 2 + 2 + 2
    assert_valid(synthetic)
    accepted = {item.sentence.text: item for item in synthetic}
    assert set(accepted) == {
        "Women with ovarian cancer were treated with potassium .",
        "Women with prostate cancer were treated with lithium .",
        "Valproate induced hypertension in older patients .",
        "Lithium intake worsened hypertension in sheep .",
        "Sodium intake worsened hypotension in goats .",
    }
    sheep = accepted["Lithium intake worsened hypertension in sheep ."]
    assert [(s.start, s.end, s.label) for s in sheep.sentence.spans] == [
        (0, 1, "Chemical"),
        (3, 4, "Disease"),
    ]
    assert {item.source_sentence_id for item in synthetic} == {"d1:0", "d2:0", "d6:0"}
    women = accepted["Women with ovarian cancer were treated with potassium ."]
    tag_prompt = next(
        user_text(b)
        for b in scripted_server.bodies
        if "ovarian" in user_text(b) and user_text(b).startswith("TAG")
    )
    assert f"EXAMPLE: {render_inline(BREAST)}" in tag_prompt, "the tagged source is the example"
    assert women.replacements == [], "ungrounded sentences claim no KB provenance"

    # A rerun replays every answer from the cache: only the failed chats are asked again.
    with make_client(scripted_server, tmp_path / "cache", "HILGEN_TEST_API_KEY") as client:
        rerun = augmenter.generate(SOURCES, context(client, test_sentences=test_split))
        assert len(client.cache) == cached == 6 + 8, "nothing is cached twice"
    assert [s.sentence for s in rerun] == [s.sentence for s in synthetic]
    assert rerun.stats["llm/cache_hits"] == cached
    failed_chat_attempts = 1 + 3 + 3  # malformed (not retried), timeout, tagging 500
    assert scripted_server.request_count - first_requests == failed_chat_attempts

    assert all(a == f"Bearer {FAKE_KEY}" for a in scripted_server.authorizations)
    synthetic.to_jsonl(tmp_path / "synthetic.jsonl")
    synthetic.to_conll(tmp_path / "synthetic.conll")
    artifacts = {
        "jsonl": (tmp_path / "synthetic.jsonl").read_text(),
        "conll": (tmp_path / "synthetic.conll").read_text(),
        "stats": json.dumps(stats),
        "logs": caplog.text,
    }
    for path in (tmp_path / "cache").rglob("*"):
        artifacts[str(path)] = path.read_bytes().decode("latin-1")
    assert [where for where, text in artifacts.items() if FAKE_KEY in text] == []
    assert SyntheticSet.from_jsonl(tmp_path / "synthetic.jsonl").stats == stats


# -- count control, grounding, tagging modes ---------------------------------------------------


def echo_variants(body: dict[str, Any], attempt: int) -> FakeReply:
    """n distinct rewrites ("... in cohort i ."), or the grounded replacements applied."""
    prompt = user_text(body)
    if prompt.startswith("TAG"):
        return default_tagging(prompt)
    source = sentence_of(prompt).removesuffix(" .")
    if prompt.startswith("GROUNDED"):
        pairs = re.findall(r'replace "([^"]+)" with "([^"]+)"', prompt)
        lines = [source.replace(old, new) + " ." for old, new in pairs]
        lines[-1] = "Women were treated with lithium in a new trial ."  # uses no asked name
        return FakeReply("\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1)))
    count = int(re.search(r"n=(\d+)", prompt).group(1))
    seed = body["seed"]
    return FakeReply("\n".join(f"{i}. {source} in cohort {seed}-{i} ." for i in range(count)))


@pytest.fixture
def echo_server() -> Iterator[FakeOpenAIServer]:
    with serve(echo_variants) as server:
        yield server


def test_count_matches_the_control_augmenter_per_source_sentence(
    tmp_path: Path, echo_server: FakeOpenAIServer
) -> None:
    augmenter = gpt(sentences_per_request=3)
    sample = [BREAST, SELEGILINE]
    with make_client(echo_server, tmp_path) as client:
        synthetic = augmenter.generate(sample, context(client))
    control = augmenter.control.generate(sample, context(client))
    wanted = Counter(item.source_sentence_id for item in control)
    assert wanted["d1:0"] > 3 and wanted["d2:0"] >= 1, "the fixture KB must give both some"
    assert Counter(item.source_sentence_id for item in synthetic) == wanted
    assert synthetic.stats["control/sentences"] == len(control) == len(synthetic)
    generation_seeds = [b["seed"] for b in echo_server.bodies if "GEN" in user_text(b)]
    assert (
        len(generation_seeds)
        == len(set(generation_seeds))
        == sum(-(-n // 3) for n in wanted.values())
    ), "chats for one source differ by seed, so none is deduplicated away"
    assert_valid(synthetic)


def test_grounded_names_are_asked_for_and_tagged_without_an_llm_tagger(
    tmp_path: Path, echo_server: FakeOpenAIServer
) -> None:
    augmenter = gpt(("synonym",), grounding="kb", tagging="names", sentences_per_request=10)
    with make_client(echo_server, tmp_path) as client:
        synthetic = augmenter.generate([BREAST], context(client))
    control = augmenter.control.generate([BREAST], context(client))
    asked = [r.replacement_text for item in control for r in item.replacements]
    (prompt,) = [user_text(b) for b in echo_server.bodies]
    assert all(f'with "{name}"' in prompt for name in asked), "KB names are in the prompt"
    stats = synthetic.stats
    assert stats["llm/tagging_requests"] == 0
    assert stats["llm/requested"] == len(asked) and stats["rejected/no_grounded_name"] == 1
    assert len(synthetic) == len(asked) - 1 and accounted(stats) == len(asked)
    for item in synthetic:
        (replacement,) = item.replacements
        span = item.sentence.spans[replacement.span_index]
        assert item.sentence.span_text(span).casefold() == replacement.replacement_text.casefold()
        assert replacement.relation == "synonym" and replacement.replacement_concept_id
        assert len(item.sentence.spans) == 2, "the kept source mention is tagged too"
    assert_valid(synthetic)


def test_llm_plus_names_adds_the_names_the_llm_missed(tmp_path: Path) -> None:
    def chemicals_only(body: dict[str, Any], attempt: int) -> FakeReply:
        prompt = user_text(body)
        if prompt.startswith("TAG"):
            return FakeReply(re.sub("</?Disease>", "", default_tagging(prompt).content))
        return echo_variants(body, attempt)

    with serve(chemicals_only) as server, make_client(server, tmp_path) as client:
        for tagging, labels in (("llm", {"Chemical"}), ("llm+names", {"Disease", "Chemical"})):
            augmenter = gpt(("synonym",), grounding="kb", tagging=tagging)
            synthetic = augmenter.generate([BREAST], context(client))
            assert synthetic.stats["llm/tagging_requests"] > 0
            if tagging == "llm":
                # "Li" is the only asked name the LLM tags; disease-only rewrites lack one.
                assert synthetic.stats["rejected/no_grounded_name"] >= 1
            assert {s.label for item in synthetic for s in item.sentence.spans} == labels


def test_kb_link_option_rejects_entities_outside_the_kb(tmp_path: Path) -> None:
    def answers(body: dict[str, Any], attempt: int) -> FakeReply:
        prompt = user_text(body)
        if prompt.startswith("TAG"):
            return default_tagging(prompt)
        return FakeReply(
            "1. Women with lung cancer were given sodium daily .\n"
            "2. Women with lung cancer were given unobtainium daily ."
        )

    with serve(answers) as server, make_client(server, tmp_path) as client:
        synthetic = gpt(count="fixed", sentences_per_source=2, require_kb_link=True).generate(
            [BREAST], context(client)
        )
    assert [item.sentence.text for item in synthetic] == [
        "Women with lung cancer were given sodium daily ."
    ]
    assert synthetic.stats["rejected/unlinked_entity"] == 1


def test_gpt_option_errors_name_the_config() -> None:
    with pytest.raises(ValueError, match="needs grounding=kb"):
        gpt(tagging="names")
    with pytest.raises(ValueError, match="tagging must be one of"):
        gpt(tagging="iob")
    with pytest.raises(ValueError, match="count=fixed needs sentences_per_source"):
        gpt(count="fixed")
    with pytest.raises(ValueError, match="AugmentContext.llm"):
        gpt().generate([BREAST], context(None))


# -- zerogen ----------------------------------------------------------------------------------


def test_zerogen_spreads_the_count_over_labels_and_tags_without_examples(
    tmp_path: Path,
) -> None:
    def answers(body: dict[str, Any], attempt: int) -> FakeReply:
        prompt = user_text(body)
        if prompt.startswith("TAG"):
            return default_tagging(prompt)
        count = int(re.search(r"n=(\d+)", prompt).group(1))
        label = re.search(r"label=(.+)", prompt).group(1)
        name = "lung cancer" if label == "a disease" else "sodium"
        return FakeReply(
            "\n".join(
                f"{i}. Patients got {name} in study {body['seed']} {i} ." for i in range(count)
            )
        )

    control = KBSubstitutionAugmenter(["synonym", "same_type"], name="umls_related", top_k=2)
    with serve(answers) as server, make_client(server, tmp_path) as client:
        fixed = ZeroGenAugmenter(
            "zerogen", control, ZEROGEN, TAG, count="fixed", num_sentences=5,
            label_names={"Disease": "a disease"}, sentences_per_request=2,
        )  # fmt: skip
        synthetic = fixed.generate([BREAST], context(client))
        generation = [user_text(b) for b in server.bodies if b["messages"][-1]["content"][0] == "Z"]
        tagging = [user_text(b) for b in server.bodies if user_text(b).startswith("TAG")]
        controlled = ZeroGenAugmenter("zerogen", control, ZEROGEN, TAG).generate(
            [BREAST], context(client)
        )
    assert sorted(generation) == sorted(
        ["ZERO n=2 label=a disease", "ZERO n=1 label=a disease", "ZERO n=2 label=Chemical"]
    )
    assert all("EXAMPLE" not in prompt for prompt in tagging), "ZeroGen sees no tagged example"
    assert len(synthetic) == 5 and accounted(synthetic.stats) == 5
    assert Counter(s.label for item in synthetic for s in item.sentence.spans) == {
        "Disease": 3,
        "Chemical": 2,
    }
    assert controlled.stats["llm/requested"] == len(control.generate([BREAST], context(client)))
    assert_valid(synthetic)


# -- real configs -----------------------------------------------------------------------------

LLM_AUGMENTERS = ["gpt_related", "gpt_parents_children", "gpt_siblings", "zerogen"]


def compose_train(overrides: list[str], tmp_path: Path) -> Any:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(
            "train",
            overrides=[f"paths.cache_dir={tmp_path}", *overrides],
        )


@pytest.mark.parametrize("name", LLM_AUGMENTERS)
def test_every_llm_augmenter_config_runs_with_its_real_prompts(name: str, tmp_path: Path) -> None:
    def answers(body: dict[str, Any], attempt: int) -> FakeReply:
        prompt = user_text(body)
        if prompt.rstrip().endswith("Tagged:"):
            return FakeReply(vocabulary_tags(prompt.rsplit("Sentence: ", 1)[1].split("\n")[0]))
        return FakeReply(f"1. Women with lung cancer were given sodium ({body['seed']}) .")

    with serve(answers) as server:
        cfg = compose_train(
            [
                f"augmenter={name}",
                "llm=openai_compatible",
                f"llm.endpoint.base_url={server.base_url}",
                "llm.model=fake-model",
                "llm.show_progress=false",
            ],
            tmp_path,
        )
        augmenter = instantiate(cfg.augmenter)
        assert isinstance(augmenter.control, KBSubstitutionAugmenter)
        assert augmenter.control.name in {"umls_related", "umls_parents_children", "umls_siblings"}
        with instantiate(cfg.llm) as client:
            synthetic = augmenter.generate([BREAST], context(client))
    assert synthetic.stats["llm/requested"] > 0
    assert (
        synthetic.stats["llm/accepted"] > 0
        and accounted(synthetic.stats) == (synthetic.stats["llm/requested"])
    )
    if name.startswith("gpt"):
        grounded = compose_train([f"augmenter={name}", "augmenter.grounding=kb"], tmp_path)
        assert instantiate(grounded.augmenter).grounding == "kb"


@pytest.mark.parametrize("name", LLM_AUGMENTERS)
def test_sensitive_dataset_refuses_a_remote_endpoint_before_any_request(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[object] = []
    monkeypatch.setattr(openai, "OpenAI", lambda *a, **k: opened.append(k))
    cfg = compose_train(["dataset=mimic3", f"augmenter={name}", "llm=openai"], tmp_path)
    augmenter = instantiate(cfg.augmenter)
    with pytest.raises(Exception, match="sensitive: true") as refused:
        context(instantiate(cfg.llm))
    assert isinstance(refused.value.__cause__ or refused.value, SensitiveDataError)
    assert opened == [], "no HTTP client may be created, let alone a request sent"
    assert augmenter.name == name


# -- the real local model -----------------------------------------------------------------------


@pytest.mark.slow
def test_local_smollm2_generates_and_tags_end_to_end(tmp_path: Path) -> None:
    cfg = compose_train(
        [
            "augmenter=gpt_related",
            "augmenter.grounding=kb",
            "augmenter.tagging=llm+names",
            "augmenter.control.top_k=1",
            "llm=local",
            "llm.endpoint.n_ctx=2048",
            "llm.endpoint.n_parallel=1",
        ],
        tmp_path,
    )
    augmenter = instantiate(cfg.augmenter)
    with instantiate(cfg.llm) as client:
        synthetic = augmenter.generate([BREAST], context(client))
    stats = synthetic.stats
    assert stats["llm/requested"] >= 2 and accounted(stats) == stats["llm/requested"]
    assert stats["llm/generated"] > 0 and stats["llm/failures"] == 0
    assert_valid(synthetic)
