"""Stage 4: taggers: the Lightning BERT tagger, the DANN nearest-neighbour tagger, an LLM tagger."""
