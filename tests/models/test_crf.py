"""The CRF head (`model.head=crf`): its likelihood and decoding against brute force over every
tag path, what it learns, and a tiny real fit through the composed `model=bert` config."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from hypothesis import given, settings
from hypothesis import strategies as st

from hilgen.models.base import TrainingData
from hilgen.models.bert_tagger import BertTagger, TokenClassifierModule, collate
from hilgen.models.crf import LinearChainCRF
from tests.helpers.iob import is_valid_iob2
from tests.models.test_dann import DEV, GOLD, LABELS, SYNTHETIC, compose_model

TAGSET = ["O", "B-A", "I-A", "B-B", "I-B"]


def random_crf(seed: int) -> LinearChainCRF:
    crf = LinearChainCRF(TAGSET)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return crf


def path_score(crf: LinearChainCRF, emissions: torch.Tensor, path: tuple[int, ...]) -> torch.Tensor:
    transitions, start, end = crf.constrained_scores()
    score = start[path[0]] + end[path[-1]] + sum(emissions[t, tag] for t, tag in enumerate(path))
    return score + sum(transitions[a, b] for a, b in itertools.pairwise(path))


def all_paths(n_words: int) -> list[tuple[int, ...]]:
    return list(itertools.product(range(len(TAGSET)), repeat=n_words))


@pytest.mark.parametrize("n_words", [1, 2, 4])
def test_log_likelihood_is_the_path_score_normalised_over_every_path(n_words: int) -> None:
    crf = random_crf(n_words)
    emissions = torch.randn(n_words, len(TAGSET), generator=torch.Generator().manual_seed(7))
    scores = torch.stack([path_score(crf, emissions, p) for p in all_paths(n_words)])
    gold = (1, 2, 0, 3)[:n_words]
    expected = path_score(crf, emissions, gold) - torch.logsumexp(scores, dim=0)
    (likelihood,) = crf.log_likelihood([emissions], [torch.tensor(gold)])
    assert likelihood.item() == pytest.approx(expected.item(), abs=1e-4)


def test_padded_batch_scores_each_sentence_as_alone_and_an_empty_one_as_zero() -> None:
    crf = random_crf(3)
    generator = torch.Generator().manual_seed(3)
    emissions = [torch.randn(n, len(TAGSET), generator=generator) for n in (3, 1, 0, 5)]
    tags = [torch.tensor(t, dtype=torch.long) for t in ([0, 1, 2], [3], [], [1, 2, 2, 0, 3])]
    batch = crf.log_likelihood(emissions, tags)
    alone = [crf.log_likelihood([e], [t]) for e, t in zip(emissions, tags, strict=True)]
    assert batch[2].item() == 0.0
    assert torch.allclose(batch, torch.cat(alone), atol=1e-5)
    assert (batch[[0, 1, 3]] < 0).all()  # log-probabilities of one path among many


def test_mismatched_emissions_and_tags_are_refused() -> None:
    with pytest.raises(ValueError, match="2 emission matrices for 1 tag sequences"):
        random_crf(0).log_likelihood([torch.zeros(1, 5)] * 2, [torch.tensor([0])])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(0, 10_000))
def test_decode_is_the_best_path_and_valid_iob2(n_words: int, seed: int) -> None:
    crf = random_crf(seed)
    emissions = torch.randn(n_words, len(TAGSET), generator=torch.Generator().manual_seed(seed))
    best = max(all_paths(n_words), key=lambda p: path_score(crf, emissions, p).item())
    path = crf.decode(emissions)
    assert tuple(path) == best
    assert is_valid_iob2([TAGSET[i] for i in path])


def test_trained_transitions_decide_where_the_word_scores_do_not() -> None:
    """With uninformative word scores, the path is what the transitions learnt: every training
    sentence opens with an A mention of two words and ends with O."""
    crf = LinearChainCRF(TAGSET)
    tags = torch.tensor([1, 2, 0, 0])
    flat = torch.zeros(4, len(TAGSET))
    assert crf.decode(flat) != tags.tolist()
    optimiser = torch.optim.Adam(crf.parameters(), lr=0.1)
    for _ in range(50):
        optimiser.zero_grad()
        (-crf.log_likelihood([flat], [tags]).sum()).backward()
        optimiser.step()
    assert crf.decode(flat) == tags.tolist()


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_crf_head_trains_on_the_sequence_likelihood_with_its_own_learning_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = compose_model(monkeypatch, ["model.head=crf", "model.dropout=0.0"], model="bert")
    tagger: BertTagger = instantiate(cfg.model, labels=LABELS)
    module = tagger.module
    assert module.crf is not None
    groups = module.configure_optimizers().param_groups
    assert [g["lr"] for g in groups] == [cfg.model.optimizer.lr, cfg.model.crf_lr]
    assert groups[1]["params"] == list(module.crf.parameters())
    module.encoder.eval()
    batch = collate(tagger.examples(GOLD))
    with torch.no_grad():
        likelihoods = module.crf.log_likelihood(module.word_log_probs(batch.tokens), batch.tag_ids)
        loss = module.training_step(batch, 0)
    n_words = sum(len(s.tokens) for s in GOLD)
    assert loss.item() == pytest.approx(-likelihoods.sum().item() / n_words, rel=1e-5)


def test_bad_heads_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = compose_model(monkeypatch, [], model="bert")
    encoder = instantiate(cfg.model.encoder)
    optimizer = instantiate(cfg.model.optimizer)
    tagset = ["O", "B-A", "I-A"]
    with pytest.raises(ValueError, match="model.head must be one of"):
        TokenClassifierModule(encoder(), tagset, optimizer, head="softmax")
    with pytest.raises(ValueError, match="set model.decoding=viterbi"):
        TokenClassifierModule(encoder(), tagset, optimizer, head="crf", decoding="argmax")
    with pytest.raises(ValueError, match="model.crf_lr must be > 0"):
        TokenClassifierModule(encoder(), tagset, optimizer, head="crf", crf_lr=0.0)


@pytest.mark.parametrize("model_name", ["bert", "dann"])
def test_tiny_fit_with_a_crf_head_tags_valid_iob2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_name: str
) -> None:
    cfg = compose_model(monkeypatch, ["model.head=crf", "model.selection_window=1"], model_name)
    tagger = instantiate(cfg.model, labels=LABELS)
    module = tagger.module if model_name == "bert" else tagger.finetuner.module
    before = module.crf.transitions.detach().clone()
    make_trainer = functools.partial(instantiate, cfg.trainer, default_root_dir=tmp_path)
    tagger.fit(TrainingData(GOLD, SYNTHETIC, DEV), make_trainer)
    # DANN fine-tunes through its nearest-neighbour-selected module, which keeps the CRF
    assert not torch.equal(module.crf.transitions.detach(), before)
    predicted = tagger.predict(DEV)
    assert [len(tags) for tags in predicted] == [len(s.tokens) for s in DEV]
    assert all(is_valid_iob2(tags) for tags in predicted)
