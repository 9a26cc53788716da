"""DANN tagger: FAISS index kinds against brute force, IO/IOB2 decoding, StructShot transitions,
and tiny real fits through the composed `model=dann` config."""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from hilgen.data.iob import io_tags, normalise_tags, tags_to_spans
from hilgen.data.types import Sentence
from hilgen.evaluate.metrics import score_tags
from hilgen.models.base import TrainingData
from hilgen.models.bert_tagger import (
    BestStateInMemory,
    EarlyStoppingAfterDevSignal,
    collate,
    selection_score,
    supervised_contrastive_loss,
)
from hilgen.models.dann import (
    AbstractTransitions,
    DannTagger,
    NearestNeighbourDecoder,
)
from hilgen.models.dann import tagger as dann_tagger
from hilgen.models.dann.decoder import io_tagset, retyped, typed_by_classifier
from hilgen.models.dann.embedding import eval_mode
from hilgen.models.dann.support import support_vectors, type_prototypes
from hilgen.models.nn_index import NearestNeighbourIndex, import_faiss
from tests.helpers.toy_sentences import DEV, GOLD, SYNTHETIC, sentence

ROOT = Path(__file__).resolve().parents[2]


def clustered_vectors(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Support and query vectors around shared centres (embedding-like, unlike pure noise)."""
    generator = np.random.default_rng(seed)
    centres = generator.standard_normal((20, dim))
    support = centres[generator.integers(0, 20, n)] + 0.5 * generator.standard_normal((n, dim))
    queries = centres[generator.integers(0, 20, 200)] + 0.5 * generator.standard_normal((200, dim))
    return support.astype(np.float32), queries.astype(np.float32)


def brute_force(support: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    s = torch.nn.functional.normalize(torch.from_numpy(support), dim=1)
    q = torch.nn.functional.normalize(torch.from_numpy(queries), dim=1)
    scores, ids = (q @ s.T).topk(k, dim=1)
    return scores.numpy(), ids.numpy()


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("flat", {}),
        ("ivf", {"nlist": 16, "nprobe": 16}),  # every cell probed: exact
        ("hnsw", {"ef_search": 512}),
    ],
)
def test_index_kinds_agree_with_brute_force(kind: str, options: dict[str, int]) -> None:
    support, queries = clustered_vectors(3000, 48, seed=3)
    # scaled rows: the index must normalise, so scores are cosine similarities
    index = NearestNeighbourIndex(support * 7.0, kind=kind, use_gpu=False, **options)
    scores, ids = index.search(queries, k=5)
    expected_scores, expected_ids = brute_force(support, queries, k=5)
    assert len(index) == 3000
    assert scores.shape == ids.shape == (200, 5)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-4)
    assert (ids[:, 0] == expected_ids[:, 0]).mean() >= (1.0 if kind != "hnsw" else 0.98)


def test_ivf_with_few_probes_is_approximate_but_close() -> None:
    support, queries = clustered_vectors(4000, 32, seed=4)
    index = NearestNeighbourIndex(support, kind="ivf", use_gpu=False, nprobe=2)
    assert index.nlist == 4000 // 39  # 4·sqrt(n) cells capped by 39 training points per cell
    scores, _ = index.search(queries, k=1)
    exact, _ = brute_force(support, queries, k=1)
    assert (scores[:, 0] <= exact[:, 0] + 1e-5).all()
    assert np.isclose(scores[:, 0], exact[:, 0], atol=1e-5).mean() > 0.5


def test_search_pads_missing_neighbours_and_checks_input() -> None:
    index = NearestNeighbourIndex(np.eye(3, dtype=np.float32), use_gpu=False)
    scores, ids = index.search(torch.tensor([[1.0, 0.0, 0.0]]), k=5)
    assert ids[0, 0] == 0 and scores[0, 0] == pytest.approx(1.0)
    assert (ids[0, 3:] == -1).all() and np.isneginf(scores[0, 3:]).all()
    with pytest.raises(ValueError, match="dimension 2"):
        index.search(np.ones((1, 2), np.float32))
    with pytest.raises(ValueError, match="unknown index kind"):
        NearestNeighbourIndex(np.eye(3, dtype=np.float32), kind="lsh")
    with pytest.raises(ValueError, match="zero vectors"):
        NearestNeighbourIndex(np.zeros((0, 3), np.float32))


def test_copy_false_normalises_the_callers_array_in_place() -> None:
    vectors = np.array([[3.0, 4.0]], dtype=np.float32)
    NearestNeighbourIndex(vectors, use_gpu=False, copy=False)
    np.testing.assert_allclose(vectors, [[0.6, 0.8]])
    kept = np.array([[3.0, 4.0]], dtype=np.float32)
    NearestNeighbourIndex(kept, use_gpu=False)
    np.testing.assert_allclose(kept, [[3.0, 4.0]])


def test_io_tags_drop_boundaries() -> None:
    tags = ["B-Disease", "I-Disease", "O", "B-Chemical", "B-Disease", "I-Disease"]
    assert io_tags(tags) == ["I-Disease", "I-Disease", "O", "I-Chemical", "I-Disease", "I-Disease"]


LABELS = ["Disease", "Chemical"]
AXES = {"O": 0, "I-Disease": 1, "I-Chemical": 2}


def one_hot_decoder(decoding: str = "nnshot", **options: object) -> NearestNeighbourDecoder:
    support = {tag: np.eye(3, dtype=np.float32)[[axis]] for tag, axis in AXES.items()}
    make_index = functools.partial(NearestNeighbourIndex, use_gpu=False)
    return NearestNeighbourDecoder(LABELS, support, make_index, decoding, **options)  # type: ignore[arg-type]


def test_nnshot_runs_of_equal_labels_become_one_entity() -> None:
    decoder = one_hot_decoder()
    io = ["I-Disease", "I-Disease", "O", "I-Chemical", "I-Disease", "I-Chemical", "I-Chemical"]
    words = np.eye(3, dtype=np.float32)[[AXES[t] for t in io]] + 0.1
    assert decoder.decode_batch([words[:2], words]) == [
        ["B-Disease", "I-Disease"],
        ["B-Disease", "I-Disease", "O", "B-Chemical", "B-Disease", "B-Chemical", "I-Chemical"],
    ]


def test_label_without_support_words_is_never_predicted() -> None:
    support = {"O": np.eye(3, dtype=np.float32)[[0]], "I-Disease": np.eye(3, dtype=np.float32)[[1]]}
    decoder = NearestNeighbourDecoder(
        LABELS, support, functools.partial(NearestNeighbourIndex, use_gpu=False)
    )
    similarities = decoder.similarities(np.eye(3, dtype=np.float32))
    assert torch.isneginf(similarities[:, 2]).all()
    assert decoder.decode(similarities) == ["O", "B-Disease", "O"]
    with pytest.raises(ValueError, match="not IO tags"):
        NearestNeighbourDecoder(LABELS, {"B-Disease": support["O"]}, NearestNeighbourIndex)
    with pytest.raises(ValueError, match="structshot decoding needs transitions"):
        NearestNeighbourDecoder(LABELS, support, NearestNeighbourIndex, "structshot")


def test_outside_margin_keeps_words_only_slightly_closer_to_an_entity_as_o() -> None:
    similarities = torch.tensor([[0.50, 0.55, 0.1], [0.2, 0.9, 0.1]])
    assert one_hot_decoder().decode(similarities) == ["B-Disease", "I-Disease"]
    assert one_hot_decoder(outside_margin=0.1).decode(similarities) == ["O", "B-Disease"]
    assert similarities[0, 0] == 0.50  # the caller's scores are left alone


def test_classifier_weight_mixes_head_probabilities_into_the_neighbours_label_distribution() -> (
    None
):
    # both words lean to Disease by similarity; the head is sure the first is Chemical
    similarities = torch.tensor([[0.1, 0.9, 0.1], [0.1, 0.9, 0.1]])
    head = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])

    def classifier(vectors: torch.Tensor) -> torch.Tensor:
        return head[: len(vectors)]

    def decoder(weight: float) -> NearestNeighbourDecoder:
        return one_hot_decoder(classifier=classifier, classifier_weight=weight)

    assert decoder(0.0).classifier_probabilities(np.zeros((2, 3), np.float32)) is None
    assert decoder(0.0).decode(similarities, None) == ["B-Disease", "I-Disease"]
    assert decoder(1.0).decode(similarities, head) == ["B-Chemical", "B-Disease"]
    # softmax(0.8 / 0.05) puts nearly all the neighbours' mass on Disease: 0.4 of the head's
    # certainty does not overturn it, 0.6 does
    assert decoder(0.4).decode(similarities, head) == ["B-Disease", "I-Disease"]
    assert decoder(0.6).decode(similarities, head) == ["B-Chemical", "B-Disease"]
    stacked = np.stack([np.eye(3, dtype=np.float32)[1]] * 2)
    assert decoder(0.6).decode_batch([stacked[:1], stacked[1:]]) == [["B-Chemical"], ["B-Disease"]]
    with pytest.raises(ValueError, match=r"classifier_weight must be in \[0, 1\]"):
        decoder(1.5)
    with pytest.raises(ValueError, match="needs a fine-tuned classifier head"):
        one_hot_decoder(classifier_weight=0.5)


def test_classifier_typing_keeps_the_neighbours_entity_decision_and_takes_the_heads_type() -> None:
    # word 1: an entity by its neighbours (Disease), the head says Chemical;
    # word 2: O by its neighbours, though the head is sure it is Disease
    similarities = torch.tensor([[0.1, 0.9, 0.1], [0.9, 0.1, 0.1]])
    head = torch.tensor([[0.0, 0.2, 0.8], [0.0, 1.0, 0.0]])

    def classifier(vectors: torch.Tensor) -> torch.Tensor:
        return head[: len(vectors)]

    decoder = one_hot_decoder(classifier=classifier, typing="classifier")
    assert one_hot_decoder().decode(similarities) == ["B-Disease", "O"]
    assert decoder.decode(similarities, head) == ["B-Chemical", "O"]
    # P(O) is the neighbours'; the entity mass is split 0.2 / 0.8 by the head
    scores = typed_by_classifier(torch.log_softmax(similarities / 0.05, dim=-1), head)
    neighbours = torch.softmax(similarities / 0.05, dim=-1)
    torch.testing.assert_close(scores.exp()[:, 0], neighbours[:, 0])
    torch.testing.assert_close(
        scores.exp()[0, 1:], (1 - neighbours[0, 0]) * torch.tensor([0.2, 0.8])
    )
    # a type the head rules out stays finite, so Viterbi has a path
    assert torch.isfinite(scores).all()
    # with one label there is nothing to type: the scores are the neighbours' to the bit
    one_label = torch.log_softmax(similarities[:, :2] / 0.05, dim=-1)
    assert torch.equal(typed_by_classifier(one_label, head[:, :2]), one_label)
    with pytest.raises(ValueError, match="pass its probabilities of the same words"):
        decoder.decode(similarities)  # silently typing by the neighbours would hide a bug
    with pytest.raises(ValueError, match="typing=classifier needs a fine-tuned classifier head"):
        one_hot_decoder(typing="classifier")
    with pytest.raises(ValueError, match="unknown typing"):
        one_hot_decoder(typing="span")


def test_entity_neighbour_typing_keeps_the_gold_entity_decision_and_types_by_all_entity_words() -> (
    None
):
    # word 1: Disease by its gold neighbours, but a synthetic Chemical word is closer still;
    # word 2: O by its gold neighbours, whatever the typing words say
    words = np.array([[0.2, 1.0, 0.9], [1.0, 0.1, 0.3]], dtype=np.float32)
    eye = np.eye(3, dtype=np.float32)
    typing_words = {
        "I-Disease": eye[[1]],
        "I-Chemical": np.stack([eye[2], np.array([0.0, 1.0, 1.0], np.float32)]),
    }
    decoder = one_hot_decoder(typing="entity_neighbours", typing_vectors=typing_words)
    assert one_hot_decoder().decode_batch([words]) == [["B-Disease", "O"]]
    assert decoder.decode_batch([words]) == [["B-Chemical", "O"]]
    similarities = decoder.similarities(words)
    type_similarities = decoder.type_similarities(words)
    assert type_similarities is not None
    assert float(type_similarities[0, 1]) == pytest.approx(1.9 / np.sqrt(2 * 1.85))
    # P(O) is the gold neighbours'; the entity mass is split by the typing words' softmax
    scores = retyped(
        torch.log_softmax(similarities / 0.05, dim=-1),
        torch.log_softmax(type_similarities / 0.05, dim=-1),
    )
    torch.testing.assert_close(scores.exp()[:, 0], torch.softmax(similarities / 0.05, dim=-1)[:, 0])
    with pytest.raises(ValueError, match="pass the words' type_similarities"):
        decoder.decode(similarities)
    with pytest.raises(ValueError, match="needs entity words to type by"):
        one_hot_decoder(typing="entity_neighbours", typing_vectors={"O": eye[[0]]})
    with pytest.raises(ValueError, match="needs entity words to type by"):
        one_hot_decoder(typing="entity_neighbours")


def test_prototype_typing_types_by_the_mean_of_each_types_support_words() -> None:
    # the query is one of Chemical's support words, but Chemical's other word points away:
    # the mean of each type's words, not its single best, decides the type
    eye = np.eye(3, dtype=np.float32)
    chemical = np.array([[0.0, -0.6, 0.8], [0.0, 0.8, 0.6]], np.float32)
    support = {"O": eye[[0]], "I-Disease": eye[[1, 1]], "I-Chemical": chemical}
    prototypes = type_prototypes(support)
    assert set(prototypes) == {"I-Disease", "I-Chemical"}
    np.testing.assert_allclose(prototypes["I-Disease"], eye[[1]])
    np.testing.assert_allclose(prototypes["I-Chemical"], [[0.0, 0.1, 0.7]], atol=1e-6)
    make_index = functools.partial(NearestNeighbourIndex, use_gpu=False)

    def decoder(**options: object) -> NearestNeighbourDecoder:
        copies = {tag: v.copy() for tag, v in support.items()}
        return NearestNeighbourDecoder(LABELS, copies, make_index, "nnshot", **options)  # type: ignore[arg-type]

    query = [np.array([[0.0, 0.8, 0.6], [1.0, 0.0, 0.1]], np.float32)]
    assert decoder().decode_batch(query) == [["B-Chemical", "O"]]
    assert decoder(typing="prototypes", typing_vectors=prototypes).decode_batch(query) == [
        ["B-Disease", "O"]
    ]
    with pytest.raises(ValueError, match="typing=prototypes needs entity words to type by"):
        decoder(typing="prototypes", typing_vectors=type_prototypes({"O": eye[[0]]}))


@pytest.mark.parametrize("decoding", ["nnshot", "structshot"])
def test_entity_neighbour_typing_by_the_support_entity_words_is_nearest_neighbour_typing(
    decoding: str,
) -> None:
    """Without synthetic sentences the typing words are the support's entity words, and the
    retyped scores are the plain ones: `augmenter=none` runs are unchanged by the option."""
    vectors, queries = clustered_vectors(60, 16, seed=5)
    support = {"O": vectors[:30], "I-Disease": vectors[30:45], "I-Chemical": vectors[45:]}
    transitions = AbstractTransitions.estimate([["O", "I-Disease", "O", "I-Chemical"]], 2)
    make_index = functools.partial(NearestNeighbourIndex, use_gpu=False)

    def decoder(**options: object) -> NearestNeighbourDecoder:
        copies = {tag: v.copy() for tag, v in support.items()}
        return NearestNeighbourDecoder(
            LABELS,
            copies,
            make_index,
            decoding,
            transitions=transitions,
            **options,  # type: ignore[arg-type]
        )

    sentences = [queries[start : start + 8] for start in range(0, 200, 8)]
    plain = decoder().decode_batch(sentences)
    typed = decoder(
        typing="entity_neighbours", typing_vectors={t: v.copy() for t, v in support.items()}
    ).decode_batch(sentences)
    assert typed == plain
    assert {tag[2:] for tags in plain for tag in tags} == {"", "Disease", "Chemical"}


def test_abstract_transitions_are_counted_from_io_tags() -> None:
    sequences = [
        ["O", "O", "I-A", "I-A", "O"],  # start O; OO, OI, I-same, IO
        ["I-A", "I-B", "O", "O"],  # start I; I-other, IO, OO
        [],
    ]
    raw = AbstractTransitions.estimate(sequences, n_labels=2, smoothing=0.0)
    assert (raw.start_o, raw.start_i) == (0.5, 0.5)
    assert (raw.o_to_o, raw.o_to_i) == (2 / 3, 1 / 3)
    assert (raw.i_to_o, raw.i_to_same, raw.i_to_other) == (0.5, 0.25, 0.25)
    smoothed = AbstractTransitions.estimate(sequences, n_labels=2, smoothing=1.0)
    assert (smoothed.o_to_o, smoothed.o_to_i) == (3 / 5, 2 / 5)
    assert smoothed.i_to_same == pytest.approx(2 / 7)
    single = AbstractTransitions.estimate([["O", "I-A", "I-A", "O"]], n_labels=1)
    assert single.i_to_other == 0.0
    assert single.i_to_o + single.i_to_same == pytest.approx(1.0)

    transitions, start = raw.log_scores(n_labels=2)
    expected = torch.tensor([[2 / 3, 1 / 6, 1 / 6], [0.5, 0.25, 0.25], [0.5, 0.25, 0.25]]).log()
    torch.testing.assert_close(transitions, expected)
    torch.testing.assert_close(start, torch.tensor([0.5, 0.25, 0.25]).log())
    assert torch.logsumexp(transitions, dim=1).allclose(torch.zeros(3), atol=1e-6)


def test_structshot_transitions_overrule_a_weak_lone_entity_word() -> None:
    # O O x O O where x leans slightly to Disease: NNShot tags it, StructShot's O->O prior wins
    similarities = torch.tensor([[0.9, 0.1, 0.1]] * 5)
    similarities[2] = torch.tensor([0.50, 0.52, 0.1])
    mostly_outside = AbstractTransitions(0.9, 0.1, 0.95, 0.05, 0.5, 0.4, 0.1)
    nnshot = one_hot_decoder()
    structshot = one_hot_decoder("structshot", temperature=0.05, transitions=mostly_outside)
    assert nnshot.decode(similarities) == ["O", "O", "B-Disease", "O", "O"]
    assert structshot.decode(similarities) == ["O"] * 5
    # a clear entity word survives the prior
    similarities[2] = torch.tensor([0.3, 0.9, 0.1])
    assert structshot.decode(similarities) == ["O", "O", "B-Disease", "O", "O"]


def compose_model(
    monkeypatch: pytest.MonkeyPatch, overrides: list[str], model: str = "dann"
) -> DictConfig:
    """The real `model=dann` (or `model=bert`) + CPU trainer config, cut to a few training
    steps."""
    monkeypatch.setenv("HILGEN_ROOT", str(ROOT))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"model={model}",
                "trainer=cpu",
                "trainer.max_epochs=1",
                "trainer.min_epochs=1",
                "trainer.enable_progress_bar=false",
                "model.examples_per_epoch=2",  # one optimisation step
                "model.batch_size=2",
                *(["model.embed_batch_size=2"] if model == "dann" else []),
                *overrides,
            ],
        )


def fitted_tagger(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, overrides: list[str]
) -> tuple[DannTagger, dict[str, object]]:
    cfg = compose_model(monkeypatch, overrides)
    tagger: DannTagger = instantiate(cfg.model, labels=LABELS)
    make_trainer = functools.partial(instantiate, cfg.trainer, default_root_dir=tmp_path)
    summary = tagger.fit(TrainingData(GOLD, SYNTHETIC, DEV), make_trainer)
    return tagger, summary


def test_fine_tuned_dann_selects_on_nearest_neighbour_dev_f1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tagger, summary = fitted_tagger(monkeypatch, tmp_path, ["model.support=all"])
    assert summary["support_sentences"] == 4
    assert summary["support_words"] == sum(len(s.tokens) for s in GOLD + SYNTHETIC)
    # model selection saw exactly the decoder that predict() uses
    dev_f1 = score_tags([s.tags for s in DEV], tagger.predict(DEV)).f1
    assert summary["joint_best_dev_f1"] == pytest.approx(dev_f1)
    curve = tagger.learning_curves["joint_dev_f1"]
    # Lightning hands the callback the dev F1 as a float32 tensor
    assert max(curve) == curve[summary["joint_best_epoch"]]
    assert summary["joint_best_dev_f1"] == pytest.approx(max(curve))
    # every support word is its own nearest neighbour
    assert tagger.predict(GOLD) == [s.tags for s in GOLD]


@pytest.mark.parametrize("average_window", [False, True])
def test_selection_window_keeps_the_epoch_ending_the_best_stretch_of_dev_f1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, average_window: bool
) -> None:
    tagger, summary = fitted_tagger(
        monkeypatch,
        tmp_path,
        [
            "trainer.max_epochs=4",
            "trainer.min_epochs=4",
            "model.early_stopping_patience=10",
            "model.selection_window=2",
            f"model.average_window={average_window}",
        ],
    )
    curve = tagger.learning_curves["joint_dev_f1"]
    assert len(curve) == 4
    means = [(curve[e - 1] + curve[e]) / 2 for e in range(1, 4)]
    # epoch 0 has no full window; ties go to the later epoch
    best = 1 + max(range(3), key=lambda i: (means[i], i))
    assert summary["joint_best_epoch"] == best
    assert summary["joint_best_dev_f1"] == pytest.approx(curve[best])  # float32 in Lightning


# NCBI-Disease 4-type, DANN, seed 1: a 21-mention dev sample scored epoch 0 best.
SPIKY_DEV_F1 = [16.0, 10.0, 12.0, 14.0, 13.0, 15.0]


def replay_dev_f1(best: BestStateInMemory, window: int) -> None:
    """Feed `SPIKY_DEV_F1` to `best` epoch by epoch; the module's weights and integer buffer
    hold the epoch number, so the kept state shows which epochs it came from."""
    module = torch.nn.Embedding(1, 1)
    module.register_buffer("position_ids", torch.tensor([0]))
    for epoch, f1 in enumerate(SPIKY_DEV_F1):
        module.weight.data.fill_(float(epoch))
        module.position_ids.fill_(epoch)
        metrics = {
            "val_f1": f1,
            "val_f1_selection": selection_score(SPIKY_DEV_F1[: epoch + 1], window),
        }
        trainer = SimpleNamespace(
            sanity_checking=False, callback_metrics=metrics, current_epoch=epoch
        )
        best.on_validation_end(trainer, module)  # type: ignore[arg-type]


@pytest.mark.parametrize(("window", "expected_epoch"), [(1, 0), (3, 5)])
def test_a_selection_window_skips_a_lone_early_spike_of_dev_f1(
    window: int, expected_epoch: int
) -> None:
    best = BestStateInMemory(window)
    replay_dev_f1(best, window)
    assert (best.best_epoch, best.best_f1) == (expected_epoch, SPIKY_DEV_F1[expected_epoch])
    assert best.best_state is not None
    assert best.best_state["weight"].item() == expected_epoch


@pytest.mark.parametrize(("average_window", "expected_weight"), [(False, 5.0), (True, 4.0)])
def test_average_window_keeps_the_mean_weights_of_the_chosen_window(
    average_window: bool, expected_weight: float
) -> None:
    """Window 3 chooses epoch 5; averaging keeps the mean of epochs 3-5's weights."""
    best = BestStateInMemory(window=3, average_window=average_window)
    replay_dev_f1(best, 3)
    assert best.best_epoch == 5
    assert best.best_state is not None
    assert best.best_state["weight"].item() == pytest.approx(expected_weight)
    # integer buffers are not averaged: the chosen epoch's own
    assert best.best_state["position_ids"].tolist() == [5]


def test_patience_after_dev_signal_counts_only_from_the_first_score_above_zero() -> None:
    stopping = EarlyStoppingAfterDevSignal("val_f1_selection", mode="max", patience=2)
    scores = [-1.0, 0.0, 0.0, 0.0, 0.0, 30.0, 0.0, 0.0]
    stops = [stopping._evaluate_stopping_criteria(torch.tensor(s))[0] for s in scores]
    # the plain callback would stop at the third 0; this one waits for 30, after which a 0
    # counts like any score that is no better
    assert stops == [False] * 7 + [True]


# A dev sample without a mention scores F1 0 at every epoch, whatever the model predicts.
DEV_WITHOUT_MENTIONS = [sentence("d0", "Patients were seen twice .", [])]


# seqeval averages over no labels (numpy warns); the F1 is still 0
@pytest.mark.filterwarnings("ignore::RuntimeWarning:numpy")
@pytest.mark.parametrize(("after_signal", "epochs_run"), [(False, 2), (True, 4)])
def test_a_dev_sample_that_finds_nothing_chooses_neither_epoch_nor_length(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    after_signal: bool,
    epochs_run: int,
) -> None:
    cfg = compose_model(
        monkeypatch,
        [
            "trainer.max_epochs=4",
            "trainer.min_epochs=1",
            "model.early_stopping_patience=1",
            "model.selection_window=1",
            f"model.patience_after_dev_signal={after_signal}",
        ],
        model="bert",
    )
    tagger = instantiate(cfg.model, labels=LABELS)
    make_trainer = functools.partial(instantiate, cfg.trainer, default_root_dir=tmp_path)
    with caplog.at_level("WARNING"):
        summary = tagger.fit(TrainingData(GOLD, SYNTHETIC, DEV_WITHOUT_MENTIONS), make_trainer)
    assert tagger.learning_curves["joint_dev_f1"] == [0.0] * epochs_run
    assert summary["joint_best_epoch"] == epochs_run - 1  # ties go to the later epoch
    assert "scored F1 0 at every one of" in caplog.text


def test_a_window_longer_than_early_stopping_patience_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = compose_model(
        monkeypatch, ["model.selection_window=4", "model.early_stopping_patience=2"]
    )
    with pytest.raises(InstantiationException, match="early_stopping_patience >= 3"):
        instantiate(cfg.model, labels=LABELS)


@pytest.mark.parametrize(
    ("curve", "window", "expected"),
    [([40.0], 1, 40.0), ([40.0], 3, -1.0), ([40.0, 10.0, 20.0], 3, 70.0 / 3), ([0, 9, 3], 2, 6)],
)
def test_selection_score_is_the_mean_of_a_full_window(
    curve: list[float], window: int, expected: float
) -> None:
    assert selection_score(curve, window) == pytest.approx(expected)


def test_synthetic_entities_support_adds_only_entity_words_of_synthetic_sentences(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tagger, summary = fitted_tagger(
        monkeypatch, tmp_path, ["model.finetune=false", "model.support=synthetic_entities"]
    )
    synthetic_entity_words = sum(tag != "O" for s in SYNTHETIC for tag in s.tags)
    assert synthetic_entity_words == 3
    assert summary["support_sentences"] == len(GOLD) + len(SYNTHETIC)
    assert summary["support_words"] == sum(len(s.tokens) for s in GOLD) + synthetic_entity_words
    # transitions come from whole sentences only: the gold ones
    assert tagger.transitions == AbstractTransitions.estimate(
        [io_tags(s.tags) for s in GOLD], len(LABELS)
    )


def test_raw_encoder_dann_tags_its_support_and_skips_training(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tagger, summary = fitted_tagger(
        monkeypatch, tmp_path, ["model.finetune=false", "model.index.kind=ivf"]
    )
    assert tagger.finetuner is None
    assert set(summary) == {"support_sentences", "support_words", "outside_margin"}
    assert summary["support_sentences"] == len(GOLD)  # the default searches gold words only
    # several search chunks, reassembled in the input order
    monkeypatch.setattr(dann_tagger, "SEARCH_CHUNK_WORDS", 10)
    assert tagger.predict([*GOLD, Sentence("empty", [])]) == [*(s.tags for s in GOLD), []]


def test_outside_margin_is_chosen_by_dev_f1_smallest_on_ties(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tagger, summary = fitted_tagger(
        monkeypatch,
        tmp_path,
        ["model.finetune=false", "model.support=all", "model.outside_margins=[10.0,0.0]"],
    )
    # margin 10 tags nothing (dev F1 0), so margin 0 wins or ties and the tie goes to 0
    assert summary["outside_margin"] == 0.0
    decoder = tagger.decoder
    assert decoder is not None
    # on its own support every word is its own neighbour (dev F1 100 at margin 0, 0 at 10)
    assert tagger.choose_outside_margin(decoder, GOLD) == 0.0
    assert tagger.choose_outside_margin(decoder, []) == 0.0
    decoder.outside_margin = 10.0
    assert tagger.predict(GOLD) == [["O"] * len(s.tokens) for s in GOLD]
    with pytest.raises(Exception, match="outside_margins needs at least one value"):
        instantiate(compose_model(monkeypatch, ["model.outside_margins=[]"]).model, labels=LABELS)


def test_structshot_dann_with_classifier_selection_emits_valid_iob2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tagger, _ = fitted_tagger(
        monkeypatch,
        tmp_path,
        ["model.decoding=structshot", "model.selection=classifier", "model.index.kind=hnsw"],
    )
    assert tagger.transitions is not None
    predicted = tagger.predict(DEV)
    for tags, dev in zip(predicted, DEV, strict=True):
        assert len(tags) == len(dev.tokens)
        assert all(tag == "O" or tag[2:] in LABELS for tag in tags)
        # valid IOB2: the strict reading keeps every predicted I- tag
        covered = sum(span.end - span.start for span in tags_to_spans(tags))
        assert covered == sum(tag != "O" for tag in tags)


def test_dann_with_classifier_weight_one_tags_like_its_fine_tuned_head(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tagger, summary = fitted_tagger(
        monkeypatch, tmp_path, ["model.classifier_weight=1.0", "model.decoding=nnshot"]
    )
    module = tagger.finetuner.module  # type: ignore[union-attr]
    probabilities = tagger.head_io_probabilities(torch.randn(4, module.encoder.hidden_size))
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(4))
    # NNShot keeps each word's best IO label by the head (no dropout): B-X and I-X summed
    module.eval()
    with torch.inference_mode():
        log_probs = module.word_log_probs([s.tokens for s in DEV])
    expected = []
    for sentence_log_probs in log_probs:
        by_label = {
            tag: sentence_log_probs[:, [io == tag for io in io_tags(module.tagset)]].exp().sum(1)
            for tag in ["O", "I-Disease", "I-Chemical"]
        }
        best = torch.stack(list(by_label.values()), dim=1).argmax(dim=1).tolist()
        expected.append(normalise_tags([list(by_label)[i] for i in best]))
    assert tagger.predict(DEV) == expected
    assert summary["joint_best_dev_f1"] == pytest.approx(
        score_tags([s.tags for s in DEV], expected).f1
    )
    with pytest.raises(Exception, match="classifier_weight > 0 needs model.finetune=true"):
        instantiate(
            compose_model(
                monkeypatch, ["model.finetune=false", "model.classifier_weight=0.5"]
            ).model,
            labels=LABELS,
        )


def test_structshot_dann_typed_by_its_head_was_selected_with_that_decoder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tagger, summary = fitted_tagger(
        monkeypatch, tmp_path, ["model.decoding=structshot", "model.typing=classifier"]
    )
    assert tagger.uses_head
    typed = tagger.predict(DEV)
    # the epoch was chosen with the decoder that tags at test time
    assert summary["joint_best_dev_f1"] == pytest.approx(
        score_tags([s.tags for s in DEV], typed).f1
    )
    for tags in typed:
        covered = sum(span.end - span.start for span in tags_to_spans(tags))
        assert covered == sum(tag != "O" for tag in tags)  # valid IOB2
    # predict hands the head's probabilities to the typing: with O ruled out (every word an
    # entity) a head sure of Chemical makes every word Chemical
    assert tagger.decoder is not None
    tagset = io_tagset(LABELS)
    chemical = torch.tensor([[0.0 if tag != "I-Chemical" else 1.0 for tag in tagset]])
    tagger.decoder.classifier = lambda vectors: chemical.expand(len(vectors), -1)
    tagger.decoder.outside_margin = -10.0
    labels = {tag[2:] for tags in tagger.predict(DEV) for tag in tags}
    assert labels == {"Chemical"}
    with pytest.raises(Exception, match="typing=classifier needs model.finetune=true"):
        instantiate(
            compose_model(monkeypatch, ["model.finetune=false", "model.typing=classifier"]).model,
            labels=LABELS,
        )


@pytest.mark.parametrize("support", ["gold", "all"])
def test_dann_typed_by_entity_neighbours_searches_gold_and_synthetic_entity_words(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, support: str
) -> None:
    tagger, summary = fitted_tagger(
        monkeypatch,
        tmp_path,
        ["model.decoding=structshot", "model.typing=entity_neighbours", f"model.support={support}"],
    )
    # only the synthetic sentences the support leaves out are embedded a second time
    assert tagger.support_set.typing_sentences == (SYNTHETIC if support == "gold" else [])
    assert tagger.decoder is not None and tagger.decoder.typing_indices is not None
    entity_words = Counter(
        tag for s in [*GOLD, *SYNTHETIC] for tag in io_tags(s.tags) if tag != "O"
    )
    assert {t: len(i) for t, i in tagger.decoder.typing_indices.items()} == entity_words
    # the support (gold only by default) still decides entity or O
    support_sentences = GOLD if support == "gold" else [*GOLD, *SYNTHETIC]
    assert summary["support_words"] == sum(len(s.tokens) for s in support_sentences)
    # the epoch was chosen with the decoder that tags at test time
    assert summary["joint_best_dev_f1"] == pytest.approx(
        score_tags([s.tags for s in DEV], tagger.predict(DEV)).f1
    )


@pytest.mark.parametrize("typing", ["prototypes", "entity_prototypes"])
def test_prototype_typings_search_the_mean_of_their_entity_words(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, typing: str
) -> None:
    cfg = compose_model(monkeypatch, ["model.finetune=false", f"model.typing={typing}"])
    tagger: DannTagger = instantiate(cfg.model, labels=LABELS)
    make_trainer = functools.partial(instantiate, cfg.trainer, default_root_dir=tmp_path)
    tagger.fit(TrainingData(GOLD, SYNTHETIC, DEV), make_trainer)
    # prototypes: the gold support's entity words; entity_prototypes: the synthetic ones too
    assert tagger.support_set.typing_sentences == ([] if typing == "prototypes" else SYNTHETIC)
    assert tagger.decoder is not None and tagger.decoder.typing_indices is not None
    indices = tagger.decoder.typing_indices
    assert {tag: len(index) for tag, index in indices.items()} == {"I-Disease": 1, "I-Chemical": 1}
    words = {"prototypes": GOLD, "entity_prototypes": [*GOLD, *SYNTHETIC]}
    with eval_mode(tagger.encoder, torch.device("cpu")):
        prototypes = {
            name: type_prototypes(support_vectors(tagger.encoder, sentences, 2))
            for name, sentences in words.items()
        }
    for name, expected in prototypes.items():
        for tag, prototype in expected.items():
            best, _ = indices[tag].search(prototype, k=1)
            assert (float(best[0, 0]) == pytest.approx(1.0, abs=1e-5)) == (name == typing)
    assert all(len(tags) == len(s.tokens) for tags, s in zip(tagger.predict(DEV), DEV, strict=True))


def test_entity_neighbour_typing_without_synthetic_sentences_tags_as_nearest_neighbour_typing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def raw_tagger_tags(typing: str) -> list[list[str]]:
        # a negative O margin makes the raw encoder tag words of both types
        overrides = ["model.finetune=false", "model.outside_margins=[-0.1]"]
        cfg = compose_model(monkeypatch, [*overrides, f"model.typing={typing}"])
        tagger: DannTagger = instantiate(cfg.model, labels=LABELS)
        make_trainer = functools.partial(instantiate, cfg.trainer, default_root_dir=tmp_path)
        tagger.fit(TrainingData(GOLD, [], DEV), make_trainer)
        return tagger.predict([*DEV, *SYNTHETIC])

    tags = raw_tagger_tags("nearest_neighbour")
    assert {tag[2:] for sentence in tags for tag in sentence} == {"", "Disease", "Chemical"}
    assert raw_tagger_tags("entity_neighbours") == tags


def test_bad_options_and_unfitted_predict_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Exception, match="model.decoding must be one of"):
        instantiate(compose_model(monkeypatch, ["model.decoding=crf"]).model, labels=LABELS)
    tagger = instantiate(compose_model(monkeypatch, ["model.finetune=false"]).model, labels=LABELS)
    with pytest.raises(RuntimeError, match="call fit"):
        tagger.predict(DEV)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_flat_index_runs_on_the_gpu_with_faiss_gpu() -> None:
    if import_faiss().get_num_gpus() == 0:
        pytest.skip("faiss-gpu is not installed")
    support, queries = clustered_vectors(3000, 48, seed=5)
    index = NearestNeighbourIndex(support, kind="flat", use_gpu=True)
    assert index.on_gpu
    scores, _ = index.search(queries, k=3)
    np.testing.assert_allclose(scores, brute_force(support, queries, k=3)[0], atol=1e-4)


def test_unknown_support_set_is_refused() -> None:
    with pytest.raises(ValueError, match="model.support must be one of"):
        DannTagger(["Disease"], encoder=None, optimizer=None, index=None, support="some")  # type: ignore[arg-type]


def test_contrastive_loss_is_low_when_words_cluster_by_label() -> None:
    vectors = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    clustered = supervised_contrastive_loss(vectors, torch.tensor([0, 0, 1, 1]), 0.1)
    crossed = supervised_contrastive_loss(vectors, torch.tensor([0, 1, 0, 1]), 0.1)
    assert clustered < 0.01 < 5.0 < crossed
    # a word alone with its label is no anchor; with no anchor at all the loss is 0
    assert supervised_contrastive_loss(vectors[:3], torch.tensor([0, 1, 2]), 0.1) == 0.0


def test_contrastive_loss_weights_each_anchor_like_its_sentence() -> None:
    """A synthetic sentence's words count `synthetic_weight` times, as in the token loss."""
    vectors = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = torch.tensor([0, 1, 0, 1])
    plain = float(supervised_contrastive_loss(vectors, labels, 0.1))
    assert plain > 0
    weighted = [
        float(supervised_contrastive_loss(vectors, labels, 0.1, weights))
        for weights in (torch.ones(4), torch.full((4,), 0.5), *torch.eye(4))
    ]
    ones, halves, *each_word = weighted
    assert ones == pytest.approx(plain)
    assert halves == pytest.approx(0.5 * plain)
    # one word weighted 1, the others 0: that word's own term over the 4 anchors
    assert sum(each_word) == pytest.approx(plain)
    assert len(set(round(term, 6) for term in each_word)) > 1


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_dann_training_loss_adds_the_weighted_contrastive_loss_over_io_labels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`model.contrastive_weight` reaches the module DANN fine-tunes, over IO labels."""
    modules = []
    for weight in (0.0, 0.5):
        cfg = compose_model(
            monkeypatch, ["model.dropout=0.0", f"model.contrastive_weight={weight}"]
        )
        tagger: DannTagger = instantiate(cfg.model, labels=LABELS)
        assert tagger.finetuner is not None
        modules.append(tagger.finetuner.module)
    plain, weighted = modules
    weighted.encoder, weighted.classifier = plain.encoder, plain.classifier
    plain.encoder.eval()  # no dropout inside the encoder: both modules see the same vectors
    batch = collate(tagger.finetuner.examples(GOLD))
    with torch.no_grad():
        vectors = torch.cat(plain.word_vectors(batch.tokens))
        # B-Disease and I-Disease are one label for the nearest-neighbour decoder
        io_labels = [tag for s in GOLD for tag in io_tags(s.tags)]
        ids = {label: i for i, label in enumerate(dict.fromkeys(io_labels))}
        expected = supervised_contrastive_loss(
            vectors, torch.tensor([ids[label] for label in io_labels]), 0.1
        )
        difference = weighted.training_step(batch, 0) - plain.training_step(batch, 0)
        # synthetic sentences (weight 0.5 here) count that much in the contrastive term too
        halved = dataclasses.replace(batch, weights=torch.full_like(batch.weights, 0.5))
        halved_difference = weighted.training_step(halved, 0) - plain.training_step(halved, 0)
    assert expected > 0
    assert difference == pytest.approx(0.5 * float(expected), rel=1e-4)
    assert halved_difference == pytest.approx(0.25 * float(expected), rel=1e-4)
