"""The LLM as the tagger (the paper's Table 4 "GPT-3.5" row): few-shot prompting, no training.

`fit` keeps up to `max_examples` gold sample sentences as the prompt's examples (rendered with
inline tags, as the augmenters' tagging step does, with the same prompt config); `predict`
asks the LLM to copy each sentence with inline tags and locates the entities it names in the
sentence's own tokens (`hilgen.llm.parsing`). Unlike the augmenters, which reject a
doubtful sentence, a prediction is lenient: entities with unknown labels or text that is not in
the sentence are dropped and counted, the rest kept. Tags are valid IOB2 by construction
(`hilgen.data.iob.spans_to_tags` over non-overlapping spans), so the pipeline saves them like
any model's predictions and the ensemble can use them.

Slow endpoints. Prefer the pipeline's ``limit_test_sentences``: scores then cover exactly the
sentences that were tagged. `limit` is a guard inside the tagger: sentences past it (per
`predict` call) are not sent, get all-O tags, are counted in `prediction_stats` and logged as
a warning, and count as misses in the scores.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.utils import instantiate

from hilgen.data.iob import OUTSIDE, spans_to_tags
from hilgen.data.types import Sentence
from hilgen.llm.parsing import locate_entities, parse_entities, render_inline
from hilgen.llm.prompts import ChatPrompt
from hilgen.llm.results import LLMFailure
from hilgen.models.base import Tagger, TrainerFactory, TrainingData

log = logging.getLogger(__name__)


class LLMTagger(Tagger):
    """Tags sentences by asking an LLM; `llm` is an `LLMClient` or its config.

    A config (what the pipeline passes, since conf/model/llm_tagger.yaml sets
    ``_recursive_: false``) is instantiated on the first `predict`, so composing or
    instantiating the model opens no cache and starts no server; the sensitive-data guard of
    the client still refuses a remote endpoint before any request. `prompt` may be a
    `ChatPrompt` or its config. `sampling` overrides the client's sampling (deterministic by
    default).
    """

    trains = False

    def __init__(
        self,
        labels: Sequence[str],
        llm: Any,
        prompt: ChatPrompt | Mapping[str, Any],
        max_examples: int = 5,
        limit: int | None = None,
        sampling: Mapping[str, Any] | None = None,
    ) -> None:
        if max_examples < 0 or (limit is not None and limit < 0):
            raise ValueError(
                f"llm_tagger: max_examples and limit must be >= 0, got {max_examples}, {limit}; "
                "fix conf/model/llm_tagger.yaml"
            )
        self.labels = list(labels)
        self.prompt = prompt if isinstance(prompt, ChatPrompt) else instantiate(prompt)
        self._llm_config = llm if isinstance(llm, Mapping) else None
        self._llm = llm if self._llm_config is None else None
        self.max_examples = max_examples
        self.limit = limit
        self.sampling = dict(sampling or {})
        self.examples: list[dict[str, str]] = []
        self.prediction_stats: Counter[str] = Counter()

    @property
    def llm(self) -> Any:
        """The client, instantiated from its config on first use."""
        if self._llm is None:
            self._llm = instantiate(self._llm_config)
        return self._llm

    def fit(self, data: TrainingData, make_trainer: TrainerFactory) -> dict[str, Any]:
        """Keep the few-shot examples: gold sentences with entities first, in sample order.
        Synthetic sentences are not used (the paper prompts with the gold sample)."""
        ordered = sorted(data.gold, key=lambda s: not s.spans)
        chosen = ordered[: self.max_examples]
        self.examples = [{"sentence": s.text, "tagged": render_inline(s)} for s in chosen]
        return {"few_shot_examples": len(self.examples)}

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        cut = len(sentences) if self.limit is None else min(self.limit, len(sentences))
        stats: Counter[str] = Counter(sentences=len(sentences), beyond_limit=len(sentences) - cut)
        if stats["beyond_limit"]:
            log.warning(
                "llm_tagger: %d of %d sentences are past limit=%d and get all-O tags (they "
                "count as misses); use limit_test_sentences to score only tagged sentences",
                stats["beyond_limit"],
                len(sentences),
                cut,
            )
        conversations = [
            self.prompt.messages(self.examples, labels=", ".join(self.labels), sentence=s.text)
            for s in sentences[:cut]
        ]
        answers = self.llm.chat_many(conversations, desc="llm_tagger", **self.sampling)
        predictions = []
        for sentence, answer in zip(sentences[:cut], answers, strict=True):
            if isinstance(answer, LLMFailure):
                stats["failed"] += 1
                predictions.append([OUTSIDE] * len(sentence.tokens))
                continue
            parsed = parse_entities(answer.content)
            stats[f"format/{parsed.answer_format}"] += 1
            located = locate_entities(
                sentence.tokens, parsed.entities, self.labels, require_all=False
            )
            for problem, count in located.problems.items():
                stats[f"dropped/{problem}"] += count
            stats["entities"] += len(located.spans)
            predictions.append(spans_to_tags(len(sentence.tokens), located.spans))
        predictions += [[OUTSIDE] * len(s.tokens) for s in sentences[cut:]]
        self.prediction_stats += stats
        log.info("llm_tagger: %s", dict(stats))
        return predictions

    def close(self) -> None:
        """Close the client if this tagger opened it (stops a local server)."""
        if self._llm is not None and self._llm_config is not None:
            self._llm.close()
            self._llm = None
