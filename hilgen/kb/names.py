"""Name handling shared by the builders, the store and the linker.

Two things happen to names: normalisation for matching (case, punctuation, whitespace), and
rewriting MeSH's inverted headings ("Neoplasms, Breast", "Carcinoma, Ductal, Breast") into
the natural order a sentence uses, because augmenters paste names into text.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^0-9a-z]+")
# One part of an inverted heading: words of letters, digits and inner hyphens or apostrophes.
# Parentheses, brackets, leading digits or a trailing hyphen mark a systematic chemical name
# ("Benzoic acid, 4-amino-") whose comma is not an inversion.
_PLAIN_PART = re.compile(r"[A-Za-z][A-Za-z0-9'\-]*( [A-Za-z0-9][A-Za-z0-9'\-]*)*")
_MAX_INVERTED_PARTS = 3
# Comma names that are no inversion and read as written: a later part opening with a
# conjunction or preposition ends a list or adds a qualifier ("Hand, Foot, and Mouth Disease",
# "Ectodermal dysplasia, hypohidrotic, with hypothyroidism"), and a last part that joins items
# or lists a third one before a head noun closes a list of features ("Hand, Foot and Mouth
# Disease", "Myopathy, Cataract, Hypogonadism Syndrome"); an inversion puts its head first
# ("Neoplasms, Germ Cell and Embryonal"). Reversed they read "with hypothyroidism ...".
_QUALIFIER_START = re.compile(
    r"(and|or|&|with|without|due|of|in|associated|secondary|caused|not|plus|from|to|for|by)\b",
    re.IGNORECASE,
)
_HEAD_END = re.compile(
    r"\b(disease|diseases|syndrome|syndromes|disorder|disorders|anomalies|abnormalities)$",
    re.IGNORECASE,
)


def normalise_name(name: str) -> str:
    """Lower-case ASCII words joined by single spaces: the key for exact matching."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return " ".join(_NON_WORD.split(ascii_name.lower())).strip()


def is_inverted(name: str) -> bool:
    """Whether a name looks like an inverted MeSH heading ("Anemia, Sickle Cell")."""
    parts = name.split(", ")
    if not 2 <= len(parts) <= _MAX_INVERTED_PARTS or "," in name.replace(", ", ""):
        return False
    if any(_QUALIFIER_START.match(part) for part in parts[1:]):
        return False
    last = parts[-1]
    if _HEAD_END.search(last) and (" and " in last or len(parts) == 3):
        return False
    return all(_PLAIN_PART.fullmatch(part) and not part.endswith("-") for part in parts)


def natural_order(name: str) -> str:
    """The name in reading order: inverted parts reversed ("Carcinoma, Ductal, Breast" ->
    "Breast Ductal Carcinoma"); any other name unchanged."""
    if not is_inverted(name):
        return name
    return " ".join(reversed(name.split(", ")))


def natural_names(names: list[str]) -> tuple[list[str], list[str]]:
    """Split a concept's names into the ones to show and the inverted originals to index only.

    Inverted names are rewritten into reading order; a rewrite that repeats a name the concept
    already has (case-insensitively) is dropped rather than shown twice.
    """
    shown: dict[str, str] = {}
    inverted: list[str] = []
    for name in names:
        natural = natural_order(name)
        if natural != name:
            inverted.append(name)
        shown.setdefault(natural.casefold(), natural)
    return list(shown.values()), inverted
