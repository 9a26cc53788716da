"""LLM augmenters `gpt_related`, `gpt_parents_children`, `gpt_siblings`: the paper's GPT rows.

The paper's two steps: (a) ask the LLM for N sentences that keep the meaning of a sample
sentence but use related concepts (or parents and children, or siblings, in SNOMED CT) of its
entities; (b) ask it to tag those sentences for the task's labels. N is the paper's control:
the matching KB augmenter (``umls_related``, ``umls_parents_children``, ``umls_siblings``) is
run on the same sample and N is the number of sentences it made from that source sentence, so
that a GPT row and its UMLS row train on the same amount of synthetic data.

Grounding. ``grounding: none`` (the paper) leaves the related concepts to the LLM's memory.
``grounding: kb`` writes the control's own replacement names into the prompt (sentence i
should use the i-th KB replacement), which makes the paper's claim that UMLS anchoring curbs
hallucination testable; with `require_grounded_name` a grounded sentence must contain at
least one of the names it was asked to use.

Tagging (step b). ``llm`` asks the LLM to copy the sentence with inline tags, with the tagged
source sentence as the example; ``names`` sends no tagging request and tags every occurrence
of the known names (the requested KB names and the source sentence's own mentions), which
needs ``grounding: kb`` since otherwise the new entities are unknown; ``llm+names`` takes the
LLM's entities and adds known names where the LLM left them untagged (known names win
overlaps, because they come from the KB or the gold sample).

Validation (see `hilgen.llm.parsing`). A sentence is accepted only if it is not
empty, not too short, not junk (`hilgen.llm.junk_filter`: echoed instructions, text about
the sentences, loops, list items), not a copy of a sample sentence, not a duplicate, not a
test sentence, has at least one entity, every entity the tagger named has a known label and
occurs in the text, and (with `require_kb_link`) every entity links to the KB within its
label's semantic groups. A sentence with one bad entity is rejected whole rather than trimmed:
leaving a named thing untagged would teach the model that it is no entity. Every requested
sentence ends in exactly one of ``llm/accepted``, ``rejected/<reason>`` or ``leaked_dropped``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
from abc import abstractmethod
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from hilgen.augment.base import (
    AugmentContext,
    Augmenter,
    AugmenterConfigError,
    AugmenterFailedError,
    Replacement,
    SyntheticSentence,
    SyntheticSet,
    describe_sentences,
    sentence_key,
)
from hilgen.data.tokenize import tokenize
from hilgen.data.types import Sentence, Span
from hilgen.kb.semantic_groups import concept_in_scope
from hilgen.llm.junk_filter import junk_kind
from hilgen.llm.parsing import (
    locate_entities,
    merge_spans,
    parse_entities,
    parse_sentence_list,
    render_inline,
)
from hilgen.llm.prompts import ChatPrompt
from hilgen.llm.results import LLMError, LLMFailure, LLMResponse

logger = logging.getLogger(__name__)

TAGGING_MODES = ("llm", "names", "llm+names")
GROUNDING_MODES = ("none", "kb")
COUNT_MODES = ("control", "fixed")
# Every requested sentence ends in exactly one of these (or llm/accepted, leaked_dropped);
# all are reported, zero or not, so runs compare key by key.
REJECTION_REASONS = (
    "generation_failed",
    "empty_answer",
    "not_generated",
    "too_short",
    "junk",
    "copy",
    "duplicate",
    "tagging_failed",
    "no_entities",
    "unknown_label",
    "entity_not_in_text",
    "no_grounded_name",
    "unlinked_entity",
)

_ALWAYS_REPORTED = (
    "llm/requested",
    "llm/generated",
    "llm/generation_requests",
    "llm/tagging_requests",
    "llm/surplus_ignored",
    "leaked_dropped",
)


@dataclass(frozen=True)
class KnownName:
    """A name whose label is known before the LLM answers: a KB replacement the prompt asked
    for (with its `replacement` provenance) or a mention of the source sentence."""

    text: str
    label: str
    replacement: Replacement | None = None


@dataclass
class GenerationRequest:
    """One step-(a) chat asking for `count` sentences, and what is needed to tag its answer."""

    request_id: str
    messages: list[dict[str, str]]
    count: int
    seed: int
    doc_id: str
    copy_keys: frozenset[tuple[str, ...]]
    known_names: list[KnownName] = field(default_factory=list)
    tagging_examples: list[dict[str, str]] = field(default_factory=list)
    source_sentence_id: str = ""


@dataclass
class _Draft:
    """A generated sentence on its way through tagging and validation."""

    request: GenerationRequest
    number: int
    tokens: list[str]


class LLMAugmenter(Augmenter):
    """What the GPT augmenters and ZeroGen share: generate, pre-check, tag, validate, count.

    Subclasses say which step-(a) requests to send (`_requests`); this class sends them
    (concurrently, cached, through `AugmentContext.llm`), parses the answers and turns them
    into a `SyntheticSet` whose stats hold the acceptance accounting and the client usage of
    this run (``llm/calls``, ``llm/cache_hits``, ... as a difference over the run).
    """

    #: Tells the pipeline to put a client from the `llm` config group in `AugmentContext.llm`.
    uses_llm = True

    def __init__(
        self,
        name: str,
        tagging_prompt: ChatPrompt,
        tagging: str = "llm",
        sentences_per_request: int = 5,
        max_tokens_per_sentence: int = 64,
        generation_sampling: Mapping[str, Any] | None = None,
        tagging_sampling: Mapping[str, Any] | None = None,
        min_tokens: int = 4,
        require_kb_link: bool = False,
        seed: int | None = None,
        max_failed_share: float = 0.1,
        filter_junk: bool = True,
    ) -> None:
        if tagging not in TAGGING_MODES:
            raise AugmenterConfigError(
                f"augmenter {name}: tagging must be one of {list(TAGGING_MODES)}, got "
                f"{tagging!r}; fix conf/augmenter/{name}.yaml"
            )
        if sentences_per_request < 1 or max_tokens_per_sentence < 1 or min_tokens < 1:
            raise AugmenterConfigError(
                f"augmenter {name}: sentences_per_request, max_tokens_per_sentence and "
                f"min_tokens must be >= 1, got {sentences_per_request}, "
                f"{max_tokens_per_sentence}, {min_tokens}; fix conf/augmenter/{name}.yaml"
            )
        self.name = name
        self.tagging_prompt = tagging_prompt
        self.tagging = tagging
        self.sentences_per_request = sentences_per_request
        self.max_tokens_per_sentence = max_tokens_per_sentence
        self.generation_sampling = dict(generation_sampling or {})
        self.tagging_sampling = dict(tagging_sampling or {})
        self.min_tokens = min_tokens
        self.require_kb_link = require_kb_link
        self.seed = seed
        self.max_failed_share = max_failed_share
        self.filter_junk = filter_junk
        self.require_grounded_name = False

    @abstractmethod
    def _requests(
        self, sample: list[Sentence], context: AugmentContext, counts: Counter[str]
    ) -> list[GenerationRequest]:
        """The step-(a) chats for this sample (may also count, e.g. ``control/sentences``)."""

    def generate(self, sample: list[Sentence], context: AugmentContext) -> SyntheticSet:
        llm = context.llm
        if llm is None:
            raise AugmenterConfigError(
                f"augmenter {self.name} needs an LLM client in AugmentContext.llm; the pipeline "
                "puts the one from the `llm` config group there (e.g. llm=local)"
            )
        if not context.labels:
            raise AugmenterConfigError(
                f"augmenter {self.name} needs the task's labels in AugmentContext.labels (the "
                "corpus labels): tagged entities are only accepted with one of them"
            )
        if self.require_kb_link and context.linker is None:
            raise AugmenterConfigError(
                f"augmenter {self.name}: require_kb_link needs a linker in AugmentContext; "
                "build the KB (conf/kb) or set require_kb_link=false"
            )
        usage_before = llm.usage.as_metrics()
        counts: Counter[str] = Counter()
        requests = self._requests(sample, context, counts)
        drafts = self._generated_drafts(requests, llm, context, counts)
        tagged = self._tagged(drafts, llm, context, counts)
        synthetic = [self._synthetic(draft, spans) for draft, spans in tagged]

        stats: dict[str, float | int] = dict(describe_sentences(synthetic))
        stats.update(counts)
        stats["source_sentences"] = len(sample)
        stats["llm/accepted"] = len(synthetic)
        for key in _ALWAYS_REPORTED:
            stats.setdefault(key, 0)
        for reason in REJECTION_REASONS:
            stats.setdefault(f"rejected/{reason}", 0)
        stats["llm/acceptance_rate"] = len(synthetic) / max(stats["llm/requested"], 1)
        usage_after = llm.usage.as_metrics()
        stats.update({key: usage_after[key] - usage_before[key] for key in usage_after})
        logger.info(
            "%s: %d of %d requested sentences accepted (%d generated; rejected: %s)",
            self.name,
            len(synthetic),
            stats["llm/requested"],
            stats["llm/generated"],
            {k[9:]: v for k, v in sorted(counts.items()) if k.startswith("rejected/") and v},
        )
        self._check_source(stats, str(getattr(llm, "last_failure", "")))
        return SyntheticSet(sentences=synthetic, stats=stats)

    def _check_source(self, stats: dict[str, float | int], last_failure: str) -> None:
        """Raise `AugmenterFailedError` when more than `max_failed_share` of the chats failed
        or nothing was accepted of what was requested: a set made from a failing source
        would train a run that looks like any other."""
        failed, calls = stats["llm/failures"], stats["llm/calls"]
        too_many = calls > 0 and failed / calls > self.max_failed_share
        if not too_many and (stats["llm/accepted"] or not stats["llm/requested"]):
            return
        why = (
            f"{failed:.0f} of {calls:.0f} LLM chats failed (more than max_failed_share="
            f"{self.max_failed_share}; last error: {last_failure})"
            if too_many
            else f"none of the {stats['llm/requested']} requested sentences was accepted"
        )
        raise AugmenterFailedError(
            f"augmenter {self.name}: {why}. The run fails and its synthetic set is not cached; "
            "the answers received are, so a rerun sends only the missing chats.",
            stats,
        )

    # -- shared steps -----------------------------------------------------------------------

    def _chunks(
        self, request_id: str, total: int, seed_parts: Sequence[object], llm: Any
    ) -> list[tuple[str, int, int, int]]:
        """`total` sentences as chats of at most `sentences_per_request`: (request id, first
        sentence, count, seed) each. Every chat has its own seed, so identical prompts still
        draw different samples, and a rerun draws the same ones (from the cache)."""
        chunks = []
        for index in range(math.ceil(total / self.sentences_per_request)):
            first = index * self.sentences_per_request
            count = min(self.sentences_per_request, total - first)
            seed = request_seed(llm, *seed_parts, index)
            chunks.append((f"{request_id}/{index}", first, count, seed))
        return chunks

    def _generated_drafts(
        self,
        requests: list[GenerationRequest],
        llm: Any,
        context: AugmentContext,
        counts: Counter[str],
    ) -> list[_Draft]:
        """Step (a): send the chats, parse the sentence lists, drop the cheap rejects."""
        counts["llm/requested"] += sum(request.count for request in requests)
        counts["llm/generation_requests"] += len(requests)
        chats = [
            (
                request.messages,
                {
                    **self.generation_sampling,
                    "seed": request.seed,
                    "max_tokens": self.max_tokens_per_sentence * request.count,
                },
            )
            for request in requests
        ]
        answers = chat_each(llm, chats, desc=f"{self.name} (a)")
        drafts: list[_Draft] = []
        seen: set[tuple[str, ...]] = set()
        for request, answer in zip(requests, answers, strict=True):
            if isinstance(answer, LLMFailure):
                counts["rejected/generation_failed"] += request.count
                continue
            if not answer.content.strip():
                counts["rejected/empty_answer"] += request.count
                continue
            sentences = parse_sentence_list(answer.content)
            counts["llm/surplus_ignored"] += max(len(sentences) - request.count, 0)
            sentences = sentences[: request.count]
            counts["rejected/not_generated"] += request.count - len(sentences)
            counts["llm/generated"] += len(sentences)
            for number, text in enumerate(sentences):
                tokens = tokenize(text)
                key = sentence_key(tokens)
                if len(tokens) < self.min_tokens:
                    counts["rejected/too_short"] += 1
                elif self.filter_junk and (junk := junk_kind(text, context.labels)):
                    counts["rejected/junk"] += 1
                    counts[f"junk/{junk}"] += 1
                elif key in request.copy_keys:
                    counts["rejected/copy"] += 1
                elif key in seen:
                    counts["rejected/duplicate"] += 1
                elif context.is_test_sentence(tokens):
                    counts["leaked_dropped"] += 1
                else:
                    seen.add(key)
                    drafts.append(_Draft(request, number, tokens))
        return drafts

    def _tagged(
        self, drafts: list[_Draft], llm: Any, context: AugmentContext, counts: Counter[str]
    ) -> list[tuple[_Draft, list[Span]]]:
        """Step (b) and validation: the drafts that survive, with their entity spans."""
        if self.tagging == "names":
            answers: list[LLMResponse | LLMFailure | None] = [None] * len(drafts)
        else:
            conversations = [
                self.tagging_prompt.messages(
                    draft.request.tagging_examples,
                    labels=", ".join(context.labels),
                    sentence=" ".join(draft.tokens),
                )
                for draft in drafts
            ]
            counts["llm/tagging_requests"] += len(conversations)
            answers = list(
                llm.chat_many(conversations, desc=f"{self.name} (b)", **self.tagging_sampling)
            )
        accepted = []
        for draft, answer in zip(drafts, answers, strict=True):
            spans, reason = self._validated_spans(draft, answer, context, counts)
            if reason:
                counts[f"rejected/{reason}"] += 1
            else:
                accepted.append((draft, spans))
        return accepted

    def _validated_spans(
        self,
        draft: _Draft,
        answer: LLMResponse | LLMFailure | None,
        context: AugmentContext,
        counts: Counter[str],
    ) -> tuple[list[Span], str]:
        """The draft's spans, or the reason to reject it."""
        labels = context.labels
        llm_spans: list[Span] = []
        if isinstance(answer, LLMFailure):
            return [], "tagging_failed"
        if answer is not None:
            parsed = parse_entities(answer.content)
            counts[f"format/{parsed.answer_format}"] += 1
            located = locate_entities(draft.tokens, parsed.entities, labels)
            if located.problems:
                return [], located.problems.most_common(1)[0][0]
            llm_spans = located.spans
        name_spans: list[Span] = []
        if self.tagging != "llm":
            known = [(name.text, name.label) for name in draft.request.known_names]
            name_spans = locate_entities(draft.tokens, known, labels, require_all=False).spans
        spans = merge_spans(name_spans, llm_spans)
        if not spans:
            return [], "no_entities"
        if self.require_grounded_name and not self._grounded_names_found(draft, spans):
            return [], "no_grounded_name"
        if self.require_kb_link and not all(self._links(draft, span, context) for span in spans):
            return [], "unlinked_entity"
        return spans, ""

    def _grounded_names_found(self, draft: _Draft, spans: list[Span]) -> bool:
        texts = {" ".join(draft.tokens[s.start : s.end]).casefold() for s in spans}
        return any(
            " ".join(tokenize(name.text)).casefold() in texts
            for name in draft.request.known_names
            if name.replacement is not None
        )

    def _links(self, draft: _Draft, span: Span, context: AugmentContext) -> bool:
        assert context.linker is not None
        groups = context.label_groups.get(span.label)
        if not groups:
            raise AugmenterConfigError(
                f"augmenter {self.name}: require_kb_link needs semantic groups for label "
                f"{span.label!r} in AugmentContext.label_groups (the dataset config's "
                "label_groups)"
            )
        text = " ".join(draft.tokens[span.start : span.end])
        links = context.linker.link(text, (), groups)
        return any(concept_in_scope(link.concept, groups) for link in links)

    def _synthetic(self, draft: _Draft, spans: list[Span]) -> SyntheticSentence:
        request = draft.request
        sentence = Sentence(
            sentence_id=f"{request.request_id}/{draft.number}",
            tokens=draft.tokens,
            spans=spans,
            doc_id=request.doc_id,
        )
        replacements = []
        span_texts = [" ".join(draft.tokens[s.start : s.end]).casefold() for s in spans]
        for name in request.known_names:
            if name.replacement is None:
                continue
            text = " ".join(tokenize(name.text)).casefold()
            if text in span_texts:
                index = span_texts.index(text)
                replacements.append(
                    dataclasses.replace(
                        name.replacement, span_index=index, label=spans[index].label
                    )
                )
        return SyntheticSentence(sentence, request.source_sentence_id, self.name, replacements)


class GPTAugmenter(LLMAugmenter):
    """`gpt_related` / `gpt_parents_children` / `gpt_siblings`: rewrite each sample sentence
    N times with related concepts, N from the matching KB augmenter (`control`).

    `count="control"` takes N per source sentence from `control`; `count="fixed"` asks for
    `sentences_per_source` per source (with ``grounding: kb`` at most as many as the control
    has names for). `control` runs whenever its counts or names are needed, so it needs the
    KB and linker in the context; ``count: fixed`` with ``grounding: none`` needs neither.
    """

    def __init__(
        self,
        name: str,
        control: Augmenter,
        generation_prompt: ChatPrompt,
        grounded_generation_prompt: ChatPrompt,
        tagging_prompt: ChatPrompt,
        grounding: str = "none",
        count: str = "control",
        sentences_per_source: int | None = None,
        require_grounded_name: bool = True,
        **shared: Any,
    ) -> None:
        super().__init__(name, tagging_prompt, **shared)
        if grounding not in GROUNDING_MODES or count not in COUNT_MODES:
            raise AugmenterConfigError(
                f"augmenter {name}: grounding must be one of {list(GROUNDING_MODES)} and count "
                f"one of {list(COUNT_MODES)}, got {grounding!r}, {count!r}; fix "
                f"conf/augmenter/{name}.yaml"
            )
        if count == "fixed" and (sentences_per_source is None or sentences_per_source < 1):
            raise AugmenterConfigError(
                f"augmenter {name}: count=fixed needs sentences_per_source >= 1, got "
                f"{sentences_per_source}"
            )
        if self.tagging == "names" and grounding != "kb":
            raise AugmenterConfigError(
                f"augmenter {name}: tagging=names tags only names known in advance, so it "
                "needs grounding=kb (without it, the LLM's new entities would stay untagged); "
                "use tagging=llm or llm+names"
            )
        self.control = control
        self.generation_prompt = generation_prompt
        self.grounded_generation_prompt = grounded_generation_prompt
        self.grounding = grounding
        self.count = count
        self.sentences_per_source = sentences_per_source
        self.require_grounded_name = require_grounded_name and grounding == "kb"

    def _requests(
        self, sample: list[Sentence], context: AugmentContext, counts: Counter[str]
    ) -> list[GenerationRequest]:
        by_source: dict[str, list[SyntheticSentence]] = defaultdict(list)
        if self.count == "control" or self.grounding == "kb":
            control_set = self.control.generate(sample, context)
            counts["control/sentences"] += len(control_set)
            for synthetic in control_set:
                by_source[synthetic.source_sentence_id].append(synthetic)
        seed = context.seed if self.seed is None else self.seed
        copy_keys = frozenset(sentence_key(s.tokens) for s in sample)
        requests: list[GenerationRequest] = []
        for source in sample:
            controls = by_source[source.sentence_id]
            if self.count == "control":
                total = len(controls)
            elif self.grounding == "kb":
                total = min(self.sentences_per_source or 0, len(controls))
            else:
                total = self.sentences_per_source or 0
            chunks = self._chunks(
                f"{source.sentence_id}/{self.name}",
                total,
                (seed, self.name, source.sentence_id),
                context.llm,
            )
            for request_id, first, number, chat_seed in chunks:
                asked = [r for s in controls[first : first + number] for r in s.replacements]
                requests.append(
                    self._request(source, asked, request_id, number, chat_seed, copy_keys, context)
                )
        return requests

    def _request(
        self,
        source: Sentence,
        asked: list[Replacement],
        request_id: str,
        number: int,
        chat_seed: int,
        copy_keys: frozenset[tuple[str, ...]],
        context: AugmentContext,
    ) -> GenerationRequest:
        """The chat asking for `number` rewrites of `source` (using the `asked` KB names when
        grounded)."""
        own_names = [KnownName(source.span_text(s), s.label) for s in source.spans]
        fields: dict[str, Any] = {
            "n": number,
            "sentence": " ".join(source.tokens),
            "entities": ", ".join(f'"{n.text}" ({n.label})' for n in own_names) or "none",
            "labels": ", ".join(context.labels),
        }
        prompt = self.generation_prompt
        if self.grounding == "kb":
            prompt = self.grounded_generation_prompt
            fields["replacements"] = "\n".join(
                f'{index}. replace "{r.original_text}" with "{r.replacement_text}" ({r.label})'
                for index, r in enumerate(asked, start=1)
            )
        return GenerationRequest(
            request_id=request_id,
            messages=prompt.messages(**fields),
            count=number,
            seed=chat_seed,
            doc_id=source.doc_id,
            copy_keys=copy_keys,
            known_names=[KnownName(r.replacement_text, r.label, r) for r in asked] + own_names,
            tagging_examples=[
                {"sentence": " ".join(source.tokens), "tagged": render_inline(source)}
            ],
            source_sentence_id=source.sentence_id,
        )


def request_seed(llm: Any, *parts: object) -> int:
    """A sampling seed from the client's configured seed and `parts`, stable across runs."""
    base = getattr(llm, "default_sampling", {}).get("seed")
    digest = hashlib.sha256(repr((base, *parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def chat_each(
    llm: Any, chats: Sequence[tuple[list[dict[str, str]], dict[str, Any]]], desc: str
) -> list[LLMResponse | LLMFailure]:
    """Answers for chats that each have their own sampling (seed, max_tokens), concurrently.

    `LLMClient.chat_many` takes one sampling for all chats; here every chat differs, so they
    go through `chat` on a thread pool as wide as the client's concurrency limit (the client
    still bounds what is in flight). A chat that fails after its retries becomes its
    `LLMFailure`, as in `chat_many`.
    """

    def ask(chat: tuple[list[dict[str, str]], dict[str, Any]]) -> LLMResponse | LLMFailure:
        messages, sampling = chat
        try:
            return llm.chat(messages, **sampling)
        except LLMError as error:
            return error.failure

    workers = max(1, min(int(getattr(llm, "max_concurrency", 4)), len(chats)))
    show = bool(getattr(llm, "show_progress", False))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="llm-aug")
    try:
        return list(tqdm(pool.map(ask, chats), total=len(chats), desc=desc, disable=not show))
    finally:
        # On Ctrl-C/SIGTERM, no wait for chats in flight: closing the client ends them.
        pool.shutdown(wait=False, cancel_futures=True)
