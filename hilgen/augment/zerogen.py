"""`zerogen`: the ZeroGen baseline (Ye et al. 2022) adapted to NER, the paper's Table 3 row.

Sentences are generated from the label names alone, with no example sentence, then tagged and
validated exactly as the GPT augmenters' sentences are (`hilgen.augment.llm_generation`), but
with no tagged example in the tagging prompt either, since ZeroGen sees no annotated data.
How many: the number of sentences ``umls_related`` makes from the same sample (the paper's
control, ``count: control``) or `num_sentences` (``count: fixed``), spread evenly over labels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from hilgen.augment.base import AugmentContext, Augmenter, AugmenterConfigError, sentence_key
from hilgen.augment.llm_generation import COUNT_MODES, GenerationRequest, LLMAugmenter
from hilgen.data.types import Sentence
from hilgen.llm.prompts import ChatPrompt


class ZeroGenAugmenter(LLMAugmenter):
    """Label-name-only generation. `label_names` may give a label a readable name for the
    prompt (``SpecificDisease: specific disease``); others are used as they are."""

    def __init__(
        self,
        name: str,
        control: Augmenter,
        generation_prompt: ChatPrompt,
        tagging_prompt: ChatPrompt,
        count: str = "control",
        num_sentences: int | None = None,
        label_names: Mapping[str, str] | None = None,
        **shared: Any,
    ) -> None:
        super().__init__(name, tagging_prompt, **shared)
        if self.tagging != "llm":
            raise AugmenterConfigError(
                f"augmenter {name}: ZeroGen knows no entity names in advance, so tagging must "
                f"be 'llm', got {self.tagging!r}; fix conf/augmenter/{name}.yaml"
            )
        if count not in COUNT_MODES:
            raise AugmenterConfigError(
                f"augmenter {name}: count must be one of {list(COUNT_MODES)}, got {count!r}"
            )
        if count == "fixed" and (num_sentences is None or num_sentences < 1):
            raise AugmenterConfigError(
                f"augmenter {name}: count=fixed needs num_sentences >= 1, got {num_sentences}"
            )
        self.control = control
        self.generation_prompt = generation_prompt
        self.count = count
        self.num_sentences = num_sentences
        self.label_names = dict(label_names or {})

    def _requests(
        self, sample: list[Sentence], context: AugmentContext, counts: Counter[str]
    ) -> list[GenerationRequest]:
        if self.count == "control":
            total = len(self.control.generate(sample, context))
            counts["control/sentences"] += total
        else:
            total = self.num_sentences or 0
        labels = context.labels
        seed = context.seed if self.seed is None else self.seed
        copy_keys = frozenset(sentence_key(s.tokens) for s in sample)
        readable = ", ".join(self.label_names.get(label, label) for label in labels)
        requests = []
        for position, label in enumerate(labels):
            label_total = total // len(labels) + (position < total % len(labels))
            chunks = self._chunks(
                f"{self.name}/{label}", label_total, (seed, self.name, label), context.llm
            )
            for request_id, _, number, chat_seed in chunks:
                messages = self.generation_prompt.messages(
                    n=number, label=self.label_names.get(label, label), labels=readable
                )
                requests.append(
                    GenerationRequest(
                        request_id=request_id,
                        messages=messages,
                        count=number,
                        seed=chat_seed,
                        doc_id=self.name,
                        copy_keys=copy_keys,
                    )
                )
        return requests
