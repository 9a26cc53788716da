"""Distant supervision: the corpus's own unlabelled sentences, tagged where a KB name occurs.

Substitution keeps the few contexts of the sample, so the context itself becomes the label
signal, and a tagger trained on such copies tags entities wherever those words recur. This
augmenter takes its contexts from in-domain text instead:
the sentences of the train split, whose gold spans are removed before they reach it
(`AugmentContext.unlabelled_sentences`), tagged wherever a KB name of a label's semantic groups
occurs (longest match first). It uses more than the paper does, unlabelled in-domain text
besides the K-shot sample and the KB, and says so in its name.

What is matched. Names of one semantic group only (a name the KB also gives to a concept of
another group, "APC" the gene and the disease, is ambiguous and skipped), with at least
`min_name_letters` letters and at most `max_name_tokens` tokens, never names listed in
`exclude_names`, no single-word adjectives ("genetic", "familial": MONDO's qualifiers). A
name written as a short form ("G6PD", "PAH") is a gene as often as a disease in running text,
so it is not matched unless `kb_short_forms` (a single-token name of at most four letters,
"all", "was", never is); a short form defined after a matched name ("Duchenne muscular
dystrophy ( DMD )") is tagged wherever its document (its sentence, where the corpus has no
document ids) uses it.

Which label a name takes. The one label whose semantic groups hold the concept (BC5CDR:
Chemical for CHEM, Disease for DISO). Where several labels share the groups (NCBI-Disease's
four types are all DISO), a depth-limited decision tree learnt on the sample's own linked
mentions chooses, from what the KB and the sentence say of a mention: how many is-a children
its concept has (a class has many), whether its head is plural, whether a content word follows
it (a modifier: "DMD gene") and whether it is a short form. A label the dataset lets keep no KB
relation (`label_relations` of ``[]``: no single concept name is a composite mention) takes no
names.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.tree import DecisionTreeClassifier

from hilgen.augment.base import (
    AugmentContext,
    Augmenter,
    AugmenterConfigError,
    SyntheticSentence,
    SyntheticSet,
    describe_sentences,
)
from hilgen.augment.name_filters import ConceptGate, looks_plural, number_variants
from hilgen.augment.substitution.short_forms import looks_like_abbreviation, starts_a_word
from hilgen.data.types import Sentence, Span
from hilgen.kb.base import KnowledgeBase
from hilgen.kb.names import normalise_name
from hilgen.kb.semantic_groups import groups_of_scope

log = logging.getLogger(__name__)

# Tokens a multi-token name may hold inside it besides words: "Prader - Willi", "A - T".
_INNER_JOINERS = frozenset({"-", "/", "'"})
# Endings of the one-word adjectives the KB holds as concepts ("genetic", "familial",
# "hereditary", "inherited"); "-ing" words stay ("bleeding", "vomiting" are mentions).
_ADJECTIVE_ENDINGS = ("ic", "al", "ous", "ive", "ary", "ed")
# A word right after a mention that ends so is a verb or adverb ("caused", "characterized",
# "usually"), not the noun a modifier qualifies ("gene", "patients", "locus").
_VERB_ENDINGS = ("ed", "ly")


@dataclass(frozen=True)
class NameEntry:
    """A normalised KB name that may be matched: its concept and semantic group (and whether
    it is a mention text of the sample rather than a KB name)."""

    concept_id: str
    group: str
    from_sample: bool = False


@dataclass(frozen=True)
class _SampleMention:
    """A gold mention of the few-shot sample and the concept it links to ("" if none)."""

    sentence: Sentence
    span: Span
    concept_id: str


@dataclass(frozen=True)
class _Match:
    """A span of a sentence found in the dictionary (or as a defined short form)."""

    start: int
    end: int
    entry: NameEntry
    short_form: bool = False


def mention_features(
    tokens: Sequence[str], start: int, end: int, children: int
) -> tuple[float, float, float, float]:
    """What the label tree sees of a mention: log(1 + is-a children of its concept), a plural
    head, a content word right after it (no stop word, no "-ed" or "-ly" word), and whether it
    is written as a short form."""
    head = tokens[end - 1].casefold()
    plural = looks_plural(head)
    after = tokens[end] if end < len(tokens) else ""
    content_after = (
        after.isalpha()
        and after.casefold() not in ENGLISH_STOP_WORDS
        and not after.endswith(_VERB_ENDINGS)
    )
    short = looks_like_abbreviation(tokens[start:end])
    return (math.log1p(children), float(plural), float(content_after), float(short))


class LabelTree:
    """Chooses among labels that share semantic groups, learnt on the sample's mentions."""

    def __init__(self, max_depth: int, seed: int) -> None:
        self._tree = DecisionTreeClassifier(max_depth=max_depth, random_state=seed)
        self._only: str | None = None

    def fit(self, features: list[tuple[float, ...]], labels: list[str]) -> None:
        if len(set(labels)) < 2:
            self._only = labels[0] if labels else None
            return
        self._tree.fit(features, labels)

    def choose(self, features: tuple[float, ...], candidates: Sequence[str]) -> str:
        """The candidate the tree finds likeliest (the first candidate if it knows none)."""
        if self._only is not None or not hasattr(self._tree, "classes_"):
            return self._only if self._only in candidates else candidates[0]
        probabilities = dict(
            zip(self._tree.classes_, self._tree.predict_proba([features])[0], strict=True)
        )
        # max keeps the first of equally likely candidates: the dataset's label order
        return max(candidates, key=lambda label: probabilities.get(label, 0.0))


class KBDictionaryAugmenter(Augmenter):
    """Unlabelled in-domain sentences tagged with KB names (distant supervision).

    `max_sentences` caps how many tagged sentences are kept (a seeded sample of those with at
    least one name; None keeps all); `seed=None` follows the run's seed. `tree_depth` bounds the
    label tree for labels that share semantic groups.
    """

    tags_unlabelled_text = True

    def __init__(
        self,
        name: str = "kb_dictionary",
        max_sentences: int | None = None,
        min_name_letters: int = 3,
        max_name_tokens: int = 8,
        exclude_names: Sequence[str] = (),
        short_forms: bool = True,
        kb_short_forms: bool = False,
        tree_depth: int = 3,
        seed: int | None = None,
        entity_groups: Sequence[str] | None = None,
        doubtful_branches: dict[str, Sequence[str]] | None = None,
        min_class_children: dict[str, int] | None = None,
        number_variants: bool = False,
        sample_names: bool = False,
        strict_short_forms: bool = False,
        short_kb_words: bool = False,
        keep_unmatched: bool = False,
    ) -> None:
        if max_sentences is not None and max_sentences < 1:
            raise ValueError(f"max_sentences must be at least 1 or null, got {max_sentences}")
        if max_name_tokens < 1 or tree_depth < 1:
            raise ValueError("max_name_tokens and tree_depth must be at least 1")
        self.name = name
        self.max_sentences = max_sentences
        self.min_name_letters = min_name_letters
        self.max_name_tokens = max_name_tokens
        self.exclude_names = frozenset(normalise_name(n) for n in exclude_names)
        self.short_forms = short_forms
        self.kb_short_forms = kb_short_forms
        self.tree_depth = tree_depth
        self.seed = seed
        self.entity_groups = frozenset(entity_groups) if entity_groups is not None else None
        self.doubtful_branches = dict(doubtful_branches or {})
        self.min_class_children = dict(min_class_children or {})
        self.number_variants = number_variants
        self.sample_names = sample_names
        self.strict_short_forms = strict_short_forms
        self.short_kb_words = short_kb_words
        self.keep_unmatched = keep_unmatched
        self._kb: KnowledgeBase | None = None
        self._kb_words: dict[tuple[str, str], bool] = {}

    def generate(self, sample: list[Sentence], context: AugmentContext) -> SyntheticSet:
        if not context.unlabelled_sentences:
            raise AugmenterConfigError(
                f"augmenter {self.name} tags unlabelled sentences and got none: the pipeline "
                "passes the train split's sentences without their labels"
            )
        seed = context.seed if self.seed is None else self.seed
        counts: Counter[str] = Counter()
        pool = [s for s in context.unlabelled_sentences if not context.is_test_sentence(s.tokens)]
        counts["leaked_dropped"] = len(context.unlabelled_sentences) - len(pool)
        tagged = self.tag_text(sample, context, pool, counts)
        if not self.keep_unmatched:
            tagged = [s for s in tagged if s.sentence.spans]
        counts["tagged_sentences"] = sum(bool(s.sentence.spans) for s in tagged)
        self._report_untagged_labels(context.labels, tagged, len(pool), counts)
        if self.max_sentences is not None and len(tagged) > self.max_sentences:
            kept = set(random.Random(seed).sample(range(len(tagged)), self.max_sentences))
            counts["capped_dropped"] = len(tagged) - len(kept)
            tagged = [s for index, s in enumerate(tagged) if index in kept]
        counts.setdefault("capped_dropped", 0)
        stats: dict[str, float | int] = {**describe_sentences(tagged), **counts}
        stats["pool_sentences"] = len(pool)
        return SyntheticSet(sentences=tagged, stats=stats)

    def tag_text(
        self,
        sample: list[Sentence],
        context: AugmentContext,
        sentences: Sequence[Sentence],
        counts: Counter[str] | None = None,
    ) -> list[SyntheticSentence]:
        """Every one of `sentences` tagged with the dictionary the sample and the KB make (an
        unmatched one all O), uncapped: `generate`'s labels, and the labeller that scores the
        dictionary itself on held-out text (`labeller_splits`)."""
        if context.kb is None:
            raise AugmenterConfigError(f"augmenter {self.name} needs a knowledge base (conf/kb)")
        counts = Counter() if counts is None else counts
        seed = context.seed if self.seed is None else self.seed
        self._kb, self._kb_words = context.kb, {}  # per run: another KB answers afresh
        group_labels = self._group_labels(context)
        names = self._dictionary(context.kb, set(group_labels), counts)
        sample_links = self._sample_links(sample, context)
        if self.sample_names:
            names |= self._sample_names(sample_links, context, set(group_labels), counts)
        children = _ChildCounts(context.kb)
        tree = self._label_tree(sample_links, group_labels, children, seed, counts)
        gate = ConceptGate(
            context.kb,
            _concepts_by_group(sample_links, context),
            self.doubtful_branches,
            self.min_class_children,
        )
        matches = self._match_pool(sentences, names, gate, counts)
        return [
            SyntheticSentence(
                sentence=Sentence(
                    f"{sentence.sentence_id}#dictionary",
                    list(sentence.tokens),
                    [
                        self._span(sentence, m, group_labels, tree, children)
                        for m in matches[sentence.sentence_id]
                    ],
                    sentence.doc_id,
                ),
                source_sentence_id=sentence.sentence_id,
                augmenter=self.name,
            )
            for sentence in sentences
        ]

    def _report_untagged_labels(
        self,
        labels: Sequence[str],
        tagged: Sequence[SyntheticSentence],
        pool_size: int,
        counts: Counter[str],
    ) -> None:
        """A label tagged nowhere is taught as O wherever it occurs in the tagged sentences,
        and nothing tagged at all leaves the run on the gold sample alone: each said at WARNING
        level with the fix (docs/generality_safety.md#distant-labels), counted as
        `labels_untagged` and `gold_only`."""
        found = {span.label for s in tagged for span in s.sentence.spans}
        counts["labels_untagged"] = sum(label not in found for label in labels)
        counts["gold_only"] = int(not found)
        if not found:
            log.warning(
                "%s: no KB name of any label occurs in the %d unlabelled sentences, so nothing "
                "is tagged: a training run trains on the gold sample alone (as "
                "augmenter=none). Fix: dataset.label_groups scopes that hold the labels' names "
                "(python -m hilgen.kb stats lists them), more unlabelled_text, or "
                "augmenter=hilgen",
                self.name,
                pool_size,
            )
            return
        for label in labels:
            if label not in found:
                log.warning(
                    "%s: label %r is tagged in none of the %d unlabelled sentences, so a "
                    "training run teaches its mentions there as O. Fix: a dataset.label_groups "
                    "scope that holds its names (python -m hilgen.kb stats lists them), or "
                    "augmenter=hilgen",
                    self.name,
                    label,
                    pool_size,
                )

    # -- labels ----------------------------------------------------------------------------

    @staticmethod
    def _group_labels(context: AugmentContext) -> dict[str, list[str]]:
        """Semantic group -> the labels a name of it may take, in the dataset's label order."""
        out: defaultdict[str, list[str]] = defaultdict(list)
        for label in context.labels:
            if context.label_relations.get(label, None) == []:
                continue  # keeps no KB relation: no single concept name has this label
            # A type in a label's scope matches at the level of its group here.
            for group in groups_of_scope(context.label_groups.get(label, ())):
                out[group].append(label)
        if not out:
            raise ValueError(
                "no label has semantic groups to match (dataset.label_groups is empty); "
                "give each label its UMLS groups, e.g. {Disease: [DISO]}"
            )
        return dict(out)

    @staticmethod
    def _sample_links(sample: Sequence[Sentence], context: AugmentContext) -> list[_SampleMention]:
        """Each gold mention of the sample with the concept it links to ("" if none)."""
        linked: list[_SampleMention] = []
        for sentence in sample:
            for span in sentence.spans:
                links = []
                if context.linker is not None:
                    groups = context.label_groups.get(span.label)
                    links = context.linker.link(sentence.span_text(span), span.concept_ids, groups)
                concept_id = links[0].concept.concept_id if links else ""
                linked.append(_SampleMention(sentence, span, concept_id))
        return linked

    def _sample_names(
        self,
        sample_links: Sequence[_SampleMention],
        context: AugmentContext,
        groups: set[str],
        counts: Counter[str],
    ) -> dict[str, NameEntry]:
        """The sample's own mention texts as names (gold evidence: they pass every filter), in
        the first semantic group of their label."""
        added: dict[str, NameEntry] = {}
        for mention in sample_links:
            label_groups = [
                g
                for g in groups_of_scope(context.label_groups.get(mention.span.label, ()))
                if g in groups
            ]
            norm = normalise_name(mention.sentence.span_text(mention.span))
            if label_groups and norm and context.label_relations.get(mention.span.label) != []:
                concept_id = mention.concept_id or f"sample:{norm}"
                added[norm] = NameEntry(concept_id, label_groups[0], from_sample=True)
        counts["dictionary/sample_names"] = len(added)
        return added

    def _label_tree(
        self,
        sample_links: Sequence[_SampleMention],
        group_labels: dict[str, list[str]],
        children: _ChildCounts,
        seed: int,
        counts: Counter[str],
    ) -> LabelTree:
        """The tree over the sample's mentions of labels that share a group with another."""
        shared = {label for labels in group_labels.values() if len(labels) > 1 for label in labels}
        features: list[tuple[float, ...]] = []
        labels: list[str] = []
        for mention in sample_links:
            span = mention.span
            if span.label not in shared:
                continue
            count = children(mention.concept_id) if mention.concept_id else 0
            features.append(mention_features(mention.sentence.tokens, span.start, span.end, count))
            labels.append(span.label)
        counts["label_tree_mentions"] = len(labels)
        tree = LabelTree(self.tree_depth, seed)
        tree.fit(features, labels)
        return tree

    def _span(
        self,
        sentence: Sentence,
        match: _Match,
        group_labels: dict[str, list[str]],
        tree: LabelTree,
        children: _ChildCounts,
    ) -> Span:
        candidates = group_labels[match.entry.group]
        label = candidates[0]
        if len(candidates) > 1:
            count = children(match.entry.concept_id)
            features = mention_features(sentence.tokens, match.start, match.end, count)
            label = tree.choose(features, candidates)
        return Span(match.start, match.end, label, (match.entry.concept_id,))

    # -- matching --------------------------------------------------------------------------

    def _dictionary(
        self, kb: KnowledgeBase, groups: set[str], counts: Counter[str]
    ) -> dict[str, NameEntry]:
        """Normalised name -> its concept, for names of exactly one group among `groups`.

        With `entity_groups`, only those groups compete for a name: "pain" (a MeSH
        physiological function and an HPO sign) is a DISO name, "APC" (gene and disease) is
        still ambiguous."""
        entries: dict[str, NameEntry] = {}
        shared: defaultdict[str, dict[str, str]] = defaultdict(dict)  # names of 2+ groups
        for norm, concept_id, group in kb.iter_names():
            seen = entries.get(norm)
            if seen is None:
                entries[norm] = NameEntry(concept_id, group)
            elif seen.group != group:
                shared[norm].setdefault(seen.group, seen.concept_id)
                shared[norm].setdefault(group, concept_id)
        for norm, held in shared.items():
            rivals = [g for g in held if self.entity_groups is None or g in self.entity_groups]
            if len(rivals) == 1:
                entries[norm] = NameEntry(held[rivals[0]], rivals[0])
            else:
                del entries[norm]
        counts["dictionary/cross_group_names_dropped"] = len(shared) - sum(
            norm in entries for norm in shared
        )
        kept = {
            norm: entry
            for norm, entry in entries.items()
            if entry.group in groups and self._matchable(norm)
        }
        counts["dictionary/names"] = len(kept)
        return kept

    def _matchable(self, norm: str) -> bool:
        words = norm.split()
        letters = sum(ch.isalpha() for ch in norm)
        adjective = len(words) == 1 and norm.endswith(_ADJECTIVE_ENDINGS)
        return (
            letters >= self.min_name_letters
            and 0 < len(words) <= self.max_name_tokens
            and norm not in self.exclude_names
            and not adjective  # "genetic", "familial": KB qualifiers, not mentions
        )

    def _match_pool(
        self,
        pool: Sequence[Sentence],
        names: dict[str, NameEntry],
        gate: ConceptGate,
        counts: Counter[str],
    ) -> dict[str, list[_Match]]:
        """Each sentence's matches: longest names first, then short forms its document defines."""
        matches = {s.sentence_id: self._longest_matches(s.tokens, names, gate) for s in pool}
        counts["dictionary/name_matches"] = sum(len(found) for found in matches.values())
        if not self.short_forms:
            return matches
        by_document: defaultdict[str, list[Sentence]] = defaultdict(list)
        for sentence in pool:
            by_document[sentence.doc_id or f"sentence:{sentence.sentence_id}"].append(sentence)
        for sentences in by_document.values():
            defined: dict[str, NameEntry] = {}
            for sentence in sentences:
                if self.strict_short_forms:
                    matches[sentence.sentence_id] = _extended_to_long_forms(
                        sentence.tokens, matches[sentence.sentence_id]
                    )
                defined |= _defined_short_forms(
                    sentence.tokens, matches[sentence.sentence_id], self.strict_short_forms
                )
            counts["dictionary/short_forms_defined"] += len(defined)
            for sentence in sentences:
                found = matches[sentence.sentence_id]
                added = _short_form_matches(sentence.tokens, defined, found)
                counts["dictionary/short_form_matches"] += len(added)
                matches[sentence.sentence_id] = sorted(found + added, key=lambda m: m.start)
        return matches

    def _longest_matches(
        self, tokens: Sequence[str], names: dict[str, NameEntry], gate: ConceptGate
    ) -> list[_Match]:
        found: list[_Match] = []
        start = 0
        while start < len(tokens):
            match = self._longest_at(tokens, start, names, gate)
            if match is None:
                start += 1
                continue
            found.append(match)
            start = match.end
        return found

    def _lookup(
        self, window: Sequence[str], names: dict[str, NameEntry], gate: ConceptGate
    ) -> NameEntry | None:
        """The entry of a window's name (or of its other number), if its concept may tag."""
        norm = normalise_name(" ".join(window))
        keys = [norm]
        if self.number_variants and self._matchable(norm):  # "cholinergic" is no "cholinergics"
            keys += number_variants(norm)
        for key in keys:
            entry = names.get(key)
            if entry is not None and (
                entry.from_sample or gate.allows(entry.concept_id, entry.group)
            ):
                return entry
        return None

    def _kb_word(self, word: str, group: str) -> bool:
        """With `short_kb_words`: whether a short word, no stop word, is what the KB calls a
        concept of `group` ("Pain", "Iron", "Salts"), not one of its short forms ("ALL" and
        "MAP" are synonyms of longer disease names, "rich" and "gave" MONDO's lower-case
        ones)."""
        if not self.short_kb_words or self._kb is None or word.casefold() in ENGLISH_STOP_WORDS:
            return False
        norm = normalise_name(word)
        if (norm, group) not in self._kb_words:
            forms = {norm, *number_variants(norm)}
            self._kb_words[norm, group] = any(
                concept.semantic_group == group and normalise_name(concept.preferred_name) in forms
                for form in forms
                for concept in self._kb.find_by_name(form)
            )
        return self._kb_words[norm, group]

    def _longest_at(
        self, tokens: Sequence[str], start: int, names: dict[str, NameEntry], gate: ConceptGate
    ) -> _Match | None:
        if not _is_word(tokens[start]):
            return None
        # Names run over words and inner joiners only; no window may cross anything else.
        stop = start + 1
        while stop < min(len(tokens), start + 2 * self.max_name_tokens) and (
            _is_word(tokens[stop]) or tokens[stop] in _INNER_JOINERS
        ):
            stop += 1
        for end in range(stop, start, -1):
            window = tokens[start:end]
            if not _is_word(window[-1]):
                continue
            entry = self._lookup(window, names, gate)
            if entry is None:
                continue
            if looks_like_abbreviation(window):
                if not self.kb_short_forms:
                    continue  # "G6PD", "PAH": mostly genes in text; defined short forms follow
            elif (
                end - start == 1
                and len(window[0]) <= 4
                and not self._kb_word(window[0], entry.group)
            ):
                continue  # "all", "was", "map": words, not ALL, WAS and MAP
            return _Match(start, end, entry)
        return None


class _ChildCounts:
    """How many is-a children a concept has, asked once per concept."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self._kb = kb
        self._counts: dict[str, int] = {}

    def __call__(self, concept_id: str) -> int:
        if concept_id not in self._counts:
            self._counts[concept_id] = len(self._kb.children(concept_id))
        return self._counts[concept_id]


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def _defined_short_forms(
    tokens: Sequence[str], found: Sequence[_Match], strict: bool
) -> dict[str, NameEntry]:
    """Short forms defined right after a matched name: "long form ( SF )" (Schwartz & Hearst),
    the short form's first letter that of a word of the long form (`strict`: and its letters
    not all in later words of it). The parenthesis must close where it opened:
    "calcium chloride ( CaCl ( 2 ) )" defines no "CaCl ( 2"."""
    defined: dict[str, NameEntry] = {}
    for match in found:
        if match.short_form or match.end + 2 >= len(tokens) or tokens[match.end] != "(":
            continue
        close = _closing_parenthesis(tokens, match.end, limit=match.end + 6)
        if close is None or close < match.end + 2:
            continue
        short = tokens[match.end + 1 : close]
        short_text, long_text = "".join(short), " ".join(tokens[match.start : match.end])
        if (
            looks_like_abbreviation(short)
            and starts_a_word(short_text, long_text)
            and not (strict and _abbreviates_a_tail(short_text, long_text))
        ):
            defined[" ".join(short)] = match.entry
    return defined


def _concepts_by_group(
    sample_links: Sequence[_SampleMention], context: AugmentContext
) -> dict[str, list[str]]:
    """Semantic group -> the concepts the sample's gold mentions of its labels link to."""
    out: defaultdict[str, list[str]] = defaultdict(list)
    for mention in sample_links:
        if mention.concept_id:
            for group in groups_of_scope(context.label_groups.get(mention.span.label, ())):
                out[group].append(mention.concept_id)
    return dict(out)


def _abbreviates_a_tail(short: str, long_text: str) -> bool:
    """Whether the short form's letters, found right to left as Schwartz & Hearst (2003) find
    them, cover only later words of the matched name: "Deficiency of glucose - 6 - phosphate
    dehydrogenase ( G6PD )" abbreviates the enzyme, not the disease. A short form they cannot
    place ("Myotonic dystrophy ( DM )") is not a tail."""
    start = _long_form_start(short, long_text.split(" "))
    return start is not None and start > 0


# Words a long form may gain on its left: "sodium" of "sodium nitroprusside ( SNP )".
_MAX_LONG_FORM_EXTENSION = 3


def _extended_to_long_forms(tokens: Sequence[str], found: Sequence[_Match]) -> list[_Match]:
    """Matches right before "( SF )" that the short form says begin further left: "sodium
    nitroprusside ( SNP )" matched "nitroprusside" only; the span becomes the long form."""
    out: list[_Match] = []
    previous_end = 0
    for match in found:
        close = None
        if match.end + 2 < len(tokens) and tokens[match.end] == "(":
            close = _closing_parenthesis(tokens, match.end, limit=match.end + 6)
        short = tokens[match.end + 1 : close] if close else []
        lowest = max(previous_end, match.start - _MAX_LONG_FORM_EXTENSION)
        start = _long_form_start("".join(short), list(tokens[lowest : match.end]))
        if short and looks_like_abbreviation(short) and start is not None:
            new_start = lowest + start
            if new_start < match.start and all(
                t.isalpha() or t in _INNER_JOINERS for t in tokens[new_start : match.start]
            ):
                match = _Match(new_start, match.end, match.entry, match.short_form)
        out.append(match)
        previous_end = match.end
    return out


def _long_form_start(short: str, words: Sequence[str]) -> int | None:
    """The index of the word where the short form's long form begins among `words` (which end
    where it ends), found as Schwartz & Hearst (2003) do: its characters right to left, the
    first one at the start of a word; None where they cannot be placed."""
    text = " ".join(words).casefold()
    at = len(text) - 1
    for index in range(len(short) - 1, -1, -1):
        char = short[index].casefold()
        if not char.isalnum():
            continue
        while at >= 0 and (text[at] != char or (index == 0 and at > 0 and text[at - 1].isalnum())):
            at -= 1
        if at < 0:
            return None
        at -= 1
    return text[: at + 1].count(" ")


def _closing_parenthesis(tokens: Sequence[str], opening: int, limit: int) -> int | None:
    """The index of the ")" that closes the "(" at `opening`, if it comes before `limit`."""
    depth = 0
    for i in range(opening, min(len(tokens), limit)):
        depth += {"(": 1, ")": -1}.get(tokens[i], 0)
        if depth == 0:
            return i
    return None


def _short_form_matches(
    tokens: Sequence[str], defined: dict[str, NameEntry], found: Sequence[_Match]
) -> list[_Match]:
    """Occurrences of the defined short forms (as written, case and all) outside `found`."""
    taken = {i for match in found for i in range(match.start, match.end)}
    added: list[_Match] = []
    for short, entry in defined.items():
        parts = short.split(" ")
        for start in range(len(tokens) - len(parts) + 1):
            end = start + len(parts)
            if list(tokens[start:end]) != parts or taken & set(range(start, end)):
                continue
            added.append(_Match(start, end, entry, short_form=True))
            taken |= set(range(start, end))
    return added
