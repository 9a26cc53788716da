"""Name handling shared by the builders, the store and the linker.

Two things happen to names: normalisation for matching (case, punctuation, whitespace), and
rewriting MeSH's inverted headings ("Neoplasms, Breast", "Carcinoma, Ductal, Breast") into
the natural order a sentence uses, because augmenters paste names into text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_NON_WORD = re.compile(r"[^0-9a-z]+")
# Joiners inside a written short form ("A-T", "breast/ovarian").
SHORT_FORM_JOINERS = frozenset({"-", "/", "'", "’", ",", "(", ")"})
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


_PLURAL_EXCEPTIONS = ("ss", "us", "is", "sis", "xis")


def looks_plural(word: str) -> bool:
    """An English plural by its ending ("tumours", not "glass", "virus", "psoriasis")."""
    return len(word) > 3 and word.endswith("s") and not word.endswith(_PLURAL_EXCEPTIONS)


def number_variants(norm: str) -> list[str]:
    """The normalised name with its last word in the other number: "gentamicins" <->
    "gentamicin", "therapies" <-> "therapy". Short or Latin-looking words get none."""
    head, _, last = norm.rpartition(" ")
    prefix = f"{head} " if head else ""
    if len(last) <= 3 or not last.isalpha() or last.endswith(_PLURAL_EXCEPTIONS):
        return []
    if looks_plural(last):
        return [prefix + (last[:-3] + "y" if last.endswith("ies") else last[:-1])]
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        return [prefix + last[:-1] + "ies"]
    return [prefix + last + "s"]


def looks_like_abbreviation(tokens: Sequence[str]) -> bool:
    """A short form as biomedical text writes one: "DM", "A-T", "FK506", "MPS IVA" (at most
    three tokens, 2-10 characters once spaces and joiners are dropped, at least two capitals
    and no fewer capitals than lower-case letters, so not "AV block" or "Li")."""
    if not tokens or len(tokens) > 3:
        return False
    if any(not (token.isalnum() or token in SHORT_FORM_JOINERS) for token in tokens):
        return False
    joined = "".join(t for t in tokens if t not in SHORT_FORM_JOINERS)
    capitals = sum(ch.isupper() for ch in joined)
    lower = sum(ch.islower() for ch in joined)
    return 2 <= len(joined) <= 10 and capitals >= 2 and capitals >= lower


def starts_a_word(short_form: str, long_form: str) -> bool:
    """Schwartz & Hearst (2003): a short form's first letter begins a word of its long form."""
    first = short_form[:1].casefold()
    return any(word[:1].casefold() == first for word in re.split(r"[\s\-/]+", long_form))
