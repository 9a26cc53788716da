"""Which UMLS semantic groups a dataset's train mentions link to, per label: the evidence for
choosing its `label_groups` (the groups a label's synthetic replacements may come from).

    python -m hilgen.reporting.group_census dataset=ade
    python -m hilgen.reporting.group_census dataset=conll dataset.name=mine dataset.train=... \
        kb=umls

Arguments are train.py overrides (the dataset and the KB are built from the same configs).
Each mention is linked as augmenters link it (gold ID, exact name, approximate name), with no
group restriction, and counted in its concept's group.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from hilgen.data.types import Corpus
from hilgen.evaluate.tables import format_table
from hilgen.kb.linker import Linker


@dataclass
class LabelCensus:
    """One label's train mentions: how many, how they linked, and to which groups."""

    mentions: int = 0
    unlinked: int = 0
    methods: Counter[str] = field(default_factory=Counter)
    groups: Counter[str] = field(default_factory=Counter)


def group_census(corpus: Corpus, linker: Linker) -> dict[str, LabelCensus]:
    """Per label, every train mention (by occurrence) linked and counted by semantic group."""
    census = {label: LabelCensus() for label in corpus.labels}
    texts: Counter[tuple[str, str, tuple[str, ...]]] = Counter(
        (span.label, sentence.span_text(span), span.concept_ids)
        for sentence in corpus.train
        for span in sentence.spans
    )
    for (label, text, gold_ids), count in texts.items():
        entry = census[label]
        entry.mentions += count
        links = linker.link(text, gold_ids)
        if not links:
            entry.unlinked += count
            continue
        entry.methods[links[0].method] += count
        entry.groups[links[0].concept.semantic_group or "?"] += count
    return census


def census_table(census: dict[str, LabelCensus]) -> str:
    rows = []
    for label, entry in census.items():
        linked = entry.mentions - entry.unlinked
        how = ", ".join(f"{method} {n}" for method, n in entry.methods.most_common())
        rows.append([label, "(all)", entry.mentions, f"linked {linked} ({how})", ""])
        for group, n in entry.groups.most_common():
            share = f"{100 * n / linked:.1f}% of linked" if linked else ""
            rows.append(["", group, n, f"{100 * n / entry.mentions:.1f}% of mentions", share])
    return format_table(["label", "group", "mentions", "", ""], rows)


def main(argv: Sequence[str] | None = None) -> int:
    overrides = list(sys.argv[1:] if argv is None else argv)
    conf = Path(os.environ.get("HILGEN_ROOT", ".")).resolve() / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    corpus: Corpus = instantiate(cfg.dataset).load()
    kb = instantiate(cfg.kb)
    census = group_census(corpus, instantiate(cfg.linker, kb=kb))
    print(f"{corpus.name} train mentions by the semantic group they link to ({kb.version})")
    print(census_table(census))
    return 0


if __name__ == "__main__":
    sys.exit(main())
