"""Stage 1: corpora as typed sentences, readers for PubTator/CoNLL/BRAT, K-shot sampling."""
