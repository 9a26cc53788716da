"""Where automatic labels go wrong: the commonest error mentions, by kind, over tagged sentences.

Distant labels are judged by one F1 (`generate.py` prints it); improving them needs the errors
behind it, counted the same way every time. Each gold or tagged span that is not matched exactly
falls in one kind:

- `wrong_type`: a tagged span with a gold span of the same extent and another label;
- `boundary`: a tagged span that overlaps a gold span of another extent;
- `spurious`: a tagged span that overlaps no gold span (a false positive proper);
- `missed`: a gold span that no tagged span overlaps (a false negative proper).

Mentions are counted by their lower-cased text and label, so "receptor" tagged 40 times is one
line that says 40. `train.py` saves the table of the whole dev split's predictions
(`full_dev_errors.md`), `generate.py` that of the distant labels (`label_errors.md`); any
predictions file a run wrote can be read again:

    python -m hilgen.evaluate.label_errors outputs/<run>/predictions/full_dev.jsonl --top 40
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hilgen.data.iob import tags_to_spans
from hilgen.data.types import Span, TaggedPrediction
from hilgen.evaluate.prediction_files import read_predictions_jsonl
from hilgen.evaluate.tables import format_table

KINDS = ("spurious", "missed", "wrong_type", "boundary")


@dataclass
class LabelErrors:
    """Error mentions per kind: (text, label as tagged or gold) -> count."""

    by_kind: dict[str, Counter[tuple[str, str]]] = field(
        default_factory=lambda: {kind: Counter() for kind in KINDS}
    )

    def totals(self) -> dict[str, int]:
        return {kind: sum(counter.values()) for kind, counter in self.by_kind.items()}

    def as_metrics(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}_errors/{kind}": float(n) for kind, n in self.totals().items()}


def _text(tokens: Sequence[str], span: Span) -> str:
    return " ".join(tokens[span.start : span.end]).casefold()


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def label_errors(predictions: Sequence[TaggedPrediction]) -> LabelErrors:
    """Count each unmatched span of every sentence in its kind (see the module docstring)."""
    errors = LabelErrors()
    for prediction in predictions:
        gold = tags_to_spans(prediction.gold)
        tagged = tags_to_spans(prediction.predicted)
        gold_set, tagged_set = set(gold), set(tagged)
        for span in tagged:
            if span in gold_set:
                continue
            text = _text(prediction.tokens, span)
            same_extent = [g for g in gold if (g.start, g.end) == (span.start, span.end)]
            if same_extent:
                label = f"{span.label} (gold {same_extent[0].label})"
                errors.by_kind["wrong_type"][text, label] += 1
            elif any(_overlaps(span, g) for g in gold):
                errors.by_kind["boundary"][text, span.label] += 1
            else:
                errors.by_kind["spurious"][text, span.label] += 1
        for span in gold:
            if span not in tagged_set and not any(_overlaps(span, t) for t in tagged):
                errors.by_kind["missed"][_text(prediction.tokens, span), span.label] += 1
    return errors


def errors_table(errors: LabelErrors, top: int) -> str:
    """The `top` commonest mentions of each kind, with each kind's total."""
    rows: list[list[object]] = []
    for kind in KINDS:
        counter = errors.by_kind[kind]
        rows.append([kind, f"(all {sum(counter.values())})", "", ""])
        for (text, label), count in counter.most_common(top):
            rows.append(["", text, label, count])
    return format_table(["kind", "mention", "label", "count"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the error table of a predictions file (`predictions/<split>.jsonl` of a run)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", type=Path, help="a run's predictions/<split>.jsonl")
    parser.add_argument("--top", type=int, default=15, help="mentions shown per kind")
    args = parser.parse_args(argv)
    try:
        predictions = read_predictions_jsonl(args.predictions)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(errors_table(label_errors(predictions), args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
