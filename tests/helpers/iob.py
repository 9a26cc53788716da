"""IOB checks shared by the decoding, CRF and ensemble tests."""

from __future__ import annotations

from collections.abc import Sequence

from hilgen.data.iob import normalise_tags


def is_valid_iob2(tags: Sequence[str]) -> bool:
    """Valid IOB2 is what IOB2 normalisation leaves unchanged: no I- after O or another label,
    no S-/E- or other prefixes."""
    return normalise_tags(tags) == list(tags)
