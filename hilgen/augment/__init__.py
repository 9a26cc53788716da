"""Stage 3: augmenters that turn a few-shot sample into synthetic tagged sentences.

`base` holds the interface (`Augmenter`, `AugmentContext`) and the data it produces
(`SyntheticSet` of `SyntheticSentence` with `Replacement` provenance); `substitution` swaps
mentions for related knowledge-base names; `none` is the no-augmentation baseline.
"""
