"""The augment context over the hand-built KB that the augmenter tests share."""

from __future__ import annotations

from hilgen.augment.base import AugmentContext
from tests.helpers.kb_fixture import LABEL_GROUPS, FixtureLinker, InMemoryKB


def fixture_context(fixture_kb: InMemoryKB, /, **overrides: object) -> AugmentContext:
    """Disease and Chemical labels over `fixture_kb`, seed 1, with `overrides` on top (which
    may replace the KB itself)."""
    values: dict[str, object] = {
        "kb": fixture_kb,
        "linker": FixtureLinker(fixture_kb),
        "labels": ["Disease", "Chemical"],
        "label_groups": LABEL_GROUPS,
        "seed": 1,
    }
    values.update(overrides)
    return AugmentContext(**values)  # type: ignore[arg-type]
