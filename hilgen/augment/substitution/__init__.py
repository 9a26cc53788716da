"""KB substitution, one concern a module: `augmenter` (the augmenter: link, collect, assemble
sentences), `filters` (which names may replace a mention), `casing` (names in the mention's
casing), `short_forms` (short forms keep their shape), `negatives` (off-label names tagged O)
and `candidates` (the values passed between them). The configs' `_target_`s name the public
classes from here."""

from hilgen.augment.substitution.augmenter import KB_RELATIONS, KBSubstitutionAugmenter
from hilgen.augment.substitution.filters import ReplacementFilter, is_supplementary
from hilgen.augment.substitution.negatives import NegativeSampler

__all__ = [
    "KB_RELATIONS",
    "KBSubstitutionAugmenter",
    "NegativeSampler",
    "ReplacementFilter",
    "is_supplementary",
]
