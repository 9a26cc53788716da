"""Which KB names may replace a mention: the replacement filter and the checks behind it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hilgen.data.tokenize import tokenize
from hilgen.kb.base import Concept
from hilgen.kb.names import natural_order

_UNITS = frozenset(
    {"mg", "kg", "g", "µg", "μg", "ug", "mcg", "ml", "mL", "mmol", "mol", "mM", "µM", "μM", "nM",
     "IU", "mmHg", "mEq", "%"}
)  # fmt: skip
_QUALIFIER = re.compile(
    r"\b(NOS|NEC)\b|\[[^\]]*\]|\bunspecified\b|\bnot otherwise specified\b|"
    r"\bnot elsewhere classified\b|\((disorder|finding|substance|disease|morphologic abnormality|"
    r"qualifier value|product|medicinal product|organism|procedure|situation)\)",
    re.IGNORECASE,
)
_BRACKETS = frozenset("()[]{}<>")
_INVERTED_COMMA = re.compile(r",\s+")
_SUPPLEMENTARY_ID = re.compile(r"(MESH:)?C\d{6,9}")


def name_key(name: str) -> str:
    """Names that differ only in case, spacing or spacing around punctuation are the same."""
    return " ".join(tokenize(name)).casefold()


@dataclass(frozen=True)
class ReplacementFilter:
    """Which related concepts and names make good replacements; every check can be switched.

    The defaults guard against what naive substitution did: digits and units taught a model to
    tag numbers ("Lithium 7"), hierarchy neighbours drifted off topic, supplementary records
    brought in brand names.
    `inverted_headings` is ``"drop"``, ``"rewrite"`` ("Carcinoma, Ductal, Breast" -> "Breast
    Ductal Carcinoma") or ``"keep"``. A name longer than the mention is rejected above
    ``min(max_tokens, max_token_factor * mention_tokens + max_token_slack)`` tokens (never below
    the mention's own length).
    """

    drop_numbers_and_units: bool = True
    max_tokens: int = 8
    max_token_factor: float = 2.0
    max_token_slack: int = 3
    inverted_headings: str = "drop"
    drop_qualifiers: bool = True
    drop_brackets: bool = True
    drop_supplementary: bool = True
    drop_cross_group_names: bool = True
    min_relation_score: float = 0.0

    def __post_init__(self) -> None:
        if self.inverted_headings not in ("drop", "rewrite", "keep"):
            raise ValueError(
                f"inverted_headings must be 'drop', 'rewrite' or 'keep', got "
                f"{self.inverted_headings!r}; fix conf/augmenter/*.yaml filters"
            )

    def check_name(self, name: str, original: str) -> tuple[str | None, str]:
        """The name as it would be used (possibly rewritten), or None and the rejection reason."""
        if self.drop_qualifiers and _QUALIFIER.search(name):
            return None, "qualifier"
        if _INVERTED_COMMA.search(name) and self.inverted_headings != "keep":
            if self.inverted_headings == "drop":
                return None, "inverted_heading"
            name = natural_order(name.strip())
        tokens = tokenize(name)
        original_tokens = tokenize(original)
        if not tokens:
            return None, "empty"
        if self.drop_brackets and _BRACKETS & set(name) and not _BRACKETS & set(original):
            return None, "brackets"
        if (
            self.drop_numbers_and_units
            and _has_number_or_unit(tokens)
            and not _has_number_or_unit(original_tokens)
        ):
            return None, "numbers_or_units"
        limit = min(
            self.max_tokens,
            int(self.max_token_factor * len(original_tokens)) + self.max_token_slack,
        )
        if len(tokens) > max(limit, len(original_tokens)):
            return None, "too_long"
        return name, ""


def is_supplementary(concept: Concept) -> bool:
    """A MeSH supplementary concept record (``C``-numbered: mostly specific drugs and brands).

    Recognised by the KB's mark (`Concept.is_supplementary`), else by a source named as such
    or a MeSH ID of the form ``C012345`` (for KBs that do not mark them).
    """
    if concept.is_supplementary or "supp" in concept.source.casefold():
        return True
    if concept.concept_id.startswith("MESH:"):
        mesh_ids: Sequence[str] = [concept.concept_id]
    else:
        mesh_ids = concept.xrefs.get("MESH", ())
    return bool(mesh_ids) and all(_SUPPLEMENTARY_ID.fullmatch(m) for m in mesh_ids)


def _has_number_or_unit(tokens: Sequence[str]) -> bool:
    return any(any(ch.isdigit() for ch in token) or token in _UNITS for token in tokens)
