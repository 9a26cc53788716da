"""Reading and writing prediction files (JSONL for machines, CoNLL for people and conlleval)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from hilgen.data.types import TaggedPrediction
from hilgen.io import atomic_write_text


def write_predictions_jsonl(path: Path, predictions: Iterable[TaggedPrediction]) -> None:
    lines = (
        json.dumps(
            {
                "sentence_id": p.sentence_id,
                "tokens": p.tokens,
                "gold": p.gold,
                "predicted": p.predicted,
            },
            ensure_ascii=False,
        )
        for p in predictions
    )
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def write_predictions_conll(path: Path, predictions: Iterable[TaggedPrediction]) -> None:
    """`token gold predicted` per line, a blank line between sentences (conlleval's layout)."""
    blocks = (
        "".join(f"{t}\t{g}\t{p}\n" for t, g, p in zip(x.tokens, x.gold, x.predicted, strict=True))
        for x in predictions
    )
    atomic_write_text(path, "\n".join(blocks))


def read_predictions_jsonl(path: Path) -> list[TaggedPrediction]:
    predictions: list[TaggedPrediction] = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                prediction = TaggedPrediction(
                    record["sentence_id"], record["tokens"], record["gold"], record["predicted"]
                )
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(
                    f"{path}:{line_number}: expected a JSON object with sentence_id, tokens, "
                    f"gold and predicted ({error})"
                ) from error
            if not len(prediction.tokens) == len(prediction.gold) == len(prediction.predicted):
                raise ValueError(
                    f"{path}:{line_number}: tokens, gold and predicted differ in length"
                )
            predictions.append(prediction)
    return predictions
