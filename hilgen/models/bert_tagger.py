"""Fine-tuned transformer token classifier (the paper's BERT model) as a Lightning module.

Words are labelled on their first sub-token; decoding enforces valid IOB2 (Viterbi), and a CRF
head (`head=crf`) learns the tag transitions too. Synthetic sentences can be down-weighted in
the loss, and training can end with gold-only epochs, so the few real sentences keep the last
word.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback, EarlyStopping
from torch import nn
from torch.utils.data import DataLoader, RandomSampler

from hilgen.data.iob import io_tags, labels_to_tagset
from hilgen.data.types import Sentence
from hilgen.evaluate.metrics import score_tags
from hilgen.models.base import Tagger, TrainerFactory, TrainingData
from hilgen.models.crf import LinearChainCRF
from hilgen.models.decoding import IOB2Decoder
from hilgen.models.encoder import WordEncoder

log = logging.getLogger(__name__)

# The layer over the word vectors: a linear layer scoring each word alone (decoded by
# constrained Viterbi), or that layer plus a linear-chain CRF trained on whole tag sequences.
HEADS = ("linear", "crf")
# Tags dev sentences from the encoder and each sentence's [n_words, hidden] float32 word vectors:
# a validation decoder other than the linear head (DANN's nearest-neighbour decoder).
DevDecoder = Callable[[WordEncoder, Sequence[np.ndarray]], list[list[str]]]


@dataclass
class TaggingExample:
    tokens: list[str]
    tag_ids: list[int]
    weight: float = 1.0


@dataclass
class TaggingBatch:
    tokens: list[list[str]]
    tag_ids: list[torch.Tensor]
    weights: torch.Tensor


def selection_score(dev_f1_per_epoch: Sequence[float], window: int) -> float:
    """The mean dev F1 of the last `window` epochs; -1 until that many epochs have run."""
    if len(dev_f1_per_epoch) < window:
        return -1.0
    return sum(dev_f1_per_epoch[-window:]) / window


def supervised_contrastive_loss(
    vectors: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    word_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020) over the word vectors of a batch: each
    word is pulled toward the other words of its label and pushed from the rest, by cosine
    similarity. That is the geometry a nearest-neighbour decoder searches; a linear head only
    needs the labels to be separable. Words with no other word of their label in the batch are
    not anchors; 0 when no word has one. `word_weights` scale each anchor's term, as the
    token loss scales a synthetic sentence's words by `synthetic_weight` (the mean over the
    anchors is kept, so weights of 1 change nothing)."""
    unit = nn.functional.normalize(vectors, dim=-1)
    self_pairs = torch.eye(len(unit), dtype=torch.bool, device=unit.device)
    logits = (unit @ unit.T / temperature).masked_fill(self_pairs, -math.inf)
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_pairs
    anchors = positives.any(dim=1)
    if not anchors.any():
        return vectors.new_zeros(())
    positive_log_probs = log_probs.masked_fill(~positives, 0.0).sum(dim=1)
    per_anchor = -(positive_log_probs[anchors] / positives.sum(dim=1)[anchors])
    if word_weights is not None:
        per_anchor = per_anchor * word_weights.to(per_anchor)[anchors]
    return per_anchor.mean()


def collate(examples: Sequence[TaggingExample]) -> TaggingBatch:
    return TaggingBatch(
        tokens=[e.tokens for e in examples],
        tag_ids=[torch.tensor(e.tag_ids, dtype=torch.long) for e in examples],
        weights=torch.tensor([e.weight for e in examples], dtype=torch.float),
    )


class TokenClassifierModule(LightningModule):
    """Encoder + dropout + linear layer over word vectors (+ a CRF with `head="crf"`, whose
    transition scores train at `crf_lr`: from zero, the encoder's learning rate would barely
    move them in a few hundred steps); logs dev F1 (`val_f1`) each epoch and the score that
    selects the epoch (`val_f1_selection`, see `log_dev_f1`). With a
    `contrastive_weight`, the loss adds that times `supervised_contrastive_loss` over the
    batch's word vectors with IO labels (B-X and I-X alike, as the nearest-neighbour decoder
    sees them). With a `dev_decoder`, dev F1 is that decoder's over the dev word vectors
    instead of the head's, so that epoch selection judges the encoder the way it is used."""

    def __init__(
        self,
        encoder: WordEncoder,
        tagset: list[str],
        optimizer: Callable[..., torch.optim.Optimizer],
        dropout: float = 0.1,
        decoding: str = "viterbi",
        selection_window: int = 1,
        contrastive_weight: float = 0.0,
        contrastive_temperature: float = 0.1,
        head: str = "linear",
        crf_lr: float = 1e-2,
        dev_decoder: DevDecoder | None = None,
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"model.head must be one of {HEADS}, got {head!r}")
        if head == "crf" and decoding != "viterbi":
            raise ValueError("model.head=crf decodes by Viterbi: set model.decoding=viterbi")
        if crf_lr <= 0:
            raise ValueError(f"model.crf_lr must be > 0, got {crf_lr}")
        self.head = head
        self.crf_lr = crf_lr
        self.crf = LinearChainCRF(tagset) if head == "crf" else None
        if contrastive_temperature <= 0:
            raise ValueError(
                f"model.contrastive_temperature must be > 0, got {contrastive_temperature}"
            )
        self.contrastive_weight = contrastive_weight
        self.contrastive_temperature = contrastive_temperature
        if selection_window < 1:
            raise ValueError(f"model.selection_window must be >= 1, got {selection_window}")
        self.selection_window = selection_window
        self.dev_f1_per_epoch: list[float] = []
        self.encoder = encoder
        self.tagset = tagset
        self.make_optimizer = optimizer
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.hidden_size, len(tagset))
        # the linear head's decoder; a CRF decodes with its own learnt scores
        self.decoder = IOB2Decoder(tagset, decoding) if self.crf is None else None
        io_index = {tag: i for i, tag in enumerate(self.io_tagset)}
        self.register_buffer(
            "io_label_of_tag",
            torch.tensor([io_index[t] for t in io_tags(tagset)]),
            persistent=False,
        )
        self.dev_decoder = dev_decoder
        self._dev_gold: list[list[str]] = []
        self._dev_pred: list[list[str]] = []
        self._dev_vectors: list[np.ndarray] = []

    def word_vectors(self, tokens: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        return self.encoder.word_vectors(self.encoder.windows(tokens), [len(t) for t in tokens])

    def log_probs(self, vectors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.log_softmax(self.classifier(self.dropout(v)), dim=-1) for v in vectors]

    def word_log_probs(self, tokens: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        return self.log_probs(self.word_vectors(tokens))

    @property
    def io_tagset(self) -> list[str]:
        """The IO tags (B-X and I-X merged into I-X), in the order of `io_label_of_tag`."""
        return list(dict.fromkeys(io_tags(self.tagset)))

    def io_probabilities(self, vectors: torch.Tensor) -> torch.Tensor:
        """[n_words, n_io_tags] head probabilities of [n_words, hidden] word vectors, B-X and
        I-X summed (`io_tagset` order), without dropout: what the nearest-neighbour decoder can
        mix in."""
        probabilities = torch.softmax(self.classifier(vectors), dim=-1)
        merged = probabilities.new_zeros((len(vectors), len(self.io_tagset)))
        return merged.index_add_(1, self.io_label_of_tag, probabilities)

    def decode(self, log_probs: torch.Tensor) -> list[str]:
        """IOB2 tags for one sentence's [n_words, n_tags] word log-probabilities."""
        if self.decoder is not None:
            return self.decoder.decode(log_probs)
        assert self.crf is not None  # the one head without an IOB2Decoder
        return [self.tagset[i] for i in self.crf.decode(log_probs)]

    def sentence_losses(
        self, log_probs: Sequence[torch.Tensor], tag_ids: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """[n_sentences] summed loss of each sentence: its words' negative log-likelihoods, or
        with a CRF the negative log-likelihood of its whole tag sequence."""
        if self.crf is not None:
            return -self.crf.log_likelihood(log_probs, tag_ids)
        return torch.stack(
            [
                nn.functional.nll_loss(lp, tags.to(lp.device), reduction="sum")
                for lp, tags in zip(log_probs, tag_ids, strict=True)
            ]
        )

    def training_step(self, batch: TaggingBatch, batch_idx: int) -> torch.Tensor:
        vectors = self.word_vectors(batch.tokens)
        losses = self.sentence_losses(self.log_probs(vectors), batch.tag_ids)
        weights = batch.weights.to(losses.device)
        n_words = sum(len(t) for t in batch.tokens)
        loss = (losses * weights).sum() / max(n_words, 1)
        if self.contrastive_weight:
            tag_ids = torch.cat(batch.tag_ids).to(self.io_label_of_tag.device)
            words_per_sentence = torch.tensor([len(t) for t in batch.tag_ids])
            contrastive = supervised_contrastive_loss(
                torch.cat(vectors),
                self.io_label_of_tag[tag_ids],
                self.contrastive_temperature,
                torch.repeat_interleave(batch.weights, words_per_sentence),
            )
            self.log("train_contrastive_loss", contrastive, batch_size=len(batch.tokens))
            loss = loss + self.contrastive_weight * contrastive
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch.tokens))
        return loss

    def validation_step(self, batch: TaggingBatch, batch_idx: int) -> None:
        if self.dev_decoder is not None:
            vectors = self.word_vectors(batch.tokens)
            self._dev_vectors += [v.to("cpu", torch.float32).numpy() for v in vectors]
            self._dev_gold += [[self.tagset[i] for i in tags.tolist()] for tags in batch.tag_ids]
            return
        for lp, tags in zip(self.word_log_probs(batch.tokens), batch.tag_ids, strict=True):
            self._dev_pred.append(self.decode(lp))
            self._dev_gold.append([self.tagset[i] for i in tags.tolist()])

    def on_fit_start(self) -> None:
        self.dev_f1_per_epoch = []

    def log_dev_f1(self, f1: float) -> None:
        """Log `val_f1` and `val_f1_selection`, the mean dev F1 of this epoch and the
        `selection_window - 1` before it (-1 until that many epochs have run). A K-shot dev
        sample holds 5-27 mentions, so one epoch's F1 can spike by chance (often early, when
        the encoder is still close to its pre-trained state); a window picks an epoch at the
        end of a good stretch instead."""
        self.dev_f1_per_epoch.append(f1)
        self.log("val_f1", f1, prog_bar=True)
        self.log("val_f1_selection", selection_score(self.dev_f1_per_epoch, self.selection_window))

    def on_validation_epoch_end(self) -> None:
        if self._dev_gold:
            predicted = (
                self._dev_pred
                if self.dev_decoder is None
                else self.dev_decoder(self.encoder, self._dev_vectors)
            )
            self.log_dev_f1(score_tags(self._dev_gold, predicted).f1)
        self._dev_gold, self._dev_pred, self._dev_vectors = [], [], []

    def predict_step(self, batch: TaggingBatch, batch_idx: int) -> list[list[str]]:
        return [self.decode(lp) for lp in self.word_log_probs(batch.tokens)]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.crf is None:
            return self.make_optimizer(params=self.parameters())
        crf_parameters = set(self.crf.parameters())
        return self.make_optimizer(
            params=[
                {"params": [p for p in self.parameters() if p not in crf_parameters]},
                {"params": list(self.crf.parameters()), "lr": self.crf_lr},
            ]
        )


def state_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the weights: later optimiser steps update the module in place."""
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def average_state(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of several state dicts of one module (floating-point tensors;
    integer buffers such as position ids are taken from the last state)."""
    last = states[-1]
    return {
        key: torch.stack([state[key] for state in states]).mean(dim=0)
        if value.is_floating_point()
        else value.clone()
        for key, value in last.items()
    }


class BestStateInMemory(Callback):
    """Keeps the weights of the epoch with the best `val_f1_selection` in memory (no checkpoint
    files per run), and that epoch's `val_f1`.

    Ties go to the later epoch: with a 5-shot dev set F1 is coarse, and a later epoch that
    scores the same has seen more training. With `average_window`, the weights kept are the
    mean of the weights at the end of each epoch in the chosen epoch's selection window (as in
    stochastic weight averaging), rather than trusting one epoch when neighbouring epochs' test
    F1 differ by up to 8 points that a 5-mention dev sample cannot tell apart (for DANN it was
    neutral over 15 paired seeds; README "Results").
    """

    def __init__(self, window: int = 1, average_window: bool = False) -> None:
        self.best_selection = -1.0
        self.best_f1 = -1.0
        self.best_epoch = -1
        self.best_state: dict[str, torch.Tensor] | None = None
        self.average_window = average_window
        self.recent_states: deque[dict[str, torch.Tensor]] = deque(maxlen=window)

    def on_validation_end(self, trainer: Any, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if self.average_window:
            self.recent_states.append(state_copy(pl_module))
        selection = float(trainer.callback_metrics.get("val_f1_selection", -1.0))
        if selection >= self.best_selection:
            self.best_selection, self.best_epoch = selection, trainer.current_epoch
            self.best_f1 = float(trainer.callback_metrics.get("val_f1", -1.0))
            self.best_state = (
                average_state(self.recent_states) if self.average_window else state_copy(pl_module)
            )


class EarlyStoppingAfterDevSignal(EarlyStopping):
    """Early stopping whose patience counts only from the first epoch with a selection score
    above 0. While the K-shot dev sample has found no mention (1-2 mentions at K=1), every
    epoch scores 0 and none can be told from another, so stopping at the first epoch patience
    allows would choose the training length by chance."""

    def _evaluate_stopping_criteria(self, current: torch.Tensor) -> tuple[bool, str | None]:
        if current <= 0 and self.best_score <= 0:
            return False, None
        return super()._evaluate_stopping_criteria(current)


class BertTagger(Tagger):
    """The fine-tuned transformer tagger (`model=bert`); `dev_decoder` replaces the head as the
    judge of dev F1 (see `TokenClassifierModule`). `examples_per_epoch` has no default here: each
    model's config (conf/model/bert.yaml, dann.yaml) is the one place that sets it."""

    def __init__(
        self,
        labels: list[str],
        encoder: Callable[[], WordEncoder],
        optimizer: Callable[..., torch.optim.Optimizer],
        *,
        batch_size: int = 8,
        dropout: float = 0.1,
        decoding: str = "viterbi",
        selection_window: int = 1,
        average_window: bool = False,
        contrastive_weight: float = 0.0,
        contrastive_temperature: float = 0.1,
        head: str = "linear",
        crf_lr: float = 1e-2,
        synthetic_weight: float = 1.0,
        gold_upsample: int = 1,
        gold_only_epochs: int = 0,
        examples_per_epoch: int,
        early_stopping_patience: int = 5,
        patience_after_dev_signal: bool = True,
        seed: int = 1,
        dev_decoder: DevDecoder | None = None,
    ) -> None:
        self.labels = list(labels)
        self.tagset = labels_to_tagset(self.labels)
        self.tag_index = {tag: i for i, tag in enumerate(self.tagset)}
        self.module = TokenClassifierModule(
            encoder(),
            self.tagset,
            optimizer,
            dropout=dropout,
            decoding=decoding,
            selection_window=selection_window,
            contrastive_weight=contrastive_weight,
            contrastive_temperature=contrastive_temperature,
            head=head,
            crf_lr=crf_lr,
            dev_decoder=dev_decoder,
        )
        self.average_window = average_window
        self.batch_size = batch_size
        self.synthetic_weight = synthetic_weight
        self.gold_upsample = gold_upsample
        self.gold_only_epochs = gold_only_epochs
        self.examples_per_epoch = examples_per_epoch
        self.early_stopping_patience = early_stopping_patience
        self.patience_after_dev_signal = patience_after_dev_signal
        self._trainer: Trainer | None = None
        self.seed = seed
        self.learning_curves: dict[str, list[float]] = {}
        if selection_window > early_stopping_patience + 1:
            raise ValueError(
                f"model.selection_window={selection_window} needs "
                f"model.early_stopping_patience >= {selection_window - 1}: early stopping would "
                "end training before the first window of dev F1 is full"
            )

    def examples(self, sentences: Sequence[Sentence], weight: float = 1.0) -> list[TaggingExample]:
        unknown = {s.label for sentence in sentences for s in sentence.spans} - set(self.labels)
        if unknown:
            raise ValueError(f"sentences carry labels {sorted(unknown)} outside {self.labels}")
        return [
            TaggingExample(s.tokens, [self.tag_index[t] for t in s.tags], weight) for s in sentences
        ]

    def train_loader(self, examples: list[TaggingExample]) -> DataLoader:
        """An "epoch" is a fixed number of examples drawn without replacement (cycling), so a
        5-sentence gold set and a 2,000-sentence synthetic set get the same steps per epoch and
        early stopping sees comparable progress."""
        sampler = RandomSampler(
            examples,  # type: ignore[arg-type]
            num_samples=self.examples_per_epoch,
            generator=torch.Generator().manual_seed(self.seed),
        )
        return DataLoader(
            examples,  # type: ignore[arg-type]
            batch_size=self.batch_size,
            sampler=sampler,
            collate_fn=collate,
        )

    def eval_loader(self, examples: list[TaggingExample]) -> DataLoader:
        return DataLoader(
            examples,  # type: ignore[arg-type]
            batch_size=max(32, self.batch_size),
            collate_fn=collate,
        )

    def fit(self, data: TrainingData, make_trainer: TrainerFactory) -> dict[str, Any]:
        train = self.examples(data.gold) * self.gold_upsample + self.examples(
            data.synthetic, self.synthetic_weight
        )
        dev = self.examples(data.dev)
        summary = self._fit_stage(train, dev, make_trainer, stage="joint")
        if self.gold_only_epochs > 0 and data.synthetic:
            summary |= self._fit_stage(
                self.examples(data.gold),
                dev,
                make_trainer,
                stage="gold",
                max_epochs=self.gold_only_epochs,
            )
        return summary

    def _fit_stage(
        self,
        train: list[TaggingExample],
        dev: list[TaggingExample],
        make_trainer: TrainerFactory,
        stage: str,
        max_epochs: int | None = None,
    ) -> dict[str, Any]:
        best = BestStateInMemory(self.module.selection_window, self.average_window)
        callbacks: list[Callback] = [best]
        if dev:
            stopping = (
                EarlyStoppingAfterDevSignal if self.patience_after_dev_signal else EarlyStopping
            )
            callbacks.append(
                stopping("val_f1_selection", mode="max", patience=self.early_stopping_patience)
            )
        overrides: dict[str, Any] = {"callbacks": callbacks}
        if max_epochs is not None:
            overrides["max_epochs"] = max_epochs
        if not dev:
            overrides["limit_val_batches"] = 0
        trainer = make_trainer(**overrides)
        trainer.fit(
            self.module,
            train_dataloaders=self.train_loader(train),
            val_dataloaders=self.eval_loader(dev) if dev else None,
        )
        if best.best_state is not None:
            self.module.load_state_dict(best.best_state)
        self._trainer = trainer
        if dev:
            self.learning_curves[f"{stage}_dev_f1"] = list(self.module.dev_f1_per_epoch)
        log.info("stage %s: best dev F1 %.2f at epoch %d", stage, best.best_f1, best.best_epoch)
        if dev and max(self.module.dev_f1_per_epoch, default=0.0) <= 0:
            log.warning(
                "stage %s: the dev sample (%d sentences) scored F1 0 at every one of %d epochs, "
                "so it chose neither the epoch nor the training length: the last epoch is kept. "
                "A larger dev sample (dev_set.shots) gives it something to choose by; "
                "docs/ablations.md#patience-after-dev-signal",
                stage,
                len(dev),
                len(self.module.dev_f1_per_epoch),
            )
        return {
            f"{stage}_epochs_run": trainer.current_epoch,
            f"{stage}_best_epoch": best.best_epoch,
            f"{stage}_best_dev_f1": best.best_f1,
            f"{stage}_train_sentences": len(train),
        }

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        """Tags in input order; sentences are batched by sub-token count so batches pad little."""
        lengths = self.module.encoder.subtoken_counts([s.tokens for s in sentences])
        order = sorted(range(len(sentences)), key=lengths.__getitem__)
        examples = [
            TaggingExample(sentences[i].tokens, [0] * len(sentences[i].tokens)) for i in order
        ]
        if self._trainer is None:
            raise RuntimeError("predict() needs a fitted tagger: call fit() first")
        batches = self._trainer.predict(self.module, dataloaders=self.eval_loader(examples))
        flat = [tags for batch in batches for tags in batch]
        result: list[list[str]] = [[] for _ in sentences]
        for position, index in enumerate(order):
            result[index] = flat[position]
        return result

    # Saving and loading a fitted tagger (the model that `hilgen.inference` logs and loads).
    EXPORT_SETTINGS = "bert_tagger.json"

    def export(self, directory: Path) -> None:
        """`encoder/` (a Hugging Face model directory: weights, config, tokenizer), `head.pt`
        (the linear layer and, with `head=crf`, the CRF's scores) and the decoding settings."""
        module = self.module
        module.encoder.transformer.save_pretrained(directory / "encoder")
        module.encoder.tokenizer.save_pretrained(directory / "encoder")
        head = {"classifier": module.classifier.state_dict()}
        if module.crf is not None:
            head["crf"] = module.crf.state_dict()
        torch.save(head, directory / "head.pt")
        settings = {
            "labels": self.labels,
            "decoding": module.decoder.method if module.decoder is not None else "viterbi",
            "head": module.head,
            "max_length": module.encoder.max_length,
            "batch_size": self.batch_size,
            "examples_per_epoch": self.examples_per_epoch,
        }
        (directory / self.EXPORT_SETTINGS).write_text(json.dumps(settings, indent=2) + "\n")

    @classmethod
    def from_export(cls, directory: Path) -> BertTagger:
        """The tagger `export` wrote, ready to predict on the GPU if there is one."""
        settings = json.loads((directory / cls.EXPORT_SETTINGS).read_text())
        tagger = cls(
            settings["labels"],
            functools.partial(WordEncoder, str(directory / "encoder"), settings["max_length"]),
            torch.optim.AdamW,  # never stepped: an exported tagger only predicts
            batch_size=settings["batch_size"],
            examples_per_epoch=settings["examples_per_epoch"],
            decoding=settings["decoding"],
            head=settings["head"],
        )
        head = torch.load(directory / "head.pt", weights_only=True)
        tagger.module.classifier.load_state_dict(head["classifier"])
        if tagger.module.crf is not None:
            tagger.module.crf.load_state_dict(head["crf"])
        tagger._trainer = Trainer(
            accelerator="auto",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=False,
        )
        return tagger
