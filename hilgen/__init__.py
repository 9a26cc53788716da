"""HILGEN: few-shot biomedical NER with knowledge-base and LLM synthetic training data.

The package follows the pipeline, one stage per sub-package (data, kb, llm, augment, models,
inference, tracking, ensemble, reporting), layered as docs/design.md#layers-and-imports says.

`from hilgen import load_tagger; load_tagger("runs:/<run_id>/model").tag(["text", ...])` tags
text with a trained model (docs/predict.md).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["load_tagger"]


def __getattr__(name: str) -> Any:
    # `load_tagger` pulls in torch, transformers and MLflow: imported when asked for, so that
    # `import hilgen.data` stays light.
    if name == "load_tagger":
        from hilgen.tracking.tagger_model import load_tagger

        return load_tagger
    raise AttributeError(f"module 'hilgen' has no attribute {name!r}")
