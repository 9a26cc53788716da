"""Greedy K-shot sampling (Yang & Katiyar 2020), seeded and deterministic.

Labels are visited from rarest to most frequent; for each, random sentences that contain it are
added until it has at least K mentions. A sentence that would push an already-satisfied label
past `max_overshoot * K` is skipped while other candidates remain, which curbs the overshoot a
plain greedy sampler shows when labels co-occur (a chemical and a disease often share a
sentence, so satisfying one label overfills the other).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from hilgen.data.types import Sentence


@dataclass(frozen=True)
class KShotSample:
    """A K-shot sample and how many mentions each label ended up with."""

    sentences: list[Sentence]
    mention_counts: dict[str, int]
    shots: int
    seed: int


def label_counts(sentences: Sequence[Sentence]) -> Counter[str]:
    return Counter(span.label for sentence in sentences for span in sentence.spans)


def sample_kshot(
    sentences: Sequence[Sentence],
    labels: Sequence[str],
    shots: int = 5,
    seed: int = 1,
    max_overshoot: float = 2.0,
) -> KShotSample:
    """Draw a greedy K-shot sample: every label in `labels` gets at least `shots` mentions.

    Raises ValueError if a label has fewer than `shots` mentions in `sentences`.
    """
    if shots < 1:
        raise ValueError(f"shots must be at least 1, got {shots}")
    available = label_counts(sentences)
    missing = [label for label in labels if available[label] < shots]
    if missing:
        raise ValueError(
            f"cannot draw {shots}-shot sample: labels {missing} have fewer than {shots} "
            f"mentions in the {len(sentences)} candidate sentences"
        )
    rng = random.Random(seed)
    order = sorted(labels, key=lambda label: (available[label], label))
    chosen: list[Sentence] = []
    chosen_ids: set[str] = set()
    counts: Counter[str] = Counter()
    cap = max(shots, int(max_overshoot * shots))
    for label in order:
        candidates = [s for s in sentences if any(sp.label == label for sp in s.spans)]
        rng.shuffle(candidates)
        deferred: list[Sentence] = []
        for sentence in candidates:
            if counts[label] >= shots:
                break
            if sentence.sentence_id in chosen_ids:
                continue
            added = label_counts([sentence])
            if any(counts[other] + n > cap for other, n in added.items() if other != label):
                deferred.append(sentence)
                continue
            chosen.append(sentence)
            chosen_ids.add(sentence.sentence_id)
            counts.update(added)
        for sentence in deferred:  # only when no well-behaved candidate was left
            if counts[label] >= shots:
                break
            chosen.append(sentence)
            chosen_ids.add(sentence.sentence_id)
            counts.update(label_counts([sentence]))
    return KShotSample(
        sentences=chosen,
        mention_counts={label: counts[label] for label in labels},
        shots=shots,
        seed=seed,
    )
