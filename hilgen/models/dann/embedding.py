"""Word vectors of many sentences from an encoder, batched shortest first, without dropout."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from tqdm import tqdm

from hilgen.models.encoder import WordEncoder


@contextmanager
def eval_mode(encoder: WordEncoder, device: torch.device) -> Iterator[WordEncoder]:
    """The encoder on `device` without dropout; its train/eval mode is restored afterwards."""
    was_training = encoder.training
    encoder.to(device).eval()
    try:
        yield encoder
    finally:
        encoder.train(was_training)


def embed_words(
    encoder: WordEncoder,
    sentences: Sequence[Sequence[str]],
    batch_size: int,
    description: str,
) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """(sentence indices, [n_words, hidden] float32 vectors) per batch, fewest sub-tokens
    first so that batches pad little. The caller chooses device and mode (`eval_mode`)."""
    empty = [i for i, words in enumerate(sentences) if not words]
    if empty:
        yield empty, [np.zeros((0, encoder.hidden_size), np.float32) for _ in empty]
    lengths = encoder.subtoken_counts(sentences)
    order = sorted((i for i, words in enumerate(sentences) if words), key=lengths.__getitem__)
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc=description, unit="batch", leave=False, disable=None):
        words = [sentences[i] for i in batch]
        with torch.inference_mode():
            vectors = encoder.word_vectors(encoder.windows(words), [len(w) for w in words])
        yield batch, [v.to("cpu", torch.float32).numpy() for v in vectors]
