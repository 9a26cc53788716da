"""Using a trained tagger: documents in, character-offset entities out.

Above the models (and the knowledge base, for linking): a fitted tagger is exported to a
directory (`export`), loaded back (`load_exported`), and wrapped in a `DocumentTagger` that
splits documents into the corpus tokeniser's sentences, tags them and maps the tags back to
character offsets. `predict.py`, the MLflow pyfunc model and `hilgen.load_tagger` all tag
through it.
"""
