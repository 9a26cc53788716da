"""HILGEN: few-shot biomedical NER with knowledge-base and LLM synthetic training data.

The package follows the pipeline, one stage per sub-package:
data -> kb -> augment -> models -> ensemble -> evaluate, with tracking (MLflow) and llm
(OpenAI-compatible clients) as shared edges.
"""

__version__ = "0.1.0"
