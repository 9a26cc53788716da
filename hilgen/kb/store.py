"""The on-disk knowledge base: one SQLite file per build, read by `SqliteKnowledgeBase`.

Both the open build and a UMLS release end up in the same schema, so augmenters and the
linker see one interface. SQLite with indexes opens in milliseconds and keeps memory small
(pages are read on demand), where parsing the source tables would take a minute every run.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from hilgen.errors import UserError
from hilgen.io import atomic_path
from hilgen.kb.base import Concept, RelatedConcept
from hilgen.kb.names import natural_names, normalise_name
from hilgen.kb.semantic_groups import is_semantic_type

log = logging.getLogger(__name__)

# 3: lists and qualified names ("Hand, Foot and Mouth Disease", "..., with ...") are no longer
# read as inverted headings.
SCHEMA_VERSION = "3"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE concepts (
    id INTEGER PRIMARY KEY,
    concept_id TEXT NOT NULL UNIQUE,
    preferred_name TEXT NOT NULL,
    semantic_types TEXT NOT NULL,
    semantic_group TEXT NOT NULL,
    source TEXT NOT NULL,
    is_supplementary INTEGER NOT NULL,
    definition TEXT NOT NULL
);
-- kind: 0 preferred name, 1 synonym, 2 matched but not shown (an inverted MeSH heading)
CREATE TABLE names (concept INTEGER NOT NULL, name TEXT NOT NULL, norm TEXT NOT NULL,
                    kind INTEGER NOT NULL);
CREATE TABLE xrefs (concept INTEGER NOT NULL, vocab TEXT NOT NULL, code TEXT NOT NULL);
CREATE TABLE edges (child INTEGER NOT NULL, parent INTEGER NOT NULL);
"""

_INDEXES = """
CREATE INDEX names_norm ON names (norm);
CREATE INDEX names_concept ON names (concept);
CREATE INDEX xrefs_code ON xrefs (vocab, code);
CREATE INDEX xrefs_concept ON xrefs (concept);
CREATE UNIQUE INDEX edges_child ON edges (child, parent);
CREATE INDEX edges_parent ON edges (parent);
"""

# Vocabularies whose shared codes mean "the same concept"; ICD and the like group broadly.
IDENTITY_VOCABS = ("MESH", "MONDO", "DOID", "HP", "OMIM", "UMLS", "CHEBI", "HGNC", "FPLX")

NAME_PREFERRED, NAME_SYNONYM, NAME_INDEX_ONLY = 0, 1, 2

# Spellings of vocabulary prefixes seen in IDs and xrefs, mapped to the one the store uses.
VOCAB_ALIASES: dict[str, str] = {
    "MSH": "MESH",
    "MESH": "MESH",
    "MIM": "OMIM",
    "OMIM": "OMIM",
    "UMLS": "UMLS",
    "UMLS_CUI": "UMLS",
    "CUI": "UMLS",
    "SCTID": "SNOMEDCT_US",
    "SNOMED_CT": "SNOMEDCT_US",
    "SNOMEDCT": "SNOMEDCT_US",
    "SNOMEDCT_US": "SNOMEDCT_US",
    "HPO": "HP",
    "HP": "HP",
    "DOID": "DOID",
    "MONDO": "MONDO",
    "ORPHA": "ORPHANET",
    "ORDO": "ORPHANET",
    "ORPHANET": "ORPHANET",
    "NCI": "NCIT",
    "NCIT": "NCIT",
    "NCBIGENE": "NCBIGENE",
    "NCBI_GENE": "NCBIGENE",
    "ENTREZ": "NCBIGENE",
    "EGID": "NCBIGENE",
    "UP": "UNIPROT",
    "UNIPROT": "UNIPROT",
}
_DATED_SNOMED = re.compile(r"SNOMEDCT_US_\d{4}_\d{2}_\d{2}")
_BARE_MESH = re.compile(r"[CD]\d{6,9}")
_BARE_CUI = re.compile(r"C\d{7}")


def normalise_vocab(vocab: str) -> str:
    """The store's name for a vocabulary prefix (``MSH`` -> ``MESH``, dated SNOMED -> plain)."""
    upper = vocab.strip().upper()
    if _DATED_SNOMED.fullmatch(upper):
        return "SNOMEDCT_US"
    return VOCAB_ALIASES.get(upper, upper)


def split_identifier(identifier: str) -> tuple[str, str]:
    """(vocabulary, code) of an ID as corpora write it: ``OMIM:114480``, ``MESH:D012878``,
    bare MeSH ``D012878`` / ``C535918``, bare CUI ``C0006142``."""
    text = identifier.strip()
    if ":" in text:
        vocab, code = text.split(":", 1)
        return normalise_vocab(vocab), code.strip()
    if _BARE_CUI.fullmatch(text):
        return "UMLS", text
    if _BARE_MESH.fullmatch(text):
        return "MESH", text
    return "", text


@dataclass
class ConceptRecord:
    """One concept as a builder hands it to `write_store`; parents are concept IDs."""

    concept_id: str
    preferred_name: str
    synonyms: list[str] = field(default_factory=list)
    semantic_types: tuple[str, ...] = ()
    semantic_group: str = ""
    source: str = ""
    is_supplementary: bool = False
    definition: str = ""
    xrefs: list[tuple[str, str]] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)


def write_store(
    path: Path,
    records: Iterable[ConceptRecord],
    metadata: dict[str, str],
    total: int | None = None,
) -> dict[str, int]:
    """Write a knowledge base atomically: a failed build never replaces a good file.

    `metadata` must carry ``version`` and ``source_priority`` (comma-separated sources, the
    order in which an ambiguous cross-reference resolves). Returns counts for the log.
    """
    with atomic_path(path) as temp_path:
        counts = _write_database(temp_path, records, metadata, total)
    log.info("Wrote knowledge base %s: %s", path, counts)
    return counts


def _write_database(
    path: Path, records: Iterable[ConceptRecord], metadata: dict[str, str], total: int | None
) -> dict[str, int]:
    missing = {"version", "source_priority"} - metadata.keys()
    if missing:
        raise ValueError(f"Knowledge-base metadata lacks {sorted(missing)}.")
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    try:
        connection.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        row_of: dict[str, int] = {}
        pending_edges: list[tuple[int, str]] = []
        names: list[tuple[int, str, str, int]] = []
        xrefs: list[tuple[int, str, str]] = []
        rows: list[tuple] = []
        for record in tqdm(records, total=total, desc="knowledge base", unit=" concepts"):
            if record.concept_id in row_of:
                raise ValueError(f"Concept {record.concept_id} is defined twice.")
            row = len(row_of) + 1
            row_of[record.concept_id] = row
            shown, inverted = natural_names([record.preferred_name, *record.synonyms])
            rows.append(
                (
                    row,
                    record.concept_id,
                    shown[0],
                    "|".join(record.semantic_types),
                    record.semantic_group,
                    record.source,
                    int(record.is_supplementary),
                    record.definition,
                )
            )
            for index, name in enumerate(shown):
                kind = NAME_PREFERRED if index == 0 else NAME_SYNONYM
                names.append((row, name, normalise_name(name), kind))
            names.extend((row, name, normalise_name(name), NAME_INDEX_ONLY) for name in inverted)
            xrefs.extend(
                {(row, normalise_vocab(vocab), code) for vocab, code in record.xrefs if code}
            )
            pending_edges.extend((row, parent) for parent in record.parents)
        connection.executemany("INSERT INTO concepts VALUES (?,?,?,?,?,?,?,?)", rows)
        connection.executemany("INSERT INTO names VALUES (?,?,?,?)", names)
        connection.executemany("INSERT INTO xrefs VALUES (?,?,?)", xrefs)
        edges = {
            (child, row_of[parent])
            for child, parent in pending_edges
            if parent in row_of and row_of[parent] != child
        }
        dangling = sum(1 for _, parent in pending_edges if parent not in row_of)
        if dangling:
            log.info("Dropped %d is-a edges to parents outside the knowledge base.", dangling)
        connection.executemany("INSERT INTO edges VALUES (?,?)", sorted(edges))
        full_metadata = {**metadata, "schema": SCHEMA_VERSION}
        connection.executemany("INSERT INTO meta VALUES (?,?)", sorted(full_metadata.items()))
        connection.executescript(_INDEXES + "ANALYZE;")
        connection.commit()
        if not rows:
            raise ValueError("The knowledge-base build produced no concepts.")
        return {
            "concepts": len(rows),
            "names": len(names),
            "xrefs": len(xrefs),
            "edges": len(edges),
        }
    finally:
        connection.close()


def _scope_condition(scope: Iterable[str], table: str = "") -> tuple[str, tuple[str, ...]]:
    """A WHERE condition for concepts of some semantic groups or TUIs, and its parameters."""
    wanted = sorted(set(scope))
    groups = [name for name in wanted if not is_semantic_type(name)]
    types = [name for name in wanted if is_semantic_type(name)]
    conditions = []
    if groups:
        conditions.append(f"{table}semantic_group IN ({','.join('?' * len(groups))})")
    conditions += [f"('|' || {table}semantic_types || '|') LIKE ?" for _ in types]
    parameters = (*groups, *(f"%|{tui}|%" for tui in types))
    return f"({' OR '.join(conditions) or '0'})", parameters


class KnowledgeBaseFileError(UserError, RuntimeError):
    """A knowledge-base file that is missing, unreadable or from another schema."""


class SqliteKnowledgeBase:
    """A read-only knowledge base over one SQLite file; implements `KnowledgeBase`.

    Relatedness (siblings, same-type concepts) is the Jaccard overlap of the two concepts'
    ancestor sets in the is-a graph: it needs no training, works the same for MeSH trees,
    OBO ontologies and UMLS PAR/CHD edges, and ranks a sibling reached through a distant
    second parent (a MONDO node filed under "hereditary disease") below one that shares the
    whole lineage. Ties break by shared name words, then by name.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise KnowledgeBaseFileError(f"Knowledge base {self.path} does not exist.")
        self._connection: sqlite3.Connection | None = None
        self._pid = -1
        meta = dict(self._query("SELECT key, value FROM meta"))
        if meta.get("schema") != SCHEMA_VERSION:
            raise KnowledgeBaseFileError(
                f"Knowledge base {self.path} has schema {meta.get('schema')!r}, this code "
                f"reads {SCHEMA_VERSION!r}: rebuild it (python -m hilgen.kb build)."
            )
        self.metadata: dict[str, str] = meta
        self.version: str = meta["version"]
        self._source_rank = {
            source: rank for rank, source in enumerate(meta["source_priority"].split(","))
        }
        self._concept_cache = functools.lru_cache(maxsize=50_000)(self._read_concept)
        self._ancestors: dict[int, frozenset[int]] = {}

    # -- connection ------------------------------------------------------------------------

    def _query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        # A connection must not cross a fork (DataLoader workers), so reopen per process.
        if self._connection is None or self._pid != os.getpid():
            try:
                self._connection = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, check_same_thread=False
                )
                self._connection.execute("PRAGMA query_only=ON")
            except sqlite3.Error as error:
                raise KnowledgeBaseFileError(
                    f"Cannot open knowledge base {self.path} ({error}); delete it and rebuild "
                    "with `python -m hilgen.kb build`."
                ) from error
            self._pid = os.getpid()
        try:
            return self._connection.execute(sql, parameters).fetchall()
        except sqlite3.DatabaseError as error:
            raise KnowledgeBaseFileError(
                f"Knowledge base {self.path} is unreadable ({error}); delete it and rebuild "
                "with `python -m hilgen.kb build`."
            ) from error

    # -- concepts ----------------------------------------------------------------------------

    def _row_of(self, concept_id: str) -> int | None:
        found = self._query("SELECT id FROM concepts WHERE concept_id = ?", (concept_id,))
        if found:
            return found[0][0]
        vocab, code = split_identifier(concept_id)
        if not vocab:
            return None
        found = self._query("SELECT id FROM concepts WHERE concept_id = ?", (f"{vocab}:{code}",))
        if found:
            return found[0][0]
        candidates = [
            row for (row,) in self._query(
                "SELECT concept FROM xrefs WHERE vocab = ? AND code = ?", (vocab, code)
            )
        ]  # fmt: skip
        if not candidates:
            return None
        return min(candidates, key=lambda row: (self._rank(self._concept_cache(row)), row))

    def _rank(self, concept: Concept) -> int:
        return self._source_rank.get(concept.source, len(self._source_rank))

    def _read_concept(self, row: int) -> Concept:
        (concept_id, preferred, types, group, source, supplementary, definition) = self._query(
            "SELECT concept_id, preferred_name, semantic_types, semantic_group, source, "
            "is_supplementary, definition FROM concepts WHERE id = ?",
            (row,),
        )[0]
        synonyms = tuple(
            name
            for (name,) in self._query(
                "SELECT name FROM names WHERE concept = ? AND kind = ? ORDER BY rowid",
                (row, NAME_SYNONYM),
            )
        )
        xrefs: dict[str, list[str]] = {}
        for vocab, code in self._query(
            "SELECT vocab, code FROM xrefs WHERE concept = ? ORDER BY vocab, code", (row,)
        ):
            xrefs.setdefault(vocab, []).append(code)
        return Concept(
            concept_id=concept_id,
            preferred_name=preferred,
            synonyms=synonyms,
            semantic_types=tuple(types.split("|")) if types else (),
            semantic_group=group,
            xrefs={vocab: tuple(codes) for vocab, codes in xrefs.items()},
            source=source,
            is_supplementary=bool(supplementary),
            definition=definition,
        )

    def concept(self, concept_id: str) -> Concept | None:
        """The concept with this ID, else the one whose cross-reference it is (sources in the
        build's priority order: MeSH, then MONDO, DOID, HPO for the open KB)."""
        row = self._row_of(concept_id)
        return None if row is None else self._concept_cache(row)

    def find_by_name(self, name: str) -> list[Concept]:
        """Concepts with this normalised name; preferred-name matches first, then by source."""
        rows = self._query(
            "SELECT concept, MIN(kind) FROM names WHERE norm = ? GROUP BY concept",
            (normalise_name(name),),
        )
        concepts = [(kind, self._concept_cache(row)) for row, kind in rows]
        concepts.sort(key=lambda pair: (pair[0], self._rank(pair[1]), pair[1].concept_id))
        return [concept for _, concept in concepts]

    # -- hierarchy ---------------------------------------------------------------------------

    def _related_rows(self, concept_id: str, sql: str) -> list[Concept]:
        row = self._row_of(concept_id)
        if row is None:
            return []
        concepts = [self._concept_cache(other) for (other,) in self._query(sql, (row,))]
        return sorted(concepts, key=lambda concept: concept.concept_id)

    def parents(self, concept_id: str) -> list[Concept]:
        return self._related_rows(concept_id, "SELECT parent FROM edges WHERE child = ?")

    def children(self, concept_id: str, include_supplementary: bool = False) -> list[Concept]:
        """Direct children; MeSH supplementary records (brand names, mixtures) only on request."""
        children = self._related_rows(concept_id, "SELECT child FROM edges WHERE parent = ?")
        if include_supplementary:
            return children
        return [child for child in children if not child.is_supplementary]

    def _ancestors_of(self, rows: Iterable[int]) -> dict[int, frozenset[int]]:
        """Ancestor sets of many concepts, with one recursive query for those not cached."""
        wanted = set(rows)
        found = {row: self._ancestors[row] for row in wanted if row in self._ancestors}
        missing = sorted(wanted - found.keys())
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            pairs: dict[int, set[int]] = {row: set() for row in chunk}
            for row, ancestor in self._query(
                "WITH RECURSIVE up(start, id) AS ("
                f"SELECT child, parent FROM edges WHERE child IN ({','.join('?' * len(chunk))}) "
                "UNION SELECT up.start, edges.parent FROM edges JOIN up ON edges.child = up.id) "
                "SELECT start, id FROM up",
                tuple(chunk),
            ):
                pairs[row].add(ancestor)
            for row, ancestors in pairs.items():
                found[row] = self._ancestors[row] = frozenset(ancestors)
        return found

    def relatedness(self, first_id: str, second_id: str) -> float:
        """Jaccard overlap of the two concepts' ancestor sets, each including the concept."""
        first, second = self._row_of(first_id), self._row_of(second_id)
        if first is None or second is None:
            return 0.0
        ancestors = self._ancestors_of((first, second))
        first_set, second_set = ancestors[first] | {first}, ancestors[second] | {second}
        return len(first_set & second_set) / len(first_set | second_set)

    def _candidate_rows(self, rows: Iterable[int]) -> list[tuple[int, str, str, str, int]]:
        """(row, preferred name, types, group, is_supplementary) of many concepts at once."""
        wanted = sorted(set(rows))
        found = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found += self._query(
                "SELECT id, preferred_name, semantic_types, semantic_group, is_supplementary "
                f"FROM concepts WHERE id IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
        return found

    def _ranked(
        self,
        row: int,
        candidates: list[tuple[int, str, str, str, int]],
        relation: str,
        limit: int | None,
    ) -> list[RelatedConcept]:
        ancestors = self._ancestors_of([row, *(candidate[0] for candidate in candidates)])
        own = ancestors[row] | {row}
        words = set(normalise_name(self._concept_cache(row).preferred_name).split())
        scored = []
        for other, name, *_ in candidates:
            theirs = ancestors[other] | {other}
            other_words = set(normalise_name(name).split())
            shared_words = len(words & other_words) / max(1, len(words | other_words))
            score = len(own & theirs) / len(own | theirs)
            scored.append((-score, -shared_words, name, other))
        scored.sort()
        chosen = scored if limit is None else scored[:limit]
        return [
            RelatedConcept(self._concept_cache(other), relation, -negative_score)
            for negative_score, _, _, other in chosen
        ]

    def siblings(
        self, concept_id: str, limit: int | None = None, include_supplementary: bool = False
    ) -> list[RelatedConcept]:
        """Other children of the concept's parents, most shared ancestry first; MeSH
        supplementary records only on request."""
        row = self._row_of(concept_id)
        if row is None:
            return []
        rows = self._query(
            "SELECT DISTINCT e2.child FROM edges e1 JOIN edges e2 ON e1.parent = e2.parent "
            "WHERE e1.child = ? AND e2.child != ?",
            (row, row),
        )
        candidates = [
            candidate
            for candidate in self._candidate_rows(other for (other,) in rows)
            if include_supplementary or not candidate[4]
        ]
        return self._ranked(row, candidates, "sibling", limit)

    def equivalents(self, concept_id: str) -> list[Concept]:
        """Concepts in other sources that share a cross-reference with this one (the MONDO and
        DOID nodes of a MeSH disease, say): the same idea under another ID."""
        row = self._row_of(concept_id)
        if row is None:
            return []
        return sorted(
            (self._concept_cache(other) for other in self._equivalent_rows(row)),
            key=lambda concept: (self._rank(concept), concept.concept_id),
        )

    def _equivalent_rows(self, row: int) -> set[int]:
        marks = ",".join("?" * len(IDENTITY_VOCABS))
        rows = self._query(
            "SELECT DISTINCT other.concept FROM xrefs mine JOIN xrefs other "
            "ON mine.vocab = other.vocab AND mine.code = other.code "
            f"WHERE mine.concept = ? AND other.concept != ? AND mine.vocab IN ({marks})",
            (row, row, *IDENTITY_VOCABS),
        )
        return {other for (other,) in rows}

    def related_same_type(
        self,
        concept_id: str,
        limit: int = 10,
        max_distance: int = 3,
        include_supplementary: bool = False,
    ) -> list[RelatedConcept]:
        """Concepts sharing a semantic type, found within `max_distance` is-a steps (up or
        down) and ranked by shared ancestry. Equivalents in other sources are left out: they
        are the same concept under another ID, not a related one."""
        row = self._row_of(concept_id)
        if row is None:
            return []
        concept = self._concept_cache(row)
        types = set(concept.semantic_types)
        excluded = {row} | self._equivalent_rows(row)
        frontier, seen = {row}, {row}
        for _ in range(max_distance):
            if not frontier:
                break
            marks = ",".join("?" * len(frontier))
            neighbours = self._query(
                f"SELECT parent FROM edges WHERE child IN ({marks}) "
                f"UNION SELECT child FROM edges WHERE parent IN ({marks})",
                (*frontier, *frontier),
            )
            frontier = {other for (other,) in neighbours} - seen
            seen |= frontier
        candidates = []
        for candidate in self._candidate_rows(seen - excluded):
            other, _, other_types, other_group, supplementary = candidate
            if supplementary and not include_supplementary:
                continue
            same = (
                types & set(other_types.split("|"))
                if types
                else other_group == concept.semantic_group
            )
            if same:
                candidates.append(candidate)
        return self._ranked(row, candidates, "same_type", limit)

    # -- bulk access for the linker and statistics -----------------------------------------------

    def sample_concepts(self, groups: Iterable[str], count: int, seed: int = 0) -> list[Concept]:
        """Concepts of `groups` (semantic groups or TUIs; no supplementary records) in a
        seeded pseudo-random order.

        The order is a multiplicative hash of the row id, so a seed gives the same sample on
        every machine without reading the whole table.
        """
        scope, parameters = _scope_condition(groups)
        if not parameters or count < 1:
            return []
        rows = self._query(
            f"SELECT id FROM concepts WHERE {scope} AND is_supplementary = 0 "
            "ORDER BY (id * 2654435761 + ?) % 4294967291 LIMIT ?",
            (*parameters, seed, count),
        )
        return [self._concept_cache(row) for (row,) in rows]

    def concept_ids_in(self, groups: Iterable[str]) -> set[str]:
        """IDs of every concept of `groups` (semantic groups or TUIs)."""
        scope, parameters = _scope_condition(groups)
        if not parameters:
            return set()
        return {
            concept_id
            for (concept_id,) in self._query(
                f"SELECT concept_id FROM concepts WHERE {scope}", parameters
            )
        }

    def iter_names(
        self, groups: Iterable[str] | None = None, include_supplementary: bool = True
    ) -> Iterator[tuple[str, str, str]]:
        """(normalised name, concept ID, semantic group) for every shown or matched name,
        optionally within semantic groups (or TUIs) and without MeSH supplementary records."""
        sql = (
            "SELECT names.norm, concepts.concept_id, concepts.semantic_group FROM names "
            "JOIN concepts ON names.concept = concepts.id WHERE 1"
        )
        parameters: tuple[str, ...] = ()
        if groups:
            scope, parameters = _scope_condition(groups, "concepts.")
            sql += f" AND {scope}"
        if not include_supplementary:
            sql += " AND concepts.is_supplementary = 0"
        yield from self._query(sql + " ORDER BY names.rowid", parameters)

    def stats(self) -> dict[str, int]:
        """Counts of concepts (by source, group and semantic type), names, cross-references,
        is-a edges and supplementary records."""
        counts: dict[str, int] = {}
        for table in ("concepts", "names", "xrefs", "edges"):
            counts[table] = self._query(f"SELECT COUNT(*) FROM {table}")[0][0]
        for source, count in self._query("SELECT source, COUNT(*) FROM concepts GROUP BY source"):
            counts[f"source {source}"] = count
        for group, count in self._query(
            "SELECT semantic_group, COUNT(*) FROM concepts GROUP BY semantic_group"
        ):
            counts[f"group {group or '(none)'}"] = count
        by_type: Counter[str] = Counter()
        for types, count in self._query(
            "SELECT semantic_types, COUNT(*) FROM concepts GROUP BY semantic_types"
        ):
            for tui in types.split("|") if types else ["(none)"]:
                by_type[tui] += count
        counts.update({f"type {tui}": count for tui, count in sorted(by_type.items())})
        counts["supplementary"] = self._query(
            "SELECT COUNT(*) FROM concepts WHERE is_supplementary = 1"
        )[0][0]
        return counts

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
