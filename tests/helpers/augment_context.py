"""The augment context over the hand-built KB that the augmenter tests share."""

from __future__ import annotations

from hilgen.augment.base import AugmentContext
from tests.helpers.kb_fixture import LABEL_GROUPS, FixtureLinker, InMemoryKB


def fixture_context(kb: InMemoryKB, **overrides: object) -> AugmentContext:
    """Disease and Chemical labels over `kb`, seed 1, with `overrides` on top."""
    values: dict[str, object] = {
        "kb": kb,
        "linker": FixtureLinker(kb),
        "labels": ["Disease", "Chemical"],
        "label_groups": LABEL_GROUPS,
        "seed": 1,
    }
    values.update(overrides)
    return AugmentContext(**values)  # type: ignore[arg-type]
