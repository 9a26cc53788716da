"""An entity span over a sentence's tokens: the one type both the sentences (`hilgen.data.types`)
and the IOB conversions (`hilgen.data.iob`) build on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """An entity over tokens `start` (inclusive) to `end` (exclusive) of a sentence."""

    start: int
    end: int
    label: str
    concept_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"span [{self.start}, {self.end}) is empty or negative")
