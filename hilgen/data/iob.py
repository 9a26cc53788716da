"""The one implementation of IOB handling: spans <-> IOB2 tags, scheme normalisation, repair."""

from __future__ import annotations

from collections.abc import Sequence

from hilgen.data.span import Span

OUTSIDE = "O"


def spans_to_tags(n_tokens: int, spans: Sequence[Span]) -> list[str]:
    """IOB2 tags for `n_tokens` tokens; overlapping spans are an error (flat NER only)."""
    tags = [OUTSIDE] * n_tokens
    for span in sorted(spans, key=lambda s: s.start):
        if any(tags[i] != OUTSIDE for i in range(span.start, span.end)):
            raise ValueError(f"span {span} overlaps another span")
        tags[span.start] = f"B-{span.label}"
        for i in range(span.start + 1, span.end):
            tags[i] = f"I-{span.label}"
    return tags


def split_tag(tag: str) -> tuple[str, str]:
    """`"B-Disease"` -> `("B", "Disease")`; `"O"` -> `("O", "")`."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, sep, label = tag.partition("-")
    if not sep or prefix not in {"B", "I", "E", "S"} or not label:
        raise ValueError(f"malformed tag {tag!r}: expected O, B-X, I-X, E-X or S-X")
    return prefix, label


def tags_to_spans(tags: Sequence[str]) -> list[Span]:
    """Spans from IOB2 tags, strictly: an I- tag that does not continue a span is dropped.

    This matches seqeval's strict IOB2 mode, so evaluation and training agree on what an
    entity is. Use `normalise_tags` first for IOB1/BIOES input.
    """
    spans: list[Span] = []
    start, label = -1, ""
    for i, tag in enumerate([*tags, OUTSIDE]):
        prefix, tag_label = split_tag(tag)
        continues = prefix == "I" and start >= 0 and tag_label == label
        if continues:
            continue
        if start >= 0:
            spans.append(Span(start, i, label))
            start, label = -1, ""
        if prefix == "B":
            start, label = i, tag_label
    return spans


def normalise_tags(tags: Sequence[str]) -> list[str]:
    """Convert IOB1, IOB2 or BIOES tags to IOB2.

    In IOB1 an entity may start with I-; in BIOES, S- and E- mark single and final tokens.
    A lone I- after O or after another label starts a new entity (the IOB1 reading), which
    is also the lenient repair for IOB2 model output.
    """
    out: list[str] = []
    prev_label = ""
    prev_prefix = OUTSIDE
    for tag in tags:
        prefix, label = split_tag(tag)
        if prefix == OUTSIDE:
            out.append(OUTSIDE)
        elif prefix in {"B", "S"}:
            out.append(f"B-{label}")
        else:  # I or E
            inside = prev_prefix in {"B", "I"} and prev_label == label
            out.append(f"I-{label}" if inside else f"B-{label}")
        prev_prefix = {"S": OUTSIDE, "E": OUTSIDE}.get(prefix, prefix)
        prev_label = label
    return out


def io_tags(tags: Sequence[str]) -> list[str]:
    """IO tags (`O`, `I-X`) from IOB2/IOB1/BIOES tags: the entity boundary is dropped.

    `normalise_tags` reads IO tags back as IOB2: a run of equal `I-X` is one entity."""
    return [OUTSIDE if tag == OUTSIDE else f"I-{split_tag(tag)[1]}" for tag in tags]


def labels_to_tagset(labels: Sequence[str]) -> list[str]:
    """The IOB2 tag vocabulary for a label set, `O` first, then B-/I- per label in order."""
    tagset = [OUTSIDE]
    for label in labels:
        tagset += [f"B-{label}", f"I-{label}"]
    return tagset
