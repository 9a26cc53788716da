"""A dictionary of KB names, built from the KB and a few-shot sample, that tags text.

Distant supervision labels unlabelled sentences with it (`augmenter=kb_dictionary`), and it
is a tagger of its own (`model=dictionary`): one dictionary, one way of tagging.

What is matched. Names of one semantic group only (a name the KB also gives to a concept of
another group, "APC" the gene and the disease, is ambiguous and skipped), with at least
`min_name_letters` letters and at most `max_name_tokens` tokens, never names listed in
`exclude_names`, no single-word adjectives ("genetic", "familial": MONDO's qualifiers; with
`adjective_like_names`, a group's such words that are what the KB calls the concept,
"Phenobarbital"); with `code_names`, research codes ("LY274614") whatever their letters. A
name written as a short form ("G6PD", "PAH") is a gene as often as a disease in running text,
so it is not matched unless `kb_short_forms` allows its group (true: every group; a list of
groups, e.g. CHEM alone, where "AZT" and "GABA" name one chemical each). Nor is a one-word
name of at most four letters ("all", "was"), unless `short_kb_words` finds it the word the KB
calls its concept ("Pain"). A short form defined after a matched name
("Duchenne muscular dystrophy ( DMD )") is tagged wherever its document (its sentence, where
the text has no document ids) uses it; with `interrupted_long_forms` so is a name written
around its short form's parenthesis ("von Hippel - Lindau ( VHL ) disease"). With
`split_induced`, "X - induced Y" is X and Y where X is a name the dictionary tags itself
(a short form after it, "( HIT )", still names Y's concept); with `deficient_adjectives`,
"C7 - deficient" is the name "C7 deficiency".

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

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.tree import DecisionTreeClassifier

from hilgen.data.types import Sentence, Span
from hilgen.kb.base import KnowledgeBase, MentionLinker
from hilgen.kb.concept_gate import ConceptGate
from hilgen.kb.names import (
    looks_like_abbreviation,
    looks_plural,
    normalise_name,
    number_variants,
    starts_a_word,
)
from hilgen.kb.semantic_groups import SEMANTIC_GROUPS, groups_of_scope

# Tokens a multi-token name may hold inside it besides words: "Prader - Willi", "A - T".
_INNER_JOINERS = frozenset({"-", "/", "'"})
# Endings of the one-word adjectives the KB holds as concepts ("genetic", "familial",
# "hereditary", "inherited"); "-ing" words stay ("bleeding", "vomiting" are mentions).
_ADJECTIVE_ENDINGS = ("ic", "al", "ous", "ive", "ary", "ed")
# A word right after a mention that ends so is a verb or adverb ("caused", "characterized",
# "usually"), not the noun a modifier qualifies ("gene", "patients", "locus").
_VERB_ENDINGS = ("ed", "ly")
# Digits a research code ("LY274614", "FK 506") has at least, with `code_names`.
_CODE_DIGITS = 3
# Tokens that join two short forms in one parenthesis.
_COORDINATORS = frozenset({"/", "and", "or"})
# Words a long form may gain on its left: "sodium" of "sodium nitroprusside ( SNP )".
_MAX_LONG_FORM_EXTENSION = 3
# Raised whenever `mention_features` reads a mention differently; 2: the word after a mention
# is read past a parenthesis and a hyphen is a modifier's (373111b, 669f416).
TREE_FEATURES_VERSION = 2


@dataclass(frozen=True)
class DictionarySettings:
    """Which names the dictionary holds and how it matches them (conf/augmenter/
    kb_dictionary.yaml says what each does; that file holds the defaults)."""

    min_name_letters: int = 3
    max_name_tokens: int = 8
    exclude_names: frozenset[str] = frozenset()
    short_forms: bool = True
    kb_short_forms: bool | frozenset[str] = False
    tree_depth: int = 3
    entity_groups: frozenset[str] | None = None
    doubtful_branches: Mapping[str, Sequence[str]] = field(default_factory=dict)
    min_class_children: Mapping[str, int] = field(default_factory=dict)
    number_variants: bool = False
    sample_names: bool = False
    strict_short_forms: bool = False
    short_kb_words: bool = False
    coordinations: bool = False
    interrupted_long_forms: bool = False
    split_induced: bool = False
    deficient_adjectives: bool = False
    adjective_like_names: frozenset[str] = frozenset()
    code_names: bool = False

    def __post_init__(self) -> None:
        if self.max_name_tokens < 1 or self.tree_depth < 1:
            raise ValueError("max_name_tokens and tree_depth must be at least 1")
        # normalised like the KB's names; null in a config means "none"
        object.__setattr__(
            self, "exclude_names", frozenset(normalise_name(n) for n in self.exclude_names)
        )
        if self.entity_groups is not None:
            object.__setattr__(self, "entity_groups", frozenset(self.entity_groups))
        if not isinstance(self.kb_short_forms, bool):  # a list of semantic groups
            object.__setattr__(self, "kb_short_forms", frozenset(self.kb_short_forms))
        object.__setattr__(self, "adjective_like_names", frozenset(self.adjective_like_names or ()))
        for key in ("entity_groups", "kb_short_forms", "adjective_like_names"):
            value = getattr(self, key)
            if isinstance(value, frozenset) and (unknown := sorted(value - SEMANTIC_GROUPS)):
                raise ValueError(
                    f"{key}: {unknown} are no semantic groups; use {sorted(SEMANTIC_GROUPS)}"
                )
        object.__setattr__(self, "doubtful_branches", dict(self.doubtful_branches or {}))
        object.__setattr__(self, "min_class_children", dict(self.min_class_children or {}))

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON values (sets sorted), which `DictionarySettings(**...)` reads."""
        return {f.name: _json_value(getattr(self, f.name)) for f in fields(self)}

    def matches_kb_short_forms(self, group: str) -> bool:
        """Whether KB names of `group` written as short forms are matched."""
        allowed = self.kb_short_forms
        return allowed is True or (not isinstance(allowed, bool) and group in allowed)

    @classmethod
    def names(cls) -> frozenset[str]:
        """The settings' names, as a config spells them."""
        return frozenset(f.name for f in fields(cls))


def _json_value(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, Mapping):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_json_value(item) for item in value]
    return value


@dataclass(frozen=True)
class NameEntry:
    """A normalised KB name that may be matched: its concept and semantic group (and whether
    it is a mention text of the sample rather than a KB name)."""

    concept_id: str
    group: str
    from_sample: bool = False


@dataclass(frozen=True)
class LabelScopes:
    """What the dataset says of its labels: their order, the semantic groups or types each is
    linked within, and the KB relations each keeps (``[]``: none, no single name has it)."""

    labels: Sequence[str]
    groups: Mapping[str, Sequence[str]]
    relations: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass
class SampleEvidence:
    """What the dictionary takes from the few-shot sample, without its sentences: the mention
    texts as names (with `sample_names`), the concepts its mentions link to per semantic group
    (the gate's evidence) and the label tree's training mentions. An exported dictionary keeps
    this, never the sample's text."""

    names: dict[str, NameEntry]
    concepts: dict[str, list[str]]
    tree_features: list[tuple[float, ...]]
    tree_labels: list[str]
    # How `mention_features` computed `tree_features` (an export keeps it, its sentences not)
    tree_features_version: int = TREE_FEATURES_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "names": {norm: asdict(entry) for norm, entry in self.names.items()},
            "concepts": self.concepts,
            "tree_features": [list(f) for f in self.tree_features],
            "tree_labels": self.tree_labels,
            "tree_features_version": self.tree_features_version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SampleEvidence:
        return cls(
            {norm: NameEntry(**entry) for norm, entry in data["names"].items()},
            {group: list(ids) for group, ids in data["concepts"].items()},
            [tuple(f) for f in data["tree_features"]],
            list(data["tree_labels"]),
            int(data.get("tree_features_version", 1)),  # exports before the field: version 1
        )

    @property
    def tree_features_outdated(self) -> bool:
        """Whether the label tree (used where labels share groups) was learnt on features
        `mention_features` no longer computes so: it then types mentions differently."""
        return (
            self.tree_features_version != TREE_FEATURES_VERSION and len(set(self.tree_labels)) > 1
        )


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
    coordinated: bool = False


def mention_features(
    tokens: Sequence[str], start: int, end: int, children: int
) -> tuple[float, float, float, float]:
    """What the label tree sees of a mention: log(1 + is-a children of its concept), a plural
    head, whether it modifies the next word (`_modifies_next_word`), and whether it is written
    as a short form."""
    plural = looks_plural(tokens[end - 1].casefold())
    modifier = _modifies_next_word(tokens, end)
    short = looks_like_abbreviation(tokens[start:end])
    return (math.log1p(children), float(plural), float(modifier), float(short))


def _modifies_next_word(tokens: Sequence[str], end: int) -> bool:
    """Whether a mention ending at `end` is followed by a content word (no stop word, no "-ed"
    or "-ly" word; read as `_word_after` reads) or by a hyphen ("anxiety - related responses":
    the first part of a compound modifier)."""
    after = _word_after(tokens, end)
    return after == "-" or (
        after.isalpha()
        and after.casefold() not in ENGLISH_STOP_WORDS
        and not after.endswith(_VERB_ENDINGS)
    )


def _word_after(tokens: Sequence[str], end: int) -> str:
    """The word after a mention, read past a parenthesis of at most four tokens right after it
    ("adenomatous polyposis coli ( APC ) gene") or the one it closes ("( APC ) gene"): the
    noun a mention used as a modifier modifies ("" at the sentence's end)."""
    short = _parenthesised_short_form(tokens, end, cut_at_list=False)
    if short is not None:
        end += len(short) + 2
    elif end < len(tokens) and tokens[end] == ")":
        end += 1
    return tokens[end] if end < len(tokens) else ""


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


class NameDictionary:
    """The labels' KB names (and the sample's mention texts), the gate on their concepts and
    the label tree, ready to tag sentences. `build` makes one from the sample."""

    def __init__(
        self,
        settings: DictionarySettings,
        kb: KnowledgeBase,
        scopes: LabelScopes,
        evidence: SampleEvidence,
        seed: int,
        counts: Counter[str] | None = None,
    ) -> None:
        """The dictionary from the KB and what was kept of the sample (`build` takes it from
        the sample; an exported dictionary keeps it); `counts` gathers its statistics."""
        counts = Counter() if counts is None else counts
        self.settings = settings
        self.evidence = evidence
        self.group_labels = _group_labels(scopes)
        self.composite_labels = _composite_labels(scopes)
        self.names = _kb_names(settings, kb, set(self.group_labels), counts) | evidence.names
        self._tree = LabelTree(settings.tree_depth, seed)
        self._tree.fit(evidence.tree_features, evidence.tree_labels)
        self._gate = ConceptGate(
            kb, evidence.concepts, settings.doubtful_branches, settings.min_class_children
        )
        self._kb = kb
        self._children = _ChildCounts(kb)
        self._kb_words: dict[tuple[str, str], bool] = {}

    @classmethod
    def build(
        cls,
        settings: DictionarySettings,
        kb: KnowledgeBase,
        linker: MentionLinker | None,
        sample: Sequence[Sentence],
        scopes: LabelScopes,
        seed: int,
        counts: Counter[str] | None = None,
    ) -> NameDictionary:
        """The dictionary the KB and the sample make; `counts` gathers its statistics
        (`dictionary/names`, `label_tree_mentions`, ...)."""
        counts = Counter() if counts is None else counts
        evidence = sample_evidence(settings, kb, linker, sample, scopes, counts)
        return cls(settings, kb, scopes, evidence, seed, counts)

    def tag(
        self, sentences: Sequence[Sentence], counts: Counter[str] | None = None
    ) -> list[list[Span]]:
        """Each sentence's entities (none where no name matches); short forms are followed
        across the sentences of one document (`doc_id`)."""
        counts = Counter() if counts is None else counts
        matches = self._match_all(sentences, counts)
        return [[self._span(s, m) for m in matches[index]] for index, s in enumerate(sentences)]

    # -- labels ----------------------------------------------------------------------------

    def _span(self, sentence: Sentence, match: _Match) -> Span:
        candidates = self.group_labels[match.entry.group]
        composite = self.composite_labels.get(match.entry.group)
        label = candidates[0]
        # A coordination is a composite mention, unless it modifies the next word and other
        # labels share its group: the tree chooses then ("breast and ovarian cancer
        # susceptibility" is NCBI-Disease's Modifier).
        if (
            match.coordinated
            and composite is not None
            and (len(candidates) == 1 or not _modifies_next_word(sentence.tokens, match.end))
        ):
            label = composite
        elif len(candidates) > 1:
            count = self._children(match.entry.concept_id)
            features = mention_features(sentence.tokens, match.start, match.end, count)
            label = self._tree.choose(features, candidates)
        return Span(match.start, match.end, label, (match.entry.concept_id,))

    # -- matching --------------------------------------------------------------------------

    def _match_all(self, sentences: Sequence[Sentence], counts: Counter[str]) -> list[list[_Match]]:
        """Each sentence's matches: longest names first, then short forms its document defines."""
        matches = [self._longest_matches(s.tokens) for s in sentences]
        counts["dictionary/name_matches"] += sum(len(found) for found in matches)
        if self.settings.coordinations:
            matches = [
                self._coordinated(s.tokens, found)
                for s, found in zip(sentences, matches, strict=True)
            ]
            counts["dictionary/coordinations"] += sum(
                m.coordinated for found in matches for m in found
            )
        if not self.settings.short_forms:
            return matches
        by_document: defaultdict[str, list[int]] = defaultdict(list)
        for index, sentence in enumerate(sentences):
            by_document[sentence.doc_id or f"sentence:{index}"].append(index)
        strict = self.settings.strict_short_forms
        for indices in by_document.values():
            defined: dict[str, NameEntry] = {}
            for index in indices:
                tokens = sentences[index].tokens
                if self.settings.interrupted_long_forms:
                    matches[index], spelled = self._interrupted_long_forms(tokens, matches[index])
                    counts["dictionary/short_forms_defined_inside_names"] += len(spelled)
                    defined |= spelled
                if strict:
                    matches[index] = _extended_to_long_forms(tokens, matches[index])
                defined |= self._defined_short_forms(tokens, matches[index], strict)
            counts["dictionary/short_forms_defined"] += len(defined)
            for index in indices:
                tokens = sentences[index].tokens
                # The document's own definition outranks the KB's reading of the same letters
                # ("TDP" defined as torsade de pointes, not the KB's chemical TDP).
                found = [m for m in matches[index] if not _redefined(tokens, m, defined)]
                added = _short_form_matches(tokens, defined, found)
                counts["dictionary/short_form_matches"] += len(added)
                matches[index] = sorted(found + added, key=lambda m: m.start)
        return matches

    def _defined_short_forms(
        self, tokens: Sequence[str], found: Sequence[_Match], strict: bool
    ) -> dict[str, NameEntry]:
        """Short forms defined right after a matched name: "long form ( SF )" (Schwartz &
        Hearst), the short form's first letter that of a word of the long form. `strict`: the
        short form ends at a ";" or "," in the parenthesis too ("( SJS ; chondrodystrophic
        myotonia )"), two joined by "/", "and" or "or" define nothing, and one whose letters
        cover only later words of the name defines nothing unless those words are a name of
        its group themselves ("X - linked adrenoleukodystrophy ( ALD )" defines ALD;
        "Deficiency of glucose - 6 - phosphate dehydrogenase ( G6PD )" no disease G6PD). The
        parenthesis must close where it opened: "calcium chloride ( CaCl ( 2 ) )" defines no
        "CaCl ( 2"."""
        defined: dict[str, NameEntry] = {}
        for match in found:
            if match.short_form:
                continue
            short = _parenthesised_short_form(tokens, match.end, strict)
            if not short or (strict and _COORDINATORS.intersection(short)):
                continue  # "( DMD / BMD )", "( DMD and BMD )": two short forms, tagged apart
            short_text = "".join(short)
            if not looks_like_abbreviation(short):
                continue
            words = list(tokens[match.start : match.end])
            if not starts_a_word(short_text, " ".join(words)):
                words = list(tokens[self._induced_name_start(tokens, match, found) : match.end])
                if not starts_a_word(short_text, " ".join(words)):
                    continue
            tail = _abbreviated_tail(short_text, words) if strict else None
            if tail is None or self._names_in_group(words[tail:], match.entry.group):
                defined[" ".join(short)] = match.entry
        return defined

    def _induced_name_start(
        self, tokens: Sequence[str], match: _Match, found: Sequence[_Match]
    ) -> int:
        """Where the name a short form abbreviates begins if not where `match` does: with
        `split_induced`, "heparin - induced thrombocytopenia ( HIT )" was matched as two
        names, and HIT abbreviates the whole name, which is the disease's."""
        before = [t.casefold() for t in tokens[max(0, match.start - 2) : match.start]]
        if not self.settings.split_induced or not before or before[-1] != "induced":
            return match.start
        cause_end = match.start - (2 if before == ["-", "induced"] else 1)
        cause = [m for m in found if m.end == cause_end]
        return cause[0].start if cause else match.start

    def _interrupted_long_forms(
        self, tokens: Sequence[str], found: Sequence[_Match]
    ) -> tuple[list[_Match], dict[str, NameEntry]]:
        """Names a short form's parenthesis interrupts, "von Hippel - Lindau ( VHL ) disease",
        "glucose - 6 - phosphate dehydrogenase ( G6PD ) deficiency": the long form the short
        form's letters read (as Schwartz & Hearst place them) and the words after the
        parenthesis are a name. The whole span becomes one match (NCBI-Disease and BC5CDR
        annotate it so) in place of the matches inside it, and the short form with the words
        after it ("G6PD deficiency") is defined across the document. So is the short form
        alone where those words are a bare head the dictionary never matches alone
        (`exclude_names`: "disease") and its long form is no KB name ("von Hippel - Lindau";
        "glucose - 6 - phosphate dehydrogenase" is an enzyme, "atrioventricular ( AV ) block"
        no "AV" disease). A name matched right before the parenthesis keeps it:
        "N - methyl - D - aspartate ( NMDA ) receptor" is a chemical and its short form."""
        out = list(found)
        defined: dict[str, NameEntry] = {}
        named = {m.end for m in found}
        for opening, token in enumerate(tokens):
            if token != "(" or opening in named:
                continue  # a name right before "( SF )" is its long form
            short = _parenthesised_short_form(tokens, opening, cut_at_list=False)
            if not short or not looks_like_abbreviation(short):
                continue
            after = opening + len(short) + 2
            match = self._interrupted_at(tokens, opening, after, "".join(short))
            if match is None:
                continue
            out = [m for m in out if m.end <= match.start or m.start >= match.end]
            out.append(match)
            tail = tokens[after : match.end]
            defined[" ".join([*short, *tail])] = match.entry
            long_form = normalise_name(" ".join(tokens[match.start : opening]))
            if normalise_name(" ".join(tail)) in self.settings.exclude_names and not (
                self._kb.find_by_name(long_form)
            ):
                defined[" ".join(short)] = match.entry
        return sorted(out, key=lambda m: m.start), defined

    def _interrupted_at(
        self, tokens: Sequence[str], opening: int, after: int, short: str
    ) -> _Match | None:
        """The name of the short form's long form before `opening` and the longest run of up
        to three words from `after` on, if there is one."""
        lowest = max(0, opening - self.settings.max_name_tokens)
        start = _long_form_start(short, list(tokens[lowest:opening]))
        if start is None:
            return None
        start += lowest
        head = tokens[start:opening]
        if not all(_is_word(t) or t in _INNER_JOINERS for t in head):
            return None
        tail_words = 0
        while tail_words < 3 and after + tail_words < len(tokens):
            if not tokens[after + tail_words].isalpha():
                break
            tail_words += 1
        for end in range(after + tail_words, after, -1):
            words = [*head, *tokens[after:end]]
            entry = self._lookup(words) if len(words) <= self.settings.max_name_tokens else None
            if entry is not None:
                return _Match(start, end, entry)
        return None

    def _names_in_group(self, words: Sequence[str], group: str) -> bool:
        """Whether `words` are a KB name of a concept of `group`, even where the name is
        another group's too ("adrenoleukodystrophy" is also a name of the gene ABCD1)."""
        norm = normalise_name(" ".join(words))
        return any(c.semantic_group == group for c in self._kb.find_by_name(norm))

    def _coordinated(self, tokens: Sequence[str], found: Sequence[_Match]) -> list[_Match]:
        """Matches that end a coordination of names sharing their head, widened to take it
        in: "breast and ovarian cancer" (one mention, as NCBI-Disease and BC5CDR annotate it)
        where "ovarian cancer" matched and "breast cancer" is a name of the same group; also
        "or", "and / or" and "/", and lists ("prostatic , skin and lung cancer")."""
        out: list[_Match] = []
        previous_end = 0
        for match in found:
            head = list(tokens[match.start + 1 : match.end])
            start = match.start
            while head and start > previous_end:
                joiner = _joiner_before(tokens, start, previous_end, first=start == match.start)
                if joiner is None:
                    break
                word = start - joiner - 1
                if word < previous_end or not tokens[word].isalnum():
                    break
                entry = self._lookup([tokens[word], *head])
                if entry is None or entry.group != match.entry.group:
                    break
                start = word
            if start < match.start:
                match = _Match(start, match.end, match.entry, match.short_form, coordinated=True)
            out.append(match)
            previous_end = match.end
        return out

    def _longest_matches(self, tokens: Sequence[str]) -> list[_Match]:
        found: list[_Match] = []
        start = 0
        while start < len(tokens):
            match = self._longest_at(tokens, start)
            if match is None:
                start += 1
                continue
            found.append(match)
            start = match.end
        return found

    def _lookup(self, window: Sequence[str]) -> NameEntry | None:
        """The entry of a window's name (or of its other number), if its concept may tag."""
        norm = normalise_name(" ".join(window))
        keys = [norm]
        if self.settings.number_variants and _matchable(self.settings, norm, None):
            keys += number_variants(norm)  # "cholinergic" is no "cholinergics"
        if self.settings.deficient_adjectives and window[-1].casefold() == "deficient":
            head = window[:-2] if len(window) > 2 and window[-2] == "-" else window[:-1]
            if head:  # "C7 - deficient" is the adjective of the name "C7 deficiency"
                keys.append(normalise_name(" ".join([*head, "deficiency"])))
        for key in keys:
            entry = self.names.get(key)
            if entry is not None and (
                entry.from_sample or self._gate.allows(entry.concept_id, entry.group)
            ):
                return entry
        return None

    def _kb_word(self, word: str, group: str) -> bool:
        """With `short_kb_words`: whether a short word, no stop word, is what the KB calls a
        concept of `group` ("Pain", "Iron", "Salts"), not one of its short forms ("ALL" and
        "MAP" are synonyms of longer disease names, "rich" and "gave" MONDO's lower-case
        ones)."""
        if not self.settings.short_kb_words or word.casefold() in ENGLISH_STOP_WORDS:
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

    def _names_its_cause(self, window: Sequence[str]) -> bool:
        """Whether a name reads "X - induced Y" where X is a name the dictionary tags itself
        ("heparin - induced thrombocytopenia"): BC5CDR and ADE annotate the chemical and the
        disease apart, and "drug - induced hepatitis" (no chemical name) whole."""
        for index, token in enumerate(window[1:-1], start=1):
            if token.casefold() == "induced":
                cause = window[: index - 1] if window[index - 1] == "-" else window[:index]
                return bool(cause) and self._lookup(cause) is not None
        return False

    def _longest_at(self, tokens: Sequence[str], start: int) -> _Match | None:
        if not _is_word(tokens[start]):
            return None
        # Names run over words and inner joiners only; no window may cross anything else.
        longest = self.settings.max_name_tokens
        stop = start + 1
        while stop < min(len(tokens), start + 2 * longest) and (
            _is_word(tokens[stop]) or tokens[stop] in _INNER_JOINERS
        ):
            stop += 1
        for end in range(stop, start, -1):
            window = tokens[start:end]
            if not _is_word(window[-1]):
                continue
            entry = self._lookup(window)
            if entry is None or (self.settings.split_induced and self._names_its_cause(window)):
                continue
            if looks_like_abbreviation(window):
                if not self.settings.matches_kb_short_forms(entry.group):
                    continue  # "G6PD", "PAH": mostly genes in text; defined short forms follow
            elif (
                end - start == 1
                and len(window[0]) <= 4
                and not self._kb_word(window[0], entry.group)
            ):
                continue  # "all", "was", "map": words, not ALL, WAS and MAP
            return _Match(start, end, entry)
        return None


# -- building ------------------------------------------------------------------------------


def sample_evidence(
    settings: DictionarySettings,
    kb: KnowledgeBase,
    linker: MentionLinker | None,
    sample: Sequence[Sentence],
    scopes: LabelScopes,
    counts: Counter[str],
) -> SampleEvidence:
    """What the dictionary takes from the sample's gold mentions, once linked."""
    group_labels = _group_labels(scopes)
    links = _sample_links(sample, scopes, linker)
    names = _sample_names(links, scopes, set(group_labels), counts) if settings.sample_names else {}
    features, labels = _tree_mentions(links, group_labels, _ChildCounts(kb), counts)
    return SampleEvidence(names, _concepts_by_group(links, scopes), features, labels)


# What joins coordinated names before the last one: "and", "or", "and / or", "/"; a comma
# joins the earlier items of a list.
_LAST_JOINERS = (("and", "/", "or"), ("and",), ("or",), ("/",))
_LIST_JOINERS = ((",",),)


def _joiner_before(tokens: Sequence[str], start: int, lowest: int, first: bool) -> int | None:
    """The number of tokens of the coordinating words right before `start` (the last item's
    joiner when `first`, else a list's comma), None if there are none."""
    for joiner in _LAST_JOINERS if first else _LIST_JOINERS + _LAST_JOINERS:
        begin = start - len(joiner)
        if begin > lowest and tuple(t.casefold() for t in tokens[begin:start]) == joiner:
            return len(joiner)
    return None


def _composite_labels(scopes: LabelScopes) -> dict[str, str]:
    """Semantic group -> the one label of its groups that keeps no KB relation (NCBI-Disease's
    CompositeMention): a coordination of names is such a mention, never a single name."""
    found: defaultdict[str, list[str]] = defaultdict(list)
    for label in scopes.labels:
        if scopes.relations.get(label, None) == []:
            for group in groups_of_scope(scopes.groups.get(label, ())):
                found[group].append(label)
    return {group: labels[0] for group, labels in found.items() if len(labels) == 1}


def _group_labels(scopes: LabelScopes) -> dict[str, list[str]]:
    """Semantic group -> the labels a name of it may take, in the dataset's label order."""
    out: defaultdict[str, list[str]] = defaultdict(list)
    for label in scopes.labels:
        if scopes.relations.get(label, None) == []:
            continue  # keeps no KB relation: no single concept name has this label
        # A type in a label's scope matches at the level of its group here.
        for group in groups_of_scope(scopes.groups.get(label, ())):
            out[group].append(label)
    if not out:
        raise ValueError(
            "no label has semantic groups to match (dataset.label_groups is empty); "
            "give each label its UMLS groups, e.g. {Disease: [DISO]}"
        )
    return dict(out)


def _kb_names(
    settings: DictionarySettings, kb: KnowledgeBase, groups: set[str], counts: Counter[str]
) -> dict[str, NameEntry]:
    """Normalised name -> its concept, for names of exactly one group among `groups`.

    With `entity_groups`, only those groups compete for a name: "pain" (a MeSH physiological
    function and an HPO sign) is a DISO name, "APC" (gene and disease) is still ambiguous."""
    entries: dict[str, NameEntry] = {}
    shared: defaultdict[str, dict[str, str]] = defaultdict(dict)  # names of 2+ groups
    for norm, concept_id, group in kb.iter_names():
        seen = entries.get(norm)
        if seen is None:
            entries[norm] = NameEntry(concept_id, group)
        elif seen.group != group:
            shared[norm].setdefault(seen.group, seen.concept_id)
            shared[norm].setdefault(group, concept_id)
    competing = settings.entity_groups
    for norm, held in shared.items():
        rivals = [g for g in held if competing is None or g in competing]
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
        if entry.group in groups
        and _matchable(settings, norm, entry.group)
        and (not _adjective_like(norm) or _preferred_name(kb, entry.concept_id) == norm)
    }
    counts["dictionary/names"] = len(kept)
    return kept


def _matchable(settings: DictionarySettings, norm: str, group: str | None) -> bool:
    """Whether a KB name of `group` (None: whichever group) may be matched at all."""
    words = norm.split()
    adjective = _adjective_like(norm) and group not in settings.adjective_like_names
    return (
        (
            sum(ch.isalpha() for ch in norm) >= settings.min_name_letters
            or (settings.code_names and _is_code(words))
        )
        and 0 < len(words) <= settings.max_name_tokens
        and norm not in settings.exclude_names
        and not adjective  # "genetic", "familial": KB qualifiers, not mentions
    )


def _adjective_like(norm: str) -> bool:
    """Whether a normalised name is one word ending like an adjective ("familial")."""
    return " " not in norm and norm.endswith(_ADJECTIVE_ENDINGS)


def _preferred_name(kb: KnowledgeBase, concept_id: str) -> str | None:
    """A concept's preferred name, normalised ("phenobarbital"; "analgesics", of which
    "analgesic" is only a synonym)."""
    concept = kb.concept(concept_id)
    return None if concept is None else normalise_name(concept.preferred_name)


def _is_code(words: Sequence[str]) -> bool:
    """Whether a normalised name is a research code: letters and at least three digits in at
    most two words ("ly274614", "fk 506", "ro 4368554")."""
    text = "".join(words)
    return (
        len(words) <= 2
        and sum(ch.isdigit() for ch in text) >= _CODE_DIGITS
        and sum(ch.isalpha() for ch in text) >= 2
    )


def _sample_links(
    sample: Sequence[Sentence], scopes: LabelScopes, linker: MentionLinker | None
) -> list[_SampleMention]:
    """Each gold mention of the sample with the concept it links to ("" if none)."""
    linked: list[_SampleMention] = []
    for sentence in sample:
        for span in sentence.spans:
            links: Sequence = []
            if linker is not None:
                groups = scopes.groups.get(span.label)
                links = linker.link(sentence.span_text(span), span.concept_ids, groups)
            concept_id = links[0].concept.concept_id if links else ""
            linked.append(_SampleMention(sentence, span, concept_id))
    return linked


def _sample_names(
    sample_links: Sequence[_SampleMention],
    scopes: LabelScopes,
    groups: set[str],
    counts: Counter[str],
) -> dict[str, NameEntry]:
    """The sample's own mention texts as names (gold evidence: they pass every filter), in
    the first semantic group of their label."""
    added: dict[str, NameEntry] = {}
    for mention in sample_links:
        label = mention.span.label
        label_groups = [g for g in groups_of_scope(scopes.groups.get(label, ())) if g in groups]
        norm = normalise_name(mention.sentence.span_text(mention.span))
        if label_groups and norm and scopes.relations.get(label) != []:
            concept_id = mention.concept_id or f"sample:{norm}"
            added[norm] = NameEntry(concept_id, label_groups[0], from_sample=True)
    counts["dictionary/sample_names"] = len(added)
    return added


def _tree_mentions(
    sample_links: Sequence[_SampleMention],
    group_labels: dict[str, list[str]],
    children: _ChildCounts,
    counts: Counter[str],
) -> tuple[list[tuple[float, ...]], list[str]]:
    """The label tree's training mentions: the sample's mentions of labels that share a group
    with another, as features, and their labels."""
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
    return features, labels


def _concepts_by_group(
    sample_links: Sequence[_SampleMention], scopes: LabelScopes
) -> dict[str, list[str]]:
    """Semantic group -> the concepts the sample's gold mentions of its labels link to."""
    out: defaultdict[str, list[str]] = defaultdict(list)
    for mention in sample_links:
        if mention.concept_id:
            for group in groups_of_scope(scopes.groups.get(mention.span.label, ())):
                out[group].append(mention.concept_id)
    return dict(out)


class _ChildCounts:
    """How many is-a children a concept has, asked once per concept."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self._kb = kb
        self._counts: dict[str, int] = {}

    def __call__(self, concept_id: str) -> int:
        if concept_id not in self._counts:
            self._counts[concept_id] = len(self._kb.children(concept_id))
        return self._counts[concept_id]


# -- short forms ---------------------------------------------------------------------------


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def _abbreviated_tail(short: str, words: Sequence[str]) -> int | None:
    """Where the words the short form abbreviates begin, if only later words of the name:
    its letters placed right to left as Schwartz & Hearst (2003) place them start after the
    first word, and cannot be read from the first word's initial on ("attenuated adenomatous
    polyposis coli ( AAPC )" abbreviates all four words). None: the whole name, or letters
    that cannot be placed ("Myotonic dystrophy ( DM )")."""
    start = _long_form_start(short, words)
    if start is None or start == 0 or _reads_from_first_word(short, words):
        return None
    return start


def _reads_from_first_word(short: str, words: Sequence[str]) -> bool:
    """Whether the short form's first letter is the first word's and its other letters
    follow in order in the words."""
    letters = [ch.casefold() for ch in short if ch.isalnum()]
    text = " ".join(words).casefold()
    if not letters or not text.startswith(letters[0]):
        return False
    at = 1
    for char in letters[1:]:
        at = text.find(char, at) + 1
        if at == 0:
            return False
    return True


def _extended_to_long_forms(tokens: Sequence[str], found: Sequence[_Match]) -> list[_Match]:
    """Matches right before "( SF )" that the short form says begin further left: "sodium
    nitroprusside ( SNP )" matched "nitroprusside" only; the span becomes the long form."""
    out: list[_Match] = []
    previous_end = 0
    for match in found:
        short = _parenthesised_short_form(tokens, match.end, cut_at_list=True) or []
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


def _parenthesised_short_form(
    tokens: Sequence[str], opening: int, cut_at_list: bool
) -> Sequence[str] | None:
    """The tokens of "( SF )" opening at `opening` (at most four of them), None if there is no
    such group; `cut_at_list`: "( SF ;" and "( SF ," too, as Schwartz & Hearst (2003) cut."""
    if opening + 2 >= len(tokens) or tokens[opening] != "(":
        return None
    depth = 0
    for i in range(opening, min(len(tokens), opening + 6)):
        depth += {"(": 1, ")": -1}.get(tokens[i], 0)
        if depth == 0 or (cut_at_list and depth == 1 and tokens[i] in {";", ","}):
            return tokens[opening + 1 : i] if i >= opening + 2 else None
    return None


def _redefined(tokens: Sequence[str], match: _Match, defined: Mapping[str, NameEntry]) -> bool:
    """Whether a KB name matched as written in short ("TDP") is a short form the document
    defines as another concept."""
    text = " ".join(tokens[match.start : match.end])
    return not match.short_form and text in defined and defined[text] != match.entry


def _short_form_matches(
    tokens: Sequence[str], defined: dict[str, NameEntry], found: Sequence[_Match]
) -> list[_Match]:
    """Occurrences of the defined short forms (as written, case and all) outside `found`,
    longest first: "X - ALD" is one, not "ALD" after "X -"."""
    taken = {i for match in found for i in range(match.start, match.end)}
    added: list[_Match] = []
    for short, entry in sorted(defined.items(), key=lambda item: -item[0].count(" ")):
        parts = short.split(" ")
        for start in range(len(tokens) - len(parts) + 1):
            end = start + len(parts)
            if list(tokens[start:end]) != parts or taken & set(range(start, end)):
                continue
            added.append(_Match(start, end, entry, short_form=True))
            taken |= set(range(start, end))
    return added
