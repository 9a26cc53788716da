"""Stage 2: the knowledge base (open MeSH/MONDO/DOID/HPO build or a user's UMLS) and linking."""
