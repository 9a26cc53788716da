"""Which KB concepts each label's replacements may come from: `dataset.label_groups`.

A label's scope lists UMLS semantic groups (``DISO``), semantic types by TUI (``T204``) or by
exact name (``Eukaryote``), or is ``auto``: the semantic types of the label's K-shot sample
mentions that link to the KB. The whole mapping may be ``auto`` too. Resolution happens once
per run, before any augmenter reads the scopes, and says what it chose so a user can pin it.
Negative examples come from `augmenter.negatives.groups`, less any group or type a label uses.
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hilgen.data.tokenize import tokenize
from hilgen.data.types import Sentence
from hilgen.errors import UserError
from hilgen.kb.base import KnowledgeBase
from hilgen.kb.linker import Linker
from hilgen.kb.names import looks_like_abbreviation
from hilgen.kb.semantic_groups import (
    SEMANTIC_GROUPS,
    SEMANTIC_TYPES,
    concept_in_scope,
    group_of_type,
)

log = logging.getLogger(__name__)

AUTO = "auto"
# A type joins an auto scope when at least this share of the label's linked sample mentions
# have it: one stray link ('Mad' -> a dinucleotide) among ten mentions does not widen it.
AUTO_MIN_SHARE = 0.2

LabelGroupsSpec = Mapping[str, Sequence[str] | str] | str
_TYPE_BY_NAME = {name.casefold(): tui for tui, (name, _) in SEMANTIC_TYPES.items()}


class LabelGroupsError(UserError, ValueError):
    """A label scope that cannot be used; the message names the label and the fix."""


def type_description(name: str) -> str:
    """``T204 Eukaryote`` for a TUI, the group name itself otherwise."""
    return f"{name} {SEMANTIC_TYPES[name][0]}" if name in SEMANTIC_TYPES else name


def canonical_scope(
    label: str, names: Sequence[str] | str, setting: str = "dataset.label_groups"
) -> list[str]:
    """Group codes and TUIs for a configured scope; type names become TUIs. `setting` is
    where the scope was configured, for the message."""
    if isinstance(names, str):
        names = [names]
    scope = []
    for name in names:
        text = str(name).strip()
        if text.upper() in SEMANTIC_GROUPS or text.upper() in SEMANTIC_TYPES:
            scope.append(text.upper())
        elif text.casefold() in _TYPE_BY_NAME:
            scope.append(_TYPE_BY_NAME[text.casefold()])
        else:
            known = [*sorted(SEMANTIC_GROUPS), *(name for name, _ in SEMANTIC_TYPES.values())]
            close = difflib.get_close_matches(text, known, n=1, cutoff=0.5) or ["DISO"]
            raise LabelGroupsError(
                f"{setting}: label {label!r} names {text!r}, which is neither a "
                f"semantic group ({', '.join(sorted(SEMANTIC_GROUPS))}) nor a semantic type "
                "(a TUI such as T204, or its exact name such as Eukaryote; `python -m "
                f"hilgen.kb stats` lists them). Did you mean {close[0]!r}? Fix it, e.g. "
                f"dataset.label_groups={{{label}:[{close[0]}]}}, or let the sample choose: "
                f"dataset.label_groups={{{label}:auto}}."
            )
    return list(dict.fromkeys(scope))


def overlaps(first: str, second: str) -> bool:
    """Whether two scope entries share concepts: equal, or a type inside the other group."""
    return first == second or group_of_type(first) == second or first == group_of_type(second)


def negative_scope(
    negative_groups: Iterable[str], label_groups: Mapping[str, list[str]]
) -> list[str]:
    """The configured negative groups/types less any that overlaps a label's scope, so a
    label's own concepts are never tagged O."""
    used = [name for scope in label_groups.values() for name in scope]
    wanted = canonical_scope("(negatives)", list(negative_groups), "augmenter.negatives.groups")
    return [name for name in wanted if not any(overlaps(name, other) for other in used)]


def negative_names(
    kb: KnowledgeBase,
    negative_groups: Iterable[str],
    label_groups: Mapping[str, list[str]],
    *,
    pool_size: int,
    seed: int,
    short_forms: bool,
) -> list[tuple[str, str]]:
    """(name, concept ID) of up to `pool_size` concepts that no label may take, skipping a
    name that also names an on-label concept. Without `short_forms`, a concept whose preferred
    name is a short form ("ITPA") gives its first name written out ("inosine
    triphosphatase"), or nothing."""
    allowed = {name for scope in label_groups.values() for name in scope}
    concepts = kb.sample_concepts(negative_scope(negative_groups, label_groups), pool_size, seed)
    out: list[tuple[str, str]] = []
    for concept in concepts:
        name = concept.preferred_name if short_forms else _written_out_name(concept.names)
        if name is None or any(concept_in_scope(c, allowed) for c in kb.find_by_name(name)):
            continue
        out.append((name, concept.concept_id))
    return out


def _written_out_name(names: Sequence[str]) -> str | None:
    return next((name for name in names if not looks_like_abbreviation(tokenize(name))), None)


@dataclass
class ResolvedLabelGroups:
    """Each label's scope, and lines that say what `auto` chose and what looks wrong."""

    groups: dict[str, list[str]]
    choices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _label_mentions(sample: Sequence[Sentence]) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    mentions: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for sentence in sample:
        for span in sentence.spans:
            mentions.setdefault(span.label, []).append(
                (sentence.span_text(span), tuple(span.concept_ids))
            )
    return mentions


def _auto_scope(
    label: str, mentions: list[tuple[str, tuple[str, ...]]], linker: Linker
) -> tuple[list[str], str]:
    types: Counter[str] = Counter()
    linked = 0
    for text, gold_ids in mentions:
        links = linker.link(text, gold_ids)
        if links:
            linked += 1
            types.update(set(links[0].concept.semantic_types))
    if not linked:
        raise LabelGroupsError(
            f"dataset.label_groups: label {label!r} is auto, but none of its "
            f"{len(mentions)} sample mentions links to the knowledge base, so there is "
            f"nothing to choose from. Name its groups or types instead, e.g. "
            f"dataset.label_groups={{{label}:[DISO]}} (`python -m hilgen.kb stats` lists them)."
        )
    chosen = [tui for tui, count in types.most_common() if count >= AUTO_MIN_SHARE * linked]
    described = ", ".join(f"{type_description(tui)} ({types[tui]})" for tui in chosen)
    line = (
        f"label_groups auto: {label} -> [{', '.join(chosen)}], the types of at least "
        f"{AUTO_MIN_SHARE:.0%} of its {linked}/{len(mentions)} linked sample mentions: {described}"
    )
    return chosen, line


def configured_scopes(spec: LabelGroupsSpec, labels: Sequence[str]) -> dict[str, list[str]]:
    """Each label's scope as far as the configuration says it without a KB: groups and TUIs,
    type names as TUIs, and an empty scope for a label left to `auto` (choosing it needs the
    KB and the sample, which `resolve_label_groups` has). A resolved mapping comes back as is."""
    if isinstance(spec, str):
        spec = dict.fromkeys(labels, AUTO)
    return {
        label: [] if names == AUTO else canonical_scope(label, names)
        for label, names in spec.items()
    }


def resolve_label_groups(
    spec: LabelGroupsSpec,
    labels: Sequence[str],
    sample: Sequence[Sentence],
    kb: KnowledgeBase,
    linker: Linker,
) -> ResolvedLabelGroups:
    """Every label's scope as group codes and TUIs, with `auto` resolved from the sample.

    Raises `LabelGroupsError` for a name that is no group or type, and for an `auto` label
    none of whose sample mentions links; warns (naming the label) when a scope holds no KB
    concept. A label whose sample mentions do not link into its scope is the KB substitution
    augmenters' to report: they fall back to its gold sentences (`min_linked_share`).
    """
    if isinstance(spec, str):
        if spec != AUTO:
            raise LabelGroupsError(
                f"dataset.label_groups is {spec!r}: give a mapping such as {{Disease: [DISO]}} "
                f"or {AUTO!r} to choose every label's types from the sample."
            )
        spec = dict.fromkeys(labels, AUTO)
    mentions = _label_mentions(sample)
    resolved = ResolvedLabelGroups({})
    for label, names in spec.items():
        if names == AUTO:
            scope, line = _auto_scope(label, mentions.get(label, []), linker)
            resolved.choices.append(line)
        else:
            scope = canonical_scope(label, names)
        resolved.groups[label] = scope
    if resolved.choices:
        pinned = ",".join(
            f"{label}:[{','.join(scope)}]" for label, scope in resolved.groups.items()
        )
        resolved.choices.append(f"label_groups auto: pin it with dataset.label_groups={{{pinned}}}")
    for label, scope in resolved.groups.items():
        shown = f"[{', '.join(map(type_description, scope))}]"
        if not kb.sample_concepts(scope, 1):
            resolved.warnings.append(
                f"label {label!r}: its scope {shown} holds no concept in knowledge base "
                f"{kb.version}, so it gets no replacements; choose groups or types that "
                f"`python -m hilgen.kb stats` lists, or let the sample choose ({label}: auto)."
            )
    return resolved
