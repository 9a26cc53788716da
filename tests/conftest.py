"""Shared test set-up: offline Hugging Face, the checkout as HILGEN_ROOT, and config helpers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HILGEN_ROOT", str(ROOT))

# The config resolvers the entry points register (`hilgen.pid` in the run and sweep folders),
# for tests that compose and resolve Hydra's own config.
import hilgen.app  # noqa: E402, F401


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """GPU tests skip themselves where CUDA is missing."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def needs_shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the corpora mirror at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def tmp_tracking(tmp_path: Path) -> Iterator[list[str]]:
    """Overrides that send a run's MLflow records to a temporary store."""
    yield [
        f"tracking.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        f"tracking.artifact_root={tmp_path}/artifacts",
    ]
