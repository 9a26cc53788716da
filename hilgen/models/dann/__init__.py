"""The DANN nearest-neighbour tagger, one concern a module: `tagger` (fine-tuning, then
decoding over the support), `decoder` (the nearest-neighbour decoder and its typings),
`transitions` (StructShot's abstract transitions), `support` (the support set and its word
vectors) and `embedding` (batched word vectors). The configs' `_target_` names `DannTagger`
from here."""

from hilgen.models.dann.decoder import NearestNeighbourDecoder
from hilgen.models.dann.tagger import DannTagger
from hilgen.models.dann.transitions import AbstractTransitions

__all__ = ["AbstractTransitions", "DannTagger", "NearestNeighbourDecoder"]
