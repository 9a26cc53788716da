"""Replacement names in the casing of the mention they replace, eponyms kept."""

from __future__ import annotations

import re
from collections.abc import Sequence

from hilgen.augment.substitution.filters import name_key
from hilgen.data.tokenize import tokenize

# Casing of replacement names (see apply_case): a capitalised ordinary word, the disease head
# nouns that follow eponyms, and adjective endings that mark a non-eponym.
_CAPITALISED = re.compile(r"[A-Z][a-z]{3,}")
_EPONYM_HEADS = frozenset(
    {"disease", "syndrome", "disorder", "anomaly", "sarcoma", "lymphoma", "tumor", "tumour",
     "palsy", "anemia", "anaemia", "dystrophy", "ataxia", "neuropathy", "sign", "phenomenon"}
)  # fmt: skip
_ADJECTIVE_ENDINGS = ("ic", "al", "ous", "ive", "ary", "ar", "ed", "ing", "ile", "ent", "ant")


def case_style(text: str) -> str:
    """``lower`` ("breast cancer"), ``sentence`` ("Breast cancer") or ``keep`` (anything else)."""
    if not any(ch.isupper() for ch in text):
        return "lower"
    if text[:1].isupper() and not any(ch.isupper() for ch in text[1:]):
        return "sentence"
    return "keep"


def _is_title_cased(name: str) -> bool:
    """MeSH-style "Ductal Carcinoma of the Breast": every word of 4+ letters is capitalised
    (short words are function words or symbols such as "of", "Li", "Na")."""
    words = [w for w in tokenize(name) if w.isalpha() and len(w) >= 4]
    return bool(words) and all(w[0].isupper() for w in words)


def prefer_casing(names: Sequence[str], style: str) -> list[str]:
    """One variant per name, in first-seen order; for lower-case mentions, prefer a variant in
    natural case ("Parkinson disease") over title case ("Parkinson Disease"), since lowering
    title case would also lower eponyms."""
    chosen: dict[str, str] = {}
    for name in names:
        key = name_key(name)
        natural_case_found = (
            style != "keep"
            and key in chosen
            and _is_title_cased(chosen[key])
            and not _is_title_cased(name)
        )
        if key not in chosen or natural_case_found:
            chosen[key] = name
    return list(chosen.values())


def apply_case(name: str, style: str) -> tuple[str, ...]:
    """The name's tokens in the casing of a lower- or sentence-case mention.

    Capitalised words (MeSH "Breast Neoplasms", HPO "Abnormal emotion") are lowered, except
    what looks like an eponym: a word before a possessive ("Kanner's syndrome") or before a
    disease head noun, unless it is an adjective ("Asperger syndrome" but "metabolic
    syndrome"). Acronyms, symbols and mixed-case words (``DNA``, ``Li``, ``BRCA1``) are kept.
    """
    tokens = tokenize(name)
    if style == "keep":
        return tuple(tokens)
    cased = [
        token.lower() if _CAPITALISED.fullmatch(token) and not _is_eponym(tokens, i) else token
        for i, token in enumerate(tokens)
    ]
    if style == "sentence" and cased:
        cased[0] = cased[0][:1].upper() + cased[0][1:]
    return tuple(cased)


def _is_eponym(tokens: Sequence[str], index: int) -> bool:
    following = tokens[index + 1].casefold() if index + 1 < len(tokens) else ""
    if following in ("'", "’"):
        return True
    adjective = tokens[index].casefold().endswith(_ADJECTIVE_ENDINGS)
    return following in _EPONYM_HEADS and not adjective
