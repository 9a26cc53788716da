"""The one code path that turns a few-shot sample into a synthetic set, cached on disk.

`train.py` and `generate.py` both call `generate_cached`, so a sweep that revisits a
(dataset, seed, shots, augmenter, knowledge base) combination reads the synthetic set instead of
regenerating it. The key also covers the sample's sentence IDs, so a change to the sampler or the
corpus files cannot serve a stale set, and the source of the code that makes a set (augmenters,
KB access and linking, corpus reading and tokenisation), so an upgraded toolkit cannot either.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hilgen.augment.base import AugmentContext, Augmenter, SyntheticSet
from hilgen.data.types import Sentence

log = logging.getLogger(__name__)

# The hilgen packages whose code decides what a synthetic set holds.
GENERATOR_PACKAGES = ("augment", "kb", "data", "llm", "encoders")
HILGEN_ROOT = Path(__file__).resolve().parents[1]


@cache
def generator_code_version(root: Path = HILGEN_ROOT) -> str:
    """A digest of every source file of `GENERATOR_PACKAGES` under the package `root`."""
    digest = hashlib.sha256()
    for package in GENERATOR_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode("utf-8"))
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class GenerationKey:
    """Everything a synthetic set depends on."""

    dataset: str
    seed: int
    shots: int
    augmenter: Mapping[str, Any]
    kb_version: str
    sample_ids: tuple[str, ...]
    # The dataset's label_groups, label_relations and relation_labels: which replacements keep
    # a label and which take another.
    label_policy: Mapping[str, Any]
    # The LLM settings (endpoint, model, sampling) for augmenters that call one; never secrets,
    # which come from the environment and are not in the config.
    llm: Mapping[str, Any] | None = None
    # The generating code's own version (`generator_code_version`).
    code_version: str = ""
    # `Corpus.fingerprint()`: the sample's and the unlabelled sentences' text, and the test split
    # checked for leaks, whatever the dataset is named.
    corpus: str = ""
    # The extra unlabelled text's words (`unlabelled_text`), "" when there is none.
    unlabelled_text: str = ""

    def digest(self) -> str:
        payload = json.dumps(
            {
                "dataset": self.dataset,
                "seed": self.seed,
                "shots": self.shots,
                "augmenter": self.augmenter,
                "kb_version": self.kb_version,
                "sample_ids": self.sample_ids,
                "label_policy": self.label_policy,
                "llm": self.llm,
                "code_version": self.code_version,
                "corpus": self.corpus,
                **({"unlabelled_text": self.unlabelled_text} if self.unlabelled_text else {}),
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def cache_path(cache_dir: Path, key: GenerationKey, augmenter_name: str) -> Path:
    return (
        cache_dir
        / "synthetic"
        / key.dataset
        / f"{augmenter_name}-seed{key.seed}-{key.digest()}.jsonl"
    )


def generate_cached(
    augmenter: Augmenter,
    sample: Sequence[Sentence],
    context: AugmentContext,
    key: GenerationKey,
    cache_dir: Path,
) -> tuple[SyntheticSet, Path, bool]:
    """The synthetic set for `sample`, from the cache when present; returns (set, path, hit)."""
    path = cache_path(cache_dir, key, augmenter.name)
    if path.exists():
        log.info("synthetic set cache hit: %s", path)
        return SyntheticSet.from_jsonl(path), path, True
    synthetic = augmenter.generate(list(sample), context)
    synthetic.to_jsonl(path)
    log.info("synthetic set: %d sentences written to %s", len(synthetic), path)
    return synthetic, path, False
